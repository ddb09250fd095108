"""Pull requests, merges and reverts derived from real histories, checked against
``git rev-list`` on generated ones.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.engine.records import MERGED, REVERTED, Event, PullRequest
from bot.local import history
from bot.local.history import derive_pull_requests, find_reverts
from tests.unit.local.repos import Repo, fast_import

pytestmark = pytest.mark.git

REPO = "octo/shop"


@pytest.fixture
def repo(tmp_path: Path, git_env: dict[str, str]) -> Repo:
    return Repo(tmp_path / "repo", git_env)


# --------------------------------------------------------------------------------------
# derive_pull_requests


T0 = 1_700_000_000


def _at(ts: int) -> str:
    return f"{T0 + ts} +0000"


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(T0 + ts, UTC)


def test_github_merge_owns_its_three_commits(repo: Repo) -> None:
    c0 = repo.commit("init", when=_at(1000), files={"a": "1\n"})
    repo.git("checkout", "-q", "-b", "feature/x")
    branch = [repo.commit(f"x{k}", when=_at(2000 + k), files={f"x{k}": "1\n"}) for k in range(3)]
    repo.git("checkout", "-q", "main")
    c4 = repo.commit("direct", when=_at(3000), files={"b": "1\n"})
    merge = repo.merge(
        "feature/x", "Merge pull request #7 from octo/feature/x\n\nAdd x\n", when=_at(4000)
    )
    derived = derive_pull_requests(repo.commits(), REPO)
    at = _dt(4000)
    assert derived.prs == [
        PullRequest(
            REPO,
            7,
            title="Add x",
            head_ref="feature/x",
            state="merged",
            closed_at=at,
            merge_sha=merge,
        )
    ]
    assert derived.commit_pr == {merge: 7, **dict.fromkeys(branch, 7)}
    assert c0 not in derived.commit_pr and c4 not in derived.commit_pr
    assert derived.events == [
        Event(f"merge:{REPO}#7", MERGED, at, REPO, pr_number=7, sha=merge, source="git")
    ]


def test_squash_merge_is_one_commit(repo: Repo) -> None:
    repo.commit("init", when=_at(1000))
    squash = repo.commit("feat: pay by card (#42)\n\n* wip\n* more\n", when=_at(2000))
    repo.commit("mentions (#43) mid-subject only", when=_at(3000))
    repo.commit('Revert "feat: x (#12)"', when=_at(3500))  # quoted, not a squash of #12
    derived = derive_pull_requests(repo.commits(), REPO)
    assert derived.prs == [
        PullRequest(
            REPO,
            42,
            title="feat: pay by card",
            state="merged",
            closed_at=_dt(2000),
            merge_sha=squash,
        )
    ]
    assert derived.commit_pr == {squash: 42}
    assert [e.key for e in derived.events] == [f"merge:{REPO}#42"]


def test_gitlab_merge_and_plain_branch_merges(repo: Repo) -> None:
    repo.commit("init", when=_at(1000))
    repo.git("checkout", "-q", "-b", "feat-y")
    y = repo.commit("y", when=_at(2000))
    repo.git("checkout", "-q", "main")
    gitlab = repo.merge(
        "feat-y",
        "Merge branch 'feat-y' into 'main'\n\nAdd y\n\nCloses #3\n\n"
        "See merge request group/shop!123\n",
        when=_at(3000),
    )
    repo.git("checkout", "-q", "-b", "feature/z")
    z = repo.commit("z", when=_at(4000))
    repo.git("checkout", "-q", "main")
    main_only = repo.commit("main only", when=_at(4500))
    plain = repo.merge("feature/z", "Merge branch 'feature/z'", when=_at(5000))
    # A back-merge of main into a topic branch is not a pull request.
    repo.git("checkout", "-q", "-b", "topic", gitlab)
    t = repo.commit("t", when=_at(6000))
    back = repo.merge("main", "Merge branch 'main' into topic", when=_at(7000))

    derived = derive_pull_requests(repo.commits(rev="--all"), REPO)
    local = -int(plain[:12], 16)
    assert [(p.number, p.title, p.head_ref, p.merge_sha) for p in derived.prs] == [
        (123, "Add y", "feat-y", gitlab),
        (local, "Merge branch 'feature/z'", "feature/z", plain),
    ]
    assert derived.commit_pr == {gitlab: 123, y: 123, plain: local, z: local}
    assert main_only not in derived.commit_pr
    assert t not in derived.commit_pr and back not in derived.commit_pr
    assert [e.key for e in derived.events] == [f"merge:{REPO}#123", f"merge:{REPO}#{local}"]


def test_stacked_pull_requests_give_commits_to_the_innermost(repo: Repo) -> None:
    repo.commit("init", when=_at(1000))
    repo.git("checkout", "-q", "-b", "one")
    a = repo.commit("a", when=_at(2000))
    repo.git("checkout", "-q", "-b", "two")
    b = repo.commit("b", when=_at(3000))
    repo.git("checkout", "-q", "one")
    inner = repo.merge("two", "Merge pull request #2 from octo/two", when=_at(4000))
    repo.git("checkout", "-q", "main")
    outer = repo.merge("one", "Merge pull request #1 from octo/one", when=_at(5000))
    derived = derive_pull_requests(repo.commits(), REPO)
    assert derived.commit_pr == {a: 1, outer: 1, b: 2, inner: 2}
    assert [p.number for p in derived.prs] == [2, 1]


def test_reverts_of_a_commit_by_abbreviated_sha_and_of_a_merge(repo: Repo) -> None:
    repo.commit("init", when=_at(1000))
    bad = repo.commit("feat: bad idea", when=_at(2000), files={"bad": "1\n"})
    revert = repo.commit(
        f'Revert "feat: bad idea"\n\nThis reverts commit {bad[:9]}.\n',
        when=_at(3000),
        files={"bad": "2\n"},
    )
    repo.git("checkout", "-q", "-b", "pr")
    repo.commit("pr work", when=_at(4000), files={"pr": "1\n"})
    repo.git("checkout", "-q", "main")
    merge = repo.merge("pr", "Merge pull request #9 from octo/pr\n\nPR\n", when=_at(5000))
    repo.git(
        "revert",
        "--no-edit",
        "-m",
        "1",
        merge,
        GIT_AUTHOR_DATE=_at(6000),
        GIT_COMMITTER_DATE=_at(6000),
    )
    revert_merge = repo.head()
    assert "reversing\nchanges made to" in repo.git("log", "-1", "--format=%B")
    derived = derive_pull_requests(repo.commits(), REPO)
    reverted = [e for e in derived.events if e.kind == REVERTED]
    assert reverted == [
        Event(
            f"revert:{revert}:{bad}",
            REVERTED,
            _dt(3000),
            REPO,
            sha=bad,
            source="git",
        ),
        Event(
            f"revert:{revert_merge}:{merge}",
            REVERTED,
            _dt(6000),
            REPO,
            pr_number=9,
            sha=merge,
            source="git",
        ),
    ]
    assert [e.kind for e in derived.events] == [REVERTED, MERGED, REVERTED]


def test_revert_evidence_weak_unknown_and_ambiguous(repo: Repo) -> None:
    repo.commit("init", when=_at(1000))
    target = repo.commit("feat: a", when=_at(2000))
    weak = repo.commit('Revert "feat: a" (#5)', when=_at(3000))
    repo.commit('Revert "never existed"', when=_at(3100))
    outside = "f" * 40
    repo.commit(f"This reverts commit {outside}.\nThis reverts commit 0000000.\n", when=_at(3200))
    repo.commit("dup", when=_at(3300))
    repo.commit("dup", when=_at(3400))
    repo.commit('Revert "dup"', when=_at(3500))  # ambiguous: two commits named "dup"

    derived = derive_pull_requests(repo.commits(), REPO)
    reverted = {(e.sha, e.source) for e in derived.events if e.kind == REVERTED}
    assert reverted == {(target, "git-subject"), (outside, "git")}
    assert weak in derived.commit_pr  # (#5) is also a squash merge


def test_derive_does_not_depend_on_the_order_of_commits(repo: Repo) -> None:
    repo.commit("init", when=_at(5000))
    repo.git("checkout", "-q", "-b", "f")
    repo.commit("f1", when=_at(1000))  # clock skew: older than its parent
    repo.commit("f2", when=_at(9000))
    repo.git("checkout", "-q", "main")
    repo.commit("m", when=_at(100))
    repo.merge("f", "Merge pull request #1 from o/f", when=_at(200))
    commits = repo.commits()
    expected = derive_pull_requests(commits, REPO)
    assert len([s for s, n in expected.commit_pr.items() if n == 1]) == 3
    shuffled = commits[:]
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert derive_pull_requests(shuffled, REPO) == expected


def test_branch_commits_agree_with_git_rev_list(tmp_path: Path, git_env: dict[str, str]) -> None:
    """A random DAG with skewed clocks: each merge's set is what git reaches from p2, not p1."""
    rnd = random.Random(7)
    out = []
    tips: list[int] = []
    for k in range(1, 400):
        ts = 1_600_000_000 + rnd.randint(0, 10_000)  # dates unrelated to topology
        out.append(b"commit refs/heads/b%d\nmark :%d\n" % (rnd.randint(0, 5), k))
        out.append(b"committer C <c@x> %d +0000\ndata 2\nc\n" % ts)
        if tips:
            out.append(b"from :%d\n" % rnd.choice(tips[-30:]))
            if len(tips) > 3 and rnd.random() < 0.3:
                first = int(out[-1].split(b":")[1])
                other = rnd.choice([t for t in tips if t != first])
                out.append(b"merge :%d\n" % other)
        out.append(b"\n")
        tips.append(k)
    repo = Repo(tmp_path / "dag", git_env, init=False)
    fast_import(repo.path, git_env, b"".join(out))
    commits = repo.commits(rev="--all", numstat=False)
    by_sha = {c.sha: c for c in commits}
    for order in (commits, sorted(commits, key=lambda c: c.sha)):
        rank = history._ranks(order, by_sha)
        merges = [c for c in commits if len(c.parents) == 2]
        assert len(merges) > 30
        for m in merges[:80]:
            p1, p2 = m.parents
            # Full sets: with skewed dates ``git rev-list p2 ^p1`` itself can be wrong.
            want = set(repo.git("rev-list", p2).split()) - set(repo.git("rev-list", p1).split())
            got = history._branch_commits(p1, p2, by_sha, rank)
            assert len(got) == len(want) and set(got) == want


def test_find_reverts() -> None:
    assert find_reverts("x\n\nThis reverts commit ABCDEF1.\nThis reverts commit 12.\n") == (
        "abcdef1",
    )
    assert find_reverts("This reverts commit deadbeefcafe, reversing") == ("deadbeefcafe",)
    assert find_reverts("This reverts commit deadbeefzz") == ()
