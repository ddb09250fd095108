"""Bulk, idempotent writes of the engine's records, and loaders that give the same records back.

Every function works inside the caller's session transaction and never commits: ingest a
webhook's worth of records, then ``session.commit()``. Writes are dialect-specific
``INSERT ... ON CONFLICT`` statements executed many rows at a time (``BATCH_SIZE``), not ORM
objects, so 100,000 commits take seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.engine.attribution import BUCKETS, Attempt, Spend, Task, finished_at
from bot.engine.records import (
    CLOSED,
    MERGED,
    REVERTED,
    CommitFacts,
    Event,
    FileChange,
    PullRequest,
    UsageLine,
)
from bot.ledger.schema import (
    AttemptRow,
    CommitRow,
    DigestSendRow,
    EventRow,
    FileChangeRow,
    InstallationRow,
    PrCommentRow,
    PullRequestRow,
    RepositoryRow,
    TaskPullRequestRow,
    TaskRow,
    UsageLineRow,
    quantize_usd,
)
from bot.protocol.commit import Identity

BATCH_SIZE = 1000
INSTALLATION_STATES = ("active", "suspended", "deleted")

T = TypeVar("T")

installations: sa.Table = InstallationRow.__table__  # type: ignore[attr-defined]
repositories: sa.Table = RepositoryRow.__table__  # type: ignore[attr-defined]
pull_requests: sa.Table = PullRequestRow.__table__  # type: ignore[attr-defined]
commits: sa.Table = CommitRow.__table__  # type: ignore[attr-defined]
usage_lines: sa.Table = UsageLineRow.__table__  # type: ignore[attr-defined]
file_changes: sa.Table = FileChangeRow.__table__  # type: ignore[attr-defined]
events: sa.Table = EventRow.__table__  # type: ignore[attr-defined]
tasks: sa.Table = TaskRow.__table__  # type: ignore[attr-defined]
task_pull_requests: sa.Table = TaskPullRequestRow.__table__  # type: ignore[attr-defined]
attempts: sa.Table = AttemptRow.__table__  # type: ignore[attr-defined]
pr_comments: sa.Table = PrCommentRow.__table__  # type: ignore[attr-defined]
digest_sends: sa.Table = DigestSendRow.__table__  # type: ignore[attr-defined]

_IDENTITY = ("name", "email", "github_login", "github_id", "github_type")
# CommitFacts fields stored in a column of the same name.
_COMMIT_FIELDS = (
    "sha",
    "subject",
    "agent",
    "agent_role",
    "model",
    "task",
    "task_class",
    "attempt",
    "tier",
    "strategy",
    "route_score",
    "has_context",
    "pr_number",
    "branch",
    "is_fixup",
    "survival",
)
_PR_FIELDS = ("title", "head_ref", "state", "created_at", "closed_at", "merge_sha", "head_sha")
_TASK_FIELDS = (
    "task_class",
    "class_inferred",
    "tier",
    "strategy",
    "has_context",
    "route_score",
    "complexity",
    "agent",
    "model",
    "author",
    "status",
    "first_pass",
    "escalated",
    "ci_first_pass",
    "review_first_pass",
    "merged",
    "survived",
    "agent_rework_commits",
    "human_rework_commits",
)


# --------------------------------------------------------------------------- helpers


def _insert(connection: Connection, table: sa.Table) -> Any:
    return dialect_insert(connection.dialect.name, table)


def dialect_insert(name: str, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` / ``_do_nothing``."""
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the ledger supports SQLite and PostgreSQL, not {name}")


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _unique(items: Iterable[T], key: Callable[[T], Any], keep: str) -> list[T]:
    """One item per key: the first seen (``keep="first"``) or the last (``"last"``)."""
    found: dict[Any, T] = {}
    for item in items:
        k = key(item)
        if keep == "last" or k not in found:
            found[k] = item
    return list(found.values())


def _utc(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value.isoformat()}; the ledger needs an offset")
    return value.astimezone(UTC)


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(quantize_usd(value))
    raise TypeError(f"cannot digest {type(value).__name__}")


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=_canonical, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _repository_name(connection: Connection, repo_id: int) -> str:
    name = connection.execute(
        sa.select(repositories.c.full_name).where(repositories.c.id == repo_id)
    ).scalar_one_or_none()
    if name is None:
        raise LookupError(f"no repository with id {repo_id} in the ledger")
    return name


def _check_repository(name: str, record: Any, what: str) -> None:
    if record.repository != name:
        raise ValueError(f"{what} belongs to {record.repository!r}, not to {name!r}")


def _among(connection: Connection, column: sa.ColumnElement[Any], values: Iterable[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter, however many values."""
    values = list(values)
    if connection.dialect.name == "postgresql":
        item = sa.BigInteger() if isinstance(column.type, sa.Integer) else sa.String()
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(item)))
    return column.in_(values)


def _changed(table: sa.Table, excluded: Any, names: Iterable[str]) -> Any:
    return sa.or_(*(table.c[n].is_distinct_from(excluded[n]) for n in names))


# --------------------------------------------------------------------------- installations


def upsert_installation(
    session: Session, installation_id: int, account_login: str, created: datetime | None = None
) -> None:
    """Record a GitHub App installation; ``created`` (default: now) is kept unless given."""
    connection = session.connection()
    stmt = _insert(connection, installations).values(
        id=installation_id,
        account_login=account_login,
        created=_utc(created, "installation created") or datetime.now(UTC),
    )
    names = ["account_login"] + (["created"] if created is not None else [])
    stmt = stmt.on_conflict_do_update(
        index_elements=[installations.c.id],
        set_={n: stmt.excluded[n] for n in names},
        where=_changed(installations, stmt.excluded, names),
    )
    connection.execute(stmt)


def set_installation_state(session: Session, installation_id: int, state: str) -> None:
    """Mark an installation active, suspended or deleted (its data is kept)."""
    if state not in INSTALLATION_STATES:
        raise ValueError(f"an installation is {', '.join(INSTALLATION_STATES)}, not {state!r}")
    session.connection().execute(
        installations.update().where(installations.c.id == installation_id).values(state=state)
    )


def installation_state(session: Session, installation_id: int) -> str | None:
    """The installation's state; None when the ledger has never heard of it."""
    return (
        session.connection()
        .execute(sa.select(installations.c.state).where(installations.c.id == installation_id))
        .scalar_one_or_none()
    )


def upsert_repository(session: Session, installation_id: int | None, full_name: str) -> int:
    """The ledger id of repository ``full_name`` ("owner/name"), created if needed.

    An ``installation_id`` of None (the command line, which has no installation) keeps the one
    already recorded.
    """
    connection = session.connection()
    stmt = _insert(connection, repositories).values(
        installation_id=installation_id, full_name=full_name
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[repositories.c.full_name],
        set_={"installation_id": excluded.installation_id},
        where=sa.and_(
            excluded.installation_id.is_not(None),
            repositories.c.installation_id.is_distinct_from(excluded.installation_id),
        ),
    ).returning(repositories.c.id)
    repo_id = connection.execute(stmt).scalar_one_or_none()
    if repo_id is None:  # the row was there already and nothing changed
        repo_id = connection.execute(
            sa.select(repositories.c.id).where(repositories.c.full_name == full_name)
        ).scalar_one()
    return int(repo_id)


# --------------------------------------------------------------------------- pull requests


def _pr_row(repo_id: int, pr: PullRequest) -> dict[str, Any]:
    row = {name: getattr(pr, name) for name in _PR_FIELDS}
    row.update(repository_id=repo_id, number=pr.number, labels=list(pr.labels))
    for name in ("created_at", "closed_at"):
        row[name] = _utc(row[name], f"pull request #{pr.number} {name}")
    return row


def upsert_pull_requests(
    session: Session, repo_id: int, prs: Iterable[PullRequest], batch_size: int = BATCH_SIZE
) -> int:
    """Insert or update pull requests by number (the last of a number wins); returns how many
    rows were inserted or changed."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    names = ("labels", *_PR_FIELDS)
    written = 0
    for batch in _batches(prs, batch_size):
        for pr in batch:
            _check_repository(name, pr, f"pull request #{pr.number}")
        rows = [_pr_row(repo_id, pr) for pr in _unique(batch, lambda p: p.number, "last")]
        stmt = _insert(connection, pull_requests)
        stmt = stmt.on_conflict_do_update(
            index_elements=[pull_requests.c.repository_id, pull_requests.c.number],
            set_={n: stmt.excluded[n] for n in names},
            where=_changed(pull_requests, stmt.excluded, names),
        ).returning(pull_requests.c.number)
        numbers = connection.execute(stmt, rows).scalars().all()
        touched(session, repo_id).pr_numbers.update(numbers)
        written += len(numbers)
    return written


def load_pull_requests(
    session: Session, repo_id: int, numbers: Iterable[int] | None = None
) -> list[PullRequest]:
    """The repository's pull requests (those numbered ``numbers`` when given), by number."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    t = pull_requests
    where = [t.c.repository_id == repo_id]
    if numbers is not None:
        where.append(_among(connection, t.c.number, numbers))
    rows = connection.execute(sa.select(t).where(*where))
    return sorted((pull_from_row(r, name) for r in rows), key=lambda p: p.number)


def pull_from_row(row: Any, repository: str) -> PullRequest:
    """A stored pull request row as the engine's ``PullRequest``."""
    return PullRequest(repository=repository, number=row.number, labels=tuple(row.labels),
                       **{n: row._mapping[n] for n in _PR_FIELDS})  # fmt: skip


def open_pull_request_for_branch(session: Session, repo_id: int, branch: str) -> int | None:
    """The newest open pull request whose head is ``branch``, if any."""
    t = pull_requests
    return (
        session.connection()
        .execute(
            sa.select(t.c.number)
            .where(t.c.repository_id == repo_id, t.c.head_ref == branch, t.c.state == "open")
            .order_by(t.c.number.desc())
            .limit(1)
        )
        .scalar_one_or_none()
    )


def adopt_branch_commits(session: Session, repo_id: int, branch: str, number: int) -> int:
    """Link commits pushed to ``branch`` before its pull request was known to that PR.

    The branch is usually pushed before the pull request is opened. The commits are written
    again whole, so their ``facts_hash`` stays the digest of what is stored.
    """
    orphans = (
        session.connection()
        .execute(
            sa.select(commits.c.sha).where(
                commits.c.repository_id == repo_id,
                commits.c.branch == branch,
                commits.c.pr_number.is_(None),
            )
        )
        .scalars()
        .all()
    )
    if not orphans:
        return 0
    found = load_commits(session, repo_id, shas=orphans)
    adopted = [dataclasses.replace(c, pr_number=number) for c in found]
    return upsert_commits(session, repo_id, adopted, load_evidence(session, repo_id, orphans))


def pull_request_for_sha(session: Session, repo_id: int, sha: str) -> int | None:
    """The pull request headed or merged by ``sha``, else the one a stored commit ``sha``
    belongs to."""
    connection = session.connection()
    t = pull_requests
    number = connection.execute(
        sa.select(t.c.number)
        .where(t.c.repository_id == repo_id, sa.or_(t.c.head_sha == sha, t.c.merge_sha == sha))
        .order_by(t.c.number.desc())
        .limit(1)
    ).scalar_one_or_none()
    if number is None:
        number = connection.execute(
            sa.select(commits.c.pr_number).where(
                commits.c.repository_id == repo_id, commits.c.sha == sha
            )
        ).scalar_one_or_none()
    return number


# --------------------------------------------------------------------------- commits


def _commit_rows(
    repo_id: int, commit: CommitFacts, evidence: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The commit's row (with its facts digest), usage-line rows and file rows."""
    what = f"commit {commit.sha}"
    row = {name: getattr(commit, name) for name in _COMMIT_FIELDS}
    for who in ("author", "committer"):
        identity: Identity = getattr(commit, who)
        for field in _IDENTITY:
            row[f"{who}_{field}"] = getattr(identity, field)
    row.update(
        parents=list(commit.parents),
        reverts=list(commit.reverts),
        authored_at=_utc(commit.authored_at, f"{what} authored_at"),
        committed_at=_utc(commit.committed_at, f"{what} committed_at"),
        lines_added=commit.lines_added,
        tokens=commit.tokens,
        evidence=evidence,
    )
    usage = [
        {
            "position": i,
            "model": u.model,
            "tier": u.tier,
            "tokens": u.tokens,
            "usd": None if u.usd is None else quantize_usd(u.usd),
        }
        for i, u in enumerate(commit.usage)
    ]
    files = [
        {"position": i, "path": f.path, "added": f.added, "deleted": f.deleted}
        for i, f in enumerate(commit.files)
    ]
    row["facts_hash"] = _digest(row, usage, files)
    row["repository_id"] = repo_id
    return row, usage, files


def upsert_commits(
    session: Session,
    repo_id: int,
    commits_: Iterable[CommitFacts],
    evidence: Mapping[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Insert new commits and update changed ones, with their usage lines and files.

    A commit is identified by its sha; its stored facts are replaced as a whole by the last
    version ingested (e.g. once ``survival`` is measured), and left untouched, children
    included, when nothing changed. ``evidence`` maps shas to a JSON document (the agent
    detection's evidence); it is part of the facts, so pass it on every ingestion.
    Returns how many commits this call inserted or changed (a commit written at the same moment
    by another transaction may be counted by both).
    """
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    evidence = evidence or {}
    table = commits
    stmt = _insert(connection, table)
    columns = [c.name for c in table.columns if c.name not in ("id", "repository_id", "sha")]
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.repository_id, table.c.sha],
        set_={n: stmt.excluded[n] for n in columns},
        where=table.c.facts_hash != stmt.excluded.facts_hash,
    )
    mine = table.c.repository_id == repo_id
    written = 0
    for batch in _batches(commits_, batch_size):
        prepared = {}
        for commit in _unique(batch, lambda c: c.sha, "last"):
            _check_repository(name, commit, f"commit {commit.sha}")
            prepared[commit.sha] = _commit_rows(repo_id, commit, evidence.get(commit.sha))
        # Only new or changed commits are sent: a re-delivery costs one SELECT per batch.
        stored = connection.execute(
            sa.select(table.c.sha, table.c.facts_hash, table.c.pr_number, table.c.branch).where(
                mine, _among(connection, table.c.sha, prepared)
            )
        )
        seen = touched(session, repo_id)
        for sha, facts_hash, pr_number, branch in stored:
            if prepared[sha][0]["facts_hash"] == facts_hash:
                del prepared[sha]
            else:  # the tasks it belonged to must be derived again too
                seen.add(pr_number, branch)
        if not prepared:
            continue
        for sha, (row, _, _) in prepared.items():
            seen.add(row["pr_number"], row["branch"], sha)
        connection.execute(stmt, [row for row, _, _ in prepared.values()])
        ids = dict(
            connection.execute(
                sa.select(table.c.sha, table.c.id).where(
                    mine, _among(connection, table.c.sha, prepared)
                )
            ).all()
        )
        written += len(prepared)
        # Their children are rewritten whole.
        for part, child in ((1, usage_lines), (2, file_changes)):
            connection.execute(
                sa.delete(child).where(_among(connection, child.c.commit_id, ids.values()))
            )
            child_rows = [
                {"commit_id": ids[sha], **line}
                for sha, parts in prepared.items()
                for line in parts[part]
            ]
            if child_rows:
                connection.execute(sa.insert(child), child_rows)
    return written


_COMMIT_COLUMNS = (
    commits.c.id,
    commits.c.parents,
    commits.c.reverts,
    commits.c.authored_at,
    commits.c.committed_at,
    *(commits.c[n] for n in _COMMIT_FIELDS),
    *(commits.c[f"{who}_{f}"] for who in ("author", "committer") for f in _IDENTITY),
)


def load_commits(
    session: Session,
    repo_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    shas: Iterable[str] | None = None,
) -> list[CommitFacts]:
    """The repository's commits committed in [since, until) (and among ``shas`` when given),
    oldest first (then by sha)."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    where = [commits.c.repository_id == repo_id]
    if shas is not None:
        where.append(commits.c.sha.in_(sorted(set(shas))))
    if since is not None:
        where.append(commits.c.committed_at >= _utc(since, "since"))
    if until is not None:
        where.append(commits.c.committed_at < _utc(until, "until"))
    usage: dict[int, list[UsageLine]] = {}
    for r in connection.execute(
        sa.select(usage_lines.c.commit_id, usage_lines.c.model, usage_lines.c.tier)
        .add_columns(usage_lines.c.tokens, usage_lines.c.usd)
        .join(commits, commits.c.id == usage_lines.c.commit_id)
        .where(*where)
        .order_by(usage_lines.c.commit_id, usage_lines.c.position)
    ):
        usage.setdefault(r.commit_id, []).append(UsageLine(r.model, r.tier, r.tokens, r.usd))
    files: dict[int, list[FileChange]] = {}
    for r in connection.execute(
        sa.select(file_changes.c.commit_id, file_changes.c.path)
        .add_columns(file_changes.c.added, file_changes.c.deleted)
        .join(commits, commits.c.id == file_changes.c.commit_id)
        .where(*where)
        .order_by(file_changes.c.commit_id, file_changes.c.position)
    ):
        files.setdefault(r.commit_id, []).append(FileChange(r.path, r.added, r.deleted))
    rows = connection.execute(sa.select(*_COMMIT_COLUMNS).where(*where))
    result = []
    for r in rows:
        m = r._mapping
        result.append(
            CommitFacts(
                repository=name,
                parents=tuple(r.parents),
                reverts=tuple(r.reverts),
                author=Identity(*(m[f"author_{f}"] for f in _IDENTITY)),
                committer=Identity(*(m[f"committer_{f}"] for f in _IDENTITY)),
                authored_at=r.authored_at,
                committed_at=r.committed_at,
                usage=tuple(usage.get(r.id, ())),
                files=tuple(files.get(r.id, ())),
                **{n: m[n] for n in _COMMIT_FIELDS},
            )
        )
    # Sorted here, not in SQL: a database collation must not change the order.
    result.sort(key=lambda c: (c.committed_at, c.sha))
    return result


def load_evidence(
    session: Session, repo_id: int, shas: Iterable[str] | None = None
) -> dict[str, Any]:
    """The evidence stored with the repository's commits (all, or those of ``shas``)."""
    where = [commits.c.repository_id == repo_id, commits.c.evidence.is_not(None)]
    if shas is not None:
        where.append(commits.c.sha.in_(list(shas)))
    rows = session.connection().execute(sa.select(commits.c.sha, commits.c.evidence).where(*where))
    return {sha: evidence for sha, evidence in rows}


# --------------------------------------------------------------------------- events


def upsert_events(
    session: Session, repo_id: int, events_: Iterable[Event], batch_size: int = BATCH_SIZE
) -> int:
    """Record events once per key: an event already recorded under its key is left as it is.
    Returns how many were new."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    stmt = _insert(connection, events).on_conflict_do_nothing(
        index_elements=[events.c.repository_id, events.c.key]
    )
    written = 0
    for batch in _batches(events_, batch_size):
        fresh = {e.key: e for e in _unique(batch, lambda e: e.key, "first")}
        for e in fresh.values():
            _check_repository(name, e, f"event {e.key}")
        known = connection.execute(
            sa.select(events.c.key).where(
                events.c.repository_id == repo_id, _among(connection, events.c.key, fresh)
            )
        )
        for (key,) in known:
            del fresh[key]
        if not fresh:
            continue
        rows = [
            {
                "repository_id": repo_id,
                "key": e.key,
                "kind": e.kind,
                "at": _utc(e.at, f"event {e.key}"),
                "pr_number": e.pr_number,
                "sha": e.sha,
                "source": e.source,
            }
            for e in fresh.values()
        ]
        keys = connection.execute(stmt.returning(events.c.key), rows).scalars().all()
        seen = touched(session, repo_id)
        for key in keys:
            event = fresh[key]
            seen.add(event.pr_number, None)
            if event.kind == REVERTED and event.sha:
                seen.reverted.add(event.sha)
        written += len(keys)
    return written


def load_events(
    session: Session,
    repo_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    numbers: Iterable[int] | None = None,
    reverts: Iterable[str] = (),
) -> list[Event]:
    """The repository's events that happened in [since, until), by time then key. With
    ``numbers``, only the events of those pull requests and the reverts of ``reverts``."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    t = events
    where = [t.c.repository_id == repo_id]
    if since is not None:
        where.append(t.c.at >= _utc(since, "since"))
    if until is not None:
        where.append(t.c.at < _utc(until, "until"))
    lookups: list[Any] = [sa.true()]
    if numbers is not None:  # one indexed lookup each; an OR of them would scan the repository
        lookups = [_among(connection, t.c.pr_number, numbers)]
        reverts = list(reverts)
        if reverts:
            lookups.append(sa.and_(_among(connection, t.c.sha, reverts), t.c.kind == REVERTED))
    columns = (t.c.key, t.c.kind, t.c.at, t.c.pr_number, t.c.sha, t.c.source)
    selects = [sa.select(*columns).where(*where, lookup) for lookup in lookups]
    rows = connection.execute(selects[0] if len(selects) == 1 else sa.union(*selects))
    found = [Event(r.key, r.kind, r.at, name, r.pr_number, r.sha, r.source) for r in rows]
    return sorted(found, key=lambda e: (e.at, e.key))


# --------------------------------------------------------------------------- touched records


@dataclass
class Touched:
    """What a session's writes changed in one repository: pull requests, commits (with the pull
    request and branch each belonged to before) and reverted shas. The tasks they belong to
    are the ones to derive again (``load_task_scope``); the rest cannot have changed."""

    pr_numbers: set[int] = dataclasses.field(default_factory=set)
    shas: set[str] = dataclasses.field(default_factory=set)
    branches: set[str] = dataclasses.field(default_factory=set)
    reverted: set[str] = dataclasses.field(default_factory=set)

    def add(self, pr_number: int | None, branch: str | None, sha: str | None = None) -> None:
        if pr_number is not None:
            self.pr_numbers.add(pr_number)
        if branch:
            self.branches.add(branch)
        if sha:
            self.shas.add(sha)


_TOUCHED = "yield_auditor.touched"


def touched(session: Session, repo_id: int) -> Touched:
    """The records this session's upserts changed in ``repo_id`` so far."""
    return session.info.setdefault(_TOUCHED, {}).setdefault(repo_id, Touched())


def forget_touched(session: Session, repo_id: int) -> None:
    session.info.get(_TOUCHED, {}).pop(repo_id, None)


@dataclass(frozen=True)
class TaskScope:
    """The records that decide some tasks, whole: every commit of each task, its pull requests
    and their events, and the reverts of its commits and merge commits."""

    commits: list[CommitFacts]
    prs: list[PullRequest]
    events: list[Event]
    stale: set[str]  # keys of stored tasks these records may have belonged to


def load_task_scope(session: Session, repo_id: int, seeds: Touched) -> TaskScope:
    """The scope of the tasks that ``seeds`` belong to, closed over what ties commits into one
    task (``bot.engine.attribution``: the same ``Agent-Task``, pull request or branch)."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    c, pr = commits, pull_requests
    numbers, branches = set(seeds.pr_numbers), set(seeds.branches)
    shas = seeds.shas | seeds.reverted
    if seeds.reverted:  # a revert of a merge or squash commit concerns its pull request
        numbers |= set(
            connection.execute(
                sa.select(pr.c.number).where(
                    pr.c.repository_id == repo_id,
                    _among(connection, pr.c.merge_sha, seeds.reverted),
                )
            ).scalars()
        )
    tasks_named: set[str] = set()
    while True:
        lookups = [  # one indexed lookup each; an OR of them would scan the repository
            _among(connection, c.c.pr_number, numbers) if numbers else None,
            _among(connection, c.c.sha, shas) if shas else None,
            _among(connection, c.c.task, tasks_named) if tasks_named else None,
            sa.and_(_among(connection, c.c.branch, branches), c.c.pr_number.is_(None))
            if branches
            else None,
        ]
        columns = (c.c.sha, c.c.pr_number, c.c.task, c.c.branch)
        selects = [
            sa.select(*columns).where(c.c.repository_id == repo_id, lookup)
            for lookup in lookups
            if lookup is not None
        ]
        found = connection.execute(sa.union(*selects)).all() if selects else []  # deduplicated
        before = (len(numbers), len(shas), len(tasks_named), len(branches))
        for row in found:
            shas.add(row.sha)
            numbers |= {row.pr_number} if row.pr_number is not None else set()
            tasks_named |= {row.task} if row.task else set()
            branches |= {row.branch} if row.branch and row.pr_number is None else set()
        if (len(numbers), len(shas), len(tasks_named), len(branches)) == before:
            break
    found_commits = load_commits(session, repo_id, shas=shas) if shas else []
    prs = load_pull_requests(session, repo_id, numbers=numbers)
    merge_shas = {p.merge_sha for p in prs if p.merge_sha}
    scope_events = load_events(session, repo_id, numbers=numbers, reverts=shas | merge_shas)
    linked = connection.execute(
        sa.select(tasks.c.key)
        .join(task_pull_requests, task_pull_requests.c.task_id == tasks.c.id)
        .where(
            tasks.c.repository_id == repo_id,
            _among(connection, task_pull_requests.c.pr_number, numbers),
        )
    ).scalars()
    stale = {
        *linked,
        *(f"{name}:task:{t}" for t in tasks_named),
        *(f"{name}:branch:{b}" for b in branches),
        *(f"{name}:commit:{sha}" for sha in shas),
    }
    return TaskScope(found_commits, prs, scope_events, stale)


# --------------------------------------------------------------------------- tasks


def _spend_json(spend: Mapping[str, Spend]) -> dict[str, Any]:
    return {
        bucket: {"tokens": s.tokens, "usd": str(s.usd), "unpriced_tokens": s.unpriced_tokens}
        for bucket, s in spend.items()
    }


def _bucket_order(bucket: str) -> tuple[int, str]:
    return (BUCKETS.index(bucket) if bucket in BUCKETS else len(BUCKETS), bucket)


def _spend(document: Mapping[str, Any]) -> dict[str, Spend]:
    return {
        bucket: Spend(
            tokens=document[bucket]["tokens"],
            usd=Decimal(document[bucket]["usd"]),
            unpriced_tokens=document[bucket]["unpriced_tokens"],
        )
        for bucket in sorted(document, key=_bucket_order)
    }


def replace_tasks(
    session: Session,
    repo_id: int,
    tasks_: Iterable[Task],
    batch_size: int = BATCH_SIZE,
    *,
    prs: Sequence[PullRequest] | None = None,
    events: Sequence[Event] | None = None,
    stale: Iterable[str] | None = None,
) -> int:
    """Replace the repository's derived tasks and attempts with ``tasks_``; returns their count.

    Spend per bucket is stored exactly (Decimal strings); an attempt's ``usd`` is money, rounded
    to 8 decimal places like every amount in the ledger. Each task's rollups (``rollups``) are
    computed from the repository's pull requests and events: pass them when they are loaded.
    With ``stale`` (a ``TaskScope``'s), only the tasks keyed ``stale`` or as one of ``tasks_``
    are replaced, and ``prs`` and ``events`` need only cover ``tasks_``.
    """
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    items: Sequence[Task] = list(tasks_)
    seen: set[str] = set()
    for task in items:
        _check_repository(name, task, f"task {task.id}")
        if task.id in seen:
            raise ValueError(f"task {task.id} given twice")
        seen.add(task.id)
        for attempt in task.attempts:
            if attempt.task_id != task.id:
                raise ValueError(f"task {task.id}: an attempt names task {attempt.task_id}")
    if prs is None:
        prs = load_pull_requests(session, repo_id)
    if events is None:
        events = load_events(session, repo_id)
    rolled = rollups(connection, repo_id, items, prs, events)
    replaced = [tasks.c.repository_id == repo_id]
    if stale is not None:
        replaced.append(_among(connection, tasks.c.key, {*stale, *(t.id for t in items)}))
    mine = sa.select(tasks.c.id).where(*replaced).scalar_subquery()
    connection.execute(sa.delete(attempts).where(attempts.c.task_id.in_(mine)))
    connection.execute(sa.delete(task_pull_requests).where(task_pull_requests.c.task_id.in_(mine)))
    connection.execute(sa.delete(tasks).where(*replaced))
    now = datetime.now(UTC)
    for batch in _batches(items, batch_size):
        connection.execute(
            sa.insert(tasks),
            [
                {
                    "repository_id": repo_id,
                    "key": t.id,
                    "pr_numbers": list(t.pr_numbers),
                    "bounces": list(t.bounces),
                    "spend": _spend_json(t.spend),
                    "computed_at": now,
                    **{n: getattr(t, n) for n in _TASK_FIELDS},
                    **rolled[t.id],
                }
                for t in batch
            ],
        )
    written = [tasks.c.repository_id == repo_id]
    if stale is not None:
        written.append(_among(connection, tasks.c.key, [t.id for t in items]))
    ids = dict(connection.execute(sa.select(tasks.c.key, tasks.c.id).where(*written)).all())
    rows = (
        {
            "task_id": ids[t.id],
            "position": i,
            "number": a.number,
            "tier": a.tier,
            "model": a.model,
            "commits": list(a.commits),
            "outcome": a.outcome,
            "bounces": list(a.bounces),
            "tokens": a.tokens,
            "usd": a.usd,
            "unpriced_tokens": a.unpriced_tokens,
        }
        for t in items
        for i, a in enumerate(t.attempts)
    )
    for batch in _batches(rows, batch_size):
        connection.execute(sa.insert(attempts), batch)
    for batch in _batches(task_pull_request_rows(repo_id, ids, items), batch_size):
        connection.execute(sa.insert(task_pull_requests), batch)
    return len(items)


def rollups(
    connection: Connection,
    repo_id: int,
    tasks_: Sequence[Task],
    prs: Sequence[PullRequest],
    events: Sequence[Event],
) -> dict[str, dict[str, Any]]:
    """Per task id: when it finished (``bot.engine.attribution.finished_at``), its first pull
    request's title and its spend summed over the buckets."""
    by_number = {p.number: p for p in prs}
    ends: dict[int | None, list[Event]] = {}
    for e in events:
        if e.kind in (MERGED, CLOSED):
            ends.setdefault(e.pr_number, []).append(e)
    times = _commit_times(connection, repo_id, [t for t in tasks_ if not t.pr_numbers])
    out = {}
    for task in tasks_:
        spend = task.spend.values()
        own = [e for n in dict.fromkeys(task.pr_numbers) for e in ends.get(n, ())]
        out[task.id] = {
            "finished_at": finished_at(task, by_number, own, times),
            "title": next((by_number[n].title for n in task.pr_numbers if n in by_number), ""),
            "tokens": sum(s.tokens for s in spend),
            "usd": sum((s.usd for s in spend), Decimal(0)),
            "unpriced_tokens": sum(s.unpriced_tokens for s in spend),
        }
    return out


def _commit_times(
    connection: Connection, repo_id: int, tasks_: Sequence[Task]
) -> dict[str, datetime]:
    """Commit times of the tasks without pull requests: they finish with their last commit."""
    shas = sorted({s for t in tasks_ for a in t.attempts for s in a.commits})
    found: dict[str, datetime] = {}
    for batch in _batches(shas, BATCH_SIZE):
        query = sa.select(commits.c.sha, commits.c.committed_at).where(
            commits.c.repository_id == repo_id, commits.c.sha.in_(batch)
        )
        found.update({sha: at for sha, at in connection.execute(query)})
    return found


def task_pull_request_rows(
    repo_id: int, ids: Mapping[str, int], tasks_: Iterable[Task]
) -> list[dict[str, int]]:
    """The rows linking each stored task to its pull requests."""
    return [
        {"task_id": ids[t.id], "pr_number": n, "repository_id": repo_id}
        for t in tasks_
        for n in dict.fromkeys(t.pr_numbers)
    ]


def load_tasks(session: Session, repo_id: int) -> list[Task]:
    """The repository's tasks as last replaced, by id (the order of ``attribute``)."""
    connection = session.connection()
    name = _repository_name(connection, repo_id)
    rows = connection.execute(sa.select(tasks).where(tasks.c.repository_id == repo_id)).all()
    by_task = attempts_of(connection, [r.id for r in rows])
    return sorted((task_from_row(r, name, by_task.get(r.id, ())) for r in rows),
                  key=lambda t: t.id)  # fmt: skip


def scoped(
    table: sa.Table, repo_ids: Iterable[int], *where: Any, order: Sequence[Any] = (),
    limit: int | None = None, offset: int = 0,
) -> sa.Select:  # fmt: skip
    """Rows of ``table`` (tasks, pull requests) in the repositories ``repo_ids``, with their
    repository's ``full_name``: every report query starts from this scope."""
    return (
        sa.select(table, repositories.c.full_name)
        .join(repositories, repositories.c.id == table.c.repository_id)
        .where(table.c.repository_id.in_(list(repo_ids)), *where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )


def attempts_of(connection: Connection, task_ids: Sequence[int]) -> dict[int, list[Attempt]]:
    """The attempts of the stored tasks ``task_ids``, in order, by task row id."""
    by_task: dict[int, list[Attempt]] = {}
    for batch in _batches(task_ids, BATCH_SIZE):
        query = (
            sa.select(attempts, tasks.c.key)
            .join(tasks, tasks.c.id == attempts.c.task_id)
            .where(attempts.c.task_id.in_(batch))
            .order_by(attempts.c.task_id, attempts.c.position)
        )
        for r in connection.execute(query):
            by_task.setdefault(r.task_id, []).append(
                Attempt(task_id=r.key, number=r.number, tier=r.tier, model=r.model,
                        commits=tuple(r.commits), outcome=r.outcome, bounces=tuple(r.bounces),
                        tokens=r.tokens, usd=r.usd, unpriced_tokens=r.unpriced_tokens)
            )  # fmt: skip
    return by_task


def task_from_row(row: Any, repository: str, attempts_: Iterable[Attempt] = ()) -> Task:
    """A stored task row as the engine's ``Task`` (without attempts unless they are given:
    figures and filters never read them)."""
    return Task(
        id=row.key,
        repository=repository,
        pr_numbers=tuple(row.pr_numbers),
        bounces=tuple(row.bounces),
        attempts=tuple(attempts_),
        spend=_spend(row.spend),
        **{n: row._mapping[n] for n in _TASK_FIELDS},
    )


# --------------------------------------------------------------------------- PR comments


@dataclass(frozen=True, slots=True)
class StoredComment:
    comment_id: int
    body_hash: str
    head_sha: str
    event_time: datetime


def load_pr_comment(session: Session, repo_id: int, number: int) -> StoredComment | None:
    """The cost comment last written on pull request ``number``, if any."""
    t = pr_comments
    row = (
        session.connection()
        .execute(
            sa.select(t.c.comment_id, t.c.body_hash, t.c.head_sha, t.c.event_time).where(
                t.c.repository_id == repo_id, t.c.pr_number == number
            )
        )
        .first()
    )
    return StoredComment(*row) if row is not None else None


def save_pr_comment(session: Session, repo_id: int, number: int, stored: StoredComment) -> None:
    """Remember the comment written on pull request ``number`` (one per pull request)."""
    connection = session.connection()
    values = {
        "comment_id": stored.comment_id,
        "body_hash": stored.body_hash,
        "head_sha": stored.head_sha,
        "event_time": _utc(stored.event_time, "comment event_time"),
    }
    stmt = _insert(connection, pr_comments).values(
        repository_id=repo_id, pr_number=number, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[pr_comments.c.repository_id, pr_comments.c.pr_number], set_=values
    )
    connection.execute(stmt)


# --------------------------------------------------------------------------- digest sends


@dataclass(frozen=True, slots=True)
class DigestSend:
    installation_id: int
    channel: str
    period: str
    status: str  # claimed, sent, failed
    claimed_at: datetime
    sent_at: datetime | None
    error: str | None
    attempts: int


def claim_digest_send(
    session: Session,
    installation_id: int,
    channel: str,
    period: str,
    now: datetime,
    may_take: Callable[[DigestSend], bool],
) -> bool:
    """Claim the right to send one digest; True for exactly one caller, whatever the race.

    A new row is inserted ``claimed`` (``INSERT ... ON CONFLICT DO NOTHING``). An existing row
    is taken over only if ``may_take`` allows it (a failed send due for a retry, a claim whose
    sender died), by an ``UPDATE`` conditional on the row being unchanged since it was read.
    """
    connection = session.connection()
    key = {"installation_id": installation_id, "channel": channel, "period": period}
    now = _utc(now, "claim time")
    t = digest_sends
    stmt = (
        _insert(connection, t)
        .values(**key, status="claimed", claimed_at=now, attempts=1)
        .on_conflict_do_nothing(index_elements=[t.c[n] for n in key])
        .returning(t.c.id)
    )
    if connection.execute(stmt).first() is not None:
        return True
    fields = [t.c[f.name] for f in dataclasses.fields(DigestSend)]
    where = [t.c[n] == v for n, v in key.items()]
    row = connection.execute(sa.select(*fields).where(*where)).first()
    if row is None or not may_take(DigestSend(*row)):
        return False
    update = (
        t.update()
        .where(*where, t.c.status == row.status, t.c.attempts == row.attempts)
        .values(status="claimed", claimed_at=now, attempts=t.c.attempts + 1, error=None)
    )
    return connection.execute(update).rowcount == 1


def finish_digest_send(
    session: Session,
    installation_id: int,
    channel: str,
    period: str,
    now: datetime,
    error: str | None = None,
) -> None:
    """Record how a claimed send ended: ``sent``, or ``failed`` with its error."""
    t = digest_sends
    values: dict[str, Any] = {"status": "failed", "error": error}
    if error is None:
        values = {"status": "sent", "sent_at": _utc(now, "sent_at"), "error": None}
    session.connection().execute(
        t.update()
        .where(t.c.installation_id == installation_id, t.c.channel == channel)
        .where(t.c.period == period, t.c.status == "claimed")
        .values(**values)
    )


def load_digest_sends(session: Session, installation_id: int | None = None) -> list[DigestSend]:
    """Digest sends (of one installation), by installation, period and channel."""
    t = digest_sends
    query = sa.select(*(t.c[f.name] for f in dataclasses.fields(DigestSend)))
    if installation_id is not None:
        query = query.where(t.c.installation_id == installation_id)
    rows = session.connection().execute(
        query.order_by(t.c.installation_id, t.c.period, t.c.channel)
    )
    return [DigestSend(*row) for row in rows]
