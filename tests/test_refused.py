"""Identity matches refused on GitHub id are named in the audit's limitations, and a team's
own agent accounts are declared in the server's settings: end to end on real git histories."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.report import refused_notes
from tests.scenario import commit

ACTION_DEFAULT = ("claude[bot]", "41898282+claude[bot]@users.noreply.github.com")
SPOOFED = ("claude[bot]", "5555+claude[bot]@users.noreply.github.com")
TEAM_APP = ("acme-claude[bot]", "4242+acme-claude[bot]@users.noreply.github.com")


@pytest.fixture
def history(tmp_path, run_git):
    """A human commit, one by the Claude action under its default identity, two claiming
    claude[bot] with another account's id, and one by a team's own Claude App."""
    repo = tmp_path / "app"
    run_git("init", "-q", "-b", "main", str(repo))
    for i, (name, email) in enumerate(
        [("Ada", "ada@example.com"), ACTION_DEFAULT, SPOOFED, SPOOFED, TEAM_APP]
    ):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
        run_git("add", f"f{i}.txt", cwd=repo)
        run_git("commit", "-q", "-m", f"change {i}", f"--author={name} <{email}>", cwd=repo)
    return repo


def audit(repo, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, ["audit", "--repo", str(repo), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_refused_identities_are_counted_in_the_limitations(history, monkeypatch):
    monkeypatch.delenv("YIELD_AUDITOR_AGENT_IDENTITIES", raising=False)
    report = json.loads(audit(history, "--format", "json", "--no-survival"))
    assert report["by_agent"] == {"claude-code": 1}  # the action's documented default
    assert (
        "2 commits claimed claude[bot] with another account's GitHub id: not counted as agent "
        "work (declare a team's own agent account in agents.identities)"
    ) in report["limitations"]
    table = " ".join(audit(history, "--no-survival").split())  # as wrapped for the terminal
    assert "2 commits claimed claude[bot] with another account's GitHub id" in table


def test_a_declared_team_app_is_counted(history):
    declared = '[{"match": "acme-claude[bot]", "agent": "claude-code", "github_id": 4242}]'
    env = {"YIELD_AUDITOR_AGENT_IDENTITIES": declared}
    report = json.loads(audit(history, "--format", "json", "--no-survival", env=env))
    assert report["by_agent"] == {"claude-code": 2}


def test_refused_notes_name_each_claim_once_per_commit():
    claims = [("claude[bot]", "Copilot"), ("claude[bot]",), ()]
    facts = [
        dataclasses.replace(commit(f"s{i}", i, agent=False), refused=c)
        for i, c in enumerate(claims)
    ]
    assert refused_notes(facts) == [
        "2 commits claimed claude[bot] with another account's GitHub id: not counted as agent "
        "work (declare a team's own agent account in agents.identities)",
        "1 commit claimed Copilot with another account's GitHub id: not counted as agent "
        "work (declare a team's own agent account in agents.identities)",
    ]
