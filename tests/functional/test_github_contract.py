"""The fake GitHub is GitHub as documented: the App's main flows against GitHub's REST
descriptions (github.com and GHES 3.19), and what the fake models as GitHub does: a pull
request is an issue, check runs are filtered and belong to the app that made them, ``Link``
headers are GitHub's."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app.pr_comment import CHECK_NAME
from bot.app.processes import build_worker
from bot.config import Settings
from bot.demo.fake_github.api import new_token
from bot.demo.fake_github.history import GITHUB_ACTIONS, add_check_run
from bot.demo.fake_github.server import FakeGitHub, Person, Recorded
from bot.demo.story import REPO, play
from bot.ledger import inbox
from tests.github_contract import DESCRIPTIONS, WEB_PATHS, contract, violations

QUICK = {"seconds_between_requests": None, "seconds_between_writes": None, "backoff_factor": 0}
INSTALLATION = 7
OWNED = "octo-org/service"


@pytest.fixture
def fake(app_key: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=777, private_key=app_key) as server:
        yield server


@pytest.fixture
def api(fake: FakeGitHub) -> requests.Session:
    """Raw HTTP with an installation token of ``OWNED``'s installation."""
    fake.add_installation(INSTALLATION, "octo-org")
    fake.add_repo(OWNED, INSTALLATION)
    session = requests.Session()
    session.headers["Authorization"] = f"token {_token(fake, INSTALLATION)}"
    return session


def _token(fake: FakeGitHub, installation: int) -> str:
    return new_token(fake.state, installation)[0]


def url(fake: FakeGitHub, path: str) -> str:
    return f"{fake.url}/repos/{OWNED}{path}"


# --------------------------------------------------------------------------- the App's flows


def test_the_apps_flows_keep_to_githubs_contract(ledger_engine, fake):
    """Deliveries through the worker (installation, pushes, pull requests opened, synchronized
    and merged, CI check runs, reviews) with the check run on and another app's "Token yield"
    run on every head: every request and answer is documented, and the other app's runs stay
    as they were."""
    guids = itertools.count(1)

    def send(event: str, payload: dict) -> None:
        inbox.store(
            ledger_engine, f"d{next(guids):05}", event, json.dumps(payload).encode(), payload
        )

    numbers = play(fake, send)
    fake.set_content(REPO, ".github/yield-auditor.yml", "check_run:\n  enabled: true\n")
    for number in numbers:
        head = fake.pull(REPO, number).commits[-1]
        add_check_run(fake, REPO, head, CHECK_NAME, "success")
    settings = Settings(
        _env_file=None,
        github_app_id=fake.app_id,
        github_app_private_key=fake.private_key,
        github_api_url=fake.url,
    )
    build_worker(ledger_engine, settings, github_options=QUICK, name="w").drain()

    records = fake.calls()
    used = {(r.method, contract("api.github.com").operation(r.method, r.path)[0]) for r in records}
    assert {
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
        ("POST", "/repos/{owner}/{repo}/check-runs"),
    } <= used
    for name in DESCRIPTIONS:
        assert violations(records, [name]) == [], name
    runs = fake.check_runs(REPO)
    theirs = [r for r in runs if r["app"] == GITHUB_ACTIONS]
    ours = [r for r in runs if r["app"]["id"] == fake.app_id]
    heads = {fake.pull(REPO, n).commits[-1] for n in numbers}
    assert len(theirs) == len(numbers) and heads <= {r["head_sha"] for r in ours}
    assert len(ours) == len({r["head_sha"] for r in ours})  # one run per head, never two
    assert all(r["conclusion"] == "success" and "output" not in r for r in theirs)
    assert all(r["name"] == CHECK_NAME and r["output"]["summary"] for r in ours)


def test_every_rest_route_of_the_fake_is_a_documented_operation(fake):
    """The fake invents no endpoint: each of its REST rules is in both descriptions."""
    rules = [r for r in fake.wsgi_app.url_map.iter_rules() if r.endpoint != "static"]
    for rule in rules:
        path = re.sub(r"<(?:int:)?\w+>", "1", rule.rule).replace("<path:path>", "a/b.txt")
        if WEB_PATHS.fullmatch(path):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for name in DESCRIPTIONS:
                assert contract(name).operation(method, path) is not None, (name, method, path)


def test_the_contract_catches_a_trimmed_user_an_undocumented_status_and_a_bad_request():
    """The check itself: what it must refuse, it refuses."""
    trimmed = {"id": 1, "node_id": "IC_1", "html_url": "h", "issue_url": "i", "url": "u"}
    trimmed |= {"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    trimmed["user"] = {"login": "ada", "id": 17, "type": "User"}
    path = "/repos/o/r/issues/comments/1"
    cases = {
        "'followers_url' is a required property": Recorded("GET", path, {}, None, 200, trimmed),
        "status 418 is not documented": Recorded("GET", path, {}, None, 418, {}),
        "'body' is a required property": Recorded("PATCH", path, {}, {"text": "x"}, 200, trimmed),
        "undocumented query parameter 'colour'": Recorded(
            "GET", path, {"colour": "red"}, None, 404
        ),
        "no such operation": Recorded("PUT", path, {}, None, 200),
    }
    for expected, record in cases.items():
        for name in DESCRIPTIONS:
            assert any(expected in v for v in violations([record], [name])), (expected, name)
    assert violations([Recorded("GET", path, {}, None, 502, None, fault="error")]) == []


# --------------------------------------------------------------------------- pulls are issues


def test_a_pull_request_is_an_issue(fake, api):
    fake.add_pull(OWNED, 1, head_ref="feature", title="Add the parser")
    made = api.post(url(fake, "/issues"), json={"title": "Digest"}, timeout=5)
    assert made.status_code == 201 and made.json()["number"] == 2  # numbers are shared
    as_issue = api.get(url(fake, "/issues/1"), timeout=5).json()
    assert as_issue["title"] == "Add the parser"
    assert as_issue["pull_request"]["url"] == url(fake, "/pulls/1")
    assert "pull_request" not in api.get(url(fake, "/issues/2"), timeout=5).json()
    listed = api.get(url(fake, "/issues"), params={"state": "all"}, timeout=5).json()
    assert [(i["number"], "pull_request" in i) for i in listed] == [(2, False), (1, True)]
    posted = api.post(url(fake, "/issues/1/comments"), json={"body": "cost"}, timeout=5)
    assert posted.status_code == 201 and "/pull/1#issuecomment-" in posted.json()["html_url"]
    assert api.get(url(fake, "/pulls/1"), timeout=5).json()["comments"] == 1
    assert (
        api.post(url(fake, "/issues/9/comments"), json={"body": "x"}, timeout=5).status_code == 404
    )
    with pytest.raises(ValueError, match="share"):
        fake.add_pull(OWNED, 2, head_ref="other")


# --------------------------------------------------------------------------- check runs


def test_check_runs_are_listed_as_github_filters_them(fake, api):
    sha = fake.add_commit(OWNED, "Head")
    ci = add_check_run(fake, OWNED, sha, "Token yield", "success")  # another app's, same name
    add_check_run(fake, OWNED, sha, "test", None)
    older = add_check_run(fake, OWNED, sha, "lint", "failure")
    newer = add_check_run(fake, OWNED, sha, "lint", "success")
    ours = api.post(
        url(fake, "/check-runs"), json={"name": "Token yield", "head_sha": sha}, timeout=5
    )
    mine = ours.json()["id"]

    def ids(**params: str) -> list[int]:
        answer = api.get(url(fake, f"/commits/{sha}/check-runs"), params=params, timeout=5).json()
        assert answer["total_count"] == len(answer["check_runs"])
        return sorted(r["id"] for r in answer["check_runs"])

    assert ids(check_name="Token yield") == sorted([ci, mine])
    assert ids(check_name="Token yield", app_id=str(fake.app_id)) == [mine]
    assert ids(app_id=str(GITHUB_ACTIONS["id"]), status="completed") == sorted([ci, newer])
    assert older not in ids() and older in ids(filter="all")
    assert len(ids(status="in_progress")) == 1


def test_a_check_run_of_another_app_cannot_be_patched(fake, api):
    sha = fake.add_commit(OWNED, "Head")
    theirs = add_check_run(fake, OWNED, sha, "Token yield", "success")
    before = fake.check_runs(OWNED)
    change = {
        "conclusion": "failure",
        "status": "completed",
        "output": {"title": "t", "summary": "s"},
    }
    refused = api.patch(url(fake, f"/check-runs/{theirs}"), json=change, timeout=5)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f"Invalid app_id `{GITHUB_ACTIONS['id']}` - check run can only be modified by the "
        "GitHub App that created it."
    )
    assert fake.check_runs(OWNED) == before
    mine = api.post(
        url(fake, "/check-runs"), json={"name": "Token yield", "head_sha": sha}, timeout=5
    )
    edited = api.patch(url(fake, f"/check-runs/{mine.json()['id']}"), json=change, timeout=5)
    assert edited.status_code == 200 and edited.json()["conclusion"] == "failure"


# --------------------------------------------------------------------------- Link headers

LINK = re.compile(r'<[^>]*[?&]page=(\d+)[^>]*>; rel="(\w+)"')


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(total=st.integers(0, 23), per_page=st.integers(1, 7), data=st.data())
def test_link_headers_are_githubs(fake, api, total, per_page, data):
    """Page 1 has next and last; the last page prev and first; a middle one all four, in
    GitHub's order; following ``next`` visits every item once."""
    fake.state.comments.clear()
    if (OWNED, 1) not in fake.state.pulls:
        fake.add_pull(OWNED, 1, head_ref="x")
    for i in range(total):
        fake.add_comment(OWNED, 1, f"c{i}", user=Person("A", "a@x.org", "ada", 17))
    pages = max((total + per_page - 1) // per_page, 1)
    number = data.draw(st.integers(1, pages))
    answer = api.get(
        url(fake, "/issues/1/comments"), params={"per_page": per_page, "page": number}, timeout=5
    )
    rels = [(rel, int(n)) for n, rel in LINK.findall(answer.headers.get("Link", ""))]
    expected = [("prev", number - 1)] if number > 1 else []
    expected += [("next", number + 1), ("last", pages)] if number < pages else []
    expected += [("first", 1)] if number > 1 else []
    assert rels == expected
    seen, link = [], url(fake, f"/issues/1/comments?per_page={per_page}")
    while link:
        answer = api.get(link, timeout=5)
        seen += [c["body"] for c in answer.json()]
        link = answer.links.get("next", {}).get("url")
    assert seen == [f"c{i}" for i in range(total)]
