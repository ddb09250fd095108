"""bot/app/apply.py: a delivery derives again only the tasks its records belong to, and the
stored tasks are then exactly what deriving the whole repository gives, on SQLite and
PostgreSQL, whatever the order the deliveries arrive in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from bot.app import apply
from bot.app.worker import Worker
from bot.config import Settings
from bot.engine.analysis import Analyser
from bot.ledger import inbox
from bot.ledger.schema import metadata
from tests import payloads as p

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HAIKU, OPUS = "anthropic:claude-haiku-4-5", "anthropic:claude-opus-4-5"
Delivery = tuple[str, dict[str, Any]]


def sha(tag: str) -> str:
    return tag.encode().hex().ljust(40, "0")[:40]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def plain_agent(subject: str) -> str:
    """An agent commit with no protocol trailers: its task is its pull request or branch."""
    return f"{subject}\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"


def opened(number: int, branch: str, head: str, minutes: int, **extra: Any) -> Delivery:
    return "pull_request", p.pull_request(
        "opened", number, head_ref=branch, head_sha=head, at=at(minutes), **extra
    )


def closed(
    number: int, branch: str, head: str, minutes: int, merged: bool, merge_sha: str | None = None
) -> Delivery:
    return "pull_request", p.pull_request(
        "closed", number, head_ref=branch, head_sha=head, at=at(minutes), merged=merged,
        merge_sha=(merge_sha or head) if merged else None,
    )  # fmt: skip


def pushed(branch: str, *commits: dict[str, Any]) -> Delivery:
    return "push", p.push(f"refs/heads/{branch}", list(commits))


def history() -> list[Delivery]:
    """Deliveries that exercise everything that ties commits into tasks: a task per pull
    request, an ``Agent-Task`` named only by a later commit, one task over two pull requests,
    branch commits adopted by a pull request, a branch with no pull request, a person's commit
    on an agent's pull request, reverts of merged agent work on the default branch (of a commit
    the ledger holds, and of a squash commit it does not), and a commit that moves from one
    pull request to another."""
    story = p.pull_request_story(p.REPO, 1, T0)
    merged_1 = f"{1:06x}b".ljust(40, "0")  # pull_request_story merges its second commit
    late = p.agent_message("Use the task", "T-late", "frontier", OPUS)
    shared = p.agent_message("Shared work", "T-shared", "economy", HAIKU)
    revert = f'Revert "Task 1"\n\nThis reverts commit {merged_1}.\n'
    return [
        *story,
        pushed("b2", p.commit(sha("x1"), plain_agent("Start"), at(1))),
        opened(2, "b2", sha("x1"), 2),
        pushed("b2", p.commit(sha("x2"), late, at(3))),
        ("check_run", p.check_run("failure", sha("x2"), at(4), (2,), run_id=20)),
        pushed("b3", p.commit(sha("s1"), shared, at(5))),
        opened(3, "b3", sha("s1"), 6),
        pushed("b4", p.commit(sha("s2"), shared, at(7))),
        opened(4, "b4", sha("s2"), 8),
        closed(3, "b3", sha("s1"), 9, merged=False),
        closed(4, "b4", sha("s2"), 10, merged=True),
        pushed("wip", p.commit(sha("w1"), plain_agent("Experiment"), at(11))),
        pushed("task-1", p.commit(sha("h1"), "Tidy up\n", at(12))),
        pushed("main", p.commit(sha("r1"), revert, at(30))),
        opened(5, "b5", sha("x1"), 13),  # a second pull request takes over PR 2's first commit
        pushed("b5", p.commit(sha("x1"), plain_agent("Start"), at(1))),
        pushed("b6", p.commit(sha("x6"), plain_agent("Squash me"), at(14))),
        opened(6, "b6", sha("x6"), 15),
        closed(6, "b6", sha("x6"), 16, merged=True, merge_sha=sha("m6")),  # a squash commit
        pushed(
            "main", p.commit(sha("r6"), f"Revert\n\nThis reverts commit {sha('m6')}.\n", at(32))
        ),
    ]


def send_all(engine, deliveries: list[Delivery], prefix: str = "d") -> None:
    start = datetime.now(UTC)
    for i, (event, payload) in enumerate(deliveries):
        body = json.dumps(payload).encode()
        now = start + timedelta(microseconds=i)
        assert inbox.store(engine, f"{prefix}-{i:03}", event, body, payload, now=now)


def snapshot(engine) -> dict[str, Any]:
    """The derived tables by task key, without ids and computing times."""
    with engine.connect() as connection:
        keys = dict(connection.execute(sa.text("SELECT id, key FROM tasks")).all())

        def rows(table: str, drop: tuple[str, ...]) -> list[tuple]:
            found = connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()
            out = []
            for row in found:
                values = dict(row)
                if "task_id" in values:
                    values["task"] = keys[values.pop("task_id")]
                out.append(tuple(sorted((k, repr(v)) for k, v in values.items() if k not in drop)))
            return sorted(out)

        return {
            "tasks": rows("tasks", ("id", "computed_at")),
            "attempts": rows("attempts", ("id",)),
            "task_pull_requests": rows("task_pull_requests", ()),
        }


def derive_everything(engine) -> None:
    with Session(engine) as session:
        repo_id = session.execute(
            sa.text("SELECT id FROM repositories WHERE full_name = :n"), {"n": p.REPO}
        ).scalar_one()
        apply.derive_tasks(session, repo_id, Analyser())
        session.commit()


def clear(engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table.name != "alembic_version":
                connection.execute(table.delete())
    apply._derived_with.pop(engine, None)


@pytest.fixture
def worker(ledger_engine):
    return Worker(ledger_engine, Settings(_env_file=None), name="scope-test", poll_seconds=0.05)


def test_the_whole_history_gives_the_tasks_a_full_derivation_gives(ledger_engine, worker):
    send_all(ledger_engine, history())
    assert worker.drain() == len(history())
    scoped = snapshot(ledger_engine)
    derive_everything(ledger_engine)
    assert snapshot(ledger_engine) == scoped
    keys = sorted(dict(row)["key"] for row in scoped["tasks"])
    assert keys == sorted(
        repr(f"{p.REPO}:{k}")
        for k in ("branch:wip", "pr:5", "pr:6", "task:T-1", "task:T-late", "task:T-shared")
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order=st.permutations(range(len(history()))), size=st.integers(1, len(history())))
def test_any_order_and_any_prefix_agrees_with_a_full_derivation(ledger_engine, worker, order, size):
    clear(ledger_engine)
    pool = history()
    send_all(ledger_engine, [pool[i] for i in order[:size]])
    worker.drain()
    scoped = snapshot(ledger_engine)
    if scoped["tasks"] or scoped["attempts"]:
        derive_everything(ledger_engine)
    assert snapshot(ledger_engine) == scoped


def test_a_delivery_rewrites_only_its_own_tasks(ledger_engine, worker, monkeypatch):
    send_all(ledger_engine, history())
    worker.drain()
    with ledger_engine.connect() as connection:
        before = dict(connection.execute(sa.text("SELECT key, computed_at FROM tasks")).all())
    full = []
    monkeypatch.setattr(apply, "load_commits", lambda *a, **k: full.append(1) or [])
    check = p.check_run("success", sha("x2"), at(40), (2,), run_id=21)
    body = json.dumps(check).encode()
    assert inbox.store(ledger_engine, "late-check", "check_run", body, check)
    assert worker.drain() == 1
    with ledger_engine.connect() as connection:
        after = dict(connection.execute(sa.text("SELECT key, computed_at FROM tasks")).all())
    assert full == []  # the repository's history was not read
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed == {f"{p.REPO}:task:T-late"}
    assert after.keys() == before.keys()


def test_a_new_configuration_derives_every_task_again(ledger_engine, worker):
    from bot.app.repo_config import RepoConfig

    send_all(ledger_engine, history()[:8])
    worker.drain()
    configs = iter([RepoConfig(rework_window_days=5)])
    worker.repo_config = lambda _delivery: next(configs, RepoConfig(rework_window_days=5))
    with ledger_engine.connect() as connection:
        before = dict(connection.execute(sa.text("SELECT key, computed_at FROM tasks")).all())
    more = pushed("wip", p.commit(sha("w9"), plain_agent("More"), at(50)))
    send_all(ledger_engine, [more], prefix="more")
    worker.drain()
    with ledger_engine.connect() as connection:
        after = dict(connection.execute(sa.text("SELECT key, computed_at FROM tasks")).all())
    # The push concerns only the branch "wip", but the rework window changed: T-1 too.
    assert after[f"{p.REPO}:task:T-1"] != before[f"{p.REPO}:task:T-1"]


def test_a_configuration_is_remembered_only_once_its_derivation_commits(ledger_engine):
    """A full derivation for a new configuration that is rolled back (a lost lease, a failed
    write) must be done again by the next delivery, not skipped for a scoped one."""
    from bot.app.repo_config import RepoConfig

    config = RepoConfig(rework_window_days=5)
    with Session(ledger_engine) as session:
        session.execute(sa.text("SELECT 1"))
        assert not apply._same_config(session, 1, config)
        session.rollback()
    with Session(ledger_engine) as session:
        session.execute(sa.text("SELECT 1"))
        assert not apply._same_config(session, 1, config)
        session.commit()
    with Session(ledger_engine) as session:
        assert apply._same_config(session, 1, config)
        assert not apply._same_config(session, 1, RepoConfig(rework_window_days=6))
