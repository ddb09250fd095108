"""A GitHub issue per period, "Token yield digest <period>", created once and then updated.

The issue carries a hidden marker naming the installation and period; a second send (a retry,
a second scheduler) finds it among the repository's newest issues and edits it instead of
opening another, and does nothing when the body is unchanged. The body is Markdown under
65,000 characters; every untrusted string goes through ``bot.render.jinja.md`` (no mentions, no
links, no HTML), and the trend is a Mermaid chart GitHub draws itself.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

from github.GithubException import GithubException
from github.Issue import Issue
from github.Repository import Repository
from requests import RequestException

from bot import format as fmt
from bot.channels import content as c
from bot.channels.base import Channel, ChannelError, Spec
from bot.config import Settings
from bot.digest.model import Digest
from bot.github.client import GitHubApp, RateLimited, rate_limits
from bot.render.jinja import md

MAX_BODY = 60_000  # GitHub refuses bodies over 65,536 characters
SEARCHED = 100  # newest issues looked through for this period's
BUDGETS = {"routing": 6000, "scorecard": 4000, "matrix": 20000, "attention": 12000}
BUDGETS |= {"misroutes": 7000, "advice": 10000, "notes": 3000}
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
STYLE = c.Style(
    escape=lambda text: md(text, limit=len(text) + 1),
    bold=lambda text: f"**{text}**",
    link=lambda url, label: f"[{label}]({url})",
)


def title(digest: Digest) -> str:
    return f"Token yield digest {c.clean(digest.period.label, 20)}"


def marker(digest: Digest) -> str:
    period = re.sub(r"[^0-9A-Za-z-]", "", digest.period.label)
    return f"<!-- yield-auditor:digest v1 installation={digest.installation_id} period={period} -->"


def render(digest: Digest) -> dict[str, str]:
    body = c.fit(lambda scale: _body(digest, scale), len, MAX_BODY)
    return {"title": title(digest), "body": body}


def _body(digest: Digest, scale: float) -> str:
    def section(heading: str, lines: list[str], key: str) -> list[str]:
        shown = c.clip([f"- {line}" for line in lines], int(BUDGETS[key] * scale))
        return ["", f"### {heading}", "", *(shown or ["None this period."])]

    routing = c.routing_lines(digest, STYLE)
    figures = ["| " + " | ".join(c.figure_columns(f, STYLE)) + " |" for f in digest.scorecard]
    cells = ["| " + " | ".join(c.cell_columns(cell, STYLE)) + " |" for cell in digest.matrix]
    return "\n".join(
        [
            f"## {c.title(digest, STYLE)}",
            "",
            f"**{c.headline(digest, STYLE)}**",
            *(section(c.ROUTING, routing, "routing") if routing else []),
            "",
            "### Scorecard vs the previous period",
            "",
            "| Figure | This period | Previous | Change | Out of | Coverage |",
            "|---|---|---|---|---|---|",
            *c.clip(figures, int(BUDGETS["scorecard"] * scale)),
            *_trend(digest),
            "",
            "### Tier × task class",
            "",
            "| Tier | Task class | Shipped | First-pass yield | Token yield | $/shipped |",
            "|---|---|---|---|---|---|",
            *c.clip(cells, int(BUDGETS["matrix"] * scale)),
            *section(
                "Needs attention", c.lines(digest.attention, c.attention_line, STYLE), "attention"
            ),
            *section("Mis-routes", c.lines(digest.misroutes, c.misroute_line, STYLE), "misroutes"),
            *section("Recommendations", c.lines(digest.advice, c.advice_line, STYLE), "advice"),
            *section("Notes", c.notes(digest, STYLE), "notes"),
            "",
            "---",
            *[f"<sub>{line}</sub><br>" for line in c.footer(STYLE)],
            "",
            marker(digest),
        ]
    )


def _trend(digest: Digest) -> list[str]:
    """A Mermaid line chart of token yield by week, and the dashboard link."""
    points = [(p.week, fmt.finite(p.token_yield)) for p in digest.trend[-12:]]
    points = [(re.sub(r"[^0-9A-Za-z-]", "", week)[:10], y) for week, y in points if y is not None]
    url = c.safe_url(digest.dashboard_url)
    lines = ["", "### Token yield, last 12 weeks", ""]
    if points:
        weeks = ", ".join(f'"{week}"' for week, _ in points)
        values = ", ".join(f"{y * 100:.1f}" for _, y in points)
        lines += ["```mermaid", "xychart-beta", f"  x-axis [{weeks}]"]
        lines += ['  y-axis "Token yield (%)" 0 --> 100', f"  line [{values}]", "```"]
    else:
        lines.append("No history yet.")
    return [*lines, "", f"[Dashboard]({url})"] if url else lines


class GitHubIssueChannel(Channel):
    type = "github_issue"

    def __init__(self, spec: Spec, settings: Settings, github_app: GitHubApp | None) -> None:
        super().__init__(spec)
        self.repository = spec.text("repository")
        if not _REPOSITORY.fullmatch(self.repository):
            raise spec.error("'repository' must be owner/name")
        installation = spec.raw.get("installation")
        if isinstance(installation, bool) or not isinstance(installation, int):
            raise spec.error("'installation' (the installation id) is required")
        self.installation = installation
        self._settings, self._app = settings, github_app

    def render(self, digest: Digest) -> dict[str, str]:
        return render(digest)

    def send(self, digest: Digest) -> None:
        """Create this period's issue, or update it: one issue per period, whatever the retries."""
        payload = self.render(digest)
        try:
            with rate_limits():
                self._upsert(self._repository(), payload, marker(digest))
        except RateLimited as exc:
            wait = max((exc.retry_at - datetime.now(UTC)).total_seconds(), 0.0)
            raise ChannelError(f"channel {self.name!r}: GitHub rate limit", wait) from None
        except GithubException as exc:
            raise ChannelError(f"channel {self.name!r}: GitHub answered {exc.status}") from None
        except RequestException as exc:
            raise ChannelError(f"channel {self.name!r}: {type(exc).__name__}") from None

    def _repository(self) -> Repository:
        if self._app is None:
            self._app = GitHubApp(self._settings)
        return self._app.installation(self.installation).get_repo(self.repository)

    def _upsert(self, repository: Repository, payload: dict[str, Any], tag: str) -> None:
        issue = _find(repository, tag)
        if issue is None:
            repository.create_issue(title=payload["title"], body=payload["body"])
        elif (issue.title, issue.body) != (payload["title"], payload["body"]):
            issue.edit(title=payload["title"], body=payload["body"])


def _find(repository: Repository, tag: str) -> Issue | None:
    """This period's issue among the newest ``SEARCHED``, open or closed.

    GitHub lists pull requests among issues: one quoting the marker is never adopted.
    """
    newest = repository.get_issues(state="all", sort="created", direction="desc")
    for issue in itertools.islice(newest, SEARCHED):
        if issue.pull_request is None and tag in (issue.body or ""):
            return issue
    return None
