"""``serve``: the web server, one worker thread and the scheduler, all in one process.

It stops gracefully on SIGTERM or SIGINT: the web server stops accepting, the worker finishes
the delivery it holds, the scheduler lets a running job end (docs/deploy.md#signals). The
worker and scheduler processes on their own are ``bot.app.processes``.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler, make_server

from bot import telemetry
from bot.app.processes import build_worker, on_signals, prepared_engine, start_scheduler
from bot.config import Settings
from bot.ledger.db import display_url
from webhooks.access import is_loopback_host
from webhooks.app import create_app
from webhooks.setup import setup_link

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
    on_signals(lambda: (stop.set(), server.shutdown()))
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
