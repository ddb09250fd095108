"""Whatever comments a pull request already has and whatever GitHub answers to the create, the
cost comment step converges to exactly one comment of ours, sends a create at most once per
pass and never touches a human's or another app's comment (the fake GitHub, via PyGithub)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app.pr_comment import CommentStep
from bot.app.repo_config import ConfigResult, RepoConfig
from bot.app.worker import RetryLater
from bot.config import Settings
from bot.demo.fake_github.server import ERROR, FakeGitHub, Person
from bot.github.client import GitHubApp
from bot.render.comment import Comment, Revision

REPO = "octo-org/service"
OLD = '<!-- yield-auditor:pr-comment v1 rev={"event_time": "2020-01-01T00:00:00+00:00", "head_sha": "abcdef1"} -->'  # noqa: E501
HUMAN = Person("Grace", "grace@example.com", "grace", 7, "User")
OTHER_APP = Person("Other", "", "other-app[bot]", 41, "Bot")
AUTHORS = ("ours", "human", "other app")


@pytest.fixture
def fake(app_key: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=77, private_key=app_key) as server:
        server.add_installation(7, "octo-org")
        server.add_repo(REPO, 7)
        yield server


@pytest.fixture
def step(fake: FakeGitHub, app_key: str) -> Iterator[CommentStep]:
    options = Settings(
        _env_file=None, github_app_id=77, github_app_private_key=app_key, github_api_url=fake.url
    )
    quick = {"backoff_factor": 0, "seconds_between_requests": None, "seconds_between_writes": None}
    app = GitHubApp(options, **quick)
    yield CommentStep(app, options.analyser(), options)
    app.close()


def cost_comment() -> Comment:
    revision = Revision("1234567", datetime(2026, 11, 2, 12, tzinfo=UTC))
    marker = OLD.replace("2020-01-01", "2026-11-02").replace("abcdef1", "1234567")
    body = f"Token yield **100%**\n\n{marker}"
    return Comment(body, "Token yield **100%**", revision, Decimal("1.5"), 0.0, 1.0, 0)


issues = itertools.count(1)  # one pull request per example: the fake outlives them


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    existing=st.lists(st.tuples(st.sampled_from(AUTHORS), st.booleans()), max_size=5),
    answer=st.sampled_from([None, 500, 502, 503]),
)
def test_one_comment_of_ours_whatever_was_there_and_whatever_github_answers(
    fake, step, existing, answer
):
    number = next(issues)
    fake.add_pull(REPO, number, head_ref=f"topic-{number}")
    users = {"ours": None, "human": HUMAN, "other app": OTHER_APP}
    seeded = {
        fake.add_comment(REPO, number, f"{i}\n{OLD if marked else ''}", user=users[author]): (
            author,
            marked,
        )
        for i, (author, marked) in enumerate(existing)
    }
    foreign = {c.id: c.body for c in fake.comments(REPO, number) if seeded[c.id] != ("ours", True)}
    ours_before = sorted(i for i, kind in seeded.items() if kind == ("ours", True))
    posts = f"/repos/{REPO}/issues/{number}/comments"
    if answer is not None:
        fake.fail("POST", posts, ERROR, status=answer)  # not done, but the App cannot know
    repo = step.app.installation(7).get_repo(REPO)
    comment, config = cost_comment(), ConfigResult(RepoConfig())
    passes = 0
    while True:  # a pass that could not settle the create is run again later
        passes += 1
        sent = len(fake.calls("POST", posts))
        try:
            kept = step._find_or_create(repo, number, comment, config)
            break
        except RetryLater:
            assert answer is not None and not ours_before and passes == 1
        finally:
            assert len(fake.calls("POST", posts)) - sent <= 1  # never twice in a pass
    after = {c.id: c for c in fake.comments(REPO, number)}
    assert {i: after[i].body for i in foreign} == foreign  # not ours: untouched
    mine = [i for i in after if i not in foreign]
    assert mine == [kept] and after[kept].body == comment.body
    if ours_before:
        assert kept == ours_before[0] and fake.calls("POST", posts) == []
