"""The worker, end to end: stored deliveries -> handlers -> ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.app.router import Changes, Router
from bot.app.worker import RetryLater, Worker
from bot.config import Settings
from bot.engine.records import CHANGES_REQUESTED, CI_FAILED, CI_PASSED, MERGED
from bot.ledger import inbox
from bot.ledger.db import make_engine
from bot.ledger.store import load_commits, load_events, load_tasks
from tests import payloads as p
from tests.paths import ROOT

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SHARED = ROOT.parent / "shared" / "fixtures" / "github-webhooks"
HAIKU, OPUS = "anthropic:claude-haiku-4-5", "anthropic:claude-opus-4-5"
C1, C2, C3, MERGE = "c1" * 20, "c2" * 20, "c3" * 20, "ee" * 20


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


@pytest.fixture
def settings():
    return Settings(_env_file=None, github_app_id=99)


@pytest.fixture
def worker(engine, settings):
    return Worker(engine, settings, name="test-worker", poll_seconds=0.05)


class Sender:
    """Stores deliveries as the ingress would, one second apart."""

    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __call__(self, event: str, payload: dict, guid: str | None = None) -> str:
        self.count += 1
        guid = guid or f"delivery-{self.count:04}"
        now = datetime.now(UTC) + timedelta(microseconds=self.count)
        body = json.dumps(payload).encode()
        assert inbox.store(self.engine, guid, event, body, payload, now=now)
        return guid


@pytest.fixture
def send(engine):
    return Sender(engine)


def _repo_id(engine, name=p.REPO) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT id FROM repositories WHERE full_name = :n"), {"n": name}
        ).scalar_one()


def escalated_pull_request(send) -> None:
    """A cheap attempt fails CI, a frontier attempt gets changes requested, a human fixes it up,
    it merges."""
    first = p.agent_message("Fix the parser", "T-1", "economy", HAIKU)
    second = p.agent_message("Fix the parser properly", "T-1", "frontier", OPUS)
    send("push", p.push("refs/heads/feature", [p.commit(C1, first, T0)]))
    send("pull_request", p.pull_request("opened", 7, head_ref="feature", head_sha=C1,
                                        at=T0 + timedelta(minutes=1)))  # fmt: skip
    send("check_run", p.check_run("failure", C1, T0 + timedelta(minutes=5), (7,), run_id=1))
    send("push", p.push("refs/heads/feature", [p.commit(C2, second, T0 + timedelta(minutes=10))],
                        before=C1))  # fmt: skip
    send("pull_request", p.pull_request("synchronize", 7, head_ref="feature", head_sha=C2,
                                        at=T0 + timedelta(minutes=10)))  # fmt: skip
    send("check_run", p.check_run("success", C2, T0 + timedelta(minutes=14), run_id=2))  # a fork
    changes = p.review("changes_requested", 7, C2, T0 + timedelta(minutes=15), review_id=11)
    send("pull_request_review", changes)
    send("push", p.push("refs/heads/feature",
                        [p.commit(C3, "fixup! Fix the parser", T0 + timedelta(minutes=20))],
                        before=C2))  # fmt: skip
    send(
        "pull_request_review", p.review("approved", 7, C3, T0 + timedelta(minutes=25), review_id=12)
    )
    merged = p.pull_request("closed", 7, head_ref="feature", head_sha=C3, merged=True,
                            merge_sha=MERGE, at=T0 + timedelta(minutes=30))  # fmt: skip
    send("pull_request", merged)


def test_a_pull_request_from_push_to_merge(engine, worker, send):
    escalated_pull_request(send)
    assert worker.drain() == 10
    statuses = {d.guid: d.status for d in inbox.list_deliveries(engine, limit=None)}
    assert set(statuses.values()) == {"done"}
    repo_id = _repo_id(engine)
    with Session(engine) as session:
        commits = load_commits(session, repo_id)
        events = load_events(session, repo_id)
        (task,) = load_tasks(session, repo_id)
    assert {c.sha: c.pr_number for c in commits} == {C1: 7, C2: 7, C3: 7}  # C1 pushed before the PR
    assert [c.tier for c in commits] == ["economy", "frontier", None]
    kinds = {(e.kind, e.sha, e.pr_number) for e in events}
    assert (CI_FAILED, C1, 7) in kinds and (CI_PASSED, C2, 7) in kinds  # the fork's check by sha
    assert (CHANGES_REQUESTED, C2, 7) in kinds and (MERGED, None, 7) in kinds
    assert task.id == f"{p.REPO}:task:T-1" and task.pr_numbers == (7,)
    assert task.status == "shipped" and task.merged
    assert task.escalated and [a.tier for a in task.attempts] == ["economy", "frontier"]
    assert CI_FAILED in task.bounces and CHANGES_REQUESTED in task.bounces
    assert task.human_rework_commits == 1


def test_api_steps_are_skipped_without_credentials_and_run_with_them(engine, settings, send):
    msg = p.agent_message("Add docs", "T-2", "economy", HAIKU)
    guid = send("push", p.push("refs/heads/docs", [p.commit(C1, msg, T0)]))
    Worker(engine, settings).drain()
    assert inbox.get(engine, guid).skipped == ("push.files",)
    calls = []
    steps = {"push.files": lambda ledger, repo_id, delivery, changes: calls.append(repo_id)}
    inbox.requeue(engine, [guid])
    Worker(engine, settings, api_steps=steps).drain()
    assert calls == [_repo_id(engine)] and inbox.get(engine, guid).skipped == ()


def _snapshot(engine) -> dict:
    tables = {"commits": "sha", "events": "key", "pull_requests": "number", "tasks": "key"}
    found = {}
    with engine.connect() as connection:
        for table, order in tables.items():
            rows = connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))
            found[table] = [
                {k: v for k, v in row._mapping.items() if k not in ("computed_at", "id")}
                for row in rows
            ]
    return found


def test_processing_again_changes_nothing(engine, worker, send):
    escalated_pull_request(send)
    worker.drain()
    before = _snapshot(engine)
    assert before["tasks"] and before["events"]
    guids = [d.guid for d in inbox.list_deliveries(engine, limit=None)]
    assert inbox.requeue(engine, guids) == len(guids)
    assert worker.drain() == len(guids)
    assert _snapshot(engine) == before


def test_a_bad_payload_is_parked_at_once_with_the_field_named(engine, worker, send):
    payload = p.pull_request("opened", 8, head_ref="x", head_sha=C1, at=T0)
    del payload["pull_request"]["head"]
    guid = send("pull_request", payload)
    worker.drain()
    parked = inbox.get(engine, guid)
    assert parked.status == "failed" and parked.attempts == 1
    assert "pull_request.head" in parked.error


def test_an_unexpected_error_is_retried_later(engine, settings, send):
    router = Router()

    @router.register("pull_request")
    def broken(payload, context):
        raise RuntimeError("the handler broke")

    guid = send("pull_request", p.pull_request("opened", 8, head_ref="x", head_sha=C1, at=T0))
    Worker(engine, settings, router=router).drain()
    retried = inbox.get(engine, guid)
    assert retried.status == "received" and retried.attempts == 1
    assert retried.error == "RuntimeError: the handler broke"
    assert retried.available_at > datetime.now(UTC)


def test_retry_later_postpones_without_using_an_attempt(engine, settings, send):
    at = datetime.now(UTC) + timedelta(minutes=30)

    def limited(ledger, repo_id, delivery, changes):
        raise RetryLater("rate limited until the reset", at)

    guid = send("push", p.push("refs/heads/x", [p.commit(C1, "Change", T0)]))
    Worker(engine, settings, api_steps={"push.files": limited}).drain()
    postponed = inbox.get(engine, guid)
    assert (postponed.status, postponed.attempts, postponed.available_at) == ("received", 0, at)


def test_a_lost_lease_rolls_the_work_back(engine, settings, send):
    router = Router()

    @router.register("pull_request")
    def slow(payload, context):  # meanwhile the lease expires and another worker claims it
        inbox.claim(
            engine, "other", timedelta(minutes=5), now=datetime.now(UTC) + timedelta(hours=1)
        )
        return Changes(repository=p.REPO, pull_requests=[])

    guid = send("pull_request", p.pull_request("opened", 8, head_ref="x", head_sha=C1, at=T0))
    Worker(engine, settings, router=router, name="first").drain()
    taken = inbox.get(engine, guid)
    assert (taken.status, taken.lease_owner) == ("processing", "other")
    with engine.connect() as connection:  # the first worker's writes were rolled back
        assert connection.execute(sa.text("SELECT count(*) FROM repositories")).scalar() == 0


def test_a_delivery_cut_short_between_phases_converges_when_run_again(engine, settings, send):
    """A push's records commit, then during its API step another worker takes the lease over
    (this one stalled): its derivation rolls back. The worker that runs the delivery again
    writes nothing new, yet derives the task of the commit the first one stored."""
    send("pull_request", p.pull_request("opened", 8, head_ref="x", head_sha=C2, at=T0))
    msg = p.agent_message("Add docs", "T-2", "economy", HAIKU)
    guid = send("push", p.push("refs/heads/docs", [p.commit(C1, msg, T0)]))

    def steal(ledger, repo_id, delivery, changes):
        with engine.begin() as connection:
            connection.execute(
                inbox.deliveries.update()
                .where(inbox.deliveries.c.guid == delivery.guid)
                .values(lease_owner="second", lease_expires_at=datetime.now(UTC) + timedelta(1))
            )

    Worker(engine, settings, api_steps={"push.files": steal}, name="first").drain()
    assert (inbox.get(engine, guid).status, inbox.get(engine, guid).lease_owner) == (
        "processing",
        "second",
    )
    with Session(engine) as session:
        assert [c.sha for c in load_commits(session, _repo_id(engine))] == [C1]
        assert load_tasks(session, _repo_id(engine)) == []
    with engine.begin() as connection:  # the second worker's lease expires in turn
        connection.execute(inbox.deliveries.update().values(lease_expires_at=datetime.now(UTC)))
    noop = {"push.files": lambda ledger, repo_id, delivery, changes: None}
    assert Worker(engine, settings, api_steps=noop, name="third").drain() == 1
    assert inbox.get(engine, guid).status == "done"
    with Session(engine) as session:
        (task,) = load_tasks(session, _repo_id(engine))
    assert task.id == f"{p.REPO}:task:T-2"


def test_a_suspended_installation_is_not_processed(engine, worker, send):
    send("installation", p.installation("created"))
    send("installation", p.installation("suspend"))
    ignored = send("pull_request", p.pull_request("opened", 9, head_ref="y", head_sha=C1, at=T0))
    send("installation", p.installation("unsuspend"))
    processed = send("pull_request", p.pull_request("edited", 9, head_ref="y", head_sha=C1, at=T0))
    worker.drain()
    assert inbox.get(engine, ignored).status == "ignored"
    assert inbox.get(engine, ignored).error == f"installation {p.INSTALLATION} is suspended"
    assert inbox.get(engine, processed).status == "done"


def test_a_delivery_without_handler_is_ignored(engine, settings, send):
    guid = send("pull_request", p.pull_request("opened", 9, head_ref="y", head_sha=C1, at=T0))
    Worker(engine, settings, router=Router()).drain()
    assert (inbox.get(engine, guid).status, inbox.get(engine, guid).error) == (
        "ignored",
        "no handler",
    )


def test_the_run_loop_wakes_on_new_deliveries_and_stops(engine, worker, send):
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        guid = send("pull_request", p.pull_request("opened", 3, head_ref="z", head_sha=C1, at=T0))
        worker.wake()
        for _ in range(400):
            if inbox.get(engine, guid).status == "done":
                break
            threading.Event().wait(0.05)
        assert inbox.get(engine, guid).status == "done"
    finally:
        stop.set()
        worker.wake()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _fixture_files() -> list[Path]:
    files = sorted(p.FIXTURES.glob("*/*.json"))
    if SHARED.is_dir():
        files += sorted(SHARED.glob("*/*.json"))
    return files


def test_every_fixture_payload_is_processed_without_error(engine, worker, send):
    """Each real payload (and, when ../shared is present, every shared one) ends done or ignored."""
    for number, path in enumerate(_fixture_files()):
        payload = json.loads(path.read_text(encoding="utf-8"))
        send(path.parent.name, payload, guid=f"{path.parent.parent.name}-{number}")
    worker.drain()
    problems = [
        (d.guid, d.event, d.error)
        for d in inbox.list_deliveries(engine, limit=None)
        if d.status not in ("done", "ignored")
    ]
    assert problems == []


_FUZZ_FILES = sorted(p.FIXTURES.glob("*/*.json"))
_ODD = st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.integers())


def _mutate(draw, value, depth=0):
    """A copy of ``value`` with some fields deleted or replaced by values of the wrong type."""
    if isinstance(value, dict) and depth < 4:
        out = {}
        for key, item in value.items():
            roll = draw(st.integers(0, 19))
            if roll == 0:
                continue
            out[key] = draw(_ODD) if roll == 1 else _mutate(draw, item, depth + 1)
        return out
    if isinstance(value, list) and value and depth < 4:
        return [_mutate(draw, item, depth + 1) for item in value[:3]]
    return value


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_payloads_never_leave_a_delivery_unfinished(tmp_path_factory, sqlite_ledger, data):
    """Whatever the payload, the worker finishes the delivery (done, ignored or failed at once
    for a payload that lacks what its event needs) and survives to take the next one."""
    engine = make_engine(sqlite_ledger(tmp_path_factory.mktemp("fuzz") / "ledger.db"))
    try:
        path = data.draw(st.sampled_from(_FUZZ_FILES))
        payload = _mutate(data.draw, json.loads(path.read_text(encoding="utf-8")))
        body = json.dumps(payload).encode()
        inbox.store(engine, "fuzzed", path.parent.name, body, payload)
        Worker(engine, Settings(_env_file=None)).drain()
        finished = inbox.get(engine, "fuzzed")
        assert finished.status in ("done", "ignored", "failed"), finished
        if finished.status == "failed":
            assert finished.attempts == 1 and "PayloadError" in finished.error
    finally:
        engine.dispose()
