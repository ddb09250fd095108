"""The audit on real histories: only the needed diffs, branch rules, any clone.

The selective path (``git diff-tree`` for the tasks' commits only) must give the report the
whole-history ``git log --numstat`` gives; histories are generated with ``git fast-import``
and mix agents, people, merges of several kinds, squashes, reverts, renames and binary files.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from bot.engine.analysis import Analyser
from bot.engine.attribution import Params, attribute
from bot.engine.facts import commit_facts
from bot.engine.report import Scope, build_report
from bot.local.audit import AuditOptions, merge_hours, routing_report, run_audit
from bot.local.gitlog import iter_commits
from bot.local.history import derive_pull_requests

pytestmark = pytest.mark.git

AGENT = ("claude-bot", "bot@example.com")
PEOPLE = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com")]
CLASSES = ["bugfix", "feature", "refactor", "docs"]


def _trailers(task: str, attempt: int, klass: str | None) -> str:
    explicit = f"Agent-Task-Class: {klass}\n" if klass else ""  # else inferred from the paths
    return (
        f"\n\nAgent-Trailers: 1\nAgent: claude-code/2.0.31\nAgent-Task: {task}\n{explicit}"
        f"Agent-Attempt: {attempt}\nAgent-Route: router=r/1; strategy=cascade; tier=economy\n"
        "Agent-Usage: model=anthropic:claude-haiku-4-5; in=1000; out=100; requests=1\n"
    )


class History:
    """A fast-import stream: pull requests merged, squashed or merged as a branch."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.out: list[bytes] = []
        self.mark = 0
        self.time = 1_750_000_000
        self.main_paths: list[str] = []  # fast-import's merges keep the first parent's tree

    def commit(self, ref, message, who, parent, merge=None, edits=b"") -> int:
        self.mark += 1
        self.time += 3600
        name, email = who
        data = message.encode()
        head = (f"commit {ref}\nmark :{self.mark}\nauthor {name} <{email}> {self.time} +0000\n"
                f"committer {name} <{email}> {self.time} +0000\ndata {len(data)}\n")  # fmt: skip
        block = head.encode() + data + b"\n"
        block += f"from :{parent}\n".encode() if parent else b""
        block += f"merge :{merge}\n".encode() if merge else b""
        self.out.append(block + edits)
        return self.mark

    def edits(self, paths: list[str]) -> bytes:
        """Real edits of the files in ``paths`` (which it updates): new files, grown files, a
        rename, a binary file."""
        rng, out = self.rng, []
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.15 and paths:
                old = paths.pop(rng.randrange(len(paths)))
                new = f"moved/{rng.randrange(10**6)}-{old.rsplit('/', 1)[-1]}"
                out.append(f"R {old} {new}\n".encode())
                paths.append(new)
                continue
            if kind < 0.25:
                body = bytes(rng.randrange(256) for _ in range(64))
                path = f"assets/{rng.randrange(10**6)}.bin"
            else:
                lines = rng.randint(1, 300)
                body = "".join(f"line {i} {rng.random()}\n" for i in range(lines)).encode()
                top = rng.choice(["src", "tests", "docs"])
                path = (rng.choice(paths) if paths and rng.random() < 0.4
                        else f"{top}/m{rng.randrange(50)}/f{self.mark}.py")  # fmt: skip
            if path not in paths:
                paths.append(path)
            out.append(f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n")
        return b"".join(out)

    def build(self, prs: int) -> bytes:
        rng = self.rng
        on_main = self.main_paths
        main = self.commit(
            "refs/heads/main", "Initial\n", PEOPLE[0], None, edits=self.edits(on_main)
        )
        for n in range(1, prs + 1):
            agent = rng.random() < 0.5
            branch = rng.choice(["fix", "codex/fix", "feature"]) + f"-{n}"
            ref = f"refs/heads/b{n}"
            tip, on_branch = main, list(on_main)
            klass = rng.choice([*CLASSES, None])
            for attempt in range(1, rng.randint(1, 3) + 1):
                if agent and rng.random() < 0.8:
                    msg, who = f"change {n}.{attempt}" + _trailers(f"T-{n}", attempt, klass), AGENT
                else:
                    msg, who = f"human change {n}.{attempt}\n", rng.choice(PEOPLE)
                tip = self.commit(ref, msg, who, tip, edits=self.edits(on_branch))
            how = rng.random()
            if how < 0.4:
                msg = f"Merge pull request #{n} from acme/{branch}\n\nPR {n}\n"
                main = self.commit("refs/heads/main", msg, PEOPLE[0], main, merge=tip)
            elif how < 0.6:
                msg = (
                    f"Merge branch '{branch}' into 'main'\n\nPR {n}\n\nSee merge request g/p!{n}\n"
                )
                main = self.commit("refs/heads/main", msg, PEOPLE[1], main, merge=tip)
            elif how < 0.8:
                who = AGENT if agent else PEOPLE[1]
                main = self.commit("refs/heads/main", f"squashed {n} (#{n})\n", who, main,
                                   edits=self.edits(on_main))  # fmt: skip
            else:  # straight onto main
                msg = f"direct {n}" + (_trailers(f"D-{n}", 1, klass) if agent else "\n")
                main = self.commit("refs/heads/main", msg, AGENT if agent else PEOPLE[0], main,
                                   edits=self.edits(on_main))  # fmt: skip
            if rng.random() < 0.1:
                main = self.commit("refs/heads/main", f'Revert "change {n}.1"\n', PEOPLE[0],
                                   main, edits=self.edits(on_main))  # fmt: skip
        return b"".join(self.out)


def _make(path: Path, run_git, seed: int, prs: int) -> Path:
    run_git("init", "-q", "-b", "main", str(path))
    run_git("fast-import", "--quiet", cwd=path, input=History(seed).build(prs))
    run_git("checkout", "-q", "main", cwd=path)
    return path


def _everything(repo: Path, analyser: Analyser, files: bool = True) -> dict:
    """The audit as it was: every commit's file list from ``git log --numstat``."""
    commits = list(iter_commits(repo))
    derived = derive_pull_requests(commits, repo.name)
    facts = [
        commit_facts(
            analyser.analyse(c.to_commit_info(derived.branch.get(c.sha))), repo.name, c.parents,
            c.files if files else (), derived.commit_pr.get(c.sha),
        )
        for c in commits
    ]  # fmt: skip
    tasks = attribute(facts, derived.prs, derived.events, Params(21, analyser.prices.tier_names))
    scope = Scope(repository=repo.name, rev="HEAD", commits_scanned=len(commits))
    hours = merge_hours(tasks, facts, derived)
    return {**build_report(scope, facts, tasks, seed=0), "routing": routing_report(tasks, 0, hours)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_selective_diffs_give_the_report_of_all_diffs(tmp_path, run_git, monkeypatch, seed):
    monkeypatch.setattr(
        "bot.local.audit._BATCH", 7
    )  # diffs asked batch by batch, as on a large one
    repo = _make(tmp_path / f"h{seed}", run_git, seed, prs=25)
    analyser = Analyser()
    report = run_audit(AuditOptions(repo), analyser)
    assert report == _everything(repo, analyser)
    # the file lists matter here: without them, complexity and inferred classes change
    assert report != _everything(repo, analyser, files=False)


def _person_commit(run_git, repo: Path, path: str, text: str, message: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    run_git("add", path, cwd=repo)
    run_git("commit", "-q", "-m", message, cwd=repo)


@pytest.mark.parametrize(
    ("merge", "branch"),
    [
        ("Merge pull request #4 from acme/codex/fix-login\n\nFix login", "codex/fix-login"),
        ("Merge branch 'copilot/fix-12' into 'main'\n\nSee merge request g/p!4", "copilot/fix-12"),
        ("Merge branch 'codex/fix-login'", "codex/fix-login"),
    ],
)
def test_branch_rules_apply_to_the_commits_a_merge_brought_in(tmp_path, run_git, merge, branch):
    """Codex cloud's commits carry the person's identity: the branch is the only signal."""
    repo = tmp_path / "app"
    run_git("init", "-q", "-b", "main", str(repo))
    _person_commit(run_git, repo, "README.md", "hi\n", "init")
    run_git("checkout", "-q", "-b", branch, cwd=repo)
    _person_commit(run_git, repo, "app/login.py", "x = 1\n", "Fix login")
    _person_commit(run_git, repo, "app/login.py", "x = 2\n", "Fix login again")
    run_git("checkout", "-q", "main", cwd=repo)
    _person_commit(run_git, repo, "docs/a.md", "a\n", "docs")
    run_git("merge", "-q", "--no-ff", "-m", merge, branch, cwd=repo)
    report = run_audit(AuditOptions(repo), Analyser())
    agent = branch.split("/")[0]
    assert report["by_agent"] == {agent: 2} and report["agent_commits"] == 2
    assert report["tasks"] == 1


def _three_commits(run_git, repo: Path) -> None:
    run_git("init", "-q", "-b", "main", str(repo))
    for n, text in enumerate(["1\n", "1\n2\n", "1\n2\n3\n"]):
        _person_commit(run_git, repo, "app/a.py", text, "fix: a" + _trailers(f"T-{n}", 1, "bugfix"))


def _notes(report: dict) -> list[str]:
    return [n for n in report["limitations"] if n.startswith("line counts unknown")]


def test_a_missing_blob_leaves_that_commit_unknown_not_the_audit(tmp_path, run_git):
    repo = tmp_path / "app"
    _three_commits(run_git, repo)
    bare = tmp_path / "bare.git"  # no work tree for git to read the blob from instead
    shutil.copytree(repo / ".git", bare)
    run_git("config", "core.bare", "true", cwd=bare)
    blob = run_git("rev-parse", "HEAD~1:app/a.py", cwd=repo).decode().strip()
    (bare / "objects" / blob[:2] / blob[2:]).unlink()
    report = run_audit(AuditOptions(bare), Analyser())
    assert report["agent_commits"] == 3 and report["tasks"] == 3
    # HEAD~1 adds the blob, HEAD changes it: both diffs need it
    assert _notes(report) == [
        "line counts unknown for 2 commits whose objects this clone lacks (shallow or partial "
        "clone, or missing objects); they count 0 lines"
    ]


def test_shallow_clone_does_not_count_the_cut_commit_as_adding_everything(tmp_path, run_git):
    repo = tmp_path / "app"
    _three_commits(run_git, repo)
    clone = tmp_path / "shallow"
    run_git("clone", "-q", "--depth=1", f"file://{repo}", str(clone))
    report = run_audit(AuditOptions(clone), Analyser())
    assert report["commits_scanned"] == 1 and len(_notes(report)) == 1
    assert "2 commits" not in _notes(report)[0] and "1 commits" in _notes(report)[0]
    assert "shallow clone: the history stops at 1 commits" in " ".join(report["limitations"])


@pytest.mark.parametrize("spec", ["blob:none", "tree:0"])
def test_partial_clone_is_audited_without_fetching(tmp_path, run_git, spec):
    repo = tmp_path / "app"
    _three_commits(run_git, repo)
    run_git("config", "uploadpack.allowFilter", "true", cwd=repo)
    clone = tmp_path / "partial"
    run_git("clone", "-q", f"--filter={spec}", "--no-checkout", f"file://{repo}", str(clone))
    before = run_git("count-objects", "-v", cwd=clone)
    report = run_audit(AuditOptions(clone), Analyser())
    assert run_git("count-objects", "-v", cwd=clone) == before
    assert report["agent_commits"] == 3 and "3 commits" in _notes(report)[0]
    full = run_audit(AuditOptions(repo), Analyser())
    assert _notes(full) == [] and full["agent_commits"] == 3


def test_unknown_counts_are_not_reported_when_the_clone_is_whole(tmp_path, run_git):
    repo = tmp_path / "app"
    _three_commits(run_git, repo)
    assert _notes(run_audit(AuditOptions(repo), Analyser())) == []
