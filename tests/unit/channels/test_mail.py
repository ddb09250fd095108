"""The e-mail channel against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import logging

import pytest

from bot.channels import ChannelConfigError, ChannelError, make_channel
from bot.config import Settings
from bot.digest.render import render_html, render_text
from tests.receivers import SmtpReceiver, huge_digest, small_digest
from tests.unit.digest.test_render import ROUTING_FIGURES, routing

SETTINGS = Settings(_env_file=None)
PASSWORD = "smtp-pa55word-secret"


@pytest.fixture
def smtp():
    with SmtpReceiver() as receiver:
        yield receiver


def mail_channel(smtp: SmtpReceiver, **spec):
    values = {
        "type": "email",
        "name": "leads",
        "to": ["lead@example.org", "cto@example.org"],
        "from": "yield-auditor@example.org",
        "host": "127.0.0.1",
        "port": smtp.port,
        "security": "none",
        "backoff_seconds": 0,
    }
    return make_channel({**values, **spec}, SETTINGS)


def parts(message) -> tuple[str, str]:
    """The text and HTML parts as sent (SMTP carries CRLF line ends)."""
    return tuple(
        message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html")
    )


def test_digest_arrives_as_multipart_text_and_html_with_the_headline(smtp):
    mail_channel(smtp).send(small_digest())
    [(sender, recipients, message)] = smtp.messages
    assert sender == "yield-auditor@example.org"
    assert recipients == ["lead@example.org", "cto@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    assert "Token yield 71% (+6 pts)" in message["Subject"]
    assert message["Message-ID"] == "<digest.7.2026-W47.leads@yield-auditor>"
    assert message["Date"]
    text, html = parts(message)
    for part in (text, html):
        for expected in ("71%", "+6 pts", "of 34 shipped tasks", "97% priced", "$0.80 burned"):
            assert expected in part
        assert "60% to 98%" in part and "metrics.md" in part and "muted" in part
    assert "<svg" not in text and "2026-W47: 71%, $111.00" in text  # the trend as lines
    assert "<svg" in html and "<polyline" in html and "<rect" in html
    assert "<td>2026-W47</td><td>71%</td><td>$111.00</td>" in html  # and as a table
    assert 'href="https://github.com/octo-org/service/pull/3"' in html
    assert 'href="https://yield.example.org/dashboard/7"' in html
    assert 'href="https://github.com/yield-auditor/yield-auditor/blob/main/docs/metrics.md"' in html


@pytest.mark.parametrize(
    "digest",
    [small_digest(), small_digest(trend=()), huge_digest(), small_digest(routing=routing())],
)
def test_the_parts_are_the_digests_own_renderings(smtp, digest):
    mail_channel(smtp).send(digest)
    [(_, _, message)] = smtp.messages
    assert parts(message) == (render_text(digest), render_html(digest))


def test_both_parts_show_the_routing_scorecard(smtp):
    mail_channel(smtp).send(small_digest(routing=routing()))
    [(_, _, message)] = smtp.messages
    for part in parts(message):
        assert all(expected in part for expected in ROUTING_FIGURES)


def test_hostile_strings_are_escaped_in_html_and_the_lists_are_capped(smtp):
    mail_channel(smtp).send(huge_digest())
    [(_, _, message)] = smtp.messages
    html = message.get_body(("html",)).get_content()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "\u202e" not in html and "… and 300 more" in html  # 400 cells, 100 shown
    assert "\n" not in message["Subject"] and len(message["Subject"]) <= 200


def test_transient_4xx_is_retried_and_delivered_once(smtp):
    smtp.reply("451 4.3.0 try again later")
    mail_channel(smtp).send(small_digest())
    assert smtp.attempts == 2 and len(smtp.messages) == 1


def test_5xx_is_final(smtp):
    smtp.reply("554 5.7.1 rejected")
    with pytest.raises(ChannelError, match="554"):
        mail_channel(smtp).send(small_digest())
    assert smtp.attempts == 1 and not smtp.messages


def test_starttls_is_never_silently_downgraded(smtp):
    with pytest.raises(ChannelError, match="SMTPNotSupportedError"):
        mail_channel(smtp, security="starttls").send(small_digest())
    assert not smtp.messages


def test_password_is_never_in_errors_or_logs(smtp, monkeypatch, caplog):
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    target = mail_channel(smtp, username="bot", password_env="DIGEST_SMTP_PASSWORD")
    with pytest.raises(ChannelError) as failure:  # this server offers no AUTH
        target.send(small_digest())
    assert PASSWORD not in str(failure.value) and PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"to": []}, "'to'"),
        ({"to": ["not an address"]}, "'to'"),
        ({"from": "a@b.c\r\nBcc: x@y.z"}, "'from'"),
        ({"security": "tls"}, "'security'"),
        ({"username": "bot"}, "'password'"),
    ],
)
def test_bad_email_specs_are_refused(smtp, changes, message):
    with pytest.raises(ChannelConfigError, match=message):
        mail_channel(smtp, **changes)
