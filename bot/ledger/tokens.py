"""API tokens for scripts (docs/access.md): read-only, scoped to one installation, revocable.

A token is ``yat_`` followed by ``secrets.token_urlsafe(32)``: 256 random bits. Only its
SHA-256 is stored. A slow password hash (bcrypt, scrypt, Argon2) exists to make guessing
*low-entropy* secrets expensive; nobody can enumerate 2**256 candidates however fast the hash
is, so one SHA-256 is the right tool here, and it lets a request find its token with one
indexed lookup (``token_hash`` is unique) instead of comparing against every row. The first
12 characters (``prefix``) are kept in clear to recognise a token in lists and to revoke it.

Every function takes an ``Engine`` (it then runs and commits its own transaction) or a
``Session`` (it runs in the caller's transaction and leaves the commit to the caller).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.ledger.db import write_lock
from bot.ledger.schema import ApiTokenRow, InstallationRow

log = logging.getLogger(__name__)

TOKEN_PREFIX = "yat_"  # noqa: S105 (the tokens' public prefix, not a secret)
PREFIX_LENGTH = 12  # "yat_" and 8 random characters: 48 bits, enough to tell tokens apart
MAX_NAME_LENGTH = 100
MAX_TOKEN_LENGTH = 200  # anything longer is not one of ours: refused before hashing
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per token and minute

_tokens = ApiTokenRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown of a token: never the token, never its hash."""

    id: int
    installation_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def status(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or _now()):
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = asdict(self)
        for key, value in document.items():
            if isinstance(value, datetime):
                document[key] = value.isoformat()
        document["status"] = self.status()
        return document


def hash_token(plaintext: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_token(
    target: Engine | Session,
    installation_id: int,
    name: str,
    *,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[TokenInfo, str]:
    """A new token for ``installation_id``: its description and the plaintext, which exists
    only here (show it once). Raises ``ValueError`` for an installation the ledger does not
    know or a bad name."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValueError(f"a token needs a printable name of 1 to {MAX_NAME_LENGTH} characters")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    now = now or _now()
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with _session(target) as session:
        if session.get(InstallationRow, installation_id) is None:
            raise ValueError(
                f"installation {installation_id} is not in the ledger: it appears once GitHub "
                "has sent one of its webhooks (install the App, or check the id)"
            )
        row = ApiTokenRow(
            installation_id=installation_id,
            name=name,
            prefix=plaintext[:PREFIX_LENGTH],
            token_hash=hash_token(plaintext),
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        session.add(row)
        session.flush()
        info = _info(row)
    return info, plaintext


def verify_token(
    target: Engine | Session, plaintext: str | None, *, now: datetime | None = None
) -> TokenInfo | None:
    """The live token ``plaintext`` is, or None (unknown, malformed, revoked or expired).

    Records its use (``last_used_at``) at most once a minute; a failure to record it is logged
    and does not refuse the token.
    """
    if (
        not plaintext
        or not plaintext.startswith(TOKEN_PREFIX)
        or len(plaintext) > MAX_TOKEN_LENGTH
        or not plaintext.isascii()
    ):
        return None
    now = now or _now()
    digest = hash_token(plaintext)
    with _session(target) as session:
        row = session.scalars(sa.select(ApiTokenRow).where(_tokens.c.token_hash == digest)).first()
        if row is None:
            return None
        info = _info(row)
    if not info.live(now):
        return None
    if info.last_used_at is None or info.last_used_at <= now - LAST_USED_EVERY:
        _touch(target, info.id, now)
    return info


def revoke_token(
    target: Engine | Session, which: int | str, *, now: datetime | None = None
) -> bool:
    """Revoke a token by id, by prefix (``yat_`` and at least 8 characters) or by the whole
    token (a leaked one). True when a live token was revoked now; False when none matched or it
    was already revoked. Raises ``ValueError`` for a prefix that matches several tokens."""
    now = now or _now()
    with _session(target) as session:
        rows = _matching(session, which)
        if len(rows) > 1:
            ids = ", ".join(str(r.id) for r in rows)
            raise ValueError(f"{which!r} matches several tokens ({ids}): give the id")
        if not rows or rows[0].revoked_at is not None:
            return False
        rows[0].revoked_at = now
        session.flush()
    return True


def find_tokens(target: Engine | Session, which: int | str) -> list[TokenInfo]:
    """The tokens an id, prefix or whole token designates (as ``revoke_token`` reads it)."""
    with _session(target) as session:
        return [_info(row) for row in _matching(session, which)]


def list_tokens(target: Engine | Session, installation_id: int | None = None) -> list[TokenInfo]:
    """Tokens (all, or one installation's), oldest first, revoked ones included."""
    query = sa.select(ApiTokenRow).order_by(_tokens.c.id)
    if installation_id is not None:
        query = query.where(_tokens.c.installation_id == installation_id)
    with _session(target) as session:
        return [_info(row) for row in session.scalars(query)]


# --------------------------------------------------------------------------- helpers


def _matching(session: Session, which: int | str) -> list[ApiTokenRow]:
    if isinstance(which, int) or (isinstance(which, str) and which.isdigit()):
        row = session.get(ApiTokenRow, int(which))
        return [] if row is None else [row]
    text = which.strip()
    if not text.startswith(TOKEN_PREFIX) or len(text) < PREFIX_LENGTH:
        raise ValueError(
            f"give a token id, or a prefix of at least {PREFIX_LENGTH} characters "
            f"starting with {TOKEN_PREFIX!r}"
        )
    if len(text) > PREFIX_LENGTH:  # the whole token
        condition = _tokens.c.token_hash == hash_token(text)
    else:
        condition = _tokens.c.prefix == text
    return list(session.scalars(sa.select(ApiTokenRow).where(condition).order_by(_tokens.c.id)))


def _touch(target: Engine | Session, token_id: int, now: datetime) -> None:
    """``last_used_at = now`` unless another request did it in the last minute (one
    conditional UPDATE, so concurrent requests do not both write)."""
    cutoff = now - LAST_USED_EVERY
    statement = (
        _tokens.update()
        .where(_tokens.c.id == token_id)
        .where(sa.or_(_tokens.c.last_used_at.is_(None), _tokens.c.last_used_at <= cutoff))
        .values(last_used_at=now)
    )
    try:
        if isinstance(target, Session):
            target.execute(statement)
            return
        with write_lock(target), target.begin() as connection:
            connection.execute(statement)
    except SQLAlchemyError as exc:
        log.warning("could not record the use of API token %d: %s", token_id, type(exc).__name__)


@contextmanager
def _session(target: Engine | Session) -> Iterator[Session]:
    if isinstance(target, Session):
        yield target
        return
    with Session(target, expire_on_commit=False) as session, session.begin():
        yield session


def _info(row: ApiTokenRow) -> TokenInfo:
    assert row.id is not None
    return TokenInfo(
        id=row.id,
        installation_id=row.installation_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _now() -> datetime:
    return datetime.now(UTC)
