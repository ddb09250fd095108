"""Reading local histories: real repositories built in temporary directories
(``tests.unit.local.repos``), every field compared exactly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.records import FileChange
from bot.local import gitlog
from bot.local.gitlog import (
    Diffs,
    GitCommit,
    GitLogError,
    iter_commits,
    numstat_for,
    shallow_commits,
)
from bot.protocol.commit import Identity
from tests.unit.local.repos import Repo, fast_import

pytestmark = pytest.mark.git


@pytest.fixture
def repo(tmp_path: Path, git_env: dict[str, str]) -> Repo:
    return Repo(tmp_path / "repo", git_env)


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
