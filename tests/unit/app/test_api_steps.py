"""The worker's API steps end to end: deliveries -> worker -> fake GitHub -> ledger, on SQLite
and PostgreSQL, with the GitHub requests each delivery costs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.app import api_steps as steps
from bot.app.api_steps import MergedDiff, added_lines, api_steps, redeliver_failed
from bot.app.worker import Worker
from bot.config import Settings
from bot.demo.fake_github.server import (
    DELAY,
    ERROR,
    SECONDARY,
    FakeGitHub,
    FileDiff,
    Person,
    added_file,
)
from bot.engine.analysis import Analyser
from bot.github.client import GitHubApp
from bot.ledger import inbox
from bot.ledger.store import load_commits
from tests import payloads as p

APP_ID = 99
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HAIKU = "anthropic:claude-haiku-4-5"
AGENT = Person("Claude", "noreply@anthropic.com", "claude[bot]", 209825114, "Bot")
HUMAN = Person("Ada", "ada@example.com", "ada", 17, "User")
PULLS = f"/repos/{p.REPO}/pulls/*"


@pytest.fixture
def fake(app_key: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=APP_ID, private_key=app_key) as server:
        server.add_installation(p.INSTALLATION, "octo-org")
        server.add_repo(p.REPO, p.INSTALLATION)
        yield server


def make_app(fake: FakeGitHub, app_key: str, **options) -> GitHubApp:
    settings = Settings(
        _env_file=None,
        github_app_id=APP_ID,
        github_app_private_key=app_key,
        github_api_url=fake.url,
    )
    quick = {"backoff_factor": 0, "seconds_between_requests": 0, "seconds_between_writes": 0}
    return GitHubApp(settings, **quick, **options)


@pytest.fixture
def app(fake: FakeGitHub, app_key: str) -> Iterator[GitHubApp]:
    github_app = make_app(fake, app_key)
    yield github_app
    github_app.close()


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


class Run:
    """Stores deliveries as the ingress does and drains them with the API steps."""

    def __init__(self, engine, app: GitHubApp, fake: FakeGitHub) -> None:
        self.engine, self.fake, self.count = engine, fake, 0
        settings = Settings(_env_file=None, github_app_id=APP_ID)
        self.worker = Worker(engine, settings, api_steps=api_steps(app, Analyser()))

    def __call__(self, event: str, payload: dict) -> tuple[str, int]:
        """Process one delivery; its id and how many GitHub requests it made."""
        self.count += 1
        guid = f"delivery-{self.count:04}"
        body = json.dumps(payload).encode()
        assert inbox.store(self.engine, guid, event, body, payload)
        before = len(self.fake.calls())
        self.worker.drain()
        return guid, len(self.fake.calls()) - before

    def commits(self) -> dict:
        with Session(self.engine) as session:
            repo_id = session.execute(
                sa.text("SELECT id FROM repositories WHERE full_name = :n"), {"n": p.REPO}
            ).scalar_one()
            return {c.sha: c for c in load_commits(session, repo_id)}


@pytest.fixture
def run(engine, app, fake) -> Run:
    return Run(engine, app, fake)


def agent_commit(fake: FakeGitHub, subject: str, minutes: int, *lines: str, path="src/a.py"):
    message = p.agent_message(subject, "T-1", "economy", HAIKU)
    at = T0 + timedelta(minutes=minutes)
    return fake.add_commit(p.REPO, message, author=AGENT, files=[added_file(path, *lines)], at=at)


def pr_payload(action: str, number: int, head: str, commits: int, **fields) -> dict:
    payload = p.pull_request(action, number, head_ref="feature", head_sha=head, at=T0, **fields)
    payload["pull_request"]["commits"] = commits
    return payload


def warm_token(fake: FakeGitHub, app: GitHubApp) -> None:
    """Fetch the installation token once, as a running App holds it for an hour."""
    assert app.installation(p.INSTALLATION).get_repo(p.REPO).full_name == p.REPO


def test_an_opened_pull_request_stores_its_commits_with_accounts_and_files(run, fake):
    first = agent_commit(fake, "Add the parser", 1, "def parse():", "    return 1")
    second = fake.add_commit(
        p.REPO, "Tidy up", author=HUMAN, files=[added_file("README.md", "Docs")], parents=[first]
    )
    fake.add_pull(p.REPO, 7, head_ref="feature", commits=[first, second])
    guid, calls = run("pull_request", pr_payload("opened", 7, second, 2))
    assert inbox.get(run.engine, guid).status == "done"
    stored = run.commits()
    agent, human = stored[first], stored[second]
    assert (agent.pr_number, agent.author.github_login, agent.author.github_id) == (
        7,
        "claude[bot]",
        209825114,
    )
    assert agent.author.github_type == "Bot" and agent.is_agent_work and agent.usage
    assert [(f.path, f.added) for f in agent.files] == [("src/a.py", 2)]
    assert human.parents == (first,) and human.files[0].path == "README.md"
    assert calls == 1 + 1 + 2  # the token, the list, one per commit's files


def test_a_synchronize_costs_at_most_3_calls_on_a_100_commit_pull_request(run, fake, app):
    shas = [agent_commit(fake, f"Step {i}", i, f"line {i}") for i in range(99)]
    fake.add_pull(p.REPO, 1, head_ref="feature", commits=shas)
    run("pull_request", pr_payload("opened", 1, shas[-1], 99))
    assert sum(1 for c in run.commits().values() if c.files) == 99
    warm_token(fake, app)
    new = agent_commit(fake, "Step 99", 99, "line 99")
    fake.pull(p.REPO, 1).commits.append(new)
    _, calls = run("pull_request", pr_payload("synchronize", 1, new, 100))
    assert calls == 2  # the list (one page) and the new commit's files
    assert run.commits()[new].files and run.commits()[new].pr_number == 1
    _, calls = run("pull_request", pr_payload("synchronize", 1, new, 100))
    assert calls == 0  # a redelivery: everything is known


def test_a_synchronize_after_its_push_costs_nothing(run, fake, app):
    first = agent_commit(fake, "Start", 1, "a")
    fake.add_pull(p.REPO, 3, head_ref="feature", commits=[first])
    run("pull_request", pr_payload("opened", 3, first, 1))
    warm_token(fake, app)
    new = agent_commit(fake, "Go on", 2, "b")
    fake.pull(p.REPO, 3).commits.append(new)
    push = p.push("refs/heads/feature", [p.commit(new, "Go on", T0)], before=first)
    _, push_calls = run("push", push)
    _, sync_calls = run("pull_request", pr_payload("synchronize", 3, new, 2))
    assert (push_calls, sync_calls) == (1, 0)
    stored = run.commits()[new]
    assert stored.pr_number == 3 and stored.author.github_id == AGENT.id


def test_push_files_are_bounded_newest_first(run, fake, monkeypatch):
    monkeypatch.setattr(steps, "MAX_COMMITS", 2)
    shas = [fake.add_commit(p.REPO, f"C{i}", files=[added_file("x.py", "x")]) for i in range(3)]
    pushed = [p.commit(sha, f"C{i}", T0 + timedelta(minutes=i)) for i, sha in enumerate(shas)]
    run("push", p.push("refs/heads/topic", pushed))
    stored = run.commits()
    assert [bool(stored[sha].files) for sha in shas] == [False, True, True]


def test_a_rate_limit_postpones_the_delivery_until_retry_after(run, fake):
    head = agent_commit(fake, "Add it", 1, "x")
    fake.add_pull(p.REPO, 4, head_ref="feature", commits=[head])
    fake.fail("GET", f"{PULLS}/commits", SECONDARY, status=429, seconds=600)
    before = datetime.now(UTC)
    guid, _ = run("pull_request", pr_payload("opened", 4, head, 1))
    postponed = inbox.get(run.engine, guid)
    assert (postponed.status, postponed.attempts) == ("received", 0)
    assert postponed.available_at >= before + timedelta(seconds=599)
    assert len(fake.calls("GET", f"{PULLS}/commits")) == 1
    inbox.requeue(run.engine, [guid])  # as if retry_at had come
    run.worker.drain()
    assert inbox.get(run.engine, guid).status == "done" and run.commits()[head].files


def test_survival_at_merge_counts_the_agent_lines_left_in_the_merged_diff(run, fake):
    agent = agent_commit(fake, "Add parse", 1, "def parse(text):", "    x = 1", "    return x", "")
    rewrite = "@@ -1,3 +1,2 @@\n def parse(text):\n-    x = 1\n-    return x\n+    return 1"
    human = fake.add_commit(
        p.REPO, "Simplify", author=HUMAN, files=[FileDiff("src/a.py", rewrite)], parents=[agent]
    )
    merged_diff = added_file("src/a.py", "def parse(text):", "    return 1")
    fake.add_pull(p.REPO, 5, head_ref="feature", commits=[agent, human], files=[merged_diff])
    run("pull_request", pr_payload("opened", 5, human, 2))
    fake.merge(p.REPO, 5)
    merged = pr_payload("closed", 5, human, 2, merged=True, merge_sha="ee" * 20)
    _, calls = run("pull_request", merged)
    stored = run.commits()
    assert stored[agent].survival == pytest.approx(1 / 3)  # "def parse(text):" of 3 lines
    assert stored[human].survival is None  # not agent work: not measured
    assert stored[agent].files  # kept
    assert calls == 2  # the merged diff and the one agent commit


def test_merged_diff_follows_renames_and_skips_files_without_patch():
    class File:
        def __init__(self, filename, patch, previous_filename=None):
            self.filename, self.patch, self.previous_filename = filename, patch, previous_filename

    class Commit:
        def __init__(self, *files):
            self.files = files

    merged = MergedDiff.read([File("new.py", "@@\n+a\n+b\n+b"), File("logo.png", None, "old.png")])
    older, newer = Commit(File("new.py", "+b\n+b\n+c")), Commit(File("new.py", "+b"))
    assert merged.claim(newer) == 1.0
    assert merged.claim(older) == pytest.approx(1 / 3)  # one "b" left, "c" gone
    assert merged.claim(Commit(File("old.png", "+x"))) is None
    assert added_lines("@@ -1 +1 @@\n-old\n+ new \n+\n context") == {"new": 1}


def test_redeliver_failed_asks_once_for_each_guid_never_delivered(fake, app):
    fake.add_delivery("fixed", "push", status_code=502, ago=timedelta(hours=5))
    fake.add_delivery("fixed", "push", status_code=200, ago=timedelta(hours=4))
    fake.add_delivery("lost", "pull_request", "opened", status_code=502, ago=timedelta(hours=3))
    newest = fake.add_delivery("lost", "pull_request", "opened", status_code=500)
    fake.add_delivery("too-old", "push", status_code=500, ago=timedelta(days=4))
    fake.add_delivery("fine", "push", status_code=202)
    for i in range(120):  # more than a page
        fake.add_delivery(f"ok-{i}", "status", ago=timedelta(hours=1))
    done = redeliver_failed(app)
    assert done.requested == ("lost",) and done.refused == ()
    assert done.seen == 125
    attempts = fake.calls("POST", "/app/hook/deliveries/*/attempts")
    assert [a.path for a in attempts] == [f"/app/hook/deliveries/{newest}/attempts"]
    assert fake.deliveries()[-1].guid == "lost" and fake.deliveries()[-1].redelivery


def test_a_redelivery_request_without_a_clear_answer_is_not_sent_again(fake, app_key):
    app = make_app(fake, app_key, timeout=1)
    slow = fake.add_delivery("slow", "push", status_code=502)
    flaky = fake.add_delivery("flaky", "push", status_code=502, ago=timedelta(hours=1))
    fine = fake.add_delivery("fine", "push", status_code=502, ago=timedelta(hours=2))
    fake.fail("POST", f"/app/hook/deliveries/{slow}/attempts", DELAY, seconds=1.5)
    fake.fail("POST", f"/app/hook/deliveries/{flaky}/attempts", ERROR, status=502)
    done = redeliver_failed(app)
    assert done.unanswered == ("slow", "flaky") and done.requested == ("fine",)
    attempts = sorted(a.path for a in fake.calls("POST", "/app/hook/deliveries/*/attempts"))
    assert attempts == sorted(f"/app/hook/deliveries/{i}/attempts" for i in (slow, flaky, fine))
    app.close()
