"""The webhook inbox: deliveries stored before they are acknowledged, then claimed by workers.

GitHub never redelivers on its own, so a delivery that was acknowledged must never be lost: the
ingress commits it here first (``store``), and workers take it from here (``claim``) under a
lease. A worker that dies loses its lease and another worker claims the delivery again once it
expires. Deliveries sharing an ordering key (one pull request, one branch, one installation) are
claimed one at a time, oldest first. One ``UPDATE ... RETURNING`` claims a delivery on both
databases; on PostgreSQL its sub-select uses ``FOR UPDATE SKIP LOCKED`` so that any number of
workers share the queue. See docs/deploy.md.

Retention (``purge``): a finished delivery's body is emptied after a while, its row deleted
later; failed and unfinished deliveries keep both, and the ledger they produced is kept.
"""

from __future__ import annotations

import functools
import json
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.ledger import group_commit
from bot.ledger.db import write_lock
from bot.ledger.schema import DeliveryRow
from bot.ledger.store import dialect_insert
from bot.protocol.keys import bounded

RECEIVED = "received"
PROCESSING = "processing"
DONE = "done"
IGNORED = "ignored"
FAILED = "failed"
STATUSES = (RECEIVED, PROCESSING, DONE, IGNORED, FAILED)
PENDING = (RECEIVED, PROCESSING)  # unfinished

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=30)
ERROR_LIMIT = 2000  # characters of an error kept on the delivery
# What a purged body is set to: the ingress stores only JSON objects, so no stored body is empty.
PURGED_BODY = b""

deliveries: sa.Table = DeliveryRow.__table__  # type: ignore[attr-defined]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    ordering_key: str | None
    body: bytes
    received_at: datetime
    status: str = RECEIVED
    attempts: int = 0
    available_at: datetime | None = None
    lease_owner: str | None = None
    finished_at: datetime | None = None
    error: str | None = None
    skipped: tuple[str, ...] = ()

    @property
    def body_purged(self) -> bool:
        return self.body == PURGED_BODY

    def payload(self) -> dict[str, Any]:
        if self.body_purged:
            raise BodyPurged(self.guid)
        document = json.loads(self.body)
        if not isinstance(document, dict):
            raise ValueError("the payload is not a JSON object")
        return document

    def as_dict(self) -> dict[str, Any]:
        """The delivery as ``inbox list --json`` shows it (the body left out)."""
        return {
            "id": self.guid,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository": self.repository,
            "status": self.status,
            "attempts": self.attempts,
            "received_at": self.received_at.isoformat(),
            "available_at": self.available_at.isoformat() if self.available_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            "skipped": list(self.skipped),
            "body_purged": self.body_purged,
        }


class BodyPurged(ValueError):
    """The delivery's body was emptied by ``purge``: it cannot be processed again."""

    def __init__(self, guid: str) -> None:
        super().__init__(
            f"delivery {guid}: its body was purged (YIELD_AUDITOR_BODY_RETENTION_DAYS), so it "
            "cannot be processed again"
        )


# --------------------------------------------------------------------------- pure parts


def describe(event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the inbox records about a payload besides its bytes; never raises on odd shapes."""
    action = payload.get("action")
    installation = payload.get("installation")
    repository = payload.get("repository")
    repo = _str(repository.get("full_name")) if isinstance(repository, Mapping) else None
    installation_id = installation.get("id") if isinstance(installation, Mapping) else None
    return {
        "action": action if isinstance(action, str) else None,
        "installation_id": installation_id if _is_int(installation_id) else None,
        "repository": repo,
        "ordering_key": ordering_key(event, payload, repo, installation_id),
    }


def ordering_key(
    event: str, payload: Mapping[str, Any], repo: str | None, installation_id: Any
) -> str | None:
    """Deliveries with the same key are processed one at a time, in the order received."""
    if event in ("installation", "installation_repositories") and _is_int(installation_id):
        return f"installation:{installation_id}"
    if repo is None:
        return None
    number = _pr_number(event, payload)
    if number is not None:
        return bounded(f"{repo}#{number}", ORDERING_KEY_LIMIT)
    if event == "push" and isinstance(payload.get("ref"), str):
        return bounded(f"{repo}@{payload['ref']}", ORDERING_KEY_LIMIT)
    return None


# Characters of an ordering key: PostgreSQL refuses an index row over 2,704 bytes (the key, 4
# bytes a character at most, shares one with the received time and the GUID), and git refs and
# repository names from a payload have no such bound.
ORDERING_KEY_LIMIT = 512


_RUNS = ("check_run", "check_suite", "workflow_run")


def _pr_number(event: str, payload: Mapping[str, Any]) -> int | None:
    if event.startswith("pull_request"):
        return _number(payload.get("pull_request"))
    if event == "issue_comment":
        issue = payload.get("issue")
        if isinstance(issue, Mapping) and issue.get("pull_request") is not None:
            return _number(issue)
        return None
    container = payload.get(event) if event in _RUNS else None
    if isinstance(container, Mapping):
        prs = container.get("pull_requests")
        if isinstance(prs, list) and prs:
            return _number(prs[0])
    return None


def _number(value: Any) -> int | None:
    number = value.get("number") if isinstance(value, Mapping) else None
    return number if _is_int(number) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: a random delay up to base * 2**(attempts-1), capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return ceiling * (rng or random).uniform(0.5, 1.0)


# --------------------------------------------------------------------------- storage


def store(
    engine: Engine,
    guid: str,
    event: str,
    body: bytes,
    payload: Mapping[str, Any],
    *,
    ignored: bool = False,
    now: datetime | None = None,
) -> bool:
    """Commit a delivery; False if its GUID was stored already (a redelivery or a duplicate).

    Deliveries stored at the same time by other threads share the transaction (group commit),
    and this returns once it has committed. Database errors propagate: the caller must not
    acknowledge what was not stored.
    """
    now = now or _now()
    row = {
        "guid": guid,
        "event": event,
        "body": body,
        "received_at": now,
        "status": IGNORED if ignored else RECEIVED,
        "attempts": 0,
        "available_at": now,
        "finished_at": now if ignored else None,
        "skipped": [],
        **describe(event, payload),
    }
    return group_commit.insert(engine, "deliveries", _store_statement, "guid", row)


def claim(
    engine: Engine, worker: str, lease: timedelta, now: datetime | None = None
) -> Delivery | None:
    """Take the oldest claimable delivery for ``worker`` until ``now + lease``; None if none.

    Claimable: received and due, or processing under an expired lease; and no older unfinished
    delivery shares its ordering key.
    """
    now = now or _now()
    d, c, other = deliveries, deliveries.alias("candidate"), deliveries.alias("other")
    same_key = sa.and_(
        other.c.ordering_key == c.c.ordering_key,
        other.c.status.in_(_PENDING_LITERAL),
        other.c.guid != c.c.guid,
    )
    older = sa.exists().where(
        same_key,
        other.c.received_at <= c.c.received_at,
        sa.or_(other.c.received_at < c.c.received_at, other.c.guid < c.c.guid),
    )
    busy = sa.exists().where(same_key, other.c.status == PROCESSING, other.c.lease_expires_at > now)
    pick = (
        sa.select(c.c.guid)
        .where(
            c.c.status.in_(_PENDING_LITERAL),  # lets the planner walk the partial index in order
            _due(c, now),
            sa.or_(c.c.ordering_key.is_(None), sa.and_(~older, ~busy)),
        )
        .order_by(c.c.received_at, c.c.guid)
        .limit(1)
    )
    with write_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            d.update()
            .where(d.c.guid == pick.scalar_subquery(), _due(d, now))
            .values(
                status=PROCESSING,
                lease_owner=worker,
                lease_expires_at=now + lease,
                attempts=d.c.attempts + 1,
            )
            .returning(*d.c)
        )
        row = connection.execute(stmt).first()
    return _delivery(row) if row is not None else None


# The statuses written into the SQL rather than bound: SQLite uses a partial index only when the
# query repeats its WHERE term (``PENDING_SQL``) literally; bound parameters hide it, and each
# claim then scanned every unfinished delivery once per candidate (300 ms at 1,300 queued).
_PENDING_LITERAL = sa.bindparam("pending", list(PENDING), expanding=True, literal_execute=True)


def _due(table: Any, now: datetime) -> Any:
    return sa.or_(
        sa.and_(table.c.status == RECEIVED, table.c.available_at <= now),
        sa.and_(table.c.status == PROCESSING, table.c.lease_expires_at <= now),
    )


def renew(engine: Engine, guid: str, worker: str, lease: timedelta) -> bool:
    """Extend ``worker``'s lease on a delivery it is still processing; False if it lost it."""
    with write_lock(engine), engine.begin() as connection:
        return extend(connection, guid, worker, lease)


def extend(connection: Connection, guid: str, worker: str, lease: timedelta) -> bool:
    """``renew`` inside the caller's transaction: the worker's writes commit with it only while
    it holds the lease, and on PostgreSQL the row lock keeps a claim waiting until they do."""
    return _owned(connection, guid, worker, lease_expires_at=_now() + lease) == 1


def finish(
    connection: Connection,
    guid: str,
    worker: str,
    status: str = DONE,
    skipped: Iterable[str] = (),
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Mark the delivery finished inside the caller's transaction, if ``worker`` still holds it.

    The worker calls this last, once the delivery's ledger writes have committed (each
    checked against the lease with ``extend``); False means the lease was lost and whoever
    holds it now finishes the delivery. ``reason`` says why a delivery was ignored, or which
    records were refused; it is kept where errors are.
    """
    if status not in (DONE, IGNORED):
        raise ValueError(f"a delivery finishes as done or ignored, not {status}")
    return (
        _owned(
            connection,
            guid,
            worker,
            status=status,
            finished_at=now or _now(),
            lease_owner=None,
            lease_expires_at=None,
            error=reason,
            skipped=sorted(set(skipped)),
        )
        == 1
    )


def fail(
    engine: Engine,
    delivery: Delivery,
    worker: str,
    error: str,
    retry_at: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    now: datetime | None = None,
) -> str:
    """Record a failed attempt: back to received for a later retry, or parked as failed.

    ``retry_at`` (e.g. after a rate limit's reset) overrides the backoff and does not count
    against ``max_attempts``. Returns the delivery's new status.
    """
    now = now or _now()
    values: dict[str, Any] = {"error": error[:ERROR_LIMIT], "lease_owner": None}
    values["lease_expires_at"] = None
    if retry_at is not None:
        values.update(status=RECEIVED, available_at=retry_at, attempts=delivery.attempts - 1)
    elif delivery.attempts >= max_attempts:
        values.update(status=FAILED, finished_at=now)
    else:
        values.update(status=RECEIVED, available_at=now + backoff(delivery.attempts))
    with write_lock(engine), engine.begin() as connection:
        _owned(connection, delivery.guid, worker, **values)
    return values["status"]


def _owned(connection: Connection, guid: str, worker: str, **values: Any) -> int:
    d = deliveries
    stmt = (
        d.update()
        .where(d.c.guid == guid, d.c.status == PROCESSING, d.c.lease_owner == worker)
        .values(**values)
    )
    return connection.execute(stmt).rowcount


def requeue(
    engine: Engine,
    guids: Iterable[str] = (),
    *,
    failed: bool = False,
    now: datetime | None = None,
    installation_id: int | None = None,
) -> int:
    """Put deliveries (by GUID, the failed ones, or the failed ones among the GUIDs) back in
    the queue; returns how many.

    Deliveries being processed, and those whose body was purged, are left alone; the attempt
    count starts again. With ``installation_id``, only that installation's deliveries (the
    dashboard's retry action).
    """
    d = deliveries
    wanted = list(guids)
    if not wanted and not failed:
        return 0
    where = [d.c.guid.in_(wanted)] if wanted else []
    where += [d.c.status == FAILED] if failed else []
    stmt = (
        d.update()
        .where(*where, d.c.status != PROCESSING, d.c.body != PURGED_BODY, *_of(installation_id))
        .values(status=RECEIVED, attempts=0, available_at=now or _now(), finished_at=None)
    )
    with write_lock(engine), engine.begin() as connection:
        return connection.execute(stmt).rowcount


@dataclass(frozen=True, slots=True)
class Purged:
    bodies: int  # bodies emptied
    deliveries: int  # rows deleted


def purge(
    engine: Engine, keep_bodies: timedelta, keep_deliveries: timedelta, now: datetime | None = None
) -> Purged:
    """Empty the bodies of done and ignored deliveries finished before ``now - keep_bodies``,
    and delete those finished before ``now - keep_deliveries``.

    Failed deliveries keep both until they are retried (then they finish and age like any
    other), unfinished ones are never touched, and the ledger rows a delivery produced stay.
    A deleted GUID is no longer recognised as a duplicate, so ``keep_deliveries`` must outlast
    GitHub's redelivery window (3 days on github.com, 7 on GitHub Enterprise Server).
    """
    d, now = deliveries, now or _now()
    finished = d.c.status.in_((DONE, IGNORED))
    delete = d.delete().where(finished, d.c.finished_at < now - keep_deliveries)
    empty = (
        d.update()
        .where(finished, d.c.finished_at < now - keep_bodies, d.c.body != PURGED_BODY)
        .values(body=PURGED_BODY)
    )
    with write_lock(engine), engine.begin() as connection:
        deleted = connection.execute(delete).rowcount
        emptied = connection.execute(empty).rowcount
    if deleted or emptied:
        log.info("inbox purge: %d bodies emptied, %d deliveries deleted", emptied, deleted)
    return Purged(emptied, deleted)


def get(engine: Engine, guid: str) -> Delivery | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(deliveries).where(deliveries.c.guid == guid)).first()
    return _delivery(row) if row is not None else None


def list_deliveries(
    engine: Engine,
    status: str | None = None,
    limit: int | None = 100,
    installation_id: int | None = None,
) -> list[Delivery]:
    """Deliveries, newest first; only ``installation_id``'s when it is given."""
    d = deliveries
    stmt = (
        sa.select(d)
        .where(*_of(installation_id))
        .order_by(d.c.received_at.desc(), d.c.guid.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(d.c.status == status)
    with engine.connect() as connection:
        return [_delivery(row) for row in connection.execute(stmt)]


def _of(installation_id: int | None) -> tuple[Any, ...]:
    """The WHERE clause limiting a query to one installation's deliveries (none: all)."""
    return () if installation_id is None else (deliveries.c.installation_id == installation_id,)


@dataclass(frozen=True, slots=True)
class QueueStats:
    counts: dict[str, int]
    oldest_pending: datetime | None  # received time of the oldest unfinished delivery

    @property
    def depth(self) -> int:
        return self.counts.get(RECEIVED, 0) + self.counts.get(PROCESSING, 0)


def queue_stats(engine: Engine, installation_id: int | None = None) -> QueueStats:
    """Deliveries by status and the oldest unfinished one: all, or one installation's."""
    d, mine = deliveries, _of(installation_id)
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                sa.select(d.c.status, sa.func.count()).where(*mine).group_by(d.c.status)
            ).all()
        )
        oldest = connection.execute(
            sa.select(sa.func.min(d.c.received_at)).where(
                d.c.status.in_((RECEIVED, PROCESSING)), *mine
            )
        ).scalar()  # MIN keeps the column's type: UTC-aware on both databases
    return QueueStats({s: int(counts.get(s, 0)) for s in STATUSES}, oldest)


@functools.cache
def _store_statement(dialect: str) -> Any:
    """The INSERT of ``store``, built once per dialect: building it per request costs as much
    as the rest of the acknowledgement."""
    return (
        dialect_insert(dialect, deliveries)
        .on_conflict_do_nothing(index_elements=[deliveries.c.guid])
        .returning(deliveries.c.guid)
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        guid=row.guid,
        event=row.event,
        action=row.action,
        installation_id=row.installation_id,
        repository=row.repository,
        ordering_key=row.ordering_key,
        body=bytes(row.body),
        received_at=row.received_at,
        status=row.status,
        attempts=row.attempts,
        available_at=row.available_at,
        lease_owner=row.lease_owner,
        finished_at=row.finished_at,
        error=row.error,
        skipped=tuple(row.skipped or ()),
    )


def _now() -> datetime:
    return datetime.now(UTC)
