"""The rule schema and RuleSet: configuration adds, replaces and disables rules, invalid
settings name the entry, declared agent identities become rules, and the docs' examples load.
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.agents.detect import detect
from bot.agents.rules import DEFAULT_RULES, RuleSet, canonical_agent
from bot.protocol.commit import Identity
from tests.paths import ROOT
from tests.unit.agents.commits import commit, evidence

DOCS = ROOT / "docs" / "agents.md"

# --- configuration -------------------------------------------------------------------------

WINDSURF = {
    "id": "windsurf.coauthor",
    "agent": "Windsurf",
    "field": "trailer:Co-authored-by",
    "match": "contains",
    "pattern": "noreply@codeium.com",
    "source": "local convention",
}


def test_config_adds_a_rule():
    rules = RuleSet.from_config([WINDSURF])
    c = commit("feat: x\n\nCo-authored-by: Windsurf <noreply@codeium.com>\n")
    d = detect(c, rules=rules)
    assert (d.agent, d.role) == ("windsurf", "authored")
    assert evidence(d, "windsurf.coauthor").field == "trailer:Co-authored-by"
    assert len(rules) == len(DEFAULT_RULES) + 1
    assert detect(c).agent is None  # the default set is untouched


def test_config_replaces_a_rule_by_id():
    replacement = {"id": "codex.branch", "agent": "codex", "field": "branch", "match": "prefix",
                   "pattern": "openai-codex/"}  # fmt: skip
    rules = RuleSet.from_config([replacement])
    assert len(rules) == len(DEFAULT_RULES)
    assert detect(commit("x", branch="codex/a"), rules=rules).agent is None
    assert detect(commit("x", branch="openai-codex/a"), rules=rules).agent == "codex"
    # the rule keeps its place in the table, so tie-breaking is unchanged
    ids = [r.id for r in rules]
    assert ids.index("codex.branch") == [r.id for r in DEFAULT_RULES].index("codex.branch")


def test_config_extends_any_base_even_an_empty_one():
    rules = RuleSet.from_config([WINDSURF], base=RuleSet([]))
    assert [r.id for r in rules] == ["windsurf.coauthor"]
    assert (
        detect(commit("x\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"), rules=rules).agent
        is None
    )


def test_config_disables_a_rule():
    rules = RuleSet.from_config([{"id": "cursor.branch", "enabled": False}])
    assert "cursor.branch" not in rules and "cursor.branch" in DEFAULT_RULES
    assert detect(commit("x", branch="cursor/a-1f2e"), rules=rules).agent is None


def test_config_regex_rule_captures_the_model_and_checks_ids():
    rules = RuleSet.from_config(
        [
            {"id": "acme.model", "agent": "acme-agent", "field": "trailer:AI-Model",
             "match": "regex", "pattern": r"^(?P<model>[\w./:-]{1,100})$", "hint": []},
            {"id": "acme.bot", "agent": "acme-agent", "field": "author.email", "match": "suffix",
             "pattern": "+acme-bot[bot]@users.noreply.github.com", "github_id": 424242},
        ]
    )  # fmt: skip
    d = detect(commit("x"), [("AI-Model", "anthropic/claude-opus-4-5")], rules=rules)
    assert (d.agent, d.model) == ("acme-agent", "anthropic/claude-opus-4-5")
    bot = Identity("acme-bot[bot]", "424242+acme-bot[bot]@users.noreply.github.com")
    assert detect(commit("x", author=bot), rules=rules).agent == "acme-agent"
    fake = Identity("acme-bot[bot]", "7+acme-bot[bot]@users.noreply.github.com")
    d = detect(commit("x", author=fake), rules=rules)
    assert d.agent is None and d.mismatches[0].rule == "acme.bot"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([{"id": "x.y", "agent": "x", "field": "body"}], r"agent_rules\[0\] \('x.y'\).*pattern"),
        ([{"id": "x.y", "agent": "x", "field": "footer", "pattern": "a"}],
         r"'x.y'.*unknown field 'footer'"),
        ([{"id": "x.y", "agent": "x", "field": "body", "match": "regex", "pattern": "(a"}],
         r"'x.y'.*not a valid regular expression"),
        ([{"id": "x.y", "agent": "x", "field": "body", "patern": "a"}], r"'x.y'.*patern"),
        ([{"id": "x.y", "agent": "x", "field": "body", "pattern": "a", "role": "wrote"}],
         r"'x.y'.*role"),
        ([{"id": "x.y", "field": "body", "pattern": "a"}], r"'x.y'.*'agent' is required"),
        ([{"id": "x.y", "agent": "x", "field": "body", "pattern": "a", "github_id": 5}],
         r"'x.y'.*github_id"),
        ([{"id": "x.y", "agent": "x", "field": "author.email", "pattern": "a",
           "github_id": "five"}], r"'x.y'.*github_id"),
        ([{"id": "x.y", "agent": "x", "field": "body", "pattern": "a", "hint": "b"}],
         r"'x.y'.*hint"),
        ([{"id": "no such", "agent": "x", "field": "body", "pattern": "a"}],
         r"agent_rules\[0\].*id"),
        ([WINDSURF, {"id": "x.y", "enabled": False}], r"agent_rules\[1\] \('x.y'\).*disable"),
        ([WINDSURF, WINDSURF], r"agent_rules\[1\] \('windsurf.coauthor'\).*twice"),
        (["windsurf"], r"agent_rules\[0\].*expected a table"),
        ({"id": "x"}, r"must be a list"),
    ],
)  # fmt: skip
def test_invalid_config_names_the_rule(extra, message):
    with pytest.raises(ValueError, match=message):
        RuleSet.from_config(extra)


def test_ruleset_is_immutable():
    with pytest.raises(AttributeError):
        DEFAULT_RULES.rules = ()  # type: ignore[misc]
    with pytest.raises(ValidationError):  # pydantic's frozen-instance error
        DEFAULT_RULES["aider.coauthor"].pattern = "x"  # type: ignore[misc]


def _doc_block(lang: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert blocks, f"docs/agents.md has no {lang} example"
    return blocks[0]


def test_docs_toml_example_is_a_valid_agent_rules_setting():
    rules = RuleSet.from_config(tomllib.loads(_doc_block("toml"))["agent_rules"])
    d = detect(commit("x\n\nCo-authored-by: Windsurf <noreply@codeium.com>\n"), rules=rules)
    assert d.agent == "windsurf"


def test_docs_json_example_is_a_valid_agent_rules_setting():
    rules = RuleSet.from_config(json.loads(_doc_block("json")))
    d = detect(commit("x\n\nCo-authored-by: Cline <noreply@cline.bot>\n"), rules=rules)
    assert d.agent == "cline"
    assert detect(commit("x", branch="claude/issue-1-20260101-0930"), rules=rules).agent is None


def test_canonical_agent_names():
    assert canonical_agent("Claude Code") == "claude-code"
    assert canonical_agent("GitHub Copilot") == "copilot"
    assert canonical_agent("Gemini CLI") == "gemini"
    assert canonical_agent("  ") is None


# --- declared agent identities ---------------------------------------------------------------


def test_declared_identities_extend_the_configured_rules():
    rules = RuleSet.from_config(
        [], identities=[{"match": "acme-claude[bot]", "agent": "claude-code", "github_id": 4242}]
    )
    app = Identity("", "", "acme-claude[bot]", 4242)
    assert detect(commit("x\n", author=app), rules=rules).agent == "claude-code"
    d = detect(commit("x\n", author=Identity("", "", None, 4242)), rules=rules)
    assert (d.agent, d.evidence[0].rule) == ("claude-code", "identity.acme-claude-bot.bot-id")
    assert RuleSet.from_config([]) is not rules and len(RuleSet.from_config([])) < len(rules)


def test_an_identity_declared_twice_keeps_the_later_declaration():
    first = {"match": "ci-agent@example.com", "agent": "codex"}
    rules = RuleSet.from_config([], identities=[first, {**first, "agent": "claude-code"}])
    d = detect(commit("x\n", author=Identity("CI", "ci-agent@example.com")), rules=rules)
    assert d.agents == ("claude-code",)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"match": "x", "agent": "y"}, "must be a list of tables"),
        ([{"match": "Jane Doe", "agent": "y"}], "[0]: match: expected a GitHub login"),
        ([{"match": "a@b", "agent": "--"}], "[0]: agent: agent '--' has no letters"),
        (["acme[bot]"], "[0]: entry: Input should be a valid dictionary"),
    ],
)
def test_invalid_identities_name_the_entry(entries, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RuleSet.from_config([], identities=entries)


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["match", "agent", "github_id", "x"]),
            st.one_of(st.text(max_size=40), st.integers()),
        ),
        max_size=3,
    )
)
@settings(max_examples=200, deadline=None)
def test_any_identities_setting_is_rules_or_a_value_error(entries):
    try:
        rules = RuleSet.from_config([], identities=entries)
    except ValueError as exc:
        assert str(exc).startswith("invalid agent_identities[")
    else:
        detect(commit("x\n\nCo-authored-by: A <a@b.c>\n"), rules=rules)
