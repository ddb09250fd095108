"""The cost comment end to end: deliveries -> worker -> the fake GitHub (via PyGithub) -> the
comment's content, on SQLite and PostgreSQL; faults, rate limits, races, API-call budgets."""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import UTC, datetime

import pytest

from bot.app.processes import build_worker
from bot.config import Settings
from bot.demo.fake_github.history import add_check_run
from bot.demo.fake_github.server import FakeGitHub
from bot.demo.story import GRACE, HAIKU, OPUS, REPO, Story, added, agent_message, play
from bot.ledger import inbox

QUICK = {"seconds_between_requests": None, "seconds_between_writes": None, "backoff_factor": 0}


@pytest.fixture
def fake():
    with FakeGitHub(app_id=777) as server:
        yield server


@pytest.fixture
def engine(ledger_engine):
    return ledger_engine


@pytest.fixture
def settings(fake):
    return Settings(
        _env_file=None,
        github_app_id=fake.app_id,
        github_app_private_key=fake.private_key,
        github_api_url=fake.url,
    )


class Sender:
    def __init__(self, engine):
        self.engine, self.guids = engine, itertools.count(1)

    def __call__(self, event: str, payload: dict) -> None:
        guid = f"d{next(self.guids):05}"
        inbox.store(self.engine, guid, event, json.dumps(payload).encode(), payload)


@pytest.fixture
def story(engine, fake):
    """The scenario's installation and repository on the fake GitHub, deliveries to the inbox."""
    told = Story(fake, Sender(engine))
    told.setup()
    return told


def worker(engine, settings, name="w", **github_options):
    return build_worker(engine, settings, github_options={**QUICK, **github_options}, name=name)


def bodies(fake, number):
    return [c.body for c in fake.comments(REPO, number)]


def test_the_scenario_leaves_one_exact_comment_per_pull_request(engine, settings, fake):
    numbers = play(fake, Sender(engine))
    worker(engine, settings).drain()
    assert {d.status for d in inbox.list_deliveries(engine, limit=None)} <= {"done", "ignored"}
    comments = {n: bodies(fake, n) for n in numbers}
    assert all(len(found) == 1 for found in comments.values()), comments
    docs, bugfix, feature, refactor, reverted = (comments[n][0] for n in numbers)
    assert docs.startswith("**Routing paid**: economy shipped it first time for $")
    assert "token yield **100%**" in docs and "1 attempt, 0 bounces" in docs
    assert bugfix.startswith("**Mis-routed**: starting on economy cost $")
    assert "more than going straight to frontier, the tier that shipped it." in bugfix
    assert "2 superseded attempts from economy cost $" in bugfix
    assert "3 attempts, 3 bounces" in bugfix and "CI failed, escalated" in bugfix
    assert feature.startswith("**Too early to tell**: standard shipped it for $")
    assert "changes requested" in feature and "human rework commits: 1" in feature
    assert refactor.startswith("**Abandoned**: 1 attempt cost $")
    assert "token yield **0%**" in refactor
    assert reverted.startswith("**Reverted**: economy shipped it for $")
    assert "token yield **0%**" in reverted  # the revert on main undid the merged work
    assert "History (this repository): fewer than 5 finished bugfix tasks" in bugfix
    for body in (docs, bugfix, feature, refactor, reverted):
        assert body.rstrip().endswith("-->") and "yield-auditor:pr-comment v1" in body
    assert len(fake.calls("POST", "/repos/*/issues/*/comments")) == len(numbers)


def test_history_comes_from_the_installation_and_the_demo_shows_each_verdict(
    engine, settings, fake
):
    from sqlalchemy.orm import Session

    from bot.demo.history import seed_history

    with Session(engine) as session, session.begin():
        seed_history(session)  # acme/api, another repository of the installation
    numbers = play(fake, Sender(engine))
    worker(engine, settings).drain()
    verdicts = [bodies(fake, n)[0].split(":")[0] for n in numbers]  # as the demo shows them
    assert verdicts == ["**Routing paid**", "**Mis-routed**", "**Too early to tell**",
                        "**Abandoned**", "**Reverted**"]  # fmt: skip
    bugfix = bodies(fake, numbers[1])[0]
    assert (
        "- History (all repositories of this installation): expected cost per shipped bugfix "
        "task economy $"
    ) in bugfix
    assert "(history of all repositories of this installation)" in bugfix


def test_the_full_layout_and_the_link_to_the_task_page(engine, settings, fake, story):
    fake.set_content(REPO, ".github/yield-auditor.yml", "comment:\n  layout: full\n")
    public = settings.model_copy(update={"public_url": "https://yield.example.com"})
    story_pull_request(story, 1, 0)
    worker(engine, public).drain()
    (body,) = bodies(fake, 1)
    page = "https://yield.example.com/installations/1/tasks/acme/webshop/task:PERF-1"
    assert f"· [Task page on the dashboard]({page})" in body
    assert "<details><summary>The task" not in body and "### The invoice's view" in body


def test_processing_again_makes_no_api_call(engine, settings, fake):
    play(fake, Sender(engine))
    same = worker(engine, settings)
    same.drain()
    fake.reset_calls()
    guids = [d.guid for d in inbox.list_deliveries(engine, limit=None)]
    inbox.requeue(engine, guids)
    same.drain()
    assert [(c.method, c.path) for c in fake.calls()] == []


def story_pull_request(story: Story, number: int, pushes: int) -> None:
    message = agent_message("Speed up search", "PERF-1", "perf", 1, "economy", HAIKU, 9000, 900)
    story.push("perf/search", message, [added("search.py", 5)])
    story.open(number, "perf/search", "Speed up search")
    for n in range(pushes):
        text = agent_message(f"Speed up search, step {n}", "PERF-1", "perf", 1, "economy", HAIKU,
                             9000 + n, 900)  # fmt: skip
        story.push("perf/search", text, [added("search.py", 3 + n)], number=number)


def test_a_synchronize_costs_at_most_three_calls(engine, settings, fake, story):
    story_pull_request(story, 1, 0)
    worker(engine, settings).drain()
    fake.reset_calls()
    pushes = 12
    for n in range(pushes):
        text = agent_message(f"Step {n}", "PERF-1", "perf", 1, "economy", HAIKU, 1000 + n, 100)
        story.push("perf/search", text, [added("search.py", 2)], number=1)
    worker(engine, settings).drain()
    calls = [c for c in fake.calls() if "/access_tokens" not in c.path]
    assert len(calls) / pushes <= 3, [(c.method, c.path) for c in calls]
    assert len(bodies(fake, 1)) == 1


def test_server_errors_and_timeouts_end_in_one_correct_comment(engine, settings, fake):
    fake.fail("POST", "/repos/*/issues/*/comments", "error", status=502)
    fake.fail("GET", "/repos/*/issues/*/comments", "delay", seconds=0.2)
    play(fake, Sender(engine))
    worker(engine, settings).drain()
    (postponed,) = [d for d in waiting(engine) if d.error]  # the others of PR 1 wait behind
    assert "create uncertain" in postponed.error  # the 502: maybe done, so looked for later
    assert [len(bodies(fake, n)) for n in range(1, 6)] == [0, 1, 1, 1, 1]
    later(engine, settings)
    assert [len(bodies(fake, n)) for n in range(1, 6)] == [1] * 5
    assert len(fake.calls("POST", "/repos/*/issues/1/comments")) == 2  # the 502, then one


# --------------------------------------------------------------------------- uncertain writes

COMMENTS = "/repos/*/issues/*/comments"
TIMEOUT = {"timeout": 2}  # seconds: a DELAY longer is a request GitHub does, unanswered


def waiting(engine) -> list[inbox.Delivery]:
    return [d for d in inbox.list_deliveries(engine, limit=None) if d.status == "received"]


def later(engine, settings, **options) -> None:
    """Run the postponed deliveries as if their time had come."""
    inbox.requeue(engine, [d.guid for d in waiting(engine)])
    worker(engine, settings, **options).drain()


def settled(fake) -> None:
    """Wait until the fake has answered every request (a delayed create lands)."""
    for _ in range(100):
        if all(c.status for c in fake.calls()):
            return
        threading.Event().wait(0.05)
    raise AssertionError("the fake still works on a request")


def test_a_create_that_timed_out_but_landed_is_adopted_not_sent_again(
    engine, settings, fake, story
):
    fake.fail("POST", COMMENTS, "delay", seconds=2.5)  # done at 2.5 s, the client gave up at 2
    fake.fail("GET", COMMENTS, "delay", seconds=1.2, times=2)  # listed again after it landed
    story_pull_request(story, 1, 0)
    worker(engine, settings, **TIMEOUT).drain()
    assert waiting(engine) == []  # found when listed again: nothing postponed
    (comment,) = fake.comments(REPO, 1)
    assert "PERF-1" in comment.body and comment.user.login.endswith("[bot]")
    assert len(fake.calls("POST", COMMENTS)) == 1


def test_a_create_not_listed_yet_is_looked_for_later_not_sent_again(engine, settings, fake, story):
    fake.fail("POST", COMMENTS, "delay", seconds=3)
    story_pull_request(story, 1, 0)
    worker(engine, settings, **TIMEOUT).drain()
    (postponed,) = waiting(engine)
    assert postponed.available_at > datetime.now(UTC) and "uncertain" in postponed.error
    settled(fake)
    later(engine, settings, **TIMEOUT)
    assert waiting(engine) == [] and len(fake.comments(REPO, 1)) == 1
    assert len(fake.calls("POST", COMMENTS)) == 1
    story.push("perf/search", agent_message("More", "PERF-1", "perf", 1, "frontier", OPUS, 1, 1),
               [added("search.py", 1)], number=1)  # fmt: skip
    worker(engine, settings, **TIMEOUT).drain()
    (comment,) = fake.comments(REPO, 1)  # the adopted comment is the one kept up to date
    assert OPUS in comment.body


def test_an_edit_that_times_out_is_sent_again(engine, settings, fake, story):
    story_pull_request(story, 1, 0)
    worker(engine, settings, **TIMEOUT).drain()
    fake.fail("PATCH", "/repos/*/issues/comments/*", "delay", seconds=3)
    story.push("perf/search", agent_message("More", "PERF-1", "perf", 1, "frontier", OPUS, 1, 1),
               [added("search.py", 1)], number=1)  # fmt: skip
    worker(engine, settings, **TIMEOUT).drain()
    assert {d.status for d in inbox.list_deliveries(engine, limit=None)} <= {"done", "ignored"}
    (comment,) = fake.comments(REPO, 1)
    assert OPUS in comment.body and len(fake.calls("PATCH")) == 2


def test_a_duplicate_deleted_meanwhile_is_no_failure(engine, settings, fake, story):
    story_pull_request(story, 1, 0)
    marker = '<!-- yield-auditor:pr-comment v1 rev={"event_time": "2020-01-01T00:00:00+00:00", ' \
             '"head_sha": "abcdef1"} -->'  # fmt: skip
    first = fake.add_comment(REPO, 1, f"old\n{marker}")
    twin = fake.add_comment(REPO, 1, f"twin\n{marker}")
    fake.fail("DELETE", "/repos/*/issues/comments/*", "delay", seconds=1)

    def someone_deletes_it() -> None:  # while our DELETE waits in the fake (or a retried DELETE)
        while not fake.calls("DELETE"):
            threading.Event().wait(0.02)
        with fake.state.lock:
            del fake.state.comments[twin]

    meanwhile = threading.Thread(target=someone_deletes_it)
    meanwhile.start()
    worker(engine, settings).drain()
    meanwhile.join(timeout=10)
    assert {d.status for d in inbox.list_deliveries(engine, limit=None)} <= {"done", "ignored"}
    assert [c.id for c in fake.comments(REPO, 1)] == [first] and "PERF-1" in bodies(fake, 1)[0]


@pytest.mark.parametrize("kind", ["secondary", "primary"])
def test_a_rate_limit_requeues_the_delivery_instead_of_sleeping(
    engine, settings, fake, kind, story
):
    story_pull_request(story, 1, 1)
    fake.fail("GET", "/repos/*/issues/*/comments", kind, times=50)
    worker(engine, settings).drain()
    waiting = [d for d in inbox.list_deliveries(engine, limit=None) if d.status == "received"]
    # the pull request's delivery and the push it links to it; the others wait behind them
    limited = [d for d in waiting if d.error]
    assert len(limited) == 2 and all(d.attempts == 0 for d in limited)
    assert all(d.available_at > datetime.now(UTC) and "403" in d.error for d in limited)
    assert bodies(fake, 1) == []
    with fake.state.lock:
        fake.state.faults.clear()
    inbox.requeue(engine, [d.guid for d in waiting])
    worker(engine, settings).drain()
    assert len(bodies(fake, 1)) == 1


def test_two_workers_on_one_pull_request_leave_one_comment(engine, settings, fake, story):
    story_pull_request(story, 1, 6)
    workers = [worker(engine, settings, name=f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=w.drain) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(bodies(fake, 1)) == 1


def test_duplicates_from_a_race_are_folded_into_the_oldest(engine, settings, fake, story):
    story_pull_request(story, 1, 0)
    marker = '<!-- yield-auditor:pr-comment v1 rev={"event_time": "2020-01-01T00:00:00+00:00", ' \
             '"head_sha": "abcdef1"} -->'  # fmt: skip
    first = fake.add_comment(REPO, 1, f"old\n{marker}")
    fake.add_comment(REPO, 1, f"older twin\n{marker}")
    fake.add_comment(REPO, 1, f"someone else's\n{marker}", user=GRACE)  # not our bot: left alone
    worker(engine, settings).drain()
    ours = [c for c in fake.comments(REPO, 1) if c.user.login.endswith("[bot]")]
    assert [c.id for c in ours] == [first] and "PERF-1" in ours[0].body
    assert len(fake.comments(REPO, 1)) == 2


def test_hostile_trailers_render_safely_on_github(engine, settings, fake, story):
    hostile = (
        agent_message(
            "Fix <img src=x onerror=alert(1)> [click](http://evil.example) @acme/admins",
            "T-<b>1</b> @octocat",
            "bugfix](http://evil.example)",
            1,
            "economy",
            HAIKU + "<script>",
            5000,
            500,
        )
        + "Assisted-by: `@everyone` ![x](http://evil.example/x.png)\n"
        + "X-Long: "
        + "a" * 100_000
    )
    story.push("fix/xss", hostile, [added("x.py", 1)])
    story.open(1, "fix/xss", "Fix @acme/admins <script>alert(1)</script>")
    worker(engine, settings).drain()
    (body,) = bodies(fake, 1)
    assert "<img" not in body and "<script" not in body and "<b>" not in body
    assert "](http" not in body and "![" not in body
    assert not any(body[i + 1].isalnum() for i in range(len(body) - 1) if body[i] == "@")
    assert len(body) < 60_000


def test_an_older_job_never_overwrites_a_newer_comment(engine, settings, fake, story):
    story_pull_request(story, 1, 0)
    worker(engine, settings).drain()
    (comment,) = fake.comments(REPO, 1)
    future = comment.body.replace(
        '"event_time": "', '"event_time": "2999-01-01T00:00:00+00:00", "x": "'
    )
    with fake.state.lock:
        comment.body = future
    from sqlalchemy import text

    with engine.begin() as connection:  # the ledger knows a newer revision too
        connection.execute(text("UPDATE pr_comments SET event_time = :t"),
                           {"t": datetime(2999, 1, 1, tzinfo=UTC)})  # fmt: skip
    story.push("perf/search", agent_message("More", "PERF-1", "perf", 1, "frontier", OPUS, 1, 1),
               [added("search.py", 1)], number=1)  # fmt: skip
    fake.reset_calls()
    worker(engine, settings).drain()
    assert fake.calls("PATCH") == [] and fake.comments(REPO, 1)[0].body == future


def test_an_invalid_config_file_is_reported_in_the_comment(engine, settings, fake, story):
    fake.set_content(REPO, ".github/yield-auditor.yml", "comment:\n  mode: loud\n")
    story_pull_request(story, 1, 0)
    worker(engine, settings).drain()
    (body,) = bodies(fake, 1)
    assert "yield-auditor.yml" in body and "line 2" in body


def test_without_credentials_the_comment_is_skipped(engine, fake, story):
    story_pull_request(story, 1, 0)
    build_worker(engine, Settings(_env_file=None)).drain()
    opened = [d for d in inbox.list_deliveries(engine, limit=None) if d.action == "opened"]
    assert opened[0].status == "done" and "pull_request.comment" in opened[0].skipped
    assert fake.comments(REPO, 1) == []


def test_the_check_run_and_budget_gate(engine, settings, fake, story):
    config = "check_run:\n  enabled: true\nbudget:\n  max_cost_usd: 0.001\n  action: fail\n"
    fake.set_content(REPO, ".github/yield-auditor.yml", config)
    story_pull_request(story, 1, 1)
    worker(engine, settings).drain()
    head = fake.pull(REPO, 1).commits[-1]
    (run,) = [r for r in fake.check_runs(REPO) if r["head_sha"] == head]  # one per head
    assert run["name"] == "Token yield" and run["conclusion"] == "failure"
    assert run["status"] == "completed"
    summary = run["output"]["summary"]  # the verdict, then the figures
    assert summary.startswith("**Too early to tell**: the task is still open, $")
    assert "\n\n**Yield Auditor**: spend so far" in summary


CHECKED = "check_run:\n  enabled: true\n"
OVER_BUDGET = "budget:\n  max_cost_usd: 0.001\n  action: fail\n"


def test_another_apps_run_of_the_same_name_is_never_touched(engine, settings, fake, story):
    fake.set_content(REPO, ".github/yield-auditor.yml", CHECKED)
    story_pull_request(story, 1, 0)
    head = fake.pull(REPO, 1).commits[-1]
    other = add_check_run(fake, REPO, head, "Token yield", "success")  # a CI job of that name
    (before,) = fake.check_runs(REPO)
    worker(engine, settings).drain()
    fake.set_content(REPO, ".github/yield-auditor.yml", CHECKED + OVER_BUDGET)
    inbox.requeue(engine, [d.guid for d in inbox.list_deliveries(engine, limit=None)])
    worker(engine, settings).drain()  # our run's conclusion changes: edited, and only ours
    assert {d.status for d in inbox.list_deliveries(engine, limit=None)} <= {"done", "ignored"}
    theirs, ours = sorted(fake.check_runs(REPO), key=lambda r: r["id"] != other)
    assert theirs == before and fake.calls("PATCH", f"/repos/*/check-runs/{other}") == []
    assert ours["conclusion"] == "failure" and ours["head_sha"] == head
    assert len(fake.calls("PATCH", "/repos/*/check-runs/*")) == 1


def test_a_check_run_create_left_uncertain_is_not_sent_twice(engine, settings, fake, story):
    fake.set_content(REPO, ".github/yield-auditor.yml", CHECKED)
    fake.fail("POST", "/repos/*/check-runs", "delay", seconds=3)
    story_pull_request(story, 1, 0)
    worker(engine, settings, **TIMEOUT).drain()
    (postponed,) = [d for d in waiting(engine) if d.error]
    assert "check run: create uncertain" in postponed.error
    settled(fake)
    later(engine, settings, **TIMEOUT)
    assert waiting(engine) == [] and len(fake.check_runs(REPO)) == 1
    assert len(fake.calls("POST", "/repos/*/check-runs")) == 1 and len(bodies(fake, 1)) == 1


def test_demo_exits_zero_and_prints_the_comments():
    from click.testing import CliRunner

    from bot.cli.main import main

    result = CliRunner().invoke(main, ["demo", "--exit", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.count("yield-auditor:pr-comment v1") == 5
    assert "acme/webshop#2: Fix rounding of cart totals (merged)" in result.output
    assert "Weekly digest preview (2026-W47)" in result.output
    assert "Mis-routes" in result.output and "economy to frontier" in result.output
    assert re.search(r"standard instead of economy would cost \$[\d.]+ more", result.output)
    assert "no 90% interval under 30 tasks a tier" in result.output  # the demo's cells are small
    assert "2026-W36: " in result.output  # the trend starts with the seeded history


def test_the_repository_config_shapes_attribution(engine, settings, fake, story):
    from sqlalchemy.orm import Session

    from bot.ledger.store import load_tasks

    rules = (
        "task_classes:\n  - class: search-tuning\n    paths: ['search/*']\nrework_window_days: 7\n"
    )
    fake.set_content(REPO, ".github/yield-auditor.yml", rules)
    message = (  # no Agent-Task-Class: the class is inferred, so the rules apply
        "Tune the ranking\n\nAgent-Trailers: 1\nAgent-Task: S-1\n"
        f"Agent-Usage: model={HAIKU}; in=1000; out=100\n"
        "Co-Authored-By: Claude <noreply@anthropic.com>\n"
    )
    story.push("tune", message, [added("search/rank.py", 4)])
    story.open(1, "tune", "Tune the ranking")
    worker(engine, settings).drain()
    with Session(engine) as session:
        (task,) = load_tasks(session, 1)
    assert (task.task_class, task.class_inferred) == ("search-tuning", False)
    assert "search-tuning" in bodies(fake, 1)[0]


def test_the_task_page_link_is_percent_encoded_and_needs_a_public_url():
    from bot.app.pr_comment import task_page
    from bot.engine.attribution import attribute
    from tests.scenario import commit

    (task,) = attribute([commit("a1", 0, task="x) [y](javascript:z) @u")])
    url = task_page("https://yield.example.com", 7, task)
    assert url == (
        "https://yield.example.com/installations/7/tasks/acme/app/"
        "task:x%29%20%5By%5D%28javascript:z%29%20%40u"
    )
    assert task_page(None, 7, task) is None and task_page("https://y.example", None, task) is None
