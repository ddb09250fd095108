"""The worker: claims deliveries from the inbox, runs their handlers, applies the changes.

Any number of workers can run against PostgreSQL (``yield-auditor worker``); ``serve`` runs one
in a thread next to the web server on SQLite. A delivery is processed in phases, each write a
short transaction that commits only while this worker still holds the lease, and no transaction
open (nor SQLite's write lock held) during a GitHub call: the records, the API steps, the
derived tasks, the cost comment, then the ``done`` mark. Every phase converges when it runs
again, so a delivery whose worker died half-way is finished by another with the same effects.
A permanent error (``is_permanent``) fails the delivery at once; a transient one is retried.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from bot import telemetry
from bot.app.apply import ApiStep, LeaseLost, Ledger, LedgerAccess, apply_changes, is_permanent
from bot.app.handlers import router as default_router
from bot.app.repo_config import RepoConfig
from bot.app.router import HandlerContext, Router
from bot.config import Settings
from bot.engine.analysis import Analyser
from bot.github.client import GitHubApp
from bot.ledger import inbox
from bot.ledger.db import write_lock
from bot.ledger.inbox import Delivery

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
COMMENT_STEP = "pull_request.comment"

# Updates the cost comment of the given pull requests: (ledger, repo_id, delivery, numbers).
CommentUpdate = Callable[[LedgerAccess, int, Delivery, Sequence[int]], None]
DEFAULT_POLL_SECONDS = 1.0


class RetryLater(Exception):
    """Raised by an API step (e.g. on a rate limit) to run the delivery again at ``at``."""

    def __init__(self, message: str, at: datetime) -> None:
        super().__init__(message)
        self.at = at


class Worker:
    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        router: Router = default_router,
        analyser: Analyser | None = None,
        api_steps: Mapping[str, ApiStep] | None = None,
        comment_step: CommentUpdate | None = None,
        repo_config: Callable[[Delivery], RepoConfig | None] | None = None,
        lease: timedelta = DEFAULT_LEASE,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        name: str | None = None,
    ) -> None:
        settings = settings or Settings()
        self.engine = engine
        self.router = router
        self.analyser = analyser or settings.analyser()
        self.context = HandlerContext(app_id=settings.github_app_id)
        self.api_steps = dict(api_steps or {})
        self.comment_step = comment_step
        self.repo_config = repo_config
        self.github: GitHubApp | None = None  # set when the App's credentials are configured
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()

    def wake(self) -> None:
        """Cut the poll short: a delivery was just stored."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Process deliveries until ``stop`` is set; errors are logged, never fatal."""
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                worked = self.run_once() is not None
            except Exception:  # the database went away, say: wait and try again
                log.exception("worker %s could not claim a delivery", self.name)
                worked = False
            if not worked:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        log.info("worker %s stopped", self.name)

    def drain(self, limit: int | None = None) -> int:
        """Process deliveries until none is due; returns how many were processed."""
        count = 0
        while (limit is None or count < limit) and self.run_once() is not None:
            count += 1
        return count

    def run_once(self) -> Delivery | None:
        """Claim and process one due delivery; None when nothing is due."""
        delivery = inbox.claim(self.engine, self.name, self.lease)
        if delivery is None:
            return None
        fields = {
            "delivery": delivery.guid,
            "event": delivery.event,
            "action": delivery.action,
            "repository": delivery.repository,
            "installation": delivery.installation_id,
        }
        with telemetry.log_context(**fields), self._heartbeat(delivery):
            self._process(delivery)
        return delivery

    def _process(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            status = self._apply(delivery)
        except RetryLater as exc:
            inbox.fail(self.engine, delivery, self.name, str(exc), retry_at=exc.at)
            log.warning("delivery postponed until %s: %s", exc.at.isoformat(), exc)
        except LeaseLost as exc:
            log.warning("%s", exc)
        except Exception as exc:
            permanent = is_permanent(exc)  # no retry can help: fail it at once
            if not permanent:
                log.error("delivery failed: %s", traceback.format_exc(limit=8))
            self._fail(delivery, f"{type(exc).__name__}: {exc}", give_up=permanent)
        else:
            if status is not None:
                telemetry.record_processed(delivery.event, time.perf_counter() - started)
                log.info("delivery %s", status)

    def _apply(self, delivery: Delivery) -> str | None:
        """Handle, apply, comment and finish, in phases; the status reached, None if the lease
        was lost. GitHub is called between the phases' transactions, never inside one."""
        changes = self.router.dispatch(delivery.event, delivery.payload(), self.context)
        if changes is None:
            return self._finish(delivery, inbox.IGNORED, (), "no handler")
        config = self.repo_config(delivery) if self.repo_config else None

        def holds(connection: Connection) -> bool:
            return inbox.extend(connection, delivery.guid, self.name, self.lease)

        ledger = Ledger(self.engine, holds)
        outcome = apply_changes(ledger, delivery, changes, self.analyser, self.api_steps, config)
        skipped = outcome.skipped
        if outcome.pr_numbers and outcome.repository_id is not None:
            if self.comment_step is None:
                skipped = (*skipped, COMMENT_STEP)
            else:
                self.comment_step(ledger, outcome.repository_id, delivery, outcome.pr_numbers)
        if outcome.ignored:
            return self._finish(delivery, inbox.IGNORED, skipped, outcome.ignored)
        refused = "; ".join(("refused", *outcome.refused)) if outcome.refused else None
        return self._finish(delivery, inbox.DONE, skipped, refused)

    def _finish(
        self, delivery: Delivery, status: str, skipped: Iterable[str], reason: str | None
    ) -> str | None:
        """The done mark, in a transaction of its own; None when the lease was lost."""
        with write_lock(self.engine), self.engine.begin() as connection:
            if inbox.finish(connection, delivery.guid, self.name, status, skipped, reason):
                return status
        log.warning("lease lost: another worker finishes this delivery")
        return None

    def _fail(self, delivery: Delivery, error: str, give_up: bool = False) -> None:
        limit = delivery.attempts if give_up else inbox.MAX_ATTEMPTS
        status = inbox.fail(self.engine, delivery, self.name, error, max_attempts=limit)
        telemetry.record_failed(delivery.event)
        log.warning("delivery %s after attempt %d: %s", status, delivery.attempts, error)

    @contextmanager
    def _heartbeat(self, delivery: Delivery) -> Iterator[None]:
        """Renew the lease every third of its length while the delivery is processed."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease.total_seconds() / 3):
                try:
                    if not inbox.renew(self.engine, delivery.guid, self.name, self.lease):
                        return
                except Exception:
                    log.exception("could not renew the lease")

        thread = threading.Thread(target=beat, name=f"lease-{delivery.guid}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
