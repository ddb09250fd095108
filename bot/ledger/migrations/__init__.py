"""Alembic migrations of the ledger (``bot.ledger``), shipped inside the package.

Run them with ``yield-auditor migrate`` or ``bot.ledger.db.migrate``; docs/ledger.md explains
how to write a new revision.
"""
