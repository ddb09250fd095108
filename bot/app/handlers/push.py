"""push events: the commits pushed to a branch, and on the default branch the reverts they make.

A push payload carries each commit's message and identities but not its files, and not its
parents: they are chained in the order given (GitHub lists them oldest first), and the worker
fetches the files (``push.files``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.app.handlers.fields import Fields
from bot.app.router import Changes, CommitSeen, HandlerContext, Router
from bot.engine.records import REVERTED, Event
from bot.local.history import find_reverts
from bot.protocol.commit import CommitInfo, Identity

router = Router()

BRANCHES = "refs/heads/"
NO_COMMIT = "0" * 40  # ``before`` of a push that created the branch


@router.register("push")
def push(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """Commits pushed to a branch. The worker links them to the open pull request of that
    branch; a revert landing on the default branch is a post-merge bounce of what it reverts."""
    fields = Fields(payload)
    repository = fields.text("repository.full_name")
    ref = fields.text("ref")
    if not ref.startswith(BRANCHES):
        return Changes(repository=repository, ignored="not a branch (a tag or another ref)")
    if fields.flag("deleted"):
        return Changes(repository=repository, ignored="branch deleted")
    pushed = fields.objs("commits")
    if not pushed:
        return Changes(repository=repository, ignored="no commits pushed")
    branch = ref.removeprefix(BRANCHES)
    commits = _chain([_commit(c, branch) for c in pushed], fields.text("before"))
    on_default = branch == fields.maybe_text("repository.default_branch")
    events = _reverts(repository, commits) if on_default else []
    return Changes(repository=repository, commits=commits, events=events, needs_api=["push.files"])


def _commit(commit: Fields, branch: str) -> CommitInfo:
    """The push lists one timestamp per commit, so it serves as both author and commit time."""
    at = commit.time("timestamp")
    return CommitInfo(
        sha=commit.text("id"),
        message=commit.text("message"),
        author=_identity(commit, "author"),
        committer=_identity(commit, "committer"),
        authored_at=at,
        committed_at=at,
        branch=branch,
    )


def _identity(commit: Fields, role: str) -> Identity:
    """A missing name or e-mail leaves the identity partial: agent detection copes with that."""
    person = commit.maybe_obj(role)
    if person is None:
        return Identity()
    return Identity(
        name=person.maybe_text("name") or "",
        email=person.maybe_text("email") or "",
        github_login=person.maybe_text("username"),
    )


def _chain(infos: list[CommitInfo], before: str) -> list[CommitSeen]:
    parent = () if before == NO_COMMIT else (before,)
    commits = []
    for info in infos:
        commits.append(CommitSeen(info, parents=parent))
        parent = (info.sha,)
    return commits


def _reverts(repository: str, commits: list[CommitSeen]) -> list[Event]:
    return [
        Event(
            key=f"revert:{commit.info.sha}:{reverted}",
            kind=REVERTED,
            at=commit.info.committed_at,
            repository=repository,
            sha=reverted,
            source="push",
        )
        for commit in commits
        for reverted in find_reverts(commit.info.message)
    ]
