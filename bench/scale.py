"""Scale: a two-year ledger of 100,000 pull requests and about 1,000,000 commits in PostgreSQL,
and the time the weekly digest and the dashboard's main pages and API take over it.

    .venv/bin/python bench/scale.py load [--prs 100000] [--repos 50] [--fresh]
    .venv/bin/python bench/scale.py time [--runs 5] [--json]
    .venv/bin/python bench/scale.py explain [--top 5] [--plans] [--profile]

``load`` generates a seeded history for one installation (4242, "scale-org"): pull requests
spread over the 104 weeks before 2026-11-16, 80% of them carrying agent tasks (attempts,
escalations, usage priced in dollars; some abandoned, reverted or still open), the rest by
people, each with its CI, review and merge or close events. It stores every repository in one
transaction through the ledger's upserts and derives its tasks as the App does
(``bot.app.apply.derive_tasks``). ``time`` runs each query once to warm up, then ``--runs``
times, against a baseline measured in the same run (a full count of ``commits``). ``explain``
runs each query once with every SQL statement timed and prints the slowest.

Everything goes through public entry points (``bot.ledger``, ``bot.digest.query``, the Flask app
of ``webhooks.app.create_app`` in local mode), so the ledger can change beneath the benchmark.
The database is PostgreSQL (``--url``, default ``$YIELD_AUDITOR_BENCH_POSTGRES_URL``) in the
schema ``bench_scale`` (``--schema``). Figures and how to read them: bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import platform
import pstats
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import bot
import webhooks
from bot.app.apply import derive_tasks
from bot.config import Settings
from bot.demo.history import CLASSES, NOUNS, TITLES
from bot.digest.period import period_of
from bot.digest.query import build_digest
from bot.digest.render import render_text
from bot.engine.records import (
    APPROVED,
    CHANGES_REQUESTED,
    CI_FAILED,
    CI_PASSED,
    CLOSED,
    MERGED,
    REVERTED,
    CommitFacts,
    Event,
    FileChange,
    PullRequest,
    UsageLine,
)
from bot.ledger.db import current_revision, make_engine, migrate
from bot.ledger.store import (
    upsert_commits,
    upsert_events,
    upsert_installation,
    upsert_pull_requests,
    upsert_repository,
)
from bot.protocol.commit import Identity
from webhooks.app import create_app

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tuple(str(Path(m.__file__).parent) for m in (bot, webhooks))  # the profiled code
RESULTS = ROOT / "bench" / "results" / "scale.json"
URL_ENV = "YIELD_AUDITOR_BENCH_POSTGRES_URL"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_scale"
INSTALLATION, ACCOUNT = 4242, "scale-org"
END = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday: the history is the 104 weeks before it
WEEKS = 104
DIGEST_WEEK = "2026-W46"  # the last full week of the history
SEED = 8
TARGET_MS = 1000.0
BASELINE_SQL = "SELECT count(*) FROM commits"

AGENT_SHARE = 0.8  # pull requests carrying agent work
STALE_OPEN = 0.01  # agent pull requests left open after their first attempt
REVERT_SHARE = 0.03  # merged agent pull requests reverted within days
HUMAN_FIX = 0.1  # agent pull requests with a human commit before review
MAX_COMMITS = 30
# agent -> (identity, tier -> (model, dollars per million tokens, input and output blended))
AGENTS = {
    "claude-code": (
        Identity("Claude", "noreply@anthropic.com"),
        {
            "economy": ("anthropic:claude-haiku-4-5", 1.8),
            "standard": ("anthropic:claude-sonnet-4-5", 5.4),
            "frontier": ("anthropic:claude-opus-4-5", 9.0),
        },
    ),
    "codex": (
        Identity("Codex", "codex@openai.com"),
        {
            "economy": ("openai:gpt-5-mini", 0.6),
            "standard": ("openai:gpt-5", 3.4),
            "frontier": ("openai:gpt-5-pro", 36.0),
        },
    ),
}
AGENT_WEIGHTS = (3, 1)
HUMANS = tuple(Identity(n, f"{n.lower()}@scale-org.example") for n in ("Ada", "Grace", "Linus"))


class BenchError(Exception):
    """A query did not answer 200, or the database is not what the command needs."""


class QueryTimeout(BaseException):
    """Raised by the alarm inside a query; a BaseException so the app's handlers let it pass."""


# --------------------------------------------------------------------------- generating


@dataclass
class History:
    """One repository's records, and what deriving its tasks must give."""

    name: str
    pulls: list[PullRequest] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    commits: list[CommitFacts] = field(default_factory=list)
    agent_pulls: int = 0


def repository_names(repos: int) -> list[str]:
    return [f"{ACCOUNT}/repo-{i:03d}" for i in range(repos)]


def pulls_per_repository(prs: int, repos: int, seed: int) -> list[int]:
    """Uneven repository sizes (0.3x to 1.7x the mean) summing to ``prs`` exactly."""
    if not 1 <= repos <= prs:
        raise BenchError(f"need 1 to {prs} repositories for {prs} pull requests, not {repos}")
    rng = random.Random(f"{seed}:sizes")  # noqa: S311 - a seeded benchmark
    weights = [rng.uniform(0.3, 1.7) for _ in range(repos)]
    shares = [prs * w / sum(weights) for w in weights]
    counts = [max(1, int(s)) for s in shares]
    by_remainder = sorted(range(repos), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for i in by_remainder[: prs - sum(counts)]:
        counts[i] += 1
    while sum(counts) > prs:  # the max(1, ...) floor took too many
        counts[counts.index(max(counts))] -= 1
    return counts


def repository_history(name: str, prs: int, seed: int) -> History:
    """``prs`` pull requests of repository ``name``, numbered in the order they were opened."""
    rng = random.Random(f"{seed}:{name}")  # noqa: S311 - a seeded benchmark
    history = History(name)
    opened = sorted(_opened_at(rng) for _ in range(prs))
    for number, at in enumerate(opened, 1):
        if rng.random() < AGENT_SHARE:
            _agent_pull(rng, history, number, at)
            history.agent_pulls += 1
        else:
            _human_pull(rng, history, number, at)
    return history


def _opened_at(rng: random.Random) -> datetime:
    """A time in the 104 weeks, busier towards the end (the density grows from 0.5 to 1.5)."""
    u = rng.random()
    x = (-1 + (1 + 8 * u) ** 0.5) / 2
    span = timedelta(weeks=WEEKS) - timedelta(days=3)  # room for the last one's commits
    return END - timedelta(weeks=WEEKS) + span * x


def _commit_count(rng: random.Random) -> int:
    """1 to 30, mostly few: about 10 on average."""
    return min(MAX_COMMITS, int(rng.triangular(1, MAX_COMMITS + 1, 1)))


def _agent_pull(rng: random.Random, h: History, number: int, at: datetime) -> None:
    """A task: attempts until CI passes (a retry, then an escalation), review, merge or close."""
    task_class = rng.choices(list(CLASSES), [c[0] for c in CLASSES.values()])[0]
    _, tiers, odds, tokens = CLASSES[task_class]
    agent = rng.choices(list(AGENTS), AGENT_WEIGHTS)[0]
    tier = rng.choices(list(tiers), list(tiers.values()))[0]
    noun = rng.choice(NOUNS)
    plan, passed = _attempt_plan(rng, tier, odds, _commit_count(rng))
    if rng.random() < STALE_OPEN:
        plan, passed = plan[:1], None
    score, context = min(1.0, max(0.0, odds[tier] + rng.gauss(0, 0.12))), rng.random() < 0.5
    work = _Work(h, number, f"SC-{number}", f"agent/sc-{number}", noun, task_class, at)
    for attempt, (attempt_tier, size) in enumerate(plan, 1):
        for _ in range(size):
            work.add(rng, agent, attempt, attempt_tier, score, context, tokens)
        if passed is not None:
            ci = CI_PASSED if attempt == len(plan) and passed else CI_FAILED
            at_ci = work.at + timedelta(minutes=rng.uniform(3, 15))
            h.events.append(_event(h.name, ci, at_ci, number, work.head))
    if passed and rng.random() < HUMAN_FIX:
        work.add_human(rng)
    title = rng.choice(TITLES[task_class]).format(noun)
    state, closed = _close(rng, h, number, work.at, passed)
    merge_sha = _sha(h.name, number, "merge") if state == "merged" else None
    h.pulls.append(PullRequest(h.name, number, title=title, labels=(task_class,),
                               head_ref=work.branch, state=state, created_at=at, closed_at=closed,
                               merge_sha=merge_sha, head_sha=work.head))  # fmt: skip
    if merge_sha and closed and rng.random() < REVERT_SHARE:
        _revert(rng, h, number, closed, merge_sha)


@dataclass
class _Work:
    """The commits of one agent pull request, one after the other on its branch."""

    h: History
    number: int
    key: str
    branch: str
    noun: str
    task_class: str
    at: datetime
    commits: int = 0
    head: str = ""

    def __post_init__(self) -> None:
        self.head = _sha(self.h.name, self.number, "base")

    def add(self, rng, agent, attempt, tier, score, context, tokens) -> None:
        """An agent commit with its trailers' facts and one priced usage line."""
        identity, models = AGENTS[agent]
        model, per_million = models[tier]
        self.at += timedelta(minutes=rng.uniform(5, 60))
        sha = _sha(self.h.name, self.number, self.commits)
        used = int(tokens / 4 * rng.uniform(0.3, 1.7))
        usd = (Decimal(used) * Decimal(str(per_million)) / 1_000_000).quantize(Decimal("1e-8"))
        self._append(CommitFacts(
            sha=sha, repository=self.h.name, parents=(self.head,), author=identity,
            committer=identity, authored_at=self.at, committed_at=self.at,
            subject=f"{self.key}: {self.task_class} {self.noun}, attempt {attempt}", agent=agent,
            agent_role="authored", model=model, task=self.key, task_class=self.task_class,
            attempt=attempt, tier=tier, strategy="route", route_score=score, has_context=context,
            usage=(UsageLine(model, tier, used, usd),), files=(_file(rng, self.noun),),
            pr_number=self.number, branch=self.branch,
        ))  # fmt: skip

    def add_human(self, rng: random.Random) -> None:
        """A person's commit after the agent's, before review (human rework)."""
        self.at += timedelta(minutes=rng.uniform(10, 120))
        human, sha = rng.choice(HUMANS), _sha(self.h.name, self.number, "human")
        self._append(CommitFacts(sha, self.h.name, (self.head,), human, human, self.at, self.at,
                                 f"{self.key}: tidy up", files=(_file(rng, self.noun),),
                                 pr_number=self.number, branch=self.branch))  # fmt: skip

    def _append(self, commit: CommitFacts) -> None:
        self.h.commits.append(commit)
        self.head = commit.sha
        self.commits += 1


def _attempt_plan(
    rng: random.Random, tier: str, odds: dict[str, float], commits: int
) -> tuple[list[tuple[str, int]], bool]:
    """(tier, commits) of each attempt, and whether the last one passed CI."""
    tiers, passed = [], False
    for attempt_tier in (tier, tier, "frontier" if "frontier" in odds else tier):
        if len(tiers) == 2 and rng.random() < 0.3:
            break  # no third attempt: given up
        tiers.append(attempt_tier)
        passed = rng.random() < odds.get(attempt_tier, 0.9)
        if passed or len(tiers) == commits:
            break
    cuts = sorted(rng.sample(range(1, commits), len(tiers) - 1)) if len(tiers) > 1 else []
    bounds = [0, *cuts, commits]
    return [(t, bounds[i + 1] - bounds[i]) for i, t in enumerate(tiers)], passed


def _close(
    rng: random.Random, h: History, number: int, t: datetime, passed: bool | None
) -> tuple[str, datetime | None]:
    """Review, then merge (passed and approved) or close; still open when it runs past END."""
    if passed is None:
        return "open", None
    t += timedelta(minutes=rng.uniform(30, 240))
    review = APPROVED if not passed or rng.random() < 0.9 else CHANGES_REQUESTED
    state = MERGED if passed and review == APPROVED else CLOSED
    done = t + timedelta(minutes=rng.uniform(10, 60))
    if done >= END:
        return "open", None
    h.events.append(_event(h.name, review, t, number))
    h.events.append(_event(h.name, state, done, number))
    return ("merged" if state == MERGED else "closed"), done


def _revert(rng: random.Random, h: History, number: int, merged: datetime, merge_sha: str) -> None:
    """A person reverts the merge a few days later: a revert commit and its event."""
    at = merged + timedelta(days=rng.uniform(0.5, 10))
    if at >= END:
        return
    human, sha = rng.choice(HUMANS), _sha(h.name, number, "revert")
    h.commits.append(
        CommitFacts(
            sha,
            h.name,
            (merge_sha,),
            human,
            human,
            at,
            at,
            f"Revert #{number}",
            reverts=(merge_sha,),
            branch="main",
        )
    )
    h.events.append(
        Event(f"scale:{REVERTED}:{number}", REVERTED, at, h.name, None, merge_sha, "scale")
    )


def _human_pull(rng: random.Random, h: History, number: int, at: datetime) -> None:
    """People's work: no agent, so no task; merged after CI and review, or closed."""
    human, noun = rng.choice(HUMANS), rng.choice(NOUNS)
    t, parent = at, _sha(h.name, number, "base")
    for i in range(_commit_count(rng)):
        t += timedelta(minutes=rng.uniform(5, 90))
        sha = _sha(h.name, number, i)
        h.commits.append(
            CommitFacts(
                sha,
                h.name,
                (parent,),
                human,
                human,
                t,
                t,
                f"Update {noun} ({i + 1})",
                files=(_file(rng, noun),),
                pr_number=number,
                branch=f"{human.name.lower()}/{number}",
            )
        )
        parent = sha
    h.events.append(_event(h.name, CI_PASSED, t + timedelta(minutes=8), number, parent))
    state, closed = _close(rng, h, number, t, rng.random() < 0.9)
    h.pulls.append(
        PullRequest(
            h.name,
            number,
            title=f"Rework {noun}",
            head_ref=f"pr-{number}",
            state=state,
            created_at=at,
            closed_at=closed,
            head_sha=parent,
            merge_sha=_sha(h.name, number, "merge") if state == "merged" else None,
        )
    )


def _file(rng: random.Random, noun: str) -> FileChange:
    return FileChange(
        f"src/{noun}/{rng.choice(('api', 'model', 'views', 'tests'))}.py",
        rng.randint(1, 120),
        rng.randint(0, 40),
    )


def _event(repo: str, kind: str, at: datetime, number: int, sha: str | None = None) -> Event:
    return Event(f"scale:{kind}:{number}:{sha}", kind, at, repo, number, sha, "scale")


def _sha(repo: str, number: int, part: object) -> str:
    return hashlib.sha1(f"{repo}#{number}/{part}".encode(), usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- the schema


def schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's ``search_path`` set to ``schema``."""
    url = sa.make_url(base)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() != "postgresql":
        raise BenchError(f"the scale benchmark runs on PostgreSQL, not {url.get_backend_name()}")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def prepare_schema(base: str, schema: str, fresh: bool) -> str:
    """Create ``schema`` (dropped first with ``fresh``); refuse one that holds tables already."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise BenchError(f"schema {schema!r}: lower-case letters, digits and _ only")
    url = schema_url(base, schema)
    admin = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with admin.begin() as c:
            if fresh:
                c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            c.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            tables = c.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
    finally:
        admin.dispose()
    if tables:
        raise BenchError(f"schema {schema} holds {tables} tables already: pass --fresh to drop it")
    return url


def table_sizes(engine: Engine) -> list[tuple[str, int, int]]:
    """(table, rows, bytes with indexes and TOAST) of the schema's tables, biggest first."""
    with engine.connect() as c:
        names = c.execute(
            sa.text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        ).all()
        rows = [
            (n, c.exec_driver_sql(f'SELECT count(*) FROM "{n}"').scalar_one(), size)
            for n, size in names
        ]
    return sorted(rows, key=lambda r: -r[2])


def database_size(engine: Engine) -> int:
    with engine.connect() as c:
        return c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()


# --------------------------------------------------------------------------- loading


@dataclass
class Loaded:
    """What ``load`` stored and what the ledger must hold for it."""

    repositories: int = 0
    pull_requests: int = 0
    agent_pull_requests: int = 0  # one task each
    commits: int = 0
    events: int = 0
    tasks: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("generate", "store", "derive"), 0.0)
    )


def load(
    url: str, prs: int, repos: int, seed: int = SEED, console: Console | None = None
) -> Loaded:
    """Migrate the database at ``url`` and store the history, one transaction per repository."""
    console = console or Console(quiet=True)
    engine = make_engine(url)
    try:
        migrate(engine)
        settings = Settings(_env_file=None, database_url=url)
        analyser = settings.analyser()
        with Session(engine) as session, session.begin():
            upsert_installation(session, INSTALLATION, ACCOUNT, END - timedelta(weeks=WEEKS))
        loaded = Loaded()
        sizes = pulls_per_repository(prs, repos, seed)
        with _progress(console) as progress:
            bar = progress.add_task("loading", total=prs, rate="")
            for name, count in zip(repository_names(repos), sizes, strict=True):
                load_repository(engine, analyser, name, count, seed, loaded)
                rate = f"{loaded.commits / sum(loaded.seconds.values()):,.0f} commits/s"
                progress.update(bar, advance=count, rate=rate)
                if not console.is_terminal:  # a log file: one line a repository instead
                    console.print(f"{name}: {loaded.pull_requests:,}/{prs:,} pull requests, {rate}")
        vacuum(engine)
        return loaded
    finally:
        engine.dispose()


def load_repository(engine, analyser, name, count, seed, loaded: Loaded) -> None:
    start = time.perf_counter()
    h = repository_history(name, count, seed)
    stored = time.perf_counter()
    with Session(engine) as session, session.begin():
        repo_id = upsert_repository(session, INSTALLATION, name)
        upsert_pull_requests(session, repo_id, h.pulls)
        upsert_events(session, repo_id, h.events)
        upsert_commits(session, repo_id, h.commits)
        derived = time.perf_counter()
        loaded.tasks += derive_tasks(session, repo_id, analyser)
    done = time.perf_counter()
    loaded.seconds["generate"] += stored - start
    loaded.seconds["store"] += derived - stored
    loaded.seconds["derive"] += done - derived
    loaded.repositories += 1
    loaded.pull_requests += len(h.pulls)
    loaded.agent_pull_requests += h.agent_pulls
    loaded.commits += len(h.commits)
    loaded.events += len(h.events)


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} pull requests"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        yield progress


def vacuum(engine: Engine) -> None:
    """What autovacuum would do after a bulk load, done now so the timings do not wait on it:
    fresh planner statistics and visibility maps."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        names = (
            c.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
            .scalars()
            .all()
        )
        for name in names:
            c.exec_driver_sql(f'VACUUM (ANALYZE) "{name}"')


# --------------------------------------------------------------------------- the queries


@dataclass(frozen=True)
class Query:
    name: str
    run: Callable[[], Any]


def queries(engine: Engine, only: str | None = None) -> list[Query]:
    """The digest, the dashboard's pages and the API, each as one call, the baseline first
    (then only those whose name contains ``only``, when given).

    The pull request and task pages show the middle task (by key) of the first repository.
    """
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(_env_file=None, database_url=url, local_mode=True), engine)
    client = app.test_client()
    period = period_of(DIGEST_WEEK, "UTC", datetime.now(UTC))
    repository, key, number = _sample_task(engine)
    digest = {}

    def build() -> None:
        with Session(engine) as session:
            digest["built"] = build_digest(session, INSTALLATION, period)

    def render() -> str:
        if "built" not in digest:
            build()
        return render_text(digest["built"])

    def baseline() -> int:
        with engine.connect() as c:
            return c.exec_driver_sql(BASELINE_SQL).scalar_one()

    base, api = f"/installations/{INSTALLATION}", f"/api/v1/installations/{INSTALLATION}"
    pages = [
        f"{base}/",
        f"{base}/matrix",
        f"{base}/pulls",
        f"{base}/pulls?tier=economy&outcome=abandoned",
        f"{base}/pulls?page=200",
        f"{base}/tasks?task_class=bugfix",
        f"{base}/pulls/{repository}/{number}",
        f"{base}/tasks/{repository}/{key}",
        f"{base}/calibration",
        f"{base}/repositories",
        f"{base}/scorecard",
        f"{api}/summary",
        f"{api}/matrix",
        f"{api}/pulls?per_page=100",
        f"{api}/tasks?page=50",
        f"{api}/scorecard",
        f"{api}/policy",
    ]
    found = [
        Query(f"build_digest {DIGEST_WEEK}", build),
        Query("render_text (digest)", render),
        *(Query(f"GET {path}", _getter(client, path)) for path in pages),
    ]
    chosen = [q for q in found if only is None or only in q.name]
    if not chosen:
        raise BenchError(f"no query's name contains {only!r}")
    return [Query(f"baseline: {BASELINE_SQL}", baseline), *chosen]


def _getter(client: Any, path: str) -> Callable[[], int]:
    def get() -> int:
        response = client.get(path)
        if response.status_code != 200:
            body = response.get_data(as_text=True)[:500]
            raise BenchError(f"GET {path} answered {response.status_code}, not 200: {body}")
        return len(response.get_data())

    return get


def _sample_task(engine: Engine) -> tuple[str, str, int]:
    """(repository, task key in its URL, first pull request) of the first repository's middle
    agent task with a pull request."""
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT r.full_name, t.key, t.pr_numbers FROM tasks t"
                " JOIN repositories r ON r.id = t.repository_id"
                " WHERE r.installation_id = :i ORDER BY r.full_name, t.key"
            ),
            {"i": INSTALLATION},
        ).all()
    first = [r for r in rows if r.full_name == rows[0].full_name and r.pr_numbers] if rows else []
    if not first:
        raise BenchError("no task in the ledger: run `bench/scale.py load` first")
    name, key, numbers = first[len(first) // 2]
    return name, key.removeprefix(f"{name}:"), numbers[0]


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    query: str
    runs: list[float]  # seconds
    timed_out: float | None = None  # the alarm, in seconds, when the warm-up ran past it

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.runs) * 1000 if self.runs else None

    @property
    def max_ms(self) -> float | None:
        return max(self.runs) * 1000 if self.runs else None

    @property
    def passed(self) -> bool:
        return self.max_ms is not None and self.max_ms < TARGET_MS


@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Interrupt the block with ``QueryTimeout`` after ``seconds`` (main thread, Unix)."""

    def ring(_signum: int, _frame: Any) -> None:
        raise QueryTimeout(f"more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def measure(q: Query, engine: Engine, runs: int, timeout: float, slow: float) -> Timing:
    """One warm-up, then ``runs`` wall-clock runs (one only when the warm-up took over ``slow``
    seconds; none when it ran past ``timeout``)."""
    try:
        with alarm(timeout):
            start = time.perf_counter()
            q.run()
            warm = time.perf_counter() - start
    except QueryTimeout:
        engine.dispose()  # the interrupted connection may be mid-query
        return Timing(q.name, [], timeout)
    times = []
    for _ in range(1 if warm > slow else runs):
        start = time.perf_counter()
        q.run()
        times.append(time.perf_counter() - start)
    return Timing(q.name, times)


def time_queries(
    url: str,
    runs: int = 5,
    timeout: float = 120.0,
    slow: float = 10.0,
    console: Console | None = None,
    only: str | None = None,
) -> list[Timing]:
    """Every query of ``queries``, the baseline first; raises ``BenchError`` on an answer
    that is not 200."""
    console = console or Console(quiet=True)
    engine = make_engine(url, pool_pre_ping=False)
    try:
        found = []
        for q in queries(engine, only):
            console.print(f"[dim]timing {q.name}[/]")
            found.append(measure(q, engine, runs, timeout, slow))
        return found
    finally:
        engine.dispose()


def timing_table(timings: list[Timing]) -> Table:
    base = timings[0].median_ms or float("nan")  # the baseline answers in milliseconds
    table = Table(
        title=f"Scale: median and max of the runs after one warm-up (target "
        f"{TARGET_MS:,.0f} ms each)"
    )
    for name in ("query", "runs", "median ms", "max ms", "target ms", "result", "x baseline"):
        table.add_column(name, justify="left" if name == "query" else "right")
    for i, t in enumerate(timings):
        if t.timed_out is not None:
            row = [
                "0",
                f"> {t.timed_out * 1000:,.0f}",
                "-",
                f"{TARGET_MS:,.0f}",
                "[red]FAIL[/]",
                f"> {t.timed_out * 1000 / base:,.0f}",
            ]
        else:
            result = "-" if i == 0 else ("[green]PASS[/]" if t.passed else "[red]FAIL[/]")
            row = [
                str(len(t.runs)),
                f"{t.median_ms:,.1f}",
                f"{t.max_ms:,.1f}",
                f"{TARGET_MS:,.0f}",
                result,
                f"{t.median_ms / base:,.1f}",
            ]
        table.add_row(t.query, *row)
    return table


def sizes_table(sizes: list[tuple[str, int, int]], total: int) -> Table:
    """The schema's tables; the database may hold other schemas too."""
    table = Table(title=f"Tables (the whole database: {total / 2**20:,.0f} MiB)")
    for name in ("table", "rows", "MiB"):
        table.add_column(name, justify="left" if name == "table" else "right")
    for name, rows, size in sizes:
        table.add_row(name, f"{rows:,}", f"{size / 2**20:,.1f}")
    table.add_row("(schema)", "", f"{sum(s for _, _, s in sizes) / 2**20:,.1f}")
    return table


# --------------------------------------------------------------------------- explaining


@dataclass
class Statement:
    sql: str
    params: Any
    seconds: float
    rows: int


@contextmanager
def recording(engine: Engine) -> Iterator[list[Statement]]:
    """Every statement the engine runs in the block, with its execution time (fetching
    included: psycopg reads the whole result before ``execute`` returns)."""
    found: list[Statement] = []

    def before(conn, _cursor, _statement, _params, context, _many) -> None:
        context._bench_start = time.perf_counter()

    def after(conn, cursor, statement, params, context, _many) -> None:
        took = time.perf_counter() - context._bench_start
        found.append(Statement(statement, params, took, cursor.rowcount))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


def explain(
    url: str,
    top: int,
    plans: bool,
    profile: bool,
    timeout: float,
    console: Console,
    only: str | None = None,
) -> None:
    """Run each query once with its statements timed; print the slowest, their plans
    (``EXPLAIN (ANALYZE, BUFFERS)``) with ``plans``, and the slowest functions with ``profile``."""
    engine = make_engine(url, pool_pre_ping=False)
    try:
        for q in queries(engine, only)[1:]:
            with recording(engine) as statements:
                start, timed_out = time.perf_counter(), False
                try:
                    with alarm(timeout):
                        q.run()
                except QueryTimeout:
                    timed_out = True
                wall = time.perf_counter() - start
            if timed_out:
                engine.dispose()
            ranked = _by_statement(statements)
            _print_statements(console, q.name, wall, timed_out, statements, ranked[:top])
            if plans and ranked:
                _print_plan(console, engine, max(ranked[0][1], key=lambda s: s.seconds))
            if profile:
                _print_profile(console, engine, q, top, timeout)
    finally:
        engine.dispose()


def _by_statement(statements: list[Statement]) -> list[tuple[str, list[Statement]]]:
    """The runs of each distinct statement, the most time in total first."""
    groups: dict[str, list[Statement]] = {}
    for s in statements:
        groups.setdefault(" ".join(s.sql.split()), []).append(s)
    return sorted(groups.items(), key=lambda g: -sum(s.seconds for s in g[1]))


def _print_statements(console, name, wall, timed_out, statements, ranked) -> None:
    sql = sum(s.seconds for s in statements)
    what = f"> {wall:,.2f} s (stopped)" if timed_out else f"{wall:,.3f} s"
    console.rule(
        f"{name}: {what}, {len(statements)} statements, {sql:,.3f} s in SQL "
        f"({sql / wall:.0%}), {wall - sql:,.3f} s elsewhere"
    )
    table = Table(show_header=True)
    for column in ("total ms", "calls", "rows", "statement"):
        table.add_column(column, justify="left" if column == "statement" else "right")
    for text, group in ranked:
        table.add_row(
            f"{sum(s.seconds for s in group) * 1000:,.1f}",
            str(len(group)),
            f"{sum(max(s.rows, 0) for s in group):,}",
            text[:400],
        )
    console.print(table)


def _print_plan(console: Console, engine: Engine, s: Statement) -> None:
    with engine.connect() as c:
        plan = c.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {s.sql}", s.params).scalars()
        console.print(
            f"[bold]Plan of the costliest statement's slowest run ({s.seconds * 1000:,.1f} ms):[/]"
        )
        lines = (line if len(line) <= 300 else f"{line[:300]}..." for line in plan)
        console.print("\n".join(lines), markup=False, highlight=False)


def _print_profile(console: Console, engine: Engine, q: Query, top: int, timeout: float) -> None:
    """The project's functions by cumulative time; a run stopped by the alarm shows where it was
    spending its time until then."""
    profiler, stopped = cProfile.Profile(), ""
    try:
        with alarm(timeout):
            profiler.runcall(q.run)
    except QueryTimeout:
        engine.dispose()
        stopped = f", stopped after {timeout:g} s"
    stats = pstats.Stats(profiler)
    rows = [
        (ct, nc, f"{Path(file).parent.name}/{Path(file).name}:{line} {fn}")
        for (file, line, fn), (_, nc, _, ct, _) in stats.stats.items()  # type: ignore[attr-defined]
        if file.startswith(PROJECT)
    ]
    table = Table(title=f"Slowest functions (cumulative, under cProfile{stopped}): {q.name}")
    for column in ("cumulative s", "calls", "function"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for ct, nc, where in sorted(rows, reverse=True)[: top * 3]:
        table.add_row(f"{ct:,.3f}", f"{nc:,}", where)
    console.print(table)


# --------------------------------------------------------------------------- the command


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        if args.command == "load":
            return _load_command(args, console)
        url = schema_url(args.url, args.schema)
        _migrate(url, console)
        if args.command == "time":
            return _time_command(args, url, console)
        explain(url, args.top, args.plans, args.profile, args.timeout, console, args.only)
        return 0
    except BenchError as error:
        console.print(f"[red]error:[/] {error}")
        return 1


def _code_version() -> dict[str, Any]:
    """The commit of the checkout the benchmark runs in, and where the measured code was."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    return {
        "commit": head.stdout.strip() or None,
        "dirty": bool(status.stdout.strip()),
        "bot": str(Path(bot.__file__).parent),
    }


def _migrate(url: str, console: Console) -> None:
    """Bring a schema loaded by an older version to the newest revision, as the App does when
    it starts (a migration may fill new columns in: that is not part of the timings)."""
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        if before is None:
            raise BenchError("the schema is empty: run `bench/scale.py load` first")
        after = migrate(engine)
    finally:
        engine.dispose()
    if after != before:
        console.print(f"Migrated the schema from revision {before} to {after}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"PostgreSQL server (default ${URL_ENV}, else {DEFAULT_URL})",
    )
    parser.add_argument("--schema", default=SCHEMA)
    commands = parser.add_subparsers(dest="command", required=True)
    loading = commands.add_parser("load", help="generate and store the history")
    loading.add_argument("--prs", type=int, default=100_000)
    loading.add_argument("--repos", type=int, default=50)
    loading.add_argument("--seed", type=int, default=SEED)
    loading.add_argument("--fresh", action="store_true", help="drop the schema first")
    timing = commands.add_parser("time", help="time the digest, the dashboard and the API")
    timing.add_argument("--runs", type=int, default=5)
    timing.add_argument(
        "--timeout", type=float, default=120.0, help="give up on a query after this many seconds"
    )
    timing.add_argument(
        "--slow",
        type=float,
        default=10.0,
        help="one timed run only when the warm-up took longer than this",
    )
    timing.add_argument("--only", help="only the queries whose name contains this")
    timing.add_argument("--json", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    explaining = commands.add_parser("explain", help="the slowest SQL statements of each query")
    explaining.add_argument("--top", type=int, default=5)
    explaining.add_argument("--only", help="only the queries whose name contains this")
    explaining.add_argument(
        "--plans",
        action="store_true",
        help="EXPLAIN (ANALYZE, BUFFERS) the slowest statement of each query",
    )
    explaining.add_argument(
        "--profile", action="store_true", help="also run each query under cProfile"
    )
    explaining.add_argument("--timeout", type=float, default=120.0)
    return parser


def _load_command(args: argparse.Namespace, console: Console) -> int:
    url = prepare_schema(args.url, args.schema, args.fresh)
    start = time.perf_counter()
    loaded = load(url, args.prs, args.repos, args.seed, console)
    took = time.perf_counter() - start
    engine = make_engine(url)
    try:
        console.print(sizes_table(table_sizes(engine), database_size(engine)))
    finally:
        engine.dispose()
    parts = ", ".join(f"{k} {v:,.1f} s" for k, v in loaded.seconds.items())
    console.print(
        f"Loaded {loaded.pull_requests:,} pull requests ({loaded.agent_pull_requests:,}"
        f" with agent work), {loaded.commits:,} commits, {loaded.events:,} events and "
        f"{loaded.tasks:,} tasks in {took:,.1f} s ({parts}, the rest migrating and "
        f"vacuuming): {loaded.commits / took:,.0f} commits/s"
    )
    return 0


def _time_command(args: argparse.Namespace, url: str, console: Console) -> int:
    engine = make_engine(url)
    try:
        sizes = table_sizes(engine)
        total = database_size(engine)
        with engine.connect() as c:
            version = c.exec_driver_sql("SHOW server_version").scalar_one()
    finally:
        engine.dispose()
    console.print(sizes_table(sizes, total))
    timings = time_queries(url, args.runs, args.timeout, args.slow, console, args.only)
    console.print(timing_table(timings))
    if args.json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "code": _code_version(),
                    "machine": {
                        "cores": os.cpu_count(),
                        "python": platform.python_version(),
                        "postgresql": version,
                    },
                    "rows": {name: rows for name, rows, _ in sizes},
                    "bytes": {name: size for name, _, size in sizes}
                    | {"schema": sum(s for _, _, s in sizes), "database": total},
                    "target_ms": TARGET_MS,
                    "timings": [
                        asdict(t)
                        | {"median_ms": t.median_ms, "max_ms": t.max_ms, "passed": t.passed}
                        for t in timings
                    ],
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
        console.print(f"Wrote {RESULTS.relative_to(ROOT)}")
    return 0 if all(t.passed for t in timings[1:]) else 2


if __name__ == "__main__":
    sys.exit(main())
