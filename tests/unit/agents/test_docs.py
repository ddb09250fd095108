"""The rules table in docs/agents.md is generated from the built-in rules."""

from __future__ import annotations

from bot.agents.docs import DOCS_TABLE_END, DOCS_TABLE_START, rules_table, write_rules_table
from bot.agents.table import BUILTIN_RULES
from tests.paths import ROOT

DOCS = ROOT / "docs" / "agents.md"


def test_docs_table_is_the_builtin_rules():
    """docs/agents.md embeds rules_table(), written by ``python -m bot.agents.detect``."""
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.index(DOCS_TABLE_START), text.index(DOCS_TABLE_END) + len(DOCS_TABLE_END)
    assert text[start:end] == rules_table()
    assert all(f"| `{r['id']}` |" in text for r in BUILTIN_RULES)


def test_writing_the_table_replaces_only_the_generated_block(tmp_path):
    page = tmp_path / "agents.md"
    page.write_text(f"# Before\n\n{DOCS_TABLE_START}\n| stale |\n{DOCS_TABLE_END}\n\nAfter\n")
    write_rules_table(str(page))
    assert page.read_text() == f"# Before\n\n{rules_table()}\n\nAfter\n"
