"""The fake GitHub's sign-in: the App's OAuth user-to-server flow and the user endpoints.

As github.com does for a GitHub App (docs.github.com, "Generating a user access token for a
GitHub App"): ``GET /login/oauth/authorize`` shows the page where the signed-in user authorizes
the App, which sends the browser to ``redirect_uri?code=...&state=...`` (or ``error=
access_denied`` on Cancel); ``POST /login/oauth/access_token`` exchanges the code (form or JSON
body) for a ``ghu_`` token that lasts 8 hours, answering 200 with an ``error`` field when the
code or the client credentials are wrong. With the token: ``GET /user``, ``GET
/user/installations`` (paginated) and ``GET /user/memberships/orgs/{org}``.
"""

from __future__ import annotations

import hmac
import secrets
import string
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, Response, redirect, request
from markupsafe import escape

from bot.demo.fake_github.api import account_json, app_json, base, fail, json_response, page
from bot.demo.fake_github.state import OAuthCode, State, User, now

CODE_TTL = timedelta(minutes=10)
USER_TOKEN_TTL = timedelta(hours=8)
REFRESH_TOKEN_TTL = timedelta(days=184)
ORG_ID_BASE = 5_000_000  # an organisation account's id: this plus its installation's id
_ALPHANUMERIC = string.ascii_letters + string.digits
_ERROR_DOCS = "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app"


def register_oauth(app: Flask, state: State) -> None:
    """Add the sign-in pages and the user endpoints to the fake's ``app``."""

    @app.get("/login/oauth/authorize")
    def oauth_authorize_page() -> Response:
        problem = _authorize_problem(state)
        if problem is not None:
            return problem
        login = state.signed_in
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{escape(request.args.get(name, ""))}">'
            for name in ("client_id", "redirect_uri", "state")
        )
        body = (
            f"<h1>Authorize {escape(state.slug)}</h1>"
            f"<p>Signed in as <strong>{escape(login)}</strong>.</p>"
            f'<form method="post" action="/login/oauth/authorize">{fields}'
            '<button type="submit" name="authorize" value="1">Authorize</button> '
            '<button type="submit" name="authorize" value="0">Cancel</button></form>'
        )
        return _html(f"Authorize application - {state.slug}", body)

    @app.post("/login/oauth/authorize")
    def oauth_authorize() -> Response:
        problem = _authorize_problem(state)
        if problem is not None:
            return problem
        redirect_uri = _redirect_uri(state)
        given_state = _param("state")
        if _param("authorize") != "1":
            error = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": f"{_ERROR_DOCS}#access_denied",
            }
            return redirect(_with_query(redirect_uri, {**error, "state": given_state}), 302)
        code = "".join(secrets.choice("0123456789abcdef") for _ in range(20))
        with state.lock:
            assert state.signed_in is not None
            state.oauth_codes[code] = OAuthCode(state.signed_in, redirect_uri, now() + CODE_TTL)
        return redirect(_with_query(redirect_uri, {"code": code, "state": given_state}), 302)

    @app.post("/login/oauth/access_token")
    def oauth_access_token() -> Response:
        client_id, secret = _param("client_id"), _param("client_secret")
        code, redirect_uri = _param("code"), _param("redirect_uri")
        with state.lock:
            known = client_id == state.oauth_client_id and hmac.compare_digest(
                secret.encode(), state.oauth_client_secret.encode()
            )
            if not known:
                return _token_error(
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are incorrect.",
                )
            granted = state.oauth_codes.get(code)
            if granted is None or granted.expires_at <= now():
                return _token_error(
                    "bad_verification_code", "The code passed is incorrect or expired."
                )
            if redirect_uri and redirect_uri != granted.redirect_uri:
                return _token_error(
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                )
            del state.oauth_codes[code]
            token = _user_token(state, granted.login)
        refresh = "ghr_" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(76))
        return _token_answer(
            {
                "access_token": token,
                "expires_in": int(USER_TOKEN_TTL.total_seconds()),
                "refresh_token": refresh,
                "refresh_token_expires_in": int(REFRESH_TOKEN_TTL.total_seconds()),
                "scope": "",
                "token_type": "bearer",
            }
        )

    @app.get("/user")
    def oauth_get_user() -> Response:
        user = _authenticated_user(state)
        profile = dict.fromkeys(("company", "email", "bio", "blog", "location", "hireable"))
        counts = ("followers", "following", "public_gists", "public_repos")
        return json_response(
            {
                **account_json(user.login, user.id),
                **profile,
                **dict.fromkeys(counts, 0),
                "name": user.name,
                "created_at": "2020-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        )

    @app.get("/user/installations")
    def oauth_user_installations() -> Response:
        user = _authenticated_user(state)
        with state.lock:
            found = sorted(
                (i, state.installations[i]) for i in user.installations if i in state.installations
            )
        chunk, headers = page(found)
        body = {
            "total_count": len(found),
            "installations": [installation_json(state, i, account) for i, account in chunk],
        }
        return json_response(body, headers=headers)

    @app.get("/user/memberships/orgs/<org>")
    def oauth_org_membership(org: str) -> Response:
        user = _authenticated_user(state)
        found = membership(state, user, org)
        if found is None:
            fail(404, "Not Found")
        role, member_state = found
        org_url = f"{base()}/orgs/{org}"
        org_links = ("repos", "events", "hooks", "issues", "members", "public_members")
        return json_response(
            {
                "url": f"{base()}/orgs/{org}/memberships/{user.login}",
                "state": member_state,
                "role": role,
                "organization_url": f"{base()}/orgs/{org}",
                "organization": {
                    "login": org,
                    "id": _org_id(state, org),
                    "node_id": f"O_{_org_id(state, org)}",
                    "url": org_url,
                    **{f"{link}_url": f"{org_url}/{link}" for link in org_links},
                    "avatar_url": f"{base()}/avatars/{org}",
                    "description": None,
                },
                "user": account_json(user.login, user.id),
            }
        )


# --------------------------------------------------------------------------- shapes


def installation_json(state: State, installation_id: int, account: str) -> dict[str, Any]:
    """An installation as GitHub shows it (``GET /user/installations``,
    ``GET /app/installations/{id}``); the account is the user of that login when the fake has
    one, else an organisation."""
    with state.lock:
        user = state.users.get(account)
    kind = "User" if user is not None else "Organization"
    account_id = user.id if user is not None else ORG_ID_BASE + installation_id
    settings = (
        f"{base()}/settings/installations/{installation_id}"
        if user is not None
        else f"{base()}/organizations/{account}/settings/installations/{installation_id}"
    )
    app = app_json(state)
    return {
        "id": installation_id,
        "client_id": state.oauth_client_id,
        "account": account_json(account, account_id, kind),
        "repository_selection": "all",
        "access_tokens_url": f"{base()}/app/installations/{installation_id}/access_tokens",
        "repositories_url": f"{base()}/installation/repositories",
        "html_url": settings,
        "app_id": state.app_id,
        "app_slug": state.slug,
        "target_id": account_id,
        "target_type": kind,
        "permissions": app["permissions"],
        "events": app["events"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def membership(state: State, user: User, org: str) -> tuple[str, str] | None:
    """(role, state) of ``user`` in ``org``: an explicit ``state.memberships`` entry, else admin
    of the organisations in ``admin_of``, member of those owning one of their installations."""
    key = org.lower()
    with state.lock:
        explicit = state.memberships.get((user.login, key))
        accounts = {
            state.installations[i].lower() for i in user.installations if i in state.installations
        }
    if explicit is not None:
        return explicit
    if key in {a.lower() for a in user.admin_of}:
        return ("admin", "active")
    if key in accounts and key != user.login.lower():
        return ("member", "active")
    return None


def _org_id(state: State, org: str) -> int:
    with state.lock:
        for installation_id, account in state.installations.items():
            if account.lower() == org.lower():
                return ORG_ID_BASE + installation_id
    return ORG_ID_BASE


# --------------------------------------------------------------------------- helpers


def _authorize_problem(state: State) -> Response | None:
    """GitHub's answer when the authorize request cannot go on: an unknown client_id (404), a
    redirect_uri the App did not register, or nobody signed in to GitHub."""
    if _param("client_id") != state.oauth_client_id:
        body = "<h1>404</h1><p>This is not the web page you are looking for.</p>"
        return _html("Page not found", body, 404)
    uri = _param("redirect_uri")
    allowed = state.oauth_callback_urls
    if not uri and not allowed:
        return _html("Error", "<p>No redirect_uri was given.</p>", 400)
    if uri and allowed and not any(_under(uri, callback) for callback in allowed):
        body = "<p>The <code>redirect_uri</code> is not associated with this application.</p>"
        return _html("Redirect URI mismatch", body, 400)
    with state.lock:
        signed_in = state.signed_in is not None and state.signed_in in state.users
    if not signed_in:
        body = "<h1>Sign in to GitHub</h1><p>Nobody is signed in (FakeGitHub.sign_in_as).</p>"
        return _html("Sign in to GitHub", body, 401)
    return None


def _redirect_uri(state: State) -> str:
    return _param("redirect_uri") or state.oauth_callback_urls[0]


def _under(uri: str, callback: str) -> bool:
    """GitHub's rule: same scheme, host and port; the path at or below the callback's."""
    given, registered = urlsplit(uri), urlsplit(callback)
    path = registered.path.rstrip("/")
    return (given.scheme, given.netloc) == (registered.scheme, registered.netloc) and (
        given.path == path or given.path.startswith(path + "/")
    )


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def _param(name: str) -> str:
    """A parameter from the form, a JSON body or the query string, as GitHub accepts them."""
    document = request.get_json(silent=True) if request.is_json else None
    if isinstance(document, dict) and isinstance(document.get(name), str):
        return document[name]
    return request.form.get(name) or request.args.get(name) or ""


def _user_token(state: State, login: str) -> str:
    token = "ghu_" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(36))
    state.user_tokens[token] = (login, now() + USER_TOKEN_TTL)
    return token


def issue_user_token(state: State, login: str) -> str:
    """A user-to-server token for ``login`` without the browser flow (tests)."""
    with state.lock:
        if login not in state.users:
            raise KeyError(f"no fake user {login!r} (FakeGitHub.add_user)")
        return _user_token(state, login)


def _authenticated_user(state: State) -> User:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in ("token", "bearer") or not value.strip():
        fail(401, "Requires authentication")
    with state.lock:
        found = state.user_tokens.get(value.strip())
        user = state.users.get(found[0]) if found is not None else None
    if found is None or found[1] <= now() or user is None:
        fail(401, "Bad credentials")
    return user


def _token_error(error: str, description: str) -> Response:
    """GitHub answers a failed exchange with 200 and an ``error`` field."""
    return _token_answer(
        {"error": error, "error_description": description, "error_uri": f"{_ERROR_DOCS}#{error}"}
    )


def _token_answer(body: dict[str, Any]) -> Response:
    if "application/json" in request.headers.get("Accept", ""):
        return json_response(body)
    return Response(urlencode(body), 200, mimetype="application/x-www-form-urlencoded")


def _html(title: str, body: str, status: int = 200) -> Response:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>{body}</body></html>"
    )
    return Response(document, status, mimetype="text/html")
