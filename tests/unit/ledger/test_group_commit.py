"""Group commit (bot/ledger/group_commit.py): concurrent inserts share transactions, and every
caller learns the fate of its own row, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.ledger import group_commit, inbox
from bot.ledger.group_commit import GroupCommit

T0 = datetime(2026, 11, 26, tzinfo=UTC)


def row(guid: str, event: str = "push") -> dict:
    return {
        "guid": guid,
        "event": event,
        "body": b"{}",
        "received_at": T0,
        "status": inbox.RECEIVED,
        "attempts": 0,
        "available_at": T0,
        "finished_at": None,
        "skipped": [],
        "action": None,
        "installation_id": None,
        "repository": None,
        "ordering_key": None,
    }


def stored(engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(inbox.deliveries.c.guid)).scalars())


def commits_of(engine) -> list[int]:
    """Counts transactions that commit: appends 1 per commit."""
    seen: list[int] = []
    sa.event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def in_threads(calls: list[Callable[[], object]]) -> list[object]:
    """Run ``calls`` at once, one thread each; each result, or the exception it raised."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a caller never returned"
    return results


def held_first_flush(engine, group: GroupCommit, waiting: int) -> threading.Event:
    """Make the first transaction wait until ``waiting`` more callers are queued behind it, so
    the test knows which rows the second transaction holds. Returns the event that releases it."""
    release = threading.Event()
    first = threading.Event()

    def hold(*_args) -> None:
        if not first.is_set():
            first.set()
            release.wait(30)

    sa.event.listen(engine, "before_cursor_execute", hold)

    def watch() -> None:
        deadline = time.monotonic() + 30
        while len(group._queue) < waiting and time.monotonic() < deadline:
            time.sleep(0.005)
        release.set()

    threading.Thread(target=watch, daemon=True).start()
    return release


def statement(dialect: str):
    return inbox._store_statement(dialect)


def test_concurrent_inserts_share_transactions_and_all_land(ledger_engine):
    group = GroupCommit(statement, "guid")
    commits = commits_of(ledger_engine)
    held_first_flush(ledger_engine, group, waiting=15)
    guids = [f"g-{i:02}" for i in range(16)]
    results = in_threads([lambda g=g: group.insert(ledger_engine, row(g)) for g in guids])
    assert results == [True] * 16
    assert stored(ledger_engine) == guids
    # One caller's transaction went first; the 15 queued behind it shared the next one.
    assert len(commits) == 2


def test_duplicates_in_one_transaction_are_inserted_once(ledger_engine):
    group = GroupCommit(statement, "guid")
    commits = commits_of(ledger_engine)
    group.insert(ledger_engine, row("old"))
    held_first_flush(ledger_engine, group, waiting=5)
    guids = ["lead", "dup", "dup", "dup", "old", "new"]
    results = in_threads([lambda g=g: group.insert(ledger_engine, row(g)) for g in guids])
    outcome = dict.fromkeys(guids, 0)
    for guid, inserted in zip(guids, results, strict=True):
        assert isinstance(inserted, bool)
        outcome[guid] += inserted
    assert outcome == {"lead": 1, "dup": 1, "old": 0, "new": 1}
    assert stored(ledger_engine) == ["dup", "lead", "new", "old"]
    assert len(commits) == 3


def test_a_row_the_database_refuses_fails_alone(ledger_engine):
    group = GroupCommit(statement, "guid")
    held_first_flush(ledger_engine, group, waiting=4)
    bad = row("bad") | {"event": None}  # NOT NULL: the whole batch's INSERT fails
    rows = [row("lead"), row("a"), bad, row("b"), row("c")]
    results = in_threads([lambda r=r: group.insert(ledger_engine, r) for r in rows])
    assert results[:2] == [True, True] and results[3:] == [True, True]
    assert isinstance(results[2], sa.exc.IntegrityError)
    assert stored(ledger_engine) == ["a", "b", "c", "lead"]


def incompressible(length: int) -> str:
    """Text PostgreSQL cannot compress below its 2,704-byte limit on an index row."""
    return "".join(random.Random(length).choices(string.ascii_letters + string.digits, k=length))


def test_a_row_over_an_index_limit_fails_alone(ledger_engine):
    """PostgreSQL refuses a 3,000-character ordering key in its index (SQLSTATE 54000, which
    psycopg raises as OperationalError): the database is up, so the rows beside it are stored.
    SQLite has no such limit and stores all five."""
    group = GroupCommit(statement, "guid")
    held_first_flush(ledger_engine, group, waiting=4)
    huge = row("huge") | {"ordering_key": "o/r@refs/heads/" + incompressible(3000)}
    rows = [row("lead"), row("a"), huge, row("b"), row("c")]
    results = in_threads([lambda r=r: group.insert(ledger_engine, r) for r in rows])
    assert results[:2] == [True, True] and results[3:] == [True, True]
    if ledger_engine.dialect.name == "postgresql":
        assert isinstance(results[2], sa.exc.OperationalError)
        assert results[2].orig.sqlstate == "54000"
        assert stored(ledger_engine) == ["a", "b", "c", "lead"]
    else:
        assert results[2] is True and len(stored(ledger_engine)) == 5


def read_only(url: str) -> str:
    """``url`` with every transaction read-only, as on a PostgreSQL replica."""
    parsed = sa.make_url(url)
    options = f"{parsed.query.get('options', '')} -cdefault_transaction_read_only=on".strip()
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def test_a_read_only_database_fails_every_caller_without_retrying_rows(postgres_url):
    """Read-only (25006, e.g. a replica after a failover) is the database's state, not a row's."""
    from bot.ledger.db import make_engine, migrate

    migrate(postgres_url)
    engine = make_engine(read_only(postgres_url))
    group = GroupCommit(statement, "guid")
    writes = []
    sa.event.listen(engine, "before_cursor_execute", lambda *_: writes.append(1))
    held_first_flush(engine, group, waiting=7)
    try:
        results = in_threads([lambda g=g: group.insert(engine, row(g)) for g in "abcdefgh"])
    finally:
        engine.dispose()
    assert [type(result).__name__ for result in results] == ["InternalError"] * 8
    assert {result.orig.sqlstate for result in results} == {"25006"}
    assert len(writes) == 2  # the first caller's INSERT, then one for the 7 behind it


def test_an_unreachable_database_fails_every_caller_without_retrying_rows(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    group = GroupCommit(statement, "guid")
    attempts = []

    def connecting(*_args) -> None:  # the first attempt waits for the 7 others to queue
        attempts.append(1)
        deadline = time.monotonic() + 30
        while len(attempts) == 1 and len(group._queue) < 7 and time.monotonic() < deadline:
            time.sleep(0.005)

    sa.event.listen(engine, "do_connect", connecting)
    results = in_threads([lambda g=g: group.insert(engine, row(g)) for g in "abcdefgh"])
    assert all(isinstance(result, sa.exc.OperationalError) for result in results)
    # One attempt for the first caller, one for the 7 queued behind it: a batch the database
    # refused is not retried row by row.
    assert len(attempts) == 2


def test_interrupted_leader_releases_the_callers_behind_it(ledger_engine, monkeypatch):
    group = GroupCommit(statement, "guid")
    calls = []
    real_write = GroupCommit._write

    def write(self, engine, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_write(self, engine, rows)

    monkeypatch.setattr(GroupCommit, "_write", write)
    with pytest.raises(KeyboardInterrupt):
        group.insert(ledger_engine, row("first"))
    assert group.insert(ledger_engine, row("second")) is True
    assert stored(ledger_engine) == ["second"]


def test_store_goes_through_the_engines_group(ledger_engine):
    body = b'{"action": "opened"}'
    assert inbox.store(ledger_engine, "s-1", "pull_request", body, {"action": "opened"})
    assert not inbox.store(ledger_engine, "s-1", "pull_request", body, {"action": "opened"})
    groups = group_commit._registry[ledger_engine]
    assert list(groups) == ["deliveries"] and not groups["deliveries"]._queue


def test_postgresql_compresses_delivery_bodies_with_lz4(postgres_url):
    from bot.ledger.db import make_engine, migrate

    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        query = (
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'deliveries'::regclass AND attname = 'body'"
        )
        with engine.connect() as connection:
            assert connection.exec_driver_sql(query).scalar() == "l"
    finally:
        engine.dispose()


def test_a_forked_child_starts_with_no_queues(tmp_path):
    """gunicorn forks after building the app: a child must not inherit the parent's queues or
    a lock some parent thread held at the time of the fork."""
    import multiprocessing

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    inbox.deliveries.metadata.create_all(engine, tables=[inbox.deliveries])
    assert inbox.store(engine, "parent", "push", b"{}", {})
    assert group_commit._registry
    with group_commit._registry_lock:  # held by the parent across the fork
        child = multiprocessing.get_context("fork").Process(target=_child_stores, args=(engine,))
        child.start()
    child.join(60)
    assert child.exitcode == 0
    assert stored(engine) == ["child", "parent"]


def _child_stores(engine) -> None:
    engine.dispose(close=False)
    fresh = not group_commit._registry
    inserted = inbox.store(engine, "child", "push", b"{}", {})
    raise SystemExit(0 if fresh and inserted else 1)
