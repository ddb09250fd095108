"""The ``yield-auditor`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parseaddr

import click

from bot import __version__
from bot.analysis import Analyser
from bot.commit import CommitInfo, Identity
from bot.config import Settings
from bot.stamp import read_file, stamp_command


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
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
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


main.add_command(stamp_command)

if __name__ == "__main__":
    main()
