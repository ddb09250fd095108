"""The ledger on SQLite and PostgreSQL: migrations, idempotent bulk upserts, exact round trips."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.cli.migrate import migrate_command
from bot.engine.attribution import ABANDONED, OPEN, REWORK, SHIPPED, Attempt, Spend, Task, attribute
from bot.engine.records import (
    CI_FAILED,
    MERGED,
    CommitFacts,
    Event,
    FileChange,
    PullRequest,
    UsageLine,
)
from bot.ledger.db import (
    current_revision,
    database_url,
    display_url,
    head_revision,
    make_engine,
    migrate,
)
from bot.ledger.schema import TABLE_NAMES, TABLES, metadata
from bot.ledger.store import (
    load_commits,
    load_events,
    load_evidence,
    load_pull_requests,
    load_tasks,
    replace_tasks,
    upsert_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)
from bot.protocol.commit import Identity

REPO = "octo/widgets"
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
PLUS_2 = timezone(timedelta(hours=2))


def sha(n: int) -> str:
    return f"{n:040x}"


def make_commit(n: int, repository: str = REPO, **changes) -> CommitFacts:
    facts = CommitFacts(
        sha=sha(n),
        repository=repository,
        parents=(sha(n - 1),) if n else (),
        author=Identity("Claude", "noreply@anthropic.com", "claude[bot]", 209825114, "Bot"),
        committer=Identity("Dev", "dev@example.com"),
        authored_at=(T0 + timedelta(minutes=n)).astimezone(PLUS_2),
        committed_at=T0 + timedelta(minutes=n, seconds=30),
        subject=f"feat: change {n}",
        agent="claude-code",
        agent_role="authored",
        model="claude-sonnet-4-5",
        task=f"T-{n // 3}",
        task_class="feature",
        attempt=1,
        tier="standard",
        strategy="cascade",
        route_score=0.625,
        has_context=True,
        usage=(
            UsageLine("claude-sonnet-4-5", "standard", 12_345 + n, Decimal("0.04123457")),
            UsageLine("mystery-model", None, 777, None),
        )[: 1 + n % 2],
        files=(FileChange("src/app.py", 10 + n, 2), FileChange("README.md", 1, 0)),
        pr_number=100 + n // 3,
        branch=f"agent/task-{n // 3}",
    )
    return replace(facts, **changes)


def make_event(n: int, repository: str = REPO, **changes) -> Event:
    event = Event(
        key=f"check_run:{n}",
        kind=CI_FAILED if n % 2 else MERGED,
        at=T0 + timedelta(hours=n),
        repository=repository,
        pr_number=100 + n,
        sha=sha(n),
        source="check_run",
    )
    return replace(event, **changes)


def make_task(key: str, repository: str = REPO) -> Task:
    task_id = f"{repository}:task:{key}"
    return Task(
        id=task_id,
        repository=repository,
        pr_numbers=(101, 102),
        task_class="feature",
        class_inferred=False,
        tier="economy",
        strategy="cascade",
        has_context=None,
        route_score=0.5,
        complexity="medium",
        agent="claude-code",
        model="claude-haiku-4-5",
        author="ada@example.com",
        attempts=(
            Attempt(
                task_id,
                1,
                "economy",
                "claude-haiku-4-5",
                (sha(1),),
                "escalated",
                (CI_FAILED,),
                1000,
                Decimal("0.00100000"),
                0,
            ),
            Attempt(
                task_id,
                2,
                "frontier",
                "claude-opus-4-5",
                (sha(2), sha(3)),
                "shipped",
                (),
                5000,
                Decimal("0.12345678"),
                250,
            ),
        ),
        status="shipped",
        first_pass=False,
        escalated=True,
        bounces=(CI_FAILED,),
        ci_first_pass=False,
        review_first_pass=None,
        merged=True,
        survived=None,
        agent_rework_commits=1,
        human_rework_commits=0,
        spend={
            SHIPPED: Spend(3333.5, Decimal("0.3333333333333333333333333333"), 0.0),
            REWORK: Spend(1.25, Decimal("1E-12"), 250.0),
            ABANDONED: Spend(),
        },
    )


def snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every ledger table, in primary-key order."""
    with engine.connect() as connection:
        return {
            t.name: [tuple(r) for r in connection.execute(sa.select(t).order_by(*t.primary_key))]
            for t in TABLES
        }


def counts(engine: sa.Engine) -> dict[str, int]:
    return {name: len(rows) for name, rows in snapshot(engine).items()}


@pytest.fixture
def repo_id(ledger_engine: sa.Engine) -> int:
    with Session(ledger_engine) as session:
        upsert_installation(session, 4242, "octo")
        repo = upsert_repository(session, 4242, REPO)
        session.commit()
    return repo


# --------------------------------------------------------------------------- engines, migrations


def test_migrate_command_loads_without_the_database_libraries():
    code = (
        "import sys; from bot.cli.migrate import migrate_command; "
        "print('sqlalchemy' in sys.modules, 'alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # the CLI stays fast to start


def test_urls_use_psycopg_and_hide_passwords():
    for url in ("postgres://u:pw@h/db", "postgresql://u:pw@h/db", "postgresql+psycopg://u:pw@h/db"):
        assert database_url(url).drivername == "postgresql+psycopg"
        assert display_url(url) == "postgresql+psycopg://u:***@h/db"
    assert database_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_engine_settings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_new_sqlite_file_waits_for_a_lock_holder_before_entering_wal(tmp_path):
    path = tmp_path / "ledger.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # what a migrator on another connection holds
    release = threading.Timer(0.3, holder.rollback)
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:  # SQLite gives no busy wait for this switch
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        release.join()
        holder.close()
        engine.dispose()


def test_migrate_empty_database_then_again(database_url):
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        assert migrate(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        before = set(sa.inspect(engine).get_table_names())
        assert before == TABLE_NAMES | {"alembic_version"}
        assert migrate(engine) == head_revision()  # a no-op
        assert set(sa.inspect(engine).get_table_names()) == before
    finally:
        engine.dispose()
    assert migrate(database_url) == head_revision()  # from a URL too


def test_concurrent_migrations_serialise(database_url):
    engines = [make_engine(database_url) for _ in range(4)]
    results, errors = [], []

    def run(engine):
        try:
            results.append(migrate(engine))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert results == [head_revision()] * 4


def _schema_differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _: type_ != "table" or name in TABLE_NAMES,
            },
        )
        return compare_metadata(context, metadata)


def test_migrated_schema_is_the_models_schema(ledger_engine):
    assert _schema_differences(ledger_engine) == []
    # The comparison sees real differences: drop an index and it must say so.
    with ledger_engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_commits_repository_task")
    differences = _schema_differences(ledger_engine)
    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_commits_repository_task"


# --------------------------------------------------------------------------- upserts


def test_repository_and_installation_upserts(ledger_engine):
    with Session(ledger_engine) as session:
        upsert_installation(session, 1, "first")
        upsert_installation(session, 1, "renamed")
        upsert_installation(session, 2, "other", created=T0)
        a = upsert_repository(session, 1, "o/a")
        assert upsert_repository(session, 1, "o/a") == a
        assert upsert_repository(session, None, "o/a") == a  # None keeps the installation
        b = upsert_repository(session, None, "o/b")
        assert b != a
        assert upsert_repository(session, 2, "o/b") == b
        session.commit()
    rows = snapshot(ledger_engine)
    assert [(r[0], r[1]) for r in rows["installations"]] == [(1, "renamed"), (2, "other")]
    assert rows["installations"][1][2] == T0
    assert rows["repositories"] == [(a, 1, "o/a"), (b, 2, "o/b")]


def test_ingesting_twice_changes_nothing(ledger_engine, repo_id):
    commits = [make_commit(n) for n in range(20)]
    events = [make_event(n) for n in range(10)]
    prs = [
        PullRequest(REPO, 100 + n, f"PR {n}", ("agent", "bug"), f"b{n}", "merged", T0, T0, sha(n))
        for n in range(7)
    ]
    with Session(ledger_engine) as session:
        assert upsert_commits(session, repo_id, commits) == 20
        assert upsert_events(session, repo_id, events) == 10
        assert upsert_pull_requests(session, repo_id, prs) == 7
        session.commit()
    first = snapshot(ledger_engine)
    assert len(first["usage_lines"]) == 30 and len(first["file_changes"]) == 40
    with Session(ledger_engine) as session:
        assert upsert_commits(session, repo_id, reversed(commits)) == 0
        assert upsert_events(session, repo_id, events + events) == 0
        assert upsert_pull_requests(session, repo_id, prs) == 0
        session.commit()
    assert snapshot(ledger_engine) == first


def test_changed_facts_are_updated(ledger_engine, repo_id):
    commit = make_commit(1, survival=None)
    with Session(ledger_engine) as session:
        upsert_commits(session, repo_id, [commit, make_commit(2)])
        session.commit()
    before = snapshot(ledger_engine)
    later = replace(
        commit,
        survival=0.75,
        usage=(UsageLine("claude-opus-4-5", "frontier", 99, Decimal("1.5")),),
        files=(FileChange("new.py", 7, 0),),
    )
    with Session(ledger_engine) as session:
        assert upsert_commits(session, repo_id, [later, make_commit(2)]) == 1
        session.commit()
        assert load_commits(session, repo_id)[0] == later
    after = snapshot(ledger_engine)
    assert [r[0] for r in after["commits"]] == [r[0] for r in before["commits"]]  # same ids
    assert len(after["usage_lines"]) == 2 and len(after["file_changes"]) == 3
    # The last version ingested wins, also within one call.
    with Session(ledger_engine) as session:
        upsert_commits(session, repo_id, [later, commit])
        session.commit()
        assert load_commits(session, repo_id)[0] == commit


def test_pull_requests_update(ledger_engine, repo_id):
    opened = PullRequest(REPO, 7, "WIP", ("agent",), "feature", "open", T0)
    merged = replace(
        opened,
        state="merged",
        closed_at=T0 + timedelta(days=1),
        merge_sha=sha(9),
        labels=("agent", "shipped"),
    )
    with Session(ledger_engine) as session:
        assert upsert_pull_requests(session, repo_id, [opened]) == 1
        assert upsert_pull_requests(session, repo_id, [merged]) == 1
        assert upsert_pull_requests(session, repo_id, [merged]) == 0
        session.commit()
        assert load_pull_requests(session, repo_id) == [merged]


def test_events_are_deduplicated_by_key(ledger_engine, repo_id):
    first = make_event(1)
    same_key = replace(first, kind=MERGED, at=T0 + timedelta(days=3))
    with Session(ledger_engine) as session:
        assert upsert_events(session, repo_id, [first, first, make_event(2)]) == 2
        assert upsert_events(session, repo_id, [same_key, make_event(3)]) == 1
        session.commit()
        assert load_events(session, repo_id) == [first, make_event(2), make_event(3)]
        other = upsert_repository(session, None, "octo/other")
        moved = replace(first, repository="octo/other")
        assert upsert_events(session, other, [moved]) == 1  # keys are per repository
        session.commit()
        assert load_events(session, other) == [moved]


def test_replace_tasks_replaces(ledger_engine, repo_id):
    with Session(ledger_engine) as session:
        other = upsert_repository(session, None, "octo/other")
        replace_tasks(session, other, [make_task("keep", "octo/other")])
        assert replace_tasks(session, repo_id, [make_task("a"), make_task("b")]) == 2
        session.commit()
        assert [t.id for t in load_tasks(session, repo_id)] == [
            f"{REPO}:task:a",
            f"{REPO}:task:b",
        ]
        assert replace_tasks(session, repo_id, [make_task("c")]) == 1
        session.commit()
        assert load_tasks(session, repo_id) == [make_task("c")]
        assert load_tasks(session, other) == [make_task("keep", "octo/other")]
        assert replace_tasks(session, repo_id, []) == 0
        session.commit()
        assert load_tasks(session, repo_id) == []
    assert counts(ledger_engine)["attempts"] == 2  # only the other repository's


# --------------------------------------------------------------------------- round trips


def test_commit_round_trip_is_exact(ledger_engine, repo_id):
    odd = make_commit(
        5,
        authored_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-7))),
        usage=(
            UsageLine("a", "economy", 1, Decimal("0.00000001")),
            UsageLine("b", None, 2, None),
            UsageLine("c", "frontier", 3, Decimal("0")),
            UsageLine("a", "economy", 1, Decimal("0.00000001")),  # a repeated line stays
            UsageLine("d", "standard", 10**12, Decimal("9999999.99999999")),
        ),
        files=(),
        agent=None,
        agent_role="none",
        has_context=None,
        route_score=None,
        is_fixup=True,
        reverts=(sha(1), sha(2)),
        survival=0.1 + 0.2,
        subject="fix: ünïcødé — 'quotes' \"and\" \\ backslashes",
        parents=(sha(3), sha(4)),
    )
    commits = [make_commit(1), odd]
    with Session(ledger_engine) as session:
        upsert_commits(session, repo_id, commits, evidence={odd.sha: [{"rule": "x", "n": 1}]})
        session.commit()
    with Session(ledger_engine) as session:
        loaded = load_commits(session, repo_id)
        assert loaded == commits
        back = loaded[1]
        assert back.usage[1].usd is None and back.usage[2].usd == 0
        assert all(isinstance(u.usd, Decimal) for u in back.usage if u.usd is not None)
        assert back.authored_at.tzinfo is UTC and back.authored_at == odd.authored_at
        assert load_evidence(session, repo_id) == {odd.sha: [{"rule": "x", "n": 1}]}
        # Filters: committed_at in [since, until).
        assert load_commits(session, repo_id, since=odd.committed_at) == [odd]
        assert load_commits(session, repo_id, until=odd.committed_at) == [make_commit(1)]


def test_money_is_rounded_to_eight_places_on_both_databases(ledger_engine, repo_id):
    line = UsageLine("m", None, 1, Decimal("0.000000075"))  # 7.5e-8: half-even to 8e-8
    with Session(ledger_engine) as session:
        upsert_commits(session, repo_id, [make_commit(1, usage=(line,))])
        session.commit()
        assert load_commits(session, repo_id)[0].usage[0].usd == Decimal("0.00000008")


def test_task_round_trip_is_exact(ledger_engine, repo_id):
    tasks = [make_task("x"), make_task("y")]
    with Session(ledger_engine) as session:
        replace_tasks(session, repo_id, tasks)
        session.commit()
    with Session(ledger_engine) as session:
        loaded = load_tasks(session, repo_id)
    assert loaded == tasks
    assert loaded[0].spend[SHIPPED].usd == Decimal("0.3333333333333333333333333333")
    assert list(loaded[0].spend) == [SHIPPED, REWORK, ABANDONED]
    assert OPEN not in loaded[0].spend


def test_attribution_from_the_ledger_equals_attribution_from_the_records(ledger_engine, repo_id):
    commits = [make_commit(n) for n in range(12)]
    prs = [PullRequest(REPO, 100 + n, state="merged" if n % 2 else "closed") for n in range(4)]
    events = [make_event(n) for n in range(6)]
    tasks = attribute(commits, prs, events)
    assert tasks
    with Session(ledger_engine) as session:
        upsert_commits(session, repo_id, commits)
        upsert_pull_requests(session, repo_id, prs)
        upsert_events(session, repo_id, events)
        replace_tasks(session, repo_id, tasks)
        session.commit()
    with Session(ledger_engine) as session:
        loaded = (
            load_commits(session, repo_id),
            load_pull_requests(session, repo_id),
            load_events(session, repo_id),
        )
        assert attribute(*loaded) == tasks
        assert load_tasks(session, repo_id) == tasks


def test_pull_request_and_event_round_trips(ledger_engine, repo_id):
    prs = [
        PullRequest(REPO, 2),
        PullRequest(REPO, 1, "t", ("b", "a"), "h", "closed", T0.astimezone(PLUS_2), T0, None),
    ]
    events = [make_event(2, at=T0.astimezone(PLUS_2)), make_event(1, pr_number=None, sha=None)]
    with Session(ledger_engine) as session:
        upsert_pull_requests(session, repo_id, prs)
        upsert_events(session, repo_id, events)
        session.commit()
        assert load_pull_requests(session, repo_id) == sorted(prs, key=lambda p: p.number)
        assert load_events(session, repo_id) == sorted(events, key=lambda e: (e.at, e.key))
        assert load_events(session, repo_id, since=T0 + timedelta(minutes=1)) == [events[1]]


def test_bad_input_is_refused(ledger_engine, repo_id):
    with Session(ledger_engine) as session:
        with pytest.raises(ValueError, match="naive datetime"):
            upsert_commits(session, repo_id, [make_commit(1, committed_at=datetime(2026, 1, 1))])
        with pytest.raises(ValueError, match="belongs to"):
            upsert_commits(session, repo_id, [make_commit(1, repository="someone/else")])
        with pytest.raises(LookupError):
            load_commits(session, repo_id + 1000)
        with pytest.raises(ValueError, match="twice"):
            replace_tasks(session, repo_id, [make_task("a"), make_task("a")])


# --------------------------------------------------------------------------- properties, bulk

_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
_when = st.builds(
    lambda base, minutes: base.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
)
_usd = st.none() | st.decimals(min_value=0, max_value=10**6, places=8)
_usage = st.builds(UsageLine, _text, st.none() | _text, st.integers(0, 10**12), _usd)
_identity = st.builds(
    Identity,
    _text,
    _text,
    st.none() | _text,
    st.none() | st.integers(1, 2**40),
    st.none() | st.sampled_from(["Bot", "User"]),
)
_commit = st.builds(
    CommitFacts,
    sha=st.integers(0, 2**160 - 1).map(sha),
    repository=st.just(REPO),
    parents=st.lists(st.integers(0, 50).map(sha), max_size=2).map(tuple),
    author=_identity,
    committer=_identity,
    authored_at=_when,
    committed_at=_when,
    subject=_text,
    agent=st.none() | _text,
    agent_role=st.sampled_from(["authored", "committed", "none"]),
    task=st.none() | _text,
    attempt=st.none() | st.integers(1, 5),
    route_score=st.none() | st.floats(0, 1),
    has_context=st.none() | st.booleans(),
    usage=st.lists(_usage, max_size=3).map(tuple),
    files=st.lists(
        st.builds(FileChange, _text, st.integers(0, 10**6), st.integers(0, 10**6)), max_size=3
    ).map(tuple),
    pr_number=st.none() | st.integers(1, 10**6),
    is_fixup=st.booleans(),
    reverts=st.lists(st.integers(0, 50).map(sha), max_size=2).map(tuple),
    survival=st.none() | st.floats(0, 1),
)
_event = st.builds(
    Event,
    key=_text,
    kind=st.sampled_from([CI_FAILED, MERGED]),
    at=_when,
    repository=st.just(REPO),
    pr_number=st.none() | st.integers(1, 10**6),
    sha=st.none() | st.integers(0, 50).map(sha),
    source=_text,
)


def _commit_order(c: CommitFacts):
    return (c.committed_at, c.sha)


def _shuffled_with_duplicates(data, items):
    extra = data.draw(st.lists(st.sampled_from(items), max_size=len(items))) if items else []
    return data.draw(st.permutations(items + extra))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_order_with_duplicates_gives_the_same_state(ledger_engine, data):
    commits = data.draw(st.lists(_commit, max_size=8, unique_by=lambda c: c.sha))
    events = data.draw(st.lists(_event, max_size=8, unique_by=lambda e: e.key))
    name = f"prop/{uuid.uuid4().hex}"  # one repository per example: the database is shared
    commits = [replace(c, repository=name) for c in commits]
    events = [replace(e, repository=name) for e in events]
    batch = data.draw(st.integers(1, 4), label="batch size")
    with Session(ledger_engine) as session:
        repo = upsert_repository(session, None, name)
        for _ in range(2):  # two deliveries, each in its own order and with repeats
            shuffled = _shuffled_with_duplicates(data, commits)
            upsert_commits(session, repo, shuffled, batch_size=batch)
            upsert_events(session, repo, _shuffled_with_duplicates(data, events), batch_size=batch)
            session.commit()
            assert load_commits(session, repo) == sorted(commits, key=_commit_order)
            assert load_events(session, repo) == sorted(events, key=lambda e: (e.at, e.key))


def test_bulk_ingest_of_thousands(ledger_engine, repo_id):
    commits = [make_commit(n) for n in range(3500)]
    events = [make_event(n) for n in range(2500)]
    with Session(ledger_engine) as session:
        assert upsert_commits(session, repo_id, commits) == 3500
        assert upsert_events(session, repo_id, events) == 2500
        session.commit()
    first = counts(ledger_engine)
    assert first["commits"] == 3500 and first["usage_lines"] == 5250
    assert first["file_changes"] == 7000 and first["events"] == 2500
    changed = [replace(c, survival=0.5) if n % 10 == 0 else c for n, c in enumerate(commits)]
    with Session(ledger_engine) as session:
        assert upsert_commits(session, repo_id, changed) == 350
        assert upsert_commits(session, repo_id, changed) == 0
        assert upsert_events(session, repo_id, events) == 0
        session.commit()
        assert counts(ledger_engine) == first
        assert load_commits(session, repo_id) == changed
        assert len(load_events(session, repo_id)) == 2500


# --------------------------------------------------------------------------- command line


def test_migrate_command(database_url):
    result = CliRunner().invoke(migrate_command, ["--db", database_url])
    assert result.exit_code == 0, result.output
    assert f"at revision {head_revision()}" in result.output
    again = CliRunner().invoke(migrate_command, ["--db", database_url])
    assert again.exit_code == 0 and again.output == result.output


def test_migrate_command_default_url_from_settings(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(migrate_command, [])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(url)
    assert (tmp_path / "from-env.db").exists()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://auditor:s3cr%40t-pw@127.0.0.1:1/ledger",
        "postgres://auditor:s3cr%40t-pw@127.0.0.1:1/ledger?connect_timeout=2",
        "sqlite:////nonexistent-dir/sub/ledger.db",
    ],
)
def test_migrate_command_unreachable_database(url):
    result = CliRunner().invoke(migrate_command, ["--db", url])
    assert result.exit_code == 1
    assert "cannot migrate the database" in result.output
    assert "Traceback" not in result.output and result.exception is not None
    if "postgres" in url:
        assert "s3cr" not in result.output and "***" in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u:s3cret@h/db", "SQLite or PostgreSQL, not mysql"),
    ],
)
def test_migrate_command_bad_url(url, message):
    result = CliRunner().invoke(migrate_command, ["--db", url])
    assert result.exit_code == 1
    assert message in result.output and "s3cret" not in result.output


def test_upgrade_from_the_first_revision_keeps_rows(database_url):
    """A ledger created at revision 0001 upgrades in place (tasks gain ``author``)."""
    engine = make_engine(database_url)
    try:
        assert migrate(engine, "0001") == "0001"
        with Session(engine) as session:
            repo_id = upsert_repository(session, None, REPO)
            upsert_commits(session, repo_id, [make_commit(1)])
            session.commit()
        assert migrate(engine) == head_revision()
        with Session(engine) as session:
            assert len(load_commits(session, repo_id)) == 1
            replace_tasks(session, repo_id, [make_task("T-1")])
            session.commit()
            assert load_tasks(session, repo_id)[0].author == "ada@example.com"
    finally:
        engine.dispose()


def test_upgrading_fills_the_task_rollups_of_stored_tasks(ledger_engine):
    """0007 computes what ``replace_tasks`` stores: seeded tasks, rolled back to 0006 (the
    columns dropped), upgraded again, read the same."""
    from alembic import command

    from bot.ledger.db import alembic_config
    from bot.ledger.store import task_pull_requests, tasks
    from tests.scenario import seed

    seed(ledger_engine)
    columns = [tasks.c.key, tasks.c.finished_at, tasks.c.title, tasks.c.tokens, tasks.c.usd,
               tasks.c.unpriced_tokens]  # fmt: skip
    links = sa.select(tasks.c.key, task_pull_requests.c.pr_number).join(task_pull_requests)
    with ledger_engine.connect() as connection:
        derived = connection.execute(sa.select(*columns).order_by(tasks.c.key)).all()
        derived_links = sorted(connection.execute(links).all())
    assert any(row.finished_at for row in derived) and any(row.title for row in derived)
    with ledger_engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    migrate(ledger_engine)
    with ledger_engine.connect() as connection:
        assert connection.execute(sa.select(*columns).order_by(tasks.c.key)).all() == derived
        assert sorted(connection.execute(links).all()) == derived_links
