"""From one analysed commit to the flat facts the yield engine and the ledger keep."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.analysis import CommitAnalysis
from bot.engine.records import CommitFacts, FileChange, UsageLine
from bot.protocol.commit import is_fixup, subject_of
from bot.protocol.keys import bounded_or_none


def commit_facts(
    analysis: CommitAnalysis,
    repository: str,
    parents: Sequence[str] = (),
    files: Sequence[FileChange] = (),
    pr_number: int | None = None,
) -> CommitFacts:
    commit, record, detection = analysis.commit, analysis.record, analysis.detection
    route = record.route
    usage = tuple(
        UsageLine(p.usage.model, p.tier, p.usage.total_tokens, p.usd) for p in analysis.usage
    )
    main_line = max(analysis.usage, key=lambda p: p.usage.total_tokens, default=None)
    subject = subject_of(commit.message)
    authored = commit.authored_at or commit.committed_at
    return CommitFacts(
        sha=commit.sha,
        repository=repository,
        parents=tuple(parents),
        author=commit.author,
        committer=commit.committer,
        authored_at=authored,
        committed_at=commit.committed_at or authored,
        subject=subject,
        agent=detection.agent,
        agent_role=detection.role,
        model=bounded_or_none(
            detection.model
            or (route.model if route else None)
            or (main_line.usage.model if main_line else None)
        ),
        task=bounded_or_none(record.task),
        task_class=bounded_or_none(record.task_class),
        attempt=record.attempt,
        tier=bounded_or_none(
            (route.tier if route else None) or (main_line.tier if main_line else None)
        ),
        strategy=bounded_or_none(route.strategy if route else None),
        route_score=route.score if route else None,
        has_context=None if record.context is None else bool(record.context.sources),
        usage=usage,
        files=tuple(files),
        pr_number=pr_number,
        branch=bounded_or_none(commit.branch),
        is_fixup=is_fixup(subject),
        refused=detection.refused,
    )
