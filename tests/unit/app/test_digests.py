"""Exactly once per (installation, channel, period): claims, catch-up, failures, the CLI."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from bot.app import digests as digest_schedule
from bot.app.digests import due_period, run_due
from bot.cli.main import main
from bot.config import DigestSpec, Settings
from bot.ledger.store import load_digest_sends
from tests.unit.digest.test_compose import INSTALLATION, seed

MONDAY = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)  # W47's Monday, after 09:00: W46 is due
CHANNELS = [{"type": "slack", "name": "eng"}, {"type": "webhook", "name": "hook"}]


def settings(**spec) -> Settings:
    return Settings(digests=[DigestSpec(installation=INSTALLATION, channels=CHANNELS, **spec)])


class Recorder:
    """A fake sender: records (channel, period) and fails for the channels in ``failing``."""

    def __init__(self, failing=()):
        self.sent: list[tuple[str, str]] = []
        self.failing = set(failing)
        self.lock = threading.Lock()

    def __call__(self, channel, digest, _settings):
        if channel["name"] in self.failing:
            raise ConnectionError("receiver down")
        with self.lock:
            self.sent.append((channel["name"], digest.period.label))


@pytest.fixture
def engine(ledger_engine):
    seed(ledger_engine)
    return ledger_engine


def test_the_due_period_is_the_week_before_the_latest_scheduled_time():
    spec = DigestSpec(installation=1, timezone="Europe/Paris")  # Monday 09:00 Paris = 08:00 UTC
    assert due_period(spec, datetime(2026, 11, 16, 7, 59, tzinfo=UTC)).label == "2026-W45"
    assert due_period(spec, datetime(2026, 11, 16, 8, 0, tzinfo=UTC)).label == "2026-W46"
    every_minute = DigestSpec(installation=1, schedule="* * * * *")
    assert due_period(every_minute, MONDAY).label == "2026-W46"


def test_sent_once_per_channel_and_period(engine):
    send = Recorder()
    first = run_due(engine, settings(), MONDAY, send)
    assert [(o.channel, o.status) for o in first] == [("eng", "sent"), ("hook", "sent")]
    assert run_due(engine, settings(), MONDAY + timedelta(minutes=1), send) == []
    assert sorted(send.sent) == [("eng", "2026-W46"), ("hook", "2026-W46")]
    with Session(engine) as session:
        rows = load_digest_sends(session, INSTALLATION)
    assert {(r.channel, r.period, r.status, r.attempts) for r in rows} == {
        ("eng", "2026-W46", "sent", 1), ("hook", "2026-W46", "sent", 1)}  # fmt: skip


def test_concurrent_schedulers_send_once(engine):
    send, barrier = Recorder(), threading.Barrier(4)

    def scheduler():
        barrier.wait()
        run_due(engine, settings(), MONDAY, send)

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(send.sent) == [("eng", "2026-W46"), ("hook", "2026-W46")]


def test_downtime_over_three_periods_sends_the_latest_once(engine):
    send = Recorder()
    run_due(engine, settings(), MONDAY, send)
    back = MONDAY + timedelta(weeks=3, hours=2)  # W48, W49 and W50 were due while down
    run_due(engine, settings(), back, send)
    run_due(engine, settings(), back + timedelta(minutes=1), send)
    assert sorted(send.sent) == [("eng", "2026-W46"), ("eng", "2026-W49"),
                                 ("hook", "2026-W46"), ("hook", "2026-W49")]  # fmt: skip


def test_a_failing_channel_does_not_block_the_others_and_is_retried(engine):
    send = Recorder(failing={"eng"})
    outcomes = run_due(engine, settings(), MONDAY, send)
    assert [(o.channel, o.status, o.error) for o in outcomes] == [
        ("eng", "failed", "ConnectionError: receiver down"), ("hook", "sent", None)]  # fmt: skip
    assert run_due(engine, settings(), MONDAY + timedelta(minutes=1), send) == []  # backoff
    send.failing.clear()
    retried = run_due(engine, settings(), MONDAY + timedelta(minutes=6), send)
    assert [(o.channel, o.status) for o in retried] == [("eng", "sent")]
    assert sorted(send.sent) == [("eng", "2026-W46"), ("hook", "2026-W46")]
    with Session(engine) as session:
        eng = next(r for r in load_digest_sends(session) if r.channel == "eng")
    assert (eng.status, eng.attempts, eng.error) == ("sent", 2, None)


def test_a_stale_claim_is_taken_over(engine):
    crashed = Recorder()
    with pytest.raises(KeyboardInterrupt):  # the process dies between claim and outcome
        run_due(engine, settings(), MONDAY, _dies)
    soon = run_due(engine, settings(), MONDAY + timedelta(minutes=5), crashed)
    assert [o.channel for o in soon] == ["hook"]  # eng's claim is still held
    late = run_due(engine, settings(), MONDAY + timedelta(minutes=16), crashed)
    assert [o.channel for o in late] == ["eng"]
    assert sorted(crashed.sent) == [("eng", "2026-W46"), ("hook", "2026-W46")]


def _dies(*_args):
    raise KeyboardInterrupt


def test_muted_channels_and_other_installations_are_left_alone(engine):
    send = Recorder()
    run_due(engine, settings(muted=["hook"]), MONDAY, send)
    star = Settings(digests=[DigestSpec(installation="*", channels=CHANNELS[:1])])
    run_due(engine, star, MONDAY + timedelta(minutes=1), send)
    assert send.sent == [("eng", "2026-W46")]


def test_cli_send_twice_sends_once_and_force_sends_again(engine, database_url, monkeypatch):
    send = Recorder()
    monkeypatch.setattr(digest_schedule, "default_send", send)
    monkeypatch.setenv(
        "YIELD_AUDITOR_DIGESTS", settings().model_dump_json(include={"digests"})[11:-1]
    )
    args = ["digest", "--send", "--period", "2026-W46", "--db", database_url]
    runner = CliRunner()
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "2026-W46 installation 7 eng: sent" in first.output
    second = runner.invoke(main, args)
    assert "already sent (--force sends again)" in second.output
    forced = runner.invoke(main, [*args, "--force"])
    assert forced.exit_code == 0 and "hook: sent" in forced.output
    assert sorted(send.sent) == [("eng", "2026-W46")] * 2 + [("hook", "2026-W46")] * 2


def test_cli_preview(engine, database_url, monkeypatch):
    monkeypatch.delenv("YIELD_AUDITOR_DIGESTS", raising=False)
    runner = CliRunner()
    base = ["digest", "--preview", "--period", "2026-W46", "--db", database_url]
    text = runner.invoke(main, base)
    assert text.exit_code == 0, text.output
    assert "Token yield 67% (+5 pts); cost per shipped task $0.12" in text.output
    html = runner.invoke(main, [*base, "--installation", "7", "--format", "html"])
    assert "<svg" in html.output
    bad = runner.invoke(main, ["digest", "--preview", "--period", "2025-W53", "--db", database_url])
    assert bad.exit_code == 1 and "not an ISO week" in bad.output
    assert runner.invoke(main, ["digest", "--db", database_url]).exit_code == 2


def test_the_serve_scheduler_registers_the_digest_job(engine):
    from bot.app.processes import start_scheduler

    scheduler = start_scheduler(engine, None, settings())
    try:
        job = scheduler.get_job("digests")
        assert job.coalesce and job.max_instances == 1
    finally:
        scheduler.shutdown(wait=False)


def test_channel_secrets_are_not_shown():
    spec = DigestSpec(installation=1, channels=[{"type": "slack", "name": "eng", "url": "SECRET"}])
    assert "SECRET" not in repr(Settings(digests=[spec]))
    with pytest.raises(ValueError) as error:
        Settings(digests=[{"installation": 1, "channels": [{"type": "pager", "url": "SECRET"}]}])
    assert "SECRET" not in str(error.value)


_SCHEDULER_PROCESS = """
import sys
from datetime import datetime
from bot.config import DigestSpec, Settings
from bot.app.digests import run_due
from bot.ledger.db import make_engine

url, out, at, installation = sys.argv[1:5]
channels = [{"type": "slack", "name": "eng"}, {"type": "webhook", "name": "hook"}]

def send(channel, digest, _settings):
    with open(out, "a") as sent:
        sent.write(f"{channel['name']} {digest.period.label}\\n")

spec = DigestSpec(installation=int(installation), channels=channels)
settings = Settings(_env_file=None, digests=[spec])
run_due(make_engine(url), settings, datetime.fromisoformat(at), send)
"""


def test_two_scheduler_processes_send_once(engine, tmp_path):
    import os
    import subprocess
    import sys

    url = engine.url.render_as_string(hide_password=False)
    out = tmp_path / "sent.txt"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [sys.executable, "-c", _SCHEDULER_PROCESS, url, str(out), MONDAY.isoformat(),
            str(INSTALLATION)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": root}
    processes = [subprocess.Popen(args, env=env, cwd=tmp_path) for _ in range(2)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    assert sorted(out.read_text().splitlines()) == ["eng 2026-W46", "hook 2026-W46"]
