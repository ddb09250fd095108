"""What the ``prepare-commit-msg`` hook adds to ``git commit``, and the CLI's start-up time.

    python bench/hook_overhead.py [--commits 20] [--log-mb 10]

Times ``git commit`` in two temporary repositories, one without the hook and one with it
(installed by ``yield-auditor stamp --install-hook``), alternating commits so both see the same
machine load, and prints the median of each case and what the hook adds to it:

  no hook       the baseline
  no variables  a person's commit: the hook runs, nothing is set, nothing is stamped
  variables     an agent commit stamped from YIELD_AUDITOR_TASK/TASK_CLASS/USAGE
  10 MB log     the same plus YIELD_AUDITOR_FROM_LOG: a generated Claude Code session

then ``yield-auditor --version`` against ``python -c pass``. Everything runs in subprocesses,
so ``PYTHONPATH=/path/to/other/checkout`` measures another version of the code.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

SCRIPT = Path(sys.executable).parent / "yield-auditor"
COMMAND = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "bot"]
AGENT = {
    "YIELD_AUDITOR_TASK": "ROUTE-4711",
    "YIELD_AUDITOR_TASK_CLASS": "bugfix",
    "YIELD_AUDITOR_USAGE": "model=claude-haiku-4-5; in=1218; out=530",
}


def git_env(home: Path) -> dict[str, str]:
    """No user or system configuration, and no YIELD_AUDITOR_* variable of this shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "YIELD_AUDITOR_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # time compiled bytecode, as pip installs it
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return env


def claude_log(path: Path, megabytes: float) -> int:
    """A Claude Code session of about ``megabytes``: per response a thinking copy and a tool-use
    copy of the same message (as Claude Code writes them), then a tool result of 4 KB."""
    start = datetime.now(UTC) - timedelta(days=1)
    common = {
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/shop",
        "sessionId": "6f1d2c1e-8c1b-4a53-9d5e-2f3c1a7b9e10",
        "version": "2.1.126",
    }
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 2849,
        "cache_read_input_tokens": 9493,
        "cache_creation": {"ephemeral_1h_input_tokens": 2849, "ephemeral_5m_input_tokens": 0},
    }
    result = "    return send(request, retries=3)  # a line of the file the agent read\n" * 16
    written = responses = 0
    with path.open("w", encoding="utf-8") as out:
        while written < megabytes * 1_000_000:
            when = (start + timedelta(seconds=responses)).isoformat().replace("+00:00", "Z")
            ids = {"requestId": f"req_{responses}", "timestamp": when}
            for block, output in (
                ({"type": "thinking", "thinking": "Look first."}, 1),
                (
                    {
                        "type": "tool_use",
                        "id": f"t{responses}",
                        "name": "Read",
                        "input": {"file_path": "src/http/client.py"},
                    },
                    527,
                ),
            ):
                message = {
                    "model": "claude-opus-4-6",
                    "id": f"msg_{responses}",
                    "role": "assistant",
                    "content": [block],
                    "usage": {**usage, "output_tokens": output},
                }
                line = {**common, "type": "assistant", "message": message, **ids}
                written += out.write(json.dumps(line) + "\n")
            content = [{"tool_use_id": f"t{responses}", "type": "tool_result", "content": result}]
            line = {**common, "type": "user", "message": {"role": "user", "content": content}}
            written += out.write(json.dumps({**line, "timestamp": when}) + "\n")
            responses += 1
    return responses


class Repository:
    def __init__(self, path: Path, env: dict[str, str], hook: bool) -> None:
        self.path, self.env, self.count = path, env, 0
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        if hook:
            self.git(*COMMAND, "stamp", "--install-hook", "--command", " ".join(COMMAND), run=True)

    def git(self, *args: str, run: bool = False) -> str:
        done = subprocess.run(
            list(args) if run else ["git", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout + done.stderr

    def commit(self, variables: dict[str, str]) -> Timing:
        """What ``git commit`` takes, the file already staged."""
        self.count += 1
        (self.path / "file.txt").write_text(f"{self.count}\n")
        self.git("add", "file.txt")
        message = f"change {self.count}"
        return timed(["git", "commit", "-q", "-m", message], self.path, {**self.env, **variables})

    def last_message(self) -> str:
        return self.git("log", "-1", "--format=%B")


class Timing(NamedTuple):
    wall: float
    cpu: float  # user + system seconds of the process and its children (git, hook, Python)


def timed(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Timing:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timing(wall, cpu)


def alternate(runs: int, first: Callable[[], Timing], second: Callable[[], Timing]) -> str:
    """A table row: both medians, interleaved so that machine load falls on both alike."""
    a, b = [], []
    for _ in range(runs):
        a.append(first())
        b.append(second())
    wall_a, wall_b, cpu_a, cpu_b = (
        statistics.median(getattr(t, field) for t in times) * 1000
        for field in ("wall", "cpu")
        for times in (a, b)
    )
    return (
        f"{wall_a:7.1f}ms {wall_b:7.1f}ms {wall_b - wall_a:7.1f}ms {wall_b / wall_a:5.2f}x "
        f"{cpu_a:7.1f}ms {cpu_b:7.1f}ms {cpu_b - cpu_a:7.1f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=20, help="Commits per case (median).")
    parser.add_argument("--log-mb", type=float, default=10.0, help="Size of the usage log.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ya-hook-") as tmp:
        tmp_path = Path(tmp)
        env = git_env(tmp_path)
        plain, hooked = (
            Repository(tmp_path / name, env, name == "hooked") for name in ("plain", "hooked")
        )
        log = tmp_path / "session.jsonl"
        responses = claude_log(log, args.log_mb)
        cases = [
            ("no variables (a person's commit)", {}),
            ("variables (an agent commit)", AGENT),
            (
                f"variables + {log.stat().st_size / 1e6:.1f} MB Claude Code log",
                {**AGENT, "YIELD_AUDITOR_FROM_LOG": str(log)},
            ),
        ]
        for _label, variables in cases:  # warm caches and bytecode; check the hook works
            plain.commit(variables), hooked.commit(variables)
            stamped = "Agent-Task" in hooked.last_message()
            assert stamped == bool(variables), hooked.last_message()
        assert f"requests={responses}" in hooked.last_message(), hooked.last_message()
        print(f"hook command: {' '.join(COMMAND)}; {args.commits} runs per case, medians")
        print(f"{'':<42}{'wall':-^41} {'CPU':-^29}")
        print(
            f"{'case':<41} {'no hook':>9} {'hook':>9} {'added':>9} {'ratio':>6}"
            f" {'no hook':>9} {'hook':>9} {'added':>9}"
        )
        for label, variables in cases:
            row = alternate(
                args.commits,
                lambda v=variables: plain.commit(v),
                lambda v=variables: hooked.commit(v),
            )
            print(f"{label:<41} {row}")
    row = alternate(
        args.commits,
        lambda: timed([sys.executable, "-c", "pass"]),
        lambda: timed([*COMMAND, "--version"]),
    )
    print(f"{'yield-auditor --version (vs python -c pass)':<41} {row}")


if __name__ == "__main__":
    main()
