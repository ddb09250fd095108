"""Who is asking, and which installations they may see (docs/access.md).

Every dashboard page and API endpoint names an installation and calls ``require_installation``
first: a caller who may not see it gets 404, exactly as for one that does not exist, so ids of
other tenants cannot be probed. A caller is resolved once per request, before any view runs:

* a signed-in GitHub user (the session cookie): the installations ``GET /user/installations``
  listed at sign-in, and the ones they administer;
* an API token (``Authorization: Bearer ...``): one installation, read-only, on ``/api/v1/``
  only;
* local mode (the demo): every installation in the database, only from the loopback interface.

``init_access`` also sets what every response carries (security headers), the session cookie's
flags, CSRF protection for every state-changing request made with the cookie, and the error
pages: JSON under ``/api/`` and for the webhook ingress, HTML elsewhere.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from bot.config import Settings
from bot.ledger.schema import SessionVersionRow
from bot.ledger.store import dialect_insert

log = logging.getLogger(__name__)

USER, TOKEN, LOCAL = "user", "token", "local"
SESSION_USER = "user"  # session key of the signed-in user (see ``session_user``)

API_PREFIX = "/api/"  # errors are JSON here (and for the ingress), HTML pages elsewhere
API_V1_PREFIX = "/api/v1/"  # API tokens are accepted here only
INGRESS = "ingress"  # the webhook ingress blueprint: signed, so no session, no CSRF
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ERROR_TEMPLATE = "dashboard/error.html.j2"
COOKIE_NAME = "yield-auditor"
SECURE_COOKIE_NAME = "__Host-yield-auditor"  # Secure, Path=/ and no Domain, enforced by browsers
_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP")
_UNAUTHENTICATED = "sign in, or send an API token: 'Authorization: Bearer <token>'"


@dataclass(frozen=True, slots=True)
class Caller:
    kind: str  # user, token or local
    login: str | None  # the GitHub login (user), the token's name (token), None (local)
    installations: frozenset[int]
    admin_of: frozenset[int]
    token_id: int | None = None
    user_id: int | None = None  # GitHub's id of a signed-in user

    def sees(self, installation_id: int) -> bool:
        return installation_id in self.installations


def session_user(
    login: str,
    user_id: int,
    installations: set[int],
    admin_of: set[int],
    expires: float,
    version: int = 0,
) -> dict:
    """What the session cookie holds for a signed-in user (never their GitHub token);
    ``version`` is the user's ``session_version`` at sign-in."""
    return {
        "login": login,
        "id": user_id,
        "installations": sorted(installations),
        "admin_of": sorted(admin_of & installations),
        "expires": expires,
        "version": version,
    }


def session_version(engine: Engine, user_id: int) -> int:
    """The user's session version: a cookie of another version no longer signs in."""
    table = SessionVersionRow.__table__
    query = sa.select(table.c.version).where(table.c.user_id == user_id)
    with _database(engine) as connection:
        return connection.execute(query).scalar() or 0


def end_sessions(engine: Engine, user_id: int) -> None:
    """Sign ``user_id`` out of every session (``/logout``): their version moves on, so every
    cookie issued before, this one and any copy of it, stops authenticating."""
    table = SessionVersionRow.__table__
    now = datetime.now(UTC)
    statement = dialect_insert(engine.dialect.name, table).values(
        user_id=user_id, version=1, signed_out_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={"version": table.c.version + 1, "signed_out_at": now},
    )
    with _database(engine, write=True) as connection:
        connection.execute(statement)


@contextmanager
def _database(engine: Engine, write: bool = False) -> Iterator[Connection]:
    """A connection (a transaction when ``write``); 503 when the database is unavailable."""
    try:
        with engine.begin() if write else engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        log.error("the database is unavailable (%s)", type(exc).__name__)
        abort(503, "the database is unavailable; try again later")


def current_caller() -> Caller | None:
    """The caller resolved for this request; None when nobody is signed in."""
    return g.get("caller")


def require_caller() -> Caller:
    """The caller, or 401: JSON under /api/, a redirect to sign in for pages (see
    ``init_access``)."""
    caller = current_caller()
    if caller is None:
        abort(401, _UNAUTHENTICATED)
    return caller


def require_installation(installation_id: int) -> Caller:
    """The caller, if they may see ``installation_id``; otherwise 404 (never 403: no probing)."""
    caller = require_caller()
    if not caller.sees(installation_id):
        abort(404)
    return caller


def require_admin(installation_id: int) -> Caller:
    """The caller, if they administer ``installation_id``: 404 for others' installations, 403
    for a member who is not an admin."""
    caller = require_installation(installation_id)
    if installation_id not in caller.admin_of:
        abort(403, "only an administrator of this installation may do this")
    return caller


# --------------------------------------------------------------------------- rules


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1`` (with or without brackets)."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def secure_cookies(settings: Settings) -> bool:
    """Cookies are ``Secure`` unless the dashboard is served over plain http on this computer
    (local mode, or a loopback ``public_url``): browsers drop Secure cookies on http."""
    if settings.local_mode:
        return False
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        if parts.scheme == "http" and is_loopback_host(parts.hostname):
            return False
    return True


def content_security_policy(settings: Settings) -> str:
    """No inline script or style anywhere; forms may post here, and sign-in's redirect after a
    form post may go to GitHub's authorize page."""
    web = urlsplit(settings.github_web_url or "https://github.com")
    github = f"{web.scheme}://{web.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self' {github}; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/...``), else None: never ``//host``,
    ``/\\host``, a scheme, whitespace or control characters (browsers drop tabs and newlines,
    which would turn ``/\\t/host`` into ``//host``)."""
    if not value or len(value) > 2048 or not value.startswith("/"):
        return None
    if value[1:2] in ("/", "\\") or "\\" in value:
        return None
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def wants_json() -> bool:
    """Errors are JSON for the API and the webhook ingress, HTML pages for everything else."""
    return request.path.startswith(API_PREFIX) or request.blueprint == INGRESS


# --------------------------------------------------------------------------- errors


def render_error(
    status: int, title: str, message: str, details: Iterable[str] = (), **headers: str
) -> Response:
    """A small HTML error page (autoescaped), or plain text if the template fails."""
    details = list(details)
    try:
        body = render_template(
            ERROR_TEMPLATE, status=status, title=title, message=message, details=details
        )
    except Exception:
        log.exception("the error page could not be rendered")
        body = "\n".join([f"{status} {title}", message, *details])
        return Response(body, status, headers, mimetype="text/plain")
    return Response(body, status, headers, mimetype="text/html")


def error_response(error: HTTPException) -> Response:
    """JSON ``{"error": ...}`` for the API and the ingress, an HTML page elsewhere; the
    exception's headers are kept (``Allow`` on a 405, ``Retry-After`` on a 503...)."""
    response = error.get_response()
    description = error.description or error.name
    if wants_json():
        response.set_data(json.dumps({"error": description}))
        response.content_type = "application/json"
        return response
    page = render_error(response.status_code, error.name, description)
    response.set_data(page.get_data())
    response.content_type = page.content_type
    return response


# --------------------------------------------------------------------------- wiring


def init_access(app: Flask, settings: Settings, engine: Engine) -> CSRFProtect:
    """Resolve ``g.caller`` before every request, protect forms against CSRF, secure the
    session cookie and every response. Returns the ``CSRFProtect`` (to ``exempt`` blueprints
    that authenticate otherwise, like the signed webhook ingress)."""
    _configure_session(app, settings)
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a form's token lasts as long as the session
    policy = content_security_policy(settings)
    if settings.local_mode:
        log.warning(
            "LOCAL MODE: no sign-in; every installation is shown to anyone connecting from "
            "this computer (requests from elsewhere are refused)"
        )

    # Registered before CSRFProtect's check, so it runs first: a token request is refused (or
    # let through) on its own terms, never asked for a form token (no cookie, no CSRF).
    @app.before_request
    def _resolve() -> None:
        g.caller = None
        if settings.local_mode:
            _only_this_computer()
        if request.blueprint == INGRESS or request.endpoint == "static":
            return  # signed deliveries, health, metrics and static files need no caller
        _refuse_nul()
        authorization = request.headers.get("Authorization")
        if authorization is not None and request.path.startswith(API_V1_PREFIX):
            g.caller = _token_caller(engine, authorization)
            if request.method not in SAFE_METHODS:
                abort(403, "API tokens are read-only")
            return  # so CSRFProtect, which checks unsafe methods only, has nothing to check
        g.caller = _local_caller(engine) if settings.local_mode else _session_caller(engine)
        if app.secret_key is None and request.method in app.config["WTF_CSRF_METHODS"]:
            raise CSRFError("sessions are off (YIELD_AUDITOR_SECRET_KEY is not set).")

    csrf = CSRFProtect(app)  # forms and X-CSRFToken; the ingress is exempted by create_app

    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = policy
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":  # pages and answers are private; static files not
            headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def _who() -> dict[str, Any]:
        return {"caller": current_caller(), "local_mode": settings.local_mode}

    app.register_error_handler(401, _unauthorized)
    app.register_error_handler(CSRFError, _csrf_failed)
    return csrf


def _configure_session(app: Flask, settings: Settings) -> None:
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    if key is None and settings.local_mode:
        key = secrets.token_hex(32)  # sessions (CSRF tokens) last as long as the process
    if key is None:
        missing = ", ".join(settings.sign_in_missing)
        log.info("sign-in with GitHub is off (%s not set): only the webhook ingress runs", missing)
    secure = secure_cookies(settings)
    if secure and settings.public_url and settings.public_url.startswith("http://"):
        log.warning(
            "YIELD_AUDITOR_PUBLIC_URL is plain http on another host: session cookies are "
            "Secure, so browsers will drop them; serve the dashboard over https"
        )
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME=SECURE_COOKIE_NAME if secure else COOKIE_NAME,
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: the top-level redirect back from GitHub carries the cookie holding the OAuth
        # state; cross-site POSTs, frames and fetches do not.
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )


def _refuse_nul() -> None:
    """400 for a NUL character in the path, the query or a form: never meaningful, and
    PostgreSQL refuses it in text (a 500 at the first query otherwise)."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if request.method not in SAFE_METHODS:
        values += [*request.form.keys(), *request.form.values()]
    if any("\0" in value for value in values):
        abort(400, "the address or a parameter contains a NUL character")


def _only_this_computer() -> None:
    if not from_this_computer():
        abort(403, "local mode answers only this computer (http://127.0.0.1), not through a proxy")


def from_this_computer() -> bool:
    """The request came over the loopback interface, under a loopback host name (a DNS
    rebinding page names its own host), and not through a proxy (which would make every
    client look local): what local mode and the setup page answer without a token."""
    try:
        host = urlsplit(f"//{request.host}").hostname
    except ValueError:  # a malformed Host header: not this computer's name
        return False
    forwarded = any(name in request.headers for name in _FORWARDING_HEADERS)
    return not forwarded and is_loopback_host(request.remote_addr) and is_loopback_host(host)


def _token_caller(engine: Engine, authorization: str) -> Caller:
    from bot.ledger.tokens import verify_token

    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        abort(401, "send the API token as 'Authorization: Bearer <token>'")
    try:
        info = verify_token(engine, value.strip())
    except SQLAlchemyError as exc:
        log.error("API token check failed: the database is unavailable (%s)", type(exc).__name__)
        abort(503, "the database is unavailable; try again later")
    if info is None:
        abort(401, "the API token is invalid, revoked or expired")
    only = frozenset({info.installation_id})
    return Caller(TOKEN, info.name, only, frozenset(), token_id=info.id)


def _session_caller(engine: Engine) -> Caller | None:
    data = session.get(SESSION_USER)
    if data is None:
        return None
    try:
        login, expires = str(data["login"]), float(data["expires"])
        user_id, version = int(data["id"]), int(data.get("version", 0))
        installations = frozenset(int(i) for i in data["installations"])
        admin_of = frozenset(int(i) for i in data["admin_of"]) & installations
    except (KeyError, TypeError, ValueError, OverflowError):
        expires = 0.0
    if expires <= time.time() or version != session_version(engine, user_id):
        session.clear()  # expired, signed out since (or not ours)
        return None
    return Caller(USER, login, installations, admin_of, user_id=user_id)


def _local_caller(engine: Engine) -> Caller:
    with _database(engine) as connection:
        ids = frozenset(connection.execute(sa.text("SELECT id FROM installations")).scalars())
    return Caller(LOCAL, None, ids, ids)


def _unauthorized(error: HTTPException) -> Response:
    """401: JSON (with ``WWW-Authenticate: Bearer`` on the API) or, for a page, a redirect to
    sign in that comes back here."""
    if wants_json():
        response = error_response(error)
        if request.path.startswith(API_V1_PREFIX):
            response.headers["WWW-Authenticate"] = 'Bearer realm="yield-auditor"'
        return response
    if request.method in SAFE_METHODS:
        here = request.full_path if request.query_string else request.path
        return redirect(url_for("access.login", next=safe_next(here)), 302)
    return redirect(url_for("access.login"), 303)


def _csrf_failed(error: CSRFError) -> Response:
    reason = error.description or "CSRF validation failed."
    message = (
        f"This request was refused because it does not carry this site's form token ({reason}) "
        "Reload the page and try again."
    )
    if wants_json():
        message = f"CSRF check failed: {reason} Send the page's token in X-CSRFToken."
    return error_response(CSRFError(message))
