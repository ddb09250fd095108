"""Stamp a commit message with the protocol's trailers: pure text in, text out.

The lines go where ``git interpret-trailers --no-divider --trailer ...`` puts them (``git commit
--trailer`` runs exactly that): at the end of the trailer block git finds, or in a new paragraph
after a blank line, before trailing comment lines, blank lines and a scissors part. Two
deliberate differences: existing lines are never reformatted, and a CRLF message gets CRLF
lines (git writes LF); a message that does not end with a newline still gets its blank line.

Stamping is idempotent. A line already present (same key, same parsed value) is not added
again; a single-valued key (``Agent-Task``...) or an ``Agent-Usage`` of the same model that is
present with another value is *kept* and a warning explains what was not added, because the
message may already carry what the agent itself wrote and double counting is the worse error.
``replace=True`` (``--replace``) swaps such conflicting lines for the new ones instead.

The git hook that runs it is ``bot.local.hook``; the ``yield-auditor stamp`` command is
``bot.cli.stamp``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import replace as dc_replace

from bot.protocol.codec import (
    K_USAGE,
    K_VERSION,
    KEYS,
    ProtocolRecord,
    format_record,
    parse_record,
    parse_usage,
)
from bot.protocol.trailers import COMMENT, SPACE, find_separator, find_trailer_block
from bot.protocol.usage import merge_by_model

_PROTOCOL_KEYS = {k.lower() for k in KEYS}
_SINGLE_KEYS = _PROTOCOL_KEYS - {K_USAGE.lower()}
_FOLD = re.compile(r"\n[ \t\n\r]*")
_UNREADABLE = "not stamped: git would not read trailers added to this message"


@dataclass(frozen=True, slots=True)
class StampResult:
    """The stamped message, the trailer lines added and why others were not."""

    message: str
    added: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added)


def stamp_message(message: str, record: ProtocolRecord, *, replace: bool = False) -> str:
    """``message`` with ``record``'s trailer lines appended (see ``stamp``)."""
    return stamp(message, record, replace=replace).message


def stamp(message: str, record: ProtocolRecord, *, replace: bool = False) -> StampResult:
    """Append ``record``'s trailers to ``message``'s trailer block, idempotently.

    Nothing is added when the record holds nothing but a version, when the message has no
    text yet (``git commit`` without ``-m`` runs its hook before the editor opens: trailers
    there would end up in the title paragraph), when it holds a NUL byte, or when git would not
    find the added lines in the result. Raises ``ValueError`` (from ``format_record``) for a
    plain value that cannot be a trailer, such as one with a line break.
    """
    if not _has_content(record):
        return StampResult(message)
    if "\0" in message:
        return StampResult(message, warnings=("the message holds a NUL byte; not stamped",))
    block = find_trailer_block(message, divider=False)
    if not _has_text(message, block.start):
        return StampResult(message, warnings=("the message is empty; not stamped",))
    entries = _entries(message, block.start, block.end)
    add, remove, warnings = _plan(entries, format_record(_merged(record)), replace)
    if all(key == K_VERSION for key, _ in add):
        return StampResult(message, warnings=tuple(warnings))
    stamped = _assemble(message, block.start, block.end, entries, remove, add)
    if find_trailer_block(stamped, divider=False).trailers[-len(add) :] != add:
        return StampResult(message, warnings=(_UNREADABLE,))  # e.g. a "Conflicts:" title
    return StampResult(stamped, tuple(add), tuple(warnings))


def _assemble(
    message: str,
    start: int,
    end: int,
    entries: list[_Entry],
    remove: set[int],
    add: list[tuple[str, str]],
) -> str:
    """The message with ``remove`` entries dropped and ``add`` lines at the block's end."""
    eol = "\r\n" if _uses_crlf(message) else "\n"
    new = "".join(f"{key}: {value}{eol}" for key, value in add)
    head, tail = message[:start], message[end:]
    if start == end:
        return _paragraph_break(head, eol) + new + tail
    kept = "".join(message[e.start : e.end] for i, e in enumerate(entries) if i not in remove)
    kept, ignorable = _split_tail(kept)
    kept += eol if kept and not kept.endswith("\n") else ""
    return head + kept + new + ignorable + tail


def _has_content(record: ProtocolRecord) -> bool:
    return not dc_replace(record, version=None).is_empty


def _merged(record: ProtocolRecord) -> ProtocolRecord:
    """One ``Agent-Usage`` line per model and rates, as the protocol asks."""
    return dc_replace(record, usage=tuple(merge_by_model(record.usage)))


def _has_text(message: str, end: int) -> bool:
    """Whether ``message[:end]`` holds a line that is neither blank nor a comment."""
    pos = 0
    while pos < end:
        nl = message.find("\n", pos, end)
        line = message[pos : end if nl < 0 else nl]
        if line.strip(SPACE) and not line.startswith(COMMENT):
            return True
        pos = end if nl < 0 else nl + 1
    return False


def _uses_crlf(message: str) -> bool:
    nl = message.find("\n")
    return nl > 0 and message[nl - 1] == "\r"


def _paragraph_break(head: str, eol: str) -> str:
    """End ``head`` with a blank line, as git does before a new trailer block."""
    if not head.endswith("\n"):
        head += eol
    last = head[head.rfind("\n", 0, len(head) - 1) + 1 :]
    return head if not last.strip(SPACE) else head + eol


def _split_tail(block: str) -> tuple[str, str]:
    """Split off the block's last lines that are blank or comments; new lines go before them.

    Git's block can end in such lines (a whitespace-only last line keeps git from trimming
    the ones before it); below new trailers, a blank line there would end the block early.
    """
    end = len(block)
    while end:
        start = block.rfind("\n", 0, end - 1) + 1
        line = block[start:end]
        if line.strip(SPACE) and not line.startswith(COMMENT):
            break
        end = start
    return block[:end], block[end:]


# --- the existing block, entry by entry ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """One line of the block with its continuation lines; ``key`` is ``None`` for non-trailers."""

    start: int
    end: int
    key: str | None = None
    value: str = ""


def _entries(text: str, start: int, end: int) -> list[_Entry]:
    """The block's entries with their offsets, split and unfolded exactly as git does."""
    spans: list[list[int]] = []
    last_is_trailer = False
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        if last_is_trailer and text[pos] in SPACE:
            spans[-1][1] = line_end
        else:
            spans.append([pos, line_end])
            last_is_trailer = find_separator(text, pos) >= 1
        pos = line_end
    return [_entry(text, s, e) for s, e in spans]


def _entry(text: str, start: int, end: int) -> _Entry:
    sep = find_separator(text, start)
    if text[start] == COMMENT or sep < 1:
        return _Entry(start, end)
    key = text[start : start + sep].strip(SPACE)
    value = _FOLD.sub(" ", text[start + sep + 1 : end].strip(SPACE)).strip(SPACE)
    return _Entry(start, end, key, value)


def _plan(
    entries: list[_Entry], lines: list[tuple[str, str]], replace_conflicts: bool
) -> tuple[list[tuple[str, str]], set[int], list[str]]:
    """Which new lines to add and which existing entries they replace."""
    add: list[tuple[str, str]] = []
    present: dict[tuple[str, str], list[int]] = {}  # new lines already there, and where
    remove: set[int] = set()
    warnings: list[str] = []
    for key, value in lines:
        lower = key.lower()
        same = [i for i, e in enumerate(entries) if e.key is not None and e.key.lower() == lower]
        equal = [i for i in same if _same_value(key, entries[i].value, value)]
        if equal:
            present[(key, value)] = equal
            continue
        conflicts = _conflicts(lower, value, same, entries)
        if conflicts and not replace_conflicts:
            old = entries[conflicts[0]].value
            warnings.append(f"{key}: kept the existing {old[:80]!r}, not added {value[:80]!r}")
            continue
        remove.update(conflicts)
        add.append((key, value))
    # A line found present is added again when another line of its model replaced it.
    gone = {line for line, where in present.items() if remove.issuperset(where)}
    return [line for line in lines if line in gone or line in add], remove, warnings


def _conflicts(lower: str, value: str, same: list[int], entries: list[_Entry]) -> list[int]:
    if lower == K_USAGE.lower():
        model = _usage_model(value)
        return [i for i in same if _usage_model(entries[i].value) == model]
    return same if lower in _SINGLE_KEYS else []


def _usage_model(value: str) -> str | None:
    """The model of an ``Agent-Usage`` value: any line of it conflicts with any other, since
    each line of a model (one per rates) comes from the same log and a mix would count twice."""
    usage = parse_usage(value, [])
    return usage.model if usage is not None else None


def _same_value(key: str, old: str, new: str) -> bool:
    """Equal as the protocol reads them (``Bugfix`` is ``bugfix``; pair spacing is free)."""
    if old == new:
        return True
    if key.lower() not in _PROTOCOL_KEYS:
        return False
    old_record, old_warnings = parse_record([(key, old)])
    new_record, _ = parse_record([(key, new)])
    return not old_warnings and old_record == new_record
