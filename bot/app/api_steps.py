"""The worker's GitHub API steps: what ``Changes.needs_api`` names and payloads do not carry.

- ``pull_request.commits``: the pull request's commits (one request per 100, GitHub lists 250
  at most) with their GitHub accounts (login, id, type), so bot ids win over names. Skipped
  when the payload's head commit is already stored for this pull request with its files and the
  ledger holds as many of its commits as the payload counts (the push was processed first).
- ``pull_request.files`` and ``push.files``: each commit's files (its footprint), one request
  per commit not yet stored with files, newest first, at most ``MAX_COMMITS`` per delivery.
- ``pull_request.survival``: on merge, each agent commit's share of added lines still in the
  merged diff (see ``survival``).

Every step writes through ``write_commits``, which keeps what the ledger already knows (files,
survival) when a step brings less, and counts its requests (``bot.github.client.api_calls``).
A rate limit becomes ``RetryLater``: the worker runs the delivery again after it, asleep never.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from github import GithubException
from github.Commit import Commit
from github.GitAuthor import GitAuthor
from github.HookDelivery import HookDeliverySummary
from github.NamedUser import NamedUser
from github.PaginatedList import PaginatedList
from github.Repository import Repository
from requests import RequestException
from sqlalchemy.orm import Session

from bot.app.apply import ApiStep, LedgerAccess, keep_known
from bot.app.repo_config import RepoConfig, analyser_for
from bot.app.router import Changes, CommitSeen
from bot.app.worker import RetryLater
from bot.engine.analysis import Analyser
from bot.engine.facts import commit_facts
from bot.engine.records import CommitFacts, FileChange, PullRequest
from bot.github.client import GitHubApp, RateLimited, api_calls, rate_limits, uncertain
from bot.ledger.inbox import Delivery
from bot.ledger.store import load_commits, load_evidence, upsert_commits
from bot.protocol.commit import CommitInfo, Identity

log = logging.getLogger(__name__)

MAX_COMMITS = 100  # commits whose files one delivery fetches (one request each)
MAX_COMMIT_FILES = 300  # files read per commit: GitHub's first page
MAX_SURVIVAL_COMMITS = 50  # agent commits measured at a merge (one request each)
MAX_SURVIVAL_FILES = 1000  # files of the merged diff read (100 per request)

COMMITS = "pull_request.commits"
FILES = "pull_request.files"
PUSH_FILES = "push.files"
SURVIVAL = "pull_request.survival"
DELIVERIES = "/app/hook/deliveries"


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a step did: ``done`` items, ``skipped`` over its bound, and why when it did less."""

    step: str
    done: int = 0
    skipped: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """The repository a step works on, on GitHub (a lazy PyGithub object) and in the ledger."""

    github: Repository
    name: str
    ledger: LedgerAccess  # short transactions: none is open during a GitHub call
    repo_id: int
    analyser: Analyser

    def stored(self) -> dict[str, CommitFacts]:
        with self.ledger.read() as session:
            return {c.sha: c for c in load_commits(session, self.repo_id)}

    def write(self, commits: Sequence[CommitSeen], stored: dict[str, CommitFacts]) -> int:
        """Write ``commits``, keeping what the ledger knows now (read again in the write's
        transaction: another delivery may have written since ``stored`` was read)."""
        with self.ledger.write() as session:
            shas = [seen.info.sha for seen in commits]
            now = {c.sha: c for c in load_commits(session, self.repo_id, shas=shas)}
            return write_commits(
                session, self.repo_id, self.name, commits, self.analyser, {**stored, **now}
            )


Step = Callable[[Target, Delivery, Changes], Coverage]


def api_steps(
    app: GitHubApp,
    analyser: Analyser,
    repo_config: Callable[[Delivery], RepoConfig | None] | None = None,
) -> dict[str, ApiStep]:
    """The steps for ``Worker(api_steps=...)``, each counting its calls and logging coverage;
    ``repo_config`` (the worker's) adds a repository's declared agent identities."""
    steps: dict[str, Step] = {
        COMMITS: pull_request_commits,
        FILES: pull_request_files,
        PUSH_FILES: push_files,
        SURVIVAL: pull_request_survival,
    }
    return {name: _guarded(app, analyser, name, step, repo_config) for name, step in steps.items()}


def _guarded(
    app: GitHubApp,
    analyser: Analyser,
    name: str,
    step: Step,
    repo_config: Callable[[Delivery], RepoConfig | None] | None,
) -> ApiStep:
    def run(
        ledger: LedgerAccess, repo_id: int | None, delivery: Delivery, changes: Changes
    ) -> None:
        if repo_id is None or delivery.installation_id is None or changes.repository is None:
            log.info("%s: no installation or repository, nothing fetched", name)
            return
        github = app.installation(delivery.installation_id).get_repo(changes.repository)
        config = repo_config(delivery) if repo_config else None
        target = Target(github, changes.repository, ledger, repo_id, analyser_for(config, analyser))
        with api_calls() as calls:
            try:
                with rate_limits():
                    coverage = step(target, delivery, changes)
            except RateLimited as exc:
                raise RetryLater(f"{name}: {exc}", exc.retry_at) from exc
        log.info(
            "%s: %d done, %d skipped, %d GitHub API calls %s",
            name,
            coverage.done,
            coverage.skipped,
            calls.count,
            coverage.note,
        )

    return run


# --------------------------------------------------------------------------- writing commits


def write_commits(
    session: Session,
    repo_id: int,
    repository: str,
    commits: Sequence[CommitSeen],
    analyser: Analyser,
    stored: dict[str, CommitFacts],
) -> int:
    """Analyse and upsert ``commits`` as ``bot.app.apply`` does, keeping what ``stored``
    versions know and these lack (files, parents, pull request, branch, survival)."""
    facts, evidence = [], {}
    for seen in commits:
        analysis = analyser.analyse(seen.info)
        fact = commit_facts(analysis, repository, seen.parents, seen.files, seen.pr_number)
        facts.append(keep_known(fact, stored.get(seen.info.sha)))
        if (document := analysis.detection.stored_evidence()) is not None:
            evidence[seen.info.sha] = document
    return upsert_commits(session, repo_id, facts, evidence)


def commit_info(commit: Commit, branch: str | None) -> CommitInfo:
    """A commit of GitHub's API as the engine reads it, GitHub accounts included."""
    git = commit.commit
    return CommitInfo(
        sha=commit.sha,
        message=git.message,
        author=_identity(git.author, commit.author),
        committer=_identity(git.committer, commit.committer),
        authored_at=git.author.date,
        committed_at=git.committer.date,
        branch=branch,
    )


def _identity(person: GitAuthor, account: NamedUser | None) -> Identity:
    if account is None:  # the e-mail matches no GitHub account
        return Identity(person.name or "", person.email or "")
    return Identity(person.name or "", person.email or "", account.login, account.id, account.type)


# --------------------------------------------------------------------------- pull request commits


def pull_request_commits(target: Target, delivery: Delivery, changes: Changes) -> Coverage:
    pr = _pull_request(changes)
    stored = target.stored()
    if _already_known(pr, stored, _payload_commit_count(delivery)):
        return Coverage(COMMITS, note="(head commit already stored)")
    listed = [
        CommitSeen(commit_info(c, pr.head_ref), pr.number, tuple(p.sha for p in c.parents))
        for c in target.github.get_pull(pr.number).get_commits()
    ]
    target.write(listed, stored)
    return Coverage(COMMITS, done=len(listed))


def _pull_request(changes: Changes) -> PullRequest:
    if not changes.pull_requests:
        raise ValueError("a pull_request step needs the pull request in the changes")
    return changes.pull_requests[0]


def _payload_commit_count(delivery: Delivery) -> int | None:
    count = delivery.payload().get("pull_request", {}).get("commits")
    return count if isinstance(count, int) else None


def _already_known(pr: PullRequest, stored: dict[str, CommitFacts], count: int | None) -> bool:
    """Whether the ledger has every commit the payload announces, read from the API."""
    head = stored.get(pr.head_sha or "")
    if count is None or head is None or head.pr_number != pr.number or not head.files:
        return False
    return sum(1 for c in stored.values() if c.pr_number == pr.number) >= count


# --------------------------------------------------------------------------- files


def pull_request_files(target: Target, delivery: Delivery, changes: Changes) -> Coverage:
    """The files of the pull request's stored commits that have none yet, newest first."""
    pr = _pull_request(changes)
    stored = target.stored()
    mine = sorted(
        (c for c in stored.values() if c.pr_number == pr.number and not c.files),
        key=lambda c: c.committed_at,
        reverse=True,
    )
    return _fetch_files(target, [c.sha for c in mine], stored, FILES)


def push_files(target: Target, delivery: Delivery, changes: Changes) -> Coverage:
    """The files of the pushed commits that have none yet, newest first."""
    stored = target.stored()
    newest_first = [s.info.sha for s in reversed(changes.commits)]
    missing = [sha for sha in newest_first if sha not in stored or not stored[sha].files]
    return _fetch_files(target, missing, stored, PUSH_FILES)


def _fetch_files(
    target: Target, shas: Sequence[str], stored: dict[str, CommitFacts], step: str
) -> Coverage:
    """Fetch the first ``MAX_COMMITS`` of ``shas`` whole (identities, parents, files)."""
    fetched = [
        _commit_with_files(target.github, sha, stored.get(sha)) for sha in shas[:MAX_COMMITS]
    ]
    target.write(fetched, stored)
    skipped = len(shas) - len(fetched)
    note = f"(over {MAX_COMMITS} commits: the oldest left without files)" if skipped else ""
    return Coverage(step, done=len(fetched), skipped=skipped, note=note)


def _commit_with_files(repo: Repository, sha: str, known: CommitFacts | None) -> CommitSeen:
    commit = repo.get_commit(sha, commit_files_per_page=MAX_COMMIT_FILES)
    info = commit_info(commit, known.branch if known else None)
    files = tuple(
        FileChange(f.filename, f.additions, f.deletions)
        for f in islice(commit.files, MAX_COMMIT_FILES)
    )
    parents = tuple(p.sha for p in commit.parents)
    return CommitSeen(info, known.pr_number if known else None, parents, files)


# --------------------------------------------------------------------------- survival


def pull_request_survival(target: Target, delivery: Delivery, changes: Changes) -> Coverage:
    """Each agent commit's share of added lines present in the merged pull request's diff.

    An approximation without a clone: a line survives when the same text (trimmed, blank lines
    left out) is added to the same file (followed through renames) by the pull request's diff.
    Newer commits claim matching lines first, as ``git blame`` gives a rewritten line to the
    later commit. Files whose patch GitHub leaves out (binary, very large) are not counted, on
    either side. At most ``MAX_SURVIVAL_COMMITS`` agent commits (the newest) and
    ``MAX_SURVIVAL_FILES`` files of the merged diff are read.
    """
    pr = _pull_request(changes)
    if pr.state != "merged":
        return Coverage(SURVIVAL, note="(not merged)")
    agent = sorted(
        (
            c
            for c in target.stored().values()
            if c.pr_number == pr.number and c.is_agent_work and c.lines_added > 0
        ),
        key=lambda c: c.committed_at,
        reverse=True,
    )
    if not agent:
        return Coverage(SURVIVAL, note="(no agent commits)")
    if all(c.survival is not None for c in agent[:MAX_SURVIVAL_COMMITS]):
        return Coverage(SURVIVAL, note="(measured already)")  # a redelivered merge
    merged = MergedDiff.read(target.github.get_pull(pr.number).get_files())
    chosen = agent[:MAX_SURVIVAL_COMMITS]
    measured = []
    for commit in chosen:
        github_commit = target.github.get_commit(commit.sha, commit_files_per_page=MAX_COMMIT_FILES)
        share = merged.claim(github_commit)
        if share is not None:
            measured.append(dataclasses.replace(commit, survival=share))
    with target.ledger.write() as session:
        evidence = load_evidence(session, target.repo_id, [c.sha for c in measured])
        upsert_commits(session, target.repo_id, measured, evidence)
    skipped = len(agent) - len(chosen)
    note = f"(over {MAX_SURVIVAL_COMMITS} agent commits: the oldest not measured)"
    return Coverage(SURVIVAL, done=len(measured), skipped=skipped, note=note if skipped else "")


def added_lines(patch: str | None) -> Counter[str]:
    """The non-blank lines a unified-diff hunk adds, trimmed, with their counts."""
    lines = (patch or "").splitlines()
    return Counter(line[1:].strip() for line in lines if line.startswith("+") and line[1:].strip())


@dataclass
class MergedDiff:
    """The merged diff's added lines per file, to be claimed by commits newest first."""

    remaining: dict[str, Counter[str]]
    renamed: dict[str, str]  # earlier path -> path in the merged diff

    @classmethod
    def read(cls, files: Iterable[Any]) -> MergedDiff:
        remaining: dict[str, Counter[str]] = {}
        renamed = {}
        for f in islice(files, MAX_SURVIVAL_FILES):
            if f.patch is not None:
                remaining[f.filename] = added_lines(f.patch)
            if f.previous_filename:
                renamed[f.previous_filename] = f.filename
        return cls(remaining, renamed)

    def claim(self, commit: Commit) -> float | None:
        """The share of the commit's added lines still in the diff; None if none can be read."""
        total = kept = 0
        for f in islice(commit.files, MAX_COMMIT_FILES):
            left = self.remaining.get(self.renamed.get(f.filename, f.filename))
            if left is None or f.patch is None:
                continue  # the merged diff does not show this file's lines: not counted
            for text, count in added_lines(f.patch).items():
                claimed = min(count, left[text])
                left[text] -= claimed
                kept, total = kept + claimed, total + count
        return kept / total if total else None


# --------------------------------------------------------------------------- redelivery


@dataclass(frozen=True, slots=True)
class Redelivered:
    """What ``redeliver_failed`` did: deliveries read, GUIDs asked again, GUIDs it could not,
    and GUIDs whose request got no clear answer (the next run sees whether they were)."""

    seen: int
    requested: tuple[str, ...]
    refused: tuple[str, ...]
    unanswered: tuple[str, ...] = ()


def redeliver_failed(
    app: GitHubApp, since: timedelta = timedelta(days=3), now: datetime | None = None
) -> Redelivered:
    """Ask GitHub once to redeliver each delivery of the last ``since`` that never succeeded.

    GitHub never redelivers on its own. A GUID counts as delivered when any of its attempts got
    a 2xx (``status`` "OK"); otherwise its newest failed attempt is redelivered. The list is
    read newest first (100 per request, as the App: JWT) and stops at ``since``. A request is
    sent once (a POST): one without a clear answer is not repeated, and the next run, an hour
    later, finds it delivered or asks again.
    """
    cutoff = (now or datetime.now(UTC)) - since
    requester = app.integration.requester
    listing = PaginatedList(HookDeliverySummary, requester, DELIVERIES, {"per_page": 100})
    requested, refused, unanswered = [], [], []
    with rate_limits():
        seen, undelivered = _undelivered(listing, cutoff)
        for guid, delivery_id in undelivered.items():
            try:
                requester.requestJsonAndCheck(
                    "POST", f"/app/hook/deliveries/{delivery_id}/attempts"
                )
            except RequestException as exc:  # no answer: a timeout, the connection lost
                log.warning("redelivery of %s: no answer (%s)", guid, type(exc).__name__)
                unanswered.append(guid)
            except GithubException as exc:
                if exc.status in (403, 429):
                    raise  # a rate limit: rate_limits() says when to run again
                log.warning("redelivery of %s: GitHub answered %s", guid, exc.status)
                (unanswered if uncertain(exc) else refused).append(guid)
            else:
                requested.append(guid)
    return Redelivered(seen, tuple(requested), tuple(refused), tuple(unanswered))


def _undelivered(listing: Iterable[Any], cutoff: datetime) -> tuple[int, dict[str, int]]:
    """How many deliveries were read, and the newest failed one of each never-delivered GUID."""
    delivered, failed, seen = set(), {}, 0
    for item in listing:
        if item.delivered_at < cutoff:
            break
        seen += 1
        if item.status == "OK":
            delivered.add(item.guid)
        else:
            failed.setdefault(item.guid, item.id)
    return seen, {guid: i for guid, i in failed.items() if guid not in delivered}
