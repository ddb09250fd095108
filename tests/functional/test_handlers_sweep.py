"""Every payload example through the combined router, docs/events.md against the router, and
fuzzed payloads: a handler returns changes or raises PayloadError, never anything else."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app.handlers import router
from bot.app.router import Changes, HandlerContext, PayloadError
from bot.engine.records import EVENT_KINDS
from tests.paths import ROOT

LOCAL = ROOT / "tests" / "fixtures" / "github-webhooks"
SHARED = ROOT.parent / "shared" / "fixtures" / "github-webhooks"
SHA = re.compile(r"[0-9a-f]{40}")


def payloads(folder: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(event, file, payload) of every example; the folder names the event."""
    return [
        (path.parent.name, path.name, json.loads(path.read_text()))
        for path in sorted(folder.glob("*/*.json"))
    ]


def documented() -> set[tuple[str, str | None]]:
    """The (event, action) pairs of docs/events.md's "Handled" table."""
    text = (ROOT / "docs" / "events.md").read_text()
    table = text.split("## Handled", 1)[1].split("\n\n", 2)[1]
    pairs = set()
    for row in table.splitlines()[2:]:
        event, actions = (re.findall(r"`([^`]+)`", cell) for cell in row.split("|")[1:3])
        pairs.update((event[0], action) for action in actions or [None])
    return pairs


def assert_sane(event: str, payload: dict[str, Any], changes: Changes | None) -> None:
    action = payload.get("action")
    assert (changes is not None) == ((event, action) in documented())
    if changes is None:
        return
    repository = payload.get("repository", {}).get("full_name")
    assert changes.repository == repository
    if changes.ignored:
        assert not (changes.events or changes.commits or changes.pull_requests)
    for e in changes.events:
        assert (e.kind in EVENT_KINDS, e.repository, bool(e.key)) == (True, repository, True)
        assert e.at.utcoffset() is not None
        assert e.pr_number is not None or SHA.fullmatch(e.sha or "")
    for pr in changes.pull_requests:
        assert (pr.repository, pr.state in ("open", "closed", "merged")) == (repository, True)
    for seen in changes.commits:
        assert SHA.fullmatch(seen.info.sha)
        assert isinstance(seen.info.committed_at, datetime)


HANDLED = {
    *(
        ("pull_request", action)
        for action in (
            "opened",
            "synchronize",
            "reopened",
            "closed",
            "edited",
            "labeled",
            "unlabeled",
            "ready_for_review",
            "converted_to_draft",
        )
    ),
    ("pull_request_review", "submitted"),
    ("pull_request_review", "dismissed"),
    *(
        (event, "completed")
        for event in ("check_run", "check_suite", "workflow_run", "workflow_job")
    ),
    ("status", None),
    ("push", None),
    *(
        ("installation", action)
        for action in ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted")
    ),
    ("installation_repositories", "added"),
    ("installation_repositories", "removed"),
}


def test_the_docs_table_lists_what_the_router_handles():
    assert documented() == HANDLED
    assert all(router.handles(event, action) for event, action in HANDLED)
    assert not router.handles("pull_request", "assigned")
    assert not router.handles("check_run", "created")
    assert not router.handles("issue_comment", "created")


@pytest.mark.parametrize(("event", "name", "payload"), payloads(LOCAL))
def test_every_local_example(event, name, payload):
    assert_sane(event, payload, router.dispatch(event, payload, HandlerContext()))


def shared_examples() -> list[Any]:
    if not SHARED.is_dir():
        reason = f"{SHARED} is absent: only the project's own workspace has it"
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(e, n, p, id=f"{e}/{n}") for e, n, p in payloads(SHARED)]


@pytest.mark.parametrize(("event", "name", "payload"), shared_examples())
def test_every_shared_example(event, name, payload):
    for app_id in (None, 29310):
        assert_sane(event, payload, router.dispatch(event, payload, HandlerContext(app_id)))


# --------------------------------------------------------------------------- fuzzing

EXAMPLES = [(event, payload) for event, _, payload in payloads(LOCAL)]
DELETE = object()
# Names the handlers read: mutations aimed at them find more than random ones.
_READ = (
    "action repository full_name id default_branch pull_request number title labels name head "
    "base repo ref sha state merged merged_at closed_at created_at updated_at merge_commit_sha "
    "review commit_id submitted_at check_run check_suite workflow_run workflow_job app "
    "conclusion head_sha completed_at pull_requests commits message timestamp author committer "
    "email username before deleted installation account login repositories "
    "repositories_added repositories_removed"
)
READ = frozenset(_READ.split())


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """The path of every value inside a payload (dict keys and list indexes)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, inner in items:
        yield (*prefix, key)
        if isinstance(inner, dict | list):
            yield from paths(inner, (*prefix, key))


def read_paths(payload: dict) -> list[tuple]:
    return [p for p in paths(payload) if all(k in READ or isinstance(k, int) for k in p)]


VALUES = st.one_of(
    st.sampled_from(
        [DELETE, None, 0, -1, 2**70, True, 1.5, "", "x" * 100_000, [], {}, [None], {"id": None}]
    ),
    st.text(max_size=30),
    st.sampled_from(["2019-05-15", "2019-05-15T15:20:33", "9999-99-99T00:00:00Z", "success"]),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict]:
    event, original = draw(st.sampled_from(EXAMPLES))
    payload = copy.deepcopy(original)
    aimed, anywhere = read_paths(payload), list(paths(payload))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(aimed) | st.sampled_from(anywhere))
        parent = payload
        try:
            for key in path[:-1]:
                parent = parent[key]
            value = draw(VALUES)
            if value is DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the way there
    return event, payload


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.sampled_from([None, 29310]))
def test_fuzzed_payloads_give_changes_or_a_payload_error(example, app_id):
    event, payload = example
    try:
        changes = router.dispatch(event, payload, HandlerContext(app_id))
    except PayloadError as error:
        assert re.search(r" (missing|invalid)\b", str(error))
        assert len(str(error)) < 300
        return
    assert changes is None or isinstance(changes, Changes)
    if changes is not None and changes.ignored:
        assert len(changes.ignored) < 100
