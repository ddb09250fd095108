"""The fake GitHub's App manifest flow (docs.github.com, "Registering a GitHub App from a
manifest").

``POST /settings/apps/new`` (or ``/organizations/{org}/settings/apps/new``) takes the
``manifest`` form field and the ``state`` (query or form), checks the manifest as GitHub does
(422 and a page listing the errors otherwise), creates the App at once, where GitHub would first
show it for a click on "Create GitHub App", and sends the browser to the manifest's
``redirect_url`` with ``?code=...&state=...``. ``POST /app-manifests/{code}/conversions`` (no
authentication) answers 201 with the App and its ``pem``, ``webhook_secret``, ``client_id`` and
``client_secret``, once per code and within an hour; otherwise 404.

The fake serves one App, so the created App replaces it: its id, slug, key (its JWTs verify at
once), client id and secret, and callback URLs become the fake's.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from flask import Flask, Response, redirect, request
from markupsafe import escape

from bot.demo.fake_github.api import base, fail, json_response, stamp, user_json
from bot.demo.fake_github.oauth import ORG_ID_BASE, _html, _with_query
from bot.demo.fake_github.state import Person, State, now

CODE_TTL = timedelta(hours=1)  # "You must complete all three steps ... within one hour"
MAX_NAME = 34  # GitHub App names have at most 34 characters
MAX_CALLBACK_URLS = 10
ACCESS = ("read", "write", "admin")
DEFAULT_OWNER = Person("Dev Eloper", "dev@example.com", "developer", 5001, "User")
# The permission each event needs: an App cannot subscribe to events its permissions miss.
EVENT_PERMISSIONS = {
    "check_run": "checks",
    "check_suite": "checks",
    "issue_comment": "issues",
    "issues": "issues",
    "pull_request": "pull_requests",
    "pull_request_review": "pull_requests",
    "pull_request_review_comment": "pull_requests",
    "push": "contents",
    "release": "contents",
    "status": "statuses",
    "workflow_job": "actions",
    "workflow_run": "actions",
}


def register_manifest(app: Flask, state: State) -> None:
    """Add the manifest flow's page and the code exchange to the fake's ``app``."""

    @app.post("/settings/apps/new")
    def manifest_new_app() -> Response:
        return _create(state, None)

    @app.post("/organizations/<org>/settings/apps/new")
    def manifest_new_org_app(org: str) -> Response:
        return _create(state, org)

    @app.post("/app-manifests/<code>/conversions")
    def manifest_conversion(code: str) -> Response:
        with state.lock:
            found = state.manifest_codes.pop(code, None)
        if found is None or found[1] <= now():
            fail(404, "Not Found")
        return json_response(found[0], 201)


def manifest_errors(manifest: Any) -> list[str]:
    """What GitHub would refuse in ``manifest`` (parsed JSON), as messages; empty if valid."""
    if not isinstance(manifest, dict):
        return ["Manifest must be a JSON object"]
    errors = []
    name = manifest.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("Name can't be blank")
    elif len(name) > MAX_NAME:
        errors.append(f"Name is too long (maximum is {MAX_NAME} characters)")
    errors += _url_errors("Url", manifest.get("url"), required=True)
    hook = manifest.get("hook_attributes")
    hook_url = hook.get("url") if isinstance(hook, dict) else None
    errors += _url_errors("Hook attributes url", hook_url, required=True)
    errors += _url_errors("Redirect url", manifest.get("redirect_url"), required=False)
    callbacks = manifest.get("callback_urls", [])
    if not isinstance(callbacks, list) or len(callbacks) > MAX_CALLBACK_URLS:
        errors.append(f"Callback urls must be a list of at most {MAX_CALLBACK_URLS} URLs")
    else:
        for url in callbacks:
            errors += _url_errors("Callback url", url, required=True)
    if not isinstance(manifest.get("public", False), bool):
        errors.append("Public must be true or false")
    return errors + _permission_errors(manifest)


def _url_errors(label: str, value: Any, *, required: bool) -> list[str]:
    if value is None or value == "":
        return [f"{label} can't be blank"] if required else []
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"{label} must be a valid URL"]
    return []


def _permission_errors(manifest: dict[str, Any]) -> list[str]:
    permissions = manifest.get("default_permissions", {})
    events = manifest.get("default_events", [])
    if not isinstance(permissions, dict) or not all(v in ACCESS for v in permissions.values()):
        return [f"Default permissions must map permission names to one of {', '.join(ACCESS)}"]
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return ["Default events must be a list of event names"]
    unsupported = [
        e for e in events if e in EVENT_PERMISSIONS and EVENT_PERMISSIONS[e] not in permissions
    ]
    if unsupported:
        return [f"Default events are not supported by permissions: {', '.join(unsupported)}"]
    return []


def _create(state: State, org: str | None) -> Response:
    try:
        manifest = json.loads(request.form.get("manifest", ""))
    except ValueError:
        manifest = None
    errors = ["Manifest is not valid JSON"] if manifest is None else manifest_errors(manifest)
    if errors:
        items = "".join(f"<li>{escape(e)}</li>" for e in errors)
        body = f"<h1>Invalid GitHub App configuration</h1><ul>{items}</ul>"
        return _html("Invalid GitHub App configuration", body, 422)
    code = _register(state, manifest, _owner(state, org))
    given_state = request.args.get("state") or request.form.get("state")
    target = manifest.get("redirect_url")
    if not target:
        body = f"<h1>{escape(manifest['name'])} is created</h1><p>Code: <code>{code}</code></p>"
        return _html("GitHub App created", body)
    query = {"code": code, **({"state": given_state} if given_state else {})}
    return redirect(_with_query(target, query), 302)


def _register(state: State, manifest: dict[str, Any], owner: Person) -> str:
    """Make the manifest's App the fake's App; returns the code for its conversion."""
    from bot.demo.fake_github.server import (
        generate_private_key,  # fake imports the routes: import here
    )

    pem = generate_private_key()
    public_key = serialization.load_pem_private_key(pem.encode(), password=None).public_key()
    permissions = {"metadata": "read", **manifest.get("default_permissions", {})}
    with state.lock:
        app_id = state.next_id()
        slug = re.sub(r"[^a-z0-9]+", "-", manifest["name"].lower()).strip("-") or f"app-{app_id}"
        state.app_id, state.slug, state.public_key = app_id, slug, public_key
        state.oauth_client_id = f"Iv1.{app_id:016x}"  # as the fake's GET /app says
        state.oauth_client_secret = secrets.token_hex(20)
        state.oauth_callback_urls = list(manifest.get("callback_urls", []))
        created = stamp(now())
        body = {
            "id": app_id,
            "slug": slug,
            "node_id": f"A_{app_id}",
            "owner": user_json(owner),
            "name": manifest["name"],
            "description": manifest.get("description"),
            "external_url": manifest["url"],
            "html_url": f"{base()}/apps/{slug}",
            "created_at": created,
            "updated_at": created,
            "permissions": permissions,
            "events": list(manifest.get("default_events", [])),
            "installations_count": 0,
            "client_id": state.oauth_client_id,
            "client_secret": state.oauth_client_secret,
            "webhook_secret": secrets.token_hex(20),
            "pem": pem,
        }
        code = secrets.token_hex(20)
        state.manifest_codes[code] = (body, now() + CODE_TTL)
    return code


def _owner(state: State, org: str | None) -> Person:
    """The organisation, else the user signed in to "github.com", else a default user."""
    if org is not None:
        return Person(org, "", org, ORG_ID_BASE, "Organization")
    with state.lock:
        user = state.users.get(state.signed_in or "")
    if user is None:
        return DEFAULT_OWNER
    return Person(user.login, "", user.login, user.id, "User")
