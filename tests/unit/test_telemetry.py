"""Metrics, JSON logs with context, and the redaction of secrets."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from bot import telemetry
from bot.ledger import inbox
from bot.ledger.db import make_engine

JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDYwMCwiaXNzIjoiMTIzNDU2In0"
    ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJl"
)
STATELESS = "ghs_123456_" + JWT + "." + "A" * (520 - len(JWT) - 12)  # the ~520-char kind
TOKENS = {
    "classic": "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8",
    "oauth": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
    "user-to-server": "ghu_16C7e42F292c6912E7710c838347Ae178B4a",
    "installation": "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
    "refresh": "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
    "fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
    "jwt": JWT,
    "stateless": STATELESS,
}


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("token", TOKENS.values(), ids=TOKENS.keys())
def test_tokens_are_redacted(token):
    text = telemetry.redact(f"calling the API with {token}, then again ({token}).")
    assert token not in text
    assert token[4:20] not in text
    assert telemetry.REDACTED in text


def test_stateless_token_is_redacted_whole():
    assert len(STATELESS) >= 500
    assert telemetry.redact(STATELESS) == "ghs_" + telemetry.REDACTED


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer " + JWT,
        "Authorization: token abc123def456",
        '{"authorization": "Basic dXNlcjpwYXNzd29yZA=="}',
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c\n-----END RSA PRIVATE KEY-----",
    ],
    ids=["bearer", "token-scheme", "basic", "pem"],
)
def test_credentials_are_redacted(text):
    redacted = telemetry.redact(text)
    for secret in (JWT, "abc123def456", "dXNlcjpwYXNzd29yZA==", "MIIEowIBAAKCAQEA1c"):
        assert secret not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "token yield 0.83 over 12 tasks",
        "ghost commits: 3, eyeball review",
        "refs/heads/feature/gh_pages",
        "delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958 stored",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert telemetry.redact(text) == text


def test_registered_secret_is_redacted():
    telemetry.register_secret("hunter2-webhook-secret")
    assert telemetry.redact("secret=hunter2-webhook-secret;") == f"secret={telemetry.REDACTED};"


def test_registered_secrets_are_bounded(monkeypatch):
    """A long-running worker registers a token an hour per installation: keep the newest."""
    monkeypatch.setattr(telemetry, "_secrets", {})
    monkeypatch.setattr(telemetry, "_secrets_longest_first", ())
    monkeypatch.setattr(telemetry, "_MAX_SECRETS", 3)
    for n in range(5):
        telemetry.register_secret(f"rotating-secret-{n}")
    assert list(telemetry._secrets) == [f"rotating-secret-{n}" for n in (2, 3, 4)]
    assert telemetry.redact("rotating-secret-4") == telemetry.REDACTED
    assert telemetry.redact("rotating-secret-1") == "rotating-secret-1"


# --------------------------------------------------------------------------- logs


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = telemetry.configure_logging("DEBUG", json_format=True, stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_context(log_stream):
    log = logging.getLogger("yield_auditor.test")
    with telemetry.log_context(delivery="d-1", event="push"):
        with telemetry.log_context(repository="octo/repo", installation=42, action=None):
            log.info("processing %s", "push", extra={"attempt": 2})
        log.warning("after")
    log.info("outside")
    inner, after, outside = records(log_stream)
    assert inner["message"] == "processing push"
    assert (inner["level"], inner["logger"]) == ("INFO", "yield_auditor.test")
    assert datetime.fromisoformat(inner["time"]).tzinfo is not None
    assert inner["delivery"] == "d-1" and inner["event"] == "push"
    assert inner["repository"] == "octo/repo" and inner["installation"] == 42
    assert inner["attempt"] == 2 and "action" not in inner
    assert after["delivery"] == "d-1" and "repository" not in after
    assert "delivery" not in outside


def test_context_does_not_leak_across_threads(log_stream):
    log = logging.getLogger("yield_auditor.test")
    with telemetry.log_context(delivery="main-thread"):
        thread = threading.Thread(target=log.info, args=("from a thread",))
        thread.start()
        thread.join()
    assert "delivery" not in records(log_stream)[0]


def test_secrets_are_redacted_in_messages_fields_and_tracebacks(log_stream):
    log = logging.getLogger("yield_auditor.test")
    token = TOKENS["installation"]
    with telemetry.log_context(repository=f"octo/repo?token={token}"):
        log.info("token %s", token, extra={"headers": {"Authorization": f"token {token}"}})
        try:
            raise RuntimeError(f"GitHub refused {STATELESS}")
        except RuntimeError:
            log.exception("call failed")
    text = log_stream.getvalue()
    assert token not in text and STATELESS[:40] not in text
    first, failure = records(log_stream)
    assert first["message"] == f"token ghs_{telemetry.REDACTED}"
    assert first["headers"] == {"Authorization": f"token ghs_{telemetry.REDACTED}"}
    assert "RuntimeError" in failure["exception"]


def test_configure_logging_replaces_its_own_handler_only(log_stream):
    root = logging.getLogger()
    others = [h for h in root.handlers if not getattr(h, "_yield_auditor_handler", False)]
    stream = io.StringIO()
    handler = telemetry.configure_logging("INFO", json_format=False, stream=stream)
    ours = [h for h in root.handlers if getattr(h, "_yield_auditor_handler", False)]
    assert ours == [handler]
    assert [h for h in root.handlers if h is not handler] == others
    logging.getLogger("yield_auditor.test").info("plain %s", TOKENS["classic"])
    root.removeHandler(handler)
    assert (
        stream.getvalue()
        .rstrip()
        .endswith(f"INFO yield_auditor.test: plain ghp_{telemetry.REDACTED}")
    )
    assert log_stream.getvalue() == ""


# --------------------------------------------------------------------------- metrics


def value(registry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_worker_api_counts():
    registry = telemetry.create_registry()
    processed = value(registry, "yield_auditor_deliveries_processed_total", event="push")
    failed = value(registry, "yield_auditor_deliveries_failed_total", event="push")
    timed = value(registry, "yield_auditor_processing_seconds_count", event="push")
    calls = value(registry, "yield_auditor_github_api_calls_total", installation="42")
    as_app = value(registry, "yield_auditor_github_api_calls_total", installation="app")
    telemetry.record_processed("push", 0.25)
    telemetry.record_failed("push")
    telemetry.record_failed("push", 0.5)
    telemetry.record_api_call(42)
    telemetry.record_api_call(None)
    assert (
        value(registry, "yield_auditor_deliveries_processed_total", event="push") == processed + 1
    )
    assert value(registry, "yield_auditor_deliveries_failed_total", event="push") == failed + 2
    assert value(registry, "yield_auditor_processing_seconds_count", event="push") == timed + 2
    assert value(registry, "yield_auditor_github_api_calls_total", installation="42") == calls + 1
    assert value(registry, "yield_auditor_github_api_calls_total", installation="app") == as_app + 1


def test_registries_can_be_created_many_times(ledger_engine):
    registries = [
        telemetry.create_registry(partial(inbox.queue_stats, ledger_engine)) for _ in range(3)
    ]
    assert all(r.get_sample_value("yield_auditor_queue_depth") == 0 for r in registries)


def test_queue_gauges_read_the_database(ledger_engine):
    old = datetime.now(UTC) - timedelta(minutes=5)
    inbox.store(ledger_engine, "q-1", "push", b"{}", {}, now=old)
    inbox.store(ledger_engine, "q-2", "push", b"{}", {})
    inbox.store(ledger_engine, "q-3", "sponsorship", b"{}", {}, ignored=True)
    registry = telemetry.create_registry(partial(inbox.queue_stats, ledger_engine))
    assert registry.get_sample_value("yield_auditor_database_up") == 1
    assert registry.get_sample_value("yield_auditor_queue_depth") == 2
    assert registry.get_sample_value("yield_auditor_deliveries", {"status": "received"}) == 2
    assert registry.get_sample_value("yield_auditor_deliveries", {"status": "ignored"}) == 1
    assert registry.get_sample_value("yield_auditor_deliveries", {"status": "failed"}) == 0
    age = registry.get_sample_value("yield_auditor_oldest_pending_seconds")
    assert 300 <= age < 400


def test_queue_gauges_without_a_database():
    engine = make_engine("sqlite:////nonexistent-dir/ledger.db")
    registry = telemetry.create_registry(partial(inbox.queue_stats, engine))
    assert registry.get_sample_value("yield_auditor_database_up") == 0
    assert registry.get_sample_value("yield_auditor_queue_depth") is None
    engine.dispose()


def test_empty_queue_has_no_pending_age(ledger_engine):
    registry = telemetry.create_registry(partial(inbox.queue_stats, ledger_engine))
    assert registry.get_sample_value("yield_auditor_oldest_pending_seconds") == 0
