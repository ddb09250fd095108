"""Each command imports only what it uses: the commit hook runs ``yield-auditor stamp`` on every
commit, so ``--version``, ``--help`` and ``stamp`` must not pay for the ledger, the web App or
the price tables. Checked in a fresh interpreter, where ``sys.modules`` holds exactly what one
command loaded. And every module imports on its own, from a package the wheel lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest

from bot.cli.main import LAZY_COMMANDS, LazyGroup, main
from tests.paths import ROOT

# The App, the ledger, GitHub, pricing, templates and the terminal UI.
HEAVY = {
    "alembic",
    "flask",
    "genai_prices",
    "github",
    "httpx",
    "jinja2",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "rich",
    "sqlalchemy",
    "sqlmodel",
    "werkzeug",
}
# What pricing and settings need; any command that reads Settings or prices usage may load it.
PRICING = {"genai_prices", "httpx", "pydantic", "pydantic_settings"}

RUN = """
import json, sys
before = set(sys.modules)
from bot.cli.main import main
try:
    main(sys.argv[2:], prog_name="yield-auditor")
except SystemExit as done:
    code = done.code
else:
    code = 0
loaded = set(sys.modules) - before
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(loaded)}, out)
"""


def imported(tmp_path: Path, *args: str, stdin: bytes = b"", env: dict | None = None) -> set:
    """The modules that running ``yield-auditor ARGS`` imports, and their top-level packages."""
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", RUN, str(report), *args],
        input=stdin,
        capture_output=True,
        env=env,
        check=True,
    )
    done = json.loads(report.read_text())
    assert done["code"] in (0, None), done
    return {*done["modules"], *(name.partition(".")[0] for name in done["modules"])}


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["stamp", "--help"], ["audit", "--help"], ["trailers", "--help"]],
)
def test_version_and_help_import_nothing_heavy(tmp_path, args):
    assert imported(tmp_path, *args) & HEAVY == set()


def test_stamp_from_a_log_imports_nothing_heavy(tmp_path):
    """The hook's work: variables and a Claude Code log, stamped into a message file."""
    message, log = tmp_path / "MSG", tmp_path / "session.jsonl"
    message.write_text("fix: y\n")
    log.write_text(
        '{"type":"assistant","sessionId":"s","version":"2.1.1","requestId":"r1",'
        '"timestamp":"2026-01-01T00:00:00Z","message":{"model":"claude-opus-4-6","id":"m1",'
        '"usage":{"input_tokens":5,"output_tokens":7}}}\n'
    )
    env = {"PATH": "/usr/bin:/bin", "YIELD_AUDITOR_TASK": "T-1"}
    modules = imported(tmp_path, "stamp", "--from-log", str(log), str(message), env=env)
    assert "Agent-Usage: model=claude-opus-4-6; in=5; out=7; requests=1" in message.read_text()
    assert modules & HEAVY == set()


def test_trailers_parse_loads_pricing_but_not_the_app(tmp_path):
    """It prices usage, so genai-prices is its due; the ledger, the App and rich are not."""
    message = b"fix: y\n\nAgent-Usage: model=gpt-5.2; in=1; out=2\n"
    assert imported(tmp_path, "trailers", "parse", stdin=message) & HEAVY <= PRICING


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_command_help_loads_its_module_only(tmp_path, name):
    modules = imported(tmp_path, name, "--help")
    assert LAZY_COMMANDS[name][0].partition(":")[0] in modules
    assert modules & HEAVY <= PRICING


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_summary_is_the_commands_own(name):
    """The listing's static summary is the first paragraph of the command's docstring."""
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert LAZY_COMMANDS[name][1] == command.get_short_help_str(limit=10_000)


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_listing_matches_an_eagerly_loaded_group(width):
    """``--help`` lists the commands exactly as a group holding every command would."""
    ctx = click.Context(main, info_name="yield-auditor")
    commands = [main.get_command(ctx, name) for name in main.list_commands(ctx)]
    eager = click.Group("yield-auditor", commands=commands)
    lazy = LazyGroup(
        "yield-auditor",
        commands=[c for c in commands if c.name not in LAZY_COMMANDS],
        lazy_commands=LAZY_COMMANDS,
    )

    def listing(group: click.Group) -> str:
        formatter = click.HelpFormatter(width=width)
        group.format_commands(click.Context(group), formatter)
        return formatter.getvalue()

    assert listing(lazy) == listing(eager)
    assert "stamp" not in lazy.commands  # listed from the table, not imported


def test_unknown_command_is_a_usage_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bot", "stamps"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "No such command 'stamps'" in done.stderr


@pytest.fixture
def tiny_repo(tmp_path, run_git) -> Path:
    """One commit an agent co-authored, without usage trailers."""
    repo = tmp_path / "repo"
    run_git("init", "-q", "-b", "main", str(repo))
    message = b"fix: y\n\nCo-authored-by: Claude <noreply@anthropic.com>\n"
    run_git("commit", "-q", "--allow-empty", "-F", "-", cwd=repo, input=message)
    return repo


def test_audit_as_json_loads_neither_rich_nor_templates_nor_the_app(tmp_path, tiny_repo):
    """Scripts and CI read ``--format json`` from a pipe: no table, no spinner, no ledger; and
    with no usage to price, neither the price tables nor the HTTP client genai-prices imports
    (ssl still loads: pydantic-settings imports asyncio)."""
    modules = imported(tmp_path, "audit", "--repo", str(tiny_repo), "--format", "json")
    assert "bot.local.audit" in modules
    assert modules & (HEAVY | {"requests", "httpx2"}) <= {"pydantic", "pydantic_settings"}


def test_audit_spinner_follows_riches_terminal_rules(tmp_path, tiny_repo):
    """FORCE_COLOR makes Rich treat a pipe as a terminal; the spinner still honours it."""
    env = {**os.environ, "FORCE_COLOR": "1"}
    modules = imported(tmp_path, "audit", "--repo", str(tiny_repo), "--format", "json", env=env)
    assert "rich.progress" in modules and "jinja2" not in modules


# --------------------------------------------------------------------------- every module

# Alembic's script for a migration run: it reads alembic.context, which only a run sets up.
ALEMBIC_ENV = "bot.ledger.migrations.env"


def folders(top: Path, package: str) -> set[str]:
    """The dotted names of ``top`` and every folder under it, caches aside, as ``package``."""
    found = {package}
    for folder in top.rglob("*"):
        if folder.is_dir() and "__pycache__" not in folder.parts:
            found.add(".".join((package, *folder.relative_to(top).parts)))
    return found


def modules() -> list[str]:
    """Every module of bot and webhooks, by its dotted name."""
    names = []
    for package in ("bot", "webhooks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_pyproject_lists_every_folder_of_the_packages_and_templates():
    """The packages are listed, not found (templates/ becomes bot.templates): a new folder left
    out of the list would be missing from the wheel and the image, and no test run from the
    checkout would notice."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"bot.templates": "templates"}
    on_disk = folders(ROOT / "bot", "bot") | folders(ROOT / "webhooks", "webhooks")
    on_disk |= folders(ROOT / "templates", "bot.templates")
    assert sorted(setuptools["packages"]) == sorted(on_disk)


def test_a_fresh_interpreter_imports_every_module():
    """In an interpreter nothing was imported into before, unlike the test run's: a module whose
    import breaks (a cycle, a library not installed, a file the package lacks) fails here."""
    names = [name for name in modules() if name != ALEMBIC_ENV and not name.endswith("__main__")]
    assert len(names) > 100  # the walk found the modules
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"
    done = subprocess.run(
        [sys.executable, "-c", script, *names], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
