"""Process wiring for ``serve`` (all in one) and ``worker`` (workers only)."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import start_http_server
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from bot import inbox, telemetry
from bot.config import Settings
from bot.ledger import display_url, make_engine, migrate
from webhooks.app import create_app
from webhooks.worker import DEFAULT_LEASE, Worker

log = logging.getLogger(__name__)

KEEP_FINISHED = timedelta(days=30)  # done and ignored deliveries are purged after this


def serve(host: str, port: int, url: str | None = None) -> None:
    """Web server, one worker thread and the scheduler, until SIGINT or SIGTERM."""
    telemetry.configure_logging()
    settings = Settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    engine = _migrated_engine(settings)
    app = create_app(settings, engine)
    worker = Worker(engine, settings)
    app.extensions["yield_auditor"].on_stored = worker.wake
    stop = threading.Event()
    threads = [threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)]
    scheduler = start_scheduler(engine)
    server = make_server(host, port, app, threaded=True)
    _on_signals(lambda: (stop.set(), server.shutdown()))
    for thread in threads:
        thread.start()
    log.info("serving on http://%s:%d with %s", host, server.port, display_url(engine.url))
    try:
        server.serve_forever()
    finally:
        stop.set()
        worker.wake()
        scheduler.shutdown(wait=False)
        for thread in threads:
            thread.join(timeout=30)
        engine.dispose()


def run_worker(
    settings: Settings,
    once: bool = False,
    poll_seconds: float = 1.0,
    lease: timedelta = DEFAULT_LEASE,
    metrics_port: int | None = None,
) -> int:
    """A worker process; ``once`` processes what is due and returns how many deliveries.

    Its counters live in its own process, so ``metrics_port`` serves them for Prometheus.
    """
    engine = _migrated_engine(settings)
    try:
        if metrics_port is not None:
            start_http_server(metrics_port, registry=telemetry.create_registry(engine))
        worker = Worker(engine, settings, poll_seconds=poll_seconds, lease=lease)
        if once:
            return worker.drain()
        stop = threading.Event()
        _on_signals(lambda: (stop.set(), worker.wake()))
        worker.run(stop)
        return 0
    finally:
        engine.dispose()


def start_scheduler(engine: Engine) -> BackgroundScheduler:
    """Periodic jobs of the embedded process: the inbox's clean-up, daily."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        inbox.purge,
        "interval",
        days=1,
        args=(engine, KEEP_FINISHED),
        id="inbox-purge",
        coalesce=True,
        max_instances=1,
    )
    scheduler.start()
    return scheduler


def _migrated_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.database_url, hide_parameters=True)  # no bodies in errors
    migrate(engine)
    return engine


def _on_signals(callback) -> None:
    """SIGINT and SIGTERM stop gracefully (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, _frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=callback, daemon=True).start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
