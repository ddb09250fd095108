"""``yield-auditor backfill``: an installation's pull request history, read from GitHub's API.

Webhooks fill the ledger from the day the App is installed; backfill reads what came before and
stores what the webhooks would have stored, through the webhook path's own code:

- each pull request (``GET /repos/{o}/{r}/pulls?state=all``, newest first, down to ``since``)
  is handed to the webhook handlers as a payload: its record and its merge or close
  (``pull_request``), its reviews (``pull_request_review``), the check runs and commit statuses
  of its commits (``check_run``, ``status``). Events so get the handlers' keys, and a webhook
  about something already backfilled adds nothing: the ledger keeps the first event of a key;
- its commits, their files and, once merged, their line survival are fetched and analysed by
  the worker's API steps (``bot.app.api_steps``);
- reverts on the default branch are read from its commits (the ``push`` handler);
- the repository's tasks are derived once, at the end, with its ``.github/yield-auditor.yml``.

Each pull request is written in one transaction together with its mark in
``backfill_progress``: an interruption loses the pull request in hand at most, and a rerun skips
what is done. A pull request read while open is not done, so every run reads it again. Rate
limits are waited out (the wait is reported), 5xx answers and network failures retried with
backoff; past that the run stops, and running it again resumes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from github import GithubException
from github.Repository import Repository
from requests import RequestException
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.app.api_steps import (
    COMMITS,
    FILES,
    MAX_COMMITS,
    SURVIVAL,
    Target,
    pull_request_commits,
    pull_request_files,
    pull_request_survival,
)
from bot.app.apply import InTransaction, derive_tasks
from bot.app.handlers.checks import check_run_completed, status
from bot.app.handlers.pull_request import pull_request_closed, pull_request_pushed
from bot.app.handlers.push import NO_COMMIT, push
from bot.app.handlers.reviews import review_submitted
from bot.app.pr_comment import RepoConfigs
from bot.app.repo_config import RepoConfig
from bot.app.router import HandlerContext, PayloadError
from bot.config import Settings
from bot.engine.analysis import Analyser
from bot.engine.records import Event
from bot.github.client import GitHubApp, RateLimited, api_calls, rate_limits
from bot.ledger.db import write_lock
from bot.ledger.inbox import Delivery
from bot.ledger.schema import BackfillProgressRow, RepositoryRow
from bot.ledger.store import (
    dialect_insert,
    load_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)

T = TypeVar("T")

PER_PAGE = 100
NOT_FOUND = "not found (deleted, renamed or no longer granted to the App): skipped"
RETRY_WAITS = (5.0, 30.0, 120.0)  # seconds before each new try after a 5xx or a network failure
STEPS = {COMMITS: pull_request_commits, FILES: pull_request_files, SURVIVAL: pull_request_survival}
# The fields of a listed pull request the handlers read; the rest is not kept in memory.
PULL_FIELDS = (
    "number",
    "state",
    "title",
    "created_at",
    "closed_at",
    "merged_at",
    "merge_commit_sha",
)

progress_table: sa.Table = BackfillProgressRow.__table__  # type: ignore[attr-defined]
repositories_table: sa.Table = RepositoryRow.__table__  # type: ignore[attr-defined]

# (repository, pull requests done, of how many or None while unknown, what is happening)
Progress = Callable[[str, int, int | None, str], None]


class BackfillError(Exception):
    """The request cannot be served as given: an unknown or suspended installation, a
    repository outside it. Nothing was written."""


class Stopped(Exception):
    """GitHub kept failing: what was written stays, and running the command again resumes."""


@dataclass(frozen=True, slots=True)
class Options:
    installation_id: int
    repositories: tuple[str, ...] = ()  # owner/name; none: every repository of the installation
    since: datetime | None = None  # pull requests created before are left out
    restart: bool = False  # read every pull request again, whatever earlier runs did
    dry_run: bool = False  # list and count, write nothing


@dataclass
class RepoReport:
    """What backfill did in one repository (``status``: done, listed by a dry run, not_found,
    failed, stopped or interrupted)."""

    repository: str
    status: str = "pending"
    listed: int = 0  # pull requests created since ``since``
    already_done: int = 0  # read closed or merged by an earlier run: skipped
    fetched: int = 0
    open: int = 0  # of those to fetch (a dry run) or fetched: open, so read again next run
    failed: int = 0  # could not be read (see ``errors``); read again next run
    commits: int = 0  # the repository's commits in the ledger afterwards
    agent_commits: int = 0
    tasks: int = 0
    api_calls: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["pull_requests"] = {
            name: document.pop(name)
            for name in ("listed", "already_done", "fetched", "open", "failed")
        }
        return document


@dataclass
class Report:
    installation_id: int
    account: str = ""
    dry_run: bool = False
    since: datetime | None = None
    repositories: list[RepoReport] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early; running it again resumes
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        """Every repository read whole (a deleted one counts as read)."""
        return (
            self.stopped is None
            and not self.interrupted
            and all(
                r.status in ("done", "listed", "not_found") and not r.failed
                for r in self.repositories
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "installation": self.installation_id,
            "account": self.account,
            "dry_run": self.dry_run,
            "since": self.since.isoformat() if self.since else None,
            "complete": self.complete,
            "stopped": self.stopped,
            "interrupted": self.interrupted,
            "repositories": [r.as_dict() for r in self.repositories],
        }


def backfill(
    engine: Engine,
    settings: Settings,
    options: Options,
    *,
    app: GitHubApp | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Import the installation's history into the ledger at ``engine`` (migrated already).

    Without ``app``, the App's client is built from ``settings`` without PyGithub's pauses
    between requests: backfill only reads, one request at a time, and the rate limit paces it.
    """
    own = app is None
    client = app or GitHubApp(settings, seconds_between_requests=None, seconds_between_writes=None)
    try:
        analyser = settings.analyser()
        return Backfill(engine, client, analyser, options, progress, sleep).run()
    finally:
        if own:
            client.close()


# --------------------------------------------------------------------------- progress rows


def add_to_ranges(ranges: list[list[int]], number: int) -> list[list[int]]:
    """Sorted, disjoint, non-adjacent ``[first, last]`` ranges with ``number`` added."""
    merged: list[list[int]] = []
    for first, last in sorted([*ranges, [number, number]]):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


def in_ranges(ranges: list[list[int]], number: int) -> bool:
    return any(first <= number <= last for first, last in ranges)


def load_done(session: Session, full_name: str) -> list[list[int]]:
    """The pull requests of ``full_name`` read closed or merged by earlier runs, as ranges."""
    done = (
        session.connection()
        .execute(
            sa.select(progress_table.c.done)
            .join(repositories_table, repositories_table.c.id == progress_table.c.repository_id)
            .where(repositories_table.c.full_name == full_name)
        )
        .scalar_one_or_none()
    )
    return [[int(first), int(last)] for first, last in done or []]


def save_progress(session: Session, installation_id: int, repo_id: int, **values: Any) -> None:
    """Create or update the repository's progress row with ``values`` (``done``,
    ``finished_at``); ``started_at`` is when the row was created."""
    at = datetime.now(UTC)
    connection = session.connection()
    stmt = dialect_insert(connection.dialect.name, progress_table).values(
        repository_id=repo_id,
        installation_id=installation_id,
        done=values.get("done", []),
        started_at=at,
        updated_at=at,
        finished_at=values.get("finished_at"),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[progress_table.c.repository_id],
        set_={"installation_id": installation_id, "updated_at": at, **values},
    )
    connection.execute(stmt)


def forget_progress(session: Session, repo_id: int) -> None:
    session.connection().execute(
        progress_table.delete().where(progress_table.c.repository_id == repo_id)
    )


# --------------------------------------------------------------------------- the run


class Backfill:
    """One run: the installation's repositories, one after the other."""

    def __init__(
        self,
        engine: Engine,
        app: GitHubApp,
        analyser: Analyser,
        options: Options,
        progress: Progress | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.engine, self.app, self.analyser, self.options = engine, app, analyser, options
        self.progress = progress or (lambda *_: None)
        self.sleep = sleep
        self.client = app.installation(options.installation_id)
        self.context = HandlerContext(app_id=app.app_id)
        self.configs = RepoConfigs()
        self.account = ""
        self.created: datetime | None = None
        self._bar: tuple[str, int, int | None] = ("", 0, None)

    def run(self) -> Report:
        options = self.options
        report = Report(options.installation_id, dry_run=options.dry_run, since=options.since)
        try:
            self._installation()
            repos = self._repositories()
        except Stopped as exc:
            report.stopped = str(exc)
            return report
        report.account = self.account
        for repo in repos:
            current = RepoReport(repo["full_name"])
            report.repositories.append(current)
            try:
                self._repository(repo, current)
            except Stopped as exc:
                current.status, report.stopped = "stopped", str(exc)
                break
            except KeyboardInterrupt:
                current.status, report.interrupted = "interrupted", True
                break
        return report

    # ----------------------------------------------------------------------- GitHub access

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn()``, waiting out rate limits and retrying 5xx and network failures."""
        failures = 0
        while True:
            try:
                with rate_limits():
                    return fn()
            except RateLimited as exc:
                self._show(f"rate limited: waiting until {exc.retry_at:%H:%M:%S} UTC")
                self.sleep(max((exc.retry_at - datetime.now(UTC)).total_seconds(), 0.0) + 1)
            except (GithubException, RequestException) as exc:
                if not _transient(exc):
                    raise
                if failures == len(RETRY_WAITS):
                    raise Stopped(f"GitHub kept failing ({describe(exc)})") from exc
                wait = RETRY_WAITS[failures]
                failures += 1
                self._show(f"{describe(exc)}: trying again in {wait:.0f} s")
                self.sleep(wait)

    def _pages(
        self, path: str, params: Mapping[str, Any], key: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The items of a list endpoint, page after page (``Link: rel="next"``), as JSON."""
        requester = self.client.requester
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": PER_PAGE}
        while url is not None:
            headers, data = requester.requestJsonAndCheck("GET", url, parameters=query)
            yield from data[key] if key else data
            url, query = next_page(headers), None

    def _show(self, note: str) -> None:
        self.progress(*self._bar, note)

    # ----------------------------------------------------------------------- installation

    def _installation(self) -> None:
        number = self.options.installation_id
        requester = self.app.integration.requester
        path = f"/app/installations/{number}"
        try:
            _, data = self._call(lambda: requester.requestJsonAndCheck("GET", path))
        except GithubException as exc:
            if exc.status == 404:
                raise BackfillError(
                    f"installation {number} not found: the App (id {self.app.app_id}) is not "
                    "installed there"
                ) from exc
            if exc.status == 401:
                raise BackfillError(
                    f"GitHub refused the App's credentials ({describe(exc)}): check "
                    "GITHUB_APP_ID and the private key"
                ) from exc
            raise
        if data.get("suspended_at"):
            raise BackfillError(f"installation {number} is suspended: GitHub gives it no token")
        self.account = str((data.get("account") or {}).get("login") or "")
        created = data.get("created_at")
        self.created = datetime.fromisoformat(created) if isinstance(created, str) else None

    def _repositories(self) -> list[dict[str, Any]]:
        listed = self._call(
            lambda: list(self._pages("/installation/repositories", {}, "repositories"))
        )
        wanted = self.options.repositories
        if not wanted:
            return listed
        by_name = {r["full_name"].lower(): r for r in listed}
        missing = [name for name in wanted if name.lower() not in by_name]
        if missing:
            raise BackfillError(
                f"{', '.join(missing)} not in installation {self.options.installation_id}, "
                f"which has {_names([r['full_name'] for r in listed])}"
            )
        return [by_name[name.lower()] for name in dict.fromkeys(wanted)]

    # ----------------------------------------------------------------------- one repository

    def _repository(self, repo: dict[str, Any], report: RepoReport) -> None:
        with api_calls() as calls:
            try:
                self._read_repository(repo, report)
            except (GithubException, PayloadError) as exc:
                gone = isinstance(exc, GithubException) and exc.status == 404
                report.status = "not_found" if gone else "failed"
                report.errors.append(NOT_FOUND if gone else describe(exc))
            finally:
                report.api_calls = calls.count

    def _read_repository(self, repo: dict[str, Any], report: RepoReport) -> None:
        name = report.repository
        self._bar = (name, 0, None)
        self._show("listing pull requests")
        pulls = self._call(lambda: self._pull_requests(name))
        done = [] if self.options.restart else self._done(name)
        todo = [p for p in pulls if not in_ranges(done, p["number"])]
        report.listed, report.already_done = len(pulls), len(pulls) - len(todo)
        if self.options.dry_run:
            report.status, report.open = "listed", sum(p["state"] == "open" for p in todo)
            self._bar = (name, 0, len(todo))
            self._show("dry run: nothing fetched")
            return
        repo_id = self._register(name)
        github = self.client.get_repo(name)  # lazy: costs no request
        config = self._config(github, name, report)
        for k, pull in enumerate(todo):
            self._bar = (name, k, len(todo))
            self._show(f"#{pull['number']}")
            self._pull_request_or_report(github, repo, repo_id, pull, report)
        self._bar = (name, len(todo), len(todo))
        self._show("reverts on the default branch")
        self._call(lambda: self._reverts(repo, repo_id, pulls))
        self._show("deriving tasks")
        self._finish(repo_id, config, report)
        report.status = "done"
        self._show("done")

    def _pull_requests(self, name: str) -> list[dict[str, Any]]:
        """Pull requests newest first, down to the first one created before ``since``."""
        found = []
        query = {"state": "all", "sort": "created", "direction": "desc"}
        for pull in self._pages(f"/repos/{name}/pulls", query):
            if self.options.since and _time(pull["created_at"]) < self.options.since:
                break
            found.append(slim_pull(pull))
        return found

    def _done(self, name: str) -> list[list[int]]:
        """Earlier runs' progress; none when a dry run meets a database not yet migrated."""
        if not sa.inspect(self.engine).has_table(progress_table.name):
            return []
        with Session(self.engine) as session:
            return load_done(session, name)

    def _register(self, name: str) -> int:
        """The installation and repository rows; the progress row (emptied by ``restart``)."""
        number = self.options.installation_id
        with write_lock(self.engine), Session(self.engine) as session:
            upsert_installation(session, number, self.account, self.created)
            repo_id = upsert_repository(session, number, name)
            if self.options.restart:
                forget_progress(session, repo_id)
            save_progress(session, number, repo_id)
            session.commit()
        return repo_id

    def _config(self, github: Repository, name: str, report: RepoReport) -> RepoConfig:
        result = self._call(lambda: self.configs.get(github, name))
        report.errors.extend(result.errors)
        return result.config

    # ----------------------------------------------------------------------- one pull request

    def _pull_request_or_report(
        self,
        github: Repository,
        repo: dict[str, Any],
        repo_id: int,
        pull: dict[str, Any],
        report: RepoReport,
    ) -> None:
        """Read one pull request; one GitHub cannot give is reported, and read next run."""
        try:
            self._call(lambda: self._pull_request(github, repo, repo_id, pull))
        except (GithubException, PayloadError) as exc:
            report.failed += 1
            report.errors.append(f"#{pull['number']}: {describe(exc)}")
        else:
            report.fetched += 1
            report.open += pull["state"] == "open"

    def _pull_request(
        self, github: Repository, repo: dict[str, Any], repo_id: int, pull: dict[str, Any]
    ) -> None:
        """The pull request's record, commits, files, survival and events, in one transaction
        with its progress mark (a pull request still open gets none)."""
        name, number = repo["full_name"], pull["number"]
        payload = {"pull_request": pull, "repository": repository_payload(repo)}
        closed = pull["state"] == "closed"
        changes = (pull_request_closed if closed else pull_request_pushed)(payload, self.context)
        events = [*changes.events, *self._reviews(payload)]
        with write_lock(self.engine), Session(self.engine) as session:
            upsert_pull_requests(session, repo_id, changes.pull_requests)
            target = Target(github, name, InTransaction(session), repo_id, self.analyser)
            delivery = self._delivery(name, pull)
            for step in dict.fromkeys((COMMITS, FILES, *changes.needs_api)):
                STEPS[step](target, delivery, changes)
            mine = [c for c in reversed(target.stored().values()) if c.pr_number == number]
            events += self._ci(repo, [c.sha for c in mine[:MAX_COMMITS]], number)
            upsert_events(session, repo_id, sorted(events, key=lambda e: (e.at, e.key)))
            if closed:
                done = add_to_ranges(load_done(session, name), number)
                save_progress(session, self.options.installation_id, repo_id, done=done)
            session.commit()

    def _delivery(self, name: str, pull: dict[str, Any]) -> Delivery:
        """What the worker's API steps read of a delivery: the pull request, as its payload."""
        return Delivery(
            guid=f"backfill:{name}#{pull['number']}",
            event="pull_request",
            action="backfill",
            installation_id=self.options.installation_id,
            repository=name,
            ordering_key=f"{name}#{pull['number']}",
            body=json.dumps({"pull_request": pull}).encode(),
            received_at=datetime.now(UTC),
        )

    def _reviews(self, payload: dict[str, Any]) -> list[Event]:
        """Approvals and change requests, as ``pull_request_review`` ``submitted`` events."""
        name, number = payload["repository"]["full_name"], payload["pull_request"]["number"]
        reviews = self._pages(f"/repos/{name}/pulls/{number}/reviews", {})
        return [
            event
            for review in reviews
            for event in review_submitted({**payload, "review": review}, self.context).events
        ]

    def _ci(self, repo: dict[str, Any], shas: list[str], number: int) -> list[Event]:
        """CI outcomes of the pull request's commits, from every check run (re-runs included)
        and commit status, as the ``check_run`` and ``status`` handlers record them."""
        name, where = repo["full_name"], repository_payload(repo)
        events: list[Event] = []
        for sha in shas:
            runs = self._pages(
                f"/repos/{name}/commits/{sha}/check-runs", {"filter": "all"}, "check_runs"
            )
            for run in runs:
                events += check_run_completed(
                    {"check_run": run, "repository": where}, self.context
                ).events
            for state in self._pages(f"/repos/{name}/commits/{sha}/statuses", {}):
                payload = {
                    "repository": where,
                    "sha": sha,
                    "state": state["state"],
                    "updated_at": state["updated_at"],
                }
                events += status(payload, self.context).events
        return [e if e.pr_number else dataclasses.replace(e, pr_number=number) for e in events]

    # ----------------------------------------------------------------------- the end

    def _reverts(self, repo: dict[str, Any], repo_id: int, pulls: list[dict[str, Any]]) -> None:
        """Reverts on the default branch since ``since`` (or the oldest pull request read), as
        the ``push`` handler finds them in pushed commits."""
        since = self.options.since or min((_time(p["created_at"]) for p in pulls), default=None)
        if since is None:
            return
        name, branch = repo["full_name"], repo.get("default_branch") or "main"
        query = {"sha": branch, "since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        try:
            listed = list(self._pages(f"/repos/{name}/commits", query))
        except GithubException as exc:
            if exc.status == 409:  # an empty repository
                return
            raise
        if not listed:
            return
        payload = {
            "ref": f"refs/heads/{branch}",
            "before": NO_COMMIT,
            "repository": repository_payload(repo),
            "commits": [pushed_commit(c) for c in reversed(listed)],
        }
        events = push(payload, self.context).events
        with write_lock(self.engine), Session(self.engine) as session:
            upsert_events(session, repo_id, events)
            session.commit()

    def _finish(self, repo_id: int, config: RepoConfig, report: RepoReport) -> None:
        with write_lock(self.engine), Session(self.engine) as session:
            report.tasks = derive_tasks(session, repo_id, self.analyser, config)
            save_progress(
                session, self.options.installation_id, repo_id, finished_at=datetime.now(UTC)
            )
            session.commit()
            commits = load_commits(session, repo_id)
        report.commits = len(commits)
        report.agent_commits = sum(c.is_agent_work for c in commits)


# --------------------------------------------------------------------------- payload shapes


def slim_pull(pull: Mapping[str, Any]) -> dict[str, Any]:
    """A listed pull request with only what the handlers read (lists are held in memory)."""
    kept = {name: pull.get(name) for name in PULL_FIELDS}
    kept["labels"] = [{"name": label["name"]} for label in pull.get("labels") or ()]
    for end in ("head", "base"):
        ref = pull.get(end) or {}
        kept[end] = {"ref": ref.get("ref"), "sha": ref.get("sha")}
    return kept


def repository_payload(repo: Mapping[str, Any]) -> dict[str, Any]:
    return {name: repo.get(name) for name in ("id", "full_name", "default_branch")}


def pushed_commit(commit: Mapping[str, Any]) -> dict[str, Any]:
    """A listed commit as a ``push`` payload lists it."""
    git = commit["commit"]
    return {
        "id": commit["sha"],
        "message": git["message"],
        "timestamp": git["committer"]["date"],
        "author": {"name": git["author"]["name"], "email": git["author"]["email"]},
        "committer": {"name": git["committer"]["name"], "email": git["committer"]["email"]},
    }


def next_page(headers: Mapping[str, Any]) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    link = next((str(v) for k, v in headers.items() if k.lower() == "link"), "")
    for part in link.split(","):
        target, _, rel = part.partition(";")
        if rel.strip() == 'rel="next"':
            return target.strip().removeprefix("<").removesuffix(">")
    return None


def describe(exc: BaseException) -> str:
    """An error, fit for a report: GitHub's status and message, else the error, bounded."""
    if isinstance(exc, GithubException):
        data = exc.data if isinstance(exc.data, dict) else {}
        return f"GitHub answered {exc.status}: {data.get('message') or 'no message'}"
    text = str(exc)
    return f"{type(exc).__name__}: {text if len(text) <= 200 else text[:200] + '...'}"


def _transient(exc: Exception) -> bool:
    """A network failure, or a 5xx the client's own retries did not get past."""
    if isinstance(exc, RequestException):
        return True
    return isinstance(exc, GithubException) and (exc.status or 0) >= 500


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _names(names: list[str], shown: int = 10) -> str:
    if not names:
        return "no repository"
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
