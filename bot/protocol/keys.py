"""Identifiers taken from untrusted text (trailers, refs, payloads), bounded so every database
can index them: PostgreSQL refuses a B-tree row over 2,704 bytes, and a trailer or a git ref has
no length limit of its own. A long value keeps a readable prefix and the SHA-256 of the whole,
so equal values stay equal and distinct ones distinct. Pure functions, no I/O."""

from __future__ import annotations

import hashlib

# Characters of a task, task class, tier, model or branch name in the ledger: short enough that
# a composite index of a few of them (4 bytes a character at most) stays under PostgreSQL's row
# limit, long enough for any real name.
NAME_LIMIT = 255


def bounded(text: str, limit: int = NAME_LIMIT) -> str:
    """``text``, or a prefix of it and its SHA-256 when longer than ``limit`` characters."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{text[: limit - len(digest) - 8]} sha256:{digest}"


def bounded_or_none(text: str | None, limit: int = NAME_LIMIT) -> str | None:
    return None if text is None else bounded(text, limit)
