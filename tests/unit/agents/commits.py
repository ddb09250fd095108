"""Commits for the agent tests: a human's by default, the rest as the test says."""

from __future__ import annotations

from bot.agents.detect import Detection, Evidence
from bot.protocol.commit import CommitInfo, Identity

HUMAN = Identity("Jane Doe", "jane@example.com")


def commit(
    message: str = "chore: tidy\n",
    author: Identity = HUMAN,
    committer: Identity | None = None,
    branch: str | None = None,
) -> CommitInfo:
    return CommitInfo("0" * 40, message, author, committer or author, branch=branch)


def evidence(d: Detection, rule: str) -> Evidence:
    found = [e for e in d.evidence if e.rule == rule]
    assert found, f"no evidence from {rule}; got {[e.rule for e in d.evidence]}"
    return found[0]
