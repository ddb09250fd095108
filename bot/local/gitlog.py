"""Read a local git history with one streaming ``git log``, and derive what it implies.

``iter_commits`` runs a single ``git log -z`` and parses its output while it streams, so a
history of any size is read in constant memory. ``derive_pull_requests`` recovers pull
requests, merges and reverts from the commits alone (no forge API), and ``line_survival``
measures, with ``git blame``, how much of each commit's added code is still there.

The record framing (docs/gitlog.md): ``--format`` asks for nine NUL-terminated fields, the
message last, and ``-z`` ends each commit's header with one more NUL. NUL is the only byte a
commit header or message cannot hold (git stops a message at its first NUL), so every field
splits exactly, whatever else the message contains. ``--numstat`` entries follow as
``added<TAB>deleted<TAB>path`` NUL-terminated (a rename: ``added<TAB>deleted<TAB>``, then the
old and the new path as two more fields); the first is preceded by a newline. A commit's
header always starts with its hash, which holds no tab, while every numstat entry does:
that is how the reader knows where a commit's file list ends.
"""

from __future__ import annotations

import codecs
import contextlib
import heapq
import os
import re
import subprocess
import tempfile
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from bot.engine.records import MERGED, REVERTED, Event, FileChange, PullRequest
from bot.protocol.commit import CommitInfo, Identity

GIT = "git"
CHUNK = 1 << 18  # bytes per read from git's stdout
PSEUDO_REVS = frozenset({"--all", "--branches", "--tags", "--remotes"})
# Environment variables that would point git somewhere other than ``repo``.
_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX")
# Config that would change what ``git log`` prints; overridden on the command line.
_CONFIG = ("diff.relative=false", "log.showSignature=false", "color.ui=never", "core.pager=cat")
_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B%x00"
_FIELDS = 10  # the nine fields above and the empty one -z adds after each header
FIXUP_PREFIXES = ("fixup! ", "squash! ", "amend! ")
# Branches whose merge into another branch is a back-merge or a pull, not a pull request.
DEFAULT_BRANCHES = frozenset({"main", "master", "trunk", "develop", "development", "dev"})
_HEX = frozenset("0123456789abcdefABCDEF")
# git's complaints about a missing object name it: "unable to read <sha>", "could not fetch".
_OBJECT_ID = re.compile(rb"\b[0-9a-f]{40}(?:[0-9a-f]{24})?\b")
# Reading a partial clone must not fetch each missing object: GIT_NO_LAZY_FETCH (git >= 2.44)
# forbids it; older git tries, and fails at once when no transport is allowed.
_NO_FETCH = {"GIT_NO_LAZY_FETCH": "1", "GIT_ALLOW_PROTOCOL": ""}
_REVERTS = "This reverts commit "
_SPACE = " \t\r\v\f"  # "" is in it too: an empty subject takes the careful path


class GitLogError(RuntimeError):
    """git could not be run, failed, or printed something this reader does not understand."""


@dataclass(frozen=True, slots=True)
class GitCommit:
    """One commit as ``git log`` prints it.

    ``message`` is the raw message (``%B``) decoded as UTF-8 with invalid bytes replaced;
    names and e-mails likewise. Paths in ``files`` are decoded losslessly (``surrogateescape``,
    as ``os.fsdecode`` does) so they can be handed back to git; ``files`` is empty for merge
    commits and when read with ``numstat=False``. Binary files count 0 added, 0 deleted.
    """

    sha: str
    parents: tuple[str, ...]
    author: Identity
    committer: Identity
    authored_at: datetime
    committed_at: datetime
    message: str
    files: tuple[FileChange, ...] = ()

    @property
    def subject(self) -> str:
        """The subject as ``%s`` prints it: the first paragraph, on one line."""
        return subject_of(self.message)

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def lines_added(self) -> int:
        return sum(f.added for f in self.files)

    def to_commit_info(self, branch: str | None = None) -> CommitInfo:
        return CommitInfo(
            self.sha,
            self.message,
            self.author,
            self.committer,
            self.authored_at,
            self.committed_at,
            branch,
        )


def subject_of(message: str) -> str:
    """git's subject (``%s``): the first paragraph, its lines joined by spaces."""
    start = 0
    n = len(message)
    while start < n:  # leading blank lines are skipped
        nl = message.find("\n", start)
        end = n if nl < 0 else nl
        if message[start:end].strip():
            break
        start = end + 1
    nl = message.find("\n", start)
    if nl < 0:
        return message[start:].rstrip()
    if message.startswith("\n", nl + 1) or nl + 1 >= n:  # the common one-line subject
        return message[start:nl].rstrip()
    lines = []
    for line in message[start:].split("\n"):
        if not line.strip():
            break
        lines.append(line.rstrip())
    return " ".join(lines)


def is_fixup(subject: str) -> bool:
    """A ``git commit --fixup/--squash`` commit: meant to be folded into an earlier one."""
    return subject.startswith(FIXUP_PREFIXES)


# --------------------------------------------------------------------------------------
# Reading the log


def iter_commits(
    repo: Path | str,
    *,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    rev: str | Sequence[str] | None = None,
    numstat: bool = True,
    renames: bool = True,
    env: Mapping[str, str] | None = None,
) -> Iterator[GitCommit]:
    """The commits of ``repo`` (a working tree, a subdirectory of one, or a bare repository).

    ``rev`` defaults to ``HEAD`` (an unborn ``HEAD``, as in an empty repository, gives no
    commits); it may be a branch, tag, sha, a range (``main..topic``), several of them, or
    one of ``--all``, ``--branches``, ``--tags``, ``--remotes``. ``since``/``until`` filter
    on the committer date as ``git log --since/--until`` do; a naive datetime is UTC.
    Commits come in ``git log``'s default order (newest first, parents after children).

    ``renames`` turns git's rename detection on for ``numstat``: a moved file counts only
    its changed lines, under its new path, which is what ``git blame`` attributes too.

    Closing the iterator early (``close()``, ``break`` out of a ``for`` and dropping it)
    kills git and reaps it. Raises ``GitLogError`` if git fails, with git's message.
    """
    args = _log_args(_FORMAT, since, until, rev, numstat, renames)
    return _stream(_git_cmd(repo) + args, _git_env(env), numstat)


def _log_args(
    fmt: str,
    since: datetime | date | str | None,
    until: datetime | date | str | None,
    rev: str | Sequence[str] | None,
    numstat: bool,
    renames: bool,
) -> list[str]:
    """``git log`` arguments; a revision that looks like an option raises ``ValueError``."""
    args = ["log", "-z", f"--format={fmt}", "--date=raw", "--encoding=UTF-8", "--no-color"]
    args.append("--no-show-signature")
    if numstat:
        args += ["--numstat", "--no-ext-diff", "--no-textconv", "-M" if renames else "--no-renames"]
    if since is not None:
        args.append(f"--since={_git_date(since)}")
    if until is not None:
        args.append(f"--until={_git_date(until)}")
    revs = [] if rev is None else [rev] if isinstance(rev, str) else list(rev)
    if not revs:
        args += ["--ignore-missing", "--end-of-options", "HEAD"]  # unborn HEAD: no commits
    else:
        for r in revs:
            if r.startswith("-") and r not in PSEUDO_REVS:
                raise ValueError(f"not a revision: {r!r}")
        args += [r for r in revs if r in PSEUDO_REVS]
        args += ["--end-of-options", *(r for r in revs if r not in PSEUDO_REVS)]
    args.append("--")
    return args


def _git_cmd(repo: Path | str) -> list[str]:
    return [GIT, "--no-pager", "-C", os.fspath(repo)] + [
        arg for kv in _CONFIG for arg in ("-c", kv)
    ]


def _git_env(env: Mapping[str, str] | None) -> dict[str, str]:
    base = os.environ if env is None else env
    return {k: v for k, v in base.items() if k not in _LOCATION_VARS} | _NO_FETCH


def _git_date(value: datetime | date | str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"@{int(value.timestamp())}"


def _stream(cmd: list[str], env: dict[str, str], numstat: bool) -> Iterator[GitCommit]:
    with tempfile.TemporaryFile() as stderr:  # a file cannot fill up and block git
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                bufsize=0,
            )
        except OSError as exc:
            raise GitLogError(f"cannot run git: {exc}") from exc
        try:
            yield from _read(proc, numstat, stderr)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(OSError):
                    proc.kill()
            with contextlib.suppress(OSError):
                proc.stdout.close()
            proc.wait()


def _read(proc: subprocess.Popen, numstat: bool, stderr) -> Iterator[GitCommit]:
    _grow_pipe(proc.stdout)
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    parser = _Parser(numstat)
    read = proc.stdout.read
    partial: list[str] = []  # text after the last NUL seen
    pending: list[str] = []  # fields of a commit not yet complete
    stuck = 0  # len(pending) when it last could not be parsed
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        text = decoder.decode(chunk)
        if "\0" not in text:
            partial.append(text)
            continue
        if partial:
            partial.append(text)
            text = "".join(partial)
        parts = text.split("\0")
        partial = [parts.pop()]
        if pending:
            pending.extend(parts)
            parts = pending
            if len(parts) < 2 * stuck:  # a huge commit: wait for more before re-parsing
                continue
        commits, used = parser.parse(parts, eof=False)
        pending = parts[used:] if used < len(parts) else []
        stuck = len(pending) if len(pending) > 1000 else 0
        yield from commits
    tail = "".join(partial) + decoder.decode(b"", final=True)
    if proc.wait() != 0:
        stderr.seek(0)
        message = stderr.read().decode("utf-8", "replace").strip()
        raise GitLogError(message or f"git log exited with status {proc.returncode}")
    if tail:
        raise GitLogError("git log output ended in the middle of a commit")
    commits, used = parser.parse(pending, eof=True)
    if used != len(pending):
        raise GitLogError("git log output ended in the middle of a commit")
    yield from commits


def _grow_pipe(pipe) -> None:
    """Ask Linux for a 1 MiB pipe: fewer, larger reads. Harmless where unsupported."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass


class _Parser:
    """Turns ``git log -z`` fields into ``GitCommit``s, sharing identities and time zones."""

    def __init__(self, numstat: bool):
        self.numstat = numstat
        self.identities: dict[tuple[str, str], Identity] = {}
        self.zones: dict[str, timezone] = {}

    def parse(self, parts: list[str], eof: bool) -> tuple[list[GitCommit], int]:
        """Commits complete in ``parts`` and the index of the first field not consumed."""
        commit = self.commit
        if not self.numstat:  # fixed-size records: let zip() cut them
            used = len(parts) - len(parts) % _FIELDS
            fields = iter(parts if used == len(parts) else parts[:used])
            return [commit(*f, ()) for f in zip(*[fields] * _FIELDS, strict=False)], used
        out = []
        n = len(parts)
        i = 0
        numstat_entries = self.numstat_entries
        while i + _FIELDS <= n:
            j = i + _FIELDS
            files: tuple[FileChange, ...] = ()
            if j >= n:
                if not eof:
                    break
            elif parts[j].startswith("\n"):
                files, j = numstat_entries(parts, j, n, eof)
                if j < 0:
                    break
            out.append(commit(*parts[i : i + _FIELDS], files))
            i = j
        return out, i

    def commit(
        self,
        sha: str,
        parents: str,
        an: str,
        ae: str,
        ad: str,
        cn: str,
        ce: str,
        cd: str,
        message: str,
        end: str,
        files: tuple[FileChange, ...],
    ) -> GitCommit:
        if sha[:1] == "\n":  # a diff separator with no numstat lines after it
            sha = sha[1:]
        if end or len(sha) not in (40, 64):
            raise GitLogError(f"unexpected git log output near {sha[:80]!r}")
        identities = self.identities
        author = identities.get((an, ae)) or self.identity(an, ae)
        committer = identities.get((cn, ce)) or self.identity(cn, ce)
        authored = self.when(ad)
        return GitCommit(
            sha,
            tuple(parents.split(" ")) if parents else (),
            author,
            committer,
            authored,
            authored if cd == ad else self.when(cd),
            message if message.isascii() else _clean(message),
            files,
        )

    @staticmethod
    def numstat_entries(
        parts: list[str], j: int, n: int, eof: bool
    ) -> tuple[tuple[FileChange, ...], int]:
        """The entries starting at ``parts[j]`` and the index after them; -1 if incomplete."""
        files = []
        entry = parts[j][1:]
        while True:
            tab = entry.find("\t")
            if tab < 0:  # the next commit's hash
                break
            tab2 = entry.find("\t", tab + 1)
            if tab2 < 0:
                raise GitLogError(f"unexpected numstat entry {entry[:80]!r}")
            path = entry[tab2 + 1 :]
            if not path:  # a rename: old and new path follow
                if j + 2 >= n:
                    if eof:
                        raise GitLogError("git log output ended in a rename entry")
                    return (), -1
                path = parts[j + 2]
                j += 2
            files.append(_file_change(entry, tab, tab2, path))
            j += 1
            if j >= n:
                if eof:
                    break
                return (), -1
            entry = parts[j]
        return tuple(files), j

    def identity(self, name: str, email: str) -> Identity:
        key = (name, email)
        found = self.identities.get(key)
        if found is None:
            found = self.identities[key] = Identity(_clean(name), _clean(email))
        return found

    def when(self, raw: str) -> datetime:
        """``--date=raw``: ``<unix seconds> <+hhmm>``."""
        space = raw.find(" ")
        try:
            seconds = int(raw[:space] if space > 0 else "")
        except ValueError:
            raise GitLogError(f"unexpected date {raw[:80]!r}") from None
        offset = raw[space + 1 :]
        tz = self.zones.get(offset)
        if tz is None:
            tz = self.zones[offset] = _zone(offset)
        try:
            return datetime.fromtimestamp(seconds, tz)
        except (OverflowError, OSError, ValueError):  # outside datetime's years 1..9999
            return (
                datetime.max.replace(tzinfo=UTC)
                if seconds > 0
                else datetime.min.replace(tzinfo=UTC)
            )


def _file_change(entry: str, tab: int, tab2: int, path: str) -> FileChange:
    """One ``--numstat`` entry (``added<TAB>deleted<TAB>...``); binary files (``-``) count 0."""
    added, deleted = entry[:tab], entry[tab + 1 : tab2]
    try:
        return FileChange(
            path, 0 if added == "-" else int(added), 0 if deleted == "-" else int(deleted)
        )
    except ValueError:
        raise GitLogError(f"unexpected numstat entry {entry[:80]!r}") from None


def _zone(offset: str) -> timezone:
    """``+hhmm`` as git stores it; an offset git accepts but Python cannot hold becomes UTC."""
    if len(offset) == 5 and offset[0] in "+-" and offset[1:].isdigit():
        minutes = int(offset[1:3]) * 60 + int(offset[3:5])
        if minutes < 24 * 60:
            return timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
    return UTC


def _clean(text: str) -> str:
    """Text decoded with ``surrogateescape`` as if decoded with ``errors="replace"``."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


@dataclass(frozen=True, slots=True)
class Diffs:
    """``files``: the ``--numstat`` file lists of the commits git could diff; ``unreadable``:
    those it could not (an object missing from this clone), which have no entry."""

    files: dict[str, tuple[FileChange, ...]]
    unreadable: tuple[str, ...] = ()


def numstat_for(
    repo: Path | str,
    shas: Iterable[str],
    *,
    renames: bool = True,
    env: Mapping[str, str] | None = None,
    partial: bool | None = None,
) -> Diffs:
    """The ``--numstat`` file lists of just ``shas`` (full hashes), from ``git diff-tree
    --stdin``: what ``iter_commits(numstat=True)`` gives, at the cost of the diffs asked for.

    Diffing is most of the cost of reading a history with numstat, so an audit that needs
    line counts only for some commits (the agents') reads the log with ``numstat=False``
    and asks here. Merge commits, commits without changes and unknown hashes (git skips them
    silently) get ``()``. A commit whose objects are missing (a damaged repository, a partial
    clone: nothing is fetched) is ``unreadable``. In a partial clone those are found first
    (``_lacking``), since git takes a second or more to fail on each; ``partial`` says whether
    ``repo`` is one, for a caller that asked already (None: ask git).
    """
    wanted = list(dict.fromkeys(sha.lower() for sha in shas))
    for sha in wanted:
        if len(sha) not in (40, 64) or not _HEX.issuperset(sha):
            raise ValueError(f"not a full commit hash: {sha!r}")
    env_ = _git_env(env)
    if partial is None:
        partial = is_partial_clone(repo, env)
    lacking = _lacking(repo, wanted, env_) if wanted and partial else []
    skip = set(lacking)
    args = ["--numstat", "--no-ext-diff", "--no-textconv", "-M" if renames else "--no-renames"]
    files, unreadable = _diff_tree(repo, args, [s for s in wanted if s not in skip], env_)
    return Diffs(files, tuple(lacking) + unreadable)


def _diff_tree(
    repo: Path | str, args: list[str], wanted: list[str], env: Mapping[str, str]
) -> tuple[dict[str, tuple], tuple[str, ...]]:
    """``git diff-tree --stdin -z --root <args>`` over ``wanted``: each commit's entries, and
    the commits git could not read. Each hash is followed by a line git echoes (``#``), so
    the output says which commits git finished; at one it cannot read, git stops, and a new
    run takes the rest."""
    args = ["diff-tree", "--stdin", "-z", "--root", *args]
    done: dict[str, tuple] = {}
    unreadable: list[str] = []
    while wanted:
        result = _git(repo, args, env, "".join(f"{sha}\n#\n" for sha in wanted).encode())
        out = result.stdout.decode("utf-8", "surrogateescape")
        finished = _parse_diffs(out.split("\0"), wanted)
        done.update(finished)
        wanted = wanted[len(finished) :]
        if result.returncode != 0:
            if not wanted or not _OBJECT_ID.search(result.stderr):
                raise GitLogError(_failure(args, result))
            unreadable.append(wanted.pop(0))
    return done, tuple(unreadable)


def is_partial_clone(repo: Path | str, env: Mapping[str, str] | None = None) -> bool:
    """A partial clone has a promisor remote (``clone --filter`` makes ``origin`` one)."""
    out = _git(repo, ["config", "--get-regexp", r"^remote\..*\.promisor$"], _git_env(env)).stdout
    values = [line.partition(" ")[2] for line in out.decode("utf-8", "replace").splitlines()]
    return any(v.lower() in ("true", "yes", "on", "1") for v in values)


def _lacking(repo: Path | str, wanted: list[str], env: Mapping[str, str]) -> list[str]:
    """The ``wanted`` commits whose diffs need an object a partial clone does not hold.

    ``rev-list --missing=print`` lists what is missing without fetching; a commit is out if
    its root tree or its first parent's is missing, or if a blob its diff names (``--raw``,
    which reads trees, not blobs) is."""
    stdin = "".join(f"{sha}\n" for sha in wanted).encode()
    listed = _run(repo, ["rev-list", "--objects", "--missing=print", "--stdin"], env, stdin)
    lines = listed.decode("ascii", "replace").split("\n")
    missing = {line[1:] for line in lines if line[:1] == "?"}
    if not missing:
        return []
    trees = _trees(repo, wanted, env)
    trees.update(_trees(repo, [p for _, p in trees.values() if p and p not in trees], env))
    out = [
        sha
        for sha in wanted
        if trees.get(sha, ("", ""))[0] in missing
        or trees.get(trees.get(sha, ("", ""))[1], ("", ""))[0] in missing
    ]
    out_set = set(out)
    rest = [sha for sha in wanted if sha not in out_set]
    blobs, unreadable = _diff_tree(repo, ["-r", "--raw", "--no-renames"], rest, env)
    return out + list(unreadable) + [s for s in rest if not missing.isdisjoint(blobs.get(s, ()))]


def _trees(repo: Path | str, shas: list[str], env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """commit -> (its root tree, its first parent or ""), read from the commits alone."""
    if not shas:
        return {}
    stdin = "".join(f"{sha}\n" for sha in shas).encode()
    args = ["log", "--no-walk=unsorted", "--stdin", "--format=%H %T %P"]
    result = {}
    for line in _run(repo, args, env, stdin).decode("ascii", "replace").split("\n"):
        fields = line.split(" ")
        if len(fields) >= 2:
            result[fields[0]] = (fields[1], fields[2] if len(fields) > 2 else "")
    return result


def _parse_diffs(parts: list[str], wanted: list[str]) -> dict[str, tuple]:
    """The entries of the leading ``wanted`` commits that ``parts`` (``diff-tree --stdin -z``
    fields, each commit closed by the echoed ``#``) finishes, in order: ``FileChange``s for
    ``--numstat``, the object ids an entry names for ``--raw``.

    A commit's output is its hash (absent when nothing changed) then its entries. An entry's
    first field holds a tab (numstat) or opens with ``:`` (raw), and a hash neither, so a
    field opening with ``#\n`` where an entry or hash may start is the echo."""
    result: dict[str, tuple] = {}
    entries: list = []
    k = 0  # the commit being read
    i, n = 0, len(parts)
    while i < n and k < len(wanted):
        entry = parts[i]
        i += 1
        while entry.startswith("#\n") and k < len(wanted):  # the echo: a commit is complete
            result[wanted[k]] = tuple(entries)
            entries = []
            k += 1
            entry = entry[2:]
        if not entry:
            continue
        if entry[0] == ":":  # raw: ":<mode> <mode> <id> <id> <status>", then the path
            entries.extend(entry.split(" ")[2:4])
            i += 1
            continue
        tab = entry.find("\t")
        if tab < 0 or k == len(wanted):  # the commit's hash
            if k == len(wanted) or entry != wanted[k]:
                raise GitLogError(f"unexpected git diff-tree output near {entry[:80]!r}")
            continue
        tab2 = entry.find("\t", tab + 1)
        path = entry[tab2 + 1 :]
        if not path:  # a rename: old and new path follow
            if i + 1 >= n:
                break
            path = parts[i + 1]
            i += 2
        entries.append(_file_change(entry, tab, tab2, path))
    return result


def shallow_commits(repo: Path | str, env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The commits a shallow clone cut the parents from: git diffs them against nothing, as
    if they added every file, so their line counts are not theirs. Empty if not shallow."""
    env_ = _git_env(env)
    out = _run(repo, ["rev-parse", "--is-shallow-repository", "--git-path", "shallow"], env_)
    shallow, _, path = os.fsdecode(out).partition("\n")
    if shallow != "true":
        return frozenset()
    return frozenset(Path(repo, path.strip()).read_text().split())  # relative to -C repo


# --------------------------------------------------------------------------------------
# Pull requests, merges and reverts derived from history


@dataclass(slots=True)
class Derived:
    """``prs`` in merge order; ``commit_pr`` maps each commit (merge commits included) to its
    pull request; ``branch`` maps the commits a merge brought in to the branch it names;
    ``events`` are MERGED and REVERTED events, oldest first."""

    prs: list[PullRequest] = field(default_factory=list)
    commit_pr: dict[str, int] = field(default_factory=dict)
    branch: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class _Merge:
    commit: GitCommit
    number: int | None  # None: a plain branch merge, numbered later from its sha
    title: str
    head_ref: str | None
    strength: int  # 0 squash/single commit, 1 numbered merge, 2 plain branch merge


def derive_pull_requests(commits: Sequence[GitCommit], repository: str) -> Derived:
    """Pull requests, merges and reverts as the history records them (docs/gitlog.md).

    A merge commit whose subject names a pull request (GitHub, GitLab, Bitbucket, Azure
    DevOps) or a branch (``Merge branch 'x'``) owns the commits reachable from its second
    parent but not from its first. A non-merge commit whose subject ends in ``(#n)`` (a
    squash merge) is pull request ``n`` alone. A commit claimed by several is given to the
    innermost: squash commits first, then numbered merges, then branch merges, each kind
    ancestors first. Branch merges have no number: they get ``-int(sha[:12], 16)``. The
    commits a merge owns were on the branch it names (not the merge itself, made on the
    target); a squash merge names none.
    """
    if not isinstance(commits, Sequence):
        commits = list(commits)
    by_sha: dict[str, GitCommit] = {}
    found: list[_Merge] = []
    reverting: list[GitCommit] = []
    for c in commits:  # one cheap look at each commit; the rare candidates get a closer one
        by_sha[c.sha] = c
        message = c.message
        nl = message.find("\n")  # the subject's last character, "" if unsure:
        last = message[-1:] if nl < 0 else message[nl - 1 : nl] if nl else ""
        if len(c.parents) > 1 or last == ")" or last in _SPACE or message.startswith("Merge"):
            m = _classify(c)
            if m is not None:
                found.append(m)
        if _REVERTS in message or message.startswith('Revert "'):
            reverting.append(c)
    derived = Derived()
    if found:
        _assign(found, commits, by_sha, repository, derived)
    if reverting:
        derived.events.extend(_reverts(reverting, commits, by_sha, repository, derived))
    derived.events.sort(key=lambda e: (e.at.timestamp(), e.key))
    return derived


def _classify(c: GitCommit) -> _Merge | None:
    message = c.message
    merge = len(c.parents) > 1
    subject = c.subject
    if not merge:
        number = _squash_number(subject)
        if number is not None:
            return _Merge(c, number, subject[: subject.rfind("(#")].rstrip(), None, 0)
    if not subject.startswith("Merge"):
        return None
    if subject.startswith("Merge pull request #"):  # GitHub
        digits, _, rest = subject[len("Merge pull request #") :].partition(" ")
        if digits.isascii() and digits.isdigit():
            head = rest[5:] if rest.startswith("from ") else ""
            head_ref = head.partition("/")[2] or head or None
            return _Merge(c, int(digits), _body_title(message), head_ref, 0 if not merge else 1)
    if subject.startswith("Merged in ") and subject.endswith(")"):  # Bitbucket
        k = subject.rfind(" (pull request #")
        digits = subject[k + len(" (pull request #") : -1]
        if k > 0 and digits.isascii() and digits.isdigit():
            title = _body_title(message) or subject
            return _Merge(
                c, int(digits), title, subject[len("Merged in ") : k], 0 if not merge else 1
            )
    if subject.startswith("Merged PR "):  # Azure DevOps
        digits, colon, title = subject[len("Merged PR ") :].partition(":")
        if colon and digits.isascii() and digits.isdigit():
            return _Merge(c, int(digits), title.strip(), None, 0 if not merge else 1)
    if not merge or len(c.parents) > 2:
        return None
    for prefix in ("Merge branch '", "Merge remote-tracking branch '"):
        if subject.startswith(prefix):
            break
    else:
        return None
    close = subject.find("'", len(prefix))
    if close < 0:
        return None
    branch = subject[len(prefix) : close]
    if prefix != "Merge branch '":
        branch = branch.partition("/")[2] or branch  # origin/x -> x
    number = _gitlab_number(message)
    if number is not None:  # GitLab: "Merge branch 'x' into 'main'" ... "See merge request"
        return _Merge(c, number, _body_title(message), branch, 1)
    if branch.rsplit("/", 1)[-1] in DEFAULT_BRANCHES:
        return None  # a back-merge or a pull of upstream, not a feature landing
    return _Merge(c, None, subject, branch, 2)


def _squash_number(subject: str) -> int | None:
    """``n`` of a subject ending in ``(#n)``, as GitHub's squash and rebase merges write it."""
    subject = subject.rstrip()
    if not subject.endswith(")"):
        return None
    k = subject.rfind("(#")
    digits = subject[k + 2 : -1]
    if k < 0 or not digits or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def _gitlab_number(message: str) -> int | None:
    k = message.rfind("See merge request ")
    if k < 0:
        return None
    ref = message[k + len("See merge request ") :].split(None, 1)
    if not ref:
        return None
    digits = ref[0].rpartition("!")[2]
    return int(digits) if digits.isascii() and digits.isdigit() else None


def _body_title(message: str) -> str:
    """The first line of the body: the pull request's title in GitHub's and GitLab's merges."""
    _, _, body = message.partition("\n")
    for line in body.split("\n"):
        line = line.strip()
        if line:
            return "" if line.startswith("See merge request ") else line
    return ""


def _assign(
    found: list[_Merge],
    commits: Sequence[GitCommit],
    by_sha: dict[str, GitCommit],
    repository: str,
    derived: Derived,
) -> None:
    rank = _ranks(commits, by_sha)
    found.sort(key=lambda m: (m.strength, rank[m.commit.sha]))
    commit_pr, branch = derived.commit_pr, derived.branch
    prs: dict[int, PullRequest] = {}
    used_local: set[int] = set()
    for m in found:
        c = m.commit
        number = m.number
        if number is None:
            number = _local_number(c.sha, used_local)
        commit_pr.setdefault(c.sha, number)
        if m.strength and len(c.parents) > 1:
            for sha in _branch_commits(c.parents[0], c.parents[1], by_sha, rank):
                if commit_pr.setdefault(sha, number) == number and m.head_ref:
                    branch.setdefault(sha, m.head_ref)
        if number not in prs:  # the first (innermost, oldest) merge of a number defines it
            prs[number] = PullRequest(
                repository=repository,
                number=number,
                title=m.title,
                head_ref=m.head_ref,
                state="merged",
                closed_at=c.committed_at,
                merge_sha=c.sha,
            )
    ordered = sorted(prs.values(), key=lambda p: (p.closed_at.timestamp(), p.number))
    derived.prs.extend(ordered)
    derived.events.extend(
        Event(
            key=f"merge:{repository}#{p.number}",
            kind=MERGED,
            at=p.closed_at,
            repository=repository,
            pr_number=p.number,
            sha=p.merge_sha,
            source="git",
        )
        for p in ordered
    )


def _local_number(sha: str, used: set[int]) -> int:
    """A branch merge's stand-in number: negative, stable for the same merge commit."""
    width = 12
    number = -int(sha[:width], 16)
    while number in used and width < len(sha):
        width += 1
        number = -int(sha[:width], 16)
    used.add(number)
    return number


def _ranks(commits: Sequence[GitCommit], by_sha: Mapping[str, GitCommit]) -> dict[str, int]:
    """A number per commit, larger than each of its known parents' numbers.

    ``git log``'s default order nearly always lists children before parents: then the
    position, counted from the end, is such a number. Otherwise (clock skew, a shuffled
    input) generation numbers are computed.
    """
    n = len(commits)
    rank = {c.sha: n - i for i, c in enumerate(commits)}
    if len(rank) == n:
        get = rank.get
        if all(get(p, 0) < r for c in commits for r in (rank[c.sha],) for p in c.parents):
            return rank
    return _generations(by_sha)


def _generations(by_sha: Mapping[str, GitCommit]) -> dict[str, int]:
    """1 + the largest generation of a commit's known parents (0 with none known)."""
    gen: dict[str, int] = {}
    for root in reversed(list(by_sha)):  # git log lists children first: start from the oldest
        if root in gen:
            continue
        stack = [root]
        while stack:
            sha = stack[-1]
            if sha in gen:
                stack.pop()
                continue
            g = 0
            waiting = False
            for p in by_sha[sha].parents:
                if p in by_sha:
                    pg = gen.get(p)
                    if pg is None:
                        stack.append(p)
                        waiting = True
                    elif pg >= g:
                        g = pg + 1
            if not waiting:
                gen[sha] = g
                stack.pop()
    return gen


def _branch_commits(
    base: str, head: str, by_sha: Mapping[str, GitCommit], gen: Mapping[str, int]
) -> list[str]:
    """Known commits reachable from ``head`` and not from ``base`` (``git rev-list base..head``).

    Both sides are walked together, highest rank (``_ranks``) first, so a commit is decided
    only after every known descendant has painted it; the walk stops when only ``base``'s
    ancestors are left. It costs the branch plus ``base``'s history back to the fork point.
    """
    if head not in gen:
        return []
    head_side, base_side = 1, 2
    flags = {head: head_side}
    queue = [(-gen[head], head)]
    live = 1  # queued commits not (yet) known to be reachable from base
    if base in gen:
        if base == head:
            return []
        flags[base] = base_side
        queue.append((-gen[base], base))
        heapq.heapify(queue)
    out = []
    while queue and live:
        _, sha = heapq.heappop(queue)
        f = flags[sha]
        if not f & base_side:
            live -= 1
            out.append(sha)
        for p in by_sha[sha].parents:
            pg = gen.get(p)
            if pg is None:
                continue
            pf = flags.get(p)
            if pf is None:
                flags[p] = f
                heapq.heappush(queue, (-pg, p))
                if not f & base_side:
                    live += 1
            elif f & base_side and not pf & base_side:
                flags[p] = pf | base_side
                live -= 1  # p is still queued: its generation is below everything popped
            else:
                flags[p] = pf | f
    return out


def find_reverts(message: str) -> tuple[str, ...]:
    """The (possibly abbreviated) shas named by ``This reverts commit <sha>`` lines."""
    out = []
    k = message.find(_REVERTS)
    while k >= 0:
        start = k + len(_REVERTS)
        end = start
        n = len(message)
        while end < n and message[end] in _HEX:
            end += 1
        if end - start >= 4 and (end == n or not message[end].isalnum()):
            out.append(message[start:end].lower())
        k = message.find(_REVERTS, end)
    return tuple(out)


class _ShaIndex:
    """Resolves abbreviated shas against the known commits (unique prefixes only)."""

    def __init__(self, shas: Iterable[str]):
        self._shas: list[str] | None = None
        self._source = shas

    def resolve(self, prefix: str) -> str | None:
        if self._shas is None:
            self._shas = sorted(self._source)
        k = bisect_left(self._shas, prefix)
        if k >= len(self._shas) or not self._shas[k].startswith(prefix):
            return None
        if k + 1 < len(self._shas) and self._shas[k + 1].startswith(prefix):
            return None  # ambiguous
        return self._shas[k]


def _reverts(
    reverting: Sequence[GitCommit],
    commits: Sequence[GitCommit],
    by_sha: Mapping[str, GitCommit],
    repository: str,
    derived: Derived,
) -> list[Event]:
    merge_pr = {p.merge_sha: p.number for p in derived.prs}
    index = _ShaIndex(by_sha)
    subjects: dict[str, list[GitCommit]] | None = None
    events: dict[str, Event] = {}
    for c in reverting:
        message = c.message
        targets: list[tuple[str, str]] = []
        if _REVERTS in message:
            for named in find_reverts(message):
                sha = named if named in by_sha else index.resolve(named)
                if sha is None and len(named) in (40, 64):
                    sha = named  # outside the history read, but exact
                if sha is not None and sha != c.sha:
                    targets.append((sha, "git"))
        elif message.startswith('Revert "'):
            # No "This reverts commit" line: match the quoted subject, once, to an older commit.
            if subjects is None:
                subjects = {}
                for other in commits:
                    subjects.setdefault(other.subject, []).append(other)
            quoted = _quoted_revert(c.subject)
            if quoted is not None:
                older = [
                    o
                    for o in subjects.get(quoted, ())
                    if o.committed_at <= c.committed_at and o.sha != c.sha
                ]
                if len(older) == 1:
                    targets.append((older[0].sha, "git-subject"))
        for sha, source in targets:
            key = f"revert:{c.sha}:{sha}"
            events.setdefault(
                key,
                Event(
                    key=key,
                    kind=REVERTED,
                    at=c.committed_at,
                    repository=repository,
                    pr_number=merge_pr.get(sha),
                    sha=sha,
                    source=source,
                ),
            )
    return list(events.values())


def _quoted_revert(subject: str) -> str | None:
    """``X`` of ``Revert "X"`` (or of GitHub's ``Revert "X" (#n)``)."""
    if _squash_number(subject) is not None:
        subject = subject[: subject.rfind("(#")].rstrip()
    if subject.startswith('Revert "') and subject.endswith('"') and len(subject) > 9:
        return subject[len('Revert "') : -1]
    return None


# --------------------------------------------------------------------------------------
# Line survival


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
    env_ = _git_env(env)
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
                _git_cmd(repo) + ["blame", "--incremental", head, "--", cdup + path],
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


def _run(
    repo: Path | str, args: list[str], env: Mapping[str, str], input: bytes | None = None
) -> bytes:
    result = _git(repo, args, env, input)
    if result.returncode != 0:
        raise GitLogError(_failure(args, result))
    return result.stdout


def _git(
    repo: Path | str, args: list[str], env: Mapping[str, str], input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            _git_cmd(repo) + args,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=env,
        )
    except OSError as exc:
        raise GitLogError(f"cannot run git: {exc}") from exc


def _failure(args: list[str], result: subprocess.CompletedProcess[bytes]) -> str:
    message = result.stderr.decode("utf-8", "replace").strip()
    return message or f"git {args[0]} exited with status {result.returncode}"


def _resolve(repo: Path | str, rev: str, env: Mapping[str, str]) -> tuple[str, str]:
    """The path from ``repo`` up to the top of its work tree, and ``rev``'s commit sha."""
    if rev.startswith("-"):
        raise ValueError(f"not a revision: {rev!r}")
    out = _run(
        repo, ["rev-parse", "--show-cdup", "--verify", "--end-of-options", f"{rev}^{{commit}}"], env
    )
    lines = os.fsdecode(out).split("\n")
    lines = [line for line in lines if line]
    sha = lines[-1]
    return (lines[0] if len(lines) > 1 else ""), sha


def _blobs(repo: Path | str, sha: str, env: Mapping[str, str]) -> set[str]:
    """Paths of the files (not submodules) in ``sha``'s tree."""
    out = _run(repo, ["ls-tree", "-r", "-z", "--full-tree", sha], env)
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
