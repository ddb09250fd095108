"""One commit, read whole: its trailers, protocol record, agent detection and priced usage.

Pure: no database, no network. The audit, the webhook worker and ``trailers parse`` all read
commits through ``Analyser.analyse`` so they can never disagree about a commit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.agents.detect import Detection, detect
from bot.agents.rules import DEFAULT_RULES, RuleSet
from bot.pricing.prices import PriceBook, PricedUsage
from bot.protocol.codec import ProtocolRecord, parse_record
from bot.protocol.commit import CommitInfo
from bot.protocol.trailers import parse_trailers
from bot.protocol.usage import Usage


@dataclass(frozen=True, slots=True)
class CommitAnalysis:
    commit: CommitInfo
    trailers: tuple[tuple[str, str], ...]
    record: ProtocolRecord
    detection: Detection
    usage: tuple[PricedUsage, ...]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``yield-auditor trailers parse`` (docs/trailers.md)."""
        return {
            "trailers": [list(t) for t in self.trailers],
            "record": _record_dict(self.record),
            "agent": _jsonable(asdict(self.detection)),
            "usage": [_priced_dict(p) for p in self.usage],
            "warnings": list(self.warnings),
        }


class Analyser:
    """Holds the configured rule table and price book, built once for many commits
    (``bot.config.Settings.analyser`` builds it from the settings)."""

    def __init__(self, rules: RuleSet = DEFAULT_RULES, prices: PriceBook | None = None):
        self.rules = rules
        self.prices = prices if prices is not None else PriceBook.from_config(None, None)

    def analyse(self, commit: CommitInfo, divider: bool = False) -> CommitAnalysis:
        """``divider`` applies git's ``---`` rule: on for message files, off for stored commits."""
        trailers = parse_trailers(commit.message, divider)
        record, warnings = parse_record(trailers)
        detection = detect(commit, trailers, self.rules)
        when = commit.authored_at or commit.committed_at or datetime.now(UTC)
        priced = tuple(self.prices.price(u, when) for u in record.usage)
        return CommitAnalysis(commit, tuple(trailers), record, detection, priced, tuple(warnings))


def _usage_dict(usage: Usage) -> dict[str, Any]:
    """A usage line under the protocol's own key names (``in``, ``out``, ...)."""
    return {
        "model": usage.model,
        "in": usage.input,
        "out": usage.output,
        "cache_read": usage.cache_read,
        "cache_write": usage.cache_write,
        "cache_write_1h": usage.cache_write_1h,
        "reasoning": usage.reasoning,
        "requests": usage.requests,
        "web_searches": usage.web_searches,
        "speed": usage.speed,
        "long_context": usage.long_context,
        "cost": None if usage.cost is None else str(usage.cost),
        "extra": [list(pair) for pair in usage.extra],
    }


def _record_dict(record: ProtocolRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in record.__dataclass_fields__}
    fields["usage"] = [_usage_dict(u) for u in record.usage]
    return {k: v if k == "usage" else _jsonable(v) for k, v in fields.items()}


def _priced_dict(priced: PricedUsage) -> dict[str, Any]:
    line = _usage_dict(priced.usage)
    model, reported = line.pop("model"), line.pop("cost")
    return {
        "model": model,
        "provider": priced.provider_id,
        "model_id": priced.model_id,
        "tier": priced.tier,
        **line,
        "reported_cost": reported,
        "usd": None if priced.usd is None else str(priced.usd),
        "price_source": priced.source,
        "note": priced.note,
    }


def _jsonable(value: Any) -> Any:
    if is_dataclass(value):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
