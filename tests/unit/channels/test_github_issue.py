"""The GitHub issue channel against the fake GitHub: one issue per period, escaped, bounded."""

from __future__ import annotations

import dataclasses

import pytest

from bot.channels import ChannelConfigError, ChannelError, github_issue, make_channel
from bot.config import Settings
from bot.demo.fake_github.server import ERROR, SECONDARY, FakeGitHub
from bot.github.client import GitHubApp
from tests.receivers import huge_digest, small_digest
from tests.unit.channels.test_chat import hostile_routing
from tests.unit.digest.test_render import ROUTING_FIGURES, routing

INSTALLATION = 7
REPO = "octo-org/reports"


@pytest.fixture
def fake():
    with FakeGitHub(app_id=1) as fake:
        fake.add_installation(INSTALLATION, "octo-org")
        fake.add_repo(REPO, installation_id=INSTALLATION)
        yield fake


@pytest.fixture
def channel(fake):
    settings = Settings(
        _env_file=None,
        github_app_id=1,
        github_app_private_key=fake.private_key,
        github_api_url=fake.url,
    )
    app = GitHubApp(
        settings, backoff_factor=0, seconds_between_requests=0, seconds_between_writes=0
    )
    spec = {
        "type": "github_issue",
        "name": "reports",
        "repository": REPO,
        "installation": INSTALLATION,
    }
    yield make_channel(spec, settings, github_app=app)
    app.close()


def test_one_issue_per_period_created_once_then_updated(fake, channel):
    channel.send(small_digest())
    channel.send(small_digest())  # a retry: nothing changes, nothing is written
    assert len(fake.calls("PATCH", f"/repos/{REPO}/issues/*")) == 0
    channel.send(small_digest(headline="Token yield 72%"))
    [issue] = fake.issues(REPO)
    assert issue.title == "Token yield digest 2026-W47"
    assert "Token yield 72%" in issue.body and "installation=7 period=2026-W47" in issue.body
    assert len(fake.calls("POST", f"/repos/{REPO}/issues")) == 1
    channel.send(
        small_digest(
            period=small_digest().period.__class__(
                small_digest().period.start, small_digest().period.end, "2026-W48"
            )
        )
    )
    assert [i.title for i in fake.issues(REPO)][-1] == "Token yield digest 2026-W48"
    assert len(fake.issues(REPO)) == 2


def test_a_pull_request_quoting_the_marker_is_never_adopted(fake, channel):
    fake.add_pull(REPO, 1, head_ref="quote")
    fake.pull(REPO, 1).body = f"Quoting the digest: {github_issue.marker(small_digest())}"
    channel.send(small_digest())
    [issue] = fake.issues(REPO)
    assert issue.title == "Token yield digest 2026-W47"
    assert fake.pull(REPO, 1).title == "Pull request 1"
    assert not fake.calls("PATCH", f"/repos/{REPO}/issues/*")


def test_body_shows_every_section_with_a_mermaid_trend(channel):
    body = channel.render(small_digest())["body"]
    for expected in (
        "| Token yield | 71% | 65% | +6 pts |",
        "97% priced",
        "economy",
        "[60%–98%]",
        "$0.80 burned",
        "**SWITCH**",
        "```mermaid",
        "xychart-beta",
        "https://yield.example.org/dashboard/7",
        "metrics.md",
        "muted",
    ):
        assert expected in body


def test_the_routing_scorecard_comes_right_after_the_headline(channel):
    body = channel.render(small_digest(routing=routing()))["body"].replace("\\", "")
    assert "### Does routing pay?" in body
    assert body.index("Does routing pay?") < body.index("### Scorecard vs the previous period")
    for expected in ROUTING_FIGURES:
        assert expected in body, expected
    assert "Does routing pay?" not in channel.render(small_digest())["body"]


@pytest.mark.parametrize("routing", [None, hostile_routing()])
def test_hostile_huge_digest_stays_under_the_limit_and_inert(channel, routing):
    body = channel.render(dataclasses.replace(huge_digest(), routing=routing))["body"]
    assert len(body) <= github_issue.MAX_BODY and "more" in body
    assert "@everyone" not in body and "<script" not in body and "[click](" not in body
    assert "\u202e" not in body


def test_rate_limit_goes_back_with_retry_after(fake, channel):
    fake.fail("GET", f"/repos/{REPO}/issues", SECONDARY, seconds=120)
    with pytest.raises(ChannelError) as failure:
        channel.send(small_digest())
    assert failure.value.retry_after is not None and 100 < failure.value.retry_after <= 120
    assert not fake.issues(REPO)


def test_reads_are_retried_but_a_create_is_sent_once(fake, channel):
    """A 5xx read is retried in the request; a create that got a 5xx may have happened, so it
    is not sent again blindly: the channel fails, and the next send finds or creates the issue."""
    fake.fail("GET", f"/repos/{REPO}/issues", ERROR, status=502, times=1)
    fake.fail("POST", f"/repos/{REPO}/issues", ERROR, status=502, times=1)
    with pytest.raises(ChannelError, match="GitHub answered 502"):
        channel.send(small_digest())
    assert len(fake.calls("GET", f"/repos/{REPO}/issues")) == 2
    assert len(fake.calls("POST", f"/repos/{REPO}/issues")) == 1
    channel.send(small_digest())
    channel.send(small_digest())
    assert len(fake.issues(REPO)) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"repository": "not-a-repo"}, "'repository'"), ({"installation": None}, "'installation'")],
)
def test_bad_specs_are_refused(changes, message):
    spec = {"type": "github_issue", "name": "r", "repository": REPO, "installation": 7}
    with pytest.raises(ChannelConfigError, match=message):
        make_channel({**spec, **changes}, Settings(_env_file=None))
