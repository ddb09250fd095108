"""Find a commit message's trailer block exactly as git does.

This mirrors ``trailer.c`` and ``commit.c`` of git (the rules of ``git interpret-trailers
--parse``): the message ends before a ``---`` divider line or a scissors line; trailing comment
and blank lines (and an old ``Conflicts:`` block) are ignored; the block is the last paragraph
after the title when it is made only of trailers, or when it holds a git-generated trailer
(``Signed-off-by: ``, ``(cherry picked from commit ``) and at least 25% trailer lines;
indented lines continue the trailer before them. Character classes are git's: ASCII only.

Every step is a forward or backward scan over the text, so the work is linear in its length
whatever the input (1 MB messages, 10,000 trailer lines, control characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMENT = "#"
SPACE = " \t\n\r"  # git's isspace(): \v and \f are not spaces to git
GIT_GENERATED_PREFIXES = ("Signed-off-by: ", "(cherry picked from commit ")
SCISSORS = "------------------------ >8 ------------------------\n"

_DIVIDER = re.compile(r"^---[ \t\n\r]", re.MULTILINE)
_SEPARATOR = re.compile(r"(?:[A-Za-z0-9-]+[ \t]*)?:")
_FOLD = re.compile(r"\n[ \t\n\r]*")


@dataclass(frozen=True, slots=True)
class TrailerBlock:
    """Where git's trailer block lies in ``text``; ``start == end`` when there is none."""

    text: str
    start: int
    end: int

    @property
    def trailers(self) -> list[tuple[str, str]]:
        return _entries_to_trailers(_entries(self.text[self.start : self.end]))


def decode(message: str | bytes) -> str:
    """Bytes decode losslessly (invalid UTF-8 survives as surrogates); git stops at a NUL."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "surrogateescape")
    nul = message.find("\0")
    return message if nul < 0 else message[:nul]


def parse_trailers(message: str | bytes, divider: bool = True) -> list[tuple[str, str]]:
    """The trailers of ``message`` as ``(key, value)`` pairs, as ``git interpret-trailers
    --parse`` prints them: in order, keys as written, values trimmed and unfolded.

    ``divider=False`` is ``--no-divider``: a ``---`` line does not end the message. Git reads
    stored commits that way (``git log --format=%(trailers)``), since they hold no patch.
    """
    return find_trailer_block(message, divider).trailers


def find_trailer_block(message: str | bytes, divider: bool = True) -> TrailerBlock:
    text = decode(message)
    end = _trailer_end(text, _patch_start(text) if divider else len(text))
    return TrailerBlock(text, _trailer_start(text, end), end)


def find_separator(line: str, pos: int = 0) -> int:
    """Offset of the ``:`` of ``<key><optional blanks>:`` starting at ``pos``, or -1."""
    m = _SEPARATOR.match(line, pos)
    return m.end() - 1 - pos if m else -1


def _next_line(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _is_blank_line(text: str, pos: int) -> bool:
    n = len(text)
    while pos < n and text[pos] != "\n" and text[pos] in SPACE:
        pos += 1
    return pos >= n or text[pos] == "\n"


def _patch_start(text: str) -> int:
    m = _DIVIDER.search(text)
    return m.start() if m else len(text)


def _scissors_cutoff(text: str, length: int) -> int:
    """Where a scissors line cuts the message, never past ``length``: older git (2.39 here)
    searched past a ``---`` divider too and then looped forever; current git caps it, as here."""
    pattern = f"\n{COMMENT} {SCISSORS}"
    if text.startswith(pattern[1:]):
        return 0
    found = text.find(pattern, 0, length + len(pattern) - 1)
    return found + 1 if found >= 0 else length


def _trailer_end(text: str, length: int) -> int:
    """End of the message proper: before trailing comments, blank lines and ``Conflicts:``."""
    if COMMENT not in text and "Conflicts:\n" not in text:
        return _blank_tail(text, length)
    cutoff = _scissors_cutoff(text, length)
    boc = 0  # git's "beginning of comments"; 0 doubles as "unset", as in git
    in_conflicts = False
    bol = 0
    while bol < cutoff:
        nl = text.find("\n", bol, length)
        next_bol = length if nl < 0 else nl + 1
        first = text[bol]  # bol < cutoff <= length <= len(text)
        if first in (COMMENT, "\n"):
            boc = boc or bol
        elif text.startswith("Conflicts:\n", bol):
            in_conflicts = True
            boc = boc or bol
        elif in_conflicts and first == "\t":
            pass
        elif boc:
            boc = 0
            in_conflicts = False
        bol = next_bol
    return boc or cutoff


def _blank_tail(text: str, length: int) -> int:
    """``_trailer_end`` of a text with no comment, scissors or ``Conflicts:`` line, in one
    backward step: the start of the empty lines ending ``text[:length]``. Start 0 means
    "none" to git, so a text of empty lines only ends at 1 (or at ``length`` if shorter)."""
    k = length
    while k and text[k - 1] == "\n":
        k -= 1
    if k == 0:
        return 1 if length >= 2 else length
    return k + 1 if k + 1 < length else length


def _end_of_title(text: str, length: int) -> int:
    pos = 0
    while pos < length:
        if text[pos] != COMMENT and _is_blank_line(text, pos):
            break
        pos = _next_line(text, pos)
    return pos


def _last_line(text: str, length: int) -> int:
    if length <= 1:
        return length - 1
    return text.rfind("\n", 0, length - 1) + 1


def _trailer_start(text: str, length: int) -> int:
    """Start of the last paragraph if git would take it as a trailer block, else ``length``."""
    end_of_title = _end_of_title(text, length)
    only_spaces = True
    recognized_prefix = False
    trailer_lines = non_trailer_lines = continuation_lines = 0
    bol = _last_line(text, length)
    while bol >= end_of_title:
        first = text[bol]
        if first == COMMENT:
            non_trailer_lines += continuation_lines
            continuation_lines = 0
        elif _is_blank_line(text, bol):
            if not only_spaces:
                non_trailer_lines += continuation_lines
                if (recognized_prefix and trailer_lines * 3 >= non_trailer_lines) or (
                    trailer_lines and not non_trailer_lines
                ):
                    return _next_line(text, bol)
                return length
        else:
            only_spaces = False
            if text.startswith(GIT_GENERATED_PREFIXES, bol):
                trailer_lines += 1
                continuation_lines = 0
                recognized_prefix = True
            elif first not in SPACE and find_separator(text, bol) >= 1:
                trailer_lines += 1
                continuation_lines = 0
            elif first in SPACE:
                continuation_lines += 1
            else:
                non_trailer_lines += 1 + continuation_lines
                continuation_lines = 0
        bol = _last_line(text, bol)
    return length


def _entries(block: str) -> list[tuple[str, int]]:
    """Split the block into lines, joining indented lines onto the trailer before them; each
    entry comes with its separator offset, found once on its first line (a key cannot span
    lines, so the joined entry has the same one)."""
    entries: list[tuple[list[str], int]] = []  # lines joined once at the end: += is quadratic
    last_is_trailer = False
    for line in _split_nl(block):
        if last_is_trailer and line[0] in SPACE:
            entries[-1][0].append(line)
            continue
        sep = find_separator(line)
        entries.append(([line], sep))
        last_is_trailer = sep >= 1
    return [("".join(lines), sep) for lines, sep in entries]


def _split_nl(block: str) -> list[str]:
    """Split on ``\\n`` only, as git does (``str.splitlines`` also splits on ``\\r``...)."""
    parts = block.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _entries_to_trailers(entries: list[tuple[str, int]]) -> list[tuple[str, str]]:
    trailers = []
    for entry, sep in entries:
        if sep >= 1 and entry[0] != COMMENT:
            key = entry[:sep].strip(SPACE)
            value = _FOLD.sub(" ", entry[sep + 1 :].strip(SPACE)).strip(SPACE)
            trailers.append((key, value))
    return trailers
