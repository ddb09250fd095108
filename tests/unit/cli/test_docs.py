"""The command line's documentation cannot drift from the commands: docs/cli.md is generated
from the click tree, every command has prose somewhere else too, and no page names a command
or an option that does not exist."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bot.cli.docs import PROG, render, walk
from bot.cli.main import main
from tests.paths import ROOT

CLI_MD = ROOT / "docs" / "cli.md"
EXECUTABLE = str(Path(sys.executable).parent / PROG)  # the console script of this environment
REGENERATE = ".venv/bin/python -m bot.cli.docs > docs/cli.md"
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SHELL_FENCES = {"console", "sh", "bash", "shell"}

COMMANDS = {ctx.command_path: (ctx, command) for ctx, command in walk(main)}

# `yield-auditor` as a command word: not yield-auditor.db, .github/yield-auditor.yml, ...
INVOCATION = re.compile(rf"(?:^|(?<=[\s/`(]))(?:\S*/)?{PROG}(?=\s|$)(?P<rest>[^\n]*)")
# `docker compose run --rm SERVICE ARGS`: the image's entrypoint runs ARGS as a command.
CONTAINER = re.compile(r"docker compose run --rm \S+ (?P<rest>[^\n]*)")
ROLES = {"web", "help"}  # entrypoint roles that are not yield-auditor commands
SHELL_END = re.compile(r"\s(?:#|\||&&|\|\||;|>|<|2>)(?:\s|$).*")


def test_committed_reference_is_generated() -> None:
    assert CLI_MD.read_text(encoding="utf-8") == render(), (
        f"docs/cli.md is out of date with the commands: regenerate it with `{REGENERATE}`"
    )


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_each_section_is_what_help_prints(path: str) -> None:
    """The installed command, on an 80-column terminal (click's cap), prints the section's
    text. (Not click's CliRunner: it forces a width of its own.)"""
    args = path.split()[1:]
    result = subprocess.run(
        [EXECUTABLE, *args, "--help"],
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        check=True,
    )
    section = re.search(
        rf"^## {re.escape(path)}\n\n```text\n(.*?)\n```$", render(), re.S | re.M
    ).group(1)
    assert section == result.stdout.rstrip("\n")


def test_reference_is_deterministic() -> None:
    assert render() == render()


def test_reference_lists_every_command_once() -> None:
    headings = re.findall(rf"^## ({PROG}.*)$", render(), re.M)
    assert headings == list(COMMANDS) and len(set(headings)) == len(headings)
    assert {"yield-auditor inbox retry", "yield-auditor token create"} <= set(headings)


# --------------------------------------------------------------------------- other pages


def code_lines(text: str) -> list[str]:
    """The shell lines of a page: its console/sh blocks (continuations joined) and every
    inline code span outside blocks."""
    lines, fence, block = [], None, []
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None and stripped.startswith("```"):
            fence, block = stripped[3:].strip(), []
        elif fence is not None and stripped.startswith("```"):
            if fence in SHELL_FENCES:
                lines += "\n".join(block).replace("\\\n", " ").splitlines()
            fence = None
        elif fence is not None:
            block.append(stripped)
        else:
            lines += re.findall(r"`([^`\n]+)`", line)
    return lines


def invocations(text: str) -> list[list[str]]:
    """The arguments after each `yield-auditor` (or container command) in a page's code."""
    found = []
    for line in code_lines(text):
        for match in [*INVOCATION.finditer(line), *CONTAINER.finditer(line)]:
            rest = SHELL_END.sub("", match.group("rest")).strip()
            try:
                words = shlex.split(rest)
            except ValueError:  # an unbalanced quote in prose: plain words will do
                words = rest.split()
            if match.re is CONTAINER and (not words or words[0] in ROLES):
                continue
            found.append([w.strip("[]") for w in words])
    return found


def placeholder(word: str) -> bool:
    return word.isupper() or word[:1] in "<{$" or word in ("...", "…")


def check(words: list[str]) -> tuple[str, list[str]]:
    """The command path the words name, and what is wrong with them (nothing: [])."""
    ctx, command = COMMANDS[PROG]
    path = PROG
    words = list(words)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        if placeholder(words[0]):
            return path, []
        name = words.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            return path, [f"`{path}` has no command {name!r}"]
        path = f"{path} {name}"
        ctx, command = COMMANDS[path]
    known = {opt for p in command.get_params(ctx) for opt in (*p.opts, *p.secondary_opts)}
    problems = [
        f"`{path}` has no option {option!r}"
        for word in words
        if re.fullmatch(r"--?[a-zA-Z][\w-]*(=.*)?", word)
        for option in [word.split("=", 1)[0]]
        if option not in known
    ]
    return path, problems


def test_pages_name_only_commands_and_options_that_exist() -> None:
    problems = []
    for page in PAGES:
        for words in invocations(page.read_text(encoding="utf-8")):
            problems += [
                f"{page.relative_to(ROOT)}: {p}: {shlex.join(words)}" for p in check(words)[1]
            ]
    assert not problems, "\n".join(problems)


def test_every_command_has_prose_beyond_the_reference() -> None:
    """Each command is shown in the README or another page of docs/, not only in cli.md."""
    mentioned = set()
    for page in PAGES:
        if page != CLI_MD:
            mentioned |= {check(w)[0] for w in invocations(page.read_text(encoding="utf-8"))}
    leaves = {p for p, (_, c) in COMMANDS.items() if not isinstance(c, click.Group)}
    assert sorted(leaves - mentioned) == []


# --------------------------------------------------------------------------- the checker


def test_checker_finds_a_missing_option_and_command() -> None:
    page = (
        "Run `yield-auditor inbox list --staus failed`, then\n\n```console\n"
        "$ .venv/bin/yield-auditor token create --installation 7 \\\n"
        "    --nmae ci   # a comment --not-an-option\n"
        "yield-auditor inbox purge\n"
        "docker compose run --rm worker digest --sned\n```\n"
    )
    problems = [p for words in invocations(page) for p in check(words)[1]]
    assert problems == [
        "`yield-auditor inbox list` has no option '--staus'",
        "`yield-auditor token create` has no option '--nmae'",
        "`yield-auditor inbox` has no command 'purge'",
        "`yield-auditor digest` has no option '--sned'",
    ]


def test_checker_leaves_file_names_placeholders_and_other_code_alone() -> None:
    page = (
        "`yield-auditor.db`, `.github/yield-auditor.yml`, `yield-auditor COMMAND ...`,\n"
        "`yield-auditor: could not stamp`, `docker compose run --rm web migrate`\n\n"
        "```python\nyield-auditor --bogus\n```\n"
        "```console\nyield-auditor audit --repo . --since 2026-01-01 --format=json | jq .\n```\n"
    )
    assert [check(words) for words in invocations(page)] == [
        ("yield-auditor", []),
        ("yield-auditor migrate", []),
        ("yield-auditor audit", []),
    ]
