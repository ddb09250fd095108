"""Honest small-sample statistics for the routing advice. Pure: no I/O."""
