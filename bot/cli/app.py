"""The App's commands: ``serve``, ``worker``, ``inbox``, ``digest`` and ``scheduler``; heavy
imports wait until they run."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from bot import format as fmt
from bot.config import Settings

STATUS_CHOICE = click.Choice(["received", "processing", "done", "ignored", "failed"])


def _database_option(function):
    return click.option(
        "--db", "url", help="Database URL (default: DATABASE_URL, else sqlite:///yield-auditor.db)."
    )(function)


def _engine(url: str | None):
    """An engine on the existing ledger; these commands never create or migrate one."""
    from bot.ledger.db import LedgerUnavailable, open_ledger

    try:
        return open_ledger(url or Settings().database_url)
    except LedgerUnavailable as exc:
        raise click.ClickException(str(exc)) from None


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
@click.option(
    "--metrics-address",
    default="127.0.0.1",
    show_default=True,
    help="The address the metrics port listens on; it has no authentication, so widen it "
    "(e.g. 0.0.0.0) only on a network Prometheus alone can reach.",
)
@_database_option
def worker_command(
    once: bool,
    poll: float,
    lease: float,
    metrics_port: int | None,
    metrics_address: str,
    url: str | None,
) -> None:
    """Process deliveries from the inbox; run as many as you like on PostgreSQL."""
    from bot import telemetry
    from bot.app.processes import run_worker

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
        metrics_address=metrics_address,
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
    from bot.demo.run import run_demo

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
    from bot.ledger import inbox

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
            fmt.instant(d.received_at),
            (d.error or "")[:80],
        )
    Console().print(table)


@inbox_group.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Re-queue every failed delivery.")
@_database_option
def inbox_retry(ids: tuple[str, ...], failed: bool, url: str | None) -> None:
    """Put deliveries (by id, or all failed ones) back in the queue."""
    from bot.ledger import inbox

    if bool(ids) == failed:
        raise click.UsageError("give delivery ids or --failed, not both or neither")
    engine = _engine(url)
    try:
        found = {guid: inbox.get(engine, guid) for guid in ids}
        missing = [guid for guid, delivery in found.items() if delivery is None]
        if missing:
            raise click.ClickException(f"no such delivery: {', '.join(missing)}")
        purged = [guid for guid, delivery in found.items() if delivery.body_purged]
        if purged:
            raise click.ClickException(
                f"the body of {', '.join(purged)} was purged (YIELD_AUDITOR_BODY_RETENTION_DAYS): "
                "it cannot be processed again"
            )
        count = inbox.requeue(engine, ids, failed=failed)
    finally:
        engine.dispose()
    click.echo(f"re-queued {count} deliver{'y' if count == 1 else 'ies'}")


@click.command("digest")
@click.option("--installation", type=int, help="Installation id (default: the configured ones).")
@click.option("--period", default="last-week", show_default=True, help="last-week or YYYY-Www.")
@click.option("--preview", is_flag=True, help="Print the digest; send nothing.")
@click.option("--send", is_flag=True, help="Send it to the configured channels now.")
@click.option("--force", is_flag=True, help="With --send: send again even if already sent.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "html"]),
    default="text",
    show_default=True,
)
@_database_option
def digest_command(installation, period, preview, send, force, fmt, url) -> None:
    """Preview or send the weekly digest (docs/digests.md); a send happens once per period and
    channel unless --force."""
    from datetime import UTC, datetime

    if preview == send:
        raise click.UsageError("give --preview or --send")
    if force and not send:
        raise click.UsageError("--force goes with --send")
    settings = Settings()
    engine = _engine(url)
    try:
        now = datetime.now(UTC)
        targets = _digest_targets(engine, settings, installation, send)
        for spec, installation_id in targets:
            try:
                chosen = _period(period, spec.timezone if spec else "UTC", now)
                if send:
                    _send(engine, settings, spec, installation_id, chosen, now, force)
                else:
                    click.echo(_preview(engine, settings, spec, installation_id, chosen, fmt))
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def _digest_targets(engine, settings: Settings, installation: int | None, send: bool):
    """(spec or None, installation id) pairs: configured digests, else the ledger's only one."""
    from bot.app.digests import installations

    pairs = [
        (spec, i)
        for spec in settings.digests
        for i in installations(engine, spec)
        if installation is None or i == installation
    ]
    if pairs or send:
        if not pairs:
            raise click.ClickException("no digest is configured for this installation")
        return pairs
    if installation is not None:
        return [(None, installation)]
    from sqlalchemy.orm import Session

    from bot.digest.query import active_installations

    with Session(engine) as session:
        found = active_installations(session)
    if len(found) != 1:
        raise click.ClickException(f"{len(found)} installations in the ledger: give --installation")
    return [(None, found[0])]


def _period(text: str, tz: str, now):
    from bot.digest.period import period_of

    return period_of(text, tz, now)


def _preview(engine, settings, spec, installation_id, period, fmt) -> str:
    from sqlalchemy.orm import Session

    from bot.digest.query import build_digest
    from bot.digest.render import render_html, render_markdown, render_text

    with Session(engine) as session:
        digest = build_digest(
            session, installation_id, period, settings,
            spec.repositories if spec else None, spec.dashboard_url if spec else None,
            spec.timezone if spec else "UTC",
        )  # fmt: skip
    render = {"text": render_text, "markdown": render_markdown, "html": render_html}[fmt]
    return render(digest)


def _send(engine, settings, spec, installation_id, period, now, force) -> None:
    from bot.app.digests import send_period

    outcomes = send_period(engine, settings, spec, installation_id, period, now, force=force)
    for o in outcomes:
        click.echo(f"{o.period} installation {o.installation_id} {o.channel}: {o.status}"
                   + (f" ({o.error})" if o.error else ""))  # fmt: skip
    if not outcomes:
        click.echo(
            f"{period.label} installation {installation_id}: already sent (--force sends again)"
        )
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)


@click.command("scheduler")
@_database_option
def scheduler_command(url: str | None) -> None:
    """Run the periodic jobs in the foreground (digests, redelivery of GitHub's failed
    deliveries, the inbox's clean-up); a second scheduler is harmless."""
    from bot import telemetry
    from bot.app.processes import run_scheduler

    telemetry.configure_logging()
    settings = Settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    run_scheduler(settings)
