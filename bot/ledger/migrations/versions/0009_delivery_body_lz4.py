"""Deliveries' bodies compressed with lz4 on PostgreSQL instead of the default pglz.

A delivery body is JSON of 7 to 30 kB, stored once and read once. pglz spent about 180 us of
the server's CPU per row, more than the rest of the acknowledgement; lz4 spends about 27 us and
compressed these bodies as well (bench/ingress_throughput.py, bench/README.md). It applies to
rows written from now on. A server built without lz4 keeps pglz; SQLite has no such setting.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def upgrade() -> None:
    _compress_with("lz4")


def downgrade() -> None:
    _compress_with("pglz")


def _compress_with(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.dialect.server_version_info < (14,):
        return  # column compression methods are PostgreSQL 14's
    try:
        with bind.begin_nested():  # a savepoint: the migration's transaction goes on either way
            bind.execute(
                sa.text(f"ALTER TABLE deliveries ALTER COLUMN body SET COMPRESSION {method}")
            )
    except sa.exc.DBAPIError as exc:
        log.warning(
            "deliveries.body keeps its compression: the server refused %s (%s)", method, exc.orig
        )
