"""Engines for SQLite and PostgreSQL, and migrations to the newest schema (Alembic, in code)."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Connection, Engine, make_url

import bot.ledger.migrations

MIGRATIONS_DIR = Path(bot.ledger.migrations.__file__).resolve().parent
SQLITE_BUSY_TIMEOUT_MS = 30_000
PSYCOPG_DRIVER = "postgresql+psycopg"
_MIGRATION_LOCK = "yield-auditor:migrate:"


def database_url(url: str | URL) -> URL:
    """The URL as parsed; ``postgres://`` and ``postgresql://`` use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=PSYCOPG_DRIVER)
    return parsed


def display_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return database_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show nothing of it rather than a secret
        return "<unparsable database URL>"


def redact(text: str, url: str | URL) -> str:
    """``text`` with the URL's password (plain or percent-encoded) replaced by ``***``."""
    try:
        password = database_url(url).password
    except Exception:
        password = None
    if not password:
        return text
    for secret in {str(password), quote(str(password), safe=""), quote_plus(str(password))}:
        text = text.replace(secret, "***")
    return text


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for the ledger.

    SQLite: WAL journal (readers never block the writer), foreign keys enforced, a 30 s busy
    timeout and ``synchronous=NORMAL`` (safe in WAL mode; a power cut may lose the last
    transactions, never corrupt the file). PostgreSQL: psycopg 3, connections checked before use.
    Extra keyword arguments go to ``sqlalchemy.create_engine``.
    """
    parsed = database_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **kwargs.pop("connect_args", {})}
        engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(parsed, **kwargs)
    raise ValueError(f"the ledger runs on SQLite or PostgreSQL, not {backend}")


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """Serialise this process's writers on a SQLite file; nothing on PostgreSQL.

    SQLite has one writer at a time, and a writer that finds the file locked polls with sleeps
    of up to 100 ms: under load the worker, back at once, keeps winning and the ingress waits
    seconds. A lock in the process wakes the next writer as soon as the last one commits.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _GUARD:
        return _WRITE_LOCKS.setdefault(engine, threading.Lock())


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enter_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enter_wal(cursor: Any) -> None:
    """Switch the file to WAL once; the mode persists in the file.

    The switch needs an exclusive lock and SQLite does not call its busy handler for it, so a
    new file opened by several connections at once answers "database is locked" at once: retry
    for as long as the busy timeout allows.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")  # an in-memory file stays "memory"
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def alembic_config(url: str | URL | None = None) -> Config:
    """Alembic's configuration, built in code: no ``alembic.ini`` is needed.

    With ``url``, Alembic's own commands (``revision --autogenerate``, ``history``...) can run
    against that database; ``migrate`` instead hands its connection over.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = database_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


@functools.cache  # the migration scripts cannot change while the process runs
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class LedgerUnavailable(Exception):
    """The database holds no ledger at this release's schema; the message says what to do."""


def open_ledger(url: str | URL) -> Engine:
    """An engine on an existing ledger at this release's schema, for the commands that read
    or change what is there (``inbox``, ``digest``): a mistyped URL gets an error, never a
    new empty database, and nothing waits behind a running worker to migrate."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).is_file():
            raise LedgerUnavailable(f"no ledger at {display_url(parsed)}: no such file")
    engine = make_engine(parsed)
    try:
        require_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def require_head(engine: Engine) -> None:
    """Raise ``LedgerUnavailable`` unless the database is at this release's schema."""
    shown = display_url(engine.url)
    try:
        at = current_revision(engine)
    except sa.exc.OperationalError as exc:
        detail = redact(str(exc.orig).strip(), engine.url)
        raise LedgerUnavailable(f"cannot open {shown}: {detail}") from None
    head = head_revision()
    if at != head:
        state = "holds no ledger (check the URL)" if at is None else f"is at revision {at}"
        raise LedgerUnavailable(
            f"the database {shown} {state}, this release needs {head}: run `yield-auditor migrate`"
        )


def migrate(target: Engine | str | URL, revision: str = "head") -> str | None:
    """Upgrade the database to ``revision`` (the newest by default); returns the revision reached.

    Safe to run at every start and from several processes at once: on PostgreSQL an advisory
    lock serialises migrators (per schema), on SQLite ``BEGIN IMMEDIATE`` does. The whole upgrade
    is one transaction on both, so a failed migration leaves the database as it was.
    """
    engine = make_engine(target) if isinstance(target, str | URL) else target
    try:
        with _migration_transaction(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if engine is not target:
            engine.dispose()


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # pysqlite never opens a transaction before DDL by itself: take the write lock
            # ourselves so that the DDL and the version stamp commit (or fail) together.
            raw = connection.connection.driver_connection
            saved = raw.isolation_level
            raw.isolation_level = None
            try:
                with connection.begin():
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    yield connection
            finally:
                if raw.in_transaction:
                    raw.rollback()
                raw.isolation_level = saved
            return
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:key || current_schema()))"),
                    {"key": _MIGRATION_LOCK},
                )
            yield connection
