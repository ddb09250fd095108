"""The webhook endpoint (store, then acknowledge), the health check and the metrics.

GitHub gives a receiver 10 seconds and never redelivers on its own, so a 2xx here always means
"committed to the inbox". What is not stored gets a 4xx when sending it again cannot help, or a
503 when it can (the database is unreachable). Unauthenticated requests only ever learn 401,
403 or 413, and nothing of them is stored. Request headers and bodies are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import RequestEntityTooLarge, ServiceUnavailable, Unauthorized

from bot import telemetry
from bot.ledger import inbox
from bot.ledger.db import current_revision, head_revision, redact, write_lock
from webhooks.access import from_this_computer

if TYPE_CHECKING:
    from webhooks.app import AppState

logger = logging.getLogger(__name__)
blueprint = Blueprint("ingress", __name__)

STATE_KEY = "yield_auditor"
WEBHOOK_PATH = "/api/github/webhooks"  # Probot's default
MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
RETRY_AFTER_SECONDS = 30

SIGNATURE_HEADER = "X-Hub-Signature-256"
SHA1_SIGNATURE_HEADER = "X-Hub-Signature"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_EVENT = re.compile(r"[a-z][a-z0-9_]{0,63}")
_GUID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_INT64 = range(-(2**63), 2**63)
_FORM = "application/x-www-form-urlencoded"


def state() -> AppState:
    """The running app's settings, engine, router, registry and worker hook."""
    return current_app.extensions[STATE_KEY]


# --------------------------------------------------------------------------- webhooks


@blueprint.post(WEBHOOK_PATH)
def receive_webhook() -> ResponseReturnValue:
    app_state = state()
    delivery, event = _header(DELIVERY_HEADER, _GUID), _header(EVENT_HEADER, _EVENT)
    context = telemetry.log_context(delivery=delivery, event=event)
    with telemetry.ACKNOWLEDGE_SECONDS.time(), context:
        body = _authenticated_body(app_state)
        if delivery is None or event is None:
            _reject(400, "headers", f"{EVENT_HEADER} or {DELIVERY_HEADER} is missing or invalid")
        payload = _payload(body)
        if event == "ping":
            logger.info("ping received")
            return {"ok": True, "zen": payload.get("zen")}, 200
        return _store(app_state, delivery, event, body, payload)


def _authenticated_body(app_state: AppState) -> bytes:
    """The raw body, once its size and its HMAC-SHA256 signature are checked."""
    secret = _webhook_secret(app_state)
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES
    if (request.content_length or 0) > limit:
        _reject(413, "size", f"the body exceeds {limit} bytes")
    signature = _signature()
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        _reject(413, "size", f"the body exceeds {limit} bytes")
    if len(body) > limit:
        _reject(413, "size", f"the body exceeds {limit} bytes")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        _reject(403, "signature", f"{SIGNATURE_HEADER} does not match the body")
    return body


def _webhook_secret(app_state: AppState) -> bytes:
    """The secret as bytes; with none configured every delivery is refused, never accepted."""
    secret = app_state.settings.github_webhook_secret
    value = secret.get_secret_value() if secret is not None else ""
    if not value:
        _reject(
            500,
            "unconfigured",
            "GITHUB_WEBHOOK_SECRET is not set: every delivery is refused, as unsigned deliveries "
            "are never accepted",
        )
    return value.encode("utf-8")


def _signature() -> str:
    """The hex digest from X-Hub-Signature-256, lower-cased."""
    header = request.headers.get(SIGNATURE_HEADER)
    if header is None:
        if SHA1_SIGNATURE_HEADER in request.headers:
            _reject(403, "signature", f"SHA-1 signatures are refused: send {SIGNATURE_HEADER}")
        _reject(401, "unsigned", f"{SIGNATURE_HEADER} is missing")
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        _reject(403, "signature", f"{SIGNATURE_HEADER} is malformed")
    return match.group(1).lower()


def _header(name: str, pattern: re.Pattern[str]) -> str | None:
    value = request.headers.get(name)
    return value if value is not None and pattern.fullmatch(value) else None


def _payload(body: bytes) -> dict[str, Any]:
    if request.mimetype == _FORM:
        _reject(415, "content_type", "set the webhook's content type to application/json")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        _reject(400, "json", "the body is not valid JSON")
    if not isinstance(document, dict):
        _reject(400, "json", "the payload is not a JSON object")
    return document


def _store(
    app_state: AppState, guid: str, event: str, body: bytes, payload: dict[str, Any]
) -> ResponseReturnValue:
    fields = inbox.describe(event, payload)
    ignored = not app_state.router.handles(event, fields["action"])
    context = {
        "action": fields["action"],
        "repository": fields["repository"],
        "installation": fields["installation_id"],
    }
    with telemetry.log_context(**context):
        _check_storable(fields)
        try:
            stored = inbox.store(app_state.engine, guid, event, body, payload, ignored=ignored)
        except (SQLAlchemyError, OSError) as exc:
            _unavailable(app_state, exc)
        if not stored:
            telemetry.record_duplicate(event)
            logger.info("duplicate delivery acknowledged, not stored again")
            return {"id": guid, "status": "duplicate"}, 200
        telemetry.record_received(event, ignored=ignored)
        status = "ignored" if ignored else "queued"
        logger.info("delivery stored", extra={"status": status})
        if not ignored:
            _wake_worker(app_state)
        return {"id": guid, "status": status}, 202


def _check_storable(fields: Mapping[str, Any]) -> None:
    """Refuse (400) a payload whose indexed fields no database can hold: NUL characters, lone
    surrogates or integers beyond 64 bits. Storing would fail the same way on every retry."""
    for name, value in fields.items():
        if isinstance(value, str):
            bad = "\x00" in value or not _utf8(value)
        else:
            bad = isinstance(value, int) and value not in _INT64
        if bad:
            _reject(400, "payload", f"the payload's {name} cannot be stored")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unavailable(app_state: AppState, exc: BaseException) -> NoReturn:
    telemetry.record_rejected("database")
    logger.error(
        "the database is unavailable, delivery not stored (%s); GitHub's redelivery will work "
        "once it is back",
        _database_error(app_state, exc),
    )
    raise ServiceUnavailable(
        "the delivery could not be stored; redeliver it later", retry_after=RETRY_AFTER_SECONDS
    )


def _database_error(app_state: AppState, exc: BaseException) -> str:
    """The driver's first line only: SQLAlchemy's full message repeats the statement and may
    carry the parameters, i.e. the request body."""
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return redact(f"{type(cause).__name__}: {first_line}", app_state.engine.url)


def _wake_worker(app_state: AppState) -> None:
    """Tell an embedded worker there is work; it polls anyway, so a failing hook costs nothing
    but latency and must not turn a stored delivery into an error."""
    if app_state.on_stored is None:
        return
    try:
        app_state.on_stored()
    except Exception:
        logger.exception("the worker's wake-up hook failed; the worker will poll instead")


def _reject(status: int, reason: str, message: str) -> NoReturn:
    telemetry.record_rejected(reason)
    log = logger.error if status >= 500 else logger.warning
    log("delivery refused (%s): %s", status, message, extra={"reason": reason})
    abort(status, message)


# --------------------------------------------------------------------------- operations


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Healthy means a delivery can be stored now: the database answers, is at this release's
    schema and accepts writes. Why not is logged; the answer names only which of the three."""
    app_state = state()
    try:
        problem = _storage_problem(app_state.engine)
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("health check failed: %s", _database_error(app_state, exc))
        problem = "unreachable"
    if problem is not None:
        return {"status": "unavailable", "database": problem}, 503
    return {"status": "ok", "database": "ok"}, 200


def _storage_problem(engine: Engine) -> str | None:
    """Why no delivery could be stored now ("unmigrated", "read-only"), or None. The write
    probe changes no row and takes no row lock (a migration in progress must not stall it), yet
    a read-only database refuses it: PostgreSQL checks before it executes an UPDATE, SQLite as
    it begins the write transaction."""
    revision, head = current_revision(engine), head_revision()
    if revision != head:
        logger.warning("health check: the database is at %s, this release needs %s", revision, head)
        return "unmigrated"
    with write_lock(engine), engine.connect() as connection:
        try:
            connection.execute(_WRITE_PROBE)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            logger.warning("health check: writes refused: %s", _database_error(state(), exc))
            return "read-only"
        finally:
            connection.rollback()
    return None


_WRITE_PROBE = sa.text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus' scrape: with YIELD_AUDITOR_METRICS_TOKEN set, for its bearer only; without,
    for this computer only, since the metrics name installations."""
    token = state().settings.metrics_token
    expected = token.get_secret_value() if token is not None else ""
    if expected:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if not (scheme.lower() == "bearer" and hmac.compare_digest(sent.strip(), expected)):
            telemetry.record_rejected("metrics")
            raise Unauthorized(
                "send the metrics token: 'Authorization: Bearer <YIELD_AUDITOR_METRICS_TOKEN>'",
                www_authenticate=WWWAuthenticate("bearer", {"realm": "metrics"}),
            )
    elif not from_this_computer():
        abort(403, "set YIELD_AUDITOR_METRICS_TOKEN to scrape the metrics from another computer")
    return Response(generate_latest(state().registry), content_type=CONTENT_TYPE_LATEST)
