"""The App's GitHub client: PyGithub with App authentication, bounded waits and call counts.

- ``GitHubApp.installation(id)`` gives one ``github.Github`` per installation (``lazy=True``,
  ``per_page=100``), kept for the life of the process. Its ``AppInstallationAuth`` caches the
  installation token and renews it 20 s before it expires; tokens (about 520 characters in the
  ``ghs_<app id>_<JWT>`` style) are kept in memory only and masked in logs.
- No worker sleeps until a rate limit resets: ``BoundedRetry`` retries 5xx and short waits
  itself, and raises ``RateLimited(retry_at)`` when GitHub asks for a longer one (a
  ``retry-after`` or an ``x-ratelimit-reset`` further than ``max_wait``, or a secondary limit
  without either: GitHub says to wait at least a minute then). ``rate_limits()`` turns the
  rate-limit errors PyGithub raises itself (a 429 without ``retry-after``, say) into the same.
  The worker re-queues the delivery for ``retry_at``.
- A POST is never sent twice by the client: it creates something each time (a comment, a check
  run), and a timeout or a 5xx leaves unknown whether GitHub did. ``uncertain(exc)`` tells the
  caller, which looks for what it created before creating again (``bot.app.pr_comment``).
  Reads, PATCHes (whole fields: the same result when repeated) and DELETEs are retried.
- Every HTTP request is counted, per installation (``bot.telemetry.record_api_call``, the
  ``yield_auditor_github_api_calls`` metric) and per block of code (``api_calls()``): PyGithub
  asks the ``Auth`` object for credentials once per request, and ``BoundedRetry.increment`` runs
  once per retried attempt, so the two together see every request, token exchanges included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from github import Auth, Github, GithubIntegration
from github.GithubException import (
    GithubException,
    RateLimitExceededExceedsMaxWait,
    RateLimitExceededException,
)
from github.GithubRetry import GithubRetry
from github.InstallationAuthorization import InstallationAuthorization

from bot import telemetry
from bot.config import Settings

MAX_WAIT_SECONDS = 30.0  # the longest a worker may wait for GitHub inside one request
SECONDARY_WAIT_SECONDS = 60.0  # GitHub: "wait at least one minute" when no header says more
RETRIES = 3
BACKOFF_FACTOR = 0.5  # 0 s, 1 s, 2 s between retries of a 5xx or a timeout
TIMEOUT_SECONDS = 15
PER_PAGE = 100
# Not POST: repeating a create after a timeout or a 5xx could create twice.
RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE", "TRACE"})


class RateLimited(Exception):
    """GitHub asked us to wait longer than a worker may: run the work again at ``retry_at``."""

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


def configured(settings: Settings) -> bool:
    """Whether the App can authenticate: it has an id and a private key."""
    return settings.github_app_id is not None and bool(settings.private_key)


# --------------------------------------------------------------------------- call counting


@dataclass(slots=True)
class CallCount:
    count: int = 0


_counter: ContextVar[CallCount | None] = ContextVar("github_api_calls", default=None)


@contextmanager
def api_calls() -> Iterator[CallCount]:
    """Count the GitHub requests made inside the block (in this thread), e.g. per delivery."""
    counter = CallCount()
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)


def record_call(installation_id: int | None) -> None:
    telemetry.record_api_call(installation_id)
    counter = _counter.get()
    if counter is not None:
        counter.count += 1


class _CountingAppAuth(Auth.AppAuth):
    """The App's JWT auth; counts each request made as the App itself."""

    def authentication(self, headers: dict) -> None:
        record_call(None)
        super().authentication(headers)

    def get_installation_auth(
        self,
        installation_id: int,
        token_permissions: dict[str, str] | None = None,
        requester: Any = None,
    ) -> Auth.AppInstallationAuth:
        return _CountingInstallationAuth(self, installation_id, token_permissions, requester)


class _CountingInstallationAuth(Auth.AppInstallationAuth):
    """An installation's token auth; counts each request and masks every token it obtains."""

    def authentication(self, headers: dict) -> None:
        record_call(self.installation_id)
        super().authentication(headers)

    def _get_installation_authorization(self) -> InstallationAuthorization:
        authorization = super()._get_installation_authorization()
        telemetry.register_secret(authorization.token)
        return authorization


# --------------------------------------------------------------------------- rate limits


def retry_at(headers: Mapping[str, Any], at: datetime | None = None) -> datetime | None:
    """When GitHub's headers say to try again: ``retry-after``, else the primary limit's reset."""
    at = at or datetime.now(UTC)
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    after = lower.get("retry-after", "")
    if after.isdigit():
        return at + timedelta(seconds=int(after))
    reset = lower.get("x-ratelimit-reset", "")
    if lower.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    return None


class BoundedRetry(GithubRetry):
    """PyGithub's retry (5xx, timeouts, rate limits) that never waits past ``max_rate_limit_wait``.

    ``GithubRetry`` caps the primary-limit and secondary-limit backoffs it computes, but urllib3
    still sleeps whatever ``retry-after`` says (403, 429, 503); this caps that too. It also counts
    each retry as one more request of ``installation_id``. Only ``RETRIED_METHODS`` are
    retried once sent: a POST that timed out, lost its connection or got a 5xx raises, and a
    rate-limited one raises too (``rate_limits`` turns it into ``RateLimited``).
    """

    def __init__(self, installation_id: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("total", RETRIES)
        kwargs.setdefault("backoff_factor", BACKOFF_FACTOR)
        kwargs.setdefault("max_rate_limit_wait", MAX_WAIT_SECONDS)
        kwargs.setdefault("secondary_rate_wait", SECONDARY_WAIT_SECONDS)
        kwargs.setdefault("allowed_methods", RETRIED_METHODS)
        super().__init__(**kwargs)
        self.installation_id = installation_id

    def new(self, **kw: Any) -> BoundedRetry:
        kw["installation_id"] = self.installation_id
        return super().new(**kw)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> BoundedRetry:
        if response is not None:
            self._refuse_long_wait(response)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        record_call(self.installation_id)
        return retry

    def _refuse_long_wait(self, response: Any) -> None:
        at = datetime.now(UTC)
        until = retry_at(response.headers, at)
        limit = self.max_rate_limit_wait or 0.0
        if until is not None and (until - at).total_seconds() > limit:
            raise RateLimited(
                f"GitHub answered {response.status}: wait until {until:%H:%M:%S}", until
            )


def uncertain(exc: BaseException) -> bool:
    """Whether a write that raised ``exc`` may still have been done: GitHub's answer never came
    whole (a timeout, the connection lost once sent or mid-answer) or was a 5xx, which GitHub
    gives for a request it timed out on after starting it."""
    if isinstance(exc, GithubException):
        return exc.status >= 500
    return isinstance(exc, requests.RequestException)


@contextmanager
def rate_limits() -> Iterator[None]:
    """Turn PyGithub's rate-limit errors raised in the block into ``RateLimited``."""
    try:
        yield
    except GithubException as exc:
        until = _rate_limit_until(exc)
        if until is None:
            raise
        raise RateLimited(f"GitHub rate limit ({exc.status})", until) from exc


def _rate_limit_until(exc: GithubException) -> datetime | None:
    headers = exc.headers or {}
    now = datetime.now(UTC)
    if isinstance(exc, RateLimitExceededExceedsMaxWait) and exc.wait is not None:
        return retry_at(headers, now) or now + timedelta(seconds=exc.wait)
    limited = isinstance(exc, RateLimitExceededException) or exc.status == 429
    until = retry_at(headers, now)
    if exc.status == 403 and until is not None:
        limited = True
    if not limited:
        return None
    return until or now + timedelta(seconds=SECONDARY_WAIT_SECONDS)


# --------------------------------------------------------------------------- the App


class GitHubApp:
    """The App's identity: JWT calls through ``integration``, one client per installation.

    ``seconds_between_requests`` and ``seconds_between_writes`` keep PyGithub's pauses (GitHub
    asks for serial requests and a second between writes); tests set them to 0.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: int = TIMEOUT_SECONDS,
        retries: int = RETRIES,
        backoff_factor: float = BACKOFF_FACTOR,
        max_wait: float = MAX_WAIT_SECONDS,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
    ) -> None:
        if not configured(settings):
            raise ValueError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY(_PATH) must be set")
        assert settings.github_app_id is not None and settings.private_key is not None
        telemetry.register_secret(settings.private_key)
        self.app_id = settings.github_app_id
        self.base_url = settings.github_api_url
        self._retry = {
            "total": retries,
            "backoff_factor": backoff_factor,
            "max_rate_limit_wait": max_wait,
        }
        self._options: dict[str, Any] = {
            "base_url": self.base_url,
            "timeout": timeout,
            "per_page": PER_PAGE,
            "seconds_between_requests": seconds_between_requests,
            "seconds_between_writes": seconds_between_writes,
        }
        self._auth = _CountingAppAuth(self.app_id, settings.private_key)
        self.integration = GithubIntegration(
            auth=self._auth, retry=self.retry(None), lazy=True, **self._options
        )
        self._clients: dict[int, Github] = {}
        self._lock = threading.Lock()

    def retry(self, installation_id: int | None) -> BoundedRetry:
        return BoundedRetry(installation_id, **self._retry)

    def installation(self, installation_id: int) -> Github:
        """The client of one installation, created once and shared by every thread."""
        with self._lock:
            client = self._clients.get(installation_id)
            if client is None:
                client = Github(
                    auth=self._auth.get_installation_auth(installation_id),
                    retry=self.retry(installation_id),
                    lazy=True,
                    **self._options,
                )
                self._clients[installation_id] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self.integration.close()
