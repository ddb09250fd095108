"""The demo's scripted week of agent work, played on the fake GitHub as signed webhooks.

Five tasks across tiers and task classes, one for each verdict of the cost comment
(docs/comment.md): a cheap docs change that ships first time (routing paid); a cheap bugfix that
fails CI twice and is escalated to the frontier tier (mis-routed); a standard feature that gets
changes requested, is reworked and merges (too early to tell: history is thin); a refactor
closed unmerged (abandoned); and a merged change that is reverted later (reverted). Every step
changes the fake GitHub's state first (commits, pull requests, merges), then sends the webhook
GitHub would send, built from that state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.demo.fake_github.server import FakeGitHub
from bot.demo.fake_github.state import FileDiff, Person

REPO = "acme/webshop"
OWNER = "acme"
INSTALLATION = 1
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
HAIKU = "anthropic:claude-haiku-4-5"
SONNET = "anthropic:claude-sonnet-4-5"
OPUS = "anthropic:claude-opus-4-5"
ACTIONS = {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"}

AGENT = Person("Claude", "noreply@anthropic.com")
ADA = Person("Ada Lovelace", "ada@acme.example", "ada", 5001)
GRACE = Person("Grace Hopper", "grace@acme.example", "grace", 5002)

Send = Callable[[str, dict[str, Any]], None]


def agent_message(
    subject: str,
    task: str,
    task_class: str,
    attempt: int,
    tier: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    strategy: str = "route",
) -> str:
    """A commit message as an agent behind a router writes it (docs/trailers.md)."""
    return (
        f"{subject}\n\n"
        "Agent-Trailers: 1\n"
        "Agent: claude-code/2.0.31\n"
        f"Agent-Task: {task}\n"
        f"Agent-Task-Class: {task_class}\n"
        f"Agent-Attempt: {attempt}\n"
        f"Agent-Route: router=acme-router/1.4; strategy={strategy}; tier={tier}; model={model}\n"
        f"Agent-Usage: model={model}; in={tokens_in}; out={tokens_out}; "
        f"cache_read={tokens_in * 3}\n"
        "Co-Authored-By: Claude <noreply@anthropic.com>\n"
    )


def added(path: str, lines: int, status: str = "modified") -> FileDiff:
    patch = f"@@ -1,0 +1,{lines} @@\n" + "".join(f"+line {n} of {path}\n" for n in range(lines))
    return FileDiff(path, patch, status, additions=lines, deletions=0)


class Story:
    """Steps of the scenario; each step updates the fake GitHub, then sends its webhook."""

    def __init__(self, fake: FakeGitHub, send: Send) -> None:
        self.fake, self.send = fake, send
        self.repo_id = 0
        self.heads: dict[str, str] = {}  # branch -> head sha
        self.clock = START

    # ---------------------------------------------------------------- payload parts

    def _repository(self) -> dict[str, Any]:
        return {
            "id": self.repo_id,
            "node_id": f"R_{self.repo_id}",
            "name": REPO.split("/")[1],
            "full_name": REPO,
            "private": True,
            "owner": {"login": OWNER, "id": 9000, "type": "Organization"},
            "html_url": f"https://github.com/{REPO}",
            "url": f"{self.fake.url}/repos/{REPO}",
            "default_branch": "main",
        }

    def _envelope(self, **fields: Any) -> dict[str, Any]:
        return {
            **fields,
            "repository": self._repository(),
            "installation": {"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uMQ=="},
            "sender": {"login": "ada", "id": 5001, "type": "User"},
        }

    def _pull(self, number: int) -> dict[str, Any]:
        pull = self.fake.pull(REPO, number)
        stamp = _stamp
        repo = {"id": self.repo_id, "name": "webshop", "url": f"{self.fake.url}/repos/{REPO}"}
        return {
            "url": f"{self.fake.url}/repos/{REPO}/pulls/{number}",
            "id": pull.id,
            "number": number,
            "state": pull.state,
            "title": pull.title,
            "user": {"login": pull.user.login, "id": pull.user.id, "type": pull.user.type},
            "body": None,
            "labels": [{"name": label} for label in pull.labels],
            "created_at": stamp(pull.created_at),
            "updated_at": stamp(pull.updated_at),
            "closed_at": stamp(pull.closed_at) if pull.closed_at else None,
            "merged_at": stamp(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_commit_sha,
            "merged": pull.merged,
            "draft": False,
            "commits": len(pull.commits),
            "head": {"ref": pull.head_ref, "sha": pull.commits[-1], "repo": repo},
            "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": repo},
            "html_url": f"https://github.com/{REPO}/pull/{number}",
        }

    # ---------------------------------------------------------------- steps

    def tick(self, minutes: int) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def setup(self) -> None:
        self.fake.add_installation(INSTALLATION, OWNER)
        self.repo_id = self.fake.add_repo(REPO, INSTALLATION)
        self.heads["main"] = self.fake.add_commit(REPO, "Initial commit", author=ADA, at=START)
        self.send(
            "installation",
            {
                "action": "created",
                "installation": {
                    "id": INSTALLATION,
                    "account": {"login": OWNER, "id": 9000, "type": "Organization"},
                    "created_at": _stamp(START),
                },
                "repositories": [
                    {"id": self.repo_id, "name": "webshop", "full_name": REPO, "private": True}
                ],
                "sender": {"login": "ada", "id": 5001, "type": "User"},
            },
        )

    def push(
        self,
        branch: str,
        message: str,
        files: list[FileDiff],
        author: Person = AGENT,
        minutes: int = 20,
        number: int | None = None,
    ) -> str:
        """Commit on ``branch`` and send the push (and, for a pull request, synchronize)."""
        before = self.heads.get(branch, self.heads["main"])
        at = self.tick(minutes)
        sha = self.fake.add_commit(
            REPO, message, author=author, files=files, parents=[before], at=at
        )
        self.heads[branch] = sha
        person = {"name": author.name, "email": author.email, "username": author.login}
        commit = {
            "id": sha,
            "tree_id": sha[::-1],
            "distinct": True,
            "message": message,
            "timestamp": _stamp(at),
            "url": f"https://github.com/{REPO}/commit/{sha}",
            "author": person,
            "committer": dict(person),
            "added": [],
            "removed": [],
            "modified": [f.filename for f in files],
        }
        self.send(
            "push",
            self._envelope(
                ref=f"refs/heads/{branch}",
                before=before,
                after=sha,
                created=False,
                deleted=False,
                forced=False,
                commits=[commit],
                head_commit=commit,
                pusher={"name": "ada"},
            ),
        )
        if number is not None:
            pull = self.fake.pull(REPO, number)
            pull.commits.append(sha)
            pull.updated_at = at
            self.send(
                "pull_request",
                self._envelope(
                    action="synchronize", number=number, pull_request=self._pull(number)
                ),
            )
        return sha

    def open(self, number: int, branch: str, title: str, labels: tuple[str, ...] = ()) -> None:
        self.fake.add_pull(
            REPO,
            number,
            head_ref=branch,
            commits=[self.heads[branch]],
            title=title,
            labels=labels,
            user=ADA,
        )
        pull = self.fake.pull(REPO, number)
        pull.created_at = pull.updated_at = self.tick(2)
        self.send(
            "pull_request",
            self._envelope(action="opened", number=number, pull_request=self._pull(number)),
        )

    def ci(self, number: int, conclusion: str) -> None:
        at = self.tick(8)
        sha = self.fake.pull(REPO, number).commits[-1]
        self._run_id = getattr(self, "_run_id", 7000) + 1
        pr = self._pull(number)
        self.send(
            "check_run",
            self._envelope(
                action="completed",
                check_run={
                    "id": self._run_id,
                    "name": "ci / test",
                    "head_sha": sha,
                    "status": "completed",
                    "conclusion": conclusion,
                    "started_at": _stamp(at - timedelta(minutes=6)),
                    "completed_at": _stamp(at),
                    "app": ACTIONS,
                    "check_suite": {"id": self._run_id + 100000, "head_sha": sha},
                    "pull_requests": [
                        {
                            "url": pr["url"],
                            "id": pr["id"],
                            "number": number,
                            "head": pr["head"],
                            "base": pr["base"],
                        }
                    ],
                },
            ),
        )

    def review(self, number: int, state: str, reviewer: Person = GRACE) -> None:
        at = self.tick(30)
        self._review_id = getattr(self, "_review_id", 80000) + 1
        pr = self._pull(number)
        self.send(
            "pull_request_review",
            self._envelope(
                action="submitted",
                pull_request=pr,
                review={
                    "id": self._review_id,
                    "state": state,
                    "commit_id": pr["head"]["sha"],
                    "submitted_at": _stamp(at),
                    "body": "",
                    "user": {"login": reviewer.login, "id": reviewer.id, "type": "User"},
                },
            ),
        )

    def merge(self, number: int) -> str:
        at = self.tick(15)
        merge_sha = self.fake.add_commit(
            REPO,
            f"Merge pull request #{number}",
            author=ADA,
            parents=[self.heads["main"], self.fake.pull(REPO, number).commits[-1]],
            at=at,
        )
        self.fake.merge(REPO, number, merge_sha)
        pull = self.fake.pull(REPO, number)
        pull.merged_at = pull.closed_at = pull.updated_at = at
        self.heads["main"] = merge_sha
        self.send(
            "pull_request",
            self._envelope(action="closed", number=number, pull_request=self._pull(number)),
        )
        return merge_sha

    def close(self, number: int) -> None:
        pull = self.fake.pull(REPO, number)
        pull.state, pull.closed_at = "closed", self.tick(60)
        pull.updated_at = pull.closed_at
        self.send(
            "pull_request",
            self._envelope(action="closed", number=number, pull_request=self._pull(number)),
        )


def play(fake: FakeGitHub, send: Send) -> list[int]:
    """Run the whole scenario; returns the pull request numbers it opened."""
    s = Story(fake, send)
    s.setup()

    # 1. Docs on the economy tier: ships first time.
    s.push(
        "docs/install",
        agent_message(
            "Document the install steps", "DOCS-12", "docs", 1, "economy", HAIKU, 18_000, 2_400
        ),
        [added("docs/install.md", 42, "added")],
    )
    s.open(1, "docs/install", "Document the install steps", ("documentation",))
    s.ci(1, "success")
    s.review(1, "approved")
    s.merge(1)

    # 2. A bugfix routed to economy fails CI twice, then is escalated to frontier.
    for attempt, (tier, model) in enumerate([("economy", HAIKU)] * 2 + [("frontier", OPUS)], 1):
        message = agent_message(
            "Fix rounding of cart totals"
            if attempt == 1
            else f"Fix rounding of cart totals (attempt {attempt})",
            "BUG-31",
            "bugfix",
            attempt,
            tier,
            model,
            60_000 + 25_000 * attempt,
            6_000 + 2_000 * attempt,
            "cascade" if attempt == 3 else "route",
        )
        files = [added("shop/cart.py", 12 + 6 * attempt), added("tests/test_cart.py", 20)]
        s.push("fix/cart-rounding", message, files, number=2 if attempt > 1 else None)
        if attempt == 1:
            s.open(2, "fix/cart-rounding", "Fix rounding of cart totals", ("bug",))
        s.ci(2, "failure" if attempt < 3 else "success")
    s.review(2, "approved")
    s.merge(2)

    # 3. A feature on the standard tier: changes requested, reworked by the agent and a human.
    s.push(
        "feat/gift-cards",
        agent_message(
            "Add gift card payments", "FEAT-7", "feature", 1, "standard", SONNET, 140_000, 18_000
        ),
        [
            added("shop/payments/gift_cards.py", 160, "added"),
            added("tests/test_gift_cards.py", 90, "added"),
        ],
    )
    s.open(3, "feat/gift-cards", "Add gift card payments", ("enhancement",))
    s.ci(3, "success")
    s.review(3, "changes_requested")
    s.push(
        "feat/gift-cards",
        agent_message(
            "Validate gift card balances", "FEAT-7", "feature", 2, "standard", SONNET, 90_000, 9_000
        ),
        [added("shop/payments/gift_cards.py", 40)],
        number=3,
    )
    s.push(
        "feat/gift-cards",
        "Tidy the gift card error messages",
        [added("shop/payments/gift_cards.py", 8)],
        author=GRACE,
        number=3,
    )
    s.ci(3, "success")
    s.review(3, "approved")
    s.merge(3)

    # 4. A refactor on the economy tier, closed unmerged after CI fails.
    s.push(
        "refactor/orders",
        agent_message(
            "Split the orders module", "REF-4", "refactor", 1, "economy", HAIKU, 75_000, 11_000
        ),
        [added("shop/orders/__init__.py", 120), added("shop/orders/queries.py", 95, "added")],
    )
    s.open(4, "refactor/orders", "Split the orders module", ("refactor",))
    s.ci(4, "failure")
    s.close(4)

    # 5. A feature shipped on the economy tier, then reverted from main.
    s.push(
        "feat/coupon-stacking",
        agent_message(
            "Allow stacking coupons", "FEAT-9", "feature", 1, "economy", HAIKU, 55_000, 7_000
        ),
        [added("shop/coupons.py", 70), added("tests/test_coupons.py", 40)],
    )
    s.open(5, "feat/coupon-stacking", "Allow stacking coupons", ("enhancement",))
    s.ci(5, "success")
    s.review(5, "approved")
    merged = s.merge(5)
    s.push(
        "main",
        f'Revert "Allow stacking coupons"\n\nThis reverts commit {merged}.\n'
        "Coupons stacked past the order total.",
        [added("shop/coupons.py", 2)],
        author=ADA,
        minutes=24 * 60,
    )
    return [1, 2, 3, 4, 5]


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
