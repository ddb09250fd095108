"""The fake GitHub's history endpoints: what ``yield-auditor backfill`` reads.

With GitHub's shapes and ``Link`` pagination (docs.github.com/rest): the App's installation
(``GET /app/installations/{id}``, as the App), the repositories an installation token can
read (``GET /installation/repositories``), a repository's pull requests (``GET
/repos/{o}/{r}/pulls``: state, sort, direction, base), a pull request's reviews, a commit's
statuses and a branch's commits (``GET /repos/{o}/{r}/commits``: sha, since, until).

Seeding: ``add_review``, ``add_check_run`` (another app's run, GitHub Actions by default),
``add_status`` and ``set_branch``, next to ``FakeGitHub``'s own helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from bot.demo.fake_github.api import (
    base,
    commit_json,
    fail,
    installation_for,
    json_response,
    page,
    pull_json,
    repo_json,
    stamp,
    user_json,
)
from bot.demo.fake_github.oauth import installation_json
from bot.demo.fake_github.state import Commit, CommitStatus, Person, Review, State, now

if TYPE_CHECKING:
    from bot.demo.fake_github.server import FakeGitHub

REPO = "/repos/<owner>/<name>"
GITHUB_ACTIONS = {
    "id": 15368,
    "slug": "github-actions",
    "node_id": "MDM6QXBwMTUzNjg=",
    "name": "GitHub Actions",
    "owner": {"login": "github", "id": 9919, "type": "Organization"},
}
# Fields GitHub's pull request list leaves out: only ``GET /pulls/{n}`` computes them.
DETAIL_ONLY = ("merged", "commits", "additions", "deletions", "changed_files")
PULL_SORTS = {
    "created": lambda p: (p.created_at, p.number),
    "updated": lambda p: (p.updated_at, p.number),
}


# --------------------------------------------------------------------------- seeding


def add_review(
    fake: FakeGitHub,
    repo: str,
    number: int,
    state: str,
    *,
    user: Person,
    commit_id: str | None = None,
    submitted_at: datetime | None = None,
    review_id: int | None = None,
    body: str = "",
) -> int:
    """A review of pull request ``number`` (``state`` as the REST API spells it, e.g.
    ``CHANGES_REQUESTED``) on ``commit_id`` (default: the head); returns its id."""
    with fake.state.lock:
        pull = fake.state.pulls[(repo, number)]
        review = Review(
            review_id or fake.state.next_id(),
            repo,
            number,
            state,
            user,
            commit_id or (pull.commits[-1] if pull.commits else None),
            None if state == "PENDING" else submitted_at or now(),
            body,
        )
        fake.state.reviews.append(review)
    return review.id


def add_check_run(
    fake: FakeGitHub,
    repo: str,
    sha: str,
    name: str,
    conclusion: str | None,
    *,
    completed_at: datetime | None = None,
    app: dict[str, Any] | None = None,
    run_id: int | None = None,
) -> int:
    """A check run another app (GitHub Actions by default) made on ``sha``; ``conclusion`` None
    leaves it in progress. Returns its id."""
    done = completed_at or now()
    with fake.state.lock:
        run = {
            "id": run_id or fake.state.next_id(),
            "repo": repo,
            "name": name,
            "head_sha": sha,
            "status": "in_progress" if conclusion is None else "completed",
            "conclusion": conclusion,
            "started_at": stamp(done),
            "completed_at": None if conclusion is None else stamp(done),
            "app": app or GITHUB_ACTIONS,
        }
        fake.state.check_runs[run["id"]] = run
    return run["id"]


def add_status(
    fake: FakeGitHub,
    repo: str,
    sha: str,
    state: str,
    context: str = "ci/jenkins",
    *,
    at: datetime | None = None,
) -> int:
    """A commit status (``error``, ``failure``, ``pending`` or ``success``); returns its id."""
    with fake.state.lock:
        status = CommitStatus(fake.state.next_id(), repo, sha, state, context, at or now())
        fake.state.statuses.append(status)
    return status.id


def set_branch(fake: FakeGitHub, repo: str, branch: str, sha: str) -> None:
    """Point ``branch`` at commit ``sha`` (what ``GET /repos/{o}/{r}/commits`` walks from)."""
    with fake.state.lock:
        fake.state.branches[(repo, branch)] = sha


# --------------------------------------------------------------------------- shapes


def review_json(review: Review) -> dict[str, Any]:
    pull_url = f"{base()}/repos/{review.repo}/pulls/{review.number}"
    html = f"{base()}/{review.repo}/pull/{review.number}#pullrequestreview-{review.id}"
    document = {
        "id": review.id,
        "node_id": f"PRR_{review.id}",
        "user": user_json(review.user),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": "MEMBER",
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": review.commit_id,
    }
    if review.submitted_at is not None:
        document["submitted_at"] = stamp(review.submitted_at)
    return document


def status_json(status: CommitStatus) -> dict[str, Any]:
    return {
        "url": f"{base()}/repos/{status.repo}/statuses/{status.sha}",
        "avatar_url": f"{base()}/avatars/ci",
        "id": status.id,
        "node_id": f"SC_{status.id}",
        "state": status.state,
        "description": status.description,
        "target_url": None,
        "context": status.context,
        "created_at": stamp(status.at),
        "updated_at": stamp(status.at),
        "creator": user_json(Person("ci", "", "ci-bot", 4242, "Bot")),
    }


# --------------------------------------------------------------------------- endpoints


def register_history(app: Flask, state: State, app_auth: Callable[[], None]) -> None:
    """Add the history endpoints to the fake's ``app``; ``app_auth`` checks the App's JWT."""

    @app.get("/app/installations/<int:installation_id>")
    def get_installation(installation_id: int) -> Response:
        app_auth()
        if installation_id not in state.installations:
            fail(404, "Not Found")
        account = state.installations[installation_id]
        return json_response(installation_json(state, installation_id, account))

    @app.get("/installation/repositories")
    def installation_repositories() -> Response:
        installation_id = _token_installation(state)
        with state.lock:
            repos = sorted(
                (r for r in state.repos.values() if r.installation_id == installation_id),
                key=lambda r: r.full_name,
            )
        chunk, headers = page(repos)
        body = {
            "total_count": len(repos),
            "repository_selection": "selected",
            "repositories": [repo_json(r) for r in chunk],
        }
        return json_response(body, headers=headers)

    @app.get(f"{REPO}/pulls")
    def list_pulls(owner: str, name: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        with state.lock:
            found = [p for (r, _), p in state.pulls.items() if r == repo]
            chunk, headers = page(_filtered_pulls(found))
            body = [_listed(pull_json(state, repo, p)) for p in chunk]
        return json_response(body, headers=headers)

    @app.get(f"{REPO}/pulls/<int:number>/reviews")
    def list_reviews(owner: str, name: str, number: int) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        with state.lock:
            if (repo, number) not in state.pulls:
                fail(404, "Not Found")
            found = [r for r in state.reviews if (r.repo, r.number) == (repo, number)]
        chunk, headers = page(found)  # oldest first, as GitHub lists them
        return json_response([review_json(r) for r in chunk], headers=headers)

    @app.get(f"{REPO}/commits/<ref>/statuses")
    def list_statuses(owner: str, name: str, ref: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        with state.lock:
            found = [s for s in state.statuses if (s.repo, s.sha) == (repo, ref)]
        found.sort(key=lambda s: (s.at, s.id), reverse=True)  # newest first
        chunk, headers = page(found)
        return json_response([status_json(s) for s in chunk], headers=headers)

    @app.get(f"{REPO}/commits")
    def list_commits(owner: str, name: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}")
        ref = request.args.get("sha") or repo.default_branch
        with state.lock:
            head = state.branches.get((repo.full_name, ref), ref)
            if state.commit_of(repo.full_name, head) is None:
                if not any(r == repo.full_name for r, _ in state.branches):
                    fail(409, "Git Repository is empty.")
                fail(404, f"No commit found for SHA: {ref}")
            history = _history(state, repo.full_name, head)
        chunk, headers = page(_between(history, _time_arg("since"), _time_arg("until")))
        return json_response([commit_json(repo.full_name, c) for c in chunk], headers=headers)


def _token_installation(state: State) -> int:
    """The installation of the request's installation token (401 unless it is live)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    with state.lock:
        found = state.tokens.get(token.strip()) if scheme.lower() in ("token", "bearer") else None
    if found is None or found[1] <= now():
        fail(401, "Bad credentials")
    return found[0]


def _filtered_pulls(pulls: list) -> list:
    """``state`` (open by default), ``base``, then ``sort`` and ``direction`` as GitHub does:
    newest first for ``created`` (the default sort), oldest first otherwise."""
    wanted = request.args.get("state", "open")
    sort = request.args.get("sort", "created")
    if wanted not in ("open", "closed", "all") or sort not in PULL_SORTS:
        fail(422, "Validation Failed")
    direction = request.args.get("direction", "desc" if sort == "created" else "asc")
    chosen = [p for p in pulls if wanted in ("all", p.state)]
    if request.args.get("base"):
        chosen = [p for p in chosen if p.base_ref == request.args["base"]]
    return sorted(chosen, key=PULL_SORTS[sort], reverse=direction == "desc")


def _listed(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in DETAIL_ONLY}


def _history(state: State, repo: str, head: str) -> list[Commit]:
    """The commits reachable from ``head``, newest commit date first (as ``git log``)."""
    seen: dict[str, Commit] = {}
    todo = [head]
    while todo:
        commit = state.commit_of(repo, todo.pop())
        if commit is not None and commit.sha not in seen:
            seen[commit.sha] = commit
            todo.extend(commit.parents)
    return sorted(seen.values(), key=lambda c: (c.committed_at, c.sha), reverse=True)


def _between(history: list[Commit], since: datetime | None, until: datetime | None) -> list[Commit]:
    return [
        c
        for c in history
        if (since is None or c.committed_at >= since) and (until is None or c.committed_at <= until)
    ]


def _time_arg(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(422, f"{name} is not an ISO 8601 timestamp")
    if when.tzinfo is None:
        fail(422, f"{name} needs a time zone")
    return when
