"""Creating the GitHub App from its manifest on a fresh install (docs/setup.md), as Probot does.

While the App has no credentials, ``GET /setup`` shows a form posting ``app.yml``, filled in
with ``YIELD_AUDITOR_PUBLIC_URL``'s addresses, to GitHub's "new GitHub App" page (a personal
account's or an organisation's; GitHub Enterprise Server's own). GitHub sends the browser back
to ``/setup/callback`` with a code, exchanged once and within the hour for the App's id, private
key, webhook secret and client id and secret (``POST /app-manifests/{code}/conversions``). The
key goes to a file of its own and the rest to the .env file, both mode 0600, and the page links
to the App's installation. The running process keeps its settings: a restart loads them. Once
the App is configured both pages answer 404.

Who may use it: whoever completes the flow decides which App the server trusts, and a
half-configured server may already be on the internet. ``/setup`` therefore answers only this
computer (a loopback address and host name, no proxy headers), or a request carrying the setup
token logged at start (new in each process). The flow's ``state`` is signed with a key of this
process and lasts an hour, so a callback is accepted only for a flow that passed that gate. It
is not kept in the session: a fresh install has no session key yet, and GitHub returns to the
public URL, which need not be the address the form was opened at.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import yaml
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from bot import telemetry
from bot.config import Settings
from webhooks.access import from_this_computer, render_error
from webhooks.auth import callback_url
from webhooks.ingress import STATE_KEY, WEBHOOK_PATH, state

log = logging.getLogger(__name__)
blueprint = Blueprint("setup", __name__)

MANIFEST_FILE = Path(__file__).resolve().parent / "app.yml"
SETUP_PATH = "/setup"
CALLBACK_PATH = "/setup/callback"
GATE_KEY = "yield_auditor_setup"  # app.extensions key of the Gate, present while unconfigured
STATE_SECONDS = 3600  # GitHub: the whole manifest flow must finish within an hour
GITHUB_TIMEOUT_SECONDS = 10  # somebody is waiting at the other end
# The Settings fields the App's credentials fill; any of them already set closes the setup.
CREDENTIAL_FIELDS = ("github_app_id", "github_app_private_key", "github_app_private_key_path")
# What the callback writes to the .env file, and the Settings field each one sets.
WRITTEN_FIELDS = {
    "GITHUB_APP_ID": "github_app_id",
    "GITHUB_APP_PRIVATE_KEY_PATH": "github_app_private_key_path",
    "GITHUB_WEBHOOK_SECRET": "github_webhook_secret",
    "GITHUB_CLIENT_ID": "github_client_id",
    "GITHUB_CLIENT_SECRET": "github_client_secret",
    "YIELD_AUDITOR_SECRET_KEY": "secret_key",
}
_ORGANISATION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")  # a GitHub login
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SetupError(Exception):
    """A setup step that cannot complete: the page to show. Nothing has been written."""

    def __init__(self, status: int, title: str, message: str, details: Iterable[str] = ()):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.details = list(details)


@dataclass(slots=True)
class Gate:
    """This process's setup secrets: the token opening /setup from elsewhere (logged at start)
    and the key signing the flow's state; ``done`` once credentials are written."""

    token: str = field(default_factory=lambda: secrets.token_hex(16))
    state_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class CreatedApp:
    """What GitHub answers to the code exchange; ``pem`` and the secrets are never logged."""

    id: int
    slug: str
    name: str
    html_url: str
    pem: str
    webhook_secret: str | None
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class Stored:
    """Where the credentials went, for the final page."""

    env_file: Path
    key_file: Path
    keys: list[str]
    overridden: list[str]  # environment variables that win over what was written


# --------------------------------------------------------------------------- pure parts


def setup_open(settings: Settings) -> bool:
    """Whether the App still lacks credentials: no App id, key or key file set anywhere."""
    return all(getattr(settings, name) is None for name in CREDENTIAL_FIELDS)


def new_app_url(web_url: str, organization: str | None, state_value: str) -> str:
    """GitHub's "new GitHub App" page the manifest is posted to: the user's, or the
    organisation's; on GitHub Enterprise Server ``https://HOST/...``."""
    path = (
        f"/organizations/{organization}/settings/apps/new" if organization else "/settings/apps/new"
    )
    return f"{web_url}{path}?{urlencode({'state': state_value})}"


def conversion_url(api_url: str, code: str) -> str:
    """``POST /app-manifests/{code}/conversions`` on the API (``https://HOST/api/v3`` on
    GitHub Enterprise Server)."""
    return f"{api_url}/app-manifests/{quote(code, safe='')}/conversions"


def load_manifest(path: Path = MANIFEST_FILE) -> dict[str, Any]:
    """``app.yml``, or a ``SetupError`` saying what is wrong with it."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SetupError(500, "No App manifest", f"{path} cannot be read: {exc}") from None
    if not isinstance(document, dict) or not document.get("default_permissions"):
        raise SetupError(500, "No App manifest", f"{path} is not an App manifest (app.yml)")
    return document


def build_manifest(template: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """``template`` (app.yml) with this deployment's addresses, from its public URL."""
    public = settings.public_url
    assert public is not None
    manifest = copy.deepcopy(dict(template))
    manifest["url"] = public
    manifest["hook_attributes"] = {
        **manifest.get("hook_attributes", {}),
        "url": f"{public}{WEBHOOK_PATH}",
    }
    manifest["redirect_url"] = f"{public}{CALLBACK_PATH}"
    manifest["callback_urls"] = [callback_url(settings)]
    return manifest


def sign_state(key: bytes, now: float | None = None) -> str:
    """A fresh ``state``: when it was issued, a nonce, and their HMAC under ``key``."""
    issued = f"{int(now if now is not None else time.time())}.{secrets.token_hex(8)}"
    return f"{issued}.{_mac(key, issued)}"


def state_valid(key: bytes, value: str, now: float | None = None) -> bool:
    """Whether ``value`` was signed with ``key`` less than an hour ago."""
    issued, _, mac = value.rpartition(".")
    if not issued or not hmac.compare_digest(mac.encode(), _mac(key, issued).encode()):
        return False
    age = (now if now is not None else time.time()) - int(issued.partition(".")[0])
    return 0 <= age <= STATE_SECONDS


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- the .env file


def env_quote(value: str) -> str:
    """``value`` single-quoted as python-dotenv (so pydantic-settings) reads it back as is.
    python-dotenv expands ``${NAME}`` even in quotes and has no escape for it, and a line
    break would not survive other readers of the file: such values are refused."""
    if any(c in value for c in "\n\r\0") or "${" in value:
        raise ValueError("a value for the .env file holds a line break, a NUL or '${'")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def merge_env(text: str, values: Mapping[str, str]) -> str:
    """``text`` (a .env file) with ``values`` set: a key already there (in any case) is
    rewritten on its first line and its other lines dropped; new keys are appended. Every
    other line, comments and unparsable ones included, is kept as it was."""
    for key in values:
        if not _ENV_KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not an environment variable name")
    wanted = {key.upper(): key for key in values}
    if len(wanted) != len(values):
        raise ValueError("keys that differ only in case would set the same setting")
    lines, placed = [], set()
    for binding in parse_stream(io.StringIO(text)):
        key = (binding.key or "").upper()
        if key not in wanted:
            lines.append(binding.original.string)
        elif key not in placed:
            placed.add(key)
            name = wanted[key]
            lines.append(f"{name}={env_quote(values[name])}\n")
    merged = "".join(lines)
    new = [name for upper, name in wanted.items() if upper not in placed]
    if new:
        if merged and not merged.endswith("\n"):
            merged += "\n"
        merged += "# Written by yield-auditor's /setup (docs/setup.md)\n"
        merged += "".join(f"{name}={env_quote(values[name])}\n" for name in new)
    return merged


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in the .env file at ``path``: the whole file is written to a temporary
    file of mode 0600 beside it, then renamed over it, so a reader sees the old file or the
    new one, never half of one."""
    target = Path(os.path.realpath(path))  # a symbolic link keeps pointing at the new file
    text = target.read_text(encoding="utf-8") if target.exists() else ""
    merged = merge_env(text, values)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    write_new_file(temporary, merged)
    try:
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def write_new_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (refusing an existing file) holding ``text``."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except OSError:
        path.unlink(missing_ok=True)
        raise


def env_names(field_name: str) -> tuple[str, ...]:
    """The variable names that set a Settings field (its aliases: ``APP_ID``...)."""
    alias = Settings.model_fields[field_name].validation_alias
    return tuple(getattr(alias, "choices", ()))


def held_credentials(path: Path) -> list[str]:
    """The App credential variables the .env file at ``path`` already sets."""
    if not path.exists():
        return []
    names = {name.upper() for f in CREDENTIAL_FIELDS for name in env_names(f)}
    values = dotenv_values(path, encoding="utf-8", interpolate=False)
    return sorted(key for key, value in values.items() if key.upper() in names and value)


# --------------------------------------------------------------------------- wiring


@blueprint.record_once
def _open_gate(setup_state: BlueprintSetupState) -> None:
    """Unconfigured: a gate for this app, and its token in the log (the way in from afar)."""
    app = setup_state.app
    settings = app.extensions[STATE_KEY].settings
    if setup_open(settings):
        app.extensions[GATE_KEY] = Gate()
        link = setup_link(app, settings.public_url or "")
        log.warning("the GitHub App is not configured: open %s to create it (docs/setup.md)", link)


def setup_link(app: Flask, base_url: str) -> str | None:
    """The setup page at ``base_url`` with this process's token, while unconfigured."""
    gate = app.extensions.get(GATE_KEY)
    if gate is None:
        return None
    return f"{base_url}{SETUP_PATH}?{urlencode({'token': gate.token})}"


@blueprint.errorhandler(SetupError)
def _setup_failed(error: SetupError) -> Response:
    return render_error(error.status, error.title, error.message, error.details)


# --------------------------------------------------------------------------- views


@blueprint.get(SETUP_PATH)
def setup_page() -> ResponseReturnValue:
    """The manifest form; with ``?organization=`` it posts to that organisation's page."""
    settings, gate = _gate()
    token = _admit(gate)
    if gate.done:
        raise _restart_needed(settings)
    if not settings.public_url:
        return render_template("dashboard/setup.html.j2", public_url=None)
    preflight(settings.env_file)
    organization = request.args.get("organization", "").strip()
    if organization and not _ORGANISATION.fullmatch(organization):
        raise SetupError(400, "Not an organisation", "That is not a GitHub organisation's name.")
    manifest = build_manifest(load_manifest(), settings)
    action = new_app_url(settings.github_web_url or "", organization, sign_state(gate.state_key))
    return render_template(
        "dashboard/setup.html.j2",
        public_url=settings.public_url,
        manifest=manifest,
        manifest_json=json.dumps(manifest),
        action=action,
        github_host=urlsplit(action).netloc,
        organization=organization,
        token=token,
        env_file=settings.env_file,
    )


@blueprint.get(CALLBACK_PATH)
def setup_callback() -> ResponseReturnValue:
    """GitHub's redirect after the App is created: exchange the code, store the credentials."""
    settings, gate = _gate()
    if not state_valid(gate.state_key, request.args.get("state", "")):
        log.info("setup: refused a callback whose state this process did not issue")
        raise SetupError(
            400,
            "Setup not recognised",
            "This callback does not answer a setup started from this server's /setup in the "
            "last hour (or the server restarted since). Start again from /setup.",
        )
    code = request.args.get("code", "")
    if not _CODE.fullmatch(code):
        raise SetupError(400, "No code", "GitHub sent no valid code back. Start again.")
    with gate.lock:  # one callback at a time: the first one to finish wins
        if gate.done:
            raise _restart_needed(settings)
        preflight(settings.env_file)
        created = exchange_code(settings.github_api_url, code)
        stored = store(settings, created)
        gate.done = True
    log.info(
        "setup: created the GitHub App %s (id %d); credentials written to %s and %s",
        created.slug,
        created.id,
        stored.env_file,
        stored.key_file,
    )
    return render_template(
        "dashboard/setup_done.html.j2",
        app=created,
        install_url=f"{created.html_url}/installations/new",
        stored=stored,
    )


def _gate() -> tuple[Settings, Gate]:
    """The settings and the gate; 404 once the App is configured."""
    gate = current_app.extensions.get(GATE_KEY)
    if gate is None:
        abort(404)
    return state().settings, gate


def _admit(gate: Gate) -> str | None:
    """The token when the request carries it; None from this computer; else 403."""
    given = request.args.get("token", "")
    if given and hmac.compare_digest(given.encode(), gate.token.encode()):
        return given
    if from_this_computer():
        return None
    log.warning("setup: refused a request without the setup token from elsewhere")
    raise SetupError(
        403,
        "Setup is closed to you",
        "This page registers the server's GitHub App: it answers this computer, or the link "
        "with the setup token that the server writes to its log at start.",
    )


def _restart_needed(settings: Settings) -> SetupError:
    return SetupError(
        409,
        "Restart the server",
        f"The App's credentials are written to {settings.env_file}; the running server "
        "cannot reload its settings. Restart it to use them.",
    )


def preflight(env_file: Path) -> None:
    """Refuse early, before GitHub creates anything: a .env file that already holds App
    credentials (never overwritten), or one that cannot be written."""
    try:
        held = held_credentials(env_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise _unwritable(env_file, exc) from None
    if held:
        raise SetupError(
            409,
            "The App is configured already",
            f"{env_file} already sets the App's credentials, which setup never overwrites. "
            "Restart the server to load them, or remove them to create another App:",
            held,
        )
    directory = Path(os.path.realpath(env_file)).parent
    if not os.access(directory, os.W_OK):
        raise _unwritable(env_file, PermissionError(f"{directory} is not writable"))


def _unwritable(env_file: Path, exc: Exception) -> SetupError:
    return SetupError(
        500,
        "Cannot write the settings",
        f"This server cannot write {env_file} ({exc}). Point YIELD_AUDITOR_ENV_FILE at a file "
        "in a writable directory (a volume, in a container) and restart.",
    )


def exchange_code(api_url: str, code: str) -> CreatedApp:
    """The App GitHub created, for the manifest flow's ``code`` (no authentication)."""
    try:
        answer = httpx.post(
            conversion_url(api_url, code),
            headers={"Accept": "application/vnd.github+json", "User-Agent": "yield-auditor"},
            timeout=GITHUB_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        log.warning("setup: the code exchange failed (%s)", type(exc).__name__)
        raise _unavailable() from None
    if answer.status_code == 404:
        raise SetupError(
            400,
            "Setup expired",
            "GitHub does not know this code: codes work once, within an hour. The App may "
            "exist on GitHub already (delete it there); then start again from /setup.",
        )
    if answer.status_code == 422:
        raise SetupError(400, "GitHub refused the manifest", "GitHub said:", _errors(answer))
    if answer.status_code != 201:
        log.warning("setup: the code exchange answered %d", answer.status_code)
        raise _unavailable()
    return _created(answer)


def _created(answer: httpx.Response) -> CreatedApp:
    try:
        body = answer.json()
        created = CreatedApp(
            id=int(body["id"]),
            slug=str(body["slug"]),
            name=str(body["name"]),
            html_url=str(body["html_url"]),
            pem=str(body["pem"]),
            webhook_secret=body.get("webhook_secret"),
            client_id=str(body["client_id"]),
            client_secret=str(body["client_secret"]),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("setup: the code exchange answered 201 without an App")
        raise _unavailable() from None
    for secret in (created.pem, created.webhook_secret, created.client_secret):
        telemetry.register_secret(secret)
    return created


def _errors(answer: httpx.Response) -> list[str]:
    try:
        body = answer.json()
    except ValueError:
        return [f"HTTP {answer.status_code}"]
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return [str(e)[:300] for e in errors[:10]]
    return [str(body.get("message", answer.status_code))[:300] if isinstance(body, dict) else ""]


def _unavailable() -> SetupError:
    return SetupError(
        502,
        "GitHub is unavailable",
        "GitHub did not complete the code exchange. Reload this page within the hour to try "
        "again; nothing was written.",
    )


def store(settings: Settings, created: CreatedApp) -> Stored:
    """The private key to its own file beside the .env file, the rest into the .env file
    (with a session key when none is set); on failure nothing is left behind."""
    env_file = settings.env_file
    directory = Path(os.path.realpath(env_file)).parent
    key_file = directory / f"yield-auditor-{created.id}.private-key.pem"
    values = {
        "GITHUB_APP_ID": str(created.id),
        "GITHUB_APP_PRIVATE_KEY_PATH": str(key_file),
        "GITHUB_CLIENT_ID": created.client_id,
        "GITHUB_CLIENT_SECRET": created.client_secret,
    }
    if created.webhook_secret:
        values["GITHUB_WEBHOOK_SECRET"] = created.webhook_secret
    if settings.secret_key is None:
        values["YIELD_AUDITOR_SECRET_KEY"] = secrets.token_hex(32)
    try:
        write_new_file(key_file, created.pem)
    except OSError as exc:
        raise _not_stored(created, key_file, exc) from None
    try:
        write_env(env_file, values)
    except (OSError, ValueError) as exc:
        key_file.unlink(missing_ok=True)
        raise _not_stored(created, env_file, exc) from None
    return Stored(env_file, key_file, sorted(values), _overridden(values))


def _not_stored(created: CreatedApp, path: Path, exc: Exception) -> SetupError:
    log.error(
        "setup: the App %s was created but %s could not be written (%s)", created.slug, path, exc
    )
    return SetupError(
        500,
        "Credentials not written",
        f"GitHub created the App {created.name} ({created.html_url}), but writing {path} "
        f"failed ({exc}); nothing was written. Delete the App on GitHub and start again, or "
        "configure it by hand (docs/github-app.md).",
    )


def _overridden(values: Mapping[str, str]) -> list[str]:
    """Variables of the environment that win over the .env file for the keys written."""
    names = {n.upper() for key in values for n in env_names(WRITTEN_FIELDS[key])}
    return sorted(name for name in os.environ if name.upper() in names)
