"""Yield Auditor's engine: trailers, agent detection, pricing, attribution, the ledger, the
GitHub client, comments, digests and the command line."""

__version__ = "0.1.0"
HOMEPAGE = "https://github.com/yield-auditor/yield-auditor"
DOCS_URL = f"{HOMEPAGE}/blob/main/docs"  # linked from comments and digests
