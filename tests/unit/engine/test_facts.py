"""A commit's facts take git's subject and fixup flag, whichever way the commit arrived."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.engine.analysis import Analyser
from bot.engine.facts import commit_facts
from bot.protocol.commit import CommitInfo

WHEN = datetime(2026, 11, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "subject", "fixup"),
    [
        ("feat: x\n\nbody\n", "feat: x", False),
        ("fixup! feat: x\r\n\r\nbody\r\n", "fixup! feat: x", True),  # from a CRLF editor
        ("\n\nsquash! feat: x\n", "squash! feat: x", True),
        ("fixup!\nfeat: x\n", "fixup! feat: x", True),
        ("Fixup! feat: x\n", "Fixup! feat: x", False),
    ],
)
def test_subject_and_fixup_are_gits(message: str, subject: str, fixup: bool) -> None:
    analysis = Analyser().analyse(CommitInfo("a" * 40, message, committed_at=WHEN))
    facts = commit_facts(analysis, "octo/shop")
    assert (facts.subject, facts.is_fixup) == (subject, fixup)
