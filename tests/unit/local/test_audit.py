"""``yield-auditor audit`` end to end on real git repositories (and this project's own)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from bot.cli.main import main
from bot.local.audit import survival_rev
from tests.paths import ROOT

USAGE = "Agent-Usage: model=anthropic:claude-haiku-4-5; in=1000; out=100; requests=2"
FRONTIER = "Agent-Usage: model=anthropic:claude-opus-4-5; in=2000; out=200; requests=2"


def trailers(task, attempt, tier, usage, task_class="bugfix", extra=""):
    return (
        f"\n\nAgent-Trailers: 1\nAgent: claude-code/2.0.31\nAgent-Task: {task}\n"
        f"Agent-Task-Class: {task_class}\nAgent-Attempt: {attempt}\n"
        f"Agent-Route: router=r/1; strategy=cascade; tier={tier}\n{usage}\n{extra}"
    )


@pytest.fixture
def history(tmp_path, run_git):
    """main: a merged agent PR that escalated, a squashed agent PR that was reverted,
    an aider commit where aider only wrote the message, and a human commit."""
    repo = tmp_path / "app"
    run_git("init", "-q", "-b", "main", str(repo))

    def commit(message, path, author=("Ada", "ada@example.com"), committer=None):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        with open(repo / path, "a") as handle:
            handle.write(f"{message[:20]}\nmore\n")
        run_git("add", path, cwd=repo)
        name, email = author
        cname, cemail = committer or author
        run_git("commit", "-q", f"--author={name} <{email}>", "-F", "-", cwd=repo,
                input=message.encode(),
                env={"GIT_COMMITTER_NAME": cname, "GIT_COMMITTER_EMAIL": cemail})  # fmt: skip

    bot = ("agent", "agent@example.com")
    commit("chore: initial", "README.md")
    run_git("checkout", "-q", "-b", "fix-login", cwd=repo)
    commit("fix: login" + trailers("T-1", 1, "economy", USAGE), "app/login.py", bot)
    commit("fix: login again" + trailers("T-1", 2, "frontier", FRONTIER), "app/login.py", bot)
    run_git("checkout", "-q", "main", cwd=repo)
    run_git("merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/fix-login",
            "fix-login", cwd=repo)  # fmt: skip
    commit("feat: export <img src=x onerror=alert(1)> (#8)"
           + trailers("T-2", 1, "economy", USAGE, "feature"), "app/export.py", bot)  # fmt: skip
    sha = run_git("rev-parse", "HEAD", cwd=repo).decode().strip()
    commit(f'Revert "feat: export"\n\nThis reverts commit {sha}.\n', "app/export.py")
    commit("docs: tidy", "docs/a.md", ("Ada", "ada@example.com"),
           ("Ada (aider)", "ada@example.com"))  # fmt: skip
    commit("docs: more", "docs/b.md")
    return repo


def audit(*args: str) -> str:
    result = CliRunner().invoke(main, ["audit", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_report(history):
    report = json.loads(audit("--repo", str(history), "--format", "json"))
    assert report["commits_scanned"] == 8  # 7 commits and 1 merge
    assert report["agent_commits"] == 3 and report["agent_committed"] == 1
    assert report["by_agent"] == {"claude-code": 3}
    assert report["by_model"] == {"anthropic:claude-haiku-4-5": 2, "anthropic:claude-opus-4-5": 1}
    assert report["coverage"]["usage"] == 1.0 and report["coverage"]["pricing"] == 1.0
    cells = {(c["tier"], c["task_class"]): c for c in report["cells"]}
    bugfix = cells[("economy", "bugfix")]
    assert (bugfix["tasks"], bugfix["shipped_tasks"]) == (1, 1)
    # the economy attempt escalated: its tokens are a mis-route, the frontier's shipped
    assert bugfix["tokens_shipped"] == 2200 and bugfix["tokens_total"] == 3300
    feature = cells[("economy", "feature")]
    assert feature["shipped_tasks"] == 0 and feature["token_yield"] == 0
    for key in ("first_pass_yield", "interval", "cost_usd", "cost_per_shipped_task",
                "recommendation"):  # fmt: skip
        assert key in bugfix
    waterfall = report["summary"]["waterfall"]
    assert waterfall["misroute"]["tokens"] == 1100 and waterfall["reverted"]["tokens"] == 1100


def test_csv_html_and_table(history, tmp_path):
    csv_text = audit("--repo", str(history), "--format", "csv")
    assert csv_text.splitlines()[0].startswith("tier,task_class,tasks")
    out = tmp_path / "report.html"
    audit("--repo", str(history), "--format", "html", "--output", str(out))
    html = out.read_text()
    assert "<img src=x" not in html and "Tier x task class" in html
    table = audit("--repo", str(history))
    assert "Where the spend went" in table and "agent-authored" in table


def test_survival_uses_blame(history):
    report = json.loads(audit("--repo", str(history), "--format", "json", "--survival"))
    survival = report["coverage"]["survival"]
    assert survival["commits_measured"] >= 2 and survival["coverage"] == 1.0


@pytest.mark.parametrize(
    ("branch", "blamed_at"),
    [("--all", "HEAD"), ("--branches", "HEAD"), ("main~4..main", "main"), ("main", None)],
)
def test_survival_with_several_refs_blames_one_revision(history, branch, blamed_at):
    report = json.loads(
        audit("--repo", str(history), "--format", "json", "--survival", f"--branch={branch}")
    )
    assert report["coverage"]["survival"]["commits_measured"] >= 1
    notes = [n for n in report["limitations"] if n.startswith("line survival: measured at")]
    assert notes == ([f"line survival: measured at {blamed_at} (--branch {branch})"]
                     if blamed_at else [])  # fmt: skip


def test_survival_rev() -> None:
    assert [survival_rev(r) for r in (None, "--all", "^v1", "a...b", "a..b", "a..", "x^!", "v2")
            ] == ["HEAD", "HEAD", "HEAD", "HEAD", "b", "HEAD", "x", "v2"]  # fmt: skip


def test_ledger_on_both_databases(history, database_url):
    from bot.ledger.db import make_engine
    from bot.ledger.store import load_commits, load_tasks, upsert_repository

    first = audit("--repo", str(history), "--format", "json", "--db", database_url)
    again = audit("--repo", str(history), "--format", "json", "--db", database_url)
    assert json.loads(first) == json.loads(again)
    engine = make_engine(database_url)
    with Session(engine) as session:
        repo_id = upsert_repository(session, None, "app")
        assert len(load_commits(session, repo_id)) == 8
        tasks = load_tasks(session, repo_id)
    engine.dispose()
    assert sorted(t.task_class for t in tasks) == ["bugfix", "feature"]


def test_history_without_trailers_says_what_is_missing(tmp_path, run_git):
    repo = tmp_path / "plain"
    run_git("init", "-q", "-b", "main", str(repo))
    message = "fix: x\n\nCo-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>"
    run_git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
    report = json.loads(audit("--repo", str(repo), "--format", "json"))
    assert report["agent_commits"] == 1 and report["by_model"] == {"Claude Opus 4.5": 1}
    assert any("no Agent-Usage trailers" in note for note in report["limitations"])


def test_not_a_repository_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["audit", "--repo", str(tmp_path)])
    assert result.exit_code == 1 and "Error" in result.output


@pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                    reason="needs this project's git history")  # fmt: skip
def test_audits_this_repository(run_git):
    """Every commit git counts on this project's history, whole and in a range, and no other."""
    head = run_git("rev-parse", "HEAD", cwd=ROOT).decode().strip()
    for rev in (head, f"{head}~3..{head}"):
        report = json.loads(audit("--repo", str(ROOT), "--format", "json", "--branch", rev))
        counted = int(run_git("rev-list", "--count", rev, cwd=ROOT))
        assert (report["rev"], report["commits_scanned"]) == (rev, counted)
        assert report["agent_commits"] <= counted
