"""The yield engine's in-memory records: what it reads (commits, pull requests, events).

These are plain frozen dataclasses so the engine stays pure: the git log reader, the
GitHub adapter and the ledger all produce them, and ``bot.engine.attribution`` only consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.protocol.commit import Identity

# Event kinds. A bounce is work sent back (docs/metrics.md); the others are outcomes.
CI_FAILED = "ci_failed"  # check run / suite / workflow run / status failed or timed out
CI_PASSED = "ci_passed"
CHANGES_REQUESTED = "changes_requested"
APPROVED = "approved"
CLOSED = "closed"  # closed without merge
REOPENED = "reopened"
MERGED = "merged"
REVERTED = "reverted"  # a later commit reverts ``sha``
EVENT_KINDS = (
    CI_FAILED,
    CI_PASSED,
    CHANGES_REQUESTED,
    APPROVED,
    CLOSED,
    REOPENED,
    MERGED,
    REVERTED,
)
BOUNCE_KINDS = (CI_FAILED, CHANGES_REQUESTED, CLOSED, REOPENED, REVERTED)


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    added: int
    deleted: int


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One priced ``Agent-Usage`` line; ``usd`` is None when the model is unpriced."""

    model: str
    tier: str | None
    tokens: int
    usd: Decimal | None


@dataclass(frozen=True, slots=True)
class CommitFacts:
    """Everything the engine needs about one commit, already analysed (``bot.engine.analysis``).

    ``agent_role`` is "authored", "committed" or "none": only authored commits are agent work.
    ``tier`` is the routed tier (``Agent-Route``), else the tier of the usage's main model.
    """

    sha: str
    repository: str
    parents: tuple[str, ...]
    author: Identity
    committer: Identity
    authored_at: datetime
    committed_at: datetime
    subject: str
    agent: str | None = None
    agent_role: str = "none"
    model: str | None = None
    task: str | None = None
    task_class: str | None = None
    attempt: int | None = None
    tier: str | None = None
    strategy: str | None = None
    route_score: float | None = None
    has_context: bool | None = None  # None: no Agent-Context trailer
    usage: tuple[UsageLine, ...] = ()
    files: tuple[FileChange, ...] = ()
    pr_number: int | None = None
    branch: str | None = None
    is_fixup: bool = False  # fixup! / squash! / amend! subject
    reverts: tuple[str, ...] = ()  # shas named by "This reverts commit <sha>"
    survival: float | None = None  # share of added lines still present, when measured
    refused: tuple[str, ...] = ()  # agent identities claimed with another account's id

    @property
    def is_agent_work(self) -> bool:
        return self.agent_role == "authored"

    @property
    def tokens(self) -> int:
        return sum(u.tokens for u in self.usage)

    @property
    def lines_added(self) -> int:
        return sum(f.added for f in self.files)


@dataclass(frozen=True, slots=True)
class PullRequest:
    repository: str
    number: int
    title: str = ""
    labels: tuple[str, ...] = ()
    head_ref: str | None = None
    state: str = "open"  # open, merged, closed
    created_at: datetime | None = None
    closed_at: datetime | None = None
    merge_sha: str | None = None
    head_sha: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a pull request or commit; ``key`` makes ingestion idempotent."""

    key: str
    kind: str
    at: datetime
    repository: str
    pr_number: int | None = None
    sha: str | None = None
    source: str = ""
