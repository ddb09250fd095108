"""A fake GitHub REST API on 127.0.0.1, for tests and ``yield-auditor demo``.

It serves the endpoints the App calls with GitHub's response shapes, checks the App's JWT and
installation tokens as GitHub does, paginates with ``Link`` headers, records every request, and
answers with injected faults (5xx, delays, secondary and primary rate limits) on demand::

    with FakeGitHub(app_id=1) as fake:
        fake.add_installation(7, "octo-org")
        fake.add_repo("octo-org/service", installation_id=7)
        sha = fake.add_commit("octo-org/service", "Fix it", author=Person("A", "a@x.org"))
        fake.add_pull("octo-org/service", 1, head_ref="fix", commits=[sha])
        fake.fail("GET", "/repos/*/pulls/1/commits", SECONDARY, seconds=120)
        ...  # point GitHubApp at fake.url with fake.private_key
        assert fake.calls("GET", "/repos/*/pulls/1/commits")
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot.demo.fake_github.oauth import issue_user_token
from bot.demo.fake_github.routes import create_app
from bot.demo.fake_github.state import (
    DELAY,
    ERROR,
    FAULT_KINDS,
    PRIMARY,
    SECONDARY,
    Comment,
    Commit,
    Delivery,
    Fault,
    FileDiff,
    Issue,
    Person,
    Pull,
    Recorded,
    Repo,
    State,
    User,
    added_file,
    fake_sha,
    now,
)

__all__ = [
    "DELAY",
    "ERROR",
    "PRIMARY",
    "SECONDARY",
    "FakeGitHub",
    "FileDiff",
    "Person",
    "Recorded",
    "User",
    "added_file",
    "generate_private_key",
]

DEFAULT_PERSON = Person("Dev Eloper", "dev@example.com", "developer", 5001, "User")


def generate_private_key() -> str:
    """A fresh RSA key in PEM, as GitHub generates for an App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


class _QuietHandler(WSGIRequestHandler):
    """No access log: tests and the demo record requests themselves."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class FakeGitHub:
    """The fake API and its state; ``start()`` serves it in a background thread."""

    def __init__(
        self, app_id: int = 1, private_key: str | None = None, slug: str = "yield-auditor"
    ):
        self.private_key = private_key or generate_private_key()
        public_key = serialization.load_pem_private_key(
            self.private_key.encode(), password=None
        ).public_key()
        self.state = State(app_id, slug)
        self.wsgi_app = create_app(self.state, public_key)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------- server

    @property
    def app_id(self) -> int:
        return self.state.app_id

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake GitHub is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeGitHub:
        """Serve on a free port of 127.0.0.1, one thread per request."""
        if self._server is None:
            self._server = make_server(
                "127.0.0.1", 0, self.wsgi_app, threaded=True, request_handler=_QuietHandler
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fake-github", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------- seeding

    def add_installation(self, installation_id: int, account: str) -> None:
        with self.state.lock:
            self.state.installations[installation_id] = account

    def add_repo(
        self, full_name: str, installation_id: int | None, default_branch: str = "main"
    ) -> int:
        """Add a repository the installation can read; returns its id."""
        with self.state.lock:
            repo_id = self.state.next_id()
            self.state.repos[full_name] = Repo(full_name, repo_id, installation_id, default_branch)
        return repo_id

    def add_commit(
        self,
        repo: str,
        message: str,
        *,
        author: Person = DEFAULT_PERSON,
        committer: Person | None = None,
        files: Sequence[FileDiff] = (),
        parents: Sequence[str] = (),
        at: datetime | None = None,
        sha: str | None = None,
    ) -> str:
        """Add a commit; returns its sha (derived from its content unless given)."""
        with self.state.lock:
            at = at or now()
            sha = sha or fake_sha(repo, message, self.state.next_id())
            self.state.commits[(repo, sha)] = Commit(
                sha, message, author, committer or author, at, at, tuple(parents), tuple(files)
            )
        return sha

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        head_ref: str,
        commits: Iterable[str] = (),
        base_ref: str = "main",
        title: str = "",
        labels: Sequence[str] = (),
        user: Person = DEFAULT_PERSON,
        files: Sequence[FileDiff] | None = None,
    ) -> None:
        """Add an open pull request; ``files`` None serves its commits' files as its diff.

        A pull request is an issue to GitHub: its number must not be an issue's.
        """
        with self.state.lock:
            if (repo, number) in self.state.issues:
                raise ValueError(f"{repo} has an issue #{number}: pull requests share its numbers")
            self.state.pulls[(repo, number)] = Pull(
                number,
                self.state.next_id(),
                title or f"Pull request {number}",
                head_ref,
                base_ref,
                user,
                list(commits),
                labels=tuple(labels),
                files=None if files is None else tuple(files),
            )

    def pull(self, repo: str, number: int) -> Pull:
        """The stored pull request, to change (add commits, merge...) in place."""
        return self.state.pulls[(repo, number)]

    def merge(self, repo: str, number: int, merge_sha: str | None = None) -> None:
        with self.state.lock:
            pull = self.state.pulls[(repo, number)]
            pull.state, pull.merged = "closed", True
            pull.merged_at = pull.closed_at = now()
            pull.merge_commit_sha = merge_sha or fake_sha(repo, number, "merge")

    def add_comment(self, repo: str, issue: int, body: str, user: Person | None = None) -> int:
        """A comment by ``user`` (the App's bot account by default); returns its id."""
        with self.state.lock:
            comment = Comment(self.state.next_id(), repo, issue, body, user or self.state.bot)
            self.state.comments[comment.id] = comment
        return comment.id

    def comments(self, repo: str, issue: int) -> list[Comment]:
        return self.state.comments_on(repo, issue)

    def issues(self, repo: str) -> list[Issue]:
        """The issues of ``repo``, by number."""
        with self.state.lock:
            return sorted(
                (i for (r, _), i in self.state.issues.items() if r == repo), key=lambda i: i.number
            )

    def check_runs(self, repo: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(r) for r in self.state.check_runs.values() if r["repo"] == repo]

    def set_content(self, repo: str, path: str, text: str | bytes, ref: str | None = None) -> None:
        """A file of the repository at ``ref`` (the default branch when None)."""
        data = text.encode() if isinstance(text, str) else text
        with self.state.lock:
            branch = ref or self.state.repos[repo].default_branch
            self.state.contents[(repo, branch, path)] = data

    def add_delivery(
        self,
        guid: str,
        event: str,
        action: str | None = None,
        *,
        status_code: int = 200,
        ago: timedelta = timedelta(minutes=5),
        redelivery: bool = False,
        installation_id: int | None = None,
    ) -> int:
        """A webhook delivery GitHub attempted ``ago``; a status code >= 400 means it failed."""
        with self.state.lock:
            delivery = Delivery(
                self.state.next_id(),
                guid,
                event,
                action,
                status_code,
                now() - ago,
                redelivery,
                installation_id,
            )
            self.state.deliveries.append(delivery)
        return delivery.id

    def deliveries(self) -> list[Delivery]:
        with self.state.lock:
            return list(self.state.deliveries)

    # ----------------------------------------------------------------------- sign-in (OAuth)

    @property
    def oauth_client_id(self) -> str:
        """The App's client id (GITHUB_CLIENT_ID), as ``GET /app`` gives it."""
        return self.state.oauth_client_id

    @property
    def oauth_client_secret(self) -> str:
        """The App's client secret (GITHUB_CLIENT_SECRET)."""
        return self.state.oauth_client_secret

    def set_callback_urls(self, *urls: str) -> None:
        """The App's registered callback URLs; a ``redirect_uri`` must be one of them or below
        one (none registered: any is accepted)."""
        with self.state.lock:
            self.state.oauth_callback_urls = list(urls)

    def add_user(
        self,
        login: str,
        user_id: int,
        installations: Sequence[int] = (),
        admin_of: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        """A GitHub user who can sign in: ``installations`` are the App's installations they
        can access (``GET /user/installations``); they are a member of the organisations owning
        them, and an admin of those in ``admin_of``. An installation whose account is ``login``
        is their own account's."""
        with self.state.lock:
            self.state.users[login] = User(
                login, user_id, tuple(installations), tuple(admin_of), name
            )

    def sign_in_as(self, login: str | None) -> None:
        """Who is signed in to GitHub in "the browser": the authorize page acts for them."""
        with self.state.lock:
            if login is not None and login not in self.state.users:
                raise KeyError(f"no fake user {login!r}: add_user first")
            self.state.signed_in = login

    def user_token(self, login: str) -> str:
        """A user-to-server token (``ghu_...``) for ``login``, without the browser flow."""
        return issue_user_token(self.state, login)

    # ----------------------------------------------------------------------- faults and records

    def fail(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        status: int | None = None,
        seconds: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` ("*" for any) and the ``path``
        glob with a fault of ``kind`` (ERROR, DELAY, SECONDARY or PRIMARY); see ``Fault``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self.state.lock:
            self.state.faults.append(Fault(method, path, kind, status, seconds, times))

    def calls(self, method: str = "*", path: str = "*") -> list[Recorded]:
        """The requests received so far matching ``method`` and the ``path`` glob, in order."""
        with self.state.lock:
            recorded = list(self.state.requests)
        probe = Fault(method, path, ERROR)
        return [r for r in recorded if probe.matches(r.method, r.path)]

    def reset_calls(self) -> None:
        with self.state.lock:
            self.state.requests.clear()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bot.demo.fake_github.server KEY_FILE``: serve an empty fake until interrupted.

    The App's private key is written to KEY_FILE, for ``GITHUB_APP_PRIVATE_KEY_PATH``.
    """
    import argparse
    import contextlib
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Serve a fake GitHub REST API on 127.0.0.1.")
    parser.add_argument("key_file", type=Path, help="where to write the App's private key")
    parser.add_argument("--app-id", type=int, default=1)
    args = parser.parse_args(argv)
    fake = FakeGitHub(app_id=args.app_id)
    args.key_file.write_text(fake.private_key, encoding="utf-8")
    args.key_file.chmod(0o600)
    with fake:
        print(f"GITHUB_API_URL={fake.url} GITHUB_APP_ID={args.app_id}", flush=True)
        print(f"GITHUB_APP_PRIVATE_KEY_PATH={args.key_file}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
