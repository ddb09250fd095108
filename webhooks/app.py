"""The Flask application factory; production runs it with ``gunicorn 'webhooks:create_app()'``.

``create_app`` never migrates the database (``yield-auditor serve`` and ``migrate`` do), so any
number of web replicas can start at once against one database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException, InternalServerError

from bot import telemetry
from bot.config import Settings
from bot.ledger import make_engine
from webhooks.handlers import router as default_router
from webhooks.ingress import MAX_BODY_BYTES, STATE_KEY, blueprint
from webhooks.router import Router

logger = logging.getLogger(__name__)


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


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """The web app: webhook ingress, health check and metrics on ``settings``' database."""
    settings = settings or Settings()
    if engine is None:
        # Parameters are kept out of error messages: they would carry webhook bodies.
        # No pre-ping: it costs a round trip per request; a connection the server dropped fails
        # one request with 503 (not stored, so GitHub's redelivery, or ours, brings it again)
        # and the pool is then refreshed.
        engine = make_engine(settings.database_url, hide_parameters=True, pool_pre_ping=False)
    _register_secrets(settings, engine)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    registry = telemetry.create_registry(engine)
    app.extensions[STATE_KEY] = AppState(settings, engine, default_router, registry)
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


def _http_error(error: HTTPException) -> Response:
    """Every error answer is JSON ``{"error": ...}``, with the exception's headers kept
    (``Allow`` on a 405, ``Retry-After`` on a 503)."""
    response = error.get_response()
    response.set_data(json.dumps({"error": error.description or error.name}))
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error while answering a request")
    return _http_error(InternalServerError("internal server error"))
