"""Apply a delivery's ``Changes`` to the ledger, in short transactions between GitHub calls.

This is the I/O edge of event handling: handlers decide what a payload means, this module
writes it with the ledger's idempotent upserts and derives again the tasks the written records
belong to, so processing a delivery twice leaves the ledger as processing it once. Each write
is its own short transaction (``Ledger``): none is open, and no lock held, while the worker
waits on GitHub, and a delivery cut short between two of them converges when it runs again.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from github import GithubException
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.app.repo_config import RepoConfig, analyser_for
from bot.app.router import Changes
from bot.engine.analysis import Analyser
from bot.engine.attribution import Params, attribute
from bot.engine.facts import commit_facts
from bot.engine.records import REVERTED, CommitFacts, Event
from bot.ledger.db import write_lock
from bot.ledger.inbox import Delivery
from bot.ledger.store import (
    Touched,
    adopt_branch_commits,
    forget_touched,
    installation_state,
    load_commits,
    load_events,
    load_pull_requests,
    load_task_scope,
    open_pull_request_for_branch,
    pull_request_for_sha,
    replace_tasks,
    set_installation_state,
    touched,
    upsert_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)
from bot.protocol.commit import Identity

INACTIVE = ("suspended", "deleted")

GONE_OR_INVALID = (404, 410, 422)  # GitHub statuses no retry changes


class LedgerAccess(Protocol):
    """How API and comment steps reach the ledger: ``read`` for a session to read with,
    ``write`` for one whose writes commit when the block ends."""

    def read(self) -> AbstractContextManager[Session]: ...

    def write(self) -> AbstractContextManager[Session]: ...


# A step that needs the GitHub API: (ledger, repo_id, delivery, changes) -> None.
ApiStep = Callable[[LedgerAccess, int | None, Delivery, Changes], None]


class LeaseLost(Exception):
    """Another worker took the delivery over: this worker's last write was rolled back."""


class Ledger:
    """One delivery's access to the ledger: short read sessions, and short write transactions
    that commit only while ``lease`` (run in the transaction) says the delivery is still ours.

    So no transaction is open and no lock held while a step waits on GitHub. The records the
    writes touch accumulate across them (``touched``), for deriving only their tasks.
    """

    def __init__(self, engine: Engine, lease: Callable[[Connection], bool] | None = None) -> None:
        self.engine, self.lease = engine, lease
        self._info: dict[str, Any] = {}  # shared by the write sessions: what they touched

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session  # closing ends PostgreSQL's read transaction

    @contextmanager
    def write(self) -> Iterator[Session]:
        with write_lock(self.engine), Session(self.engine) as session:
            session.info.update(self._info)
            yield session
            if self.lease is not None and not self.lease(session.connection()):
                session.rollback()
                raise LeaseLost("lease lost: another worker finishes this delivery")
            session.commit()
            self._info.update(session.info)


class InTransaction:
    """Ledger access inside a transaction the caller holds and commits (the backfill's)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @contextmanager
    def read(self) -> Iterator[Session]:
        yield self.session

    write = read


def is_permanent(exc: BaseException) -> bool:
    """Whether running the delivery again cannot help: the payload is wrong (``ValueError``,
    ``PayloadError``), a value is out of range (``OverflowError``, e.g. a timestamp; the
    database's ``DataError``, e.g. a NUL byte or an integer too large for PostgreSQL), or GitHub
    answers that the thing is gone or the request invalid (404, 410, 422)."""
    if isinstance(exc, sa.exc.DataError):
        return True
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        exc = exc.orig  # a value the driver refused to bind
    if isinstance(exc, GithubException):
        return exc.status in GONE_OR_INVALID
    return isinstance(exc, ValueError | OverflowError)


@dataclass(frozen=True, slots=True)
class Outcome:
    ignored: str | None = None  # why the delivery changed nothing
    skipped: tuple[str, ...] = ()  # API steps not done for want of a GitHub client
    repository_id: int | None = None
    changed: bool = False
    pr_numbers: tuple[int, ...] = ()  # the pull requests the delivery concerns
    refused: tuple[str, ...] = ()  # records left out, each with why (``_apply_parts``)


def apply_changes(
    ledger: Ledger,
    delivery: Delivery,
    changes: Changes,
    analyser: Analyser,
    api_steps: Mapping[str, ApiStep] | None = None,
    config: RepoConfig | None = None,
) -> Outcome:
    """Write ``changes``, run the API steps, and derive again the tasks of what changed.

    The records are one transaction (with the derivation when no API step follows); should a
    permanent error refuse them, each record is tried alone (``_apply_parts``). Each API step
    writes in its own transactions, between its GitHub calls; the tasks are derived after them
    even when one fails, so that what was written is never left underived.
    """
    analyser = analyser_for(config, analyser)  # with the repository's agent identities
    runners = [(name, (api_steps or {}).get(name)) for name in changes.needs_api]
    steps = [runner for _, runner in runners if runner is not None]
    skipped = tuple(name for name, runner in runners if runner is None)
    again = delivery.attempts > 1  # an earlier attempt may have stopped before deriving
    try:
        with ledger.write() as session:
            outcome = _apply_records(session, delivery, changes, analyser)
            if not steps and (outcome.changed or again):
                _derive(session, outcome, analyser, config, again)
        derived = not steps
    except Exception as exc:
        parts = split(changes)
        if len(parts) < 2 or not is_permanent(exc):
            raise
        outcome, derived = _apply_parts(ledger, delivery, parts, analyser), False
    if outcome.repository_id is None:
        return outcome
    try:
        for runner in steps:
            runner(ledger, outcome.repository_id, delivery, changes)
    finally:
        if not derived and (steps or outcome.changed or again):
            with ledger.write() as session:
                _derive(session, outcome, analyser, config, again)
    return dataclasses.replace(outcome, skipped=skipped, changed=outcome.changed or bool(steps))


def _derive(
    session: Session, outcome: Outcome, analyser: Analyser, config: RepoConfig | None, whole: bool
) -> None:
    """Derive the tasks of the records the delivery touched; all of them when ``whole`` or
    when the configuration they were last derived with differs."""
    repo_id = outcome.repository_id
    assert repo_id is not None
    same = _same_config(session, repo_id, config) and not whole
    derive_tasks(session, repo_id, analyser, config, touched(session, repo_id) if same else None)


def split(changes: Changes) -> list[Changes]:
    """The delivery's changes as parts to apply one by one: what concerns the installation and
    repository first, then each pull request, commit and event alone."""
    base = dataclasses.replace(changes, pull_requests=[], commits=[], events=[], needs_api=[])
    if changes.repository is None or changes.ignored is not None:
        return [base]
    alone = dataclasses.replace(base, installation=None, repositories_added=[])
    return [
        base,
        *(dataclasses.replace(alone, pull_requests=[pr]) for pr in changes.pull_requests),
        *(dataclasses.replace(alone, commits=[commit]) for commit in changes.commits),
        *(dataclasses.replace(alone, events=[event]) for event in changes.events),
    ]


def _apply_parts(
    ledger: Ledger, delivery: Delivery, parts: list[Changes], analyser: Analyser
) -> Outcome:
    """Apply each part in its own transaction, leaving out those a permanent error refuses;
    the delivery fails when the first part (installation and repository) or every record is
    refused."""
    outcome, refused, numbers = Outcome(), [], set()
    for k, part in enumerate(parts):
        try:
            with ledger.write() as session:
                done = _apply_records(session, delivery, part, analyser)
        except Exception as exc:
            if k == 0 or not is_permanent(exc):
                raise
            refused.append((_label(part), exc))
            continue
        if done.ignored is not None:
            return done
        outcome = dataclasses.replace(done, changed=outcome.changed or done.changed)
        numbers |= set(done.pr_numbers)
    if len(refused) == len(parts) - 1:
        raise refused[0][1]
    reasons = tuple(f"{label}: {type(exc).__name__}: {exc}" for label, exc in refused)
    return dataclasses.replace(outcome, pr_numbers=tuple(sorted(numbers)), refused=reasons)


def _label(part: Changes) -> str:
    """What a part of ``split`` holds, to say what was refused."""
    if part.commits:
        return f"commit {part.commits[0].info.sha}"
    if part.pull_requests:
        return f"pull request #{part.pull_requests[0].number}"
    return f"event {part.events[0].key}"


def _apply_records(
    session: Session, delivery: Delivery, changes: Changes, analyser: Analyser
) -> Outcome:
    """Write the records of ``changes``; no derivation, no API step."""
    if changes.installation is not None:
        _apply_installation(session, changes)
    elif delivery.installation_id is not None:
        state = installation_state(session, delivery.installation_id)
        if state in INACTIVE:
            return Outcome(ignored=f"installation {delivery.installation_id} is {state}")
        if state is None:
            upsert_installation(session, delivery.installation_id, _installation_login(delivery))
    installation_id = delivery.installation_id
    for name in changes.repositories_added:
        upsert_repository(session, installation_id, name)
    if changes.ignored is not None or changes.repository is None:
        return Outcome(ignored=changes.ignored)
    repo_id = upsert_repository(session, installation_id, changes.repository)
    changed, numbers = _write_records(session, repo_id, changes, analyser)
    return Outcome(repository_id=repo_id, changed=changed, pr_numbers=tuple(sorted(numbers)))


def derive_tasks(
    session: Session,
    repo_id: int,
    analyser: Analyser,
    config: RepoConfig | None = None,
    seeds: Touched | None = None,
) -> int:
    """Attribute the repository's history again and replace its stored tasks; with ``seeds``,
    only the tasks those records belong to (``load_task_scope``), so a delivery costs what its
    own tasks cost rather than what the repository's whole history does. Returns the number
    of tasks written.

    The repository's configuration, when known, sets the rework window, leaves ignored paths
    out of every footprint and names the task class of tasks whose class was only inferred.
    """
    if seeds is None:
        commits = load_commits(session, repo_id)
        prs = load_pull_requests(session, repo_id)
        events = load_events(session, repo_id)
        stale = None
    else:
        scope = load_task_scope(session, repo_id, seeds)
        commits, prs, events, stale = scope.commits, scope.prs, scope.events, scope.stale
    forget_touched(session, repo_id)
    window = Params().window_days
    if config is not None:
        window = config.rework_window_days
        if config.ignored_paths:
            commits = [_without_ignored(c, config) for c in commits]
    params = Params(window_days=window, tier_order=analyser.prices.tier_names)
    tasks = attribute(commits, prs, events, params)
    if config is not None and config.task_classes:
        tasks = _classified(tasks, commits, prs, config)
    return replace_tasks(session, repo_id, tasks, prs=prs, events=events, stale=stale)


# Per engine and repository, the configuration this process last derived tasks with.
_derived_with: weakref.WeakKeyDictionary[Engine, dict[int, str]] = weakref.WeakKeyDictionary()


def _same_config(session: Session, repo_id: int, config: RepoConfig | None) -> bool:
    """Whether this process last derived the repository's tasks with ``config``. If not (a new
    process, or the configuration changed), every task is derived again, since the rework
    window, ignored paths and class rules apply to all of them. The configuration is
    remembered once that transaction commits: a derivation rolled back must be done again."""
    fingerprint = "" if config is None else config.model_dump_json(include=_DERIVING)
    seen = _derived_with.setdefault(session.get_bind(), {})
    if seen.get(repo_id) == fingerprint:
        return True

    def remember(_session: Session) -> None:
        seen[repo_id] = fingerprint

    sa.event.listen(session, "after_commit", remember, once=True)
    return False


_DERIVING = {"rework_window_days", "ignored_paths", "task_classes"}


def _without_ignored(commit: CommitFacts, config: RepoConfig) -> CommitFacts:
    files = tuple(f for f in commit.files if not config.ignored(f.path))
    return commit if len(files) == len(commit.files) else dataclasses.replace(commit, files=files)


def _classified(tasks, commits, prs, config: RepoConfig) -> list:
    """Tasks whose class was inferred take the class the repository's rules give them."""
    files = {c.sha: [f.path for f in c.files] for c in commits}
    labels = {pr.number: pr.labels for pr in prs}
    result = []
    for task in tasks:
        if task.class_inferred:
            paths = [p for a in task.attempts for sha in a.commits for p in files.get(sha, ())]
            names = [label for n in task.pr_numbers for label in labels.get(n, ())]
            named = config.task_class_for(paths, names)
            if named is not None:
                task = dataclasses.replace(task, task_class=named, class_inferred=False)
        result.append(task)
    return result


def _apply_installation(session: Session, changes: Changes) -> None:
    change = changes.installation
    assert change is not None
    upsert_installation(session, change.installation_id, change.account_login, change.created)
    set_installation_state(session, change.installation_id, change.state)


def _write_records(
    session: Session, repo_id: int, changes: Changes, analyser: Analyser
) -> tuple[bool, set[int]]:
    """Upsert the records; whether anything changed, and the pull requests concerned."""
    numbers = {pr.number for pr in changes.pull_requests}
    changed = upsert_pull_requests(session, repo_id, changes.pull_requests) > 0
    for pr in changes.pull_requests:
        if pr.state == "open" and pr.head_ref:
            changed |= adopt_branch_commits(session, repo_id, pr.head_ref, pr.number) > 0
    if changes.commits:
        facts, evidence = _facts(session, repo_id, changes, analyser)
        changed |= upsert_commits(session, repo_id, facts, evidence) > 0
        numbers |= {f.pr_number for f in facts if f.pr_number is not None}
    events = [_with_pr(session, repo_id, e) for e in changes.events]
    changed |= upsert_events(session, repo_id, events) > 0
    numbers |= {e.pr_number for e in events if e.pr_number is not None}
    for event in events:  # a revert concerns the pull request whose work it undoes
        if event.kind == REVERTED and event.sha is not None:
            reverted = pull_request_for_sha(session, repo_id, event.sha)
            numbers |= {reverted} if reverted is not None else set()
    return changed, numbers


def _facts(session: Session, repo_id: int, changes: Changes, analyser: Analyser):
    assert changes.repository is not None
    facts, evidence = [], {}
    branch_prs: dict[str, int | None] = {}
    shas = [seen.info.sha for seen in changes.commits]
    stored = {c.sha: c for c in load_commits(session, repo_id, shas=shas)}
    for seen in changes.commits:
        number = seen.pr_number
        branch = seen.info.branch
        if number is None and branch:
            if branch not in branch_prs:
                branch_prs[branch] = open_pull_request_for_branch(session, repo_id, branch)
            number = branch_prs[branch]
        analysis = analyser.analyse(seen.info)
        fact = commit_facts(analysis, changes.repository, seen.parents, seen.files, number)
        facts.append(keep_known(fact, stored.get(seen.info.sha)))
        if (document := analysis.detection.stored_evidence()) is not None:
            evidence[seen.info.sha] = document
    return facts, evidence


def keep_known(new: CommitFacts, old: CommitFacts | None) -> CommitFacts:
    """``new`` with what the stored version knows and ``new`` lacks: a payload brings no files,
    parents, survival or GitHub accounts, and must not erase what an API step fetched earlier."""
    if old is None:
        return new
    return dataclasses.replace(
        new,
        author=_richer(new.author, old.author),
        committer=_richer(new.committer, old.committer),
        files=new.files or old.files,
        parents=new.parents or old.parents,
        pr_number=new.pr_number if new.pr_number is not None else old.pr_number,
        branch=new.branch or old.branch,
        survival=new.survival if new.survival is not None else old.survival,
    )


def _richer(new: Identity, old: Identity) -> Identity:
    return old if new.github_id is None and old.github_id is not None else new


def _with_pr(session: Session, repo_id: int, event: Event) -> Event:
    if event.pr_number is not None or event.sha is None or event.kind == REVERTED:
        return event
    number = pull_request_for_sha(session, repo_id, event.sha)
    return event if number is None else dataclasses.replace(event, pr_number=number)


def _installation_login(delivery: Delivery) -> str:
    """The account the installation belongs to, as far as the payload tells: read only for an
    installation the ledger has not met, since it parses the body again."""
    try:
        payload = delivery.payload()
    except ValueError:
        return ""
    for path in (("installation", "account", "login"), ("repository", "owner", "login")):
        value: Any = payload
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return ""
