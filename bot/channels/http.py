"""POST a JSON payload to a chat or webhook URL, with bounded retries and 429 handling.

5xx answers and transport errors are retried with exponential backoff; a 429 is retried after
its ``Retry-After`` header (Slack, Teams) or ``retry_after`` body field (Discord, in seconds)
when that is at most ``max_wait`` seconds, otherwise ``ChannelError(retry_after=...)`` hands
the wait to the scheduler. Messages name the channel and the status, never the URL (a secret).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from bot import telemetry
from bot.channels.base import Channel, ChannelError, Spec, encode
from bot.digest.model import Digest

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 15.0
# httpx logs each request's URL at INFO, and a channel's URL is a secret: mask it at the source.
logging.getLogger("httpx").addFilter(telemetry.RedactingFilter())


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt that may be retried after ``wait`` seconds."""

    message: str
    wait: float
    retry_after: float | None = None


class HttpSender:
    def __init__(
        self,
        name: str,
        url: str,
        *,
        retries: int,
        backoff: float,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name, self._url = name, url
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self.sleep = sleep

    def post(self, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Deliver ``body`` (JSON bytes) once, or raise ``ChannelError``."""
        headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            for attempt in range(self.retries + 1):
                failure = self._attempt(client, body, headers, attempt)
                if failure is None:
                    return
                logger.warning("%s (attempt %d)", failure.message, attempt + 1)
                if attempt < self.retries:
                    self.sleep(failure.wait)
        raise ChannelError(failure.message, failure.retry_after)

    def _attempt(
        self, client: httpx.Client, body: bytes, headers: Mapping[str, str], attempt: int
    ) -> Failure | None:
        """None once delivered, a retryable ``Failure``, or ``ChannelError`` when futile."""
        backoff = self.backoff * 2**attempt
        try:
            response = client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Failure(f"channel {self.name!r}: {type(exc).__name__}", backoff)
        if response.is_success:
            return None
        message = f"channel {self.name!r}: the receiver answered {response.status_code}"
        if response.status_code == 429:
            after = retry_after(response)
            if after is not None and after > self.max_wait:
                raise ChannelError(message, after)
            return Failure(message, backoff if after is None else after, after)
        if response.status_code >= 500:
            return Failure(message, backoff)
        raise ChannelError(message)  # another 4xx: the URL or the payload is wrong


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` or a JSON ``retry_after``; None if neither is readable."""
    values = [response.headers.get("retry-after")]
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        values.append(document.get("retry_after"))
    for value in values:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


class ChatChannel(Channel):
    """A channel that POSTs its rendering as JSON to a secret URL (Slack, Teams, Discord)."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        url = spec.secret("url")
        assert url is not None
        if not url.startswith(("https://", "http://")):
            raise spec.error("'url' must be an http(s) URL")
        self.sender = HttpSender(
            self.name, url, retries=self.retries, backoff=self.backoff, max_wait=self.max_wait
        )

    def send(self, digest: Digest) -> None:
        self.sender.post(encode(self.render(digest)))
