"""Usage-log reading throughput on a generated Claude Code transcript, against a plain JSON read.

    python bench/usage_log_throughput.py [--mb 208] [--files 40] [--repeat 3] [--keep DIR]
        [--against REV] [--ccusage PATH/TO/ccusage]

Builds a transcript of about ``--mb`` megabytes from Claude Code 2.1 lines (user prompts, tool
results with escaped file contents, streamed assistant entries repeating their request id and
usage, subagent results carrying a ``usage`` of their own, file-history snapshots), every
response with fresh ids, and the same lines split into ``--files`` session files. Then runs,
each in a fresh process, in ``--repeat`` rounds of every row (keeping the best of each):

  baseline  ``for line in file: json.loads(line)``, the same bytes (the "plain JSON-lines read")
  ours      ``read_usage_logs`` on the file, and on the directory of ``--files`` files
  stamp     ``yield-auditor stamp --dry-run --from-log FILE -``, the whole command
  --against ``read_usage_logs`` of the ``bot`` package at git revision REV (the reader's
            speed depends on ``bot.protocol`` too)
  --ccusage ``ccusage daily --json --offline`` on the same files (``CLAUDE_CONFIG_DIR``)

and prints wall and CPU seconds of the whole process (start-up included), MB per CPU second,
CPU time against the baseline's and peak RSS. CPU time is the figure to compare on a shared
machine: wall time there measures the other processes too.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SESSION = "6f1d2c1e-8c1b-4a53-9d5e-2f3c1a7b9e10"
MODELS = ("claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
CODE = (
    'def send(req):\n    """usage: send(req) -> Response"""\n'
    '    for attempt in range(5):\n        resp = session.post(req.url, json={"usage": True})\n'
    "        if resp.status_code != 529:\n            return resp\n        sleep(2 ** attempt)\n"
)


def _common(n: int, parent: str) -> dict:
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "entrypoint": "cli",
        "cwd": "/home/dev/shop",
        "sessionId": SESSION,
        "version": "2.1.126",
        "gitBranch": "main",
        "uuid": f"u-{n:08d}",
        "timestamp": f"2026-05-04T{10 + n // 360000 % 10:02}:{n // 6000 % 60:02}:"
        f"{n // 100 % 60:02}.{n % 1000:03}Z",
    }


def _usage(rng: random.Random, output: int) -> dict:
    write = rng.randrange(0, 4000)
    return {
        "input_tokens": rng.randrange(1, 50),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": rng.randrange(10_000, 260_000),
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": write, "ephemeral_5m_input_tokens": 0},
    }


def _response(rng: random.Random, n: int) -> list[dict]:
    """One streamed response: one entry per content block, each repeating the request id and
    the usage, the output count a placeholder (1) but in the last one, as Claude Code writes
    them."""
    model, message_id = rng.choice(MODELS), f"msg_{rng.getrandbits(96):024x}"
    blocks = [
        {"type": "thinking", "thinking": "Look at the client. " * rng.randrange(5, 60)},
        {"type": "text", "text": "The client gives up on the first 529. " * rng.randrange(1, 20)},
        {"type": "tool_use", "id": f"toolu_{n}", "name": "Edit", "input": {"new": CODE}},
    ][: rng.randrange(1, 4)]
    usage, request = _usage(rng, rng.randrange(20, 3000)), f"req_{rng.getrandbits(96):024x}"
    entries = []
    for i, block in enumerate(blocks):
        entry = _common(n + i, f"u-{n - 1:08d}")
        entry.update(
            message={
                "model": model,
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "content": [block],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": usage if i == len(blocks) - 1 else {**usage, "output_tokens": 1},
            },
            requestId=request,
            type="assistant",
        )
        entries.append(entry)
    return entries


def _tool_result(rng: random.Random, n: int) -> dict:
    entry = _common(n, f"u-{n - 1:08d}")
    content = CODE * rng.randrange(5, 60)
    entry.update(
        type="user",
        message={
            "role": "user",
            "content": [{"tool_use_id": f"toolu_{n}", "type": "tool_result", "content": content}],
        },
        toolUseResult={"type": "text", "file": {"filePath": "src/http/client.py"}},
    )
    if rng.random() < 0.05:  # a subagent's result: its own usage, which is not a response
        entry["toolUseResult"] = {"status": "completed", "usage": _usage(rng, 900)}
    return entry


def _snapshot(n: int) -> dict:
    return {
        "type": "file-history-snapshot",
        "messageId": f"snap-{n}",
        "snapshot": {"messageId": f"snap-{n}", "trackedFileBackups": {}, "timestamp": "t"},
        "isSnapshotUpdate": False,
    }


def build(path: Path, megabytes: int, seed: int = 15) -> int:
    """Write the transcript; returns its number of responses."""
    rng, n, size, responses = random.Random(seed), 0, 0, 0
    with path.open("w", encoding="utf-8") as out:
        while size < megabytes * 1_000_000:
            entries = _response(rng, n) + [_tool_result(rng, n + 3)]
            if rng.random() < 0.1:
                entries.append(_snapshot(n))
            text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
            out.write(text)
            size, n, responses = size + len(text), n + 4, responses + 1
    return responses


def split(path: Path, directory: Path, files: int) -> None:
    """The same lines as ``files`` session files of contiguous runs, streamed (this process's
    memory would otherwise count in the peak RSS of the processes it starts)."""
    directory.mkdir()
    with path.open("rb") as log:
        step = -(-sum(1 for _ in log) // files)
        log.seek(0)
        for i in range(files):
            with (directory / f"{i:08x}-0000-4000-8000-{i:012x}.jsonl").open("wb") as out:
                out.writelines(line for _, line in zip(range(step), log, strict=False))


PEAK = """
import atexit, resource, sys
def _peak():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, from fork)
    status = open("/proc/self/status").read()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print("peak-kb", status.split("VmHWM:")[1].split()[0], cpu.ru_utime + cpu.ru_stime,
          file=sys.stderr)
atexit.register(_peak)
"""
BASELINE = """
import json, sys
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line)
"""
OURS = """
import sys
from bot.local.usage_logs import read_usage_logs
read_usage_logs([sys.argv[1]])
"""

CLI = "import sys; from bot.cli.main import main; sys.argv[0] = 'yield-auditor'; main()"


def run(argv: list[str], stdin: bytes | None = None) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, stderr) of the process ``python -c
    PEAK+code``, start-up and imports included."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK + argv[0], *argv[1:]],
        cwd=ROOT,
        input=stdin or b"",
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - start
    errors = proc.stderr.decode()
    if proc.returncode or "peak-kb" not in errors:
        sys.exit(f"{argv[1:]} failed: {errors[-2000:]}")
    errors, _, stats = errors.rpartition("peak-kb ")
    peak, cpu = stats.split()
    return wall, float(cpu), int(peak) / 1024, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=208)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in DIR and keep it")
    parser.add_argument("--against", metavar="REV", help="also time the bot package of REV")
    parser.add_argument("--ccusage", type=Path, help="also time this ccusage executable")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="usage-log-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        log = work / f"{SESSION}.jsonl"
        if not log.exists():
            responses = build(log, args.mb)
            print(f"built {log.stat().st_size / 1e6:.0f} MB, {responses:,} responses")
        sessions = work / "sessions"
        if not sessions.exists():
            split(log, sessions, args.files)
        if args.against:
            old = work / "at_rev"
            shutil.rmtree(old, ignore_errors=True)
            old.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.against, "bot"], cwd=ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        for package in (ROOT / "bot", *([work / "at_rev" / "bot"] if args.against else [])):
            # Start-up as installed, from cached bytecode, even where PYTHONDONTWRITEBYTECODE
            # would have every run compile the modules changed since the last cache.
            compileall.compile_dir(package, quiet=1)
        extra = _extra_rows(work, log, sessions, args)
        measure(log, sessions, args.files, args.repeat, extra)
    finally:
        if args.keep is None:
            shutil.rmtree(work)


def _extra_rows(work: Path, log: Path, sessions: Path, args) -> list:
    """Rows for ``--against`` (our reader at another commit) and ``--ccusage``."""
    rows = []
    if args.against:
        at_rev = f"import sys; sys.path.insert(0, {str(work / 'at_rev')!r})\n" + OURS
        rows.append((f"ours at {args.against}, 1 file", [at_rev, str(log)], None))
        rows.append((f"ours at {args.against}, {args.files} files", [at_rev, str(sessions)], None))
    if args.ccusage:
        for name, files in (("1 file", [log]), (f"{args.files} files", sorted(sessions.iterdir()))):
            home = work / f"ccusage-{len(files)}"
            project = home / "projects" / "-home-dev-shop"
            if not project.exists():
                project.mkdir(parents=True)
                for file in files:
                    os.link(file, project / file.name)
            argv = [str(args.ccusage), "daily", "--json", "--offline"]
            rows.append((f"ccusage daily --offline, {name}", argv, home))
    return rows


def run_native(argv: list[str], home: Path) -> tuple[float, float, float, str]:
    """(wall, CPU, peak RSS in MB, stderr) of a program that is not Python, from ``wait4``: its
    peak RSS is at least this process's at the fork, which is small."""
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(home)}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"{argv} failed")
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu, usage.ru_maxrss / 1024, ""


def _run_row(argv: list[str], stdin: bytes | Path | None) -> tuple[float, float, float, str]:
    if isinstance(stdin, Path):  # ccusage, with its CLAUDE_CONFIG_DIR
        return run_native(argv, stdin)
    return run(argv, stdin)


def measure(log: Path, sessions: Path, files: int, repeat: int, extra: list) -> None:
    stamp = [CLI, "stamp", "--dry-run", "--from-log"]
    rows = [
        ("baseline: json.loads per line, 1 file", [BASELINE, str(log)], None),
        ("ours: read_usage_logs, 1 file", [OURS, str(log)], None),
        (f"ours: read_usage_logs, {files} files", [OURS, str(sessions)], None),
        ("stamp --dry-run --from-log, 1 file", [*stamp, str(log), "-"], b"fix: x\n"),
        (f"stamp --dry-run --from-log, {files} files", [*stamp, str(sessions), "-"], b"fix: x\n"),
        *extra,
    ]
    size = log.stat().st_size / 1e6
    print(f"{size:.0f} MB; best of {repeat} rounds of every row, each run a fresh process "
          "(start-up included)")  # fmt: skip
    print("| measurement | wall s | CPU s | MB/CPU s | CPU / baseline | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    # Rounds rather than one row's runs after the other's: the load of a shared machine changes
    # over a minute, and so it weighs on every row alike.
    runs = [[_run_row(argv, stdin) for _, argv, stdin in rows] for _ in range(repeat)]
    baseline = None
    for (name, _, _), row in zip(rows, zip(*runs, strict=True), strict=True):
        wall, cpu, peak = (f(r[i] for r in row) for i, f in ((0, min), (1, min), (2, max)))
        baseline = baseline or cpu
        print(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {size / cpu:.0f} | {cpu / baseline:.2f} "
            f"| {peak:.0f} |"
        )


if __name__ == "__main__":
    main()
