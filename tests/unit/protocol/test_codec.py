"""Protocol records survive formatting and parsing; bad values warn instead of raising."""

from __future__ import annotations

import dataclasses
import string
import subprocess
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.protocol.codec import (
    STRATEGIES,
    TASK_CLASSES,
    Context,
    ProtocolRecord,
    Route,
    format_pairs,
    format_record,
    format_trailers,
    parse_pairs,
    parse_record,
)
from bot.protocol.trailers import parse_trailers
from bot.protocol.usage import (
    Usage,
    from_anthropic,
    from_gemini,
    from_openai,
    from_otel,
    merge_by_model,
)

SPACE = " \t\n\r"
any_text = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40)
plain = any_text.map(lambda s: s.replace("\n", " ").strip(SPACE)).filter(bool)
item = plain.filter(lambda s: "," not in s).map(lambda s: s.strip(SPACE)).filter(bool)
pair_key = st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True)
fraction = st.floats(min_value=0, max_value=1, allow_nan=False)
count = st.integers(min_value=0, max_value=10**12)


def extras(known: set[str]):
    return st.lists(st.tuples(pair_key.filter(lambda k: k not in known), any_text), max_size=3)


routes = st.builds(
    Route,
    router=st.none() | any_text,
    strategy=st.none() | st.sampled_from(STRATEGIES),
    tier=st.none() | any_text,
    model=st.none() | any_text,
    score=st.none() | fraction,
    threshold=st.none() | fraction,
    candidates=st.lists(item, max_size=3).map(tuple),
    reason=st.none() | any_text,
    extra=extras(
        {"router", "strategy", "tier", "model", "score", "threshold", "candidates", "reason"}
    ).map(tuple),
)
contexts = st.builds(
    Context,
    sources=st.lists(item, max_size=4).map(tuple),
    tokens=st.none() | count,
    extra=extras({"sources", "tokens"}).map(tuple),
)
usages = st.builds(
    Usage,
    model=any_text.filter(bool),
    input=count,
    output=count,
    cache_read=count,
    cache_write=count,
    reasoning=count,
    requests=count,
    web_searches=count,
    cost=st.none() | st.decimals(min_value=0, max_value=10**6, allow_nan=False, places=6),
    extra=extras(
        {"model", "in", "out", "cache_read", "cache_write", "cache_write_1h", "reasoning",
         "requests", "web_searches", "cost", "speed", "long_context"}
    ).map(tuple),
    speed=st.sampled_from(["", "fast", "unknown"]),
    long_context=st.sampled_from([0, 200_000, 272_000]),
).flatmap(  # the one-hour writes are a part of all cache writes
    lambda u: st.integers(0, u.cache_write).map(lambda h: dataclasses.replace(u, cache_write_1h=h))
)  # fmt: skip
records = st.builds(
    ProtocolRecord,
    version=st.just(1),
    agent=st.none() | plain,
    task=st.none() | plain,
    task_class=st.none()
    | st.sampled_from(TASK_CLASSES)
    | st.from_regex(r"[a-z]{1,10}", fullmatch=True),
    attempt=st.none() | st.integers(min_value=1, max_value=1000),
    route=st.none() | routes,
    context=st.none() | contexts,
    usage=st.lists(usages, max_size=3).map(tuple),
    log=st.none() | plain,
    extra=st.lists(
        st.tuples(st.from_regex(r"Agent-X[A-Za-z0-9-]{0,8}", fullmatch=True), plain), max_size=2
    ).map(tuple),
)


def commit_message(record: ProtocolRecord) -> str:
    return "feat: something\n\nBody.\n\n" + format_trailers(format_record(record))


@settings(max_examples=400, deadline=None)
@given(records)
def test_format_then_parse_gives_the_same_record(record):
    parsed, warnings = parse_record(parse_trailers(commit_message(record)))
    assert warnings == []
    assert parsed == record


@pytest.mark.git
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records)
def test_git_reads_formatted_records_the_same_way(git_env, record):
    message = commit_message(record).encode()
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        env=git_env,
        capture_output=True,
        check=True,
    ).stdout
    assert out.decode() == format_trailers(format_record(record))


def test_example_from_the_docs():
    message = (
        "fix(router): retry on 529\n\n"
        "Agent-Trailers: 1\n"
        "Agent: claude-code/2.0.31\n"
        "Agent-Task: ROUTE-4711\n"
        "Agent-Task-Class: Bugfix\n"
        "Agent-Attempt: 2\n"
        "Agent-Route: router=notdiamond/1.2; strategy=cascade; tier=economy; "
        "model=anthropic:claude-haiku-4-5; score=0.31; threshold=0.5; "
        'candidates=economy,frontier; reason="cheap first; escalate on CI"\n'
        "Agent-Context: sources=AGENTS.md,docs/api.md; tokens=5400\n"
        "agent-usage: model=anthropic:claude-haiku-4-5; in=1200; out=300; cache_read=40000; "
        "cache_write=6000; requests=12; cost=0.0312; region=eu\n"
        "Agent-Log: refs/notes/agent-log\n"
    )
    record, warnings = parse_record(parse_trailers(message))
    assert warnings == []
    assert record.task_class == "bugfix"
    assert record.attempt == 2
    assert record.route.strategy == "cascade"
    assert record.route.candidates == ("economy", "frontier")
    assert record.route.reason == "cheap first; escalate on CI"
    assert record.context == Context(sources=("AGENTS.md", "docs/api.md"), tokens=5400)
    [usage] = record.usage
    assert (usage.input, usage.output, usage.cache_read, usage.cache_write) == (
        1200,
        300,
        40000,
        6000,
    )
    assert usage.cost == Decimal("0.0312")
    assert usage.extra == (("region", "eu"),)


def test_malformed_values_warn_and_keep_the_rest():
    trailers = [
        ("Agent-Attempt", "second"),
        ("Agent-Route", "tier=economy; score=1.7; strategy=yolo; garbage; =x"),
        ("Agent-Usage", "model=m; in=-5; out=7; cost=abc"),
        ("Agent-Usage", "in=3; out=4"),
        ("Agent-Context", 'sources="unterminated'),
        ("Agent-Trailers", "9"),
    ]
    record, warnings = parse_record(trailers)
    assert record.attempt is None
    assert record.route.tier == "economy" and record.route.score is None
    assert record.route.strategy == "yolo"
    assert record.usage == (Usage(model="m", output=7),)
    assert record.version == 9
    text = "\n".join(warnings)
    for fragment in (
        "Agent-Attempt",
        "score",
        "strategy",
        "garbage",
        "in:",
        "cost",
        "without model",
        "unterminated",
        "version 9",
    ):
        assert fragment in text, fragment


def test_repeated_single_keys_keep_the_first_and_warn():
    record, warnings = parse_record([("Agent-Task", "A"), ("agent-task", "B")])
    assert record.task == "A"
    assert warnings == ["Agent-Task: repeated; the first value is kept"]


def test_unknown_agent_trailers_are_preserved_others_ignored():
    record, _ = parse_record([("Agent-Budget", "3 USD"), ("Signed-off-by", "x"), ("Agent", "a/1")])
    assert record.extra == (("Agent-Budget", "3 USD"),)
    assert record.agent == "a/1"


def test_hostile_values_are_bounded():
    record, warnings = parse_record([("Agent-Usage", "model=m; " + "x;" * 200_000)])
    assert record.usage == (Usage(model="m"),)
    assert len(warnings) == 51 and warnings[-1] == "further warnings suppressed"
    record, _ = parse_record([("Agent-Attempt", "9" * 100_000)])
    assert record.attempt is None


def test_quoting():
    assert format_pairs([("a", "plain"), ("b", "two words"), ("c", ""), ("d", 'q"; x')]) == (
        'a=plain; b="two words"; c=""; d="q\\"; x"'
    )
    warnings: list[str] = []
    assert parse_pairs('a = 1 ;b="x;y" ; C=Up', warnings, "t") == [
        ("a", "1"),
        ("b", "x;y"),
        ("c", "Up"),
    ]
    assert warnings == []


def test_format_rejects_values_git_would_change():
    with pytest.raises(ValueError, match="Agent-Task"):
        format_record(ProtocolRecord(task=" padded"))
    with pytest.raises(ValueError, match="Agent-Log"):
        format_record(ProtocolRecord(log="two\nlines"))


def test_usage_conversions_share_one_meaning_of_input():
    anthropic = from_anthropic(
        "claude-haiku-4-5",
        {
            "input_tokens": 8000,
            "output_tokens": 1200,
            "cache_read_input_tokens": 40000,
            "cache_creation_input_tokens": 6000,
        },
    )
    openai = from_openai(
        "gpt-5",
        {
            "prompt_tokens": 54000,
            "completion_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 40000},
            "completion_tokens_details": {"reasoning_tokens": 700},
        },
    )
    otel = from_otel(
        {
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 54000,
            "gen_ai.usage.output_tokens": 1200,
            "gen_ai.usage.cache_read.input_tokens": 40000,
            "gen_ai.usage.cache_creation.input_tokens": 6000,
        }
    )
    assert (anthropic.input, anthropic.cache_read, anthropic.cache_write) == (8000, 40000, 6000)
    assert (openai.input, openai.cache_read, openai.reasoning) == (14000, 40000, 700)
    assert (otel.input, otel.cache_read, otel.cache_write) == (8000, 40000, 6000)
    gemini = from_gemini(
        "gemini-2.5-pro",
        {
            "promptTokenCount": 54000,
            "candidatesTokenCount": 500,
            "cachedContentTokenCount": 40000,
            "thoughtsTokenCount": 700,
        },
    )
    assert (gemini.input, gemini.output, gemini.reasoning) == (14000, 1200, 700)
    assert anthropic.total_input == otel.total_input == openai.total_input == 54000


def test_anthropic_one_hour_cache_writes_are_a_part_of_the_writes():
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 2849,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 2849},
    }
    u = from_anthropic("claude-opus-4-6", usage)
    assert (u.input, u.cache_write, u.cache_write_1h, u.total_input) == (3, 2849, 2849, 2852)
    odd = {"cache_creation_input_tokens": 10, "cache_creation": {"ephemeral_1h_input_tokens": 99}}
    assert from_anthropic("m", odd).cache_write_1h == 10
    assert from_anthropic("m", {"cache_creation": "x"}).cache_write_1h == 0


def test_one_hour_writes_above_all_writes_warn_and_are_capped():
    message = "x\n\nAgent-Usage: model=m; cache_write=5; cache_write_1h=9\n"
    record, warnings = parse_record(parse_trailers(message))
    assert record.usage[0].cache_write_1h == 5
    assert any("cache_write_1h" in w for w in warnings)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # negative and non-integer counts count as 0
        ({"prompt_tokens": -5, "completion_tokens": -3,
          "prompt_tokens_details": {"cached_tokens": -10}}, (0, 0, 0, 0)),
        ({"prompt_tokens": "abc", "completion_tokens": 2.5}, (0, 0, 0, 0)),
        # a renamed field that is present but null falls through to the other name
        ({"prompt_tokens": None, "input_tokens": 1000, "cached_input_tokens": 300},
         (700, 0, 300, 0)),
        # cache tokens above the reported total are capped, so the total input is kept
        ({"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 800}}, (0, 0, 100, 0)),
        ({"input_tokens": 100, "cached_input_tokens": 60, "cache_write_input_tokens": 70},
         (0, 0, 60, 40)),
    ],
)  # fmt: skip
def test_openai_conversion_of_odd_counts(usage, expected):
    u = from_openai("gpt-5", usage)
    assert (u.input, u.output, u.cache_read, u.cache_write) == expected
    total = usage.get("prompt_tokens")
    if not isinstance(total, int):
        total = usage.get("input_tokens")
    assert u.total_input == max(total if isinstance(total, int) else 0, 0)


count_like = st.none() | st.booleans() | st.integers(-(10**6), 10**12) | st.floats() | st.text()


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "gen_ai.usage.input_tokens": count_like,
            "gen_ai.usage.prompt_tokens": count_like,
            "gen_ai.usage.output_tokens": count_like,
            "gen_ai.usage.cache_read.input_tokens": count_like,
            "gen_ai.usage.cache_creation.input_tokens": count_like,
            "gen_ai.usage.reasoning.output_tokens": count_like,
            "gen_ai.response.model": st.none() | st.integers() | st.text(),
        },
    )
)
def test_otel_conversion_never_raises_or_goes_negative(attributes):
    u = from_otel(attributes)
    assert min(getattr(u, f) for f in ("input", "output", "cache_read", "cache_write")) >= 0
    assert u.reasoning <= u.output and isinstance(u.model, str)
    reported = attributes.get("gen_ai.usage.input_tokens")
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        assert u.total_input == reported


def test_merge_by_model_sums_and_keeps_order():
    a1 = Usage("a", input=1, output=2, requests=1, cost=Decimal("0.5"))
    b = Usage("b", input=5)
    a2 = Usage("a", input=10, output=20, requests=2, cost=Decimal("0.25"))
    merged = merge_by_model([a1, b, a2])
    assert merged == [Usage("a", input=11, output=22, requests=3, cost=Decimal("0.75")), b]
    assert merge_by_model([a1, Usage("a", input=1)])[0].cost is None
    with pytest.raises(ValueError):
        a1 + b


def test_merge_keeps_lines_of_other_rates_apart():
    fast, long = Usage("a", input=1, speed="fast"), Usage("a", input=2, long_context=200_000)
    assert merge_by_model([Usage("a", input=3), fast, long, fast]) == [
        Usage("a", input=3),
        Usage("a", input=2, speed="fast"),
        long,
    ]


@pytest.mark.parametrize(
    ("reported", "speed"),
    [(None, ""), ("standard", ""), ("Standard", ""), ("fast", "fast"), ("FAST", "fast"),
     ("", ""), (6, "unknown"), ("x" * 40, "unknown"), ("fast mode", "unknown")],
)  # fmt: skip
def test_speed_is_a_plain_word_and_never_silently_standard(reported, speed):
    usage = from_anthropic("m", {"input_tokens": 1, "speed": reported})
    assert usage.speed == speed
    record, _ = parse_record(format_record(ProtocolRecord(usage=(usage,))))
    assert record.usage[0].speed == speed


def test_printable_alphabet_needs_no_quotes():
    assert format_pairs([("k", string.ascii_letters + string.digits + "-_./:,")]).count('"') == 0
