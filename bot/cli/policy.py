"""``yield-auditor policy export``: the routing policy for a router (docs/policy.md).

From a local git history (``--repo``, as ``audit`` reads it) or from a ledger (``--db``, one
installation's tasks, as the dashboard and ``GET /api/v1/installations/{id}/policy`` read
them), in the versioned schema of docs/policy.schema.json, as JSON or YAML.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from bot.cli.app import _engine
from bot.cli.main import DATE_FORMATS


@click.group("policy")
def policy_group() -> None:
    """Export the routing policy a router follows (docs/policy.md)."""


@policy_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default="json",
    show_default=True,
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Read a local git history (default: the current directory, unless --db).",
)
@click.option("--db", "url", help="Read a ledger instead (e.g. sqlite:///yield-auditor.db).")
@click.option(
    "--installation",
    "installation_id",
    type=int,
    help="With --db: the installation (default: the ledger's only one).",
)
@click.option("--repository", help="With --db: only this repository's tasks (owner/name).")
@click.option("--since", type=click.DateTime(DATE_FORMATS), help="Only tasks from this date.")
@click.option("--until", type=click.DateTime(DATE_FORMATS), help="Only tasks up to this date.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the policy here instead of standard output.",
)
def export_command(fmt, repo, url, installation_id, repository, since, until, seed,
                   output) -> None:  # fmt: skip
    """Print per task class the recommended tier and model, the share to explore and the
    evidence, in the schema yield-auditor/policy/v1 (docs/policy.schema.json)."""
    if repo is not None and url is not None:
        raise click.UsageError("give --repo or --db, not both")
    if url is None and (installation_id is not None or repository is not None):
        raise click.UsageError("--installation and --repository read a ledger: add --db")
    since_day, until_day = (d.date() if d else None for d in (since, until))
    if url is None:
        doc = _from_history(repo or Path("."), since_day, until_day, seed)
    else:
        doc = _from_ledger(url, installation_id, repository, since_day, until_day, seed)
    text = _dump(doc, fmt)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _from_history(repo: Path, since: date | None, until: date | None, seed: int) -> dict:
    """The policy of a local history's tasks (the commits ``audit`` would read)."""
    from bot.config import Settings
    from bot.engine.policy import policy
    from bot.engine.scorecard import routed
    from bot.local.audit import AuditOptions, audit_tasks
    from bot.local.gitlog import GitLogError

    options = AuditOptions(repo, since, _day_after(until), seed=seed)
    try:
        tasks = audit_tasks(options, Settings().analyser())
    except GitLogError as error:
        raise click.ClickException(str(error)) from error
    first, last = (d.isoformat() if d else None for d in (since, until))
    records = routed(sorted(tasks, key=lambda t: t.id))  # by id, as the API (draws follow order)
    return policy(records, seed=seed, since=first, until=last).to_json()


def _day_after(day: date | None) -> datetime | None:
    """``audit``'s --until is exclusive; the policy's is the last day included."""
    return None if day is None else datetime.combine(day + timedelta(days=1), datetime.min.time())


def _from_ledger(url: str, installation_id: int | None, repository: str | None,
                 since: date | None, until: date | None, seed: int) -> dict:  # fmt: skip
    """The policy of one installation's tasks in a ledger, as the API serves it."""
    from sqlalchemy.orm import Session

    from bot.app import explore

    engine = _engine(url)
    try:
        with Session(engine) as session:
            dataset = explore.load_installation(session, _installation(session, installation_id))
        if repository is not None and repository not in dataset.repo_ids:
            raise click.ClickException(
                f"no repository {repository!r} in installation {dataset.installation_id}"
            )
        wanted = explore.TaskFilter(repository=repository, since=since, until=until)
        return explore.routing_policy(dataset, wanted, seed).to_json()
    finally:
        engine.dispose()


def _installation(session, wanted: int | None) -> int:
    """``wanted`` if the ledger holds it, else the ledger's only installation."""
    from bot.app import explore

    known = explore.installation_ids(session)
    if wanted is not None and wanted in known:
        return wanted
    if wanted is None and len(known) == 1:
        return known[0]
    listed = ", ".join(map(str, known)) or "none"
    what = f"no installation {wanted}" if wanted is not None else "choose one with --installation"
    raise click.ClickException(f"{what} in the ledger (installations: {listed})")


def _dump(doc: dict, fmt: str) -> str:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
