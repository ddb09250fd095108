"""``yield-auditor audit`` wall time and memory against plain ``git log``, in one run.

    python bench/audit_throughput.py [--commits 100000] [--real 13000] [--survival-commits 10000]
                                     [--repeat 3]

Builds repositories with ``git fast-import``: pull requests of 1 to 3 commits merged with
GitHub merge commits or squashed as ``(#n)``, agents' commits with protocol trailers (tiers,
task classes, attempts, usage), the rest by people, occasional reverts. Commits edit files
of a few hundred lines in a few places, as real commits do, so git's diffs cost what they
cost on a real history. Then, on each repository, times

  git log --format=%H%x00%B           (no diffs: git's floor)
  git log --format=%H --name-only     (tree diffs, no contents)
  git log --format=%H --numstat       (content diffs of every commit)
  audit   yield-auditor audit --format json --no-survival

on a real-sized history where a third of the pull requests are agents', on one where 5% are
(targets: audit at most 1.0x and 0.5x ``--numstat``), and on the large synthetic one (60%
agents; target at most 2x ``--numstat``). Ratios are against baselines measured in the same
run: absolute times move with the machine's load. A smaller repository times ``--survival``
to give the cost per agent commit of line survival (git blame, bounded by --max-blame-files).
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

ROOT = Path(__file__).resolve().parents[1]
TIERS = [("economy", "anthropic:claude-haiku-4-5"), ("standard", "anthropic:claude-sonnet-4-6"),
         ("frontier", "anthropic:claude-opus-4-5")]  # fmt: skip
CLASSES = ["bugfix", "feature", "refactor", "test", "docs", "chore"]
HUMANS = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com")]
AGENT = ("claude-bot", "bot@example.com")


class Builder:
    """Writes a fast-import stream: main, PR branches, merges, squashes and reverts.

    ``files`` is main's tree (path -> lines); a pull request edits a copy (``branch``), which
    its merge carries onto main (fast-import does not merge trees) and a squash drops."""

    MAX_FILES = 3000  # files grow to this many, then commits only edit

    def __init__(self, rng: random.Random, agent_share: float, write):
        self.rng = rng
        self.agent_share = agent_share
        self.write = write  # to fast-import's stdin: the stream is far larger than memory
        self.mark = 0
        self.main: int | None = None
        self.time = 1_750_000_000
        self.commits = 0
        self.files: dict[str, list[str]] = {}
        self.branch: dict[str, list[str]] = {}
        self.words = [f"name{i}" for i in range(500)]

    def commit(self, ref, message, who, parent, merge=None) -> int:
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
            block += f"merge :{merge}\n".encode() + self.carry()
        else:
            block += self.edit(self.files if ref == "refs/heads/main" else self.branch)
        self.write(block)
        return self.mark

    def line(self) -> str:
        rng, words = self.rng, self.words
        return "    " * rng.randint(0, 3) + " ".join(rng.choices(words, k=rng.randint(2, 9))) + "\n"

    def edit(self, tree: dict[str, list[str]]) -> bytes:
        """1 to 4 files: a new one of 50 to 400 lines, or 1 to 3 hunks in an existing one."""
        rng, out = self.rng, []
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            if len(self.files) < self.MAX_FILES and (not tree or rng.random() < 0.25):
                path = f"src/pkg{rng.randrange(40)}/mod{self.mark}_{rng.randrange(99)}.py"
                tree[path] = [self.line() for _ in range(rng.randint(50, 400))]
                self.files.setdefault(path, [])  # counts towards MAX_FILES
            else:
                path = rng.choice(list(self.files))
                lines = tree.setdefault(path, list(self.files[path]))
                for _ in range(rng.randint(1, 3)):
                    at = rng.randint(0, len(lines))
                    lines[at : at + rng.randint(0, 6)] = [
                        self.line() for _ in range(rng.randint(1, 20))
                    ]
            body = "".join(tree[path]).encode()
            out.append(f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n")
        return b"".join(out)

    def carry(self) -> bytes:
        """The merged branch's files, onto main."""
        out = []
        for path, lines in self.branch.items():
            self.files[path] = lines
            body = "".join(lines).encode()
            out.append(f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n")
        self.branch = {}
        return b"".join(out)

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
        agent = rng.random() < self.agent_share
        klass = rng.choice(CLASSES)
        ref = f"refs/heads/pr{number % 50}"
        tip, tier = self.main, rng.choice([0, 0, 1, 2])
        self.branch = {}
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
            self.branch = {}  # squashed: the branch's commits are not on main
            self.main = self.commit("refs/heads/main", f"{klass}: squashed (#{number})\n",
                                    AGENT if agent else HUMANS[1], self.main)  # fmt: skip
        if rng.random() < 0.02:
            self.main = self.commit("refs/heads/main", "Revert \"x\"\n\nThis reverts commit "
                                    "0000000.\n", HUMANS[0], self.main)  # fmt: skip


def build(path: Path, commits: int, agent_share: float, env: dict[str, str]) -> int:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    importer = subprocess.Popen(["git", "fast-import", "--quiet"], stdin=subprocess.PIPE,
                                cwd=path, env=env)  # fmt: skip
    b = Builder(random.Random(7), agent_share, importer.stdin.write)
    b.main = b.commit("refs/heads/main", "Initial commit\n", HUMANS[0], None)
    number = 0
    while b.commits < commits:
        number += 1
        b.pull_request(number)
    importer.stdin.close()
    if importer.wait():
        raise subprocess.CalledProcessError(importer.returncode, "git fast-import")
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, env=env, check=True)
    return b.commits


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (the process and the git processes it waited for: Linux's
    wait4 counts them) and the peak memory (MB) of that one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu, usage.ru_maxrss / 1024


def audit_cmd(repo: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bot", "audit", "--repo", str(repo), "--format", "json", *extra]


BASELINES = {
    "git log --format=%H%x00%B": ["git", "log", "--format=%H%x00%B"],
    "git log --format=%H --name-only": ["git", "log", "--format=%H", "--name-only"],
    "git log --format=%H --numstat": ["git", "log", "--format=%H", "--numstat"],
}


def compare(repo: Path, env: dict[str, str], label: str, repeat: int) -> None:
    """The audit against each baseline on the same repository, each the best of ``repeat``
    runs taken in turn. On a shared machine wall time moves by 2x with others' load; CPU
    time much less (the audit uses two cores at times, so its wall time can be below it)."""
    commands = {**BASELINES, "audit": audit_cmd(repo, "--no-survival")}
    wall = dict.fromkeys(commands, float("inf"))
    cpu = dict.fromkeys(commands, float("inf"))
    peak_mb = 0.0
    for _ in range(repeat):
        for name, cmd in commands.items():
            seconds, cpu_seconds, mb = timed(cmd, ROOT if name == "audit" else repo, env)
            wall[name] = min(wall[name], seconds)
            cpu[name] = min(cpu[name], cpu_seconds)
            peak_mb = max(peak_mb, mb) if name == "audit" else peak_mb
    print(f"\n{label} (best of {repeat}; audit's ratio to each)")
    print(f"  {'':43} {'wall':>8}   {'ratio':>6}  {'CPU':>8}   {'ratio':>6}")
    for name in BASELINES:
        print(f"  {name:43} {wall[name]:8.2f} s {wall['audit'] / wall[name]:6.2f}x "
              f"{cpu[name]:8.2f} s {cpu['audit'] / cpu[name]:6.2f}x")  # fmt: skip
    print(f"  {'audit --format json --no-survival':43} {wall['audit']:8.2f} s {'':7} "
          f"{cpu['audit']:8.2f} s   (peak {peak_mb:.0f} MB)")  # fmt: skip


def main(commits: int, real: int, survival_commits: int, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ya-audit-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(tmp / "gitconfig"),
               PYTHONPATH=str(ROOT))  # fmt: skip
    try:
        for name, size, share in [("real-third", real, 1 / 3), ("real-5pct", real, 0.05),
                                  ("synthetic", commits, 0.6)]:  # fmt: skip
            repo = tmp / name
            made = build(repo, size, share, env)
            compare(repo, env, f"{made:,} commits, {share:.0%} of pull requests by agents", repeat)
            shutil.rmtree(repo)
        small = tmp / "small"
        made_small = build(small, survival_commits, 0.6, env)
        without = timed(audit_cmd(small, "--no-survival"), ROOT, env)[0]
        with_survival = timed(audit_cmd(small, "--survival"), ROOT, env)[0]
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
    parser.add_argument("--real", type=int, default=13_000)
    parser.add_argument("--survival-commits", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; best kept")
    args = parser.parse_args()
    main(args.commits, args.real, args.survival_commits, args.repeat)
