"""Stamp a commit message with the protocol's trailers, and the ``yield-auditor stamp`` command.

The lines go where ``git interpret-trailers --no-divider --trailer ...`` puts them (``git commit
--trailer`` runs exactly that): at the end of the trailer block git finds, or in a new paragraph
after a blank line, before trailing comment lines, blank lines and a scissors part. Two
deliberate differences: existing lines are never reformatted, and a CRLF message gets CRLF
lines (git writes LF); a message that does not end with a newline still gets its blank line.

Stamping is idempotent. A line already present (same key, same parsed value) is not added
again; a single-valued key (``Agent-Task``...) or an ``Agent-Usage`` of the same model that is
present with another value is *kept* and a warning explains what was not added, because the
message may already carry what the agent itself wrote and double counting is the worse error.
``replace=True`` (``--replace``) swaps such conflicting lines for the new ones instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from datetime import datetime, timedelta
from pathlib import Path

import click

from bot.local.usage_logs import KINDS, SESSION_AGENTS, read_usage_logs, session_logs
from bot.protocol.codec import (
    K_USAGE,
    K_VERSION,
    KEYS,
    TASK_CLASSES,
    VERSION,
    ProtocolRecord,
    format_record,
    parse_context,
    parse_record,
    parse_route,
    parse_usage,
)
from bot.protocol.trailers import COMMENT, SPACE, find_separator, find_trailer_block
from bot.protocol.usage import Usage, merge_by_model

ENV_PREFIX = "YIELD_AUDITOR_"
SKIPPED_SOURCES = ("merge", "squash", "commit")
HOOK_NAME = "prepare-commit-msg"
CHAINED_SUFFIX = ".pre-yield-auditor"
HOOK_MARKER = "# yield-auditor-hook:"  # then the version; any version is ours to rewrite
HOOK_VERSION = 2
_PROTOCOL_KEYS = {k.lower() for k in KEYS}
_SINGLE_KEYS = _PROTOCOL_KEYS - {K_USAGE.lower()}
_FOLD = re.compile(r"\n[ \t\n\r]*")
_UNREADABLE = "not stamped: git would not read trailers added to this message"


@dataclass(frozen=True, slots=True)
class StampResult:
    """The stamped message, the trailer lines added and why others were not."""

    message: str
    added: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added)


def stamp_message(message: str, record: ProtocolRecord, *, replace: bool = False) -> str:
    """``message`` with ``record``'s trailer lines appended (see ``stamp``)."""
    return stamp(message, record, replace=replace).message


def stamp(message: str, record: ProtocolRecord, *, replace: bool = False) -> StampResult:
    """Append ``record``'s trailers to ``message``'s trailer block, idempotently.

    Nothing is added when the record holds nothing but a version, when the message has no
    text yet (``git commit`` without ``-m`` runs its hook before the editor opens: trailers
    there would end up in the title paragraph), when it holds a NUL byte, or when git would not
    find the added lines in the result. Raises ``ValueError`` (from ``format_record``) for a
    plain value that cannot be a trailer, such as one with a line break.
    """
    if not _has_content(record):
        return StampResult(message)
    if "\0" in message:
        return StampResult(message, warnings=("the message holds a NUL byte; not stamped",))
    block = find_trailer_block(message, divider=False)
    if not _has_text(message, block.start):
        return StampResult(message, warnings=("the message is empty; not stamped",))
    entries = _entries(message, block.start, block.end)
    add, remove, warnings = _plan(entries, format_record(_merged(record)), replace)
    if all(key == K_VERSION for key, _ in add):
        return StampResult(message, warnings=tuple(warnings))
    stamped = _assemble(message, block.start, block.end, entries, remove, add)
    if find_trailer_block(stamped, divider=False).trailers[-len(add) :] != add:
        return StampResult(message, warnings=(_UNREADABLE,))  # e.g. a "Conflicts:" title
    return StampResult(stamped, tuple(add), tuple(warnings))


def _assemble(
    message: str,
    start: int,
    end: int,
    entries: list[_Entry],
    remove: set[int],
    add: list[tuple[str, str]],
) -> str:
    """The message with ``remove`` entries dropped and ``add`` lines at the block's end."""
    eol = "\r\n" if _uses_crlf(message) else "\n"
    new = "".join(f"{key}: {value}{eol}" for key, value in add)
    head, tail = message[:start], message[end:]
    if start == end:
        return _paragraph_break(head, eol) + new + tail
    kept = "".join(message[e.start : e.end] for i, e in enumerate(entries) if i not in remove)
    kept, ignorable = _split_tail(kept)
    kept += eol if kept and not kept.endswith("\n") else ""
    return head + kept + new + ignorable + tail


def _has_content(record: ProtocolRecord) -> bool:
    return not dc_replace(record, version=None).is_empty


def _merged(record: ProtocolRecord) -> ProtocolRecord:
    """One ``Agent-Usage`` line per model and rates, as the protocol asks."""
    return dc_replace(record, usage=tuple(merge_by_model(record.usage)))


def _has_text(message: str, end: int) -> bool:
    """Whether ``message[:end]`` holds a line that is neither blank nor a comment."""
    pos = 0
    while pos < end:
        nl = message.find("\n", pos, end)
        line = message[pos : end if nl < 0 else nl]
        if line.strip(SPACE) and not line.startswith(COMMENT):
            return True
        pos = end if nl < 0 else nl + 1
    return False


def _uses_crlf(message: str) -> bool:
    nl = message.find("\n")
    return nl > 0 and message[nl - 1] == "\r"


def _paragraph_break(head: str, eol: str) -> str:
    """End ``head`` with a blank line, as git does before a new trailer block."""
    if not head.endswith("\n"):
        head += eol
    last = head[head.rfind("\n", 0, len(head) - 1) + 1 :]
    return head if not last.strip(SPACE) else head + eol


def _split_tail(block: str) -> tuple[str, str]:
    """Split off the block's last lines that are blank or comments; new lines go before them.

    Git's block can end in such lines (a whitespace-only last line keeps git from trimming
    the ones before it); below new trailers, a blank line there would end the block early.
    """
    end = len(block)
    while end:
        start = block.rfind("\n", 0, end - 1) + 1
        line = block[start:end]
        if line.strip(SPACE) and not line.startswith(COMMENT):
            break
        end = start
    return block[:end], block[end:]


# --- the existing block, entry by entry ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """One line of the block with its continuation lines; ``key`` is ``None`` for non-trailers."""

    start: int
    end: int
    key: str | None = None
    value: str = ""


def _entries(text: str, start: int, end: int) -> list[_Entry]:
    """The block's entries with their offsets, split and unfolded exactly as git does."""
    spans: list[list[int]] = []
    last_is_trailer = False
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        if last_is_trailer and text[pos] in SPACE:
            spans[-1][1] = line_end
        else:
            spans.append([pos, line_end])
            last_is_trailer = find_separator(text, pos) >= 1
        pos = line_end
    return [_entry(text, s, e) for s, e in spans]


def _entry(text: str, start: int, end: int) -> _Entry:
    sep = find_separator(text, start)
    if text[start] == COMMENT or sep < 1:
        return _Entry(start, end)
    key = text[start : start + sep].strip(SPACE)
    value = _FOLD.sub(" ", text[start + sep + 1 : end].strip(SPACE)).strip(SPACE)
    return _Entry(start, end, key, value)


def _plan(
    entries: list[_Entry], lines: list[tuple[str, str]], replace_conflicts: bool
) -> tuple[list[tuple[str, str]], set[int], list[str]]:
    """Which new lines to add and which existing entries they replace."""
    add: list[tuple[str, str]] = []
    present: dict[tuple[str, str], list[int]] = {}  # new lines already there, and where
    remove: set[int] = set()
    warnings: list[str] = []
    for key, value in lines:
        lower = key.lower()
        same = [i for i, e in enumerate(entries) if e.key is not None and e.key.lower() == lower]
        equal = [i for i in same if _same_value(key, entries[i].value, value)]
        if equal:
            present[(key, value)] = equal
            continue
        conflicts = _conflicts(lower, value, same, entries)
        if conflicts and not replace_conflicts:
            old = entries[conflicts[0]].value
            warnings.append(f"{key}: kept the existing {old[:80]!r}, not added {value[:80]!r}")
            continue
        remove.update(conflicts)
        add.append((key, value))
    # A line found present is added again when another line of its model replaced it.
    gone = {line for line, where in present.items() if remove.issuperset(where)}
    return [line for line in lines if line in gone or line in add], remove, warnings


def _conflicts(lower: str, value: str, same: list[int], entries: list[_Entry]) -> list[int]:
    if lower == K_USAGE.lower():
        model = _usage_model(value)
        return [i for i in same if _usage_model(entries[i].value) == model]
    return same if lower in _SINGLE_KEYS else []


def _usage_model(value: str) -> str | None:
    """The model of an ``Agent-Usage`` value: any line of it conflicts with any other, since
    each line of a model (one per rates) comes from the same log and a mix would count twice."""
    usage = parse_usage(value, [])
    return usage.model if usage is not None else None


def _same_value(key: str, old: str, new: str) -> bool:
    """Equal as the protocol reads them (``Bugfix`` is ``bugfix``; pair spacing is free)."""
    if old == new:
        return True
    if key.lower() not in _PROTOCOL_KEYS:
        return False
    old_record, old_warnings = parse_record([(key, old)])
    new_record, _ = parse_record([(key, new)])
    return not old_warnings and old_record == new_record


# --- the prepare-commit-msg hook -----------------------------------------------------------


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


def hook_script(command: str) -> str:
    """The hook's text; ``command`` is shell words that run the ``yield-auditor`` group."""
    return _HOOK.format(
        marker=HOOK_MARKER,
        version=HOOK_VERSION,
        chained=HOOK_NAME + CHAINED_SUFFIX,
        variables="".join(f"${{{name}-}}" for name in stamp_variables()),
        command=shlex.quote(command),
    )


def stamp_variables() -> list[str]:
    """The environment variables ``stamp`` reads values from: without them it stamps nothing."""
    return [param.envvar for param in stamp_command.params if param.envvar]


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
    repo: str | Path = ".", *, command: str | None = None, force: bool = False
) -> HookInstall:
    """Install the ``prepare-commit-msg`` hook, chaining to an existing one unless ``force``."""
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
    hook.write_text(hook_script(command or default_hook_command()), encoding="utf-8")
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


# --- the command ---------------------------------------------------------------------------


class _Structured(click.ParamType):
    """A ``key=value; ...`` option value, parsed by the protocol's own parser."""

    def __init__(self, name: str, parse) -> None:
        self.name = name
        self.parse = parse

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        warnings: list[str] = []
        parsed = self.parse(value, warnings)
        if warnings or parsed is None:
            self.fail("; ".join(warnings) or f"cannot read {value!r}", param, ctx)
        return parsed

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        """Several values in one variable go on separate lines (values hold spaces and ';')."""
        return [line for line in rv.splitlines() if line.strip()]


class _When(click.ParamType):
    name = "time"

    def convert(self, value, param, ctx):
        if not isinstance(value, str) or value == "last-commit":
            return value
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is neither an ISO 8601 time nor 'last-commit'", param, ctx)
        return when if when.tzinfo else when.astimezone()  # a bare time is local, as in git


def _plain(ctx, param, value: str | None) -> str | None:
    """One trimmed, non-empty line: what a plain trailer value can hold."""
    if value is None:
        return None
    text = value.strip(SPACE)
    if not text or "\n" in text or "\r" in text or "\0" in text:
        raise click.BadParameter("must be a single non-empty line", ctx, param)
    return text


def _task_class(ctx, param, value: str | None) -> str | None:
    text = _plain(ctx, param, value)
    if text is None:
        return None
    if text.lower() not in TASK_CLASSES:
        click.echo(
            f"yield-auditor stamp: note: task class {text!r} is not one of "
            f"{', '.join(TASK_CLASSES)}",
            err=True,
        )
    return text.lower()


def _env(name: str) -> str:
    return ENV_PREFIX + name


@click.command("stamp", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("msgfile", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--agent",
    envvar=_env("AGENT"),
    show_envvar=True,
    callback=_plain,
    help="The agent as tool/version, e.g. claude-code/2.0.31 (default: from --from-log, "
    "when all its logs are of one agent).",
)
@click.option(
    "--task", envvar=_env("TASK"), show_envvar=True, callback=_plain, help="The router's task id."
)
@click.option(
    "--task-class",
    envvar=_env("TASK_CLASS"),
    show_envvar=True,
    callback=_task_class,
    help=f"One of {', '.join(TASK_CLASSES)} (an open set).",
)
@click.option(
    "--attempt",
    envvar=_env("ATTEMPT"),
    show_envvar=True,
    type=click.IntRange(min=1),
    help="Which attempt at the task (1, 2, ...).",
)
@click.option(
    "--route",
    envvar=_env("ROUTE"),
    show_envvar=True,
    type=_Structured("route", parse_route),
    help='The routing decision, e.g. "router=notdiamond/1.2; tier=economy".',
)
@click.option(
    "--context",
    "context_",
    envvar=_env("CONTEXT"),
    show_envvar=True,
    type=_Structured("context", parse_context),
    help='The curated context, e.g. "sources=AGENTS.md,docs/api.md; tokens=5400".',
)
@click.option(
    "--usage",
    "usages",
    multiple=True,
    envvar=_env("USAGE"),
    show_envvar=True,
    type=_Structured("usage", parse_usage),
    help='Usage of one model, e.g. "model=openai:gpt-5.2; in=800; out=90"; repeatable.',
)
@click.option(
    "--from-log",
    "logs",
    multiple=True,
    envvar=_env("FROM_LOG"),
    show_envvar=True,
    type=click.Path(exists=True, path_type=Path),
    help="Read usage from the agent's log file or directory; repeatable (read together).",
)
@click.option(
    "--session",
    envvar=_env("SESSION"),
    show_envvar=True,
    callback=_plain,
    help="Read usage from this session's log, found where the agent keeps it (--agent "
    f"{', '.join(SESSION_AGENTS)}); read together with any --from-log.",
)
@click.option(
    "--log-kind",
    envvar=_env("LOG_KIND"),
    show_envvar=True,
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *KINDS]),
    help="The kind of --from-log.",
)
@click.option(
    "--since",
    envvar=_env("SINCE"),
    show_envvar=True,
    type=_When(),
    help="Only usage from this time on (ISO 8601, or 'last-commit': after HEAD's second).",
)
@click.option(
    "--until",
    envvar=_env("UNTIL"),
    show_envvar=True,
    type=_When(),
    help="Only usage before this time.",
)
@click.option(
    "--log",
    "log_pointer",
    envvar=_env("LOG"),
    show_envvar=True,
    callback=_plain,
    help="Where the full token log lives (Agent-Log).",
)
@click.option(
    "--replace",
    "replace_",
    is_flag=True,
    envvar=_env("REPLACE"),
    show_envvar=True,
    help="Replace conflicting protocol lines instead of keeping them.",
)
@click.option("--dry-run", is_flag=True, help="Print the stamped message instead of writing it.")
@click.option(
    "--commit-source",
    default="",
    metavar="SOURCE",
    help="The hook's $2: merge, squash and commit (amend, -c, -C) are not stamped.",
)
@click.option("--install-hook", is_flag=True, help="Install the prepare-commit-msg hook.")
@click.option(
    "--repo",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The repository for --install-hook and --since last-commit.",
)
@click.option("--force", is_flag=True, help="With --install-hook: overwrite a foreign hook.")
@click.option(
    "--command",
    "hook_command",
    metavar="COMMAND",
    help="With --install-hook: shell words the hook runs as yield-auditor.",
)
def stamp_command(msgfile, install_hook, repo, force, hook_command, **options) -> None:
    """Append Agent-* trailers (docs/trailers.md) to the commit message in MSGFILE.

    Values come from the options, from YIELD_AUDITOR_* environment variables (several
    usages go on separate lines of YIELD_AUDITOR_USAGE, several log paths are separated by
    the path separator in YIELD_AUDITOR_FROM_LOG) and from the agent's own usage log. MSGFILE
    '-' reads standard input and writes standard output. Stamping twice adds nothing; nothing
    is stamped when no value is given (docs/stamp.md).
    """
    if install_hook:
        if msgfile:
            raise click.UsageError("--install-hook takes no MSGFILE")
        _install(repo, hook_command, force)
        return
    if not msgfile:
        raise click.UsageError("missing MSGFILE (or --install-hook)")
    if options["commit_source"] in SKIPPED_SOURCES:
        return
    _stamp_file(msgfile, _record(repo, options), options["replace_"], options["dry_run"])


def _install(repo: str, command: str | None, force: bool) -> None:
    try:
        done = install_hook(repo, command=command, force=force)
    except HookError as error:
        raise click.ClickException(str(error)) from error
    verb = "updated" if done.updated else "installed"
    chained = f"; it runs {done.chained} first" if done.chained else ""
    click.echo(f"{verb} {done.path}{chained}")


def _record(repo: str, options: dict) -> ProtocolRecord:
    """The record to stamp; an empty one (a human's commit) stamps nothing."""
    usages = list(options["usages"])
    agent = options["agent"]
    logs = [*options["logs"], *_session_logs(agent, options["session"])]
    if logs:
        logged, log_agent = _read_logs(repo, logs, options)
        agent = agent or log_agent
        usages = _combine_usage(usages, logged)
    record = ProtocolRecord(
        version=VERSION,
        agent=agent,
        task=options["task"],
        task_class=options["task_class"],
        attempt=options["attempt"],
        route=options["route"],
        context=options["context_"],
        usage=tuple(usages),
        log=options["log_pointer"],
    )
    return record


def _session_logs(agent: str | None, session: str | None) -> list[Path]:
    """The log files of ``--session``, in the default place of ``--agent``."""
    if session is None:
        return []
    if agent is None:
        raise click.UsageError("--session needs --agent, to know where the session's log is")
    try:
        return session_logs(agent, session)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--session'") from error
    except FileNotFoundError as error:
        raise click.ClickException(f"{error.strerror} under {error.filename}") from error


def _read_logs(repo: str, logs: list[Path], options: dict) -> tuple[list[Usage], str | None]:
    """Usage and agent of all logs, read together so that what two files share counts once;
    logs of several agents name no agent."""
    since, until = _time(repo, options["since"]), _time(repo, options["until"])
    try:
        log = read_usage_logs(logs, options["log_kind"], since, until, options["session"])
    except OSError as error:
        raise click.FileError(str(error.filename or "--from-log"), error.strerror) from error
    for warning in log.warnings:
        click.echo(f"yield-auditor stamp: {warning}", err=True)
    agent = log.agent and (f"{log.agent}/{log.agent_version}" if log.agent_version else log.agent)
    return log.usages, agent


def _time(repo: str, value) -> datetime | None:
    if value != "last-commit":
        return value
    try:
        return last_commit_end(repo)
    except (HookError, ValueError):
        return None


def _combine_usage(given: list[Usage], logged: list[Usage]) -> list[Usage]:
    """``--usage`` lines win over the log's lines for the same model."""
    models = {u.model for u in given}
    for model in dict.fromkeys(u.model for u in logged if u.model in models):
        click.echo(f"yield-auditor stamp: --usage for {model} overrides the log", err=True)
    return given + [u for u in logged if u.model not in models]


def _stamp_file(msgfile: str, record: ProtocolRecord, replace_: bool, dry_run: bool) -> None:
    raw = sys.stdin.buffer.read() if msgfile == "-" else read_file(msgfile)
    message = raw.decode("utf-8", "surrogateescape")
    result = stamp(message, record, replace=replace_)
    for warning in result.warnings:
        click.echo(f"yield-auditor stamp: {warning}", err=True)
    data = result.message.encode("utf-8", "surrogateescape")
    if msgfile == "-" or dry_run:
        sys.stdout.buffer.write(data)
    elif result.changed:
        with open(msgfile, "wb") as handle:
            handle.write(data)
    if result.changed and msgfile != "-":
        verb = "would add" if dry_run else "added"
        click.echo(f"yield-auditor stamp: {verb} {len(result.added)} trailer lines", err=True)


def read_file(name: str) -> bytes:
    """A message file's bytes; an unreadable file is a clear click error, not a traceback."""
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise click.FileError(name, error.strerror) from error
