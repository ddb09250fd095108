"""Read a coding agent's own usage log into one ``Usage`` per model.

Supported logs (docs/stamp.md lists where each agent writes them):

- **Claude Code** session transcripts (``~/.claude/projects/<project>/<session>.jsonl``).
  One API response is written as one entry per content block, each repeating the usage, so
  entries are de-duplicated by ``message.id`` (``requestId`` where there is none) across every
  file read in one call: a resumed session copies earlier entries into its new file, and a
  subagent or side-question file replays a response under a new ``requestId``. Of the copies,
  the first with the most ``output_tokens`` wins: streamed copies carry a placeholder output
  count and only the last one the real count. ``requests`` is the number of unique responses. API
  error entries and ``<synthetic>`` models are skipped; any other line carrying a
  ``message.usage`` that is not an assistant entry is skipped and counted in the warnings. A
  response without a model name counts as ``unknown``.
  ``usage.cache_creation.ephemeral_1h_input_tokens`` (the one-hour cache writes),
  ``usage.server_tool_use.web_search_requests`` and ``usage.speed`` (``fast`` mode) are passed on
  to ``from_anthropic``.
  Reading a session file also reads its subagents' transcripts,
  ``<session>/subagents/**/*.jsonl`` beside it.
- **Codex** rollout files (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``). The model comes from
  the latest ``turn_context``; tokens from ``token_count`` events. Their ``total_token_usage`` is
  cumulative over the *session*, across model switches, so "the last total per model" would
  charge the second model with the first one's tokens; summing ``last_token_usage`` double
  counts, since Codex re-emits ``token_count`` with an unchanged total. Each event is therefore
  charged the *difference* of the cumulative total to the previous event, to the model active
  then; a total that drops (a resumed or compacted session) restarts the count from that event's
  ``last_token_usage``. A total with an invalid count is no reset: that event is skipped and the
  next one is measured from the last valid total. A forked or subagent rollout replays its
  parent's ``token_count`` events; when the parent rollout is among the files read or in the same
  sessions tree, those replayed totals are skipped.
  ``input_tokens`` includes ``cached_input_tokens`` and is converted as ``from_openai`` does.
- **Gemini CLI** sessions (``~/.gemini/tmp/<project hash>/chats/session-*.json``): one JSON
  document, rewritten as the session goes, whose ``messages`` of ``type`` ``gemini`` carry the
  ``model`` and the response's ``tokens``: ``input`` (the prompt, cached part included),
  ``cached``, ``output``, ``thoughts`` and ``tool`` (the tool-use prompt), converted as
  ``from_gemini`` does. Messages are de-duplicated by ``id`` across the files read; a message
  with tokens that is not a ``gemini`` one is skipped and counted in the warnings.
- **codex exec --json** output (the events on its standard output, saved to a file): each
  ``turn.completed`` carries the thread's cumulative ``usage`` so far (``input_tokens`` with
  ``cached_input_tokens`` inside it, ``output_tokens`` with reasoning inside it), so each is
  charged its step from the previous total of its thread (``thread.started``), across the files
  read; a total seen before (the stream saved twice) counts once, one that drops restarts. The
  stream names no model and no time: the usage is ``unknown``'s, with a warning, and a turn (many
  requests) is not banded as one request.
- **Qwen Code** chats (``~/.qwen/projects/<project>/chats/<session>.jsonl``): ``assistant``
  records carry ``model`` and ``usageMetadata``, which Qwen Code fills from the provider's
  OpenAI-style usage: ``promptTokenCount`` with ``cachedContentTokenCount`` inside it,
  ``candidatesTokenCount`` = ``completion_tokens`` with ``thoughtsTokenCount`` inside it.
  Records are de-duplicated by ``uuid`` (a forked session copies them).
- **OpenCode** messages (``~/.local/share/opencode/storage/message/<session>/msg_*.json``): one
  JSON document per message; an assistant message has ``modelID``, ``time.created`` (ms),
  ``tokens`` (``input`` without the cache, ``output`` without ``reasoning``, ``cache.read``,
  ``cache.write``) and OpenCode's own ``cost``. De-duplicated by ``id``; a message whose counts
  are all 0 (still streaming) is no request.
- **Amp** threads (``~/.local/share/amp/threads/T-*.json``, ``$AMP_DATA_DIR``): one JSON
  document per thread. Each ``usageLedger.events`` entry is one request, with its ``model`` and
  ``timestamp``; its tokens are those of the assistant message it names (``toMessageId``), whose
  ``usage`` splits the input as Anthropic does (``inputTokens`` without the cache,
  ``cacheReadInputTokens``, ``cacheCreationInputTokens``, ``outputTokens``), else the event's
  own ``tokens.input``/``tokens.output``. Events are de-duplicated by thread and event id. Amp's
  ``credits`` are not dollars and are not used.
- **GitHub Copilot CLI** session events (``~/.copilot/session-state/<session>/events.jsonl``):
  per request, the ``assistant.usage`` events where a build wrote them (``model``,
  ``inputTokens`` with the cache reads and writes inside it, ``outputTokens`` with reasoning
  inside it), else per process the ``session.shutdown`` summary each process appends when it
  exits, summed over a resumed session's processes: ``modelMetrics`` per model, else
  ``tokenDetails`` (billing categories, each apart) for its ``currentModel``. A process with
  requests is not counted again from its summary; ``auto`` is no model.
- **Goose** sessions (``~/.local/share/goose/sessions/sessions.db``): the ``usage_ledger`` row
  of each provider call (time, model, input with the cache inside it, cache reads and writes,
  output; what ``total_tokens`` holds beyond input and output is reasoning, Gemini's thoughts),
  else a session's accumulated totals in ``sessions``, or on the first line of an older Goose
  ``<session>.jsonl``: one line per session, without time or per-request counts.
- **Aider** analytics logs (``--analytics-log FILE``): each ``message_send`` event is one request
  of ``main_model``; ``prompt_tokens`` includes any cached tokens (aider does not split them,
  so they all count as ``in``), and aider's own ``cost`` is summed exactly, as a ``Decimal``.

Logs are read line by line, in time linear in their size, and only lines that can carry usage
are decoded; a file named twice (directly and through its directory) is read once. Content never
raises: unknown line types are ignored, and invalid JSON, a truncated last line (a log still
being written) or odd values become warnings. A token count is a whole number from 0 to
``MAX_COUNT``; anything else counts as 0, with one warning per kind of problem (not per line: logs
are large). A missing or ``null`` count is 0 without a warning (the Anthropic API types its
cache counts as nullable), except in a Codex cumulative total: there ``null``, or a missing
``input_tokens`` or ``output_tokens``, makes the total invalid.

Every request is kept apart until its long-context band is known (``bot.protocol.usage.banded``): a
request above a threshold is billed at long-context rates as a whole, so its tokens go on their
own line per model rather than into an average that would hide it.

``since``/``until`` keep only usage whose own timestamp lies in ``[since, until)``, so a commit
can be stamped with the usage spent since the previous commit. A naive ``datetime`` is UTC.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from pathlib import Path

import orjson

from bot import format as fmt
from bot.protocol.usage import (
    Usage,
    banded,
    from_anthropic,
    from_gemini,
    from_openai,
    merge_by_model,
)

KINDS = (
    "claude-code",
    "codex",
    "codex-exec",
    "gemini-cli",
    "qwen-code",
    "opencode",
    "amp",
    "copilot",
    "goose",
    "aider",
)
MAX_WARNINGS = 50
MAX_COUNT = 10**15  # a token count or a cost in dollars above this is a corrupt log
UNKNOWN_MODEL = "unknown"
_DETECT_LINES = 50
_GEMINI_HEAD = 4096
_GEMINI_KEYS = (b'"sessionId"', b'"projectHash"')
_OPENCODE_KEYS = (b'"sessionID"', b'"role"')
_OPENCODE_DB = re.compile(r"opencode(?:-[\w-]+)?\.db\Z")  # opencode.db, a channel's opencode-x.db
_SQLITE_HEADER = b"SQLite format 3\x00"
_QWEN_MARKERS = ("usageMetadata", "systemPayload")  # keys of Qwen Code records, none of Claude's
_AMP_ID = re.compile(rb'^\s*\{\s*(?:"v"\s*:\s*\d+\s*,\s*)?"id"\s*:\s*"T-[0-9A-Za-z-]+"')
_ANTHROPIC_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_ANTHROPIC_NESTED = (  # (group, count) pairs of message.usage that from_anthropic reads
    ("cache_creation", "ephemeral_1h_input_tokens"),
    ("server_tool_use", "web_search_requests"),
)
_OUTPUT = _ANTHROPIC_FIELDS.index("output_tokens")
_CODEX_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "cache_write_input_tokens",
)
_CODEX_REQUIRED = ("input_tokens", "output_tokens")  # every Codex build writes these


@dataclass(slots=True)
class UsageLog:
    """Usage per model (merged, first-seen order) and what the log says about the agent."""

    usages: list[Usage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    agent: str | None = None
    agent_version: str | None = None


def read_usage_log(
    path: str | Path,
    kind: str = "auto",
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageLog:
    """Read one log file, or every ``*.jsonl`` under a directory (see ``read_usage_logs``)."""
    return read_usage_logs([path], kind, since, until)


def read_usage_logs(
    paths: Iterable[str | Path],
    kind: str = "auto",
    since: datetime | None = None,
    until: datetime | None = None,
    session: str | None = None,
) -> UsageLog:
    """Read log files and directories together into one ``UsageLog``.

    Together, because what two files share (a resumed session's copied entries, a fork's replayed
    totals) must count once. ``kind`` is ``auto`` (detected per file from its content) or one of
    ``KINDS``. ``session`` keeps only that session's usage of a log holding every session (an
    OpenCode database); the other logs are one session's already. Raises
    ``FileNotFoundError`` when a path does not exist and ``ValueError`` for an unknown kind;
    everything about the content is reported in ``warnings`` instead.
    """
    if kind != "auto" and kind not in KINDS:
        raise ValueError(f"unknown log kind {kind!r}; expected auto or one of {', '.join(KINDS)}")
    files = _unique(_log_files(path) for path in map(Path, paths))
    notes = _Notes()
    window = _Window(_aware(since), _aware(until), session)
    readers: dict[str, _Reader] = {}
    for file in files:
        found = kind if kind != "auto" else detect_kind(file)
        if found is None:
            notes.add(f"{file}: not a log of a known agent ({', '.join(KINDS)}); ignored")
            continue
        if found not in readers:
            readers[found] = _READERS[found](window, notes, files)
        readers[found].read(file)
    return _combine(readers, notes)


# Every agent but these keeps a session's log in a place of its own: ``codex exec --json`` and
# aider write where the user points them.
SESSION_AGENTS = tuple(kind for kind in KINDS if kind not in ("codex-exec", "aider"))
# The variable in which an agent exports its session id to the commands it runs (a hook's
# ``git commit`` among them), as its source sets it (docs/stamp.md).
SESSION_VARIABLES = {"copilot": "COPILOT_AGENT_SESSION_ID", "goose": "AGENT_SESSION_ID"}
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def current_session(agent: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The session id ``agent`` (``goose/1.9`` names ``goose``) exported to this process, if
    any: the session whose log ``session_logs`` finds, so a hook needs no id either."""
    variable = SESSION_VARIABLES.get(agent.partition("/")[0].strip().lower())
    value = environ.get(variable, "").strip() if variable else ""
    return value or None


def session_logs(agent: str, session: str, environ: Mapping[str, str] = os.environ) -> list[Path]:
    """The log files of session ``session`` of ``agent`` (``claude-code/2.1.3`` names
    ``claude-code``) where the agent keeps them by default, so a hook needs no path.

    Raises ``ValueError`` for an agent without sessions or an id that is no plain name (it
    becomes part of a file pattern), ``FileNotFoundError`` when no log of it is found.
    """
    name = agent.partition("/")[0].strip().lower()
    if name not in SESSION_AGENTS:
        raise ValueError(f"no session logs known for agent {name!r}; expected one of "
                         f"{', '.join(SESSION_AGENTS)}")  # fmt: skip
    if not _SESSION_ID.match(session):
        raise ValueError(f"session id {session[:80]!r} is not a plain name")
    home = Path(environ.get("HOME") or Path.home())
    found = [
        file
        for base, pattern in _session_places(name, session, home, environ)
        for file in sorted(base.glob(pattern))
        if file.is_file() and _holds_session(name, file, session)
    ]
    if not found:
        raise FileNotFoundError(errno.ENOENT, f"no {name} log of session {session}", str(home))
    return found


def _session_places(
    agent: str, session: str, home: Path, environ: Mapping[str, str]
) -> list[tuple[Path, str]]:
    """(directory, glob) pairs where ``agent`` writes a session's log."""
    if agent == "claude-code":  # CLAUDE_CONFIG_DIR may list several, comma-separated
        configured = [Path(d) for d in environ.get("CLAUDE_CONFIG_DIR", "").split(",") if d]
        bases = configured or [home / ".config" / "claude", home / ".claude"]
        return [(base, f"projects/*/{session}.jsonl") for base in bases]
    if agent == "codex":
        base = Path(environ.get("CODEX_HOME") or home / ".codex")
        return [
            (base, f"sessions/*/*/*/rollout-*-{session}.jsonl"),
            (base, f"archived_sessions/rollout-*-{session}.jsonl"),
        ]
    if agent == "amp":  # a thread id, T-<uuid>
        return [(home / ".local" / "share" / "amp", f"threads/{session}.json")]
    if agent == "opencode":  # a session id, ses_...; older builds kept storage per project
        base = _xdg_data(home, environ) / "opencode"
        return [
            (base, "opencode*.db"),
            (base, f"storage/message/{session}/msg_*.json"),
            (base, f"project/*/storage/session/message/{session}/msg_*.json"),
        ]
    if agent == "copilot":  # a session's directory, named by its id
        events = f"session-state/{session}/events.jsonl"
        base = Path(environ.get("COPILOT_HOME") or home / ".copilot")
        older = environ.get("XDG_STATE_HOME")  # older builds' place; newer ones move it at start
        return [(base, events), *([(Path(older) / ".copilot", events)] if older else [])]
    if agent == "goose":  # one database of every session; older builds a file per session
        root = environ.get("GOOSE_PATH_ROOT")
        data = Path(root) / "data" if root else _xdg_data(home, environ) / "goose"
        return [(data, "sessions/sessions.db"), (data, f"sessions/{session}.jsonl")]
    if agent == "qwen-code":  # chats/<session id>.jsonl; builds before 0.1 used tmp/<hash>
        base = Path(environ.get("QWEN_RUNTIME_DIR") or home / ".qwen")
        return [(base, f"projects/*/chats/{session}.jsonl"), (base, f"tmp/*/chats/{session}.jsonl")]
    return [(home / ".gemini", f"tmp/*/chats/session-*-{session[:8]}.json")]


def _xdg_data(home: Path, environ: Mapping[str, str]) -> Path:
    return Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")


def _holds_session(agent: str, path: Path, session: str) -> bool:
    """Whether a file found by name holds the session: a Gemini CLI file's name has only 8 of its
    id's characters, an OpenCode or Goose database holds every session."""
    if agent == "gemini-cli":
        return _gemini_session_id(path) == session
    if path.suffix != ".db":
        return True
    try:
        if agent == "opencode":
            return any(_opencode_rows(path, session))
        return any(_goose_rows(path, session))  # its calls or its sessions row
    except _sqlite_errors():
        return False


def _gemini_session_id(path: Path) -> str | None:
    """The ``sessionId`` a Gemini CLI session file opens with (file names hold 8 characters)."""
    with path.open("rb") as handle:
        head = handle.read(_GEMINI_HEAD).decode("utf-8", "replace")
    found = re.search(r'"sessionId"\s*:\s*"([^"\\]{1,128})"', head)
    return found.group(1) if found else None


def detect_kind(path: str | Path) -> str | None:
    """The log kind from the first lines that say it, or ``None``."""
    try:
        document = _document_kind(Path(path))
        if document is not None:
            return document
        for obj in _first_objects(Path(path), _DETECT_LINES):
            found = _kind_of(obj)
            if found:
                return found
    except OSError:
        return None
    return None


def _document_kind(path: Path) -> str | None:
    """The kind of a log that is one JSON document (not lines), from the keys it opens with: a
    Gemini CLI session's ``sessionId`` and ``projectHash``, an OpenCode message's ``sessionID``
    and ``role``, an Amp thread's ``T-`` id."""
    with path.open("rb") as handle:
        head = handle.read(_GEMINI_HEAD)
    if head.startswith(_SQLITE_HEADER):
        if _OPENCODE_DB.match(path.name):
            return "opencode"
        return "goose" if path.name == _GOOSE_DB else None
    if not head.lstrip().startswith(b"{") or b"\n{" in head.strip():
        return None  # JSON lines
    if all(key in head for key in _GEMINI_KEYS):
        return "gemini-cli"
    if all(key in head for key in _OPENCODE_KEYS):
        return "opencode"
    named = path.name.startswith("T-") and path.suffix == ".json"
    return "amp" if named or _AMP_ID.search(head) else None


def _kind_of(obj: dict) -> str | None:
    if isinstance(obj.get("event"), str) and isinstance(obj.get("properties"), dict):
        return "aider"
    kind = obj.get("type")
    if kind in ("session_meta", "turn_context", "response_item", "event_msg", "compacted"):
        return "codex" if "payload" in obj else None
    if isinstance(kind, str) and kind.partition(".")[0] in ("thread", "turn", "item"):
        return "codex-exec"  # `codex exec --json` events: thread.started, turn.completed, ...
    if isinstance(kind, str) and "." in kind and isinstance(obj.get("data"), dict):
        return "copilot"  # Copilot CLI events: session.start, assistant.message, ...
    if "working_dir" in obj and any(k in obj for k in _GOOSE_TOTALS):
        return "goose"  # the metadata line an older Goose session file opens with
    if _is_qwen(obj):
        return "qwen-code"
    if any(k in obj for k in ("sessionId", "parentUuid", "leafUuid", "isSidechain")):
        return "claude-code"
    if kind == "file-history-snapshot":
        return "claude-code"
    return None


def _is_qwen(obj: dict) -> bool:
    """A Qwen Code chat record: Claude Code's keys, but Gemini ``Content`` (``parts``) and
    ``usageMetadata`` or a ``systemPayload``, which Claude Code never writes."""
    message = obj.get("message")
    return any(k in obj for k in _QWEN_MARKERS) or (
        isinstance(message, dict) and "parts" in message
    )


def _first_objects(path: Path, limit: int) -> Iterator[dict]:
    with path.open("rb") as handle:
        for count, raw in enumerate(handle):
            if count >= limit:
                return
            obj = _fast_loads(raw, _reads_no_numbers)
            if isinstance(obj, dict):
                yield obj


def _reads_no_numbers(obj: dict) -> bool:
    """Detection reads keys and names only: orjson's floats need no second reading."""
    return False


def _combine(readers: dict[str, _Reader], notes: _Notes) -> UsageLog:
    log = UsageLog(warnings=notes.items)
    usages: list[Usage] = []
    for reader in readers.values():
        found = reader.usages()
        usages.extend(map(banded, found) if reader.per_request else found)
    log.usages = merge_by_model(usages)
    agents = [r for r in readers.values() if r.seen]  # Codex has two readers
    names = list(dict.fromkeys(r.agent for r in agents))
    if len(names) == 1:
        log.agent = names[0]
        log.agent_version = next((r.version for r in agents if r.version), None)
    elif len(names) > 1:
        listed = ", ".join(names)
        notes.add(f"logs of several agents were read ({listed}); no agent is taken from them")
    notes.flush()
    return log


# --- files and lines -----------------------------------------------------------------------


def _unique(groups: Iterable[list[Path]]) -> list[Path]:
    """The files of all groups in order, each once: a file read twice would count twice."""
    files: dict[Path, Path] = {}
    for group in groups:
        for file in group:
            files.setdefault(file.resolve(), file)
    return list(files.values())


# Log files in a directory: Gemini CLI sessions, OpenCode messages and Amp threads are .json
# documents, OpenCode's and Goose's stores databases, the others JSON lines.
_LOG_NAMES = ("*.jsonl", "session-*.json", "msg_*.json", "opencode*.db", "T-*.json", "sessions.db")


def _log_files(path: Path) -> list[Path]:
    """The files to read: a directory's ``*.jsonl`` files, or a file and its subagents."""
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
    if path.is_dir():  # one walk of the tree (~/.claude/projects can be large)
        files = (p for p in path.rglob("*") if any(fnmatchcase(p.name, n) for n in _LOG_NAMES))
        return sorted((p for p in files if p.is_file()), key=str)
    subagents = path.with_suffix("") / "subagents"
    if not subagents.is_dir():
        return [path]
    return [path, *sorted((p for p in subagents.rglob("*.jsonl") if p.is_file()), key=str)]


def _loads(raw: bytes):
    """One JSON line, numbers with a fraction or exponent as exact ``Decimal``s, else ``None``.

    ``ArithmeticError``: ``Decimal`` refuses an exponent of 10**18 or more.
    """
    try:
        return _DECODER.decode(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError, ArithmeticError):
        return None


_DECODER = json.JSONDecoder(parse_float=Decimal)  # one for all lines: building one costs more
_BLOCK = 1 << 20


def _fast_loads(raw: bytes, floats: Callable[[dict], bool]):
    """orjson, about twice as fast on a transcript's long texts, where it reads a line as
    ``_loads`` does: a line it refuses (NaN, a lone surrogate, a BOM) or one with a float among
    the values the reader takes (``floats``; orjson makes integers past 64 bits floats) is read
    by ``_loads``, which keeps such numbers exact."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _loads(raw)
    return _loads(raw) if isinstance(obj, dict) and floats(obj) else obj


def _floats_at(obj: dict, outer: str, inner: str) -> bool:
    """Whether ``obj[outer][inner]`` holds a float, directly or in a mapping directly in it."""
    group = obj.get(outer)
    values = group.get(inner) if type(group) is dict else None
    if type(values) is not dict:
        return False
    for value in values.values():
        kind = type(value)
        if kind is float or (kind is dict and float in map(type, value.values())):
            return True
    return False


class _Notes:
    """Warnings, capped so a log of a million bad lines cannot flood the output."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.tally: Counter[str] = Counter()

    def add(self, message: str) -> None:
        if len(self.items) < MAX_WARNINGS:
            self.items.append(message[:300])
        elif len(self.items) == MAX_WARNINGS:
            self.items.append("further warnings suppressed")

    def count(self, what: str) -> None:
        """One more odd value of a kind; ``flush`` reports each kind once, with its number."""
        self.tally[what] += 1

    def flush(self) -> None:
        """The tallies as warnings, past the cap: there are only a few kinds."""
        self.items.extend(f"{n} {what}" for what, n in self.tally.items())
        self.tally.clear()


def _objects(
    path: Path, wanted: tuple[bytes, ...], notes: _Notes, loads: Callable[[bytes], object] = _loads
) -> Iterator[dict]:
    """JSON objects of the lines holding one of ``wanted``; bad lines become one warning."""
    bad, first_bad = 0, -1
    for offset, raw in _lines(path, wanted):
        obj = loads(raw)
        if obj is None and not raw.endswith(b"\n"):
            notes.add(f"{path}: incomplete last line ignored (is the log still being written?)")
        elif obj is None:
            bad, first_bad = bad + 1, first_bad if first_bad >= 0 else offset
        elif isinstance(obj, dict):
            yield obj
    if bad:
        line = _line_number(path, first_bad)
        notes.add(f"{path}: {bad} invalid JSON line(s) ignored, the first at line {line}")


def _line_number(path: Path, offset: int) -> int:
    """The number of the line at byte ``offset``: counted only for a warning, as it costs a read."""
    number = 1
    with path.open("rb") as handle:
        while offset > 0 and (block := handle.read(min(_BLOCK, offset))):
            number, offset = number + block.count(b"\n"), offset - len(block)
    return number


def _lines(path: Path, wanted: tuple[bytes, ...]) -> Iterator[tuple[int, bytes]]:
    """The lines holding one of ``wanted``, with their byte offsets, found by searching 1 MB
    blocks for all words at once rather than testing each line: most lines of a transcript carry
    no usage. The blocks are read into one buffer, whose unfinished last line moves to its start:
    a new buffer for each read cost a page fault per 4 kB on a session's last, partial block."""
    words = re.compile(b"|".join(map(re.escape, wanted)))
    buffer, filled, base = bytearray(_BLOCK), 0, 0  # bytes in the buffer, file offset of its start
    with path.open("rb", buffering=0) as handle:
        while read := _read_into(handle, buffer, filled):
            filled += read
            end = buffer.rfind(b"\n", 0, filled) + 1
            if end:
                yield from _matching(buffer, end, words, base)
                buffer[: filled - end] = buffer[end:filled]
                base, filled = base + end, filled - end
            elif filled == len(buffer):  # a line longer than the buffer
                buffer.extend(bytes(len(buffer)))
    yield from _matching(buffer, filled, words, base)


def _read_into(handle, buffer: bytearray, start: int) -> int:
    with memoryview(buffer) as view:
        return handle.readinto(view[start:])


def _matching(
    data: bytearray, end: int, words: re.Pattern[bytes], base: int
) -> Iterator[tuple[int, bytes]]:
    """The lines of ``data[:end]`` holding a match of ``words``, in order, with their offsets
    (``base`` is the file offset of ``data``); the last line may lack its newline. One regular
    expression of all words reads the block once, where a ``find`` per word would read it once
    per word."""
    search = words.search
    with memoryview(data) as view:
        found = search(data, 0, end)
        while found:
            start = data.rfind(b"\n", 0, found.start()) + 1
            stop = data.find(b"\n", found.end(), end) + 1 or end
            yield base + start, view[start:stop].tobytes()
            found = search(data, stop, end)


# --- values --------------------------------------------------------------------------------


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _timestamp(value) -> datetime | None:
    """An ISO 8601 string (``Z`` allowed) or Unix seconds, as an aware datetime."""
    try:
        if isinstance(value, str):
            return _aware(datetime.fromisoformat(value))
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _count(value, notes: _Notes) -> int:
    """A token count; an odd value is 0 and tallied in ``notes`` (``null`` is absent)."""
    if type(value) is int and 0 <= value <= MAX_COUNT:  # the common case, checked first
        return value
    problem = _count_problem(value)
    if problem is None:
        return 0 if value is None else int(value)
    notes.count(f"token count(s) {problem}, read as 0")
    return 0


def _count_problem(value) -> str | None:
    """Why ``value`` is no token count, or ``None`` when it is one or ``null``.

    The size is checked on the exponent before any ``int()``: ``int(Decimal("1e999999999"))``
    would build a billion digits.
    """
    if value is None:
        return None
    problem = _number_problem(value)
    if problem is None and isinstance(value, Decimal) and value != value.to_integral_value():
        return "that were not whole numbers"
    return problem


def _number_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "that were not numbers"
    if value < 0:
        return "that were negative"
    if (isinstance(value, Decimal) and value.adjusted() > 15) or value > MAX_COUNT:
        return f"above {fmt.count(MAX_COUNT)}"
    return None


def _decimal(value, notes: _Notes) -> Decimal | None:
    """A cost in dollars; an odd value is ``None`` (unknown) and tallied (``null`` is absent)."""
    if value is None:
        return None
    number = _from_text(value) if isinstance(value, str) else value
    problem = _number_problem(number)
    if problem is None:
        return Decimal(number)
    notes.count(f"cost(s) {problem}, ignored")
    return None


def _from_text(text: str) -> Decimal | str:
    """A numeric string as a finite ``Decimal``; any other string stays one (not a number)."""
    try:
        number = Decimal(text) if len(text) < 40 else None
    except InvalidOperation:
        return text
    return number if number is not None and number.is_finite() else text


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _id(value) -> object:
    """A de-duplication key: an id that is a string, else a key equal to no other."""
    return value if isinstance(value, str) else object()


@dataclass(slots=True)
class _Window:
    """What to keep: usage in ``[since, until)``, of ``session`` where a log holds several."""

    since: datetime | None
    until: datetime | None
    session: str | None = None

    @property
    def open(self) -> bool:
        return self.since is None and self.until is None

    def holds(self, when: datetime | None) -> bool:
        if self.open:
            return True
        if when is None:
            return False
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )


# --- readers -------------------------------------------------------------------------------


class _Reader:
    """What every reader shares: the lines of a log holding one of ``wanted`` go to ``entry``,
    which gives each request's usage to ``keep``; ``usages`` returns what was kept. A reader
    whose agent counts differently (cumulative totals, streamed copies) keeps its own."""

    agent = ""
    counted = ""  # what one request is, in warnings: "Gemini CLI message(s)"
    document = ""  # a log that is one JSON document: what it is, in warnings: "session"
    wanted: tuple[bytes, ...] = ()
    per_request = True  # each usage is one request's, so its long-context band is known

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        self.window = window
        self.notes = notes
        self.files = files  # all files of this read, which a reader may consult
        self.version: str | None = None
        self.seen = False
        self.undated = 0
        self.kept: dict[object, Usage] = {}  # by request id, across all files read

    def read(self, path: Path) -> None:
        self.seen = True
        for obj in _objects(path, self.wanted, self.notes, self.loads):
            self.entry(obj, path)

    def read_document(self, path: Path) -> dict | None:
        """A log that is one JSON object, which its agent rewrites as it goes: anything else is
        a document caught being written, a warning."""
        self.seen = True
        document = _loads(path.read_bytes())
        if isinstance(document, dict):
            return document
        self.notes.add(f"{path}: invalid JSON ignored (is the {self.document} being written?)")
        return None

    def keep(
        self, key: object, when: datetime | None, model, usage: Callable[[str], Usage | None]
    ) -> None:
        """Keep one request's ``usage(model name)`` under ``key``, once: a copy of the request
        in another file (a fork, a migration) has the same id. Outside the window it is not
        read; a missing model is ``unknown``, with a warning."""
        if key in self.kept or not self.in_window(when):
            return
        name = _text(model)
        if name is None:
            self.notes.count(f"{self.counted} without a model, counted as {UNKNOWN_MODEL!r}")
        found = usage(name or UNKNOWN_MODEL)
        if found is not None:
            self.kept[key] = found

    @staticmethod
    def loads(raw: bytes) -> object:
        return _loads(raw)

    def entry(self, obj: dict, path: Path) -> None:
        raise NotImplementedError

    def usages(self) -> list[Usage]:
        self.report_undated()
        return list(self.kept.values())

    def in_window(self, when: datetime | None) -> bool:
        if when is None and not self.window.open:
            self.undated += 1
        return self.window.holds(when)

    def report_undated(self) -> None:
        if self.undated:
            self.notes.add(f"{self.undated} {self.agent} usage entries without a timestamp skipped")


@dataclass(slots=True)
class _Response:
    """One Claude API response: the copy with the most output tokens wins. Its checked counts
    (``_ClaudeReader._counts``) become a ``Usage`` once all copies are read, as most responses
    are streamed as several."""

    when: datetime | None
    model: str
    counts: tuple
    cost: Decimal | None

    @property
    def output(self) -> int:
        return self.counts[_OUTPUT]


class _ClaudeReader(_Reader):
    agent = "claude-code"
    wanted = (b'"usage"',)

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.responses: dict[object, _Response] = {}

    @staticmethod
    def loads(raw: bytes) -> object:
        return _fast_loads(raw, _claude_floats)

    def entry(self, obj: dict, path: Path) -> None:
        message = obj.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            return
        if obj.get("type") != "assistant":
            self.notes.count("Claude Code line(s) with usage but not an assistant entry, skipped")
            return
        if obj.get("isApiErrorMessage") is True or message.get("model") == "<synthetic>":
            return
        key = self._key(message.get("id"), obj.get("requestId"))
        previous = self.responses.get(key)
        output = message["usage"].get("output_tokens")
        if previous is not None and type(output) is int and 0 <= output <= previous.output:
            return  # an earlier streamed copy (a placeholder output count) or an equal one
        self.version = _text(obj.get("version")) or self.version
        model = self._model(message.get("model"))
        counts = self._counts(message["usage"])
        if previous is None:
            when = _timestamp(obj.get("timestamp"))
            cost = _decimal(obj["costUSD"], self.notes) if "costUSD" in obj else None
            self.responses[key] = _Response(when, model, counts, cost)
        elif counts[_OUTPUT] > previous.output:
            previous.model, previous.counts = model, counts

    def _model(self, value) -> str:
        """The model name; without one the tokens still count, as ``unknown``."""
        name = _text(value)
        if name is None:
            self.notes.count(
                f"Claude Code response(s) without a model name, counted as {UNKNOWN_MODEL!r}"
            )
        return name or UNKNOWN_MODEL

    def _counts(self, usage: dict) -> tuple:
        """The checked counts ``from_anthropic`` reads: ``_ANTHROPIC_FIELDS``, then those of
        ``_ANTHROPIC_NESTED`` (the one-hour cache writes, the web searches), then the speed. A
        tuple, as every response is kept until the end: a mapping would take four times the
        memory."""
        counts = [_count(usage.get(name), self.notes) for name in _ANTHROPIC_FIELDS]
        for group, name in _ANTHROPIC_NESTED:
            nested = usage.get(group)
            counts.append(_count(nested.get(name), self.notes) if isinstance(nested, dict) else 0)
        return (*counts, usage.get("speed"))

    def _key(self, message_id, request_id) -> object:
        """The de-duplication key: the message id, else the request id (ids that are not strings
        are tallied, not hashed). A replay keeps the message id under a new request id."""
        if not (isinstance(message_id, str | None) and isinstance(request_id, str | None)):
            self.notes.count("Claude Code id(s) that were not strings, ignored")
        if isinstance(message_id, str):
            return "message", message_id
        if isinstance(request_id, str):
            return "request", request_id
        return object()  # no id: nothing to de-duplicate against

    def usages(self) -> list[Usage]:
        result = []
        for response in self.responses.values():
            if self.in_window(response.when):
                usage = from_anthropic(response.model, _anthropic(response.counts), requests=1)
                cost = response.cost
                result.append(usage if cost is None else replace(usage, cost=cost))
        self.report_undated()
        return result


def _anthropic(counts: tuple) -> dict:
    """``_ClaudeReader._counts`` (in the order of ``_ANTHROPIC_FIELDS``, ``_ANTHROPIC_NESTED``,
    the speed) as the usage mapping ``from_anthropic`` reads; written out, as building it from
    those names took five times as long, half as long as the conversion itself."""
    input_, output, read, write, one_hour, searches, speed = counts
    return {
        "input_tokens": input_,
        "output_tokens": output,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
        "cache_creation": {"ephemeral_1h_input_tokens": one_hour},
        "server_tool_use": {"web_search_requests": searches},
        "speed": speed,
    }


def _claude_floats(obj: dict) -> bool:
    return (
        type(obj.get("costUSD")) is float
        or type(obj.get("timestamp")) is float
        or _floats_at(obj, "message", "usage")
    )


class _CodexReader(_Reader):
    agent = "codex"
    wanted = (b'"token_count"', b'"turn_context"', b'"session_meta"')

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.found: list[Usage] = []
        self.unknown_model = False
        self.file = _CodexFile()

    @staticmethod
    def loads(raw: bytes) -> object:
        return _fast_loads(raw, _codex_floats)

    def read(self, path: Path) -> None:
        self.file = _CodexFile()
        super().read(path)
        if self.file.fork_unresolved:
            self.notes.add(
                f"{path}: forked from {self.file.fork}, whose rollout was not found; "
                "usage replayed from it may be counted again"
            )

    def entry(self, obj: dict, path: Path) -> None:
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return
        kind, state = obj.get("type"), self.file
        if kind == "session_meta" and not state.meta_seen:
            state.meta_seen = True  # a fork also replays its parent's session_meta
            self.version = _text(payload.get("cli_version")) or self.version
            state.fork = _fork_parent(payload)
            if state.fork:
                state.replay = _parent_totals(path, state.fork, self.files)
                state.fork_unresolved = not state.replay
        elif kind == "turn_context":
            state.model = _text(payload.get("model")) or state.model
        elif kind == "event_msg" and payload.get("type") == "token_count":
            self.token_count(state, payload.get("info"), _timestamp(obj.get("timestamp")))

    def token_count(self, state: _CodexFile, info, when: datetime | None) -> None:
        if not isinstance(info, dict):
            return
        if "total_token_usage" in info and not _valid_total(info["total_token_usage"]):
            self.notes.count("Codex token_count event(s) with an invalid cumulative total, skipped")
            return  # read as 0, it would look like a reset and inflate the next step
        total = _codex_counts(info.get("total_token_usage"), self.notes)
        last = _codex_counts(info.get("last_token_usage"), self.notes)
        if state.replay and total is not None and total in state.replay:
            state.previous = total  # the parent's history, replayed into a fork
            return
        state.replay = None
        delta = _codex_delta(total, last, state.previous)
        if total is not None:
            state.previous = total
        if delta is None or not any(delta) or not self.in_window(when):
            return
        if state.model is None:
            self.unknown_model = True
        usage = dict(zip(_CODEX_FIELDS, delta, strict=True))
        self.found.append(from_openai(state.model or UNKNOWN_MODEL, usage, requests=1))

    def usages(self) -> list[Usage]:
        if self.unknown_model:
            self.notes.add(f"codex usage before any turn_context is recorded as {UNKNOWN_MODEL!r}")
        self.report_undated()
        return self.found


def _codex_floats(obj: dict) -> bool:
    return type(obj.get("timestamp")) is float or _floats_at(obj, "payload", "info")


@dataclass(slots=True)
class _CodexFile:
    model: str | None = None
    previous: tuple[int, ...] | None = None
    meta_seen: bool = False
    fork: str | None = None
    replay: frozenset[tuple[int, ...]] | None = None
    fork_unresolved: bool = False


def _codex_counts(value, notes: _Notes) -> tuple[int, ...] | None:
    if not isinstance(value, dict):
        return None
    return tuple(_count(value.get(name), notes) for name in _CODEX_FIELDS)


def _valid_total(value) -> bool:
    """Whether a cumulative total holds the counts every build writes and no odd one."""
    if not isinstance(value, dict) or any(name not in value for name in _CODEX_REQUIRED):
        return False
    present = [value[name] for name in _CODEX_FIELDS if name in value]
    return all(v is not None and _count_problem(v) is None for v in present)


def _codex_delta(total, last, previous) -> tuple[int, ...] | None:
    """This event's own tokens: the step of the cumulative total, or ``last`` after a reset."""
    if total is None or previous is None:
        return last if last is not None else total
    if any(t < p for t, p in zip(total, previous, strict=True)):
        return last if last is not None else total
    return tuple(t - p for t, p in zip(total, previous, strict=True))


def _fork_parent(meta: dict) -> str | None:
    parent = _text(meta.get("forked_from_id"))
    source = meta.get("source")
    if parent is None and isinstance(source, dict):
        subagent = source.get("subagent")
        spawn = subagent.get("thread_spawn") if isinstance(subagent, dict) else None
        parent = _text(spawn.get("parent_thread_id")) if isinstance(spawn, dict) else None
    return parent


def _parent_totals(path: Path, parent: str, files: list[Path]) -> frozenset[tuple[int, ...]]:
    """Cumulative totals of the parent rollout: one of ``files``, or beside ``path``, in its
    sessions tree or among the archived sessions (``$CODEX_HOME/archived_sessions``, where
    Codex moves a rollout it archives) beside that tree."""
    if any(c in parent for c in "/\\*?[]") or parent in (".", ".."):
        return frozenset()
    pattern = f"rollout-*{parent}.jsonl"
    candidates = [f for f in files if f.match(pattern)] or list(path.parent.glob(pattern))
    if path.parent.name == "archived_sessions":
        home = path.parent.parent
    elif len(path.parents) > 3 and path.parents[3].name == "sessions":
        home = path.parents[4]
    else:
        home = None
    if not candidates and home is not None:
        candidates = [
            *(home / "sessions").glob(f"*/*/*/{pattern}"),
            *(home / "archived_sessions").glob(pattern),
        ]
    totals: set[tuple[int, ...]] = set()
    quiet = _Notes()
    for candidate in candidates[:1]:
        for obj in _objects(candidate, (b'"token_count"',), quiet):
            payload = obj.get("payload")
            info = payload.get("info") if isinstance(payload, dict) else None
            total = info.get("total_token_usage") if isinstance(info, dict) else None
            if _valid_total(total):
                totals.add(_codex_counts(total, quiet))
    return frozenset(totals)


class _CodexExecReader(_Reader):
    """``codex exec --json`` output: each ``turn.completed`` carries the thread's cumulative
    ``usage`` so far, and no model and no time."""

    agent = "codex"
    wanted = (b'"thread.started"', b'"turn.completed"')
    per_request = False  # a turn's many requests, summed

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.found: list[Usage] = []
        self.thread: object = None
        self.previous: dict[object, tuple[int, ...]] = {}  # last total per thread, across files
        self.seen_totals: set[tuple[object, tuple[int, ...]]] = set()  # a stream saved twice

    def read(self, path: Path) -> None:
        self.thread = object()  # a stream without thread.started shares no totals
        super().read(path)

    def entry(self, obj: dict, path: Path) -> None:
        if obj.get("type") == "thread.started":
            self.thread = _text(obj.get("thread_id")) or object()
            return
        usage = obj.get("usage")
        if obj.get("type") != "turn.completed" or not isinstance(usage, dict):
            return
        total = tuple(_count(usage.get(name), self.notes) for name in _CODEX_EXEC_FIELDS)
        delta = _codex_delta(total, None, self.previous.get(self.thread))
        self.previous[self.thread] = total
        if (self.thread, total) in self.seen_totals or delta is None or not any(delta):
            return
        self.seen_totals.add((self.thread, total))
        if not self.in_window(None):
            return
        counts = dict(zip(_CODEX_EXEC_FIELDS, delta, strict=True))
        self.found.append(from_openai(UNKNOWN_MODEL, counts, requests=1))

    def usages(self) -> list[Usage]:
        if self.found:
            self.notes.add(
                "codex exec --json events name no model: their usage is counted as "
                f"{UNKNOWN_MODEL!r}; the session's rollout (--agent codex --session THREAD_ID) "
                "has it"
            )
        self.report_undated()
        return self.found


_CODEX_EXEC_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens")


class _GeminiReader(_Reader):
    agent = "gemini-cli"
    counted = "Gemini CLI message(s)"
    document = "session"

    def read(self, path: Path) -> None:
        """The whole document: Gemini CLI rewrites it after each message."""
        session = self.read_document(path)
        if session is None:
            return
        messages = session.get("messages")
        if not isinstance(messages, list):
            self.notes.add(f"{path}: a Gemini CLI session without messages; ignored")
            return
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("tokens"), dict):
                self.entry(message, path)

    def entry(self, obj: dict, path: Path) -> None:
        if obj.get("type") != "gemini":
            self.notes.count("Gemini CLI message(s) with tokens but not a gemini one, skipped")
            return
        tokens = obj["tokens"]
        self.keep(
            _id(obj.get("id")),
            _timestamp(obj.get("timestamp")),
            obj.get("model"),
            lambda model: from_gemini(model, self.counts(tokens), requests=1),
        )

    def counts(self, tokens: dict) -> dict[str, int]:
        return {name: _count(tokens.get(key), self.notes) for key, name in _GEMINI_TOKENS}


_GEMINI_TOKENS = (  # Gemini CLI's ``tokens`` keys and the usageMetadata counts they record
    ("input", "promptTokenCount"),
    ("cached", "cachedContentTokenCount"),
    ("output", "candidatesTokenCount"),
    ("thoughts", "thoughtsTokenCount"),
    ("tool", "toolUsePromptTokenCount"),
)


class _QwenReader(_Reader):
    """Qwen Code chats: one JSON line per record; an ``assistant`` record carries the response's
    ``model`` and its ``usageMetadata``, converted by Qwen Code from the provider's usage. A
    forked session copies its parent's records, ``uuid`` included."""

    agent = "qwen-code"
    counted = "Qwen Code record(s)"
    wanted = (b'"usageMetadata"',)

    def entry(self, obj: dict, path: Path) -> None:
        metadata = obj.get("usageMetadata")
        if not isinstance(metadata, dict):
            return
        if obj.get("type") != "assistant":
            self.notes.count("Qwen Code record(s) with usage but not an assistant one, skipped")
            return
        self.version = _text(obj.get("version")) or self.version
        self.keep(
            _id(obj.get("uuid")),
            _timestamp(obj.get("timestamp")),
            obj.get("model"),
            lambda model: _qwen_usage(model, self.counts(metadata)),
        )

    def counts(self, metadata: dict) -> dict[str, int]:
        return {name: _count(metadata.get(name), self.notes) for _, name in _GEMINI_TOKENS}


def _qwen_usage(model: str, counts: dict[str, int]) -> Usage:
    """Qwen Code's ``usageMetadata`` with OpenAI's meaning, which its OpenAI-compatible content
    generator copies: ``candidatesTokenCount`` is ``completion_tokens``, reasoning included."""
    usage = from_gemini(model, {**counts, "thoughtsTokenCount": 0}, requests=1)
    return replace(usage, reasoning=min(counts["thoughtsTokenCount"], usage.output))


class _OpenCodeReader(_Reader):
    """OpenCode messages: one JSON document per message; an assistant message carries its
    ``modelID``, ``tokens`` and OpenCode's own ``cost``."""

    agent = "opencode"
    counted = "OpenCode message(s)"
    document = "message"

    def read(self, path: Path) -> None:
        if path.suffix == ".db":
            self.seen = True
            self.read_database(path)
            return
        message = self.read_document(path)
        if message is not None and isinstance(message.get("tokens"), dict):
            self.entry(message, path)

    def read_database(self, path: Path) -> None:
        """The ``message`` table of OpenCode's database (``opencode.db``, in newer builds): a row's
        ``data`` is the message document without its ``id`` and ``sessionID`` columns."""
        try:
            for message_id, session_id, data in _opencode_rows(path, self.window.session):
                message = _loads(data.encode() if isinstance(data, str) else b"")
                if isinstance(message, dict) and isinstance(message.get("tokens"), dict):
                    self.entry({**message, "id": message_id, "sessionID": session_id}, path)
        except _sqlite_errors() as error:
            self.notes.add(f"{path}: OpenCode database not read ({error})")

    def entry(self, obj: dict, path: Path) -> None:
        if obj.get("role") != "assistant":
            self.notes.count("OpenCode message(s) with tokens but not an assistant one, skipped")
            return
        created = obj.get("time").get("created") if isinstance(obj.get("time"), dict) else None
        when = _timestamp(Decimal(created) / 1000) if type(created) is int else None  # in ms
        self.keep(_id(obj.get("id")), when, obj.get("modelID"), lambda m: self.usage(m, obj))

    def usage(self, model: str, message: dict) -> Usage | None:
        """The message's usage; all zero is a message still streaming, no request billed yet."""
        tokens = message["tokens"]
        cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
        reasoning = _count(tokens.get("reasoning"), self.notes)
        usage = Usage(
            model=model,
            input=_count(tokens.get("input"), self.notes),
            output=_count(tokens.get("output"), self.notes) + reasoning,
            cache_read=_count(cache.get("read"), self.notes),
            cache_write=_count(cache.get("write"), self.notes),
            reasoning=reasoning,
            requests=1,
            cost=_decimal(message.get("cost"), self.notes),
        )
        return usage if usage.total_tokens else None


_OPENCODE_ALL = "SELECT id, session_id, data FROM message"
_OPENCODE_SESSION = _OPENCODE_ALL + " WHERE session_id = ?"


def _opencode_rows(path: Path, session: str | None) -> Iterator[tuple]:
    """(id, session_id, data) rows of an OpenCode database, of one session or all."""
    query, arguments = (_OPENCODE_SESSION, (session,)) if session else (_OPENCODE_ALL, ())
    with closing(_read_only(path)) as db:
        yield from db.execute(query, arguments)


def _read_only(path: Path):
    """A read-only connection to an agent's SQLite database, which the agent may be writing.
    ``sqlite3`` is imported here: only these logs need it, and stamping starts fast without."""
    import sqlite3  # noqa: PLC0415

    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _sqlite_errors() -> type[Exception]:
    import sqlite3  # noqa: PLC0415

    return sqlite3.Error


class _AmpReader(_Reader):
    agent = "amp"
    counted = "Amp usage event(s)"
    document = "thread"

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.thread: object = None  # the id of the thread being read
        self.usage_of: dict[int, dict] = {}  # its assistant messages' usage by messageId

    def read(self, path: Path) -> None:
        """The whole thread document, which Amp rewrites as the thread goes."""
        thread = self.read_document(path)
        if thread is None:
            return
        ledger = thread.get("usageLedger")
        events = ledger.get("events") if isinstance(ledger, dict) else None
        if not isinstance(events, list):
            return  # a thread without usage yet
        self.thread = thread.get("id")
        self.usage_of = _amp_message_usage(thread.get("messages"))
        for event in events:
            if isinstance(event, dict):
                self.entry(event, path)

    def entry(self, obj: dict, path: Path) -> None:
        ids = (self.thread, obj.get("id"))
        key = ids if all(isinstance(i, str) for i in ids) else object()
        when = _timestamp(obj.get("timestamp"))
        self.keep(key, when, obj.get("model"), lambda model: self.usage(model, obj))

    def usage(self, model: str, event: dict) -> Usage:
        """The tokens of the assistant message the event names, else the event's own."""
        number = event.get("toMessageId")
        message = self.usage_of.get(number) if type(number) is int else None
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        names = _AMP_MESSAGE if message is not None else _AMP_EVENT
        source = message if message is not None else tokens
        counts = {name: _count(source.get(key), self.notes) for key, name in names}
        return from_anthropic(model, counts, requests=1)


def _amp_message_usage(messages) -> dict[int, dict]:
    """The ``usage`` of each assistant message of an Amp thread, by ``messageId``."""
    found = {}
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, dict) and message.get("role") == "assistant":
            usage, number = message.get("usage"), message.get("messageId")
            if isinstance(usage, dict) and type(number) is int:
                found[number] = usage
    return found


_AMP_MESSAGE = (  # an Amp assistant message's usage -> Anthropic's names (from_anthropic)
    ("inputTokens", "input_tokens"),
    ("outputTokens", "output_tokens"),
    ("cacheReadInputTokens", "cache_read_input_tokens"),
    ("cacheCreationInputTokens", "cache_creation_input_tokens"),
)
_AMP_EVENT = (("input", "input_tokens"), ("output", "output_tokens"))


_COPILOT_EVENTS = (
    "session.start",
    "session.resume",
    "session.model_change",
    "assistant.usage",
    "session.shutdown",
)


class _CopilotReader(_Reader):
    """GitHub Copilot CLI session events, one JSON event per line. Tokens are read per request
    from ``assistant.usage`` events where a build wrote them, else per process from the
    ``session.shutdown`` summary each process appends when it exits (a resumed session appends
    one more: they add up). A process with requests is counted from them, never also from its
    summary, which sums the same requests."""

    agent = "copilot"
    counted = "Copilot CLI usage record(s)"
    wanted = tuple(f'"{kind}"'.encode() for kind in _COPILOT_EVENTS)
    per_request = False  # process summaries are no single requests; requests are banded here

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.model: str | None = None  # the session's model, from session.model_change
        self.active = False  # a process that has not written its summary yet
        self.requested = False  # whether that process wrote per-request usage
        self.summaries: set[object] = set()  # session.shutdown events counted
        self.unsummarised = 0  # processes that left neither

    def read(self, path: Path) -> None:
        self.model, self.active, self.requested = None, False, False
        super().read(path)
        self.end_process()

    def entry(self, obj: dict, path: Path) -> None:
        data, kind = obj.get("data"), obj.get("type")
        if not isinstance(data, dict):
            return
        if kind in ("session.start", "session.resume"):
            self.end_process()
            self.version = _text(data.get("copilotVersion")) or self.version
        elif kind == "session.model_change":
            self.model = _copilot_model(data.get("newModel")) or self.model
        elif kind == "assistant.usage":
            self.requested = True
            when = _timestamp(obj.get("timestamp"))
            model = _copilot_model(data.get("model"))
            self.keep(_id(obj.get("id")), when, model, _request(self.counts(data)))
        elif kind == "session.shutdown":
            if not self.requested:
                self.summary(_id(obj.get("id")), _timestamp(obj.get("timestamp")), data)
            self.active = self.requested = False
            return
        self.active = True

    def end_process(self) -> None:
        if self.active and not self.requested:
            self.unsummarised += 1
        self.active = self.requested = False

    def summary(self, event: object, when: datetime | None, data: dict) -> None:
        """A process's totals: per model from ``modelMetrics``, else the session-wide
        ``tokenDetails`` for the current model; never both (they hold the same tokens)."""
        parts = self.per_model(data.get("modelMetrics")) or self.details(data)
        if not parts:
            self.notes.count("Copilot CLI session.shutdown record(s) without token counts")
            return
        self.summaries.add(event)
        for key, model, usage in parts:
            self.keep((event, key), when, model, usage)

    def per_model(self, metrics) -> list[tuple[str, str | None, Callable[[str], Usage]]]:
        parts = []
        for key, metric in metrics.items() if isinstance(metrics, dict) else ():
            usage = metric.get("usage") if isinstance(metric, dict) else None
            counts = self.counts(usage) if isinstance(usage, dict) else {}
            if not any(counts.values()):
                continue  # an entry of zeros is no breakdown: the totals may be elsewhere
            requests = metric.get("requests")
            number = _count(
                requests.get("count") if isinstance(requests, dict) else None, self.notes
            )
            parts.append((key, _copilot_model(key), _openai_usage(counts, number)))
        return parts

    def details(self, data: dict) -> list[tuple[str, str | None, Callable[[str], Usage]]]:
        """``tokenDetails``: the session's billing categories, each billed apart, so none holds
        another (unlike ``inputTokens``), attributed to the process's current model."""
        details = data.get("tokenDetails")
        if not isinstance(details, dict):
            return []
        counts = {}
        for key, name in _COPILOT_DETAILS:
            entry = details.get(key)
            counts[name] = _count(
                entry.get("tokenCount") if isinstance(entry, dict) else None, self.notes
            )
        for _ in details.keys() - dict(_COPILOT_DETAILS).keys():
            self.notes.count("Copilot CLI tokenDetails entr(ies) of an unknown type, not read")
        if not any(counts.values()):
            return []
        model = _copilot_model(data.get("currentModel")) or self.model
        return [("tokenDetails", model, lambda name: Usage(model=name, **counts))]

    def counts(self, usage: dict) -> dict[str, int]:
        return {name: _count(usage.get(key), self.notes) for key, name in _COPILOT_TOKENS}

    def usages(self) -> list[Usage]:
        if self.summaries:
            self.notes.add(
                f"{len(self.summaries)} Copilot CLI process total(s) read from session.shutdown: "
                "per model, not per request, so no long-context band is decided, and each "
                "counts at the time its process ended"
            )
        if self.unsummarised:
            self.notes.add(
                f"{self.unsummarised} Copilot CLI process(es) without usage in the log (still "
                "running, or ended without a session.shutdown): their tokens are not counted"
            )
        return super().usages()


def _copilot_model(value) -> str | None:
    """A model name; ``auto`` is Copilot's placeholder for one not chosen yet, never a model."""
    name = _text(value)
    return None if name is None or name.lower() == "auto" else name


def _openai_usage(counts: dict[str, int], requests: int) -> Callable[[str], Usage]:
    """A total of ``requests`` requests in OpenAI's names (0: a number not recorded)."""
    return lambda model: from_openai(model, counts, requests=requests)


def _request(counts: dict[str, int]) -> Callable[[str], Usage]:
    """One request's usage in OpenAI's names, in its long-context band."""
    return lambda model: banded(from_openai(model, counts, requests=1))


_COPILOT_TOKENS = (  # Copilot's usage names -> OpenAI's (``inputTokens`` holds the cache tokens)
    ("inputTokens", "input_tokens"),
    ("outputTokens", "output_tokens"),
    ("cacheReadTokens", "cached_input_tokens"),
    ("cacheWriteTokens", "cache_write_input_tokens"),
    ("reasoningTokens", "reasoning_output_tokens"),
)
_COPILOT_DETAILS = (  # session.shutdown tokenDetails categories -> Usage fields
    ("input", "input"),
    ("output", "output"),
    ("cache_read", "cache_read"),
    ("cache_write", "cache_write"),
)


class _GooseReader(_Reader):
    """Goose sessions. Its database records each provider call in ``usage_ledger`` (schema 15
    on) and each session's totals in ``sessions``; older Goose wrote one file per session whose
    first line holds the totals. A session is counted from its calls where the ledger has any,
    else from its totals: one line per session, with no time and no per-request counts."""

    agent = "goose"
    counted = "Goose usage record(s)"
    per_request = False  # session totals are no single requests; calls are banded here

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.called: set[object] = set()  # sessions counted from their calls
        self.totals: set[str] = set()  # sessions counted from their totals
        self.unsplit: set[str] = set()  # of them, those whose totals split out no cache
        self.files: dict[str, dict] = {}  # older session files' totals, by session id

    def read(self, path: Path) -> None:
        self.seen = True
        if path.suffix != ".db":
            metadata = _goose_metadata(path, self.notes)
            if metadata is not None:
                self.files.setdefault(metadata["id"], metadata)
            return
        try:
            calls, sessions = _goose_rows(path, self.window.session)
        except _sqlite_errors() as error:
            self.notes.add(f"{path}: Goose database not read ({error})")
            return
        models = {row.get("id"): _goose_model(row) for row in sessions}
        for row in calls:
            self.call(row, models.get(row.get("session_id")))
        called = {row.get("session_id") for row in calls}
        self.sessions([row for row in sessions if row.get("id") not in called])

    def call(self, row: dict, session_model: str | None) -> None:
        """One provider call; its ``input_tokens`` holds the cache tokens (Goose's ``Usage``)."""
        session = row.get("session_id")
        self.called.add(session)
        self.kept.pop(("session", session), None)  # its calls, not also its totals
        self.totals.discard(session)
        self.unsplit.discard(session)
        counts = _goose_counts(row, "", self.notes)
        when = _goose_time(row.get("created_timestamp"))
        model = row.get("model") or session_model
        self.keep(("call", session, row.get("id")), when, model, _request(counts))

    def sessions(self, rows: list[dict]) -> None:
        """Sessions counted from their totals, each once."""
        for row in rows:
            session = row.get("id")
            if not isinstance(session, str) or session in self.totals or session in self.called:
                continue
            counts, split = _goose_totals(row, self.notes)
            if not any(counts.values()):
                continue  # a session that has not called a model yet
            self.totals.add(session)
            if not split:
                self.unsplit.add(session)
            self.keep(("session", session), None, _goose_model(row), _openai_usage(counts, 0))

    def usages(self) -> list[Usage]:
        """Older session files last: Goose imports them into its database and leaves them
        beside it, and the imported row, read already, names the model."""
        self.sessions(list(self.files.values()))
        if self.totals:
            self.notes.add(
                f"{len(self.totals)} Goose session total(s): one per session, without "
                "per-request counts, so no long-context band is decided; they have no time, "
                "so a --since/--until window skips them"
            )
        if self.unsplit:
            self.notes.add(
                f"{len(self.unsplit)} Goose session total(s) without a cache split: cache "
                "reads and writes are counted as input"
            )
        return super().usages()


def _goose_rows(path: Path, session: str | None) -> tuple[list[dict], list[dict]]:
    """(``usage_ledger`` rows, ``sessions`` rows) of a Goose database: of session ``session``
    and its sub-agents' sessions (``parent_session_id``), or all."""
    with closing(_read_only(path)) as db:
        tables = {name for (name,) in db.execute(_SQLITE_TABLES)}
        if "sessions" not in tables:
            raise _sqlite_errors()("no sessions table: not Goose's database")
        sessions = _rows(db, "sessions", _GOOSE_SESSION)
        calls = _rows(db, "usage_ledger", _GOOSE_LEDGER) if "usage_ledger" in tables else []
    if session is None:
        return calls, sessions
    ids = _goose_tree(sessions, session)
    return [r for r in calls if r.get("session_id") in ids], [
        r for r in sessions if r.get("id") in ids
    ]


def _rows(db, table: str, columns: tuple[str, ...]) -> list[dict]:
    """The rows of ``table`` as mappings of those of ``columns`` it has (older schemas lack
    some)."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}  # noqa: S608
    names = [c for c in columns if c in present]
    query = f"SELECT {', '.join(names)} FROM {table}"  # noqa: S608 (names from our tuple)
    return [dict(zip(names, row, strict=True)) for row in db.execute(query)]


def _goose_tree(sessions: list[dict], root: str) -> set[str]:
    """``root`` and the sessions below it: sub-agents spend on their parent's behalf."""
    children: dict[object, list[str]] = {}
    for row in sessions:
        children.setdefault(row.get("parent_session_id"), []).append(row.get("id"))
    found, pending = {root}, [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            if isinstance(child, str) and child not in found:
                found.add(child)
                pending.append(child)
    return found


def _goose_metadata(path: Path, notes: _Notes) -> dict | None:
    """The totals an older Goose session file opens with, under the file's name as its id."""
    with path.open("rb") as handle:
        first = handle.readline()
    metadata = _loads(first)
    if not isinstance(metadata, dict):
        notes.add(f"{path}: no Goose session metadata on its first line; ignored")
        return None
    return {**metadata, "id": path.stem}


def _goose_totals(row: dict, notes: _Notes) -> tuple[dict[str, int], bool]:
    """A session's accumulated counts (the last turn's where a row has none), in OpenAI's
    names, and whether they split the cache out of the input (schema 14 on)."""
    accumulated = any(row.get(f"accumulated_{key}") is not None for key in _GOOSE_COLUMNS)
    prefix = "accumulated_" if accumulated else ""
    cache = (row.get(f"{prefix}cache_read_tokens"), row.get(f"{prefix}cache_write_tokens"))
    return _goose_counts(row, prefix, notes), cache != (None, None)


def _goose_counts(row: dict, prefix: str, notes: _Notes) -> dict[str, int]:
    """A call's or a session's counts in OpenAI's names. Goose's Google provider leaves the
    thoughts out of ``output_tokens`` but not out of ``total_tokens`` (Gemini's
    ``totalTokenCount``): what the total holds beyond input and output is reasoning, billed
    as output (ccusage reads it so too). For the other providers the total is input + output."""
    counts = {name: _count(row.get(prefix + key), notes) for key, name in _GOOSE_CALL}
    unseen = _count(row.get(f"{prefix}total_tokens"), notes) - sum(
        counts[name] for name in ("input_tokens", "output_tokens")
    )
    if unseen > 0:
        counts["output_tokens"] += unseen
        counts["reasoning_output_tokens"] = unseen
    return counts


def _goose_model(row: dict) -> str | None:
    """The ``model_name`` of a session's ``model_config_json``."""
    text = row.get("model_config_json")
    config = _loads(text.encode()) if isinstance(text, str) else None
    return _text(config.get("model_name")) if isinstance(config, dict) else None


def _goose_time(value) -> datetime | None:
    """A ledger call's time: Unix seconds, or milliseconds where Goose wrote those."""
    if type(value) is int and value > _GOOSE_MS:
        return _timestamp(Decimal(value) / 1000)
    return _timestamp(value) if type(value) is int else None


_GOOSE_DB = "sessions.db"
_GOOSE_MS = 10_000_000_000  # a larger timestamp is in milliseconds (as Goose itself decides)
_GOOSE_TOTALS = ("accumulated_total_tokens", "accumulated_input_tokens", "message_count")
_GOOSE_CALL = (  # Goose's columns -> OpenAI's names (input holds the cache tokens)
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cached_input_tokens"),
    ("cache_write_tokens", "cache_write_input_tokens"),
)
_GOOSE_COLUMNS = (*(key for key, _ in _GOOSE_CALL), "total_tokens")
_GOOSE_SESSION = (
    "id",
    "parent_session_id",
    "model_config_json",
    *(f"{p}{k}" for p in ("", "accumulated_") for k in _GOOSE_COLUMNS),
)
_GOOSE_LEDGER = ("id", "session_id", "created_timestamp", "model", *_GOOSE_COLUMNS)
_SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"


class _AiderReader(_Reader):
    agent = "aider"
    wanted = (b'"message_send"',)

    def __init__(self, window: _Window, notes: _Notes, files: list[Path]) -> None:
        super().__init__(window, notes, files)
        self.found: list[Usage] = []
        self.redacted: set[str] = set()

    def entry(self, obj: dict, path: Path) -> None:
        properties = obj.get("properties")
        if obj.get("event") != "message_send" or not isinstance(properties, dict):
            return
        self.version = _text(properties.get("aider_version")) or self.version
        if not self.in_window(_timestamp(obj.get("time"))):
            return
        model = _text(properties.get("main_model"))
        if model is None or model == "None":
            model = UNKNOWN_MODEL
        if model.endswith("/REDACTED"):
            self.redacted.add(model)
        cost = _decimal(properties.get("cost"), self.notes)
        self.found.append(
            Usage(
                model=model,
                input=_count(properties.get("prompt_tokens"), self.notes),
                output=_count(properties.get("completion_tokens"), self.notes),
                requests=1,
                cost=cost,
            )
        )

    def usages(self) -> list[Usage]:
        for model in sorted(self.redacted):
            self.notes.add(f"aider redacted the model name {model!r} (a model it does not know)")
        self.report_undated()
        return self.found


_READERS: dict[str, type[_Reader]] = {
    "claude-code": _ClaudeReader,
    "codex": _CodexReader,
    "codex-exec": _CodexExecReader,
    "gemini-cli": _GeminiReader,
    "qwen-code": _QwenReader,
    "opencode": _OpenCodeReader,
    "amp": _AmpReader,
    "copilot": _CopilotReader,
    "goose": _GooseReader,
    "aider": _AiderReader,
}
