"""Real local receivers for the digest channels, and digests to send them.

``HttpReceiver`` is a threaded HTTP server on 127.0.0.1 that records every request and answers
from a script (429 with a retry-after, 5xx...) before falling back to 200. ``SmtpReceiver`` is
an aiosmtpd server that keeps every message it receives.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from bot.digest.model import (
    Advice,
    AttentionItem,
    Cell,
    Digest,
    Figure,
    Misroute,
    Period,
    TrendPoint,
)
from tests.processes import free_port


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class HttpReceiver:
    """A webhook endpoint: ``answers`` are used up in order, then every request gets 200."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hooks/T000/B000/s3cr3t-path-token"

    def answer(self, status: int, headers: dict[str, str] | None = None, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.answers.append(Answer(status, headers or {}, data))

    def _next(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            return self.answers.pop(0) if self.answers else Answer(200, body=b"ok")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver._next(Request(self.path, dict(self.headers), body))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.replies: list[str] = []  # answers to DATA, used up before accepting
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A local SMTP server (no TLS, no auth): ``messages`` holds (from, to, parsed message)."""

    def __init__(self) -> None:
        self._inbox = _Inbox()
        self.port = free_port()
        self._controller = Controller(self._inbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[tuple[str, list[str], EmailMessage]]:
        return self._inbox.messages

    @property
    def attempts(self) -> int:
        return self._inbox.attempts

    def reply(self, answer: str) -> None:
        """Answer the next DATA with ``answer`` (e.g. "451 try later") instead of accepting."""
        self._inbox.replies.append(answer)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# --------------------------------------------------------------------------- digests

HOSTILE = (
    "<!channel> @everyone @here <@123> **bold** _it_ `code` [click](https://evil.example) "
    "<script>alert(1)</script> &amp; | > # ~~x~~ \u202eevil\u200b\n\r\tnext line ${{x}} "
)
START = datetime(2026, 11, 16, tzinfo=UTC)


def figure(
    name: str, value: Any, previous: Any, unit: str, coverage: float | None = 0.97
) -> Figure:
    return Figure(name, value, previous, unit, f"of 34 shipped tasks ({name})", coverage)


def small_digest(**changes: Any) -> Digest:
    """A realistic week: a few cells, one of everything."""
    values = {
        "installation_id": 7,
        "account": "octo-org",
        "period": Period(START, START + timedelta(days=7), "2026-W47"),
        "headline": "Token yield 71% (+6 pts); cost per shipped task $0.42",
        "scorecard": (
            figure("Token yield", 0.71, 0.65, "share"),
            figure("Spend", Decimal("123.45"), Decimal("150.00"), "usd"),
            figure("Shipped tasks", 34, 30, "count", None),
        ),
        "matrix": (
            Cell("economy", "docs", 10, 9, 0.9, (0.6, 0.98), 0.85, Decimal("0.12")),
            Cell("frontier", "bugfix", 5, 4, 0.6, (0.2, 0.9), 0.7, Decimal("1.40")),
        ),
        "attention": (
            AttentionItem(
                "octo-org/service",
                "Fix the cache",
                "https://github.com/octo-org/service/pull/3",
                Decimal("4.20"),
                "3 bounces, 2 rework commits",
            ),
        ),
        "misroutes": (
            Misroute("octo-org/service", "ROUTE-1", None, "economy", "frontier", Decimal("0.80")),
        ),
        "advice": (
            Advice(
                "docs",
                "switch",
                "standard",
                "economy",
                "saves $0.31 per shipped task",
                0.93,
                0.31,
                (0.1, 0.5),
            ),
        ),
        "trend": tuple(
            TrendPoint(f"2026-W{36 + i}", 0.6 + i / 100, Decimal(100 + i)) for i in range(12)
        ),
        "repositories": ("octo-org/service",),
        "dashboard_url": "https://yield.example.org/dashboard/7",
    }
    return Digest(**{**values, **changes})


def huge_digest(text: str = HOSTILE * 40) -> Digest:
    """Hundreds of cells and items, every string long and hostile: hits every limit."""
    url = "https://github.com/octo-org/service/pull/1"
    return small_digest(
        account=text,
        headline=text,
        scorecard=tuple(figure(f"{text}{i}", 0.5, 0.4, "share") for i in range(30)),
        matrix=tuple(
            Cell(f"{text}{i}", text, 10, 5, 0.5, (0.1, 0.9), 0.4, Decimal("1.5"))
            for i in range(400)
        ),
        attention=tuple(AttentionItem(text, text, url, Decimal(i), text) for i in range(300)),
        misroutes=tuple(Misroute(text, text, url, text, text, Decimal("0.5")) for i in range(200)),
        advice=tuple(
            Advice(text, "keep", text, text, text, 0.5, 0.1, (0.0, 0.2)) for _ in range(80)
        ),
        trend=tuple(TrendPoint(text, 0.5, Decimal(1)) for _ in range(12)),
        notes=tuple(text for _ in range(20)),
    )


def strings(payload: Any) -> Iterator[str]:
    """Every string in a JSON document."""
    if isinstance(payload, str):
        yield payload
    elif isinstance(payload, dict):
        for key, value in payload.items():
            yield key
            yield from strings(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from strings(item)
