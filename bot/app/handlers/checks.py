"""CI outcomes: check runs and suites, workflow runs and jobs, and commit statuses.

One CI outcome reaches us several times (a GitHub Actions failure arrives as a check run, a
check suite, a workflow job, a workflow run and maybe a status), and attribution counts a
bounce per event. So every source keys its event ``ci:<sha>:<kind>``: the first delivery records
the outcome for that commit and the others change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.app.handlers.fields import Fields, short
from bot.app.router import Changes, HandlerContext, Router
from bot.engine.records import CI_FAILED, CI_PASSED, Event

router = Router()

CONCLUSIONS = {"failure": CI_FAILED, "timed_out": CI_FAILED, "success": CI_PASSED}
STATUS_STATES = {"failure": CI_FAILED, "error": CI_FAILED, "success": CI_PASSED}


def _ci_changes(
    payload: Mapping[str, Any], source: str, run: Fields, at_field: str, *, by_pr: bool = True
) -> Changes:
    """The outcome of a completed run as one event per pull request of this repository, or
    one event for the commit when there is none (forks): the worker matches it by head sha."""
    repository = Fields(payload).obj("repository")
    name = repository.text("full_name")
    conclusion = run.maybe_text("conclusion")
    kind = CONCLUSIONS.get(conclusion or "")
    if kind is None:
        why = f"concluded {short(conclusion)}" if conclusion else "has no conclusion"
        return Changes(repository=name, ignored=f"{source} {why}")
    sha = run.text("head_sha")
    at = run.time(at_field)
    numbers = _pr_numbers(run, repository) if by_pr else []
    events = [_event(name, kind, at, sha, source, number) for number in numbers or [None]]
    return Changes(repository=name, events=events)


def _pr_numbers(run: Fields, repository: Fields) -> list[int]:
    """The run's pull requests that belong to this repository.

    A run in a fork can list the parent repository's pull request with the same head; its
    number means nothing here.
    """
    here = repository.maybe_integer("id")
    numbers = []
    for pr in run.objs("pull_requests"):
        base = pr.maybe_integer("base.repo.id")
        if here is None or base is None or base == here:
            numbers.append(pr.integer("number"))
    return numbers


def _event(
    repository: str, kind: str, at: datetime, sha: str, source: str, pr_number: int | None
) -> Event:
    return Event(
        key=f"ci:{sha}:{kind}",
        kind=kind,
        at=at,
        repository=repository,
        pr_number=pr_number,
        sha=sha,
        source=source,
    )


def _ours(payload: Mapping[str, Any], run: Fields, context: HandlerContext) -> Changes | None:
    """Apps with checks:write receive every app's check events, ours included; our own check
    reports yield, it is not CI, so it must not count as a pass or a failure."""
    if run.integer("app.id") != context.app_id:
        return None
    return Changes(
        repository=Fields(payload).text("repository.full_name"),
        ignored=f"our own {run.path.replace('_', ' ')}",
    )


@router.register("check_run", "completed")
def check_run_completed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    run = Fields(payload).obj("check_run")
    ours = _ours(payload, run, context)
    return ours or _ci_changes(payload, "check_run", run, "completed_at")


@router.register("check_suite", "completed")
def check_suite_completed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    suite = Fields(payload).obj("check_suite")
    ours = _ours(payload, suite, context)
    return ours or _ci_changes(payload, "check_suite", suite, "updated_at")


@router.register("workflow_run", "completed")
def workflow_run_completed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    run = Fields(payload).obj("workflow_run")
    return _ci_changes(payload, "workflow_run", run, "updated_at")


@router.register("workflow_job", "completed")
def workflow_job_completed(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """A job names no pull request: its event is matched by head sha."""
    job = Fields(payload).obj("workflow_job")
    return _ci_changes(payload, "workflow_job", job, "completed_at", by_pr=False)


@router.register("status")
def status(payload: Mapping[str, Any], context: HandlerContext) -> Changes:
    """Commit statuses (older CI services) name no pull request: matched by sha."""
    fields = Fields(payload)
    name = fields.text("repository.full_name")
    state = fields.text("state")
    kind = STATUS_STATES.get(state)
    if kind is None:
        return Changes(repository=name, ignored=f"commit status is {short(state)}")
    sha = fields.text("sha")
    return Changes(
        repository=name, events=[_event(name, kind, fields.time("updated_at"), sha, "status", None)]
    )
