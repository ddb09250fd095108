"""Yield Auditor's engine and everything that is not web, one sub-package per question.

docs/architecture.md maps them and the import rules between them (enforced by ``make lint``).
"""

__version__ = "0.1.0"
HOMEPAGE = "https://github.com/yield-auditor/yield-auditor"
DOCS_URL = f"{HOMEPAGE}/blob/main/docs"  # linked from comments and digests
