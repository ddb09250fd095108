"""The fake GitHub's in-memory world: what tests and the demo seed, and what it records.

Plain dataclasses under one lock; ``bot.demo.fake_github.server`` serves them with GitHub's
REST shapes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

# Fault kinds (``FakeGitHub.fail``).
ERROR = "error"  # a 5xx answer
DELAY = "delay"  # answer late (the client times out), then normally
SECONDARY = "secondary"  # 403 or 429 secondary rate limit, with retry-after when given
PRIMARY = "primary"  # 403 with x-ratelimit-remaining 0 and x-ratelimit-reset
FAULT_KINDS = (ERROR, DELAY, SECONDARY, PRIMARY)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Person:
    """A git identity, with the GitHub account it maps to when there is one."""

    name: str
    email: str
    login: str | None = None
    id: int | None = None
    type: str = "User"  # or "Bot"


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file of a diff; ``additions``/``deletions`` default to the counts in ``patch``.

    ``patch`` None is what GitHub sends for binary or very large diffs.
    """

    filename: str
    patch: str | None = ""
    status: str = "modified"
    previous_filename: str | None = None
    additions: int | None = None
    deletions: int | None = None

    def counts(self) -> tuple[int, int]:
        lines = (self.patch or "").splitlines()
        added = sum(1 for line in lines if line.startswith("+"))
        deleted = sum(1 for line in lines if line.startswith("-"))
        return (
            added if self.additions is None else self.additions,
            deleted if self.deletions is None else self.deletions,
        )


def added_file(filename: str, *lines: str, status: str = "added") -> FileDiff:
    """A file whose diff only adds ``lines``: the usual shape of test data."""
    hunk = f"@@ -0,0 +1,{len(lines)} @@\n" + "\n".join(f"+{line}" for line in lines)
    return FileDiff(filename, hunk if lines else "", status)


@dataclass(slots=True)
class Repo:
    full_name: str
    id: int
    installation_id: int | None
    default_branch: str = "main"
    private: bool = True


@dataclass(slots=True)
class Commit:
    sha: str
    message: str
    author: Person
    committer: Person
    authored_at: datetime
    committed_at: datetime
    parents: tuple[str, ...] = ()
    files: tuple[FileDiff, ...] = ()


@dataclass(slots=True)
class Pull:
    number: int
    id: int
    title: str
    head_ref: str
    base_ref: str
    user: Person
    commits: list[str] = field(default_factory=list)
    state: str = "open"
    merged: bool = False
    labels: tuple[str, ...] = ()
    files: tuple[FileDiff, ...] | None = None  # None: every commit's files, in order
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    base_sha: str = "0" * 40
    body: str | None = None


@dataclass(slots=True)
class Comment:
    id: int
    repo: str
    issue: int
    body: str
    user: Person
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass(slots=True)
class Issue:
    number: int
    id: int
    repo: str
    title: str
    body: str
    user: Person
    state: str = "open"
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None


@dataclass(slots=True)
class Delivery:
    """One attempt of GitHub to deliver a webhook (``GET /app/hook/deliveries``)."""

    id: int
    guid: str
    event: str
    action: str | None
    status_code: int
    delivered_at: datetime
    redelivery: bool = False
    installation_id: int | None = None
    repository_id: int | None = None

    @property
    def status(self) -> str:
        return "OK" if self.status_code < 400 else f"Invalid HTTP Response: {self.status_code}"


@dataclass(frozen=True, slots=True)
class Review:
    """A pull request review (``bot.demo.fake_github.history``); PENDING ones are not submitted."""

    id: int
    repo: str
    number: int
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED or PENDING
    user: Person
    commit_id: str | None
    submitted_at: datetime | None
    body: str = ""


@dataclass(frozen=True, slots=True)
class CommitStatus:
    """A commit status some CI service set (``bot.demo.fake_github.history``)."""

    id: int
    repo: str
    sha: str
    state: str  # error, failure, pending or success
    context: str
    at: datetime
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    """Answer the next ``times`` requests matching ``method`` and the ``path`` glob with a fault.

    ``seconds``: the delay (DELAY), retry-after (SECONDARY, omitted when None) or time to the
    reset (PRIMARY).
    """

    method: str
    path: str
    kind: str
    status: int | None = None
    seconds: float | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True, slots=True)
class User:
    """A GitHub user who can sign in to the App (OAuth): the installations of the App they can
    access (``GET /user/installations``) and the organisations they administer."""

    login: str
    id: int
    installations: tuple[int, ...] = ()
    admin_of: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True, slots=True)
class OAuthCode:
    """A code the authorize page handed to ``redirect_uri``: single use, ten minutes."""

    login: str
    redirect_uri: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request and its answer: ``response`` is the JSON body (None when not JSON),
    ``fault`` the kind of the injected fault that answered it, if any."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    response: Any = None
    fault: str | None = None


class State:
    """Everything the fake knows, guarded by ``lock`` (requests arrive on many threads)."""

    def __init__(self, app_id: int, slug: str) -> None:
        self.lock = threading.RLock()
        self.app_id = app_id
        self.slug = slug
        self.ids = itertools.count(1000)
        self.installations: dict[int, str] = {}
        self.tokens: dict[str, tuple[int, datetime]] = {}
        self.repos: dict[str, Repo] = {}
        self.commits: dict[tuple[str, str], Commit] = {}
        self.pulls: dict[tuple[str, int], Pull] = {}
        self.comments: dict[int, Comment] = {}
        self.issues: dict[tuple[str, int], Issue] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.contents: dict[tuple[str, str, str], bytes] = {}
        # History (bot.demo.fake_github.history): reviews, commit statuses, branch heads.
        self.reviews: list[Review] = []
        self.statuses: list[CommitStatus] = []
        self.branches: dict[tuple[str, str], str] = {}  # (repo, branch): head sha
        self.deliveries: list[Delivery] = []
        self.redelivery_status_code = 200  # what a redelivery GitHub makes now answers
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.rate_limit = 5000
        self.rate_used = 0
        self.rate_reset = int(now().timestamp()) + 3600
        # Sign-in with GitHub (the App's OAuth user-to-server flow, bot.demo.fake_github.oauth).
        self.oauth_client_id = f"Iv1.{app_id:016x}"  # as GET /app says
        self.oauth_client_secret = secrets.token_hex(20)
        self.oauth_callback_urls: list[str] = []  # empty: any redirect_uri is accepted
        self.users: dict[str, User] = {}
        self.signed_in: str | None = None  # who is signed in to "github.com" in the browser
        self.oauth_codes: dict[str, OAuthCode] = {}
        self.user_tokens: dict[str, tuple[str, datetime]] = {}  # token: (login, expires)
        # (login, org lower-cased): (role, state), overriding what add_user implies
        self.memberships: dict[tuple[str, str], tuple[str, str]] = {}
        self.public_key: Any = None  # verifies the App's JWTs (a manifest's App replaces it)
        # Apps created from a manifest (bot.demo.fake_github.manifest): code -> (answer, expiry)
        self.manifest_codes: dict[str, tuple[dict[str, Any], datetime]] = {}

    @property
    def bot(self) -> Person:
        """The App's own account, author of the comments it posts."""
        return Person(self.slug, "", f"{self.slug}[bot]", 900000 + self.app_id, "Bot")

    def next_id(self) -> int:
        return next(self.ids)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, used up by one."""
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.matches(method, path):
                    if fault.times <= 1:
                        del self.faults[i]
                    else:
                        self.faults[i] = replace(fault, times=fault.times - 1)
                    return fault
        return None

    def next_number(self, repo: str) -> int:
        """Issues and pull requests share one sequence of numbers per repository."""
        used = [n for r, n in (*self.pulls, *self.issues) if r == repo]
        return max(used, default=0) + 1

    def comments_on(self, repo: str, number: int) -> list[Comment]:
        """The comments of issue or pull request ``number``, oldest first."""
        with self.lock:
            found = [c for c in self.comments.values() if (c.repo, c.issue) == (repo, number)]
        return sorted(found, key=lambda c: c.id)

    def commit_of(self, repo: str, ref: str) -> Commit | None:
        return self.commits.get((repo, ref))

    def pull_files(self, pull: Pull, repo: str) -> Sequence[FileDiff]:
        if pull.files is not None:
            return pull.files
        return [f for sha in pull.commits for f in self.commits[(repo, sha)].files]


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()
