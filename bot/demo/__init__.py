"""``yield-auditor demo`` and its fake GitHub: a composition root."""
