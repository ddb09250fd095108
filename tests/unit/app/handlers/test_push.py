"""push handler against GitHub's payload examples: commits, their chain, and reverts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.app.handlers.push import router
from bot.app.router import HandlerContext, PayloadError
from bot.engine.records import REVERTED
from bot.protocol.commit import Identity
from tests.paths import FIXTURES

FIXTURES = FIXTURES / "github-webhooks" / "push"
INITIAL = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
CODERTOCAT = Identity(
    name="Codertocat",
    email="21031067+Codertocat@users.noreply.github.com",
    github_login="Codertocat",
)
REVERTED_SHA = "0123456789abcdef0123456789abcdef01234567"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def dispatch(payload: dict):
    return router.dispatch("push", payload, HandlerContext())


def branch_push(ref: str = "refs/heads/master", *messages: str) -> dict:
    """The new-branch example, on ``ref``, with one commit per message after the initial one."""
    payload = load("with-new-branch.payload.json")
    payload.update(ref=ref, before=INITIAL, created=False)
    first = payload["commits"][0]
    payload["commits"] = [
        {**first, "id": f"{k:040x}", "message": message, "timestamp": f"2019-05-16T0{k}:00:00Z"}
        for k, message in enumerate(messages, start=1)
    ]
    return payload


def test_a_new_branch_records_its_commit_without_parents():
    changes = dispatch(load("with-new-branch.payload.json"))
    assert changes.repository == "Codertocat/Hello-World"
    (seen,) = changes.commits
    info = seen.info
    assert (info.sha, info.message, info.branch) == (INITIAL, "Initial commit", "master")
    assert info.author == info.committer == CODERTOCAT
    assert info.authored_at == info.committed_at == datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC)
    assert (seen.pr_number, seen.parents, seen.files) == (None, (), ())
    assert changes.needs_api == ["push.files"]
    assert changes.events == []


def test_a_committer_without_a_username():
    (seen,) = dispatch(load("with-no-username-committer.payload.json")).commits
    assert seen.info.committer.github_login is None
    assert seen.info.author.github_login == "Codertocat"


def test_commits_are_chained_from_before():
    changes = dispatch(branch_push("refs/heads/feature/x", "feat: one", "fix: two"))
    assert [(c.info.sha, c.parents) for c in changes.commits] == [
        (f"{1:040x}", (INITIAL,)),
        (f"{2:040x}", (f"{1:040x}",)),
    ]
    assert {c.info.branch for c in changes.commits} == {"feature/x"}


def test_a_revert_on_the_default_branch_is_a_revert_event():
    message = f'Revert "feat: one"\n\nThis reverts commit {REVERTED_SHA}.\n'
    changes = dispatch(branch_push("refs/heads/master", message))
    (event,) = changes.events
    commit = f"{1:040x}"
    assert (event.kind, event.sha, event.pr_number) == (REVERTED, REVERTED_SHA, None)
    assert event.key == f"revert:{commit}:{REVERTED_SHA}"
    assert event.at == datetime(2019, 5, 16, 1, tzinfo=UTC)
    assert (event.repository, event.source) == ("Codertocat/Hello-World", "push")
    assert len(changes.commits) == 1


def test_a_revert_on_another_branch_is_only_a_commit():
    message = f"This reverts commit {REVERTED_SHA}."
    changes = dispatch(branch_push("refs/heads/revert-1", message))
    assert changes.events == []
    assert [c.info.message for c in changes.commits] == [message]


def test_a_tag_push_is_ignored():
    payload = load("payload.json")
    assert payload["ref"] == "refs/tags/simple-tag"
    changes = dispatch(payload)
    assert changes.commits == []
    assert changes.ignored == "not a branch (a tag or another ref)"
    assert changes.repository == "Codertocat/Hello-World"


def test_a_deleted_branch_is_ignored():
    payload = load("payload.json")
    payload["ref"] = "refs/heads/changes"
    changes = dispatch(payload)
    assert (changes.commits, changes.ignored) == ([], "branch deleted")


def test_a_push_without_commits_is_ignored():
    changes = dispatch(branch_push("refs/heads/master"))
    assert (changes.commits, changes.ignored) == ([], "no commits pushed")


def test_timestamps_keep_their_offset_as_the_same_instant():
    payload = branch_push("refs/heads/master", "docs: x")
    payload["commits"][0]["timestamp"] = "2019-05-16T03:00:00-05:00"
    (seen,) = dispatch(payload).commits
    assert seen.info.committed_at == datetime(2019, 5, 16, 8, tzinfo=UTC)


def test_a_commit_needs_its_id():
    payload = branch_push("refs/heads/master", "docs: x")
    del payload["commits"][0]["id"]
    with pytest.raises(PayloadError, match=r"commits\[0\].id missing"):
        dispatch(payload)
