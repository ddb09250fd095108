"""The fake GitHub's URL rules: one small view per REST endpoint the App calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from bot.demo.fake_github.api import (
    answer,
    app_json,
    arrive,
    base,
    check_run_json,
    comment_json,
    commit_json,
    content_json,
    delivery_json,
    fail,
    fault_response,
    file_json,
    installation_for,
    int_arg,
    json_response,
    label_json,
    new_token,
    page,
    pull_json,
    repo_json,
    run_app,
    stamp,
    user_json,
    verify_jwt,
)
from bot.demo.fake_github.history import register_history
from bot.demo.fake_github.manifest import register_manifest
from bot.demo.fake_github.oauth import register_oauth
from bot.demo.fake_github.state import Comment, Delivery, Issue, Pull, State, now

REPO = "/repos/<owner>/<name>"
MAX_PULL_COMMITS = 250  # GitHub lists at most 250 commits of a pull request
MAX_FILES = 3000  # ... and at most 3,000 files of a diff
COMMIT_FILES_PAGE = 300


def create_app(state: State, public_key: Any) -> Flask:
    """The WSGI app serving ``state``; ``public_key`` verifies the App's JWTs."""
    app = Flask("fake-github")

    @app.before_request
    def arrived() -> Response | None:
        g.record = arrive(state)
        fault = state.take_fault(request.method, request.path)
        answered = None if fault is None else fault_response(state, fault)
        g.fault = None if answered is None else fault.kind
        return answered

    @app.after_request
    def answered(response: Response) -> Response:
        answer(state, g.record, response, g.get("fault"))
        return response

    state.public_key = public_key
    register(app, state, lambda: verify_jwt(state, state.public_key))
    return app


def register(app: Flask, state: State, app_auth: Callable[[], None]) -> None:
    """Add every endpoint to ``app``; ``app_auth`` aborts unless the App's JWT is valid."""
    _app_routes(app, state, app_auth)
    _pull_routes(app, state)
    _comment_routes(app, state)
    _issue_routes(app, state)
    _check_routes(app, state)
    register_oauth(app, state)
    register_history(app, state, app_auth)
    register_manifest(app, state)

    @app.get("/rate_limit")
    def rate_limit() -> Response:
        with state.lock:
            core = {
                "limit": state.rate_limit,
                "used": state.rate_used,
                "remaining": max(state.rate_limit - state.rate_used, 0),
                "reset": state.rate_reset,
            }
        return json_response({"resources": {"core": core, "search": core}, "rate": core})

    @app.get(f"{REPO}")
    def get_repo(owner: str, name: str) -> Response:
        return json_response(repo_json(installation_for(state, f"{owner}/{name}")))

    @app.get(f"{REPO}/contents/<path:path>")
    def get_content(owner: str, name: str, path: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}")
        ref = request.args.get("ref") or repo.default_branch
        data = state.contents.get((repo.full_name, ref, path))
        if data is None:
            fail(404, "Not Found")
        return json_response(content_json(repo.full_name, path, ref, data))


def _app_routes(app: Flask, state: State, app_auth: Callable[[], None]) -> None:
    @app.post("/app/installations/<int:installation_id>/access_tokens")
    def access_token(installation_id: int) -> Response:
        app_auth()
        if installation_id not in state.installations:
            fail(404, "Not Found")
        token, expires = new_token(state, installation_id)
        body = {
            "token": token,
            "expires_at": stamp(expires),
            "permissions": app_json(state)["permissions"],
            "repository_selection": "all",
        }
        return json_response(body, 201)

    @app.get("/app")
    def get_app() -> Response:
        app_auth()
        return json_response(app_json(state))

    @app.get("/app/hook/deliveries")
    def list_deliveries() -> Response:
        app_auth()
        return _deliveries_page(state)

    @app.get("/app/hook/deliveries/<int:delivery_id>")
    def get_delivery(delivery_id: int) -> Response:
        app_auth()
        return json_response(delivery_json(_delivery(state, delivery_id), detail=True))

    @app.post("/app/hook/deliveries/<int:delivery_id>/attempts")
    def redeliver(delivery_id: int) -> Response:
        app_auth()
        original = _delivery(state, delivery_id)
        with state.lock:
            state.deliveries.append(
                Delivery(
                    id=state.next_id(),
                    guid=original.guid,
                    event=original.event,
                    action=original.action,
                    status_code=state.redelivery_status_code,
                    delivered_at=now(),
                    redelivery=True,
                    installation_id=original.installation_id,
                    repository_id=original.repository_id,
                )
            )
        return json_response({}, 202)


def _delivery(state: State, delivery_id: int) -> Delivery:
    for delivery in state.deliveries:
        if delivery.id == delivery_id:
            return delivery
    fail(404, "Not Found")


def _deliveries_page(state: State) -> Response:
    """Newest first, with cursor pagination as GitHub does for this endpoint."""
    per_page = min(max(int(request.args.get("per_page", 30)), 1), 100)
    cursor = request.args.get("cursor", "v1_0")
    start = int(cursor.removeprefix("v1_")) if cursor.startswith("v1_") else 0
    with state.lock:
        ordered = sorted(state.deliveries, key=lambda d: (d.delivered_at, d.id), reverse=True)
    chunk = ordered[start : start + per_page]
    headers = {}
    if start + per_page < len(ordered):
        query = f"per_page={per_page}&cursor=v1_{start + per_page}"
        headers["Link"] = f'<{request.host_url}app/hook/deliveries?{query}>; rel="next"'
    return json_response([delivery_json(d) for d in chunk], headers=headers)


def _pull(state: State, owner: str, name: str, number: int) -> tuple[str, Pull]:
    repo = installation_for(state, f"{owner}/{name}").full_name
    pull = state.pulls.get((repo, number))
    if pull is None:
        fail(404, "Not Found")
    return repo, pull


def _pull_routes(app: Flask, state: State) -> None:
    @app.get(f"{REPO}/pulls/<int:number>")
    def get_pull(owner: str, name: str, number: int) -> Response:
        repo, pull = _pull(state, owner, name, number)
        return json_response(pull_json(state, repo, pull))

    @app.get(f"{REPO}/pulls/<int:number>/commits")
    def pull_commits(owner: str, name: str, number: int) -> Response:
        repo, pull = _pull(state, owner, name, number)
        commits = [state.commits[(repo, sha)] for sha in pull.commits[:MAX_PULL_COMMITS]]
        chunk, headers = page(commits)
        return json_response([commit_json(repo, c) for c in chunk], headers=headers)

    @app.get(f"{REPO}/pulls/<int:number>/files")
    def pull_files(owner: str, name: str, number: int) -> Response:
        repo, pull = _pull(state, owner, name, number)
        head = pull.commits[-1] if pull.commits else pull.base_sha
        chunk, headers = page(list(state.pull_files(pull, repo))[:MAX_FILES])
        return json_response([file_json(repo, f, head) for f in chunk], headers=headers)

    @app.get(f"{REPO}/commits/<ref>")
    def get_commit(owner: str, name: str, ref: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        commit = state.commit_of(repo, ref)
        if commit is None:
            fail(422, f"No commit found for SHA: {ref}")
        files, headers = page(commit.files[:MAX_FILES], COMMIT_FILES_PAGE, COMMIT_FILES_PAGE)
        added = sum(f.counts()[0] for f in commit.files)
        deleted = sum(f.counts()[1] for f in commit.files)
        body = {
            **commit_json(repo, commit),
            "stats": {"additions": added, "deletions": deleted, "total": added + deleted},
            "files": [file_json(repo, f, commit.sha) for f in files],
        }
        return json_response(body, headers=headers)


def _comment(state: State, owner: str, name: str, comment_id: int) -> Comment:
    repo = installation_for(state, f"{owner}/{name}").full_name
    comment = state.comments.get(comment_id)
    if comment is None or comment.repo != repo:
        fail(404, "Not Found")
    return comment


def _body_text(key: str) -> str:
    document: Any = request.get_json(silent=True)
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, str):
        fail(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
    return value


def _comment_routes(app: Flask, state: State) -> None:
    @app.get(f"{REPO}/issues/<int:number>/comments")
    def list_comments(owner: str, name: str, number: int) -> Response:
        repo, _ = _issue(state, owner, name, number)
        chunk, headers = page(state.comments_on(repo, number))
        return json_response([comment_json(state, c) for c in chunk], headers=headers)

    @app.post(f"{REPO}/issues/<int:number>/comments")
    def create_comment(owner: str, name: str, number: int) -> Response:
        repo, _ = _issue(state, owner, name, number)
        body = _body_text("body")
        with state.lock:
            comment = Comment(state.next_id(), repo, number, body, state.bot)
            state.comments[comment.id] = comment
        return json_response(comment_json(state, comment), 201)

    @app.get(f"{REPO}/issues/comments/<int:comment_id>")
    def get_comment(owner: str, name: str, comment_id: int) -> Response:
        return json_response(comment_json(state, _comment(state, owner, name, comment_id)))

    @app.patch(f"{REPO}/issues/comments/<int:comment_id>")
    def edit_comment(owner: str, name: str, comment_id: int) -> Response:
        comment = _comment(state, owner, name, comment_id)
        body = _body_text("body")
        with state.lock:
            comment.body, comment.updated_at = body, now()
        return json_response(comment_json(state, comment))

    @app.delete(f"{REPO}/issues/comments/<int:comment_id>")
    def delete_comment(owner: str, name: str, comment_id: int) -> Response:
        comment = _comment(state, owner, name, comment_id)
        with state.lock:
            state.comments.pop(comment.id, None)
        return Response(status=204)


def issue_json(state: State, repo: str, item: Issue | Pull) -> dict[str, Any]:
    """An issue (``issue``); a pull request is one too, with its ``pull_request`` links."""
    url = f"{base()}/repos/{repo}/issues/{item.number}"
    pull = item if isinstance(item, Pull) else None
    kind = "issues" if pull is None else "pull"
    document = {
        "id": item.id,
        "node_id": f"I_{item.id}",
        "number": item.number,
        "url": url,
        "repository_url": f"{base()}/repos/{repo}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{base()}/{repo}/{kind}/{item.number}",
        "title": item.title,
        "body": item.body,
        "state": item.state,
        "locked": False,
        "user": user_json(item.user),
        "labels": []
        if pull is None
        else [label_json(repo, i, n) for i, n in enumerate(pull.labels, 1)],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": len(state.comments_on(repo, item.number)),
        "created_at": stamp(item.created_at),
        "updated_at": stamp(item.updated_at),
        "closed_at": stamp(item.closed_at),
        "author_association": "CONTRIBUTOR" if pull else "NONE",
    }
    if pull is not None:
        html = f"{base()}/{repo}/pull/{pull.number}"
        document["pull_request"] = {
            "url": f"{base()}/repos/{repo}/pulls/{pull.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": stamp(pull.merged_at),
        }
    return document


def _issue(state: State, owner: str, name: str, number: int) -> tuple[str, Issue | Pull]:
    """Issue ``number``, or the pull request of that number (which GitHub counts as one)."""
    repo = installation_for(state, f"{owner}/{name}").full_name
    with state.lock:
        found = state.issues.get((repo, number)) or state.pulls.get((repo, number))
    if found is None:
        fail(404, "Not Found")
    return repo, found


def _issue_routes(app: Flask, state: State) -> None:
    """Issues, pull requests among them as GitHub lists them (with a ``pull_request`` key)."""

    @app.get(f"{REPO}/issues")
    def list_issues(owner: str, name: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        wanted = request.args.get("state", "open")
        if wanted not in ("open", "closed", "all"):
            fail(422, "Validation Failed")
        with state.lock:
            found = [i for (r, _), i in (*state.issues.items(), *state.pulls.items()) if r == repo]
        found = [i for i in found if wanted in ("all", i.state)]
        newest = request.args.get("direction", "desc") == "desc"
        found.sort(key=lambda i: i.number, reverse=newest)
        chunk, headers = page(found)
        return json_response([issue_json(state, repo, i) for i in chunk], headers=headers)

    @app.post(f"{REPO}/issues")
    def create_issue(owner: str, name: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        title = _body_text("title")
        body = (request.get_json(silent=True) or {}).get("body") or ""
        with state.lock:
            number = state.next_number(repo)
            issue = Issue(number, state.next_id(), repo, title, body, state.bot)
            state.issues[(repo, number)] = issue
        return json_response(issue_json(state, repo, issue), 201)

    @app.get(f"{REPO}/issues/<int:number>")
    def get_issue(owner: str, name: str, number: int) -> Response:
        return json_response(issue_json(state, *_issue(state, owner, name, number)))

    @app.patch(f"{REPO}/issues/<int:number>")
    def edit_issue(owner: str, name: str, number: int) -> Response:
        repo, item = _issue(state, owner, name, number)
        changes = request.get_json(silent=True) or {}
        if changes.get("state", "open") not in ("open", "closed"):
            fail(422, "Validation Failed")
        with state.lock:
            for key in ("title", "body", "state"):
                if isinstance(changes.get(key), str):
                    setattr(item, key, changes[key])
            item.updated_at = now()
            if item.state == "closed" and item.closed_at is None:
                item.closed_at = item.updated_at
        return json_response(issue_json(state, repo, item))


def _check_routes(app: Flask, state: State) -> None:
    @app.post(f"{REPO}/check-runs")
    def create_check_run(owner: str, name: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        fields = {"name": _body_text("name"), "head_sha": _body_text("head_sha")}
        with state.lock:
            run = {**request.get_json(), **fields, "id": state.next_id(), "repo": repo}
            run["app"] = run_app(state, {})  # the run belongs to the App that made it
            state.check_runs[run["id"]] = run
        return json_response(check_run_json(state, repo, run), 201)

    @app.get(f"{REPO}/check-runs/<int:run_id>")
    def get_check_run(owner: str, name: str, run_id: int) -> Response:
        repo, run = _check_run(state, owner, name, run_id)
        return json_response(check_run_json(state, repo, run))

    @app.patch(f"{REPO}/check-runs/<int:run_id>")
    def update_check_run(owner: str, name: str, run_id: int) -> Response:
        repo, run = _check_run(state, owner, name, run_id)
        owner_id = run_app(state, run)["id"]
        if owner_id != state.app_id:
            fail(
                403,
                f"Invalid app_id `{owner_id}` - check run can only be modified by the "
                "GitHub App that created it.",
            )
        changes = request.get_json(silent=True) or {}
        with state.lock:
            run.update({k: v for k, v in changes.items() if k not in ("id", "repo", "app")})
        return json_response(check_run_json(state, repo, run))

    @app.get(f"{REPO}/commits/<ref>/check-runs")
    def list_check_runs(owner: str, name: str, ref: str) -> Response:
        repo = installation_for(state, f"{owner}/{name}").full_name
        with state.lock:
            runs = [
                r for r in state.check_runs.values() if (r["repo"], r["head_sha"]) == (repo, ref)
            ]
            runs = _filtered_runs(state, runs)
        chunk, headers = page(runs)
        body = {
            "total_count": len(runs),
            "check_runs": [check_run_json(state, repo, r) for r in chunk],
        }
        return json_response(body, headers=headers)


def _filtered_runs(state: State, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``check_name``, ``status`` and ``app_id`` as GitHub filters them, and ``filter``: the
    latest run of each app and name (the default) or ``all``."""
    args = request.args
    if args.get("filter", "latest") not in ("latest", "all"):
        fail(422, "Validation Failed")
    if args.get("status", "completed") not in ("queued", "in_progress", "completed"):
        fail(422, "Validation Failed")
    if "check_name" in args:
        runs = [r for r in runs if r["name"] == args["check_name"]]
    if "status" in args:
        runs = [r for r in runs if r.get("status", "queued") == args["status"]]
    if "app_id" in args:
        app_id = int_arg("app_id", 0)
        runs = [r for r in runs if run_app(state, r)["id"] == app_id]
    if args.get("filter", "latest") == "latest":
        latest = {}
        for run in runs:  # ids grow: the last seen of a name is its latest
            latest[(run_app(state, run)["id"], run["name"])] = run
        runs = sorted(latest.values(), key=lambda r: r["id"])
    return runs


def _check_run(state: State, owner: str, name: str, run_id: int) -> tuple[str, dict[str, Any]]:
    repo = installation_for(state, f"{owner}/{name}").full_name
    run = state.check_runs.get(run_id)
    if run is None or run["repo"] != repo:
        fail(404, "Not Found")
    return repo, run
