"""Yield Auditor's engine: trailers, agent detection, pricing and (later) the ledger."""

__version__ = "0.1.0"
