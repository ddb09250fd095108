"""Shared fixtures: an isolated git (no user or system configuration can change its rules),
and empty databases (SQLite, and PostgreSQL when YIELD_AUDITOR_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

GIT = shutil.which("git")


@pytest.fixture(scope="session")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for running the real git with no system, global or user configuration."""
    if GIT is None:
        pytest.skip("git is not installed: the differential tests need the real git")
    home = tmp_path_factory.mktemp("git-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.com",
        GIT_COMMITTER_NAME="Test Committer",
        GIT_COMMITTER_EMAIL="committer@example.com",
        LC_ALL="C",
    )
    return env


@pytest.fixture
def run_git(git_env: dict[str, str]):
    """Run git with the isolated environment; returns stdout as bytes."""

    def run(
        *args: str, cwd: Path | None = None, input: bytes | None = None, env: dict | None = None
    ) -> bytes:
        return subprocess.run(
            [GIT, *args], cwd=cwd, input=input, env={**git_env, **(env or {})},
            capture_output=True, check=True,
        ).stdout  # fmt: skip

    return run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "off_github_contract(reason): the test sends the fake GitHub what GitHub documents as "
        "invalid, on purpose; its exchanges are not held to the contract",
    )


@pytest.fixture(autouse=True)
def github_contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Holds every fake GitHub the test makes to GitHub's REST descriptions (github.com and
    GHES 3.19, tests/github_contract.py): each request the App sent and each answer it got."""
    from bot.demo.fake_github.server import FakeGitHub
    from tests.github_contract import violations

    fakes: list[FakeGitHub] = []
    made = FakeGitHub.__init__

    def record(self: FakeGitHub, *args, **kwargs) -> None:
        made(self, *args, **kwargs)
        fakes.append(self)

    monkeypatch.setattr(FakeGitHub, "__init__", record)
    yield fakes
    if request.node.get_closest_marker("off_github_contract") is None:
        found = [problem for fake in fakes for problem in violations(fake.calls())]
        if found:
            pytest.fail("GitHub's contract is broken:\n" + "\n".join(found[:20]), pytrace=False)


@pytest.fixture(scope="session")
def app_key() -> str:
    """The private key of the fake GitHub Apps of the tests: one RSA key is slow to make."""
    from bot.demo.fake_github.server import generate_private_key

    return generate_private_key()


# --------------------------------------------------------------------------- databases

POSTGRES_URL_ENV = "YIELD_AUDITOR_TEST_POSTGRES_URL"
_made: list[tuple[sa.URL, str]] = []  # (server, database) made here, dropped at the session end


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards.

    PostgreSQL runs when YIELD_AUDITOR_TEST_POSTGRES_URL is set (CI sets it, and there it must);
    a server that is set but unreachable fails the test rather than skipping it.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    yield from _postgres_schema()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """For tests of what only PostgreSQL does (several processes, the production layout)."""
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    """A schema of its own for each test (``search_path``), in this process's database."""
    url = _postgres_database()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    _execute(url, f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        _execute(url, "SET lock_timeout = '30s'", f'DROP SCHEMA "{schema}" CASCADE')


@functools.cache
def _postgres_database() -> sa.URL:
    """A database of this process's own on the server of YIELD_AUDITOR_TEST_POSTGRES_URL: xdist
    workers, and test runs sharing one server, never see each other's tables or locks."""
    server = os.environ.get(POSTGRES_URL_ENV)
    if not server:
        reason = (
            f"PostgreSQL tests need {POSTGRES_URL_ENV}, "
            "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}", pytrace=False)
        pytest.skip(reason)
    url = sa.make_url(server)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    made = url.set(database=f"{url.database}_{worker}_{uuid.uuid4().hex[:8]}")
    _execute(url, f'CREATE DATABASE "{made.database}"')
    _made.append((url, made.database))
    return made


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this process's database (a worker's, or the serial run's)."""
    while _made:
        server, database = _made.pop()
        _execute(server, f'DROP DATABASE "{database}" WITH (FORCE)')


def _execute(url: sa.URL, *statements: str) -> None:
    """Run ``statements`` in autocommit; a server that refuses fails the test, password hidden."""
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    error = None
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    except sa.exc.OperationalError as exc:
        error = str(exc.orig).replace(url.password or "\0", "***")
    finally:
        engine.dispose()
    if error is not None:  # fail outside the handler: no traceback, so no password in the log
        shown = url.render_as_string(hide_password=True)
        pytest.fail(f"{POSTGRES_URL_ENV} is set, but {shown} failed: {error}", pytrace=False)


@pytest.fixture
def ledger_engine(request: pytest.FixtureRequest, database_url: str):
    """An engine on ``database_url`` with the ledger migrated to the newest revision."""
    from bot.ledger.db import make_engine, migrate

    url = sa.make_url(database_url)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite:
        request.getfixturevalue("sqlite_ledger")(Path(url.database))
    engine = make_engine(database_url)
    if not sqlite:
        migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_ledger(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], str]:
    """Puts a SQLite ledger at the newest revision at a path and returns its URL.

    A copy of a file migrated once per process: the same tables, without the 0.3 s that the
    migrations cost each test (some 300 tests, and hypothesis examples, want one).
    """
    from bot.ledger.db import migrate

    migrated = tmp_path_factory.mktemp("migrated") / "ledger.db"
    migrate(f"sqlite:///{migrated}")

    def place(path: Path) -> str:
        shutil.copyfile(migrated, path)
        return f"sqlite:///{path}"

    return place
