"""The ``yield-auditor stamp`` command: options and YIELD_AUDITOR_* variables to a record, the
record stamped into the message file (``bot.protocol.stamp``), and ``--install-hook``
(``bot.local.hook``). Errors are click's, so a hook's failure reads as one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from bot.local.hook import HookError, install_hook, read_stamp_logs
from bot.local.usage_logs import (
    KINDS,
    SESSION_AGENTS,
    SESSION_VARIABLES,
    current_session,
    session_logs,
)
from bot.protocol.codec import (
    TASK_CLASSES,
    VERSION,
    ProtocolRecord,
    parse_context,
    parse_route,
    parse_usage,
)
from bot.protocol.stamp import stamp
from bot.protocol.trailers import SPACE
from bot.protocol.usage import Usage

ENV_PREFIX = "YIELD_AUDITOR_"
SKIPPED_SOURCES = ("merge", "squash", "commit")


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
    f"{', '.join(SESSION_AGENTS)}); read together with any --from-log. Without it or "
    "--from-log, the session the agent exports to its commands ("
    + ", ".join(f"{agent}: ${name}" for agent, name in SESSION_VARIABLES.items())
    + ").",
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


def stamp_variables() -> list[str]:
    """The environment variables ``stamp`` reads values from: without them it stamps nothing."""
    return [param.envvar for param in stamp_command.params if param.envvar]


def _install(repo: str, command: str | None, force: bool) -> None:
    try:
        done = install_hook(repo, variables=stamp_variables(), command=command, force=force)
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
    if not logs:  # neither --from-log nor --session
        options["session"], logs = _exported_session(agent)
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


def _exported_session(agent: str | None) -> tuple[str | None, list[Path]]:
    """The session the agent exports to the commands it runs, and its log files: a hook then
    needs no path. A session whose log is not found stamps no usage, with a note."""
    session = current_session(agent) if agent else None
    if session is None:
        return None, []
    try:
        return session, session_logs(agent, session)
    except (ValueError, FileNotFoundError) as error:
        reason = getattr(error, "strerror", None) or error
        click.echo(f"yield-auditor stamp: exported session not read: {reason}", err=True)
        return None, []


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
    """Usage and agent of all logs (``read_stamp_logs``), its warnings on standard error."""
    try:
        usages, agent, warnings = read_stamp_logs(
            repo, logs, options["log_kind"], options["since"], options["until"], options["session"]
        )
    except OSError as error:
        raise click.FileError(str(error.filename or "--from-log"), error.strerror) from error
    for warning in warnings:
        click.echo(f"yield-auditor stamp: {warning}", err=True)
    return usages, agent


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
