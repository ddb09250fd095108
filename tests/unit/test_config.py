"""Settings come from the environment, with Probot's names as aliases, and hide secrets."""

from __future__ import annotations

import re

import pytest

from bot.config import Settings

ALL_NAMES = [
    "DATABASE_URL",
    "GITHUB_APP_ID",
    "APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "PRIVATE_KEY",
    "GITHUB_APP_PRIVATE_KEY_PATH",
    "PRIVATE_KEY_PATH",
    "GITHUB_WEBHOOK_SECRET",
    "WEBHOOK_SECRET",
    "GITHUB_API_URL",
    "GHE_HOST",
    "YIELD_AUDITOR_CONFIG",
    "YIELD_AUDITOR_AGENT_RULES",
    "YIELD_AUDITOR_AGENT_IDENTITIES",
    "YIELD_AUDITOR_PRICE_OVERRIDES",
    "YIELD_AUDITOR_TIERS",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ALL_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults():
    settings = Settings()
    assert settings.database_url == "sqlite:///yield-auditor.db"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.github_app_id is None and settings.private_key is None
    assert settings.agent_rules == [] and settings.price_overrides == {} and settings.tiers == {}


def test_probot_names_are_aliases(monkeypatch):
    monkeypatch.setenv("APP_ID", "12345")
    monkeypatch.setenv(
        "PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\\nabc\\n-----END RSA PRIVATE KEY-----"
    )
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("GHE_HOST", "ghe.example.com")
    settings = Settings()
    assert settings.github_app_id == 12345
    assert settings.private_key.splitlines() == [
        "-----BEGIN RSA PRIVATE KEY-----",
        "abc",
        "-----END RSA PRIVATE KEY-----",
    ]
    assert settings.github_webhook_secret.get_secret_value() == "s3cret"
    assert settings.github_api_url == "https://ghe.example.com/api/v3"


def test_own_names_win_over_probot_names(monkeypatch):
    monkeypatch.setenv("GITHUB_APP_ID", "1")
    monkeypatch.setenv("APP_ID", "2")
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.internal/api/v3/")
    monkeypatch.setenv("GHE_HOST", "other.example.com")
    settings = Settings()
    assert settings.github_app_id == 1
    assert settings.github_api_url == "https://ghe.internal/api/v3"


def test_private_key_from_path(monkeypatch, tmp_path):
    pem = tmp_path / "app.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nxyz\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(pem))
    assert "xyz" in Settings().private_key


def test_secrets_never_in_repr(monkeypatch):
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "topsecretvalue")
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", "PEMPEMPEM")
    text = repr(Settings()) + str(Settings().model_dump())
    assert "topsecretvalue" not in text and "PEMPEMPEM" not in text


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("APP_ID=77\nDATABASE_URL=sqlite:///other.db\n")
    settings = Settings()
    assert settings.github_app_id == 77
    assert settings.database_url == "sqlite:///other.db"


def test_toml_file_and_environment_precedence(monkeypatch, tmp_path):
    config = tmp_path / "yield-auditor.toml"
    config.write_text(
        'database_url = "sqlite:///from-toml.db"\n'
        "[[agent_rules]]\nid = 'acme'\nagent = 'acme'\n"
        "[price_overrides.models.'claude-opus-4-5']\ninput = 4.0\noutput = 20.0\n"
        "[tiers.models]\n'gpt-5.2' = 'standard'\n"
    )
    monkeypatch.setenv("YIELD_AUDITOR_CONFIG", str(config))
    settings = Settings()
    assert settings.database_url == "sqlite:///from-toml.db"
    assert settings.agent_rules == [{"id": "acme", "agent": "acme"}]
    assert settings.price_overrides == {
        "models": {"claude-opus-4-5": {"input": 4.0, "output": 20.0}}
    }
    assert settings.tiers == {"models": {"gpt-5.2": "standard"}}
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    assert Settings().database_url == "sqlite:///from-env.db"


def test_json_engine_settings_from_environment(monkeypatch):
    monkeypatch.setenv("YIELD_AUDITOR_TIERS", '{"models": {"gpt-5": "economy"}}')
    assert Settings().tiers == {"models": {"gpt-5": "economy"}}


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("YIELD_AUDITOR_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match="no such file"):
        Settings()


def test_agent_identities_from_environment_and_toml(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "YIELD_AUDITOR_AGENT_IDENTITIES",
        '[{"match": "acme-claude[bot]", "agent": "claude-code", "github_id": 4242}]',
    )
    assert Settings().agent_identities[0]["match"] == "acme-claude[bot]"
    monkeypatch.delenv("YIELD_AUDITOR_AGENT_IDENTITIES")
    path = tmp_path / "ya.toml"
    path.write_text(
        "[[agent_identities]]\nmatch = 'Claude Code <claude@anthropic.com>'\n"
        "agent = 'claude-code'\n"
    )
    monkeypatch.setenv("YIELD_AUDITOR_CONFIG", str(path))
    assert Settings().agent_identities == [
        {"match": "Claude Code <claude@anthropic.com>", "agent": "claude-code"}
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('[{"match": "two words", "agent": "x"}]', "AGENT_IDENTITIES[0]: match: expected"),
        ('[{"match": "a@b.c"}]', "YIELD_AUDITOR_AGENT_IDENTITIES[0]: agent: Field required"),
        ('[{"match": "bot", "agent": "x", "github_id": -1}]', "github_id"),
        ('[{"match": "bot", "agent": "x", "as": "y"}]', "as: Extra inputs"),
    ],
)
def test_invalid_agent_identities_are_a_clear_error(monkeypatch, value, message):
    monkeypatch.setenv("YIELD_AUDITOR_AGENT_IDENTITIES", value)
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings()
