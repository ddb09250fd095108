"""Turning figures into text, HTML and SVG for people."""
