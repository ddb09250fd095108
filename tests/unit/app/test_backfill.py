"""``yield-auditor backfill`` against a running fake GitHub, on SQLite and PostgreSQL: the same
story told through webhooks and read back from the API gives the same tasks; resuming after a
failure, waiting out a rate limit, open pull requests read again, ``--since``, ``--repo``,
``--dry-run`` and the command line's output."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.app.backfill import RETRY_WAITS, Options, Report, add_to_ranges, backfill, in_ranges
from bot.app.processes import build_worker
from bot.cli.main import main
from bot.config import Settings
from bot.demo.fake_github.history import add_check_run, add_review, add_status, set_branch
from bot.demo.fake_github.server import ERROR, PRIMARY, FakeGitHub
from bot.demo.story import (
    ACTIONS,
    AGENT,
    GRACE,
    HAIKU,
    INSTALLATION,
    OPUS,
    REPO,
    SONNET,
    Story,
    added,
    agent_message,
)
from bot.github.client import RETRIES, GitHubApp
from bot.ledger import inbox
from bot.ledger.db import make_engine, migrate
from bot.ledger.schema import TABLES
from bot.ledger.store import load_events, load_pull_requests, load_tasks

APP_ID = 777
QUICK = {"seconds_between_requests": None, "seconds_between_writes": None, "backoff_factor": 0}
OTHER_REPO = "acme/legacy"


# --------------------------------------------------------------------------- the story


class History(Story):
    """The demo's steps, leaving in the fake GitHub what GitHub keeps of them: check runs,
    reviews, commit statuses and the default branch's head."""

    def setup(self) -> None:
        super().setup()
        set_branch(self.fake, REPO, "main", self.heads["main"])

    def push(self, branch, message, files, author=AGENT, minutes=20, number=None) -> str:
        sha = super().push(branch, message, files, author, minutes, number)
        if branch == "main":
            set_branch(self.fake, REPO, "main", sha)
        return sha

    def ci(self, number: int, conclusion: str) -> None:
        super().ci(number, conclusion)
        sha = self.fake.pull(REPO, number).commits[-1]
        add_check_run(
            self.fake,
            REPO,
            sha,
            "ci / test",
            conclusion,
            completed_at=self.clock,
            app=ACTIONS,
            run_id=self._run_id,
        )

    def status(self, number: int, state: str) -> None:
        """CI that reports a commit status (Jenkins, say) rather than a check run."""
        at = self.tick(8)
        sha = self.fake.pull(REPO, number).commits[-1]
        add_status(self.fake, REPO, sha, state, "ci/jenkins", at=at)
        self.send(
            "status",
            self._envelope(
                sha=sha,
                state=state,
                context="ci/jenkins",
                updated_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ),
        )

    def review(self, number: int, state: str, reviewer=GRACE) -> None:
        super().review(number, state, reviewer)
        add_review(
            self.fake,
            REPO,
            number,
            state.upper(),
            user=reviewer,
            submitted_at=self.clock,
            review_id=self._review_id,
        )

    def merge(self, number: int) -> str:
        sha = super().merge(number)
        set_branch(self.fake, REPO, "main", sha)
        return sha


def agent(subject: str, task: str, kind: str, attempt: int, tier: str, model: str) -> str:
    return agent_message(subject, task, kind, attempt, tier, model, 40_000 * attempt, 4_000)


def tell(fake: FakeGitHub, send=lambda event, payload: None) -> History:
    """Six pull requests: first pass; bounced by CI, escalated, fixed; changes requested and
    reworked; closed unmerged; merged then reverted on main; still open (CI failed)."""
    s = History(fake, send)
    s.setup()
    s.push(
        "docs/a",
        agent("Document A", "DOC-1", "docs", 1, "economy", HAIKU),
        [added("docs/a.md", 30, "added")],
    )
    s.open(1, "docs/a", "Document A", ("documentation",))
    s.ci(1, "success")
    s.review(1, "approved")
    s.merge(1)
    for attempt, (tier, model) in enumerate(
        [("economy", HAIKU), ("economy", HAIKU), ("frontier", OPUS)], 1
    ):
        message = agent(f"Fix totals (attempt {attempt})", "BUG-2", "bugfix", attempt, tier, model)
        s.push(
            "fix/totals",
            message,
            [added("shop/cart.py", 10 + attempt)],
            number=2 if attempt > 1 else None,
        )
        if attempt == 1:
            s.open(2, "fix/totals", "Fix totals", ("bug",))
        s.ci(2, "failure" if attempt < 3 else "success")
    s.review(2, "approved")
    s.merge(2)
    s.push(
        "feat/cards",
        agent("Add cards", "FEAT-3", "feature", 1, "standard", SONNET),
        [added("shop/cards.py", 120, "added")],
    )
    s.open(3, "feat/cards", "Add cards", ("enhancement",))
    s.ci(3, "success")
    s.review(3, "changes_requested")
    s.push(
        "feat/cards",
        agent("Validate cards", "FEAT-3", "feature", 2, "standard", SONNET),
        [added("shop/cards.py", 30)],
        number=3,
    )
    s.push("feat/cards", "Tidy card errors", [added("shop/cards.py", 5)], author=GRACE, number=3)
    s.ci(3, "success")
    s.review(3, "approved")
    s.merge(3)
    s.push(
        "refactor/orders",
        agent("Split orders", "REF-4", "refactor", 1, "economy", HAIKU),
        [added("shop/orders.py", 80)],
    )
    s.open(4, "refactor/orders", "Split orders", ("refactor",))
    s.ci(4, "failure")
    s.close(4)
    s.push(
        "feat/coupons",
        agent("Stack coupons", "FEAT-5", "feature", 1, "economy", HAIKU),
        [added("shop/coupons.py", 50)],
    )
    s.open(5, "feat/coupons", "Stack coupons", ("enhancement",))
    s.ci(5, "success")
    merged = s.merge(5)
    s.push(
        "main",
        f'Revert "Stack coupons"\n\nThis reverts commit {merged}.\n',
        [added("shop/coupons.py", 1)],
        author=GRACE,
        minutes=24 * 60,
    )
    s.push(
        "perf/search",
        agent("Speed up search", "PERF-6", "perf", 1, "economy", HAIKU),
        [added("search.py", 12)],
    )
    s.open(6, "perf/search", "Speed up search")
    s.status(6, "failure")
    return s


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=APP_ID) as server:
        yield server


@pytest.fixture
def settings(fake: FakeGitHub) -> Settings:
    return Settings(
        _env_file=None,
        github_app_id=fake.app_id,
        github_app_private_key=fake.private_key,
        github_api_url=fake.url,
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[GitHubApp]:
    client = GitHubApp(settings, **QUICK)
    yield client
    client.close()


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


@pytest.fixture
def sqlite_engine(tmp_path):
    """Another, empty ledger: the webhook path's, or a second backfill's."""
    made = []

    def make(name: str):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate(engine)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()


class Sender:
    """Stores each webhook in the inbox, as the ingress does."""

    def __init__(self, engine) -> None:
        self.engine, self.guids = engine, itertools.count(1)

    def __call__(self, event: str, payload: dict) -> None:
        guid = f"d{next(self.guids):05}"
        inbox.store(self.engine, guid, event, json.dumps(payload).encode(), payload)


class Waits:
    """Stands in for ``time.sleep``: records what backfill would have waited."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def run(engine, settings, app, waits=None, notes=None, **options) -> Report:
    def progress(repository, done, total, note) -> None:
        if notes is not None:
            notes.append(note)

    return backfill(
        engine,
        settings,
        Options(INSTALLATION, **options),
        app=app,
        progress=progress,
        sleep=waits or Waits(),
    )


def ledger(engine, repo: str = REPO):
    """(pull requests, events, tasks) of ``repo``."""
    with Session(engine) as session:
        repo_id = session.execute(
            sa.text("SELECT id FROM repositories WHERE full_name = :n"), {"n": repo}
        ).scalar_one()
        return (
            load_pull_requests(session, repo_id),
            load_events(session, repo_id),
            load_tasks(session, repo_id),
        )


def fetches(fake: FakeGitHub, number: int) -> int:
    return len(fake.calls("GET", f"/repos/{REPO}/pulls/{number}/commits"))


def rows(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in TABLES
        }


# --------------------------------------------------------------------------- the ledger


def test_backfill_stores_the_tasks_the_webhooks_would_have(
    engine, settings, app, fake, sqlite_engine
):
    webhooks = sqlite_engine("webhooks")
    tell(fake, Sender(webhooks))
    build_worker(webhooks, settings, github_options=QUICK).drain()
    report = run(engine, settings, app)
    assert report.complete, report
    (done,) = report.repositories
    assert (done.status, done.listed, done.fetched, done.open) == ("done", 6, 6, 1)
    assert (done.commits, done.agent_commits, done.tasks) == (10, 9, 6)
    prs, events, tasks = ledger(engine)
    expected_prs, expected_events, expected_tasks = ledger(webhooks)
    assert tasks == expected_tasks
    assert prs == expected_prs
    assert {(e.key, e.kind, e.at, e.pr_number) for e in events} == {
        (e.key, e.kind, e.at, e.pr_number) for e in expected_events
    }
    by_id = {t.id.rsplit(":", 1)[1]: t for t in tasks}
    assert by_id["DOC-1"].first_pass and by_id["DOC-1"].status == "shipped"
    assert by_id["BUG-2"].escalated and by_id["BUG-2"].bounces.count("ci_failed") == 2
    assert "changes_requested" in by_id["FEAT-3"].bounces
    assert by_id["REF-4"].status == "abandoned" and by_id["FEAT-5"].status == "reverted"
    assert by_id["PERF-6"].status == "open" and by_id["PERF-6"].ci_first_pass is False


def test_backfill_writes_nothing_to_github(engine, settings, app, fake):
    tell(fake)
    fake.reset_calls()
    run(engine, settings, app)
    writes = [c for c in fake.calls() if c.method != "GET" and "/access_tokens" not in c.path]
    assert writes == []


def test_a_rerun_reads_only_open_pull_requests_again(engine, settings, app, fake):
    story = tell(fake)
    run(engine, settings, app)
    assert [fetches(fake, n) for n in range(1, 7)] == [1] * 6
    again = run(engine, settings, app)
    (repo,) = again.repositories
    assert (repo.already_done, repo.fetched, repo.open) == (5, 1, 1)
    assert [fetches(fake, n) for n in range(1, 7)] == [1] * 5 + [2]
    story.push(
        "perf/search",
        agent("Cache search", "PERF-6", "perf", 2, "standard", SONNET),
        [added("search.py", 4)],
        number=6,
    )
    story.ci(6, "success")
    story.merge(6)
    run(engine, settings, app)
    prs, _, tasks = ledger(engine)
    assert prs[-1].state == "merged"
    assert next(t for t in tasks if t.id.endswith("PERF-6")).status == "shipped"
    fourth = run(engine, settings, app)
    assert (fourth.repositories[0].already_done, fourth.repositories[0].fetched) == (6, 0)
    assert fetches(fake, 6) == 3


def test_restart_reads_everything_again_and_changes_nothing(engine, settings, app, fake):
    tell(fake)
    run(engine, settings, app)
    before = ledger(engine)
    report = run(engine, settings, app, restart=True)
    assert report.repositories[0].fetched == 6
    assert ledger(engine) == before
    assert [fetches(fake, n) for n in range(1, 7)] == [2] * 6


def test_an_interrupted_run_resumes_where_it_stopped(engine, settings, app, fake, sqlite_engine):
    tell(fake)
    every_try = (RETRIES + 1) * (len(RETRY_WAITS) + 1)  # the client's retries, then backfill's
    fake.fail("GET", f"/repos/{REPO}/pulls/3/reviews", ERROR, status=502, times=every_try)
    waits = Waits()
    first = run(engine, settings, app, waits)
    assert first.stopped and "502" in first.stopped and not first.complete
    assert first.repositories[0].status == "stopped"
    assert waits.seconds == list(RETRY_WAITS)
    assert [fetches(fake, n) for n in (6, 5, 4, 3, 2, 1)] == [1, 1, 1, 0, 0, 0]
    assert [p.number for p in ledger(engine)[0]] == [4, 5, 6]
    second = run(engine, settings, app)
    assert second.complete
    assert (second.repositories[0].already_done, second.repositories[0].fetched) == (2, 4)
    assert [fetches(fake, n) for n in (6, 5, 4, 3, 2, 1)] == [2, 1, 1, 1, 1, 1]
    clean = sqlite_engine("clean")
    run(clean, settings, app)
    assert ledger(engine) == ledger(clean)
    assert rows(engine)["events"] == rows(clean)["events"]
    assert rows(engine)["commits"] == rows(clean)["commits"]


def test_ctrl_c_keeps_what_was_done(engine, settings, app, fake):
    tell(fake)

    def interrupt_at_3(repository, done, total, note) -> None:
        if note == "#3":
            raise KeyboardInterrupt

    first = backfill(engine, settings, Options(INSTALLATION), app=app, progress=interrupt_at_3)
    assert first.interrupted and first.repositories[0].status == "interrupted"
    assert [p.number for p in ledger(engine)[0]] == [4, 5, 6]
    assert run(engine, settings, app).complete
    assert [fetches(fake, n) for n in (6, 5, 4, 3, 2, 1)] == [2, 1, 1, 1, 1, 1]


def test_a_rate_limit_is_waited_out_and_shown(engine, settings, app, fake):
    tell(fake)
    fake.fail("GET", f"/repos/{REPO}/pulls/2/commits", PRIMARY, seconds=3600)
    waits, notes = Waits(), []
    report = run(engine, settings, app, waits, notes)
    assert report.complete
    assert len(waits.seconds) == 1 and 3500 < waits.seconds[0] <= 3602
    assert any(note.startswith("rate limited: waiting until") for note in notes)
    assert [c.status for c in fake.calls("GET", f"/repos/{REPO}/pulls/2/commits")] == [403, 200]
    assert len(ledger(engine)[2]) == 6


def test_a_short_rate_limit_is_waited_out_by_the_client(engine, settings, app, fake):
    tell(fake)
    fake.fail("GET", f"/repos/{REPO}/pulls/2/reviews", PRIMARY, seconds=1)
    waits = Waits()
    assert run(engine, settings, app, waits).complete
    assert waits.seconds == []  # the client's own bounded wait, not backfill's
    assert [c.status for c in fake.calls("GET", f"/repos/{REPO}/pulls/2/reviews")] == [403, 200]


def test_a_deleted_repository_is_reported_and_skipped(engine, settings, app, fake):
    tell(fake)
    fake.add_repo(OTHER_REPO, INSTALLATION)
    fake.fail("GET", f"/repos/{OTHER_REPO}/pulls", ERROR, status=404)
    report = run(engine, settings, app)
    by_name = {r.repository: r for r in report.repositories}
    assert by_name[OTHER_REPO].status == "not_found"
    assert "not found" in by_name[OTHER_REPO].errors[0]
    assert by_name[REPO].status == "done" and report.complete


def test_since_leaves_out_older_pull_requests(engine, settings, app, fake):
    tell(fake)
    since = fake.pull(REPO, 2).created_at
    report = run(engine, settings, app, since=since)
    assert report.repositories[0].listed == 5
    assert [p.number for p in ledger(engine)[0]] == [2, 3, 4, 5, 6]
    assert fake.calls("GET", f"/repos/{REPO}/pulls/1/*") == []
    listed = fake.calls("GET", f"/repos/{REPO}/commits")
    assert [c.query.get("since") for c in listed] == [since.strftime("%Y-%m-%dT%H:%M:%SZ")]


def test_only_the_repositories_asked_for(engine, settings, app, fake):
    tell(fake)
    fake.add_repo(OTHER_REPO, INSTALLATION)
    report = run(engine, settings, app, repositories=(REPO.upper(),))
    assert [r.repository for r in report.repositories] == [REPO]
    assert fake.calls("GET", f"/repos/{OTHER_REPO}/*") == []


# --------------------------------------------------------------------------- the command line


def cli(fake: FakeGitHub, *args: str):
    env = {
        "GITHUB_APP_ID": str(fake.app_id),
        "GITHUB_APP_PRIVATE_KEY": fake.private_key,
        "GITHUB_API_URL": fake.url,
        "COLUMNS": "200",
    }
    return CliRunner().invoke(main, ["backfill", *args], env=env)


def row_of(output: str, first: str) -> list[str]:
    """The cells of the table row that starts with ``first``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{output}")


def test_the_command_prints_a_line_per_repository(database_url, ledger_engine, fake):
    tell(fake)
    result = cli(fake, "--installation", str(INSTALLATION), "--db", database_url)
    assert result.exit_code == 0, result.output
    cells = row_of(result.stdout, REPO)
    assert cells[:-1] == [REPO, "done", "6", "0", "1", "0", "10", "9", "6"]
    assert int(cells[-1]) > 0  # API calls
    assert len(ledger(ledger_engine)[2]) == 6


def test_the_command_summarises_in_json(database_url, ledger_engine, fake):
    tell(fake)
    result = cli(fake, "--installation", str(INSTALLATION), "--db", database_url, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["complete"] and summary["account"] == "acme"
    (repo,) = summary["repositories"]
    assert repo["pull_requests"] == {
        "listed": 6,
        "already_done": 0,
        "fetched": 6,
        "open": 1,
        "failed": 0,
    }
    assert (repo["commits"], repo["agent_commits"], repo["tasks"]) == (10, 9, 6)
    assert repo["api_calls"] > 0 and repo["errors"] == []


def test_a_dry_run_counts_and_writes_nothing(database_url, ledger_engine, fake):
    tell(fake)
    before = rows(ledger_engine)
    result = cli(
        fake, "--installation", str(INSTALLATION), "--db", database_url, "--dry-run", "--json"
    )
    assert result.exit_code == 0, result.output
    (repo,) = json.loads(result.stdout)["repositories"]
    assert repo["status"] == "listed" and repo["pull_requests"]["listed"] == 6
    assert repo["pull_requests"]["open"] == 1 and repo["pull_requests"]["fetched"] == 0
    assert rows(ledger_engine) == before
    assert fake.calls("GET", f"/repos/{REPO}/pulls/*/commits") == []


def test_a_dry_run_after_a_run_counts_what_is_left(database_url, ledger_engine, fake):
    tell(fake)
    assert cli(fake, "--installation", str(INSTALLATION), "--db", database_url).exit_code == 0
    result = cli(fake, "--installation", str(INSTALLATION), "--db", database_url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written" in result.stdout
    assert row_of(result.stdout, REPO) == [REPO, "6", "5", "1", "1"]


def test_a_repository_outside_the_installation_is_refused(database_url, fake):
    tell(fake)
    fake.add_installation(2, "elsewhere")
    fake.add_repo("elsewhere/app", 2)
    args = ("--installation", str(INSTALLATION), "--db", database_url)
    result = cli(fake, *args, "--repo", "elsewhere/app")
    assert result.exit_code == 2
    assert "elsewhere/app not in installation 1, which has acme/webshop" in result.output
    assert fake.calls("GET", "/repos/elsewhere/app/*") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--installation", "99"), "installation 99 not found"),
        (("--installation", "1", "--repo", "webshop"), "'webshop' is not owner/name"),
        (("--installation", "1", "--since", "last week"), "Invalid value for '--since'"),
    ],
)
def test_bad_input_exits_2_with_the_reason(database_url, fake, args, message):
    tell(fake)
    result = cli(fake, *args, "--db", database_url)
    assert result.exit_code == 2 and message in result.output


def test_without_app_credentials_it_says_what_to_set(tmp_path):
    result = CliRunner().invoke(
        main,
        ["backfill", "--installation", "1", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        env={"GITHUB_APP_ID": None, "GITHUB_APP_PRIVATE_KEY": None, "APP_ID": None},
    )
    assert result.exit_code == 2 and "set GITHUB_APP_ID" in result.output


# --------------------------------------------------------------------------- progress ranges


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=40))
def test_ranges_hold_exactly_the_numbers_added(numbers):
    ranges: list[list[int]] = []
    for number in numbers:
        ranges = add_to_ranges(ranges, number)
    assert {n for n in range(0, 62) if in_ranges(ranges, n)} == set(numbers)
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first > last + 1  # sorted, disjoint and never touching: as few as can be
    assert all(first <= last for first, last in ranges)


# --------------------------------------------------------------------------- the fake GitHub


def test_the_fake_lists_pull_requests_newest_first_in_pages(app, fake):
    fake.add_installation(INSTALLATION, "acme")
    fake.add_repo(REPO, INSTALLATION)
    sha = fake.add_commit(REPO, "One")
    for number in range(1, 6):
        fake.add_pull(REPO, number, head_ref=f"b{number}", commits=[sha])
        fake.pull(REPO, number).created_at += timedelta(minutes=number)
    fake.merge(REPO, 2)
    requester = app.installation(INSTALLATION).requester
    headers, page = requester.requestJsonAndCheck(
        "GET", f"/repos/{REPO}/pulls", parameters={"state": "all", "per_page": 2}
    )
    assert [p["number"] for p in page] == [5, 4]
    assert 'rel="next"' in headers["link"] and "merged" not in page[0]
    _, closed = requester.requestJsonAndCheck("GET", f"/repos/{REPO}/pulls?state=closed")
    assert [(p["number"], p["merged_at"] is not None) for p in closed] == [(2, True)]
    pulls = app.installation(INSTALLATION).get_repo(REPO).get_pulls(state="all", direction="asc")
    assert [p.number for p in pulls] == [1, 2, 3, 4, 5]
    _, listed = requester.requestJsonAndCheck("GET", "/installation/repositories")
    assert listed["total_count"] == 1 and listed["repositories"][0]["full_name"] == REPO
