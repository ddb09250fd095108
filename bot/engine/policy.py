"""The policy handed to a router: per task class a tier, a model and an exploration share.

Thompson sampling over the cells' joint posterior draws: in each draw, the tier that **wins** a
class has the lowest cost per shipped task among the tiers shipping within the tolerance
(``Rule.delta``) of the draw's best rate. The recommended tier is the class's most used tier
unless another wins in ``SWITCH_WINS`` of the draws: a router changes course only on strong
evidence (a switch to a truly worse tier stays under 5% of simulated histories at 30 tasks a
cell), yet follows it once the cells are large (docs/statistics.md, section 7). This is not the
audit's advice (``bot.stats.rule.best_tier``), which also asks for a material saving with
99% probability before telling a human to move a class: a router keeps exploring, so it can
correct itself. The **exploration share** is the share of draws another tier wins, floored at
``EXPLORE_FLOOR`` so no tier is ever starved and capped at ``EXPLORE_CAP``.
``choose`` picks a tier for a task from those shares with the caller's seeded randomness.

``Policy.to_json`` gives the documented, versioned schema ``SCHEMA`` (docs/policy.schema.json);
``Policy.from_json`` reads it back, so a router needs only the JSON and ``choose``.
Pure: no I/O.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import format as fmt
from bot.engine.report import cells_of
from bot.engine.scorecard import DRAWS, Cell, Estimate, Routed, draw_cells
from bot.stats.posterior import rate_interval
from bot.stats.rule import Rule

SCHEMA = "yield-auditor/policy/v1"
EXPLORE_FLOOR = 0.02
"""Least share a class sends off its recommended tier while another tier exists."""
EXPLORE_CAP = 0.25
"""Most share a class sends off its recommended tier: the rest exploits."""
SWITCH_WINS = 0.95
"""A class moves off its most used tier when another tier wins in this share of the draws: at
30 tasks a cell a switch to a truly worse tier stays under 5% of simulated histories."""


@dataclass(frozen=True)
class Evidence:
    """What one tier's data say of a class: tasks, the shipped rate's 90% interval, the
    median and 90% interval of cost per shipped task (None: withheld), and ``wins``, the share
    of posterior draws in which this tier is the best choice."""

    tier: str
    tasks: int
    shipped: float
    shipped_interval: tuple[float, float]
    cost_per_shipped: Estimate | None
    wins: float


@dataclass(frozen=True)
class ClassPolicy:
    """One class: the recommended ``tier`` (and its most used ``model``), every tier's share of
    the class's tasks (``shares``, summing to 1), and why (``action``, ``reason``)."""

    task_class: str
    tier: str
    model: str | None
    shares: Mapping[str, float]
    action: str
    reason: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def explore_share(self) -> float:
        return sum(s for t, s in self.shares.items() if t != self.tier)


@dataclass(frozen=True)
class Policy:
    """Per class the ``ClassPolicy``; ``default_tier`` serves classes the data never saw."""

    classes: Mapping[str, ClassPolicy]
    default_tier: str
    since: str | None = None
    until: str | None = None
    rule: Rule = Rule()

    def to_json(self) -> dict[str, Any]:
        """The policy in ``SCHEMA`` (docs/policy.schema.json)."""
        return {
            "schema": SCHEMA,
            "since": self.since,
            "until": self.until,
            "default_tier": self.default_tier,
            "rule": {"delta": self.rule.delta, "min_saving": self.rule.min_saving},
            "classes": [_class_json(c) for _, c in sorted(self.classes.items())],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Policy:
        """A policy read from ``to_json``'s output: what ``choose`` needs, evidence left out."""
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document: schema {doc.get('schema')!r}")
        classes = {
            c["task_class"]: ClassPolicy(
                c["task_class"], c["tier"], c.get("model"), dict(c["shares"]), c["action"],
                c.get("reason", ""),
            )
            for c in doc["classes"]
        }  # fmt: skip
        return cls(classes, doc["default_tier"], doc.get("since"), doc.get("until"))


def _class_json(c: ClassPolicy) -> dict[str, Any]:
    return {
        "task_class": c.task_class,
        "tier": c.tier,
        "model": c.model,
        "explore_share": c.explore_share,
        "shares": dict(sorted(c.shares.items())),
        "action": c.action,
        "reason": c.reason,
        "evidence": [
            {
                "tier": e.tier,
                "tasks": e.tasks,
                "shipped": {"value": e.shipped, "interval": list(e.shipped_interval)},
                "cost_per_shipped": None
                if e.cost_per_shipped is None
                else {
                    "median": e.cost_per_shipped.median,
                    "interval": [e.cost_per_shipped.low, e.cost_per_shipped.high],
                },
                "wins": e.wins,
            }
            for e in c.evidence
        ],
    }


def choose(policy: Policy, task_class: str, rng: random.Random) -> str:
    """The tier for one task of ``task_class``: the class's shares drawn with ``rng`` (seed it
    for reproducible routing); the default tier for a class the policy does not know."""
    known = policy.classes.get(task_class)
    if known is None:
        return policy.default_tier
    u, total = rng.random(), 0.0
    for tier, share in sorted(known.shares.items()):
        total += share
        if u < total:
            return tier
    return known.tier  # u within rounding of 1


def policy(
    records: Sequence[Routed],
    rule: Rule = Rule(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    since: str | None = None,
    until: str | None = None,
    draws: int = DRAWS,
    seed: int = 0,
) -> Policy:
    """The policy of ``records`` (the caller filters period and scope; ``since``/``until``
    label the evidence's date range)."""
    items = [r.outcome for r in records]
    cells = draw_cells(items, draws, seed)
    tiers = sorted({o.tier for o in items})
    models = _models(records)
    classes = {}
    for task_class, data in sorted(cells_of(items).items()):
        current = max(data, key=lambda c: (c.n, c.tier)).tier
        own = {c.tier: cells[(task_class, c.tier)] for c in data}
        wins = _wins(own, rule.delta)
        tier, action, reason = _decide(current, own, wins, rule)
        shares = _shares(tier, tiers, own, wins, rule)
        evidence = tuple(_evidence(c, wins.get(t, 0.0)) for t, c in sorted(own.items()))
        model = models.get((task_class, tier)) or models.get((None, tier))
        classes[task_class] = ClassPolicy(task_class, tier, model, shares, action, reason, evidence)
    used = Counter(o.tier for o in items)
    default = max(used, key=lambda t: (used[t], t)) if used else ""
    return Policy(classes, default, since, until, rule)


def _decide(
    current: str, cells: Mapping[str, Cell], wins: Mapping[str, float], rule: Rule
) -> tuple[str, str, str]:
    """The recommended tier, the action and why: the current (most used) tier unless another
    wins in at least ``SWITCH_WINS`` of the draws, each tier having ``rule.min_tasks``."""
    top = max(wins, key=lambda t: (wins[t], t == current, t), default=current)
    share = f"{top} wins in {fmt.share(wins.get(top, 0.0), exact=True)} of posterior draws"
    if any(c.n < rule.min_tasks for c in cells.values()):
        return current, "explore", f"explore: too few tasks to decide (need >= {rule.min_tasks})"
    if top != current and wins[top] >= SWITCH_WINS:
        return top, "switch", f"switch: {share} (>= {fmt.share(SWITCH_WINS)})"
    if top == current and wins.get(top, 0.0) >= SWITCH_WINS:
        return current, "keep", f"keep: {share} (>= {fmt.share(SWITCH_WINS)})"
    return current, "explore", f"explore: {share}, under {fmt.share(SWITCH_WINS)}"


def _models(records: Sequence[Routed]) -> dict[tuple[str | None, str], str]:
    """The most used model per (class, tier) and per (None, tier)."""
    counts: dict[tuple[str | None, str], Counter] = defaultdict(Counter)
    for r in records:
        if r.model:
            counts[(r.outcome.task_class, r.outcome.tier)][r.model] += 1
            counts[(None, r.outcome.tier)][r.model] += 1
    return {k: max(c, key=lambda m: (c[m], m)) for k, c in counts.items()}


def _wins(cells: Mapping[str, Cell], delta: float) -> dict[str, float]:
    """Thompson sampling: per tier, the share of draws in which it has the lowest cost per
    shipped task among the tiers shipping within ``delta`` of the draw's best rate. Tiers whose
    cost is withheld never win; with none priced, nobody does."""
    import numpy as np  # here, not at module level: most commands never draw (start-up)

    priced = [t for t, c in sorted(cells.items()) if c.cost is not None]
    if not priced:
        return {}
    ship = np.stack([cells[t].shipped for t in priced], axis=1)
    cps = np.stack([cells[t].cost / cells[t].shipped for t in priced], axis=1)
    fit = ship >= ship.max(axis=1, keepdims=True) - delta
    best = np.argmin(np.where(fit, cps, np.inf), axis=1)
    counts = np.bincount(best, minlength=len(priced))
    return {t: float(k) / len(best) for t, k in zip(priced, counts, strict=True)}


def _shares(
    tier: str,
    tiers: Sequence[str],
    cells: Mapping[str, Cell],
    wins: Mapping[str, float],
    rule: Rule,
) -> dict[str, float]:
    """The class's share per tier: ``tier`` keeps 1 - explore; the explore share, the other
    tiers' wins between the floor and the cap (at least the rule's ``explore_share`` while a
    tier has under ``rule.min_tasks`` tasks), goes to them in proportion to their wins, a tier
    short of data counting as a full win."""
    others = [t for t in tiers if t != tier]
    if not others:
        return {tier: 1.0}
    short = [t for t in others if t not in cells or cells[t].n < rule.min_tasks]
    weight = {t: 1.0 if t in short else wins.get(t, 0.0) for t in others}
    explore = min(max(sum(wins.get(t, 0.0) for t in others), EXPLORE_FLOOR), EXPLORE_CAP)
    if short:
        explore = max(explore, rule.explore_share)
    total = sum(weight.values())
    split = {t: (w / total if total else 1.0 / len(others)) * explore for t, w in weight.items()}
    return {tier: 1.0 - explore, **split}


def _evidence(cell: Cell, wins: float) -> Evidence:
    """A tier's evidence: the shipped rate with its 90% mid-p interval (``rate_interval``)."""
    cps = None if cell.cost is None else Estimate.of(cell.cost / cell.shipped)
    interval = rate_interval(cell.k, cell.n)
    return Evidence(cell.tier, cell.n, cell.k / cell.n, interval, cps, wins)
