"""Line survival by ``git blame`` on real repositories: rework, deleted files, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.local.gitlog import GitLogError
from bot.local.survival import line_survival
from tests.unit.local.repos import Repo

pytestmark = pytest.mark.git


@pytest.fixture
def repo(tmp_path: Path, git_env: dict[str, str]) -> Repo:
    return Repo(tmp_path / "repo", git_env)


# --------------------------------------------------------------------------------------
# line_survival


def test_line_survival_counts_rework_and_deleted_files(repo: Repo) -> None:
    a = repo.commit("a", files={"a.txt": "1\n2\n3\n4\n", "gone.txt": "x\ny\n"})
    b = repo.commit("b", files={"a.txt": "one\ntwo\n3\n4\n"})  # rewrites half of a's lines
    repo.git("rm", "-q", "gone.txt")
    c = repo.commit("c")
    commits = {x.sha: x for x in repo.commits()}
    added = {sha: commits[sha].lines_added for sha in (a, b, c)}
    files = {sha: commits[sha].files for sha in (a, b, c)}
    survival = line_survival(repo.path, added, files, env=repo.env)
    # a: 2 of 4 lines of a.txt survive, 0 of 2 of the deleted gone.txt.
    assert survival.per_commit == {a: pytest.approx(2 / 6), b: 1.0}
    assert (survival.files_blamed, survival.files_skipped, survival.files_deleted) == (1, 0, 1)
    assert survival.coverage == 1.0

    only_a = line_survival(repo.path, {a: 4}, {a: ["a.txt"]}, env=repo.env)
    assert only_a.per_commit == {a: 0.5}
    gone = line_survival(repo.path, {a: 2}, {a: ["gone.txt"]}, env=repo.env)
    assert gone.per_commit == {a: 0.0} and gone.files_blamed == 0

    at_b = line_survival(repo.path, {a: 6}, {a: files[a]}, rev=b, env=repo.env)
    assert at_b.per_commit == {a: pytest.approx(4 / 6)}  # at b, gone.txt is still there


def test_line_survival_bounds_and_coverage(repo: Repo, tmp_path: Path) -> None:
    e = repo.commit("e", files={"big": "x\n" * 10, "mid": "y\n" * 5, "small": "z\n"})
    (sub := repo.path / "deep" / "er").mkdir(parents=True)
    changes = {e: repo.commits()[0].files}
    bounded = line_survival(sub, {e: 16}, changes, max_files=1, env=repo.env)
    assert (bounded.files_blamed, bounded.files_skipped) == (1, 2)
    assert bounded.coverage == pytest.approx(10 / 16)
    assert bounded.per_commit == {e: 1.0}

    nothing = line_survival(repo.path, {e: 16}, changes, timeout=0, env=repo.env)
    assert (nothing.files_blamed, nothing.files_skipped, nothing.coverage) == (0, 3, 0.0)
    assert nothing.per_commit == {}

    # A commit with more added lines than blame finds (e.g. counted under another path)
    # is clamped to [0, 1]; one with no added lines is not reported.
    over = line_survival(repo.path, {e: 2, "0" * 40: 0}, {e: ["big"]}, env=repo.env)
    assert over.per_commit == {e: 1.0}

    bare = tmp_path / "bare.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(bare))
    assert line_survival(bare, {e: 16}, changes, env=repo.env).per_commit == {e: 1.0}
    with pytest.raises(GitLogError):
        line_survival(repo.path, {e: 1}, {e: ["big"]}, rev="nope", env=repo.env)
