"""Token usage of one model, in the protocol's semantics, and conversions from other conventions.

Protocol semantics (docs/trailers.md): ``input`` counts input tokens *excluding* cache reads and
cache writes (as Anthropic reports them); ``output`` counts all billed output tokens *including*
reasoning tokens; ``reasoning`` is the informational subset of ``output`` spent on reasoning;
``cache_write_1h`` is the subset of ``cache_write`` written with a one-hour lifetime (Anthropic
bills it at 2x input rather than 1.25x); ``web_searches`` counts the provider's server-side web
searches, billed per search beside the tokens. ``speed`` and ``long_context`` say which rates the
tokens were billed at (Anthropic's fast mode; requests above a long-context threshold), so lines
that differ in them are never summed. OpenAI and OpenTelemetry count cached tokens inside
their input totals, so they are converted here. The converters take what an API or a log says:
a count that is not a non-negative integer counts as 0, and subsets are capped at their totals,
so a converted line is never negative and never holds more input than the source reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from operator import attrgetter

LONG_CONTEXT_THRESHOLDS = (200_000, 272_000)
"""Total input per request above which providers bill a whole request at long-context rates:
Anthropic and Gemini at 200k, OpenAI at 272k. A log's requests are split at these, so each line
lies on one side of each threshold and pricing it by its average request is exact."""

COUNT_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "reasoning",
    "requests",
    "web_searches",
)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one model used; ``cost`` is what the agent itself reported, if anything."""

    model: str
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    reasoning: int = 0
    requests: int = 0
    web_searches: int = 0
    cost: Decimal | None = None
    extra: tuple[tuple[str, str], ...] = ()
    speed: str = ""  # "" is the standard speed; "fast" is Anthropic's fast mode
    long_context: int = 0  # every request of the line had more total input than this

    @property
    def line_key(self) -> tuple[str, str, int]:
        """What one trailer line stands for: a model billed at one set of rates."""
        return self.model, self.speed, self.long_context

    @property
    def total_input(self) -> int:
        """Input including cache reads and writes (the OpenTelemetry / genai-prices convention)."""
        return self.input + self.cache_read + self.cache_write

    @property
    def total_tokens(self) -> int:
        return self.total_input + self.output

    def __add__(self, other: Usage) -> Usage:
        if other.line_key != self.line_key:
            raise ValueError(f"cannot add usage of {other.line_key!r} to {self.line_key!r}")
        return _total([self, other])


def merge_by_model(usages: Iterable[Usage]) -> list[Usage]:
    """Sum usage per model and rates (``line_key``), keeping first-seen order (one trailer line
    each). Each line is summed once: adding one by one would build a ``Usage`` per addend,
    which was a sixth of reading a large log."""
    groups: dict[tuple[str, str, int], list[Usage]] = {}
    for u in usages:
        groups.setdefault(u.line_key, []).append(u)
    return [_total(group) for group in groups.values()]


_COUNTS = attrgetter(*COUNT_FIELDS)


def _total(group: list[Usage]) -> Usage:
    """The sum of usages of one ``line_key``, the first's other fields kept; the cost is known
    only if every one's is."""
    if len(group) == 1:
        return group[0]
    costs = [u.cost for u in group]
    cost = None if any(c is None for c in costs) else sum(costs[1:], costs[0])
    counts = zip(COUNT_FIELDS, map(sum, zip(*map(_COUNTS, group), strict=True)), strict=True)
    return replace(group[0], cost=cost, **dict(counts))


def banded(usage: Usage) -> Usage:
    """One request's usage marked with the highest ``LONG_CONTEXT_THRESHOLDS`` it exceeds."""
    above = [t for t in LONG_CONTEXT_THRESHOLDS if usage.total_input > t]
    return replace(usage, long_context=above[-1]) if above else usage


_SPEED = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def count(value: object) -> int:
    """A token count from an API or a log: a non-negative integer, else 0 (never raises)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _get(mapping: object, key: str) -> object:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def from_anthropic(model: str, usage: Mapping[str, object], requests: int = 1) -> Usage:
    """Anthropic ``message.usage``: ``input_tokens`` already excludes cache tokens; the
    ``cache_creation`` breakdown says how many writes were for an hour, ``server_tool_use`` how
    many web searches the API ran, ``speed`` whether it ran in fast mode."""
    cache_write = count(usage.get("cache_creation_input_tokens"))
    one_hour = count(_get(usage.get("cache_creation"), "ephemeral_1h_input_tokens"))
    return Usage(
        model=model,
        input=count(usage.get("input_tokens")),
        output=count(usage.get("output_tokens")),
        cache_read=count(usage.get("cache_read_input_tokens")),
        cache_write=cache_write,
        cache_write_1h=min(one_hour, cache_write),
        requests=requests,
        web_searches=count(_get(usage.get("server_tool_use"), "web_search_requests")),
        speed=read_speed(usage.get("speed")),
    )


def read_speed(value: object) -> str:
    """A reported speed as a trailer value: ``""`` for the standard speed (or none given), else
    the name lower-cased (``fast``); a name that cannot be a plain word is kept as ``unknown``,
    so it is still never priced at the standard rate."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _SPEED.fullmatch(value.lower()):
        return "unknown"
    return "" if value.lower() == "standard" else value.lower()


def _first(usage: Mapping[str, object], *keys: str) -> int:
    """The first of ``keys`` present with a valid count (OpenAI renamed its fields)."""
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return count(value)
    return 0


def _split(total_in: int, cache_read: int, cache_write: int) -> tuple[int, int, int]:
    """``(input, cache_read, cache_write)`` from a total that includes the cache tokens;
    cache counts larger than the total are capped, so the input total is kept."""
    cache_read = min(cache_read, total_in)
    cache_write = min(cache_write, total_in - cache_read)
    return total_in - cache_read - cache_write, cache_read, cache_write


def from_openai(model: str, usage: Mapping[str, object], requests: int = 1) -> Usage:
    """OpenAI chat/responses usage: ``prompt_tokens``/``input_tokens`` include cached tokens."""
    prompt = _first(usage, "prompt_tokens", "input_tokens")
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    cached = count(_get(details, "cached_tokens")) or count(usage.get("cached_input_tokens"))
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details")
    reasoning = count(_get(out_details, "reasoning_tokens")) or count(
        usage.get("reasoning_output_tokens")
    )
    output = _first(usage, "completion_tokens", "output_tokens")
    input_, cache_read, cache_write = _split(
        prompt, cached, count(usage.get("cache_write_input_tokens"))
    )
    return Usage(
        model=model,
        input=input_,
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=min(reasoning, output),
        requests=requests,
    )


def from_otel(attributes: Mapping[str, object], requests: int = 1) -> Usage:
    """OpenTelemetry GenAI attributes: ``gen_ai.usage.input_tokens`` includes cache tokens."""
    model = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model")
    total_in = _first(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    output = _first(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    input_, cache_read, cache_write = _split(
        total_in,
        count(attributes.get("gen_ai.usage.cache_read.input_tokens")),
        count(attributes.get("gen_ai.usage.cache_creation.input_tokens")),
    )
    return Usage(
        model=model if isinstance(model, str) else "",
        input=input_,
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=min(count(attributes.get("gen_ai.usage.reasoning.output_tokens")), output),
        requests=requests,
    )


def from_gemini(model: str, metadata: Mapping[str, int], requests: int = 1) -> Usage:
    """Gemini ``usageMetadata``: the prompt includes cached content; thoughts bill as output;
    the tool-use prompt (``toolUsePromptTokenCount``, e.g. search results) is input beside the
    prompt (the total is prompt + candidates + tool-use prompt + thoughts)."""
    prompt = count(metadata.get("promptTokenCount"))
    cached = min(count(metadata.get("cachedContentTokenCount")), prompt)
    thoughts = count(metadata.get("thoughtsTokenCount"))
    return Usage(
        model=model,
        input=prompt - cached + count(metadata.get("toolUsePromptTokenCount")),
        output=count(metadata.get("candidatesTokenCount")) + thoughts,
        cache_read=cached,
        reasoning=thoughts,
        requests=requests,
    )
