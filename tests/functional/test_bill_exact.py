"""The bill's edge cases, each pinned to a bill computed by hand (issue 15).

Every test goes the way usage goes in production: an agent's log, read by ``bot.local.usage_logs``,
written as trailers, parsed back and priced. Rates are genai-prices' list prices on the day
priced (``DAY``, before Anthropic dropped Opus 4.6's long-context tier on 2026-03-13).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli.stamp import stamp_command
from bot.local.usage_logs import read_usage_logs
from bot.pricing.prices import FAST_MODE_MULTIPLIERS, PriceBook
from bot.protocol.codec import ProtocolRecord, format_record, parse_record
from bot.protocol.usage import Usage, banded, merge_by_model

DAY = date(2026, 2, 20)
SONNET, OPUS = "claude-sonnet-4-5-20250929", "claude-opus-4-6"
BOOK = PriceBook()


def assistant(message_id, request_id, usage, model=SONNET, **extra) -> dict:
    """A Claude Code 2.1 transcript entry of one streamed response, as the agent writes it."""
    return {
        "parentUuid": "u-1",
        "isSidechain": False,
        "sessionId": "s-1",
        "version": "2.1.126",
        "message": {
            "model": model,
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "ok"}],
            "usage": usage,
        },
        "requestId": request_id,
        "type": "assistant",
        "uuid": f"a-{message_id}-{request_id}",
        "timestamp": "2026-02-20T10:00:00.000Z",
        **extra,
    }


def write(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


def billed(*paths: Path, book: PriceBook = BOOK) -> tuple[Decimal | None, list[str]]:
    """Dollars of the logs as the App sees them: through trailers, parsed back and priced."""
    log = read_usage_logs(paths)
    lines = format_record(ProtocolRecord(usage=tuple(log.usages)))
    record, warnings = parse_record(lines)
    assert not warnings
    prices = [p.usd for p in book.price_all(record.usage, DAY)]
    total = None if None in prices else sum(prices, Decimal(0))
    return total, [value for key, value in lines if key == "Agent-Usage"]


# --- 1. long context is decided per request --------------------------------------------------


def test_one_long_request_among_small_ones_is_billed_at_long_context_rates(tmp_path):
    small = {"input_tokens": 10, "cache_read_input_tokens": 50_000, "output_tokens": 1000}
    large = {"input_tokens": 10, "cache_read_input_tokens": 250_000, "output_tokens": 1000}
    entries = [assistant(f"msg_{n}", f"req_{n}", small) for n in range(9)]
    entries.append(assistant("msg_9", "req_9", large))
    usd, lines = billed(write(tmp_path / "s.jsonl", entries))
    # Sonnet 4.5 per million: $3 in, $0.30 cache read, $15 out; above 200k input: $6, $0.60, $22.50.
    # Nine small: 9 * (10 * 3 + 50_000 * 0.30 + 1000 * 15) = 9 * 30_030 = 270_270 micro-dollars.
    # The large one, wholly long-context: 10 * 6 + 250_000 * 0.60 + 1000 * 22.5 = 172_560.
    assert usd == Decimal("0.442830")
    # Averaged (70_010 input per request), all ten would be $0.3603: 19% under the bill.
    assert lines == [
        f"model={SONNET}; in=90; out=9000; cache_read=450000; requests=9",
        f"model={SONNET}; in=10; out=1000; cache_read=250000; requests=1; long_context=200000",
    ]


def test_older_trailers_without_the_key_are_read_and_priced_as_before():
    record, warnings = parse_record(
        [("Agent-Usage", f"model={SONNET}; in=100; out=10000; cache_read=700000; requests=10")]
    )
    assert not warnings and record.usage[0].long_context == 0
    # Ten requests averaging 70_010 input: base rates, 100 * 3 + 700_000 * 0.3 + 10_000 * 15.
    assert BOOK.price(record.usage[0], DAY).usd == Decimal("0.360300")


def test_requests_are_split_at_each_providers_threshold():
    sizes = (150_000, 200_000, 200_001, 272_000, 272_001)
    marks = [banded(Usage("m", cache_read=n, requests=1)).long_context for n in sizes]
    assert marks == [0, 0, 200_000, 200_000, 272_000]


REQUEST = st.builds(
    lambda i, r, w, o: (i, r, w, o),
    st.integers(0, 50_000),
    st.integers(0, 300_000),
    st.integers(0, 60_000),
    st.integers(0, 20_000),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(REQUEST, min_size=1, max_size=12), st.sampled_from([SONNET, "gpt-5.4", OPUS]))
def test_banded_lines_cost_what_their_requests_cost_one_by_one(requests, model):
    """Summing requests into banded lines never changes the bill, whatever their sizes."""
    one_by_one = [
        Usage(model, input=i, cache_read=r, cache_write=w, output=o, requests=1)
        for i, r, w, o in requests
    ]
    alone = sum((BOOK.price(u, DAY).usd for u in one_by_one), Decimal(0))
    lines = merge_by_model(map(banded, one_by_one))
    assert sum((BOOK.price(u, DAY).usd for u in lines), Decimal(0)) == alone


# --- 2. fast mode ---------------------------------------------------------------------------

FAST_USAGE = {
    "input_tokens": 1000,
    "cache_creation_input_tokens": 4000,
    "cache_read_input_tokens": 10_000,
    "output_tokens": 2000,
    "service_tier": "standard",
}


def test_fast_mode_is_billed_at_six_times_opus_4_6(tmp_path):
    fast = assistant("msg_f", "req_f", {**FAST_USAGE, "speed": "fast"}, model=OPUS)
    standard = assistant("msg_s", "req_s", {**FAST_USAGE, "speed": "standard"}, model=OPUS)
    usd, lines = billed(write(tmp_path / "s.jsonl", [fast, standard]))
    # Opus 4.6 per million: $5 in, $6.25 cache write, $0.50 cache read, $25 out.
    # Standard: 1000 * 5 + 4000 * 6.25 + 10_000 * 0.5 + 2000 * 25 = 85_000 micro-dollars.
    # Fast, six times every rate ($30, $37.50, $3, $150): 510_000.
    assert usd == Decimal("0.595")
    assert lines[0].endswith("; speed=fast") and "speed" not in lines[1]


def test_fast_mode_stacks_on_long_context_rates(tmp_path):
    usage = {"input_tokens": 10, "cache_read_input_tokens": 240_000, "output_tokens": 100}
    usd, _ = billed(
        write(tmp_path / "s.jsonl", [assistant("m", "r", {**usage, "speed": "fast"}, model=OPUS)])
    )
    # Long-context Opus 4.6: $10 in, $1 cache read, $37.50 out; fast: x6 = $60, $6, $225.
    # 10 * 60 + 240_000 * 6 + 100 * 225 = 1_463_100 micro-dollars.
    assert usd == Decimal("1.4631")


def test_fast_mode_multiplier_can_be_overridden_and_unknown_is_unpriced(tmp_path):
    fast = assistant("m", "r", {**FAST_USAGE, "speed": "fast"}, model=OPUS)
    log = write(tmp_path / "s.jsonl", [fast])
    book = PriceBook.from_config({"fast_mode": {"claude-opus-4-*": "2"}})
    assert billed(log, book=book)[0] == Decimal("0.170")  # 2 * 85_000 micro-dollars
    sonnet = assistant("m", "r", {**FAST_USAGE, "speed": "fast"}, model=SONNET)
    priced = BOOK.price(read_usage_logs([write(tmp_path / "t.jsonl", [sonnet])]).usages[0], DAY)
    assert priced.usd is None and "fast_mode" in priced.note  # never the standard rate
    odd = Usage(OPUS, input=1, speed="warp")
    assert BOOK.price(odd, DAY).usd is None


def test_fast_mode_table_agrees_with_genai_prices_fast_variants():
    """genai-prices knows fast mode only as OpenRouter's ``-fast`` models: the table matches."""
    for model, multiplier in FAST_MODE_MULTIPLIERS.items():
        dotted = model.replace("claude-opus-4-", "claude-opus-4.")
        fast = BOOK.list_price(f"openrouter:anthropic/{dotted}-fast", DAY)
        standard = BOOK.list_price(f"anthropic:{model}", DAY)
        assert fast is not None and standard is not None
        assert fast.input == standard.input * multiplier
        assert fast.output == standard.output * multiplier


# --- 3. replayed responses ------------------------------------------------------------------


def test_a_response_replayed_in_a_side_file_counts_once_at_its_largest_copy(tmp_path):
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 2849,
        "cache_read_input_tokens": 9493,
        "output_tokens": 500,
    }
    session = write(tmp_path / "s-1.jsonl", [assistant("msg_01", "req_01", usage, model=OPUS)])
    side = tmp_path / "s-1" / "subagents"
    side.mkdir(parents=True)
    placeholder = {**usage, "output_tokens": 1}  # the replay's streamed copy
    write(side / "agent-a1.jsonl", [assistant("msg_01", "req_99", placeholder, model=OPUS)])
    usd, lines = billed(session)
    # Once: 3 * 5 + 2849 * 6.25 + 9493 * 0.5 + 500 * 25 = 35_067.75 micro-dollars (twice 0.0701).
    assert usd == Decimal("0.03506775")
    assert lines == [f"model={OPUS}; in=3; out=500; cache_read=9493; cache_write=2849; requests=1"]


# --- 4. skipped lines that carry usage ------------------------------------------------------


def test_a_usage_line_of_an_unknown_shape_is_a_warning(tmp_path):
    entry = assistant("m", "r", {"input_tokens": 5, "output_tokens": 7})
    del entry["type"]
    log = read_usage_logs([write(tmp_path / "s.jsonl", [entry])])
    assert log.usages == [] and log.agent == "claude-code"
    assert log.warnings == ["1 Claude Code line(s) with usage but not an assistant entry, skipped"]


def test_stamp_reports_the_skipped_usage(tmp_path):
    entry = assistant("m", "r", {"input_tokens": 5, "output_tokens": 7}, type="progress")
    log = write(tmp_path / "s.jsonl", [entry])
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    result = CliRunner().invoke(stamp_command, [str(msg), "--from-log", str(log)])
    assert result.exit_code == 0
    assert "with usage but not an assistant entry, skipped" in result.output


# --- 5. models behind Anthropic-compatible endpoints ----------------------------------------


def test_anthropic_compatible_models_are_priced_at_their_own_providers_rates():
    usage = dict(input=1_000_000, output=1_000_000, cache_read=1_000_000)
    bills = {m: BOOK.price(Usage(m, **usage), DAY) for m in
             ("deepseek-chat", "kimi-k2", "zai:glm-4.6", "glm-4.6")}  # fmt: skip
    assert bills["deepseek-chat"].usd == Decimal("1.44")  # DeepSeek: 0.27 + 1.10 + 0.07
    assert bills["kimi-k2"].usd == Decimal("3.44")  # Moonshot: 0.57 + 2.30 + 0.57 (no cache price)
    assert bills["zai:glm-4.6"].usd == Decimal("2.91")  # Z.ai: 0.60 + 2.20 + 0.11
    assert bills["glm-4.6"].usd is None and bills["glm-4.6"].source == "unpriced"
