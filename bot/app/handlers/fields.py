"""Typed reads of webhook payloads: a missing or mistyped field raises ``PayloadError`` naming it.

Payloads come from the network, so handlers never index them directly. Every read goes through
``Fields``, which is what keeps KeyError, TypeError and AttributeError out of the worker: a bad
payload is parked at once with a message saying which field was wrong, instead of being retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.app.router import PayloadError

_SHOWN = 40  # characters of an unexpected value quoted in a message


class Fields:
    """A payload object and its path from the payload's root (for error messages).

    Names may be dotted (``"head.sha"``). A field that is absent or null is *missing*; the
    ``maybe_*`` reads return None for it, the others raise.
    """

    __slots__ = ("data", "path")

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path

    def name(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str) -> Any:
        """The raw value; None when it, or an object on the way to it, is missing."""
        value: Any = self.data
        steps = name.split(".")
        for k, step in enumerate(steps):
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise self.invalid(".".join(steps[:k]), "an object", value)
            value = value.get(step)
        return value

    def invalid(self, name: str, expected: str, value: Any) -> PayloadError:
        return PayloadError(f"{self.name(name)} invalid: expected {expected}, got {_show(value)}")

    def _read(self, name: str, kind: type | tuple[type, ...], expected: str) -> Any:
        value = self.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise self.invalid(name, expected, value)
        return value

    def _required(self, value: Any, name: str) -> Any:
        if value is None:
            raise PayloadError(f"{self.name(name)} missing")
        return value

    def maybe_obj(self, name: str) -> Fields | None:
        value = self._read(name, Mapping, "an object")
        return None if value is None else Fields(value, self.name(name))

    def obj(self, name: str) -> Fields:
        return self._required(self.maybe_obj(name), name)

    def objs(self, name: str) -> list[Fields]:
        """The objects of a list; a missing list is an empty one."""
        items = self._read(name, list, "a list") or []
        listed = f"{self.name(name)}[{{}}]"
        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise PayloadError(f"{listed.format(k)} invalid: expected an object")
        return [Fields(item, listed.format(k)) for k, item in enumerate(items)]

    def maybe_text(self, name: str) -> str | None:
        return self._read(name, str, "a string")

    def text(self, name: str) -> str:
        return self._required(self.maybe_text(name), name)

    def maybe_integer(self, name: str) -> int | None:
        return self._read(name, int, "an integer")

    def integer(self, name: str) -> int:
        return self._required(self.maybe_integer(name), name)

    def flag(self, name: str) -> bool:
        """A boolean; missing is False."""
        value = self.get(name)
        if value is not None and not isinstance(value, bool):
            raise self.invalid(name, "a boolean", value)
        return bool(value)

    def maybe_time(self, name: str) -> datetime | None:
        """An ISO 8601 timestamp with an offset, or Unix seconds (some installation fields)."""
        value = self._read(name, (str, int), "a timestamp")
        if value is None:
            return None
        try:
            when = (
                datetime.fromtimestamp(value, UTC)
                if isinstance(value, int)
                else datetime.fromisoformat(value)
            )
        except (ValueError, OverflowError, OSError):
            raise self.invalid(name, "a timestamp", value) from None
        if when.tzinfo is None:
            raise self.invalid(name, "a timestamp with a time zone", value)
        return when

    def time(self, name: str) -> datetime:
        return self._required(self.maybe_time(name), name)


def utc_stamp(when: datetime) -> str:
    """A timestamp for event keys: the same instant gives the same key whatever its offset."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: str) -> str:
    """A payload string fit to quote in a reason or a message."""
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def _show(value: Any) -> str:
    return repr(short(value)) if isinstance(value, str) else type(value).__name__
