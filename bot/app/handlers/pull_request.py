"""pull_request events: the pull request's record, and its merge, close and reopening as events.

The commits and files of a pull request are not in these payloads; the handlers name the API
steps that fetch them (``needs_api``) and the worker runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.app.handlers.fields import Fields, short, utc_stamp
from bot.app.router import Changes, HandlerContext, PayloadError, Router
from bot.engine.records import CLOSED, MERGED, REOPENED, Event, PullRequest

router = Router()

COMMITS_AND_FILES = ("pull_request.commits", "pull_request.files")
SURVIVAL = "pull_request.survival"


def pull_request_record(payload: Mapping[str, Any]) -> PullRequest:
    """The payload's pull request as the engine sees it.

    Review events carry a slimmer copy (no ``merged`` flag), so a merge is also read from
    ``merged_at``.
    """
    fields = Fields(payload)
    pr = fields.obj("pull_request")
    state = pr.text("state")
    if state not in ("open", "closed"):
        raise PayloadError(f"pull_request.state invalid: {short(state)!r}")
    merged = state == "closed" and (pr.flag("merged") or pr.maybe_time("merged_at") is not None)
    return PullRequest(
        repository=fields.text("repository.full_name"),
        number=pr.integer("number"),
        title=pr.text("title"),
        labels=tuple(label.text("name") for label in pr.objs("labels")),
        head_ref=pr.text("head.ref"),
        head_sha=pr.text("head.sha"),
        state="merged" if merged else state,
        created_at=pr.time("created_at"),
        closed_at=pr.maybe_time("closed_at"),
        merge_sha=pr.maybe_text("merge_commit_sha") if merged else None,
    )


def _changes(
    record: PullRequest, events: tuple[Event, ...] = (), needs_api: tuple[str, ...] = ()
) -> Changes:
    return Changes(
        repository=record.repository,
        pull_requests=[record],
        events=list(events),
        needs_api=list(needs_api),
    )


def _event(record: PullRequest, kind: str, at: datetime, key: str) -> Event:
    return Event(
        key=f"pull_request:{record.number}:{key}",
        kind=kind,
        at=at,
        repository=record.repository,
        pr_number=record.number,
        source="pull_request",
    )


@router.register("pull_request", "edited")
@router.register("pull_request", "labeled")
@router.register("pull_request", "unlabeled")
@router.register("pull_request", "ready_for_review")
@router.register("pull_request", "converted_to_draft")
def pull_request_updated(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """Title and labels feed task-class inference, so the record is kept current."""
    return _changes(pull_request_record(payload))


@router.register("pull_request", "opened")
@router.register("pull_request", "synchronize")
def pull_request_pushed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """New commits on the pull request: only the API lists them and their files."""
    return _changes(pull_request_record(payload), needs_api=COMMITS_AND_FILES)


@router.register("pull_request", "reopened")
def pull_request_reopened(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """A reopening is a bounce; each one counts, so its key carries the time it happened."""
    record = pull_request_record(payload)
    at = Fields(payload).time("pull_request.updated_at")
    event = _event(record, REOPENED, at, f"reopened:{utc_stamp(at)}")
    return _changes(record, (event,), COMMITS_AND_FILES)


@router.register("pull_request", "closed")
def pull_request_closed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """A merge ships the task (and survival is measured on the merged diff); a close without
    merge is a bounce, one per close since a pull request can be closed, reopened and closed."""
    record = pull_request_record(payload)
    if record.state == "merged":
        at = Fields(payload).time("pull_request.merged_at")
        return _changes(record, (_event(record, MERGED, at, "merged"),), (SURVIVAL,))
    if record.closed_at is None:
        raise PayloadError("pull_request.closed_at missing")
    key = f"closed:{utc_stamp(record.closed_at)}"
    return _changes(record, (_event(record, CLOSED, record.closed_at, key),))
