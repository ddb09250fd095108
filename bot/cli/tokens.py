"""``yield-auditor token create|list|revoke``: API tokens for scripts (docs/access.md)."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from bot import format as fmt
from bot.cli.app import _database_option, _engine


@click.group("token")
def token_group() -> None:
    """Create, list and revoke API tokens (read-only, one installation each)."""


@token_group.command("create")
@click.option("--installation", "installation_id", type=int, required=True, help="Installation id.")
@click.option("--name", required=True, help="What the token is for, e.g. 'weekly export'.")
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    help="Refuse the token after this many days (default: valid until revoked).",
)
@_database_option
def token_create(
    installation_id: int, name: str, expires_days: int | None, url: str | None
) -> None:
    """Create a token and print it, once: only its hash is stored."""
    from bot.ledger.tokens import create_token

    engine = _engine(url)
    try:
        lifetime = timedelta(days=expires_days) if expires_days else None
        info, plaintext = create_token(engine, installation_id, name, expires_in=lifetime)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(plaintext)
    expiry = f", expires {fmt.instant(info.expires_at)}" if info.expires_at else ""
    click.echo(
        f"token {info.id} ({info.prefix}...) for installation {info.installation_id}{expiry}.\n"
        "Copy it now: it is not shown again. Use it as 'Authorization: Bearer <token>' on "
        "/api/v1/.",
        err=True,
    )


@token_group.command("list")
@click.option("--installation", "installation_id", type=int, help="Only this installation's.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list).")
@_database_option
def token_list(installation_id: int | None, as_json: bool, url: str | None) -> None:
    """Tokens with their prefix and status (never the token or its hash)."""
    from bot.ledger.tokens import list_tokens

    engine = _engine(url)
    try:
        found = list_tokens(engine, installation_id)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([t.as_dict() for t in found], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "installation", "name", "prefix", "status", "created", "last used")
    for t in found:
        table.add_row(
            str(t.id),
            str(t.installation_id),
            t.name,
            t.prefix,
            t.status(),
            fmt.instant(t.created_at),
            fmt.instant(t.last_used_at) if t.last_used_at else "never",
        )
    Console().print(table)


@token_group.command("revoke")
@click.argument("which")
@_database_option
def token_revoke(which: str, url: str | None) -> None:
    """Revoke the token WHICH: its id, its prefix (yat_ and 8 characters) or the whole token."""
    from bot.ledger.tokens import PREFIX_LENGTH, find_tokens, revoke_token

    shown = which if len(which) <= PREFIX_LENGTH else f"{which[:PREFIX_LENGTH]}..."
    engine = _engine(url)
    try:
        if revoke_token(engine, which):
            click.echo(f"revoked token {shown}")
            return
        if not find_tokens(engine, which):
            raise click.ClickException(f"no such token: {shown}")
        click.echo(f"token {shown} was already revoked")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
