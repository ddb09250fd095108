"""``yield-auditor backfill``: ``bot.app.backfill`` on the command line, with a progress bar per
repository (standard error) and a summary (standard output: a table, or JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]
INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C


class InputError(click.ClickException):
    """A request that cannot be served as given: exit status 2, like click's usage errors."""

    exit_code = 2


def _repository_names(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        owner, slash, name = value.partition("/")
        if not (owner and slash and name) or "/" in name or value != value.strip():
            raise click.BadParameter(f"{value!r} is not owner/name")
    return values


@click.command("backfill")
@click.option(
    "--installation",
    "installation_id",
    type=click.IntRange(min=1),
    required=True,
    help="The installation whose history to import (its settings page's URL ends with its id).",
)
@click.option(
    "--repo",
    "repositories",
    multiple=True,
    metavar="OWNER/NAME",
    callback=_repository_names,
    help="Only this repository of the installation (repeatable). Default: all of them.",
)
@click.option(
    "--since",
    type=click.DateTime(DATE_FORMATS),
    help="Leave out pull requests created before this date (UTC unless an offset is given).",
)
@click.option("--restart", is_flag=True, help="Read every pull request again, even those done.")
@click.option(
    "--dry-run", is_flag=True, help="List the repositories and count their pull requests only."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--db", "url", help="Database URL (default: DATABASE_URL, else sqlite:///yield-auditor.db)."
)
def backfill_command(
    installation_id: int,
    repositories: tuple[str, ...],
    since: datetime | None,
    restart: bool,
    dry_run: bool,
    as_json: bool,
    url: str | None,
) -> None:
    """Import the pull request history of an installation from GitHub's API (docs/backfill.md).

    Stores what the webhooks would have stored, resumes where an earlier run stopped, and
    reads pull requests still open again on every run.
    """
    from bot.app.backfill import BackfillError, Options, backfill
    from bot.config import Settings
    from bot.github.client import configured
    from bot.ledger.db import make_engine, migrate

    settings = Settings()
    if url:
        settings = settings.model_copy(update={"database_url": url})
    if not configured(settings):
        raise InputError(
            "backfill reads GitHub as the App: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY "
            "(or GITHUB_APP_PRIVATE_KEY_PATH)"
        )
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    options = Options(installation_id, repositories, since, restart, dry_run)
    engine = make_engine(settings.database_url)
    try:
        if not dry_run:
            migrate(engine)
        with _Bars() as bars:
            report = backfill(engine, settings, options, progress=bars.update)
    except BackfillError as exc:
        raise InputError(str(exc)) from exc
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_summary(report)
    if report.interrupted:
        raise SystemExit(INTERRUPTED)
    if not report.complete:
        raise SystemExit(1)


class _Bars:
    """A bar per repository on standard error: pull requests read of those to read, and what
    is happening (listing, a pull request's number, a wait for GitHub's rate limit)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
        )
        self.tasks: dict[str, object] = {}

    def update(self, repository: str, done: int, total: int | None, note: str) -> None:
        task = self.tasks.get(repository)
        if task is None:
            task = self.tasks[repository] = self.progress.add_task(repository, note=note)
        self.progress.update(task, completed=done, total=total, note=note)  # type: ignore[arg-type]

    def __enter__(self) -> _Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _print_summary(report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report.dry_run:
        table = Table("repository", "pull requests", "done before", "to fetch", "open")
        for r in report.repositories:
            to_fetch = r.listed - r.already_done
            table.add_row(
                r.repository, str(r.listed), str(r.already_done), str(to_fetch), str(r.open)
            )
    else:
        table = Table(
            "repository",
            "status",
            "PRs",
            "skipped",
            "open",
            "failed",
            "commits",
            "agent commits",
            "tasks",
            "API calls",
        )
        for r in report.repositories:
            counts = (
                r.fetched,
                r.already_done,
                r.open,
                r.failed,
                r.commits,
                r.agent_commits,
                r.tasks,
                r.api_calls,
            )
            table.add_row(r.repository, r.status, *map(str, counts))
    title = f"installation {report.installation_id} ({report.account})"
    console.print(f"{title}{': dry run, nothing written' if report.dry_run else ''}")
    console.print(table)
    for r in report.repositories:
        for error in r.errors:
            console.print(f"{r.repository}: {error}", markup=False, highlight=False)
    if report.stopped:
        console.print(
            f"stopped: {report.stopped}; run the same command again to resume", markup=False
        )
    if report.interrupted:
        console.print("interrupted: run the same command again to resume")
