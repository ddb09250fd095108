"""Token usage of one model, in the protocol's semantics, and conversions from other conventions.

Protocol semantics (docs/trailers.md): ``input`` counts input tokens *excluding* cache reads and
cache writes (as Anthropic reports them); ``output`` counts all billed output tokens *including*
reasoning tokens; ``reasoning`` is the informational subset of ``output`` spent on reasoning.
OpenAI and OpenTelemetry count cached tokens inside their input totals, so they are converted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

TOKEN_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning", "requests")


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one model used; ``cost`` is what the agent itself reported, if anything."""

    model: str
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    requests: int = 0
    cost: Decimal | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def total_input(self) -> int:
        """Input including cache reads and writes (the OpenTelemetry / genai-prices convention)."""
        return self.input + self.cache_read + self.cache_write

    @property
    def total_tokens(self) -> int:
        return self.total_input + self.output

    def __add__(self, other: Usage) -> Usage:
        if other.model != self.model:
            raise ValueError(f"cannot add usage of {other.model!r} to {self.model!r}")
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        return replace(
            self,
            cost=cost,
            **{f: getattr(self, f) + getattr(other, f) for f in TOKEN_FIELDS},
        )


def merge_by_model(usages: Iterable[Usage]) -> list[Usage]:
    """Sum usage per model, keeping first-seen order (one trailer line per model)."""
    merged: dict[str, Usage] = {}
    for u in usages:
        merged[u.model] = merged[u.model] + u if u.model in merged else u
    return list(merged.values())


def from_anthropic(model: str, usage: Mapping[str, int], requests: int = 1) -> Usage:
    """Anthropic ``message.usage``: ``input_tokens`` already excludes cache tokens."""
    return Usage(
        model=model,
        input=int(usage.get("input_tokens") or 0),
        output=int(usage.get("output_tokens") or 0),
        cache_read=int(usage.get("cache_read_input_tokens") or 0),
        cache_write=int(usage.get("cache_creation_input_tokens") or 0),
        requests=requests,
    )


def from_openai(model: str, usage: Mapping[str, object], requests: int = 1) -> Usage:
    """OpenAI chat/responses usage: ``prompt_tokens``/``input_tokens`` include cached tokens."""
    prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
    completion = int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = int(details.get("cached_tokens", 0) or 0) if isinstance(details, Mapping) else 0
    cached = cached or int(usage.get("cached_input_tokens", 0) or 0)
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    reasoning = (
        int(out_details.get("reasoning_tokens", 0) or 0) if isinstance(out_details, Mapping) else 0
    )
    reasoning = reasoning or int(usage.get("reasoning_output_tokens", 0) or 0)
    cache_write = int(usage.get("cache_write_input_tokens", 0) or 0)
    return Usage(
        model=model,
        input=max(prompt - cached - cache_write, 0),
        output=completion,
        cache_read=cached,
        cache_write=cache_write,
        reasoning=reasoning,
        requests=requests,
    )


def from_otel(attributes: Mapping[str, object], requests: int = 1) -> Usage:
    """OpenTelemetry GenAI attributes: ``gen_ai.usage.input_tokens`` includes cache tokens."""
    model = str(
        attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model") or ""
    )
    total_in = int(
        attributes.get("gen_ai.usage.input_tokens")
        or attributes.get("gen_ai.usage.prompt_tokens")
        or 0
    )
    cache_read = int(attributes.get("gen_ai.usage.cache_read.input_tokens") or 0)
    cache_write = int(attributes.get("gen_ai.usage.cache_creation.input_tokens") or 0)
    output = int(
        attributes.get("gen_ai.usage.output_tokens")
        or attributes.get("gen_ai.usage.completion_tokens")
        or 0
    )
    return Usage(
        model=model,
        input=max(total_in - cache_read - cache_write, 0),
        output=output,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=int(attributes.get("gen_ai.usage.reasoning.output_tokens") or 0),
        requests=requests,
    )


def from_gemini(model: str, metadata: Mapping[str, int], requests: int = 1) -> Usage:
    """Gemini ``usageMetadata``: the prompt includes cached content; thoughts bill as output."""
    prompt = int(metadata.get("promptTokenCount") or 0)
    cached = int(metadata.get("cachedContentTokenCount") or 0)
    thoughts = int(metadata.get("thoughtsTokenCount") or 0)
    return Usage(
        model=model,
        input=max(prompt - cached, 0),
        output=int(metadata.get("candidatesTokenCount") or 0) + thoughts,
        cache_read=cached,
        reasoning=thoughts,
        requests=requests,
    )
