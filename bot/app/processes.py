"""Process wiring for ``worker`` and ``scheduler``, and the worker the web process embeds.

Each stops gracefully on SIGTERM or SIGINT: a worker finishes the delivery it holds, the
scheduler lets a running job end (docs/deploy.md#signals). The web server is ``webhooks.serve``.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from prometheus_client import start_http_server
from sqlalchemy.engine import Engine

from bot import telemetry
from bot.app.api_steps import api_steps, redeliver_failed
from bot.app.digests import add_digest_job
from bot.app.pr_comment import CommentStep
from bot.app.worker import DEFAULT_LEASE, Worker
from bot.config import Settings
from bot.github.client import GitHubApp, configured
from bot.ledger import inbox
from bot.ledger.db import LedgerUnavailable, make_engine, migrate, require_head

log = logging.getLogger(__name__)


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
            registry = telemetry.create_registry(partial(inbox.queue_stats, engine))
            start_http_server(metrics_port, addr=metrics_address, registry=registry)
        worker = build_worker(engine, settings, poll_seconds=poll_seconds, lease=lease)
        if once:
            return worker.drain()
        stop = threading.Event()
        on_signals(lambda: (stop.set(), worker.wake()))
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
    analyser = settings.analyser()
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
    on_signals(lambda: scheduler.shutdown(wait=True))  # a running job finishes first
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


def on_signals(callback) -> None:
    """SIGINT and SIGTERM stop gracefully (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, _frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=callback, daemon=True).start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
