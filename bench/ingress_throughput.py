"""Webhook ingress throughput and acknowledgement latency against a bare Flask endpoint, in one run.

    .venv/bin/python bench/ingress_throughput.py [--requests 5000] [--duration 20]
        [--concurrency 16] [--databases sqlite,postgresql] [--servers gunicorn,werkzeug]
        [--workers 1] [--drain-timeout 20] [--no-workers] [--rounds 3] [--postgres URL]

Signed deliveries with GitHub's real payload shapes (tests/payloads.py: stories of eight
deliveries per agent pull request, push, opened, failing check run, push, synchronize, passing
check run, approval, merge, 32 pull requests in flight over 8 repositories; 7 to 30 kB each,
HMAC-SHA256 signed) go over loopback from a load generator in its own process (asyncio,
``--concurrency`` keep-alive connections, closed loop: a connection sends its next request when
the previous answer is in) to, for each server configuration,

  bare  a Flask app whose webhook view reads the body and answers 202 (the floor)
  ours  ``webhooks.create_app()``: verify, store in the inbox, then answer 202

under the same server configuration:

  gunicorn  ``gunicorn -k gthread -w 2 --threads 8`` (2 processes x 8 threads for 2 cores),
            ours with ``--workers`` ``yield-auditor worker`` processes (poll 1 s) running
  werkzeug  the embedded ``yield-auditor serve`` (werkzeug ``make_server(threaded=True)`` plus
            its worker thread); bare under the same ``make_server(threaded=True)``

on each database (a SQLite file; PostgreSQL in a fresh schema, dropped afterwards). Each
measurement sends --warmup requests first, then --requests timed ones or as many as fit in
--duration seconds, whichever comes first; a fresh server per app.

Each configuration is measured in --rounds rounds, bare then ours, alternately (bare, ours,
bare, ours, ...), each with fresh servers and ours on a new SQLite file or schema, so every
round starts from an empty inbox: on 2 cores the bare figure alone varies by up to 2x between
identical runs (gunicorn gthread's scheduling), so one pair gives a noisy ratio.

Reports, per configuration, the median throughput over the rounds, ours as a share of bare
(the median of the per-round ratios, target >= 50%, and with several rounds their range),
p50/p99 acknowledgement latency over the timed requests of all rounds pooled (target p99 <
50 ms), that every 202 is a stored row (same GUIDs, every round), the median CPU used by the
web server, the workers, the load generator and the whole machine during the timed requests,
and, with the workers running during the load (in every round, so that every round of ours
measures the same thing), acknowledgement to processed (``finished_at - received_at`` of the
timed deliveries) and how long the queue took to drain after the load, for the last round only
(the earlier ones stop their workers when the load ends). When the queue has not drained after
--drain-timeout seconds, percentiles that reach the unfinished deliveries are lower bounds
(shown as ">=") and the drain time is projected from the workers' rate after the load. With
--no-workers, ours runs without any worker (gunicorn: no worker process; werkzeug:
``create_app`` under ``make_server(threaded=True)``, no worker thread): the ingress alone.
--rounds 1 measures each app once, as before rounds existed. About 8 minutes with the defaults
(3.5 with --rounds 1); PostgreSQL is left out, with a note, when its server cannot be reached.

With ``--github-delay SECONDS`` (e.g. 15) it measures instead what GitHub's slowness does to the
acknowledgements: ``serve`` (web server and worker thread in one process) on each database, with
the App configured against the project's fake GitHub
(bot/demo/fake_github/server.py), which answers every
listing of a pull request's comments that many seconds late. Three pull requests are opened, and
once the worker's first comment call is waiting on GitHub, --slow-requests deliveries are sent
one after another and ``inbox list`` is run; p50/p99/max of their acknowledgements are reported,
next to the same run with GitHub answering at once (delay 0, the baseline of the same run: a
ratio, since absolute figures on a shared machine are noisy), and whether the slow call was still
unanswered when the last acknowledgement came (the measurement overlapped it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-webhook-secret"
PATH = "/api/github/webhooks"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
REPOS = [f"octo-org/service-{n}" for n in range(8)]
WINDOW = 32  # pull requests in flight at once: their stories interleave like real traffic
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GUNICORN = "gunicorn"
WERKZEUG = "werkzeug"
TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- servers


def bare_app():
    """The floor: a Flask view that reads the body and answers 202, nothing else."""
    from flask import Flask, request

    app = Flask("bare")

    @app.post(PATH)
    def receive():
        request.get_data(cache=False)
        return "", 202

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}, 200

    return app


def serve_threaded(port: int, which: str) -> None:
    """``which`` app under werkzeug ``make_server(threaded=True)``, as ``serve`` runs it."""
    import threading

    from werkzeug.serving import make_server

    if which == "bare":
        app = bare_app()
    else:
        from webhooks import create_app

        app = create_app()
    server = make_server("127.0.0.1", port, app, threaded=True)

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


# --------------------------------------------------------------------------- deliveries


def build_deliveries(count: int) -> list[tuple[str, bytes, str]]:
    """``count`` (event, body, signature): pull request stories, ``WINDOW`` interleaved."""
    sys.path.insert(0, str(ROOT))
    from tests import payloads as p

    out: list[tuple[str, bytes, str]] = []
    number = 0
    while len(out) < count:
        stories = []
        for _ in range(WINDOW):
            number += 1
            stories.append(
                p.pull_request_story(
                    REPOS[number % len(REPOS)], number, T0 + timedelta(seconds=number)
                )
            )
        for step in range(len(stories[0])):
            for steps in stories:
                event, payload = steps[step]
                body = json.dumps(payload).encode()
                out.append((event, body, p.sign(body, SECRET)))
    return out[:count]


# --------------------------------------------------------------------------- CPU accounting


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes (with their children), and the
    machine's busy seconds (all cores, everything running on it) under ``"machine"``."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    out = {}
    for name, roots in groups.items():
        members, frontier = set(roots), list(roots)
        while frontier:
            pid = frontier.pop()
            children = [c for c, parent in parents.items() if parent == pid]
            members.update(children)
            frontier.extend(children)
        out[name] = sum(ticks.get(pid, 0) for pid in members) / TICKS
    with open("/proc/stat") as handle:
        jiffies = [int(v) for v in handle.readline().split()[1:]]
    out["machine"] = (sum(jiffies[:8]) - jiffies[3] - jiffies[4]) / TICKS
    return out


# --------------------------------------------------------------------------- load generator


class Connection:
    """One keep-alive HTTP/1.1 connection with just enough of a client to send webhooks.

    Hand-written rather than httpx: on 2 cores the generator shares the CPU with the servers,
    and httpx costs several times more CPU per request, which would cap the bare baseline and
    flatter our share of it.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def request(self, head: bytes, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.connects += 1
        assert self.reader is not None
        self.writer.writelines((head, body))
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close, chunked = 0, status_line.startswith(b"HTTP/1.0"), False
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value == b"close" or (close and value != b"keep-alive")
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
        if chunked:
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_head(host: str, port: int, event: str, guid: str, length: int, signature: str):
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        f"X-GitHub-Event: {event}\r\nX-GitHub-Delivery: {guid}\r\n"
        f"X-GitHub-Hook-ID: 1\r\nX-Hub-Signature-256: {signature}\r\n\r\n"
    ).encode()


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Send warm-up then timed requests over ``concurrency`` connections; time each one."""
    with open(spec["deliveries"], "rb") as handle:
        deliveries = pickle.load(handle)
    host, port, prefix = spec["host"], spec["port"], spec["prefix"]
    warmup, total = spec["warmup"], spec["warmup"] + spec["requests"]
    connections = [Connection(host, port) for _ in range(spec["concurrency"])]
    statuses = [0] * total
    latencies = [0.0] * total
    next_index = 0

    async def drive(connection: Connection, stop: int, deadline: float) -> None:
        nonlocal next_index
        while next_index < stop and time.perf_counter() < deadline:
            i = next_index
            next_index += 1
            event, body, signature = deliveries[i % len(deliveries)]
            head = request_head(host, port, event, f"{prefix}-{i}", len(body), signature)
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(connection.request(head, body), 10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                connection.close()
                status = 0
            latencies[i] = time.perf_counter() - started
            statuses[i] = status

    await asyncio.gather(*(drive(c, warmup, float("inf")) for c in connections))
    groups = {name: pids for name, pids in spec["pids"].items() if pids}
    cpu_before, own_before = cpu_snapshot(groups), resource.getrusage(resource.RUSAGE_SELF)
    started_at, started = time.time(), time.perf_counter()
    deadline = started + spec["duration"]
    await asyncio.gather(*(drive(c, total, deadline) for c in connections))
    elapsed = time.perf_counter() - started
    total = next_index  # every request handed out has its answer
    cpu_after, own_after = cpu_snapshot(groups), resource.getrusage(resource.RUSAGE_SELF)
    for connection in connections:
        connection.close()
    cpu = {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_after}
    own = own_after.ru_utime + own_after.ru_stime - own_before.ru_utime - own_before.ru_stime
    cpu["client"] = own / elapsed
    return {
        "elapsed": elapsed,
        "started_at": started_at,
        "ended_at": started_at + elapsed,
        "latencies": latencies[warmup:total],
        "statuses": statuses[warmup:total],
        "acknowledged": [f"{prefix}-{i}" for i in range(total) if statuses[i] == 202],
        "timed_guids": [f"{prefix}-{i}" for i in range(warmup, total)],
        "connects": sum(c.connects for c in connections),
        "cpu": cpu,
    }


def run_generator(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The load generator in its own process; its results come back through ``out``."""
    subprocess.run([sys.executable, __file__, "--generate", json.dumps(spec), str(out)],
                   check=True)  # fmt: skip
    return json.loads(out.read_text())


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
               GITHUB_WEBHOOK_SECRET=SECRET)  # fmt: skip
    if url is not None:
        env["DATABASE_URL"] = url
    return env


def start(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as handle:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_until_up(port: int, processes: list[subprocess.Popen], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise SystemExit(f"a server exited early; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not come up; see {log}")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gunicorn(port: int, app: str, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(args.gunicorn_workers),
            "--threads", str(args.gunicorn_threads), "-b", f"127.0.0.1:{port}", app]  # fmt: skip


# --------------------------------------------------------------------------- databases


@dataclass
class Database:
    name: str
    url: str
    dispose: Any = None


def sqlite_database(tmp: Path, label: str) -> Database:
    return Database("sqlite", f"sqlite:///{tmp / f'{label}.db'}")


def postgresql_database(base: str) -> Database:
    """A fresh schema on ``base``'s server (dropped by ``dispose``), as tests/conftest.py does."""
    import sqlalchemy as sa

    url = sa.make_url(base)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url, poolclass=sa.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def dispose() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return Database("postgresql", scoped.render_as_string(hide_password=False), dispose)


def unreachable(base: str) -> str | None:
    """Why the PostgreSQL server at ``base`` cannot be used, or None; the password is hidden."""
    import sqlalchemy as sa

    from bot.ledger.db import display_url, make_engine, redact

    engine = make_engine(base, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError as exc:
        first = (str(getattr(exc, "orig", exc)).strip().splitlines() or [""])[0]
        return f"{display_url(base)}: {redact(first, base)}"
    finally:
        engine.dispose()
    return None


# --------------------------------------------------------------------------- measurements


@dataclass
class Result:
    server: str
    database: str
    app: str
    elapsed: float
    latencies: list[float]
    statuses: dict[int, int]
    cpu: dict[str, float]
    acknowledged: int
    stored: int | None = None  # 202s found in the deliveries table (ours)
    rows: int | None = None  # rows in the deliveries table (ours)
    processing: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the generator's output

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, q: float) -> float:
        return nearest_rank(sorted(self.latencies), q) * 1000


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Rounds:
    """One app under one configuration over all rounds, read like one ``Result``: median rate
    and CPU (a round's figure swings with the scheduling), latencies pooled, counts summed."""

    runs: list[Result]

    @property
    def server(self) -> str:
        return self.runs[0].server

    @property
    def database(self) -> str:
        return self.runs[0].database

    @property
    def app(self) -> str:
        return self.runs[0].app

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @cached_property
    def latencies(self) -> list[float]:
        return sorted(latency for r in self.runs for latency in r.latencies)

    def percentile(self, q: float) -> float:
        return nearest_rank(self.latencies, q) * 1000

    @property
    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for r in self.runs:
            for status, n in r.statuses.items():
                counts[status] = counts.get(status, 0) + n
        return counts

    @property
    def cpu(self) -> dict[str, float]:
        names = {name for r in self.runs for name in r.cpu}
        return {n: statistics.median(r.cpu[n] for r in self.runs if n in r.cpu) for n in names}

    @property
    def acknowledged(self) -> int:
        return sum(r.acknowledged for r in self.runs)

    @property
    def stored(self) -> int | None:
        return None if self.runs[0].stored is None else sum(r.stored or 0 for r in self.runs)

    @property
    def rows(self) -> int | None:
        return None if self.runs[0].rows is None else sum(r.rows or 0 for r in self.runs)

    @property
    def processing(self) -> dict[str, Any] | None:
        """Only the last round waits for the drain (see ``run_ours``)."""
        return self.runs[-1].processing


def shares(bare: Rounds, ours: Rounds) -> list[float]:
    """Per-round ours / bare: each round's pair ran back to back, so shares the machine's mood."""
    return [o.rate / b.rate for b, o in zip(bare.runs, ours.runs, strict=True)]


def measure(app: str, server: str, db: Database, port: int, pids: dict, ctx: dict) -> Result:
    args = ctx["args"]
    prefix = f"{server}-{db.name}-{app}-{ctx['round']}"
    spec = {"host": "127.0.0.1", "port": port, "prefix": prefix, "warmup": args.warmup,
            "requests": args.requests, "duration": args.duration,
            "concurrency": args.concurrency,
            "deliveries": str(ctx["deliveries"]), "pids": pids}  # fmt: skip
    raw = run_generator(spec, ctx["tmp"] / f"{prefix}.json")
    counts: dict[int, int] = {}
    for status in raw["statuses"]:
        counts[status] = counts.get(status, 0) + 1
    return Result(server, db.name, app, raw["elapsed"], raw["latencies"], counts, raw["cpu"],
                  len(raw["acknowledged"]), raw=raw)  # fmt: skip


def run_bare(server: str, db: Database, ctx: dict[str, Any]) -> Result:
    port, log = free_port(), ctx["tmp"] / f"bare-{server}.log"
    if server == GUNICORN:
        cmd = gunicorn(port, "ingress_throughput:bare_app()", ctx["args"])
    else:
        cmd = [sys.executable, __file__, "--serve-threaded", str(port), "bare"]
    processes = [start(cmd, ctx["tmp"], environment(), log)]
    try:
        wait_until_up(port, processes, log)
        return measure("bare", server, db, port, {"web": [processes[0].pid]}, ctx)
    finally:
        stop(processes)


def run_ours(server: str, db: Database, ctx: dict[str, Any]) -> Result:
    args, tmp = ctx["args"], ctx["tmp"]
    port, log = free_port(), tmp / f"ours-{server}-{db.name}.log"
    env = environment(db.url)
    bot = [sys.executable, "-m", "bot"]
    subprocess.run([*bot, "migrate"], cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL)
    if server == GUNICORN:
        web = start(gunicorn(port, "webhooks:create_app()", args), tmp, env, log)
        worker = [*bot, "worker", "--poll", str(args.worker_poll)]
        workers = [start(worker, tmp, env, log) for _ in range(args.workers * ctx["with_workers"])]
    else:
        if ctx["with_workers"]:
            web = start([*bot, "serve", "--port", str(port)], tmp, env, log)
        else:
            web = start([sys.executable, __file__, "--serve-threaded", str(port), "ours"], tmp,
                        env, log)  # fmt: skip
        workers = []
    try:
        wait_until_up(port, [web, *workers], log)
        pids = {"web": [web.pid], "workers": [w.pid for w in workers]}
        measured = measure("ours", server, db, port, pids, ctx)
        if ctx["with_workers"] and ctx["round"] == args.rounds:  # the workers ran all rounds
            measured.processing = wait_for_drain(db.url, measured.raw, args.drain_timeout)
    finally:
        stop([web, *workers])
    stored = stored_guids(db.url)
    measured.rows = len(stored)
    measured.stored = len(set(measured.raw["acknowledged"]) & stored)
    return measured


def wait_for_drain(url: str, raw: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Wait for an empty queue (at most ``timeout`` s after the load), then read the timings."""
    import sqlalchemy as sa

    from bot.ledger import inbox
    from bot.ledger.db import make_engine

    engine = make_engine(url)
    d = inbox.deliveries
    pending = sa.select(sa.func.count()).where(d.c.status.in_((inbox.RECEIVED, inbox.PROCESSING)))
    try:
        with engine.connect() as connection:
            depth_at_end = connection.execute(pending).scalar()
        while True:
            with engine.connect() as connection:
                depth = connection.execute(pending).scalar()
            checked_at = time.time()
            if depth == 0 or checked_at - raw["ended_at"] > timeout:
                break
            time.sleep(0.05)
        rows = sa.select(d.c.guid, d.c.status, d.c.received_at, d.c.finished_at)
        with engine.connect() as connection:
            found = list(connection.execute(rows))
    finally:
        engine.dispose()
    timed = set(raw["timed_guids"])
    finished = [r for r in found if r.finished_at is not None]
    start, end = raw["started_at"], raw["ended_at"]
    during = sum(start <= r.finished_at.timestamp() <= end for r in finished)
    after = sum(r.finished_at.timestamp() > end for r in finished)
    waits = []  # (seconds, censored): an unfinished delivery has waited at least this long
    for r in found:
        if r.guid in timed:
            done = r.finished_at is not None
            until = r.finished_at.timestamp() if done else checked_at
            waits.append((until - r.received_at.timestamp(), not done))
    waits.sort()
    after_rate = after / max(checked_at - end, 1e-9)
    return {
        "depth_at_end": depth_at_end,
        "depth": depth,
        "drain": checked_at - end if depth == 0 else None,
        "projected": (checked_at - end) + depth / after_rate if depth and after_rate else None,
        "during": during / raw["elapsed"],
        "after": after_rate,
        "p50": censored_percentile(waits, 0.5),
        "p99": censored_percentile(waits, 0.99),
        "failed": sum(r.status == inbox.FAILED for r in found),
    }


def censored_percentile(waits: list[tuple[float, bool]], q: float) -> tuple[float, bool] | None:
    """The q-quantile of waits sorted by value; a lower bound when any unfinished delivery's
    wait-so-far is at or below it (its real wait could fall anywhere above)."""
    if not waits:
        return None
    index = min(len(waits) - 1, int(q * len(waits)))
    return waits[index][0], any(censored for _, censored in waits[: index + 1])


def stored_guids(url: str) -> set[str]:
    import sqlalchemy as sa

    from bot.ledger import inbox
    from bot.ledger.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(sa.select(inbox.deliveries.c.guid)).scalars())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- report


def report(configs: list[tuple[Rounds, Rounds]], args: argparse.Namespace,
           ctx: dict[str, Any]) -> None:  # fmt: skip
    from rich.console import Console
    from rich.table import Table

    rounds = args.rounds > 1  # one more column: the per-round shares' range
    console = Console(width=max(Console().width, 175 if rounds else 150))
    title = (f"Webhook acknowledgement: signed deliveries at concurrency {args.concurrency} on "
             f"loopback, {args.requests:,} or {args.duration:.0f} s, whichever comes first"
             + (f", {args.rounds} rounds (medians; requests and latencies pooled)" if rounds
                else "")
             + ("" if ctx["with_workers"] else ", no workers running"))  # fmt: skip
    table = Table(title=title)
    columns = ("server", "database", "app", "requests", "req/s", "share of bare",
               *(("share min-max",) if rounds else ()), "p50 ms", "p99 ms", "p99 / bare",
               "not 202", "202s stored", "CPU web/wk/gen/all")  # fmt: skip
    for name in columns:
        left = name in ("server", "database", "app")
        table.add_column(name, justify="left" if left else "right")
    for base, r in ((b, r) for b, o in configs for r in (b, o)):
        ratios = shares(base, r)
        share, p99 = statistics.median(ratios), r.percentile(0.99)
        ours = r.app == "ours"
        spread = f"{min(ratios):.0%}-{max(ratios):.0%}" if ours else ""
        table.add_row(
            r.server, r.database, r.app, f"{len(r.latencies):,}", f"{r.rate:,.0f}",
            f"{share:.0%}" + ((" ok" if share >= 0.5 else " [red]< 50%[/]") if ours else ""),
            *((spread,) if rounds else ()), f"{r.percentile(0.5):.1f}",
            f"{p99:.1f}" + ((" ok" if p99 < 50 else " [red]> 50[/]") if ours else ""),
            f"{p99 / base.percentile(0.99):.2f}",
            f"{sum(n for status, n in r.statuses.items() if status != 202):,}",
            "" if r.stored is None else stored_cell(r),
            "/".join("-" if name not in r.cpu else f"{r.cpu[name]:.2f}"
                     for name in ("web", "workers", "client", "machine")),
        )  # fmt: skip
    console.print(table)
    processed = [o for _, o in configs if o.processing is not None]
    if processed:
        table = Table(title="Acknowledged to processed (finished_at - received_at) at that load"
                      + (" (last round)" if rounds else ""))  # fmt: skip
        for name in ("server", "database", "workers", "stored/s", "processed/s during",
                     "after", "queue at end", "p50 s", "p99 s", "drain after load s"):  # fmt: skip
            table.add_column(name, justify="left" if name in ("server", "database") else "right")
        for r in processed:
            pr = r.processing
            assert pr is not None
            workers = (f"{args.workers} process" + "es" * (args.workers > 1)
                       if r.server == GUNICORN else "thread in serve")  # fmt: skip
            if pr["drain"] is not None:
                drain = f"{pr['drain']:.1f}"
            elif pr["projected"] is not None:
                drain = f"~{pr['projected']:.0f} [red](projected; {pr['depth']:,} left)[/]"
            else:
                drain = f"[red]> {args.drain_timeout:.0f} ({pr['depth']:,} left)[/]"
            table.add_row(
                r.server, r.database, workers, f"{r.runs[-1].rate:,.0f}", f"{pr['during']:,.1f}",
                f"{pr['after']:,.1f}", f"{pr['depth_at_end']:,}", bound(pr["p50"]),
                bound(pr["p99"]), drain + (f" [red]{pr['failed']} failed[/]" if pr["failed"]
                                           else ""),
            )  # fmt: skip
        console.print(table)
    console.print(
        f"gunicorn -k gthread -w {args.gunicorn_workers} --threads {args.gunicorn_threads}; "
        f"`yield-auditor worker --poll {args.worker_poll}` x {args.workers}; {args.warmup} "
        f"warm-up requests; CPU in cores (of {os.cpu_count()}) during the timed requests; "
        f"Python {platform.python_version()}; load average "
        + ", ".join(f"{label} {a:.2f} {b:.2f} {c:.2f}" for label, (a, b, c) in ctx["loads"])
    )


def stored_cell(r: Rounds) -> str:
    """202s found in the table / 202s sent; rows beyond them were stored but not acknowledged."""
    assert r.stored is not None and r.rows is not None
    extra = r.rows - r.stored
    cell = f"{r.stored:,}/{r.acknowledged:,}" + (f" +{extra:,} unacked" if extra else "")
    return cell if r.stored == r.acknowledged else f"[red]{cell}[/]"


def bound(value: tuple[float, bool] | None) -> str:
    if value is None:
        return "-"
    return (">= " if value[1] else "") + f"{value[0]:.2f}"


# --------------------------------------------------------------------------- main


def main(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="ya-ingress-bench-"))
    ctx: dict[str, Any] = {"args": args, "tmp": tmp, "with_workers": not args.no_workers,
                           "loads": [("at start", os.getloadavg())]}  # fmt: skip
    ctx["deliveries"] = tmp / "deliveries.pickle"
    ctx["deliveries"].write_bytes(pickle.dumps(build_deliveries(args.warmup + args.requests)))
    if "postgresql" in args.databases and (error := unreachable(args.postgres)):
        print(f"PostgreSQL left out: {error}", file=sys.stderr)
        args.databases.remove("postgresql")
    configs: list[tuple[Rounds, Rounds]] = []
    try:
        for name in args.databases:
            for server in args.servers:
                bare, ours = Rounds([]), Rounds([])
                for n in range(1, args.rounds + 1):
                    ctx["round"] = n
                    run_round(name, server, ctx, bare, ours)
                configs.append((bare, ours))
    finally:
        for path in tmp.iterdir():  # keep the servers' logs only
            if path.suffix != ".log":
                path.unlink()
    ctx["loads"].append(("at end", os.getloadavg()))
    report(configs, args, ctx)
    print(f"server logs: {tmp}", file=sys.stderr)
    return 1 if any(r.stored != r.acknowledged for _, o in configs for r in o.runs) else 0


def run_round(name: str, server: str, ctx: dict[str, Any], bare: Rounds, ours: Rounds) -> None:
    """Bare then ours, back to back so their ratio sees the same machine; ours on a new
    database so every round starts from an empty inbox."""
    args, tmp, n = ctx["args"], ctx["tmp"], ctx["round"]
    if name == "sqlite":
        db = sqlite_database(tmp, f"{server}-{n}")
    else:
        db = postgresql_database(args.postgres)
    rounds = f"round {n}/{args.rounds}: " if args.rounds > 1 else ""
    print(f"{server} / {name}: {rounds}bare, then ours ...", file=sys.stderr, flush=True)
    try:
        bare.runs.append(run_bare(server, db, ctx))
        ours.runs.append(run_ours(server, db, ctx))
    finally:
        if db.dispose is not None:
            db.dispose()


# --------------------------------------------------------------------------- slow GitHub


SLOW_CALL = "/repos/*/issues/*/comments"  # the cost comment's listing, the worker's first call


@dataclass
class SlowRun:
    database: str
    delay: float
    latencies: list[float]
    inbox_list: float  # seconds ``inbox list`` took
    overlapped: bool  # the slow call was still unanswered after the last acknowledgement


def run_slow_github(args: argparse.Namespace) -> int:
    """Acknowledgement latency of ``serve`` while its worker waits on a slow GitHub."""
    tmp = Path(tempfile.mkdtemp(prefix="ya-slow-github-"))
    deliveries = build_deliveries(args.slow_requests)
    if "postgresql" in args.databases and (error := unreachable(args.postgres)):
        print(f"PostgreSQL left out: {error}", file=sys.stderr)
        args.databases.remove("postgresql")
    runs = []
    for name in args.databases:
        for delay in (0.0, args.github_delay):
            db = sqlite_database(tmp, f"slow-{delay:g}") if name == "sqlite" else (
                postgresql_database(args.postgres))  # fmt: skip
            print(f"serve / {name}: GitHub {delay:g} s late ...", file=sys.stderr, flush=True)
            try:
                runs.append(slow_round(db, delay, deliveries, tmp))
            finally:
                if db.dispose is not None:
                    db.dispose()
    print(
        f"\nserve (embedded worker), {args.slow_requests} deliveries sent one at a time while "
        "the worker waits on GitHub's comment listing; ms, load-sensitive: compare the ratio"
    )
    print(f"{'database':<11}{'GitHub late':>12}{'p50':>9}{'p99':>9}{'max':>9}{'p99 / base':>12}"
          f"{'inbox list':>12}{'overlap':>9}")  # fmt: skip
    for run in runs:
        base = next(r for r in runs if r.database == run.database and r.delay == 0)
        p99, base_p99 = (nearest_rank(sorted(r.latencies), 0.99) for r in (run, base))
        ordered, overlap = sorted(run.latencies), "yes" if run.overlapped else "no"
        print(f"{run.database:<11}{run.delay:>11g}s{nearest_rank(ordered, 0.5) * 1000:>9.1f}"
              f"{p99 * 1000:>9.1f}{ordered[-1] * 1000:>9.1f}{p99 / base_p99:>11.1f}x"
              f"{run.inbox_list * 1000:>10.0f}ms{overlap:>9}")  # fmt: skip
    print(f"server logs: {tmp}", file=sys.stderr)
    return 0 if all(r.overlapped for r in runs if r.delay) else 1


def slow_round(db: Database, delay: float, deliveries: list, tmp: Path) -> SlowRun:
    """One ``serve`` on ``db`` against a fake GitHub ``delay`` seconds late on comments."""
    import httpx

    from bot.demo.fake_github.server import FakeGitHub
    from bot.demo.story import HAIKU, Story, added, agent_message

    with FakeGitHub(app_id=4242) as fake:
        port, log = free_port(), tmp / f"slow-{db.name}-{delay:g}.log"
        env = {**environment(db.url), "GITHUB_APP_ID": str(fake.app_id),
               "GITHUB_APP_PRIVATE_KEY": fake.private_key, "GITHUB_API_URL": fake.url}  # fmt: skip
        server = start([sys.executable, "-m", "bot", "serve", "--port", str(port)], tmp, env, log)
        try:
            wait_until_up(port, [server], log)
            if delay:
                fake.fail("GET", SLOW_CALL, "delay", seconds=delay, times=100)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                story = Story(fake, lambda event, payload: _post(client, event, payload))
                story.setup()
                for number in (1, 2, 3):
                    text = agent_message(f"Change {number}", f"T-{number}", "perf", number,
                                         "economy", HAIKU, 9000, 900)  # fmt: skip
                    story.push(f"b{number}", text, [added(f"f{number}.py", 5)])
                    story.open(number, f"b{number}", f"Change {number}")
                while not fake.calls("GET", SLOW_CALL):
                    time.sleep(0.01)
                latencies = [_timed(client, *delivery) for delivery in deliveries]
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bot", "inbox", "list", "--limit", "5"],
                           env=env, cwd=tmp, check=True, capture_output=True)  # fmt: skip
            listing = time.perf_counter() - began
            overlapped = fake.calls("GET", SLOW_CALL)[0].status == 0
            with fake.state.lock:
                fake.state.faults.clear()
        finally:
            stop([server])
    return SlowRun(db.name, delay, latencies, listing, overlapped)


def _post(client: Any, event: str, payload: dict[str, Any]) -> None:
    from tests import payloads as p

    body = json.dumps(payload).encode()
    _timed(client, event, body, p.sign(body, SECRET))


def _timed(client: Any, event: str, body: bytes, signature: str) -> float:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": signature, "Content-Type": "application/json"}  # fmt: skip
    began = time.perf_counter()
    response = client.post(PATH, content=body, headers=headers)
    if response.status_code != 202:
        raise SystemExit(f"the ingress answered {response.status_code}: {response.text[:200]}")
    return time.perf_counter() - began


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per app")
    parser.add_argument("--duration", type=float, default=20, help="at most, seconds per app")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the timing")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--servers", default="gunicorn,werkzeug")
    postgres = os.environ.get("YIELD_AUDITOR_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    parser.add_argument("--postgres", default=postgres, help="server URL; a schema per run")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="worker processes with gunicorn")
    parser.add_argument("--worker-poll", type=float, default=1.0, help="their --poll, seconds")
    parser.add_argument("--drain-timeout", type=float, default=20, help="seconds after the load")
    parser.add_argument("--no-workers", action="store_true", help="the ingress alone")
    parser.add_argument("--rounds", type=int, default=3, help="bare, ours pairs per config")
    parser.add_argument("--github-delay", type=float, help="seconds: the slow-GitHub mode")
    parser.add_argument("--slow-requests", type=int, default=200, help="its deliveries")
    args = parser.parse_args(argv)
    args.databases = [d for d in args.databases.split(",") if d]
    args.servers = [s for s in args.servers.split(",") if s]
    if set(args.databases) - {"sqlite", "postgresql"} or set(args.servers) - {GUNICORN, WERKZEUG}:
        parser.error("--databases takes sqlite,postgresql and --servers gunicorn,werkzeug")
    if args.rounds < 1:
        parser.error("--rounds takes 1 or more")
    return args


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-threaded"]:
        serve_threaded(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:2] == ["--generate"]:
        results = asyncio.run(generate(json.loads(sys.argv[2])))
        Path(sys.argv[3]).write_text(json.dumps(results))
    else:
        parsed = parse(sys.argv[1:])
        sys.exit(run_slow_github(parsed) if parsed.github_delay else main(parsed))
