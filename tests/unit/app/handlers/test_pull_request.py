"""pull_request handlers against GitHub's payload examples (tests/fixtures/github-webhooks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.app.handlers.pull_request import router
from bot.app.router import HandlerContext, PayloadError
from bot.engine.records import CLOSED, MERGED, REOPENED, PullRequest
from tests.paths import FIXTURES

FIXTURES = FIXTURES / "github-webhooks" / "pull_request"
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
MERGE_SHA = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"
CREATED = datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC)
CLOSED_AT = datetime(2019, 5, 15, 15, 21, 18, tzinfo=UTC)
API = ["pull_request.commits", "pull_request.files"]


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.payload.json").read_text())


def dispatch(payload: dict):
    return router.dispatch("pull_request", payload, HandlerContext())


def merged(payload: dict, merged_at: str = "2019-05-15T15:21:18Z") -> dict:
    payload["pull_request"].update(merged=True, merged_at=merged_at)
    return payload


def test_opened_records_the_pull_request_and_asks_for_its_commits():
    changes = dispatch(load("opened"))
    assert changes.repository == "Codertocat/Hello-World"
    assert changes.pull_requests == [
        PullRequest(
            repository="Codertocat/Hello-World",
            number=2,
            title="Update the README with new information.",
            labels=("bug",),
            head_ref="changes",
            head_sha=HEAD_SHA,
            state="open",
            created_at=CREATED,
        )
    ]
    assert changes.events == []
    assert changes.needs_api == API
    assert changes.ignored is None


def test_synchronize_asks_for_the_new_commits():
    changes = dispatch(load("synchronize"))
    assert [p.number for p in changes.pull_requests] == [2]
    assert changes.needs_api == API
    assert changes.events == []


def test_closed_without_merge_is_a_close_event_and_no_merge_sha():
    changes = dispatch(load("closed"))
    (record,) = changes.pull_requests
    assert (record.state, record.closed_at, record.merge_sha) == ("closed", CLOSED_AT, None)
    (event,) = changes.events
    assert event.kind == CLOSED
    assert event.key == "pull_request:2:closed:2019-05-15T15:21:18Z"
    assert (event.at, event.pr_number, event.source) == (CLOSED_AT, 2, "pull_request")
    assert changes.needs_api == []


def test_merged_is_a_merge_event_with_the_merge_sha_and_a_survival_step():
    changes = dispatch(merged(load("closed")))
    (record,) = changes.pull_requests
    assert (record.state, record.merge_sha) == ("merged", MERGE_SHA)
    (event,) = changes.events
    assert (event.kind, event.key, event.at) == (MERGED, "pull_request:2:merged", CLOSED_AT)
    assert changes.needs_api == ["pull_request.survival"]


def test_timestamps_with_offsets_are_the_same_instant():
    changes = dispatch(merged(load("closed"), "2019-05-15T10:21:18-05:00"))
    (event,) = changes.events
    assert event.at == CLOSED_AT
    assert event.at.utcoffset() is not None


def test_each_reopening_is_its_own_event():
    first = dispatch(load("reopened"))
    (event,) = first.events
    assert (event.kind, event.at) == (REOPENED, CREATED)
    assert event.key == "pull_request:2:reopened:2019-05-15T15:20:33Z"
    assert first.needs_api == API
    again = load("reopened")
    again["pull_request"]["updated_at"] = "2019-05-16T09:00:00Z"
    assert dispatch(again).events[0].key != event.key


@pytest.mark.parametrize("name", ["labeled", "unlabeled", "ready_for_review", "converted_to_draft"])
def test_other_changes_only_refresh_the_record(name):
    changes = dispatch(load(name))
    assert [(p.number, p.labels, p.state) for p in changes.pull_requests] == [(2, ("bug",), "open")]
    assert (changes.events, changes.needs_api, changes.ignored) == ([], [], None)


def test_edited_refreshes_the_title():
    payload = load("labeled")
    payload.update(action="edited")
    payload["pull_request"]["title"] = "fix: a better title"
    assert dispatch(payload).pull_requests[0].title == "fix: a better title"


def test_unregistered_actions_are_not_handled():
    assert dispatch(load("assigned")) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda pr: pr["head"].pop("sha"), "pull_request.head.sha missing"),
        (lambda pr: pr.update(number="2"), "pull_request.number invalid"),
        (lambda pr: pr.update(created_at="yesterday"), "pull_request.created_at invalid"),
        (lambda pr: pr.update(created_at="2019-05-15T15:20:33"), "pull_request.created_at invalid"),
        (lambda pr: pr.update(state="draft"), "pull_request.state invalid"),
        (lambda pr: pr["labels"].append("bug"), "pull_request.labels[1] invalid"),
        (lambda pr: pr.update(head=[]), "pull_request.head invalid"),
    ],
)
def test_bad_fields_are_named(change, message):
    payload = load("opened")
    change(payload["pull_request"])
    with pytest.raises(PayloadError, match=message.replace("[", r"\[")):
        dispatch(payload)


def test_a_merge_without_its_time_is_rejected():
    payload = merged(load("closed"))
    payload["pull_request"]["merged_at"] = None
    with pytest.raises(PayloadError, match="pull_request.merged_at missing"):
        dispatch(payload)
