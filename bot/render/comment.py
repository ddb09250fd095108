"""The per-PR cost comment: its content, its safety, and the hidden revision marker.

Pure: records in, Markdown out (no database, no network); the GitHub side finds, creates and
edits the comment (docs/comment.md). Every string that came from a commit or a trailer is
untrusted: the template's ``finalize`` escapes every value by default (``md``), and only the
``Md`` strings built here from numbers and fixed words pass through unchanged.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment

from bot.agents.detect import stored_refusals
from bot.engine.attribution import Task
from bot.engine.records import CommitFacts, Event, PullRequest, UsageLine
from bot.engine.report import refused_notes
from bot.engine.yields import summarise
from bot.pricing.prices import PriceBook
from bot.protocol.usage import Usage
from bot.render import format as fmt
from bot.render.jinja import Md, environment, md
from bot.stats.posterior import CellSummary

MAX_BODY = 60_000  # GitHub refuses bodies over 65,536 characters
MAX_ROWS = 50  # rows of one table; the rest is counted
MIN_HISTORY_TASKS = 5  # a (task class, tier) cell with fewer tasks is not shown as a forecast
DEFAULT_REPRESENTATIVES = {
    "economy": "claude-haiku-4-5",
    "standard": "claude-sonnet-4-6",
    "frontier": "claude-opus-4-5",
}
# A 3:1 input:output probe (10 requests, so no long-context surcharge) prices lines whose
# token split is unknown: cost x probe(representative) / probe(actual model).
_PROBE = {"input": 750_000, "output": 250_000, "requests": 10}
_DETAIL_SECTIONS = ("evidence", "rework", "history", "counterfactual", "models", "timeline")
MARKER_RE = re.compile(r"<!-- yield-auditor:pr-comment v1 rev=(\{[^<>]*?\}) -->")
_SHA_RE = re.compile(r"[0-9a-f]{7,64}")
_OUTCOMES = {
    "ci_failed": "CI failed",
    "changes_requested": "changes requested",
    "closed": "closed unmerged",
    "reopened": "reopened",
    "reverted": "reverted",
    "escalated": "escalated",
    "shipped": "merged",
    "abandoned": "abandoned",
    "open": "open",
    "ci_passed": "CI passed",
    "approved": "approved",
    "merged": "merged",
}


# --------------------------------------------------------------------------- the marker


@dataclass(frozen=True, slots=True)
class Revision:
    """What a comment reflects: the PR's head and the time of the event that produced it."""

    head_sha: str
    event_time: datetime

    def __post_init__(self) -> None:
        if not _SHA_RE.fullmatch(self.head_sha):
            raise ValueError(f"head_sha must be 7 to 64 lower-case hex digits: {self.head_sha!r}")
        if self.event_time.tzinfo is None:
            raise ValueError("event_time needs a time zone")

    def marker(self) -> str:
        rev = {"head_sha": self.head_sha, "event_time": self.event_time.isoformat()}
        return f"<!-- yield-auditor:pr-comment v1 rev={json.dumps(rev, sort_keys=True)} -->"


def parse_marker(body: str) -> Revision | None:
    """The revision in a comment's last marker; None when there is none or it is damaged."""
    found = MARKER_RE.findall(body or "")
    if not found:
        return None
    try:
        rev = json.loads(found[-1])
        return Revision(str(rev["head_sha"]), datetime.fromisoformat(rev["event_time"]))
    except (ValueError, KeyError, TypeError):
        return None


def is_newer(a: Revision, b: Revision) -> bool:
    """Whether ``a`` reflects a later event than ``b``: never overwrite ``a`` with ``b`` then."""
    return a.event_time > b.event_time


def same_content(old_body: str, new_body: str) -> bool:
    """Equal but for the marker's revision: then editing would only add noise."""
    blank = "<!-- yield-auditor:pr-comment v1 rev={} -->"
    return MARKER_RE.sub(blank, old_body or "") == MARKER_RE.sub(blank, new_body)


# --------------------------------------------------------------------------- the comment


@dataclass(frozen=True, slots=True)
class Comment:
    """The rendered comment and the figures the check run and the budget gate need."""

    body: str
    summary: str  # one line of Markdown, also the check run's summary
    revision: Revision
    spend_usd: Decimal  # priced dollars only: a lower bound when ``unpriced_tokens``
    unpriced_tokens: float
    token_yield: float | None
    bounces: int


def build_comment(
    pr: PullRequest,
    tasks: Sequence[Task],
    commits: Sequence[CommitFacts],
    events: Sequence[Event],
    evidence: Mapping[str, Sequence[Mapping[str, Any]]],
    prices: PriceBook,
    *,
    revision: Revision,
    history: Mapping[tuple[str, str], CellSummary] | None = None,
    usage: Mapping[str, Sequence[Usage]] | None = None,
    representatives: Mapping[str, str] | None = None,
    on_prs_without_agents: bool = False,
    limit: int = MAX_BODY,
) -> Comment | None:
    """The comment for ``pr``; None when it has no agent commits (unless configured).

    ``tasks`` are the tasks the PR belongs to and ``commits`` their commits; ``usage`` (sha ->
    the commit's parsed usage lines) makes the counterfactual exact, else it is scaled.
    """
    agent = [c for c in commits if c.is_agent_work]
    if not agent or not tasks:
        if not on_prs_without_agents:
            return None
        line = f"**Yield Auditor**: no agent-authored commits among {len(commits)} commits."
        return Comment(f"{line}\n\n{revision.marker()}", line, revision, Decimal(0), 0, None, 0)
    context = _context(pr, tasks, commits, agent, events, evidence, prices, history, usage)
    context["counterfactual"] = _counterfactual(agent, prices, usage, representatives)
    summary = _summary(tasks, context["totals"])
    body = _fit(dict(context, summary=summary), revision, limit)
    totals = context["totals"]
    return Comment(
        body=body,
        summary=summary,
        revision=revision,
        spend_usd=totals.usd_total,
        unpriced_tokens=sum(s.unpriced_tokens for s in totals.waterfall.values()),
        token_yield=context["token_yield"],
        bounces=sum(len(t.bounces) for t in tasks),
    )


def check_run_output(comment: Comment, budget: Any = None) -> tuple[str, str, str, str]:
    """(title, summary, text, conclusion) of the "Token yield" check run.

    Neutral, unless ``budget.max_cost_usd`` is set and the priced spend (a lower bound) exceeds
    it: then "failure" (``action: fail``) or "action_required" (``action: require_action``).
    """
    title = f"Token yield {fmt.share(comment.token_yield)}, spend {fmt.money(comment.spend_usd)}"
    text = MARKER_RE.sub("", comment.body).rstrip()
    cap = getattr(budget, "max_cost_usd", None)
    if cap is None or comment.spend_usd <= Decimal(str(cap)):
        return title, comment.summary, text, "neutral"
    title = f"Over budget: spend {fmt.money(comment.spend_usd)} > {fmt.money(Decimal(str(cap)))}"
    action = getattr(budget, "action", "fail")
    return title, comment.summary, text, "failure" if action == "fail" else "action_required"


def wanted(comment: Comment, settings: Any, exists: bool) -> bool:
    """Whether to create or edit the comment under ``comment.mode`` of the repository config.

    ``off``: never (an existing comment is left as it was); ``on``: always; ``quiet``: create it
    only once spend reaches ``quiet_min_cost_usd`` or the task bounced, then keep it current.
    """
    mode = getattr(settings, "mode", "on")
    if mode == "off":
        return False
    if mode == "on" or exists:
        return True
    return comment.bounces > 0 or comment.spend_usd >= settings.quiet_min_cost_usd


# --------------------------------------------------------------------------- figures


def _context(pr, tasks, commits, agent, events, evidence, prices, history, usage) -> dict:
    totals = summarise(tasks)
    open_ = any(t.status == "open" for t in tasks)
    others = sorted({n for t in tasks for n in t.pr_numbers} - {pr.number})
    return {
        "other_prs": others,
        "tasks": tasks,
        "totals": totals,
        "token_yield": None if open_ else totals.token_yield,
        "waterfall": [(b, s) for b, s in totals.waterfall.items() if s.tokens],
        "timeline": _timeline(tasks, len(tasks) > 1),
        "models": _per_model(agent),
        "signals": _signals(events, pr.number),
        "rework": _rework(tasks, commits),
        "history": _history(tasks, history, prices.tier_names),
        "evidence": _evidence(agent, evidence),
        "coverage": _coverage(agent, totals, usage, [evidence.get(c.sha) for c in commits]),
    }


def _summary(tasks: Sequence[Task], totals) -> Md:
    first, last = tasks[0].attempts[0], tasks[-1].attempts[-1]
    route = _route(first.tier, first.model)
    if (last.tier, last.model) != (first.tier, first.model):
        route = Md(f"{route} → {_route(last.tier, last.model)}")
    unpriced = sum(s.unpriced_tokens for s in totals.waterfall.values())
    status = "pending (open)" if any(t.status == "open" for t in tasks) else None
    attempts = sum(len(t.attempts) for t in tasks)
    bounces = sum(len(t.bounces) for t in tasks)
    return Md(
        f"**Yield Auditor**: spend so far **{fmt.cost(totals.usd_total, unpriced)}**, "
        f"token yield **{status or fmt.share(totals.token_yield)}**, {route}, "
        f"{attempts} attempt{'s' * (attempts != 1)}, {bounces} bounce{'s' * (bounces != 1)}"
    )


def _route(tier: str | None, model: str | None) -> Md:
    return Md(f"{md(tier or 'no tier')} ({md(model or 'unknown model')})")


def _timeline(tasks: Sequence[Task], label: bool) -> list[dict]:
    rows = []
    for task in tasks:
        for a in task.attempts:
            kinds = a.bounces if a.outcome == "bounced" and a.bounces else [*a.bounces, a.outcome]
            rows.append({
                "task": _task_name(task) if label else None,
                "number": a.number,
                "tier": a.tier or "none",
                "model": a.model or "unknown",
                "commits": len(a.commits),
                "tokens": Md(fmt.tokens(a.tokens, exact=True)),
                "cost": Md(fmt.cost(a.usd, a.unpriced_tokens)),
                "outcome": Md(", ".join(_OUTCOMES.get(k) or md(k) for k in kinds)),
            })  # fmt: skip
    return rows


def _task_name(task: Task) -> str:
    """``acme/app:task:ROUTE-1`` -> ``ROUTE-1``; a PR or branch task says which."""
    _, kind, name = task.id.split(":", 2) if task.id.count(":") >= 2 else ("", "", task.id)
    return {"pr": f"PR {name}", "branch": f"branch {name}", "commit": name[:12]}.get(kind, name)


def _per_model(agent: Sequence[CommitFacts]) -> list[dict]:
    acc: dict[str, list] = defaultdict(lambda: [None, 0, Decimal(0), 0])
    for c in agent:
        for u in c.usage:
            row = acc[u.model]
            row[0] = row[0] or u.tier
            row[1] += u.tokens
            row[2] += u.usd or 0
            row[3] += u.tokens if u.usd is None else 0
    ordered = sorted(acc.items(), key=lambda kv: -kv[1][1])
    return [
        {
            "model": m,
            "tier": t or "none",
            "tokens": Md(fmt.tokens(n, exact=True)),
            "cost": Md(fmt.cost(d, un)),
        }
        for m, (t, n, d, un) in ordered
    ]


def _signals(events: Iterable[Event], number: int) -> Md:
    counts = Counter(e.kind for e in events if e.pr_number == number)
    order = ("ci_failed", "ci_passed", "changes_requested", "approved", "closed", "reopened")
    parts = [f"{_OUTCOMES[k]} ×{counts[k]}" for k in order if counts[k]]
    return Md(", ".join(parts))


def _rework(tasks: Sequence[Task], commits: Sequence[CommitFacts]) -> dict:
    wanted = {sha for t in tasks for a in t.attempts for sha in a.commits}
    humans = [c for c in commits if not c.is_agent_work and c.sha in wanted]
    fixups = [c for c in commits if c.is_agent_work and c.is_fixup and c.sha in wanted]
    return {
        "agent": sum(t.agent_rework_commits for t in tasks),
        "human": sum(t.human_rework_commits for t in tasks),
        "rewritten": sum(t.spend["rework"].tokens for t in tasks),
        "commits": [
            {
                "sha": c.sha[:7],
                "who": Md("human" if not c.is_agent_work else "agent fixup"),
                "subject": c.subject,
            }
            for c in [*humans, *fixups]
        ],  # fmt: skip
    }


def _history(tasks, history, tier_names) -> dict | None:
    if history is None:
        return None
    task_class = tasks[0].task_class
    rows = []
    for tier in tier_names:
        cell = history.get((task_class, tier))
        if cell is None or cell.rate.n < MIN_HISTORY_TASKS or cell.cost.withheld:
            continue
        rows.append({
            "tier": tier,
            "cost": Md(fmt.money(cell.cost.median)),
            "low": Md(fmt.money(cell.cost.low)),
            "high": Md(fmt.money(cell.cost.high)),
            "success": Md(fmt.share(cell.posterior.mean)),
            "tasks": cell.rate.n,
        })  # fmt: skip
    return {"task_class": task_class, "rows": rows}


def _evidence(agent: Sequence[CommitFacts], evidence: Mapping[str, Sequence]) -> list[dict]:
    return [
        {
            "sha": c.sha[:7],
            "agent": c.agent or "unknown",
            "items": [
                {k: e.get(k, "") for k in ("rule", "field", "matched")}
                for e in _counted(evidence.get(c.sha))[:5]
            ],
        }
        for c in agent
    ]


def _counted(document: Any) -> list[Mapping]:
    """A stored evidence document's entries, without the refused ones (those with a note)."""
    return [e for e in document or () if isinstance(e, Mapping) and not e.get("note")]


def _coverage(agent, totals, usage, documents: Sequence[Any]) -> dict:
    """``documents``: the stored evidence of every commit, for the refused identity claims."""
    unpriced = sorted({u.model for c in agent for u in c.usage if u.usd is None})
    return {
        "refused": refused_notes(stored_refusals(d) for d in documents),
        "without_usage": [c.sha[:7] for c in agent if not c.usage],
        "agent_commits": len(agent),
        "unpriced": unpriced,
        "price_coverage": Md(fmt.share(totals.price_coverage)),
        "exact": usage is not None and all(c.sha in usage for c in agent if c.usage),
    }


# --------------------------------------------------------------------------- counterfactual


def _counterfactual(agent, prices: PriceBook, usage, representatives) -> list[dict]:
    """The same usage priced with one representative model per tier (docs/comment.md)."""
    rows = []
    for tier in prices.tier_names:
        model, why = _representative(tier, agent, prices, representatives)
        if model is None:
            rows.append({"tier": tier, "model": "none", "why": why, "cost": Md(fmt.NOT_APPLICABLE)})
            continue
        cost, missing, scaled = _reprice(agent, model, prices, usage)
        approx = "≈ " if scaled else ""
        rows.append({
            "tier": tier, "model": model, "why": Md(why),
            "cost": Md(f"{approx}{fmt.cost(cost, missing)}"),
        })  # fmt: skip
    return rows


def _representative(tier, agent, prices, representatives) -> tuple[str | None, str]:
    """Configured, else the model this PR used most on the tier, else the built-in default."""
    if representatives and representatives.get(tier):
        return representatives[tier], "configured"
    used = Counter()
    for c in agent:
        for u in c.usage:
            if u.tier == tier:
                used[u.model] += u.tokens
    if used:
        return used.most_common(1)[0][0], "used in this PR"
    default = DEFAULT_REPRESENTATIVES.get(tier)
    at = agent[-1].committed_at
    if default and prices.tier_of(default, at) == tier:
        return default, "default"
    return None, "no representative model"


def _reprice(agent, model, prices, usage) -> tuple[Decimal, float, bool]:
    """(dollars, tokens that could not be repriced, whether any line was scaled)."""
    total, missing, scaled = Decimal(0), 0.0, False
    for c in agent:
        detail = (usage or {}).get(c.sha)
        if detail is not None:
            for u in detail:
                priced = prices.price(replace(u, model=model), c.committed_at).usd
                total, missing = _add(total, missing, priced, u.total_tokens)
            continue
        for line in c.usage:
            priced = _scaled(line, model, prices, c.committed_at)
            scaled |= priced is not None
            total, missing = _add(total, missing, priced, line.tokens)
    return total, missing, scaled


def _add(total, missing, priced, n) -> tuple[Decimal, float]:
    return (total, missing + n) if priced is None else (total + priced, missing)


def _scaled(line: UsageLine, model: str, prices: PriceBook, at: datetime) -> Decimal | None:
    """A line without its token split: its cost times the two models' 3:1 probe price ratio."""
    if line.usd is None:
        return None
    actual = prices.price(Usage(line.model, **_PROBE), at).usd
    other = prices.price(Usage(model, **_PROBE), at).usd
    if not actual or other is None:
        return None
    return line.usd * other / actual


# --------------------------------------------------------------------------- rendering


def _environment() -> Environment:
    env = environment("markdown")
    env.filters["task_name"] = _task_name
    return env


_ENV = _environment()


def _fit(context: dict, revision: Revision, limit: int) -> str:
    """Render; while too long, drop detail sections (evidence first) and say what was cut."""
    template = _ENV.get_template("pr_comment.md.j2")
    marker = revision.marker()
    cut: list[str] = []
    for section in (None, *_DETAIL_SECTIONS):
        if section:
            cut.append(section)
        body = template.render(**context, cut=cut, max_rows=MAX_ROWS)
        body = f"{body.rstrip()}\n\n{marker}"
        if len(body) <= limit:
            return body
    note = "Every detail was cut to fit GitHub's size limit."
    return f"{context['summary']}\n\n{note}\n\n{marker}"
