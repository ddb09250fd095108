"""The built-in rule table's own properties."""

from __future__ import annotations

from bot.agents.rules import DEFAULT_RULES


def test_builtin_regexes_have_a_literal_precheck():
    """Without a hint a regex runs on every value of its field (see docs: performance)."""
    unhinted = [r.id for r in DEFAULT_RULES if r.match == "regex" and not r.hint]
    assert unhinted == ["policy.assisted-by", "protocol.agent"]
