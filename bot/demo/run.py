"""``yield-auditor demo``: the App on SQLite against the fake GitHub, fed a scripted week.

Everything runs in this process: the fake GitHub, the web server (ingress and dashboard, in
local mode), a worker thread. Eleven earlier weeks (``bot.demo.history``) are stored first so
the dashboard has trends to draw.
The scenario (``bot.demo.story``) is sent as signed webhooks over HTTP, exactly as GitHub would,
and the worker calls the fake GitHub through PyGithub: the PR comments it prints are the ones
the App really wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click
import httpx
from werkzeug.serving import make_server

from bot import telemetry
from bot.config import Settings
from bot.demo.fake_github.server import FakeGitHub
from bot.demo.story import INSTALLATION, REPO, START, play
from bot.ledger import inbox
from bot.ledger.db import make_engine, migrate

DEMO_APP_ID = 424242
DRAIN_TIMEOUT_SECONDS = 300


def run_demo(host: str, port: int, exit_after: bool, url: str | None) -> int:
    """Replay the scenario; print the comments; serve until interrupted unless ``exit_after``.

    Returns the exit status: 1 when a delivery failed or the queue did not drain.
    """
    from bot.app.processes import build_worker
    from webhooks.access import is_loopback_host
    from webhooks.app import create_app

    if not is_loopback_host(host):
        raise click.UsageError(
            f"--host {host}: the demo runs in local mode (no sign-in, every installation "
            "visible), so it only binds a loopback address such as 127.0.0.1"
        )
    telemetry.configure_logging(level="WARNING")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the demo
    url = url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='yield-auditor-demo-')) / 'demo.db'}"
    secret = secrets.token_hex(16)
    with FakeGitHub(app_id=DEMO_APP_ID) as fake:
        settings = Settings(
            _env_file=None,
            database_url=url,
            github_app_id=fake.app_id,
            github_app_private_key=fake.private_key,
            github_webhook_secret=secret,
            github_api_url=fake.url,
            local_mode=True,  # the dashboard without sign-in, for this computer only
            # The comments link each task's page; a port chosen by the system is known too late.
            public_url=f"http://{host}:{port}" if port else None,
        )
        engine = make_engine(url)
        migrate(engine)
        _seed_history(engine)
        app = create_app(settings, engine)
        quick = {"seconds_between_requests": None, "seconds_between_writes": None}
        worker = build_worker(engine, settings, github_options=quick, poll_seconds=0.1)
        app.extensions["yield_auditor"].on_stored = worker.wake
        server = make_server(host, port, app, threaded=True)
        stop = threading.Event()
        threads = [
            threading.Thread(target=server.serve_forever, daemon=True),
            threading.Thread(target=worker.run, args=(stop,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        base = f"http://{host}:{server.port}"
        try:
            status = _replay(fake, base, secret, engine)
            if not exit_after:
                click.echo(
                    f"\nThe dashboard is at {base}/installations/{INSTALLATION}/ in local "
                    "mode: no sign-in, visible from this computer only (Ctrl-C to stop)."
                )
                threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            worker.wake()
            server.shutdown()
            for thread in threads:
                thread.join(timeout=30)
            engine.dispose()
    return status


def _seed_history(engine) -> None:
    """The eleven weeks before the scripted one (``bot.demo.history``), for the dashboard."""
    from sqlalchemy.orm import Session

    from bot.demo.history import seed_history

    with Session(engine) as session, session.begin():
        seed_history(session)


def _replay(fake: FakeGitHub, base: str, secret: str, engine) -> int:
    with httpx.Client(base_url=base, timeout=30) as client:
        numbers = play(fake, lambda event, payload: _send(client, secret, event, payload))
    drained = _drain(engine)
    for number in numbers:
        pull = fake.pull(REPO, number)
        click.echo(f"\n{'=' * 100}\n{REPO}#{number}: {pull.title} ({_state(pull)})\n{'=' * 100}")
        comments = fake.comments(REPO, number)
        click.echo("\n\n".join(c.body for c in comments) if comments else "(no comment)")
    _print_digest(engine)
    failed = inbox.list_deliveries(engine, inbox.FAILED, limit=None)
    for delivery in failed:
        click.echo(f"{delivery.guid} ({delivery.event}) failed: {delivery.error}", err=True)
    return 0 if drained and not failed else 1


def _print_digest(engine) -> None:
    """The weekly digest the installation's channels would receive for the scenario's week."""
    from sqlalchemy.orm import Session

    from bot.digest.period import period_of
    from bot.digest.query import build_digest
    from bot.digest.render import render_text

    period = period_of(START.strftime("%G-W%V"), "UTC", START)
    with Session(engine) as session:
        digest = build_digest(session, INSTALLATION, period)
    click.echo(f"\n{'=' * 100}\nWeekly digest preview ({period.label})\n{'=' * 100}")
    click.echo(render_text(digest))


def _send(client: httpx.Client, secret: str, event: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": secrets.token_hex(16),
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/yield-auditor-demo",
    }
    answer = client.post("/api/github/webhooks", content=body, headers=headers)
    if answer.status_code not in (200, 202):
        raise click.ClickException(f"the App refused a {event} delivery: {answer.text}")


def _drain(engine) -> bool:
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if inbox.queue_stats(engine).depth == 0:
            return True
        time.sleep(0.1)
    click.echo("the worker did not finish in time", err=True)
    return False


def _state(pull) -> str:
    return "merged" if pull.merged else pull.state
