"""Configuration from the environment (and an optional ``.env`` / TOML file), via pydantic-settings.

Probot's variable names are accepted as aliases so a Probot app's ``.env`` can move over as is.
Secrets are ``SecretStr``: they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from bot.engine.analysis import Analyser

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"
MIN_SECRET_KEY_LENGTH = 32
MIN_DELIVERY_RETENTION_DAYS = 7  # GitHub redelivers for 3 days (github.com), 7 (GHES)
CONFIG_FILE_ENV = "YIELD_AUDITOR_CONFIG"
ENV_FILE_ENV = "YIELD_AUDITOR_ENV_FILE"
DEFAULT_ENV_FILE = ".env"
CHANNEL_TYPES = ("slack", "teams", "discord", "webhook", "email", "github_issue")


class DigestSpec(BaseModel):
    """One weekly digest (docs/digests.md): whose, when, and where it goes.

    Server side, because channel URLs are secrets: ``channels`` are passed as they are to
    ``bot.channels.make_channel``, and only their ``name`` and ``type`` are ever shown.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    installation: int | Literal["*"]
    repositories: list[str] | None = None
    schedule: str = "0 9 * * mon"
    timezone: str = "UTC"
    dashboard_url: str | None = None
    channels: list[dict[str, Any]] = Field(default_factory=list)
    muted: list[str] = Field(default_factory=list)  # channel names not to send to

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("channels")
    @classmethod
    def _named_channels(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each channel needs a known ``type`` and a unique ``name``: the name keys its sends."""
        names = []
        for i, channel in enumerate(value):
            name, kind = channel.get("name"), channel.get("type")
            if not isinstance(name, str) or not name:
                raise ValueError(f"channel {i}: a 'name' is required")
            if kind not in CHANNEL_TYPES:
                raise ValueError(f"channel {name!r}: 'type' must be one of {CHANNEL_TYPES}")
            names.append(name)
        if len(set(names)) != len(names):
            raise ValueError("channel names must be unique")
        return value

    @model_validator(mode="after")
    def _valid_schedule(self) -> DigestSpec:
        try:
            self.trigger()
        except ValueError as exc:
            raise ValueError(f"schedule {self.schedule!r}: {exc}") from None
        return self

    def trigger(self) -> Any:
        """The schedule as APScheduler's ``CronTrigger`` (imported here: the CLI starts fast)."""
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.schedule, timezone=self.timezone)

    def __repr_args__(self) -> Any:
        """Channels by name and type only: their URLs are secrets."""
        for key, value in super().__repr_args__():
            if key == "channels":
                value = [f"{c['type']}:{c['name']}" for c in self.channels]
            yield key, value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=DEFAULT_ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a digest channel's URL must not appear in an error
    )

    database_url: str = Field(
        "sqlite:///yield-auditor.db", validation_alias=AliasChoices("DATABASE_URL")
    )
    github_app_id: int | None = Field(
        None, validation_alias=AliasChoices("GITHUB_APP_ID", "APP_ID")
    )
    github_app_private_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("GITHUB_APP_PRIVATE_KEY", "PRIVATE_KEY")
    )
    github_app_private_key_path: Path | None = Field(
        None, validation_alias=AliasChoices("GITHUB_APP_PRIVATE_KEY_PATH", "PRIVATE_KEY_PATH")
    )
    github_webhook_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("GITHUB_WEBHOOK_SECRET", "WEBHOOK_SECRET")
    )
    github_api_url: str = Field(DEFAULT_API_URL, validation_alias=AliasChoices("GITHUB_API_URL"))
    ghe_host: str | None = Field(None, validation_alias=AliasChoices("GHE_HOST"))

    # Sign-in and the dashboard (docs/access.md).
    github_client_id: str | None = Field(None, validation_alias=AliasChoices("GITHUB_CLIENT_ID"))
    github_client_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("GITHUB_CLIENT_SECRET")
    )
    # GitHub's web pages (the OAuth authorize page); derived from github_api_url when unset.
    github_web_url: str | None = Field(None, validation_alias=AliasChoices("GITHUB_WEB_URL"))
    secret_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("YIELD_AUDITOR_SECRET_KEY")
    )
    public_url: str | None = Field(None, validation_alias=AliasChoices("YIELD_AUDITOR_PUBLIC_URL"))
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("YIELD_AUDITOR_ADMINS")
    )
    local_mode: bool = Field(False, validation_alias=AliasChoices("YIELD_AUDITOR_LOCAL_MODE"))
    session_hours: int = Field(
        8, ge=1, le=24 * 30, validation_alias=AliasChoices("YIELD_AUDITOR_SESSION_HOURS")
    )
    # The .env file read at start, which /setup writes the App's credentials to (docs/setup.md).
    env_file: Path = Field(Path(DEFAULT_ENV_FILE), validation_alias=AliasChoices(ENV_FILE_ENV))

    # Engine configuration; usually set in the TOML file named by YIELD_AUDITOR_CONFIG.
    agent_rules: list[dict[str, Any]] = Field(
        default_factory=list, validation_alias=AliasChoices("YIELD_AUDITOR_AGENT_RULES")
    )
    # A team's own agent accounts (docs/agents.md#declared-agent-identities): a JSON list in
    # the environment, or [[agent_identities]] in TOML.
    agent_identities: list[dict[str, Any]] = Field(
        default_factory=list, validation_alias=AliasChoices("YIELD_AUDITOR_AGENT_IDENTITIES")
    )
    price_overrides: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("YIELD_AUDITOR_PRICE_OVERRIDES")
    )
    tiers: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("YIELD_AUDITOR_TIERS")
    )
    # Weekly digests (docs/digests.md): a JSON list in the environment, or [[digests]] in TOML.
    digests: list[DigestSpec] = Field(
        default_factory=list, validation_alias=AliasChoices("YIELD_AUDITOR_DIGESTS")
    )

    # Operations (docs/deploy.md#operations): migrations at start, and how long the inbox keeps
    # a finished delivery's body and its row (the derived ledger is never purged).
    migrate_on_start: bool = Field(
        True, validation_alias=AliasChoices("YIELD_AUDITOR_MIGRATE_ON_START")
    )
    body_retention_days: int = Field(
        14, validation_alias=AliasChoices("YIELD_AUDITOR_BODY_RETENTION_DAYS")
    )
    delivery_retention_days: int = Field(
        30, validation_alias=AliasChoices("YIELD_AUDITOR_DELIVERY_RETENTION_DAYS")
    )
    # The bearer token Prometheus sends to /metrics (docs/deploy.md#metrics); without one,
    # /metrics answers only this computer.
    metrics_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("YIELD_AUDITOR_METRICS_TOKEN")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then ``.env`` (or the file ``YIELD_AUDITOR_ENV_FILE`` names), then
        the TOML file (the most static source)."""
        env_file = os.environ.get(ENV_FILE_ENV)
        if env_file and getattr(dotenv_settings, "env_file", None) == DEFAULT_ENV_FILE:
            dotenv_settings = DotEnvSettingsSource(settings_cls, env_file=env_file)
        sources = [init_settings, env_settings, dotenv_settings]
        toml_path = os.environ.get(CONFIG_FILE_ENV)
        if toml_path:
            if not Path(toml_path).is_file():
                raise ValueError(f"{CONFIG_FILE_ENV}={toml_path}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return (*sources, file_secret_settings)

    @field_validator("github_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("ghe_host")
    @classmethod
    def _bare_host(cls, value: str | None) -> str | None:
        return value.strip().removeprefix("https://").strip("/") if value else None

    @field_validator("github_web_url", "public_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host, without a trailing slash, query or fragment."""
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: no query or fragment")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"YIELD_AUDITOR_SECRET_KEY needs at least {MIN_SECRET_KEY_LENGTH} characters: "
                "python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _logins(cls, value: Any) -> Any:
        """A JSON list, or logins separated by commas (or spaces)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [login for login in text.replace(",", " ").split() if login]
        return value

    @field_validator("admins")
    @classmethod
    def _strip_logins(cls, value: list[str]) -> list[str]:
        return [login.strip().removeprefix("@") for login in value if login.strip()]

    @field_validator("agent_identities")
    @classmethod
    def _valid_identities(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Checked at start, so a typo is a clear error, not an agent silently missed."""
        if value:
            from bot.agents.rules import agent_identities  # the rule table loads only when needed

            agent_identities(value, "YIELD_AUDITOR_AGENT_IDENTITIES")
        return value

    @field_validator("body_retention_days")
    @classmethod
    def _keep_bodies_a_day(cls, value: int) -> int:
        if value < 1:
            raise ValueError("YIELD_AUDITOR_BODY_RETENTION_DAYS must be at least 1")
        return value

    @field_validator("delivery_retention_days")
    @classmethod
    def _keep_deliveries_past_redelivery(cls, value: int) -> int:
        """A purged delivery's id no longer marks GitHub's redelivery of it as a duplicate."""
        if value < MIN_DELIVERY_RETENTION_DAYS:
            raise ValueError(
                f"YIELD_AUDITOR_DELIVERY_RETENTION_DAYS must be at least "
                f"{MIN_DELIVERY_RETENTION_DAYS}: a delivery's id is what recognises GitHub's "
                "redelivery of it as a duplicate, and GitHub redelivers for up to 7 days (GHES)"
            )
        return value

    @model_validator(mode="after")
    def _bodies_go_first(self) -> Settings:
        if self.body_retention_days > self.delivery_retention_days:
            raise ValueError(
                f"YIELD_AUDITOR_BODY_RETENTION_DAYS ({self.body_retention_days}) is longer than "
                f"YIELD_AUDITOR_DELIVERY_RETENTION_DAYS ({self.delivery_retention_days}): a "
                "body goes with its delivery at the latest"
            )
        return self

    @model_validator(mode="after")
    def _ghe_host_sets_api_url(self) -> Settings:
        """Probot's ``GHE_HOST`` means GitHub Enterprise Server's API at ``/api/v3``."""
        if self.ghe_host and self.github_api_url == DEFAULT_API_URL:
            self.github_api_url = f"https://{self.ghe_host}/api/v3"
        return self

    @model_validator(mode="after")
    def _derive_web_url(self) -> Settings:
        """github.com's pages for its API; ``https://HOST`` for GitHub Enterprise Server's
        ``https://HOST/api/v3``; any other API URL (the fake GitHub) serves both."""
        if self.github_web_url is None:
            api = self.github_api_url
            if api == DEFAULT_API_URL:
                self.github_web_url = DEFAULT_WEB_URL
            elif api.endswith("/api/v3"):
                self.github_web_url = api.removesuffix("/api/v3")
            else:
                self.github_web_url = api
        return self

    @property
    def sign_in_missing(self) -> list[str]:
        """The variables sign-in with GitHub still needs (empty when it is configured)."""
        needed = {
            "GITHUB_CLIENT_ID": self.github_client_id,
            "GITHUB_CLIENT_SECRET": self.github_client_secret,
            "YIELD_AUDITOR_SECRET_KEY": self.secret_key,
            "YIELD_AUDITOR_PUBLIC_URL": self.public_url,
        }
        return [name for name, value in needed.items() if not value]

    def analyser(self) -> Analyser:
        """The commit reader with these settings' rule table and price book.

        Built here, not in the pure ``bot.engine``, which reads no settings.
        """
        from bot.agents.rules import RuleSet  # the rule table loads only when needed
        from bot.engine.analysis import Analyser
        from bot.pricing.prices import PriceBook

        return Analyser(
            RuleSet.from_config(self.agent_rules, identities=self.agent_identities),
            PriceBook.from_config(self.price_overrides, self.tiers),
        )

    @cached_property
    def private_key(self) -> str | None:
        """The App's PEM key, from the variable or the file it names."""
        if self.github_app_private_key is not None:
            # Probot's .env convention stores the PEM with literal "\n" escapes.
            return self.github_app_private_key.get_secret_value().replace("\\n", "\n")
        if self.github_app_private_key_path is not None:
            return self.github_app_private_key_path.read_text(encoding="utf-8")
        return None
