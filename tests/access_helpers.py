"""Signing in, in tests: a user session, an API token header, CSRF tokens and settings.

from tests.access_helpers import bearer, csrf_token, make_settings, sign_in

app = create_app(make_settings(), engine)
client = app.test_client()
sign_in(client, login="ada", installations=(7,), admin_of=(7,))
client.post("/installations/7/...", data={"csrf_token": csrf_token(client)})
client.get("/api/v1/installations/7/...", headers=bearer(token))  # bot.ledger.tokens.create_token
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from bot.config import Settings
from webhooks.access import SESSION_USER, session_user

SECRET_KEY = "test-session-key-0123456789abcdef0123456789abcdef"
CLIENT_ID = "Iv1.00000000000000aa"
CLIENT_SECRET = "test-client-secret-0123456789abcdef0123"
WEBHOOK_SECRET = "test-webhook-secret-5b1e9c"
PUBLIC_URL = "https://yield.example.test"


def make_settings(**overrides: Any) -> Settings:
    """Settings for ``create_app`` in tests: sign-in configured (against github.com unless
    ``github_api_url`` points at a fake), https public URL, nothing read from the environment
    files. Any field can be overridden, e.g. ``local_mode=True`` or ``secret_key=None``."""
    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "secret_key": SECRET_KEY,
        "public_url": PUBLIC_URL,
        "github_client_id": CLIENT_ID,
        "github_client_secret": CLIENT_SECRET,
        "github_webhook_secret": WEBHOOK_SECRET,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def sign_in(
    client: FlaskClient,
    login: str = "ada",
    installations: Iterable[int] = (1,),
    admin_of: Iterable[int] = (),
    *,
    user_id: int = 1001,
    hours: float = 8,
) -> None:
    """Make ``client`` a signed-in user seeing ``installations`` (and administering
    ``admin_of``), as the sign-in callback leaves the session; a negative ``hours`` gives an
    expired session."""
    with client.session_transaction() as session:
        session[SESSION_USER] = session_user(
            login, user_id, set(installations), set(admin_of), time.time() + hours * 3600
        )
        session.permanent = True


def sign_out(client: FlaskClient) -> None:
    with client.session_transaction() as session:
        session.clear()


def csrf_token(client: FlaskClient) -> str:
    """A valid CSRF token for ``client``'s session (as ``{{ csrf_token() }}`` renders it), for
    the ``csrf_token`` form field or the ``X-CSRFToken`` header."""
    app = client.application
    with client.session_transaction() as session:
        raw = session.setdefault("csrf_token", "test-csrf-" + "0" * 30)
    serializer = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
    return serializer.dumps(raw)


def bearer(token: str) -> dict[str, str]:
    """The header of an API token request."""
    return {"Authorization": f"Bearer {token}"}
