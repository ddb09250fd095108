"""The fake GitHub's REST endpoints (a Flask app) with GitHub's response shapes.

Every URL it returns starts with the base URL the request came to, since PyGithub refuses
object URLs and ``Link`` headers on another host or port. Field names follow GitHub's REST
reference (docs.github.com/rest): pulls, commits, issue comments, check runs, contents, app
webhook deliveries and installation access tokens.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlencode

import jwt
from flask import Response, abort, request

from bot.demo.fake_github.state import (
    DELAY,
    ERROR,
    PRIMARY,
    Comment,
    Commit,
    Delivery,
    Fault,
    FileDiff,
    Person,
    Pull,
    Recorded,
    Repo,
    State,
    now,
)

DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
TOKEN_TTL = timedelta(hours=1)
MAX_JWT_LIFETIME = 600


def stamp(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def base() -> str:
    return request.host_url.rstrip("/")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    return json_response(body, status, headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, mimetype="application/json")


def fail(status: int, message: str) -> NoReturn:
    abort(error(status, message))


# --------------------------------------------------------------------------- shapes


def user_json(person: Person | None) -> dict[str, Any] | None:
    """A simple user (``simple-user``), or None for a git identity without an account."""
    if person is None or person.login is None:
        return None
    return account_json(person.login, person.id or 0, person.type)


def account_json(login: str, account_id: int, kind: str = "User") -> dict[str, Any]:
    url = f"{base()}/users/{login}"
    return {
        "login": login,
        "id": account_id,
        "node_id": f"U_{account_id}",
        "avatar_url": f"{base()}/avatars/{login}",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{base()}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": kind,
        "site_admin": False,
    }


# The ``{name}`` URL templates of a repository (``repository``), and its plain URL suffixes.
REPO_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "statuses_url": "/statuses/{sha}",
    "trees_url": "/git/trees{/sha}",
}
REPO_LINKS = ("contributors", "deployments", "downloads", "events", "forks", "hooks", "languages")
REPO_LINKS += ("merges", "stargazers", "subscribers", "subscription", "tags", "teams")


def repo_json(repo: Repo) -> dict[str, Any]:
    """A repository as ``GET /repos/{owner}/{repo}`` gives it (``full-repository``)."""
    owner, name = repo.full_name.split("/")
    url = f"{base()}/repos/{repo.full_name}"
    html = f"{base()}/{repo.full_name}"
    host = request.host.split(":")[0]
    created = "2026-01-01T00:00:00Z"
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": name,
        "full_name": repo.full_name,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "owner": account_json(owner, repo.id + 1, "Organization"),
        "html_url": html,
        "description": None,
        "fork": False,
        "url": url,
        **{key: f"{url}{suffix}" for key, suffix in REPO_TEMPLATES.items()},
        **{f"{key}_url": f"{url}/{key}" for key in REPO_LINKS},
        "git_url": f"git://{host}/{repo.full_name}.git",
        "ssh_url": f"git@{host}:{repo.full_name}.git",
        "clone_url": f"{html}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "size": 0,
        "default_branch": repo.default_branch,
        **dict.fromkeys(("forks", "forks_count", "open_issues", "open_issues_count"), 0),
        **dict.fromkeys(("stargazers_count", "watchers", "watchers_count"), 0),
        **dict.fromkeys(("network_count", "subscribers_count"), 0),
        **dict.fromkeys(("has_issues", "has_projects", "has_wiki", "has_downloads"), True),
        **dict.fromkeys(("has_pages", "has_discussions", "archived", "disabled"), False),
        "license": None,
        "pushed_at": created,
        "created_at": created,
        "updated_at": created,
    }


def git_person(person: Person, at: datetime) -> dict[str, Any]:
    return {"name": person.name, "email": person.email, "date": stamp(at)}


def file_json(repo: str, diff: FileDiff, ref: str) -> dict[str, Any]:
    additions, deletions = diff.counts()
    document = {
        "sha": secrets.token_hex(20),
        "filename": diff.filename,
        "status": diff.status,
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
        "blob_url": f"{base()}/{repo}/blob/{ref}/{diff.filename}",
        "raw_url": f"{base()}/{repo}/raw/{ref}/{diff.filename}",
        "contents_url": f"{base()}/repos/{repo}/contents/{diff.filename}?ref={ref}",
    }
    if diff.patch is not None:
        document["patch"] = diff.patch
    if diff.previous_filename:
        document["previous_filename"] = diff.previous_filename
    return document


def commit_json(repo: str, commit: Commit) -> dict[str, Any]:
    """A commit as list endpoints give it: no ``stats``, no ``files``."""
    url = f"{base()}/repos/{repo}/commits/{commit.sha}"
    return {
        "url": url,
        "sha": commit.sha,
        "node_id": f"C_{commit.sha[:12]}",
        "html_url": f"{base()}/{repo}/commit/{commit.sha}",
        "comments_url": f"{url}/comments",
        "commit": {
            "url": f"{base()}/repos/{repo}/git/commits/{commit.sha}",
            "author": git_person(commit.author, commit.authored_at),
            "committer": git_person(commit.committer, commit.committed_at),
            "message": commit.message,
            "tree": {"sha": commit.sha[::-1], "url": f"{base()}/repos/{repo}/git/trees/x"},
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": user_json(commit.author),
        "committer": user_json(commit.committer),
        "parents": [
            {
                "sha": p,
                "url": f"{base()}/repos/{repo}/commits/{p}",
                "html_url": f"{base()}/{repo}/commit/{p}",
            }
            for p in commit.parents
        ],
    }


def pull_json(state: State, repo: str, pull: Pull) -> dict[str, Any]:
    """A pull request as ``GET /pulls/{n}`` gives it (``pull-request``)."""
    url = f"{base()}/repos/{repo}/pulls/{pull.number}"
    issue = f"{base()}/repos/{repo}/issues/{pull.number}"
    html = f"{base()}/{repo}/pull/{pull.number}"
    head = pull.commits[-1] if pull.commits else pull.base_sha
    additions = deletions = 0
    files = state.pull_files(pull, repo)
    for diff in files:
        added, deleted = diff.counts()
        additions, deletions = additions + added, deletions + deleted
    links = {
        "self": url,
        "html": html,
        "issue": issue,
        "comments": f"{issue}/comments",
        "review_comments": f"{url}/comments",
        "review_comment": f"{base()}/repos/{repo}/pulls/comments{{/number}}",
        "commits": f"{url}/commits",
        "statuses": f"{base()}/repos/{repo}/statuses/{head}",
    }
    return {
        "url": url,
        "id": pull.id,
        "node_id": f"PR_{pull.id}",
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": user_json(pull.user),
        "body": pull.body,
        "labels": [label_json(repo, i, name) for i, name in enumerate(pull.labels, 1)],
        "milestone": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "created_at": stamp(pull.created_at),
        "updated_at": stamp(pull.updated_at),
        "closed_at": stamp(pull.closed_at),
        "merged_at": stamp(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha,
        "draft": False,
        "head": ref_json(state, repo, pull.head_ref, head),
        "base": ref_json(state, repo, pull.base_ref, pull.base_sha),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "active_lock_reason": None,
        "merged": pull.merged,
        "mergeable": None if pull.merged else True,
        "rebaseable": None if pull.merged else True,
        "mergeable_state": "unknown" if pull.merged else "clean",
        "merged_by": user_json(pull.user) if pull.merged else None,
        "maintainer_can_modify": False,
        "comments": len(state.comments_on(repo, pull.number)),
        "review_comments": 0,
        "commits": len(pull.commits),
        "additions": additions,
        "deletions": deletions,
        "changed_files": len({d.filename for d in files}),
    }


def label_json(repo: str, label_id: int, name: str) -> dict[str, Any]:
    url = f"{base()}/repos/{repo}/labels/{name}"
    return {
        "id": label_id,
        "node_id": f"LA_{label_id}",
        "url": url,
        "name": name,
        "description": "",
        "color": "ededed",
        "default": False,
    }


def ref_json(state: State, repo: str, ref: str, sha: str) -> dict[str, Any]:
    owner = repo.split("/")[0]
    stored = state.repos[repo]
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": account_json(owner, stored.id + 1, "Organization"),
        "repo": repo_json(stored),
    }


def comment_json(state: State, comment: Comment) -> dict[str, Any]:
    url = f"{base()}/repos/{comment.repo}/issues/comments/{comment.id}"
    kind = "pull" if (comment.repo, comment.issue) in state.pulls else "issues"
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": url,
        "html_url": f"{base()}/{comment.repo}/{kind}/{comment.issue}#issuecomment-{comment.id}",
        "issue_url": f"{base()}/repos/{comment.repo}/issues/{comment.issue}",
        "body": comment.body,
        "user": user_json(comment.user),
        "created_at": stamp(comment.created_at),
        "updated_at": stamp(comment.updated_at),
        "author_association": "NONE",
    }


def check_run_json(state: State, repo: str, run: dict[str, Any]) -> dict[str, Any]:
    url = f"{base()}/repos/{repo}/check-runs/{run['id']}"
    output = {"title": None, "summary": None, "text": None, **(run.get("output") or {})}
    return {
        "id": run["id"],
        "node_id": f"CR_{run['id']}",
        "head_sha": run["head_sha"],
        "external_id": run.get("external_id", ""),
        "url": url,
        "html_url": f"{base()}/{repo}/runs/{run['id']}",
        "details_url": run.get("details_url"),
        "status": run.get("status", "queued"),
        "conclusion": run.get("conclusion"),
        "started_at": run.get("started_at"),
        "completed_at": run.get("completed_at"),
        "output": {
            **{k: output[k] for k in ("title", "summary", "text")},
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        },
        "name": run["name"],
        "check_suite": {"id": run["id"] + 1},
        "app": integration_json(run_app(state, run)),
        "pull_requests": [],
    }


def run_app(state: State, run: dict[str, Any]) -> dict[str, Any]:
    """The app that made ``run``: the one named in it (another app's run), else the fake's."""
    return run.get("app") or {"id": state.app_id, "slug": state.slug, "name": state.slug}


def integration_json(app: dict[str, Any]) -> dict[str, Any]:
    """An app (``integration``) from its ``id``, ``slug``, ``name`` and optional ``owner``."""
    owner = app.get("owner") or {}
    created = "2026-01-01T00:00:00Z"
    return {
        "id": app["id"],
        "slug": app["slug"],
        "node_id": f"A_{app['id']}",
        "client_id": f"Iv1.{app['id']:016x}",
        "owner": account_json(
            owner.get("login", f"{app['slug']}-owner"),
            owner.get("id", app["id"] + 1),
            owner.get("type", "Organization"),
        ),
        "name": app["name"],
        "description": app.get("description"),
        "external_url": base(),
        "html_url": f"{base()}/apps/{app['slug']}",
        "created_at": created,
        "updated_at": created,
        "permissions": app.get("permissions", {"checks": "write", "metadata": "read"}),
        "events": app.get("events", ["check_run"]),
    }


def app_json(state: State) -> dict[str, Any]:
    """The fake's own App, as ``GET /app`` gives it to the App."""
    own = {
        "id": state.app_id,
        "slug": state.slug,
        "name": state.slug,
        "description": "Fake GitHub App",
        "owner": {"login": "yield-auditor-owner", "id": 1},
        "permissions": {
            "checks": "write",
            "contents": "read",
            "metadata": "read",
            "pull_requests": "write",
        },
        "events": ["pull_request", "pull_request_review", "check_run", "push"],
    }
    return {
        **integration_json(own),
        "client_id": state.oauth_client_id,
        "installations_count": len(state.installations),
    }


def content_json(repo: str, path: str, ref: str, data: bytes) -> dict[str, Any]:
    url = f"{base()}/repos/{repo}/contents/{path}?ref={ref}"
    encoded = base64.b64encode(data).decode()
    wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
    html = f"{base()}/{repo}/blob/{ref}/{path}"
    git = f"{base()}/repos/{repo}/git/blobs/{ref}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": wrapped,
        "sha": secrets.token_hex(20),
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": f"{base()}/{repo}/raw/{ref}/{path}",
        "_links": {"self": url, "git": git, "html": html},
    }


def delivery_json(delivery: Delivery, detail: bool = False) -> dict[str, Any]:
    """A delivery as listed (``hook-delivery-item``) or, with ``detail``, as ``GET
    /app/hook/deliveries/{id}`` gives it, with the request and response GitHub kept."""
    document = {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": stamp(delivery.delivered_at),
        "redelivery": delivery.redelivery,
        "duration": 0.27,
        "status": delivery.status,
        "status_code": delivery.status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": None,
        "url": f"{base()}/app/hook/deliveries/{delivery.id}",
    }
    if detail:
        headers = {"X-GitHub-Delivery": delivery.guid, "X-GitHub-Event": delivery.event}
        document["request"] = {"headers": headers, "payload": None}
        document["response"] = {"headers": {}, "payload": None}
    return document


# --------------------------------------------------------------------------- pagination


def page(items: Sequence[Any], default: int = 30, largest: int = 100) -> tuple[list, dict]:
    """One page of ``items`` by ``page``/``per_page``, with GitHub's ``Link`` header."""
    per_page = min(max(int_arg("per_page", default), 1), largest)
    number = max(int_arg("page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = list(items[(number - 1) * per_page : number * per_page])
    links = {}  # in GitHub's order: no prev and first on page 1, no next and last on the last
    if number > 1:
        links["prev"] = min(number - 1, last)
    if number < last:
        links.update(next=number + 1, last=last)
    if number > 1:
        links["first"] = 1
    header = ", ".join(f'<{_page_url(n)}>; rel="{rel}"' for rel, n in links.items())
    return chunk, ({"Link": header} if links else {})


def _page_url(number: int) -> str:
    args = {**request.args.to_dict(), "page": str(number)}
    return f"{base()}{request.path}?{urlencode(args)}"


def int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        fail(422, f"{name} is not a number")


# --------------------------------------------------------------------------- authentication


def verify_jwt(state: State, public_key: Any) -> None:
    """As GitHub: an RS256 JWT signed by the App's key, ``iss`` the App id, at most 10 minutes."""
    token = _credential(("bearer",))
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            options={"require": ["exp", "iat", "iss"]},
            leeway=60,
        )
    except jwt.PyJWTError:
        fail(401, "A JSON web token could not be decoded")
    if str(claims["iss"]) != str(state.app_id):
        fail(401, "'Issuer' claim ('iss') must be an Integer")
    if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME + 60:
        fail(401, "'Expiration time' claim ('exp') is too far in the future")


def installation_for(state: State, repo_name: str) -> Repo:
    """The repository, when the request carries a live token of the installation owning it."""
    token = _credential(("token", "bearer"))
    with state.lock:
        found = state.tokens.get(token)
        repo = state.repos.get(repo_name)
    if found is None or found[1] <= now():
        fail(401, "Bad credentials")
    if repo is None or repo.installation_id != found[0]:
        fail(404, "Not Found")
    return repo


def _credential(schemes: tuple[str, ...]) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in schemes or not value:
        fail(401, "Requires authentication")
    return value.strip()


def new_token(state: State, installation_id: int) -> tuple[str, datetime]:
    """A token in the ``ghs_<app id>_<JWT>`` style GitHub rolls out: about 520 characters."""
    parts = (secrets.token_urlsafe(27), secrets.token_urlsafe(330), secrets.token_urlsafe(32))
    token = f"ghs_{state.app_id}_" + ".".join(parts)
    expires = now() + TOKEN_TTL
    with state.lock:
        state.tokens[token] = (installation_id, expires)
    return token, expires


# --------------------------------------------------------------------------- faults and records


def fault_response(state: State, fault: Fault) -> Response | None:
    """The answer a fault gives, or None when the request goes on (after a DELAY)."""
    if fault.kind == DELAY:
        time.sleep(fault.seconds or 0)
        return None
    if fault.kind == ERROR:
        return error(fault.status or 502, "Server Error")
    if fault.kind == PRIMARY:
        reset = int(time.time() + (fault.seconds if fault.seconds is not None else 3600))
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        return error(fault.status or 403, "API rate limit exceeded for installation.", headers)
    headers = {} if fault.seconds is None else {"retry-after": str(int(fault.seconds))}
    return error(fault.status or 403, SECONDARY_MESSAGE, headers)


def arrive(state: State) -> int:
    """Record a request as it arrives (status 0 until answered); returns its index."""
    body = request.get_json(silent=True) if request.data else None
    entry = Recorded(request.method, request.path, request.args.to_dict(), body, 0)
    with state.lock:
        state.requests.append(entry)
        return len(state.requests) - 1


def answer(state: State, index: int, response: Response, fault: str | None = None) -> None:
    """Complete the request's record (``fault``: the kind that answered it) and add the
    rate-limit headers GitHub always sends."""
    document = response.get_json(silent=True) if response.is_json else None
    with state.lock:
        state.requests[index] = replace(
            state.requests[index], status=response.status_code, response=document, fault=fault
        )
        if response.headers.get("x-ratelimit-remaining") != "0":
            state.rate_used += 1
        remaining = max(state.rate_limit - state.rate_used, 0)
        headers = {
            "x-ratelimit-limit": str(state.rate_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(state.rate_used),
            "x-ratelimit-reset": str(state.rate_reset),
            "x-ratelimit-resource": "core",
        }
    for name, value in headers.items():
        response.headers.setdefault(name, value)
