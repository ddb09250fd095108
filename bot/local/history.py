"""What a local history implies without a forge API: its pull requests, merges and reverts,
derived from the commits ``bot.local.gitlog.iter_commits`` reads (docs/gitlog.md). Pure: no git
is run here.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.engine.records import MERGED, REVERTED, Event, PullRequest
from bot.local.gitlog import HEX, GitCommit

# Branches whose merge into another branch is a back-merge or a pull, not a pull request.
DEFAULT_BRANCHES = frozenset({"main", "master", "trunk", "develop", "development", "dev"})
_REVERTS = "This reverts commit "
_SPACE = " \t\r\v\f"  # "" is in it too: an empty subject takes the careful path


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
        while end < n and message[end] in HEX:
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
