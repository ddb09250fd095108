"""Shared fixtures: an isolated git (no user or system configuration can change its rules)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GIT = shutil.which("git")


@pytest.fixture(scope="session")
def git_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for running the real git with no system, global or user configuration."""
    if GIT is None:
        pytest.skip("git is not installed: the differential tests need the real git")
    home = tmp_path_factory.mktemp("git-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.com",
        GIT_COMMITTER_NAME="Test Committer",
        GIT_COMMITTER_EMAIL="committer@example.com",
        LC_ALL="C",
    )
    return env


@pytest.fixture
def run_git(git_env: dict[str, str]):
    """Run git with the isolated environment; returns stdout as bytes."""

    def run(*args: str, cwd: Path | None = None, input: bytes | None = None) -> bytes:
        return subprocess.run(
            [GIT, *args], cwd=cwd, input=input, env=git_env, capture_output=True, check=True
        ).stdout

    return run
