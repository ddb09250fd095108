"""SQLite: planner statistics for the inbox, so a claim walks the unfinished deliveries in order.

Without statistics SQLite answers the claim's ``status IN ('received', 'processing')`` through
the status index, gathers every due delivery and sorts them: a claim cost 16 ms at 1,300 queued
and grew with the queue. Told that a status matches a large share of the table (as it does),
it walks the partial index of unfinished deliveries in received order and stops at the first
it can claim (1.7 ms at 1,300 queued). These rows are what ``ANALYZE`` would write for a busy
inbox; a later ``ANALYZE`` replaces them with measured ones, which lead to the same plan.
PostgreSQL keeps its own statistics (autovacuum).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# sqlite_stat1's "stat": the index's row count, then the average rows per distinct value of
# each prefix of its columns.
STATISTICS = {
    "ix_deliveries_status_available_at": "1000000 200000 2",
    "ix_deliveries_pending_received_at": "1000 1 1",
    "ix_deliveries_pending_ordering_key": "1000 4 1 1",
    "sqlite_autoindex_deliveries_1": "1000000 1",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    bind.exec_driver_sql("ANALYZE alembic_version")  # creates sqlite_stat1 if it is missing
    bind.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = 'deliveries'"))
    for index, stat in STATISTICS.items():
        bind.execute(
            sa.text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('deliveries', :i, :s)"),
            {"i": index, "s": stat},
        )
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reads them again now


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.execute(sa.text("DELETE FROM sqlite_stat1 WHERE tbl = 'deliveries'"))
        bind.exec_driver_sql("ANALYZE sqlite_schema")
