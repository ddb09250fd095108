"""The commit as the engine sees it, whether it came from a local git history or GitHub's API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
