"""Identity matches refused on GitHub id are named in the audit's limitations, and a team's
own agent accounts are declared in the server's settings: end to end on real git histories."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from bot.agents.detect import stored_refusals
from bot.cli.main import main
from bot.engine.report import refused_notes

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
        "work (a team's own agent account can be declared: docs/agents.md#declared-agent-"
        "identities)"
    ) in report["limitations"]
    table = " ".join(audit(history, "--no-survival").split())  # as wrapped for the terminal
    assert "2 commits claimed claude[bot] with another account's GitHub id" in table


def test_a_declared_team_app_is_counted(history):
    declared = '[{"match": "acme-claude[bot]", "agent": "claude-code", "github_id": 4242}]'
    env = {"YIELD_AUDITOR_AGENT_IDENTITIES": declared}
    report = json.loads(audit(history, "--format", "json", "--no-survival", env=env))
    assert report["by_agent"] == {"claude-code": 2}


def test_refused_notes_count_commits_per_claim():
    claims = [("claude[bot]", "Copilot"), ("claude[bot]",), ()]
    tail = "not counted as agent work (a team's own agent account can be declared: "
    assert refused_notes(claims) == [
        f"2 commits claimed claude[bot] with another account's GitHub id: {tail}"
        "docs/agents.md#declared-agent-identities)",
        f"1 commit claimed Copilot with another account's GitHub id: {tail}"
        "docs/agents.md#declared-agent-identities)",
    ]


def test_the_pr_comment_names_refused_claims_and_keeps_them_out_of_the_evidence():
    """The App stores refused matches with the evidence (``Detection.stored_evidence``); the
    comment's coverage counts them and its evidence table shows only what counted."""
    from bot.agents.detect import detect
    from bot.engine.attribution import attribute
    from bot.engine.records import MERGED
    from bot.pricing.prices import PriceBook
    from bot.protocol.commit import CommitInfo, Identity
    from bot.render.comment import Revision, build_comment
    from tests.scenario import at, commit, event, pr

    def document(author: Identity, message: str = "x\n"):
        return detect(CommitInfo("0" * 40, message, author, author)).stored_evidence()

    spoofed = Identity(*SPOOFED)
    commits = [
        commit("b1", 0, pr=2),
        commit("h1", 40, pr=2, agent=False, subject="chore: tidy"),
    ]
    evidence = {
        "b1": document(spoofed, "x\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"),
        "h1": document(spoofed),
    }
    assert document(Identity("Ada", "ada@example.com")) is None
    prs, events = [pr(2)], [event(MERGED, 60, 2)]
    comment = build_comment(
        prs[0], attribute(commits, prs, events), commits, events, evidence,
        PriceBook.from_config(None, None), revision=Revision("abc1234", at(90)),
    )  # fmt: skip
    assert comment is not None
    body = " ".join(comment.body.split())
    assert "1 commit claimed claude\\[bot\\] with another account's GitHub id" in body
    assert "claude-code.coauthor on trailer:Co-Authored-By" in body
    assert "claude-code.bot-name on" not in body  # refused, so not shown as evidence


def test_the_app_applies_a_repositorys_identities_and_stores_refusals(ledger_engine):
    """A push through the worker: the repository's declared App counts, a claude[bot] commit
    with another account's id is stored with its refused match (and its note)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from bot.app.repo_config import RepoConfig
    from bot.app.worker import Worker
    from bot.config import Settings
    from bot.ledger import inbox
    from bot.ledger.store import load_commits, load_evidence
    from tests import payloads as p

    config = RepoConfig.model_validate(
        {"agents": {"identities": [{"match": "acme-claude[bot]", "agent": "claude-code"}]}}
    )
    at = datetime(2026, 11, 2, tzinfo=UTC)
    payload = p.push("refs/heads/main", [
        p.commit("a" * 40, "feat: by the team's app", at, *TEAM_APP),
        p.commit("b" * 40, "docs: spoofed", at + timedelta(minutes=1), *SPOOFED),
    ])  # fmt: skip
    assert inbox.store(ledger_engine, "push-1", "push", json.dumps(payload).encode(), payload)
    worker = Worker(ledger_engine, Settings(_env_file=None), name="refused-test")
    worker.repo_config = lambda _delivery: config
    worker.drain()
    with Session(ledger_engine) as session:
        query = sa.text("SELECT id FROM repositories WHERE full_name = :n")
        repo_id = session.execute(query, {"n": p.REPO}).scalar_one()
        agents = {c.sha[0]: c.agent for c in load_commits(session, repo_id)}
        evidence = load_evidence(session, repo_id)
    assert agents == {"a": "claude-code", "b": None}
    refused = evidence["b" * 40]
    assert {e["rule"] for e in refused} == {
        "claude-code.bot-login",  # the payload's author username
        "claude-code.bot-email",
        "claude-code.bot-name",
    }
    assert all("5555" in e["note"] for e in refused)
    assert stored_refusals(refused) == ("claude[bot]",)
