"""The weekly digest: what it says, composed from the ledger."""
