"""GitHubApp (PyGithub) against the fake GitHub: App auth, token reuse, call counts, retries
and rate limits turned into RateLimited without waiting for a reset."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from github import GithubException

from bot import telemetry
from bot.config import Settings
from bot.demo.fake_github.server import DELAY, ERROR, PRIMARY, SECONDARY, FakeGitHub
from bot.github.client import (
    GitHubApp,
    RateLimited,
    api_calls,
    configured,
    rate_limits,
    retry_at,
    uncertain,
)

APP_ID = 42
INSTALLATION = 7
REPO = "octo-org/service"
PULL = f"/repos/{REPO}/pulls/1"
COMMENTS = f"/repos/{REPO}/issues/1/comments"


@pytest.fixture
def fake(app_key: str) -> Iterator[FakeGitHub]:
    with FakeGitHub(app_id=APP_ID, private_key=app_key) as server:
        server.add_installation(INSTALLATION, "octo-org")
        server.add_repo(REPO, INSTALLATION)
        sha = server.add_commit(REPO, "Add it")
        server.add_pull(REPO, 1, head_ref="feature", commits=[sha])
        yield server


def make_app(fake: FakeGitHub, app_key: str, **options) -> GitHubApp:
    settings = Settings(
        github_app_id=APP_ID, github_app_private_key=app_key, github_api_url=fake.url
    )
    options = {"backoff_factor": 0, "seconds_between_requests": 0, **options}
    return GitHubApp(settings, seconds_between_writes=0, **options)


@pytest.fixture
def app(fake: FakeGitHub, app_key: str) -> Iterator[GitHubApp]:
    github_app = make_app(fake, app_key)
    yield github_app
    github_app.close()


def get_pull(app: GitHubApp):
    with rate_limits():
        return app.installation(INSTALLATION).get_repo(REPO).get_pull(1).title


def test_configured_needs_an_id_and_a_key(app_key):
    assert configured(Settings(github_app_id=1, github_app_private_key=app_key))
    assert not configured(Settings(github_app_id=1))
    assert not configured(Settings(github_app_private_key=app_key))
    with pytest.raises(ValueError):
        GitHubApp(Settings(github_app_id=1))


def test_one_token_per_installation_is_reused_and_counted(fake, app):
    with api_calls() as calls:
        assert get_pull(app) == "Pull request 1"
        assert get_pull(app) == "Pull request 1"
    assert app.installation(INSTALLATION) is app.installation(INSTALLATION)
    assert len(fake.calls("POST", "/app/installations/7/access_tokens")) == 1
    assert calls.count == 3 == len(fake.calls())  # one token exchange, two GETs
    with api_calls() as calls:
        get_pull(app)
    assert calls.count == 1


def test_lazy_objects_cost_no_request_until_read(fake, app):
    with api_calls() as calls:
        pull = app.installation(INSTALLATION).get_repo(REPO).get_pull(1)
    assert calls.count == 0 and fake.calls() == []
    assert pull.number == 1


def test_api_calls_are_exported_per_installation(fake, app):
    metric = telemetry.GITHUB_API_CALLS
    before = metric.labels(installation="7")._value.get()
    app_before = metric.labels(installation="app")._value.get()
    get_pull(app)
    assert metric.labels(installation="7")._value.get() == before + 1
    assert metric.labels(installation="app")._value.get() == app_before + 1  # the token


def test_tokens_and_the_key_never_reach_the_logs(fake, app, app_key, caplog):
    get_pull(app)
    token = next(iter(fake.state.tokens))
    stream = telemetry.redact(f"token {token} key {app_key}")
    assert token not in stream and app_key.splitlines()[1] not in stream
    with caplog.at_level(logging.DEBUG):
        get_pull(app)
    assert token not in caplog.text


def test_server_errors_are_retried(fake, app):
    fake.fail("GET", PULL, ERROR, status=502, times=2)
    with api_calls() as calls:
        assert get_pull(app) == "Pull request 1"
    assert [r.status for r in fake.calls("GET", PULL)] == [502, 502, 200]
    assert calls.count == 4  # the token, then three attempts


def test_a_timeout_is_retried(fake, app_key):
    app = make_app(fake, app_key, timeout=1)
    get_pull(app)
    fake.reset_calls()
    fake.fail("GET", PULL, DELAY, seconds=1.5)
    assert get_pull(app) == "Pull request 1"
    assert len(fake.calls("GET", PULL)) == 2
    app.close()


def create_comment(app: GitHubApp) -> None:
    app.installation(INSTALLATION).get_repo(REPO).get_issue(1).create_comment("cost")


def test_a_create_that_times_out_is_never_sent_again(fake, app_key):
    app = make_app(fake, app_key, timeout=1)
    fake.fail("POST", COMMENTS, DELAY, seconds=1.5)  # GitHub creates it; the client gave up
    with pytest.raises(requests.Timeout) as failed:
        create_comment(app)
    assert uncertain(failed.value) and len(fake.calls("POST", COMMENTS)) == 1
    app.close()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_create_answered_5xx_is_never_sent_again(fake, app, status):
    fake.fail("POST", COMMENTS, ERROR, status=status)
    with pytest.raises(GithubException) as failed:
        create_comment(app)
    assert failed.value.status == status and uncertain(failed.value)
    assert len(fake.calls("POST", COMMENTS)) == 1


def test_a_rate_limited_create_is_not_waited_for_in_the_request(fake, app):
    fake.fail("POST", COMMENTS, SECONDARY, status=429, seconds=1)
    with pytest.raises(RateLimited), rate_limits():
        create_comment(app)  # refused, so certain: the worker runs it again at retry_at
    assert len(fake.calls("POST", COMMENTS)) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_a_refusal_is_certain(status):
    assert not uncertain(GithubException(status, {"message": "no"}, {}))


def test_an_edit_that_times_out_is_sent_again(fake, app_key):
    app = make_app(fake, app_key, timeout=1)
    comment_id = fake.add_comment(REPO, 1, "old")
    comment = app.installation(INSTALLATION).get_repo(REPO).get_issue(1).get_comment(comment_id)
    fake.fail("PATCH", f"/repos/{REPO}/issues/comments/*", DELAY, seconds=1.5)
    comment.edit("new")  # the same whole body again: repeating it changes nothing
    assert len(fake.calls("PATCH")) == 2 and fake.comments(REPO, 1)[0].body == "new"
    app.close()


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_with_a_long_retry_after_is_not_waited_for(fake, app, status):
    fake.fail("GET", PULL, SECONDARY, status=status, seconds=120)
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as limited:
        get_pull(app)
    after = datetime.now(UTC)
    assert (
        before + timedelta(seconds=119) <= limited.value.retry_at <= after + timedelta(seconds=121)
    )
    assert len(fake.calls("GET", PULL)) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_without_retry_after_waits_a_minute_elsewhere(fake, app, status):
    fake.fail("GET", PULL, SECONDARY, status=status)
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as limited:
        get_pull(app)
    assert limited.value.retry_at >= before + timedelta(seconds=59)
    assert len(fake.calls("GET", PULL)) == 1


def test_a_short_retry_after_is_waited_for_and_retried(fake, app):
    fake.fail("GET", PULL, SECONDARY, status=429, seconds=1)
    assert get_pull(app) == "Pull request 1"
    assert [r.status for r in fake.calls("GET", PULL)] == [429, 200]


@pytest.mark.parametrize("status", [403, 429])
def test_an_exhausted_primary_limit_retries_at_the_reset(fake, app, status):
    fake.fail("GET", PULL, PRIMARY, status=status, seconds=1800)
    before = datetime.now(UTC).replace(microsecond=0)
    with pytest.raises(RateLimited) as limited:
        get_pull(app)
    after = datetime.now(UTC)
    reset = limited.value.retry_at
    assert before + timedelta(seconds=1799) <= reset <= after + timedelta(seconds=1800)
    assert reset.microsecond == 0  # the header's epoch second, not now + a wait
    assert len(fake.calls("GET", PULL)) == 1


def test_a_rate_limited_token_exchange_is_rate_limited_too(fake, app):
    fake.fail("POST", "/app/installations/*/access_tokens", SECONDARY, seconds=300)
    with pytest.raises(RateLimited):
        get_pull(app)
    assert fake.calls("GET", PULL) == []


def test_retry_at_reads_retry_after_then_the_reset():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_at({"Retry-After": "30"}, at) == at + timedelta(seconds=30)
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767225900"}
    assert retry_at(reset, at) == datetime.fromtimestamp(1767225900, UTC)
    assert retry_at({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1"}, at) is None
