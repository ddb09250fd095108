"""Webhook payloads for tests: the real fixtures (tests/fixtures/github-webhooks) with the
fields a scenario needs replaced, so every payload keeps GitHub's full shape."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "github-webhooks"
REPO = "octo-org/app"
INSTALLATION = 4242


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of ``<event>/<file>``."""
    return copy.deepcopy(_fixture(name))


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _place(payload: dict[str, Any], repo: str, installation: int | None) -> dict[str, Any]:
    owner, name = repo.split("/")
    payload["repository"]["full_name"] = repo
    payload["repository"]["name"] = name
    payload["repository"]["owner"]["login"] = owner
    if installation is None:
        payload.pop("installation", None)
    else:
        payload["installation"] = {"id": installation, "node_id": "MDIzOkludGVncmF0aW9u"}
    return payload


def pull_request(
    action: str,
    number: int,
    *,
    head_ref: str,
    head_sha: str,
    at: datetime,
    title: str = "Fix the parser",
    labels: tuple[str, ...] = (),
    merged: bool = False,
    merge_sha: str | None = None,
    repo: str = REPO,
    installation: int | None = INSTALLATION,
) -> dict[str, Any]:
    payload = fixture("pull_request/opened.payload.json")
    pr = payload["pull_request"]
    closed = action == "closed"
    pr.update(
        number=number,
        title=title,
        state="closed" if closed else "open",
        created_at=stamp(at),
        updated_at=stamp(at),
        closed_at=stamp(at) if closed else None,
        merged_at=stamp(at) if merged else None,
        merged=merged,
        merge_commit_sha=merge_sha,
        labels=[{"id": i, "name": label, "color": "ededed"} for i, label in enumerate(labels)],
    )
    pr["head"]["ref"], pr["head"]["sha"] = head_ref, head_sha
    payload.update(action=action, number=number)
    return _place(payload, repo, installation)


def push(
    ref: str,
    commits: list[dict[str, Any]],
    *,
    before: str = "0" * 40,
    default_branch: str = "main",
    repo: str = REPO,
    installation: int | None = INSTALLATION,
) -> dict[str, Any]:
    payload = fixture("push/with-new-branch.payload.json")
    template = payload["commits"][0]
    payload["commits"] = [{**copy.deepcopy(template), **c} for c in commits]
    payload.update(ref=ref, before=before, after=commits[-1]["id"] if commits else before)
    payload["head_commit"] = payload["commits"][-1] if commits else None
    payload["repository"]["default_branch"] = default_branch
    return _place(payload, repo, installation)


def commit(
    sha: str, message: str, at: datetime, name: str = "Ada", email: str = "ada@example.com"
) -> dict[str, Any]:
    person = {"name": name, "email": email, "username": name.lower()}
    return {"id": sha, "message": message, "timestamp": stamp(at), "author": person,
            "committer": dict(person)}  # fmt: skip


def check_run(
    conclusion: str,
    head_sha: str,
    at: datetime,
    pr_numbers: tuple[int, ...] = (),
    *,
    run_id: int = 1,
    app_id: int = 15368,
    repo: str = REPO,
    installation: int | None = INSTALLATION,
) -> dict[str, Any]:
    payload = fixture("check_run/completed.payload.json")
    run = payload["check_run"]
    template = run["pull_requests"][0]
    run.update(id=run_id, head_sha=head_sha, conclusion=conclusion, completed_at=stamp(at))
    run["check_suite"]["head_sha"] = head_sha
    run["app"]["id"] = app_id
    run["pull_requests"] = [{**copy.deepcopy(template), "number": n} for n in pr_numbers]
    return _place(payload, repo, installation)


def review(
    state: str,
    number: int,
    commit_id: str,
    at: datetime,
    *,
    review_id: int = 1,
    head_ref: str = "feature",
    repo: str = REPO,
    installation: int | None = INSTALLATION,
) -> dict[str, Any]:
    payload = fixture("pull_request_review/submitted.payload.json")
    payload["review"].update(id=review_id, state=state, commit_id=commit_id, submitted_at=stamp(at))
    pr = payload["pull_request"]
    pr.update(number=number, state="open", closed_at=None, merged_at=None)
    pr["head"]["ref"], pr["head"]["sha"] = head_ref, commit_id
    return _place(payload, repo, installation)


def installation(action: str, installation_id: int = INSTALLATION, login: str = "octo-org"):
    payload = fixture(f"installation/{'created' if action == 'created' else action}.payload.json")
    payload["installation"]["id"] = installation_id
    payload["installation"]["account"]["login"] = login
    return payload


def agent_message(subject: str, task: str, tier: str, model: str, tokens_in: int = 20000) -> str:
    """A commit message carrying the trailer protocol (docs/trailers.md)."""
    return (
        f"{subject}\n\nDetails of the change.\n\n"
        "Agent-Trailers: 1\n"
        f"Agent-Task: {task}\n"
        f"Agent-Route: strategy=route; tier={tier}; model={model}\n"
        f"Agent-Usage: model={model}; in={tokens_in}; out=2000\n"
        "Co-Authored-By: Claude <noreply@anthropic.com>\n"
    )


def pull_request_story(repo: str, number: int, at: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Eight deliveries of one agent pull request: push, open, CI fails, push, synchronize, CI
    passes, approval, merge."""
    first, second = f"{number:06x}a".ljust(40, "0"), f"{number:06x}b".ljust(40, "0")
    branch = f"task-{number}"
    message = agent_message(
        f"Task {number}", f"T-{number}", "economy", "anthropic:claude-haiku-4-5"
    )
    pr = {"head_ref": branch, "at": at, "repo": repo}
    ref = f"refs/heads/{branch}"
    return [
        ("push", push(ref, [commit(first, message, at)], repo=repo)),
        ("pull_request", pull_request("opened", number, head_sha=first, **pr)),
        ("check_run", check_run("failure", first, at, (number,), run_id=2 * number, repo=repo)),
        ("push", push(ref, [commit(second, message, at)], before=first, repo=repo)),
        ("pull_request", pull_request("synchronize", number, head_sha=second, **pr)),
        ("check_run", check_run("success", second, at, (number,), run_id=2 * number + 1,
                                repo=repo)),
        ("pull_request_review", review("approved", number, second, at, review_id=number,
                                       head_ref=branch, repo=repo)),
        ("pull_request", pull_request("closed", number, head_sha=second, merged=True,
                                      merge_sha=second, **pr)),
    ]  # fmt: skip


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
