"""Stamping puts the protocol's trailers where git would, once, and the hook never blocks a commit.

The differential tests run the real ``git interpret-trailers`` (isolated configuration, see
conftest.py) on every stamped message of a hand-written and generated corpus.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.local.stamp import (
    CHAINED_SUFFIX,
    HOOK_MARKER,
    _entries,
    hook_script,
    install_hook,
    stamp,
    stamp_command,
    stamp_message,
    stamp_variables,
)
from bot.protocol.codec import Context, ProtocolRecord, Route, format_record, parse_record
from bot.protocol.trailers import find_trailer_block, parse_trailers
from bot.protocol.usage import Usage
from tests.paths import FIXTURES, ROOT

FIXTURES = FIXTURES / "usage_logs"
CLAUDE = FIXTURES / "claude-code" / "-home-dev-shop" / "6f1d2c1e-8c1b-4a53-9d5e-2f3c1a7b9e10.jsonl"
CLAUDE_SUBAGENT = next((CLAUDE.parent / CLAUDE.stem / "subagents").glob("*.jsonl"))
CODEX = next((FIXTURES / "codex").rglob("rollout-*c0de.jsonl"))
AIDER = FIXTURES / "aider" / "analytics.jsonl"
SCISSORS = "# ------------------------ >8 ------------------------\n"

FULL = ProtocolRecord(
    agent="claude-code/2.0.31",
    task="ROUTE-4711",
    task_class="bugfix",
    attempt=2,
    route=Route(
        router="notdiamond/1.2",
        strategy="cascade",
        tier="standard",
        model="anthropic:claude-sonnet-4-6",
        score=0.62,
        threshold=0.5,
        candidates=("economy", "standard", "frontier"),
        reason="escalated after CI",
    ),
    context=Context(sources=("AGENTS.md", "docs/api.md"), tokens=5400),
    usage=(
        Usage(
            "anthropic:claude-sonnet-4-6",
            input=8000,
            output=1200,
            cache_read=40000,
            cache_write=6000,
            requests=9,
        ),
        Usage("anthropic:claude-haiku-4-5", input=10, output=2, cost=Decimal("0.0001")),
    ),
    log="refs/notes/agent-log",
)
USAGE_ONLY = ProtocolRecord(usage=(Usage("gpt-5.2", input=5, output=7, requests=1),))
ODD = ProtocolRecord(
    task='T 1; x="y"',
    route=Route(reason='a; b = "c"', extra=(("x-note", ""),)),
    extra=(("Agent-Foo", "bar"),),
)
RECORDS = [FULL, USAGE_ONLY, ODD]


def trailer_lines(record: ProtocolRecord) -> list[tuple[str, str]]:
    return format_record(record)


@pytest.fixture(autouse=True)
def no_outer_settings(monkeypatch):
    """The tests' own YIELD_AUDITOR_* variables only."""
    for name in list(os.environ):
        if name.startswith("YIELD_AUDITOR_"):
            monkeypatch.delenv(name)


# --- placement -----------------------------------------------------------------------------


def test_new_paragraph_after_the_body():
    out = stamp_message("fix: retry\n\nBody.\n", USAGE_ONLY)
    assert out == (
        "fix: retry\n\nBody.\n\nAgent-Trailers: 1\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )


def test_appends_to_the_existing_block():
    message = "fix: retry\n\nBody.\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    out = stamp_message(message, USAGE_ONLY)
    assert (
        out == message + "Agent-Trailers: 1\nAgent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )


def test_title_without_newline_gets_a_blank_line():
    """git would put the trailer into the title paragraph here (where git --parse misses it)."""
    assert stamp_message("title", USAGE_ONLY).startswith("title\n\nAgent-Trailers: 1\n")
    assert stamp_message("t\n\nKey: v", USAGE_ONLY).startswith("t\n\nKey: v\nAgent-Trailers: 1\n")


def test_before_comments_and_scissors():
    message = (
        "title\n\nbody\n\n# Please enter the commit message\n#\n"
        + SCISSORS
        + "# Do not modify or remove the line above.\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n"
    )
    out = stamp_message(message, USAGE_ONLY)
    head, _, tail = out.partition("\n# Please enter")
    usage = "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    assert head == "title\n\nbody\n\nAgent-Trailers: 1\n" + usage
    assert tail == message.partition("\n# Please enter")[2]


def test_a_dash_line_in_the_body_is_not_a_patch():
    """Like ``git commit --trailer``, a message file has no patch part: ``---`` is text."""
    out = stamp_message("title\n\n---\nmore text\n", USAGE_ONLY)
    assert out.endswith(
        "more text\n\nAgent-Trailers: 1\nAgent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )


def test_crlf_message_gets_crlf_lines():
    out = stamp_message("title\r\n\r\nbody\r\n", USAGE_ONLY)
    assert out == (
        "title\r\n\r\nbody\r\n\r\nAgent-Trailers: 1\r\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\r\n"
    )
    assert stamp_message(out, USAGE_ONLY) == out
    assert parse_trailers(out, divider=False) == trailer_lines(USAGE_ONLY)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "\n",
        "\n\n# Please enter the commit message\n#\n",
        SCISSORS + "title\n",
        "\n\nSigned-off-by: A <a@example.com>\n\n# comment\n",
    ],
)
def test_empty_message_is_left_alone(message):
    """``git commit`` without ``-m`` runs the hook before the editor: no title yet."""
    result = stamp(message, FULL)
    assert result.message == message and not result.changed
    assert result.warnings == ("the message is empty; not stamped",)


@pytest.mark.parametrize(
    "message",
    ["title\n\nfix: a thing\n ", "title\n\nKey: v\n   \n", "title\n\nfix: a thing\n\n# comment\n "],
)
def test_whitespace_only_last_line_of_the_block(message):
    """git folds such lines into the block; new lines go above them, or they would split it."""
    result = stamp(message, USAGE_ONLY)
    assert parse_trailers(result.message, divider=False) == (
        parse_trailers(message, divider=False) + list(result.added)
    )
    assert result.message.endswith(message[message.index("\n", 7) + 1 :])


def test_message_git_would_not_read_after_stamping():
    """A "Conflicts:" title: git's own --trailer output would lose the block on re-reading."""
    result = stamp("Conflicts:\n\n\tcontinued", USAGE_ONLY)
    assert result.message == "Conflicts:\n\n\tcontinued" and not result.changed
    assert "git would not read" in result.warnings[0]


def test_nothing_to_stamp():
    assert stamp("title\n", ProtocolRecord()) == stamp("title\n", ProtocolRecord(version=1))
    assert stamp("title\n", ProtocolRecord()).message == "title\n"
    assert stamp("title\n", ProtocolRecord()).warnings == ()


def test_nul_byte():
    assert stamp("t\0x\n", FULL).message == "t\0x\n"


def test_usage_lines_are_merged_per_model():
    record = ProtocolRecord(usage=(Usage("m", input=1), Usage("m", output=2)))
    assert stamp("t\n", record).added[1:] == (("Agent-Usage", "model=m; in=1; out=2"),)


# --- idempotence and conflicts -------------------------------------------------------------


@pytest.mark.parametrize("record", RECORDS)
def test_stamping_twice_adds_nothing(record):
    once = stamp_message("feat: x\n\nSigned-off-by: A <a@example.com>\n", record)
    again = stamp(once, record)
    assert again.message == once and again.added == () and again.warnings == ()


def test_conflicts_keep_the_existing_value_and_warn():
    message = "t\n\nAgent-Task: OLD-1\nAgent-Usage: model=gpt-5.2; in=1\n"
    result = stamp(message, ProtocolRecord(task="NEW-2", attempt=1, usage=USAGE_ONLY.usage))
    assert result.added == (("Agent-Trailers", "1"), ("Agent-Attempt", "1"))
    assert len(result.warnings) == 2
    assert "kept the existing 'OLD-1'" in result.warnings[0]
    assert "Agent-Usage" in result.warnings[1]
    assert result.message.startswith(message)


def test_only_conflicts_adds_not_even_the_version():
    message = "t\n\nAgent-Task: OLD-1\n"
    result = stamp(message, ProtocolRecord(task="NEW-2"))
    assert result.message == message and len(result.warnings) == 1


def test_replace_swaps_conflicting_lines():
    message = (
        "t\n\nSigned-off-by: A <a@x>\nAgent-Task: OLD-1\n  folded\n"
        "Agent-Usage: model=gpt-5.2; in=1\nAgent-Usage: model=other; in=3\n"
    )
    result = stamp(message, ProtocolRecord(task="NEW-2", usage=USAGE_ONLY.usage), replace=True)
    assert result.warnings == ()
    assert result.message == (
        "t\n\nSigned-off-by: A <a@x>\nAgent-Usage: model=other; in=3\n"
        "Agent-Trailers: 1\nAgent-Task: NEW-2\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )
    assert (
        stamp(
            result.message, ProtocolRecord(task="NEW-2", usage=USAGE_ONLY.usage), replace=True
        ).message
        == result.message
    )


def test_a_models_lines_of_other_rates_conflict_with_its_existing_line():
    """The agent's own line of a model covers all its requests: a long-context line added
    beside it would count those twice."""
    message = "t\n\nAgent-Usage: model=m; in=1\n"
    lines = (Usage("m", input=1), Usage("m", input=2, long_context=200_000))
    result = stamp(message, ProtocolRecord(usage=lines))
    assert result.message == message and len(result.warnings) == 1
    replaced = stamp(message, ProtocolRecord(usage=lines), replace=True).message
    assert replaced.endswith(
        "\nAgent-Trailers: 1\nAgent-Usage: model=m; in=1\n"
        "Agent-Usage: model=m; in=2; long_context=200000\n"
    )
    assert "Agent-Usage: model=m; in=1\nAgent-Trailers" not in replaced
    assert stamp(replaced, ProtocolRecord(usage=lines)).added == ()


def test_same_values_in_other_spellings_are_not_added_again():
    message = (
        "t\n\nagent-task-class: Bugfix\nAGENT-USAGE:model=gpt-5.2 ;requests=1; in=5;out=7\n"
        "Agent-Trailers: 1\n"
    )
    record = ProtocolRecord(task_class="bugfix", usage=USAGE_ONLY.usage)
    result = stamp(message, record)
    assert result.message == message and result.warnings == ()


def test_repeatable_extra_keys_add_when_different():
    once = stamp_message("t\n", ProtocolRecord(extra=(("Agent-Foo", "a"),)))
    twice = stamp(once, ProtocolRecord(extra=(("Agent-Foo", "b"),)))
    assert twice.added == (("Agent-Foo", "b"),)


# --- properties ----------------------------------------------------------------------------

FRAGMENTS = [
    "title",
    "fix: a thing",
    "",
    " ",
    "\t",
    "body text here",
    "more prose: with a colon",
    "Signed-off-by: A <a@example.com>",
    "Co-authored-by: B <b@example.com>",
    "Co-Authored-By: Claude Opus 4.6 <noreply@anthropic.com>",
    "Key: v",
    "Key : spaced",
    "Key:nospace",
    "  continued",
    "\tcontinued",
    "# comment",
    "#",
    "---",
    "--- a/file",
    "(cherry picked from commit 0123456789abcdef)",
    "Conflicts:",
    "\tfile.c",
    SCISSORS.rstrip("\n"),
    "Agent-Trailers: 1",
    "Agent-Task: OLD-1",
    "Agent-Task-Class: Feature",
    "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1",
    "Agent-Usage: model=gpt-5.2; in=9",
    "Agent-Usage: in=3",
    "Agent-Route: score=7",
    "Agent-Foo: bar",
    "https://example.com/x",
    "key: //not a url trailer",
    "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
    "Bug #42: not a trailer",
    "\x0bvt",
    "\x0cff",
    "x\ry",
]


def random_message(rng: random.Random) -> str:
    lines = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 12))]
    eol = rng.choice(["\n", "\n", "\r\n"])
    text = eol.join(lines)
    return text + eol if rng.random() < 0.8 else text


fragment_messages = st.lists(st.sampled_from(FRAGMENTS), max_size=12).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n"]).flatmap(
        lambda eol: st.booleans().map(lambda end: eol.join(lines) + (eol if end else ""))
    )
)
messages = fragment_messages | st.text(
    st.characters(codec="utf-8", exclude_characters="\0"), max_size=80
)


@settings(max_examples=int(os.environ.get("STAMP_EXAMPLES", "400")), deadline=None)
@given(message=messages, record=st.sampled_from(RECORDS), replace=st.booleans())
def test_stamping_is_idempotent(message, record, replace):
    once = stamp(message, record, replace=replace)
    twice = stamp(once.message, record, replace=replace)
    assert twice.message == once.message
    assert twice.added == ()


@settings(max_examples=int(os.environ.get("STAMP_EXAMPLES", "400")), deadline=None)
@given(message=messages, record=st.sampled_from(RECORDS))
def test_keep_mode_only_appends_trailers(message, record):
    """What git's rules see afterwards: the old trailers, then exactly the added ones."""
    result = stamp(message, record)
    before = parse_trailers(message, divider=False)
    after = parse_trailers(result.message, divider=False)
    if result.changed:
        assert after == before + list(result.added)
    else:
        assert result.message == message


@settings(max_examples=int(os.environ.get("STAMP_EXAMPLES", "400")), deadline=None)
@given(message=messages)
def test_entries_agree_with_the_parser(message):
    block = find_trailer_block(message, divider=False)
    entries = _entries(message, block.start, block.end)
    assert [(e.key, e.value) for e in entries if e.key is not None] == block.trailers
    assert "".join(message[e.start : e.end] for e in entries) == message[block.start : block.end]


def test_replace_mode_ends_with_the_new_values():
    rng = random.Random(7)
    for _ in range(300):
        message = random_message(rng)
        result = stamp(message, FULL, replace=True)
        if not result.changed:
            continue
        record, _ = parse_record(parse_trailers(result.message, divider=False))
        assert record.task == "ROUTE-4711" and record.attempt == 2
        assert {u.model for u in record.usage} >= {u.model for u in FULL.usage}


# --- differential: the real git ------------------------------------------------------------

HAND_WRITTEN = [
    "fix: retry\n\nBody.\n",
    "fix: retry\n\nBody.\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    "title\n\nprose\nSigned-off-by: A <a@x>\n",
    "title\n\nprose one\nprose two\nprose three\nSigned-off-by: A <a@x>\n",
    "title\n\nKey: v\n  continued\n\tand tabbed\n",
    "title\n\nKey: v\n# comment\nOther: w\n",
    "title\n\nKey: v\n\n# Please enter the commit message\n#\n",
    "title\n\nbody\n\n# comment\n" + SCISSORS + "diff --git a/x b/x\n--- a/x\n+++ b/x\n",
    "title\n\nKey: v\n\nConflicts:\n\tfile.c\n",
    "title\r\n\r\nKey: v\r\nOther: w\r\n",
    "title\r\n\r\nbody\r\n",
    "title\n\n---\nKey: v\n",
    "title\n\nhttps://example.com/x\n",
    "title\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
    "Co-Authored-By: Claude Opus 4.6 <noreply@anthropic.com>\n",
    "title\n\nAgent-Trailers: 1\nAgent-Task: OLD\nAgent-Usage: model=gpt-5.2; in=1\n",
    "title",
    "title\n\nKey: v",
    "title\n   \n",
    "Key: v in the title\n",
]
DIFF_CORPUS = HAND_WRITTEN + [random_message(random.Random(seed)) for seed in range(250)]


def git_parse(run_git, message: str) -> str:
    data = message.encode("utf-8", "surrogateescape")
    out = run_git("interpret-trailers", "--parse", "--no-divider", input=data)
    return out.decode("utf-8", "surrogateescape")


def formatted(trailers) -> str:
    return "".join(f"{k}: {v}\n" for k, v in trailers)


@pytest.mark.git
@pytest.mark.parametrize("record", RECORDS, ids=["full", "usage", "odd"])
def test_git_finds_the_original_trailers_plus_the_new_ones(run_git, record):
    def check(message: str) -> None:
        result = stamp(message, record)
        if not result.changed:
            return
        assert git_parse(run_git, result.message) == (
            git_parse(run_git, message) + formatted(result.added)
        ), repr(message)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, DIFF_CORPUS))


@pytest.mark.git
def test_git_reads_replace_mode_like_the_parser(run_git):
    def check(message: str) -> None:
        result = stamp(message, FULL, replace=True)
        expected = formatted(parse_trailers(result.message, divider=False))
        assert git_parse(run_git, result.message) == expected, repr(message)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, DIFF_CORPUS))


def canonical(message: str) -> bool:
    """Messages git's --trailer leaves byte-identical to us (it rewrites odd trailer lines)."""
    if any(c in message for c in "\r\x0b\x0c") or not message.endswith("\n"):
        return False
    block = find_trailer_block(message, divider=False)
    for line in message[block.start : block.end].splitlines():
        parsed = parse_trailers(f"t\n\n{line}\n", divider=False)
        if not parsed or f"{parsed[0][0]}: {parsed[0][1]}" != line:  # git drops comments
            return False
    return True


@pytest.mark.git
def test_byte_identical_to_git_interpret_trailers(run_git):
    """Where neither rewrites anything, the output is exactly ``git interpret-trailers``'s."""
    checked = 0
    for message in DIFF_CORPUS:
        result = stamp(message, FULL)
        if not result.changed or not canonical(message) or "Agent-" in message:
            continue
        args = [a for k, v in result.added for a in ("--trailer", f"{k}: {v}")]
        expected = run_git("interpret-trailers", "--no-divider", *args, input=message.encode())
        assert result.message.encode() == expected, repr(message)
        checked += 1
    assert checked >= 30


# --- the command ---------------------------------------------------------------------------


def run_stamp(args, env=None, input=None):
    return CliRunner().invoke(stamp_command, args, env=env, input=input, catch_exceptions=False)


def test_cli_flags(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("fix: retry\n\nBody.\n")
    result = run_stamp(
        [
            str(msg),
            "--agent",
            "claude-code/2.0.31",
            "--task",
            "ROUTE-4711",
            "--task-class",
            "Bugfix",
            "--attempt",
            "2",
            "--route",
            "router=notdiamond/1.2; tier=standard",
            "--context",
            "sources=AGENTS.md; tokens=5400",
            "--usage",
            "model=a; in=1; out=2",
            "--usage",
            "model=b; cache_read=3",
            "--log",
            "refs/notes/agent-log",
        ]
    )
    assert result.exit_code == 0, result.output
    assert msg.read_text() == (
        "fix: retry\n\nBody.\n\nAgent-Trailers: 1\nAgent: claude-code/2.0.31\n"
        "Agent-Task: ROUTE-4711\nAgent-Task-Class: bugfix\nAgent-Attempt: 2\n"
        "Agent-Route: router=notdiamond/1.2; tier=standard\n"
        "Agent-Context: sources=AGENTS.md; tokens=5400\nAgent-Usage: model=a; in=1; out=2\n"
        "Agent-Usage: model=b; cache_read=3\nAgent-Log: refs/notes/agent-log\n"
    )
    again = run_stamp([str(msg), "--task", "ROUTE-4711"])
    assert again.exit_code == 0 and "added" not in again.output


def test_cli_same_model_twice_is_summed(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    assert (
        run_stamp([str(msg), "--usage", "model=a; in=1", "--usage", "model=a; out=2"]).exit_code
        == 0
    )
    assert msg.read_text().endswith("Agent-Usage: model=a; in=1; out=2\n")


def test_cli_environment(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    env = {
        "YIELD_AUDITOR_TASK": "T-1",
        "YIELD_AUDITOR_ATTEMPT": "3",
        "YIELD_AUDITOR_USAGE": "model=a; in=1\nmodel=b; out=2\n",
        "YIELD_AUDITOR_ROUTE": "tier=economy; score=0.2",
    }
    assert run_stamp([str(msg)], env=env).exit_code == 0
    record, warnings = parse_record(parse_trailers(msg.read_text()))
    assert warnings == []
    assert (record.task, record.attempt, record.route.tier) == ("T-1", 3, "economy")
    assert [u.model for u in record.usage] == ["a", "b"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--attempt", "0"], "--attempt"),
        (["--route", "score=2"], "score"),
        (["--usage", "in=1"], "without model"),
        (["--usage", "model=m; in=x"], "integer"),
        (["--task", "  "], "single non-empty line"),
        (["--since", "yesterday"], "ISO 8601"),
        (["--log-kind", "cursor"], "--log-kind"),
        (["--from-log", "/nonexistent/log.jsonl"], "does not exist"),
    ],
)
def test_cli_invalid_values(tmp_path, args, error):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    result = run_stamp([str(msg), *args])
    assert result.exit_code == 2
    assert error in result.output
    assert msg.read_text() == "t\n"


def test_cli_invalid_environment_value(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    result = run_stamp([str(msg)], env={"YIELD_AUDITOR_TASK": "a\nb"})
    assert result.exit_code == 2 and "single non-empty line" in result.output


def test_cli_usage_errors(tmp_path):
    assert "missing MSGFILE" in run_stamp([]).output
    assert "takes no MSGFILE" in run_stamp(["x", "--install-hook"]).output


def test_cli_from_log_sets_agent_and_window(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    result = run_stamp(
        [
            str(msg),
            "--from-log",
            str(CLAUDE),
            "--since",
            "2026-05-04T10:05:00Z",
            "--usage",
            "model=claude-opus-4-6; in=1",
        ]
    )
    assert result.exit_code == 0
    assert "incomplete last line" in result.output and "overrides the log" in result.output
    record, _ = parse_record(parse_trailers(msg.read_text()))
    assert record.agent == "claude-code/2.1.126"
    assert {u.model: u.input for u in record.usage} == {
        "claude-opus-4-6": 1,
        "claude-haiku-4-5-20251001": 1200,
    }


def usage_lines(msg: Path) -> list[str]:
    return [line for line in msg.read_text().splitlines() if line.startswith("Agent-Usage:")]


def test_cli_several_logs_are_read_together(tmp_path, monkeypatch):
    """A session's subagent file given beside the session (which reads it too) counts once."""
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    assert run_stamp([str(msg), "--from-log", str(CLAUDE)]).exit_code == 0
    alone = usage_lines(msg)
    msg.write_text("t\n")
    args = [str(msg), "--from-log", str(CLAUDE), "--from-log", str(CLAUDE_SUBAGENT)]
    assert run_stamp(args).exit_code == 0
    assert usage_lines(msg) == alone
    msg.write_text("t\n")
    monkeypatch.setenv(
        "YIELD_AUDITOR_FROM_LOG", os.pathsep.join([str(CLAUDE_SUBAGENT), str(CLAUDE)])
    )
    assert run_stamp([str(msg)]).exit_code == 0
    assert sorted(usage_lines(msg)) == sorted(alone)  # models in the order first read


def test_cli_recognises_a_gemini_cli_session(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    gemini = next((FIXTURES / "gemini-cli").rglob("session-*.json"))
    assert run_stamp([str(msg), "--from-log", str(gemini)]).exit_code == 0
    record, _ = parse_record(parse_trailers(msg.read_text()))
    assert record.agent == "gemini-cli"
    assert usage_lines(msg) == [
        "Agent-Usage: model=gemini-2.5-pro; in=10000; out=1000; cache_read=18000; reasoning=300; "
        "requests=2",
        "Agent-Usage: model=gemini-2.5-flash; in=3000; out=150; reasoning=50; requests=1",
    ]


def agent_homes(home: Path) -> dict[str, tuple[str, Path]]:
    """The fixtures copied where each agent keeps its logs under ``home`` (the Codex rollout
    archived): agent -> (session id, the fixture as --from-log would name it)."""
    claude = FIXTURES / "claude-code" / "-home-dev-shop"
    shutil.copytree(claude, home / ".claude" / "projects" / "-home-dev-shop")
    archived = home / ".codex" / "archived_sessions"
    archived.mkdir(parents=True)
    shutil.copy(CODEX, archived / CODEX.name)
    gemini = next((FIXTURES / "gemini-cli").rglob("session-*.json"))
    shutil.copytree(gemini.parent.parent, home / ".gemini" / "tmp" / gemini.parent.parent.name)
    amp = next((FIXTURES / "amp").rglob("T-*.json"))
    shutil.copytree(amp.parent, home / ".local" / "share" / "amp" / "threads")
    return {
        "claude-code/2.1.126": (CLAUDE.stem, CLAUDE),
        "codex": ("-".join(CODEX.stem.split("-")[-5:]), CODEX),
        "gemini-cli": ("7c1e2f3a-5b6d-4e8f-9a0b-1c2d3e4f5a6b", gemini),
        "amp": (amp.stem, amp),
    }


@pytest.fixture
def agents_home(tmp_path, monkeypatch) -> Path:
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_cli_session_finds_the_log_where_the_agent_keeps_it(tmp_path, agents_home):
    for agent, (session, fixture) in agent_homes(tmp_path).items():
        msg = tmp_path / "MSG"
        msg.write_text("t\n")
        assert run_stamp([str(msg), "--agent", agent, "--from-log", str(fixture)]).exit_code == 0
        expected = msg.read_text()
        msg.write_text("t\n")
        result = run_stamp([str(msg)], env={"YIELD_AUDITOR_AGENT": agent,
                                            "YIELD_AUDITOR_SESSION": session})  # fmt: skip
        assert result.exit_code == 0, result.output
        assert msg.read_text() == expected and usage_lines(msg), agent


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["--agent", "aider", "--session", "abc"], 2, "no session logs known for agent 'aider'"),
        (["--agent", "codex", "--session", "../x"], 2, "is not a plain name"),
        (["--agent", "codex", "--session", "*"], 2, "is not a plain name"),
        (["--session", "abc"], 2, "--session needs --agent"),
        (["--agent", "codex", "--session", "0196a1b2-dead"], 1, "no codex log of session"),
        (["--agent", "gemini-cli", "--session", "7c1e2f3a-0"], 1, "no gemini-cli log"),  # 8 match
    ],
)
def test_cli_session_errors_leave_the_message_alone(tmp_path, agents_home, args, code, error):
    agent_homes(tmp_path)
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    result = run_stamp([str(msg), *args])
    assert result.exit_code == code and error in result.output
    assert msg.read_text() == "t\n"


def test_cli_logs_of_several_agents_name_no_agent(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    logs = ["--from-log", str(CLAUDE), "--from-log", str(CODEX), "--from-log", str(AIDER)]
    result = run_stamp([str(msg), *logs])
    assert result.exit_code == 0
    assert "logs of several agents were read (claude-code, codex, aider)" in result.output
    record, _ = parse_record(parse_trailers(msg.read_text()))
    assert record.agent is None
    assert {"claude-opus-4-6", "gpt-5.2", "gpt-5.5"} <= {u.model for u in record.usage}
    msg.write_text("t\n")
    assert run_stamp([str(msg), *logs, "--agent", "router/1"]).exit_code == 0
    assert parse_record(parse_trailers(msg.read_text()))[0].agent == "router/1"


def test_cli_skips_merge_squash_and_amend(tmp_path):
    msg = tmp_path / "MSG"
    for source in ("merge", "squash", "commit"):
        msg.write_text("Merge branch 'x'\n")
        assert run_stamp(["--commit-source", source, str(msg), "--task", "T"]).exit_code == 0
        assert msg.read_text() == "Merge branch 'x'\n"
    assert run_stamp(["--commit-source", "message", str(msg), "--task", "T"]).exit_code == 0
    assert "Agent-Task: T" in msg.read_text()


def test_cli_stdin_and_dry_run(tmp_path):
    result = run_stamp(["-", "--task", "T"], input="PR title\n\nDescription.\n")
    assert result.stdout == "PR title\n\nDescription.\n\nAgent-Trailers: 1\nAgent-Task: T\n"
    assert run_stamp(["-"], input="unchanged\n").stdout == "unchanged\n"
    msg = tmp_path / "MSG"
    msg.write_text("t\n")
    dry = run_stamp([str(msg), "--task", "T", "--dry-run"])
    assert "Agent-Task: T" in dry.stdout
    assert "would add 2 trailer lines" in dry.stderr and "added" not in dry.stderr
    assert msg.read_text() == "t\n"
    assert (
        "yield-auditor stamp: added 2 trailer lines" in run_stamp([str(msg), "--task", "T"]).stderr
    )


def test_cli_keeps_bytes_it_does_not_understand(tmp_path):
    msg = tmp_path / "MSG"
    msg.write_bytes(b"caf\xe9 latin-1\r\n")
    assert run_stamp([str(msg), "--task", "T"]).exit_code == 0
    assert msg.read_bytes() == b"caf\xe9 latin-1\r\n\r\nAgent-Trailers: 1\r\nAgent-Task: T\r\n"


# --- the hook ------------------------------------------------------------------------------


@pytest.fixture
def isolated_git(monkeypatch, git_env) -> None:
    """``install_hook`` runs git in this process's environment: keep user configuration out."""
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    for name in ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"):
        monkeypatch.setenv(name, git_env[name])


@pytest.fixture
def repo(tmp_path, run_git, isolated_git) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    run_git("init", "-q", "-b", "main", str(path))
    return path


@pytest.fixture
def hook_env(git_env, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in git_env.items() if not k.startswith("YIELD_AUDITOR_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def git(env, cwd, *args) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def commit(env, repo: Path, message: str, **variables) -> str:
    (repo / "file.txt").write_text(
        (repo / "file.txt").read_text() + "x\n" if (repo / "file.txt").exists() else "x\n"
    )
    git(env, repo, "add", "file.txt")
    output = git({**env, **variables}, repo, "commit", "-q", "-m", message)
    return output


def last_message(env, repo: Path) -> str:
    return git(env, repo, "log", "-1", "--format=%B")


HOOK_COMMANDS = {
    "bot": f"{shlex.quote(sys.executable)} -m bot",  # what install_hook falls back to
    "bot.cli.main": f"{shlex.quote(sys.executable)} -m bot.cli.main",
}


@pytest.mark.git
@pytest.mark.parametrize("module", list(HOOK_COMMANDS))
def test_end_to_end_commit_carries_the_trailers(repo, hook_env, module):
    done = install_hook(repo, command=HOOK_COMMANDS[module])
    assert done.path == repo / ".git" / "hooks" / "prepare-commit-msg"
    assert done.path.stat().st_mode & stat.S_IXUSR
    output = commit(
        hook_env,
        repo,
        "feat: add x",
        YIELD_AUDITOR_TASK="ROUTE-1",
        YIELD_AUDITOR_TASK_CLASS="feature",
        YIELD_AUDITOR_USAGE="model=gpt-5.2; in=5; out=7; requests=1",
    )
    assert "added 4 trailer lines" in output
    assert last_message(hook_env, repo) == (
        "feat: add x\n\nAgent-Trailers: 1\nAgent-Task: ROUTE-1\nAgent-Task-Class: feature\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n\n"
    )
    trailers = git(hook_env, repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert "Agent-Task: ROUTE-1" in trailers


@pytest.mark.git
def test_end_to_end_human_commit_and_broken_tool(repo, hook_env):
    install_hook(repo, command=HOOK_COMMANDS["bot"])
    commit(hook_env, repo, "docs: by a human")
    assert last_message(hook_env, repo) == "docs: by a human\n\n"
    output = commit(hook_env, repo, "fix: y", YIELD_AUDITOR_TASK="T", YIELD_AUDITOR_COMMAND="false")
    assert "could not stamp" in output
    assert last_message(hook_env, repo) == "fix: y\n\n"
    commit(hook_env, repo, "fix: z", YIELD_AUDITOR_TASK="T", YIELD_AUDITOR_DISABLE="1")
    assert last_message(hook_env, repo) == "fix: z\n\n"


@pytest.mark.git
def test_end_to_end_from_log_since_last_commit(repo, hook_env, tmp_path):
    install_hook(repo, command=HOOK_COMMANDS["bot"])
    commit(hook_env, repo, "first")
    log = tmp_path / "session.jsonl"
    entry = (
        '{"type":"assistant","sessionId":"s","version":"2.1.1","requestId":"r%d",'
        '"timestamp":"%s","message":{"model":"claude-opus-4-6","id":"m%d",'
        '"usage":{"input_tokens":%d,"output_tokens":1}}}\n'
    )
    log.write_text(
        entry % (1, "2000-01-01T00:00:00Z", 1, 100) + entry % (2, "2999-01-01T00:00:00Z", 2, 7)
    )
    commit(
        hook_env, repo, "second", YIELD_AUDITOR_FROM_LOG=str(log), YIELD_AUDITOR_SINCE="last-commit"
    )
    record, _ = parse_record(parse_trailers(last_message(hook_env, repo), divider=False))
    assert record.agent == "claude-code/2.1.1"
    assert record.usage == (Usage("claude-opus-4-6", input=7, output=1, requests=1),)


@pytest.mark.git
def test_since_last_commit_leaves_the_commits_own_second_to_it(repo, run_git, tmp_path):
    """Git keeps HEAD's time to the second (10:00:00 for a commit at 10:00:00.6): m1 at
    10:00:00.2, the response that ran ``git commit``, is HEAD's, not the next commit's too."""
    date = {"GIT_COMMITTER_DATE": "2026-01-01T10:00:00Z", "GIT_AUTHOR_DATE": "2026-01-01T10:00:00Z"}
    run_git("-C", str(repo), "commit", "-q", "--allow-empty", "-m", "A", env=date)
    entry = (
        '{"type":"assistant","sessionId":"s","requestId":"r%d","timestamp":"%s",'
        '"message":{"model":"m","id":"m%d","usage":{"input_tokens":%d}}}\n'
    )
    log = tmp_path / "session.jsonl"
    log.write_text(
        entry % (0, "2026-01-01T09:59:59.900Z", 0, 1)
        + entry % (1, "2026-01-01T10:00:00.200Z", 1, 10)
        + entry % (2, "2026-01-01T10:00:05.300Z", 2, 100)
    )
    msg = tmp_path / "MSG"
    inputs = {}
    for bound in ("--since", "--until"):
        msg.write_text("B\n")
        args = [str(msg), "--from-log", str(log), bound, "last-commit", "--repo", str(repo)]
        assert run_stamp(args).exit_code == 0
        inputs[bound] = [u.input for u in parse_record(parse_trailers(msg.read_text()))[0].usage]
    assert inputs == {"--since": [100], "--until": [11]}


@pytest.mark.git
def test_end_to_end_verbose_commit_with_scissors(repo, hook_env):
    install_hook(repo, command=HOOK_COMMANDS["bot"])
    (repo / "file.txt").write_text("x\n")
    git(hook_env, repo, "add", "file.txt")
    env = {**hook_env, "GIT_EDITOR": "true", "YIELD_AUDITOR_TASK": "T-7"}
    git(env, repo, "commit", "-q", "-v", "-e", "-m", "title", "-m", "--- not a patch")
    assert last_message(hook_env, repo) == (
        "title\n\n--- not a patch\n\nAgent-Trailers: 1\nAgent-Task: T-7\n\n"
    )


@pytest.mark.git
def test_hook_respects_core_hooks_path_and_chains(repo, hook_env, run_git):
    run_git("-C", str(repo), "config", "core.hooksPath", "githooks")
    hooks = repo / "githooks"
    hooks.mkdir()
    old = hooks / "prepare-commit-msg"
    old.write_text('#!/bin/sh\necho "Old-Hook: ran" >> "$1"\n')
    old.chmod(0o755)
    done = install_hook(repo, command=HOOK_COMMANDS["bot"])
    assert done.path == hooks / "prepare-commit-msg"
    assert done.chained == hooks / ("prepare-commit-msg" + CHAINED_SUFFIX)
    commit(hook_env, repo, "feat: chained\n", YIELD_AUDITOR_TASK="T")
    message = last_message(hook_env, repo)
    assert message == "feat: chained\nOld-Hook: ran\n\nAgent-Trailers: 1\nAgent-Task: T\n\n"
    again = install_hook(repo, command=HOOK_COMMANDS["bot"])
    assert again.updated and again.chained == done.chained


@pytest.mark.git
def test_a_failing_chained_hook_still_blocks(repo, hook_env):
    hooks = repo / ".git" / "hooks"
    (hooks / "prepare-commit-msg").write_text("#!/bin/sh\nexit 3\n")
    (hooks / "prepare-commit-msg").chmod(0o755)
    install_hook(repo, command=HOOK_COMMANDS["bot"])
    (repo / "file.txt").write_text("x\n")
    git(hook_env, repo, "add", "file.txt")
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "m"], cwd=repo, env=hook_env, capture_output=True
    )
    assert done.returncode != 0


@pytest.mark.git
def test_install_refuses_to_clobber_unless_forced(repo):
    hooks = repo / ".git" / "hooks"
    (hooks / "prepare-commit-msg").write_text("#!/bin/sh\n# mine\n")
    (hooks / ("prepare-commit-msg" + CHAINED_SUFFIX)).write_text("#!/bin/sh\n# older\n")
    result = run_stamp(["--install-hook", "--repo", str(repo)])
    assert result.exit_code == 1 and "--force" in result.output
    assert (hooks / "prepare-commit-msg").read_text() == "#!/bin/sh\n# mine\n"
    result = run_stamp(["--install-hook", "--repo", str(repo), "--force", "--command", "ya"])
    assert result.exit_code == 0 and "installed" in result.output
    text = (hooks / "prepare-commit-msg").read_text()
    assert HOOK_MARKER in text and "stamp_cmd=ya" in text


def test_hook_script_quotes_the_command():
    script = hook_script("/opt/my tools/yield-auditor")
    assert "stamp_cmd='/opt/my tools/yield-auditor'" in script
    assert script.startswith("#!/bin/sh\n") and script.rstrip().endswith("exit 0")


@pytest.mark.git
def test_a_commit_without_stamp_variables_does_not_start_the_tool(repo, hook_env):
    """The hook decides in sh: a person's commit pays for no Python start-up."""
    install_hook(repo, command=HOOK_COMMANDS["bot"])
    probe = {"YIELD_AUDITOR_COMMAND": "echo started >&2 #"}
    assert "started" not in commit(hook_env, repo, "docs: by a human", **probe)
    assert "started" not in commit(hook_env, repo, "docs: again", YIELD_AUDITOR_TASK="", **probe)
    assert "started" in commit(hook_env, repo, "fix: by an agent", YIELD_AUDITOR_TASK="T", **probe)


@pytest.fixture(scope="module")
def hook_file(tmp_path_factory) -> Path:
    hook = tmp_path_factory.mktemp("hook") / "prepare-commit-msg"
    hook.write_text(hook_script("unused"))
    return hook


@pytest.mark.parametrize("name", stamp_variables())
@settings(max_examples=10, deadline=None)
@given(value=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0")))
def test_any_one_stamp_variable_starts_the_tool(hook_file, name, value):
    """Any non-empty value, shell syntax included, starts it (and is never run as code)."""
    env = {"PATH": os.environ["PATH"], name: value, "YIELD_AUDITOR_COMMAND": "echo started #"}
    done = subprocess.run(
        ["sh", str(hook_file), str(hook_file.parent / "MSG"), "message"],
        env=env,
        capture_output=True,
    )
    assert (done.returncode, done.stdout) == (0, b"started\n" if value else b"")


def test_stamp_variables_are_every_option_variable():
    """The variables docs/stamp.md lists; any one of them makes the hook start the tool."""
    names = ("AGENT", "TASK", "TASK_CLASS", "ATTEMPT", "ROUTE", "CONTEXT", "USAGE", "FROM_LOG",
             "SESSION", "LOG_KIND", "SINCE", "UNTIL", "LOG", "REPLACE")  # fmt: skip
    assert stamp_variables() == [f"YIELD_AUDITOR_{name}" for name in names]


@pytest.mark.git
def test_an_older_hook_of_ours_is_rewritten_in_place(repo):
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text("#!/bin/sh\n# yield-auditor-hook: v1\nexit 0\n")
    done = install_hook(repo, command="ya")
    assert done.updated and done.chained is None
    assert hook.read_text() == hook_script("ya")


@pytest.mark.git
def test_install_outside_a_repository(tmp_path, isolated_git):
    result = run_stamp(["--install-hook", "--repo", str(tmp_path)])
    assert result.exit_code == 1 and "not a git repository" in result.output
