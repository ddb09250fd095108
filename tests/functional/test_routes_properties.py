"""No user parameter makes the app answer 5xx: every route of ``app.url_map`` (so a new route is
covered without editing this file) is called by a signed-in administrator with arbitrary path
segments, query parameters and form fields, on SQLite and PostgreSQL (PostgreSQL alone refuses
integers past BIGINT and NUL characters in text, so some 500s only show there)."""

from __future__ import annotations

import re
import time
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter, PathConverter, Rule

from bot.ledger.db import make_engine
from tests.access_helpers import csrf_token, make_settings
from tests.scenario import INSTALLATION, seed
from webhooks.access import SESSION_USER, session_user, session_version
from webhooks.app import create_app
from webhooks.ingress import STATE_KEY
from webhooks.ingress import blueprint as ingress_blueprint


def _rules() -> list[Rule]:
    """Every route but the webhook ingress's (signed deliveries; its /healthz answers 503 by
    design when no worker runs), listed from an app on an empty in-memory database."""
    app = create_app(make_settings(), make_engine("sqlite://"))
    ingress = f"{ingress_blueprint.name}."
    return [r for r in app.url_map.iter_rules() if not r.endpoint.startswith(ingress)]


RULES = _rules()
USER_ID = 1001
PARAMETERS = ("weeks", "to", "page", "per_page", "repository", "tier", "task_class", "agent",
              "model", "outcome", "since", "until", "next", "state", "code", "error", "token",
              "organization", "guid")  # fmt: skip
EDGES = ("0", "-1", "1000-W01", "2999-W53", "0001-W01", "9999-W52", "2026-W53", "0001-01-01",
         "9999-12-31", "2026-02-30", str(2**31), str(2**63), str(10**30), "1e9", "acme/app",
         "unknown", "\x00", "%00", "//evil.example", " ")  # fmt: skip
values = st.one_of(st.sampled_from(EDGES), st.text(max_size=40), st.integers().map(str))
numbers = st.one_of(st.just(INSTALLATION), st.integers(min_value=0, max_value=2**70))
segments = st.one_of(st.sampled_from(("acme", "app", "pr:21", "\x00")), st.text(min_size=1))
fields = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=10)), values),
                  max_size=4)  # fmt: skip


def _segment(draw, converter) -> str:
    if isinstance(converter, IntegerConverter):
        return str(draw(numbers))
    safe = "/" if isinstance(converter, PathConverter) else ""
    return quote(draw(segments), safe=safe)


@st.composite
def requests(draw, rule: Rule) -> tuple[str, str, list[tuple[str, str]]]:
    """A method, a path of ``rule``'s shape (odd segments may fall outside it) and fields."""
    path = _PLACEHOLDER.sub(lambda p: _segment(draw, rule._converters[p[1]]), rule.rule)
    method = draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})))
    return method, path, draw(fields)


_PLACEHOLDER = re.compile(r"<(?:[^:>]+:)?(\w+)>")


# The edges of issue 16, each sent alone to every route (a random draw would rarely hit one).
EDGE_FIELDS = [("to", "0001-W01"), ("to", "9999-W52"), ("to", "1000-W01"), ("weeks", str(10**30)),
               ("since", "0001-01-01"), ("until", "9999-12-31"), ("page", str(10**30)),
               ("page", str(2**63)), ("per_page", str(2**63)), ("repository", "a\x00b"),
               ("tier", "\x00"), ("guid", "\x00")]  # fmt: skip
EDGE_NUMBERS = (2**31, 2**63, 10**30)
ORDINARY = {"installation_id": str(INSTALLATION), "owner": "acme", "repo": "app", "number": "1",
            "key": "pr:1"}  # fmt: skip


def edge_requests(rule: Rule) -> list[tuple[str, list[tuple[str, str]]]]:
    """``rule`` with ordinary segments and each edge field, then with each segment at an edge
    (a number past INTEGER, BIGINT and any integer; a NUL in text)."""
    ordinary = {name: ORDINARY.get(name, "x") for name in rule._converters}
    found = [(_path(rule, ordinary), [edge]) for edge in EDGE_FIELDS]
    for name, converter in rule._converters.items():
        edges = EDGE_NUMBERS if isinstance(converter, IntegerConverter) else ("a%00b",)
        found += [(_path(rule, {**ordinary, name: str(edge)}), []) for edge in edges]
    return found


def _path(rule: Rule, segments: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda p: segments[p[1]], rule.rule)


def call(client, method: str, path: str, given_fields: list[tuple[str, str]]):
    """``method`` on ``path`` as a signed-in administrator: fields in the query of a GET, in
    the form (with a valid CSRF token) otherwise. Signed in afresh each time, at the current
    session version (a drawn POST /logout moves it on)."""
    version = session_version(client.application.extensions[STATE_KEY].engine, USER_ID)
    with client.session_transaction() as session:
        session[SESSION_USER] = session_user(
            "grace", USER_ID, {INSTALLATION}, {INSTALLATION}, time.time() + 3600, version
        )
    if method == "GET":
        return client.get(f"{path}?{urlencode(given_fields)}")
    form = [*given_fields, ("csrf_token", csrf_token(client))]
    return client.open(path, method=method, data=urlencode(form),
                       content_type="application/x-www-form-urlencoded")  # fmt: skip


@pytest.fixture
def client(ledger_engine):
    seed(ledger_engine)
    return create_app(make_settings(), ledger_engine).test_client()


RULE_IDS = [f"{sorted(r.methods - {'HEAD', 'OPTIONS'})[0]} {r.rule}" for r in RULES]


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_no_edge_value_makes_a_route_answer_5xx(client, rule: Rule):
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        for path, given_fields in edge_requests(rule):
            answer = call(client, method, path, given_fields)
            assert answer.status_code < 500, (method, path, given_fields, answer.get_data()[:300])


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_no_parameter_makes_a_route_answer_5xx(client, rule: Rule):
    @settings(max_examples=20, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(requests(rule))
    def check(request: tuple[str, str, list[tuple[str, str]]]) -> None:
        method, path, given_fields = request
        answer = call(client, method, path, given_fields)
        assert answer.status_code < 500, (method, path, given_fields, answer.get_data()[:300])

    check()
