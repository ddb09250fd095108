"""Digest periods: ISO weeks in a time zone, converted to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.period import period_of


def test_iso_weeks_in_a_time_zone_are_converted_to_utc():
    p = period_of("2026-W45", "America/New_York", datetime.now(UTC))
    assert (p.start, p.end, p.label) == (
        datetime(2026, 11, 2, 5, tzinfo=UTC),
        datetime(2026, 11, 9, 5, tzinfo=UTC),
        "2026-W45",
    )
    dst = period_of("2026-W44", "America/New_York", datetime.now(UTC))
    assert dst.end - dst.start == timedelta(hours=169)  # the week summer time ends


def test_last_week_is_the_week_before_now_in_the_zone():
    now = datetime(2026, 11, 8, 20, tzinfo=UTC)  # Monday 05:00 in Tokyo, still Sunday in UTC
    assert period_of("last-week", "Asia/Tokyo", now).label == "2026-W45"
    assert period_of("last-week", "Asia/Tokyo", now).start == datetime(2026, 11, 1, 15, tzinfo=UTC)
    assert period_of("last-week", "UTC", now).label == "2026-W44"


def test_iso_week_53():
    assert period_of("last-week", "UTC", datetime(2027, 1, 4, 10, tzinfo=UTC)).label == "2026-W53"
    assert period_of("2026-W53", "UTC", datetime.now(UTC)).end == datetime(2027, 1, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO week"):
        period_of("2025-W53", "UTC", datetime.now(UTC))
    with pytest.raises(ValueError, match="expected last-week or YYYY-Www"):
        period_of("2026-47", "UTC", datetime.now(UTC))
