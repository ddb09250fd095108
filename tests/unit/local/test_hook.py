"""The prepare-commit-msg hook: installed beside (or instead of) a foreign hook, it stamps an
agent's commit through the real ``git commit`` and never blocks one."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli.stamp import stamp_command, stamp_variables
from bot.local.hook import CHAINED_SUFFIX, HOOK_MARKER, hook_script, install_hook
from bot.protocol.codec import parse_record
from bot.protocol.trailers import parse_trailers
from bot.protocol.usage import Usage
from tests.paths import ROOT

VARIABLES = stamp_variables()


def run_stamp(args):
    """The command in this process, without the outer environment's stamp variables."""
    env = dict.fromkeys(VARIABLES)
    return CliRunner().invoke(stamp_command, args, env=env, catch_exceptions=False)


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
    done = install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS[module])
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
    install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
    commit(hook_env, repo, "docs: by a human")
    assert last_message(hook_env, repo) == "docs: by a human\n\n"
    output = commit(hook_env, repo, "fix: y", YIELD_AUDITOR_TASK="T", YIELD_AUDITOR_COMMAND="false")
    assert "could not stamp" in output
    assert last_message(hook_env, repo) == "fix: y\n\n"
    commit(hook_env, repo, "fix: z", YIELD_AUDITOR_TASK="T", YIELD_AUDITOR_DISABLE="1")
    assert last_message(hook_env, repo) == "fix: z\n\n"


@pytest.mark.git
def test_end_to_end_from_log_since_last_commit(repo, hook_env, tmp_path):
    install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
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
    install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
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
    done = install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
    assert done.path == hooks / "prepare-commit-msg"
    assert done.chained == hooks / ("prepare-commit-msg" + CHAINED_SUFFIX)
    commit(hook_env, repo, "feat: chained\n", YIELD_AUDITOR_TASK="T")
    message = last_message(hook_env, repo)
    assert message == "feat: chained\nOld-Hook: ran\n\nAgent-Trailers: 1\nAgent-Task: T\n\n"
    again = install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
    assert again.updated and again.chained == done.chained


@pytest.mark.git
def test_a_failing_chained_hook_still_blocks(repo, hook_env):
    hooks = repo / ".git" / "hooks"
    (hooks / "prepare-commit-msg").write_text("#!/bin/sh\nexit 3\n")
    (hooks / "prepare-commit-msg").chmod(0o755)
    install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
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
    script = hook_script("/opt/my tools/yield-auditor", VARIABLES)
    assert "stamp_cmd='/opt/my tools/yield-auditor'" in script
    assert script.startswith("#!/bin/sh\n") and script.rstrip().endswith("exit 0")


@pytest.mark.git
def test_a_commit_without_stamp_variables_does_not_start_the_tool(repo, hook_env):
    """The hook decides in sh: a person's commit pays for no Python start-up."""
    install_hook(repo, variables=VARIABLES, command=HOOK_COMMANDS["bot"])
    probe = {"YIELD_AUDITOR_COMMAND": "echo started >&2 #"}
    assert "started" not in commit(hook_env, repo, "docs: by a human", **probe)
    assert "started" not in commit(hook_env, repo, "docs: again", YIELD_AUDITOR_TASK="", **probe)
    assert "started" in commit(hook_env, repo, "fix: by an agent", YIELD_AUDITOR_TASK="T", **probe)


@pytest.fixture(scope="module")
def hook_file(tmp_path_factory) -> Path:
    hook = tmp_path_factory.mktemp("hook") / "prepare-commit-msg"
    hook.write_text(hook_script("unused", VARIABLES))
    return hook


@pytest.mark.parametrize("name", VARIABLES)
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


@pytest.mark.git
def test_an_older_hook_of_ours_is_rewritten_in_place(repo):
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text("#!/bin/sh\n# yield-auditor-hook: v1\nexit 0\n")
    done = install_hook(repo, variables=VARIABLES, command="ya")
    assert done.updated and done.chained is None
    assert hook.read_text() == hook_script("ya", VARIABLES)


@pytest.mark.git
def test_install_outside_a_repository(tmp_path, isolated_git):
    result = run_stamp(["--install-hook", "--repo", str(tmp_path)])
    assert result.exit_code == 1 and "not a git repository" in result.output
