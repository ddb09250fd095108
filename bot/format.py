"""How every figure is printed: one function per idea, shared by every surface.

The PR comment, the digests, the chat channels, the dashboard, the API's human text and the
audit report all print a figure through these functions, so $1,234.50 reads the same
everywhere. The rules (docs/metrics.md, "How figures are printed"):

- money: always cents with thousands separators, "$1,234.50", "-$0.50"; a non-zero amount
  under $0.10 keeps two significant digits ("$0.0042") so tiny spend never reads as $0;
  ``exact`` (tooltips) keeps up to 4 decimals ("$10.0042"). Rounding is half-even on the
  decimal value, so a float and the Decimal of its text print the same.
- shares: "63%", exact "63.4%". Tokens: "1.2M", "350k", "950", exact "1,234,567".
  Counts: "1,234" ("2.5" for an axis tick between integers).
- a change: "+6 pts" (points of a share), "-$1.50", "+3"; "" when either value is missing.
- a moment: "2026-11-02 12:00 UTC"; a duration: "45 min", "3.5 h", "2.3 days".
- a missing figure (None, NaN, infinite) is ``UNKNOWN``, a figure that exists but we cannot
  know (dollars withheld); ``NOT_APPLICABLE`` when there is nothing to divide by: a missing
  share, the cost per shipped task when nothing shipped (``money_per``).

Pure: no I/O, no Jinja; ``FILTERS`` names the functions for templates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

Number = float | int | Decimal | str  # str: a decimal string, as the audit report's JSON has

UNKNOWN = "unknown"  # a figure we cannot know, e.g. dollars withheld for unpriced tokens
NOT_APPLICABLE = "n/a"  # nothing to divide by, e.g. cost per shipped task with nothing shipped
UNPRICED = "unpriced"  # spend made only of tokens without a price
UNITS = ("share", "usd", "count", "tokens")

_TEN_CENTS = Decimal("0.1")
_SMALLEST = Decimal("0.00000001")  # below this, an amount is printed as a bound


def _decimal(value: Number | None) -> Decimal | None:
    """The value as a finite Decimal (a float through its shortest text), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(value if isinstance(value, Decimal | int | str) else repr(float(value)))
    except (InvalidOperation, OverflowError, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def finite(value: Number | None) -> float | None:
    """The value as a float, or None when it is missing (None, NaN, infinite)."""
    number = _decimal(value)
    return None if number is None else float(number)


def _no_negative_zero(text: str) -> str:
    """ "0%", not "-0%": a tiny negative that rounds to zero has no sign."""
    return text[1:] if text.startswith("-") and not re.search(r"[1-9]", text) else text


def money(value: Number | None, exact: bool = False) -> str:
    """ "$1,234.50", "-$0.50", "$0.0042"; up to 4 decimals ("$10.0042") when exact."""
    amount = _decimal(value)
    if amount is None:
        return UNKNOWN
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount >= _TEN_CENTS or amount == 0:
        return f"{sign}${_cents(f'{amount:,.4f}' if exact else f'{amount:,.2f}')}"
    if amount < _SMALLEST:
        return f"{'>-' if sign else '<'}${_SMALLEST:f}"
    decimals = 1 - amount.adjusted()  # two significant digits
    return f"{sign}${_cents(f'{amount:.{decimals}f}')}"


def _cents(text: str) -> str:
    """Trailing zeros after the cents dropped: "10.0042", "0.02" (not "0.020"), "2.00"."""
    return re.sub(r"(\.\d\d\d*?)0+$", r"\1", text)


def cost(value: Number | None, unpriced_tokens: Number = 0) -> str:
    """Money plus " + 1,234 unpriced tokens"; spend of unpriced tokens only is "unpriced"."""
    if unpriced_tokens and not _decimal(value):
        return UNPRICED
    extra = f" + {tokens(unpriced_tokens, exact=True)} unpriced tokens" if unpriced_tokens else ""
    return money(value) + extra


def money_per(value: Number | None, count: int) -> str:
    """Money per task (cost per shipped task): ``NOT_APPLICABLE`` when the count is zero."""
    return NOT_APPLICABLE if value is None and not count else money(value)


def share(value: Number | None, exact: bool = False) -> str:
    """ "63%"; one decimal ("63.4%") when exact, for tooltips."""
    number = _decimal(value)
    if number is None:
        return NOT_APPLICABLE
    return _no_negative_zero(f"{number:.1%}" if exact else f"{number:.0%}")


def tokens(value: Number | None, exact: bool = False) -> str:
    """ "1.2M", "12.5M", "350k", "950"; every digit ("1,234,567") when exact."""
    n = finite(value)
    if n is None:
        return UNKNOWN
    if exact or abs(n) < 1000:
        return _no_negative_zero(f"{n:,.0f}")
    power = min(3, int(math.log10(abs(n)) // 3))
    if round(abs(n) / 1000**power) >= 1000 and power < 3:
        power += 1  # 999,960 is "1M", not "1000k"
    q, suffix = n / 1000**power, "kMB"[power - 1]
    return (f"{q:.1f}".removesuffix(".0") if abs(q) < 99.95 else f"{q:,.0f}") + suffix


def count(value: Number | None, exact: bool = False) -> str:
    """ "1,234"; "2.5" for an axis tick between integers (``exact`` is for ``figure``)."""
    number = _decimal(value)
    if number is None:
        return UNKNOWN
    return _no_negative_zero(f"{number:,.2f}".rstrip("0").rstrip("."))


_BY_UNIT: dict[str, Callable[[Number | None, bool], str]] = {
    "share": share,
    "usd": money,
    "count": count,
    "tokens": tokens,
}


def figure(value: Number | None, unit: str, exact: bool = False) -> str:
    """A value of one of ``UNITS``, printed by that unit's function."""
    return _BY_UNIT[unit](value, exact)


def change(value: Number | None, previous: Number | None, unit: str, exact: bool = False) -> str:
    """The change from ``previous``: "+6 pts" for shares, "-$1.50", "+3"; "" if one is missing."""
    now, before = _decimal(value), _decimal(previous)
    if now is None or before is None:
        return ""
    delta = now - before
    if unit == "share":
        size = f"{abs(delta) * 100:.{1 if exact else 0}f} pts"
    else:
        size = figure(abs(delta), unit, exact)
    return ("-" if delta < 0 and re.search(r"[1-9]", size) else "+") + size


def instant(value: datetime | None) -> str:
    """ "2026-11-02 12:00 UTC": a moment to the minute, in UTC (a naive one is taken as UTC)."""
    if value is None:
        return UNKNOWN
    moment = value.astimezone(UTC) if value.tzinfo else value
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def hours(value: Number | None) -> str:
    """A duration given in hours: "45 min" under an hour, "3.5 h" under two days, else
    "2.3 days"; one decimal at most ("26 h", not "26.0 h")."""
    n = finite(value)
    if n is None:
        return UNKNOWN
    if abs(n) < 1:
        return f"{n * 60:.0f} min"
    amount, unit = (n, "h") if abs(n) < 48 else (n / 24, "days")
    return f"{amount:,.1f}".removesuffix(".0") + f" {unit}"


FILTERS: dict[str, Callable[..., str]] = {
    "money": money,
    "cost": cost,
    "money_per": money_per,
    "share": share,
    "tokens": tokens,
    "count": count,
    "figure": figure,
    "change": change,
    "instant": instant,
    "hours": hours,
}
