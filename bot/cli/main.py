"""The ``yield-auditor`` command line."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import __version__
from bot.protocol.commit import CommitInfo, Identity, parse_identity

if TYPE_CHECKING:
    from rich.console import Console

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


# The commands of other modules, imported when run, with the summary ``--help`` lists for them
# (a test checks that each is the command's own): ``--version``, ``--help`` and ``stamp``, which
# a commit hook runs, then load neither the ledger nor the web App nor the price tables.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "backfill": (
        "bot.cli.backfill:backfill_command",
        "Import the pull request history of an installation from GitHub's API (docs/backfill.md).",
    ),
    "demo": (
        "bot.cli.app:demo_command",
        "Replay a scripted week of agent work against a fake GitHub, then serve the App.",
    ),
    "digest": (
        "bot.cli.app:digest_command",
        "Preview or send the weekly digest (docs/digests.md); a send happens once per period "
        "and channel unless --force.",
    ),
    "inbox": ("bot.cli.app:inbox_group", "Look at and re-queue webhook deliveries."),
    "migrate": (
        "bot.cli.migrate:migrate_command",
        "Create or upgrade the ledger's tables (SQLite or PostgreSQL); safe to run again.",
    ),
    "policy": (
        "bot.cli.policy:policy_group",
        "Export the routing policy a router follows (docs/policy.md).",
    ),
    "scheduler": (
        "bot.cli.app:scheduler_command",
        "Run the periodic jobs in the foreground (digests, redelivery of GitHub's failed "
        "deliveries, the inbox's clean-up); a second scheduler is harmless.",
    ),
    "serve": (
        "bot.cli.app:serve_command",
        "Run everything in one process: web server, worker thread and scheduler.",
    ),
    "stamp": (
        "bot.cli.stamp:stamp_command",
        "Append Agent-* trailers (docs/trailers.md) to the commit message in MSGFILE.",
    ),
    "token": (
        "bot.cli.tokens:token_group",
        "Create, list and revoke API tokens (read-only, one installation each).",
    ),
    "worker": (
        "bot.cli.app:worker_command",
        "Process deliveries from the inbox; run as many as you like on PostgreSQL.",
    ),
}


class LazyGroup(click.Group):
    """A group whose ``lazy_commands`` are imported on first use (click's documented pattern)."""

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing, with each command not imported yet described by its summary."""
        listed = [(name, self.commands.get(name) or self._summary(name))
                  for name in self.list_commands(ctx)]  # fmt: skip
        rows = [(name, command) for name, command in listed if not command.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, c.get_short_help_str(limit)) for name, c in rows])

    def _summary(self, name: str) -> click.Command:
        """A stand-in holding only the help text, shortened by click's own rule."""
        return click.Command(name, help=self.lazy_commands[name][1])


@click.group(
    cls=LazyGroup,
    lazy_commands=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="yield-auditor")
def main() -> None:
    """Yield Auditor: does routing coding agents to cheaper models really save money?"""


@main.group()
def trailers() -> None:
    """Read and write the commit-trailer protocol (docs/trailers.md)."""


def _messages(files: tuple[str, ...], nul: bool) -> Iterator[tuple[str, bytes]]:
    """(source, raw message) pairs; ``-`` or no file reads standard input."""
    from bot.cli.stamp import read_file

    for name in files or ("-",):
        data = sys.stdin.buffer.read() if name == "-" else read_file(name)
        if not nul:
            yield name, data
            continue
        for index, message in enumerate(data.split(b"\0")):
            if message.strip():
                yield f"{name}#{index}", message


@trailers.command("parse")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-z", "--nul", is_flag=True, help="Inputs hold many messages separated by NUL.")
@click.option("--no-divider", is_flag=True, help="A '---' line does not end the message.")
@click.option("--author", help="Author as 'Name <email>', for agent detection.")
@click.option("--committer", help="Committer as 'Name <email>', for agent detection.")
@click.option("--branch", help="Branch name, for agent detection.")
@click.option(
    "--date",
    type=click.DateTime(formats=DATE_FORMATS),
    help="Price usage as of this date (default: now).",
)
def parse_command(files, nul, no_divider, author, committer, branch, date) -> None:
    """Print one JSON line per commit message: trailers, record, agent, usage, warnings.

    Reads each FILE (or standard input for '-' or no FILE) as one message, like
    'git interpret-trailers --parse'; with -z, as NUL-separated messages
    (e.g. 'git log -z --format=%B').
    """
    from bot.config import Settings

    analyser = Settings().analyser()
    when = (date.replace(tzinfo=date.tzinfo or UTC)) if date else datetime.now(UTC)
    author_id, committer_id = (parse_identity(v) if v else Identity() for v in (author, committer))
    out = sys.stdout
    for source, raw in _messages(files, nul):
        text = raw.decode("utf-8", "replace")
        commit = CommitInfo(
            sha="",
            message=text,
            author=author_id,
            committer=committer_id,
            authored_at=when,
            branch=branch,
        )
        result = analyser.analyse(commit, divider=not no_divider).as_dict()
        if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
            result["warnings"].insert(0, "invalid UTF-8 replaced with U+FFFD")
        if b"\0" in raw:
            result["warnings"].insert(0, "message ends at its first NUL byte, as in git")
        out.write(json.dumps({"source": source, **result}, ensure_ascii=False) + "\n")


@main.command("audit")
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="A working tree or a bare repository.",
)
@click.option("--since", type=click.DateTime(DATE_FORMATS), help="Only commits from this date.")
@click.option("--until", type=click.DateTime(DATE_FORMATS), help="Only commits before this date.")
@click.option("--branch", "rev", help="The branch or revision to audit (default: HEAD).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here instead of standard output.",
)
@click.option("--db", help="Also store the ledger in this database (e.g. sqlite:///ya.db).")
@click.option(
    "--survival/--no-survival",
    default=False,
    show_default=True,
    help="Measure line survival of agent commits with git blame (bounded).",
)
@click.option("--max-blame-files", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option(
    "--window",
    "window_days",
    type=click.IntRange(min=1),
    default=21,
    show_default=True,
    help="Rework and revert window, in days.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the statistics' random draws (reports are reproducible).",
)
def audit_command(repo, since, until, rev, fmt, output, db, survival, max_blame_files,
                  window_days, seed) -> None:  # fmt: skip
    """Audit a local git history: token yield, waterfall, tier x task class, recommendations."""
    from bot.config import Settings
    from bot.local.audit import AuditOptions, run_audit
    from bot.local.gitlog import GitLogError
    from bot.render.audit import print_table, to_csv, to_html, to_json

    options = AuditOptions(repo, since, until, rev, survival, window_days, max_blame_files, db,
                           seed)  # fmt: skip
    try:
        with _progress() as advance:
            report = run_audit(options, Settings().analyser(), advance)
    except GitLogError as error:
        raise click.ClickException(str(error)) from error
    if fmt == "table":
        from rich.console import Console

        console = Console(file=output.open("w", encoding="utf-8")) if output else Console()
        print_table(report, console)
        return
    text = {"json": to_json, "csv": to_csv, "html": to_html}[fmt](report)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@contextmanager
def _progress() -> Iterator[Callable[[int], None]]:
    """A spinner with the commit count on a terminal; silent when stderr is not one."""
    console = _stderr_terminal()
    if console is None:
        yield lambda _count: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from bot import format as fmt

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as progress:  # fmt: skip
        task = progress.add_task("reading history")
        yield lambda count: progress.update(task, description=f"read {fmt.count(count)} commits")


def _stderr_terminal() -> Console | None:
    """A Rich console on stderr if Rich takes it for a terminal. A pipe or file (scripts that
    read ``--format json``) is told apart first, without importing Rich: Rich only sees a
    terminal where stderr is a tty or FORCE_COLOR or TTY_COMPATIBLE=1 says so."""
    env = os.environ
    if not (env.get("FORCE_COLOR") or env.get("TTY_COMPATIBLE") == "1" or sys.stderr.isatty()):
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


if __name__ == "__main__":
    main()
