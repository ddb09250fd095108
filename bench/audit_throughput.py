"""``yield-auditor audit`` wall time and memory against plain ``git log``, in one run.

    python bench/audit_throughput.py [--commits 100000] [--survival-commits 10000]

Builds a repository with ``git fast-import``: pull requests of 1 to 3 commits merged with
GitHub merge commits or squashed as ``(#n)``, 60% of commits by agents with protocol trailers
(tiers, task classes, attempts, usage), the rest by people, occasional reverts. Then times

  baseline  git log --format=%H%x00%B           (git itself is the floor)
  audit     yield-auditor audit --format json --no-survival

and reports the ratio (target: at most 3x) and the audit's peak memory (target: < 500 MB).
A second, smaller repository times ``--survival`` to give the cost per agent commit of
line survival (git blame, bounded by --max-blame-files).
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIERS = [("economy", "anthropic:claude-haiku-4-5"), ("standard", "anthropic:claude-sonnet-4-6"),
         ("frontier", "anthropic:claude-opus-4-5")]  # fmt: skip
CLASSES = ["bugfix", "feature", "refactor", "test", "docs", "chore"]
HUMANS = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com")]
AGENT = ("claude-bot", "bot@example.com")


class Builder:
    """Writes a fast-import stream: main, PR branches, merges, squashes and reverts."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.out: list[bytes] = []
        self.mark = 0
        self.main: int | None = None
        self.time = 1_750_000_000
        self.commits = 0
        self.file_no = 0
        self.branch_files: list[bytes] = []

    def commit(self, ref, message, who, parent, merge=None, files=1) -> int:
        self.mark += 1
        self.time += 60
        self.commits += 1
        name, email = who
        data = message.encode()
        lines = [f"commit {ref}", f"mark :{self.mark}",
                 f"author {name} <{email}> {self.time} +0000",
                 f"committer {name} <{email}> {self.time} +0000", f"data {len(data)}"]  # fmt: skip
        block = "\n".join(lines).encode() + b"\n" + data + b"\n"
        if parent is not None:
            block += f"from :{parent}\n".encode()
        if merge is not None:
            block += f"merge :{merge}\n".encode()
        if merge is not None:  # fast-import does not merge trees: carry the branch's files
            block += b"".join(self.branch_files)
            self.branch_files = []
        for _ in range(files if merge is None else 0):
            self.file_no += 1
            lines = self.rng.randint(3, 40)
            body = "".join(f"line {i} of file {self.file_no}\n" for i in range(lines))
            path = f"comp{self.file_no % 7}/mod{self.file_no % 50}/f{self.file_no}.py"
            change = f"M 100644 inline {path}\ndata {len(body)}\n{body}\n".encode()
            block += change
            if ref != "refs/heads/main":
                self.branch_files.append(change)
        self.out.append(block)
        return self.mark

    def agent_message(self, subject: str, task: str, attempt: int, tier: int, klass: str) -> str:
        name, model = TIERS[tier]
        usage_in = self.rng.randint(2_000, 60_000)
        return (
            f"{subject}\n\nWhat and why.\n\nAgent-Trailers: 1\nAgent: claude-code/2.0.31\n"
            f"Agent-Task: {task}\nAgent-Task-Class: {klass}\nAgent-Attempt: {attempt}\n"
            f"Agent-Route: router=bench/1; strategy=cascade; tier={name}; model={model}; "
            f"score={self.rng.random():.2f}; threshold=0.5\n"
            f"Agent-Usage: model={model}; in={usage_in}; out={usage_in // 8}; "
            f"cache_read={usage_in * 4}; cache_write={usage_in // 2}; requests=7\n"
        )

    def pull_request(self, number: int) -> None:
        rng = self.rng
        agent = rng.random() < 0.6
        klass = rng.choice(CLASSES)
        ref = f"refs/heads/pr{number % 50}"
        tip, tier = self.main, rng.choice([0, 0, 1, 2])
        for attempt in range(1, rng.choice([1, 1, 2, 3]) + 1):
            if agent:
                msg = self.agent_message(f"{klass}: change {number}.{attempt}", f"T-{number}",
                                         attempt, tier, klass)  # fmt: skip
                tip = self.commit(ref, msg, AGENT, tip)
                tier = min(tier + (rng.random() < 0.3), 2)
            else:
                tip = self.commit(ref, f"{klass}: human change {number}.{attempt}\n",
                                  rng.choice(HUMANS), tip)  # fmt: skip
        if rng.random() < 0.5:
            merge_msg = f"Merge pull request #{number} from acme/pr{number}\n\nPR title\n"
            self.main = self.commit("refs/heads/main", merge_msg, HUMANS[0], self.main, tip)
        else:
            self.branch_files = []  # squashed: the branch's commits are not on main
            self.main = self.commit("refs/heads/main", f"{klass}: squashed (#{number})\n",
                                    AGENT if agent else HUMANS[1], self.main)  # fmt: skip
        if rng.random() < 0.02:
            self.main = self.commit("refs/heads/main", "Revert \"x\"\n\nThis reverts commit "
                                    "0000000.\n", HUMANS[0], self.main)  # fmt: skip


def build(path: Path, commits: int, env: dict[str, str]) -> int:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    b = Builder(random.Random(7))
    b.main = b.commit("refs/heads/main", "Initial commit\n", HUMANS[0], None)
    number = 0
    while b.commits < commits:
        number += 1
        b.pull_request(number)
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(b.out), cwd=path, env=env,
                   check=True)  # fmt: skip
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, env=env, check=True)
    return b.commits


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the peak memory (MB) of that one process, not of its git children."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def phases(repo: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds of each step of the audit, one after the other in this process. In the audit,
    numstat (git's diffs) runs beside read, derive and analyse."""
    sys.path.insert(0, str(ROOT))
    from bot.analysis import Analyser
    from bot.attribution import Params, attribute
    from bot.facts import commit_facts
    from bot.gitlog import derive_pull_requests, iter_commits, numstat_log
    from bot.report import Scope, build_report

    analyser, out, clock = Analyser(), {}, time.perf_counter
    steps = {
        "numstat": lambda _: numstat_log(repo, env=env),
        "read": lambda _: list(iter_commits(repo, numstat=False, env=env)),
        "derive": lambda r: derive_pull_requests(r["read"], "big"),
        "analyse": lambda r: [analyser.analyse(c.to_commit_info()) for c in r["read"]],
        "facts": lambda r: [
            commit_facts(
                a, "big", c.parents, r["numstat"].get(c.sha, ()), r["derive"].commit_pr.get(c.sha)
            )
            for c, a in zip(r["read"], r["analyse"], strict=True)
        ],
        "attribute": lambda r: attribute(
            r["facts"], r["derive"].prs, r["derive"].events, Params(21, analyser.prices.tier_names)
        ),
        "report": lambda r: build_report(Scope("big"), r["facts"], r["attribute"]),
    }
    results: dict[str, Any] = {}
    for name, step in steps.items():
        start = clock()
        results[name] = step(results)
        out[name] = clock() - start
    return out


def audit_cmd(repo: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bot", "audit", "--repo", str(repo), "--format", "json", *extra]


def main(commits: int, survival_commits: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ya-audit-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(tmp / "gitconfig"),
               PYTHONPATH=str(ROOT))  # fmt: skip
    try:
        big = tmp / "big"
        made = build(big, commits, env)
        baseline, _ = timed(["git", "log", "--format=%H%x00%B"], big, env)
        audit, peak_mb = timed(audit_cmd(big, "--no-survival"), ROOT, env)
        print(f"repository: {made:,} commits (60% of pull requests by agents)")
        print(f"{'baseline: git log --format=%H%x00%B':45} {baseline:8.2f} s   1.00x")
        print(f"{'audit --format json --no-survival':45} {audit:8.2f} s {audit / baseline:6.2f}x")
        print(f"{'peak memory of the audit process':45} {peak_mb:8.0f} MB")
        count = ["git", "rev-list", "--count", "HEAD"]
        reachable = subprocess.run(count, cwd=big, env=env, capture_output=True, check=True).stdout
        print(f"\nphases over the {int(reachable):,} commits reachable from main (seconds):")
        print("  ".join(f"{k} {v:.2f}" for k, v in phases(big, env).items()))
        small = tmp / "small"
        made_small = build(small, survival_commits, env)
        without, _ = timed(audit_cmd(small, "--no-survival"), ROOT, env)
        with_survival, _ = timed(audit_cmd(small, "--survival"), ROOT, env)
        agent_commits = int(subprocess.run(
            ["git", "rev-list", "--count", "--author=bot@example.com", "HEAD"], cwd=small,
            env=env, capture_output=True, text=True, check=True).stdout)  # fmt: skip
        extra_ms = (with_survival - without) / max(agent_commits, 1) * 1000
        print(f"\nsurvival repository: {made_small:,} commits, {agent_commits:,} agent commits")
        print(f"{'audit --no-survival':45} {without:8.2f} s")
        print(f"{'audit --survival':45} {with_survival:8.2f} s")
        print(f"{'line survival cost per agent commit':45} {extra_ms:8.2f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--survival-commits", type=int, default=10_000)
    args = parser.parse_args()
    main(args.commits, args.survival_commits)
