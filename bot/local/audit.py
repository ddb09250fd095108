"""``yield-auditor audit``: the yield engine over a local git history, with no GitHub App.

This is the I/O edge: one streaming ``git log`` without diffs, one ``git diff-tree`` for the
commits whose line counts are used, optional ``git blame`` for line survival, optional ledger
writes. Everything in between is the pure engine.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.engine.analysis import Analyser
from bot.engine.attribution import Params, Task, attribute, finished_at
from bot.engine.curve import Curve, Strategy, curve, strategies
from bot.engine.facts import commit_facts
from bot.engine.records import CommitFacts, Event
from bot.engine.report import Scope, build_report
from bot.engine.scorecard import Scorecard, hours_to_merge, routed, scorecard
from bot.engine.sweep import Sweep, sweep
from bot.local.gitlog import (
    PSEUDO_REVS,
    Diffs,
    GitCommit,
    is_partial_clone,
    iter_commits,
    numstat_for,
    shallow_commits,
)
from bot.local.history import Derived, derive_pull_requests
from bot.local.survival import line_survival

_BATCH = 2000  # commits analysed before their agent commits are handed to git to diff


@dataclass(frozen=True)
class AuditOptions:
    repo: Path
    since: date | datetime | None = None
    until: date | datetime | None = None
    rev: str | None = None
    survival: bool = False
    window_days: int = 21
    max_blame_files: int = 2000
    db: str | None = None
    seed: int = 0


def repository_name(repo: Path) -> str:
    """The directory name stands for the repository (``app`` for ``/src/app`` or ``app.git``)."""
    name = repo.resolve().name
    return name.removesuffix(".git") or str(repo)


def run_audit(
    options: AuditOptions,
    analyser: Analyser,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    with _cycle_collector_paused():
        scope, facts, tasks, derived = _audit(options, analyser, progress)
        report = build_report(scope, facts, tasks, seed=options.seed)
        hours = merge_hours(tasks, facts, derived)
        return {**report, "routing": routing_report(tasks, options.seed, hours)}


def audit_tasks(
    options: AuditOptions,
    analyser: Analyser,
    progress: Callable[[int], None] | None = None,
) -> list[Task]:
    """The history's tasks, as the audit derives them (``policy export --repo``)."""
    with _cycle_collector_paused():
        return _audit(options, analyser, progress)[2]


def routing_report(
    tasks: Sequence[Task], seed: int = 0, hours: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Does routing pay (docs/metrics.md): the scorecard against the most expensive tier, the
    routing-efficiency curve, the strategies (with the ``hours`` to merge ``merge_hours``
    found) and the router's threshold sweep, as plain data with their sentences. Tasks are
    taken by id, as the dashboard takes them: the posterior draws depend on the order."""
    records = routed(sorted(tasks, key=lambda t: t.id), hours)
    line = _said(curve(records, seed=seed))
    for vertex in line["vertices"]:
        vertex["cost_per_task"] = _usd(vertex["cost_per_task"])
    swept = sweep(records, seed=seed)
    return {
        "scorecard": _said(scorecard(records, seed=seed)),
        "curve": line,
        "strategies": [_strategy(s) for s in strategies(records, seed=seed)],
        "sweep": {**_said(swept), "verdict": swept.verdict},
    }


def merge_hours(
    tasks: Sequence[Task], facts: Sequence[CommitFacts], derived: Derived
) -> dict[str, float]:
    """Per merged task, its hours to merge (``bot.engine.scorecard.hours_to_merge``): from
    its first attempt's author times to its first merge, as the history's merges tell it."""
    merged = [t for t in tasks if t.merged and t.pr_numbers and t.attempts]
    wanted = {s for t in merged for s in t.attempts[0].commits}
    authored = {f.sha: f.authored_at for f in facts if f.sha in wanted}
    prs = {p.number: p for p in derived.prs}
    events: dict[int | None, list[Event]] = defaultdict(list)
    for e in derived.events:
        events[e.pr_number].append(e)
    found = {}
    for t in merged:
        own = [e for n in dict.fromkeys(t.pr_numbers) for e in events.get(n, ())]
        found[t.id] = hours_to_merge(t, finished_at(t, prs, own, {}), authored)
    return {k: v for k, v in found.items() if v is not None}


def _said(figures: Scorecard | Curve | Sweep) -> dict[str, Any]:
    """The figures as plain data, with their sentence and what would settle each thin cell."""
    thin = [{**asdict(t), "sentence": t.sentence()} for t in figures.thin]
    return {**asdict(figures), "thin": thin, "sentence": figures.sentence()}


def _strategy(strategy: Strategy) -> dict[str, Any]:
    """A strategy as plain data, its dollar estimates as the report's decimal strings."""
    found = asdict(strategy)
    for key in ("cost_per_shipped", "late", "immediate"):
        if found[key] is not None:
            found[key] = {name: _usd(value) for name, value in found[key].items()}
    return found


def _usd(dollars: float) -> str:
    """Dollars as the report prints them: a decimal string with 8 places."""
    return f"{Decimal(repr(dollars)):.8f}"


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The audit builds millions of objects that form no cycles: left on, the cycle collector
    walks them again and again (about 15% of the run). It is back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _audit(
    options: AuditOptions, analyser: Analyser, progress: Callable[[int], None] | None
) -> tuple[Scope, list[CommitFacts], list[Task], Derived]:
    repository = repository_name(options.repo)
    params = Params(options.window_days, analyser.prices.tier_names)
    notes: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as git:
        commits, derived, facts, diffs = _history(options, analyser, repository, progress, git)
        facts = _with_files(options, facts, derived, params, diffs, notes)
    survival_info = None
    if options.survival:
        facts, survival_info = _with_survival(options, facts, notes)
    tasks = attribute(facts, derived.prs, derived.events, params)
    if options.db:
        from bot.local.audit_store import save  # the ledger is only imported when asked for

        save(options.db, repository, facts, derived.prs, derived.events, tasks)
    scope = Scope(
        repository=repository,
        rev=options.rev or "HEAD",
        since=_iso(options.since),
        until=_iso(options.until),
        commits_scanned=len(commits),
        survival=survival_info,
        notes=tuple(notes),
    )
    return scope, facts, tasks, derived


@dataclass
class _Diffing:
    """The diffs asked of git so far, run one after another on another core."""

    repo: Path
    git: ThreadPoolExecutor
    cut: frozenset[str]  # a shallow clone's boundary: diffed against nothing, so never asked
    partial: bool  # a partial clone (asked of git once, not per batch)
    asked: set[str] = field(default_factory=set)
    pending: list[Future[Diffs]] = field(default_factory=list)

    def ask(self, shas: set[str]) -> None:
        shas = shas - self.asked
        self.asked |= shas
        wanted = [s for s in shas if s not in self.cut]
        diff = self.git.submit(numstat_for, self.repo, wanted, partial=self.partial)
        self.pending.append(diff)


def _history(
    options: AuditOptions,
    analyser: Analyser,
    repository: str,
    progress: Callable[[int], None] | None,
    git: ThreadPoolExecutor,
) -> tuple[list[GitCommit], Derived, list[CommitFacts], _Diffing]:
    """Commits, what they imply, and their facts, without file lists (``_with_files``).

    A commit a merge brought in is read with the branch the merge names, so the agents'
    branch rules (``codex/``, ``copilot/`` ...) apply as they do to a push. As each batch of
    commits is analysed, git diffs its agent commits (every commit with ``--db``) in ``git``.
    """
    commits = _read(options, progress)
    derived = derive_pull_requests(commits, repository)
    branch, commit_pr = derived.branch.get, derived.commit_pr.get
    diffs = _Diffing(
        options.repo, git, shallow_commits(options.repo), is_partial_clone(options.repo)
    )
    # A partial clone's check for missing objects walks the whole history: ask once.
    size = max(len(commits), 1) if diffs.partial else _BATCH
    facts: list[CommitFacts] = []
    for start in range(0, len(commits), size):
        batch = [
            commit_facts(
                analyser.analyse(c.to_commit_info(branch(c.sha))), repository, c.parents,
                pr_number=commit_pr(c.sha),
            )
            for c in commits[start : start + size]
        ]  # fmt: skip
        facts += batch
        wanted = {f.sha for f in batch if len(f.parents) <= 1 and (options.db or f.is_agent_work)}
        diffs.ask(wanted)
    return commits, derived, facts, diffs


def _with_files(
    options: AuditOptions,
    facts: list[CommitFacts],
    derived: Derived,
    params: Params,
    diffs: _Diffing,
    notes: list[str],
) -> list[CommitFacts]:
    """The facts with the file lists of the commits whose line counts are used.

    Only tasks read them (complexity, inferred class, survival), so only the commits of the
    tasks are diffed: git's diffs are most of the cost of reading a history. The agents'
    own are under way; the tasks' other commits (people's, in agent pull requests) are found
    by attributing without file lists. The ledger (``--db``) keeps every commit's files."""
    if not options.db:
        tasks = attribute(facts, derived.prs, derived.events, params)
        diffs.ask({sha for t in tasks for a in t.attempts for sha in a.commits})
    done = [d.result() for d in diffs.pending]
    if diffs.cut:
        notes.append(
            f"shallow clone: the history stops at {len(diffs.cut)} commits whose parents this "
            "clone lacks; earlier commits and pull requests are not audited"
        )
    unknown = sum(len(d.unreadable) for d in done) + len(diffs.asked & diffs.cut)
    if unknown:
        notes.append(
            f"line counts unknown for {unknown} commits whose objects this clone lacks "
            "(shallow or partial clone, or missing objects); they count 0 lines"
        )
    files = {sha: f for d in done for sha, f in d.files.items() if f}
    return [replace(c, files=files[c.sha]) if c.sha in files else c for c in facts]


def _read(options: AuditOptions, progress: Callable[[int], None] | None) -> list[GitCommit]:
    """The commits without file lists: ``_with_files`` reads the few needed."""
    commits = []
    for commit in iter_commits(
        options.repo, since=options.since, until=options.until, rev=options.rev, numstat=False
    ):
        commits.append(commit)
        if progress is not None and len(commits) % 1000 == 0:
            progress(len(commits))
    return commits


def _with_survival(
    options: AuditOptions, facts: list[CommitFacts], notes: list[str]
) -> tuple[list[CommitFacts], dict[str, Any]]:
    """Line survival of agent commits at the audited revision, by ``git blame`` (bounded)."""
    agent = {c.sha: c for c in facts if c.is_agent_work and c.lines_added}
    rev = survival_rev(options.rev)
    result = line_survival(
        options.repo,
        {sha: c.lines_added for sha, c in agent.items()},
        {sha: c.files for sha, c in agent.items()},
        rev=rev,
        max_files=options.max_blame_files,
    )
    if rev != (options.rev or "HEAD"):
        notes.append(f"line survival: measured at {rev} (--branch {options.rev})")
    if result.files_skipped:
        notes.append(
            f"line survival: {result.files_skipped} files over the --max-blame-files bound were "
            "not blamed; their commits use commit-level survival"
        )
    updated = [
        replace(c, survival=result.per_commit[c.sha]) if c.sha in result.per_commit else c
        for c in facts
    ]
    info = {
        "coverage": result.coverage,
        "files_blamed": result.files_blamed,
        "files_skipped": result.files_skipped,
        "commits_measured": len(result.per_commit),
    }
    return updated, info


def survival_rev(rev: str | None) -> str:
    """The one revision ``git blame`` can read for ``--branch rev``: the revision itself, the
    tip of ``a..b``, or HEAD (the checked-out result) when ``rev`` has no single tip
    (``--all``, ``--branches``, ``^x``, ``a...b``)."""
    if rev is None or rev in PSEUDO_REVS or rev.startswith("^") or "..." in rev:
        return "HEAD"
    if ".." in rev:
        return rev.rsplit("..", 1)[1] or "HEAD"
    return rev.removesuffix("^!")


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()
