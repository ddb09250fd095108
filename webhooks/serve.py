"""Process wiring for ``serve`` (all in one), ``worker`` and ``scheduler``.

Each stops gracefully on SIGTERM or SIGINT: the web server stops accepting, a worker finishes
the delivery it holds, the scheduler lets a running job end (docs/deploy.md#signals).
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from prometheus_client import start_http_server
from sqlalchemy.engine import Engine
from werkzeug.serving import WSGIRequestHandler, make_server

from bot import inbox, telemetry
from bot.analysis import Analyser
from bot.config import Settings
from bot.digest_schedule import add_digest_job
from bot.github.client import GitHubApp, configured
from bot.ledger import display_url, make_engine, migrate
from bot.ledger.db import LedgerUnavailable, require_head
from webhooks.access import is_loopback_host
from webhooks.api_steps import api_steps, redeliver_failed
from webhooks.app import create_app
from webhooks.pr_comment import CommentStep
from webhooks.setup import setup_link
from webhooks.worker import DEFAULT_LEASE, Worker

log = logging.getLogger(__name__)


def serve(host: str, port: int, url: str | None = None) -> None:
    """Web server, one worker thread and the scheduler, until SIGINT or SIGTERM."""
    telemetry.configure_logging()
    settings = Settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    if settings.local_mode and not is_loopback_host(host):
        raise SystemExit(
            f"YIELD_AUDITOR_LOCAL_MODE shows every installation without sign-in: serve it on a "
            f"loopback address (--host 127.0.0.1), not {host}"
        )
    engine = prepared_engine(settings)
    app = create_app(settings, engine)
    worker = build_worker(engine, settings)
    app.extensions["yield_auditor"].on_stored = worker.wake
    stop = threading.Event()
    threads = [threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)]
    scheduler = start_scheduler(engine, worker.github, settings)
    server = make_server(host, port, app, threaded=True, request_handler=PathOnlyAccessLog)
    _on_signals(lambda: (stop.set(), server.shutdown()))
    for thread in threads:
        thread.start()
    log.info("serving on http://%s:%d with %s", host, server.port, display_url(engine.url))
    _announce_setup(app, host, server.port)
    try:
        server.serve_forever()
    finally:
        stop.set()
        worker.wake()
        scheduler.shutdown(wait=False)
        for thread in threads:
            thread.join(timeout=30)
        engine.dispose()


class PathOnlyAccessLog(WSGIRequestHandler):
    """Access lines without the query string, as docker/gunicorn.conf.py's format: it can carry
    an OAuth ``code`` and ``state`` or the setup page's ``token``."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        try:
            line = f"{self.command} {urlsplit(self.path).path} {self.request_version}"
        except AttributeError:  # the request line could not be parsed: show none of it
            line = "(unparsable request line)"
        self.log("info", '"%s" %s %s', line.translate(self._control_char_table), code, size)


def _announce_setup(app, host: str, port: int) -> None:
    """Unconfigured: the setup page's address with this process's token (docs/setup.md)."""
    local = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (we read it)
    if ":" in local:
        local = f"[{local}]"
    link = setup_link(app, f"http://{local}:{port}")
    if link is not None:
        log.warning("no GitHub App yet: open %s to create it", link)


def run_worker(
    settings: Settings,
    once: bool = False,
    poll_seconds: float = 1.0,
    lease: timedelta = DEFAULT_LEASE,
    metrics_port: int | None = None,
    metrics_address: str = "127.0.0.1",
) -> int:
    """A worker process; ``once`` processes what is due and returns how many deliveries.

    Its counters live in its own process, so ``metrics_port`` serves them for Prometheus, on
    loopback unless told otherwise: unlike the web role's ``/metrics`` it takes no token.
    """
    engine = prepared_engine(settings)
    try:
        if metrics_port is not None:
            registry = telemetry.create_registry(engine)
            start_http_server(metrics_port, addr=metrics_address, registry=registry)
        worker = build_worker(engine, settings, poll_seconds=poll_seconds, lease=lease)
        if once:
            return worker.drain()
        stop = threading.Event()
        _on_signals(lambda: (stop.set(), worker.wake()))
        worker.run(stop)
        return 0
    finally:
        engine.dispose()


def build_worker(
    engine: Engine,
    settings: Settings,
    github_options: dict[str, Any] | None = None,
    **options: Any,
) -> Worker:
    """A worker with the GitHub API steps and the cost comment when the App is configured;
    without credentials it records what payloads carry and marks the rest skipped.
    ``github_options`` go to ``GitHubApp`` (the demo drops the pauses between requests)."""
    if not configured(settings):
        log.warning("no GitHub App credentials: steps that need the GitHub API are skipped")
        return Worker(engine, settings, **options)
    app = GitHubApp(settings, **(github_options or {}))
    analyser = Analyser.from_settings(settings)
    comments = CommentStep(app, analyser, settings)
    worker = Worker(
        engine,
        settings,
        analyser=analyser,
        api_steps=api_steps(app, analyser, comments.config_for),
        comment_step=comments,
        repo_config=comments.config_for,
        **options,
    )
    worker.github = app
    return worker


def start_scheduler(
    engine: Engine, github: GitHubApp | None = None, settings: Settings | None = None
) -> BackgroundScheduler:
    """The periodic jobs in a thread of the embedded process (``serve``)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    add_periodic_jobs(scheduler, engine, github, settings)
    scheduler.start()
    return scheduler


def run_scheduler(settings: Settings) -> None:
    """``yield-auditor scheduler``: the periodic jobs in the foreground, for production, where
    web and worker processes run none. A second scheduler is harmless: digests are claimed
    before they are sent, and a repeated redelivery is a duplicate GUID to the ingress."""
    engine = prepared_engine(settings)
    github = GitHubApp(settings) if configured(settings) else None
    scheduler = BlockingScheduler(timezone="UTC")
    add_periodic_jobs(scheduler, engine, github, settings)
    _on_signals(lambda: scheduler.shutdown(wait=True))  # a running job finishes first
    try:
        scheduler.start()
    finally:
        engine.dispose()


def add_periodic_jobs(
    scheduler: BaseScheduler,
    engine: Engine,
    github: GitHubApp | None = None,
    settings: Settings | None = None,
) -> None:
    """The inbox's retention (bodies, then whole deliveries), at start and hourly; with the App
    configured, GitHub's failed deliveries of the last 3 days requested again, hourly; with
    digests configured, the digests that are due, every minute (docs/digests.md)."""
    once = {"coalesce": True, "max_instances": 1}
    settings = settings or Settings()
    if settings is not None and settings.digests:
        add_digest_job(scheduler, engine, settings)
    if github is not None:
        scheduler.add_job(
            redeliver_failed, "interval", hours=1, args=(github,), id="redeliver-failed", **once
        )
    retention = (
        timedelta(days=settings.body_retention_days),
        timedelta(days=settings.delivery_retention_days),
    )
    scheduler.add_job(
        inbox.purge, "interval", hours=1, args=(engine, *retention), id="inbox-purge",
        next_run_time=datetime.now(UTC), **once,
    )  # fmt: skip


def prepared_engine(settings: Settings) -> Engine:
    """An engine on a database at this release's schema: migrated here, or with
    ``YIELD_AUDITOR_MIGRATE_ON_START=false`` (a role without DDL rights, say) checked, so a
    process never runs against a schema it does not know."""
    engine = make_engine(settings.database_url, hide_parameters=True)  # no bodies in errors
    try:
        if settings.migrate_on_start:
            migrate(engine)
        else:
            _require_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _require_head(engine: Engine) -> None:
    try:
        require_head(engine)
    except LedgerUnavailable as exc:
        raise SystemExit(f"{exc} (YIELD_AUDITOR_MIGRATE_ON_START=false)") from None


def _on_signals(callback) -> None:
    """SIGINT and SIGTERM stop gracefully (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, _frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=callback, daemon=True).start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
