"""The App's commands: ``serve``, ``worker`` and ``inbox``; heavy imports wait until they run."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from bot.config import Settings

STATUS_CHOICE = click.Choice(["received", "processing", "done", "ignored", "failed"])


def _database_option(function):
    return click.option(
        "--db", "url", help="Database URL (default: DATABASE_URL, else sqlite:///yield-auditor.db)."
    )(function)


def _engine(url: str | None):
    from bot.ledger import make_engine, migrate

    engine = make_engine(url or Settings().database_url)
    migrate(engine)
    return engine


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@_database_option
def serve_command(host: str, port: int, url: str | None) -> None:
    """Run everything in one process: web server, worker thread and scheduler.

    The embedded default: SQLite at ./yield-auditor.db, migrations applied on start.
    """
    from webhooks.serve import serve

    serve(host, port, url)


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is due, then exit.")
@click.option("--poll", type=float, default=1.0, show_default=True, help="Seconds between polls.")
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="Seconds a delivery stays claimed by a worker that stopped renewing it (it died).",
)
@click.option(
    "--metrics-port", type=int, help="Serve this worker's Prometheus metrics on this port."
)
@_database_option
def worker_command(
    once: bool, poll: float, lease: float, metrics_port: int | None, url: str | None
) -> None:
    """Process deliveries from the inbox; run as many as you like on PostgreSQL."""
    from bot import telemetry
    from webhooks.serve import run_worker

    telemetry.configure_logging()
    settings = Settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    run_worker(
        settings,
        once=once,
        poll_seconds=poll,
        lease=timedelta(seconds=lease),
        metrics_port=metrics_port,
    )


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--exit", "exit_after", is_flag=True, help="Print the PR comments and exit.")
@_database_option
def demo_command(host: str, port: int, exit_after: bool, url: str | None) -> None:
    """Replay a scripted week of agent work against a fake GitHub, then serve the App.

    Runs on SQLite (a temporary file unless --db) and needs no GitHub account.
    """
    from bot.demo import run_demo

    raise SystemExit(run_demo(host, port, exit_after, url))


@click.group("inbox")
def inbox_group() -> None:
    """Look at and re-queue webhook deliveries."""


@inbox_group.command("list")
@click.option("--status", type=STATUS_CHOICE, help="Only deliveries with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list).")
@_database_option
def inbox_list(status: str | None, limit: int, as_json: bool, url: str | None) -> None:
    """Deliveries, newest first."""
    from bot import inbox

    engine = _engine(url)
    try:
        found = inbox.list_deliveries(engine, status, limit)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in found], indent=2))
        return
    _print_table(found)


def _print_table(found) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "event", "action", "status", "attempts", "received", "error")
    for d in found:
        table.add_row(
            d.guid,
            d.event,
            d.action or "",
            d.status,
            str(d.attempts),
            d.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            (d.error or "")[:80],
        )
    Console().print(table)


@inbox_group.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Re-queue every failed delivery.")
@_database_option
def inbox_retry(ids: tuple[str, ...], failed: bool, url: str | None) -> None:
    """Put deliveries (by id, or all failed ones) back in the queue."""
    from bot import inbox

    if bool(ids) == failed:
        raise click.UsageError("give delivery ids or --failed, not both or neither")
    engine = _engine(url)
    try:
        missing = [guid for guid in ids if inbox.get(engine, guid) is None]
        if missing:
            raise click.ClickException(f"no such delivery: {', '.join(missing)}")
        count = inbox.requeue(engine, ids, failed=failed)
    finally:
        engine.dispose()
    click.echo(f"re-queued {count} deliver{'y' if count == 1 else 'ies'}")
