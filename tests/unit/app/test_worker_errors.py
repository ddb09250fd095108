"""Errors the worker tells apart: a permanent one (a value out of range, a NUL byte PostgreSQL
refuses, GitHub's 404 or 422) fails the delivery at its first attempt, so the deliveries queued
behind it on the same branch or pull request go on; a transient one is retried. A delivery whose
records fail together is applied record by record: a push with one poisoned commit keeps the
others, and its delivery names the commit refused and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.app.processes import build_worker
from bot.app.worker import Worker
from bot.config import Settings
from bot.demo.fake_github.server import FakeGitHub
from bot.ledger import inbox
from bot.ledger.db import make_engine
from bot.ledger.store import load_commits, load_tasks
from tests import payloads as p

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATE = "9999-12-31T23:59:59-05:00"  # parses, but overflows once converted to UTC
QUICK = {"seconds_between_requests": None, "seconds_between_writes": None, "backoff_factor": 0}


def sha(n: int) -> str:
    return f"{n:02x}" * 20


def good(n: int) -> dict:
    message = p.agent_message(f"Step {n}", "T-1", "economy", "anthropic:claude-haiku-4-5")
    return p.commit(sha(n), message, T0 + timedelta(minutes=n))


def late(n: int) -> dict:
    return {**good(n), "timestamp": LATE}


def send(engine, event: str, payload: dict, guid: str) -> str:
    assert inbox.store(engine, guid, event, json.dumps(payload).encode(), payload)
    return guid


def repo_id(session: Session, name: str = p.REPO) -> int:
    found = sa.text("SELECT id FROM repositories WHERE full_name = :n")
    return session.execute(found, {"n": name}).scalar_one()


def stored_shas(engine, name: str = p.REPO) -> set[str]:
    with Session(engine) as session:
        return {c.sha for c in load_commits(session, repo_id(session, name))}


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


@pytest.fixture
def settings():
    return Settings(_env_file=None, github_app_id=99)


def test_a_push_with_poisoned_commits_applies_the_others_at_once(engine, settings):
    nul = {**good(4), "message": "Fix\x00it"}  # PostgreSQL refuses NUL in text, SQLite keeps it
    guid = send(engine, "push", p.push("refs/heads/f", [good(1), late(2), good(3), nul]), "d1")
    Worker(engine, settings).drain()
    done = inbox.get(engine, guid)
    assert (done.status, done.attempts) == ("done", 1)
    assert done.error.startswith(f"refused; commit {sha(2)}: OverflowError")
    postgres = engine.dialect.name == "postgresql"
    assert (f"commit {sha(4)}: DataError" in done.error) == postgres
    assert stored_shas(engine) == {sha(1), sha(3)} | (set() if postgres else {sha(4)})
    with Session(engine) as session:
        (task,) = load_tasks(session, repo_id(session))
    assert {c for a in task.attempts for c in a.commits} == {sha(1), sha(3)}


@pytest.mark.parametrize(
    "event, payload",
    [
        ("push", p.push("refs/heads/f", [late(1)])),
        ("pull_request", p.pull_request("opened", 2**63, head_ref="f", head_sha=sha(1), at=T0)),
        ("pull_request", p.pull_request("opened", 2**40, head_ref="f", head_sha=sha(1), at=T0)),
    ],
    ids=["timestamp", "int64-overflow", "int32-overflow"],
)
def test_a_value_out_of_range_fails_at_once_and_the_branch_goes_on(
    engine, settings, event, payload
):
    if engine.dialect.name == "sqlite" and payload.get("number") == 2**40:
        pytest.skip("SQLite's integers have 64 bits, PostgreSQL's integer column 32")
    poisoned = send(engine, event, payload, "d1")
    after = send(engine, "push", p.push("refs/heads/f", [good(3)]), "d2")
    assert Worker(engine, settings).drain() == 2
    failed = inbox.get(engine, poisoned)
    assert (failed.status, failed.attempts) == ("failed", 1), failed.error
    assert inbox.get(engine, after).status == "done"


# --------------------------------------------------------------------------- GitHub's answers


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=777) as server:
        server.add_installation(p.INSTALLATION, "octo-org")
        server.add_repo(p.REPO, p.INSTALLATION)
        yield server


@pytest.fixture
def github_settings(fake):
    return Settings(
        _env_file=None,
        github_app_id=fake.app_id,
        github_app_private_key=fake.private_key,
        github_api_url=fake.url,
    )


@pytest.mark.parametrize("status", [404, 422])
def test_github_refusing_a_step_fails_it_at_once_and_keeps_the_payload(
    engine, github_settings, fake, status
):
    """404: the repository is gone from GitHub; 422: GitHub knows no such commit (it was
    force-pushed away), as ``GET /repos/{owner}/{repo}/commits/{ref}`` answers."""
    name = "octo-org/gone" if status == 404 else p.REPO
    guid = send(engine, "push", p.push("refs/heads/f", [good(1)], repo=name), "d1")
    after = send(engine, "push", p.push("refs/heads/f", [good(3)], repo=name), "d2")
    if status == 422:
        fake.add_commit(p.REPO, "Step 3", sha=sha(3), at=T0)
    build_worker(engine, github_settings, github_options=QUICK).drain()
    failed = inbox.get(engine, guid)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert f"{status} " in failed.error
    assert stored_shas(engine, name) >= {sha(1)}  # the payload's commit was kept
    assert inbox.get(engine, after).status == ("failed" if status == 404 else "done")
    with Session(engine) as session:
        assert load_tasks(session, repo_id(session, name))  # and its task derived


def test_a_github_server_error_is_retried(engine, github_settings, fake):
    fake.add_commit(p.REPO, "Step 1", sha=sha(1), at=T0)
    fake.fail("GET", "/repos/*/commits/*", "error", status=502, times=10)
    guid = send(engine, "push", p.push("refs/heads/f", [good(1)]), "d1")
    build_worker(engine, github_settings, github_options=QUICK).drain()
    retried = inbox.get(engine, guid)
    assert (retried.status, retried.attempts) == ("received", 1)
    assert retried.available_at > datetime.now(UTC)


# --------------------------------------------------------------------------- any poisoned subset


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(poisoned=st.lists(st.booleans(), min_size=1, max_size=6))
def test_exactly_the_poisoned_commits_are_refused(tmp_path_factory, sqlite_ledger, poisoned):
    engine = make_engine(sqlite_ledger(tmp_path_factory.mktemp("poison") / "ledger.db"))
    try:
        commits = [late(n) if bad else good(n) for n, bad in enumerate(poisoned, 1)]
        guid = send(engine, "push", p.push("refs/heads/f", commits), "d1")
        Worker(engine, Settings(_env_file=None)).drain()
        delivery = inbox.get(engine, guid)
        bad = {sha(n) for n, b in enumerate(poisoned, 1) if b}
        kept = {sha(n) for n, b in enumerate(poisoned, 1) if not b}
        assert delivery.attempts == 1
        if not kept:
            assert delivery.status == "failed"
            return
        assert delivery.status == "done" and stored_shas(engine) == kept
        refused = {part.split(":")[0].removeprefix("commit ") for part in
                   (delivery.error or "refused").split("; ")[1:]}  # fmt: skip
        assert refused == bad
    finally:
        engine.dispose()
