"""The weekly digest's composition: dated tasks into a ``bot.digest.model.Digest`` (pure).

``bot.digest.query.build_digest`` reads the ledger and calls ``compose``. Figures come from
``bot.engine.yields.summarise``, the recommendations from ``bot.engine.report`` and the routing
scorecard from ``bot.engine.scorecard``, so they mean what docs/metrics.md says. A task belongs
to the week it finished in: merged (shipped or reverted) or closed unmerged; open tasks belong
to none (docs/digests.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot import format as fmt
from bot.digest.model import (
    Advice,
    AttentionItem,
    Cell,
    Digest,
    Figure,
    Misroute,
    Period,
    RoutingScorecard,
    Thin,
    TrendPoint,
)
from bot.digest.period import contains
from bot.engine.attribution import ABANDONED, MISROUTE, Task
from bot.engine.report import Outcome, cells_of, outcomes, recommendations
from bot.engine.scorecard import Routed, routed, scorecard
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
from bot.stats.posterior import Rate
from bot.stats.rule import Recommendation, Rule

TREND_WEEKS = 12
MAX_ATTENTION = 10
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class DatedTask:
    """A task with the instant it finished (None: still open) and its pull request's title."""

    task: Task
    finished_at: datetime | None
    title: str


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
    routed_tasks: Sequence[Routed] | None = None,
) -> Digest:
    """The digest of ``weeks[-1]``; ``weeks`` are consecutive, oldest first (the trend).

    ``dated`` needs the tasks finished in the period, and those finished in ``weeks`` and the
    open ones unless the rest is given: ``weekly`` (each week's totals, for the trend and the
    previous week), ``history`` (outcomes of every task finished before the period's end, for
    the advice), ``still_open`` (open tasks) and ``routed_tasks`` (the records of the tasks
    finished in ``weeks``, by id, for the routing scorecard); each is otherwise computed from
    ``dated``.
    """
    period, previous = weeks[-1], weeks[-2] if len(weeks) > 1 else None
    current = [d for d in dated if contains(period, d.finished_at)]
    if weekly is None:
        weekly = [totals_of(d.task for d in dated if contains(w, d.finished_at)) for w in weeks]
    before = bool(previous and weekly[-2].tasks)
    now = summarise([d.task for d in current])
    scorecard = tuple(_scorecard(now, from_totals(weekly[-2]) if before else None))
    if history is None:
        history = outcomes([d.task for d in dated if d.finished_at and d.finished_at < period.end])
    if still_open is None:
        still_open = sum(d.finished_at is None for d in dated)
    if routed_tasks is None:
        window = Period(weeks[0].start, weeks[-1].end, weeks[0].label)
        finished = (d.task for d in dated if contains(window, d.finished_at))
        routed_tasks = routed(sorted(finished, key=lambda t: t.id))
    routing = _routing(weeks, routed_tasks, seed)
    return Digest(
        installation_id=installation_id,
        account=account,
        period=period,
        headline=headline(period, scorecard, now.tasks, routing),
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
        routing=routing,
    )


def _routing(
    weeks: Sequence[Period], records: Sequence[Routed], seed: int
) -> RoutingScorecard | None:
    """The routing scorecard of the tasks finished in ``weeks`` (``records``, by task id, as the
    dashboard and the audit take them, so the posterior draws match theirs), against the most
    expensive tier; None without a routed task."""
    if not records:
        return None
    card = scorecard(records, seed=seed)
    thin = tuple(Thin(t.task_class, t.tier, t.n, t.sentence()) for t in card.thin)
    return RoutingScorecard(card.sentence(), card.reference, weeks[0].label, card.tasks,
                            card.covered_tasks, card.invoice_saving, card.realised_saving,
                            card.shipped_points, card.leak, tuple(card.leak_by.items()),
                            thin)  # fmt: skip


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
        f"{fmt.tokens(m.tokens_shipped, exact=True)} of {fmt.tokens(m.tokens_total, exact=True)}"
        " tokens shipped",
    )
    yield Figure(
        "Cost yield",
        m.cost_yield,
        p and p.cost_yield,
        "share",
        f"of {fmt.money(spend(m))} spent",
        cov,
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


def _out_of(r: Rate) -> str:
    if not r.n:
        return "of 0 tasks"
    return f"{r.k} of {r.n} tasks; 95% interval {fmt.share(r.low)} to {fmt.share(r.high)}"


def headline(
    period: Period, scorecard: Sequence[Figure], tasks: int, routing: RoutingScorecard | None = None
) -> str:
    """What routing saved (``routing_lead``), then the week's yield: "Token yield 71% (+6
    pts); cost per shipped task $0.42", or why there is none."""
    week = _week_headline(period, scorecard, tasks)
    return f"{routing_lead(routing)} {week}" if routing else week


def routing_lead(routing: RoutingScorecard) -> str:
    """The scorecard's sentence; when no class has the data, how many cells lack it (each is
    listed with what would settle it in the section), not the engine's list of them all."""
    if routing.realised_saving is not None:
        return routing.sentence
    n = len(routing.thin)
    lack = f"{fmt.count(n)} cell{'s' * (n != 1)} need{'s' * (n == 1)} more tasks"
    return f"Too little data yet to say what routing saves against {routing.reference}: {lack}."


def _week_headline(period: Period, scorecard: Sequence[Figure], tasks: int) -> str:
    if not tasks:
        return f"No agent task finished in {period.label}"
    by_name = {f.name: f for f in scorecard}
    ty, cps = by_name["Token yield"], by_name["Cost per shipped task"]
    delta = fmt.change(ty.value, ty.previous, ty.unit)
    delta = f" ({delta})" if delta else ""
    cost = (
        fmt.money(cps.value)
        if cps.value is not None
        else f"{fmt.UNKNOWN} (too little priced usage)"
    )
    return f"Token yield {fmt.figure(ty.value, ty.unit)}{delta}; cost per shipped task {cost}"


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
    p, q = fmt.share(r.p_cheaper), fmt.share(r.p_quality)
    saving = r.expected_saving_per_task
    effect = f"save {fmt.money(saving)}" if saving >= 0 else f"cost {fmt.money(-saving)} more"
    interval = (
        f"no 90% interval under {rule.interval_tasks} tasks a tier"
        if r.saving_low is None or r.saving_high is None
        else f"90% interval of the saving {fmt.money(r.saving_low)} to {fmt.money(r.saving_high)}"
    )
    return (
        f"{r.action}: {r.to_tier} instead of {r.from_tier} would {effect} per shipped task "
        f"(median; {interval}); P(saves ≥ 5%) {p}, P(quality within 5 pts) {q}"
    )


def _coverage_notes(m: GroupMetrics, still_open: int, previous, before: bool) -> Iterable[str]:
    if still_open:
        yield f"{still_open} task{'s' * (still_open != 1)} still open: counted when they finish"
    if m.tokens_total and m.price_coverage < 1:
        share = 1 - m.price_coverage
        yield f"{fmt.share(share)} of this period's tokens are from unpriced models" + (
            ": dollar figures are withheld" if m.price_coverage < MIN_PRICE_COVERAGE
            else ": dollar figures cover the priced part"
        )  # fmt: skip
    if previous is not None and not before:
        yield f"no agent task finished in {previous.label}: nothing to compare with"
