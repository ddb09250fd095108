"""Tenant isolation: a caller of installation A gets 404 for every page and endpoint of B.

The routes are read from the application's URL map, so a new route is covered the day it is
added; a route that names no installation must be one of the few public ones listed here.
Each route is tried with B's installation and B's repository, pull request and task, and
with A's installation but B's objects (the repository must be looked up within A), as a
signed-in user of A and with an API token of A.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import Rule

from bot.ledger import inbox
from bot.ledger.tokens import create_token
from tests.access_helpers import bearer, make_settings, sign_in
from tests.scenario import failed_delivery, load_dataset, seed
from webhooks.app import create_app

A, B = 7, 8
A_REPO, B_REPO = "acme/app", "globex/app"
# Routes that name no installation: sign-in, the App's first setup (only while it has no
# credentials), health, metrics, the ingress, static files and the lists of the caller's own
# installations. Anything else must take an installation id.
PUBLIC = {
    "/",
    "/login",
    "/login/callback",
    "/setup",
    "/setup/callback",
    "/logout",
    "/healthz",
    "/metrics",
    "/api/github/webhooks",
    "/api/v1/openapi.json",
    "/api/v1/installations",
    "/static/<path:filename>",
}


@pytest.fixture
def app(ledger_engine):
    seed(ledger_engine, installation=A, account="acme", repository=A_REPO)
    seed(ledger_engine, installation=B, account="globex", repository=B_REPO)
    failed_delivery(ledger_engine, "b-delivery", B, B_REPO)
    return create_app(make_settings(), ledger_engine)


@pytest.fixture
def b_objects(ledger_engine) -> dict[str, str]:
    """URL values naming B's repository, pull request and task."""
    task = next(d.task for d in load_dataset(ledger_engine, B).dated if d.task.pr_numbers)
    return _objects(B_REPO, task)


def _objects(repository: str, task) -> dict[str, str]:
    owner, repo = repository.split("/")
    key = task.id.removeprefix(f"{repository}:")  # URLs carry the key without the repository
    return {"owner": owner, "repo": repo, "number": str(task.pr_numbers[0]), "key": key}


def scoped_rules(app) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if "installation_id" in r.arguments]


def test_every_route_is_public_or_names_an_installation(app):
    unscoped = {r.rule for r in app.url_map.iter_rules()} - {r.rule for r in scoped_rules(app)}
    assert unscoped <= PUBLIC, f"routes without an installation id: {unscoped - PUBLIC}"
    assert len(scoped_rules(app)) >= 10  # the dashboard's pages and the API's endpoints


def _urls(
    app, installation: int, values: dict[str, str], objects_only: bool = False
) -> list[tuple[str, str]]:
    """(method, path) of every scoped route, filled with ``installation`` and ``values``;
    only the routes naming a repository, pull request or task when ``objects_only``."""
    found = []
    for rule in scoped_rules(app):
        if objects_only and rule.arguments == {"installation_id"}:
            continue
        unknown = rule.arguments - {"installation_id", *values}
        assert not unknown, f"{rule.rule}: teach this test a value for {unknown}"
        args = {name: values[name] for name in rule.arguments if name != "installation_id"}
        with app.test_request_context():
            path = app.url_for(rule.endpoint, installation_id=installation, **args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


def _answers(client, method: str, path: str, headers: dict[str, str]):
    if method == "GET":
        return client.get(path, headers=headers)
    return client.open(path, method=method, headers=headers, data={"csrf_token": client.csrf})


def _signed_in_client(app):
    """A signed-in administrator of A, with the CSRF token of A's own operations page: a
    state-changing request of B's must fail on scoping, not on a missing token."""
    client = app.test_client()
    sign_in(client, login="ada", installations=(A,), admin_of=(A,))
    page = client.get(f"/installations/{A}/operations").get_data(as_text=True)
    client.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    return client


def test_a_user_of_a_gets_404_for_everything_of_b(app, b_objects, ledger_engine):
    client = _signed_in_client(app)
    for installation, objects_only in ((B, False), (A, True)):  # B's, and B's objects under A
        for method, path in _urls(app, installation, b_objects, objects_only):
            answer = _answers(client, method, path, {})
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
    assert inbox.get(ledger_engine, "b-delivery").status == inbox.FAILED  # no retry of B's


def test_the_lists_of_installations_name_only_the_callers(app, ledger_engine):
    client = _signed_in_client(app)
    assert client.get("/").headers["Location"].endswith(f"/installations/{A}/")
    listed = client.get("/api/v1/installations").get_json()["items"]
    assert [i["id"] for i in listed] == [A]
    _, token = create_token(ledger_engine, A, "ci")
    listed = app.test_client().get("/api/v1/installations", headers=bearer(token)).get_json()
    assert [i["id"] for i in listed["items"]] == [A]


def test_a_token_of_a_gets_404_for_everything_of_b(app, b_objects, ledger_engine):
    _, token = create_token(ledger_engine, A, "ci")
    client = app.test_client()
    for installation, objects_only in ((B, False), (A, True)):
        for method, path in _urls(app, installation, b_objects, objects_only):
            if not path.startswith("/api/") or method != "GET":
                continue  # tokens are read-only and for the API only
            answer = client.get(path, headers=bearer(token))
            assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"


def test_the_same_routes_answer_their_own_tenant(app, b_objects, ledger_engine):
    """The 404s above are isolation, not broken routes: A's own objects are served."""
    dataset = load_dataset(ledger_engine, A)
    own = _objects(A_REPO, next(d.task for d in dataset.dated if d.task.pr_numbers))
    client = _signed_in_client(app)
    for method, path in _urls(app, A, own):
        if method == "GET":
            answer = client.get(path)
            assert answer.status_code == 200, f"GET {path}: {answer.status_code}"
