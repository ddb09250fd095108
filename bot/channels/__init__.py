"""Where weekly digests go: Slack, Teams, Discord, a signed webhook, e-mail, a GitHub issue.

``make_channel(spec, settings)`` builds one channel from its spec (docs/channels.md); each
renders a ``bot.digest.model.Digest`` within its format's limits (``render``, pure) and delivers
it (``send``), raising ``ChannelError`` with ``retry_after`` when it could not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.base import Channel, ChannelConfigError, ChannelError, Spec
from bot.channels.discord import DiscordChannel
from bot.channels.github_issue import GitHubIssueChannel
from bot.channels.mail import EmailChannel
from bot.channels.slack import SlackChannel
from bot.channels.teams import TeamsChannel
from bot.channels.webhook import WebhookChannel
from bot.config import Settings
from bot.github.client import GitHubApp

__all__ = ["Channel", "ChannelConfigError", "ChannelError", "make_channel"]

_FACTORIES: dict[str, Callable[[Spec, Settings, GitHubApp | None], Channel]] = {
    "slack": lambda spec, *_: SlackChannel(spec),
    "teams": lambda spec, *_: TeamsChannel(spec),
    "discord": lambda spec, *_: DiscordChannel(spec),
    "webhook": lambda spec, *_: WebhookChannel(spec),
    "email": lambda spec, *_: EmailChannel(spec),
    "github_issue": GitHubIssueChannel,
}


def make_channel(
    spec: Mapping[str, Any], settings: Settings, *, github_app: GitHubApp | None = None
) -> Channel:
    """The channel ``spec`` describes; ``ChannelConfigError`` names the field that is wrong.

    ``github_app`` lets the GitHub issue channel share the process's App client; without it
    the channel makes its own from ``settings`` when it first sends.
    """
    checked = Spec(spec)
    factory = _FACTORIES.get(spec.get("type"))  # type: ignore[arg-type]
    if factory is None:
        raise checked.error(f"'type' must be one of {', '.join(_FACTORIES)}")
    return factory(checked, settings, github_app)
