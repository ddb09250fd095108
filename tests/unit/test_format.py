"""How figures are printed: the rules of docs/metrics.md, "How figures are printed"."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.format import (
    NOT_APPLICABLE,
    UNITS,
    UNKNOWN,
    change,
    cost,
    count,
    figure,
    hours,
    instant,
    money,
    money_per,
    share,
    tokens,
)

MISSING = [None, math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("Infinity")]
amounts = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=8)


def parse(text: str) -> Decimal:
    """ "-$1,234.50" -> Decimal("-1234.50")."""
    assert re.fullmatch(r"-?\$\d{1,3}(,\d{3})*\.\d{2,}", text), text
    return Decimal(text.replace("$", "").replace(",", ""))


def test_money_examples():
    assert money(Decimal("1234.5")) == money(1234.5) == "$1,234.50"
    assert money(Decimal("1.25")) == "$1.25" and money(2) == "$2.00" and money(0) == "$0.00"
    assert money(-0.5) == "-$0.50" and money(-0.0) == "$0.00"
    assert money(Decimal("0.0042")) == money(0.0042) == "$0.0042"
    assert money(Decimal("0.00004213")) == "$0.000042"
    assert money(0.02) == "$0.02" and money(0.055) == "$0.055" and money(0.0996) == "$0.10"
    assert money(1e-12) == "<$0.00000001" and money(-1e-12) == ">-$0.00000001"
    assert money(Decimal("10.00421"), exact=True) == "$10.0042" and money(10.00421) == "$10.00"
    assert money("0.12345678") == "$0.12"  # the audit report's JSON decimal strings


@pytest.mark.parametrize("value", MISSING)
def test_a_missing_figure_is_unknown_and_a_missing_share_not_applicable(value):
    assert money(value) == money(value, exact=True) == cost(value) == UNKNOWN == "unknown"
    assert tokens(value) == count(value) == UNKNOWN
    assert share(value) == NOT_APPLICABLE == "n/a"


@given(amounts)
def test_money_never_reads_zero_for_a_non_zero_amount(value):
    text = money(value)
    assert (text == "$0.00") == (value == 0) and text != "-$0.00"
    assert text.startswith("-") == (value < 0)


@given(amounts.filter(lambda v: abs(v) >= Decimal("0.1")))
def test_money_rounds_to_within_half_a_cent(value):
    assert abs(parse(money(value)) - value) <= Decimal("0.005")
    assert abs(parse(money(value, exact=True)) - value) <= Decimal("0.00005")


@given(amounts.filter(lambda v: Decimal("0.00000001") <= abs(v) < Decimal("0.1")))
def test_small_money_keeps_two_significant_digits(value):
    shown = parse(money(value))
    assert abs(shown - value) <= abs(value) * Decimal("0.05")


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_float_and_decimal_of_its_text_print_the_same(value):
    same = Decimal(repr(value))
    assert money(value) == money(same) and money(value, True) == money(same, True)
    assert share(value) == share(same) and count(value) == count(same)


def test_cost_names_unpriced_tokens():
    assert cost(Decimal("1.5"), 1234) == "$1.50 + 1,234 unpriced tokens"
    assert cost(Decimal(0), 1234) == cost(None, 5) == "unpriced"
    assert cost(Decimal(2)) == "$2.00"


def test_money_per_is_not_applicable_with_nothing_to_divide_by():
    assert money_per(None, 0) == NOT_APPLICABLE
    assert money_per(None, 3) == UNKNOWN  # shipped, but dollars withheld
    assert money_per(Decimal("0.5"), 3) == "$0.50"


def test_share_tokens_count_examples():
    assert share(Decimal("0.634")) == share(0.634) == "63%" and share(0.634, True) == "63.4%"
    assert share(-0.001) == "0%"  # no "-0%"
    assert tokens(1_234_567) == "1.2M" and tokens(Decimal(350_000)) == "350k"
    assert tokens(999_960) == "1M" and tokens(12_500_000) == "12.5M" and tokens(950) == "950"
    assert tokens(1_234_567, exact=True) == "1,234,567" and tokens(42e9) == "42B"
    assert count(2.5) == "2.5" and count(Decimal(1234)) == "1,234" and count(-0.001) == "0"


@pytest.mark.parametrize("unit", UNITS)
def test_figure_prints_a_unit_with_its_function(unit):
    by_unit = {"share": share, "usd": money, "count": count, "tokens": tokens}[unit]
    assert figure(0.25, unit) == by_unit(0.25) and figure(None, unit) == by_unit(None)


def test_change_in_points_dollars_and_counts():
    assert change(0.71, 0.65, "share") == "+6 pts"
    assert change(0.71, 0.65, "share", exact=True) == "+6.0 pts"
    assert change(Decimal("0.5"), 2, "usd") == "-$1.50" and change(3, 1, "count") == "+2"
    assert change(0.65, 0.6504, "share") == "+0 pts"  # no "-0 pts"
    assert change(None, 1, "usd") == change(1, math.nan, "count") == ""


def test_instant_is_utc_to_the_minute():
    paris = timezone(timedelta(hours=1))
    assert instant(datetime(2026, 11, 2, 13, 5, 59, tzinfo=paris)) == "2026-11-02 12:05 UTC"
    assert instant(datetime(2026, 11, 2, 12, 5)) == "2026-11-02 12:05 UTC"
    assert instant(None) == UNKNOWN


def test_hours_read_as_minutes_hours_or_days():
    assert hours(0.75) == "45 min"
    assert hours(3.46) == "3.5 h" and hours(26) == "26 h"
    assert hours(55.2) == "2.3 days"
    assert hours(None) == UNKNOWN and hours(math.nan) == UNKNOWN
