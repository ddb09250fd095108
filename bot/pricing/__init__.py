"""Dollars for token usage: model names, list prices, overrides and tiers. Pure: no I/O."""
