"""The ``prepare-commit-msg`` hook that stamps agent commits, and what a stamp reads from git
and the agent's usage logs.

The hook is a short sh script: it runs the hook it replaced (if any), then starts
``yield-auditor stamp`` (``bot.cli.stamp``) only when one of the command's variables is set, so
a person's commit pays for no Python start-up; a failure to stamp never blocks the commit.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.local.usage_logs import read_usage_logs
from bot.protocol.usage import Usage

HOOK_NAME = "prepare-commit-msg"
CHAINED_SUFFIX = ".pre-yield-auditor"
HOOK_MARKER = "# yield-auditor-hook:"  # then the version; any version is ours to rewrite
HOOK_VERSION = 2


class HookError(Exception):
    """The hook could not be installed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class HookInstall:
    path: Path
    chained: Path | None
    updated: bool  # our hook was there already and was rewritten


_HOOK = """#!/bin/sh
{marker} v{version}
# Installed by 'yield-auditor stamp --install-hook'. Stamps agent commits with Agent-* trailers
# from YIELD_AUDITOR_* variables or the agent's usage log (docs/stamp.md), after running the
# hook it replaced, if any. A failure to stamp never blocks the commit.
# YIELD_AUDITOR_COMMAND overrides the command below; YIELD_AUDITOR_DISABLE=1 skips stamping.
case $0 in */*) chained=${{0%/*}}/{chained} ;; *) chained={chained} ;; esac
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
[ -n "${{YIELD_AUDITOR_DISABLE-}}" ] && exit 0
# None of stamp's variables set (a person's commit): nothing to stamp, so no need to start it.
[ -n "{variables}" ] || exit 0
stamp_cmd={command}
if [ -n "${{YIELD_AUDITOR_COMMAND-}}" ]; then
    stamp_cmd=$YIELD_AUDITOR_COMMAND
fi
eval "$stamp_cmd"' stamp --commit-source "${{2-}}" -- "$1"' ||
    echo "yield-auditor: could not stamp the commit message; committing it unstamped" >&2
exit 0
"""


def hook_script(command: str, variables: Sequence[str]) -> str:
    """The hook's text; ``command`` is shell words that run the ``yield-auditor`` group, and
    ``variables`` the environment variables of which any one set makes the hook stamp."""
    return _HOOK.format(
        marker=HOOK_MARKER,
        version=HOOK_VERSION,
        chained=HOOK_NAME + CHAINED_SUFFIX,
        variables="".join(f"${{{name}-}}" for name in variables),
        command=shlex.quote(command),
    )


def default_hook_command() -> str:
    """This very ``yield-auditor``, by absolute path: the hook may run without the venv on PATH."""
    argv0 = Path(sys.argv[0])
    if argv0.name in ("yield-auditor", "yield-auditor.exe") and argv0.is_file():
        return shlex.quote(str(argv0.absolute()))
    found = shutil.which("yield-auditor")
    return shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m bot"


def hooks_dir(repo: str | Path) -> Path:
    """The hooks directory git uses for ``repo``, ``core.hooksPath`` included."""
    top = _git(repo, "rev-parse", "--show-toplevel") or str(repo)
    hooks = _git(top, "rev-parse", "--git-path", "hooks")
    if hooks is None:
        raise HookError(f"{repo} is not a git repository")
    return Path(top) / hooks


def install_hook(
    repo: str | Path = ".",
    *,
    variables: Sequence[str],
    command: str | None = None,
    force: bool = False,
) -> HookInstall:
    """Install the ``prepare-commit-msg`` hook, chaining to an existing one unless ``force``;
    ``variables`` as for ``hook_script``."""
    hooks = hooks_dir(repo)
    hooks.mkdir(parents=True, exist_ok=True)
    hook, chained = hooks / HOOK_NAME, hooks / (HOOK_NAME + CHAINED_SUFFIX)
    present = hook.exists() or hook.is_symlink()
    ours = present and HOOK_MARKER in _read_text(hook)
    if present and not ours:
        if force:
            hook.unlink()
        elif chained.exists() or chained.is_symlink():
            raise HookError(
                f"{hook} is not ours and {chained} exists already; "
                "merge them by hand or pass --force to overwrite the hook"
            )
        else:
            os.replace(hook, chained)
    hook.write_text(hook_script(command or default_hook_command(), variables), encoding="utf-8")
    hook.chmod(0o755)
    return HookInstall(hook, chained if chained.exists() else None, ours)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _git(cwd: str | Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise HookError(f"cannot run git: {error}") from error
    return done.stdout.strip() if done.returncode == 0 else None


def last_commit_end(repo: str | Path = ".") -> datetime | None:
    """The end of the second ``HEAD`` was committed in: a new commit's usage starts there.

    Git records committer times truncated to the second, so ``HEAD`` was made in ``[t, t + 1s)``
    and usage before ``t + 1s`` may be what made it (the response that ran ``git commit``). It is
    left to ``HEAD``: counting it twice is worse than missing usage of that second after it.
    """
    text = _git(repo, "log", "-1", "--format=%cI", "HEAD")
    return datetime.fromisoformat(text) + timedelta(seconds=1) if text else None


# --- the logs a stamp reads ---------------------------------------------------------------


def read_stamp_logs(
    repo: str | Path,
    logs: Sequence[Path],
    kind: str,
    since: datetime | str | None,
    until: datetime | str | None,
    session: str | None,
) -> tuple[list[Usage], str | None, list[str]]:
    """Usage, agent and warnings of all logs, read together so that what two files share counts
    once; logs of several agents name no agent. ``since`` and ``until`` may be
    ``"last-commit"`` (``last_commit_end``). Raises ``OSError`` for an unreadable log."""
    log = read_usage_logs(logs, kind, _time(repo, since), _time(repo, until), session)
    agent = log.agent and (f"{log.agent}/{log.agent_version}" if log.agent_version else log.agent)
    return log.usages, agent, log.warnings


def _time(repo: str | Path, value: datetime | str | None) -> datetime | None:
    if not isinstance(value, str):
        return value
    try:
        return last_commit_end(repo)
    except (HookError, ValueError):
        return None
