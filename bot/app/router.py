"""Event routing: each concern module registers handlers for (event, action) pairs.

Handlers are pure (gidgethub's sans-I/O style): they read a payload and return the ``Changes``
it implies for the ledger; the worker applies them (``bot.app.apply``). So a handler can be
tested with a payload and nothing else, and re-processing a delivery changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.engine.records import Event, FileChange, PullRequest
from bot.protocol.commit import CommitInfo

ANY = None  # an action of ANY: every action of the event


class PayloadError(ValueError):
    """The payload lacks a field its event must have, or has one of the wrong type.

    Retrying cannot help, so the worker parks such a delivery as failed at once, with this
    message (which must name the field).
    """


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler may know besides the payload: this App's own id (to skip its own checks)."""

    app_id: int | None = None


@dataclass(frozen=True, slots=True)
class CommitSeen:
    """A commit a payload carries; ``pr_number`` None lets the worker find the PR by branch."""

    info: CommitInfo
    pr_number: int | None = None
    parents: tuple[str, ...] = ()
    files: tuple[FileChange, ...] = ()


@dataclass(frozen=True, slots=True)
class InstallationChange:
    installation_id: int
    account_login: str
    state: str  # active, suspended or deleted
    created: datetime | None = None


@dataclass
class Changes:
    """What one delivery means for the ledger.

    ``needs_api`` names steps that need the GitHub API (e.g. "pull_request.commits"); the worker
    does them when it has a GitHub client and records them as skipped otherwise. Events with
    ``pr_number`` None and a ``sha`` are matched to a pull request by head sha.
    """

    repository: str | None = None
    installation: InstallationChange | None = None
    repositories_added: list[str] = field(default_factory=list)
    repositories_removed: list[str] = field(default_factory=list)
    pull_requests: list[PullRequest] = field(default_factory=list)
    commits: list[CommitSeen] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    needs_api: list[str] = field(default_factory=list)
    ignored: str | None = None  # why nothing was done, e.g. "our own check run"

    def merge(self, other: Changes) -> Changes:
        """Combine two handlers' changes for one delivery."""
        if other.repository and self.repository and other.repository != self.repository:
            raise ValueError("one delivery cannot concern two repositories")
        return Changes(
            repository=self.repository or other.repository,
            installation=other.installation or self.installation,
            repositories_added=self.repositories_added + other.repositories_added,
            repositories_removed=self.repositories_removed + other.repositories_removed,
            pull_requests=self.pull_requests + other.pull_requests,
            commits=self.commits + other.commits,
            events=self.events + other.events,
            needs_api=self.needs_api + other.needs_api,
            ignored=self.ignored if other.ignored is None else other.ignored,
        )


Handler = Callable[[Mapping[str, Any], HandlerContext], Changes]


class Router:
    """Handlers by event and action; ``dispatch`` runs every handler that matches."""

    def __init__(self, *others: Router) -> None:
        self._handlers: dict[tuple[str, str | None], list[Handler]] = defaultdict(list)
        for other in others:
            for key, handlers in other._handlers.items():
                self._handlers[key].extend(handlers)

    def register(self, event: str, action: str | None = ANY) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self._handlers[(event, action)].append(handler)
            return handler

        return decorate

    def handlers(self, event: str, action: str | None) -> list[Handler]:
        found = list(self._handlers.get((event, ANY), ()))
        if action is not None:
            found += self._handlers.get((event, action), ())
        return found

    def handles(self, event: str, action: str | None) -> bool:
        return bool(self.handlers(event, action))

    def dispatch(
        self, event: str, payload: Mapping[str, Any], context: HandlerContext
    ) -> Changes | None:
        """The combined changes of every matching handler; None when nothing handles it."""
        action = payload.get("action")
        handlers = self.handlers(event, action if isinstance(action, str) else None)
        if not handlers:
            return None
        changes = Changes()
        for handler in handlers:
            changes = changes.merge(handler(payload, context))
        return changes
