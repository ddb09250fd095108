"""The commit-trailer protocol, version 1 (docs/trailers.md): records to trailers and back.

Parsing never raises on content: a malformed value yields a warning and the rest of the
record is still used, because one bad trailer must not hide a commit's usage.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from bot.protocol.usage import Usage, read_speed

VERSION = 1
TASK_CLASSES = ("bugfix", "feature", "refactor", "test", "docs", "config", "chore", "other")
STRATEGIES = ("route", "cascade")

K_VERSION = "Agent-Trailers"
K_AGENT = "Agent"
K_TASK = "Agent-Task"
K_TASK_CLASS = "Agent-Task-Class"
K_ATTEMPT = "Agent-Attempt"
K_ROUTE = "Agent-Route"
K_CONTEXT = "Agent-Context"
K_USAGE = "Agent-Usage"
K_LOG = "Agent-Log"
KEYS = (K_VERSION, K_AGENT, K_TASK, K_TASK_CLASS, K_ATTEMPT, K_ROUTE, K_CONTEXT, K_USAGE, K_LOG)
_CANONICAL = {k.lower(): k for k in KEYS}

MAX_WARNINGS = 50
_PAIR_KEY = re.compile(r"[a-z][a-z0-9_.-]*\Z")
_NEEDS_QUOTES = re.compile(r'[\s;"\\=]|\A\Z')
_SPACE = " \t\n\r"
_DECODER = json.JSONDecoder()  # stateless: one for all quoted values

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Route:
    """The router's decision; ``extra`` keeps keys this version does not know."""

    router: str | None = None
    strategy: str | None = None
    tier: str | None = None
    model: str | None = None
    score: float | None = None
    threshold: float | None = None
    candidates: tuple[str, ...] = ()
    reason: str | None = None
    extra: Pairs = ()


@dataclass(frozen=True, slots=True)
class Context:
    sources: tuple[str, ...] = ()
    tokens: int | None = None
    extra: Pairs = ()


@dataclass(frozen=True, slots=True)
class ProtocolRecord:
    version: int | None = None
    agent: str | None = None
    task: str | None = None
    task_class: str | None = None
    attempt: int | None = None
    route: Route | None = None
    context: Context | None = None
    usage: tuple[Usage, ...] = ()
    log: str | None = None
    extra: Pairs = field(default=())  # unknown ``Agent-*`` trailers, kept in order

    @property
    def is_empty(self) -> bool:
        return self == ProtocolRecord()


# --- structured values: ``key=value; key="quoted value"`` ------------------------------------


def format_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """Join pairs with ``; ``, quoting values as JSON strings when they need it."""
    return "; ".join(f"{k}={_quote(v)}" for k, v in pairs)


def _quote(value: str) -> str:
    if _NEEDS_QUOTES.search(value) or not value.isprintable():
        return json.dumps(value, ensure_ascii=False)
    return value


def parse_pairs(text: str, warnings: list[str], where: str) -> list[tuple[str, str]]:
    """Split ``key=value`` items on ``;`` outside quotes; malformed items become warnings."""
    if '"' not in text:
        return _plain_pairs(text, warnings, where)
    pairs: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    eq = -1  # cached: the next '=' is searched again only once passed, keeping this linear
    while pos < n:
        semi = text.find(";", pos)
        if 0 <= eq < pos or eq == -1:
            eq = text.find("=", pos)
            eq = n if eq < 0 else eq
        if eq >= n or (0 <= semi < eq):
            item_end = n if semi < 0 else semi
            if text[pos:item_end].strip(_SPACE):
                _warn(warnings, f"{where}: ignored {text[pos:item_end].strip(_SPACE)!r} (no '=')")
            pos = item_end + 1
            continue
        key = text[pos:eq].strip(_SPACE).lower()
        vpos = eq + 1
        while vpos < n and text[vpos] in _SPACE:
            vpos += 1
        if vpos < n and text[vpos] == '"':
            try:
                value, vend = _DECODER.raw_decode(text, vpos)
            except ValueError:
                _warn(warnings, f"{where}: unterminated quoted value for {key!r}")
                return pairs
            semi = text.find(";", vend)
            rest = text[vend : n if semi < 0 else semi].strip(_SPACE)
            if rest:
                _warn(warnings, f"{where}: text after quoted value of {key!r} ignored")
        else:
            semi = text.find(";", vpos)
            value = text[vpos : n if semi < 0 else semi].strip(_SPACE)
        pos = n if semi < 0 else semi + 1
        if not _PAIR_KEY.match(key):
            _warn(warnings, f"{where}: invalid key {key!r} ignored")
            continue
        pairs.append((key, value))
    return pairs


def _plain_pairs(text: str, warnings: list[str], where: str) -> list[tuple[str, str]]:
    """``parse_pairs`` of a text without quotes (the common case), by plain splitting."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(";"):
        key, eq, value = item.partition("=")
        if not eq:
            if item.strip(_SPACE):
                _warn(warnings, f"{where}: ignored {item.strip(_SPACE)!r} (no '=')")
            continue
        key = key.strip(_SPACE).lower()
        if not _PAIR_KEY.match(key):
            _warn(warnings, f"{where}: invalid key {key!r} ignored")
            continue
        pairs.append((key, value.strip(_SPACE)))
    return pairs


def _warn(warnings: list[str], message: str) -> None:
    if len(warnings) < MAX_WARNINGS:
        warnings.append(message[:300])
    elif len(warnings) == MAX_WARNINGS:
        warnings.append("further warnings suppressed")


# --- typed values --------------------------------------------------------------------------


def _int(value: str, warnings: list[str], where: str, minimum: int = 0) -> int | None:
    try:
        number = int(value.strip(_SPACE), 10) if len(value) < 40 else None
    except ValueError:
        number = None
    if number is None or number < minimum:
        _warn(warnings, f"{where}: expected an integer >= {minimum}, got {value[:40]!r}")
        return None
    return number


def _fraction(value: str, warnings: list[str], where: str) -> float | None:
    try:
        number = float(value) if len(value) < 40 else math.nan
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        _warn(warnings, f"{where}: expected a number in [0, 1], got {value[:40]!r}")
        return None
    return number


def _decimal(value: str, warnings: list[str], where: str) -> Decimal | None:
    try:
        number = Decimal(value) if len(value) < 40 else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0:
        _warn(warnings, f"{where}: expected a non-negative decimal, got {value[:40]!r}")
        return None
    return number


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip(_SPACE) for item in value.split(",") if item.strip(_SPACE))


# --- parsing -------------------------------------------------------------------------------

_ROUTE_FIELDS = (
    "router",
    "strategy",
    "tier",
    "model",
    "score",
    "threshold",
    "candidates",
    "reason",
)
_USAGE_FIELDS = {
    "in": "input",
    "out": "output",
    "cache_read": "cache_read",
    "cache_write": "cache_write",
    "cache_write_1h": "cache_write_1h",
    "reasoning": "reasoning",
    "requests": "requests",
    "web_searches": "web_searches",
    "long_context": "long_context",
}


def parse_route(text: str, warnings: list[str]) -> Route:
    values: dict = {}
    extra = []
    for key, value in parse_pairs(text, warnings, K_ROUTE):
        if key in values or key not in _ROUTE_FIELDS:
            extra.append((key, value))
        elif key in ("score", "threshold"):
            values[key] = _fraction(value, warnings, f"{K_ROUTE} {key}")
        elif key == "candidates":
            values[key] = _list(value)
        elif key == "strategy":
            values[key] = value.lower()
            if values[key] not in STRATEGIES:
                _warn(warnings, f"{K_ROUTE}: unknown strategy {value[:40]!r}")
        else:
            values[key] = value
    return Route(**values, extra=tuple(extra))


def parse_context(text: str, warnings: list[str]) -> Context:
    sources: tuple[str, ...] = ()
    tokens = None
    extra = []
    for key, value in parse_pairs(text, warnings, K_CONTEXT):
        if key == "sources":
            sources = _list(value)
        elif key == "tokens":
            tokens = _int(value, warnings, f"{K_CONTEXT} tokens")
        else:
            extra.append((key, value))
    return Context(sources=sources, tokens=tokens, extra=tuple(extra))


def parse_usage(text: str, warnings: list[str]) -> Usage | None:
    values: dict = {}
    extra = []
    for key, value in parse_pairs(text, warnings, K_USAGE):
        if key == "model":
            values["model"] = value
        elif key == "speed":
            values["speed"] = read_speed(value)
        elif key in _USAGE_FIELDS:
            number = _int(value, warnings, f"{K_USAGE} {key}")
            if number is not None:
                values[_USAGE_FIELDS[key]] = number
        elif key == "cost":
            values["cost"] = _decimal(value, warnings, f"{K_USAGE} cost")
        else:
            extra.append((key, value))
    if not values.get("model"):
        _warn(warnings, f"{K_USAGE}: line without model= ignored")
        return None
    if values.get("cache_write_1h", 0) > values.get("cache_write", 0):
        _warn(warnings, f"{K_USAGE}: cache_write_1h is part of cache_write; capped at it")
        values["cache_write_1h"] = values.get("cache_write", 0)
    return Usage(**values, extra=tuple(extra))


def parse_record(trailers: Sequence[tuple[str, str]]) -> tuple[ProtocolRecord, list[str]]:
    """Build the record from a commit's trailers (keys matched case-insensitively)."""
    if not trailers:  # most commits: share one empty record
        return _EMPTY_RECORD, []
    warnings: list[str] = []
    values: dict = {}
    usage: list[Usage] = []
    extra = []
    for key, value in trailers:
        canonical = _CANONICAL.get(key.lower())
        if canonical is None:
            if key.lower().startswith("agent-"):
                extra.append((key, value))
            continue
        if canonical == K_USAGE:
            line = parse_usage(value, warnings)
            if line is not None:
                usage.append(line)
        elif canonical in values:
            _warn(warnings, f"{canonical}: repeated; the first value is kept")
        else:
            values[canonical] = _parse_single(canonical, value, warnings)
    record = ProtocolRecord(
        version=values.get(K_VERSION),
        agent=values.get(K_AGENT),
        task=values.get(K_TASK),
        task_class=values.get(K_TASK_CLASS),
        attempt=values.get(K_ATTEMPT),
        route=values.get(K_ROUTE),
        context=values.get(K_CONTEXT),
        usage=tuple(usage),
        log=values.get(K_LOG),
        extra=tuple(extra),
    )
    return record, warnings


_EMPTY_RECORD = ProtocolRecord()


def _parse_single(key: str, value: str, warnings: list[str]):
    if key == K_VERSION:
        version = _int(value, warnings, key, minimum=1)
        if version is not None and version > VERSION:
            _warn(warnings, f"{key}: version {version} is newer than {VERSION}; read as {VERSION}")
        return version
    if key == K_ATTEMPT:
        return _int(value, warnings, key, minimum=1)
    if key == K_TASK_CLASS:
        return value.lower() or None
    if key == K_ROUTE:
        return parse_route(value, warnings)
    if key == K_CONTEXT:
        return parse_context(value, warnings)
    return value or None


# --- formatting ----------------------------------------------------------------------------


def _num(value: float | int | Decimal) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _route_pairs(route: Route) -> list[tuple[str, str]]:
    pairs = []
    for name in _ROUTE_FIELDS:
        value = getattr(route, name)
        if value is None or value == ():
            continue
        if name == "candidates":
            value = ",".join(value)
        pairs.append((name, _num(value) if isinstance(value, float) else value))
    return pairs + list(route.extra)


def _usage_pairs(usage: Usage) -> list[tuple[str, str]]:
    pairs = [("model", usage.model)]
    for key, attr in _USAGE_FIELDS.items():
        if getattr(usage, attr):
            pairs.append((key, str(getattr(usage, attr))))
    if usage.speed:
        pairs.append(("speed", usage.speed))
    if usage.cost is not None:
        pairs.append(("cost", str(usage.cost)))
    return pairs + list(usage.extra)


def format_record(record: ProtocolRecord) -> list[tuple[str, str]]:
    """Trailer lines for ``record`` in canonical order; ``Agent-Trailers`` always first."""
    lines = [(K_VERSION, str(record.version or VERSION))]
    for key, value in (
        (K_AGENT, record.agent),
        (K_TASK, record.task),
        (K_TASK_CLASS, record.task_class),
        (K_ATTEMPT, None if record.attempt is None else str(record.attempt)),
    ):
        if value is not None:
            lines.append((key, _check_plain(key, value)))
    if record.route is not None:
        lines.append((K_ROUTE, format_pairs(_route_pairs(record.route))))
    if record.context is not None:
        context = record.context
        pairs = [("sources", ",".join(context.sources))] if context.sources else []
        if context.tokens is not None:
            pairs.append(("tokens", str(context.tokens)))
        lines.append((K_CONTEXT, format_pairs(pairs + list(context.extra))))
    lines.extend((K_USAGE, format_pairs(_usage_pairs(u))) for u in record.usage)
    if record.log is not None:
        lines.append((K_LOG, _check_plain(K_LOG, record.log)))
    lines.extend(record.extra)
    return lines


def _check_plain(key: str, value: str) -> str:
    """A plain trailer value must survive git's trimming and line handling unchanged."""
    if not value or value != value.strip(_SPACE) or "\n" in value or "\0" in value:
        raise ValueError(f"{key}: value {value[:40]!r} cannot be written as a trailer")
    return value


def format_trailers(lines: Iterable[tuple[str, str]]) -> str:
    return "".join(f"{key}: {value}\n" for key, value in lines)
