"""Who may see what: sign-in with GitHub (against the fake GitHub), sessions, API tokens, local
mode, CSRF, cookie flags, security headers and error pages.

The dashboard and the API are tested elsewhere; here a test-only blueprint of probes calls
``require_installation`` and ``require_admin`` on a page and on an API path.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from flask import Blueprint, abort
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.demo.fake_github.server import ERROR, FakeGitHub
from bot.ledger.db import make_engine, migrate
from bot.ledger.store import upsert_installation
from bot.ledger.tokens import create_token, revoke_token
from tests.access_helpers import bearer, csrf_token, make_settings, sign_in
from webhooks.access import (
    LOCAL,
    SECURE_COOKIE_NAME,
    SESSION_USER,
    TOKEN,
    USER,
    is_loopback_host,
    require_admin,
    require_caller,
    require_installation,
    safe_next,
    session_version,
)
from webhooks.app import create_app
from webhooks.ingress import WEBHOOK_PATH

ACME, ADA_OWN, GLOBEX, INITECH = 1, 2, 3, 4
EVIL_NEXT = [
    "//evil.com",
    "https://evil.com",
    "/\\evil.com",
    "/\t/evil.com",
    "\\\\evil.com",
    "javascript:alert(1)",
    "evil.com",
    "/ok\\..\\evil",
    "/%0a/x\n",
]

# --------------------------------------------------------------------------- probes

probes = Blueprint("probe", __name__)


def _describe(caller) -> dict:
    return {
        "kind": caller.kind,
        "login": caller.login,
        "installations": sorted(caller.installations),
        "admin_of": sorted(caller.admin_of),
    }


@probes.get("/installations/<int:installation_id>/probe")
def page_probe(installation_id: int):
    return _describe(require_installation(installation_id))


@probes.post("/installations/<int:installation_id>/probe")
def page_admin_probe(installation_id: int):
    require_admin(installation_id)
    return {"changed": installation_id}


@probes.get("/api/v1/installations/<int:installation_id>/probe")
def api_probe(installation_id: int):
    return _describe(require_installation(installation_id))


@probes.post("/api/v1/installations/<int:installation_id>/probe")
def api_admin_probe(installation_id: int):
    require_admin(installation_id)
    return {"changed": installation_id}


@probes.get("/whoami")
def whoami():
    return _describe(require_caller())


@probes.get("/boom")
def boom():
    raise RuntimeError("an unexpected failure")


@probes.get("/api/v1/boom")
def api_boom():
    raise RuntimeError("an unexpected failure")


@probes.get("/forbidden")
def forbidden():
    abort(403, "<script>alert(1)</script> is not allowed")


def build(settings: Settings, engine: sa.Engine):
    app = create_app(settings, engine)
    app.register_blueprint(probes)
    return app


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=3) as server:
        server.add_installation(ACME, "acme")
        server.add_installation(ADA_OWN, "ada")
        server.add_installation(GLOBEX, "globex")
        server.add_installation(INITECH, "initech")
        server.add_user("ada", 101, installations=[ACME, ADA_OWN])
        server.add_user("bob", 102, installations=[GLOBEX, INITECH], admin_of=["globex"])
        yield server


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[sa.Engine]:
    """For what does not read the database (sign-in, sessions, headers)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'access.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def github_settings(fake: FakeGitHub, **overrides) -> Settings:
    values = {
        "github_api_url": fake.url,
        "github_client_id": fake.oauth_client_id,
        "github_client_secret": fake.oauth_client_secret,
    }
    return make_settings(**{**values, **overrides})


@pytest.fixture
def app(fake, sqlite_engine):
    return build(github_settings(fake), sqlite_engine)


@pytest.fixture
def client(app):
    return app.test_client()


def add_installations(engine: sa.Engine, *ids: int) -> None:
    with Session(engine) as session:
        for installation_id in ids:
            upsert_installation(session, installation_id, f"account-{installation_id}")
        session.commit()


# --------------------------------------------------------------------------- the flow


def form_fields(text: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', text)
    }


def start(client, next_path: str | None = None) -> str:
    """The sign-in page and its form: returns GitHub's authorize URL."""
    page = client.get("/login" + (f"?next={quote(next_path, safe='')}" if next_path else ""))
    assert page.status_code == 200, page.text
    fields = form_fields(page.text)
    assert fields["csrf_token"]
    started = client.post("/login", data=fields)
    assert started.status_code == 303, started.text
    return started.headers["Location"]


def at_github(fake: FakeGitHub, authorize_url: str, login: str, decision: str = "1") -> str:
    """The browser at GitHub: the authorize page, then its button; returns the callback URL."""
    fake.sign_in_as(login)
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text
    answer = httpx.post(
        f"{fake.url}/login/oauth/authorize", data={**form_fields(page.text), "authorize": decision}
    )
    assert answer.status_code == 302
    return answer.headers["location"]


def back_from_github(client, callback_url: str):
    parts = urlsplit(callback_url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == "https://yield.example.test/login/callback"
    )
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with_github(client, fake, login: str, next_path: str | None = None):
    return back_from_github(client, at_github(fake, start(client, next_path), login))


def session_of(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


# --------------------------------------------------------------------------- sign-in


def test_sign_in_keeps_the_users_installations_only(client, fake, caplog):
    caplog.set_level(logging.DEBUG)
    authorize_url = start(client)
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{fake.url}/login/oauth/authorize?")
    assert query["client_id"] == [fake.oauth_client_id]
    assert query["redirect_uri"] == ["https://yield.example.test/login/callback"]
    assert len(query["state"][0]) >= 40
    callback = at_github(fake, authorize_url, "ada")
    caplog.clear()  # what the App logs from here (the test's own requests carry the code)
    done = back_from_github(client, callback)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    logged = caplog.text
    assert "ada signed in" in logged

    user = session_of(client)[SESSION_USER]
    assert (user["login"], user["id"]) == ("ada", 101)
    assert user["installations"] == [ACME, ADA_OWN]  # not globex's nor initech's
    assert user["admin_of"] == [ADA_OWN]  # her own account; a plain member of acme
    assert abs(user["expires"] - (time.time() + 8 * 3600)) < 60
    assert "oauth" not in session_of(client)  # the pending state is used up

    assert client.get(f"/installations/{ACME}/probe").get_json()["kind"] == USER
    assert client.get(f"/installations/{GLOBEX}/probe").status_code == 404
    assert client.get("/installations/999/probe").status_code == 404  # the same as unknown

    token = re.search(r"ghu_\w+", str(fake.state.user_tokens)).group(0)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    cookie = client.get_cookie("__Host-yield-auditor").value
    for secret in (token, code, fake.oauth_client_secret):
        assert secret not in logged and secret not in cookie
        assert secret not in str(session_of(client))
    assert [c.path for c in fake.calls("GET", "/user*")] == [
        "/user",
        "/user/installations",
        "/user/memberships/orgs/acme",
    ]


def test_org_admins_and_configured_admins(fake, sqlite_engine):
    bob = build(github_settings(fake), sqlite_engine).test_client()
    sign_in_with_github(bob, fake, "bob")
    assert session_of(bob)[SESSION_USER]["admin_of"] == [GLOBEX]  # member only of initech
    form = {"csrf_token": csrf_token(bob)}
    assert bob.post(f"/installations/{GLOBEX}/probe", data=form).status_code == 200
    assert bob.post(f"/installations/{INITECH}/probe", data=form).status_code == 403

    admins = build(github_settings(fake, admins="someone, BOB"), sqlite_engine).test_client()
    sign_in_with_github(admins, fake, "bob")
    assert session_of(admins)[SESSION_USER]["admin_of"] == [GLOBEX, INITECH]


def test_memberships_that_are_not_active_admins_fail_closed(client, fake):
    fake.add_installation(5, "umbrella")
    fake.add_user("eve", 105, installations=[ACME, GLOBEX, 5])
    fake.state.memberships[("eve", "acme")] = ("admin", "pending")  # invited, not accepted
    fake.fail("GET", "/user/memberships/orgs/globex", ERROR, status=403)
    fake.fail("GET", "/user/memberships/orgs/umbrella", ERROR, status=404)
    assert sign_in_with_github(client, fake, "eve").status_code == 302
    user = session_of(client)[SESSION_USER]
    assert user["installations"] == [ACME, GLOBEX, 5] and user["admin_of"] == []


def test_next_is_kept_for_a_local_path(client, fake):
    done = sign_in_with_github(client, fake, "ada", f"/installations/{ACME}/probe?weeks=4")
    assert done.headers["Location"] == f"/installations/{ACME}/probe?weeks=4"


@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_next_never_leaves_the_site(client, fake, evil):
    assert safe_next(evil) is None
    done = sign_in_with_github(client, fake, "ada", evil)
    assert done.headers["Location"] == "/"
    sign_in(client)
    assert client.get(f"/login?next={quote(evil, safe='')}").headers["Location"] == "/"


def test_a_page_asks_to_sign_in_and_the_api_answers_401(client):
    page = client.get(f"/installations/{ACME}/probe?weeks=4")
    assert page.status_code == 302
    target = urlsplit(page.headers["Location"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == [f"/installations/{ACME}/probe?weeks=4"]
    api = client.get(f"/api/v1/installations/{ACME}/probe")
    assert api.status_code == 401 and "Bearer" in api.headers["WWW-Authenticate"]
    assert "sign in" in api.get_json()["error"]
    assert client.post(f"/installations/{ACME}/probe").status_code in (302, 303, 400)


def test_state_mismatch_is_refused(client, fake):
    callback = at_github(fake, start(client), "ada")
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    answer = back_from_github(client, forged)
    assert answer.status_code == 400 and "text/html" in answer.content_type
    assert "Sign in again" in answer.text
    assert SESSION_USER not in session_of(client)
    assert back_from_github(client, callback).status_code == 400  # the state was used up
    assert not fake.calls("POST", "/login/oauth/access_token")


def test_a_callback_this_browser_did_not_start_is_refused(client, fake, app):
    other = app.test_client()
    callback = at_github(fake, start(other), "ada")  # started by another browser
    assert back_from_github(client, callback).status_code == 400
    assert SESSION_USER not in session_of(client)


def test_cancel_on_github(client, fake):
    answer = back_from_github(client, at_github(fake, start(client), "ada", decision="0"))
    assert answer.status_code == 400 and "cancelled" in answer.text
    assert SESSION_USER not in session_of(client)


def test_an_error_param_is_shown_escaped(client):
    answer = client.get("/login/callback?error=<b>x</b>&state=s")
    assert answer.status_code == 400 and "<b>x</b>" not in answer.text


@pytest.mark.parametrize(
    ("secret", "status", "message"),
    [("0" * 40, 502, "GITHUB_CLIENT_SECRET"), (None, 400, "expired")],
)
def test_a_failed_code_exchange_signs_nobody_in(fake, sqlite_engine, secret, status, message):
    settings = github_settings(fake)
    if secret is not None:
        settings = github_settings(fake, github_client_secret=secret)
    client = build(settings, sqlite_engine).test_client()
    callback = at_github(fake, start(client), "ada")
    if secret is None:  # the code is used elsewhere first
        code = parse_qs(urlsplit(callback).query)["code"][0]
        httpx.post(
            f"{fake.url}/login/oauth/access_token",
            data={"client_id": fake.oauth_client_id, "client_secret": fake.oauth_client_secret,
                  "code": code},
        )  # fmt: skip
    answer = back_from_github(client, callback)
    assert answer.status_code == status and message in answer.text
    assert "text/html" in answer.content_type
    assert SESSION_USER not in session_of(client)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/login/oauth/access_token"), ("GET", "/user"), ("GET", "/user/installations")],
)
def test_github_down_is_a_clear_502(client, fake, method, path):
    fake.fail(method, path, ERROR, status=503)
    answer = sign_in_with_github(client, fake, "ada")
    assert answer.status_code == 502 and "GitHub is unavailable" in answer.text
    assert SESSION_USER not in session_of(client)


def test_github_unreachable(fake, sqlite_engine):
    settings = github_settings(fake, github_web_url="http://127.0.0.1:9")
    client = build(settings, sqlite_engine).test_client()
    url = start(client).replace("http://127.0.0.1:9", fake.url)
    answer = back_from_github(client, at_github(fake, url, "ada"))
    assert answer.status_code == 502 and SESSION_USER not in session_of(client)


def test_sign_in_needs_its_settings(sqlite_engine):
    app = build(make_settings(secret_key=None, github_client_secret=None), sqlite_engine)
    client = app.test_client()
    page = client.get("/login")
    assert page.status_code == 503 and "text/html" in page.content_type
    assert "YIELD_AUDITOR_SECRET_KEY" in page.text and "GITHUB_CLIENT_SECRET" in page.text
    assert "GITHUB_CLIENT_ID" not in page.text
    assert client.get("/healthz").status_code == 200  # the ingress still runs
    refused = client.post("/logout")
    assert refused.status_code == 400 and "YIELD_AUDITOR_SECRET_KEY" in refused.text


# --------------------------------------------------------------------------- sessions


def test_cookie_flags_on_https(client, fake):
    answer = sign_in_with_github(client, fake, "ada")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("__Host-yield-auditor=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie and "Expires=" in cookie


@pytest.mark.parametrize(
    ("overrides", "secure"),
    [
        ({"public_url": "http://127.0.0.1:8000"}, False),
        ({"public_url": "http://localhost:8000"}, False),
        ({"public_url": "http://[::1]:8000"}, False),
        ({"public_url": "http://yield.example.test"}, True),  # browsers will drop it: warned
        ({"local_mode": True}, False),
    ],
)
def test_secure_cookies_except_plain_http_on_this_computer(sqlite_engine, overrides, secure):
    app = build(make_settings(**overrides), sqlite_engine)
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-") is secure
    client = app.test_client()
    sign_in(client)
    cookie = client.get("/whoami").headers.get("Set-Cookie") or ""
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert ("Secure" in cookie) is secure or not cookie


def test_logout_needs_csrf(client, fake):
    sign_in_with_github(client, fake, "ada")
    refused = client.post("/logout")
    assert refused.status_code == 400 and "CSRF" in refused.text
    assert "text/html" in refused.content_type
    assert SESSION_USER in session_of(client)
    wrong = client.post("/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 400 and SESSION_USER in session_of(client)
    done = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    assert session_of(client) == {}
    assert client.get(f"/installations/{ACME}/probe").status_code == 302


def test_logout_ends_every_copy_of_the_session(fake, ledger_engine):
    """A cookie copied before /logout (another browser's, or a stolen one) no longer signs in;
    signing in again works, and other users' sessions are untouched. SQLite and PostgreSQL."""
    app = build(github_settings(fake), ledger_engine)
    browser, copy, laptop, bob = (app.test_client() for _ in range(4))
    for client, login in ((browser, "ada"), (laptop, "ada"), (bob, "bob")):
        sign_in_with_github(client, fake, login)
    stolen = browser.get_cookie(SECURE_COOKIE_NAME).value
    copy.set_cookie(SECURE_COOKIE_NAME, stolen)
    page, api = f"/installations/{ACME}/probe", f"/api/v1/installations/{ACME}/probe"
    assert copy.get(page).get_json()["login"] == "ada"

    assert browser.post("/logout", data={"csrf_token": csrf_token(browser)}).status_code == 303
    for client in (copy, laptop):
        answer = client.get(page)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    copy.set_cookie(SECURE_COOKIE_NAME, stolen)  # signed out above: the cookie was cleared
    assert copy.get(api).status_code == 401
    assert bob.get(f"/installations/{GLOBEX}/probe").get_json()["login"] == "bob"

    sign_in_with_github(browser, fake, "ada")
    assert browser.get(page).get_json()["login"] == "ada"
    assert session_version(ledger_engine, 101) == 1 and session_version(ledger_engine, 102) == 0


def test_a_session_that_cannot_be_checked_is_not_trusted(client, sqlite_engine):
    """No database, no session check: 503 (try again), never the cookie taken on its word."""
    sign_in(client, installations=(ACME,))
    assert client.get(f"/installations/{ACME}/probe").status_code == 200
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE session_versions")
    answer = client.get(f"/installations/{ACME}/probe")
    assert answer.status_code == 503 and "the database is unavailable" in answer.text


def test_the_sign_in_form_needs_csrf(client):
    assert client.post("/login", data={"next": "/"}).status_code == 400


def test_csrf_on_the_api_with_a_session(client):
    sign_in(client, installations=(ACME,), admin_of=(ACME,))
    refused = client.post(f"/api/v1/installations/{ACME}/probe")
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
    ok = client.post(
        f"/api/v1/installations/{ACME}/probe", headers={"X-CSRFToken": csrf_token(client)}
    )
    assert ok.status_code == 200 and ok.get_json() == {"changed": ACME}


def test_admin_is_403_for_members_and_404_for_others(client):
    sign_in(client, installations=(ACME, GLOBEX), admin_of=(ACME,))
    token = {"csrf_token": csrf_token(client)}
    assert client.post(f"/installations/{ACME}/probe", data=token).status_code == 200
    assert client.post(f"/installations/{GLOBEX}/probe", data=token).status_code == 403
    assert client.post(f"/installations/{INITECH}/probe", data=token).status_code == 404


def test_expired_session_is_signed_out(client):
    sign_in(client, installations=(ACME,), hours=-0.01)
    answer = client.get(f"/installations/{ACME}/probe")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert SESSION_USER not in session_of(client)
    assert client.get(f"/api/v1/installations/{ACME}/probe").status_code == 401


def test_a_tampered_session_is_not_a_user(client, app):
    client.set_cookie("__Host-yield-auditor", "eyJ1c2VyIjp7fX0.forged.signature")
    assert client.get("/whoami").status_code == 302
    sign_in(client, installations=(ACME,))
    with client.session_transaction() as session:
        session[SESSION_USER] = {"login": "ada"}  # not what the callback writes
    assert client.get("/whoami").status_code == 302


def test_the_session_lasts_session_hours(sqlite_engine):
    app = build(make_settings(session_hours=2), sqlite_engine)
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 7200


# --------------------------------------------------------------------------- API tokens


@pytest.fixture
def token_app(ledger_engine):
    add_installations(ledger_engine, ACME, GLOBEX)
    return build(make_settings(), ledger_engine)


def test_a_token_sees_its_installation_only(token_app, ledger_engine):
    _, token = create_token(ledger_engine, ACME, "nightly export")
    client = token_app.test_client()
    answer = client.get(f"/api/v1/installations/{ACME}/probe", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.get_json() == {
        "kind": TOKEN,
        "login": "nightly export",
        "installations": [ACME],
        "admin_of": [],
    }
    assert "Set-Cookie" not in answer.headers  # no session for a script
    assert answer.headers["Cache-Control"] == "no-store"
    other = client.get(f"/api/v1/installations/{GLOBEX}/probe", headers=bearer(token))
    assert other.status_code == 404


def test_tokens_are_read_only(token_app, ledger_engine):
    _, token = create_token(ledger_engine, ACME, "ci")
    client = token_app.test_client()
    answer = client.post(f"/api/v1/installations/{ACME}/probe", headers=bearer(token))
    assert answer.status_code == 403 and "read-only" in answer.get_json()["error"]


@pytest.mark.parametrize("header", ["Bearer yat_unknown", "Bearer ", "Basic eWF0Xw==", "yat_x"])
def test_bad_tokens_are_401(token_app, header):
    answer = token_app.test_client().get(
        f"/api/v1/installations/{ACME}/probe", headers={"Authorization": header}
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in answer.get_json()


def test_a_revoked_token_is_401(token_app, ledger_engine):
    info, token = create_token(ledger_engine, ACME, "ci")
    client = token_app.test_client()
    path = f"/api/v1/installations/{ACME}/probe"
    assert client.get(path, headers=bearer(token)).status_code == 200
    assert revoke_token(ledger_engine, info.id)
    answer = client.get(f"/api/v1/installations/{ACME}/probe", headers=bearer(token))
    assert answer.status_code == 401 and "revoked" in answer.get_json()["error"]


def test_a_token_is_not_accepted_on_pages(token_app, ledger_engine):
    _, token = create_token(ledger_engine, ACME, "ci")
    client = token_app.test_client()
    answer = client.get(f"/installations/{ACME}/probe", headers=bearer(token))
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert client.get("/whoami", headers=bearer(token)).status_code == 302


def test_a_bad_token_does_not_fall_back_to_the_session(token_app):
    client = token_app.test_client()
    sign_in(client, installations=(ACME,))
    answer = client.get(f"/api/v1/installations/{ACME}/probe", headers=bearer("yat_wrong"))
    assert answer.status_code == 401
    assert client.get(f"/api/v1/installations/{ACME}/probe").get_json()["kind"] == USER


# --------------------------------------------------------------------------- local mode


@pytest.fixture
def local_app(ledger_engine):
    add_installations(ledger_engine, ACME, GLOBEX)
    settings = make_settings(
        local_mode=True, secret_key=None, github_client_id=None, github_client_secret=None
    )
    return build(settings, ledger_engine)


def test_local_mode_sees_everything_from_this_computer(local_app, ledger_engine):
    client = local_app.test_client()
    answer = client.get(f"/installations/{GLOBEX}/probe")
    assert answer.get_json() == {
        "kind": LOCAL,
        "login": None,
        "installations": [ACME, GLOBEX],
        "admin_of": [ACME, GLOBEX],
    }
    add_installations(ledger_engine, INITECH)  # read per request
    assert client.get(f"/installations/{INITECH}/probe").status_code == 200
    assert client.get("/installations/999/probe").status_code == 404
    assert client.post(f"/installations/{ACME}/probe").status_code == 400  # CSRF still applies
    ok = client.post(f"/installations/{ACME}/probe", data={"csrf_token": csrf_token(client)})
    assert ok.status_code == 200
    assert client.get("/login?next=/whoami").headers["Location"] == "/whoami"
    assert local_app.secret_key and local_app.config["SESSION_COOKIE_SECURE"] is False
    ipv6 = {"environ_base": {"REMOTE_ADDR": "::1"}, "headers": {"Host": "[::1]:8000"}}
    assert client.get("/whoami", **ipv6).status_code == 200


@pytest.mark.parametrize(
    ("remote", "headers"),
    [
        ("10.0.0.5", {}),
        ("192.168.1.20", {}),
        ("127.0.0.1", {"Host": "rebound.example.com"}),  # DNS rebinding
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),  # through a proxy
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
    ],
)
def test_local_mode_refuses_everyone_else(local_app, remote, headers):
    client = local_app.test_client()
    for path in (f"/installations/{ACME}/probe", f"/api/v1/installations/{ACME}/probe"):
        answer = client.get(path, environ_base={"REMOTE_ADDR": remote}, headers=headers)
        assert answer.status_code == 403, path
        assert "local mode" in answer.text


def test_local_mode_is_off_by_default(app):
    answer = app.test_client().get(f"/installations/{ACME}/probe")
    assert answer.status_code == 302


# --------------------------------------------------------------------------- headers, errors

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self' {web}; frame-ancestors 'none'; base-uri 'none'"
)


def test_security_headers_on_every_kind_of_answer(client, fake):
    sign_in(client, installations=(ACME,))
    answers = {
        "login page": client.get("/login?next=/x"),
        "page": client.get(f"/installations/{ACME}/probe"),
        "api": client.get(f"/api/v1/installations/{ACME}/probe"),
        "html 404": client.get("/nope"),
        "json 404": client.get("/api/v1/nope"),
        "api 401": client.application.test_client().get(f"/api/v1/installations/{ACME}/probe"),
        "ingress": client.post(WEBHOOK_PATH, data=b"{}"),
        "healthz": client.get("/healthz"),
        "csrf": client.post("/logout"),
    }
    for name, answer in answers.items():
        headers = answer.headers
        assert headers["Content-Security-Policy"] == CSP.format(web=fake.url), name
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "same-origin", name
        assert headers["Cache-Control"] == "no-store", name
    assert answers["ingress"].status_code == 401  # signed, not CSRF-checked
    assert answers["ingress"].get_json()["error"].startswith("X-Hub-Signature-256")


def test_the_csp_allows_github_for_the_sign_in_redirect(sqlite_engine):
    app = build(make_settings(), sqlite_engine)
    policy = app.test_client().get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https://github.com;" in policy
    ghes = build(make_settings(github_api_url="https://ghe.example.com/api/v3"), sqlite_engine)
    policy = ghes.test_client().get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https://ghe.example.com;" in policy


def test_errors_are_pages_or_json_by_path(client):
    sign_in(client, installations=(ACME,))
    page = client.get("/nope")
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    assert "<h1>" in page.text
    api = client.get("/api/v1/installations/999/probe")
    assert api.status_code == 404 and "error" in api.get_json()
    assert client.get("/api/nope").get_json()["error"]
    wrong_method = client.delete("/login")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]
    assert wrong_method.content_type.startswith("text/html")
    crash = client.get("/boom")
    assert crash.status_code == 500 and crash.content_type.startswith("text/html")
    assert "unexpected failure" not in crash.text
    assert client.get("/api/v1/boom").get_json() == {"error": "internal server error"}


def test_templates_are_autoescaped(client, app):
    sign_in(client)
    answer = client.get("/forbidden")
    assert answer.status_code == 403
    assert "<script>" not in answer.text and "&lt;script&gt;" in answer.text
    with app.app_context():
        for name in ("dashboard/x.html.j2", "charts/bar.svg.j2", "anything.txt"):
            template = app.jinja_env.from_string("{{ v }}")
            assert app.jinja_env.autoescape is True or app.jinja_env.autoescape(name)
            assert template.render(v="<b>") == "&lt;b&gt;"


def test_the_login_page_escapes_next(client):
    page = client.get('/login?next=/x"><script>')
    assert "<script>" not in page.text  # refused as unsafe, and escaped anyway
    page = client.get("/login?next=" + quote('/x?a="><b>'))
    assert '"><b>' not in page.text and form_fields(page.text)["next"] == '/x?a="><b>'


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("api", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com"),
        ("http://127.0.0.1:40213", "http://127.0.0.1:40213"),
    ],
)
def test_github_web_url_is_derived_from_the_api_url(api, web):
    assert Settings(_env_file=None, github_api_url=api).github_web_url == web
    given = Settings(_env_file=None, github_api_url=api, github_web_url="https://x.test/")
    assert given.github_web_url == "https://x.test"


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("GITHUB_CLIENT_ID", "Iv1.abc")
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", "s" * 40)
    monkeypatch.setenv("YIELD_AUDITOR_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("YIELD_AUDITOR_PUBLIC_URL", "https://yield.example.com/")
    monkeypatch.setenv("YIELD_AUDITOR_ADMINS", "ada, @bob")
    monkeypatch.setenv("YIELD_AUDITOR_LOCAL_MODE", "true")
    monkeypatch.setenv("YIELD_AUDITOR_SESSION_HOURS", "4")
    settings = Settings(_env_file=None)
    assert (
        settings.github_client_id == "Iv1.abc"
        and settings.public_url == "https://yield.example.com"
    )
    assert settings.admins == ["ada", "bob"] and settings.local_mode and settings.session_hours == 4
    assert "s" * 40 not in repr(settings) and "k" * 32 not in repr(settings)
    assert settings.sign_in_missing == []
    monkeypatch.setenv("YIELD_AUDITOR_ADMINS", '["carol"]')
    assert Settings(_env_file=None).admins == ["carol"]
    monkeypatch.setenv("YIELD_AUDITOR_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="at least 32"):
        Settings(_env_file=None)
    monkeypatch.setenv("YIELD_AUDITOR_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("YIELD_AUDITOR_PUBLIC_URL", "yield.example.com")
    with pytest.raises(ValueError, match="http"):
        Settings(_env_file=None)


# --------------------------------------------------------------------------- serving local mode


def test_the_demo_refuses_a_non_loopback_host():
    from click.testing import CliRunner

    from bot.cli.main import main

    result = CliRunner().invoke(main, ["demo", "--exit", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2 and "loopback" in result.output


def test_serve_refuses_local_mode_on_a_non_loopback_host(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from bot.cli.main import main

    monkeypatch.setenv("YIELD_AUDITOR_LOCAL_MODE", "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1 and "loopback" in str(result.exception)
    assert not (tmp_path / "never.db").exists()  # refused before anything started
