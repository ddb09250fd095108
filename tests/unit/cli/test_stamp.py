"""The ``yield-auditor stamp`` command: options, environment variables and usage logs become
the stamped lines; invalid values are click errors that leave the message alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.stamp import stamp_command, stamp_variables
from bot.protocol.codec import parse_record
from bot.protocol.trailers import parse_trailers
from tests.paths import FIXTURES

FIXTURES = FIXTURES / "usage_logs"
CLAUDE = FIXTURES / "claude-code" / "-home-dev-shop" / "6f1d2c1e-8c1b-4a53-9d5e-2f3c1a7b9e10.jsonl"
CLAUDE_SUBAGENT = next((CLAUDE.parent / CLAUDE.stem / "subagents").glob("*.jsonl"))
CODEX = next((FIXTURES / "codex").rglob("rollout-*c0de.jsonl"))
AIDER = FIXTURES / "aider" / "analytics.jsonl"


@pytest.fixture(autouse=True)
def no_outer_settings(monkeypatch):
    """The tests' own YIELD_AUDITOR_* variables only."""
    for name in list(os.environ):
        if name.startswith("YIELD_AUDITOR_"):
            monkeypatch.delenv(name)


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


def test_stamp_variables_are_every_option_variable():
    """The variables docs/stamp.md lists; any one of them makes the hook start the tool."""
    names = ("AGENT", "TASK", "TASK_CLASS", "ATTEMPT", "ROUTE", "CONTEXT", "USAGE", "FROM_LOG",
             "SESSION", "LOG_KIND", "SINCE", "UNTIL", "LOG", "REPLACE")  # fmt: skip
    assert [f"YIELD_AUDITOR_{name}" for name in names] == stamp_variables()
