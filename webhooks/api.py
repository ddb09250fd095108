"""The JSON API, ``/api/v1/...`` (docs/api.md): what the dashboard shows, for scripts.

Each endpoint is declared once with ``endpoint``: that registers the Flask route and the entry
of the OpenAPI document (``/api/v1/openapi.json``), whose parameters come from the endpoint's
query model and whose response schemas come from the models that build the bodies
(``webhooks.api_models``), so the document describes exactly what is served.

``endpoint`` also checks access before the view runs: ``require_installation`` first for every
path naming an installation (404 for another tenant's, as for one that does not exist), and a
caller for every other endpoint but the document. Data comes from ``bot.app.explore`` over the
installation's own dataset only; nothing here computes a figure.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, request
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from bot.app import explore
from bot.digest.compose import DatedTask
from bot.digest.render import safe_url
from bot.engine.attribution import Task
from webhooks import api_models as m
from webhooks.access import require_caller, require_installation
from webhooks.ingress import state

PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"
blueprint = Blueprint("api", __name__, url_prefix=PREFIX)
Q = TypeVar("Q", bound=m.Query)
L = TypeVar("L", m.PullOut, m.TaskOut)


def now() -> datetime:
    """The clock the default window is chosen by (tests set it)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- declaring endpoints


@dataclass(frozen=True, slots=True)
class PathParameter:
    converter: str  # the Flask converter
    schema: dict[str, Any]
    description: str


PATH_PARAMETERS = {
    "installation_id": PathParameter("int", {"type": "integer", "minimum": 0,
                                             "maximum": m.MAX_INSTALLATION_ID},
                                     "The GitHub App installation's id."),
    "owner": PathParameter("string", {"type": "string", "pattern": m.TEXT_PATTERN},
                           "The repository's owner."),
    "repo": PathParameter("string", {"type": "string", "pattern": m.TEXT_PATTERN},
                          "The repository's name."),
    "number": PathParameter("int", {"type": "integer", "minimum": 0,
                                    "maximum": m.MAX_PR_NUMBER},
                            "The pull request's number."),
    "key": PathParameter("path", {"type": "string", "pattern": m.TEXT_PATTERN},
                         'The task\'s key, e.g. "pr:12" or "branch:fix/login" (slashes allowed).'),
}  # fmt: skip
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One GET endpoint: ``path`` is its OpenAPI template under /api/v1; ``body`` the model of
    its JSON answer (None for a CSV file, or for the OpenAPI document itself)."""

    path: str
    operation: str
    summary: str
    query: type[m.Query] | None
    body: type[BaseModel] | None
    is_csv: bool = False
    public: bool = False

    @property
    def names_installation(self) -> bool:
        return "{installation_id}" in self.path


ENDPOINTS: list[Endpoint] = []


def endpoint(
    path: str,
    summary: str,
    *,
    query: type[m.Query] | None = None,
    body: type[BaseModel] | None = None,
    is_csv: bool = False,
    public: bool = False,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a GET view at ``path`` and describe it in the OpenAPI document.

    The view receives the path parameters and, with ``query``, the parsed ``query`` model
    (without, any query parameter is refused); access is checked before anything else, so no
    view can forget it.
    """

    def register(view: Callable[..., Response]) -> Callable[..., Response]:
        declared = Endpoint(path, view.__name__, summary, query, body, is_csv, public)
        ENDPOINTS.append(declared)

        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Response:
            check_path(kwargs)
            if declared.names_installation:
                require_installation(kwargs["installation_id"])
            elif not public:
                require_caller()
            parsed = parse_query(query or m.Query)  # refuses unknown parameters
            if query is not None:
                kwargs["query"] = parsed
            return view(**kwargs)

        rule = _PLACEHOLDER.sub(lambda p: f"<{PATH_PARAMETERS[p[1]].converter}:{p[1]}>", path)
        blueprint.add_url_rule(rule, view.__name__, guarded, methods=["GET"])
        return view

    return register


def check_path(values: dict[str, Any]) -> None:
    """400 for a number in the path outside its schema's bounds (the database's column would
    overflow), before anything is looked up."""
    for name, value in values.items():
        schema = PATH_PARAMETERS[name].schema
        if isinstance(value, int) and not schema["minimum"] <= value <= schema["maximum"]:
            abort(400, f"{name}: must be a whole number from {schema['minimum']} to "
                       f"{schema['maximum']}")  # fmt: skip


def parse_query(model: type[Q]) -> Q:
    """The request's query parameters as ``model``, or 400 naming the parameter and why
    (a repeated parameter is refused too: which value was meant?)."""
    repeated = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
    if repeated:
        abort(400, f"{repeated[0]}: given more than once")
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        abort(400, "; ".join(_reason(e, model) for e in exc.errors()))


def _reason(error: Any, model: type[m.Query]) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        known = ", ".join(model.model_fields) or "none"
        return f"{where}: unknown parameter (this endpoint takes: {known})"
    return f"{where}: {error['msg']}"


# --------------------------------------------------------------------------- answers


def _json(body: BaseModel, page: explore.Page | None = None) -> Response:
    response = Response(body.model_dump_json(), content_type="application/json")
    if page is not None and (links := _links(page)):
        response.headers["Link"] = links
    return response


def _links(page: explore.Page) -> str:
    """GitHub's pagination header: next and last before the last page, first and prev after
    the first (prev of a page past the end is the last page)."""
    rels = []
    if page.page < page.pages:
        rels += [("next", page.page + 1), ("last", page.pages)]
    if page.page > 1:
        rels += [("first", 1), ("prev", min(page.page - 1, page.pages))]
    return ", ".join(f'<{_page_url(number)}>; rel="{rel}"' for rel, number in rels)


def _page_url(number: int) -> str:
    return f"{request.base_url}?{urlencode({**request.args.to_dict(), 'page': str(number)})}"


def _page(items: Sequence[Any], query: m.Paging) -> explore.Page:
    return explore.paginate(items, query.page, query.per_page)


def csv_file(
    rows: Sequence[BaseModel], model: type[BaseModel], account: str, name: str
) -> Response:
    """``rows`` as a CSV download: a header row, then one row each (nested models flattened)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(_columns(model)))
    writer.writerows(list(_cells(model, row)) for row in rows)
    filename = f"{_FILENAME_UNSAFE.sub('-', account)}-{name}-{now().date().isoformat()}.csv"
    return Response(
        out.getvalue(),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``Model`` or ``Model | None``), else None."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    for option in (annotation, *options):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def _columns(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        inner = _nested(field.annotation)
        yield from _columns(inner, f"{prefix}{name}_") if inner else (prefix + name,)


def _cells(model: type[BaseModel], row: BaseModel | None) -> Iterator[str]:
    for name, field in model.model_fields.items():
        value = None if row is None else getattr(row, name)
        inner = _nested(field.annotation)
        yield from _cells(inner, value) if inner else (cell(value),)


def cell(value: Any) -> str:
    """One CSV cell. Text (repository, title, tier, model, agent... all chosen by whoever wrote
    the commits) that a spreadsheet would run as a formula gets a leading ``'`` (OWASP)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return m.money_text(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, int | float):
        return str(value)
    text = ";".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# --------------------------------------------------------------------------- data


def _dataset(installation_id: int) -> explore.Dataset:
    with Session(state().engine) as session:
        dataset = explore.load_installation(session, installation_id)
    if dataset is None:
        abort(404, f"installation {installation_id} is not in the ledger")
    return dataset


def _window(dataset: explore.Dataset, to: str | None, weeks: int) -> explore.Window:
    try:
        return m.bounded_window(dataset, to, weeks, now())
    except ValueError as exc:  # a week that does not exist (2025-W53), a window before 1000
        abort(400, f"to: {exc}")


def _pull_url(repository: str, number: int) -> str | None:
    return safe_url(f"{state().settings.github_web_url}/{repository}/pull/{number}")


def _task_url(task: Task) -> str | None:
    """The task's latest pull request."""
    return _pull_url(task.repository, max(task.pr_numbers)) if task.pr_numbers else None


def _listed(item: L) -> L:
    """A list's item with its title cut as the dashboard shows it (a page of 100 items with a
    1 MB title each would be 100 MB); the item's own endpoint and the CSV have it whole. Other
    values stay whole: they are the filter values scripts send back."""
    return item.model_copy(update={"title": m.short(item.title)})


def _pull_out(row: explore.PullRow) -> m.PullOut:
    return m.PullOut.of(row, _pull_url(row.pull.repository, row.pull.number))


def _task_out(d: DatedTask) -> m.TaskOut:
    return m.TaskOut.of(d, _task_url(d.task))


# --------------------------------------------------------------------------- endpoints

INSTALLATION = "/installations/{installation_id}"


@endpoint("/installations", "The caller's installations", query=m.Paging,
          body=m.InstallationPage)  # fmt: skip
def installations(query: m.Paging) -> Response:
    with Session(state().engine) as session:
        rows = explore.installation_rows(session, require_caller().installations)
    page = _page(rows, query)
    items = [m.Installation(id=i, account=a, state=s, repositories=r) for i, a, s, r in page.items]
    return _json(m.InstallationPage(items=items, **m.PageOf.values(page)), page)


@endpoint(f"{INSTALLATION}/summary", "The window's figures, waterfall and weekly trend",
          query=m.WindowQuery, body=m.Summary)  # fmt: skip
def summary(installation_id: int, query: m.WindowQuery) -> Response:
    dataset = _dataset(installation_id)
    window = _window(dataset, query.to, query.weeks)
    return _json(m.Summary.of(dataset, explore.overview(dataset, window)))


def _matrix(installation_id: int, query: m.WindowQuery) -> tuple[explore.Dataset, m.MatrixOut]:
    dataset = _dataset(installation_id)
    window = _window(dataset, query.to, query.weeks)
    return dataset, m.MatrixOut.of(dataset, explore.matrix(dataset, window))


@endpoint(f"{INSTALLATION}/matrix", "Tier x task class cells of the window",
          query=m.WindowQuery, body=m.MatrixOut)  # fmt: skip
def matrix(installation_id: int, query: m.WindowQuery) -> Response:
    return _json(_matrix(installation_id, query)[1])


@endpoint(f"{INSTALLATION}/matrix.csv", "The matrix's cells as CSV", query=m.WindowQuery,
          is_csv=True)  # fmt: skip
def matrix_csv(installation_id: int, query: m.WindowQuery) -> Response:
    dataset, body = _matrix(installation_id, query)
    return csv_file(body.cells, m.CellOut, dataset.account, "matrix")


@endpoint(f"{INSTALLATION}/recommendations",
          "Routing advice per task class, from every task finished before the week's end",
          query=m.AsOf, body=m.Recommendations)  # fmt: skip
def recommendations(installation_id: int, query: m.AsOf) -> Response:
    dataset = _dataset(installation_id)
    window = _window(dataset, query.to, 1)
    advice = explore.matrix(dataset, window).advice
    return _json(m.Recommendations(installation_id=installation_id, window=m.WindowOut.of(window),
                                   items=[m.AdviceOut.of(a) for a in advice]))  # fmt: skip


def _repositories(
    installation_id: int, query: m.WindowQuery
) -> tuple[explore.Dataset, explore.Window, list[m.RepositoryOut]]:
    dataset = _dataset(installation_id)
    window = _window(dataset, query.to, query.weeks)
    rows = [m.RepositoryOut.of(name, f) for name, f in explore.repositories(dataset, window)]
    return dataset, window, rows


@endpoint(f"{INSTALLATION}/repositories", "Each repository's figures over the window",
          query=m.RepositoryQuery, body=m.RepositoryPage)  # fmt: skip
def repositories(installation_id: int, query: m.RepositoryQuery) -> Response:
    _, window, rows = _repositories(installation_id, query)
    page = _page(rows, query)
    return _json(m.RepositoryPage(window=m.WindowOut.of(window), items=list(page.items),
                                  **m.PageOf.values(page)), page)  # fmt: skip


@endpoint(f"{INSTALLATION}/repositories.csv", "The repositories' figures as CSV",
          query=m.WindowQuery, is_csv=True)  # fmt: skip
def repositories_csv(installation_id: int, query: m.WindowQuery) -> Response:
    dataset, _, rows = _repositories(installation_id, query)
    return csv_file(rows, m.RepositoryOut, dataset.account, "repositories")


@endpoint(f"{INSTALLATION}/pulls", "Pull requests carrying agent tasks, newest first",
          query=m.PagedFilters, body=m.PullPage)  # fmt: skip
def pulls(installation_id: int, query: m.PagedFilters) -> Response:
    page = explore.pull_page(
        _dataset(installation_id), query.task_filter(), query.page, query.per_page
    )
    items = [_listed(_pull_out(row)) for row in page.items]
    return _json(m.PullPage(items=items, **m.PageOf.values(page)), page)


@endpoint(f"{INSTALLATION}/pulls.csv", "Every matching pull request as CSV", query=m.Filters,
          is_csv=True)  # fmt: skip
def pulls_csv(installation_id: int, query: m.Filters) -> Response:
    dataset = _dataset(installation_id)
    rows = [_pull_out(row) for row in explore.pulls(dataset, query.task_filter())]
    return csv_file(rows, m.PullOut, dataset.account, "pulls")


@endpoint(f"{INSTALLATION}/pulls/{{owner}}/{{repo}}/{{number}}",
          "A pull request with its tasks and their attempts", body=m.PullDetail)  # fmt: skip
def pull(installation_id: int, owner: str, repo: str, number: int) -> Response:
    row = explore.pull(_dataset(installation_id), f"{owner}/{repo}", number)
    if row is None or not row.tasks:
        abort(404, f"no pull request {owner}/{repo}#{number} with agent tasks here")
    tasks = [m.TaskDetail.of(d, _task_url(d.task)) for d in row.tasks]
    return _json(m.PullDetail(pull=_pull_out(row), tasks=tasks))


@endpoint(f"{INSTALLATION}/tasks", "Agent tasks, open ones first, then latest finished first",
          query=m.PagedFilters, body=m.TaskPage)  # fmt: skip
def tasks(installation_id: int, query: m.PagedFilters) -> Response:
    page = explore.task_page(
        _dataset(installation_id), query.task_filter(), query.page, query.per_page
    )
    items = [_listed(_task_out(d)) for d in page.items]
    return _json(m.TaskPage(items=items, **m.PageOf.values(page)), page)


@endpoint(f"{INSTALLATION}/tasks.csv", "Every matching task as CSV", query=m.Filters, is_csv=True)
def tasks_csv(installation_id: int, query: m.Filters) -> Response:
    dataset = _dataset(installation_id)
    rows = [_task_out(d) for d in explore.tasks(dataset, query.task_filter())]
    return csv_file(rows, m.TaskOut, dataset.account, "tasks")


@endpoint(f"{INSTALLATION}/tasks/{{owner}}/{{repo}}/{{key}}",
          "A task with its attempts and its spend by bucket", body=m.TaskDetail)  # fmt: skip
def task(installation_id: int, owner: str, repo: str, key: str) -> Response:
    repository = f"{owner}/{repo}"
    found = explore.task(_dataset(installation_id), repository, f"{repository}:{key}")
    if found is None:
        abort(404, f"no task {key} in {repository} here")
    return _json(m.TaskDetail.of(found, _task_url(found.task)))


@endpoint(f"{INSTALLATION}/scorecard",
          "Does routing pay: the scorecard, the routing-efficiency curve, routing against "
          "cascading and the router's threshold sweep of the tasks finished in a period",
          query=m.ScorecardQuery,
          body=m.ScorecardOut)  # fmt: skip
def scorecard(installation_id: int, query: m.ScorecardQuery) -> Response:
    dataset = _dataset(installation_id)
    found = explore.routing(dataset, query.task_filter(), query.reference)
    return _json(m.ScorecardOut.of(dataset, found))


@endpoint(f"{INSTALLATION}/policy",
          "The routing policy for a router (docs/policy.md; schema yield-auditor/policy/v1)",
          query=m.RoutingQuery, body=m.PolicyOut)  # fmt: skip
def policy(installation_id: int, query: m.RoutingQuery) -> Response:
    found = explore.routing_policy(_dataset(installation_id), query.task_filter())
    body = m.PolicyOut.model_validate(found.to_json())
    return Response(body.model_dump_json(by_alias=True), content_type="application/json")


@endpoint("/openapi.json", "This document (OpenAPI 3.1)", public=True)
def openapi_json() -> Response:
    cookie = current_app.config["SESSION_COOKIE_NAME"]
    return Response(openapi_text(cookie), content_type="application/json")


# --------------------------------------------------------------------------- the document


@functools.cache
def openapi_text(cookie: str) -> str:
    return json.dumps(openapi(cookie), indent=1)


def openapi(cookie: str = "session") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``ENDPOINTS``; ``cookie`` is the session cookie's name."""
    schemas: dict[str, Any] = {}
    paths = {e.path: {"get": _operation(e, schemas)} for e in ENDPOINTS}
    error = _schema(m.ErrorBody, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Yield Auditor API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": PREFIX}],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "An API token, yat_...: one installation, "
                                               "read-only (yield-auditor token create)."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": cookie,
                                  "description": "The dashboard's session (sign in with GitHub)."},
            },
            "responses": {
                str(code): {"description": text, "content": {"application/json": {"schema": error}}}
                for code, text in ERRORS.items()
            },
        },
    }  # fmt: skip


DESCRIPTION = (
    "What the Yield Auditor dashboard shows, as JSON and CSV (docs/api.md). Money is a decimal "
    "string with 8 places, never a float; a share is a number from 0 to 1, or null when it "
    "cannot be computed; timestamps are ISO 8601 in UTC. Lists are paginated (page, per_page "
    'up to 100) with a Link header. Every error is JSON: {"error": "..."}.'
)
ERRORS = {
    400: "A query parameter is invalid or unknown; the error names it and says why.",
    401: "No credentials: send an API token (Authorization: Bearer yat_...) or sign in.",
    404: "No such installation for this caller (another tenant's looks the same), or no such "
    "pull request or task in it.",
}


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """A reference to ``model``'s schema, which is added with its definitions to ``schemas``."""
    schema = model.model_json_schema(ref_template=REF, mode="serialization")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _operation(e: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _success(e, schemas),
                                 "400": {"$ref": "#/components/responses/400"}}  # fmt: skip
    if not e.public:
        responses["401"] = {"$ref": "#/components/responses/401"}
    if e.names_installation:
        responses["404"] = {"$ref": "#/components/responses/404"}
    operation = {"operationId": e.operation, "summary": e.summary,
                 "parameters": _parameters(e), "responses": responses}  # fmt: skip
    return {**operation, "security": []} if e.public else operation


def _success(e: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    if e.is_csv:
        return {"description": "A CSV file with a header row (text/csv; charset=utf-8).",
                "headers": {"Content-Disposition": {"schema": {"type": "string"},
                            "description": 'attachment; filename="ACCOUNT-NAME-DATE.csv"'}},
                "content": {"text/csv": {"schema": {"type": "string"}}}}  # fmt: skip
    schema = {"type": "object"} if e.body is None else _schema(e.body, schemas)
    answer: dict[str, Any] = {"description": e.summary,
                              "content": {"application/json": {"schema": schema}}}  # fmt: skip
    if e.body is not None and issubclass(e.body, m.PageOf):
        answer["headers"] = {
            "Link": {
                "schema": {"type": "string"},
                "description": 'Pages as <url>; rel="next", "prev", "first", "last" (as GitHub).',
            }
        }
    return answer


def _parameters(e: Endpoint) -> list[dict[str, Any]]:
    found = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name].schema,
         "description": PATH_PARAMETERS[name].description}
        for name in _PLACEHOLDER.findall(e.path)
    ]  # fmt: skip
    if e.query is None:
        return found
    properties = e.query.model_json_schema()["properties"]
    for name, field in e.query.model_fields.items():
        schema = _plain(properties[name])
        found.append({"name": name, "in": "query", "required": False, "schema": schema,
                      "description": field.description or ""})  # fmt: skip
    return found


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's title, description and null option
    (an absent parameter is the null)."""
    rest = {k: v for k, v in schema.items() if k not in ("title", "description", "anyOf")}
    options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        rest.update(options[0])
    if rest.get("default", 0) is None:
        del rest["default"]
    return rest
