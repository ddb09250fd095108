"""Task class inference and the complexity bucket, from what a task's commits show.

Used only when the router did not say (``Agent-Task-Class``); the result is marked inferred.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.engine.records import FileChange

_CONVENTIONAL = re.compile(r"([A-Za-z]+)(?:\([^)\n]{0,80}\))?!?: ")
_TYPE_CLASS = {
    "fix": "bugfix", "bugfix": "bugfix", "hotfix": "bugfix", "feat": "feature",
    "feature": "feature", "refactor": "refactor", "perf": "refactor", "test": "test",
    "tests": "test", "docs": "docs", "doc": "docs", "chore": "chore", "style": "chore",
    "build": "config", "ci": "config", "config": "config", "deps": "chore",
}  # fmt: skip
_LABEL_CLASS = {
    "bug": "bugfix", "bugfix": "bugfix", "fix": "bugfix", "enhancement": "feature",
    "feature": "feature", "documentation": "docs", "docs": "docs", "refactor": "refactor",
    "refactoring": "refactor", "test": "test", "tests": "test", "testing": "test",
    "chore": "chore", "dependencies": "chore", "ci": "config", "config": "config",
}  # fmt: skip
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc")
_CONFIG_SUFFIXES = (".yml", ".yaml", ".toml", ".json", ".ini", ".cfg", ".conf", ".env")
_CONFIG_NAMES = ("Dockerfile", "Makefile", ".gitignore", ".editorconfig")
_TITLE_WORDS = (
    ("fix", "bugfix"), ("bug", "bugfix"), ("add", "feature"), ("implement", "feature"),
    ("refactor", "refactor"), ("test", "test"), ("doc", "docs"),
)  # fmt: skip


def infer_task_class(
    subjects: Sequence[str],
    labels: Iterable[str] = (),
    title: str = "",
    paths: Iterable[str] = (),
) -> str:
    """Conventional-commit type, then PR labels, then PR title words, then the file footprint."""
    for text in (*subjects[:1], title):
        m = _CONVENTIONAL.match(text)
        if m and m.group(1).lower() in _TYPE_CLASS:
            return _TYPE_CLASS[m.group(1).lower()]
    for label in labels:
        if label.lower() in _LABEL_CLASS:
            return _LABEL_CLASS[label.lower()]
    return _footprint_class(list(paths)) or _title_class(title) or "other"


def _title_class(title: str) -> str | None:
    words = title.lower().split()
    for prefix, task_class in _TITLE_WORDS:
        if any(w.startswith(prefix) for w in words[:3]):
            return task_class
    return None


def _footprint_class(paths: list[str]) -> str | None:
    if not paths:
        return None
    if all(_is_doc(p) for p in paths):
        return "docs"
    if all(_is_test(p) for p in paths):
        return "test"
    if all(_is_config(p) for p in paths):
        return "config"
    return None


def _is_doc(path: str) -> bool:
    return path.startswith("docs/") or path.endswith(_DOC_SUFFIXES)


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        path.startswith(("tests/", "test/")) or "/tests/" in path or "/__tests__/" in path
        or name.startswith("test_") or name.endswith(("_test.py", "_test.go"))
        or ".test." in name or ".spec." in name
    )  # fmt: skip


def _is_config(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path.startswith(".github/") or name.endswith(_CONFIG_SUFFIXES) or name in _CONFIG_NAMES


def complexity(files: Iterable[FileChange]) -> str:
    """small / medium / large from files, top-level components and lines changed.

    A "small fix" that touches three components is large: the classic mis-route.
    """
    paths: dict[str, int] = {}
    for f in files:
        paths[f.path] = paths.get(f.path, 0) + f.added + f.deleted
    components = {p.split("/", 1)[0] if "/" in p else "." for p in paths}
    lines = sum(paths.values())
    if len(paths) > 10 or len(components) >= 3 or lines > 500:
        return "large"
    if len(paths) <= 3 and len(components) <= 1 and lines <= 100:
        return "small"
    return "medium"
