"""The webhook ingress against a real database: signatures, store-then-acknowledge, errors."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import logging
import socket
import threading
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from bot import telemetry
from bot.app.router import Changes, Router
from bot.config import Settings
from bot.ledger import inbox
from bot.ledger.db import make_engine, migrate
from tests import payloads as p
from tests.paths import FIXTURES
from tests.unit.ledger.test_group_commit import in_threads, incompressible, read_only
from webhooks import create_app
from webhooks.ingress import MAX_BODY_BYTES, STATE_KEY, WEBHOOK_PATH

SECRET = "test-webhook-secret-5b1e9c"
FIXTURES = FIXTURES / "github-webhooks"
OPENED = (FIXTURES / "pull_request" / "opened.payload.json").read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def settings_for(url: str, secret: str | None = SECRET) -> Settings:
    return Settings(_env_file=None, database_url=url, github_webhook_secret=secret)


def handling(*events: str) -> Router:
    """A router that handles every action of ``events`` (the real handlers are tested elsewhere)."""
    router = Router()
    for event in events:
        router.register(event)(lambda payload, context: Changes())
    return router


def make_app(url: str, engine: sa.Engine, secret: str | None = SECRET):
    app = create_app(settings_for(url, secret), engine)
    app.extensions[STATE_KEY].router = handling("pull_request", "push")
    return app


@pytest.fixture
def app(database_url: str, ledger_engine: sa.Engine):
    return make_app(database_url, ledger_engine)


@pytest.fixture
def client(app):
    return app.test_client()


def deliver(client, body: bytes = OPENED, event: str = "pull_request", guid: str | None = None,
            signature: str | None = None, headers: dict[str, str] | None = None):  # fmt: skip
    """POST a delivery signed with SECRET; a header given as "" is left out."""
    sent = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body) if signature is None else signature,
        "Content-Type": "application/json",
        **(headers or {}),
    }
    return client.post(WEBHOOK_PATH, data=body, headers={k: v for k, v in sent.items() if v})


def count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(inbox.deliveries)).scalar()


# --------------------------------------------------------------------------- signatures


def test_github_documentation_test_vector(ledger_engine, database_url):
    """GitHub's documented example signs "Hello, World!": it verifies, then fails as JSON."""
    client = make_app(database_url, ledger_engine, "It's a Secret to Everybody").test_client()
    vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == vector
    accepted = deliver(client, b"Hello, World!", signature=vector)
    assert accepted.status_code == 400
    assert accepted.get_json() == {"error": "the body is not valid JSON"}
    assert deliver(client, b"Hello, World!", signature=vector.upper()).status_code == 403
    assert deliver(client, b"Hello, World!", signature=vector[:-1] + "f").status_code == 403


@pytest.mark.parametrize(
    ("signature", "headers", "status"),
    [
        ("", {}, 401),
        ("", {"X-Hub-Signature": "sha1=" + hashlib.sha1(OPENED).hexdigest()}, 403),
        ("sha256=" + "0" * 63, {}, 403),
        ("sha256=" + "g" * 64, {}, 403),
        ("sha1=" + "0" * 64, {}, 403),
        (sign(OPENED)[len("sha256=") :], {}, 403),
        (sign(OPENED, "another secret"), {}, 403),
        (sign(OPENED + b" "), {}, 403),
    ],
    ids=["missing", "sha1-only", "short", "not-hex", "sha1-prefix", "no-prefix", "wrong", "other"],
)
def test_bad_signatures_are_refused_and_not_stored(
    client, ledger_engine, signature, headers, status
):
    response = deliver(client, signature=signature, headers=headers)
    assert response.status_code == status
    assert "error" in response.get_json()
    assert count(ledger_engine) == 0


def test_no_webhook_secret_refuses_everything(ledger_engine, database_url, caplog):
    client = make_app(database_url, ledger_engine, secret=None).test_client()
    response = deliver(client, signature=sign(OPENED, ""))
    assert response.status_code == 500
    assert "GITHUB_WEBHOOK_SECRET is not set" in response.get_json()["error"]
    assert "GITHUB_WEBHOOK_SECRET is not set" in caplog.text
    assert count(ledger_engine) == 0


# ----------------------------------------------------------------------- store, then acknowledge


def test_signed_delivery_is_stored_then_acknowledged(client, ledger_engine):
    response = deliver(client, guid="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert response.status_code == 202
    assert response.get_json() == {"id": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "status": "queued"}
    stored = inbox.get(ledger_engine, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert stored is not None
    assert (stored.event, stored.action, stored.status) == ("pull_request", "opened", "received")
    assert (stored.installation_id, stored.repository) == (1, "Codertocat/Hello-World")
    assert stored.ordering_key == "Codertocat/Hello-World#2"
    assert stored.body == OPENED


def test_duplicate_guid_is_acknowledged_once(client, ledger_engine):
    first = deliver(client, guid="dup-1")
    again = deliver(client, guid="dup-1")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"id": "dup-1", "status": "duplicate"}
    assert count(ledger_engine) == 1


def test_unknown_event_is_stored_as_ignored(client, ledger_engine):
    body = (FIXTURES / "pull_request_review_comment" / "created.payload.json").read_bytes()
    response = deliver(client, body, event="pull_request_review_comment", guid="unknown-1")
    assert response.status_code == 202
    assert response.get_json() == {"id": "unknown-1", "status": "ignored"}
    stored = inbox.get(ledger_engine, "unknown-1")
    assert (stored.status, stored.action) == ("ignored", "created")


def test_ping_is_answered_and_not_stored(client, ledger_engine):
    body = (FIXTURES / "ping" / "payload.json").read_bytes()
    response = deliver(client, body, event="ping")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "zen": json.loads(body)["zen"]}
    assert count(ledger_engine) == 0


def test_worker_is_woken_for_new_work_only(app, client):
    calls = []
    app.extensions[STATE_KEY].on_stored = lambda: calls.append(1)
    deliver(client, guid="wake-1")
    deliver(client, guid="wake-1")
    deliver(client, b'{"action": "created"}', event="sponsorship")
    assert calls == [1]


def test_failing_wake_up_hook_still_acknowledges(app, client, ledger_engine):
    def broken() -> None:
        raise RuntimeError("worker gone")

    app.extensions[STATE_KEY].on_stored = broken
    assert deliver(client, guid="hook-1").status_code == 202
    assert inbox.get(ledger_engine, "hook-1") is not None


# --------------------------------------------------------------------------- malformed requests


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe{}", b"[" * 100_000]
)
def test_invalid_json_with_valid_signature_is_400(client, ledger_engine, body):
    response = deliver(client, body)
    assert response.status_code == 400
    assert count(ledger_engine) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": ""},
        {"X-GitHub-Delivery": ""},
        {"X-GitHub-Event": "Pull Request!"},
        {"X-GitHub-Delivery": "../../etc/passwd"},
    ],
    ids=["no-event", "no-delivery", "bad-event", "bad-delivery"],
)
def test_missing_or_invalid_event_headers_are_400(client, ledger_engine, headers):
    response = deliver(client, headers=headers)
    assert response.status_code == 400
    assert count(ledger_engine) == 0


def test_form_encoded_webhook_is_415(client, ledger_engine):
    body = b"payload=%7B%7D"
    response = deliver(client, body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    assert count(ledger_engine) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "opened\u0000"},
        {"action": "\ud800"},
        {"installation": {"id": 2**64}},
        {"repository": {"full_name": "a/b"}, "ref": "refs/heads/\u0000"},
    ],
    ids=["nul", "surrogate", "huge-int", "nul-in-ordering-key"],
)
def test_payload_fields_no_database_can_hold_are_400(client, ledger_engine, payload):
    response = deliver(client, json.dumps(payload).encode(), event="push")
    assert response.status_code == 400
    assert count(ledger_engine) == 0


def test_a_3000_character_ref_is_stored_beside_valid_deliveries(app, ledger_engine):
    """Git refs have no length limit that matters here, PostgreSQL's index rows do (2,704
    bytes): the ref's ordering key is bounded, so this delivery and the ones sent with it are
    stored, and pushes to the same long ref still share one key."""
    ref = "refs/heads/" + incompressible(3000)
    long_push = json.dumps(p.push(ref, [], repo="o/r")).encode()
    sent = [("long-1", long_push), ("long-2", long_push)]
    sent += [(f"valid-{n}", OPENED) for n in range(6)]
    answers = in_threads([lambda b=b, g=g: deliver(app.test_client(), b, "push", g).status_code
                          for g, b in sent])  # fmt: skip
    assert answers == [202] * len(sent)
    first, second = inbox.get(ledger_engine, "long-1"), inbox.get(ledger_engine, "long-2")
    assert len(first.ordering_key) == inbox.ORDERING_KEY_LIMIT
    assert first.ordering_key.startswith("o/r@refs/heads/") and "sha256:" in first.ordering_key
    assert first.ordering_key == second.ordering_key
    assert first.payload()["ref"] == ref  # the ref itself is kept whole, in the body


REFS = st.text(max_size=40) | st.text(min_size=500, max_size=3000)


@given(repo=st.text(max_size=700), ref=REFS, other=REFS)
def test_ordering_keys_are_bounded_and_keep_refs_apart(repo, ref, other):
    keys = [inbox.ordering_key("push", {"ref": r}, repo, None) for r in (ref, other)]
    assert all(len(key) <= inbox.ORDERING_KEY_LIMIT for key in keys)
    assert (keys[0] == keys[1]) == (ref == other)


def test_body_over_the_limit_is_413(client, ledger_engine):
    body = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = deliver(client, body)
    assert response.status_code == 413
    assert count(ledger_engine) == 0


def test_body_over_the_limit_without_content_length_is_413(app, client, ledger_engine):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    body = json.dumps({"pad": "x" * 2048}).encode()
    builder = EnvironBuilder(
        method="POST",
        path=WEBHOOK_PATH,
        input_stream=io.BytesIO(body),
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "chunked-1",
            "X-Hub-Signature-256": sign(body),
        },
    )
    environ = builder.get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True  # chunked transfer: the server ends the stream
    assert client.open(environ).status_code == 413
    assert count(ledger_engine) == 0


def test_unknown_routes_and_methods_answer_json(client):
    missing = client.get(
        "/api/nope"
    )  # outside /api/ a 404 is a page (tests/unit/webhooks/test_access.py)
    assert missing.status_code == 404
    assert "error" in missing.get_json()
    wrong_method = client.get(WEBHOOK_PATH)
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert "error" in wrong_method.get_json()


# --------------------------------------------------------------------------- the database away


def test_database_away_is_503_then_the_redelivery_is_stored(client, ledger_engine):
    with ledger_engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE deliveries RENAME TO deliveries_away")
    refused = deliver(client, guid="away-1")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert "error" in refused.get_json()
    with ledger_engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE deliveries_away RENAME TO deliveries")
    assert count(ledger_engine) == 0
    assert deliver(client, guid="away-1").status_code == 202
    assert inbox.get(ledger_engine, "away-1").body == OPENED


def test_sqlite_file_unreachable_is_503_then_the_redelivery_is_stored(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    url = f"sqlite:///{home / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    client = make_app(url, engine).test_client()
    engine.dispose()
    home.rename(tmp_path / "away")
    assert deliver(client, guid="gone-1").status_code == 503
    assert client.get("/healthz").status_code == 503
    (tmp_path / "away").rename(home)
    assert deliver(client, guid="gone-1").status_code == 202
    assert inbox.get(engine, "gone-1") is not None
    engine.dispose()


class TcpProxy:
    """Forwards a local port to PostgreSQL; ``stop`` makes the database unreachable."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.connections: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        for sock in [self.listener, *self.connections]:
            _close(sock)
        self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    """Shut down first: a bare close leaves a socket another thread is blocked on open."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def test_postgresql_unreachable_is_503_then_the_redelivery_is_stored(postgres_url):
    url = sa.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(through)
    migrate(engine)
    client = make_app(through, engine).test_client()
    try:
        assert deliver(client, guid="pg-away-1").status_code == 202
        proxy.stop()
        refused = deliver(client, guid="pg-away-2")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "30"
        assert client.get("/healthz").status_code == 503
        proxy.start()
        assert deliver(client, guid="pg-away-2").status_code == 202
        assert client.get("/healthz").status_code == 200
        assert count(engine) == 2
    finally:
        proxy.stop()
        engine.dispose()


# --------------------------------------------------------------------------- health and metrics


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    "url",
    ["sqlite:////nonexistent-dir/ledger.db", "postgresql+psycopg://postgres@127.0.0.1:1/none"],
    ids=["sqlite", "postgresql"],
)
def test_healthz_is_503_without_a_database(url):
    client = create_app(settings_for(url)).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert deliver(client).status_code == 503


def read_only_url(database_url: str) -> str:
    """The same database, opened so that it accepts no write (a replica, a read-only file)."""
    if database_url.startswith("sqlite:///"):
        return f"sqlite:///file:{database_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return read_only(database_url)


def test_healthz_is_503_while_the_database_refuses_writes(database_url, ledger_engine):
    engine = make_engine(read_only_url(database_url))
    try:
        client = make_app(database_url, engine).test_client()
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable", "database": "read-only"}
        assert deliver(client).status_code == 503  # what the health check foretold
    finally:
        engine.dispose()


def test_healthz_is_503_until_the_database_is_migrated(database_url):
    engine = make_engine(database_url)
    try:
        client = make_app(database_url, engine).test_client()
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable", "database": "unmigrated"}
        migrate(engine, "0001")
        assert client.get("/healthz").get_json()["database"] == "unmigrated"  # behind
        migrate(engine)
        assert client.get("/healthz").status_code == 200
    finally:
        engine.dispose()


def test_metrics_answer_only_this_computer_without_a_token(client):
    assert client.get("/metrics").status_code == 200
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    elsewhere = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    for refused in (proxied, elsewhere):
        assert refused.status_code == 403
        assert "YIELD_AUDITOR_METRICS_TOKEN" in refused.get_json()["error"]
        assert b"installation" not in refused.data


def test_metrics_with_a_token_answer_its_bearer_only(database_url, ledger_engine):
    token = "metrics-token-3f9a1c"
    settings = Settings(
        _env_file=None, database_url=database_url, github_webhook_secret=SECRET, metrics_token=token
    )
    client = create_app(settings, ledger_engine).test_client()
    bearer, remote = {"Authorization": f"Bearer {token}"}, {"REMOTE_ADDR": "203.0.113.9"}
    scraped = client.get("/metrics", headers=bearer, environ_base=remote)
    assert scraped.status_code == 200 and b"yield_auditor_database_up" in scraped.data
    for authorization in ("", f"Bearer {token}x", f"Basic {token}", "Bearer ", token):
        refused = client.get("/metrics", headers={"Authorization": authorization})  # even locally
        assert refused.status_code == 401, authorization
        assert refused.headers["WWW-Authenticate"].startswith("Bearer realm=")
        assert token not in refused.get_data(as_text=True)


def test_metrics_expose_counters_and_queue_gauges(client):
    deliver(client, guid="m-1")
    deliver(client, guid="m-1")
    deliver(client, b'{"action": "x"}', event="sponsorship")
    deliver(client, signature="sha256=" + "0" * 64)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    for line in (
        "yield_auditor_queue_depth 1.0",
        'yield_auditor_deliveries{status="received"} 1.0',
        'yield_auditor_deliveries{status="ignored"} 1.0',
        "yield_auditor_database_up 1.0",
    ):
        assert line in text
    for name in (
        'yield_auditor_deliveries_received_total{event="pull_request"}',
        'yield_auditor_deliveries_ignored_total{event="sponsorship"}',
        'yield_auditor_deliveries_duplicate_total{event="pull_request"}',
        'yield_auditor_deliveries_rejected_total{reason="signature"}',
        "yield_auditor_acknowledge_seconds_bucket",
        "yield_auditor_oldest_pending_seconds",
        "process_cpu_seconds_total",
    ):
        assert name in text


def test_many_apps_in_one_process_each_serve_metrics(database_url, ledger_engine):
    for _ in range(3):
        client = make_app(database_url, ledger_engine).test_client()
        assert client.get("/metrics").status_code == 200


# --------------------------------------------------------------------------- logs


@pytest.fixture
def json_log():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = telemetry.configure_logging("INFO", json_format=True, stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_accepted_delivery_logs_its_context_and_no_secret(client, json_log):
    deliver(client, guid="log-1")
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    stored = next(r for r in records if r["message"] == "delivery stored")
    assert stored["level"] == "INFO"
    assert stored["logger"] == "webhooks.ingress"
    assert stored["delivery"] == "log-1"
    assert stored["event"] == "pull_request"
    assert stored["action"] == "opened"
    assert stored["repository"] == "Codertocat/Hello-World"
    assert stored["installation"] == 1
    assert stored["status"] == "queued"
    text = json_log.getvalue()
    assert SECRET not in text
    assert sign(OPENED) not in text
    assert "Update the README with new information" not in text  # the PR's title


def test_refused_delivery_logs_the_reason_and_no_secret(client, json_log):
    deliver(client, guid="log-2", signature=sign(OPENED, "wrong"))
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    refused = next(r for r in records if r["message"].startswith("delivery refused"))
    assert (refused["level"], refused["reason"], refused["delivery"]) == (
        "WARNING",
        "signature",
        "log-2",
    )
    assert SECRET not in json_log.getvalue()


# --------------------------------------------------------------------------- fuzzing

HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)  # NUL, lone surrogates
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63)
    | st.floats(allow_nan=False)
    | ANY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
LONG_TEXT = st.text(min_size=600, max_size=3000)  # past what an index row holds
GITHUB_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "action": JSON_VALUES,
        "installation": st.fixed_dictionaries({"id": JSON_VALUES}),
        "repository": st.fixed_dictionaries({"full_name": JSON_VALUES | LONG_TEXT}),
        "pull_request": st.fixed_dictionaries({"number": JSON_VALUES}),
        "ref": JSON_VALUES | LONG_TEXT,
        "zen": JSON_VALUES,
    },
)
BODIES = st.one_of(
    st.binary(max_size=256),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    GITHUB_SHAPED.map(lambda value: json.dumps(value).encode()),
)
EVENTS = st.one_of(st.sampled_from(["pull_request", "push", "issue_comment", "ping"]), HEADER_TEXT)
GUIDS = st.one_of(st.uuids().map(str), st.just("fuzz-duplicate"), HEADER_TEXT)
SIGNATURES = st.one_of(st.just("right"), st.just("missing"), HEADER_TEXT)


FUZZ = hypothesis_settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=BODIES, event=EVENTS, guid=GUIDS, signature=SIGNATURES, content_type=HEADER_TEXT)
def test_fuzzed_requests_never_get_a_server_error(
    client, ledger_engine, body, event, guid, signature, content_type
):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid, "Content-Type": content_type}
    if signature != "missing":
        headers["X-Hub-Signature-256"] = sign(body) if signature == "right" else signature
    response = client.post(WEBHOOK_PATH, data=body, headers=headers)
    assert response.status_code < 500, response.get_json()
    assert response.is_json and response.get_json()
    if response.status_code in (200, 202) and event != "ping":
        assert inbox.get(ledger_engine, guid) is not None


@FUZZ
@given(payload=GITHUB_SHAPED, event=st.sampled_from(["pull_request", "push", "installation"]))
def test_fuzzed_signed_payloads_are_stored_or_refused(client, ledger_engine, payload, event):
    """Whatever a signed payload holds, it is stored (2xx) or refused for good (400)."""
    guid = str(uuid.uuid4())
    response = deliver(client, json.dumps(payload).encode(), event=event, guid=guid)
    assert response.status_code in (202, 400), response.get_json()
    assert (inbox.get(ledger_engine, guid) is not None) == (response.status_code == 202)
