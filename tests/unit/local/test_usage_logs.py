"""Agents' own usage logs read into one ``Usage`` per model, by each agent's counting rules.

The fixtures (tests/fixtures/usage_logs/README.md) hold the traps real logs have; the expected
numbers below are worked out by hand from them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.cli.stamp import stamp_command
from bot.local import usage_logs
from bot.local.usage_logs import (
    KINDS,
    MAX_COUNT,
    UNKNOWN_MODEL,
    UsageLog,
    detect_kind,
    read_usage_log,
    read_usage_logs,
    session_logs,
)
from bot.pricing.prices import PriceBook
from bot.protocol.usage import Usage, from_openai, merge_by_model
from tests.paths import FIXTURES, ROOT

FIXTURES = FIXTURES / "usage_logs"
CLAUDE_DIR = FIXTURES / "claude-code" / "-home-dev-shop"
CLAUDE = CLAUDE_DIR / "6f1d2c1e-8c1b-4a53-9d5e-2f3c1a7b9e10.jsonl"
CODEX_DIR = FIXTURES / "codex" / "sessions" / "2026" / "05" / "04"
CODEX = CODEX_DIR / "rollout-2026-05-04T10-00-00-0196a1b2-0000-7000-8000-00000000c0de.jsonl"
CODEX_FORK = CODEX_DIR / "rollout-2026-05-04T11-00-00-0196a1b2-0000-7000-8000-00000000f00c.jsonl"
AIDER = FIXTURES / "aider" / "analytics.jsonl"
GEMINI_TMP = FIXTURES / "gemini-cli" / "tmp"
GEMINI = next(GEMINI_TMP.glob("*/chats/session-*.json"))
AMP = next((FIXTURES / "amp" / "threads").glob("T-*.json"))
CODEX_EXEC = FIXTURES / "codex-exec" / "exec-0199a213.jsonl"
QWEN_SESSION = "3f2a9c4e-7b1d-4e8a-9c0f-5d6e7f8a9b0c"
QWEN = FIXTURES / "qwen-code" / "projects" / "-home-dev-shop" / "chats" / f"{QWEN_SESSION}.jsonl"
OPENCODE_STORAGE = FIXTURES / "opencode" / "storage"
OPENCODE_SESSION = "ses_6a1f0c2d3ffeQm4Zr8TbKx2VnW"
OPENCODE_SONNET = (
    OPENCODE_STORAGE / "message" / OPENCODE_SESSION / "msg_95e0f3d5b001Xy98Wv76Ut54Sr.json"
)

COPILOT_SESSION = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
COPILOT = FIXTURES / "copilot" / "session-state" / COPILOT_SESSION / "events.jsonl"
GOOSE = FIXTURES / "goose"
GOOSE_LEGACY = GOOSE / "sessions" / "20250301_1.jsonl"

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


def claude_entry(usage, message_id="m", request_id="r", model=OPUS) -> dict:
    return {
        "type": "assistant",
        "sessionId": "s",
        "requestId": request_id,
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {"model": model, "id": message_id, "usage": usage},
    }


def codex_lines(*totals, last=None) -> list[dict]:
    """A rollout of one model whose token_count events carry ``totals``."""
    last = last or {"input_tokens": 2000, "output_tokens": 100}
    events = [
        {
            "timestamp": f"2026-01-01T00:00:{n:02}Z",
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {"total_token_usage": total, "last_token_usage": last},
            },
        }
        for n, total in enumerate(totals, 1)
    ]
    context = {
        "timestamp": "2026-01-01T00:00:00Z",
        "type": "turn_context",
        "payload": {"model": "g"},
    }
    return [context, *events]


# --- Claude Code ---------------------------------------------------------------------------


def test_claude_session_dedups_streamed_copies_and_includes_subagents():
    log = read_usage_log(CLAUDE)
    usage = by_model(log)
    assert set(usage) == {OPUS, HAIKU}  # no "<synthetic>", no API error entry
    # msg_01A is written twice (output 1, then the real 527); msg_01B; msg_01D.
    assert usage[OPUS] == Usage(
        OPUS,
        input=12,
        output=1167,
        cache_read=36835,
        cache_write=3269,
        cache_write_1h=3269,
        requests=3,
    )
    # msg_01C (written twice) after /model haiku, plus the subagent's msg_01S1 (twice), msg_01S2.
    assert usage[HAIKU] == Usage(
        HAIKU,
        input=1218,
        output=530,
        cache_read=4000,
        cache_write=4200,
        cache_write_1h=4200,
        requests=3,
    )
    assert (log.agent, log.agent_version) == ("claude-code", "2.1.126")


def test_claude_truncated_last_line_is_a_warning():
    log = read_usage_log(CLAUDE)
    assert any("incomplete last line" in w for w in log.warnings)


def test_claude_project_directory_dedups_across_files():
    """A resumed session repeats msg_01A; it still counts once."""
    usage = by_model(read_usage_log(CLAUDE_DIR))
    assert usage[OPUS] == Usage(
        OPUS,
        input=14,
        output=1267,
        cache_read=56835,
        cache_write=3319,
        cache_write_1h=3319,
        requests=4,
    )
    assert usage[HAIKU].requests == 3


def test_claude_window_is_half_open():
    log = read_usage_log(
        CLAUDE, since=at("2026-05-04T10:01:00+00:00"), until=at("2026-05-04T10:10:00+00:00")
    )
    usage = by_model(log)
    assert usage[OPUS] == Usage(
        OPUS, input=5, output=230, cache_read=12342, cache_write=120, cache_write_1h=120, requests=1
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


def test_claude_web_searches_count_once_per_response(tmp_path):
    searched = {
        "input_tokens": 5,
        "output_tokens": 1,
        "server_tool_use": {"web_search_requests": 2},
    }
    streamed = {**searched, "output_tokens": 90}
    other = {"input_tokens": 1, "server_tool_use": {"web_search_requests": -1}}
    entries = [claude_entry(searched), claude_entry(streamed), claude_entry(other, "m2", "r2")]
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", entries))
    assert log.usages == [Usage(OPUS, input=6, output=90, requests=2, web_searches=2)]
    assert any("negative" in w for w in log.warnings)


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
    assert sorted(log.warnings) == [
        "1 token count(s) that were negative, read as 0",
        "1 token count(s) that were not whole numbers, read as 0",
        "2 token count(s) that were not numbers, read as 0",
    ]
    windowed = read_usage_log(tmp_path / "s.jsonl", since=datetime(2026, 1, 1, tzinfo=UTC))
    assert windowed.usages == []
    assert any("without a timestamp" in w for w in windowed.warnings)


def test_odd_values_are_one_warning_per_kind_not_per_line(tmp_path):
    lines = [claude_entry({"input_tokens": -1, "output_tokens": 1}, f"m{n}") for n in range(500)]
    lines.append(claude_entry({"input_tokens": 10**25}, "big"))
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", lines))
    assert log.usages == [Usage(OPUS, output=500, requests=501)]
    assert log.warnings == [
        "500 token count(s) that were negative, read as 0",
        f"1 token count(s) above {MAX_COUNT:,}, read as 0",
    ]


def test_null_counts_are_absent_without_a_warning(tmp_path):
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": None,
        "cache_creation_input_tokens": None,
    }
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", [claude_entry(usage)]))
    assert (log.usages, log.warnings) == ([Usage(OPUS, input=3, requests=1)], [])


@pytest.mark.parametrize("model", [123, None, "", ["x"]])
def test_claude_response_without_a_model_name_still_counts(tmp_path, model):
    log = read_usage_log(
        write_jsonl(tmp_path / "s.jsonl", [claude_entry({"input_tokens": 7}, model=model)])
    )
    assert log.usages == [Usage("unknown", input=7, requests=1)]
    assert log.warnings == ["1 Claude Code response(s) without a model name, counted as 'unknown'"]


@pytest.mark.parametrize("bad_id", [{}, [], ["r"], 5, {"a": 1}])
def test_claude_ids_that_are_not_strings_do_not_crash(tmp_path, bad_id):
    copies = [
        claude_entry({"input_tokens": 4, "output_tokens": 1}, "m", bad_id),
        claude_entry({"input_tokens": 4, "output_tokens": 9}, "m", bad_id),
        claude_entry({"input_tokens": 5, "output_tokens": 2}, bad_id, bad_id),
    ]
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", copies))
    # the two copies of "m" still count once; the entry without a usable id counts on its own
    assert log.usages == [Usage(OPUS, input=9, output=11, requests=2)]
    assert log.warnings == ["3 Claude Code id(s) that were not strings, ignored"]


def test_claude_one_hour_cache_writes_are_passed_on(tmp_path):
    usage = {
        "input_tokens": 1,
        "cache_creation_input_tokens": 1000,
        "cache_creation": {"ephemeral_1h_input_tokens": 600, "ephemeral_5m_input_tokens": 400},
    }
    odd = {**usage, "cache_creation": {"ephemeral_1h_input_tokens": "600"}}
    lines = [claude_entry(usage, "a"), claude_entry(odd, "b"), claude_entry(usage, "c")]
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", lines))
    assert log.usages == [Usage(OPUS, input=3, cache_write=3000, cache_write_1h=1200, requests=3)]
    assert log.warnings == ["1 token count(s) that were not numbers, read as 0"]


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


def test_codex_archived_sessions_are_read_and_found_as_parents(tmp_path):
    """Codex moves an archived rollout, unchanged, to ``$CODEX_HOME/archived_sessions``."""
    day = tmp_path / "sessions" / "2026" / "05" / "04"
    day.mkdir(parents=True)
    (tmp_path / "archived_sessions").mkdir()
    parent = shutil.copy(CODEX, tmp_path / "archived_sessions" / CODEX.name)
    fork = shutil.copy(CODEX_FORK, day / CODEX_FORK.name)
    both = read_usage_logs([tmp_path / "archived_sessions", fork])
    assert both.usages == read_usage_log(FIXTURES / "codex" / "sessions").usages
    alone = read_usage_log(fork)
    assert not any("was not found" in w for w in alone.warnings)
    shutil.move(fork, tmp_path / "archived_sessions")
    shutil.move(parent, day)
    moved = read_usage_log(tmp_path / "archived_sessions" / CODEX_FORK.name)
    assert not any("was not found" in w for w in moved.warnings)
    assert moved.usages == alone.usages


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


@pytest.mark.parametrize("bad", ["22000", -1, None, 1.5, 10**25, True, {}, "missing input_tokens"])
def test_codex_invalid_cumulative_total_is_skipped_not_a_reset(tmp_path, bad):
    """Read as 0, the bad total would look like a reset and charge 6000 again (in=10000)."""
    middle = {"input_tokens": bad, "output_tokens": 200}
    if bad == "missing input_tokens":
        del middle["input_tokens"]
    lines = codex_lines(
        {"input_tokens": 2000, "output_tokens": 100},
        middle,
        {"input_tokens": 6000, "output_tokens": 300},
    )
    log = read_usage_log(write_jsonl(tmp_path / "rollout.jsonl", lines))
    assert log.usages == [Usage("g", input=6000, output=300, requests=2)]
    assert "1 Codex token_count event(s) with an invalid cumulative total, skipped" in log.warnings


def test_codex_total_that_is_not_an_object_is_invalid(tmp_path):
    lines = codex_lines({"input_tokens": 2000, "output_tokens": 100}, None, "x")
    log = read_usage_log(write_jsonl(tmp_path / "rollout.jsonl", lines))
    assert log.usages == [Usage("g", input=2000, output=100, requests=1)]
    assert "2 Codex token_count event(s) with an invalid cumulative total, skipped" in log.warnings


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


def test_aider_odd_cost_is_unknown_with_a_warning(tmp_path):
    lines = [
        {"event": "message_send", "properties": {"main_model": "m", "cost": "0.25"}},
        {"event": "message_send", "properties": {"main_model": "m", "cost": -1}},
        {"event": "message_send", "properties": {"main_model": "n", "cost": "NaN"}},
    ]
    log = read_usage_log(write_jsonl(tmp_path / "a.jsonl", lines))
    assert log.usages == [Usage("m", requests=2), Usage("n", requests=1)]
    assert sorted(log.warnings) == [
        "1 cost(s) that were negative, ignored",
        "1 cost(s) that were not numbers, ignored",
    ]


# --- several logs read together ------------------------------------------------------------


def test_session_and_its_subagent_file_given_together_count_once():
    subagent = next((CLAUDE_DIR / CLAUDE.stem / "subagents").glob("*.jsonl"))
    assert read_usage_logs([CLAUDE, subagent]).usages == read_usage_log(CLAUDE).usages


def test_original_and_resumed_session_given_together_count_once():
    files = sorted(CLAUDE_DIR.glob("*.jsonl"))
    assert len(files) == 2
    assert read_usage_logs(files).usages == read_usage_log(CLAUDE_DIR).usages


def test_a_file_named_twice_is_read_once():
    once = read_usage_log(FIXTURES / "codex" / "sessions")
    twice = read_usage_logs([FIXTURES / "codex" / "sessions", CODEX, str(CODEX)])
    assert twice.usages == once.usages


def test_codex_fork_finds_its_parent_among_the_files_read(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fork = shutil.copy(CODEX_FORK, tmp_path / "a" / CODEX_FORK.name)
    parent = shutil.copy(CODEX, tmp_path / "b" / CODEX.name)
    log = read_usage_logs([fork, parent])
    assert not any("was not found" in w for w in log.warnings)
    assert by_model(log)["gpt-5.2"].requests == 4


# --- Gemini CLI ----------------------------------------------------------------------------

GEMINI_PRO = Usage(
    "gemini-2.5-pro", input=4000 + 5000 + 1000, output=800 + 200, cache_read=18000, reasoning=300,
    requests=2,
)  # fmt: skip
GEMINI_FLASH = Usage("gemini-2.5-flash", input=3000, output=150, reasoning=50, requests=1)


def test_gemini_session_per_model_with_tool_prompts_and_thoughts():
    """input 12000 with 8000 cached, 500 out + 300 thoughts; then 15000 with 10000 cached,
    1000 tool-use prompt (billed as input), 200 out; then flash: 3000 in, 100 out + 50 thoughts."""
    log = read_usage_log(GEMINI)
    assert log.agent == "gemini-cli" and log.agent_version is None
    assert log.usages == [GEMINI_PRO, GEMINI_FLASH]
    assert log.warnings == ["1 Gemini CLI message(s) with tokens but not a gemini one, skipped"]


def test_gemini_session_bill():
    prices = PriceBook().price_all(read_usage_log(GEMINI).usages, date(2026, 5, 4))
    # pro: 10_000 * 1.25 + 18_000 * 0.125 + 1_000 * 10 = 24_750 micro-dollars;
    # flash: 3_000 * 0.30 + 150 * 2.50 = 1_275.
    assert [p.usd for p in prices] == [Decimal("0.02475"), Decimal("0.001275")]


def test_gemini_messages_count_once_across_files_and_by_window(tmp_path):
    copy = tmp_path / "chats" / "session-2026-05-04T10-05-7c1e2f3a.json"
    copy.parent.mkdir()
    shutil.copy(GEMINI, copy)  # e.g. a session saved again under another name
    assert read_usage_logs([GEMINI_TMP, copy]).usages == [GEMINI_PRO, GEMINI_FLASH]
    late = read_usage_log(GEMINI, since=at("2026-05-04T10:02:00Z"))
    assert late.usages == [GEMINI_FLASH]


def test_gemini_session_being_written_is_a_warning(tmp_path):
    path = tmp_path / "session-x.json"
    path.write_bytes(GEMINI.read_bytes()[:2000])
    log = read_usage_log(path, kind="gemini-cli")
    assert log.usages == [] and "invalid JSON ignored" in log.warnings[0]


# --- Amp -----------------------------------------------------------------------------------

AMP_SONNET = Usage(
    "claude-sonnet-4-5-20250929", input=10 + 5, output=400 + 200, cache_read=20000 + 23000,
    cache_write=3000, requests=2,
)  # fmt: skip
AMP_HAIKU = Usage("claude-haiku-4-5-20251001", input=300, output=12, requests=1)


def test_amp_thread_events_take_their_messages_cache_split():
    """Two inference events name assistant messages with the cache split; the title event of
    another model names none and counts its own tokens."""
    log = read_usage_log(AMP)
    assert (log.agent, log.usages, log.warnings) == ("amp", [AMP_SONNET, AMP_HAIKU], [])
    prices = PriceBook().price_all(log.usages, date(2026, 5, 4))
    # Sonnet 4.5: 15 * 3 + 600 * 15 + 43_000 * 0.30 + 3_000 * 3.75 = 33_195 micro-dollars;
    # Haiku 4.5: 300 * 1 + 12 * 5 = 360.
    assert [p.usd for p in prices] == [Decimal("0.033195"), Decimal("0.00036")]


def test_amp_events_count_once_across_files_and_by_window(tmp_path):
    shutil.copy(AMP, tmp_path / AMP.name)
    assert read_usage_logs([AMP.parent, tmp_path]).usages == [AMP_SONNET, AMP_HAIKU]
    late = read_usage_log(AMP, since=at("2026-05-04T10:01:00Z"))
    second = dataclasses.replace(
        AMP_SONNET, input=5, output=200, cache_read=23000, cache_write=0, requests=1
    )
    assert late.usages == [second]


# --- codex exec --json ----------------------------------------------------------------------

EXEC_TOTAL = Usage(UNKNOWN_MODEL, input=2000, output=400, cache_read=48000, requests=2)


def turn_completed(total_in: int, cached: int, out: int) -> dict:
    usage = {"input_tokens": total_in, "cached_input_tokens": cached, "output_tokens": out}
    return {"type": "turn.completed", "usage": usage}


def test_codex_exec_turns_are_steps_of_the_thread_total():
    """Turn 1: 24763 in, 24448 of it cached, 122 out; the thread's total after turn 2 is
    50000 / 48000 / 400: turn 2 is 25237 in (23552 cached), 278 out. The model is not in the
    stream; a truncated last line is not a usage line."""
    log = read_usage_log(CODEX_EXEC)
    assert (log.agent, log.usages) == ("codex", [EXEC_TOTAL])
    assert len(log.warnings) == 1 and "name no model" in log.warnings[0]


def test_codex_exec_copies_and_resumed_runs_count_once(tmp_path):
    """The same stream saved twice adds nothing; a resumed run of the thread continues its
    total, and a stream whose total restarts counts from zero again."""
    copy = shutil.copy(CODEX_EXEC, tmp_path / "copy.jsonl")
    resumed = write_jsonl(
        tmp_path / "resumed.jsonl",
        [
            {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
            turn_completed(60000, 56000, 500),  # + 10000 in, 8000 of it cached, + 100 out
            turn_completed(7000, 0, 30),  # a new total: counted from zero
        ],
    )
    log = read_usage_logs([CODEX_EXEC, copy, resumed])
    assert log.usages == [
        dataclasses.replace(EXEC_TOTAL, input=2000 + 2000 + 7000, cache_read=48000 + 8000,
                            output=400 + 100 + 30, requests=4)
    ]  # fmt: skip


def test_codex_exec_turns_are_not_banded_as_one_request(tmp_path):
    """A turn of many requests sums their input: 300k in one turn is no long-context request."""
    path = write_jsonl(
        tmp_path / "exec.jsonl",
        [turn_completed(300_000, 0, 9)],
    )
    (usage,) = read_usage_log(path).usages
    assert (usage.input, usage.long_context) == (300_000, 0)


# --- Qwen Code -----------------------------------------------------------------------------

QWEN_CODER = Usage(
    "qwen3-coder-plus", input=3414 + 8000, output=76 + 500, cache_read=9000 + 12000, requests=2
)
QWEN_MAX = Usage("qwen3-max", input=15000, output=900, reasoning=600, requests=1)


def test_qwen_chat_per_model_with_cached_prompt_and_reasoning_inside_output():
    """12414 prompt (9000 cached) + 76 out; 20000 (12000 cached) + 500 out; qwen3-max 15000
    prompt, 900 completion of which 600 thoughts (OpenAI's completion_tokens, copied)."""
    log = read_usage_log(QWEN)
    assert (log.agent, log.agent_version) == ("qwen-code", "0.2.1")
    assert (log.usages, log.warnings) == ([QWEN_CODER, QWEN_MAX], [])


def test_qwen_forked_records_count_once_and_window(tmp_path):
    fork = tmp_path / "chats" / "0d9e8f7a-0000-4000-8000-000000000001.jsonl"
    fork.parent.mkdir()
    fork.write_bytes(QWEN.read_bytes())  # /branch copies records verbatim, uuid included
    assert read_usage_logs([QWEN, tmp_path]).usages == [QWEN_CODER, QWEN_MAX]
    assert read_usage_log(QWEN, since=at("2026-05-04T10:01:00Z")).usages == [QWEN_MAX]


def test_qwen_usage_outside_an_assistant_record_is_a_warning(tmp_path):
    lines = [json.loads(line) for line in QWEN.read_text().splitlines()]
    lines[2]["type"] = "user"
    log = read_usage_log(write_jsonl(tmp_path / "s.jsonl", lines))
    assert log.usages[0].requests == 1
    assert log.warnings == ["1 Qwen Code record(s) with usage but not an assistant one, skipped"]


# --- OpenCode ------------------------------------------------------------------------------

OPENCODE_SONNET_USAGE = Usage(
    "claude-sonnet-4-5-20250929", input=12 + 5, output=845, cache_read=41230 + 43000,
    cache_write=2100, requests=2, cost=Decimal("0.045870"),
)  # fmt: skip
OPENCODE_GPT = Usage(
    "gpt-5.2", input=3000, output=700 + 1200, cache_read=20000, reasoning=1200, requests=1,
    cost=Decimal("0.0198"),
)  # fmt: skip
OPENCODE_HAIKU = Usage(
    "claude-haiku-4-5-20251001", input=900, output=40, requests=1, cost=Decimal("0.0011")
)


def test_opencode_session_messages():
    """Assistant messages: uncached input, cache reads and writes, output beside reasoning
    (added: OpenCode stores output without it), OpenCode's cost; an aborted message still
    counts, a user message and one still all zero do not."""
    log = read_usage_logs([OPENCODE_STORAGE / "message" / OPENCODE_SESSION])
    assert (log.agent, log.usages, log.warnings) == (
        "opencode",
        [OPENCODE_SONNET_USAGE, OPENCODE_GPT],
        [],
    )
    prices = PriceBook().price_all(log.usages[:1], date(2026, 5, 4))
    # Sonnet 4.5: 17 * 3 + 845 * 15 + 84_230 * 0.30 + 2_100 * 3.75 = 45_870 micro-dollars,
    # what OpenCode itself says.
    assert prices[0].usd == Decimal("0.04587") == OPENCODE_SONNET_USAGE.cost


def test_opencode_storage_directory_copies_and_window(tmp_path):
    copy = tmp_path / "msg_copy.json"
    shutil.copy(OPENCODE_SONNET, copy)
    log = read_usage_logs([OPENCODE_STORAGE, copy])
    assert log.usages == [OPENCODE_HAIKU, OPENCODE_SONNET_USAGE, OPENCODE_GPT]
    late = read_usage_log(OPENCODE_STORAGE, since=at("2026-05-04T10:00:30Z"))
    sonnet = dataclasses.replace(
        OPENCODE_SONNET_USAGE, input=5, output=0, cache_read=43000, cache_write=0, requests=1,
        cost=Decimal("0.012915"),
    )  # fmt: skip
    assert late.usages == [OPENCODE_GPT, sonnet]


def test_opencode_message_being_written_or_not_assistant(tmp_path):
    cut = tmp_path / "msg_cut.json"
    cut.write_bytes(OPENCODE_SONNET.read_bytes()[:200])
    odd = json.loads(OPENCODE_SONNET.read_text()) | {"role": "user"}
    (tmp_path / "msg_user.json").write_text(json.dumps(odd))
    log = read_usage_log(tmp_path, kind="opencode")
    assert log.usages == [] and "invalid JSON ignored" in log.warnings[0]
    assert "1 OpenCode message(s) with tokens but not an assistant one, skipped" in log.warnings


OPENCODE_TABLE = (  # MessageTable of OpenCode's packages/opencode/src/session/session.sql.ts
    "CREATE TABLE message (id text PRIMARY KEY, session_id text NOT NULL, "
    "time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL)"
)


def opencode_db(path: Path) -> Path:
    """OpenCode's database holding the fixture messages, as its JSON migration stores them:
    ``id`` and ``sessionID`` in their columns, the rest of the message in ``data``."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(OPENCODE_TABLE)
        for file in sorted((OPENCODE_STORAGE / "message").rglob("msg_*.json")):
            message = json.loads(file.read_text())
            ids = message.pop("id"), message.pop("sessionID")
            created = message["time"]["created"]
            db.execute(
                "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                (*ids, created, created, json.dumps(message)),
            )
    return path


def test_opencode_database_reads_as_the_files_and_together_once(tmp_path):
    db = opencode_db(tmp_path / "opencode.db")
    assert detect_kind(db) == "opencode"
    log = read_usage_log(db)
    assert (log.agent, log.usages, log.warnings) == (
        "opencode",
        [OPENCODE_HAIKU, OPENCODE_SONNET_USAGE, OPENCODE_GPT],
        [],
    )  # the migrated JSON store beside it holds the same message ids: counted once
    assert read_usage_logs([db, OPENCODE_STORAGE]).usages == log.usages
    only_b = read_usage_logs([db], session="ses_6a1e7b90cffe0Lk3Jh5Gf7Dd9S")
    assert only_b.usages == [OPENCODE_HAIKU]


def test_a_database_that_is_not_opencodes_or_is_broken(tmp_path):
    other = tmp_path / "notes.db"
    shutil.copy(opencode_db(tmp_path / "opencode.db"), other)
    assert detect_kind(other) is None
    broken = tmp_path / "broken" / "opencode.db"
    broken.parent.mkdir()
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    log = read_usage_log(broken)
    assert log.usages == [] and "OpenCode database not read" in log.warnings[0]
    empty = tmp_path / "empty" / "opencode.db"
    empty.parent.mkdir()
    sqlite3.connect(empty).close()  # no table yet
    assert "OpenCode database not read" in read_usage_log(empty, kind="opencode").warnings[0]


def test_stamp_session_reads_its_messages_from_opencodes_database(tmp_path):
    share = tmp_path / ".local" / "share" / "opencode"
    share.mkdir(parents=True)
    opencode_db(share / "opencode.db")
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": ""}
    assert session_logs("opencode", OPENCODE_SESSION, env) == [share / "opencode.db"]
    with pytest.raises(FileNotFoundError):
        session_logs("opencode", "ses_unknown", env)
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    args = [str(msg), "--agent", "opencode", "--session", OPENCODE_SESSION]
    result = CliRunner().invoke(stamp_command, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [line for line in msg.read_text().splitlines() if "Agent-Usage" in line] == [
        "Agent-Usage: model=claude-sonnet-4-5-20250929; in=17; out=845; cache_read=84230; "
        "cache_write=2100; requests=2; cost=0.045870",
        "Agent-Usage: model=gpt-5.2; in=3000; out=1900; cache_read=20000; reasoning=1200; "
        "requests=1; cost=0.0198",
    ]


# --- GitHub Copilot CLI --------------------------------------------------------------------

SONNET_46 = "claude-sonnet-4.6"
COPILOT_SONNET = Usage(
    SONNET_46, input=10_000, output=3000, cache_read=90_000, cache_write=20_000, requests=5
)  # inputTokens 120,000 holds the 90,000 cache reads and 20,000 writes
COPILOT_MINI = Usage("gpt-5-mini", input=2000, output=150, requests=1)
COPILOT_GPT = Usage("gpt-5.2", input=5000, output=400, cache_read=30_000)  # requests unknown
COPILOT_TOTALS = (
    "2 Copilot CLI process total(s) read from session.shutdown: per model, not per request, "
    "so no long-context band is decided, and each counts at the time its process ended"
)
COPILOT_RUNNING = (
    "1 Copilot CLI process(es) without usage in the log (still running, or ended without a "
    "session.shutdown): their tokens are not counted"
)


def test_copilot_session_sums_its_processes_summaries():
    """Three processes: the first's modelMetrics per model (its all-zero ``auto`` entry is no
    model, its tokenDetails the same tokens again: not read), the resumed second's all-zero
    modelMetrics give way to its tokenDetails for its current model, the third is still
    running. The checkpoint's nano-AIU and a tool result quoting a shutdown are no tokens."""
    log = read_usage_log(COPILOT)
    assert (log.agent, log.agent_version, log.usages) == (
        "copilot",
        "1.0.64",
        [COPILOT_SONNET, COPILOT_MINI, COPILOT_GPT],
    )
    assert log.warnings == [
        f"{COPILOT}: 1 invalid JSON line(s) ignored, the first at line 15",
        COPILOT_TOTALS,
        COPILOT_RUNNING,
    ]


def copilot_event(kind: str, data: dict, when: str, n: int) -> dict:
    """One line of ``events.jsonl``: the envelope every event shares."""
    return {"type": kind, "data": data, "id": f"e-{n}", "timestamp": when, "parentId": None}


def copilot_usage(n: int, model: str, counts: tuple[int, int, int, int]) -> dict:
    """An ``assistant.usage`` event: one request (``inputTokens`` holds the cache tokens)."""
    names = ("inputTokens", "cacheReadTokens", "cacheWriteTokens", "outputTokens")
    data = {"model": model, **dict(zip(names, counts, strict=True)), "cost": 1, "duration": 900}
    return copilot_event("assistant.usage", data, f"2026-05-04T10:0{n}:00Z", n)


def copilot_shutdown(n: int, when: str, metrics: dict, **data) -> dict:
    models = {
        model: {"requests": {"count": 1, "cost": 1}, "usage": dict(zip(
            ("inputTokens", "cacheReadTokens", "cacheWriteTokens", "outputTokens"),
            counts, strict=True,
        ))}
        for model, counts in metrics.items()
    }  # fmt: skip
    return copilot_event("session.shutdown", {"modelMetrics": models, **data}, when, n)


def test_copilot_requests_are_counted_one_by_one_and_not_again_from_their_summary(tmp_path):
    """Where ``assistant.usage`` events were written, a process counts them, each in its
    long-context band and at its time, and its summary (the same tokens) is not read; a
    process without them counts its summary."""
    start = copilot_event("session.start", {"copilotVersion": "1.0.70"}, "2026-05-04T10:00:00Z", 0)
    small, large = (12_000, 9000, 2500, 700), (230_000, 215_000, 10_000, 1200)
    resume = copilot_event("session.resume", {}, "2026-05-04T11:00:00Z", 4)
    lines = [
        start,
        copilot_usage(1, SONNET_46, small),
        copilot_usage(2, "auto", large),  # a placeholder, no model
        copilot_shutdown(3, "2026-05-04T10:05:00Z", {SONNET_46: (242_000, 224_000, 12_500, 1900)}),
        resume,
        copilot_shutdown(5, "2026-05-04T11:30:00Z", {"gpt-5.2": (8000, 6000, 0, 300)}),
    ]
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    log = read_usage_log(path)
    one = Usage(SONNET_46, input=500, output=700, cache_read=9000, cache_write=2500, requests=1)
    big = Usage(UNKNOWN_MODEL, input=5000, output=1200, cache_read=215_000, cache_write=10_000,
                requests=1, long_context=200_000)  # fmt: skip
    gpt = Usage("gpt-5.2", input=2000, output=300, cache_read=6000, requests=1)
    assert log.usages == [one, big, gpt]
    assert "1 Copilot CLI usage record(s) without a model, counted as 'unknown'" in log.warnings
    late = read_usage_log(path, since=at("2026-05-04T10:02:00Z"), until=at("2026-05-04T11:00:00Z"))
    assert late.usages == [big]  # the summary counts when its process ended, 11:30


def test_copilot_summary_without_counts_and_a_missing_model(tmp_path):
    """A summary of zeros and no tokenDetails is a warning, not usage; tokenDetails without a
    current model take the last model change's, and ``auto`` there is no model either; a
    category not known is a warning."""
    lines = [
        copilot_event("session.model_change", {"newModel": "auto"}, "2026-05-04T10:00:00Z", 1),
        copilot_shutdown(2, "2026-05-04T10:01:00Z", {"auto": (0, 0, 0, 0)}),
        copilot_event("session.model_change", {"newModel": "gpt-5.2"}, "2026-05-04T10:02:00Z", 3),
        copilot_event(
            "session.shutdown",
            {
                "currentModel": "auto",
                "tokenDetails": {
                    "input": {"tokenCount": 10},
                    "output": {"tokenCount": 5},
                    "image": {"tokenCount": 7},
                },
            },
            "2026-05-04T10:03:00Z",
            4,
        ),  # fmt: skip
    ]
    log = read_usage_log(write_jsonl(tmp_path / "events.jsonl", lines), kind="copilot")
    assert log.usages == [Usage("gpt-5.2", input=10, output=5)]
    assert "1 Copilot CLI session.shutdown record(s) without token counts" in log.warnings
    assert "1 Copilot CLI tokenDetails entr(ies) of an unknown type, not read" in log.warnings


copilot_counts = st.tuples(*[st.integers(0, 10**9)] * 4)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    processes=st.lists(
        st.tuples(st.sampled_from(["gpt-5.2", SONNET_46]), copilot_counts), min_size=1, max_size=6
    ),
    cuts=st.sets(st.integers(1, 5)),
)
def test_copilot_any_split_of_processes_into_files_sums_the_same(tmp_path, processes, cuts):
    """Processes (one summary each) read from one file, or from several, count the sum of
    their own totals, each converted alone."""
    lines = []
    for n, (model, counts) in enumerate(processes):
        lines.append(copilot_event("session.resume", {}, "2026-05-04T10:00:00Z", 2 * n))
        lines.append(copilot_shutdown(2 * n + 1, "2026-05-04T10:00:01Z", {model: counts}))
    whole = read_usage_log(write_jsonl(tmp_path / "whole.jsonl", lines), kind="copilot").usages
    bounds = [0, *sorted(2 * c for c in cuts if c < len(processes)), len(lines)]
    parts = tmp_path / "parts"
    parts.mkdir(exist_ok=True)
    for old in parts.iterdir():
        old.unlink()
    for n, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        write_jsonl(parts / f"{n:02}.jsonl", lines[a:b])
    split = read_usage_log(parts, kind="copilot").usages
    names = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "output_tokens")
    own = [
        from_openai(model, dict(zip(names, counts, strict=True)), requests=1)
        for model, counts in processes
        if any(counts)
    ]
    expected = {u.line_key: u for u in merge_by_model(own)}
    assert {u.line_key: u for u in whole} == {u.line_key: u for u in split} == expected


# --- Goose -----------------------------------------------------------------------------------


def goose_db(path: Path) -> Path:
    """Goose's database (its own schema) holding the fixture sessions and calls."""
    path.parent.mkdir(parents=True, exist_ok=True)
    script = (GOOSE / "schema.sql").read_text() + (GOOSE / "rows.sql").read_text()
    with closing(sqlite3.connect(path)) as db:
        db.executescript(script)
    return path


GOOSE_SONNET = Usage(  # two calls: 500 + 40,000 uncached input (the compaction call has no
    "claude-sonnet-4-6", input=40_500, output=2700, cache_read=9000, cache_write=2500,
    requests=2,  # model: its session's)
)  # fmt: skip
GOOSE_LONG = Usage(  # a call of 230,000 input tokens: above 200k, billed as long context
    "claude-sonnet-4-6", input=5000, output=1200, cache_read=215_000, cache_write=10_000,
    requests=1, long_context=200_000,
)  # fmt: skip
GOOSE_MINI = Usage("gpt-5-mini", input=2000, output=200, cache_read=1000, requests=1)
GOOSE_OLD = Usage("gpt-4o", input=45_000, output=3200)  # a total: requests unknown, no split
GOOSE_DOCS = Usage("claude-sonnet-4-5", input=15_000, output=4000, cache_read=30_000,
                   cache_write=5000)  # fmt: skip
GOOSE_TOTALS = (
    "2 Goose session total(s): one per session, without per-request counts, so no "
    "long-context band is decided; they have no time, so a --since/--until window skips them"
)
GOOSE_UNSPLIT = (
    "1 Goose session total(s) without a cache split: cache reads and writes are counted as input"
)


def test_goose_database_counts_calls_where_the_ledger_has_them_else_session_totals(tmp_path):
    """The older session file Goose imported and left beside its database counts once, as the
    imported row (which names the model); a session without calls yet counts nothing."""
    sessions = tmp_path / "goose" / "sessions"
    shutil.copytree(GOOSE / "sessions", sessions)
    db = goose_db(sessions / "sessions.db")
    assert detect_kind(db) == "goose"
    log = read_usage_log(sessions)
    assert log.agent == "goose"
    assert log.usages == [GOOSE_SONNET, GOOSE_MINI, GOOSE_LONG, GOOSE_OLD, GOOSE_DOCS]
    assert log.warnings == [GOOSE_TOTALS, GOOSE_UNSPLIT]
    assert read_usage_logs([db, db, GOOSE_LEGACY]).usages == log.usages


def test_goose_session_holds_its_sub_agents_calls_and_window_skips_totals(tmp_path):
    db = goose_db(tmp_path / "sessions.db")
    assert read_usage_logs([db], session="20260504_1").usages == [
        GOOSE_SONNET, GOOSE_MINI, GOOSE_LONG,
    ]  # fmt: skip
    late = read_usage_log(db, since=at("2026-05-04T10:05:00Z"))
    compaction = Usage("claude-sonnet-4-6", input=40_000, output=2000, requests=1)
    assert late.usages == [GOOSE_MINI, GOOSE_LONG, compaction]
    assert "2 goose usage entries without a timestamp skipped" in late.warnings


def test_goose_older_session_file_alone_and_a_broken_database(tmp_path):
    log = read_usage_log(GOOSE_LEGACY)
    assert log.usages == [Usage(UNKNOWN_MODEL, input=45_000, output=3200)]
    assert log.warnings == [
        GOOSE_TOTALS.replace("2 Goose", "1 Goose"),
        GOOSE_UNSPLIT,
        "1 Goose usage record(s) without a model, counted as 'unknown'",
    ]
    broken = tmp_path / "sessions.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    assert "Goose database not read" in read_usage_log(broken).warnings[0]
    other = tmp_path / "other" / "sessions.db"
    other.parent.mkdir()
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    assert read_usage_log(other).warnings == [
        f"{other}: Goose database not read (no sessions table: not Goose's database)"
    ]


def test_goose_thoughts_outside_the_output_count_as_reasoning(tmp_path):
    """Goose's Google provider stores Gemini's thoughts in ``total_tokens`` only: the total's
    excess over input and output is reasoning, billed as output; a total short of them adds
    nothing."""
    db = goose_db(tmp_path / "sessions.db")
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(
            "INSERT INTO usage_ledger (session_id, created_timestamp, model, input_tokens, "
            "output_tokens, total_tokens, cache_read_tokens) VALUES "
            "('20260101_1', 1777900000, 'gemini-2.5-pro', 10000, 800, 11300, 4000), "
            "('20260101_1', 1777900060, 'gemini-2.5-pro', 2000, 100, 1500, 0)"
        )
    thoughtful = Usage("gemini-2.5-pro", input=8000, output=1400, cache_read=4000,
                       reasoning=500, requests=2)  # fmt: skip
    assert read_usage_logs([db], session="20260101_1").usages == [thoughtful]


def stamped_usage(msg: Path, args: list[str], env: dict[str, str]) -> tuple[list[str], str]:
    """The ``Agent-Usage`` lines ``stamp`` writes into a fresh message, and its notes."""
    msg.write_text("t\n")
    result = CliRunner().invoke(stamp_command, [str(msg), *args], env=env)
    assert result.exit_code == 0, result.output
    lines = [line for line in msg.read_text().splitlines() if line.startswith("Agent-Usage")]
    return lines, result.output


COPILOT_LINES = [  # COPILOT_SONNET, COPILOT_MINI, COPILOT_GPT as trailer lines
    "Agent-Usage: model=claude-sonnet-4.6; in=10000; out=3000; cache_read=90000; "
    "cache_write=20000; requests=5",
    "Agent-Usage: model=gpt-5-mini; in=2000; out=150; requests=1",
    "Agent-Usage: model=gpt-5.2; in=5000; out=400; cache_read=30000",
]


def test_copilot_session_is_found_from_the_id_it_exports(tmp_path):
    """``COPILOT_HOME``, else ``~/.copilot``, else an older build's ``$XDG_STATE_HOME/.copilot``;
    ``--agent copilot`` alone reads the session named by ``COPILOT_AGENT_SESSION_ID``."""
    state = tmp_path / "state"
    shutil.copytree(FIXTURES / "copilot", state / ".copilot")
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(state), "COPILOT_HOME": ""}
    older = state / ".copilot" / COPILOT.relative_to(FIXTURES / "copilot")
    assert session_logs("copilot", COPILOT_SESSION, env) == [older]
    shutil.copytree(FIXTURES / "copilot", tmp_path / ".copilot")
    found = session_logs("copilot/1.0.64", COPILOT_SESSION, env)
    assert found == [tmp_path / ".copilot" / COPILOT.relative_to(FIXTURES / "copilot"), older]
    assert read_usage_logs(found).usages == read_usage_log(COPILOT).usages  # a copy counts once
    moved = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES / "copilot", moved)
    env = {"HOME": str(tmp_path / "nowhere"), "COPILOT_HOME": str(moved), "XDG_STATE_HOME": ""}
    assert usage_logs.current_session("copilot", env) is None
    exported = {**env, "COPILOT_AGENT_SESSION_ID": COPILOT_SESSION}
    assert usage_logs.current_session("copilot/1.0", exported) == COPILOT_SESSION
    lines, _ = stamped_usage(tmp_path / "MSG", ["--agent", "copilot"], exported)
    assert lines == COPILOT_LINES


def test_goose_session_is_found_from_the_id_it_exports(tmp_path):
    """Goose gives its shell commands ``AGENT_SESSION_ID``: ``--agent goose`` reads that
    session's calls (and its sub-agent's) from ``$XDG_DATA_HOME/goose/sessions/sessions.db``,
    or ``$GOOSE_PATH_ROOT/data/...``. An exported session without a log is a note, not an
    error, and ``--from-log`` is read instead of it."""
    data = tmp_path / "data"
    goose_db(data / "goose" / "sessions" / "sessions.db")
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(data), "GOOSE_PATH_ROOT": "",
           "AGENT_SESSION_ID": "20260504_1", "COPILOT_AGENT_SESSION_ID": ""}  # fmt: skip
    lines, _ = stamped_usage(tmp_path / "MSG", ["--agent", "goose"], env)
    assert lines == [
        "Agent-Usage: model=claude-sonnet-4-6; in=40500; out=2700; cache_read=9000; "
        "cache_write=2500; requests=2",
        "Agent-Usage: model=gpt-5-mini; in=2000; out=200; cache_read=1000; requests=1",
        "Agent-Usage: model=claude-sonnet-4-6; in=5000; out=1200; cache_read=215000; "
        "cache_write=10000; requests=1; long_context=200000",
    ]  # GOOSE_SONNET, GOOSE_MINI, GOOSE_LONG
    root = tmp_path / "root"
    goose_db(root / "data" / "sessions" / "sessions.db")
    rooted = {**env, "XDG_DATA_HOME": "", "GOOSE_PATH_ROOT": str(root)}
    assert stamped_usage(tmp_path / "MSG", ["--agent", "goose"], rooted)[0] == lines
    lost = {**env, "AGENT_SESSION_ID": "20990101_1"}
    lines, notes = stamped_usage(tmp_path / "MSG", ["--agent", "goose"], lost)
    assert lines == [] and "exported session not read: no goose log of session 20990101_1" in notes
    given = ["--agent", "goose", "--from-log", str(GOOSE_LEGACY)]
    assert stamped_usage(tmp_path / "MSG", given, env)[0] == [
        "Agent-Usage: model=unknown; in=45000; out=3200"
    ]


# --- session lookup ------------------------------------------------------------------------


def test_sessions_of_opencode_and_qwen_code_are_found_where_they_live(tmp_path):
    share = tmp_path / "share"
    shutil.copytree(OPENCODE_STORAGE, share / "opencode" / "storage")
    shutil.copytree(FIXTURES / "qwen-code", tmp_path / ".qwen")
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(share)}
    found = session_logs("opencode/1.2.3", OPENCODE_SESSION, env)
    assert len(found) == 5 and read_usage_logs(found).usages == [
        OPENCODE_SONNET_USAGE,
        OPENCODE_GPT,
    ]
    assert session_logs("qwen-code", QWEN_SESSION, env) == [
        tmp_path / ".qwen" / QWEN.relative_to(FIXTURES / "qwen-code")
    ]
    with pytest.raises(FileNotFoundError):
        session_logs("opencode", OPENCODE_SESSION, {"HOME": str(tmp_path)})  # not in ~/.local


# --- detection and robustness --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (CLAUDE, "claude-code"),
        (CODEX, "codex"),
        (GEMINI, "gemini-cli"),
        (AMP, "amp"),
        (AIDER, "aider"),
        (CODEX_EXEC, "codex-exec"),
        (QWEN, "qwen-code"),
        (OPENCODE_SONNET, "opencode"),
        (COPILOT, "copilot"),
        (GOOSE_LEGACY, "goose"),
    ],
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
    assert any("not a log of a known agent (claude-code, codex," in w for w in log.warnings)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown log kind"):
        read_usage_log(AIDER, kind="cursor")
    with pytest.raises(FileNotFoundError):
        read_usage_log(FIXTURES / "missing.jsonl")
    assert set(KINDS) == {
        *("claude-code", "codex", "codex-exec", "gemini-cli", "qwen-code", "opencode", "amp"),
        *("copilot", "goose", "aider"),
    }


def test_warnings_are_capped(tmp_path):
    for n in range(80):
        (tmp_path / f"{n:02}.jsonl").write_text("{}\n")
    assert len(read_usage_log(tmp_path).warnings) == 51


def test_several_agents_leave_the_agent_unset(tmp_path):
    shutil.copy(AIDER, tmp_path / "a.jsonl")
    shutil.copy(CODEX, tmp_path / "b.jsonl")
    log = read_usage_log(tmp_path)
    assert log.agent is None and {"gpt-5.5", "gpt-5.2"} <= {u.model for u in log.usages}
    assert "logs of several agents were read (aider, codex); no agent is taken from them" in (
        log.warnings
    )


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
                        "usageMetadata",
                        "tokens",
                        "role",
                        "uuid",
                        "thread_id",
                        "cache",
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


def filled(template: dict, values: list[str]) -> bytes:
    """``template`` as a JSON line, each string ``"@n"`` replaced by the raw JSON ``values[n]``."""
    line = json.dumps(template)
    for n, value in enumerate(values):
        line = line.replace(f'"@{n}"', value)
    return line.encode() + b"\n"


def usage_fields(names, start: int) -> dict:
    return {name: f"@{start + n}" for n, name in enumerate(names)}


CODEX_NAMES = ["input_tokens", "cached_input_tokens", "output_tokens", "cache_write_input_tokens"]
TEMPLATES = {
    "claude-code": {
        "type": "assistant",
        "sessionId": "s",
        "requestId": "@0",
        "timestamp": "@1",
        "costUSD": "@2",
        "message": {
            "model": "@3",
            "id": "@4",
            "usage": {
                **usage_fields(
                    [
                        "input_tokens",
                        "output_tokens",
                        "cache_read_input_tokens",
                        "cache_creation_input_tokens",
                    ],
                    5,
                ),
                "cache_creation": {"ephemeral_1h_input_tokens": "@9"},
            },
        },
    },
    "codex": {
        "timestamp": "@0",
        "type": "event_msg",
        "payload": {
            "type": "token_count",
            "info": {
                "total_token_usage": usage_fields(CODEX_NAMES, 1),
                "last_token_usage": usage_fields(CODEX_NAMES, 5),
            },
        },
    },
    "aider": {
        "event": "message_send",
        "time": "@0",
        "properties": {
            "main_model": "@1",
            **usage_fields(["prompt_tokens", "completion_tokens", "cost"], 2),
        },
    },
    "amp": {  # one usage event of a thread document (``log_bytes`` adds its message)
        "id": "@0",
        "timestamp": "@1",
        "model": "@2",
        "tokens": usage_fields(["input", "output"], 3),
        "toMessageId": "@5",
    },
    "codex-exec": {  # the thread's cumulative usage so far
        "type": "turn.completed",
        "usage": usage_fields(["input_tokens", "cached_input_tokens", "output_tokens"], 0),
    },
    "qwen-code": {
        "uuid": "@0",
        "timestamp": "@1",
        "type": "assistant",
        "model": "@2",
        "version": "@3",
        "usageMetadata": usage_fields(
            [
                "promptTokenCount",
                "candidatesTokenCount",
                "cachedContentTokenCount",
                "thoughtsTokenCount",
                "toolUsePromptTokenCount",
            ],
            4,
        ),
    },
    "opencode": {  # one message document (``log_bytes`` keeps the first row)
        "id": "@0",
        "sessionID": "s",
        "role": "assistant",
        "time": {"created": "@1"},
        "modelID": "@2",
        "cost": "@3",
        "tokens": {
            **usage_fields(["input", "output", "reasoning"], 4),
            "cache": usage_fields(["read", "write"], 7),
        },
    },
    "copilot": {  # one request of a Copilot CLI session
        "type": "assistant.usage",
        "id": "@0",
        "timestamp": "@1",
        "data": {
            "model": "@2",
            **usage_fields(
                ["inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens"], 3
            ),
            "reasoningTokens": "@7",
        },
    },
    "goose": {  # the metadata line an older Goose session file opens with
        "working_dir": "/home/dev/shop",
        "description": "@0",
        "message_count": "@1",
        **usage_fields(
            [
                "accumulated_input_tokens",
                "accumulated_output_tokens",
                "accumulated_total_tokens",
                "input_tokens",
                "output_tokens",
            ],
            2,
        ),
    },
    "gemini-cli": {  # one message of a session document (``log_bytes`` wraps them)
        "id": "@0",
        "timestamp": "@1",
        "type": "gemini",
        "model": "@2",
        "tokens": usage_fields(["input", "output", "cached", "thoughts", "tool", "total"], 3),
    },
}


AMP_MESSAGE = {
    "role": "assistant",
    "messageId": "@5",
    "usage": usage_fields(
        ["inputTokens", "outputTokens", "cacheReadInputTokens", "cacheCreationInputTokens"], 6
    ),
}


def log_bytes(kind: str, rows: list[list[str]]) -> bytes:
    """A log of ``kind`` holding one template entry per row of raw JSON values."""
    entries = [filled(TEMPLATES[kind], row) for row in rows]
    if kind == "opencode":
        return entries[0]
    if kind not in ("gemini-cli", "amp"):
        return b"".join(entries)
    listed = b",".join(entry.rstrip(b"\n") for entry in entries)
    if kind == "gemini-cli":
        return b'{"sessionId": "s", "projectHash": "h", "messages": [' + listed + b"]}\n"
    messages = b",".join(filled(AMP_MESSAGE, row).rstrip(b"\n") for row in rows)
    return b'{"v": 1, "id": "T-1", "messages": [%s], "usageLedger": {"events": [%s]}}\n' % (
        messages,
        listed,
    )


HUGE = ["1e9999999", "1e999999999999999999", "-1e9999999", "1e-999999999999999999", "7E+16"]
raw_number = st.from_regex(
    r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,4})?([eE][-+]?[0-9]{1,20})?", fullmatch=True
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
).map(json.dumps)
any_value = st.sampled_from(HUGE) | raw_number | json_value | st.just('"2026-01-01T00:00:00Z"')


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.none()
        | junk_line.map(lambda raw: raw.decode("utf-8", "replace"))
        | st.lists(any_value, min_size=10, max_size=10).map(
            lambda values: filled(TEMPLATES["opencode"], values).decode()
        ),
        max_size=5,
    )
)
def test_any_row_of_an_opencode_database_never_raises(tmp_path_factory, rows):
    db = tmp_path_factory.mktemp("db") / "opencode.db"
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(OPENCODE_TABLE.replace(" NOT NULL", ""))
        for n, data in enumerate(rows):
            connection.execute("INSERT INTO message VALUES (?, 's', 0, 0, ?)", (str(n), data))
    log = read_usage_log(db)
    assert all(u.input >= 0 and u.output >= 0 and u.requests >= 1 for u in log.usages)


def test_huge_numbers_are_a_warning_in_every_reader_in_o1(tmp_path):
    """``int()`` of ``1e9999999`` hangs holding the GIL, of ``1e999999999999999999`` raises
    MemoryError: the logs are read in a child process that must finish in time."""
    for kind in KINDS:
        for n, number in enumerate(HUGE):
            (tmp_path / f"{kind}-{n}.jsonl").write_bytes(log_bytes(kind, [[number] * 10] * 2))
    child = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from bot.local.usage_logs import read_usage_log\n"
        "for path in sorted(Path(sys.argv[1]).iterdir()):\n"
        "    log = read_usage_log(path, kind=path.name.rsplit('-', 1)[0])\n"
        "    counts = [u.total_tokens for u in log.usages]\n"
        "    costs = [str(u.cost) for u in log.usages if u.cost is not None]\n"
        "    print(json.dumps([path.name, counts, costs, log.warnings]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(KINDS) * len(HUGE)
    for name, counts, costs, warnings in results:
        assert set(counts) <= {0}, name
        assert all(Decimal(c) < 1 for c in costs), name  # 1e-999999999999999999 is a cost
        assert any("read as 0" in w or "invalid cumulative total" in w for w in warnings), name


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(KINDS),
    values=st.lists(st.lists(any_value, min_size=10, max_size=10), min_size=1, max_size=3),
)
def test_any_json_value_in_any_usage_field_never_raises_nor_goes_negative(tmp_path, kind, values):
    path = tmp_path / "log.jsonl"
    path.write_bytes(log_bytes(kind, values))
    log = read_usage_log(path, kind=kind)
    assert sane(log)
    assert all(u.cost is None or 0 <= u.cost <= 3 * MAX_COUNT for u in log.usages)


COPILOT_SHUTDOWN = {  # a process's summary, the usage a Copilot CLI log holds
    "type": "session.shutdown",
    "id": "@0",
    "timestamp": "@1",
    "data": {
        "currentModel": "@2",
        "modelMetrics": {
            "claude-sonnet-4.6": {
                "requests": {"count": "@3"},
                "usage": usage_fields(
                    ["inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens"], 4
                ),
            },
            "gpt-5.2": "@8",
        },
        "tokenDetails": "@9",
    },
}


def sane(log) -> bool:
    """Counts within bounds, a model name: what any log, however odd, must give."""
    return all(
        all(0 <= n <= 3 * MAX_COUNT for n in (u.input, u.output, u.cache_read, u.cache_write))
        and 0 <= u.reasoning <= u.output
        and isinstance(u.model, str)
        for u in log.usages
    )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.lists(any_value, min_size=10, max_size=10), min_size=1, max_size=3))
def test_any_value_in_a_copilot_summary_never_raises(tmp_path, values):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(filled(COPILOT_SHUTDOWN, row) for row in values))
    assert sane(read_usage_log(path, kind="copilot"))


def sqlite_value(text: str):
    """A raw JSON value as a column holds it: a number or string as itself, anything SQLite
    cannot bind (containers, integers past 64 bits, lone surrogates) as its JSON text."""
    value = json.loads(text)
    if isinstance(value, str) and value.encode("utf-8", "replace").decode() == value:
        return value
    if isinstance(value, float) or (type(value) is int and -(2**63) <= value < 2**63):
        return value
    return None if value is None else text


GOOSE_CALL_COLUMNS = (
    "session_id",
    "created_timestamp",
    "model",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)
GOOSE_SESSION_COLUMNS = ("id", "parent_session_id", "model_config_json", "input_tokens",
                         "accumulated_input_tokens", "accumulated_output_tokens",
                         "accumulated_total_tokens", "accumulated_cache_read_tokens")  # fmt: skip
goose_ids = st.sampled_from(['"20260504_1"', '"20260504_2"']) | any_value
goose_rows = st.lists(
    st.tuples(goose_ids, goose_ids, st.lists(any_value, min_size=6, max_size=6)), max_size=4
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=goose_rows, sessions=goose_rows)
def test_any_value_in_a_goose_database_never_raises(tmp_path_factory, calls, sessions):
    db = tmp_path_factory.mktemp("goose") / "sessions.db"
    schema = (GOOSE / "schema.sql").read_text().replace(" NOT NULL", "")
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.executescript(schema)
        for table, columns, rows in (
            ("usage_ledger", GOOSE_CALL_COLUMNS, calls),
            ("sessions", GOOSE_SESSION_COLUMNS, sessions),
        ):
            insert = f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
            for first, second, rest in rows:
                values = [sqlite_value(v) for v in (first, second, *rest)]
                connection.execute(insert + f"({', '.join('?' * len(columns))})", values)
    assert sane(read_usage_log(db))
    assert sane(read_usage_logs([db], session="20260504_1"))


def test_deep_nesting_is_a_bad_line_not_a_crash(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"usage": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert read_usage_log(path, kind="claude-code").usages == []


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["claude-code", "codex"]),
    values=st.lists(st.lists(any_value, min_size=10, max_size=10), min_size=1, max_size=3),
)
@example(kind="claude-code", values=[['"r"', "1.5", "0", '"m"', '"i"', "1", "2", "3", "4", "5"]])
@example(kind="codex", values=[["1.5", *"12345678", "0"]])
def test_the_fast_decoder_reads_what_the_exact_one_reads(tmp_path, kind, values):
    """orjson makes integers past 64 bits floats and refuses NaN: where it would differ, the
    exact decoder reads the line, so the result is the same to the last warning, also where a
    window makes the timestamps count (Unix seconds with a fraction are a float to orjson)."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(filled(TEMPLATES[kind], line) for line in values))
    for since in (None, datetime(1970, 1, 1, tzinfo=UTC)):
        fast = read_usage_log(path, kind=kind, since=since)
        with mock.patch.object(
            usage_logs, "_fast_loads", lambda raw, numbers: usage_logs._loads(raw)
        ):
            exact = read_usage_log(path, kind=kind, since=since)
        assert (fast.usages, fast.warnings) == (exact.usages, exact.warnings)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from([b"a", b"\n", b'"usage"', b'"token_count"', b"xy", b"\n\n"]), max_size=40
    ).map(b"".join),
    block=st.integers(1, 12),
    wanted=st.sampled_from([(b'"usage"',), (b'"token_count"', b"xy"), (b"a",)]),
)
def test_lines_found_in_blocks_are_the_lines_holding_a_word(tmp_path_factory, text, block, wanted):
    path = tmp_path_factory.mktemp("lines") / "log.jsonl"
    path.write_bytes(text)
    lines = text.splitlines(keepends=True)
    offsets = [sum(map(len, lines[:n])) for n in range(len(lines))]
    expected = [
        (o, line) for o, line in zip(offsets, lines, strict=True) if any(w in line for w in wanted)
    ]
    with mock.patch.object(usage_logs, "_BLOCK", block):
        assert list(usage_logs._lines(path, wanted)) == expected
        for number, offset in enumerate(offsets, 1):
            assert usage_logs._line_number(path, offset) == number
