"""The per-PR cost comment: its verdict, its content, its safety, and the hidden marker.

Pure: records in, Markdown out (no database, no network); the GitHub side finds, creates and
edits the comment (docs/comment.md). A reviewer reads the verdict first (``bot.engine.verdict``
words nothing, so the words are here), then one line of figures and the attempts; the rest is
folded into ``<details>`` unless the repository asks for the ``full`` layout. Every string that
came from a commit or a trailer is untrusted: the template's ``finalize`` escapes every value by
default (``md``), and only the ``Md`` strings built here from numbers and fixed words (and
untrusted parts passed through ``md``) pass through unchanged.
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

from bot import format as fmt
from bot.agents.detect import stored_refusals
from bot.engine.attribution import Task
from bot.engine.records import CommitFacts, Event, PullRequest, UsageLine
from bot.engine.report import refused_notes
from bot.engine.verdict import (
    ABANDONED,
    INSTALLATION,
    MISROUTED,
    PAID,
    REVERTED,
    History,
    Own,
    Verdict,
    verdict,
)
from bot.engine.yields import summarise
from bot.pricing.prices import PriceBook
from bot.protocol.usage import Usage
from bot.render.jinja import Md, environment, md, safe_url
from bot.stats.rule import Rule

MAX_BODY = 60_000  # GitHub refuses bodies over 65,536 characters
MAX_ROWS = 50  # rows of one table; the rest is counted
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
    summary: str  # the line of figures, Markdown
    revision: Revision
    spend_usd: Decimal  # priced dollars only: a lower bound when ``unpriced_tokens``
    unpriced_tokens: float
    token_yield: float | None
    bounces: int
    verdict: str = ""  # the verdict line, one per task (Markdown); none without agent commits


def build_comment(
    pr: PullRequest,
    tasks: Sequence[Task],
    commits: Sequence[CommitFacts],
    events: Sequence[Event],
    evidence: Mapping[str, Sequence[Mapping[str, Any]]],
    prices: PriceBook,
    *,
    revision: Revision,
    history: History | None = None,
    usage: Mapping[str, Sequence[Usage]] | None = None,
    representatives: Mapping[str, str] | None = None,
    on_prs_without_agents: bool = False,
    layout: str = "compact",
    task_url: str | None = None,
    limit: int = MAX_BODY,
) -> Comment | None:
    """The comment for ``pr``; None when it has no agent commits (unless configured).

    ``tasks`` are the tasks the PR belongs to and ``commits`` their commits; ``usage`` (sha ->
    the commit's parsed usage lines) makes the invoice's view exact, else it is scaled.
    ``history`` feeds the verdict's second counterfactual; ``task_url`` (the dashboard's page
    of the task, built by the App from its public URL) is linked when ``safe_url`` passes it.
    """
    agent = [c for c in commits if c.is_agent_work]
    if not agent or not tasks:
        if not on_prs_without_agents:
            return None
        line = f"**Yield Auditor**: no agent-authored commits among {len(commits)} commits."
        body = f"{line}\n\n{revision.marker()}"
        return Comment(body, line, revision, Decimal(0), 0, None, 0)
    context = _context(pr, tasks, commits, agent, events, evidence, prices, history, usage)
    context["counterfactual"] = _counterfactual(agent, prices, usage, representatives)
    summary = _summary(tasks, context["totals"])
    lines = "\n".join(v["line"] for v in context["verdicts"])
    body = _fit(
        dict(context, summary=summary, compact=layout != "full", task_url=_link(task_url)),
        revision,
        limit,
    )
    totals = context["totals"]
    return Comment(
        body=body,
        summary=summary,
        revision=revision,
        spend_usd=totals.usd_total,
        unpriced_tokens=sum(s.unpriced_tokens for s in totals.waterfall.values()),
        token_yield=context["token_yield"],
        bounces=sum(len(t.bounces) for t in tasks),
        verdict=lines,
    )


def _link(url: str | None) -> Md | None:
    """The URL as it is when ``safe_url`` passes it (escaping would break it), else no link."""
    checked = safe_url(url)
    return Md(checked) if checked else None


def check_run_output(comment: Comment, budget: Any = None) -> tuple[str, str, str, str]:
    """(title, summary, text, conclusion) of the "Token yield" check run; its summary is the
    verdict, then the line of figures.

    Neutral, unless ``budget.max_cost_usd`` is set and the priced spend (a lower bound) exceeds
    it: then "failure" (``action: fail``) or "action_required" (``action: require_action``).
    """
    title = f"Token yield {fmt.share(comment.token_yield)}, spend {fmt.money(comment.spend_usd)}"
    text = MARKER_RE.sub("", comment.body).rstrip()
    summary = "\n\n".join(part for part in (comment.verdict, comment.summary) if part)
    cap = getattr(budget, "max_cost_usd", None)
    if cap is None or comment.spend_usd <= Decimal(str(cap)):
        return title, summary, text, "neutral"
    title = f"Over budget: spend {fmt.money(comment.spend_usd)} > {fmt.money(Decimal(str(cap)))}"
    action = getattr(budget, "action", "fail")
    return title, summary, text, "failure" if action == "fail" else "action_required"


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
    known = history or History({})
    verdicts = [verdict(t, known, prices.tier_names) for t in tasks]
    return {
        "verdicts": [
            _verdict_lines(t, v, history, len(tasks) > 1)
            for t, v in zip(tasks, verdicts, strict=True)
        ],
        "other_prs": others,
        "tasks": tasks,
        "totals": totals,
        "token_yield": None if open_ else totals.token_yield,
        "waterfall": [(b, s) for b, s in totals.waterfall.items() if s.tokens],
        "timeline": _timeline(tasks, len(tasks) > 1),
        "models": _per_model(agent),
        "signals": _signals(events, pr.number),
        "rework": _rework(tasks, commits),
        "history": _history(verdicts[0], history),
        "evidence": _evidence(agent, evidence),
        "coverage": _coverage(agent, totals, usage, [evidence.get(c.sha) for c in commits]),
    }


def _summary(tasks: Sequence[Task], totals) -> Md:
    """The line of figures: spend, token yield, attempts, bounces."""
    unpriced = sum(s.unpriced_tokens for s in totals.waterfall.values())
    status = "pending (open)" if any(t.status == "open" for t in tasks) else None
    attempts = sum(len(t.attempts) for t in tasks)
    bounces = sum(len(t.bounces) for t in tasks)
    return Md(
        f"**Yield Auditor**: spend so far **{fmt.cost(totals.usd_total, unpriced)}**, "
        f"token yield **{status or fmt.share(totals.token_yield)}**, "
        f"{_plural(attempts, 'attempt')}, {_plural(bounces, 'bounce')}"
    )


def _plural(n: int, noun: str) -> str:
    return f"{fmt.count(n)} {noun}{'s' * (n != 1)}"


# --------------------------------------------------------------------------- the verdict

_LABELS = {
    MISROUTED: "Mis-routed",
    PAID: "Routing paid",
    ABANDONED: "Abandoned",
    REVERTED: "Reverted",
}
_SCOPES = {INSTALLATION: "all repositories of this installation"}


def _verdict_lines(task: Task, v: Verdict, history: History | None, label: bool) -> dict:
    """The verdict and its two labelled counterfactuals (history's only when given)."""
    name = f"Task {md(_task_name(task))}: " if label else ""
    words = _LABELS.get(v.kind, "Too early to tell")
    return {
        "line": Md(f"{name}**{words}**: {_reason(task, v)}."),
        "own": _own_line(v),
        "history": None if history is None else _history_line(v, history.scope),
    }


def _reason(task: Task, v: Verdict) -> str:
    tier, spent = md(v.tier or "no tier"), _spent(task)
    if v.kind == ABANDONED:
        return f"{_plural(v.attempts, 'attempt')} cost {spent} and shipped nothing"
    if v.kind == REVERTED:
        return f"{tier} shipped it for {spent}, then the merged work was reverted"
    if task.status == "open":
        return f"the task is still open, {spent} so far over {_plural(v.attempts, 'attempt')}"
    if v.kind == MISROUTED and v.own.superseded:
        return _superseded(v.own, tier)
    shipped = f"{tier} shipped it{' first time' if v.first_time else ''} for {spent}"
    if v.cost is None:
        return f"{tier} shipped it, but most of its tokens are unpriced"
    if v.against is None:
        return f"{shipped}{_without_history(v)}"
    e, cost = v.against, float(v.cost)
    versus = f"the {md(e.tier)} tier's expected cost for a {md(v.task_class)} task"
    if v.kind == MISROUTED:
        return f"{shipped}, about {fmt.money(cost - e.cost.median)} more than {versus}"
    if v.kind == PAID:
        return f"{shipped}, about {fmt.money(e.cost.median - cost)} less than {versus}"
    return f"{shipped}, within {versus} ({fmt.money(e.cost.low)} to {fmt.money(e.cost.high)})"


def _superseded(own: Own, tier: str) -> str:
    """What starting below the shipping tier cost, unless its tokens are all unpriced."""
    first = md(own.first_tier or "no tier")
    spent = fmt.cost(own.superseded_usd, own.superseded_unpriced)
    if spent == fmt.UNPRICED:
        return f"starting on {first} added unpriced attempts before {tier} shipped it"
    extra = "" if own.extra is None else f" ({fmt.share(own.extra)})"
    return (
        f"starting on {first} cost {spent}{extra} more than going straight to {tier}, "
        "the tier that shipped it"
    )


def _without_history(v: Verdict) -> str:
    """Why no history weighed: the cheapest tier needs none; else what would settle it."""
    if v.kind == PAID:
        return ", on the cheapest tier: nothing was superseded and no tier costs less"
    if not v.thin:
        return "; history has nothing to compare it with"
    t = v.thin[0]
    return (
        f"; history has {_plural(t.n, md(v.task_class) + ' task')} on {md(t.tier)}, "
        f"{fmt.count(t.n + t.more)} needed: sending {fmt.share(t.explore_share)} of "
        f"{md(v.task_class)} tasks there settles it after about {fmt.count(t.class_tasks)} more"
    )


def _spent(task: Task) -> str:
    spends = task.spend.values()
    usd = sum((s.usd for s in spends), Decimal(0))
    return fmt.cost(usd, sum(s.unpriced_tokens for s in spends))


def _own_line(v: Verdict) -> Md:
    """The task's own counterfactual: the superseded attempts against the shipping tier's."""
    own = v.own
    last = (
        f"{md(own.last_tier or 'no tier')}'s {_plural(own.last, 'attempt')} cost "
        f"{fmt.cost(own.last_usd, own.last_unpriced)}"
    )
    if not own.superseded:
        return Md(f"This pull request: no attempt superseded by an escalation; {last}.")
    return Md(
        f"This pull request: {_plural(own.superseded, 'superseded attempt')} from "
        f"{md(own.first_tier or 'no tier')} cost "
        f"{fmt.cost(own.superseded_usd, own.superseded_unpriced)}; {last}."
    )


def _history_line(v: Verdict, scope: str) -> Md:
    """History's counterfactual: each shown tier's expected cost per shipped task."""
    where = _SCOPES.get(scope, "this repository")
    task_class = md(v.task_class)
    if not v.expected:
        return Md(
            f"History ({where}): fewer than {fmt.count(Rule().min_tasks)} finished "
            f"{task_class} tasks on every tier."
        )
    parts = [
        f"{md(e.tier)} {fmt.money(e.cost.median)} ({fmt.money(e.cost.low)} to "
        f"{fmt.money(e.cost.high)}, {_plural(e.tasks, 'task')})"
        if e.cost
        else f"{md(e.tier)} {fmt.UNKNOWN} (under half its tasks priced)"
        for e in v.expected
    ]
    return Md(f"History ({where}): expected cost per shipped {task_class} task {', '.join(parts)}.")


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


def _history(v: Verdict, history: History | None) -> dict | None:
    """History's table for the first task's class: the tiers the verdict line names."""
    if history is None:
        return None
    rows = [
        {
            "tier": e.tier,
            "cost": Md(fmt.money(e.cost.median if e.cost else None)),
            "interval": Md(f"{fmt.money(e.cost.low)} to {fmt.money(e.cost.high)}")
            if e.cost
            else Md(fmt.UNKNOWN),
            "shipped": Md(fmt.share(e.shipped / e.tasks)),
            "tasks": Md(fmt.count(e.tasks)),
            "weighs": Md("yes" if e.settled else "not yet"),
        }
        for e in v.expected
    ]
    return {
        "task_class": v.task_class,
        "scope": Md(_SCOPES.get(history.scope, "this repository")),
        "rows": rows,
        "min_tasks": Rule().min_tasks,
        "interval_tasks": Rule().interval_tasks,
    }


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
    lines = "\n\n".join(v["line"] for v in context["verdicts"])
    return f"{lines}\n\n{context['summary']}\n\n{note}\n\n{marker}"
