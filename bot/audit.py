"""``yield-auditor audit``: the yield engine over a local git history, with no GitHub App.

This is the I/O edge: one streaming ``git log`` (and, beside it, a second one for the file
lists), optional ``git blame`` for line survival, optional ledger writes. Everything in
between is the pure engine.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.analysis import Analyser
from bot.attribution import Params, attribute
from bot.facts import commit_facts
from bot.gitlog import (
    PSEUDO_REVS,
    Derived,
    GitCommit,
    derive_pull_requests,
    iter_commits,
    line_survival,
    numstat_log,
)
from bot.records import CommitFacts
from bot.report import Scope, build_report


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
        return _audit(options, analyser, progress)


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
) -> dict[str, Any]:
    repository = repository_name(options.repo)
    commits, derived, facts = _history(options, analyser, repository, progress)
    notes: list[str] = []
    survival_info = None
    if options.survival:
        facts, survival_info = _with_survival(options, facts, notes)
    tasks = attribute(
        facts, derived.prs, derived.events,
        Params(options.window_days, analyser.prices.tier_names),
    )  # fmt: skip
    if options.db:
        from bot.audit_store import save  # the ledger is only imported when asked for

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
    return build_report(scope, facts, tasks, seed=options.seed)


def _history(
    options: AuditOptions,
    analyser: Analyser,
    repository: str,
    progress: Callable[[int], None] | None,
) -> tuple[list[GitCommit], Derived, list[CommitFacts]]:
    """Commits, what they imply, and their facts; git diffs on another core meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        files = pool.submit(
            numstat_log, options.repo, since=options.since, until=options.until, rev=options.rev
        )
        commits = _read(options, progress)
        derived = derive_pull_requests(commits, repository)
        analyses = [analyser.analyse(c.to_commit_info()) for c in commits]
        changes = files.result()
    facts = [
        commit_facts(a, repository, c.parents, changes.get(c.sha, ()), derived.commit_pr.get(c.sha))
        for c, a in zip(commits, analyses, strict=True)
    ]
    return commits, derived, facts


def _read(options: AuditOptions, progress: Callable[[int], None] | None) -> list[GitCommit]:
    """The commits without file lists: ``numstat_log`` reads those beside."""
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
