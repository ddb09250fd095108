"""What one delivery costs the worker as a repository's history grows, in one run.

    .venv/bin/python bench/worker_throughput.py [--sizes 100,1000,5000] [--deliveries 100] \
        [--databases postgresql,sqlite] [--postgres URL]

For each size N, a fresh database gets one repository of N pull requests from bench/scale.py's
generator (about 10 commits each, 80% of them agent tasks with CI, reviews, retries and
escalations), stored and derived as ``scale.py load`` does (then analysed, on PostgreSQL, as
autovacuum would). Then it times

  full     ``derive_tasks`` over the whole repository: what every delivery cost before a
           delivery derived only its own tasks (the baseline, measured in the same run)
  scoped   ``derive_tasks`` seeded with one pull request: what a delivery of it costs now
  worker   ``--deliveries`` check-run deliveries on pull requests of the repository, stored
           in the inbox and drained by one ``Worker``: deliveries per second

The derivations run in a transaction that is rolled back, median of 3. Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ingress_throughput import postgresql_database  # noqa: E402
from scale import ACCOUNT, END, INSTALLATION, Loaded, load_repository, vacuum  # noqa: E402

from bot.app.apply import derive_tasks  # noqa: E402
from bot.app.worker import Worker  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.engine.analysis import Analyser  # noqa: E402
from bot.ledger import inbox  # noqa: E402
from bot.ledger.db import make_engine, migrate  # noqa: E402
from bot.ledger.store import Touched, upsert_installation  # noqa: E402
from tests import payloads as p  # noqa: E402

REPO = "scale-org/worker-bench"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def median_seconds(engine, repo_id: int, analyser: Analyser, seeds: Touched | None) -> float:
    times = []
    for _ in range(3):
        with Session(engine) as session:
            start = time.perf_counter()
            derive_tasks(session, repo_id, analyser, None, seeds)
            times.append(time.perf_counter() - start)
            session.rollback()
    return statistics.median(times)


def check_runs(numbers: list[int], count: int) -> list[tuple[str, dict]]:
    """Completed check runs on ``numbers`` in turn, as GitHub sends them."""
    out = []
    for i in range(count):
        number = numbers[i % len(numbers)]
        head = f"{number:08x}{i:08x}".ljust(40, "0")
        conclusion, at = "failure" if i % 3 else "success", END + timedelta(seconds=i)
        run = p.check_run(conclusion, head, at, (number,), run_id=10_000 + i, repo=REPO,
                          installation=INSTALLATION)  # fmt: skip
        out.append(("check_run", run))
    return out


def measure(url: str, size: int, deliveries: int) -> dict[str, float]:
    engine = make_engine(url)
    try:
        migrate(engine)
        analyser = Settings(_env_file=None, database_url=url).analyser()
        with Session(engine) as session, session.begin():
            upsert_installation(session, INSTALLATION, ACCOUNT)
        load_repository(engine, analyser, REPO, size, 8, Loaded())
        if engine.dialect.name == "postgresql":
            vacuum(engine)  # what autovacuum does after a bulk load: planner statistics
        with engine.connect() as connection:
            repo_id = connection.execute(
                sa.text("SELECT id FROM repositories WHERE full_name = :n"), {"n": REPO}
            ).scalar_one()
            tasks = connection.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one()
        middle = Touched(pr_numbers={size // 2 or 1})
        full = median_seconds(engine, repo_id, analyser, None)
        scoped = median_seconds(engine, repo_id, analyser, middle)
        worker = Worker(engine, Settings(_env_file=None), analyser=analyser, name="bench")
        numbers = list(range(1, size + 1, max(1, size // deliveries)))
        for i, (event, payload) in enumerate(check_runs(numbers, deliveries + 1)):
            body = json.dumps(payload).encode()
            assert inbox.store(engine, f"bench-{i}", event, body, payload)
        worker.run_once()  # a process's first delivery of a repository derives all of it
        start = time.perf_counter()
        done = worker.drain()
        elapsed = time.perf_counter() - start
        return {"tasks": tasks, "full": full, "scoped": scoped, "rate": done / elapsed}
    finally:
        engine.dispose()


def main(args: argparse.Namespace) -> None:
    console = Console(width=120)
    table = Table(title="One worker, check-run deliveries, against the repository's size")
    for column in ("database", "pull requests", "tasks", "full derive ms", "scoped derive ms",
                   "scoped / full", "worker deliveries/s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "database" else "right")
    for database in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            console.print(f"{database}: {size:,} pull requests ...")
            if database == "postgresql":
                schema = postgresql_database(args.postgres)
                url, cleanup = schema.url, schema.dispose
            else:
                folder = tempfile.TemporaryDirectory(prefix="ya-worker-bench-")
                url, cleanup = f"sqlite:///{folder.name}/ledger.db", folder.cleanup
            try:
                r = measure(url, size, args.deliveries)
            finally:
                cleanup()
            table.add_row(database, f"{size:,}", f"{r['tasks']:,}", f"{r['full'] * 1000:,.1f}",
                          f"{r['scoped'] * 1000:,.1f}", f"{r['scoped'] / r['full']:.3f}",
                          f"{r['rate']:,.1f}")  # fmt: skip
    console.print(table)
    console.print(f"Python {sys.version.split()[0]}; load average {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--deliveries", type=int, default=100)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument(
        "--postgres", default=os.environ.get("YIELD_AUDITOR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    )
    main(parser.parse_args())
