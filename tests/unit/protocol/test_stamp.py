"""Stamping puts the protocol's trailers where git would, once.

The differential tests run the real ``git interpret-trailers`` (isolated configuration, see
conftest.py) on every stamped message of a hand-written and generated corpus.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.protocol.codec import Context, ProtocolRecord, Route, format_record, parse_record
from bot.protocol.stamp import _entries, stamp, stamp_message
from bot.protocol.trailers import find_trailer_block, parse_trailers
from bot.protocol.usage import Usage

SCISSORS = "# ------------------------ >8 ------------------------\n"

FULL = ProtocolRecord(
    agent="claude-code/2.0.31",
    task="ROUTE-4711",
    task_class="bugfix",
    attempt=2,
    route=Route(
        router="notdiamond/1.2",
        strategy="cascade",
        tier="standard",
        model="anthropic:claude-sonnet-4-6",
        score=0.62,
        threshold=0.5,
        candidates=("economy", "standard", "frontier"),
        reason="escalated after CI",
    ),
    context=Context(sources=("AGENTS.md", "docs/api.md"), tokens=5400),
    usage=(
        Usage(
            "anthropic:claude-sonnet-4-6",
            input=8000,
            output=1200,
            cache_read=40000,
            cache_write=6000,
            requests=9,
        ),
        Usage("anthropic:claude-haiku-4-5", input=10, output=2, cost=Decimal("0.0001")),
    ),
    log="refs/notes/agent-log",
)
USAGE_ONLY = ProtocolRecord(usage=(Usage("gpt-5.2", input=5, output=7, requests=1),))
ODD = ProtocolRecord(
    task='T 1; x="y"',
    route=Route(reason='a; b = "c"', extra=(("x-note", ""),)),
    extra=(("Agent-Foo", "bar"),),
)
RECORDS = [FULL, USAGE_ONLY, ODD]


def trailer_lines(record: ProtocolRecord) -> list[tuple[str, str]]:
    return format_record(record)


# --- placement -----------------------------------------------------------------------------


def test_new_paragraph_after_the_body():
    out = stamp_message("fix: retry\n\nBody.\n", USAGE_ONLY)
    assert out == (
        "fix: retry\n\nBody.\n\nAgent-Trailers: 1\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )


def test_appends_to_the_existing_block():
    message = "fix: retry\n\nBody.\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
    out = stamp_message(message, USAGE_ONLY)
    assert (
        out == message + "Agent-Trailers: 1\nAgent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )


def test_title_without_newline_gets_a_blank_line():
    """git would put the trailer into the title paragraph here (where git --parse misses it)."""
    assert stamp_message("title", USAGE_ONLY).startswith("title\n\nAgent-Trailers: 1\n")
    assert stamp_message("t\n\nKey: v", USAGE_ONLY).startswith("t\n\nKey: v\nAgent-Trailers: 1\n")


def test_before_comments_and_scissors():
    message = (
        "title\n\nbody\n\n# Please enter the commit message\n#\n"
        + SCISSORS
        + "# Do not modify or remove the line above.\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n"
    )
    out = stamp_message(message, USAGE_ONLY)
    head, _, tail = out.partition("\n# Please enter")
    usage = "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    assert head == "title\n\nbody\n\nAgent-Trailers: 1\n" + usage
    assert tail == message.partition("\n# Please enter")[2]


def test_a_dash_line_in_the_body_is_not_a_patch():
    """Like ``git commit --trailer``, a message file has no patch part: ``---`` is text."""
    out = stamp_message("title\n\n---\nmore text\n", USAGE_ONLY)
    assert out.endswith(
        "more text\n\nAgent-Trailers: 1\nAgent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )


def test_crlf_message_gets_crlf_lines():
    out = stamp_message("title\r\n\r\nbody\r\n", USAGE_ONLY)
    assert out == (
        "title\r\n\r\nbody\r\n\r\nAgent-Trailers: 1\r\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\r\n"
    )
    assert stamp_message(out, USAGE_ONLY) == out
    assert parse_trailers(out, divider=False) == trailer_lines(USAGE_ONLY)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "\n",
        "\n\n# Please enter the commit message\n#\n",
        SCISSORS + "title\n",
        "\n\nSigned-off-by: A <a@example.com>\n\n# comment\n",
    ],
)
def test_empty_message_is_left_alone(message):
    """``git commit`` without ``-m`` runs the hook before the editor: no title yet."""
    result = stamp(message, FULL)
    assert result.message == message and not result.changed
    assert result.warnings == ("the message is empty; not stamped",)


@pytest.mark.parametrize(
    "message",
    ["title\n\nfix: a thing\n ", "title\n\nKey: v\n   \n", "title\n\nfix: a thing\n\n# comment\n "],
)
def test_whitespace_only_last_line_of_the_block(message):
    """git folds such lines into the block; new lines go above them, or they would split it."""
    result = stamp(message, USAGE_ONLY)
    assert parse_trailers(result.message, divider=False) == (
        parse_trailers(message, divider=False) + list(result.added)
    )
    assert result.message.endswith(message[message.index("\n", 7) + 1 :])


def test_message_git_would_not_read_after_stamping():
    """A "Conflicts:" title: git's own --trailer output would lose the block on re-reading."""
    result = stamp("Conflicts:\n\n\tcontinued", USAGE_ONLY)
    assert result.message == "Conflicts:\n\n\tcontinued" and not result.changed
    assert "git would not read" in result.warnings[0]


def test_nothing_to_stamp():
    assert stamp("title\n", ProtocolRecord()) == stamp("title\n", ProtocolRecord(version=1))
    assert stamp("title\n", ProtocolRecord()).message == "title\n"
    assert stamp("title\n", ProtocolRecord()).warnings == ()


def test_nul_byte():
    assert stamp("t\0x\n", FULL).message == "t\0x\n"


def test_usage_lines_are_merged_per_model():
    record = ProtocolRecord(usage=(Usage("m", input=1), Usage("m", output=2)))
    assert stamp("t\n", record).added[1:] == (("Agent-Usage", "model=m; in=1; out=2"),)


# --- idempotence and conflicts -------------------------------------------------------------


@pytest.mark.parametrize("record", RECORDS)
def test_stamping_twice_adds_nothing(record):
    once = stamp_message("feat: x\n\nSigned-off-by: A <a@example.com>\n", record)
    again = stamp(once, record)
    assert again.message == once and again.added == () and again.warnings == ()


def test_conflicts_keep_the_existing_value_and_warn():
    message = "t\n\nAgent-Task: OLD-1\nAgent-Usage: model=gpt-5.2; in=1\n"
    result = stamp(message, ProtocolRecord(task="NEW-2", attempt=1, usage=USAGE_ONLY.usage))
    assert result.added == (("Agent-Trailers", "1"), ("Agent-Attempt", "1"))
    assert len(result.warnings) == 2
    assert "kept the existing 'OLD-1'" in result.warnings[0]
    assert "Agent-Usage" in result.warnings[1]
    assert result.message.startswith(message)


def test_only_conflicts_adds_not_even_the_version():
    message = "t\n\nAgent-Task: OLD-1\n"
    result = stamp(message, ProtocolRecord(task="NEW-2"))
    assert result.message == message and len(result.warnings) == 1


def test_replace_swaps_conflicting_lines():
    message = (
        "t\n\nSigned-off-by: A <a@x>\nAgent-Task: OLD-1\n  folded\n"
        "Agent-Usage: model=gpt-5.2; in=1\nAgent-Usage: model=other; in=3\n"
    )
    result = stamp(message, ProtocolRecord(task="NEW-2", usage=USAGE_ONLY.usage), replace=True)
    assert result.warnings == ()
    assert result.message == (
        "t\n\nSigned-off-by: A <a@x>\nAgent-Usage: model=other; in=3\n"
        "Agent-Trailers: 1\nAgent-Task: NEW-2\n"
        "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1\n"
    )
    assert (
        stamp(
            result.message, ProtocolRecord(task="NEW-2", usage=USAGE_ONLY.usage), replace=True
        ).message
        == result.message
    )


def test_a_models_lines_of_other_rates_conflict_with_its_existing_line():
    """The agent's own line of a model covers all its requests: a long-context line added
    beside it would count those twice."""
    message = "t\n\nAgent-Usage: model=m; in=1\n"
    lines = (Usage("m", input=1), Usage("m", input=2, long_context=200_000))
    result = stamp(message, ProtocolRecord(usage=lines))
    assert result.message == message and len(result.warnings) == 1
    replaced = stamp(message, ProtocolRecord(usage=lines), replace=True).message
    assert replaced.endswith(
        "\nAgent-Trailers: 1\nAgent-Usage: model=m; in=1\n"
        "Agent-Usage: model=m; in=2; long_context=200000\n"
    )
    assert "Agent-Usage: model=m; in=1\nAgent-Trailers" not in replaced
    assert stamp(replaced, ProtocolRecord(usage=lines)).added == ()


def test_same_values_in_other_spellings_are_not_added_again():
    message = (
        "t\n\nagent-task-class: Bugfix\nAGENT-USAGE:model=gpt-5.2 ;requests=1; in=5;out=7\n"
        "Agent-Trailers: 1\n"
    )
    record = ProtocolRecord(task_class="bugfix", usage=USAGE_ONLY.usage)
    result = stamp(message, record)
    assert result.message == message and result.warnings == ()


def test_repeatable_extra_keys_add_when_different():
    once = stamp_message("t\n", ProtocolRecord(extra=(("Agent-Foo", "a"),)))
    twice = stamp(once, ProtocolRecord(extra=(("Agent-Foo", "b"),)))
    assert twice.added == (("Agent-Foo", "b"),)


# --- properties ----------------------------------------------------------------------------

FRAGMENTS = [
    "title",
    "fix: a thing",
    "",
    " ",
    "\t",
    "body text here",
    "more prose: with a colon",
    "Signed-off-by: A <a@example.com>",
    "Co-authored-by: B <b@example.com>",
    "Co-Authored-By: Claude Opus 4.6 <noreply@anthropic.com>",
    "Key: v",
    "Key : spaced",
    "Key:nospace",
    "  continued",
    "\tcontinued",
    "# comment",
    "#",
    "---",
    "--- a/file",
    "(cherry picked from commit 0123456789abcdef)",
    "Conflicts:",
    "\tfile.c",
    SCISSORS.rstrip("\n"),
    "Agent-Trailers: 1",
    "Agent-Task: OLD-1",
    "Agent-Task-Class: Feature",
    "Agent-Usage: model=gpt-5.2; in=5; out=7; requests=1",
    "Agent-Usage: model=gpt-5.2; in=9",
    "Agent-Usage: in=3",
    "Agent-Route: score=7",
    "Agent-Foo: bar",
    "https://example.com/x",
    "key: //not a url trailer",
    "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
    "Bug #42: not a trailer",
    "\x0bvt",
    "\x0cff",
    "x\ry",
]


def random_message(rng: random.Random) -> str:
    lines = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 12))]
    eol = rng.choice(["\n", "\n", "\r\n"])
    text = eol.join(lines)
    return text + eol if rng.random() < 0.8 else text


fragment_messages = st.lists(st.sampled_from(FRAGMENTS), max_size=12).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n"]).flatmap(
        lambda eol: st.booleans().map(lambda end: eol.join(lines) + (eol if end else ""))
    )
)
messages = fragment_messages | st.text(
    st.characters(codec="utf-8", exclude_characters="\0"), max_size=80
)


@settings(max_examples=int(os.environ.get("STAMP_EXAMPLES", "400")), deadline=None)
@given(message=messages, record=st.sampled_from(RECORDS), replace=st.booleans())
def test_stamping_is_idempotent(message, record, replace):
    once = stamp(message, record, replace=replace)
    twice = stamp(once.message, record, replace=replace)
    assert twice.message == once.message
    assert twice.added == ()


@settings(max_examples=int(os.environ.get("STAMP_EXAMPLES", "400")), deadline=None)
@given(message=messages, record=st.sampled_from(RECORDS))
def test_keep_mode_only_appends_trailers(message, record):
    """What git's rules see afterwards: the old trailers, then exactly the added ones."""
    result = stamp(message, record)
    before = parse_trailers(message, divider=False)
    after = parse_trailers(result.message, divider=False)
    if result.changed:
        assert after == before + list(result.added)
    else:
        assert result.message == message


@settings(max_examples=int(os.environ.get("STAMP_EXAMPLES", "400")), deadline=None)
@given(message=messages)
def test_entries_agree_with_the_parser(message):
    block = find_trailer_block(message, divider=False)
    entries = _entries(message, block.start, block.end)
    assert [(e.key, e.value) for e in entries if e.key is not None] == block.trailers
    assert "".join(message[e.start : e.end] for e in entries) == message[block.start : block.end]


def test_replace_mode_ends_with_the_new_values():
    rng = random.Random(7)
    for _ in range(300):
        message = random_message(rng)
        result = stamp(message, FULL, replace=True)
        if not result.changed:
            continue
        record, _ = parse_record(parse_trailers(result.message, divider=False))
        assert record.task == "ROUTE-4711" and record.attempt == 2
        assert {u.model for u in record.usage} >= {u.model for u in FULL.usage}


# --- differential: the real git ------------------------------------------------------------

HAND_WRITTEN = [
    "fix: retry\n\nBody.\n",
    "fix: retry\n\nBody.\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    "title\n\nprose\nSigned-off-by: A <a@x>\n",
    "title\n\nprose one\nprose two\nprose three\nSigned-off-by: A <a@x>\n",
    "title\n\nKey: v\n  continued\n\tand tabbed\n",
    "title\n\nKey: v\n# comment\nOther: w\n",
    "title\n\nKey: v\n\n# Please enter the commit message\n#\n",
    "title\n\nbody\n\n# comment\n" + SCISSORS + "diff --git a/x b/x\n--- a/x\n+++ b/x\n",
    "title\n\nKey: v\n\nConflicts:\n\tfile.c\n",
    "title\r\n\r\nKey: v\r\nOther: w\r\n",
    "title\r\n\r\nbody\r\n",
    "title\n\n---\nKey: v\n",
    "title\n\nhttps://example.com/x\n",
    "title\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\n"
    "Co-Authored-By: Claude Opus 4.6 <noreply@anthropic.com>\n",
    "title\n\nAgent-Trailers: 1\nAgent-Task: OLD\nAgent-Usage: model=gpt-5.2; in=1\n",
    "title",
    "title\n\nKey: v",
    "title\n   \n",
    "Key: v in the title\n",
]
DIFF_CORPUS = HAND_WRITTEN + [random_message(random.Random(seed)) for seed in range(250)]


def git_parse(run_git, message: str) -> str:
    data = message.encode("utf-8", "surrogateescape")
    out = run_git("interpret-trailers", "--parse", "--no-divider", input=data)
    return out.decode("utf-8", "surrogateescape")


def formatted(trailers) -> str:
    return "".join(f"{k}: {v}\n" for k, v in trailers)


@pytest.mark.git
@pytest.mark.parametrize("record", RECORDS, ids=["full", "usage", "odd"])
def test_git_finds_the_original_trailers_plus_the_new_ones(run_git, record):
    def check(message: str) -> None:
        result = stamp(message, record)
        if not result.changed:
            return
        assert git_parse(run_git, result.message) == (
            git_parse(run_git, message) + formatted(result.added)
        ), repr(message)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, DIFF_CORPUS))


@pytest.mark.git
def test_git_reads_replace_mode_like_the_parser(run_git):
    def check(message: str) -> None:
        result = stamp(message, FULL, replace=True)
        expected = formatted(parse_trailers(result.message, divider=False))
        assert git_parse(run_git, result.message) == expected, repr(message)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, DIFF_CORPUS))


def canonical(message: str) -> bool:
    """Messages git's --trailer leaves byte-identical to us (it rewrites odd trailer lines)."""
    if any(c in message for c in "\r\x0b\x0c") or not message.endswith("\n"):
        return False
    block = find_trailer_block(message, divider=False)
    for line in message[block.start : block.end].splitlines():
        parsed = parse_trailers(f"t\n\n{line}\n", divider=False)
        if not parsed or f"{parsed[0][0]}: {parsed[0][1]}" != line:  # git drops comments
            return False
    return True


@pytest.mark.git
def test_byte_identical_to_git_interpret_trailers(run_git):
    """Where neither rewrites anything, the output is exactly ``git interpret-trailers``'s."""
    checked = 0
    for message in DIFF_CORPUS:
        result = stamp(message, FULL)
        if not result.changed or not canonical(message) or "Agent-" in message:
            continue
        args = [a for k, v in result.added for a in ("--trailer", f"{k}: {v}")]
        expected = run_git("interpret-trailers", "--no-divider", *args, input=message.encode())
        assert result.message.encode() == expected, repr(message)
        checked += 1
    assert checked >= 30
