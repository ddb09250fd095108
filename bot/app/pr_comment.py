"""The cost comment on GitHub: exactly one per pull request, edited in place only when it changes.

The comment is found by its hidden marker among our bot's comments; its revision (head sha and
event time) keeps an older job from overwriting a newer one. Deliveries of one pull request
are processed one at a time (``bot.ledger.inbox``), and should a race ever create two comments, the
oldest is kept and the others deleted. A create is sent once: when its answer leaves unknown
whether it was done (a timeout, a 5xx), the comment is looked for by marker and adopted, or,
not listed yet, looked for again later (``UNCERTAIN_WAIT``) rather than posted twice. Optional:
the "Token yield" check run with the same summary and the budget gate; only our App's runs are
ever edited. See docs/comment.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

from github import GithubException
from github.CheckRun import CheckRun
from github.IssueComment import IssueComment
from github.Repository import Repository
from sqlalchemy.orm import Session

from bot.app.apply import LedgerAccess
from bot.app.explore import load_installation
from bot.app.repo_config import ConfigResult, RepoConfig, load_repo_config, price_book
from bot.app.worker import RetryLater
from bot.config import Settings
from bot.digest.query import history_outcomes
from bot.engine.analysis import Analyser
from bot.engine.attribution import Task
from bot.engine.verdict import INSTALLATION, History, history_of, too_little
from bot.github.client import GitHubApp, RateLimited, rate_limits, uncertain
from bot.ledger.inbox import Delivery
from bot.ledger.store import (
    StoredComment,
    load_commits,
    load_events,
    load_evidence,
    load_pr_comment,
    load_pull_requests,
    load_tasks,
    save_pr_comment,
)
from bot.render.comment import (
    MARKER_RE,
    Comment,
    Revision,
    build_comment,
    check_run_output,
    is_newer,
    md,
    parse_marker,
    same_content,
    wanted,
)

log = logging.getLogger(__name__)

CHECK_NAME = "Token yield"
MARKER_START = "<!-- yield-auditor:pr-comment"
CONFIG_TTL_SECONDS = 300  # a repository's configuration is read again after this
# GitHub ends a request after 10 s ("Troubleshooting the REST API": timeouts): a create left
# uncertain and not listed yet is looked for again once it surely landed or never will.
UNCERTAIN_WAIT = timedelta(seconds=60)

T = TypeVar("T")


@dataclass
class RepoConfigs:
    """Repository configurations, cached a few minutes per repository to spare API calls."""

    ttl: float = CONFIG_TTL_SECONDS
    _cache: dict[str, tuple[float, ConfigResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, github_repo: Repository, full_name: str) -> ConfigResult:
        with self._lock:
            hit = self._cache.get(full_name)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        gh = github_repo._requester  # one requester serves the owner's .github repository too
        result = load_repo_config(lambda repo, path: _read_file(gh, repo, path), full_name)
        with self._lock:
            self._cache[full_name] = (time.monotonic(), result)
        return result


def _read_file(requester, repo: str, path: str) -> str | None:
    """A file's text on the default branch; None when the repository or file is absent."""
    from github.ContentFile import ContentFile

    try:
        headers, data = requester.requestJsonAndCheck("GET", f"/repos/{repo}/contents/{path}")
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    content = ContentFile(requester, headers, data)
    return content.decoded_content.decode("utf-8", errors="replace")


class CommentStep:
    """Renders and posts the comment of every pull request a delivery touched."""

    def __init__(self, app: GitHubApp, analyser: Analyser, settings: Settings) -> None:
        self.app, self.analyser, self.settings = app, analyser, settings
        self.configs = RepoConfigs()
        self._bot_login: str | None = None

    @property
    def bot_login(self) -> str:
        """Our bot account's login, ``<app slug>[bot]``: one JWT call per process."""
        if self._bot_login is None:
            self._bot_login = f"{self.app.integration.get_app().slug}[bot]"
        return self._bot_login

    def config_for(self, delivery: Delivery) -> RepoConfig | None:
        """The delivery's repository configuration (cached), for attribution."""
        if delivery.installation_id is None or delivery.repository is None:
            return None
        github = self.app.installation(delivery.installation_id)
        try:
            with rate_limits():
                repo = github.get_repo(delivery.repository)
                return self.configs.get(repo, delivery.repository).config
        except RateLimited as exc:
            raise RetryLater(f"repository configuration: {exc}", exc.retry_at) from exc

    def __call__(
        self, ledger: LedgerAccess, repo_id: int, delivery: Delivery, numbers: Iterable[int]
    ) -> None:
        if delivery.installation_id is None or delivery.repository is None:
            return
        github = self.app.installation(delivery.installation_id)
        try:
            with rate_limits():
                repo = github.get_repo(delivery.repository)  # lazy: the client is
                for number in sorted(set(numbers)):
                    self._update(ledger, repo_id, repo, number, delivery)
        except RateLimited as exc:
            raise RetryLater(f"cost comment: {exc}", exc.retry_at) from exc

    def _update(
        self, ledger: LedgerAccess, repo_id: int, repo: Repository, number: int, delivery: Delivery
    ) -> None:
        """Render the pull request's comment from the ledger, then write it if it changed."""
        config = self.configs.get(repo, repo.full_name)
        with ledger.read() as session:
            comment = self._render(session, repo_id, number, delivery, config)
        if comment is None:
            return
        self._sync(ledger, repo_id, repo, number, comment, config)
        if config.config.check_run.enabled:
            self._check_run(repo, comment, config)

    def _render(
        self, session: Session, repo_id: int, number: int, delivery: Delivery, config: ConfigResult
    ) -> Comment | None:
        at, installation = delivery.received_at, delivery.installation_id
        pr = next((p for p in load_pull_requests(session, repo_id) if p.number == number), None)
        if pr is None:
            return None
        all_tasks = load_tasks(session, repo_id)
        tasks = [t for t in all_tasks if number in t.pr_numbers]
        shas = {sha for t in tasks for a in t.attempts for sha in a.commits}
        commits = [c for c in load_commits(session, repo_id) if c.sha in shas]
        events = [e for e in load_events(session, repo_id) if e.pr_number == number]
        prices, price_error = price_book(
            config.config, self.settings.price_overrides, self.settings.tiers
        )
        head = pr.head_sha or (commits[-1].sha if commits else None)
        if head is None:
            return None
        history = None
        if tasks:
            began = min(c.committed_at for c in commits)
            history = _history(session, repo_id, pr.repository, installation, tasks, began)
        comment = build_comment(
            pr,
            tasks,
            commits,
            events,
            load_evidence(session, repo_id, sorted(shas)),
            prices,
            revision=Revision(head, at),
            history=history,
            representatives=config.config.tiers.representatives,
            on_prs_without_agents=config.config.comment.on_prs_without_agents,
            layout=config.config.comment.layout,
            task_url=task_page(self.settings.public_url, installation, tasks[0]) if tasks else None,
        )
        problems = [*config.errors, *([price_error] if price_error else [])]
        return _with_problems(comment, problems) if comment and problems else comment

    def _sync(
        self,
        ledger: LedgerAccess,
        repo_id: int,
        repo: Repository,
        number: int,
        comment: Comment,
        config: ConfigResult,
    ) -> None:
        """Write the comment with as few calls as possible: none when nothing changed, one edit
        by id when it did, and a search by marker only when no comment is known."""
        with ledger.read() as session:
            stored = load_pr_comment(session, repo_id, number)
        digest = content_hash(comment.body)
        if stored is not None:
            revision = Revision(stored.head_sha, stored.event_time)
            if is_newer(revision, comment.revision) or stored.body_hash == digest:
                return
            if not wanted(comment, config.config.comment, exists=True):
                return
            if self._edit_by_id(repo, stored.comment_id, comment):
                self._remember(ledger, repo_id, number, stored.comment_id, comment)
                return
        written = self._find_or_create(repo, number, comment, config)
        if written is not None:
            self._remember(ledger, repo_id, number, written, comment)

    def _edit_by_id(self, repo: Repository, comment_id: int, comment: Comment) -> bool:
        """Edit our known comment; False when it is gone (deleted by someone)."""
        existing = IssueComment(repo._requester, url=f"{repo.url}/issues/comments/{comment_id}")
        try:
            existing.edit(comment.body)
        except GithubException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _find_or_create(
        self, repo: Repository, number: int, comment: Comment, config: ConfigResult
    ) -> int | None:
        """The comment's id after a search by marker: edited, created, or deduplicated."""
        issue = repo.get_issue(number)
        ours = self._ours(issue.get_comments())
        if not ours:
            if not wanted(comment, config.config.comment, exists=False):
                return None
            created = _create_once(lambda: issue.create_comment(comment.body), "cost comment")
            # listed again: a racing worker may have posted too, or the uncertain create landed
            ours = self._ours(issue.get_comments()) or ([created] if created else [])
            if not ours:
                raise _unsettled("cost comment")
        keep, extra = ours[0], ours[1:]
        for duplicate in extra:
            _delete(duplicate)
        stored = parse_marker(keep.body)
        newer = stored is not None and is_newer(stored, comment.revision)
        if not newer and not same_content(keep.body, comment.body):
            keep.edit(comment.body)
        return keep.id

    def _remember(
        self, ledger: LedgerAccess, repo_id: int, number: int, comment_id: int, comment: Comment
    ) -> None:
        revision = comment.revision
        digest = content_hash(comment.body)
        stored = StoredComment(comment_id, digest, revision.head_sha, revision.event_time)
        with ledger.write() as session:
            save_pr_comment(session, repo_id, number, stored)

    def _ours(self, comments: Iterable[IssueComment]) -> list[IssueComment]:
        """Our bot's marked comments, oldest first."""
        login = self.bot_login
        found = [
            c
            for c in comments
            if c.user is not None and c.user.login == login and parse_marker(c.body)
        ]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def _check_run(self, repo: Repository, comment: Comment, config: ConfigResult) -> None:
        title, summary, text, conclusion = check_run_output(comment, config.config.budget)
        output = {"title": title, "summary": summary, "text": text}
        head = comment.revision.head_sha
        existing = self._our_check_run(repo, head)
        if existing is None:
            created = _create_once(
                lambda: repo.create_check_run(
                    CHECK_NAME, head, status="completed", conclusion=conclusion, output=output
                ),
                "check run",
            )
            if created is None and self._our_check_run(repo, head) is None:
                raise _unsettled("check run")
        elif existing.output.summary != summary or existing.conclusion != conclusion:
            existing.edit(status="completed", conclusion=conclusion, output=output)

    def _our_check_run(self, repo: Repository, head: str) -> CheckRun | None:
        """Our App's run of ``CHECK_NAME`` on ``head``; another app's run of that name (a CI job
        called "Token yield", say) is never ours to edit."""
        runs = repo.get_commit(head).get_check_runs(check_name=CHECK_NAME)
        return next((run for run in runs if run.app.id == self.app.app_id), None)


def _history(
    session: Session, repo_id: int, repository: str, installation: int | None,
    tasks: Sequence[Task], began: datetime,
) -> History:  # fmt: skip
    """The history of the tasks' classes in this repository, or in every repository of the
    installation when this one alone has too little (``too_little``) for one of them: the tasks
    finished before these ``began``, so the comment neither weighs a task against itself nor
    changes as later tasks finish."""
    connection = session.connection()
    classes = {t.task_class for t in tasks}
    own = history_of(history_outcomes(connection, {repository: repo_id}, began), classes)
    if installation is None or not any(too_little(own, c) for c in classes):
        return own
    found = load_installation(session, installation)
    if found is None or len(found.repo_ids) < 2:
        return own
    everywhere = history_outcomes(connection, found.repo_ids, began)
    return history_of(everywhere, classes, INSTALLATION)


def task_page(public_url: str | None, installation: int | None, task: Task) -> str | None:
    """The task's page on the dashboard (``webhooks.dashboard.task``), when the App knows its
    public URL; every part from the ledger is percent-encoded (the comment checks the whole)."""
    if not public_url or installation is None:
        return None
    owner, _, repo = task.repository.partition("/")
    key = task.id.removeprefix(f"{task.repository}:")
    path = f"{quote(owner, safe='')}/{quote(repo, safe='')}/{quote(key, safe='/:')}"
    return f"{public_url}/installations/{installation}/tasks/{path}"


def _create_once(create: Callable[[], T], what: str) -> T | None:
    """Send a create once; None when its answer leaves unknown whether GitHub did it (the
    caller then looks for it before creating again: never twice)."""
    try:
        return create()
    except Exception as exc:
        if not uncertain(exc):
            raise
        log.warning("%s: create uncertain (%s), looking for it", what, type(exc).__name__)
        return None


def _unsettled(what: str) -> RetryLater:
    """Run the delivery again once an uncertain create, not listed yet, has surely settled."""
    at = datetime.now(UTC) + UNCERTAIN_WAIT
    return RetryLater(f"{what}: create uncertain and not listed yet, looked for later", at)


def _delete(comment: IssueComment) -> None:
    """Delete our duplicate; already gone is fine (a retried DELETE whose first was done)."""
    try:
        comment.delete()
    except GithubException as exc:
        if exc.status != 404:
            raise


def content_hash(body: str) -> str:
    """A digest of what the comment says, its revision left out (as ``same_content`` does)."""
    blank = MARKER_RE.sub("<!-- yield-auditor:pr-comment v1 -->", body)
    return hashlib.sha256(blank.encode()).hexdigest()


def _with_problems(comment: Comment, problems: list[str]) -> Comment:
    """The comment with a note, before its marker, on configuration that could not be used."""
    note = "\n".join(f"> ⚠️ {md(problem, 300)}" for problem in problems)
    cut = comment.body.rfind(MARKER_START)
    body = f"{comment.body[:cut].rstrip()}\n\n{note}\n\n{comment.body[cut:]}"
    return dataclasses.replace(comment, body=body)
