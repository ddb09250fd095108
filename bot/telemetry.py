"""Metrics (Prometheus) and structured logs (JSON lines) for the ingress and the worker.

Counters and histograms are process-local module objects in the default registry; each app also
gets its own ``CollectorRegistry`` (``create_registry``) holding them plus a collector that reads
the queue at scrape time, so queue figures agree across every process and ``create_app`` can run
many times in one process (tests) without duplicated time series. The queue is read through the
function ``create_registry`` is given: telemetry is shared infrastructure, below the ledger.

Logs never carry secrets: ``RedactingFilter`` masks anything shaped like a GitHub token, a JWT,
an ``Authorization`` credential or a PEM key, and every value passed to ``register_secret``.
Request headers and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol, TextIO

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

PREFIX = "yield_auditor"

DELIVERIES_RECEIVED = Counter(
    f"{PREFIX}_deliveries_received", "Deliveries stored for the first time.", ["event"]
)
DELIVERIES_IGNORED = Counter(
    f"{PREFIX}_deliveries_ignored", "Deliveries stored as ignored: no handler.", ["event"]
)
DELIVERIES_DUPLICATE = Counter(
    f"{PREFIX}_deliveries_duplicate", "Deliveries whose GUID was stored already.", ["event"]
)
DELIVERIES_REJECTED = Counter(
    f"{PREFIX}_deliveries_rejected", "Deliveries refused and not stored, by reason.", ["reason"]
)
DELIVERIES_PROCESSED = Counter(
    f"{PREFIX}_deliveries_processed", "Deliveries the worker processed.", ["event"]
)
DELIVERIES_FAILED = Counter(f"{PREFIX}_deliveries_failed", "Failed processing attempts.", ["event"])
PROCESSING_SECONDS = Histogram(
    f"{PREFIX}_processing_seconds", "Time the worker spent on one delivery.", ["event"]
)
ACKNOWLEDGE_SECONDS = Histogram(
    f"{PREFIX}_acknowledge_seconds",
    "Time from a webhook request to its answer.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GITHUB_API_CALLS = Counter(
    f"{PREFIX}_github_api_calls", "Calls to the GitHub API, by installation.", ["installation"]
)
PROCESS_LOCAL = (
    DELIVERIES_RECEIVED,
    DELIVERIES_IGNORED,
    DELIVERIES_DUPLICATE,
    DELIVERIES_REJECTED,
    DELIVERIES_PROCESSED,
    DELIVERIES_FAILED,
    PROCESSING_SECONDS,
    ACKNOWLEDGE_SECONDS,
    GITHUB_API_CALLS,
)


# --------------------------------------------------------------------------- worker API


def record_processed(event: str, seconds: float) -> None:
    """A delivery finished (done or ignored by its handlers) after ``seconds`` of work."""
    DELIVERIES_PROCESSED.labels(event=event).inc()
    PROCESSING_SECONDS.labels(event=event).observe(seconds)


def record_failed(event: str, seconds: float | None = None) -> None:
    """A processing attempt failed (retried later or parked); its time counts when given."""
    DELIVERIES_FAILED.labels(event=event).inc()
    if seconds is not None:
        PROCESSING_SECONDS.labels(event=event).observe(seconds)


def record_api_call(installation_id: int | None) -> None:
    """One GitHub API request; ``None`` for calls made as the App itself (JWT)."""
    GITHUB_API_CALLS.labels(installation=str(installation_id or "app")).inc()


# --------------------------------------------------------------------------- ingress API


def record_received(event: str, *, ignored: bool) -> None:
    DELIVERIES_RECEIVED.labels(event=event).inc()
    if ignored:
        DELIVERIES_IGNORED.labels(event=event).inc()


def record_duplicate(event: str) -> None:
    DELIVERIES_DUPLICATE.labels(event=event).inc()


def record_rejected(reason: str) -> None:
    DELIVERIES_REJECTED.labels(reason=reason).inc()


# --------------------------------------------------------------------------- registry


class QueueStats(Protocol):
    """What the queue gauges show: ``bot.ledger.inbox.QueueStats``."""

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def oldest_pending(self) -> datetime | None: ...

    @property
    def depth(self) -> int: ...


class QueueCollector(Collector):
    """Queue depth, oldest pending age and deliveries by status, read from the database.

    The inbox is shared by every web and worker process, so these are true for the whole
    deployment whichever process is scraped. ``yield_auditor_database_up`` is 0 when the
    database cannot be read (the other gauges are then left out rather than reported as 0).
    """

    def __init__(self, read: Callable[[], QueueStats]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 if the inbox could be read.")
        try:
            stats = self._read()
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("metrics: the inbox cannot be read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _queue_gauges(stats)


def _queue_gauges(stats: QueueStats) -> Iterator[GaugeMetricFamily]:
    yield GaugeMetricFamily(
        f"{PREFIX}_queue_depth", "Deliveries received or processing.", value=stats.depth
    )
    age = 0.0
    if stats.oldest_pending is not None:
        age = max((datetime.now(UTC) - stats.oldest_pending).total_seconds(), 0.0)
    yield GaugeMetricFamily(
        f"{PREFIX}_oldest_pending_seconds", "Age of the oldest unfinished delivery.", value=age
    )
    by_status = GaugeMetricFamily(
        f"{PREFIX}_deliveries", "Deliveries in the inbox, by status.", labels=["status"]
    )
    for status, count in stats.counts.items():
        by_status.add_metric([status], count)
    yield by_status


def create_registry(queue: Callable[[], QueueStats] | None = None) -> CollectorRegistry:
    """A registry with this process's metrics, and the queue's when given the function that
    reads it (``functools.partial(bot.ledger.inbox.queue_stats, engine)``)."""
    registry = CollectorRegistry()
    for collector in (*PROCESS_LOCAL, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    if queue is not None:
        registry.register(QueueCollector(queue))
    return registry


# --------------------------------------------------------------------------- redaction

REDACTED = "[REDACTED]"
_TOKEN_PATTERNS = (
    # GitHub tokens: classic (ghp_, gho_, ghu_, ghs_, ghr_) and stateless ghs_<app id>_<JWT>.
    re.compile(r"\b(gh[pousr]_)[A-Za-z0-9_.\-]{8,}"),
    re.compile(r"\b(github_pat_)[A-Za-z0-9_]{8,}"),
    re.compile(r"()\beyJ[A-Za-z0-9_\-]{4,}(?:\.[A-Za-z0-9_\-]*){1,2}"),  # a JWT
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9_.~+/=\-]{8,}"),
    re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z]+\s+)?)[^\s\"',]+"),
    re.compile(
        r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?"
        r"(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    ),
)
_MIN_SECRET_LENGTH = 4
_MAX_SECRETS = 256  # installation tokens rotate hourly: keep the newest, the patterns catch them
_secrets: dict[str, None] = {}  # insertion-ordered set
_secrets_longest_first: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Mask this exact value (a webhook secret, a private key...) in every log record."""
    global _secrets_longest_first
    if not value or len(value) < _MIN_SECRET_LENGTH or value in _secrets:
        return
    _secrets[value] = None
    while len(_secrets) > _MAX_SECRETS:
        del _secrets[next(iter(_secrets))]
    _secrets_longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with registered secrets and anything shaped like a credential masked."""
    for secret in _secrets_longest_first:
        text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


# --------------------------------------------------------------------------- logging

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "yield_auditor_log_context", default=MappingProxyType({})
)
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (delivery, event, action, repository, installation...) to every record
    logged inside the block, in this thread or task only; ``None`` values are left out."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


class RedactingFilter(logging.Filter):
    """Adds the log context to a record, then masks secrets in its message, fields and
    traceback. Attached to the handler, so records of every logger pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            record.__dict__.setdefault(key, value)
        record.msg = redact(record.getMessage())
        record.args = None
        for key in _extra_keys(record):
            record.__dict__[key] = _redact_value(record.__dict__[key])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [key for key in record.__dict__ if key not in _STANDARD_ATTRS]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _extra_keys(record):
            document.setdefault(key, record.__dict__[key])
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, default=str, ensure_ascii=False)


_HANDLER_MARK = "_yield_auditor_handler"


def configure_logging(
    level: str | int = "INFO", json_format: bool = True, stream: TextIO | None = None
) -> logging.Handler:
    """Send every logger's records through one redacting handler on the root logger.

    Calling it again replaces the handler it installed before and leaves other handlers (a test
    runner's, say) alone. Returns the handler.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if json_format else logging.Formatter(_TEXT_FORMAT, _TEXT_DATE_FORMAT)
    )
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
