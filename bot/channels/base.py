"""What every channel shares: the ``Channel`` interface, its error, and reading its spec.

Channel URLs, signing secrets and passwords are secrets: they come from the spec or from an
environment variable it names (``url_env``...), are registered with ``bot.telemetry`` so no log
line shows them, and never appear in an exception message.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from bot import telemetry
from bot.digest.model import Digest

RETRIES = 3  # attempts after the first, for a 5xx, a timeout or a short 429
BACKOFF_SECONDS = 0.5  # 0.5 s, 1 s, 2 s between retries
MAX_WAIT_SECONDS = 30.0  # the longest a channel waits for a 429 itself; longer goes back up


class ChannelError(Exception):
    """A digest was not delivered; ``retry_after`` (seconds) when the receiver said when."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(telemetry.redact(message))
        self.retry_after = retry_after


class ChannelConfigError(ValueError):
    """A channel spec is incomplete or wrong; the message names the channel and the field."""


class Channel(ABC):
    """Somewhere a digest goes: ``render`` is pure (tests check its shape), ``send`` delivers."""

    type: str

    def __init__(self, spec: Spec) -> None:
        self.name = spec.name
        self.retries = spec.integer("retries", RETRIES)
        self.backoff = spec.number("backoff_seconds", BACKOFF_SECONDS)
        self.max_wait = spec.number("max_wait_seconds", MAX_WAIT_SECONDS)

    @abstractmethod
    def render(self, digest: Digest) -> Any:
        """The payload for ``digest``, within this channel's limits."""

    @abstractmethod
    def send(self, digest: Digest) -> None:
        """Deliver ``digest`` once, or raise ``ChannelError``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Spec:
    """A channel's spec as given, with errors that name the channel and never show a secret."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ChannelConfigError("a channel needs a 'name'")
        self.name = name

    def error(self, message: str) -> ChannelConfigError:
        return ChannelConfigError(f"channel {self.name!r}: {message}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(f"'{key}' is required (a non-empty string)")
        return value

    def optional(self, key: str) -> str | None:
        value = self.raw.get(key)
        return None if value is None else self.text(key)

    def integer(self, key: str, default: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(f"'{key}' must be a non-negative integer")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.error(f"'{key}' must be a non-negative number")
        return float(value)

    def secret(self, key: str, *, required: bool = True) -> str | None:
        """``key`` itself, or the environment variable named by ``<key>_env``; registered."""
        value = self.raw.get(key)
        variable = self.raw.get(f"{key}_env")
        if value is not None and variable is not None:
            raise self.error(f"give '{key}' or '{key}_env', not both")
        if variable is not None:
            if not isinstance(variable, str) or not variable:
                raise self.error(f"'{key}_env' must name an environment variable")
            value = os.environ.get(variable)
            if not value:
                raise self.error(f"environment variable {variable} is not set")
        if value is None:
            if required:
                raise self.error(f"'{key}' or '{key}_env' is required")
            return None
        if not isinstance(value, str) or not value:
            raise self.error(f"'{key}' must be a non-empty string")
        telemetry.register_secret(value)
        return value


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes sent, measured against size limits and signed."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
