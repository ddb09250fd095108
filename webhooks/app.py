"""The Flask application factory; production runs it with ``gunicorn 'webhooks:create_app()'``.

``create_app`` never migrates the database (``yield-auditor serve`` and ``migrate`` do), so any
number of web replicas can start at once against one database. Who may see what (sign-in, API
tokens, local mode), CSRF, the session cookie and the security headers are set up by
``webhooks.access.init_access`` (docs/access.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flask import Blueprint, Flask, Response
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException, InternalServerError

from bot import telemetry
from bot.app.handlers import router as default_router
from bot.app.router import Router
from bot.config import Settings
from bot.ledger import inbox
from bot.ledger.db import make_engine
from bot.render.jinja import TEMPLATES
from webhooks import access
from webhooks.ingress import MAX_BODY_BYTES, STATE_KEY
from webhooks.ingress import blueprint as ingress_blueprint

logger = logging.getLogger(__name__)

STATIC_FOLDER = Path(__file__).resolve().parent / "static"  # served at /static/


@dataclass(slots=True)
class AppState:
    """What the views share, in ``app.extensions["yield_auditor"]``.

    ``on_stored`` is called after each delivery is stored for processing; the embedded worker
    sets it to wake up at once instead of at its next poll.
    """

    settings: Settings
    engine: Engine
    router: Router
    registry: CollectorRegistry
    on_stored: Callable[[], None] | None = None


def blueprints() -> list[Blueprint]:
    """Every blueprint of the app, registered in this order. The webhook ingress is exempt
    from CSRF (deliveries are signed instead); every other POST needs the form's token."""
    from webhooks import api, auth, dashboard, setup

    return [ingress_blueprint, auth.blueprint, api.blueprint, dashboard.blueprint, setup.blueprint]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """The web app on ``settings``' database: webhook ingress, health check, metrics, sign-in
    with GitHub and the blueprints of ``blueprints()``."""
    settings = settings or Settings()
    if engine is None:
        # Parameters are kept out of error messages: they would carry webhook bodies.
        # No pre-ping: it costs a round trip per request; a connection the server dropped fails
        # one request with 503 (not stored, so GitHub's redelivery, or ours, brings it again)
        # and the pool is then refreshed.
        engine = make_engine(settings.database_url, hide_parameters=True, pool_pre_ping=False)
    _register_secrets(settings, engine)
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC_FOLDER))
    # Autoescape every template, whatever its name (Flask's default covers only .html & co.).
    app.jinja_options = {**app.jinja_options, "autoescape": True}
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    registry = telemetry.create_registry(partial(inbox.queue_stats, engine))
    app.extensions[STATE_KEY] = AppState(settings, engine, default_router, registry)
    csrf = access.init_access(app, settings, engine)
    csrf.exempt(ingress_blueprint)
    for blueprint in blueprints():
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _register_secrets(settings: Settings, engine: Engine) -> None:
    secret = settings.github_webhook_secret
    if secret is None or not secret.get_secret_value():
        logger.warning("GITHUB_WEBHOOK_SECRET is not set: every webhook delivery will be refused")
    else:
        telemetry.register_secret(secret.get_secret_value())
    telemetry.register_secret(engine.url.password)
    for value in (settings.github_client_secret, settings.secret_key):
        if value is not None:
            telemetry.register_secret(value.get_secret_value())


def _http_error(error: HTTPException) -> Response:
    """Error answers are JSON ``{"error": ...}`` for the API and the webhook ingress, a small
    HTML page for the dashboard's pages; the exception's headers are kept (``Allow`` on a 405,
    ``Retry-After`` on a 503)."""
    return access.error_response(error)


def _unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error while answering a request")
    return _http_error(InternalServerError("internal server error"))
