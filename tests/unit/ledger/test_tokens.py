"""API tokens on SQLite and PostgreSQL: only the hash is stored, lookups, revocation, the CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from bot.cli.main import main
from bot.ledger.db import make_engine, migrate
from bot.ledger.store import upsert_installation
from bot.ledger.tokens import (
    LAST_USED_EVERY,
    PREFIX_LENGTH,
    TOKEN_PREFIX,
    create_token,
    find_tokens,
    list_tokens,
    revoke_token,
    verify_token,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def add_installations(engine: sa.Engine, *ids: int) -> None:
    with Session(engine) as session:
        for installation_id in ids:
            upsert_installation(session, installation_id, f"org-{installation_id}")
        session.commit()


@pytest.fixture
def engine(ledger_engine: sa.Engine) -> sa.Engine:
    add_installations(ledger_engine, 7, 8)
    return ledger_engine


def stored_rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.text("SELECT * FROM api_tokens"))]


def test_create_stores_only_the_hash(engine):
    info, plaintext = create_token(engine, 7, "weekly export", now=T0)
    assert plaintext.startswith(TOKEN_PREFIX) and len(plaintext) == 4 + 43  # 32 bytes, base64
    assert info.prefix == plaintext[:PREFIX_LENGTH] and info.installation_id == 7
    assert info.name == "weekly export" and info.created_at == T0 and info.status(T0) == "active"
    [row] = stored_rows(engine)
    assert row["token_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert all(plaintext not in str(value) for value in row.values())
    assert plaintext[PREFIX_LENGTH:] not in json.dumps(info.as_dict())


def test_tokens_are_random_and_unique(engine):
    tokens = {create_token(engine, 7, f"t{i}")[1] for i in range(20)}
    assert len(tokens) == 20
    assert len({r["token_hash"] for r in stored_rows(engine)}) == 20


def test_unique_hash_is_enforced_by_the_database(engine):
    create_token(engine, 7, "first")
    [row] = stored_rows(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO api_tokens (installation_id, name, prefix, token_hash, created_at) "
                "VALUES (8, 'copy', 'yat_copy', :hash, :at)"
            ),
            {"hash": row["token_hash"], "at": T0},
        )


def test_unknown_installation_is_a_clear_error(engine):
    with pytest.raises(ValueError, match="installation 99 is not in the ledger"):
        create_token(engine, 99, "nope")
    assert stored_rows(engine) == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_bad_names_are_refused(engine, name):
    with pytest.raises(ValueError, match="printable name"):
        create_token(engine, 7, name)


def test_verify(engine):
    info, plaintext = create_token(engine, 7, "ci", now=T0)
    found = verify_token(engine, plaintext, now=T0 + timedelta(seconds=5))
    assert found is not None and found.id == info.id and found.installation_id == 7
    for wrong in (
        None,
        "",
        plaintext[:-1],
        plaintext + "x",
        plaintext.replace(TOKEN_PREFIX, "ghp_"),
        TOKEN_PREFIX + "é" * 10,
        TOKEN_PREFIX + "a" * 500,
    ):
        assert verify_token(engine, wrong) is None


def test_last_used_is_written_at_most_once_a_minute(engine):
    _, plaintext = create_token(engine, 7, "ci", now=T0)
    assert stored_rows(engine)[0]["last_used_at"] is None
    first = T0 + timedelta(seconds=1)
    verify_token(engine, plaintext, now=first)
    [info] = list_tokens(engine)
    assert info.last_used_at == first
    verify_token(engine, plaintext, now=first + LAST_USED_EVERY - timedelta(seconds=1))
    assert list_tokens(engine)[0].last_used_at == first  # not written again
    later = first + LAST_USED_EVERY
    verify_token(engine, plaintext, now=later)
    assert list_tokens(engine)[0].last_used_at == later


def test_revoked_and_expired_tokens_are_refused(engine):
    info, plaintext = create_token(engine, 7, "ci", now=T0)
    assert revoke_token(engine, info.id, now=T0 + timedelta(hours=1)) is True
    assert verify_token(engine, plaintext) is None
    assert revoke_token(engine, info.id) is False  # already revoked
    [listed] = list_tokens(engine)
    assert listed.status() == "revoked" and listed.revoked_at == T0 + timedelta(hours=1)

    _, short = create_token(engine, 7, "short", expires_in=timedelta(days=1), now=T0)
    assert verify_token(engine, short, now=T0 + timedelta(hours=23)) is not None
    assert verify_token(engine, short, now=T0 + timedelta(days=1)) is None
    with pytest.raises(ValueError, match="positive"):
        create_token(engine, 7, "never", expires_in=timedelta(0))


def test_revoke_by_prefix_or_whole_token(engine):
    a, token_a = create_token(engine, 7, "a")
    b, token_b = create_token(engine, 8, "b")
    assert revoke_token(engine, a.prefix) is True
    assert verify_token(engine, token_a) is None and verify_token(engine, token_b) is not None
    assert revoke_token(engine, token_b) is True  # a leaked token, pasted whole
    assert verify_token(engine, token_b) is None
    assert revoke_token(engine, "yat_00000000") is False
    assert revoke_token(engine, 12345) is False and revoke_token(engine, "12345") is False
    with pytest.raises(ValueError, match="prefix"):
        revoke_token(engine, "yat_short")
    with pytest.raises(ValueError, match="prefix"):
        revoke_token(engine, "not-a-token")
    assert [t.id for t in find_tokens(engine, b.prefix)] == [b.id]


def test_ambiguous_prefix_is_refused(engine):
    a, _ = create_token(engine, 7, "a")
    b, _ = create_token(engine, 7, "b")
    with engine.begin() as connection:  # 48 random bits rarely collide: force it
        connection.execute(sa.text("UPDATE api_tokens SET prefix = 'yat_AAAAAAAA'"))
    with pytest.raises(ValueError, match=f"several tokens \\({a.id}, {b.id}\\)"):
        revoke_token(engine, "yat_AAAAAAAA")
    assert [t.status() for t in list_tokens(engine)] == ["active", "active"]


def test_list_by_installation(engine):
    create_token(engine, 7, "seven")
    create_token(engine, 8, "eight")
    create_token(engine, 7, "seven again")
    assert [t.name for t in list_tokens(engine)] == ["seven", "eight", "seven again"]
    assert [t.name for t in list_tokens(engine, 7)] == ["seven", "seven again"]
    assert list_tokens(engine, 9) == []


def test_a_session_runs_in_the_callers_transaction(engine):
    with Session(engine) as session:
        info, plaintext = create_token(session, 7, "in a session")
        assert verify_token(session, plaintext) is not None
        session.rollback()
    assert list_tokens(engine) == []
    with Session(engine) as session:
        info, plaintext = create_token(session, 7, "kept")
        session.commit()
    assert verify_token(engine, plaintext).id == info.id


def test_deleting_the_installation_deletes_its_tokens(engine):
    create_token(engine, 7, "seven")
    create_token(engine, 8, "eight")
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM installations WHERE id = 7"))
    assert [t.installation_id for t in list_tokens(engine)] == [8]


# --------------------------------------------------------------------------- command line


@pytest.fixture
def cli_url(database_url: str, monkeypatch) -> str:
    engine = make_engine(database_url)
    migrate(engine)
    add_installations(engine, 7)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def run(*args: str):
    return CliRunner().invoke(main, ["token", *args], env={"COLUMNS": "200"})


def test_cli_create_list_revoke(cli_url):
    created = run("create", "--installation", "7", "--name", "nightly export")
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip()
    assert plaintext.startswith(TOKEN_PREFIX) and "\n" not in plaintext
    assert "not shown again" in created.stderr

    engine = make_engine(cli_url)
    try:
        assert verify_token(engine, plaintext).name == "nightly export"
    finally:
        engine.dispose()

    listed = run("list", "--json")
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["prefix"] == plaintext[:PREFIX_LENGTH] and entry["status"] == "active"
    assert entry["installation_id"] == 7 and "token_hash" not in entry
    assert plaintext not in listed.output
    assert hashlib.sha256(plaintext.encode()).hexdigest() not in listed.output
    table = run("list", "--installation", "7")
    assert table.exit_code == 0 and "nightly export" in table.output
    assert plaintext[:PREFIX_LENGTH] in table.output and plaintext not in table.output

    revoked = run("revoke", plaintext[:PREFIX_LENGTH])
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    again = run("revoke", str(entry["id"]))
    assert again.exit_code == 0 and "already revoked" in again.output
    assert json.loads(run("list", "--json").stdout)[0]["status"] == "revoked"


def test_cli_errors(cli_url):
    unknown = run("create", "--installation", "99", "--name", "x")
    assert unknown.exit_code == 1 and "installation 99 is not in the ledger" in unknown.output
    assert "Traceback" not in unknown.output
    missing = run("revoke", "424242")
    assert missing.exit_code == 1 and "no such token" in missing.output
    bad = run("revoke", "hello")
    assert bad.exit_code == 1 and "prefix" in bad.output
    engine = make_engine(cli_url)
    try:
        _, leaked = create_token(engine, 7, "leaked")
    finally:
        engine.dispose()
    whole = run("revoke", leaked)
    assert whole.exit_code == 0 and leaked not in whole.output  # not echoed back in full
    assert run("list", "--db", cli_url, "--json").exit_code == 0
