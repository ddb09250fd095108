"""The ways to run the App: ``serve`` (all in one), gunicorn plus ``worker``, and ``inbox``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.cli.main import main
from bot.ledger import inbox
from bot.ledger.db import make_engine, migrate
from tests import payloads as p
from tests.paths import ROOT
from tests.processes import Output, free_port

SECRET = "serve-test-secret"
T0 = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "PYTHONPATH": str(ROOT), "GITHUB_WEBHOOK_SECRET": SECRET, **extra}


def wait_until_up(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not come up")


def deliver(base: str, event: str, payload: dict, guid: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid,
        "X-Hub-Signature-256": p.sign(body, SECRET),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{base}/api/github/webhooks", content=body, headers=headers, timeout=10)


def wait_for_status(engine, guid: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = inbox.get(engine, guid)
        if found is not None and found.status == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{guid} never became {status}: {inbox.get(engine, guid)}")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_serve_receives_processes_and_stops_cleanly(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(base, server)
        payload = p.pull_request("opened", 5, head_ref="feature", head_sha="ab" * 20, at=T0)
        assert deliver(base, "pull_request", payload, "serve-1").status_code == 202
        assert deliver(base, "pull_request", payload, "serve-1").status_code == 200
        engine = make_engine(f"sqlite:///{tmp_path / 'yield-auditor.db'}")  # the default
        try:
            wait_for_status(engine, "serve-1", "done")
        finally:
            engine.dispose()
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert "yield_auditor_queue_depth 0.0" in metrics
        httpx.get(f"{base}/setup?token=setup-secret-token", timeout=5)
        httpx.get(f"{base}/login/callback?code=oauth-code-value&state=oauth-state", timeout=5)
    finally:
        code = stop(server)
    output = server.stdout.read().decode()
    assert code == 0, output
    assert SECRET not in output
    assert "GET /setup HTTP/1.1" in output and "GET /login/callback HTTP/1.1" in output
    for secret in ("setup-secret-token", "oauth-code-value", "oauth-state"):
        assert secret not in output  # query strings stay out of the access log


def test_gunicorn_and_a_worker_process_on_the_production_database(postgres_url, tmp_path):
    database_url = postgres_url
    env = environment(DATABASE_URL=database_url)
    subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, env=env, check=True)
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
         "webhooks:create_app()"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot", "worker", "--poll", "0.1", "--metrics-port",
         str(metrics_port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    engine = make_engine(database_url)
    try:
        wait_until_up(base, web)
        for n in range(10):
            payload = p.pull_request("opened", n, head_ref=f"b{n}", head_sha="cd" * 20, at=T0)
            assert deliver(base, "pull_request", payload, f"gunicorn-{n}").status_code == 202
        for n in range(10):
            wait_for_status(engine, f"gunicorn-{n}", "done")
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'yield_auditor_deliveries_processed_total{event="pull_request"} 10.0' in scraped
        assert "yield_auditor_queue_depth 0.0" in scraped
        # the port takes no token, so it listens on 127.0.0.1 alone: another address of this
        # machine (127.0.0.2 reaches it too on Linux) is refused
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.2:{metrics_port}/metrics", timeout=5)
    finally:
        engine.dispose()
        assert stop(worker) == 0
        assert stop(web) == 0


@pytest.fixture
def stored(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    payload = p.pull_request("opened", 1, head_ref="x", head_sha="ef" * 20, at=T0)
    body = json.dumps(payload).encode()
    for guid in ("one", "two"):
        inbox.store(engine, guid, "pull_request", body, payload)
    claimed = inbox.claim(engine, "w", timedelta(seconds=60))
    inbox.fail(engine, claimed, "w", "it broke", max_attempts=1)
    yield database_url, engine
    engine.dispose()


def test_inbox_list_and_retry(stored):
    url, engine = stored
    runner = CliRunner()
    listed = runner.invoke(main, ["inbox", "list", "--json", "--db", url])
    assert listed.exit_code == 0, listed.output
    rows = {row["id"]: row for row in json.loads(listed.output)}
    assert rows["one"]["status"] == "failed" and rows["one"]["error"] == "it broke"
    assert rows["two"]["status"] == "received" and rows["one"]["attempts"] == 1
    failed = runner.invoke(main, ["inbox", "list", "--status", "failed", "--json", "--db", url])
    assert [row["id"] for row in json.loads(failed.output)] == ["one"]
    table = runner.invoke(main, ["inbox", "list", "--db", url])
    assert "it broke" in table.output and "pull_request" in table.output
    retried = runner.invoke(main, ["inbox", "retry", "--failed", "--db", url])
    assert retried.exit_code == 0 and "re-queued 1 delivery" in retried.output
    assert inbox.get(engine, "one").status == "received"


def test_inbox_retry_refuses_unknown_ids_and_bad_usage(stored):
    url, _ = stored
    runner = CliRunner()
    unknown = runner.invoke(main, ["inbox", "retry", "nope", "--db", url])
    assert unknown.exit_code == 1 and "no such delivery: nope" in unknown.output
    both = runner.invoke(main, ["inbox", "retry", "one", "--failed", "--db", url])
    assert both.exit_code == 2 and "not both or neither" in both.output


def test_inbox_commands_never_create_a_ledger(database_url):
    """A mistyped --db gets an error naming it: no empty database is created or migrated."""
    runner = CliRunner()
    for args in (["inbox", "list"], ["inbox", "retry", "--failed"]):
        refused = runner.invoke(main, [*args, "--db", database_url])
        assert refused.exit_code == 1, refused.output
        assert "no such file" in refused.output or "holds no ledger" in refused.output
    if database_url.startswith("sqlite"):
        assert not Path(sa.make_url(database_url).database).exists()
        return
    engine = make_engine(database_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_the_scheduler_process_runs_and_stops_cleanly(tmp_path):
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "bot", "scheduler", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = Output(scheduler)
    try:
        output.wait_for("Scheduler started")  # not a fixed sleep: a busy machine starts slower
        assert scheduler.poll() is None, output.text
    finally:
        code = stop(scheduler)
    assert code == 0, output.text
