"""``yield-auditor migrate``: bring the ledger's database to the newest schema.

Importing this module costs only click: SQLAlchemy and Alembic load when the command runs, so
registering it does not slow down the other commands (``stamp`` runs in commit hooks).
"""

from __future__ import annotations

import click


@click.command("migrate")
@click.option(
    "--db",
    "url",
    metavar="URL",
    help="Database URL (default: DATABASE_URL, else sqlite:///yield-auditor.db).",
)
def migrate_command(url: str | None) -> None:
    """Create or upgrade the ledger's tables (SQLite or PostgreSQL); safe to run again."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from bot.config import Settings
    from bot.ledger.db import display_url, migrate, redact

    url = url or Settings().database_url
    shown = display_url(url)
    try:
        revision = migrate(url)
    except ArgumentError as exc:
        raise click.ClickException(f"not a database URL: {redact(str(exc), url)}") from None
    except ValueError as exc:
        raise click.ClickException(f"{shown}: {redact(str(exc), url)}") from None
    except (SQLAlchemyError, ImportError, OSError) as exc:
        reason = redact(_first_line(exc), url)
        raise click.ClickException(f"cannot migrate the database at {shown}: {reason}") from None
    click.echo(f"{shown}: at revision {revision}")


def _first_line(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's SQL echo and background link."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__
