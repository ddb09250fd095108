"""The dashboard: server-rendered pages over one installation's ledger (docs/dashboard.md).

Each view parses its query, asks ``bot.app.explore`` and renders a template, so every figure is
computed as in the weekly digest. A view naming an installation calls ``require_installation``
(or ``require_admin``) before it reads anything, and looks repositories, pull requests and tasks
up in that installation's ``Dataset`` only: another tenant's names answer 404 like unknown ones.
Pages need no JavaScript and carry no inline style or script (the CSP forbids both); each chart
is inline SVG from ``bot.render.charts`` next to a table that says the same in text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup
from sqlalchemy.orm import Session

from bot import DOCS_URL
from bot import format as fmt
from bot.app import explore
from bot.digest.compose import DatedTask
from bot.digest.model import Cell
from bot.engine.attribution import BUCKETS, Spend, Task
from bot.engine.curve import Curve
from bot.engine.records import PullRequest
from bot.engine.scorecard import MOST_EXPENSIVE
from bot.engine.sweep import Sweep
from bot.engine.yields import MIN_PRICE_COVERAGE, GroupMetrics
from bot.render.audit import estimate, points
from bot.render.charts import (
    Bucket,
    CurvePoint,
    HeatCell,
    Point,
    Step,
    bar_chart,
    calibration_chart,
    curve_chart,
    heatmap,
    line_chart,
    waterfall_chart,
)
from bot.render.comment import _task_name, _timeline
from bot.render.jinja import add_filters
from webhooks.access import (
    current_caller,
    require_admin,
    require_caller,
    require_installation,
)
from webhooks.api_models import (
    FIRST_DATE,
    LAST_DATE,
    MAX_PAGE,
    MAX_PR_NUMBER,
    SHOWN,
    bounded_window,
    short,
)
from webhooks.ingress import state as app_state

blueprint = Blueprint("dashboard", __name__)

FILTERS = ("repository", "tier", "task_class", "agent", "model", "outcome", "since", "until")
WINDOW_ARGS = ("weeks", "to")
PER_PAGE, MAX_PER_PAGE = 25, 100
ERROR_SHOWN = 2000  # characters of a failed delivery's error shown on the operations page
MAX_CHOICES = 200  # options of one filter of the list forms
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
METRICS_DOC = f"{DOCS_URL}/metrics.md"


# --------------------------------------------------------------------------- pages


@blueprint.get("/")
def home():
    """The caller's installations; straight to the overview when there is only one."""
    caller = require_caller()
    with Session(app_state().engine) as session:
        rows = explore.installation_rows(session, caller.installations)
    if len(rows) == 1:
        return redirect(url_for(".overview", installation_id=rows[0][0]))
    return _render("home", None, "", rows=rows)


@blueprint.get("/installations/<int:installation_id>/")
def overview(installation_id: int):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    found = explore.overview(dataset, _window(dataset))
    return _render("overview", dataset, "overview", o=found, figures=figures(found.metrics),
                   charts=_trend_charts(found.trend), weeks=_week_rows(found.trend))  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/matrix")
def matrix(installation_id: int):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    found = explore.matrix(dataset, _window(dataset))
    since, until = found.window.dates()
    links = {(c.tier, c.task_class): url_for(".tasks", installation_id=installation_id,
                                             tier=c.tier, task_class=c.task_class,
                                             since=since.isoformat(), until=until.isoformat())
             if len(c.tier) <= SHOWN and len(c.task_class) <= SHOWN else None
             for c in found.cells}  # fmt: skip
    cells = [HeatCell(c.tier, c.task_class, c.first_pass_yield,
                      f"{fmt.share(c.first_pass_yield)} (n={c.tasks})", cell_detail(c),
                      links[(c.tier, c.task_class)]) for c in found.cells]  # fmt: skip
    chart = heatmap("matrix", f"First-pass yield by tier and task class, {found.window.label}",
                    found.tiers, found.classes, cells)  # fmt: skip
    rows = sorted(found.cells, key=lambda c: (found.tiers.index(c.tier), c.task_class))
    return _render("matrix", dataset, "matrix", m=found, chart=chart, links=links, rows=rows)


@blueprint.get("/installations/<int:installation_id>/repositories")
def repositories(installation_id: int):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    window = _window(dataset)
    rows = explore.repositories(dataset, window)
    return _render("repositories", dataset, "repositories", window=window, rows=rows)


@blueprint.get("/installations/<int:installation_id>/pulls")
def pulls(installation_id: int):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    page = _paginate(explore.pull_page, dataset)
    csv = f"/api/v1/installations/{installation_id}/pulls.csv"
    active = _active_filters()
    return _render("pulls", dataset, "pulls", page=page, rows=[pull_line(r) for r in page.items],
                   choices=_choices(dataset), active=active,
                   csv_url=_with_query(csv, active))  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/pulls/<owner>/<repo>/<int:number>")
def pull(installation_id: int, owner: str, repo: str, number: int):
    require_installation(installation_id)
    if number > MAX_PR_NUMBER:
        abort(400, f"a pull request number is at most {MAX_PR_NUMBER}, not {number}")
    dataset = _dataset(installation_id)
    found = explore.pull(dataset, f"{owner}/{repo}", number)
    if found is None:
        abort(404, f"{owner}/{repo}#{number} is not a pull request of this installation")
    waterfall = waterfall_view(f"pull-{number}-waterfall", "Where this pull request's spend went",
                               found.metrics)  # fmt: skip
    return _render("pull", dataset, "pulls", row=found, github=github_url(found.pull),
                   timelines=[(d, attempt_rows(d.task)) for d in found.tasks],
                   waterfall=waterfall)  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/tasks")
def tasks(installation_id: int):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    page = _paginate(explore.task_page, dataset)
    rows = [task_line(installation_id, d) for d in page.items]
    return _render("tasks", dataset, "tasks", page=page, rows=rows,
                   choices=_choices(dataset), active=_active_filters())  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/tasks/<owner>/<repo>/<path:key>")
def task(installation_id: int, owner: str, repo: str, key: str):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    repository = f"{owner}/{repo}"
    found = explore.task(dataset, repository, f"{repository}:{key}")
    if found is None:
        abort(404, f"no task {key} in {repository} for this installation")
    t = found.task
    prs = [(n, dataset.pull(repository, n)) for n in t.pr_numbers]
    return _render("task", dataset, "tasks", d=found, t=t, label=_task_name(t), prs=prs,
                   timeline=attempt_rows(t), spend=spend_rows(t.spend))  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/calibration")
def calibration(installation_id: int):
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    window = _window(dataset)
    buckets = [Bucket(low, high, r.value, (r.low, r.high) if r.n else None, r.n)
               for low, high, r in explore.calibration_buckets(dataset, window)]  # fmt: skip
    chart = calibration_chart("calibration", f"Router calibration, {window.label}", buckets)
    metrics = explore.overview(dataset, window).metrics
    waterfall = waterfall_view("waterfall", f"Where the spend went, {window.label}", metrics)
    return _render("calibration", dataset, "calibration", window=window, buckets=buckets,
                   chart=chart, waterfall=waterfall)  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/scorecard")
def scorecard(installation_id: int):
    """Does routing pay: the scorecard, the curve and routing against cascading."""
    require_installation(installation_id)
    dataset = _dataset(installation_id)
    wanted = _task_filter()
    reference = request.args.get("reference", "").strip() or MOST_EXPENSIVE
    found = explore.routing(dataset, wanted, reference)
    return _render("scorecard", dataset, "scorecard", r=found, chart=curve_view(found.curve),
                   sweep_chart=sweep_view(found.sweep),
                   references=explore.references(dataset), choices=_choices(dataset),
                   active=_active_filters(), api_url=_with_query(
                       f"/api/v1/installations/{installation_id}/scorecard",
                       {**_active_filters(), "reference": reference}))  # fmt: skip


@blueprint.get("/installations/<int:installation_id>/operations")
def operations(installation_id: int):
    require_admin(installation_id)
    dataset = _dataset(installation_id)
    ops = explore.operations(app_state().engine, installation_id)
    oldest = ops.queue.oldest_pending
    age = duration(datetime.now(UTC) - oldest) if oldest else None
    return _render("operations", dataset, "operations", ops=ops, age=age, shown=ERROR_SHOWN)


@blueprint.post("/installations/<int:installation_id>/operations/retry")
def retry(installation_id: int):
    """Re-queue failed deliveries (the ``guid`` fields, or all failed ones), then back to the
    operations page (POST/redirect/GET). CSRFProtect has checked the token before this runs."""
    require_admin(installation_id)
    guids = [g for g in request.form.getlist("guid") if g]
    count = explore.retry_failed(app_state().engine, installation_id, guids)
    what = "the failed deliveries" if not guids else "the chosen deliveries"
    flash(f"Re-queued {count} of {what}: the worker will process them again shortly."
          if count else f"Nothing re-queued: {what} are no longer failed.")  # fmt: skip
    return redirect(url_for(".operations", installation_id=installation_id), 303)


# --------------------------------------------------------------------------- loading and params


def _dataset(installation_id: int) -> explore.Dataset:
    with Session(app_state().engine) as session:
        dataset = explore.load_installation(session, installation_id)
    if dataset is None:
        abort(404, "no such installation")
    return dataset


def _window(dataset: explore.Dataset) -> explore.Window:
    """``weeks`` (1..104, default 12) ending with ``to`` (YYYY-Www; default: the data's)."""
    weeks = _int_arg("weeks", explore.DEFAULT_WEEKS, 1, explore.MAX_WEEKS)
    to = request.args.get("to", "").strip() or None
    try:
        return bounded_window(dataset, to, weeks, datetime.now(UTC))
    except ValueError as error:
        abort(400, f"to: {error}")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or not low <= int(raw) <= high:
        abort(400, f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    return int(raw)


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or not FIRST_DATE <= day <= LAST_DATE:
        abort(400, f"{name} must be a date like 2026-11-30, from {FIRST_DATE} to {LAST_DATE}, "
                   f"not {raw[:40]!r}")  # fmt: skip
    return day


def _task_filter() -> explore.TaskFilter:
    """The list filters of the query; an empty field (as a GET form sends it) matches all."""
    text = {k: request.args.get(k, "").strip() or None for k in FILTERS[:6]}
    if text["outcome"] not in (None, *explore.OUTCOMES):
        abort(400, f"outcome must be one of {', '.join(explore.OUTCOMES)}")
    since, until = _date_arg("since"), _date_arg("until")
    if since and until and since > until:
        abort(400, "since must not be after until")
    return explore.TaskFilter(**text, since=since, until=until)


def _choices(dataset: explore.Dataset) -> dict[str, tuple[str, ...]]:
    """The filter form's options: at most MAX_CHOICES each, none longer than SHOWN (an option's
    value is the whole value: a few huge trailers would make every list page huge). Those left
    out can still be filtered on from the address."""
    return {name: tuple(v for v in values if len(v) <= SHOWN)[:MAX_CHOICES]
            for name, values in explore.choices(dataset).items()}  # fmt: skip


def _active_filters() -> dict[str, str]:
    """The filters set in the query, to keep in every link of a list (pages, removals, CSV)."""
    return {k: v for k in FILTERS if (v := request.args.get(k, "").strip())}


def _paginate(lister, dataset: explore.Dataset) -> explore.Page:
    """The page the query asks for, of ``explore.pull_page`` or ``explore.task_page``."""
    return lister(dataset, _task_filter(), _int_arg("page", 1, 1, MAX_PAGE),
                  _int_arg("per_page", PER_PAGE, 1, MAX_PER_PAGE))  # fmt: skip


@blueprint.app_template_global()
def list_args() -> dict[str, str]:
    """The query of a list page to keep in its links: the filters, and a chosen page size."""
    per_page = request.args.get("per_page", "").strip()
    return _active_filters() | ({"per_page": per_page} if per_page else {})


def _with_query(path: str, args: dict[str, Any]) -> str:
    return f"{request.script_root}{path}" + (f"?{urlencode(args)}" if args else "")


def _render(template: str, dataset: explore.Dataset | None, section: str, **context: Any) -> str:
    """A page with what the layout needs: the caller, the installation and its navigation."""
    caller = current_caller()
    others: list = []
    if caller is not None and len(caller.installations) > 1:
        with Session(app_state().engine) as session:
            others = explore.installation_rows(session, caller.installations)
    keep = {k: v for k in WINDOW_ARGS if (v := request.args.get(k, "").strip())}
    return render_template(f"dashboard/{template}.html.j2", caller=caller, installation=dataset,
                           section=section, others=others, keep=keep, **context)  # fmt: skip


# --------------------------------------------------------------------------- figures as text


@dataclass(frozen=True, slots=True)
class Figure:
    """A headline figure: its value, what it is out of, and why it is missing (if it is)."""

    name: str
    value: str
    detail: str
    missing: str | None
    anchor: str  # of docs/metrics.md


def figures(m: GroupMetrics) -> list[Figure]:
    """The overview's five figures, each with its denominator (never a bare number)."""
    dollars = spend(m)
    fp = m.first_pass
    interval = f"; 95% interval {fmt.share(fp.low)} to {fmt.share(fp.high)}" if fp.n else ""
    coverage = f"{fmt.share(m.price_coverage)} of tokens priced"
    shown = [
        ("Spend", fmt.money(dollars), f"on {m.tasks} finished tasks; {coverage}", dollars,
         "where-the-tokens-went"),
        ("Token yield", fmt.share(m.token_yield), f"{fmt.tokens(m.tokens_shipped, exact=True)} of "
         f"{fmt.tokens(m.tokens_total, exact=True)} tokens shipped", m.token_yield,
         "where-the-tokens-went"),
        ("Cost yield", fmt.share(m.cost_yield), coverage if dollars is None else
         f"{fmt.money(m.usd_shipped)} of {fmt.money(dollars)} shipped; {coverage}", m.cost_yield,
         "where-the-tokens-went"),
        ("First-pass yield", fmt.share(fp.value), f"{fp.k} of {fp.n} finished tasks{interval}",
         fp.value, "task-level-figures"),
        ("Cost per shipped task", fmt.money_per(m.cost_per_shipped_task, m.shipped_tasks),
         f"{fmt.money(dollars)} over {m.shipped_tasks} shipped tasks", m.cost_per_shipped_task,
         "task-level-figures"),
    ]  # fmt: skip
    return [Figure(name, text, detail, None if raw is not None else _why(name, m), anchor)
            for name, text, detail, raw, anchor in shown]  # fmt: skip


def _why(name: str, m: GroupMetrics) -> str:
    """Why a figure is n/a: nothing finished, too little priced, nothing shipped."""
    if not m.tasks:
        return "no agent task finished in these weeks"
    dollars = name in ("Spend", "Cost yield", "Cost per shipped task")
    if dollars and m.price_coverage < MIN_PRICE_COVERAGE:
        return (f"withheld: only {fmt.share(m.price_coverage)} of tokens are priced "
                f"(under {fmt.share(MIN_PRICE_COVERAGE)})")  # fmt: skip
    if name == "Token yield":
        return "no tokens recorded"
    if name == "Cost yield":
        return "no priced spend"
    return "no task shipped"


def spend(m: GroupMetrics) -> Decimal | None:
    """The dollars spent, or None when too little of the usage is priced (docs/metrics.md)."""
    return m.usd_total if m.price_coverage >= MIN_PRICE_COVERAGE else None


def attempt_rows(task: Task) -> list[dict]:
    """The cost comment's attempts timeline (``bot.render.comment``), in the dashboard's format."""
    rows = _timeline([task], False)
    return [{**row, "cost": fmt.cost(a.usd, a.unpriced_tokens)}
            for a, row in zip(task.attempts, rows, strict=True)]  # fmt: skip


def pull_line(row: explore.PullRow) -> dict:
    """A row of the pull request list; the cost reads as the pull request's cost comment."""
    m, tasks = row.metrics, [d.task for d in row.tasks]
    unpriced = sum(s.unpriced_tokens for s in m.waterfall.values())
    return {"repository": row.pull.repository, "number": row.pull.number,
            "title": row.pull.title, "tiers": row.values(lambda t: t.tier),
            "classes": row.values(lambda t: t.task_class), "agents": row.values(lambda t: t.agent),
            "models": row.values(lambda t: t.model), "outcome": row.outcome,
            "attempts": sum(len(t.attempts) for t in tasks),
            "bounces": sum(len(t.bounces) for t in tasks),
            "rework": m.agent_rework_commits + m.human_rework_commits,
            "tokens": fmt.tokens(m.tokens_total, exact=True),
            "cost": fmt.cost(m.usd_total, unpriced)}  # fmt: skip


def task_line(installation_id: int, d: DatedTask) -> dict:
    t = d.task
    tokens, dollars, unpriced = explore.spend_of(t)
    return {"url": task_url(installation_id, t), "name": _task_name(t), "title": d.title,
            "repository": t.repository, "tier": t.tier or "unknown", "task_class": t.task_class,
            "agent": t.agent or "unknown", "model": t.model or "unknown", "status": t.status,
            "finished_at": d.finished_at, "attempts": len(t.attempts), "bounces": len(t.bounces),
            "tokens": fmt.tokens(tokens, exact=True),
            "cost": fmt.cost(dollars, unpriced)}  # fmt: skip


def cell_detail(c: Cell) -> str:
    """A matrix cell's tooltip: first-pass yield with its interval, token yield, cost."""
    interval = f" (95% interval {fmt.share(c.interval[0])} to {fmt.share(c.interval[1])})"
    return (f"{short(c.tier)} x {short(c.task_class)}: first-pass yield "
            f"{fmt.share(c.first_pass_yield)}{interval if c.interval else ''}, n={c.tasks}; "
            f"token yield {fmt.share(c.token_yield)}; cost per shipped task "
            f"{fmt.money_per(c.cost_per_shipped_task, c.shipped_tasks)}")  # fmt: skip


def _trend_charts(trend: Iterable[explore.Week]) -> list:
    weeks = list(trend)

    def points(pick) -> list[Point]:
        return [Point(w.label, pick(w.metrics)) for w in weeks]

    return [
        bar_chart("trend-spend", "Spend per week", points(spend), unit="usd"),
        line_chart("trend-token-yield", "Token yield", points(lambda m: m.token_yield)),
        line_chart("trend-first-pass", "First-pass yield", points(lambda m: m.first_pass.value)),
        line_chart("trend-cost-yield", "Cost yield", points(lambda m: m.cost_yield)),
        line_chart("trend-cost-per-shipped", "Cost per shipped task",
                   points(lambda m: m.cost_per_shipped_task), unit="usd"),
    ]  # fmt: skip


def _week_rows(trend: Iterable[explore.Week]) -> list[dict]:
    """The trend charts as a table (their text alternative)."""
    return [{"label": w.label, "tasks": w.metrics.tasks,
             "spend": fmt.money(spend(w.metrics)),
             "token_yield": fmt.share(w.metrics.token_yield),
             "first_pass": fmt.share(w.metrics.first_pass.value),
             "cost_yield": fmt.share(w.metrics.cost_yield),
             "cost_per_shipped": fmt.money_per(w.metrics.cost_per_shipped_task,
                                             w.metrics.shipped_tasks)}
            for w in trend]  # fmt: skip


def spend_rows(buckets: dict[str, Spend]) -> list[dict]:
    """Tokens and dollars per waterfall bucket, with each bucket's share of the total."""
    tokens = sum(s.tokens for s in buckets.values())
    dollars = sum((s.usd for s in buckets.values()), Decimal(0))
    return [{"bucket": b, "tokens": fmt.tokens(s.tokens, exact=True),
             "token_share": fmt.share(s.tokens / tokens if tokens else None),
             "usd": fmt.money(s.usd), "usd_share": fmt.share(s.usd / dollars if dollars else None),
             "unpriced": fmt.tokens(s.unpriced_tokens, exact=True)}
            for b, s in ((b, buckets[b]) for b in BUCKETS)]  # fmt: skip


def waterfall_view(chart_id: str, title: str, m: GroupMetrics) -> dict:
    """The waterfall in dollars, or in tokens when too little is priced, and its table."""
    priced = m.price_coverage >= MIN_PRICE_COVERAGE and m.usd_total > 0
    unit = "usd" if priced else "tokens"
    steps = [Step(b, m.waterfall[b].usd if priced else m.waterfall[b].tokens) for b in BUCKETS]
    chart = waterfall_chart(chart_id, f"{title} ({'dollars' if priced else 'tokens'})",
                            steps if m.tokens_total else [], unit=unit)  # fmt: skip
    return {"chart": chart, "rows": spend_rows(m.waterfall), "unit": unit}


def curve_view(c: Curve) -> Markup:
    """The routing-efficiency curve's chart: a vertex per class moved to the frontier tier,
    and the current policy (posterior medians)."""
    points = [CurvePoint(v.frontier_share, v.pgr, _moved(c, v.moved)) for v in c.vertices]
    now = None
    if c.current_share is not None and c.current_pgr is not None:
        now = CurvePoint(c.current_share.median, c.current_pgr.median, "current policy")
    title = f"Routing-efficiency curve, {short(c.cheap)} to {short(c.frontier)}"
    return curve_chart("curve", title, points, now)


def sweep_view(w: Sweep) -> Markup:
    """The router's threshold sweep as a chart: PGR against the share of tasks each threshold
    sends to the stronger tier (posterior medians); the diagonal is a random router."""
    points = [CurvePoint(t.share, t.pgr, f"all on {short(w.weak)}" if t.score is None
                         else f"score {fmt.count(t.score)} and up on {short(w.strong)}")
              for t in w.thresholds]  # fmt: skip
    title = f"The router's threshold sweep, {short(w.weak)} to {short(w.strong)}"
    return curve_chart("sweep", title, points, x_axis=f"the tasks on {short(w.strong)}",
                       x_short="tasks")  # fmt: skip


def _moved(c: Curve, moved: tuple[str, ...]) -> str:
    """A vertex's name: which classes run on the frontier tier."""
    if not moved:
        return f"all on {short(c.cheap)}"
    if len(moved) == len(c.classes):
        return f"all on {short(c.frontier)}"
    return f"{', '.join(short(m) for m in moved)} on {short(c.frontier)}"


def github_url(pull: PullRequest) -> str | None:
    """The pull request on GitHub (or GitHub Enterprise), for a well-formed repository name."""
    if not _REPO_RE.fullmatch(pull.repository):
        return None
    web = app_state().settings.github_web_url or "https://github.com"
    return f"{web.rstrip('/')}/{pull.repository}/pull/{pull.number}"


def duration(span: timedelta) -> str:
    """ "2 d 3 h", "3 h 12 min", "45 s": how long the oldest delivery has waited."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def task_key(task: Task) -> str:
    """The task's key in its page's URL: its id without the repository prefix."""
    return task.id.removeprefix(f"{task.repository}:")


@blueprint.app_template_global()
def task_url(installation_id: int, task: Task) -> str:
    owner, _, repo = task.repository.partition("/")
    return url_for("dashboard.task", installation_id=installation_id, owner=owner, repo=repo,
                   key=task_key(task))  # fmt: skip


@blueprint.app_template_global()
def pull_page_url(installation_id: int, repository: str, number: int) -> str:
    owner, _, repo = repository.partition("/")
    return url_for("dashboard.pull", installation_id=installation_id, owner=owner, repo=repo,
                   number=number)  # fmt: skip


@blueprint.app_template_global()
def list_url(endpoint: str, installation_id: int, args: dict[str, str], **changes: Any) -> str:
    """A list's URL with its filters kept, some changed (None removes one)."""
    merged = {k: v for k, v in {**args, **changes}.items() if v not in (None, "")}
    return url_for(endpoint, installation_id=installation_id, **merged)


@blueprint.record_once
def _figure_filters(state: BlueprintSetupState) -> None:
    """The app's templates print figures with the same filters as every other surface."""
    add_filters(state.app.jinja_env)


blueprint.add_app_template_global(METRICS_DOC, "metrics_doc")
blueprint.add_app_template_global(_task_name, "task_name")
blueprint.add_app_template_filter(lambda m: fmt.money(spend(m)), "spend")


blueprint.add_app_template_filter(short, "short")
blueprint.add_app_template_filter(estimate, "estimate")
blueprint.add_app_template_filter(points, "points")
