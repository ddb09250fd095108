"""Recognising the coding agent behind a commit, from a data table of rules. Pure: no I/O."""
