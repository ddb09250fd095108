"""pull_request_review events: approvals, and change requests (a bounce)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.app.handlers.fields import Fields
from bot.app.handlers.pull_request import pull_request_record
from bot.app.router import Changes, HandlerContext, Router
from bot.engine.records import APPROVED, CHANGES_REQUESTED, Event

router = Router()

VERDICTS = {"approved": APPROVED, "changes_requested": CHANGES_REQUESTED}


@router.register("pull_request_review", "submitted")
def review_submitted(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """A verdict becomes an event, keyed by the review so a redelivery adds nothing; a review
    that only comments is no verdict, but its pull request's record is still current."""
    record = pull_request_record(payload)
    review = Fields(payload).obj("review")
    kind = VERDICTS.get(review.text("state").lower())
    changes = Changes(repository=record.repository, pull_requests=[record])
    if kind is not None:
        event = Event(
            key=f"review:{review.integer('id')}",
            kind=kind,
            at=review.time("submitted_at"),
            repository=record.repository,
            pr_number=record.number,
            sha=review.maybe_text("commit_id"),
            source="pull_request_review",
        )
        changes.events.append(event)
    return changes


@router.register("pull_request_review", "dismissed")
def review_dismissed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """Dismissing a change request does not undo it: the work was sent back all the same."""
    return Changes(
        repository=Fields(payload).text("repository.full_name"),
        ignored="review dismissed: the verdict it recorded stands",
    )
