"""The weekly digest: what happened to an installation's agent tasks in one ISO week.

``build_digest`` reads the ledger (at the edge) and ``compose`` turns dated tasks into a
``bot.digest.model.Digest`` (pure). Figures come from ``bot.engine.yields.summarise`` and the
recommendations from ``bot.engine.report``, so they mean what docs/metrics.md says. A task belongs
to the week it finished in: merged (shipped or reverted) or closed unmerged; open tasks belong to
none (docs/digests.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from bot import DOCS_URL
from bot.digest.model import (
    Advice,
    AttentionItem,
    Cell,
    Digest,
    Figure,
    Misroute,
    Period,
    TrendPoint,
)
from bot.engine.attribution import ABANDONED, MISROUTE, OPEN, SHIPPED, Task
from bot.engine.report import Outcome, cells_of, outcomes, recommendations, task_cost
from bot.engine.yields import (
    BREAKDOWNS,
    MIN_PRICE_COVERAGE,
    GroupMetrics,
    Totals,
    breakdown,
    from_totals,
    summarise,
    totals_of,
)
from bot.ledger.store import repositories as repositories_t
from bot.ledger.store import tasks as tasks_t
from bot.render.audit import TEMPLATES
from bot.render.comment import Md, md
from bot.stats.posterior import Rate, Recommendation, Rule

TREND_WEEKS = 12
MAX_ATTENTION = 10
_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})")
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SAFE_URL_RE = re.compile(r"https?://[^\s()<>\[\]\"'`]+")


@dataclass(frozen=True, slots=True)
class DatedTask:
    """A task with the instant it finished (None: still open) and its pull request's title."""

    task: Task
    finished_at: datetime | None
    title: str


# --------------------------------------------------------------------------- periods


def week_period(year: int, week: int, tz: str | ZoneInfo = "UTC") -> Period:
    """ISO week ``year``-W``week``: Monday 00:00 to the next Monday 00:00 in ``tz``, in UTC.

    Each bound is a local midnight of its own, so a week with a DST change lasts 167 or 169 h.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{year}-W{week:02d} is not an ISO week") from None
    start = datetime.combine(monday, time(), zone)
    end = datetime.combine(monday + timedelta(days=7), time(), zone)
    return Period(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")),
                  f"{year}-W{week:02d}")  # fmt: skip


def period_of(spec: str, tz: str | ZoneInfo, now: datetime) -> Period:
    """``"last-week"`` (the ISO week before the one ``now`` falls in, in ``tz``) or
    ``"YYYY-Www"``."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if spec == "last-week":
        year, week, _ = (now.astimezone(zone).date() - timedelta(days=7)).isocalendar()
        return week_period(year, week, zone)
    match = _WEEK_RE.fullmatch(spec)
    if match is None:
        raise ValueError(f"period {spec!r}: expected last-week or YYYY-Www, e.g. 2026-W47")
    return week_period(int(match[1]), int(match[2]), zone)


def shift(period: Period, weeks: int, tz: str | ZoneInfo = "UTC") -> Period:
    """The ISO week ``weeks`` after ``period`` (negative: before), in the same time zone."""
    match = _WEEK_RE.fullmatch(period.label)
    assert match is not None, period.label
    monday = date.fromisocalendar(int(match[1]), int(match[2]), 1) + timedelta(weeks=weeks)
    year, week, _ = monday.isocalendar()
    return week_period(year, week, tz)


def _contains(period: Period, when: datetime | None) -> bool:
    return when is not None and period.start <= when < period.end


# --------------------------------------------------------------------------- the ledger edge


def build_digest(
    session: Session,
    installation_id: int,
    period: Period,
    settings: Any = None,
    repositories: Sequence[str] | None = None,
    dashboard_url: str | None = None,
    timezone: str = "UTC",
) -> Digest:
    """The digest of ``period`` for the installation's repositories (or those named).

    ``timezone`` is the schedule's: the previous weeks of the scorecard and the trend are ISO
    weeks in it, like ``period``. ``settings`` is accepted for symmetry with the senders. Only
    the trend's weeks are read whole; the history behind the advice is read as outcomes.
    """
    names = list(repositories) if repositories is not None else repositories_of(
        session, installation_id
    )  # fmt: skip
    from bot.ledger.totals import weekly_totals

    weeks = [shift(period, i, timezone) for i in range(1 - TREND_WEEKS, 1)]
    dated, missing = load_dated_tasks(session, names, period.start, period.end)
    ids = _repository_ids(session, names)
    connection = session.connection()
    notes = [f"{name}: not in the ledger yet" for name in missing]
    return compose(installation_id, account_of(session, installation_id), weeks, dated,
                   tuple(names), dashboard_url, tuple(notes),
                   history=history_outcomes(connection, ids, period.end),
                   still_open=open_tasks(connection, ids),
                   weekly=weekly_totals(connection, ids.values(), weeks))  # fmt: skip


def repositories_of(session: Session, installation_id: int) -> list[str]:
    t = repositories_t
    query = sa.select(t.c.full_name).where(t.c.installation_id == installation_id)
    return sorted(session.connection().execute(query).scalars())


def active_installations(session: Session) -> list[int]:
    from bot.ledger.schema import InstallationRow

    t = InstallationRow.__table__  # type: ignore[attr-defined]
    query = sa.select(t.c.id).where(t.c.state == "active").order_by(t.c.id)
    return list(session.connection().execute(query).scalars())


def account_of(session: Session, installation_id: int) -> str:
    from bot.ledger.schema import InstallationRow

    t = InstallationRow.__table__  # type: ignore[attr-defined]
    query = sa.select(t.c.account_login).where(t.c.id == installation_id)
    return session.connection().execute(query).scalar_one_or_none() or f"#{installation_id}"


def _repository_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    t = repositories_t
    query = sa.select(t.c.full_name, t.c.id).where(t.c.full_name.in_(sorted(set(names))))
    return {name: id_ for name, id_ in session.connection().execute(query)}


def load_dated_tasks(
    session: Session,
    names: Iterable[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[list[DatedTask], list[str]]:
    """The repositories' tasks with their finishing time (those finished in [start, end) when
    both are given, else all), by repository and id; and the names not in the ledger."""
    names = sorted(set(names))
    ids = _repository_ids(session, names)
    f = tasks_t.c.finished_at
    window = (f >= start, f < end) if start is not None and end is not None else ()
    order = (repositories_t.c.full_name, tasks_t.c.key)
    dated = dated_tasks(session.connection(), ids.values(), *window, order=order)
    return dated, [n for n in names if n not in ids]


def dated_tasks(
    connection: Any, repo_ids: Iterable[int], *where: Any, **page: Any
) -> list[DatedTask]:
    """The repositories' tasks matching ``where`` with their attempts, finishing time and
    title; ``page`` is ``order``, ``limit`` and ``offset`` of ``bot.ledger.store.scoped``."""
    from bot.ledger.store import attempts_of, scoped, task_from_row

    rows = connection.execute(scoped(tasks_t, repo_ids, *where, **page)).all()
    attempts = attempts_of(connection, [r.id for r in rows])
    return [DatedTask(task_from_row(r, r.full_name, attempts.get(r.id, ())), r.finished_at,
                      r.title) for r in rows]  # fmt: skip


def history_outcomes(connection: Any, repo_ids: Mapping[str, int], end: datetime) -> list[Outcome]:
    """What the advice needs of every routed task finished before ``end``: a few columns per
    task, not whole tasks, so years of history stay cheap."""
    t = tasks_t.c
    query = sa.select(t.task_class, t.tier, t.status, t.tokens, t.unpriced_tokens, t.usd).where(
        t.repository_id.in_(list(repo_ids.values())),
        t.finished_at < end,
        t.tier.is_not(None),
        t.status != OPEN,
    )
    return [Outcome(r.task_class, r.tier, r.status == SHIPPED,
                    task_cost(r.tokens, r.unpriced_tokens, r.usd))
            for r in connection.execute(query)]  # fmt: skip


def open_tasks(connection: Any, repo_ids: Mapping[str, int]) -> int:
    """How many of the repositories' tasks are still open (not finished)."""
    query = (
        sa.select(sa.func.count())
        .select_from(tasks_t)
        .where(
            tasks_t.c.repository_id.in_(list(repo_ids.values())), tasks_t.c.finished_at.is_(None)
        )
    )
    return int(connection.execute(query).scalar() or 0)


# --------------------------------------------------------------------------- composing


def compose(
    installation_id: int,
    account: str,
    weeks: Sequence[Period],
    dated: Sequence[DatedTask],
    repositories: tuple[str, ...] = (),
    dashboard_url: str | None = None,
    notes: tuple[str, ...] = (),
    seed: int = 0,
    *,
    history: Sequence[Outcome] | None = None,
    still_open: int | None = None,
    weekly: Sequence[Totals] | None = None,
) -> Digest:
    """The digest of ``weeks[-1]``; ``weeks`` are consecutive, oldest first (the trend).

    ``dated`` needs only the period's tasks when the rest is given: ``weekly`` (each week's
    totals, for the trend and the previous week), ``history`` (outcomes of every task finished
    before the period's end, for the advice) and ``still_open`` (open tasks); each is
    otherwise computed from ``dated``.
    """
    period, previous = weeks[-1], weeks[-2] if len(weeks) > 1 else None
    current = [d for d in dated if _contains(period, d.finished_at)]
    if weekly is None:
        weekly = [totals_of(d.task for d in dated if _contains(w, d.finished_at)) for w in weeks]
    before = bool(previous and weekly[-2].tasks)
    now = summarise([d.task for d in current])
    scorecard = tuple(_scorecard(now, from_totals(weekly[-2]) if before else None))
    if history is None:
        history = outcomes([d.task for d in dated if d.finished_at and d.finished_at < period.end])
    if still_open is None:
        still_open = sum(d.finished_at is None for d in dated)
    return Digest(
        installation_id=installation_id,
        account=account,
        period=period,
        headline=headline(period, scorecard, now.tasks),
        scorecard=scorecard,
        matrix=tuple(_matrix([d.task for d in current])),
        attention=tuple(_attention(current)),
        misroutes=tuple(_misroutes(current)),
        advice=tuple(_advice(recommendations(cells_of(history), seed))),
        trend=tuple(
            TrendPoint(w.label, m.token_yield, m.usd_total)
            for w, m in zip(weeks, map(from_totals, weekly), strict=True)
        ),
        repositories=repositories,
        dashboard_url=dashboard_url,
        notes=notes + tuple(_coverage_notes(now, still_open, previous, before)),
    )


def _scorecard(m: GroupMetrics, p: GroupMetrics | None) -> Iterable[Figure]:
    """The eight figures of docs/digests.md, each with what it is out of."""
    cov = m.price_coverage

    def spend(g: GroupMetrics) -> Decimal | None:
        return g.usd_total if g.price_coverage >= MIN_PRICE_COVERAGE else None

    yield Figure(
        "Token yield",
        m.token_yield,
        p and p.token_yield,
        "share",
        f"{m.tokens_shipped:,.0f} of {m.tokens_total:,.0f} tokens shipped",
    )
    yield Figure(
        "Cost yield", m.cost_yield, p and p.cost_yield, "share", f"of {_money(spend(m))} spent", cov
    )
    yield Figure("Spend", spend(m), p and spend(p), "usd", f"on {m.tasks} finished tasks", cov)
    yield Figure(
        "Shipped tasks",
        m.shipped_tasks,
        p and p.shipped_tasks,
        "count",
        f"of {m.tasks} finished tasks",
    )
    yield Figure(
        "Cost per shipped task",
        m.cost_per_shipped_task,
        p and p.cost_per_shipped_task,
        "usd",
        f"over {m.shipped_tasks} shipped tasks",
        cov,
    )
    for name, attr in (
        ("First-pass yield", "first_pass"),
        ("Bounce rate", "bounce_rate"),
        ("Escalation rate", "escalation_rate"),
    ):
        rate: Rate = getattr(m, attr)
        yield Figure(name, rate.value, p and getattr(p, attr).value, "share", _out_of(rate))
    # fmt: skip


def _out_of(r: Rate) -> str:
    if not r.n:
        return "of 0 tasks"
    return f"{r.k} of {r.n} tasks; 95% interval {r.low:.0%} to {r.high:.0%}"


def headline(period: Period, scorecard: Sequence[Figure], tasks: int) -> str:
    """ "Token yield 71% (+6 pts); cost per shipped task $0.42", or why there is none."""
    if not tasks:
        return f"No agent task finished in {period.label}"
    by_name = {f.name: f for f in scorecard}
    ty, cps = by_name["Token yield"], by_name["Cost per shipped task"]
    delta = f" ({change(ty)})" if change(ty) else ""
    cost = _money(cps.value) if cps.value is not None else "unknown (too little priced usage)"
    return f"Token yield {value_text(ty)}{delta}; cost per shipped task {cost}"


def _matrix(tasks: Sequence[Task]) -> Iterable[Cell]:
    return cells(breakdown(tasks, BREAKDOWNS["tier_class"]))  # type: ignore[arg-type]


def cells(groups: Mapping[tuple[str | None, str], GroupMetrics]) -> Iterable[Cell]:
    """The matrix's cells from each (tier, task class) group's figures."""
    for (tier, task_class), m in sorted(groups.items(), key=lambda kv: str(kv[0])):
        r = m.first_pass
        yield Cell(tier or "unknown", task_class, m.tasks, m.shipped_tasks, r.value,
                   (r.low, r.high) if r.n else None, m.token_yield,
                   m.cost_per_shipped_task)  # fmt: skip


def _total_usd(task: Task) -> Decimal:
    return sum((s.usd for s in task.spend.values()), Decimal(0))


def _attention(current: Sequence[DatedTask]) -> Iterable[AttentionItem]:
    """The costliest bounced, reworked or abandoned tasks of the period, costliest first."""
    flagged = [
        d for d in current
        if d.task.status == ABANDONED or d.task.bounces
        or d.task.agent_rework_commits or d.task.human_rework_commits
    ]  # fmt: skip
    tokens = {d.task.id: sum(s.tokens for s in d.task.spend.values()) for d in flagged}
    flagged.sort(key=lambda d: (-_total_usd(d.task), -tokens[d.task.id], d.task.id))
    for d in flagged[:MAX_ATTENTION]:
        yield AttentionItem(d.task.repository, d.title or d.task.id, pull_url(d.task),
                            _total_usd(d.task), _reason(d.task))  # fmt: skip


def _reason(task: Task) -> str:
    parts = ["abandoned"] if task.status == ABANDONED else []
    if task.bounces:
        kinds = Counter(task.bounces)
        parts.append(", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(kinds.items())))
    rework = task.agent_rework_commits + task.human_rework_commits
    if rework:
        parts.append(f"{rework} rework commit{'s' * (rework != 1)}")
    return "; ".join(parts)


def pull_url(task: Task) -> str | None:
    """The link to the task's latest pull request (only for a well-formed repository name)."""
    if not task.pr_numbers or not _REPO_RE.fullmatch(task.repository):
        return None
    return f"https://github.com/{task.repository}/pull/{max(task.pr_numbers)}"


def _misroutes(current: Sequence[DatedTask]) -> Iterable[Misroute]:
    """Escalated tasks: the tier first taken, the tier that finished, the cheap spend burned."""
    escalated = sorted((d for d in current if d.task.escalated),
                       key=lambda d: (-d.task.spend[MISROUTE].usd, d.task.id))  # fmt: skip
    for d in escalated:
        attempts = d.task.attempts
        yield Misroute(d.task.repository, d.title or d.task.id, pull_url(d.task),
                       attempts[0].tier or "unknown", attempts[-1].tier or "unknown",
                       d.task.spend[MISROUTE].usd)  # fmt: skip


def _advice(recs: Mapping[str, Recommendation]) -> Iterable[Advice]:
    """Every class with another tier to compare, with its standing and interval."""
    for task_class, r in recs.items():
        if r.from_tier == r.to_tier:
            continue
        yield Advice(task_class, r.action, r.from_tier, r.to_tier, advice_text(r), r.p_cheaper,
                     r.expected_saving_per_task,
                     None if r.saving_low is None else (r.saving_low, r.saving_high))  # fmt: skip


def advice_text(r: Recommendation) -> str:
    """One sentence: the median saving, its 90% interval where one holds its level (from
    ``Rule.interval_tasks`` tasks a tier), and the probabilities; else (no cost, or too few
    tasks to decide) the reason."""
    rule = Rule()
    few = min((c.rate.n for c in (r.current, r.candidate) if c), default=0) < rule.min_tasks
    if r.expected_saving_per_task is None or few:
        return r.reason
    p = "n/a" if r.p_cheaper is None else f"{r.p_cheaper:.0%}"
    q = "n/a" if r.p_quality is None else f"{r.p_quality:.0%}"
    saving = r.expected_saving_per_task
    effect = f"save {_usd(saving)}" if saving >= 0 else f"cost {_usd(-saving)} more"
    interval = (
        f"no 90% interval under {rule.interval_tasks} tasks a tier"
        if r.saving_low is None or r.saving_high is None
        else f"90% interval of the saving {_usd(r.saving_low)} to {_usd(r.saving_high)}"
    )
    return (
        f"{r.action}: {r.to_tier} instead of {r.from_tier} would {effect} per shipped task "
        f"(median; {interval}); P(saves ≥ 5%) {p}, P(quality within 5 pts) {q}"
    )


def _usd(amount: float) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def _coverage_notes(m: GroupMetrics, still_open: int, previous, before: bool) -> Iterable[str]:
    if still_open:
        yield f"{still_open} task{'s' * (still_open != 1)} still open: counted when they finish"
    if m.tokens_total and m.price_coverage < 1:
        share = 1 - m.price_coverage
        yield f"{share:.0%} of this period's tokens are from unpriced models" + (
            ": dollar figures are withheld" if m.price_coverage < MIN_PRICE_COVERAGE
            else ": dollar figures cover the priced part"
        )  # fmt: skip
    if previous is not None and not before:
        yield f"no agent task finished in {previous.label}: nothing to compare with"


# --------------------------------------------------------------------------- formatting


def _money(value: Decimal | float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if abs(value) >= Decimal("0.1") else f"${value:.4f}"


def value_text(f: Figure) -> str:
    if f.value is None:
        return "unknown" if f.unit == "usd" else "n/a"
    if f.unit == "share":
        return f"{f.value:.0%}"
    return _money(f.value) if f.unit == "usd" else f"{f.value:,}"


def change(f: Figure) -> str:
    """The change from the previous period: points for shares, dollars, counts; "" if none."""
    if f.value is None or f.previous is None:
        return ""
    if f.unit == "share":
        return f"{(float(f.value) - float(f.previous)) * 100:+.0f} pts"
    if f.unit == "usd":
        d = Decimal(f.value) - Decimal(f.previous)
        return ("+" if d >= 0 else "-") + _money(abs(d))
    return f"{int(f.value) - int(f.previous):+d}"


def coverage_text(f: Figure) -> str:
    return "" if f.coverage is None else f"{f.coverage:.0%} priced"


def interval_text(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f"{bounds[0]:.0%} to {bounds[1]:.0%}"


def safe_url(url: str | None) -> str | None:
    """A URL that cannot break out of a Markdown link or an attribute, else None."""
    return url if url and _SAFE_URL_RE.fullmatch(url) else None


# --------------------------------------------------------------------------- rendering


def render_markdown(digest: Digest) -> str:
    """Markdown (GitHub issue, chat): untrusted strings escaped by ``bot.render.comment.md``."""
    return _render(_MARKDOWN, "digest.md.j2", digest)


def render_text(digest: Digest) -> str:
    """Plain text (terminal, e-mail's text part): control characters removed."""
    return _render(_TEXT, "digest.txt.j2", digest)


def render_html(digest: Digest) -> str:
    """HTML (e-mail, dashboard): autoescaped, with the trend as an inline SVG chart."""
    return _render(_HTML, "digest.html.j2", digest)


def _render(env: Environment, name: str, digest: Digest) -> str:
    return env.get_template(name).render(d=digest, chart=trend_chart(digest.trend),
                                         docs=DOCS_URL)  # fmt: skip


def trend_chart(trend: Sequence[TrendPoint], width: int = 600, height: int = 160) -> dict:
    """Coordinates of the SVG chart: spend as bars (left scale), token yield as a line (0-100%)."""
    top, bottom = 10, height - 20
    step = width / max(len(trend), 1)
    peak = max((p.spend_usd for p in trend), default=Decimal(0)) or Decimal(1)
    bars, points = [], []
    for i, p in enumerate(trend):
        h = float(p.spend_usd / peak) * (bottom - top)
        x = i * step
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(bottom - h, 1),
                "w": round(step * 0.7, 1),
                "h": round(h, 1),
                "week": p.week,
                "spend": _money(p.spend_usd),
                "ty": "n/a" if p.token_yield is None else f"{p.token_yield:.0%}",
            }
        )
        if p.token_yield is not None:
            y = bottom - p.token_yield * (bottom - top)
            points.append(f"{x + step / 2:.1f},{y:.1f}")
    return {"width": width, "height": height, "bottom": bottom, "bars": bars,
            "points": " ".join(points), "peak": _money(peak)}  # fmt: skip


def _plain(value: Any) -> str:
    """Text for a terminal: no control or format characters (no escape sequences)."""
    return " ".join("".join(ch for ch in str(value) if ch.isprintable()).split())


def _markdown_finalize(value: Any) -> str:
    if isinstance(value, Md):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return md(value)
    return str(value)


def _environment(finalize: Any, autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,  # noqa: S701 - Markdown and text escape through ``finalize``
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(value=value_text, change=change, coverage=coverage_text,
                       money=_money, share=lambda v: "n/a" if v is None else f"{v:.0%}",
                       interval=interval_text, safe_url=safe_url,
                       trusted=lambda v: Md(v) if v is not None else None, long=str)  # fmt: skip
    return env


_MARKDOWN = _environment(_markdown_finalize, autoescape=False)
_MARKDOWN.filters["long"] = lambda v: md(v, 1000)  # a recommendation's sentence, escaped
_TEXT = _environment(_plain, autoescape=False)
_HTML = _environment(None, autoescape=True)
