"""Worker processes for real: several draining one queue, one killed with SIGKILL mid-delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.ledger import inbox
from bot.ledger.db import make_engine, migrate
from tests import payloads as p
from tests.paths import ROOT

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


def start_worker(url: str, tmp_path: Path, *args: str) -> subprocess.Popen:
    """``yield-auditor worker`` in its own process (and directory, so no .env is read)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    log = (tmp_path / f"worker-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "worker", "--db", url, "--poll", "0.05", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def store(engine, guid: str, event: str, payload: dict, at: datetime) -> None:
    assert inbox.store(engine, guid, event, json.dumps(payload).encode(), payload, now=at)


def pull_request_story(engine, repo: str, number: int, at: datetime) -> None:
    """Store the eight deliveries of one agent pull request (``tests.payloads``)."""
    for i, (event, payload) in enumerate(p.pull_request_story(repo, number, at)):
        store(engine, f"{repo}#{number}/{i}", event, payload, at + timedelta(microseconds=i))


@pytest.fixture
def pg_engine(postgres_url):
    engine = make_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


PULLS = 50  # 400 deliveries: hundreds of claims race, at a fifth of the cost of 2,000


def test_two_worker_processes_drain_400_deliveries_exactly_once(postgres_url, pg_engine, tmp_path):
    """Several worker processes need PostgreSQL; SQLite runs one in-process worker."""
    database_url, engine = postgres_url, pg_engine
    for number in range(PULLS):
        pull_request_story(
            engine, f"octo-org/repo-{number % 10}", number, T0 + timedelta(seconds=number)
        )
    workers = [start_worker(database_url, tmp_path) for _ in range(2)]
    try:
        wait_for(lambda: inbox.queue_stats(engine).depth == 0, 600, "the queue to drain")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in workers]
    assert codes == [0, 0]
    deliveries = inbox.list_deliveries(engine, limit=None)
    assert len(deliveries) == 8 * PULLS
    assert {(d.status, d.attempts) for d in deliveries} == {("done", 1)}  # each claimed once
    owners = {line for log in tmp_path.glob("worker-*.log") for line in log.read_text().splitlines()
              if '"delivery done"' in line}  # fmt: skip
    assert len(owners) == 8 * PULLS
    with engine.connect() as connection:
        counts = {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("commits", "pull_requests", "tasks")
        }
        shipped = connection.execute(sa.text("SELECT count(*) FROM tasks WHERE status = 'shipped'"))
        assert shipped.scalar() == PULLS
    assert counts == {"commits": 2 * PULLS, "pull_requests": PULLS, "tasks": PULLS}


def test_a_delivery_of_a_killed_worker_is_finished_by_another(database_url, engine, tmp_path):
    message = p.agent_message("Big change", "T-9", "standard", "anthropic:claude-sonnet-4-5")
    commits = [p.commit(f"{n:040x}", message, T0 + timedelta(seconds=n)) for n in range(4000)]
    store(engine, "big-push", "push", p.push("refs/heads/big", commits), T0)
    doomed = start_worker(database_url, tmp_path, "--lease", "2")
    try:
        wait_for(lambda: inbox.get(engine, "big-push").status == "processing", 60, "the claim")
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(timeout=30) == -signal.SIGKILL
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert inbox.get(engine, "big-push").status == "processing"  # killed mid-delivery
    rescuer = start_worker(database_url, tmp_path, "--lease", "2")
    try:
        wait_for(lambda: inbox.get(engine, "big-push").status == "done", 120, "the rescue")
    finally:
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(timeout=60) == 0
    finished = inbox.get(engine, "big-push")
    assert finished.attempts == 2
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM commits")).scalar() == 4000
