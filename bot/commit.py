"""The commit as the engine sees it, whether it came from a local git history or GitHub's API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Identity:
    """A git identity; the ``github_*`` fields are filled only when GitHub's API supplied them.

    Names and e-mails can be set to anything; a numeric GitHub id cannot, so rules that know
    an agent's bot id prefer it (see ``bot.agents``).
    """

    name: str = ""
    email: str = ""
    github_login: str | None = None
    github_id: int | None = None
    github_type: str | None = None  # "Bot" or "User", as GitHub reports it


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    message: str
    author: Identity = Identity()
    committer: Identity = Identity()
    authored_at: datetime | None = None
    committed_at: datetime | None = None
    branch: str | None = None  # the PR head ref or local branch, when known
