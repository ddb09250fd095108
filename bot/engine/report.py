"""The audit report as plain data (the documented JSON), built from commits and tasks.

Pure: no I/O. ``bot.render.audit`` turns the same dict into a terminal table, CSV or HTML.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.engine.attribution import SHIPPED, Task
from bot.engine.records import CommitFacts
from bot.engine.yields import BREAKDOWNS, GroupMetrics, breakdown, calibration, summarise
from bot.stats.posterior import CellData, Rate
from bot.stats.rule import Recommendation, best_tier

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Scope:
    """What was audited, for the report's header."""

    repository: str
    rev: str | None = None
    since: str | None = None
    until: str | None = None
    commits_scanned: int = 0
    survival: dict[str, Any] | None = None  # None: line survival not measured
    notes: tuple[str, ...] = field(default=())


def build_report(
    scope: Scope, facts: Sequence[CommitFacts], tasks: Sequence[Task], seed: int = 0
) -> dict[str, Any]:
    authored = [c for c in facts if c.is_agent_work]
    summary = summarise(tasks)
    return {
        "schema": SCHEMA_VERSION,
        "repository": scope.repository,
        "rev": scope.rev,
        "since": scope.since,
        "until": scope.until,
        "commits_scanned": scope.commits_scanned,
        "agent_commits": len(authored),
        "agent_committed": sum(1 for c in facts if c.agent_role == "committed"),
        "by_agent": dict(Counter(c.agent for c in authored).most_common()),
        "by_model": dict(Counter(c.model or "unknown" for c in authored).most_common()),
        "coverage": _coverage(authored, summary, scope),
        "tasks": len(tasks),
        "summary": metrics_dict(summary),
        "cells": cell_rows(tasks, seed),
        "breakdowns": {
            name: [{"key": _key(k), **metrics_dict(m)} for k, m in breakdown(tasks, fn).items()]
            for name, fn in BREAKDOWNS.items()
            if name != "tier_class"
        },
        "calibration": [
            {"score_from": lo, "score_to": hi, **rate_dict(r)} for lo, hi, r in calibration(tasks)
        ],
        "top_reworked_tasks": _top_reworked(tasks),
        "limitations": _limitations(facts, authored, summary, scope),
    }


def cell_rows(tasks: Sequence[Task], seed: int = 0) -> list[dict[str, Any]]:
    """The tier x task class matrix, each cell with its class's recommendation."""
    cells = breakdown(tasks, BREAKDOWNS["tier_class"])
    advice = recommendations(class_cells(tasks), seed)
    rows = []
    for (tier, task_class), m in cells.items():
        rec = advice.get(task_class)
        rows.append({
            "tier": tier,
            "task_class": task_class,
            "tasks": m.tasks,
            "shipped_tasks": m.shipped_tasks,
            "first_pass_yield": m.first_pass.value,
            "interval": [m.first_pass.low, m.first_pass.high],
            "tokens_total": m.tokens_total,
            "tokens_shipped": m.tokens_shipped,
            "token_yield": m.token_yield,
            "cost_usd": _usd(m.usd_total) if m.cost_yield is not None else None,
            "cost_per_shipped_task": _usd(m.cost_per_shipped_task),
            "price_coverage": m.price_coverage,
            "recommendation": _rec_dict(rec) if rec and rec.from_tier == tier else None,
        })  # fmt: skip
    return rows


def recommendations(
    cells: Mapping[str, list[CellData]], seed: int = 0
) -> dict[str, Recommendation]:
    """Per task class: compare the most used tier with the others (docs/statistics.md); the
    cells come from tasks (``class_cells``) or from ledger rows (``cells_of``)."""
    result = {}
    for task_class, data in sorted(cells.items()):
        current = max(data, key=lambda c: (c.n, c.tier)).tier
        result[task_class] = best_tier(data, current, seed=seed)
    return result


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the cells need of one finished, routed task."""

    task_class: str
    tier: str
    shipped: bool
    cost: Decimal | None


def class_cells(tasks: Sequence[Task]) -> dict[str, list[CellData]]:
    """Finished tasks as (tier, task class) cells."""
    return cells_of(outcomes(tasks))


def outcomes(tasks: Iterable[Task]) -> list[Outcome]:
    """The outcomes of the finished, routed tasks (the ones the cells weigh)."""
    return [
        Outcome(t.task_class, t.tier, t.status == SHIPPED, _task_cost(t))
        for t in tasks
        if t.tier is not None and t.status != "open"
    ]


def cells_of(outcomes: Iterable[Outcome]) -> dict[str, list[CellData]]:
    """``class_cells`` of outcomes: per class, one cell per tier with the cost of each shipped
    and of each failed task. No cell borrows from another (docs/statistics.md, section 2)."""
    by_class: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        by_class[o.task_class][o.tier].append(o)
    return {
        task_class: [
            CellData(
                tier,
                task_class,
                [o.cost for o in group if o.shipped],
                [o.cost for o in group if not o.shipped],
            )
            for tier, group in sorted(tiers.items())
        ]  # fmt: skip
        for task_class, tiers in by_class.items()
    }


def _task_cost(task: Task) -> Decimal | None:
    """All dollars of a task, or None when most of its tokens are unpriced."""
    spends = task.spend.values()
    return task_cost(sum(s.tokens for s in spends), sum(s.unpriced_tokens for s in spends),
                     sum((s.usd for s in spends), Decimal(0)))  # fmt: skip


def task_cost(tokens: float, unpriced_tokens: float, usd: Decimal) -> Decimal | None:
    """``usd``, or None when most of the tokens are unpriced: a cost that is mostly unknown
    must not be read as cheap."""
    if tokens and unpriced_tokens / tokens > 0.5:
        return None
    return usd


def metrics_dict(m: GroupMetrics) -> dict[str, Any]:
    return {
        "tasks": m.tasks,
        "shipped_tasks": m.shipped_tasks,
        "first_pass_yield": rate_dict(m.first_pass),
        "bounce_rate": rate_dict(m.bounce_rate),
        "escalation_rate": rate_dict(m.escalation_rate),
        "stage_yields": {k: rate_dict(r) for k, r in m.stage_yields.items()},
        "rolled_throughput_yield": m.rolled_throughput_yield,
        "tokens_total": m.tokens_total,
        "tokens_shipped": m.tokens_shipped,
        "token_yield": m.token_yield,
        "cost_usd": _usd(m.usd_total),
        "cost_shipped_usd": _usd(m.usd_shipped),
        "cost_yield": m.cost_yield,
        "cost_per_shipped_task": _usd(m.cost_per_shipped_task),
        "price_coverage": m.price_coverage,
        "waterfall": {
            b: {"tokens": s.tokens, "usd": _usd(s.usd), "unpriced_tokens": s.unpriced_tokens}
            for b, s in m.waterfall.items()
        },
        "agent_rework_commits": m.agent_rework_commits,
        "human_rework_commits": m.human_rework_commits,
    }


def rate_dict(r: Rate) -> dict[str, Any]:
    return {"k": r.k, "n": r.n, "value": r.value, "interval": [r.low, r.high]}


def _rec_dict(r: Recommendation) -> dict[str, Any]:
    return {
        "action": r.action,
        "from_tier": r.from_tier,
        "to_tier": r.to_tier,
        "p_cheaper": r.p_cheaper,
        "p_quality": r.p_quality,
        "expected_saving_per_task": r.expected_saving_per_task,
        "saving_interval": [r.saving_low, r.saving_high],
        "explore_share": r.explore_share,
        "reason": r.reason,
    }


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.8f}"


def _key(key: Any) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _coverage(authored, summary: GroupMetrics, scope: Scope) -> dict[str, Any]:
    with_usage = sum(1 for c in authored if c.usage)
    return {
        "usage": with_usage / len(authored) if authored else None,
        "agent_commits_with_usage": with_usage,
        "pricing": summary.price_coverage,
        "survival": scope.survival,
    }


def _top_reworked(tasks: Sequence[Task], limit: int = 10) -> list[dict[str, Any]]:
    def waste(t: Task) -> float:
        return sum(s.tokens for b, s in t.spend.items() if b != SHIPPED)

    ranked = sorted(
        (t for t in tasks if t.bounces or t.agent_rework_commits or t.human_rework_commits),
        key=lambda t: (-waste(t), t.id),
    )
    return [
        {
            "task": t.id, "pull_requests": list(t.pr_numbers), "tier": t.tier,
            "task_class": t.task_class, "status": t.status, "bounces": list(t.bounces),
            "attempts": len(t.attempts), "agent_rework_commits": t.agent_rework_commits,
            "human_rework_commits": t.human_rework_commits, "tokens_not_shipped": waste(t),
        }
        for t in ranked[:limit]
    ]  # fmt: skip


def _limitations(facts, authored, summary: GroupMetrics, scope: Scope) -> list[str]:
    notes = list(scope.notes)
    if not authored:
        notes.append("no agent-authored commits found: there is nothing to audit")
    elif not any(c.usage for c in authored):
        notes.append(
            "no Agent-Usage trailers found: token and dollar figures are unavailable; agent "
            "share, bounces, rework and reverts come from agent signatures alone"
        )
    if summary.tokens_total and summary.cost_yield is None:
        notes.append("under 50% of tokens are priced: dollar figures are withheld")
    if scope.survival is None:
        notes.append("line survival not measured (--no-survival): commit-level survival used")
    if not any(c.pr_number for c in facts):
        notes.append("no pull requests recognised (merge commits or '(#123)' subjects)")
    notes.extend(refused_notes(c.refused for c in facts))
    return notes


def refused_notes(refused: Iterable[Sequence[str]]) -> list[str]:
    """One note per agent identity that commits claimed with another account's GitHub id
    (``refused`` holds each commit's claims): those commits are not counted, and the reader
    must know rather than never see them."""
    claims = Counter(claim for claims in refused for claim in claims)
    return [
        f"{n} commit{'s' * (n != 1)} claimed {claim} with another account's GitHub id: "
        "not counted as agent work (a team's own agent account can be declared: "
        "docs/agents.md#declared-agent-identities)"
        for claim, n in sorted(claims.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
