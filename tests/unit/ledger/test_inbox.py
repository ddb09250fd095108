"""The inbox: storing, claiming under leases, per-key order, retries, re-queueing."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.cli.main import main
from bot.config import Settings
from bot.ledger import inbox
from tests.scenario import seed

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


def pr_payload(number: int, repo: str = "octo/app", action: str = "opened") -> dict:
    return {
        "action": action,
        "number": number,
        "pull_request": {"number": number},
        "repository": {"full_name": repo},
        "installation": {"id": 7},
    }


def put(engine, guid: str, payload: dict, at: datetime, event: str = "pull_request") -> bool:
    return inbox.store(engine, guid, event, json.dumps(payload).encode(), payload, now=at)


# --------------------------------------------------------------------------- describe


def test_describe_reads_the_routing_fields():
    assert inbox.describe("pull_request", pr_payload(12)) == {
        "action": "opened",
        "installation_id": 7,
        "repository": "octo/app",
        "ordering_key": "octo/app#12",
    }


@pytest.mark.parametrize(
    ("event", "payload", "key"),
    [
        ("pull_request_review", pr_payload(3), "octo/app#3"),
        (
            "issue_comment",
            {"issue": {"number": 4, "pull_request": {}}, "repository": {"full_name": "o/r"}},
            "o/r#4",
        ),
        ("issue_comment", {"issue": {"number": 4}, "repository": {"full_name": "o/r"}}, None),
        (
            "check_run",
            {"check_run": {"pull_requests": [{"number": 9}]}, "repository": {"full_name": "o/r"}},
            "o/r#9",
        ),
        (
            "check_run",
            {"check_run": {"pull_requests": []}, "repository": {"full_name": "o/r"}},
            None,
        ),
        ("push", {"ref": "refs/heads/x", "repository": {"full_name": "o/r"}}, "o/r@refs/heads/x"),
        ("installation", {"installation": {"id": 5}}, "installation:5"),
        ("status", {"repository": {"full_name": "o/r"}}, None),
        (
            "pull_request",
            {"pull_request": {"number": True}, "repository": {"full_name": "o/r"}},
            None,
        ),
    ],
)
def test_ordering_keys(event, payload, key):
    assert inbox.describe(event, payload)["ordering_key"] == key


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # the machine may be busy
@given(
    event=st.sampled_from(["pull_request", "check_run", "push", "installation", "issue_comment"]),
    payload=st.dictionaries(
        st.sampled_from(["action", "installation", "repository", "pull_request", "check_run",
                         "issue", "ref", "number"]),
        json_values,
    ),
)  # fmt: skip
def test_describe_never_raises_on_odd_shapes(event, payload):
    described = inbox.describe(event, payload)
    assert described["action"] is None or isinstance(described["action"], str)
    assert described["installation_id"] is None or isinstance(described["installation_id"], int)


def test_backoff_grows_and_is_capped():
    rng = random.Random(1)
    delays = [inbox.backoff(n, rng) for n in range(1, 20)]
    assert inbox.BACKOFF_BASE / 2 <= delays[0] <= inbox.BACKOFF_BASE
    assert delays[5] > inbox.BACKOFF_BASE * 8
    assert max(delays) <= inbox.BACKOFF_CAP


# --------------------------------------------------------------------------- storing


def test_store_once_per_guid(engine):
    assert put(engine, "g1", pr_payload(1), T0)
    assert not put(engine, "g1", pr_payload(1, action="closed"), T0 + timedelta(seconds=1))
    (stored,) = inbox.list_deliveries(engine)
    assert (stored.guid, stored.action, stored.status, stored.attempts) == (
        "g1",
        "opened",
        "received",
        0,
    )
    assert stored.payload() == pr_payload(1)
    assert stored.installation_id == 7 and stored.repository == "octo/app"


def test_ignored_deliveries_are_stored_finished(engine):
    payload = {"action": "assigned", "repository": {"full_name": "o/r"}}
    inbox.store(engine, "g", "pull_request", b"{}", payload, ignored=True, now=T0)
    assert inbox.get(engine, "g").status == "ignored"
    assert inbox.claim(engine, "w", LEASE, now=T0 + timedelta(hours=1)) is None


# --------------------------------------------------------------------------- claiming


def test_claims_oldest_first_and_one_per_pull_request(engine):
    put(engine, "a", pr_payload(1), T0)
    put(engine, "b", pr_payload(1, action="closed"), T0 + timedelta(seconds=1))
    put(engine, "c", pr_payload(2), T0 + timedelta(seconds=2))
    now = T0 + timedelta(seconds=10)
    first = inbox.claim(engine, "w1", LEASE, now=now)
    second = inbox.claim(engine, "w2", LEASE, now=now)
    assert (first.guid, second.guid) == ("a", "c")  # "b" waits for "a": same pull request
    assert inbox.claim(engine, "w3", LEASE, now=now) is None
    assert first.status == "processing" and first.attempts == 1 and first.lease_owner == "w1"
    with engine.begin() as connection:
        assert inbox.finish(connection, "a", "w1", now=now)
    assert inbox.claim(engine, "w3", LEASE, now=now).guid == "b"


def test_claiming_finds_a_pull_requests_older_deliveries_through_the_partial_index(engine):
    """The ordering-key checks look up only unfinished deliveries of the same key. On SQLite
    that needs the statuses written into the SQL: with bound parameters it used the status index
    and read every unfinished delivery once per candidate (300 ms a claim at 1,300 queued); and
    statistics, without which it sorted every due delivery for each claim (16 ms)."""
    put(engine, "a", pr_payload(1), T0)
    plans: list[str] = []

    def explain(connection, cursor, statement, parameters, context, executemany):
        if "lease_owner" in statement and statement.lstrip().upper().startswith("UPDATE"):
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + statement, parameters)
            plans.extend(str(row) for row in cursor.fetchall())

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        assert inbox.claim(engine, "w", LEASE, now=T0 + timedelta(seconds=1)).guid == "a"
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)
    lookups = [line for line in plans if "other" in line]
    assert lookups, plans
    if engine.dialect.name == "sqlite":  # PostgreSQL's choice depends on its statistics
        assert all("ix_deliveries_pending_ordering_key" in line for line in lookups), lookups
        # Migration 0011's statistics: walk the unfinished deliveries in order, no sort.
        assert any("ix_deliveries_pending_received_at" in line for line in plans), plans
        assert not any("TEMP B-TREE" in line for line in plans), plans


def test_an_expired_lease_is_claimed_again(engine):
    put(engine, "a", pr_payload(1), T0)
    inbox.claim(engine, "dead", LEASE, now=T0)
    assert inbox.claim(engine, "w2", LEASE, now=T0 + LEASE - timedelta(seconds=1)) is None
    again = inbox.claim(engine, "w2", LEASE, now=T0 + LEASE)
    assert (again.guid, again.attempts, again.lease_owner) == ("a", 2, "w2")
    with engine.begin() as connection:  # the dead worker's late finish changes nothing
        assert not inbox.finish(connection, "a", "dead")
        assert inbox.finish(connection, "a", "w2", skipped=["x", "x"])
    assert inbox.get(engine, "a").skipped == ("x",)


def test_a_later_delivery_waits_for_an_earlier_one_in_backoff(engine):
    put(engine, "a", pr_payload(1), T0)
    put(engine, "b", pr_payload(1), T0 + timedelta(seconds=1))
    claimed = inbox.claim(engine, "w", LEASE, now=T0)
    assert inbox.fail(engine, claimed, "w", "boom", now=T0) == "received"
    later = inbox.get(engine, "a").available_at
    assert later > T0
    assert inbox.claim(engine, "w", LEASE, now=T0 + timedelta(milliseconds=1)) is None
    assert inbox.claim(engine, "w", LEASE, now=later).guid == "a"


def test_failures_back_off_then_park(engine):
    put(engine, "a", pr_payload(1), T0)
    now, statuses = T0, []
    for _ in range(inbox.MAX_ATTEMPTS):
        claimed = inbox.claim(engine, "w", LEASE, now=now)
        statuses.append(inbox.fail(engine, claimed, "w", "boom " * 1000, now=now))
        now += inbox.BACKOFF_CAP
    assert statuses == ["received"] * (inbox.MAX_ATTEMPTS - 1) + ["failed"]
    parked = inbox.get(engine, "a")
    assert parked.attempts == inbox.MAX_ATTEMPTS and len(parked.error) == inbox.ERROR_LIMIT
    assert inbox.claim(engine, "w", LEASE, now=now + timedelta(days=1)) is None
    assert inbox.requeue(engine, failed=True, now=now) == 1
    assert inbox.get(engine, "a").status == "received" and inbox.get(engine, "a").attempts == 0


def test_retry_at_does_not_use_up_attempts(engine):
    put(engine, "a", pr_payload(1), T0)
    claimed = inbox.claim(engine, "w", LEASE, now=T0)
    reset = T0 + timedelta(minutes=40)
    assert inbox.fail(engine, claimed, "w", "rate limited", retry_at=reset) == "received"
    assert inbox.get(engine, "a").attempts == 0
    assert inbox.claim(engine, "w", LEASE, now=reset - timedelta(seconds=1)) is None
    assert inbox.claim(engine, "w", LEASE, now=reset).guid == "a"


def test_requeue_by_id_leaves_processing_alone(engine):
    put(engine, "a", pr_payload(1), T0)
    put(engine, "b", pr_payload(2), T0)
    inbox.claim(engine, "w", LEASE, now=T0)
    assert inbox.requeue(engine, ["a", "b", "nope"], now=T0) == 1  # only "b" is not processing


def test_finish_refuses_other_statuses(engine):
    with engine.begin() as connection, pytest.raises(ValueError, match="done or ignored"):
        inbox.finish(connection, "a", "w", status="failed")


# --------------------------------------------------------------------------- retention

BODIES, ROWS = timedelta(days=14), timedelta(days=30)


def finished(engine, guid: str, number: int, at: datetime, status: str = "done") -> None:
    """A delivery received and finished as ``status`` at ``at``, or parked as ``failed``."""
    put(engine, guid, pr_payload(number), at)
    claimed = inbox.claim(engine, "w", LEASE, now=at)
    assert claimed.guid == guid
    if status == "failed":
        assert inbox.fail(engine, claimed, "w", "bad", max_attempts=1, now=at) == "failed"
        return
    with engine.begin() as connection:
        assert inbox.finish(connection, guid, "w", status, now=at)


def test_purge_empties_old_bodies_then_deletes_old_deliveries(engine):
    now = T0 + timedelta(days=100)
    for n, (guid, days, status) in enumerate(
        [
            ("done-40", 40, "done"),
            ("ignored-31", 31, "ignored"),
            ("done-20", 20, "done"),
            ("ignored-15", 15, "ignored"),
            ("done-14", 14, "done"),  # exactly the retention: kept
            ("failed-60", 60, "failed"),
        ]
    ):
        finished(engine, guid, n, now - timedelta(days=days), status)
    put(engine, "processing-60", pr_payload(10), now - timedelta(days=60))
    put(engine, "received-60", pr_payload(11), now - timedelta(days=60))
    assert inbox.claim(engine, "w", LEASE, now=now - timedelta(days=60)).guid == "processing-60"

    assert inbox.purge(engine, BODIES, ROWS, now=now) == inbox.Purged(bodies=2, deliveries=2)

    assert inbox.get(engine, "done-40") is None and inbox.get(engine, "ignored-31") is None
    for guid in ("done-20", "ignored-15"):
        purged = inbox.get(engine, guid)
        assert purged.body_purged and purged.as_dict()["body_purged"]
        assert purged.status in ("done", "ignored") and purged.error != "bad"
    for guid in ("done-14", "failed-60", "processing-60", "received-60"):
        kept = inbox.get(engine, guid)
        assert not kept.body_purged and kept.payload()["pull_request"]
    assert inbox.purge(engine, BODIES, ROWS, now=now) == inbox.Purged(bodies=0, deliveries=0)


def test_a_purged_body_is_never_processed_again(engine):
    finished(engine, "old", 1, T0)
    finished(engine, "recent", 2, T0 + timedelta(days=20))
    inbox.purge(engine, BODIES, ROWS, now=T0 + timedelta(days=21))
    old = inbox.get(engine, "old")
    with pytest.raises(inbox.BodyPurged, match="delivery old: its body was purged"):
        old.payload()
    assert inbox.requeue(engine, ["old"]) == 0 and inbox.get(engine, "old").status == "done"
    url = engine.url.render_as_string(hide_password=False)
    refused = CliRunner().invoke(main, ["inbox", "retry", "recent", "old", "--db", url])
    assert refused.exit_code == 1
    assert "the body of old was purged (YIELD_AUDITOR_BODY_RETENTION_DAYS)" in refused.output
    assert inbox.get(engine, "recent").status == "done"  # nothing re-queued
    retried = CliRunner().invoke(main, ["inbox", "retry", "recent", "--db", url])
    assert retried.exit_code == 0 and inbox.get(engine, "recent").status == "received"


def test_purge_keeps_the_ledger(engine):
    seed(engine)
    finished(engine, "old", 1, T0)
    counts = ledger_counts(engine)
    assert sum(counts.values()) > 0
    assert inbox.purge(engine, BODIES, ROWS, now=T0 + timedelta(days=365)).deliveries == 1
    assert ledger_counts(engine) == counts


def ledger_counts(engine) -> dict[str, int]:
    names = set(sa.inspect(engine).get_table_names()) - {"deliveries", "alembic_version"}
    count = sa.select(sa.func.count())
    with engine.connect() as connection:
        return {n: connection.execute(count.select_from(sa.table(n))).scalar() for n in names}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    ages=st.lists(
        st.tuples(st.sampled_from(["done", "ignored", "failed", "received"]), st.integers(0, 1500)),
        max_size=8,
    ),
    body_days=st.integers(1, 40),
    extra_days=st.integers(0, 30),
)
def test_purge_by_age_and_status(engine, ages, body_days, extra_days):
    """Only finished (done, ignored) deliveries age: the body past ``body_days``, the row past
    ``body_days + extra_days``; failed and unfinished ones keep everything."""
    with engine.begin() as connection:
        connection.execute(inbox.deliveries.delete())
    now = T0 + timedelta(days=100)
    bodies, rows = timedelta(days=body_days), timedelta(days=body_days + extra_days)
    for n, (status, hours) in enumerate(ages):  # finished ones first: claims take the oldest
        if status != "received":
            finished(engine, f"d{n}", n, now - timedelta(hours=hours), status)
    for n, (status, hours) in enumerate(ages):
        if status == "received":
            put(engine, f"d{n}", pr_payload(n), now - timedelta(hours=hours))
    inbox.purge(engine, bodies, rows, now=now)
    for n, (status, hours) in enumerate(ages):
        found, age = inbox.get(engine, f"d{n}"), timedelta(hours=hours)
        ages_out = status in ("done", "ignored")
        assert (found is None) == (ages_out and age > rows)
        if found is not None:
            assert found.body_purged == (ages_out and age > bodies)


def test_retention_settings_default_and_refuse_what_loses_the_duplicate_guard(monkeypatch):
    for name in ("BODY", "DELIVERY"):
        monkeypatch.delenv(f"YIELD_AUDITOR_{name}_RETENTION_DAYS", raising=False)
    defaults = Settings(_env_file=None)
    assert (defaults.body_retention_days, defaults.delivery_retention_days) == (14, 30)
    for env, message in [
        ({"YIELD_AUDITOR_DELIVERY_RETENTION_DAYS": "6"}, "must be at least 7: a delivery's id"),
        ({"YIELD_AUDITOR_BODY_RETENTION_DAYS": "0"}, "must be at least 1"),
        ({"YIELD_AUDITOR_BODY_RETENTION_DAYS": "31"}, r"\(31\) is longer than"),
    ]:
        with monkeypatch.context() as patched:
            for key, value in env.items():
                patched.setenv(key, value)
            with pytest.raises(ValidationError, match=message):
                Settings(_env_file=None)


def test_queue_stats(engine):
    assert inbox.queue_stats(engine).depth == 0
    put(engine, "a", pr_payload(1), T0)
    put(engine, "b", pr_payload(2), T0 + timedelta(seconds=5))
    inbox.claim(engine, "w", LEASE, now=T0)
    stats = inbox.queue_stats(engine)
    assert stats.counts["processing"] == 1 and stats.counts["received"] == 1
    assert stats.depth == 2 and stats.oldest_pending == T0


def test_concurrent_claims_take_each_delivery_once_and_one_per_key(engine):
    for n in range(120):
        put(engine, f"d{n:03}", pr_payload(n % 10), T0 + timedelta(milliseconds=n))
    claimed: list[str] = []
    active: dict[str, str] = {}
    violations: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            delivery = inbox.claim(engine, name, LEASE)
            if delivery is None:
                with lock:
                    if len(claimed) == 120:
                        return
                continue
            with lock:
                if delivery.ordering_key in active:
                    violations.append(delivery.guid)
                active[delivery.ordering_key] = delivery.guid
                claimed.append(delivery.guid)
            with engine.begin() as connection:
                assert inbox.finish(connection, delivery.guid, name)
                with lock:  # before the commit: nobody can claim the key's next one yet
                    del active[delivery.ordering_key]

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(claimed) == [f"d{n:03}" for n in range(120)]
    assert violations == []
    order = {}
    for guid in claimed:  # within one pull request, in the order received
        order.setdefault(int(guid[1:]) % 10, []).append(guid)
    assert all(guids == sorted(guids) for guids in order.values())
