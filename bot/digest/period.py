"""ISO weeks as digest periods: Monday 00:00 to the next Monday 00:00 in a time zone, in UTC.

Pure: no clock of its own (``now`` is given) and no I/O. docs/digests.md, "The period rule".
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.digest.model import Period

_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")


def week_period(year: int, week: int, tz: str | ZoneInfo = "UTC") -> Period:
    """ISO week ``year``-W``week``: Monday 00:00 to the next Monday 00:00 in ``tz``, in UTC.

    Each bound is a local midnight of its own, so a week with a DST change lasts 167 or 169 h.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{year}-W{week:02d} is not an ISO week") from None
    start = datetime.combine(monday, time(), zone)
    end = datetime.combine(monday + timedelta(days=7), time(), zone)
    return Period(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")),
                  f"{year}-W{week:02d}")  # fmt: skip


def period_of(spec: str, tz: str | ZoneInfo, now: datetime) -> Period:
    """``"last-week"`` (the ISO week before the one ``now`` falls in, in ``tz``) or
    ``"YYYY-Www"``."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if spec == "last-week":
        year, week, _ = (now.astimezone(zone).date() - timedelta(days=7)).isocalendar()
        return week_period(year, week, zone)
    match = _WEEK_RE.fullmatch(spec)
    if match is None:
        raise ValueError(f"period {spec!r}: expected last-week or YYYY-Www, e.g. 2026-W47")
    return week_period(int(match[1]), int(match[2]), zone)


def shift(period: Period, weeks: int, tz: str | ZoneInfo = "UTC") -> Period:
    """The ISO week ``weeks`` after ``period`` (negative: before), in the same time zone."""
    match = _WEEK_RE.fullmatch(period.label)
    assert match is not None, period.label
    monday = date.fromisocalendar(int(match[1]), int(match[2]), 1) + timedelta(weeks=weeks)
    year, week, _ = monday.isocalendar()
    return week_period(year, week, tz)


def contains(period: Period, when: datetime | None) -> bool:
    """Whether ``when`` falls in ``period``; an open task (None) falls in none."""
    return when is not None and period.start <= when < period.end
