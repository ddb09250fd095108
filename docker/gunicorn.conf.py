"""gunicorn's settings for the image's ``web`` role (docs/deploy.md#container).

gunicorn reads this file, then ``GUNICORN_CMD_ARGS``, then its command line, so any setting can
be changed without a new image (``GUNICORN_CMD_ARGS="--timeout 60"``). It listens on
``0.0.0.0:$PORT`` (the image sets ``PORT=8000``), trusts ``X-Forwarded-*`` from the addresses in
``FORWARDED_ALLOW_IPS`` (its own default: loopback only), and runs ``WEB_CONCURRENCY`` processes
of ``WEB_THREADS`` threads.
"""

import os

wsgi_app = "webhooks:create_app()"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# The app is built once, before the processes fork: they share the setup page's token (one in
# the log, not one per process), and a broken configuration stops the master at once.
preload_app = True
timeout = 30  # a request stuck this long has its process restarted
graceful_timeout = 20  # SIGTERM: requests in flight get this long (compose waits 30 s)
keepalive = 5

# One stream of JSON lines on stderr, the app's and gunicorn's (docs/deploy.md#operating-it).
# The access line leaves out the query string: it can carry an OAuth code or the setup token.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms "%(a)s"'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "bot.telemetry.RedactingFilter"}},
    "formatters": {"json": {"()": "bot.telemetry.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
            "filters": ["redact"],
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}


def on_starting(server):
    """Migrate before listening (unless ``YIELD_AUDITOR_MIGRATE_ON_START=false``, which checks
    instead), so the health check passes only on a database this release can use."""
    from bot.app.processes import prepared_engine
    from bot.config import Settings

    prepared_engine(Settings()).dispose()


def post_fork(server, worker):
    """Each process opens its own database connections (none may be shared across a fork)."""
    server.app.callable.extensions["yield_auditor"].engine.dispose(close=False)
