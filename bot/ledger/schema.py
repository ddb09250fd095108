"""The ledger's tables (SQLModel), and the column types that keep money and time exact.

The initial migration (``bot/ledger/migrations/versions/0001_initial.py``) creates exactly
this schema; a test compares the two with Alembic's ``compare_metadata`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

USD_SCALE = 8  # Numeric(18, 8): a hundred-millionth of a dollar
_QUANTUM = Decimal(1).scaleb(-USD_SCALE)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC and always loaded as UTC-aware.

    PostgreSQL stores ``timestamptz``; SQLite stores text without an offset, so values are
    converted to UTC on the way in and given back their UTC ``tzinfo`` on the way out.
    Naive datetimes are refused: they would silently mean different instants on different hosts.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the ledger needs an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # only if something bypassed the DateTime processor
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def quantize_usd(value: Decimal) -> Decimal:
    """The amount the ledger stores: rounded half-even to 8 decimal places."""
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(sa.TypeDecorator[Decimal]):
    """US dollars as ``Numeric(18, 8)``; Python sees ``Decimal``, never ``float``.

    Values are rounded to 8 places before binding, so both databases store the same amount.
    SQLite has no decimal type: it keeps a ``NUMERIC`` column's value as a double, which holds
    any 8-decimal amount below $10,000,000 exactly enough to give the same ``Decimal`` back.
    """

    impl = sa.Numeric(18, USD_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            # Bind and fetch floats ourselves: no lossy-conversion warning, same values.
            return dialect.type_descriptor(sa.Numeric(18, USD_SCALE, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(18, USD_SCALE))

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"money must be finite, not {value}")
        amount = quantize_usd(value)
        return float(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            return quantize_usd(Decimal(repr(value)))
        return quantize_usd(Decimal(value))


# Surrogate keys: BIGINT on PostgreSQL, INTEGER on SQLite (only that is an alias of the rowid).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSON documents: JSONB on PostgreSQL (comparable, indexable), JSON text on SQLite.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
JsonOrNull = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)


def _pk() -> Any:
    return Field(default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True))


def _fk(table: str, column: str, target: str, *, primary_key: bool = False) -> Any:
    """A reference to a parent row, named for Alembic; deleting the parent deletes the child."""
    key = sa.ForeignKey(target, ondelete="CASCADE", name=f"fk_{table}_{column}")
    return Field(sa_column=sa.Column(BigId, key, nullable=False, primary_key=primary_key))


def _col(type_: Any, *, nullable: bool, default: Any = None) -> Any:
    return Field(default=default, sa_column=sa.Column(type_, nullable=nullable))


class InstallationRow(SQLModel, table=True):
    """A GitHub App installation; ``id`` is GitHub's installation id."""

    __tablename__ = "installations"

    id: int = Field(sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False))
    account_login: str = _col(sa.String(), nullable=False)
    created: datetime = _col(UTCDateTime(), nullable=False)
    # active, suspended or deleted: deliveries of an installation that is not active are ignored
    state: str = Field(
        default="active",
        sa_column=sa.Column(sa.String(), nullable=False, server_default="active"),
    )


class RepositoryRow(SQLModel, table=True):
    __tablename__ = "repositories"
    __table_args__ = (sa.UniqueConstraint("full_name", name="uq_repositories_full_name"),)

    id: int | None = _pk()
    installation_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.BigInteger(),
            sa.ForeignKey("installations.id", name="fk_repositories_installation_id"),
            nullable=True,
        ),
    )
    full_name: str = _col(sa.String(), nullable=False)


class PullRequestRow(SQLModel, table=True):
    __tablename__ = "pull_requests"
    __table_args__ = (
        sa.UniqueConstraint("repository_id", "number", name="uq_pull_requests_repository_number"),
    )

    id: int | None = _pk()
    repository_id: int = _fk("pull_requests", "repository_id", "repositories.id")
    number: int = _col(sa.Integer(), nullable=False)
    title: str = _col(sa.Text(), nullable=False)
    labels: list[str] = _col(Json, nullable=False)
    head_ref: str | None = _col(sa.String(), nullable=True)
    state: str = _col(sa.String(), nullable=False)
    created_at: datetime | None = _col(UTCDateTime(), nullable=True)
    closed_at: datetime | None = _col(UTCDateTime(), nullable=True)
    merge_sha: str | None = _col(sa.String(), nullable=True)
    head_sha: str | None = _col(sa.String(), nullable=True)


class CommitRow(SQLModel, table=True):
    """One analysed commit (``bot.engine.records.CommitFacts``).

    ``facts_hash`` digests every stored fact (usage lines and files included): an upsert
    rewrites the row, and its children, only when the hash changes.
    """

    __tablename__ = "commits"
    __table_args__ = (
        sa.UniqueConstraint("repository_id", "sha", name="uq_commits_repository_sha"),
        sa.Index("ix_commits_repository_committed_at", "repository_id", "committed_at"),
        sa.Index("ix_commits_repository_task", "repository_id", "task"),
        sa.Index("ix_commits_repository_pr_number", "repository_id", "pr_number"),
        sa.Index("ix_commits_repository_branch", "repository_id", "branch"),
    )

    id: int | None = _pk()
    repository_id: int = _fk("commits", "repository_id", "repositories.id")
    sha: str = _col(sa.String(), nullable=False)
    parents: list[str] = _col(Json, nullable=False)
    author_name: str = _col(sa.String(), nullable=False)
    author_email: str = _col(sa.String(), nullable=False)
    author_github_login: str | None = _col(sa.String(), nullable=True)
    author_github_id: int | None = _col(sa.BigInteger(), nullable=True)
    author_github_type: str | None = _col(sa.String(), nullable=True)
    committer_name: str = _col(sa.String(), nullable=False)
    committer_email: str = _col(sa.String(), nullable=False)
    committer_github_login: str | None = _col(sa.String(), nullable=True)
    committer_github_id: int | None = _col(sa.BigInteger(), nullable=True)
    committer_github_type: str | None = _col(sa.String(), nullable=True)
    authored_at: datetime = _col(UTCDateTime(), nullable=False)
    committed_at: datetime = _col(UTCDateTime(), nullable=False)
    subject: str = _col(sa.Text(), nullable=False)
    agent: str | None = _col(sa.String(), nullable=True)
    agent_role: str = _col(sa.String(), nullable=False)
    model: str | None = _col(sa.String(), nullable=True)
    task: str | None = _col(sa.String(), nullable=True)
    task_class: str | None = _col(sa.String(), nullable=True)
    attempt: int | None = _col(sa.Integer(), nullable=True)
    tier: str | None = _col(sa.String(), nullable=True)
    strategy: str | None = _col(sa.String(), nullable=True)
    route_score: float | None = _col(sa.Float(), nullable=True)
    has_context: bool | None = _col(sa.Boolean(), nullable=True)
    pr_number: int | None = _col(sa.Integer(), nullable=True)
    branch: str | None = _col(sa.String(), nullable=True)
    is_fixup: bool = _col(sa.Boolean(), nullable=False)
    reverts: list[str] = _col(Json, nullable=False)
    survival: float | None = _col(sa.Float(), nullable=True)
    lines_added: int = _col(sa.Integer(), nullable=False)
    tokens: int = _col(sa.BigInteger(), nullable=False)
    evidence: Any = _col(JsonOrNull, nullable=True)
    facts_hash: str = _col(sa.String(32), nullable=False)


class UsageLineRow(SQLModel, table=True):
    """One priced usage line of a commit; ``usd`` is NULL when the model is unpriced.

    The primary key (commit_id, position) is also the index by commit and keeps the order.
    """

    __tablename__ = "usage_lines"

    commit_id: int = _fk("usage_lines", "commit_id", "commits.id", primary_key=True)
    position: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    model: str = _col(sa.String(), nullable=False)
    tier: str | None = _col(sa.String(), nullable=True)
    tokens: int = _col(sa.BigInteger(), nullable=False)
    usd: Decimal | None = _col(Money(), nullable=True)


class FileChangeRow(SQLModel, table=True):
    __tablename__ = "file_changes"

    commit_id: int = _fk("file_changes", "commit_id", "commits.id", primary_key=True)
    position: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    path: str = _col(sa.Text(), nullable=False)
    added: int = _col(sa.Integer(), nullable=False)
    deleted: int = _col(sa.Integer(), nullable=False)


class EventRow(SQLModel, table=True):
    """Something that happened to a pull request or commit; the first of a key is kept."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("repository_id", "key", name="uq_events_repository_key"),
        sa.Index("ix_events_repository_pr_number_at", "repository_id", "pr_number", "at"),
        sa.Index("ix_events_repository_sha", "repository_id", "sha"),
    )

    id: int | None = _pk()
    repository_id: int = _fk("events", "repository_id", "repositories.id")
    key: str = _col(sa.String(), nullable=False)
    kind: str = _col(sa.String(), nullable=False)
    at: datetime = _col(UTCDateTime(), nullable=False)
    pr_number: int | None = _col(sa.Integer(), nullable=True)
    sha: str | None = _col(sa.String(), nullable=True)
    source: str = _col(sa.String(), nullable=False)


class TaskRow(SQLModel, table=True):
    """A derived ``bot.engine.attribution.Task``; a repository's tasks are replaced wholesale.

    ``spend`` maps each bucket to ``{"tokens", "usd", "unpriced_tokens"}`` with ``usd`` as a
    Decimal string, so allocated fractions of a cent survive exactly.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        sa.UniqueConstraint("repository_id", "key", name="uq_tasks_repository_key"),
        sa.Index("ix_tasks_repository_tier_task_class", "repository_id", "tier", "task_class"),
        sa.Index("ix_tasks_repository_finished_at", "repository_id", "finished_at"),
    )

    id: int | None = _pk()
    repository_id: int = _fk("tasks", "repository_id", "repositories.id")
    key: str = _col(sa.String(), nullable=False)  # Task.id
    pr_numbers: list[int] = _col(Json, nullable=False)
    task_class: str = _col(sa.String(), nullable=False)
    class_inferred: bool = _col(sa.Boolean(), nullable=False)
    tier: str | None = _col(sa.String(), nullable=True)
    strategy: str | None = _col(sa.String(), nullable=True)
    has_context: bool | None = _col(sa.Boolean(), nullable=True)
    route_score: float | None = _col(sa.Float(), nullable=True)
    complexity: str = _col(sa.String(), nullable=False)
    agent: str | None = _col(sa.String(), nullable=True)
    model: str | None = _col(sa.String(), nullable=True)
    author: str | None = _col(sa.String(), nullable=True)
    status: str = _col(sa.String(), nullable=False)
    first_pass: bool = _col(sa.Boolean(), nullable=False)
    escalated: bool = _col(sa.Boolean(), nullable=False)
    bounces: list[str] = _col(Json, nullable=False)
    ci_first_pass: bool | None = _col(sa.Boolean(), nullable=True)
    review_first_pass: bool | None = _col(sa.Boolean(), nullable=True)
    merged: bool = _col(sa.Boolean(), nullable=False)
    survived: bool | None = _col(sa.Boolean(), nullable=True)
    agent_rework_commits: int = _col(sa.Integer(), nullable=False)
    human_rework_commits: int = _col(sa.Integer(), nullable=False)
    spend: dict[str, Any] = _col(Json, nullable=False)
    computed_at: datetime = _col(UTCDateTime(), nullable=False)
    # Rollups, so reports filter, page and add up tasks in SQL without reading every row's
    # spend document: when the task finished (None: open), its first pull request's title, and
    # its spend summed over the buckets.
    finished_at: datetime | None = _col(UTCDateTime(), nullable=True)
    title: str = Field(
        default="", sa_column=sa.Column(sa.Text(), nullable=False, server_default="")
    )
    tokens: float = Field(
        default=0.0, sa_column=sa.Column(sa.Float(), nullable=False, server_default="0")
    )
    usd: Decimal = Field(
        default=Decimal(0), sa_column=sa.Column(Money(), nullable=False, server_default="0")
    )
    unpriced_tokens: float = Field(
        default=0.0, sa_column=sa.Column(sa.Float(), nullable=False, server_default="0")
    )


class TaskPullRequestRow(SQLModel, table=True):
    """Which pull requests a task's commits went through: lists of pull requests are filtered
    by their tasks' tier, class, agent, model and outcome in SQL."""

    __tablename__ = "task_pull_requests"
    __table_args__ = (
        sa.Index("ix_task_pull_requests_repository_pr_number", "repository_id", "pr_number"),
    )

    task_id: int = _fk("task_pull_requests", "task_id", "tasks.id", primary_key=True)
    pr_number: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    repository_id: int = _col(BigId, nullable=False)


class AttemptRow(SQLModel, table=True):
    __tablename__ = "attempts"

    task_id: int = _fk("attempts", "task_id", "tasks.id", primary_key=True)
    position: int = Field(sa_column=sa.Column(sa.Integer(), primary_key=True))
    number: int = _col(sa.Integer(), nullable=False)
    tier: str | None = _col(sa.String(), nullable=True)
    model: str | None = _col(sa.String(), nullable=True)
    commits: list[str] = _col(Json, nullable=False)
    outcome: str = _col(sa.String(), nullable=False)
    bounces: list[str] = _col(Json, nullable=False)
    tokens: int = _col(sa.BigInteger(), nullable=False)
    usd: Decimal = _col(Money(), nullable=False)
    unpriced_tokens: int = _col(sa.BigInteger(), nullable=False)


class PrCommentRow(SQLModel, table=True):
    """The cost comment posted on a pull request: its GitHub id and what it says (a digest of
    the body without its revision), so an unchanged comment costs no API call at all."""

    __tablename__ = "pr_comments"
    __table_args__ = (
        sa.UniqueConstraint(
            "repository_id", "pr_number", name="uq_pr_comments_repository_pr_number"
        ),
    )

    id: int | None = _pk()
    repository_id: int = _fk("pr_comments", "repository_id", "repositories.id")
    pr_number: int = _col(sa.Integer(), nullable=False)
    comment_id: int = _col(sa.BigInteger(), nullable=False)
    body_hash: str = _col(sa.String(64), nullable=False)
    head_sha: str = _col(sa.String(), nullable=False)
    event_time: datetime = _col(UTCDateTime(), nullable=False)


PENDING_SQL = "status IN ('received', 'processing')"


class DeliveryRow(SQLModel, table=True):
    """One webhook delivery in the inbox (``bot.ledger.inbox``): stored before it is acknowledged.

    ``status`` is received, processing, done, ignored or failed. A worker owns a delivery while
    ``lease_expires_at`` is in the future; ``ordering_key`` ("owner/repo#12") makes deliveries
    of one pull request run one at a time, in the order they were received.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.Index("ix_deliveries_status_available_at", "status", "available_at"),
        # Only unfinished deliveries, so claiming stays fast however many are done.
        sa.Index(
            "ix_deliveries_pending_received_at",
            "received_at",
            "guid",
            postgresql_where=sa.text(PENDING_SQL),
            sqlite_where=sa.text(PENDING_SQL),
        ),
        sa.Index(
            "ix_deliveries_pending_ordering_key",
            "ordering_key",
            "received_at",
            "guid",
            postgresql_where=sa.text(PENDING_SQL),
            sqlite_where=sa.text(PENDING_SQL),
        ),
    )

    guid: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    event: str = _col(sa.String(), nullable=False)
    action: str | None = _col(sa.String(), nullable=True)
    installation_id: int | None = _col(sa.BigInteger(), nullable=True)
    repository: str | None = _col(sa.String(), nullable=True)
    ordering_key: str | None = _col(sa.String(), nullable=True)
    body: bytes = _col(sa.LargeBinary(), nullable=False)
    received_at: datetime = _col(UTCDateTime(), nullable=False)
    status: str = _col(sa.String(), nullable=False)
    attempts: int = _col(sa.Integer(), nullable=False)
    available_at: datetime = _col(UTCDateTime(), nullable=False)
    lease_owner: str | None = _col(sa.String(), nullable=True)
    lease_expires_at: datetime | None = _col(UTCDateTime(), nullable=True)
    finished_at: datetime | None = _col(UTCDateTime(), nullable=True)
    error: str | None = _col(sa.Text(), nullable=True)
    skipped: list[str] = _col(Json, nullable=False)


DIGEST_STATUSES = ("claimed", "sent", "failed")


class DigestSendRow(SQLModel, table=True):
    """A weekly digest for one channel and period (``bot.app.digests``).

    The row is inserted (``claimed``) before the digest is sent, so the unique key makes the
    send happen once whatever the number of schedulers; it ends ``sent`` or ``failed``.
    """

    __tablename__ = "digest_sends"
    __table_args__ = (
        sa.UniqueConstraint(
            "installation_id",
            "channel",
            "period",
            name="uq_digest_sends_installation_channel_period",
        ),
    )

    id: int | None = _pk()
    installation_id: int = _col(sa.BigInteger(), nullable=False)
    channel: str = _col(sa.String(), nullable=False)  # the channel spec's name
    period: str = _col(sa.String(), nullable=False)  # ISO week label, e.g. "2026-W47"
    status: str = _col(sa.String(), nullable=False)
    claimed_at: datetime = _col(UTCDateTime(), nullable=False)
    sent_at: datetime | None = _col(UTCDateTime(), nullable=True)
    error: str | None = _col(sa.Text(), nullable=True)
    attempts: int = _col(sa.Integer(), nullable=False)


class ApiTokenRow(SQLModel, table=True):
    """An API token for scripts (``bot.ledger.tokens``): read-only, scoped to one installation.

    Only the SHA-256 of the token is stored; ``prefix`` (its first 12 characters) identifies it
    in lists. ``last_used_at`` is written at most once a minute per token.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.Index("ix_api_tokens_token_hash", "token_hash", unique=True),
        sa.Index("ix_api_tokens_installation_id", "installation_id"),
    )

    id: int | None = _pk()
    installation_id: int = Field(
        sa_column=sa.Column(
            sa.BigInteger(),
            sa.ForeignKey(
                "installations.id", ondelete="CASCADE", name="fk_api_tokens_installation_id"
            ),
            nullable=False,
        )
    )
    name: str = _col(sa.String(), nullable=False)
    prefix: str = _col(sa.String(16), nullable=False)
    token_hash: str = _col(sa.String(64), nullable=False)
    created_at: datetime = _col(UTCDateTime(), nullable=False)
    expires_at: datetime | None = _col(UTCDateTime(), nullable=True)
    last_used_at: datetime | None = _col(UTCDateTime(), nullable=True)
    revoked_at: datetime | None = _col(UTCDateTime(), nullable=True)


class BackfillProgressRow(SQLModel, table=True):
    """How far ``yield-auditor backfill`` got in one repository (``bot.app.backfill``).

    ``done`` holds the numbers of the pull requests read closed or merged, as sorted disjoint
    ``[first, last]`` ranges (a run reads newest first, so it stays a range or two however many
    there are); a pull request read while open is not done and is read again by the next run.
    """

    __tablename__ = "backfill_progress"

    repository_id: int = _fk(
        "backfill_progress", "repository_id", "repositories.id", primary_key=True
    )
    installation_id: int = _col(sa.BigInteger(), nullable=False)
    done: list[list[int]] = _col(Json, nullable=False)
    started_at: datetime = _col(UTCDateTime(), nullable=False)
    updated_at: datetime = _col(UTCDateTime(), nullable=False)
    finished_at: datetime | None = _col(UTCDateTime(), nullable=True)  # the last complete run


class SessionVersionRow(SQLModel, table=True):
    """A signed-in user's session version (``webhooks.access``): a session cookie records the
    version at sign-in and stops authenticating once ``/logout`` has moved it on, so a copied
    cookie dies with the session it was copied from. No row is version 0."""

    __tablename__ = "session_versions"

    user_id: int = Field(
        sa_column=sa.Column(sa.BigInteger(), primary_key=True, autoincrement=False)
    )
    version: int = _col(sa.Integer(), nullable=False)
    signed_out_at: datetime = _col(UTCDateTime(), nullable=False)


TABLES: tuple[sa.Table, ...] = tuple(
    model.__table__  # type: ignore[attr-defined]
    for model in (
        InstallationRow,
        RepositoryRow,
        PullRequestRow,
        CommitRow,
        UsageLineRow,
        FileChangeRow,
        EventRow,
        TaskRow,
        TaskPullRequestRow,
        AttemptRow,
        DeliveryRow,
        PrCommentRow,
        DigestSendRow,
        ApiTokenRow,
        BackfillProgressRow,
        SessionVersionRow,
    )
)
TABLE_NAMES = frozenset(t.name for t in TABLES)
metadata = SQLModel.metadata
