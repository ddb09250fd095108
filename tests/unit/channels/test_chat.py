"""Slack, Teams, Discord and the signed webhook, against real local HTTP receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from bot.channels import ChannelConfigError, ChannelError, discord, make_channel, slack, teams
from bot.channels.base import encode
from bot.channels.webhook import SIGNATURE_HEADER
from bot.config import Settings
from bot.digest.model import Thin
from tests.receivers import HOSTILE, HttpReceiver, huge_digest, small_digest, strings
from tests.unit.digest.test_render import ROUTING_FIGURES, routing

SETTINGS = Settings(_env_file=None)
SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def receiver():
    with HttpReceiver() as receiver:
        yield receiver


def channel(kind: str, receiver: HttpReceiver, **spec):
    return make_channel(
        {"type": kind, "name": f"{kind}-team", "url": receiver.url, "backoff_seconds": 0, **spec},
        SETTINGS,
    )


# --------------------------------------------------------------------------- shapes and limits


def assert_slack_limits(payload):
    blocks = payload["blocks"]
    assert payload["text"] and len(blocks) <= slack.MAX_BLOCKS
    assert len(json.dumps(blocks, ensure_ascii=False)) <= slack.MAX_TOTAL
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= slack.MAX_HEADER
    for block in blocks[1:]:
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert 0 < len(block["text"]["text"]) <= slack.MAX_SECTION
            assert len(block.get("fields", [])) <= slack.MAX_FIELDS
            assert all(len(f["text"]) <= slack.MAX_FIELD for f in block.get("fields", []))
    for text in strings(blocks[1:]):  # the header is plain_text: Slack shows it as it is
        assert "<!" not in text and "<script" not in text and "\u202e" not in text


def assert_teams_limits(payload):
    assert len(encode(payload)) <= teams.MAX_BYTES
    assert payload["type"] == "message" and len(payload["attachments"]) == 1
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    kinds = {element["type"] for element in card["body"]}
    assert {"TextBlock", "FactSet", "ColumnSet"} <= kinds
    for text in strings(card):
        assert "[click](" not in text and "**bold**" not in text


def assert_discord_limits(payload):
    assert 0 < len(payload["content"]) <= discord.MAX_CONTENT
    assert payload["allowed_mentions"] == {"parse": []}
    embeds = payload["embeds"]
    assert len(embeds) <= discord.MAX_EMBEDS
    assert discord.embed_text(embeds) <= discord.MAX_EMBED_TEXT
    for embed in embeds:
        assert 0 < len(embed["title"]) <= discord.MAX_TITLE
        assert 0 < len(embed["description"]) <= discord.MAX_DESCRIPTION
        assert len(embed.get("fields", [])) <= discord.MAX_FIELDS
        assert len(embed.get("footer", {}).get("text", "")) <= discord.MAX_FOOTER
        for field in embed.get("fields", []):
            assert 0 < len(field["name"]) <= discord.MAX_FIELD_NAME
            assert 0 < len(field["value"]) <= discord.MAX_FIELD_VALUE
    for text in strings(payload):
        assert "@everyone" not in text and "@here" not in text and "[click](" not in text


def test_small_digest_shows_every_section_in_every_chat_format():
    digest = small_digest()
    for render in (slack.render, teams.render, discord.render):
        text = json.dumps(render(digest), ensure_ascii=False)
        for expected in (
            "Token yield 71%",
            "+6 pts",
            "was 65%",
            "of 34 shipped tasks",
            "97% priced",
            "economy",
            "[60%–98%]",
            "Fix the cache",
            "https://github.com/octo-org/service/pull/3",
            "$0.80 burned",
            "SWITCH",
            "[$0.10–$0.50]",
            "https://yield.example.org/dashboard/7",
            "metrics.md",
            "muted",
        ):
            assert expected in text, (render.__module__, expected)


def shown(payload) -> str:
    """Every string of a payload, as one text without the formats' escaping backslashes."""
    return "\n".join(strings(payload)).replace("\\", "")


@pytest.mark.parametrize("render", [slack.render, teams.render, discord.render])
def test_the_routing_scorecard_comes_right_after_the_headline(render):
    text = shown(render(small_digest(routing=routing())))
    assert text.index("Does routing pay?") < text.index("economy")  # before the matrix
    for expected in ROUTING_FIGURES:
        assert expected in text, expected
    assert "Does routing pay?" not in shown(render(small_digest()))


def hostile_routing(text: str = HOSTILE * 40):
    """A scorecard of hostile names with hundreds of thin cells."""
    thin = tuple(Thin(text, text, i, text) for i in range(300))
    return routing(reference=text, since=text, leak_by=((text, 0.1),), thin=thin)


def test_huge_hostile_digest_is_truncated_within_every_limit_with_markers():
    digest = huge_digest()
    for render, check in (
        (slack.render, assert_slack_limits),
        (teams.render, assert_teams_limits),
        (discord.render, assert_discord_limits),
    ):
        for shown_digest in (digest, small_digest(routing=hostile_routing())):
            payload = render(shown_digest)
            check(payload)
            assert "more" in json.dumps(payload), render.__module__
            json.loads(encode(payload))


def test_slack_escapes_mrkdwn_and_links_only_safe_urls():
    digest = small_digest(
        attention=(
            small_digest()
            .attention[0]
            .__class__(
                "r", "a <b> & c", "javascript:alert(1)", small_digest().attention[0].usd, "x|y>"
            ),
        )
    )
    text = json.dumps(slack.render(digest))
    assert "a &lt;b&gt; &amp; c" in text and "javascript" not in text and "x|y&gt;" in text


# --------------------------------------------------------------------------- delivery


@pytest.mark.parametrize("kind", ["slack", "teams", "discord"])
def test_chat_channel_posts_its_rendering_once(receiver, kind):
    target = channel(kind, receiver)
    assert (target.name, target.type) == (f"{kind}-team", kind)
    target.send(small_digest())
    [request] = receiver.requests
    assert request.json() == target.render(small_digest())
    assert request.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("headers", "body"), [({"Retry-After": "0.1"}, None), ({}, {"retry_after": 0.1})]
)
def test_429_retry_after_is_honoured_then_delivered_once(receiver, headers, body):
    receiver.answer(429, headers, body)
    waits = []
    target = channel("discord", receiver)
    target.sender.sleep = waits.append
    target.send(small_digest())
    assert waits == [0.1]
    assert len(receiver.requests) == 2  # the refused one, then the delivery


def test_long_429_goes_back_to_the_scheduler_with_retry_after(receiver):
    receiver.answer(429, {"Retry-After": "120"})
    with pytest.raises(ChannelError) as failure:
        channel("slack", receiver).send(small_digest())
    assert failure.value.retry_after == 120.0
    assert len(receiver.requests) == 1


def test_5xx_is_retried_then_raises_without_the_url(receiver, caplog):
    for _ in range(4):
        receiver.answer(503)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ChannelError) as failure:
        channel("teams", receiver, retries=3).send(small_digest())
    assert len(receiver.requests) == 4
    assert failure.value.retry_after is None and "503" in str(failure.value)
    assert "s3cr3t-path-token" not in str(failure.value)
    assert "s3cr3t-path-token" not in caplog.text and "teams-team" in caplog.text


def test_5xx_then_success_delivers_once(receiver):
    receiver.answer(500)
    channel("slack", receiver).send(small_digest())
    assert len(receiver.requests) == 2


def test_4xx_is_not_retried(receiver):
    receiver.answer(400, body={"error": "invalid_blocks"})
    with pytest.raises(ChannelError, match="400"):
        channel("slack", receiver).send(small_digest())
    assert len(receiver.requests) == 1


def test_unreachable_receiver_raises_a_channel_error_without_the_url(caplog):
    target = make_channel(
        {
            "type": "slack",
            "name": "s",
            "url": "http://127.0.0.1:9/hooks/s3cr3t-path-token",
            "retries": 1,
            "backoff_seconds": 0,
        },
        SETTINGS,
    )
    with pytest.raises(ChannelError) as failure:
        target.send(small_digest())
    assert "s3cr3t" not in str(failure.value) and "s3cr3t" not in caplog.text


# --------------------------------------------------------------------------- webhook


def test_webhook_body_is_the_versioned_digest_signed_with_hmac(receiver, monkeypatch):
    monkeypatch.setenv("DIGEST_HOOK_SECRET", SECRET)
    target = channel("webhook", receiver, secret_env="DIGEST_HOOK_SECRET")
    target.send(small_digest())
    [request] = receiver.requests
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert request.headers["X-Yield-Auditor-Delivery"] == "7:2026-W47:webhook-team"
    body = request.json()
    assert (body["schema"], body["version"]) == ("yield-auditor.digest", 1)
    digest = body["digest"]
    assert digest["period"]["label"] == "2026-W47"
    assert digest["period"]["start"] == "2026-11-16T00:00:00+00:00"
    assert digest["scorecard"][1]["value"] == "123.45"  # money as an exact decimal string
    assert digest["matrix"][0]["interval"] == [0.6, 0.98]
    assert len(digest["trend"]) == 12
    assert digest["routing"] is None  # no routed task


def test_webhook_body_carries_the_routing_scorecard(receiver):
    channel("webhook", receiver).send(small_digest(routing=routing()))
    found = receiver.requests[0].json()["digest"]["routing"]
    assert found["realised_saving"] == {"median": 0.31, "low": 0.184, "high": 0.42}
    assert (found["invoice_saving"], found["leak"]) == (0.62, 0.31)
    assert found["leak_by"] == [["misroute", 0.12], ["abandoned", 0.19]]
    assert found["thin"][0]["settle"].startswith("docs on frontier has 3 tasks")


def test_webhook_without_secret_is_unsigned(receiver):
    channel("webhook", receiver).send(small_digest())
    assert SIGNATURE_HEADER not in receiver.requests[0].headers


# --------------------------------------------------------------------------- specs


def test_url_from_environment_is_a_secret_never_logged(receiver, monkeypatch, caplog):
    monkeypatch.setenv("SLACK_DIGEST_URL", receiver.url)
    target = make_channel({"type": "slack", "name": "s", "url_env": "SLACK_DIGEST_URL"}, SETTINGS)
    caplog.set_level(logging.DEBUG)
    target.send(small_digest())
    assert receiver.url not in caplog.text and "s3cr3t-path-token" not in repr(target)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "slack"}, "'name'"),
        ({"type": "pager", "name": "p"}, "'type'"),
        ({"type": "slack", "name": "s"}, "'url' or 'url_env'"),
        ({"type": "slack", "name": "s", "url_env": "NOT_SET_ANYWHERE"}, "NOT_SET_ANYWHERE"),
        ({"type": "slack", "name": "s", "url": "ftp://x"}, "http"),
        ({"type": "slack", "name": "s", "url": "https://x", "url_env": "X"}, "not both"),
        ({"type": "slack", "name": "s", "url": "https://x", "retries": -1}, "'retries'"),
    ],
)
def test_bad_specs_name_the_channel_and_field(spec, message):
    with pytest.raises(ChannelConfigError, match=message):
        make_channel(spec, SETTINGS)
