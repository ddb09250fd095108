"""The commit as the engine sees it, whether it came from a local git history or GitHub's API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# What ``git rebase --autosquash`` folds into an earlier commit (sequencer.c ``skip_fixupish``).
FIXUP_PREFIXES = ("fixup! ", "squash! ", "amend! ")
_GIT_SPACE = " \t\n\r"  # git's isspace(): not \v, \f or any non-ASCII space


@dataclass(frozen=True, slots=True)
class Identity:
    """A git identity; the ``github_*`` fields are filled only when GitHub's API supplied them.

    Names and e-mails can be set to anything; a numeric GitHub id cannot, so rules that know
    an agent's bot id prefer it (see ``bot.agents.detect``).
    """

    name: str = ""
    email: str = ""
    github_login: str | None = None
    github_id: int | None = None
    github_type: str | None = None  # "Bot" or "User", as GitHub reports it


def parse_identity(value: str) -> Identity:
    """``Name <email>`` read as git reads an ident (ident.c ``split_ident_line``): the name is
    what comes before the first ``<``, trimmed; the e-mail runs from there to the next ``>``.

    Unlike ``email.utils.parseaddr`` it keeps ``[bot]`` names and any other text git allows.
    Without ``<`` the value is a bare e-mail when it has an ``@`` and no space, else a name.
    """
    value = value.strip()
    start = value.find("<")
    if start < 0:
        bare = "@" in value and not any(ch.isspace() for ch in value)
        return Identity(name="" if bare else value, email=value if bare else "")
    end = value.find(">", start)
    email = value[start + 1 : end if end >= 0 else len(value)]
    return Identity(name=value[:start].strip(), email=email.strip())


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    message: str
    author: Identity = Identity()
    committer: Identity = Identity()
    authored_at: datetime | None = None
    committed_at: datetime | None = None
    branch: str | None = None  # the PR head ref or local branch, when known


def subject_of(message: str) -> str:
    """A commit's subject as git computes it (``%s``, and the title ``rebase --autosquash``
    matches): blank lines at the start are skipped, then the lines of the first paragraph,
    each without trailing whitespace, are joined by single spaces (pretty.c
    ``format_subject``). A blank line holds only git's whitespace, so a CRLF message reads
    like an LF one.

    One definition for the local reader and the engine's facts, which must agree on which
    commits are fixups whether the commit came from ``git log`` or from GitHub's API.
    """
    start, n = 0, len(message)
    while start < n:  # leading blank lines are skipped
        end = message.find("\n", start)
        end = n if end < 0 else end
        if message[start:end].strip(_GIT_SPACE):
            break
        start = end + 1
    nl = message.find("\n", start)
    if nl < 0:
        return message[start:].rstrip(_GIT_SPACE)
    if nl + 1 >= n or message[nl + 1] == "\n":  # the common one-line subject
        return message[start:nl].rstrip(_GIT_SPACE)
    lines = []
    for line in message[start:].split("\n"):
        line = line.rstrip(_GIT_SPACE)
        if not line:
            break
        lines.append(line)
    return " ".join(lines)


def is_fixup(subject: str) -> bool:
    """A ``git commit --fixup/--squash`` commit, meant to be folded into an earlier one: its
    subject (``subject_of``) starts with ``fixup! ``, ``squash! `` or ``amend! ``, exactly
    (case and the space included), as ``git rebase --autosquash`` requires. Repeated prefixes
    (``fixup! squash! x``, a fixup of a fixup) only change which commit it targets."""
    return subject.startswith(FIXUP_PREFIXES)
