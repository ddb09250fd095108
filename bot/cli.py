"""The ``yield-auditor`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from bot import __version__
from bot.analysis import Analyser
from bot.audit import AuditOptions, run_audit
from bot.backfill_cli import backfill_command
from bot.commit import CommitInfo, Identity
from bot.config import Settings
from bot.gitlog import GitLogError
from bot.ledger.cli import migrate_command
from bot.render import print_table, to_csv, to_html, to_json
from bot.stamp import read_file, stamp_command
from bot.token_cli import token_group
from webhooks.cli import (
    demo_command,
    digest_command,
    inbox_group,
    scheduler_command,
    serve_command,
    worker_command,
)

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="yield-auditor")
def main() -> None:
    """Yield Auditor: does routing coding agents to cheaper models really save money?"""


@main.group()
def trailers() -> None:
    """Read and write the commit-trailer protocol (docs/trailers.md)."""


def _identity(value: str | None) -> Identity:
    if not value:
        return Identity()
    name, email = parseaddr(value)
    return Identity(name=name or value, email=email)


def _messages(files: tuple[str, ...], nul: bool) -> Iterator[tuple[str, bytes]]:
    """(source, raw message) pairs; ``-`` or no file reads standard input."""
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
    analyser = Analyser.from_settings(Settings())
    when = (date.replace(tzinfo=date.tzinfo or UTC)) if date else datetime.now(UTC)
    author_id, committer_id = _identity(author), _identity(committer)
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
    options = AuditOptions(repo, since, until, rev, survival, window_days, max_blame_files, db,
                           seed)  # fmt: skip
    err = Console(stderr=True)
    try:
        with _progress(err) as advance:
            report = run_audit(options, Analyser.from_settings(Settings()), advance)
    except GitLogError as error:
        raise click.ClickException(str(error)) from error
    if fmt == "table":
        console = Console(file=output.open("w", encoding="utf-8")) if output else Console()
        print_table(report, console)
        return
    text = {"json": to_json, "csv": to_csv, "html": to_html}[fmt](report)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[int], None]]:
    """A spinner with the commit count on a terminal; silent when stderr is not one."""
    if not console.is_terminal:
        yield lambda _count: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as progress:  # fmt: skip
        task = progress.add_task("reading history")
        yield lambda count: progress.update(task, description=f"read {count:,} commits")


main.add_command(stamp_command)
main.add_command(migrate_command)
main.add_command(serve_command)
main.add_command(worker_command)
main.add_command(inbox_group)
main.add_command(demo_command)
main.add_command(digest_command)
main.add_command(scheduler_command)
main.add_command(token_group)
main.add_command(backfill_command)

if __name__ == "__main__":
    main()
