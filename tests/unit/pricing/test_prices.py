"""Pricing: list prices, historic prices, per-request tiers, unpriced policy, overrides, tiers."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage as GPUsage
from genai_prices import calc_price
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.pricing.prices import (
    MIN_COVERAGE,
    CostSummary,
    ModelRef,
    PriceBook,
    cost_summary,
    normalise_model,
)
from bot.protocol.usage import Usage

D = Decimal
NOV = date(2026, 11, 20)  # after every price change the tests rely on
M = 1_000_000


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.from_config(None, None)


def usd(book: PriceBook, model: str, at: date | datetime = NOV, **tokens: int) -> Decimal | None:
    return book.price(Usage(model, **tokens), at).usd


# --------------------------------------------------------------------------- list prices


@pytest.mark.parametrize(
    ("model", "input_", "output"),
    [
        ("claude-haiku-4-5", D(1), D(5)),
        ("claude-sonnet-4-6", D(3), D(15)),
        ("claude-opus-4-5", D(5), D(25)),
    ],
)
def test_anthropic_list_prices(book: PriceBook, model: str, input_: Decimal, output: Decimal):
    assert usd(book, model, input=M) == input_
    assert usd(book, model, output=M) == output
    assert usd(book, model, cache_read=M) == input_ * D("0.1")
    assert usd(book, model, cache_write=M) == input_ * D("1.25")
    assert usd(book, model, cache_write=M, cache_write_1h=M) == input_ * 2
    assert usd(book, model, cache_write=M, cache_write_1h=M // 4) == input_ * D("1.4375")
    rates = book.list_price(model, NOV)
    assert rates is not None
    assert (rates.input, rates.output) == (input_, output)
    assert (rates.cache_read, rates.cache_write) == (input_ * D("0.1"), input_ * D("1.25"))
    assert rates.source == "genai-prices" and not rates.tiered


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-haiku-4-5", D("0.0255")),
        ("anthropic/claude-sonnet-4-6", D("0.0765")),
        ("claude-opus-4-5-20251101", D("0.1275")),
    ],
)
def test_worked_example(book: PriceBook, model: str, expected: Decimal):
    """Reference note §4.3: 8k uncached in, 40k cache read, 6k cache write (5m), 1.2k out."""
    priced = book.price(
        Usage(model, input=8_000, cache_read=40_000, cache_write=6_000, output=1_200), NOV
    )
    assert priced.usd == expected
    assert priced.source == "genai-prices"
    assert priced.provider_id == "anthropic"


def test_reasoning_is_inside_output_not_added(book: PriceBook):
    plain = usd(book, "claude-sonnet-4-6", input=1_000, output=2_000)
    assert usd(book, "claude-sonnet-4-6", input=1_000, output=2_000, reasoning=1_500) == plain


def test_historic_prices_sonnet_4_6_long_context_surcharge_dropped(book: PriceBook):
    """Sonnet 4.6 lost its >200k surcharge on 2026-03-13 (reference note §4.2)."""
    before = book.price(Usage("claude-sonnet-4-6", input=300_000, output=10_000), date(2026, 2, 20))
    after = book.price(Usage("claude-sonnet-4-6", input=300_000, output=10_000), date(2026, 3, 20))
    assert before.usd == D("2.025")
    assert "long-context" in before.note
    assert after.usd == D("1.05")
    assert after.note == ""


def test_historic_price_cut_o3(book: PriceBook):
    assert usd(book, "o3", date(2025, 6, 9), input=M, output=M) == D(50)
    assert usd(book, "o3", date(2025, 6, 10), input=M, output=M) == D(10)


def test_timestamps_are_utc(book: PriceBook):
    """2026-03-13 00:30 at UTC+2 is still 2026-03-12 in UTC: the old (tiered) price."""
    late = datetime(2026, 3, 13, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 3, 13, 0, 30)  # naive means UTC
    tokens = {"input": 300_000, "output": 10_000}
    assert usd(book, "claude-sonnet-4-6", late, **tokens) == D("2.025")
    assert usd(book, "claude-sonnet-4-6", naive, **tokens) == D("1.05")


# --------------------------------------------------------------------------- per-request pricing


def test_per_request_long_context(book: PriceBook):
    """One 600k-token call pays gemini-2.5-pro's >200k rates; three 200k calls do not."""
    one = book.price(Usage("gemini-2.5-pro", input=600_000, output=3_000, requests=1), NOV)
    three = book.price(Usage("gemini-2.5-pro", input=600_000, output=3_000, requests=3), NOV)
    assert one.usd == D("1.545")
    assert three.usd == D("0.78")
    assert "long-context" in one.note and three.note == ""
    assert book.list_price("gemini-2.5-pro", NOV).tiered  # type: ignore[union-attr]


def test_zero_requests_means_one(book: PriceBook):
    tokens = {"input": 600_000, "output": 3_000}
    assert usd(book, "gemini-2.5-pro", requests=0, **tokens) == usd(
        book, "gemini-2.5-pro", requests=1, **tokens
    )


def test_threshold_uses_total_input_including_cache(book: PriceBook):
    """genai-prices' tier threshold counts cached tokens too; exactly 200k is still base rate."""
    base = usd(book, "gemini-2.5-pro", input=100_000, cache_read=100_000)
    over = usd(book, "gemini-2.5-pro", input=100_001, cache_read=100_000)
    assert base == D("0.1375")  # 100k x $1.25 + 100k x $0.125
    assert over == D("0.2750025")  # 100_001 x $2.50 + 100k x $0.25


# --------------------------------------------------------------------------- unpriced


def test_unknown_model_is_unpriced_not_zero(book: PriceBook):
    priced = book.price(Usage("my-finetune-xyz", input=1_000, output=1_000), NOV)
    assert priced.usd is None
    assert priced.source == "unpriced"
    assert priced.tier is None
    assert "my-finetune-xyz" in priced.note
    assert book.list_price("my-finetune-xyz", NOV) is None


def test_bare_claude_is_not_priced(book: PriceBook):
    for name in ("Claude", "claude", "sonnet", "opus", ""):
        assert book.price(Usage(name, input=10, output=10), NOV).usd is None
        assert not normalise_model(name).priceable


def test_negative_tokens_are_unpriced(book: PriceBook):
    priced = book.price(Usage("claude-haiku-4-5", input=-1), NOV)
    assert priced.usd is None and priced.note == "negative token count"


def test_cost_summary_coverage_and_withheld_averages(book: PriceBook):
    known = book.price(Usage("claude-haiku-4-5", input=M), NOV)  # $1, 1M tokens
    unknown = book.price(Usage("mystery-model", input=3 * M), NOV)  # 3M tokens
    summary = cost_summary([known, unknown])
    assert summary.priced_usd == D(1)
    assert (summary.priced_tokens, summary.total_tokens) == (M, 4 * M)
    assert summary.coverage == 0.25 < MIN_COVERAGE
    assert summary.unpriced_models == ("mystery-model",)
    assert not summary.reliable
    assert summary.average(10) is None
    assert summary.usd_per_mtok is None
    assert summary.estimated_usd is None


def test_cost_summary_averages_at_threshold(book: PriceBook):
    lines = [
        book.price(Usage("claude-haiku-4-5", input=M), NOV),
        book.price(Usage("mystery-model", input=M), NOV),
    ]
    summary = cost_summary(lines)
    assert summary.coverage == MIN_COVERAGE and summary.reliable
    assert summary.average(4) == D("0.25")
    assert summary.usd_per_mtok == D(1)
    assert summary.estimated_usd == D(2)


def test_cost_summary_empty():
    assert cost_summary([]) == CostSummary(D(0), 0, 0, 1.0, ())
    assert cost_summary([]).average(0) is None


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "provider", "model"),
    [
        ("claude-opus-4-5", None, "claude-opus-4-5"),
        ("anthropic:claude-opus-4-5", "anthropic", "claude-opus-4-5"),
        ("anthropic/claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6"),
        ("  Anthropic/Claude-Sonnet-4-6 ", "anthropic", "claude-sonnet-4-6"),
        ("openai/gpt-5.2", "openai", "gpt-5.2"),
        ("openai:gpt-5.2-codex", "openai", "gpt-5.2-codex"),
        ("gemini/gemini-2.5-pro", "google", "gemini-2.5-pro"),
        ("google/gemini-2.5-pro", "google", "gemini-2.5-pro"),
        ("google-gla:gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("vertex_ai/gemini-2.5-pro-exp-03-25", "google", "gemini-2.5-pro-exp-03-25"),
        ("vertex_ai/claude-opus-4-5@20251101", "google", "claude-opus-4-5"),
        ("azure/gpt-5.2", "azure", "gpt-5.2"),
        ("Claude Opus 4.5", None, "claude-opus-4-5"),
        ("Claude Sonnet 4.6", None, "claude-sonnet-4-6"),
        ("Claude Haiku 4.5", None, "claude-haiku-4-5"),
        ("Claude Opus 4.6 (1M context)", None, "claude-opus-4-6"),
        ("Claude Sonnet 5", None, "claude-sonnet-5"),
        ("Claude 3.5 Sonnet", None, "claude-3-5-sonnet"),
        ("Opus 4.5", None, "claude-opus-4-5"),
        ("claude-sonnet-4-6[1m]", None, "claude-sonnet-4-6"),
        ("claude-sonnet-4.6", None, "claude-sonnet-4-6"),
        ("Claude", None, "claude"),
        ("anthropic.claude-sonnet-4-6", "aws", "claude-sonnet-4-6"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws", "claude-sonnet-4-5-20250929"),
        ("bedrock/global.anthropic.claude-sonnet-4-6-v1:0", "aws", "claude-sonnet-4-6"),
        ("bedrock/converse/eu.anthropic.claude-haiku-4-5-20251001-v1:0", "aws",
         "claude-haiku-4-5-20251001"),
        ("amazon.nova-pro-v1:0", "aws", "nova-pro"),
        ("openrouter/anthropic/claude-sonnet-4.6", "openrouter", "claude-sonnet-4-6"),
        ("ollama/llama3", None, "ollama/llama3"),
        ("my-finetune-xyz", None, "my-finetune-xyz"),
    ],
)  # fmt: skip
def test_normalise_model(raw: str, provider: str | None, model: str):
    ref = normalise_model(raw)
    assert (ref.provider, ref.model, ref.raw) == (provider, model, raw)


def test_normalise_keeps_provider_spelling_for_lookup():
    assert normalise_model("us.anthropic.claude-sonnet-4-6-v1:0").lookup == (
        "us.anthropic.claude-sonnet-4-6-v1:0"
    )
    assert normalise_model("openrouter/anthropic/claude-sonnet-4.6").lookup == (
        "anthropic/claude-sonnet-4.6"
    )
    assert normalise_model("aws:claude-sonnet-4-6").key == "aws:claude-sonnet-4-6"


def test_normalise_is_cached():
    assert normalise_model("Claude Opus 4.5") is normalise_model("Claude Opus 4.5")


@pytest.mark.parametrize(
    "raw",
    [
        "claude-opus-4-5",
        "anthropic:claude-opus-4-5",
        "anthropic/claude-opus-4-5",
        "Claude Opus 4.5",
        "claude-opus-4-5-20251101",
        "claude-opus-4.5",
    ],
)
def test_spellings_price_the_same(book: PriceBook, raw: str):
    priced = book.price(Usage(raw, input=M, output=M), NOV)
    assert (priced.usd, priced.model_id, priced.tier) == (D(30), "claude-opus-4-5", "frontier")


def test_bedrock_regional_and_global_prices(book: PriceBook):
    """AWS charges 10% more on regional endpoints; the global profile is at list price."""
    regional = book.price(Usage("us.anthropic.claude-sonnet-4-6-v1:0", input=M), NOV)
    glob = book.price(Usage("global.anthropic.claude-sonnet-4-6-v1:0", input=M), NOV)
    assert (regional.provider_id, regional.usd) == ("aws", D("3.3"))
    assert (glob.provider_id, glob.usd) == ("aws", D(3))


def test_provider_spelling_falls_back_to_vendor_price(book: PriceBook):
    priced = book.price(Usage("openrouter/anthropic/claude-sonnet-4-6", input=M), NOV)
    assert priced.usd == D(3) and priced.provider_id == "anthropic"
    assert "no openrouter price" in priced.note


def test_litellm_experimental_id_is_priced_as_paid_model(book: PriceBook):
    """LiteLLM has an explicit $0 here; genai-prices prices the paid model. Never silent zero."""
    priced = book.price(Usage("vertex_ai/gemini-2.5-pro-exp-03-25", input=8_000, output=1_200), NOV)
    assert priced.usd == D("0.022") and priced.model_id == "gemini-2.5-pro"


# --------------------------------------------------------------------------- overrides


def test_override_wins_over_list_price_with_default_cache_multipliers():
    book = PriceBook.from_config({"models": {"claude-sonnet-4-6": {"input": 2, "output": 10}}})
    priced = book.price(
        Usage("anthropic:claude-sonnet-4-6", input=M, output=M, cache_read=M, cache_write=M), NOV
    )
    assert priced.source == "override"
    assert priced.usd == D(2) + D(10) + D("0.2") + D("2.5")
    assert "claude-sonnet-4-6" in priced.note
    assert priced.tier == "standard"  # tiers use the list price, not the negotiated one
    hour = book.price(Usage("claude-sonnet-4-6", cache_write=M, cache_write_1h=M), NOV)
    assert hour.usd == D(4)  # a one-hour write: 2 x input by default


def test_web_searches_are_billed_per_search_beside_the_tokens(book: PriceBook):
    tokens = usd(book, "claude-sonnet-4-6", input=M)
    assert usd(book, "claude-sonnet-4-6", input=M, web_searches=3) == tokens + D("0.03")
    assert usd(book, "gemini-2.5-pro", web_searches=1000) == D(35)  # Google's grounding price
    overridden = PriceBook.from_config({"models": {"claude-sonnet-4-6": {"input": 1, "output": 2}}})
    assert overridden.price(Usage("claude-sonnet-4-6", web_searches=2), NOV).usd == D("0.02")


def test_override_explicit_cache_rates_and_floats():
    rule = {"input": 2.4, "output": 12, "cache_read": 0.12, "cache_write": 3, "cache_write_1h": 4}
    book = PriceBook.from_config({"models": {"claude-sonnet-4-6": rule}})
    priced = book.price(Usage("claude-sonnet-4-6", input=M, cache_read=M, cache_write=M), NOV)
    assert priced.usd == D("2.4") + D("0.12") + D(3)
    hour = book.price(Usage("claude-sonnet-4-6", cache_write=2 * M, cache_write_1h=M), NOV)
    assert hour.usd == D(3) + D(4)


def test_override_glob_provider_qualified_and_precedence():
    book = PriceBook.from_config(
        {
            "models": {
                "claude-*": {"input": 1, "output": 1},
                "aws:claude-sonnet-*": {"input": 2, "output": 2},
                "claude-opus-4-5": {"input": 3, "output": 3},
            }
        }
    )
    assert usd(book, "claude-haiku-4-5", input=M) == D(1)
    assert usd(book, "claude-opus-4-5-20251101", input=M) == D(3)  # exact beats glob
    assert usd(book, "us.anthropic.claude-sonnet-4-6-v1:0", input=M) == D(2)  # provider-qualified
    assert usd(book, "claude-sonnet-4-6", input=M) == D(1)  # billed by anthropic: first glob
    assert usd(book, "gpt-5.2", input=M) == D("1.75")  # untouched


def test_override_provider_qualified_exact():
    book = PriceBook.from_config(
        {"models": {"bedrock/claude-sonnet-4-6": {"input": 2, "output": 9}}}
    )
    assert usd(book, "us.anthropic.claude-sonnet-4-6-v1:0", input=M) == D(2)
    assert usd(book, "claude-sonnet-4-6", input=M) == D(3)


def test_provider_qualified_pattern_beats_bare_exact_name():
    book = PriceBook.from_config(
        {
            "models": {
                "claude-sonnet-4-6": {"input": 1, "output": 1},
                "aws:*": {"input": 2, "output": 2},
                "anthropic:claude-sonnet-4-6": {"input": 3, "output": 3},
            }
        }
    )
    assert usd(book, "us.anthropic.claude-sonnet-4-6-v1:0", input=M) == D(2)
    assert usd(book, "claude-sonnet-4-6", input=M) == D(3)  # resolved provider is anthropic
    assert usd(book, "vertex_ai/claude-sonnet-4-6", input=M) == D(1)


TOML_EXAMPLE = """
[price_overrides.models."claude-sonnet-4-6"]
input = 2.4
output = 12.0

[[price_overrides.models."claude-opus-4-*"]]
input = 4.0
output = 20.0
start = 2026-01-01
end = 2026-06-30

[[price_overrides.models."claude-opus-4-*"]]
input = 4.5
output = 22.5
start = 2026-07-01

[price_overrides.models."aws:claude-sonnet-*"]
input = 2.7
output = 13.5
cache_read = 0.27
cache_write = 3.375

[price_overrides.models."ollama/*"]
input = 0
output = 0

[price_overrides.provider_multipliers]
anthropic = 0.9
bedrock = 0.95

[tiers]
names = ["economy", "standard", "frontier"]
bands = [6, 20]
basis = "output"

[tiers.models]
"claude-opus-4-5" = "standard"
"my-finetune-*" = "economy"
"""


def test_toml_example_from_docs():
    """The shapes proposed in docs/pricing.md, as tomllib hands them to the settings."""
    cfg = tomllib.loads(TOML_EXAMPLE)
    book = PriceBook.from_config(cfg["price_overrides"], cfg["tiers"])
    bedrock = "us.anthropic.claude-sonnet-4-6-v1:0"
    assert usd(book, "claude-sonnet-4-6", input=M, cache_read=M) == D("2.64")
    assert usd(book, bedrock, input=M, cache_read=M) == D("2.97")
    assert usd(book, "claude-opus-4-5", date(2026, 3, 1), input=M) == D(4)
    assert usd(book, "claude-opus-4-6", date(2026, 8, 1), input=M) == D("4.5")
    assert usd(book, "claude-haiku-4-5", input=M) == D("0.9")
    assert usd(book, "global.anthropic.claude-haiku-4-5-20251001-v1:0", input=M) == D("0.95")
    assert usd(book, "ollama/qwen2.5-coder", input=M) == 0
    assert book.tier_of("claude-opus-4-5", NOV) == "standard"


def test_override_date_ranges():
    rules = [
        {"input": 1, "output": 1, "start": "2026-01-01", "end": "2026-06-30"},
        {"input": 2, "output": 2, "start": date(2026, 7, 1)},
    ]
    book = PriceBook.from_config({"models": {"claude-opus-4-5": rules}})
    assert usd(book, "claude-opus-4-5", date(2025, 12, 31), input=M) == D(5)  # list price
    assert usd(book, "claude-opus-4-5", date(2026, 1, 1), input=M) == D(1)
    assert usd(book, "claude-opus-4-5", date(2026, 6, 30), input=M) == D(1)  # end inclusive
    assert usd(book, "claude-opus-4-5", date(2026, 7, 1), input=M) == D(2)


def test_override_prices_unknown_models_and_gives_them_a_tier():
    book = PriceBook.from_config({"models": {"my-finetune-*": {"input": 0.5, "output": 2}}})
    priced = book.price(Usage("my-finetune-xyz", input=M, output=M), NOV)
    assert priced.usd == D("2.5") and priced.source == "override"
    assert priced.tier == "economy"
    rates = book.list_price("my-finetune-xyz", NOV)
    assert rates is not None and rates.source == "override" and rates.output == D(2)


def test_override_can_make_local_models_free():
    book = PriceBook.from_config({"models": {"ollama/*": {"input": 0, "output": 0}}})
    priced = book.price(Usage("ollama/llama3", input=M, output=M), NOV)
    assert priced.usd == D(0) and priced.source == "override"


def test_provider_multiplier():
    book = PriceBook.from_config({"provider_multipliers": {"anthropic": 0.9, "bedrock": 0.5}})
    priced = book.price(Usage("claude-haiku-4-5", input=M, output=M), NOV)
    assert priced.usd == D("5.4") and "0.9" in priced.note
    assert usd(book, "global.anthropic.claude-sonnet-4-6-v1:0", input=M) == D("1.5")
    assert usd(book, "gpt-5.2", input=M) == D("1.75")
    assert book.list_price("claude-haiku-4-5", NOV).input == D(1)  # type: ignore[union-attr]


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("model", "tier"),
    [
        ("claude-haiku-4-5", "economy"),  # $5 output
        ("claude-sonnet-4-6", "standard"),  # $15
        ("claude-opus-4-5", "frontier"),  # $25
        ("claude-haiku-5-5", "economy"),  # $0.50
        ("claude-sonnet-5", "standard"),  # $10
        ("gpt-5-mini", "economy"),  # $2
        ("gpt-5.5", "frontier"),  # $30
        ("gemini-2.5-pro", "standard"),  # base rate $10, not the >200k rate
        ("mystery-model", None),
        ("Claude", None),
    ],
)
def test_default_tier_bands(book: PriceBook, model: str, tier: str | None):
    assert book.tier_of(model, NOV) == tier


def test_tier_follows_price_at_date(book: PriceBook):
    """o3's output price fell from $40 to $8 on 2025-06-10."""
    assert book.tier_of("o3", date(2025, 6, 9)) == "frontier"
    assert book.tier_of("o3", date(2025, 6, 10)) == "standard"


def test_explicit_tier_map_wins():
    book = PriceBook.from_config(
        None, {"models": {"claude-opus-4-5": "standard", "gpt-5*": "frontier"}}
    )
    assert book.tier_of("Claude Opus 4.5", NOV) == "standard"
    assert book.tier_of("openai/gpt-5-mini", NOV) == "frontier"
    assert book.tier_of("claude-haiku-4-5", NOV) == "economy"
    assert book.price(Usage("claude-opus-4-5", input=1), NOV).tier == "standard"


def test_custom_tier_names_bands_and_blended_basis():
    book = PriceBook.from_config(
        None, {"names": ["cheap", "pricey"], "bands": [3], "basis": "blended"}
    )
    assert book.tier_names == ("cheap", "pricey")
    assert book.tier_of("claude-haiku-4-5", NOV) == "cheap"  # (3 x $1 + $5) / 4 = $2
    assert book.tier_of("claude-sonnet-4-6", NOV) == "pricey"  # (3 x $3 + $15) / 4 = $6
    renamed = PriceBook.from_config(None, {"names": ["s", "m", "l"]})
    assert renamed.tier_of("claude-sonnet-4-6", NOV) == "m"


# --------------------------------------------------------------------------- bad config


@pytest.mark.parametrize(
    ("overrides", "tiers", "message"),
    [
        ({"models": {"x": {"input": -1, "output": 1}}}, None, "models.x.0.input"),
        ({"models": {"x": {"input": 1}}}, None, "output"),
        ({"models": {"x": {"input": "abc", "output": 1}}}, None, "input"),
        ({"models": {"x": {"input": 1, "output": 1, "typo": 1}}}, None, "typo"),
        ({"models": {"x": {"input": 1, "output": 1, "start": "2026-02-01",
                           "end": "2026-01-01"}}}, None, "before start"),
        ({"models": {"x": []}}, None, "empty list"),
        ({"models": {" ": {"input": 1, "output": 1}}}, None, "empty model pattern"),
        ({"claude-sonnet-4-6": {"input": 1, "output": 1}}, None, "claude-sonnet-4-6"),
        ({"provider_multipliers": {"anthropic": 90}}, None, "10% off"),
        ({"provider_multipliers": {"anthropic": 0}}, None, "multiplier"),
        (["not", "a", "mapping"], None, "price_overrides"),
        (None, {"models": {"claude-opus-4-5": "premium"}}, "unknown tiers"),
        (None, {"names": ["a", "b"]}, "bands are required"),
        (None, {"bands": [20, 6]}, "strictly increasing"),
        (None, {"bands": [6]}, "need 2 bands"),
        (None, {"names": ["a", "a", "b"]}, "distinct"),
        (None, {"basis": "input"}, "basis"),
        (None, {"colours": {}}, "colours"),
    ],
)  # fmt: skip
def test_bad_config_raises_value_error(overrides, tiers, message: str):  # noqa: ANN001
    with pytest.raises(ValueError, match="invalid") as info:
        PriceBook.from_config(overrides, tiers)
    assert message in str(info.value)


def test_empty_config_is_default():
    book = PriceBook.from_config({}, {})
    assert book.tier_names == ("economy", "standard", "frontier")
    assert usd(book, "claude-haiku-4-5", input=M) == D(1)


# --------------------------------------------------------------------------- properties

_MODELS_AT = [
    ("claude-haiku-4-5", datetime(2026, 11, 20, tzinfo=UTC)),
    ("claude-sonnet-4-6", datetime(2026, 2, 20, tzinfo=UTC)),  # tiered then
    ("gemini-2.5-pro", datetime(2026, 11, 20, tzinfo=UTC)),  # tiered
    ("gpt-5.4", datetime(2026, 11, 20, tzinfo=UTC)),  # tiered
    ("deepseek-chat", datetime(2026, 1, 5, 2, 0, tzinfo=UTC)),  # time-of-day prices
    ("deepseek-chat", datetime(2026, 1, 5, 20, 0, tzinfo=UTC)),
    ("us.anthropic.claude-sonnet-4-6-v1:0", datetime(2026, 11, 20, tzinfo=UTC)),
]
_BOOK = PriceBook()
_tokens = st.integers(min_value=0, max_value=1_500_000)
_usages = st.builds(
    lambda i, o, cr, cw, hour: {
        "input": i, "output": o, "cache_read": cr, "cache_write": cw,
        "cache_write_1h": min(hour, cw),
    },
    _tokens, _tokens, _tokens, _tokens, _tokens,
)  # fmt: skip
_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(st.sampled_from(_MODELS_AT), _usages)
def test_single_request_matches_genai_prices(model_at, tokens):
    """Our cached per-token rates reproduce genai-prices' own calculation exactly."""
    model, at = model_at
    ours = _BOOK.price(Usage(model, requests=1, **tokens), at)
    ref = ours.ref
    theirs = calc_price(
        GPUsage(
            input_tokens=tokens["input"] + tokens["cache_read"] + tokens["cache_write"],
            output_tokens=tokens["output"],
            cache_read_tokens=tokens["cache_read"],
            cache_write_tokens=tokens["cache_write"],
            cache_write_1h_tokens=tokens["cache_write_1h"],
        ),
        ref.price_ref,
        provider_id=ref.provider,
        genai_request_timestamp=at,
    )
    assert ours.usd == theirs.total_price


@_settings
@given(
    st.sampled_from(_MODELS_AT),
    _usages,
    st.sampled_from(["input", "output", "cache_read", "cache_write"]),
    st.integers(min_value=1, max_value=500_000),
    st.integers(min_value=0, max_value=20),
)
def test_price_is_monotone_in_each_token_count(model_at, tokens, field, extra, requests):
    model, at = model_at
    base = Usage(model, requests=requests, **tokens)
    more = replace(base, **{field: getattr(base, field) + extra})
    assert _BOOK.price(more, at).usd >= _BOOK.price(base, at).usd  # type: ignore[operator]


@_settings
@given(
    st.sampled_from(_MODELS_AT),
    _usages,
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=5),
)
def test_lines_with_equal_request_shape_add_up(model_at, tokens, requests, k):
    """Line B = k x line A (same average request): priced apart or merged, the total is equal."""
    model, at = model_at
    a = Usage(model, requests=requests, **tokens)
    b = Usage(model, requests=requests * k, **{f: v * k for f, v in tokens.items()})
    apart = _BOOK.price(a, at).usd + _BOOK.price(b, at).usd  # type: ignore[operator]
    assert _BOOK.price(a + b, at).usd == apart


@_settings
@given(_usages, _usages, st.integers(0, 10), st.integers(0, 10))
def test_untiered_lines_add_up_whatever_the_split(t1, t2, r1, r2):
    at = datetime(2026, 11, 20, tzinfo=UTC)
    a, b = (
        Usage("claude-sonnet-4-6", requests=r1, **t1),
        Usage("claude-sonnet-4-6", requests=r2, **t2),
    )
    apart = _BOOK.price(a, at).usd + _BOOK.price(b, at).usd  # type: ignore[operator]
    assert _BOOK.price(a + b, at).usd == apart


def test_model_ref_is_hashable_and_frozen():
    ref = normalise_model("anthropic:claude-opus-4-5")
    assert isinstance(ref, ModelRef) and hash(ref) == hash(replace(ref))
    with pytest.raises(AttributeError):
        ref.model = "x"  # type: ignore[misc]
