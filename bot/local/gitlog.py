"""Read a local git history with one streaming ``git log``, and ask git the little else an
audit needs (the diffs of chosen commits, whether a clone is partial or shallow).

``iter_commits`` runs a single ``git log -z`` and parses its output while it streams, so a
history of any size is read in constant memory. What the history implies (pull requests,
merges, reverts) is ``bot.local.history``; how much of each commit's code survives is
``bot.local.survival``.

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
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from bot.engine.records import FileChange
from bot.protocol.commit import CommitInfo, Identity, subject_of

GIT = "git"
CHUNK = 1 << 18  # bytes per read from git's stdout
PSEUDO_REVS = frozenset({"--all", "--branches", "--tags", "--remotes"})
# Environment variables that would point git somewhere other than ``repo``.
_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX")
# Config that would change what ``git log`` prints; overridden on the command line.
_CONFIG = ("diff.relative=false", "log.showSignature=false", "color.ui=never", "core.pager=cat")
_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B%x00"
_FIELDS = 10  # the nine fields above and the empty one -z adds after each header
HEX = frozenset("0123456789abcdefABCDEF")
# git's complaints about a missing object name it: "unable to read <sha>", "could not fetch".
_OBJECT_ID = re.compile(rb"\b[0-9a-f]{40}(?:[0-9a-f]{24})?\b")
# Reading a partial clone must not fetch each missing object: GIT_NO_LAZY_FETCH (git >= 2.44)
# forbids it; older git tries, and fails at once when no transport is allowed.
_NO_FETCH = {"GIT_NO_LAZY_FETCH": "1", "GIT_ALLOW_PROTOCOL": ""}


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
    return _stream(git_command(repo) + args, git_environment(env), numstat)


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


def git_command(repo: Path | str) -> list[str]:
    """``git`` run in ``repo`` with the configuration that would change its output overridden."""
    return [GIT, "--no-pager", "-C", os.fspath(repo)] + [
        arg for kv in _CONFIG for arg in ("-c", kv)
    ]


def git_environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """``env`` (None: this process's) without what would point git elsewhere, never fetching."""
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
        if len(sha) not in (40, 64) or not HEX.issuperset(sha):
            raise ValueError(f"not a full commit hash: {sha!r}")
    env_ = git_environment(env)
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
    out = _git(
        repo, ["config", "--get-regexp", r"^remote\..*\.promisor$"], git_environment(env)
    ).stdout
    values = [line.partition(" ")[2] for line in out.decode("utf-8", "replace").splitlines()]
    return any(v.lower() in ("true", "yes", "on", "1") for v in values)


def _lacking(repo: Path | str, wanted: list[str], env: Mapping[str, str]) -> list[str]:
    """The ``wanted`` commits whose diffs need an object a partial clone does not hold.

    ``rev-list --missing=print`` lists what is missing without fetching; a commit is out if
    its root tree or its first parent's is missing, or if a blob its diff names (``--raw``,
    which reads trees, not blobs) is."""
    stdin = "".join(f"{sha}\n" for sha in wanted).encode()
    listed = run_git(repo, ["rev-list", "--objects", "--missing=print", "--stdin"], env, stdin)
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
    for line in run_git(repo, args, env, stdin).decode("ascii", "replace").split("\n"):
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
    env_ = git_environment(env)
    out = run_git(repo, ["rev-parse", "--is-shallow-repository", "--git-path", "shallow"], env_)
    shallow, _, path = os.fsdecode(out).partition("\n")
    if shallow != "true":
        return frozenset()
    return frozenset(Path(repo, path.strip()).read_text().split())  # relative to -C repo


# --------------------------------------------------------------------------------------
# Running git


def run_git(
    repo: Path | str, args: list[str], env: Mapping[str, str], input: bytes | None = None
) -> bytes:
    """``git <args>``'s output in ``repo``; ``GitLogError`` with git's message if it fails."""
    result = _git(repo, args, env, input)
    if result.returncode != 0:
        raise GitLogError(_failure(args, result))
    return result.stdout


def _git(
    repo: Path | str, args: list[str], env: Mapping[str, str], input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            git_command(repo) + args,
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
