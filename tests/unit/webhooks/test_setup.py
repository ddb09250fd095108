"""The App's setup from its manifest (webhooks/setup.py): the page, the fake GitHub's "new
GitHub App" page and code exchange, the .env file and key written with mode 0600, and who may
run it. The flow runs for real: the page's form is posted to a running fake GitHub, whose
redirect is followed back to the callback, and the stored key then authenticates as the App."""

from __future__ import annotations

import io
import json
import logging
import re
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings
from bot.demo.fake_github.manifest import manifest_errors
from bot.demo.fake_github.server import ERROR, FakeGitHub, generate_private_key
from bot.github.client import GitHubApp, configured
from tests.access_helpers import PUBLIC_URL, make_settings
from tests.paths import ROOT
from webhooks.app import create_app
from webhooks.serve import _announce_setup
from webhooks.setup import (
    GATE_KEY,
    MANIFEST_FILE,
    build_manifest,
    conversion_url,
    env_quote,
    load_manifest,
    merge_env,
    new_app_url,
    sign_state,
    write_env,
)

SECRETS_KEPT = "DATABASE_URL='sqlite:///kept.db'\n# a comment that stays\nexport LOG_LEVEL=debug\n"


class Forms(HTMLParser):
    """The page's forms: method, action and their inputs' values."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.scripts = self.styles = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        self.styles += tag == "style" or "style" in attrs
        if tag == "form":
            self.forms.append({"method": attrs.get("method", "get"), "action": attrs.get("action"),
                               "fields": {}})  # fmt: skip
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")

    def form(self, method: str) -> dict:
        return next(f for f in self.forms if f["method"] == method)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=1) as server:
        yield server


@pytest.fixture
def env_file(tmp_path) -> Path:
    path = tmp_path / "conf" / ".env"
    path.parent.mkdir()
    path.write_text(SECRETS_KEPT)
    return path


def fresh_settings(fake: FakeGitHub, env_file: Path, **overrides) -> Settings:
    """A fresh install: a public URL, nothing of the App, no session key."""
    values = {
        "github_api_url": fake.url,
        "env_file": env_file,
        "secret_key": None,
        "github_client_id": None,
        "github_client_secret": None,
        "github_webhook_secret": None,
        **overrides,
    }
    return make_settings(**values)


@pytest.fixture
def app(fake, env_file):
    return create_app(fresh_settings(fake, env_file))


def start(client, query: str = "") -> tuple[str, dict]:
    """GET /setup: the form's action and the manifest it posts."""
    page = client.get(f"/setup{query}")
    assert page.status_code == 200, page.get_data(as_text=True)
    forms = Forms(page.get_data(as_text=True))
    assert forms.scripts == 0 and forms.styles == 0
    post = forms.form("post")
    assert set(post["fields"]) == {"manifest"}  # posted to GitHub: no CSRF token of ours
    return post["action"], json.loads(post["fields"]["manifest"])


def create_on_github(action: str, manifest: dict) -> str:
    """Post the form to the fake GitHub; returns the path and query of its redirect."""
    answer = httpx.post(action, data={"manifest": json.dumps(manifest)})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{PUBLIC_URL}/setup/callback?")
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


# --------------------------------------------------------------------------- the whole flow


def test_the_manifest_flow_creates_the_app_and_stores_working_credentials(
    app, fake, env_file, caplog
):
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    action, manifest = start(client)
    assert action.startswith(f"{fake.url}/settings/apps/new?state=")
    assert manifest["url"] == PUBLIC_URL
    assert manifest["hook_attributes"] == {
        "active": True,
        "url": f"{PUBLIC_URL}/api/github/webhooks",
    }
    assert manifest["redirect_url"] == f"{PUBLIC_URL}/setup/callback"
    assert manifest["callback_urls"] == [f"{PUBLIC_URL}/login/callback"]
    assert manifest["public"] is False
    template = yaml.safe_load(MANIFEST_FILE.read_text())
    assert manifest["default_permissions"] == template["default_permissions"]
    assert manifest["default_events"] == template["default_events"]

    done = client.get(create_on_github(action, manifest))
    page = done.get_data(as_text=True)
    assert done.status_code == 200, page
    assert fake.app_id != 1 and f"id {fake.app_id}" in page
    assert f'href="{fake.url}/apps/yield-auditor/installations/new"' in page
    assert "Restart the server" in page

    values = dotenv_values(env_file)
    key_file = Path(values["GITHUB_APP_PRIVATE_KEY_PATH"])
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.parent == env_file.parent and key_file.is_absolute()
    assert values["GITHUB_APP_ID"] == str(fake.app_id)
    assert values["GITHUB_CLIENT_ID"] == fake.oauth_client_id
    assert values["GITHUB_CLIENT_SECRET"] == fake.oauth_client_secret
    assert re.fullmatch(r"[0-9a-f]{40}", values["GITHUB_WEBHOOK_SECRET"])
    assert len(values["YIELD_AUDITOR_SECRET_KEY"]) == 64
    assert env_file.read_text().startswith(SECRETS_KEPT)  # the file's own lines stay first
    assert values["DATABASE_URL"] == "sqlite:///kept.db" and values["LOG_LEVEL"] == "debug"

    stored = Settings(_env_file=env_file, github_api_url=fake.url)
    assert configured(stored) and stored.github_webhook_secret is not None
    github = GitHubApp(stored, seconds_between_requests=None, seconds_between_writes=None)
    try:
        assert github.integration.get_app().id == fake.app_id  # GET /app with the JWT
    finally:
        github.close()
    assert create_app(stored).test_client().get("/setup").status_code == 404

    for secret in (values["GITHUB_WEBHOOK_SECRET"], values["GITHUB_CLIENT_SECRET"],
                   key_file.read_text().splitlines()[1]):  # fmt: skip
        assert secret not in caplog.text
    again = client.get("/setup")
    assert again.status_code == 409 and "Restart" in again.get_data(as_text=True)


def test_an_organisation_owns_the_app_when_named(app, fake, env_file):
    client = app.test_client()
    action, manifest = start(client, "?organization=acme-corp")
    assert action.startswith(f"{fake.url}/organizations/acme-corp/settings/apps/new?state=")
    answer = httpx.post(action, data={"manifest": json.dumps(manifest)})
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    body = httpx.post(f"{fake.url}/app-manifests/{code}/conversions").json()
    assert body["owner"]["login"] == "acme-corp" and body["owner"]["type"] == "Organization"
    for bad in ("../acme", "-acme", "a" * 40, "acme corp"):
        assert client.get("/setup", query_string={"organization": bad}).status_code == 400


def test_the_organisation_form_keeps_the_token(app):
    gate = app.extensions[GATE_KEY]
    client = app.test_client()
    page = client.get(f"/setup?token={gate.token}", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert page.status_code == 200
    switch = Forms(page.get_data(as_text=True)).form("get")
    assert switch["fields"] == {"token": gate.token, "organization": ""}


def test_the_page_asks_for_a_public_url_first(fake, env_file):
    client = create_app(fresh_settings(fake, env_file, public_url=None)).test_client()
    page = client.get("/setup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "YIELD_AUDITOR_PUBLIC_URL" in html
    assert "/api/github/webhooks" in html
    assert not [f for f in Forms(html).forms if f["method"] == "post"]


def test_the_csp_lets_the_form_post_to_github_only(app, fake):
    policy = app.test_client().get("/setup").headers["Content-Security-Policy"]
    assert f"form-action 'self' {fake.url};" in policy and "script-src 'self'" in policy


# --------------------------------------------------------------------------- refusals


def test_a_callback_with_a_foreign_state_is_refused_and_nothing_exchanged(app, fake, env_file):
    client = app.test_client()
    action, manifest = start(client)
    callback = create_on_github(action, manifest)
    stale = sign_state(app.extensions[GATE_KEY].state_key, now=time.time() - 3601)
    for forged in ("", "bogus", sign_state(b"another process's key"), stale):
        query = re.sub(r"state=[^&]*", f"state={forged}", callback.split("?", 1)[1])
        answer = client.get(f"/setup/callback?{query}")
        assert answer.status_code == 400, forged
        assert "not recognised" in answer.get_data(as_text=True)
    assert not fake.calls("POST", "/app-manifests/*")
    assert env_file.read_text() == SECRETS_KEPT
    assert client.get(callback).status_code == 200  # the genuine one still works


def test_an_unknown_used_or_expired_code_writes_nothing(app, fake, env_file):
    client = app.test_client()
    state = sign_state(app.extensions[GATE_KEY].state_key)
    answer = client.get("/setup/callback", query_string={"code": "0" * 40, "state": state})
    assert answer.status_code == 400 and "Setup expired" in answer.get_data(as_text=True)

    action, manifest = start(client)
    callback = create_on_github(action, manifest)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    with fake.state.lock:
        body, expires = fake.state.manifest_codes[code]
        fake.state.manifest_codes[code] = (body, expires - timedelta(hours=2))
    assert client.get(callback).status_code == 400
    assert env_file.read_text() == SECRETS_KEPT
    assert list(env_file.parent.iterdir()) == [env_file]


def test_a_failed_exchange_writes_nothing_and_can_be_retried(app, fake, env_file):
    client = app.test_client()
    action, manifest = start(client)
    callback = create_on_github(action, manifest)
    fake.fail("POST", "/app-manifests/*", ERROR)
    failed = client.get(callback)
    assert failed.status_code == 502 and "nothing was written" in failed.get_data(as_text=True)
    assert env_file.read_text() == SECRETS_KEPT
    assert client.get(callback).status_code == 200  # the code was not used up


def test_the_conversion_answers_once_then_404(fake):
    manifest = build_manifest(load_manifest(), make_settings())
    answer = httpx.post(
        f"{fake.url}/settings/apps/new?state=s1", data={"manifest": json.dumps(manifest)}
    )
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["s1"]
    url = conversion_url(fake.url, query["code"][0])
    first = httpx.post(url)
    assert first.status_code == 201
    assert {"id", "slug", "name", "owner", "html_url", "client_id", "client_secret",
            "webhook_secret", "pem", "permissions", "events"} <= set(first.json())  # fmt: skip
    assert first.json()["permissions"]["metadata"] == "read"
    second = httpx.post(url)
    assert second.status_code == 404 and second.json()["message"] == "Not Found"


@pytest.mark.parametrize("held", ["GITHUB_APP_ID=7", "app_id=7", "PRIVATE_KEY_PATH=/k.pem"])
def test_existing_app_credentials_are_never_overwritten(fake, env_file, held):
    env_file.write_text(SECRETS_KEPT + held + "\n")
    client = create_app(fresh_settings(fake, env_file)).test_client()
    page = client.get("/setup")
    assert page.status_code == 409 and held.split("=")[0] in page.get_data(as_text=True)
    state = sign_state(client.application.extensions[GATE_KEY].state_key)
    answer = client.get("/setup/callback", query_string={"code": "c0de", "state": state})
    assert answer.status_code == 409
    assert not fake.calls("POST", "/app-manifests/*")
    assert env_file.read_text() == SECRETS_KEPT + held + "\n"


def test_setup_is_404_once_the_app_is_configured(fake, env_file):
    complete = {"github_app_id": 5, "github_app_private_key": generate_private_key()}
    for credentials in (complete, {"github_app_id": 5}, {"github_app_private_key_path": env_file}):
        client = create_app(fresh_settings(fake, env_file, **credentials)).test_client()
        assert client.get("/setup").status_code == 404
        assert client.get("/setup/callback?code=x&state=y").status_code == 404


@pytest.mark.parametrize(
    ("environ", "headers"),
    [
        ({"REMOTE_ADDR": "203.0.113.9"}, {}),  # another computer
        ({}, {"X-Forwarded-For": "203.0.113.9"}),  # through a proxy on this computer
        ({}, {"Host": "yield.example.test"}),  # a name that is not this computer's
        ({"REMOTE_ADDR": "203.0.113.9"}, {"Host": "127.0.0.1"}),
    ],
)
def test_setup_from_elsewhere_needs_the_token(app, environ, headers):
    client = app.test_client()
    token = app.extensions[GATE_KEY].token
    refused = client.get("/setup", environ_base=environ, headers=headers)
    assert refused.status_code == 403 and token not in refused.get_data(as_text=True)
    wrong = client.get("/setup?token=" + "0" * 32, environ_base=environ, headers=headers)
    assert wrong.status_code == 403
    assert (
        client.get(f"/setup?token={token}", environ_base=environ, headers=headers).status_code
        == 200
    )


def test_each_process_has_its_own_token_in_its_log(fake, env_file, caplog):
    caplog.set_level(logging.WARNING)
    first, second = (create_app(fresh_settings(fake, env_file)) for _ in range(2))
    tokens = [app.extensions[GATE_KEY].token for app in (first, second)]
    assert tokens[0] != tokens[1]
    for token in tokens:
        assert f"open {PUBLIC_URL}/setup?token={token} to create it" in caplog.text


def test_serve_announces_the_setup_link_only_while_unconfigured(app, fake, env_file, caplog):
    caplog.set_level(logging.WARNING)
    _announce_setup(app, "0.0.0.0", 8000)
    token = app.extensions[GATE_KEY].token
    assert f"open http://127.0.0.1:8000/setup?token={token} " in caplog.text
    caplog.clear()
    settings = fresh_settings(fake, env_file, github_app_id=5, github_app_private_key="k")
    _announce_setup(create_app(settings), "::1", 8000)
    assert "setup" not in caplog.text


def test_an_unwritable_place_is_said_before_github_is_involved(fake, tmp_path):
    client = create_app(fresh_settings(fake, tmp_path / "missing" / ".env")).test_client()
    page = client.get("/setup")
    assert page.status_code == 500 and "YIELD_AUDITOR_ENV_FILE" in page.get_data(as_text=True)
    assert not fake.calls()


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("api", "web_page", "conversion"),
    [
        ("https://api.github.com", "https://github.com/settings/apps/new",
         "https://api.github.com/app-manifests/c0de/conversions"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/settings/apps/new",
         "https://ghe.example.com/api/v3/app-manifests/c0de/conversions"),
    ],
)  # fmt: skip
def test_github_and_enterprise_server_urls(api, web_page, conversion):
    settings = Settings(_env_file=None, github_api_url=api)
    assert new_app_url(settings.github_web_url, "", "s") == f"{web_page}?state=s"
    org_page = web_page.replace("/settings/", "/organizations/acme/settings/")
    assert new_app_url(settings.github_web_url, "acme", "s") == f"{org_page}?state=s"
    assert conversion_url(settings.github_api_url, "c0de") == conversion
    assert conversion_url(api, "a/b?c") == conversion.replace("c0de", "a%2Fb%3Fc")


def test_ghe_host_alone_gives_enterprise_server_urls():
    settings = Settings(_env_file=None, ghe_host="ghe.example.com")
    assert new_app_url(settings.github_web_url, "", "s").startswith(
        "https://ghe.example.com/settings/"
    )
    assert conversion_url(settings.github_api_url, "c").startswith(
        "https://ghe.example.com/api/v3/"
    )


# --------------------------------------------------------------------------- app.yml


def _docs_table(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_app_yml_asks_exactly_for_what_docs_github_app_md_justifies():
    docs = (ROOT / "docs" / "github-app.md").read_text()
    names = {
        "Pull requests": "pull_requests",
        "Checks": "checks",
        "Contents": "contents",
        "Metadata": "metadata",
        "Commit statuses": "statuses",
        "Actions": "actions",
    }
    access = {"Read": "read", "Read and write": "write"}
    documented = {
        names[row[0]]: access[row[1]]
        for row in _docs_table(docs, "### Repository permissions, and why")
    }
    events_text = docs.split("### Events to subscribe to", 1)[1].strip().split(".", 1)[0]
    events = [e.strip().lower().replace(" ", "_") for e in events_text.split(",")]
    manifest = load_manifest()
    assert manifest["default_permissions"] == documented
    assert sorted(manifest["default_events"]) == sorted(events)
    assert manifest["public"] is False and manifest["name"] and manifest["description"]


def test_the_fake_checks_manifests_as_github_does():
    manifest = build_manifest(load_manifest(), make_settings())
    assert manifest_errors(manifest) == []
    assert manifest_errors({**manifest, "name": ""}) == ["Name can't be blank"]
    assert manifest_errors({**manifest, "name": "x" * 35})[0].startswith("Name is too long")
    assert manifest_errors({**manifest, "hook_attributes": {}}) == [
        "Hook attributes url can't be blank"
    ]
    assert manifest_errors({**manifest, "url": "ftp://x"}) == ["Url must be a valid URL"]
    without_actions = {k: v for k, v in manifest["default_permissions"].items() if k != "actions"}
    assert manifest_errors({**manifest, "default_permissions": without_actions}) == [
        "Default events are not supported by permissions: workflow_run, workflow_job"
    ]


def test_the_fake_refuses_an_invalid_manifest_with_a_page(fake):
    answer = httpx.post(f"{fake.url}/settings/apps/new", data={"manifest": "{not json"})
    assert answer.status_code == 422 and "not valid JSON" in answer.text
    answer = httpx.post(f"{fake.url}/settings/apps/new", data={"manifest": json.dumps({"url": 1})})
    assert answer.status_code == 422 and "Name can&#39;t be blank" in answer.text
    assert not fake.state.manifest_codes


# --------------------------------------------------------------------------- the .env file

_KEY = st.one_of(  # a few keys often, so existing lines and new values collide
    st.sampled_from(["GITHUB_APP_ID", "github_app_id", "KEY", "Key", "_"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True),
)
_VALUE = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=("Cs",)),
                 max_size=40).filter(lambda v: "${" not in v)  # fmt: skip
_LINE = st.one_of(
    st.builds(lambda k, v: f"{k}={env_quote(v)}", _KEY, _VALUE),
    st.builds(lambda k, v: f"export {k}={env_quote(v)}", _KEY, _VALUE),
    st.builds(lambda v: f"# {v}", _VALUE),
    st.just(""),
    st.just('PRIVATE_KEY_TEXT="-----BEGIN KEY-----\nabc=\n-----END KEY-----"'),
)


_VALUES = st.dictionaries(_KEY, _VALUE, max_size=5).filter(
    lambda values: len({key.upper() for key in values}) == len(values)
)


@given(existing=st.lists(_LINE, max_size=8), values=_VALUES)
def test_merging_keeps_other_lines_sets_each_key_once_and_round_trips(existing, values):
    text = "\n".join(existing)
    merged = merge_env(text, values)
    parsed = dotenv_values(stream=io.StringIO(merged))
    before = dotenv_values(stream=io.StringIO(text))
    wanted = {k.upper() for k in values}
    for key, value in values.items():
        assert parsed[key] == value
    for key, value in before.items():
        if key.upper() not in wanted:
            assert parsed[key] == value
    keys = [m.group(1).upper() for m in re.finditer(r"^(?:export )?(\w+)=", merged, re.M)
            if m.group(1).upper() in wanted]  # fmt: skip
    assert sorted(keys) == sorted(wanted)
    assert merge_env(merged, values) == merged  # setting the same values again changes nothing


def test_env_values_that_cannot_round_trip_are_refused():
    for value in ("a\nb", "x${HOME}", "\0"):
        with pytest.raises(ValueError):
            env_quote(value)
    for values in ({"A-B": "1"}, {"key": "1", "KEY": "2"}):
        with pytest.raises(ValueError):
            merge_env("", values)
    assert env_quote("it's a \\ path") == "'it\\'s a \\\\ path'"


def test_write_env_replaces_the_file_atomically_with_mode_0600(tmp_path):
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    path.chmod(0o644)
    write_env(path, {"B": "2"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dotenv_values(path) == {"A": "1", "B": "2"}
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left
    link = tmp_path / "link.env"
    link.symlink_to(path)
    write_env(link, {"C": "3"})
    assert link.is_symlink() and dotenv_values(path)["C"] == "3"
