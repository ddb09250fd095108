"""Group commit: rows that concurrent callers insert into one table share a transaction.

Each caller still returns only once the transaction that holds its row has committed (the
ingress acknowledges only what is stored), but requests that arrive together cost one
round trip, one commit and one flush to disk instead of one each. That per-request commit is
what bounds the webhook ingress under load (bench/ingress_throughput.py).

There is no background thread: the first caller to find no flush in progress becomes the
leader, writes everything queued so far and wakes the others. So nothing has to be started,
stopped or restarted after gunicorn forks, and an idle process holds no thread.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.ledger.db import write_lock

# An INSERT ... ON CONFLICT DO NOTHING RETURNING <key> for the engine's dialect.
Statement = Callable[[str], Any]


class _Ticket:
    """One caller's row, and what became of it."""

    __slots__ = ("row", "done", "inserted", "error")

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row
        self.done = False
        self.inserted = False
        self.error: BaseException | None = None


class GroupCommit:
    """Inserts rows of concurrent callers in shared transactions; see the module's docstring."""

    def __init__(self, statement: Statement, key: str, max_batch: int = 64):
        self._statement = statement
        self._key = key
        self._max_batch = max_batch
        self._condition = threading.Condition(threading.Lock())
        self._queue: deque[_Ticket] = deque()
        self._flushing = False

    def insert(self, engine: Engine, row: Mapping[str, Any]) -> bool:
        """Commit ``row``; False if a row with its key existed already (or came first in the same
        transaction). Database errors propagate to the callers whose rows they concern."""
        ticket = _Ticket(row)
        with self._condition:
            self._queue.append(ticket)
            while not ticket.done:
                if self._flushing:
                    self._condition.wait()
                else:
                    self._lead(engine)
        if ticket.error is not None:
            raise ticket.error
        return ticket.inserted

    def _lead(self, engine: Engine) -> None:
        """Write one batch with the lock released; called and returning with it held."""
        self._flushing = True
        size = min(self._max_batch, len(self._queue))
        batch = [self._queue.popleft() for _ in range(size)]
        self._condition.release()
        try:
            self._settle(engine, batch)
        finally:
            self._condition.acquire()
            self._flushing = False
            self._condition.notify_all()

    def _settle(self, engine: Engine, batch: list[_Ticket]) -> None:
        """Write ``batch`` and record each ticket's outcome; never leaves a ticket undone."""
        try:
            inserted = self._write(engine, [ticket.row for ticket in batch])
        except Exception as exc:
            if len(batch) > 1 and not _unavailable(exc):
                for ticket in batch:  # one bad row must not refuse the rows beside it
                    self._settle(engine, [ticket])
                return
            _finish(batch, error=exc)
            return
        except BaseException as exc:  # interrupted: the others must not wait for ever
            _finish(batch, error=exc)
            raise
        first: set[Any] = set()
        for ticket in batch:
            key = ticket.row[self._key]
            ticket.inserted = key in inserted and key not in first
            ticket.done = True
            first.add(key)

    def _write(self, engine: Engine, rows: list[Mapping[str, Any]]) -> set[Any]:
        with write_lock(engine), engine.begin() as connection:
            statement = self._statement(connection.dialect.name)
            return set(connection.execute(statement, rows).scalars())


def _finish(batch: list[_Ticket], error: BaseException) -> None:
    for ticket in batch:
        ticket.error, ticket.done = error, True


def _unavailable(exc: Exception) -> bool:
    """The database, not a row, failed: writing the rows one by one would fail the same way.

    A driver that names the error's SQLSTATE (PostgreSQL's) is believed: only a lost connection
    (class 08), a shutdown or crash (57P), exhausted resources (53), a system error (58), an
    internal error (XX) or a read-only database (25006) concern every row. PostgreSQL's limits
    on one row (54000: an index row too large), which psycopg also raises as OperationalError,
    do not. Without a SQLSTATE (SQLite), any operational or interface error is the database's.
    """
    if getattr(exc, "connection_invalidated", False) or isinstance(exc, OSError):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith(_UNAVAILABLE_CLASSES) or sqlstate == _READ_ONLY
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))


_UNAVAILABLE_CLASSES = ("08", "53", "57P", "58", "XX")
_READ_ONLY = "25006"


# Per engine, weakly: an engine that is dropped takes its queues with it.
_registry: weakref.WeakKeyDictionary[Engine, dict[str, GroupCommit]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def insert(
    engine: Engine, name: str, statement: Statement, key: str, row: Mapping[str, Any]
) -> bool:
    """Insert ``row`` through this process's group commit ``name`` on ``engine``
    (see ``GroupCommit.insert``)."""
    with _registry_lock:
        groups = _registry.setdefault(engine, {})
        group = groups.get(name)
        if group is None:
            group = groups[name] = GroupCommit(statement, key)
    return group.insert(engine, row)


def _forget_after_fork() -> None:
    """A forked child starts with fresh locks and queues, whatever the parent was doing."""
    global _registry, _registry_lock
    _registry = weakref.WeakKeyDictionary()
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
