"""Trailer parser throughput on a generated repository, against git's own trailer extraction.

    python bench/trailer_throughput.py [--commits 100000] [--keep DIR]

Builds a repository of N commits with ``git fast-import`` (a realistic mix of human commits,
agent signatures and protocol trailers), then times, in one run over the same history:

  baseline  git log --format='%(trailers:only,unfold)'       (git's C parser)
  ours/e2e  git log -z --format=%B, then parse_trailers each (same I/O, our parser)
  ours/parse  parse_trailers alone, messages already in memory
  ours/analyse  trailers + protocol record + agent detection + pricing per commit
  cli       yield-auditor trailers parse -z on the same stream

and prints messages/s and each ratio to the baseline. A second table checks linear time on
hostile messages (1, 2, 4 MB): the time ratio should track the size ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engine.analysis import Analyser  # noqa: E402
from bot.protocol.commit import CommitInfo, Identity  # noqa: E402
from bot.protocol.trailers import parse_trailers  # noqa: E402

SUBJECTS = [
    "fix: handle empty config",
    "feat(router): add cascade",
    "refactor: split ledger",
    "docs: explain token yield",
    "test: cover retries",
    "chore: bump deps",
]
AUTHORS = [
    ("Ada Lovelace", "ada@example.com"),
    ("Paul Gauthier (aider)", "paul@example.com"),
    ("copilot-swe-agent[bot]", "198982749+Copilot@users.noreply.github.com"),
    ("Devin AI", "158243242+devin-ai-integration[bot]@users.noreply.github.com"),
    ("Grace Hopper", "grace@example.com"),
]
TRAILER_BLOCKS = [
    "",
    "Signed-off-by: Ada Lovelace <ada@example.com>\n",
    "Co-Authored-By: Claude Opus 4.5 <noreply@anthropic.com>\n",
    "Co-authored-by: aider (gemini/gemini-2.5-pro) <aider@aider.chat>\n",
    "Co-authored-by: Codex <noreply@openai.com>\nSigned-off-by: Grace Hopper <grace@example.com>\n",
    "Agent-Trailers: 1\nAgent: claude-code/2.0.31\nAgent-Task: T-{n}\nAgent-Task-Class: bugfix\n"
    "Agent-Attempt: 1\nAgent-Route: router=r/1; strategy=cascade; tier=economy; "
    "model=anthropic:claude-haiku-4-5; score=0.31; threshold=0.5\n"
    "Agent-Usage: model=anthropic:claude-haiku-4-5; in=8000; out=1200; cache_read=40000; "
    "cache_write=6000; requests=9\nCo-Authored-By: Claude Haiku 4.5 <noreply@anthropic.com>\n",
]


def message(rng: random.Random, n: int) -> str:
    body = "\n\nExplain why the change is needed, wrapping at 72 columns as usual.\n" * rng.randint(
        0, 2
    )
    block = rng.choice(TRAILER_BLOCKS).format(n=n)
    return f"{rng.choice(SUBJECTS)} #{n}{body}" + (f"\n{block}" if block else "\n")


def build_repo(path: Path, commits: int, env: dict[str, str]) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    rng = random.Random(42)
    stream = []
    stamp = 1_700_000_000
    for n in range(1, commits + 1):
        name, email = rng.choice(AUTHORS)
        data = message(rng, n).encode()
        stream.append(
            f"commit refs/heads/main\nmark :{n}\n"
            f"author {name} <{email}> {stamp + n} +0000\n"
            f"committer {name} <{email}> {stamp + n} +0000\n"
            f"data {len(data)}\n".encode()
            + data
            + b"\n"
        )
        if n == 1:
            stream.append(b"deleteall\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"], input=b"".join(stream), cwd=path, check=True, env=env
    )


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def git_out(repo: Path, env: dict[str, str], *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, check=True).stdout


def run(commits: int, keep: Path | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    tmp = Path(tempfile.mkdtemp(prefix="ya-bench-"))
    env.update(HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(tmp / "gitconfig"))
    repo = keep or tmp / "repo"
    try:
        if not (repo / ".git").exists():
            build_seconds, _ = timed(lambda: build_repo(repo, commits, env))
            print(f"built {commits:,} commits with git fast-import in {build_seconds:.1f}s")
        rows = measure(repo, env)
        print_table(commits, rows)
        print_linearity()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(repo: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    baseline, _ = timed(lambda: git_out(repo, env, "log", "--format=%(trailers:only,unfold)"))
    read, raw = timed(lambda: git_out(repo, env, "log", "-z", "--format=%B"))
    messages = raw.split(b"\0")
    parse, _ = timed(lambda: [parse_trailers(m, divider=False) for m in messages])
    analyser = Analyser()
    when = datetime(2026, 11, 1, tzinfo=UTC)
    who = Identity("Ada Lovelace", "ada@example.com")
    texts = [m.decode("utf-8", "replace") for m in messages]
    analyse, _ = timed(lambda: [analyser.analyse(CommitInfo("", t, who, who, when)) for t in texts])
    cli_cmd = [sys.executable, "-m", "bot.cli.main", "trailers", "parse", "-z", "--no-divider", "-"]
    cli, _ = timed(
        lambda: subprocess.run(cli_cmd, input=raw, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    )
    return [
        ("baseline: git log %(trailers:only,unfold)", baseline),
        ("ours/e2e: git log -z %B + parse_trailers", read + parse),
        ("ours/parse: parse_trailers only", parse),
        ("ours/analyse: record + detect + price", parse + analyse),
        ("cli: yield-auditor trailers parse -z", read + cli),
    ]


def print_table(commits: int, rows: list[tuple[str, float]]) -> None:
    baseline = rows[0][1]
    print(f"\n{'measurement':45} {'seconds':>8} {'msgs/s':>11} {'time / baseline':>16}")
    for label, seconds in rows:
        print(f"{label:45} {seconds:8.2f} {commits / seconds:11,.0f} {seconds / baseline:16.2f}")


def print_linearity() -> None:
    print(f"\n{'hostile message':34} {'MB':>4} {'seconds':>8} {'time / 1 MB time':>17}")
    shapes = {
        "one long line": lambda k: "t\n\n" + "a" * (k * 1_000_000) + ": v\n",
        "many trailer lines": lambda k: "t\n\n" + "K: v\n" * (k * 200_000),
        "many continuation lines": lambda k: "t\n\nK: v\n" + " x\n" * (k * 330_000),
        "many ';' in a structured value": lambda k: (
            "t\n\nAgent-Usage: model=m; " + ";" * (k * 1_000_000) + "\n"
        ),
        "co-author trailers (agent rules)": lambda k: (
            "t\n\n" + "Co-authored-by: aider (" + "x" * 60 + ") <aider@aider.chat>\n" * (k * 11_000)
        ),
    }
    analyser = Analyser()
    for label, make in shapes.items():
        first = None
        for k in (1, 2, 4):
            text = make(k)
            seconds, _ = timed(lambda t=text: analyser.analyse(CommitInfo("", t)))
            first = first or seconds
            print(f"{label:34} {k:4} {seconds:8.3f} {seconds / first:17.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the repository here")
    args = parser.parse_args()
    run(args.commits, args.keep)
