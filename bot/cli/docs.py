"""docs/cli.md, generated from the click tree so the reference cannot drift from ``--help``.

``python -m bot.cli.docs > docs/cli.md`` regenerates it; tests/test_cli_docs.py fails when the
committed file differs. Each command's section is exactly what ``yield-auditor ... --help``
prints on a terminal 80 columns wide or wider (click caps the help's width there).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click

PROG = "yield-auditor"
WIDTH = 78  # click's formatter: the terminal's columns, at most 80, less 2

HEADER = f"""\
# Command line reference

Every `{PROG}` command, exactly as its `--help` prints it. This page is generated from the
command definitions (`bot/cli/docs.py`; regenerate it with
`.venv/bin/python -m bot.cli.docs > docs/cli.md`, and a test fails when it is out of date).
The README and the pages of docs/ explain each command, with examples; this page only holds
their help ([README](../README.md#documentation)). In the container, run them as
`docker compose run --rm worker COMMAND ...` ([deploy.md](deploy.md#container)).
"""


def walk(
    command: click.Command, parent: click.Context | None = None, name: str = PROG
) -> Iterator[tuple[click.Context, click.Command]]:
    """Every command under ``command``, itself first, subcommands in name order (as ``--help``
    lists them), each with the context ``--help`` would render it in."""
    settings = {"terminal_width": WIDTH, "max_content_width": WIDTH, **command.context_settings}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx, command
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, ctx, sub_name)


def anchor(title: str) -> str:
    """GitHub's heading anchor for a title made of command words."""
    return title.lower().replace(" ", "-")


def render(root: click.Command | None = None) -> str:
    """The whole page: a contents list, then one section per command with its help."""
    if root is None:
        from bot.cli.main import main as root
    commands = list(walk(root))
    lines = [HEADER, "## Commands", ""]
    for ctx, command in commands:
        path = ctx.command_path
        summary = command.get_short_help_str(limit=200)
        lines.append(f"- [`{path}`](#{anchor(path)}): {summary}")
    for ctx, command in commands:
        lines += ["", f"## {ctx.command_path}", "", "```text", command.get_help(ctx), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
