"""CI handlers (check runs and suites, workflow runs and jobs, statuses) against GitHub's payload
examples, and the dedup of one CI outcome reported by every source."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.app.handlers.checks import router
from bot.app.router import HandlerContext, PayloadError
from bot.engine.records import CI_FAILED, CI_PASSED
from tests.paths import FIXTURES

FIXTURES = FIXTURES / "github-webhooks"
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
ACTIONS_SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
OTHER_APP = 29310  # the app that made the check runs and suites in the examples


def load(event: str, name: str) -> dict:
    return json.loads((FIXTURES / event / name).read_text())


def dispatch(event: str, payload: dict, app_id: int | None = None):
    return router.dispatch(event, payload, HandlerContext(app_id=app_id))


def test_a_failed_check_run_is_a_ci_failure_of_its_pull_request():
    changes = dispatch("check_run", load("check_run", "completed.1.payload.json"))
    assert changes.repository == "Codertocat/Hello-World"
    (event,) = changes.events
    assert (event.kind, event.key) == (CI_FAILED, f"ci:{SHA}:ci_failed")
    assert (event.pr_number, event.sha, event.source) == (2, SHA, "check_run")
    assert event.at == datetime(2019, 5, 15, 15, 21, 12, tzinfo=UTC)


def test_a_successful_check_run_is_a_ci_pass():
    changes = dispatch("check_run", load("check_run", "completed.payload.json"), app_id=1)
    assert [(e.kind, e.key) for e in changes.events] == [(CI_PASSED, f"ci:{SHA}:ci_passed")]


@pytest.mark.parametrize(
    ("event", "name", "reason"),
    [
        ("check_run", "completed.payload.json", "our own check run"),
        ("check_suite", "completed.payload.json", "our own check suite"),
    ],
)
def test_our_own_checks_are_ignored(event, name, reason):
    changes = dispatch(event, load(event, name), app_id=OTHER_APP)
    assert (changes.ignored, changes.events) == (reason, [])
    assert changes.repository == "Codertocat/Hello-World"


def test_a_check_suite_is_keyed_like_its_runs():
    changes = dispatch("check_suite", load("check_suite", "completed.payload.json"))
    (event,) = changes.events
    assert (event.kind, event.key, event.pr_number) == (CI_PASSED, f"ci:{SHA}:ci_passed", 2)
    assert (event.at, event.source) == (
        datetime(2019, 5, 15, 15, 21, 14, tzinfo=UTC),
        "check_suite",
    )


def test_a_suite_without_pull_requests_is_matched_by_sha():
    """Forks: GitHub leaves ``pull_requests`` empty, so the worker matches the head sha."""
    changes = dispatch("check_suite", load("check_suite", "completed.1.payload.json"))
    (event,) = changes.events
    assert (event.pr_number, event.sha, event.key) == (None, SHA, f"ci:{SHA}:ci_passed")


def test_one_event_per_pull_request_of_the_run():
    payload = load("check_run", "completed.1.payload.json")
    second = json.loads(json.dumps(payload["check_run"]["pull_requests"][0]))
    second["number"] = 7
    payload["check_run"]["pull_requests"].append(second)
    changes = dispatch("check_run", payload)
    assert [e.pr_number for e in changes.events] == [2, 7]
    assert {e.key for e in changes.events} == {f"ci:{SHA}:ci_failed"}


@pytest.mark.parametrize(
    ("conclusion", "kind"),
    [("failure", CI_FAILED), ("timed_out", CI_FAILED), ("success", CI_PASSED)],
)
def test_conclusions_that_count(conclusion, kind):
    payload = load("check_run", "completed.payload.json")
    payload["check_run"]["conclusion"] = conclusion
    assert [e.kind for e in dispatch("check_run", payload).events] == [kind]


@pytest.mark.parametrize(
    "conclusion", ["neutral", "cancelled", "skipped", "action_required", "stale", None]
)
def test_conclusions_that_do_not_count_are_ignored(conclusion):
    payload = load("check_run", "completed.payload.json")
    payload["check_run"]["conclusion"] = conclusion
    changes = dispatch("check_run", payload)
    assert changes.events == []
    assert changes.ignored == (
        f"check_run concluded {conclusion}" if conclusion else "check_run has no conclusion"
    )


def test_a_workflow_run_of_another_repositorys_pull_request_is_matched_by_sha():
    """This example's pull request #2 is Codertocat/Hello-World's, not octo-org/octo-repo's."""
    payload = load("workflow_run", "completed.with-pull-requests.payload.json")
    changes = dispatch("workflow_run", payload)
    assert changes.repository == "octo-org/octo-repo"
    (event,) = changes.events
    assert (event.kind, event.pr_number, event.sha) == (CI_PASSED, None, ACTIONS_SHA)
    assert (event.at, event.source) == (
        datetime(2020, 10, 5, 16, 33, 49, tzinfo=UTC),
        "workflow_run",
    )


def test_a_workflow_run_of_this_repositorys_pull_request():
    payload = load("workflow_run", "completed.with-pull-requests.payload.json")
    payload["workflow_run"]["pull_requests"][0]["base"]["repo"]["id"] = payload["repository"]["id"]
    assert [e.pr_number for e in dispatch("workflow_run", payload).events] == [2]


def test_a_workflow_job_is_matched_by_sha():
    payload = load("workflow_job", "completed.failure.with-organization.payload.json")
    (event,) = dispatch("workflow_job", payload).events
    assert (event.kind, event.key) == (CI_FAILED, f"ci:{ACTIONS_SHA}:ci_failed")
    assert (event.pr_number, event.source) == (None, "workflow_job")
    assert event.at == datetime(2021, 8, 5, 10, 38, 16, tzinfo=UTC)


def test_a_successful_status():
    changes = dispatch("status", load("status", "payload.json"))
    (event,) = changes.events
    sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert (event.kind, event.key, event.sha) == (CI_PASSED, f"ci:{sha}:ci_passed", sha)
    assert (event.pr_number, event.source) == (None, "status")
    assert event.at == datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)


@pytest.mark.parametrize(("state", "kind"), [("failure", CI_FAILED), ("error", CI_FAILED)])
def test_failed_statuses(state, kind):
    payload = load("status", "payload.json")
    payload["state"] = state
    assert [e.kind for e in dispatch("status", payload).events] == [kind]


def test_a_pending_status_is_ignored():
    payload = load("status", "payload.json")
    payload["state"] = "pending"
    changes = dispatch("status", payload)
    assert (changes.events, changes.ignored) == ([], "commit status is pending")


def _failing(sha: str) -> dict[str, dict]:
    """The examples of every CI source, all reporting a failure of one commit."""
    check_run = load("check_run", "completed.1.payload.json")
    check_run["check_run"]["head_sha"] = sha
    check_suite = load("check_suite", "completed.payload.json")
    check_suite["check_suite"].update(head_sha=sha, conclusion="failure")
    workflow_run = load("workflow_run", "completed.payload.json")
    workflow_run["workflow_run"].update(head_sha=sha, conclusion="failure")
    workflow_job = load("workflow_job", "completed.failure.with-organization.payload.json")
    workflow_job["workflow_job"]["head_sha"] = sha
    status = load("status", "payload.json")
    status.update(sha=sha, state="failure")
    return {
        "check_run": check_run,
        "check_suite": check_suite,
        "workflow_run": workflow_run,
        "workflow_job": workflow_job,
        "status": status,
    }


def test_one_ci_outcome_from_every_source_has_one_key():
    """Attribution counts a bounce per event: five reports of one failure must be one event."""
    sha = "a" * 40
    events = [e for name, p in _failing(sha).items() for e in dispatch(name, p).events]
    assert {e.key for e in events} == {f"ci:{sha}:ci_failed"}
    assert {e.source for e in events} == {
        "check_run",
        "check_suite",
        "workflow_run",
        "workflow_job",
        "status",
    }


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("check_run", "created.payload.json"),
        ("workflow_job", "in_progress.payload.json"),
    ],
)
def test_runs_in_progress_are_not_handled(event, name):
    assert dispatch(event, load(event, name)) is None


def test_a_check_run_needs_its_app():
    payload = load("check_run", "completed.payload.json")
    payload["check_run"]["app"] = None
    with pytest.raises(PayloadError, match="check_run.app.id missing"):
        dispatch("check_run", payload)


def test_a_pull_request_of_the_run_needs_its_number():
    payload = load("check_suite", "completed.payload.json")
    payload["check_suite"]["pull_requests"][0]["number"] = None
    with pytest.raises(PayloadError, match=r"check_suite.pull_requests\[0\].number missing"):
        dispatch("check_suite", payload)
