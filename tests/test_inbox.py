"""The inbox: storing, claiming under leases, per-key order, retries, re-queueing."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import inbox

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


def test_purge_keeps_recent_and_failed(engine):
    for n, guid in enumerate(("old", "new", "broken")):
        put(engine, guid, pr_payload(n), T0 + timedelta(seconds=n))
    for guid, at in (("old", T0), ("new", T0 + timedelta(days=40))):
        claimed = inbox.claim(engine, "w", LEASE, now=at)
        assert claimed.guid == guid
        with engine.begin() as connection:
            inbox.finish(connection, guid, "w", now=at)
    broken = inbox.claim(engine, "w", LEASE, now=T0 + timedelta(days=40))
    inbox.fail(engine, broken, "w", "bad", max_attempts=1, now=T0)
    assert inbox.purge(engine, timedelta(days=30), now=T0 + timedelta(days=41)) == 1
    assert {d.guid for d in inbox.list_deliveries(engine)} == {"new", "broken"}


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
