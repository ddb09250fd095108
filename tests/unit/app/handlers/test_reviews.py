"""pull_request_review handlers against GitHub's payload examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.app.handlers.reviews import router
from bot.app.router import HandlerContext, PayloadError
from bot.engine.records import APPROVED, CHANGES_REQUESTED
from tests.paths import FIXTURES

FIXTURES = FIXTURES / "github-webhooks" / "pull_request_review"
SUBMITTED_AT = datetime(2019, 5, 15, 15, 20, 38, tzinfo=UTC)


def load(name: str, state: str | None = None) -> dict:
    payload = json.loads((FIXTURES / f"{name}.payload.json").read_text())
    if state is not None:
        payload["review"]["state"] = state
    return payload


def dispatch(payload: dict):
    return router.dispatch("pull_request_review", payload, HandlerContext())


def test_a_comment_is_no_verdict_but_refreshes_the_pull_request():
    changes = dispatch(load("submitted"))
    assert changes.events == []
    assert changes.ignored is None
    (record,) = changes.pull_requests
    assert (record.repository, record.number, record.state) == ("Codertocat/Hello-World", 2, "open")
    assert record.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("approved", APPROVED),
        ("APPROVED", APPROVED),
        ("changes_requested", CHANGES_REQUESTED),
        ("CHANGES_REQUESTED", CHANGES_REQUESTED),
    ],
)
def test_verdicts_are_events_keyed_by_review(state, kind):
    changes = dispatch(load("submitted", state))
    (event,) = changes.events
    assert (event.kind, event.key, event.at) == (kind, "review:237895671", SUBMITTED_AT)
    assert (event.pr_number, event.repository) == (2, "Codertocat/Hello-World")
    assert event.sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert event.source == "pull_request_review"


def test_the_slim_pull_request_of_a_review_is_read_as_merged_from_merged_at():
    payload = load("submitted", "approved")
    assert "merged" not in payload["pull_request"]
    payload["pull_request"].update(
        state="closed", closed_at="2019-05-15T15:30:00Z", merged_at="2019-05-15T15:30:00Z"
    )
    (record,) = dispatch(payload).pull_requests
    assert record.state == "merged"
    assert record.merge_sha == "c4295bd74fb0f4fda03689c3df3f2803b658fd85"


def test_dismissal_adds_nothing():
    changes = dispatch(load("dismissed"))
    assert changes.repository == "Codertocat/Hello-World"
    assert (changes.events, changes.pull_requests) == ([], [])
    assert "dismissed" in changes.ignored


def test_a_verdict_needs_its_review_id():
    payload = load("submitted", "approved")
    payload["review"]["id"] = "237895671"
    with pytest.raises(PayloadError, match="review.id invalid"):
        dispatch(payload)


def test_a_review_needs_its_pull_request():
    payload = load("submitted")
    del payload["pull_request"]
    with pytest.raises(PayloadError, match="pull_request missing"):
        dispatch(payload)
