"""Where weekly digests go: Slack, Teams, Discord, a signed webhook, e-mail, a GitHub issue.

``make_channel(spec, settings)`` builds one channel from its spec (docs/channels.md); each
renders a ``bot.digest_model.Digest`` within its format's limits (``render``, pure) and delivers
it (``send``), raising ``ChannelError`` with ``retry_after`` when it could not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.base import Channel, ChannelConfigError, ChannelError, Spec
from bot.channels.discord import DiscordChannel
from bot.channels.mail import EmailChannel
from bot.channels.slack import SlackChannel
from bot.channels.teams import TeamsChannel
from bot.channels.webhook import WebhookChannel
from bot.config import Settings

__all__ = ["Channel", "ChannelConfigError", "ChannelError", "make_channel"]

_FACTORIES: dict[str, Callable[[Spec, Settings], Channel]] = {
    "slack": lambda spec, _: SlackChannel(spec),
    "teams": lambda spec, _: TeamsChannel(spec),
    "discord": lambda spec, _: DiscordChannel(spec),
    "webhook": lambda spec, _: WebhookChannel(spec),
    "email": lambda spec, _: EmailChannel(spec),
}


def make_channel(spec: Mapping[str, Any], settings: Settings) -> Channel:
    """The channel ``spec`` describes; ``ChannelConfigError`` names the field that is wrong."""
    checked = Spec(spec)
    factory = _FACTORIES.get(spec.get("type"))  # type: ignore[arg-type]
    if factory is None:
        raise checked.error(f"'type' must be one of {', '.join(_FACTORIES)}")
    return factory(checked, settings)
