"""Configuration from the environment (and an optional ``.env`` / TOML file), via pydantic-settings.

Probot's variable names are accepted as aliases so a Probot app's ``.env`` can move over as is.
Secrets are ``SecretStr``: they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_API_URL = "https://api.github.com"
CONFIG_FILE_ENV = "YIELD_AUDITOR_CONFIG"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
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

    # Engine configuration; usually set in the TOML file named by YIELD_AUDITOR_CONFIG.
    agent_rules: list[dict[str, Any]] = Field(
        default_factory=list, validation_alias=AliasChoices("YIELD_AUDITOR_AGENT_RULES")
    )
    price_overrides: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("YIELD_AUDITOR_PRICE_OVERRIDES")
    )
    tiers: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("YIELD_AUDITOR_TIERS")
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
        """Environment first, then ``.env``, then the TOML file (the most static source)."""
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

    @model_validator(mode="after")
    def _ghe_host_sets_api_url(self) -> Settings:
        """Probot's ``GHE_HOST`` means GitHub Enterprise Server's API at ``/api/v3``."""
        if self.ghe_host and self.github_api_url == DEFAULT_API_URL:
            self.github_api_url = f"https://{self.ghe_host}/api/v3"
        return self

    @cached_property
    def private_key(self) -> str | None:
        """The App's PEM key, from the variable or the file it names."""
        if self.github_app_private_key is not None:
            # Probot's .env convention stores the PEM with literal "\n" escapes.
            return self.github_app_private_key.get_secret_value().replace("\\n", "\n")
        if self.github_app_private_key_path is not None:
            return self.github_app_private_key_path.read_text(encoding="utf-8")
        return None
