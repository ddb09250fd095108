"""``yield-auditor trailers parse``: one JSON line per message, whatever the input."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from bot.cli.main import main
from tests.paths import ROOT

EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.txt"))


def parse(args: list[str], stdin: bytes | None = None) -> list[dict]:
    result = CliRunner().invoke(main, ["trailers", "parse", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_example_messages():
    rows = {Path(r["source"]).stem: r for r in parse([str(p) for p in EXAMPLES])}
    assert set(rows) == {"aider-commit", "human-commit", "protocol-commit"}
    for row in rows.values():
        assert set(row) == {"source", "trailers", "record", "agent", "usage", "warnings"}

    protocol = rows["protocol-commit"]
    assert protocol["record"]["task"] == "ROUTE-4711"
    assert protocol["record"]["route"]["candidates"] == ["economy", "standard", "frontier"]
    assert protocol["agent"]["agent"] == "claude-code"
    assert protocol["agent"]["role"] == "authored"
    [usage] = protocol["usage"]
    assert usage["model_id"] == "claude-sonnet-4-6"
    assert usage["tier"] == "standard"
    # 8k in at $3, 40k cache reads at $0.30, 6k cache writes at $3.75, 1.2k out at $15 per Mtok
    assert Decimal(usage["usd"]) == Decimal("0.0765")
    assert (usage["in"], usage["out"], usage["requests"]) == (8000, 1200, 9)
    assert usage["reported_cost"] is None and "cost" not in usage
    assert protocol["record"]["usage"][0]["in"] == 8000
    assert protocol["trailers"][0] == ["Agent-Trailers", "1"]

    aider = rows["aider-commit"]
    assert aider["agent"]["agent"] == "aider"
    assert aider["agent"]["model"] == "gemini/gemini-2.5-pro"
    assert aider["agent"]["evidence"][0]["field"].lower() == "trailer:co-authored-by"

    human = rows["human-commit"]
    assert human["agent"]["agent"] is None and human["agent"]["role"] == "none"
    assert human["trailers"] == [["Signed-off-by", "Ada Lovelace <ada@example.com>"]]


def test_nul_separated_stream_from_stdin():
    stream = b"\0".join(p.read_bytes() for p in EXAMPLES) + b"\0"
    rows = parse(["-z", "-"], stream)
    assert [r["source"] for r in rows] == ["-#0", "-#1", "-#2"]


def test_divider_applies_to_files_but_not_with_no_divider():
    message = b"t\n\nAgent-Task: T-1\n---\nsome patch text\n"
    assert parse([], message)[0]["record"]["task"] == "T-1"
    assert parse(["--no-divider"], message)[0]["record"]["task"] is None


def test_bad_bytes_are_reported_not_fatal():
    [row] = parse([], b"t\n\nAgent-Task: caf\xe9\nAgent-Attempt: x\n")
    assert row["record"]["task"] == "caf\ufffd"
    assert row["warnings"][0] == "invalid UTF-8 replaced with U+FFFD"
    assert any("Agent-Attempt" in w for w in row["warnings"])
    [row] = parse([], b"t\n\nAgent-Task: T-1\n\0tail")
    assert row["warnings"][0] == "message ends at its first NUL byte, as in git"


def test_identities_feed_detection():
    [row] = parse(["--author", "Paul Gauthier (aider) <paul@example.com>"], b"fix: x\n")
    assert row["agent"]["agent"] == "aider" and row["agent"]["role"] == "authored"


def test_unknown_model_is_unpriced_not_free():
    [row] = parse([], b"t\n\nAgent-Usage: model=acme:finetune-7; in=1000; out=10\n")
    assert row["usage"][0]["usd"] is None
    assert row["usage"][0]["price_source"] == "unpriced"


def test_date_selects_historic_prices():
    message = b"t\n\nAgent-Usage: model=claude-sonnet-4-6; in=300000; out=10000; requests=1\n"
    before = parse(["--date", "2026-02-20"], message)[0]["usage"][0]["usd"]
    after = parse(["--date", "2026-03-20"], message)[0]["usage"][0]["usd"]
    assert Decimal(before) > Decimal(after)


def test_missing_file_is_a_clear_error():
    result = CliRunner().invoke(main, ["trailers", "parse", "/nonexistent/message.txt"])
    assert result.exit_code != 0
    assert "/nonexistent/message.txt" in result.output


def test_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("yield-auditor, version ")


def test_fast_and_long_context_lines_are_shown():
    message = (
        b"Fix\n\nAgent-Trailers: 1\n"
        b"Agent-Usage: model=claude-opus-4-6; in=1000; out=10; speed=fast\n"
        b"Agent-Usage: model=claude-sonnet-4-5; in=250000; out=10; long_context=200000\n"
    )
    [row] = parse(["-"], message)
    fast, long = row["record"]["usage"]
    assert (fast["speed"], fast["long_context"]) == ("fast", 0)
    assert (long["speed"], long["long_context"]) == ("", 200000)
    assert {(u["model"], u["speed"], u["long_context"]) for u in row["usage"]} == {
        ("claude-opus-4-6", "fast", 0),
        ("claude-sonnet-4-5", "", 200000),
    }
