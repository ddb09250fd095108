"""``.github/yield-auditor.yml``: lookup, ``_extends``, merging, and errors with their lines."""

from __future__ import annotations

from decimal import Decimal

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.agents.detect import detect
from bot.agents.rules import DEFAULT_RULES
from bot.app.repo_config import (
    CONFIG_PATH,
    RepoConfig,
    agent_rules,
    load_repo_config,
    price_book,
)
from bot.protocol.commit import CommitInfo, Identity
from bot.protocol.usage import Usage
from tests.paths import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "yield-auditor.yml"
SECRET = "https://hooks.slack.com/services/T000/B000/s3cr3tT0k3n"


def load(files: dict[tuple[str, str], str], repo: str = "acme/app"):
    return load_repo_config(lambda r, p: files.get((r, p)), repo)


def own(text: str) -> dict[tuple[str, str], str]:
    return {("acme/app", CONFIG_PATH): text}


def test_no_file_gives_defaults():
    result = load({})
    assert result.config == RepoConfig() and result.errors == () and result.sources == ()
    c = result.config
    assert (c.comment.mode, c.comment.on_prs_without_agents, c.check_run.enabled) == (
        "on",
        False,
        False,
    )
    assert c.budget.max_cost_usd is None and c.rework_window_days == 21


def test_the_documented_example_loads_without_errors():
    result = load(own(EXAMPLE.read_text()))
    assert result.errors == ()
    c = result.config
    assert c.comment.mode == "quiet" and c.check_run.enabled
    assert c.budget.max_cost_usd == Decimal("5.00") and c.budget.action == "require_action"
    assert c.price_overrides.models["claude-opus-4-5"][0].input == Decimal("4.0")


def test_every_key():
    text = """
comment:
  mode: quiet
  on_prs_without_agents: true
  quiet_min_cost_usd: 2.5
check_run: {enabled: true}
budget: {max_cost_usd: 10, action: require_action}
tiers:
  models: {"my-finetune-*": economy}
  representatives: {standard: gpt-5.2}
price_overrides:
  models:
    claude-sonnet-4-6: {input: 2.4, output: 12}
  provider_multipliers: {anthropic: 0.9}
task_classes:
  - {class: docs, paths: ["docs/*", "*.md"]}
  - {class: bugfix, labels: [bug]}
rework_window_days: 14
ignored_paths: ["*.lock", "vendor/*"]
"""
    result = load(own(text))
    assert result.errors == ()
    c = result.config
    assert c.comment.on_prs_without_agents and c.comment.quiet_min_cost_usd == Decimal("2.5")
    assert c.budget.max_cost_usd == Decimal(10)
    assert c.tiers.representatives == {"standard": "gpt-5.2"}
    assert c.price_overrides.provider_multipliers == {"anthropic": Decimal("0.9")}
    assert c.rework_window_days == 14 and c.ignored("poetry.lock") and not c.ignored("a.py")
    assert c.task_class_for(["docs/a.md", "README.md"], []) == "docs"
    assert c.task_class_for(["docs/a.md", "app.py"], ["bug"]) == "bugfix"
    assert c.task_class_for(["app.py"], []) is None
    assert c.task_class_for(["docs/a.md", "poetry.lock"], []) == "docs"  # ignored paths


def test_yaml_booleans_and_shorthand_for_the_comment_mode():
    assert load(own("comment: off")).config.comment.mode == "off"
    assert load(own("comment: {mode: on}")).config.comment.mode == "on"
    assert load(own("comment: quiet")).config.comment.mode == "quiet"


def test_repository_overrides_and_tier_map_reach_the_price_book():
    text = "price_overrides: {models: {my-ft: {input: 1, output: 2}}}\ntiers: {models: {my-ft: x}}"
    config = load(own(text)).config
    book, error = price_book(config, tiers={"names": ["x", "y", "z"]})
    assert error is None
    assert book.price(Usage("my-ft", input=1_000_000)).usd == Decimal(1)
    assert book.tier_of("my-ft") == "x"
    book, error = price_book(config)  # the server has no tier "x": prices kept, map dropped
    assert "unknown tiers" in error and book.price(Usage("my-ft", input=1)).usd is None


# --------------------------------------------------------------------------- lookup


def test_owner_dot_github_repository_is_the_fallback():
    files = {("acme/.github", CONFIG_PATH): "rework_window_days: 9"}
    result = load(files)
    assert result.config.rework_window_days == 9
    assert result.sources == ("acme/.github:.github/yield-auditor.yml",)
    files[("acme/app", CONFIG_PATH)] = "check_run: {enabled: true}"
    result = load(files)  # the repository's own file wins outright, no merging
    assert result.config.rework_window_days == 21 and result.config.check_run.enabled


def test_extends_forms_and_precedence():
    base = "rework_window_days: 30\ncheck_run: {enabled: true}\ncomment: {mode: quiet}"
    for extends, target in [
        (".github", ("acme/.github", CONFIG_PATH)),
        ("shared/configs", ("shared/configs", CONFIG_PATH)),
        ("policies:yield/base.yml", ("acme/policies", "yield/base.yml")),
        ("other/policies:yield/base.yml", ("other/policies", "yield/base.yml")),
    ]:
        files = {
            ("acme/app", CONFIG_PATH): f"_extends: {extends}\ncomment: {{mode: 'off'}}",
            target: base,
        }
        result = load(files)
        assert result.errors == (), extends
        c = result.config
        assert c.rework_window_days == 30 and c.check_run.enabled and c.comment.mode == "off"
        assert result.sources == ("acme/app:.github/yield-auditor.yml", f"{target[0]}:{target[1]}")


def test_deep_merge_lists_replace_and_null_resets():
    files = {
        ("acme/app", CONFIG_PATH): "_extends: .github\nignored_paths: [b]\nbudget: {action: fail}"
        "\nrework_window_days: null",
        ("acme/.github", CONFIG_PATH): "ignored_paths: [a]\nrework_window_days: 7\n"
        "budget: {max_cost_usd: 3, action: require_action}",
    }
    c = load(files).config
    assert c.ignored_paths == ["b"] and c.rework_window_days == 21
    assert c.budget.max_cost_usd == Decimal(3) and c.budget.action == "fail"


def test_chains_are_followed_up_to_the_depth_limit():
    files = {("acme/app", CONFIG_PATH): "_extends: c1\nrework_window_days: 1"}
    for i in range(1, 8):
        files[(f"acme/c{i}", CONFIG_PATH)] = f"_extends: c{i + 1}\nignored_paths: [c{i}]"
    result = load(files)
    assert len(result.sources) == 5
    assert "more than 5 files chained" in result.errors[0]
    assert result.config.rework_window_days == 1 and result.config.ignored_paths == ["c1"]


def test_loops_are_detected():
    files = {
        ("acme/app", CONFIG_PATH): "_extends: .github\nrework_window_days: 3",
        ("acme/.github", CONFIG_PATH): "_extends: app\nrework_window_days: 4",
    }
    result = load(files)
    assert result.config.rework_window_days == 3
    assert result.errors == (
        "acme/.github:.github/yield-auditor.yml line 1: _extends: loop back to "
        "acme/app:.github/yield-auditor.yml",
    )


def test_bad_or_missing_extends():
    result = load(own("rework_window_days: 3\n_extends: nowhere"))
    assert result.errors == (
        "acme/app:.github/yield-auditor.yml line 2: _extends: "
        "acme/nowhere:.github/yield-auditor.yml not found",
    )
    assert result.config.rework_window_days == 3
    for bad in ("'a/b/c'", "'x:../../etc/passwd'", "[1]"):
        assert "_extends: use repo" in load(own(f"_extends: {bad}")).errors[0]


# --------------------------------------------------------------------------- errors


def test_invalid_yaml_gives_its_line_and_defaults():
    result = load(own("check_run:\n  enabled: true\nbudget: [1,\n  2"))
    assert result.config == RepoConfig()
    assert len(result.errors) == 1
    assert result.errors[0].startswith("acme/app:.github/yield-auditor.yml line 4: invalid YAML")


def test_invalid_values_give_the_line_at_fault_and_the_rest_applies():
    text = """check_run:
  enabled: true
budget:
  max_cost_usd: -1
task_classes:
  - class: docs
    paths: ["docs/*"]
  - class: "not a class"
    labels: [x]
price_overrides:
  models:
    claude-opus-4-5:
      input: 4
      output: -20
colour: blue
"""
    result = load(own(text))
    src = "acme/app:.github/yield-auditor.yml"
    assert result.errors == (
        f"{src} line 4: budget.max_cost_usd: Input should be greater than 0",
        f"{src} line 8: task_classes.1.class: String should match pattern "
        "'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'",
        f"{src} line 14: price_overrides.models.claude-opus-4-5.0.output: "
        "Input should be greater than or equal to 0",
        f"{src} line 15: colour: Extra inputs are not permitted",
    )
    assert result.config.check_run.enabled
    assert result.config.budget.max_cost_usd is None and result.config.task_classes == []


def test_errors_in_an_extended_file_name_that_file():
    files = {
        ("acme/app", CONFIG_PATH): "_extends: .github\ncheck_run: {enabled: true}",
        ("acme/.github", CONFIG_PATH): "\n\nrework_window_days: 0",
    }
    result = load(files)
    assert result.errors == (
        "acme/.github:.github/yield-auditor.yml line 3: rework_window_days: "
        "Input should be greater than or equal to 1",
    )
    assert result.config.check_run.enabled


def test_a_digest_section_is_an_error_pointing_to_the_server_configuration():
    text = (
        "check_run: {enabled: true}\nbudget: {max_cost_usd: -1}\ndigest:\n  schedule: mon 09:00\n"
    )
    result = load(own(text))
    src = "acme/app:.github/yield-auditor.yml"
    assert result.errors == (
        f"{src} line 2: budget.max_cost_usd: Input should be greater than 0",
        f"{src} line 3: digest: digests are configured on the server ([[digests]] in its TOML "
        "file), not in a repository file: remove this section; see docs/digests.md",
    )
    assert result.config.check_run.enabled and result.config.budget.max_cost_usd is None
    assert not hasattr(result.config, "digest")
    files = {  # in an extended file: that file's name and line
        ("acme/app", CONFIG_PATH): "_extends: .github\nrework_window_days: 5",
        ("acme/.github", CONFIG_PATH): "\ndigest: {schedule: daily 08:00}",
    }
    result = load(files)
    assert result.errors == (
        "acme/.github:.github/yield-auditor.yml line 2: digest: digests are configured on the "
        "server ([[digests]] in its TOML file), not in a repository file: remove this section; "
        "see docs/digests.md",
    )
    assert result.config.rework_window_days == 5


def test_secrets_in_a_digest_section_are_never_echoed():
    bad = [
        f"digest: {{channels: [{{type: slack, url: '{SECRET}'}}]}}",
        f"digest: {{channels: [{{type: slack, url: '{SECRET.replace('https', 'http')}'}}]}}",
        f"digest: {{channels: [{{type: email, to: ['{SECRET}']}}]}}",
        f"digest: {{channels: [{{type: slack, '{SECRET}': 1}}]}}",
        f"digest: '{SECRET}'",
        f"digest: {{channels: [{{type: slack, url: '{SECRET}'}}]}}\nbudget: [",
        f"digest:\n  channels:\n  - type: slack\n    url: {SECRET}\n   bad: indent",
        f"digest: {{channels: [{{type: slack, url: '{SECRET}'}}]}}\n'{SECRET}': 1",
    ]
    for text in bad:
        result = load(own(text))
        assert result.errors, text
        for error in result.errors:
            assert "s3cr3t" not in error and "hooks.slack" not in error, error
        assert "s3cr3t" not in repr(result.config)


def test_alias_bombs_and_huge_files_are_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcde", "bcdef", strict=True)
    )
    assert "more than 10,000 values" in load(own(bomb)).errors[0]
    assert "larger than" in load(own("#" * 70_000)).errors[0]


def test_a_file_that_is_not_a_mapping():
    assert load(own("- a\n- b")).errors == (
        "acme/app:.github/yield-auditor.yml line 1: the file must be a mapping of settings",
    )
    assert load(own("")).errors == () and load(own("# nothing")).config == RepoConfig()


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "comment",
                    "mode",
                    "budget",
                    "max_cost_usd",
                    "digest",
                    "channels",
                    "type",
                    "url",
                    "_extends",
                    "tiers",
                    "models",
                    "x",
                    "task_classes",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),  # fmt: skip
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(yaml_values)
def test_random_yaml_never_raises(value):
    text = yaml.safe_dump(value)
    result = load({("acme/app", CONFIG_PATH): text, ("acme/x", CONFIG_PATH): text})
    assert isinstance(result.config, RepoConfig)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text):
    assert isinstance(load(own(text)).config, RepoConfig)


# --------------------------------------------------------------------------- agent identities

IDENTITIES = """agents:
  identities:
    - match: acme-claude[bot]
      agent: Claude Code
      github_id: 4242
    - match: Claude Code <claude@anthropic.com>
      agent: claude-code
"""


def _agent(rules, author: Identity, message: str = "fix: x\n") -> str | None:
    return detect(CommitInfo("0" * 40, message, author, author), rules=rules).agent


def test_declared_identities_count_as_their_agent():
    result = load(own(IDENTITIES))
    assert result.errors == ()
    rules = agent_rules(result.config, DEFAULT_RULES)
    app = Identity("acme-claude[bot]", "4242+acme-claude[bot]@users.noreply.github.com")
    assert _agent(rules, app) == "claude-code"
    assert _agent(rules, Identity("", "", "acme-claude[bot]", 4242)) == "claude-code"
    assert _agent(rules, Identity("Claude Code", "claude@anthropic.com")) == "claude-code"
    coauthor = "fix: x\n\nCo-authored-by: Claude Code <claude@anthropic.com>\n"
    assert _agent(rules, Identity("Jane", "jane@example.com"), coauthor) == "claude-code"
    # without the declaration, none of these is anyone's agent
    assert _agent(DEFAULT_RULES, app) is None
    assert _agent(DEFAULT_RULES, Identity("Claude Code", "claude@anthropic.com")) is None


def test_a_declared_login_with_another_accounts_id_is_refused():
    rules = agent_rules(load(own(IDENTITIES)).config, DEFAULT_RULES)
    spoof = Identity("acme-claude[bot]", "77+acme-claude[bot]@users.noreply.github.com")
    d = detect(CommitInfo("0" * 40, "x\n", spoof, spoof), rules=rules)
    assert d.agent is None and d.refused == ("acme-claude[bot]",)
    # lookalikes of the declared e-mail are not it
    for email in ("claude@anthropic.com.evil", "xclaude@anthropic.com"):
        assert _agent(rules, Identity("Claude Code", email)) is None


def test_no_identities_keep_the_servers_rules():
    assert agent_rules(RepoConfig(), DEFAULT_RULES) is DEFAULT_RULES


def test_invalid_identities_give_their_line_and_are_ignored():
    text = """agents:
  identities:
    - match: acme-claude[bot]
      agent: claude-code
    - match: two words
      agent: claude-code
"""
    result = load(own(text))
    assert result.errors == (
        f"acme/app:{CONFIG_PATH} line 5: agents.identities.1.match: expected a GitHub login "
        "such as 'acme-claude[bot]', an e-mail address, or 'Name <email>'",
    )
    assert result.config.agents.identities == []


@given(st.text(max_size=60), st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_identity_entry_is_accepted_or_a_clear_error(match, agent):
    result = load(
        own(yaml.safe_dump({"agents": {"identities": [{"match": match, "agent": agent}]}}))
    )
    if result.errors:
        assert all("agents.identities.0" in e for e in result.errors)
    else:
        rules = agent_rules(result.config, DEFAULT_RULES)
        assert len(rules) > len(DEFAULT_RULES)
