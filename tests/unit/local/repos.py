"""Real repositories for the local-history tests, made by the real git with the isolated
configuration of conftest.py; dates are pinned through ``GIT_AUTHOR_DATE``/``GIT_COMMITTER_DATE``
so fields can be compared exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.local.gitlog import GitCommit, iter_commits


class Repo:
    """A repository driven by the isolated git; ``commit`` returns the new sha."""

    def __init__(self, path: Path, env: dict[str, str], *, bare: bool = False, init=True):
        self.path = path
        self.env = {**env, "GIT_CEILING_DIRECTORIES": str(path.parent)}
        if init:
            args = ["init", "-q", "-b", "main"] + (["--bare"] if bare else [])
            self.git(*args, str(path), cwd=path.parent)

    def git(
        self, *args: str, input: bytes | None = None, cwd: Path | None = None, **extra: str
    ) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            input=input,
            env={**self.env, **extra},
            capture_output=True,
        )
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout.decode("utf-8", "replace").strip()

    def write(self, name: str, content: str | bytes) -> None:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(
        self,
        message: str | bytes,
        *,
        when: str = "1700000000 +0000",
        committed: str | None = None,
        author: tuple[str, str] | None = None,
        committer: tuple[str, str] | None = None,
        files: dict[str, str | bytes] | None = None,
    ) -> str:
        for name, content in (files or {}).items():
            self.write(name, content)
        self.git("add", "-A")
        extra = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": committed or when}
        if author:
            extra.update(GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1])
        if committer:
            extra.update(GIT_COMMITTER_NAME=committer[0], GIT_COMMITTER_EMAIL=committer[1])
        raw = message.encode() if isinstance(message, str) else message
        self.git(
            "commit",
            "-q",
            "--allow-empty",
            "--allow-empty-message",
            "--cleanup=verbatim",
            "-F",
            "-",
            input=raw,
            **extra,
        )
        return self.head()

    def merge(self, branch: str, message: str, when: str = "1700000000 +0000") -> str:
        self.git(
            "merge",
            "-q",
            "--no-ff",
            "-m",
            message,
            branch,
            GIT_AUTHOR_DATE=when,
            GIT_COMMITTER_DATE=when,
        )
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev)

    def commits(self, **kwargs) -> list[GitCommit]:
        return list(iter_commits(self.path, env=self.env, **kwargs))


def fast_import(path: Path, env: dict[str, str], stream: bytes) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], env=env, check=True)
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=stream, env=env, check=True
    )
