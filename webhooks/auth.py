"""Sign in with GitHub: the GitHub App's OAuth user-to-server flow (docs/access.md).

``/login`` shows a button whose form (CSRF-protected) starts the flow: a random ``state`` is
kept in the session and the browser goes to GitHub's authorize page, which sends it back to
``{public_url}/login/callback`` with a code. The code is exchanged for a user token, which
reads who the user is and which installations of the App they may access
(``GET /user/installations``) and administer; those go into the signed session cookie and the
token is dropped: it is never stored or logged. Access granted on GitHub later therefore shows
at the next sign-in, at most ``session_hours`` later.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import requests
from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from github import Auth, Github, GithubException
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from webhooks.access import (
    SESSION_USER,
    USER,
    current_caller,
    end_sessions,
    render_error,
    safe_next,
    session_version,
)
from webhooks.access import session_user as session_user_data
from webhooks.ingress import state

log = logging.getLogger(__name__)
blueprint = Blueprint("access", __name__)

PENDING = "oauth"  # session key of a sign-in in progress: its state and where to go after
PENDING_SECONDS = 600  # GitHub's codes last 10 minutes; a sign-in started longer ago is stale
GITHUB_TIMEOUT_SECONDS = 10  # somebody is waiting at the other end
MAX_INSTALLATIONS = 200  # what a session cookie (4 KB) holds comfortably
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class SignInError(Exception):
    """A sign-in that cannot complete: the page to show (nothing secret in it)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass(frozen=True, slots=True)
class GitHubUser:
    login: str
    id: int
    installations: frozenset[int]
    admin_of: frozenset[int]


def callback_url(settings: Settings) -> str:
    """Where GitHub sends the browser back: register it as the App's callback URL."""
    return f"{settings.public_url}/login/callback"


# --------------------------------------------------------------------------- views


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    settings = state().settings
    target = safe_next(request.args.get("next"))
    if settings.local_mode:
        return redirect(target or "/")
    if settings.sign_in_missing:
        return _not_configured(settings)
    caller = current_caller()
    if caller is not None and caller.kind == USER:
        return redirect(target or "/")
    return render_template("dashboard/login.html.j2", next=target or "")


@blueprint.post("/login")
def start_sign_in() -> ResponseReturnValue:
    """The form's POST (CSRF-checked): remember a fresh state, go to GitHub."""
    settings = state().settings
    if settings.local_mode:
        return redirect("/", 303)
    if settings.sign_in_missing:
        return _not_configured(settings)
    oauth_state = secrets.token_urlsafe(32)
    session[PENDING] = {
        "state": oauth_state,
        "next": safe_next(request.form.get("next")),
        "started": time.time(),
    }
    query = urlencode(
        {
            "client_id": settings.github_client_id,
            "redirect_uri": callback_url(settings),
            "state": oauth_state,
        }
    )
    return redirect(f"{settings.github_web_url}/login/oauth/authorize?{query}", 303)


@blueprint.get("/login/callback")
def callback() -> ResponseReturnValue:
    settings = state().settings
    if settings.local_mode:
        return redirect("/")
    if settings.sign_in_missing:
        return _not_configured(settings)
    pending = session.pop(PENDING, None)
    try:
        target = _check_callback(pending)
        token = exchange_code(settings, request.args["code"])
        user = read_github_user(settings, token)
        del token  # never stored, never logged
    except SignInError as exc:
        return render_error(exc.status, exc.title, exc.message)
    installations = _fit(user.installations)
    version = session_version(state().engine, user.id)
    session.clear()
    session[SESSION_USER] = session_user_data(
        user.login,
        user.id,
        set(installations),
        set(user.admin_of),
        time.time() + settings.session_hours * 3600,
        version,
    )
    session.permanent = True
    log.info(
        "%s signed in: %d installations, administers %d",
        user.login,
        len(installations),
        len(user.admin_of & installations),
    )
    return redirect(target or "/")


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out of every session of this user (CSRF-checked, so another site cannot sign you
    out): a copy of the cookie stops authenticating too (``end_sessions``)."""
    caller = current_caller()
    if caller is not None and caller.user_id is not None:
        end_sessions(state().engine, caller.user_id)
    session.clear()
    if state().settings.local_mode:
        return redirect("/", 303)
    return redirect(url_for(".login"), 303)


# --------------------------------------------------------------------------- the flow


def _check_callback(pending: Any) -> str | None:
    """Where to go once signed in, if the callback is the answer to the sign-in this browser
    started (its ``state``) and carries a code; otherwise the reason, as ``SignInError``."""
    error = request.args.get("error")
    if error:
        code = error if _ERROR_CODE.fullmatch(error) else "unknown"
        log.info("sign-in not completed: GitHub answered %s", code)
        if code == "access_denied":
            raise SignInError(400, "Sign-in cancelled", "You did not authorize the App on GitHub.")
        raise SignInError(
            400, "Sign-in failed", f"GitHub did not complete the sign-in ({code}). Try again."
        )
    given = request.args.get("state", "")
    expected = pending.get("state") if isinstance(pending, dict) else None
    if (
        not isinstance(expected, str)
        or not given
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        log.info("sign-in refused: the callback's state is not this browser's sign-in")
        raise SignInError(
            400,
            "Sign-in not recognised",
            "This sign-in was not started from this browser, or was already used. Sign in again.",
        )
    started = pending.get("started")
    if not isinstance(started, int | float) or time.time() - started > PENDING_SECONDS:
        raise SignInError(400, "Sign-in expired", "The sign-in took too long. Sign in again.")
    if not request.args.get("code"):
        raise SignInError(400, "Sign-in failed", "GitHub sent no code. Sign in again.")
    return safe_next(pending.get("next"))


def exchange_code(settings: Settings, code: str) -> str:
    """The user token for ``code`` (``POST {github_web_url}/login/oauth/access_token``)."""
    assert settings.github_client_secret is not None
    fields = {
        "client_id": settings.github_client_id,
        "client_secret": settings.github_client_secret.get_secret_value(),
        "code": code,
        "redirect_uri": callback_url(settings),
    }
    url = f"{settings.github_web_url}/login/oauth/access_token"
    unavailable = SignInError(
        502, "GitHub is unavailable", "GitHub did not answer the sign-in. Try again in a moment."
    )
    try:
        answer = httpx.post(
            url, data=fields, headers={"Accept": "application/json"}, timeout=GITHUB_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        log.warning("sign-in: GitHub's token endpoint failed (%s)", type(exc).__name__)
        raise unavailable from None
    try:
        body = answer.json() if answer.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.warning("sign-in: GitHub's token endpoint answered %d", answer.status_code)
        raise unavailable
    if "error" in body:
        raise _exchange_refused(str(body["error"]))
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        log.warning("sign-in: GitHub's token endpoint answered without a token")
        raise unavailable
    return token


def _exchange_refused(error: str) -> SignInError:
    code = error if _ERROR_CODE.fullmatch(error) else "unknown"
    log.warning("sign-in: GitHub refused the code exchange (%s)", code)
    if code == "bad_verification_code":
        return SignInError(
            400, "Sign-in expired", "GitHub's sign-in code expired or was used. Sign in again."
        )
    if code == "incorrect_client_credentials":
        return SignInError(
            502,
            "Sign-in misconfigured",
            "GitHub refused this server's GITHUB_CLIENT_ID or GITHUB_CLIENT_SECRET: tell the "
            "administrator.",
        )
    if code == "redirect_uri_mismatch":
        return SignInError(
            502,
            "Sign-in misconfigured",
            "GitHub does not know this server's callback URL (YIELD_AUDITOR_PUBLIC_URL"
            "/login/callback): tell the administrator.",
        )
    return SignInError(502, "Sign-in failed", f"GitHub refused the sign-in ({code}). Try again.")


def read_github_user(settings: Settings, token: str) -> GitHubUser:
    """Who the token's user is, the App's installations they can access, and which of those
    they administer: their own account's; an organisation's where their membership is an
    active admin (a 403 or 404 means not: fail closed); every one for ``settings.admins``."""
    github = Github(
        auth=Auth.Token(token),
        base_url=settings.github_api_url,
        timeout=GITHUB_TIMEOUT_SECONDS,
        retry=None,
        per_page=100,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    superusers = {login.lower() for login in settings.admins}
    try:
        me = github.get_user()
        login, user_id = me.login, me.id
        installations, admin_of = set(), set()
        for installation in me.get_installations():
            installations.add(installation.id)
            if login.lower() in superusers or _administers(me, installation, user_id):
                admin_of.add(installation.id)
    except (GithubException, requests.RequestException, OSError) as exc:
        kind, status = type(exc).__name__, getattr(exc, "status", "")
        log.warning("sign-in: reading the user from GitHub failed (%s %s)", kind, status)
        raise SignInError(
            502,
            "GitHub is unavailable",
            "GitHub did not answer the sign-in. Try again in a moment.",
        ) from None
    finally:
        github.close()
    return GitHubUser(login, user_id, frozenset(installations), frozenset(admin_of))


def _administers(me: Any, installation: Any, user_id: int) -> bool:
    account = installation.account
    if account is None:
        return False
    if installation.target_type == "User":
        return account.id == user_id
    try:
        membership = me.get_organization_membership(account.login)
    except GithubException as exc:
        if exc.status in (403, 404):
            return False  # not a member we can see: not an admin
        raise
    return membership.role == "admin" and membership.state == "active"


def _fit(installations: frozenset[int]) -> frozenset[int]:
    """At most MAX_INSTALLATIONS in the cookie: past that, those the ledger has data for."""
    if len(installations) <= MAX_INSTALLATIONS:
        return installations
    import sqlalchemy as sa

    try:
        with state().engine.connect() as connection:
            known = set(connection.execute(sa.text("SELECT id FROM installations")).scalars())
    except SQLAlchemyError:
        known = set()
    kept = sorted(installations & known)[:MAX_INSTALLATIONS]
    log.warning(
        "a user can access %d installations: the session keeps %d of them",
        len(installations),
        len(kept),
    )
    return frozenset(kept)


def _not_configured(settings: Settings) -> Response:
    return render_error(
        503,
        "Sign-in is not configured",
        "Sign-in with GitHub needs these settings on the server:",
        settings.sign_in_missing,
    )
