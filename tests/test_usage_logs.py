"""Agents' own usage logs read into one ``Usage`` per model, by each agent's counting rules.

The fixtures (tests/fixtures/usage_logs/README.md) hold the traps real logs have; the expected
numbers below are worked out by hand from them.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.usage import Usage
from bot.usage_logs import KINDS, UsageLog, detect_kind, read_usage_log

FIXTURES = Path(__file__).parent / "fixtures" / "usage_logs"
CLAUDE_DIR = FIXTURES / "claude-code" / "-home-dev-shop"
CLAUDE = CLAUDE_DIR / "6f1d2c1e-8c1b-4a53-9d5e-2f3c1a7b9e10.jsonl"
CODEX_DIR = FIXTURES / "codex" / "sessions" / "2026" / "05" / "04"
CODEX = CODEX_DIR / "rollout-2026-05-04T10-00-00-0196a1b2-0000-7000-8000-00000000c0de.jsonl"
CODEX_FORK = CODEX_DIR / "rollout-2026-05-04T11-00-00-0196a1b2-0000-7000-8000-00000000f00c.jsonl"
AIDER = FIXTURES / "aider" / "analytics.jsonl"

OPUS, HAIKU = "claude-opus-4-6", "claude-haiku-4-5-20251001"


def by_model(log: UsageLog) -> dict[str, Usage]:
    models = [u.model for u in log.usages]
    assert len(models) == len(set(models)), "one Usage per model"
    return {u.model: u for u in log.usages}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


# --- Claude Code ---------------------------------------------------------------------------


def test_claude_session_dedups_streamed_copies_and_includes_subagents():
    log = read_usage_log(CLAUDE)
    usage = by_model(log)
    assert set(usage) == {OPUS, HAIKU}  # no "<synthetic>", no API error entry
    # msg_01A is written twice (output 1, then the real 527); msg_01B; msg_01D.
    assert usage[OPUS] == Usage(
        OPUS, input=12, output=1167, cache_read=36835, cache_write=3269, requests=3
    )
    # msg_01C (written twice) after /model haiku, plus the subagent's msg_01S1 (twice), msg_01S2.
    assert usage[HAIKU] == Usage(
        HAIKU, input=1218, output=530, cache_read=4000, cache_write=4200, requests=3
    )
    assert (log.agent, log.agent_version) == ("claude-code", "2.1.126")


def test_claude_truncated_last_line_is_a_warning():
    log = read_usage_log(CLAUDE)
    assert any("incomplete last line" in w for w in log.warnings)


def test_claude_project_directory_dedups_across_files():
    """A resumed session repeats msg_01A; it still counts once."""
    usage = by_model(read_usage_log(CLAUDE_DIR))
    assert usage[OPUS] == Usage(
        OPUS, input=14, output=1267, cache_read=56835, cache_write=3319, requests=4
    )
    assert usage[HAIKU].requests == 3


def test_claude_window_is_half_open():
    log = read_usage_log(
        CLAUDE, since=at("2026-05-04T10:01:00+00:00"), until=at("2026-05-04T10:10:00+00:00")
    )
    usage = by_model(log)
    assert usage[OPUS] == Usage(
        OPUS, input=5, output=230, cache_read=12342, cache_write=120, requests=1
    )
    assert usage[HAIKU].requests == 3  # 10:02:10, 10:03:00 (subagent) and 10:05:00


def test_naive_window_times_are_utc():
    naive = read_usage_log(CLAUDE, since=datetime(2026, 5, 4, 10, 5))
    aware = read_usage_log(CLAUDE, since=datetime(2026, 5, 4, 10, 5, tzinfo=UTC))
    local = read_usage_log(
        CLAUDE, since=datetime(2026, 5, 4, 12, 5, tzinfo=timezone(timedelta(hours=2)))
    )
    assert naive.usages == aware.usages == local.usages
    assert {u.model: u.requests for u in naive.usages} == {HAIKU: 1, OPUS: 1}


def test_claude_without_request_id_dedups_on_message_id(tmp_path):
    entry = {
        "type": "assistant",
        "sessionId": "s",
        "version": "2.1.63",
        "timestamp": "2026-03-01T10:31:43.399Z",
        "message": {"model": OPUS, "id": "msg_1", "usage": {"input_tokens": 2, "output_tokens": 1}},
    }
    final = json.loads(json.dumps(entry))
    final["message"]["usage"]["output_tokens"] = 260
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", [entry, final, entry]))
    assert log.usages == [Usage(OPUS, input=2, output=260, requests=1)]


def test_claude_mid_stream_fallback_takes_the_whole_winning_copy(tmp_path):
    first = {
        "type": "assistant",
        "sessionId": "s",
        "requestId": "r",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {
            "model": OPUS,
            "id": "m",
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 900, "output_tokens": 1},
        },
    }
    second = {
        **first,
        "message": {
            "model": HAIKU,
            "id": "m",
            "usage": {"input_tokens": 7, "cache_read_input_tokens": 100, "output_tokens": 40},
        },
    }
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", [first, second]))
    assert log.usages == [Usage(HAIKU, input=7, output=40, cache_read=100, requests=1)]


def test_claude_entries_without_ids_are_all_counted_and_cost_is_summed(tmp_path):
    def entry(cost):
        return {
            "type": "assistant",
            "sessionId": "s",
            "timestamp": "2026-01-01T00:00:00Z",
            "costUSD": cost,
            "message": {"model": OPUS, "usage": {"input_tokens": 1, "output_tokens": 2}},
        }

    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(entry(0.1)) + "\n" + json.dumps(entry(0.2)) + "\n")
    assert read_usage_log(path).usages == [
        Usage(OPUS, input=2, output=4, requests=2, cost=Decimal("0.3"))
    ]


def test_claude_odd_values_count_as_zero(tmp_path):
    entry = {
        "type": "assistant",
        "sessionId": "s",
        "requestId": "r",
        "timestamp": "yesterday",
        "message": {
            "model": OPUS,
            "id": "m",
            "usage": {
                "input_tokens": "12",
                "output_tokens": -3,
                "cache_read_input_tokens": 1.5,
                "cache_creation_input_tokens": True,
            },
        },
    }
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", [entry]))
    assert log.usages == [Usage(OPUS, requests=1)]
    windowed = read_usage_log(tmp_path / "s.jsonl", since=datetime(2026, 1, 1, tzinfo=UTC))
    assert windowed.usages == []
    assert any("without a timestamp" in w for w in windowed.warnings)


# --- Codex ---------------------------------------------------------------------------------


def test_codex_charges_cumulative_steps_to_the_model_of_the_moment():
    log = read_usage_log(CODEX)
    usage = by_model(log)
    assert list(usage) == ["gpt-5.2-codex", "gpt-5.2"]
    # 12000 (re-emitted once: not counted again) + the step to 30000; 8000 + 16000 cached.
    assert usage["gpt-5.2-codex"] == Usage(
        "gpt-5.2-codex", input=6000, output=1500, cache_read=24000, reasoning=900, requests=2
    )
    # the step 30000 -> 45000, then a compaction reset (5000 from last_token_usage), then +4000.
    assert usage["gpt-5.2"] == Usage(
        "gpt-5.2", input=8000, output=1100, cache_read=16000, reasoning=200, requests=3
    )
    assert (log.agent, log.agent_version) == ("codex", "0.128.0")
    assert any("incomplete last line" in w for w in log.warnings)
    assert any("1 invalid JSON line" in w and "line 11" in w for w in log.warnings)


def test_codex_last_total_per_model_would_be_wrong():
    """Documents the choice: the session total at the end is not the second model's usage."""
    usage = by_model(read_usage_log(CODEX))
    assert usage["gpt-5.2"].total_input != 45000


def test_codex_window_keeps_the_cumulative_baseline():
    log = read_usage_log(CODEX, since=at("2026-05-04T10:01:00Z"))
    usage = by_model(log)
    assert usage["gpt-5.2-codex"] == Usage(
        "gpt-5.2-codex", input=2000, output=900, cache_read=16000, reasoning=500, requests=1
    )
    assert usage["gpt-5.2"].requests == 3


def test_codex_fork_skips_the_replayed_parent_history():
    log = read_usage_log(CODEX_FORK)
    assert log.usages == [
        Usage("gpt-5.2", input=3000, output=400, cache_read=8000, reasoning=50, requests=1)
    ]
    assert log.warnings == []


def test_codex_sessions_tree_counts_parent_and_fork_once():
    usage = by_model(read_usage_log(FIXTURES / "codex" / "sessions"))
    assert usage["gpt-5.2-codex"].requests == 2
    assert usage["gpt-5.2"] == Usage(
        "gpt-5.2", input=11000, output=1500, cache_read=24000, reasoning=250, requests=4
    )


def test_codex_fork_without_its_parent_warns(tmp_path):
    lonely = shutil.copy(CODEX_FORK, tmp_path / CODEX_FORK.name)
    log = read_usage_log(lonely)
    assert any("was not found" in w for w in log.warnings)


def test_codex_subagent_spawn_metadata_marks_a_fork(tmp_path):
    sessions = tmp_path / "sessions" / "2026" / "05" / "04"
    sessions.mkdir(parents=True)
    shutil.copy(CODEX, sessions / CODEX.name)
    lines = CODEX_FORK.read_text().splitlines()
    meta = json.loads(lines[0])
    del meta["payload"]["forked_from_id"]
    meta["payload"]["source"] = {
        "subagent": {
            "thread_spawn": {"parent_thread_id": "0196a1b2-0000-7000-8000-00000000c0de", "depth": 1}
        }
    }
    child = sessions.parent.parent / "06" / "01"
    child.mkdir(parents=True)  # another day: found through the sessions tree
    (child / "rollout-x.jsonl").write_text("\n".join([json.dumps(meta), *lines[1:]]) + "\n")
    log = read_usage_log(child / "rollout-x.jsonl")
    assert [u.requests for u in log.usages] == [1]


def test_codex_token_count_before_turn_context_and_without_total(tmp_path):
    usage = {
        "input_tokens": 100,
        "cached_input_tokens": 40,
        "output_tokens": 10,
        "reasoning_output_tokens": 0,
        "total_tokens": 110,
    }
    lines = [
        {"timestamp": "2026-01-01T00:00:00Z", "type": "session_meta", "payload": {"id": "x"}},
        {
            "timestamp": "2026-01-01T00:00:01Z",
            "type": "event_msg",
            "payload": {"type": "token_count", "info": {"last_token_usage": usage}},
        },
        {
            "timestamp": "2026-01-01T00:00:02Z",
            "type": "event_msg",
            "payload": {"type": "token_count", "info": {"last_token_usage": usage}},
        },
    ]
    log = read_usage_log(write_jsonl(tmp_path / "rollout.jsonl", lines))
    assert log.usages == [Usage("unknown", input=120, output=20, cache_read=80, requests=2)]
    assert any("before any turn_context" in w for w in log.warnings)


def test_codex_cache_writes_of_newer_builds(tmp_path):
    total = {
        "input_tokens": 1000,
        "cached_input_tokens": 600,
        "cache_write_input_tokens": 300,
        "output_tokens": 50,
        "reasoning_output_tokens": 20,
    }
    lines = [
        {"timestamp": "2026-01-01T00:00:00Z", "type": "turn_context", "payload": {"model": "m"}},
        {
            "timestamp": "2026-01-01T00:00:01Z",
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {"total_token_usage": total, "last_token_usage": total},
            },
        },
    ]
    log = read_usage_log(write_jsonl(tmp_path / "rollout.jsonl", lines))
    assert log.usages == [
        Usage("m", input=100, output=50, cache_read=600, cache_write=300, reasoning=20, requests=1)
    ]


# --- Aider ---------------------------------------------------------------------------------


def test_aider_message_send_events():
    log = read_usage_log(AIDER)
    usage = by_model(log)
    assert usage["gpt-5.5"] == Usage(
        "gpt-5.5", input=56698, output=1471, requests=2, cost=Decimal("0.30182")
    )
    assert usage["anthropic/claude-sonnet-4-6"].cost == Decimal("0.06825")
    assert (log.agent, log.agent_version) == ("aider", "0.86.1")
    assert any("REDACTED" in w for w in log.warnings)
    assert any("invalid JSON line" in w for w in log.warnings)


def test_aider_window_uses_unix_time():
    since = datetime.fromtimestamp(1777090850, UTC)
    usage = by_model(read_usage_log(AIDER, since=since, until=since + timedelta(seconds=100)))
    assert usage == {
        "gpt-5.5": Usage("gpt-5.5", input=31002, output=1290, requests=1, cost=Decimal("0.16791"))
    }


def test_aider_event_without_cost_leaves_cost_unknown(tmp_path):
    lines = [
        {"event": "message_send", "properties": {"main_model": "m", "prompt_tokens": 1}},
        {"event": "message_send", "properties": {"main_model": "m", "cost": 0.5}},
    ]
    assert read_usage_log(write_jsonl(tmp_path / "a.jsonl", lines)).usages == [
        Usage("m", input=1, requests=2, cost=None)
    ]


# --- detection and robustness --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"), [(CLAUDE, "claude-code"), (CODEX, "codex"), (AIDER, "aider")]
)
def test_detect_kind(path, kind):
    assert detect_kind(path) == kind
    assert read_usage_log(path, kind=kind).usages == read_usage_log(path).usages


def test_forced_kind_reads_nothing_from_another_format():
    assert read_usage_log(AIDER, kind="codex").usages == []


def test_unknown_content_is_a_warning(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"hello": "world"}\n')
    log = read_usage_log(path)
    assert log.usages == [] and log.agent is None
    assert any("not a Claude Code, Codex or Aider log" in w for w in log.warnings)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown log kind"):
        read_usage_log(AIDER, kind="cursor")
    with pytest.raises(FileNotFoundError):
        read_usage_log(FIXTURES / "missing.jsonl")
    assert set(KINDS) == {"claude-code", "codex", "aider"}


def test_warnings_are_capped(tmp_path):
    for n in range(80):
        (tmp_path / f"{n:02}.jsonl").write_text("{}\n")
    assert len(read_usage_log(tmp_path).warnings) == 51


def test_several_agents_leave_the_agent_unset(tmp_path):
    shutil.copy(AIDER, tmp_path / "a.jsonl")
    shutil.copy(CODEX, tmp_path / "b.jsonl")
    log = read_usage_log(tmp_path)
    assert log.agent is None and {"gpt-5.5", "gpt-5.2"} <= {u.model for u in log.usages}


junk_line = st.one_of(
    st.binary(max_size=60),
    st.sampled_from(
        [
            b'{"type":"assistant","message":{"usage":',
            b"[[[[[[[[",
            b"\xff\xfe",
            b'{"event":"message_send","properties":null}',
            b'"usage"',
            b"null",
        ]
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "message",
                        "usage",
                        "payload",
                        "info",
                        "event",
                        "properties",
                        "model",
                        "id",
                        "total_token_usage",
                        "timestamp",
                        "time",
                    ]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    ).map(lambda x: json.dumps(x).encode()),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(junk_line, max_size=8), kind=st.sampled_from(["auto", *KINDS]))
def test_content_never_raises(tmp_path, lines, kind):
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b"\n".join(lines))
    log = read_usage_log(path, kind=kind)
    assert all(u.input >= 0 and u.output >= 0 and u.requests >= 0 for u in log.usages)


def test_deep_nesting_is_a_bad_line_not_a_crash(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"usage": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert read_usage_log(path, kind="claude-code").usages == []
