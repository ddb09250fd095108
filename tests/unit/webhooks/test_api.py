"""The JSON API: explore's figures, paginated and filtered, as JSON and CSV; scoped to the
caller's installations; every answer valid against the OpenAPI document it serves."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import hypothesis
import jsonschema
import pytest
import schemathesis
from schemathesis import GenerationMode

from bot.app import explore
from bot.digest.model import Advice
from bot.ledger.tokens import create_token
from tests.access_helpers import bearer, make_settings, sign_in
from tests.scenario import load_dataset, scenario, second_week, seed
from webhooks import api
from webhooks import api_models as m
from webhooks.app import create_app

A, B = 7, 8
A_REPO, B_REPO = "acme/app", "globex/app"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
EVIL = '=HYPERLINK("http://evil")'
DOC = api.openapi()
INSTALLATION = "/installations/{installation_id}"
SUMMARY, MATRIX = f"{INSTALLATION}/summary", f"{INSTALLATION}/matrix"
PULLS, TASKS = f"{INSTALLATION}/pulls", f"{INSTALLATION}/tasks"
SCORECARD, POLICY = f"{INSTALLATION}/scorecard", f"{INSTALLATION}/policy"
PULL = f"{PULLS}/{{owner}}/{{repo}}/{{number}}"
TASK = f"{TASKS}/{{owner}}/{{repo}}/{{key}}"
# Path values naming a pull request and a task of each installation (pull request 12 is the
# second week's escalated fix, titled EVIL in installation A).
OWN = {"installation_id": A, "owner": "acme", "repo": "app", "number": 12, "key": "pr:12"}
THEIRS = {"installation_id": B, "owner": "globex", "repo": "app", "number": 12, "key": "pr:12"}


@pytest.fixture
def engine(ledger_engine):
    seed(ledger_engine, weeks=(scenario(), second_week(title=EVIL)))
    seed(ledger_engine, installation=B, account="globex", repository=B_REPO)
    return ledger_engine


@pytest.fixture
def app(engine, monkeypatch):
    monkeypatch.setattr(api, "now", lambda: NOW)
    return create_app(make_settings(), engine)


@pytest.fixture
def client(app):
    client = app.test_client()
    sign_in(client, installations=(A,))
    return client


@pytest.fixture
def dataset(engine) -> explore.Dataset:
    return load_dataset(engine, A)


def url(template: str, **values) -> str:
    return api.PREFIX + template.format(**{**OWN, **values})


def fetch(client, template: str, params=None, status: int = 200, headers=None, **values):
    """GET ``template`` filled with ``values``: the answer must have ``status`` and, when it is
    JSON, validate against the OpenAPI document's schema for that path and status."""
    response = client.get(url(template, **values), query_string=params or {}, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    if response.mimetype == "application/json":
        jsonschema.Draft202012Validator(
            {**schema_of(template, str(status)), "components": DOC["components"]},
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        ).validate(response.json)
    return response


def schema_of(template: str, status: str) -> dict:
    answer = DOC["paths"][template]["get"]["responses"][status]
    if "$ref" in answer:
        answer = DOC["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return answer["content"]["application/json"]["schema"]


def everything(client, template: str, params=None) -> list[dict]:
    return fetch(client, template, {**(params or {}), "per_page": 100}).json["items"]


def rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def links(response) -> dict[str, str]:
    found = re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("Link", ""))
    return {rel: href for href, rel in found}


def window(dataset, to="2026-W46", weeks=2) -> explore.Window:
    return explore.window(dataset, to, weeks, NOW)


def rate(r) -> dict:
    interval = {"low": r.low, "high": r.high, "confidence": r.conf} if r.n else None
    return {"value": r.value, "interval": interval, "k": r.k, "n": r.n}


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.8f}"


# --------------------------------------------------------------------------- figures


def test_installations_are_the_callers_own(app, client):
    assert fetch(client, "/installations").json["items"] == [
        {"id": A, "account": "acme", "state": "active", "repositories": 1}
    ]
    both = app.test_client()
    sign_in(both, installations=(A, B))
    assert [i["account"] for i in fetch(both, "/installations").json["items"]] == ["acme", "globex"]


def test_the_summary_is_explores_overview(client, dataset):
    body = fetch(client, SUMMARY, {"to": "2026-W46", "weeks": 2}).json
    overview = explore.overview(dataset, window(dataset))
    f, o = body["figures"], overview.metrics
    assert f["token_yield"] == o.token_yield and f["cost_yield"] == o.cost_yield
    assert (f["tasks"], f["shipped_tasks"], f["tokens"]) == (
        o.tasks,
        o.shipped_tasks,
        o.tokens_total,
    )
    assert f["spend_usd"] == money(o.usd_total) == "0.42800000"
    assert f["cost_per_shipped_task"] == money(o.cost_per_shipped_task)
    assert f["first_pass_yield"] == rate(o.first_pass)
    assert f["bounce_rate"] == rate(o.bounce_rate)
    assert f["escalation_rate"] == rate(o.escalation_rate)
    assert f["price_coverage"] == o.price_coverage < 1
    assert f["agent_rework_commits"] == o.agent_rework_commits > 0
    assert {b["bucket"]: (b["tokens"], b["spend_usd"]) for b in f["waterfall"]} == {
        bucket: (s.tokens, money(s.usd)) for bucket, s in o.waterfall.items()
    }
    assert [w["week"] for w in body["trend"]] == ["2026-W45", "2026-W46"]
    assert [w["token_yield"] for w in body["trend"]] == [
        w.metrics.token_yield for w in overview.trend
    ]
    assert [w["spend_usd"] for w in body["trend"]] == [
        money(w.metrics.usd_total) for w in overview.trend
    ]
    assert body["open_tasks"] == overview.open_tasks == 1
    assert body["window"] == {
        "first_week": "2026-W45", "last_week": "2026-W46", "weeks": 2, "latest": False,
        "start": "2026-11-02T00:00:00Z", "end": "2026-11-16T00:00:00Z",
    }  # fmt: skip


def test_the_default_window_ends_with_the_latest_week_a_task_finished(client):
    w = fetch(client, SUMMARY).json["window"]
    assert (w["last_week"], w["weeks"], w["latest"]) == ("2026-W46", explore.DEFAULT_WEEKS, True)


def test_what_cannot_be_computed_is_null_never_zero(client):
    f = fetch(client, SUMMARY, {"to": "2026-W40", "weeks": 1}).json["figures"]
    assert f["tasks"] == 0 and f["spend_usd"] == "0.00000000"
    assert f["token_yield"] is None and f["cost_yield"] is None
    assert f["cost_per_shipped_task"] is None
    assert f["first_pass_yield"] == {"value": None, "interval": None, "k": 0, "n": 0}


def test_the_matrix_is_explores_with_its_csv(client, dataset):
    params = {"to": "2026-W46", "weeks": 2}
    body = fetch(client, MATRIX, params).json
    expected = explore.matrix(dataset, window(dataset))
    assert body["tiers"] == ["economy", "standard", "frontier"] == list(expected.tiers)
    assert body["cells"] == [
        {"tier": c.tier, "task_class": c.task_class, "tasks": c.tasks,
         "shipped_tasks": c.shipped_tasks, "first_pass_yield": c.first_pass_yield,
         "first_pass_interval": c.interval and {"low": c.interval[0], "high": c.interval[1],
                                                "confidence": 0.95},
         "token_yield": c.token_yield, "cost_per_shipped_task": money(c.cost_per_shipped_task)}
        for c in expected.cells
    ]  # fmt: skip
    response = fetch(client, f"{MATRIX}.csv", params)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="acme-matrix-2026-11-26.csv"'
    )
    table = rows(response)
    assert [(r["tier"], r["task_class"], r["tasks"]) for r in table] == [
        (c.tier, c.task_class, str(c.tasks)) for c in expected.cells
    ]
    assert table[0]["first_pass_interval_low"] == str(expected.cells[0].interval[0])


def test_recommendations_are_the_matrix_advice_up_to_the_week(client, dataset):
    body = fetch(client, f"{INSTALLATION}/recommendations", {"to": "2026-W46"}).json
    advice = explore.matrix(dataset, window(dataset, weeks=1)).advice
    assert advice and body["window"]["last_week"] == "2026-W46"
    assert [(i["task_class"], i["action"], i["from_tier"], i["to_tier"], i["text"], i["p_cheaper"])
            for i in body["items"]] == [
        (a.task_class, a.action, a.from_tier, a.to_tier, a.text, a.p_cheaper) for a in advice
    ]  # fmt: skip


def test_a_saving_is_money_with_its_interval():
    advice = Advice("bugfix", "switch", "frontier", "economy", "...", 0.97, 0.31, (-0.1, 0.5))
    out = m.AdviceOut.of(advice).model_dump(mode="json")
    assert out["saving_per_shipped_task"] == "0.31000000"
    assert out["saving_interval"] == {"low": "-0.10000000", "high": "0.50000000", "confidence": 0.9}


def test_repositories_with_their_csv(client, dataset):
    params = {"to": "2026-W46", "weeks": 2}
    body = fetch(client, f"{INSTALLATION}/repositories", params).json
    [(name, figures)] = explore.repositories(dataset, window(dataset))
    [item] = body["items"]
    assert (item["repository"], item["tasks"], item["token_yield"]) == (
        name,
        figures.tasks,
        figures.token_yield,
    )
    assert item["first_pass_yield"] == rate(figures.first_pass) and body["total"] == 1
    [row] = rows(fetch(client, f"{INSTALLATION}/repositories.csv", params))
    assert (row["repository"], row["spend_usd"]) == (name, money(figures.usd_total))
    assert row["first_pass_yield_k"] == str(figures.first_pass.k)


# --------------------------------------------------------------------------- lists


def test_pages_cover_the_list_once_with_github_links(client, dataset):
    whole = [t["key"] for t in everything(client, TASKS)]
    assert whole == [m.task_key(d.task) for d in explore.tasks(dataset, explore.TaskFilter())]
    assert len(whole) == 10
    first = fetch(client, TASKS, {"per_page": 3})
    assert (first.json["pages"], first.json["total"]) == (4, 10)
    assert set(links(first)) == {"next", "last"}
    assert "page=4" in links(first)["last"] and "per_page=3" in links(first)["last"]
    seen, response = [], first
    while True:
        seen += [t["key"] for t in response.json["items"]]
        if "next" not in links(response):
            break
        response = client.get(links(response)["next"])
        assert set(links(response)) >= {"first", "prev"}
    assert seen == whole and response.json["page"] == 4 and len(response.json["items"]) == 1
    past = fetch(client, TASKS, {"per_page": 3, "page": 9})
    assert past.json["items"] == [] and past.json["total"] == 10
    assert "page=4" in links(past)["prev"] and "next" not in links(past)
    assert "Link" not in fetch(client, TASKS, {"per_page": 25}).headers


@pytest.mark.parametrize("field", ["repository", "tier", "task_class", "agent", "model", "outcome"])
def test_every_filter_narrows_as_explore_does(client, dataset, field):
    values = explore.choices(dataset)[field]
    narrower = False
    for value in (*values, *(("nope",) if field != "outcome" else ())):
        wanted = explore.TaskFilter(**{field: value})
        keys = [t["key"] for t in everything(client, TASKS, {field: value})]
        assert keys == [m.task_key(d.task) for d in explore.tasks(dataset, wanted)]
        numbers = [p["number"] for p in everything(client, PULLS, {field: value})]
        assert numbers == [r.pull.number for r in explore.pulls(dataset, wanted)]
        narrower = narrower or len(keys) < len(dataset.dated)
    assert narrower


def test_date_filters_are_explores(client, dataset):
    for since, until in ((date(2026, 11, 9), date(2026, 11, 15)), (date(2026, 11, 9), None),
                         (None, date(2026, 11, 2))):  # fmt: skip
        params = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v}
        wanted = explore.TaskFilter(since=since, until=until)
        keys = [t["key"] for t in everything(client, TASKS, params)]
        assert keys == [m.task_key(d.task) for d in explore.tasks(dataset, wanted)]
        assert 0 < len(keys) < len(dataset.dated)
        pulls = [p["number"] for p in everything(client, PULLS, params)]
        assert pulls == [r.pull.number for r in explore.pulls(dataset, wanted)]


def test_pull_and_task_lists_carry_explores_values(client, dataset):
    [pull] = [p for p in everything(client, PULLS) if p["number"] == 12]
    row = explore.pull(dataset, A_REPO, 12)
    assert (pull["title"], pull["outcome"], pull["tiers"]) == (EVIL, row.outcome, ["economy"])
    assert pull["spend_usd"] == money(row.metrics.usd_total) and pull["tasks"] == 1
    assert pull["url"] == "https://github.com/acme/app/pull/12"
    [task] = [t for t in everything(client, TASKS) if t["key"] == "pr:12"]
    tokens, usd, unpriced = explore.spend_of(row.tasks[0].task)
    assert (task["tokens"], task["spend_usd"], task["unpriced_tokens"]) == (
        tokens,
        money(usd),
        unpriced,
    )
    assert task["finished_at"] == row.tasks[0].finished_at.isoformat().replace("+00:00", "Z")
    assert task["bounces"] == ["ci_failed", "escalated"] and task["escalated"]


def test_a_pull_request_with_its_tasks_and_attempts(client, dataset):
    body = fetch(client, PULL).json
    row = explore.pull(dataset, A_REPO, 12)
    assert body["pull"]["number"] == 12 and body["pull"]["title"] == EVIL
    [task] = body["tasks"]
    assert task["task"]["id"] == row.tasks[0].task.id
    assert [(a["number"], a["tier"], a["outcome"], a["spend_usd"]) for a in task["attempts"]] == [
        (a.number, a.tier, a.outcome, money(a.usd)) for a in row.tasks[0].task.attempts
    ]
    assert fetch(client, PULL, status=404, number=99).json["error"]
    assert fetch(client, PULL, status=404, number=6).json["error"]  # a human-only pull request


def test_a_task_with_its_attempts_and_spend_by_bucket(client, dataset):
    body = fetch(client, TASK).json
    found = explore.task(dataset, A_REPO, f"{A_REPO}:pr:12")
    assert body["task"]["pr_numbers"] == [12] and len(body["attempts"]) == 2
    assert {b["bucket"]: b["spend_usd"] for b in body["spend"]} == {
        bucket: money(s.usd) for bucket, s in found.task.spend.items()
    }
    assert fetch(client, TASK, status=404, key="branch:fix/login").json["error"]
    assert fetch(client, TASK, status=404, key=f"{A_REPO}:pr:12").json["error"]


# --------------------------------------------------------------------------- CSV


def test_csv_lists_are_every_matching_row_unpaginated(client, dataset):
    response = fetch(client, f"{PULLS}.csv", {"tier": "economy"})
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="acme-pulls-2026-11-26.csv"'
    )
    wanted = explore.TaskFilter(tier="economy")
    assert [int(r["number"]) for r in rows(response)] == [
        r.pull.number for r in explore.pulls(dataset, wanted)
    ]
    tasks = rows(fetch(client, f"{TASKS}.csv"))
    assert [r["key"] for r in tasks] == [
        m.task_key(d.task) for d in explore.tasks(dataset, explore.TaskFilter())
    ]
    assert tasks[0].keys() >= {"repository", "title", "tier", "spend_usd", "finished_at", "bounces"}
    assert fetch(client, f"{TASKS}.csv", {"page": 2}, status=400).json["error"].startswith("page:")


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(client):
    [pull] = [r for r in rows(fetch(client, f"{PULLS}.csv")) if r["number"] == "12"]
    assert pull["title"] == "'" + EVIL
    [task] = [r for r in rows(fetch(client, f"{TASKS}.csv")) if r["key"] == "pr:12"]
    assert task["title"] == "'" + EVIL
    assert fetch(client, PULL).json["pull"]["title"] == EVIL  # JSON keeps the text as it is


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_escaped_but_numbers_are_not(start):
    assert api.cell(f"{start}1+1") == f"'{start}1+1"
    assert api.cell([f"{start}x", "y"]) == f"'{start}x;y"
    assert api.cell(Decimal("-0.5")) == "-0.50000000" and api.cell(-2) == "-2"
    assert api.cell("a=1") == "a=1"


def test_a_csv_file_name_is_sanitised(app, engine):
    seed(engine, installation=9, account='evil"\r\n; x=/..', repository="evil/app")
    client = app.test_client()
    sign_in(client, installations=(9,))
    response = fetch(client, f"{TASKS}.csv", installation_id=9)
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="evil-x-..-tasks-2026-11-26.csv"'
    )


# --------------------------------------------------------------------------- access


def scoped(values: dict) -> list[tuple[str, str]]:
    return [(e.path, url(e.path, **values)) for e in api.ENDPOINTS if e.names_installation]


def test_a_user_of_one_installation_gets_404_for_everything_of_another(client):
    for template, path in scoped(THEIRS):
        assert client.get(path).status_code == 404, path
        fetch(client, template, status=404, **THEIRS)
    for template in (PULL, TASK):  # the other's objects under one's own installation
        fetch(client, template, status=404, **{**THEIRS, "installation_id": A})


def test_a_token_sees_its_installation_only(app, engine):
    _, token = create_token(engine, A, "ci")
    client = app.test_client()
    assert [
        i["id"] for i in fetch(client, "/installations", headers=bearer(token)).json["items"]
    ] == [A]
    for template, _ in scoped(THEIRS):
        fetch(client, template, status=404, headers=bearer(token), **THEIRS)
    for template, _ in scoped(OWN):
        assert client.get(url(template), headers=bearer(token)).status_code == 200, template


def test_without_credentials_only_the_document_answers(app):
    client = app.test_client()
    for e in api.ENDPOINTS:
        if not e.public:
            assert fetch(client, e.path, status=401).json["error"]
            fetch(client, e.path, status=401, headers=bearer("yat_not-a-token"))
    assert fetch(client, "/openapi.json").json == api.openapi(app.config["SESSION_COOKIE_NAME"])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("template", "params", "error"),
    [
        (TASKS, {"per_page": "0"}, "per_page: "),
        (TASKS, {"per_page": "101"}, "per_page: "),
        (PULLS, {"page": "0"}, "page: "),
        (PULLS, {"page": "two"}, "page: "),
        (TASKS, {"outcome": "merged"}, "outcome: "),
        (TASKS, {"since": "2026-13-01"}, "since: "),
        (TASKS, {"tiers": "economy"}, "tiers: unknown parameter"),
        (PULL, {"verbose": "1"}, "verbose: unknown parameter (this endpoint takes: none)"),
        (SUMMARY, {"weeks": "0"}, "weeks: "),
        (MATRIX, {"weeks": str(explore.MAX_WEEKS + 1)}, "weeks: "),
        (SUMMARY, {"to": "2026-47"}, "to: "),
        (SUMMARY, {"to": "2026-W60"}, "to: "),
        (SUMMARY, {"to": "2025-W53"}, "to: 2025-W53 is not an ISO week"),
        (f"{INSTALLATION}/recommendations", {"weeks": "2"}, "weeks: unknown parameter"),
        # The calendar's edges (issue 16): each overflowed date arithmetic or a SQL integer.
        (SUMMARY, {"to": "0001-W01"}, "to: "),
        (MATRIX, {"to": "9999-W52"}, "to: "),
        (TASKS, {"until": "9999-12-31"}, "until: "),
        (f"{PULLS}.csv", {"since": "0001-01-01"}, "since: "),
        (TASKS, {"page": str(2**63)}, "page: "),
        (PULLS, {"page": str(10**6 + 1)}, "page: "),
        (SCORECARD, {"since": "2026-11-10", "until": "12/11/2026"}, "until: "),
        (POLICY, {"until": "9999-12-31"}, "until: "),
        (POLICY, {"reference": "economy"}, "reference: unknown parameter"),
    ],
)
def test_an_invalid_parameter_is_a_400_naming_it(client, template, params, error):
    assert error in fetch(client, template, params, status=400).json["error"]


@pytest.mark.parametrize("number", [2**31, 2**63, 10**30])
def test_a_pull_request_number_past_the_ledgers_integers_is_a_400(client, number):
    answer = client.get(url(PULL, number=number))
    assert answer.status_code == 400
    assert answer.json == {"error": "number: must be a whole number from 0 to 2147483647"}


def test_a_nul_character_anywhere_is_a_400_not_a_database_error(client):
    for path in (url(TASK, key="pr%00"), url(TASKS) + "?repository=a%00b"):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert "NUL" in answer.json["error"]


def test_a_list_cuts_titles_its_items_endpoint_keeps_them_whole(ledger_engine, monkeypatch):
    """100 items of a huge title each made one page of the list huge (anyone who can push a
    commit subject writes a task's title)."""
    huge = "Z" * 100_000
    seed(ledger_engine, weeks=(scenario(), second_week(title=huge)))
    monkeypatch.setattr(api, "now", lambda: NOW)
    client = create_app(make_settings(), ledger_engine).test_client()
    sign_in(client, installations=(A,))
    for template in (PULLS, TASKS):
        titles = {i["title"] for i in fetch(client, template, {"per_page": 100}).json["items"]}
        assert "Z" * 199 + "…" in titles and huge not in titles, template
    assert fetch(client, PULL).json["pull"]["title"] == huge
    assert fetch(client, TASK).json["task"]["title"] == huge


def test_a_repeated_parameter_is_refused(client):
    response = client.get(url(TASKS), query_string=[("tier", "economy"), ("tier", "frontier")])
    assert response.status_code == 400 and response.json == {"error": "tier: given more than once"}


# --------------------------------------------------------------------------- the document


def test_the_document_describes_every_route_of_the_api(app):
    served = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix(api.PREFIX)
        for rule in app.url_map.iter_rules() if rule.rule.startswith(api.PREFIX + "/")
    }  # fmt: skip
    assert served == set(DOC["paths"]) and len(served) == 16


def test_the_document_is_a_consistent_openapi_3_1_document():
    assert DOC["openapi"] == "3.1.0" and DOC["servers"] == [{"url": "/api/v1"}]
    assert DOC["components"]["securitySchemes"]["bearerToken"] == {
        **DOC["components"]["securitySchemes"]["bearerToken"], "type": "http", "scheme": "bearer"
    }  # fmt: skip
    operations = [(path, item["get"]) for path, item in DOC["paths"].items()]
    assert len({op["operationId"] for _, op in operations}) == len(operations)
    for path, op in operations:
        names = [(p["name"], p["in"]) for p in op["parameters"]]
        assert len(set(names)) == len(names), path
        declared = {name for name, where in names if where == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), path
        assert all(p["required"] for p in op["parameters"] if p["in"] == "path")
        public = op.get("security") == []
        expected = {"200", "400"} | ({"401"} if not public else set())
        expected |= {"404"} if "{installation_id}" in path else set()
        assert set(op["responses"]) == expected, path
    for schema in DOC["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for ref in _refs(DOC):
        node = DOC
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, f"{ref} does not resolve"
            node = node[part]


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_money_in_the_document_is_a_decimal_string():
    figures = DOC["components"]["schemas"]["WindowFigures"]["properties"]
    assert figures["spend_usd"]["type"] == "string"
    assert {"type": "null"} in figures["cost_per_shipped_task"]["anyOf"]
    assert jsonschema.Draft202012Validator(figures["spend_usd"]).is_valid("0.12345678")
    assert not jsonschema.Draft202012Validator(figures["spend_usd"]).is_valid(0.12)


# --------------------------------------------------------------------------- property-based


def test_every_endpoint_answers_as_its_document_says(app, engine):
    """Schemathesis draws parameters from the document for each operation of installation A
    and checks every answer (status, headers, content type, body) against the document."""
    headers = bearer(create_token(engine, A, "schemathesis")[1])
    schema = schemathesis.openapi.from_wsgi(f"{api.PREFIX}/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):
        fixed = {"installation_id": A} if "{installation_id}" in operation.path else {}
        # W53 of a year of 52 weeks matches the pattern but is refused: not drawn.
        cases = operation.as_strategy(mode, path_parameters=fixed).filter(
            lambda case: not str((case.query or {}).get("to")).endswith("W53")
        )

        @hypothesis.given(cases)
        @hypothesis.settings(max_examples=15, derandomize=True, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
        def answers(case):
            case.call_and_validate(headers=headers)

        answers()
