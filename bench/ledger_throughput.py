"""Ledger bulk-insert throughput: N commits with 1-2 usage lines each (optionally files).

    .venv/bin/python bench/ledger_throughput.py [--commits 100000] [--files 0] [--postgres URL]

SQLite in a temporary file; PostgreSQL in a throwaway schema when --postgres (default:
YIELD_AUDITOR_TEST_POSTGRES_URL) is given.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.engine.records import CommitFacts, FileChange, UsageLine
from bot.ledger.db import make_engine, migrate
from bot.ledger.store import load_commits, upsert_commits, upsert_repository
from bot.protocol.commit import Identity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def commits(n: int, files: int, repo: str) -> list[CommitFacts]:
    out = []
    for i in range(n):
        usage = [UsageLine("claude-sonnet-4-5", "standard", 10_000 + i, Decimal("0.03512345"))]
        if i % 2:
            usage.append(UsageLine("gpt-5-mini", "economy", 2_000 + i, Decimal("0.00042")))
        out.append(
            CommitFacts(
                sha=f"{i:040x}",
                repository=repo,
                parents=(f"{i - 1:040x}",) if i else (),
                author=Identity("Claude", "noreply@anthropic.com", "claude[bot]", 209825114, "Bot"),
                committer=Identity("Dev", "dev@example.com"),
                authored_at=T0 + timedelta(seconds=i),
                committed_at=T0 + timedelta(seconds=i, milliseconds=500),
                subject=f"feat: change number {i}",
                agent="claude-code",
                agent_role="authored",
                model="claude-sonnet-4-5",
                task=f"T-{i // 4}",
                task_class="feature",
                attempt=1 + i % 2,
                tier="standard",
                pr_number=i // 4,
                branch=f"agent/t-{i // 4}",
                usage=tuple(usage),
                files=tuple(FileChange(f"src/m{k}.py", 10, 2) for k in range(files)),
            )
        )
    return out


def run(url: str, n: int, files: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    repo = f"bench/{uuid.uuid4().hex[:8]}"
    data = commits(n, files, repo)
    lines = sum(len(c.usage) for c in data)
    with Session(engine) as session:
        repo_id = upsert_repository(session, None, repo)
        session.commit()
    for label in ("first ingest", "re-ingest (no change)"):
        with Session(engine) as session:
            start = time.perf_counter()
            written = upsert_commits(session, repo_id, data)
            session.commit()
            took = time.perf_counter() - start
        print(
            f"{engine.dialect.name:10} {label:22} {n:>7} commits {lines:>7} usage lines "
            f"{files * n:>7} files  {took:6.2f} s  {n / took:>8,.0f} commits/s "
            f"{(n + lines + files * n) / took:>8,.0f} rows/s  (written {written})"
        )
    with Session(engine) as session:
        start = time.perf_counter()
        loaded = load_commits(session, repo_id)
        took = time.perf_counter() - start
    assert loaded == data
    rate = n / took
    print(f"{engine.dialect.name:10} load  {n:>7} commits  {took:6.2f} s  {rate:>8,.0f} commits/s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=0)
    parser.add_argument("--postgres", default=os.environ.get("YIELD_AUDITOR_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", args.commits, args.files)
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres)
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        try:
            url = sa.make_url(args.postgres).update_query_dict(
                {"options": f"-csearch_path={schema}"}
            )
            run(url.render_as_string(hide_password=False), args.commits, args.files)
        finally:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


if __name__ == "__main__":
    main()
