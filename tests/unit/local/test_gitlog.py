"""Reading local histories: real repositories built in temporary directories.

Every repository is made by the real git with the isolated configuration of conftest.py;
dates are pinned through ``GIT_AUTHOR_DATE``/``GIT_COMMITTER_DATE`` so fields can be
compared exactly. Derivation is checked against ``git rev-list`` on generated histories.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.records import MERGED, REVERTED, Event, FileChange, PullRequest
from bot.local import gitlog
from bot.local.gitlog import (
    Diffs,
    GitCommit,
    GitLogError,
    derive_pull_requests,
    find_reverts,
    is_fixup,
    iter_commits,
    line_survival,
    numstat_for,
    shallow_commits,
    subject_of,
)
from bot.protocol.commit import Identity

pytestmark = pytest.mark.git

REPO = "octo/shop"


class Repo:
    """A repository driven by the isolated git; ``commit`` returns the new sha."""

    def __init__(self, path: Path, env: dict[str, str], *, bare: bool = False, init=True):
        self.path = path
        self.env = {**env, "GIT_CEILING_DIRECTORIES": str(path.parent)}
        if init:
            args = ["init", "-q", "-b", "main"] + (["--bare"] if bare else [])
            self.git(*args, str(path), cwd=path.parent)

    def git(
        self, *args: str, input: bytes | None = None, cwd: Path | None = None, **extra: str
    ) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            input=input,
            env={**self.env, **extra},
            capture_output=True,
        )
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout.decode("utf-8", "replace").strip()

    def write(self, name: str, content: str | bytes) -> None:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(
        self,
        message: str | bytes,
        *,
        when: str = "1700000000 +0000",
        committed: str | None = None,
        author: tuple[str, str] | None = None,
        committer: tuple[str, str] | None = None,
        files: dict[str, str | bytes] | None = None,
    ) -> str:
        for name, content in (files or {}).items():
            self.write(name, content)
        self.git("add", "-A")
        extra = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": committed or when}
        if author:
            extra.update(GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1])
        if committer:
            extra.update(GIT_COMMITTER_NAME=committer[0], GIT_COMMITTER_EMAIL=committer[1])
        raw = message.encode() if isinstance(message, str) else message
        self.git(
            "commit",
            "-q",
            "--allow-empty",
            "--allow-empty-message",
            "--cleanup=verbatim",
            "-F",
            "-",
            input=raw,
            **extra,
        )
        return self.head()

    def merge(self, branch: str, message: str, when: str = "1700000000 +0000") -> str:
        self.git(
            "merge",
            "-q",
            "--no-ff",
            "-m",
            message,
            branch,
            GIT_AUTHOR_DATE=when,
            GIT_COMMITTER_DATE=when,
        )
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev)

    def commits(self, **kwargs) -> list[GitCommit]:
        return list(iter_commits(self.path, env=self.env, **kwargs))


@pytest.fixture
def repo(tmp_path: Path, git_env: dict[str, str]) -> Repo:
    return Repo(tmp_path / "repo", git_env)


def fast_import(path: Path, env: dict[str, str], stream: bytes) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], env=env, check=True)
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=stream, env=env, check=True
    )


# --------------------------------------------------------------------------------------
# iter_commits


def test_fields_are_parsed_exactly(repo: Repo) -> None:
    first = repo.commit(
        "feat: add the shop\n\nBody line.\n\nAgent: claude-code/2.0.31\n",
        when="1700000000 +0530",
        committed="1700003600 -0700",
        author=("Zoë Ünïcode", "zoe@example.com"),
        committer=("Cé Committer", "ce@example.com"),
        files={"shop.py": "a\nb\nc\n", "logo.png": b"\x89PNG\0\1\2\3", "docs/readme.md": "x\n"},
    )
    repo.git("mv", "shop.py", "store.py")
    second = repo.commit(
        "refactor: rename the shop\n",
        when="1700100000 +0000",
        files={"store.py": "a\nb\nc\nd\n", "docs/readme.md": "y\n"},
    )
    newest, oldest = repo.commits()

    assert oldest == GitCommit(
        sha=first,
        parents=(),
        author=Identity("Zoë Ünïcode", "zoe@example.com"),
        committer=Identity("Cé Committer", "ce@example.com"),
        authored_at=datetime(2023, 11, 15, 3, 43, 20, tzinfo=timezone(timedelta(hours=5.5))),
        committed_at=datetime(2023, 11, 14, 16, 13, 20, tzinfo=timezone(timedelta(hours=-7))),
        message="feat: add the shop\n\nBody line.\n\nAgent: claude-code/2.0.31\n",
        files=(
            FileChange("docs/readme.md", 1, 0),
            FileChange("logo.png", 0, 0),  # binary: git prints "-\t-"
            FileChange("shop.py", 3, 0),
        ),
    )
    assert oldest.authored_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert oldest.authored_at.timestamp() == 1700000000
    assert oldest.committed_at.timestamp() == 1700003600
    assert oldest.subject == "feat: add the shop"
    assert newest.sha == second and newest.parents == (first,)
    assert newest.author == Identity("Test Author", "author@example.com")
    assert newest.committer == Identity("Test Committer", "committer@example.com")
    assert newest.authored_at == datetime(2023, 11, 16, 2, 0, 0, tzinfo=UTC)
    # The rename is detected: the file counts under its new path with its changed lines only.
    assert newest.files == (FileChange("docs/readme.md", 1, 1), FileChange("store.py", 1, 0))
    assert newest.lines_added == 2
    info = newest.to_commit_info(branch="main")
    assert (info.sha, info.message, info.branch) == (second, newest.message, "main")


def test_renames_off_counts_a_move_as_delete_and_add(repo: Repo) -> None:
    repo.commit("one", files={"a.txt": "1\n2\n3\n"})
    repo.git("mv", "a.txt", "b.txt")
    repo.commit("two")
    newest = repo.commits(renames=False)[0]
    assert newest.files == (FileChange("a.txt", 0, 3), FileChange("b.txt", 3, 0))
    assert repo.commits(numstat=False)[0].files == ()


WEIRD_MESSAGES = [
    b"subject with \x1e record \x1f unit \x1d group separators\n\nbody \x01\x02\x7f\n",
    b"invalid utf-8 \xff\xfe\xc3( in the subject\n\nand \xe2\x82 truncated\n",
    b"looks like a record\n\n" + b"a" * 40 + b"\n1\t2\tfake/path\n-\t-\tbin\n\n\n",
    b"\nleading newline, trailing spaces   \n\n\n",
    b"no trailing newline",
    b"",
    b"tab\tin\tsubject\n\n%H %x00 %B format placeholders\n",
    b"\xf0\x9f\x90\x8d emoji and CRLF\r\n\r\nbody\r\n",
    b"last \xe2\x82\nbody",
]


def test_messages_with_any_bytes_round_trip(repo: Repo) -> None:
    # git commit would rewrite invalid UTF-8 as Latin-1: write the commit objects directly.
    shas = []
    for k, raw in enumerate(WEIRD_MESSAGES):
        repo.write(f"f{k}.txt", "x\n" * (k + 1))
        repo.git("add", "-A")
        tree = repo.git("write-tree")
        parent = f"parent {shas[-1]}\n".encode() if shas else b""
        obj = (
            b"tree %s\n%sauthor A <a@x> 1700000000 +0000\ncommitter C <c@x> 1700000000 +0000\n\n"
            % (tree.encode(), parent)
        ) + raw
        shas.append(repo.git("hash-object", "-w", "-t", "commit", "--stdin", input=obj))
        repo.git("update-ref", "HEAD", shas[-1])
    assert repo.git("cat-file", "commit", "HEAD").endswith("ody")  # stored as written
    commits = repo.commits()[::-1]
    assert [c.sha for c in commits] == shas
    for k, (c, raw) in enumerate(zip(commits, WEIRD_MESSAGES, strict=True)):
        assert c.message == raw.decode("utf-8", "replace"), raw
        assert c.files == (FileChange(f"f{k}.txt", k + 1, 0),)
    assert commits[0].subject == "subject with \x1e record \x1f unit \x1d group separators"
    assert commits[1].message.startswith("invalid utf-8 \ufffd\ufffd\ufffd( in")
    assert commits[3].subject == "leading newline, trailing spaces"


def test_paths_with_tabs_newlines_and_non_utf8_bytes(repo: Repo) -> None:
    weird = "we\tird\nname ü.txt"
    repo.commit("weird paths", files={weird: "1\n2\n"})
    raw_name = b"latin1-\xe9.txt"
    (repo.path / os.fsdecode(raw_name)).write_bytes(b"z\n")
    repo.commit("non-utf8 path")
    newest, oldest = repo.commits()
    assert oldest.files == (FileChange(weird, 2, 0),)
    # Paths decode losslessly (surrogateescape) so they can be handed back to git.
    assert newest.files == (FileChange(os.fsdecode(raw_name), 1, 0),)
    assert os.fsencode(newest.files[0].path) == raw_name


def test_merge_commits_have_two_parents_and_no_numstat(repo: Repo) -> None:
    base = repo.commit("base", files={"a": "1\n"})
    repo.git("checkout", "-q", "-b", "topic")
    tip = repo.commit("topic work", files={"b": "2\n"})
    repo.git("checkout", "-q", "main")
    main = repo.commit("main work", files={"c": "3\n"})
    merge = repo.merge("topic", "Merge branch 'topic'")
    commits = {c.sha: c for c in repo.commits()}
    assert commits[merge].parents == (main, tip)
    assert commits[merge].files == ()
    assert commits[merge].is_merge and not commits[base].is_merge
    assert set(commits) == {base, tip, main, merge}


def test_numstat_for_chosen_commits_matches_the_log(repo: Repo) -> None:
    repo.commit("root", files={"a": "1\n2\n", "bin": b"\0\1"})
    repo.git("mv", "a", "moved")
    repo.commit("rename", files={"moved": "1\n2\n3\n", "we\tird": "x\n", "#\nodd": "y\n"})
    repo.commit("empty")
    repo.git("checkout", "-q", "-b", "side", "HEAD~1")
    repo.commit("side", files={"s": "s\n"})
    repo.git("checkout", "-q", "main")
    repo.merge("side", "Merge branch 'side'")
    for renames in (True, False):
        commits = repo.commits(renames=renames)
        want = {c.sha: c.files for c in commits}
        diffs = numstat_for(
            repo.path, [c.sha.upper() for c in commits], renames=renames, env=repo.env
        )
        assert diffs == Diffs(want)
        assert list(diffs.files) == list(want)  # in the order asked
    assert numstat_for(repo.path, [], env=repo.env) == Diffs({})
    with pytest.raises(ValueError, match="full commit hash"):
        numstat_for(repo.path, ["HEAD"], env=repo.env)
    unknown = "0" * 40  # git skips it
    assert numstat_for(repo.path, [unknown], env=repo.env) == Diffs({unknown: ()})


_NAME = st.text(alphabet="ab#:\t\n é-", min_size=1, max_size=6).filter(
    lambda part: part not in (".", "..", ".git")
)


def _quoted(path: str) -> str:
    """A path as fast-import reads it: C-style quoted."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\t", "\\t").replace("\n", "\\n") + '"'


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["M", "M", "D", "R"]),
                st.lists(_NAME, min_size=1, max_size=2).map("/".join),
                st.integers(0, 30),
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_numstat_for_agrees_with_the_log_on_any_paths(
    tmp_path_factory: pytest.TempPathFactory, git_env: dict[str, str], edits
) -> None:
    """Whatever the paths hold (tabs, newlines, '#', spaces), the echo framing never slips."""
    stream, present = [], {}
    for n, commit in enumerate(edits, 1):
        lines = [f"commit refs/heads/main\nmark :{n}\ncommitter A <a@x> {n} +0000\ndata 1\nc"]
        lines += [f"from :{n - 1}"] if n > 1 else []
        for op, path, size in commit:
            if op == "M" and not any(p.startswith(path + "/") or path.startswith(p + "/")
                                     for p in present if p != path):  # fmt: skip
                body = "".join(f"{path} {i} {size}\n" for i in range(size))
                lines.append(f"M 100644 inline {_quoted(path)}\ndata {len(body.encode())}\n{body}")
                present[path] = size
            elif op in "DR" and present:
                old = sorted(present)[size % len(present)]
                if (
                    op == "D"
                    or path in present
                    or any(p.startswith(path + "/") or path.startswith(p + "/") for p in present)
                ):
                    lines.append(f"D {_quoted(old)}")
                    del present[old]
                else:
                    lines.append(f"R {_quoted(old)} {_quoted(path)}")
                    present[path] = present.pop(old)
        stream.append("\n".join(lines) + "\n")
    path = tmp_path_factory.mktemp("paths")
    fast_import(path, git_env, "".join(stream).encode())
    commits = list(iter_commits(path, rev="main", env=git_env))
    assert numstat_for(path, [c.sha for c in commits], env=git_env) == Diffs(
        {c.sha: c.files for c in commits}
    )


def _delete_object(repo: Path, sha: str) -> None:
    (repo / "objects" / sha[:2] / sha[2:]).unlink()


def test_numstat_for_skips_a_commit_whose_blob_is_missing(repo: Repo, tmp_path: Path) -> None:
    """git diff-tree stops at the first unreadable object: each run goes past one more."""
    first = repo.commit("one", files={"a": "1\n", "b": "1\n"})
    second = repo.commit("two", files={"a": "1\n2\n"})
    third = repo.commit("three", files={"b": "1\n2\n3\n"})
    fourth = repo.commit("four", files={"c": "c\n"})
    bare = tmp_path / "bare.git"  # a copy of the loose objects, with no work tree to fall back on
    shutil.copytree(repo.path / ".git", bare)
    repo.git("config", "core.bare", "true", cwd=bare)
    _delete_object(bare, repo.head(f"{second}:a"))  # the second's new side, the third's none
    _delete_object(bare, repo.head(f"{third}:b"))
    shas = [first, second, third, fourth]
    diffs = numstat_for(bare, shas, env=repo.env)
    assert diffs.unreadable == (second, third)
    assert diffs.files == {first: (FileChange("a", 1, 0), FileChange("b", 1, 0)),
                           fourth: (FileChange("c", 1, 0),)}  # fmt: skip
    with pytest.raises(GitLogError, match="fatal: unable to read"):
        list(iter_commits(bare, env=repo.env))  # what the audit met before


def test_numstat_for_never_fetches_into_a_partial_clone(repo: Repo, tmp_path: Path) -> None:
    """What is missing is found up front: git takes a second or more to fail on each commit,
    so a diff-tree run per missing object would turn an audit into hours."""
    one = repo.commit("one", files={"a": "a\n", "b": "b\n"})
    two = repo.commit("two", files={"b": "b\nb\n"})
    three = repo.commit("three", files={"c": "c\n"})
    repo.git("config", "uploadpack.allowFilter", "true")
    trace = tmp_path / "trace"
    for spec, checkout, readable in [
        ("blob:none", "--no-checkout", {}),
        ("tree:0", "--no-checkout", {}),
        ("blob:none", "--checkout", {three: (FileChange("c", 1, 0),)}),  # HEAD's blobs: a, b, c
    ]:
        clone = tmp_path / f"{spec.replace(':', '-')}{checkout}"
        repo.git("clone", "-q", f"--filter={spec}", checkout, f"file://{repo.path}", str(clone),
                 cwd=tmp_path)  # fmt: skip
        objects = repo.git("count-objects", "-v", cwd=clone)
        commits = list(iter_commits(clone, numstat=False, env=repo.env))
        assert [c.sha for c in commits] == [three, two, one]
        env = {**repo.env, "GIT_TRACE": str(trace)}
        trace.write_text("")
        diffs = numstat_for(clone, [three, two, one], env=env)
        assert diffs.files == readable
        assert set(diffs.unreadable) == {three, two, one} - set(readable)
        assert repo.git("count-objects", "-v", cwd=clone) == objects  # nothing fetched
        runs = trace.read_text().count("built-in: git diff-tree")
        assert runs <= 2, runs  # one --raw, one --numstat: none per missing object


def test_shallow_commits(repo: Repo, tmp_path: Path) -> None:
    repo.commit("one", files={"a": "1\n"})
    two = repo.commit("two", files={"a": "1\n2\n"})
    repo.commit("three", files={"b": "b\n"})
    assert shallow_commits(repo.path, env=repo.env) == frozenset()
    clone = tmp_path / "shallow"
    repo.git("clone", "-q", "--depth=2", f"file://{repo.path}", str(clone), cwd=tmp_path)
    assert shallow_commits(clone, env=repo.env) == {two}
    assert shallow_commits(clone / ".git", env=repo.env) == {two}


def test_bare_repository_and_a_subdirectory(repo: Repo, tmp_path: Path) -> None:
    repo.commit("one", files={"sub/dir/a": "1\n"})
    repo.commit("two", files={"sub/dir/a": "1\n2\n"})
    bare = tmp_path / "bare.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(bare))
    in_bare = list(iter_commits(bare, env=repo.env))
    in_sub = list(iter_commits(repo.path / "sub" / "dir", env=repo.env))
    assert in_bare == repo.commits() == in_sub
    assert in_bare[0].files == (FileChange("sub/dir/a", 1, 0),)  # paths from the top


def test_empty_repositories_give_no_commits(tmp_path: Path, git_env: dict[str, str]) -> None:
    empty = Repo(tmp_path / "empty", git_env)
    bare = Repo(tmp_path / "empty.git", git_env, bare=True)
    assert empty.commits() == []
    assert bare.commits() == []
    assert empty.commits(rev="--all") == []


def test_not_a_repository_raises_gits_message(tmp_path: Path, git_env: dict[str, str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    env = {**git_env, "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    with pytest.raises(GitLogError, match="not a git repository"):
        list(iter_commits(plain, env=env))
    with pytest.raises(GitLogError, match="cannot change to"):
        list(iter_commits(tmp_path / "missing", env=env))


def test_bad_revisions(repo: Repo) -> None:
    repo.commit("one")
    with pytest.raises(GitLogError, match="nope"):
        repo.commits(rev="nope")
    with pytest.raises(ValueError, match="not a revision"):
        iter_commits(repo.path, rev="--output=/tmp/x")


def test_revisions_ranges_and_dates(repo: Repo) -> None:
    jan = repo.commit("jan", when="2024-01-01T12:00:00+00:00")
    feb = repo.commit("feb", when="2024-02-01T12:00:00+00:00")
    repo.git("checkout", "-q", "-b", "topic")
    mar = repo.commit("mar", when="2024-03-01T12:00:00+01:00")
    repo.git("checkout", "-q", "main")

    def shas(**kwargs) -> list[str]:
        return [c.sha for c in repo.commits(**kwargs)]

    assert shas() == [feb, jan]
    assert shas(rev="topic") == [mar, feb, jan]
    assert shas(rev="main..topic") == [mar]
    assert shas(rev=["topic", "^" + jan]) == [mar, feb]
    assert shas(rev="--all") == [mar, feb, jan]
    assert shas(rev="--branches", since="2024-01-15") == [mar, feb]
    assert shas(rev="topic", since=datetime(2024, 1, 15), until=datetime(2024, 2, 15)) == [feb]
    assert shas(rev="topic", since=date(2024, 2, 2)) == [mar]
    tz = timezone(timedelta(hours=-5))
    assert shas(rev="topic", until=datetime(2024, 2, 1, 7, 0, 1, tzinfo=tz)) == [feb, jan]
    assert shas(rev="topic", until=datetime(2024, 2, 1, 6, 59, 59, tzinfo=tz)) == [jan]


def _big_history(path: Path, env: dict[str, str], n: int = 3000) -> None:
    """``n`` commits of ~2 KB messages: far more output than a pipe and a read hold."""
    out = []
    for k in range(1, n + 1):
        msg = f"commit {k}\n\n{'lorem ipsum ' * 170}\n".encode()
        out.append(b"commit refs/heads/main\nmark :%d\n" % k)
        out.append(b"committer C <c@example.com> %d +0000\n" % (1_600_000_000 + k))
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        if k > 1:
            out.append(b"from :%d\n" % (k - 1))
        out.append(b"M 100644 inline f%d.txt\ndata 2\n%d\n\n" % (k % 50, k % 10))
    fast_import(path, env, b"".join(out))


@pytest.fixture
def popens(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen]:
    started: list[subprocess.Popen] = []
    real = subprocess.Popen

    def spy(*args, **kwargs):
        proc = real(*args, **kwargs)
        if "log" in proc.args:  # subprocess.run goes through Popen too
            started.append(proc)
        return proc

    monkeypatch.setattr(gitlog.subprocess, "Popen", spy)
    return started


def test_closing_early_kills_and_reaps_git(
    tmp_path: Path, git_env: dict[str, str], popens: list[subprocess.Popen]
) -> None:
    _big_history(tmp_path / "big", git_env)
    commits = iter_commits(tmp_path / "big", env=git_env)
    assert next(commits).subject == "commit 3000"
    (proc,) = popens
    assert proc.poll() is None  # git is blocked writing the rest
    commits.close()
    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)  # already reaped: no zombie

    for _ in iter_commits(tmp_path / "big", env=git_env):
        break  # dropping a for loop's iterator closes it too (CPython frees it at once)
    assert popens[1].returncode == -signal.SIGKILL


def test_a_killed_git_raises(
    tmp_path: Path, git_env: dict[str, str], popens: list[subprocess.Popen]
) -> None:
    _big_history(tmp_path / "big", git_env)
    commits = iter_commits(tmp_path / "big", env=git_env)
    seen = [next(commits)]
    popens[0].kill()
    with pytest.raises(GitLogError, match="status -9"):
        seen.extend(commits)
    assert 1 <= len(seen) < 3000
    assert all(c.subject.startswith("commit ") for c in seen)  # no half-read commit


def test_a_full_history_streams_in_small_reads(
    tmp_path: Path, git_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk boundaries anywhere: inside a field, a multi-byte character, a numstat list."""
    repo = Repo(tmp_path / "r", git_env)
    for k in range(12):
        repo.commit(f"ü{k} ✓\n\n{'é' * k}\n", files={f"d/f{j}": f"{k}\n" for j in range(k)})
    repo.git("mv", "d/f1", "d/moved")
    repo.commit("rename", files={"d/moved": "x\n"})
    expected = repo.commits()
    for size in (1, 2, 3, 7, 64):
        monkeypatch.setattr(gitlog, "CHUNK", size)
        assert repo.commits() == expected
        assert repo.commits(numstat=False) == [
            GitCommit(
                c.sha, c.parents, c.author, c.committer, c.authored_at, c.committed_at, c.message
            )
            for c in expected
        ]


def test_a_commit_with_many_files_spanning_many_reads(
    tmp_path: Path, git_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Repo(tmp_path / "r", git_env)
    repo.commit("before", files={"x": "1\n"})
    repo.commit("many", files={f"dir/file-{k:05d}.txt": "1\n" for k in range(3000)})
    repo.commit("after", files={"x": "2\n"})
    monkeypatch.setattr(gitlog, "CHUNK", 512)
    after, many, before = repo.commits()
    assert len(many.files) == 3000 and many.lines_added == 3000
    assert [c.subject for c in (after, many, before)] == ["after", "many", "before"]


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
        rank = gitlog._ranks(order, by_sha)
        merges = [c for c in commits if len(c.parents) == 2]
        assert len(merges) > 30
        for m in merges[:80]:
            p1, p2 = m.parents
            # Full sets: with skewed dates ``git rev-list p2 ^p1`` itself can be wrong.
            want = set(repo.git("rev-list", p2).split()) - set(repo.git("rev-list", p1).split())
            got = gitlog._branch_commits(p1, p2, by_sha, rank)
            assert len(got) == len(want) and set(got) == want


def test_small_helpers() -> None:
    assert is_fixup("fixup! feat: x") and is_fixup("squash! x") and is_fixup("amend! x")
    assert not is_fixup("fix: x") and not is_fixup("fixup!x")
    assert subject_of("one\ntwo\n\nbody") == "one two"
    assert subject_of("\n\n  title  \n\nbody") == "  title"
    assert subject_of("") == ""
    assert find_reverts("x\n\nThis reverts commit ABCDEF1.\nThis reverts commit 12.\n") == (
        "abcdef1",
    )
    assert find_reverts("This reverts commit deadbeefcafe, reversing") == ("deadbeefcafe",)
    assert find_reverts("This reverts commit deadbeefzz") == ()


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
