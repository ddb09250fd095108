"""How much of each commit's added code ``git blame`` still attributes to it: the survival
a local audit measures (docs/gitlog.md; the App has no clone, so it does not)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.engine.records import FileChange
from bot.local.gitlog import git_command, git_environment, run_git


@dataclass(frozen=True, slots=True)
class Survival:
    """``per_commit``: share of each commit's added lines (in the files blamed) that ``git
    blame`` still attributes to it at ``rev``, in [0, 1]; commits with no added lines in
    covered files are absent. ``coverage``: share of all added lines whose files were
    blamed (or found deleted); 1.0 when there were no added lines."""

    per_commit: dict[str, float]
    files_blamed: int
    files_skipped: int
    coverage: float
    files_deleted: int = 0


def line_survival(
    repo: Path | str,
    commits: Mapping[str, int],
    files: Mapping[str, Sequence[str | FileChange]],
    *,
    rev: str = "HEAD",
    max_files: int = 2000,
    timeout: float | None = 600.0,
    jobs: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Survival:
    """How much of each commit's added code ``git blame`` still attributes to it at ``rev``.

    ``commits`` maps full shas to their added line counts; ``files`` maps them to the paths
    they touched (``FileChange``s give each file's own count, bare paths split the commit's
    count evenly). Each file is blamed once, with ``git blame --incremental``, for all the
    commits at once, up to ``max_files`` files (those with the most added lines first) and
    within ``timeout`` seconds overall, ``jobs`` at a time. A file missing at ``rev``
    contributes 0 surviving lines. A line rewritten later belongs to the later commit, so it
    counts as not surviving: that is rework.
    """
    env_ = git_environment(env)
    deadline = None if timeout is None else time.monotonic() + timeout
    cdup, head = _resolve(repo, rev, env_)
    present = _blobs(repo, head, env_)

    weights: dict[str, dict[str, float]] = {}  # path -> sha -> added lines in that file
    total = 0.0
    for sha, added in commits.items():
        if added <= 0:
            continue
        total += added
        changes = files.get(sha, ())
        if not changes:
            continue
        share = added / len(changes)
        for change in changes:
            if isinstance(change, FileChange):
                path, lines = change.path, float(change.added)
            else:
                path, lines = change, share
            if lines > 0:
                per = weights.setdefault(path, {})
                per[sha] = per.get(sha, 0.0) + lines

    deleted = [p for p in weights if p not in present]
    candidates = sorted(
        (p for p in weights if p in present), key=lambda p: (-sum(weights[p].values()), p)
    )
    chosen = candidates[: max(max_files, 0)]
    wanted = frozenset(commits)

    def blame(path: str) -> dict[str, int] | None:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return None
        try:
            result = subprocess.run(
                git_command(repo) + ["blame", "--incremental", head, "--", cdup + path],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env_,
                timeout=remaining,
            )
        except (subprocess.TimeoutExpired, OSError):
            return None
        if result.returncode != 0:
            return None
        return _blame_counts(result.stdout, wanted)

    workers = jobs or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        results = list(pool.map(blame, chosen))

    surviving: dict[str, int] = {}
    covered: dict[str, float] = {}
    blamed = 0
    for path, counts in zip(chosen, results, strict=True):
        if counts is None:
            continue
        blamed += 1
        for sha, lines in weights[path].items():
            covered[sha] = covered.get(sha, 0.0) + lines
        for sha, n in counts.items():
            surviving[sha] = surviving.get(sha, 0) + n
    for path in deleted:
        for sha, lines in weights[path].items():
            covered[sha] = covered.get(sha, 0.0) + lines
    per_commit = {
        sha: min(1.0, max(0.0, surviving.get(sha, 0) / lines))
        for sha, lines in covered.items()
        if lines > 0
    }
    coverage = 1.0 if total <= 0 else min(1.0, sum(covered.values()) / total)
    return Survival(per_commit, blamed, len(candidates) - blamed, coverage, len(deleted))


def _resolve(repo: Path | str, rev: str, env: Mapping[str, str]) -> tuple[str, str]:
    """The path from ``repo`` up to the top of its work tree, and ``rev``'s commit sha."""
    if rev.startswith("-"):
        raise ValueError(f"not a revision: {rev!r}")
    out = run_git(
        repo, ["rev-parse", "--show-cdup", "--verify", "--end-of-options", f"{rev}^{{commit}}"], env
    )
    lines = os.fsdecode(out).split("\n")
    lines = [line for line in lines if line]
    sha = lines[-1]
    return (lines[0] if len(lines) > 1 else ""), sha


def _blobs(repo: Path | str, sha: str, env: Mapping[str, str]) -> set[str]:
    """Paths of the files (not submodules) in ``sha``'s tree."""
    out = run_git(repo, ["ls-tree", "-r", "-z", "--full-tree", sha], env)
    paths = set()
    for entry in out.split(b"\0"):
        meta, tab, path = entry.partition(b"\t")
        if tab and meta.split(b" ")[1] == b"blob":
            paths.add(os.fsdecode(path))
    return paths


def _blame_counts(out: bytes, wanted: frozenset[str]) -> dict[str, int]:
    """Lines per commit from ``git blame --incremental``: each group opens with ``<sha>
    <source line> <result line> <count>``, then header lines, closed by ``filename``."""
    counts: dict[str, int] = {}
    expect_group = True
    for line in out.split(b"\n"):
        if expect_group:
            fields = line.split(b" ")
            if len(fields) == 4:
                sha = fields[0].decode("ascii", "replace")
                if sha in wanted:
                    counts[sha] = counts.get(sha, 0) + int(fields[3])
                expect_group = False
        elif line.startswith(b"filename "):
            expect_group = True
    return counts
