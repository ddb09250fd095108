"""The ``yield-auditor`` command line: a composition root."""
