"""Dollars for token usage: model-name normalisation, historic list prices, overrides and tiers.

Why this exists: the yield metrics need dollars per usage line, priced at the commit's date, with
long-context surcharges applied per request (never to a summed aggregate), negotiated rates from
configuration, and unknown models reported as *unpriced* rather than silently costing $0.

List prices come from genai-prices' bundled data (offline; ``UpdatePrices`` is never called).
``Usage.input`` excludes cache tokens (Anthropic convention); genai-prices' ``input_tokens`` is the
total, so the conversion happens once, when the per-token rates are derived (``_coefficients``).
See docs/pricing.md for the semantics and the configuration shapes.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.protocol.usage import Usage

if TYPE_CHECKING:  # genai-prices (and the HTTP client it imports) load at the first price asked
    from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices

__all__ = (
    "DEFAULT_TIER_BANDS",
    "FAST_MODE_MULTIPLIERS",
    "DEFAULT_TIER_NAMES",
    "MIN_COVERAGE",
    "OverrideConfig",
    "PROVIDER_ALIASES",
    "CostSummary",
    "ModelRef",
    "PriceBook",
    "PriceSource",
    "PricedUsage",
    "Rates",
    "cost_summary",
    "normalise_model",
)

MIN_COVERAGE = 0.5
"""Below this share of priced tokens, averages are withheld: they would describe the minority."""

DEFAULT_TIER_NAMES = ("economy", "standard", "frontier")
DEFAULT_TIER_BANDS = (Decimal(6), Decimal(20))
"""Upper bounds (exclusive, USD per million output tokens) of every tier but the last."""

PriceSource = Literal["genai-prices", "override", "unpriced"]

FAST_MODE_MULTIPLIERS: Mapping[str, Decimal] = {
    "claude-opus-4-6": Decimal(6),
    "claude-opus-4-7": Decimal(6),
    "claude-opus-4-8": Decimal(2),
}
"""Anthropic's fast mode (``speed=fast``): a multiple of every token rate of the model, long
context and cache rates included (web searches are not tokens). genai-prices has no speed, only
OpenRouter's ``-fast`` variants, which these match; ``price_overrides.fast_mode`` adds or
overrides entries. A fast line of any other model is unpriced, never priced at standard rates."""

_MTOK = 1_000_000

PROVIDER_ALIASES: Mapping[str, str] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "azure": "azure",
    "azure_ai": "azure",
    "google": "google",
    "gemini": "google",
    "google-gla": "google",
    "google-vertex": "google",
    "vertex": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "aws": "aws",
    "openrouter": "openrouter",
    "github-copilot": "github-copilot",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "groq": "groq",
    "x-ai": "x-ai",
    "xai": "x-ai",
    "together": "together",
    "together_ai": "together",
    "fireworks": "fireworks",
    "fireworks_ai": "fireworks",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "moonshot": "moonshotai",
    "moonshotai": "moonshotai",
    "cerebras": "cerebras",
    "zai": "zai",
}
"""Prefixes (``prefix/model`` as litellm/aider write them, ``prefix:model`` as our trailers and
pydantic-ai do) mapped to genai-prices provider ids. Unknown prefixes are left in the name."""

# Names that do not identify one model (Claude Code's floating aliases, placeholders).
_GENERIC = frozenset(
    {"", "claude", "opus", "sonnet", "haiku", "opusplan", "gpt", "gemini", "default", "auto",
     "unknown", "none", "null", "inherit"}
)  # fmt: skip

_BEDROCK_RE = re.compile(
    r"^(?:(?:us|us-gov|eu|apac|au|jp|ca|in|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer)\."
    r"(?P<name>.+?)(?P<version>-v\d+(?::\d+)?)?$"
)
_DECORATION_RE = re.compile(r"\s*[(\[][^)\]]*[)\]]")  # "(1M context)", "[1m]"
_CLAUDE_ALIAS_RE = re.compile(r"^(?:opus|sonnet|haiku)-\d")
_DOTTED_VERSION_RE = re.compile(r"(?<=\d)\.(?=\d)")
_GLOB_CHARS = frozenset("*?[")


# --------------------------------------------------------------------------- normalisation


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model name as reported, reduced to a provider (if stated) and a canonical model name.

    ``model`` is what reports group by and configuration matches; ``lookup`` is the spelling the
    provider's price list needs when it differs (Bedrock ids, OpenRouter's dotted names).
    """

    provider: str | None
    model: str
    raw: str
    lookup: str = ""

    @property
    def key(self) -> str:
        """``provider:model`` when the provider is known, else ``model``."""
        return f"{self.provider}:{self.model}" if self.provider else self.model

    @property
    def priceable(self) -> bool:
        """False for names that float between models ("Claude", "sonnet"): never guess a price."""
        return self.model not in _GENERIC

    @property
    def price_ref(self) -> str:
        return self.lookup or self.model


@lru_cache(maxsize=16384)
def normalise_model(name: str) -> ModelRef:
    """Reduce any reported model name to a ``ModelRef``; cached because names repeat a lot."""
    text = " ".join(name.split()).lower()
    provider, text = _peel_provider(text)
    if provider == "openrouter":
        return ModelRef(provider, _canonical(_strip_vendor(text)), name, lookup=text)
    if provider in (None, "aws"):
        bedrock = _BEDROCK_RE.match(text.removeprefix("converse/").removeprefix("invoke/"))
        if bedrock:
            return ModelRef("aws", _bedrock_model(bedrock), name, lookup=bedrock.group(0))
    model = _canonical(text)
    return ModelRef(provider, model, name, lookup=model)


def _peel_provider(text: str) -> tuple[str | None, str]:
    """Strip known ``provider/`` and ``provider:`` prefixes; the outermost (billing) one wins."""
    provider = None
    while provider != "openrouter":  # OpenRouter ids keep their own vendor/ prefix
        cut = min((i for i in (text.find("/"), text.find(":")) if i > 0), default=-1)
        alias = PROVIDER_ALIASES.get(text[:cut]) if cut > 0 else None
        if alias is None or cut == len(text) - 1:
            break
        provider, text = provider or alias, text[cut + 1 :]
    return provider, text


def _strip_vendor(text: str) -> str:
    """OpenRouter's ``anthropic/claude-sonnet-4.6:beta`` -> ``claude-sonnet-4.6``."""
    return text.rpartition("/")[2].partition(":")[0]


def _bedrock_model(match: re.Match[str]) -> str:
    name = _canonical(match.group("name"))
    # "anthropic.claude-v2:1": the "-v2" is the model, not an API version.
    return name + (match.group("version") or "") if name in _GENERIC else name


def _canonical(text: str) -> str:
    """Display names and vendor spellings -> one id: ``Claude Opus 4.6 (1M context)`` ->
    ``claude-opus-4-6``; Vertex's ``@version`` and Claude Code's ``[1m]`` are dropped."""
    text = _DECORATION_RE.sub("", text).partition("@")[0].strip()
    text = "-".join(text.split())
    if _CLAUDE_ALIAS_RE.match(text):
        text = "claude-" + text
    if text.startswith("claude-"):
        text = _DOTTED_VERSION_RE.sub("-", text)
    return text


# --------------------------------------------------------------------------- rates


@dataclass(frozen=True, slots=True)
class _Coef:
    """USD per million tokens in *our* semantics (input excludes cache), plus a per-request fee."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal  # a one-hour write; the 5-minute rate where there is no such price
    reasoning: Decimal = Decimal(0)  # surcharge on the reasoning subset of output (rarely non-zero)
    fixed: Decimal = Decimal(0)  # USD per request
    web_search: Decimal = Decimal(0)  # USD per web search (not per million)

    def times(self, multiplier: Decimal) -> _Coef:
        """Every token rate times ``multiplier`` (fast mode); per-request and search fees stay."""
        if multiplier == 1:
            return self
        m = multiplier
        return _Coef(
            self.input * m, self.output * m, self.cache_read * m, self.cache_write * m,
            self.cache_write_1h * m, self.reasoning * m, self.fixed, self.web_search,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-million-token prices of one model at one date (input excludes cache tokens).

    For models with long-context tiers these are the base (shortest-prompt) rates; ``tiered``
    says so. Cache rates are what a cached token actually costs, i.e. the input rate when the
    provider has no separate cache price.
    """

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    source: PriceSource
    provider_id: str | None
    model_id: str | None
    tiered: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class _Found:
    provider: Provider
    model: ModelInfo
    time_sensitive: bool  # off-peak prices (DeepSeek): the price depends on the time of day
    note: str


@lru_cache(maxsize=16384)
def _resolve(ref: ModelRef) -> _Found | str:
    """genai-prices' provider and model for a ref, or why there is none (cached, misses too)."""
    if not ref.priceable:
        return f"{ref.raw!r} does not name a specific model"
    from genai_prices.data_snapshot import get_snapshot

    snapshot = get_snapshot()
    try:
        provider, model = snapshot.find_provider_model(ref.price_ref, None, ref.provider, None)
        note = ""
    except LookupError as exc:
        if ref.provider is None:
            return f"no price for {ref.raw!r}: {exc}"
        try:  # e.g. OpenRouter or Bedrock spelling unknown: the vendor's own list price
            provider, model = snapshot.find_provider_model(ref.model, None, None, None)
        except LookupError:
            return f"no price for {ref.raw!r}: {exc}"
        note = f"no {ref.provider} price; priced at {provider.id} list price"
    return _Found(provider, model, _time_sensitive(model), note)


def _time_sensitive(model: ModelInfo) -> bool:
    from genai_prices.types import TimeOfDateConstraint

    conditional = model.prices if isinstance(model.prices, list) else []
    return any(isinstance(c.constraint, TimeOfDateConstraint) for c in conditional)


class _Table:
    """One model's prices at one date; rates per long-context tier are derived once and kept."""

    def __init__(self, prices: ModelPrice) -> None:
        from genai_prices.types import TieredPrices

        self._prices = prices
        self._tiered = {k: v for k, v in vars(prices).items() if isinstance(v, TieredPrices)}
        self._by_tier: dict[tuple[int, ...], _Coef | str] = {}
        self.base = self._coef((0,) * len(self._tiered))

    @property
    def tiered(self) -> bool:
        return bool(self._tiered)

    def for_usage(self, total_input: int, requests: int) -> tuple[_Coef | str, bool]:
        """Rates for a line of ``requests`` requests; the tier is the average request's.

        Thresholds compare genai-prices' total input per request: ``total / requests > start``,
        evaluated as ``total > start * requests`` to stay exact.
        """
        if not self._tiered:
            return self.base, False
        choice = tuple(_tier_index(t, total_input, requests) for t in self._tiered.values())
        return self._coef(choice), any(choice)

    def _coef(self, choice: tuple[int, ...]) -> _Coef | str:
        if choice not in self._by_tier:
            from genai_prices.types import ModelPrice

            flat = {**vars(self._prices)}
            for (key, tiers), index in zip(self._tiered.items(), choice, strict=True):
                flat[key] = tiers.base if index == 0 else tiers.tiers[index - 1].price
            self._by_tier[choice] = _coefficients(ModelPrice(**flat))
        return self._by_tier[choice]


def _tier_index(tiers: TieredPrices, total_input: int, requests: int) -> int:
    index = 0
    for i, tier in enumerate(tiers.tiers, start=1):
        if total_input > tier.start * requests:
            index = i
    return index


def _coefficients(prices: ModelPrice) -> _Coef | str:
    """Per-token rates in our semantics, measured with genai-prices' own calculator.

    Pricing a million tokens of each kind (cache tokens counted inside the total input, as
    genai-prices expects) reuses its unit decomposition, e.g. cache reads fall back to the input
    rate where a provider has no cache price. Prices without tiers are linear, so these rates
    reproduce ``calc_price`` exactly at a fraction of its ~100 µs cost.
    """

    from genai_prices import Usage as GPUsage

    def calc(**tokens: int) -> Decimal:
        return prices.calc_price(GPUsage(**tokens))["total_price"]

    try:
        fixed = calc()
        output = calc(output_tokens=_MTOK) - fixed
        return _Coef(
            input=calc(input_tokens=_MTOK) - fixed,
            output=output,
            cache_read=calc(input_tokens=_MTOK, cache_read_tokens=_MTOK) - fixed,
            cache_write=calc(input_tokens=_MTOK, cache_write_tokens=_MTOK) - fixed,
            cache_write_1h=calc(
                input_tokens=_MTOK, cache_write_tokens=_MTOK, cache_write_1h_tokens=_MTOK
            )
            - fixed,
            reasoning=calc(output_tokens=_MTOK, output_reasoning_tokens=_MTOK) - fixed - output,
            fixed=fixed,
            web_search=(calc(web_searches=_MTOK) - fixed).scaleb(-6),
        )
    except (ValueError, TypeError, KeyError) as exc:  # price units we cannot map to tokens
        return f"unsupported price structure: {exc}"


_TABLES: dict[int, tuple[ModelPrice, _Table]] = {}


def _shared_table(prices: ModelPrice) -> _Table:
    """One ``_Table`` per genai-prices price object: dates in the same price period share it."""
    hit = _TABLES.get(id(prices))
    if hit is not None and hit[0] is prices:
        return hit[1]
    table = _Table(prices)
    _TABLES[id(prices)] = (prices, table)  # holding ``prices`` keeps its id from being reused
    return table


@lru_cache(maxsize=65536)
def _table_on(ref: ModelRef, day: date) -> _Table | str:
    found = _resolve(ref)
    if isinstance(found, str):
        return found
    return _shared_table(found.model.get_prices(datetime.combine(day, time(12), UTC)))


def _table_at(ref: ModelRef, found: _Found, ts: datetime) -> _Table | str:
    """Cached per day; models with time-of-day prices (DeepSeek off-peak) look up each time."""
    if found.time_sensitive:
        return _shared_table(found.model.get_prices(ts))
    return _table_on(ref, ts.date())


def _cost(coef: _Coef, usage: Usage, requests: int) -> Decimal:
    one_hour = min(max(usage.cache_write_1h, 0), usage.cache_write)
    tokens = (
        coef.input * usage.input
        + coef.output * usage.output
        + coef.cache_read * usage.cache_read
        + coef.cache_write * (usage.cache_write - one_hour)
        + coef.cache_write_1h * one_hour
    )
    if coef.reasoning:
        tokens += coef.reasoning * min(max(usage.reasoning, 0), usage.output)
    usd = tokens.scaleb(-6)
    if usage.web_searches > 0:
        usd += coef.web_search * usage.web_searches
    return usd + coef.fixed * requests if coef.fixed else usd


def _timestamp(at: datetime | date | None) -> datetime:
    """UTC instant to price at; a bare date means noon UTC (standard, not off-peak, rates)."""
    if at is None:
        return datetime.now(UTC)
    if isinstance(at, datetime):
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return datetime.combine(at, time(12), UTC)


# --------------------------------------------------------------------------- configuration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _OverrideRule(_Strict):
    """Negotiated USD per million tokens; cache rates default to Anthropic's multipliers."""

    input: Decimal = Field(ge=0, allow_inf_nan=False)
    output: Decimal = Field(ge=0, allow_inf_nan=False)
    cache_read: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    cache_write: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    cache_write_1h: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    web_search: Decimal = Field(default=Decimal("0.01"), ge=0, allow_inf_nan=False)
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _OverrideRule:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def active(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def coef(self) -> _Coef:
        read = self.input * Decimal("0.1") if self.cache_read is None else self.cache_read
        write = self.input * Decimal("1.25") if self.cache_write is None else self.cache_write
        hour = self.input * 2 if self.cache_write_1h is None else self.cache_write_1h
        return _Coef(self.input, self.output, read, write, hour, web_search=self.web_search)


class OverrideConfig(_Strict):
    models: dict[str, list[_OverrideRule]] = {}
    provider_multipliers: dict[str, Decimal] = {}
    fast_mode: dict[str, Decimal] = {}

    @field_validator("fast_mode")
    @classmethod
    def _fast_mode(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for pattern, multiplier in value.items():
            if not pattern.strip():
                raise ValueError("empty model pattern")
            if not (Decimal(1) <= multiplier <= Decimal(100)):
                raise ValueError(f"{pattern!r}: fast-mode multiplier {multiplier} not in [1, 100]")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _one_rule_is_a_list(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {k: [v] if isinstance(v, Mapping) else v for k, v in value.items()}

    @field_validator("models")
    @classmethod
    def _patterns(cls, value: dict[str, list[_OverrideRule]]) -> dict[str, list[_OverrideRule]]:
        for pattern, rules in value.items():
            if not pattern.strip():
                raise ValueError("empty model pattern")
            if not rules:
                raise ValueError(f"{pattern!r}: empty list of rules")
        return value

    @field_validator("provider_multipliers")
    @classmethod
    def _multipliers(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        out = {}
        for provider, multiplier in value.items():
            if not (Decimal(0) < multiplier <= Decimal(2)):
                raise ValueError(
                    f"{provider!r}: multiplier {multiplier} must be in (0, 2]; 0.9 means 10% off"
                )
            key = provider.strip().lower()
            out[PROVIDER_ALIASES.get(key, key)] = multiplier
        return out


class _TierConfig(_Strict):
    names: tuple[str, ...] = DEFAULT_TIER_NAMES
    bands: tuple[Decimal, ...] | None = None
    basis: Literal["output", "blended"] = "output"
    blend_ratio: Decimal = Field(default=Decimal(3), gt=0, allow_inf_nan=False)
    models: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> _TierConfig:
        names = self.names
        if not names or any(not n.strip() for n in names) or len(set(names)) != len(names):
            raise ValueError(f"names must be distinct and non-empty, got {list(names)}")
        bands = self.bands if self.bands is not None else _default_bands(names)
        if len(bands) != len(names) - 1:
            raise ValueError(f"{len(names)} tiers need {len(names) - 1} bands, got {len(bands)}")
        if any(b <= 0 or not b.is_finite() for b in bands) or list(bands) != sorted(set(bands)):
            raise ValueError(f"bands must be positive and strictly increasing, got {list(bands)}")
        unknown = {t for t in self.models.values() if t not in names}
        if unknown:
            raise ValueError(f"models map to unknown tiers {sorted(unknown)}; tiers are {names}")
        return self

    @property
    def effective_bands(self) -> tuple[Decimal, ...]:
        return self.bands if self.bands is not None else _default_bands(self.names)


def _default_bands(names: tuple[str, ...]) -> tuple[Decimal, ...]:
    if len(names) != len(DEFAULT_TIER_BANDS) + 1:
        raise ValueError(f"bands are required for {len(names)} tiers (defaults fit three)")
    return DEFAULT_TIER_BANDS


_T = TypeVar("_T")


class _Patterns(Generic[_T]):
    """Config keys: exact names (normalised like usage names) first, then globs in file order."""

    def __init__(self, entries: Mapping[str, _T]) -> None:
        self._exact: dict[str, tuple[str, _T]] = {}
        self._globs: list[tuple[re.Pattern[str], str, _T]] = []
        for pattern, value in entries.items():
            text = pattern.strip().lower()
            if _GLOB_CHARS & set(text):
                self._globs.append((re.compile(fnmatch.translate(text)), pattern, value))
            else:
                self._exact.setdefault(normalise_model(text).key, (pattern, value))
                self._exact.setdefault(text, (pattern, value))

    def matches(self, groups: tuple[tuple[str, ...], ...]) -> list[tuple[str, _T]]:
        """(config key, value) pairs in precedence order: group by group, exact before glob."""
        found: dict[str, _T] = {}  # first match of each key keeps its place
        for names in groups:
            for pattern, value in [self._exact[n] for n in names if n in self._exact]:
                found.setdefault(pattern, value)
            for rx, pattern, value in self._globs:
                if any(rx.match(n) for n in names):
                    found.setdefault(pattern, value)
        return list(found.items())


def _invalid(what: str, exc: ValidationError) -> ValueError:
    details = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
    )
    return ValueError(f"invalid {what} configuration: {details}")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class PricedUsage:
    """One usage line with its dollars; ``usd is None`` means unpriced (unknown), never $0."""

    usage: Usage
    ref: ModelRef
    usd: Decimal | None
    source: PriceSource
    provider_id: str | None
    model_id: str | None
    tier: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class CostSummary:
    """Dollars of the priced lines, and how much of the token volume they cover."""

    priced_usd: Decimal
    priced_tokens: int
    total_tokens: int
    coverage: float
    unpriced_models: tuple[str, ...]

    @property
    def reliable(self) -> bool:
        """Whether averages mean anything: at least ``MIN_COVERAGE`` of tokens are priced."""
        return self.coverage >= MIN_COVERAGE

    def average(self, count: int) -> Decimal | None:
        """Priced dollars per item (e.g. per shipped task); None when coverage is too low.

        A lower bound when coverage < 1: unpriced tokens contribute nothing.
        """
        return self.priced_usd / count if self.reliable and count > 0 else None

    @property
    def usd_per_mtok(self) -> Decimal | None:
        """Average price of a priced million tokens; None when coverage is too low."""
        if not self.reliable or not self.priced_tokens:
            return None
        return self.priced_usd * _MTOK / self.priced_tokens

    @property
    def estimated_usd(self) -> Decimal | None:
        """Priced dollars scaled up to all tokens at the priced average; None below coverage."""
        if not self.reliable:
            return None
        if not self.priced_tokens:
            return self.priced_usd
        return self.priced_usd * self.total_tokens / self.priced_tokens


def cost_summary(priced: Iterable[PricedUsage]) -> CostSummary:
    """Sum priced dollars; unpriced lines count in ``total_tokens`` only (coverage < 1)."""
    usd, priced_tokens, total, unpriced = Decimal(0), 0, 0, set()
    for line in priced:
        tokens = line.usage.total_tokens
        total += tokens
        if line.usd is None:
            unpriced.add(line.ref.model or line.ref.raw)
        else:
            usd += line.usd
            priced_tokens += tokens
    coverage = priced_tokens / total if total else 1.0
    return CostSummary(usd, priced_tokens, total, coverage, tuple(sorted(unpriced)))


# --------------------------------------------------------------------------- the price book


class PriceBook:
    """List prices from genai-prices, negotiated overrides and the model -> tier map.

    Build it once (``from_config``) and reuse it: lookups are cached per model and date.
    """

    def __init__(self, overrides: OverrideConfig | None = None, tiers: _TierConfig | None = None):
        self._overrides = overrides or OverrideConfig()
        self._tiers = tiers or _TierConfig()
        self._rules = _Patterns({k: tuple(v) for k, v in self._overrides.models.items()})
        self._tier_map = _Patterns(self._tiers.models)
        self._multipliers = self._overrides.provider_multipliers
        self._fast = (_Patterns(self._overrides.fast_mode), _Patterns(FAST_MODE_MULTIPLIERS))
        self._rules_for = lru_cache(maxsize=16384)(self._rules_for_uncached)
        self._tier_for = lru_cache(maxsize=65536)(self._tier_uncached)

    @classmethod
    def from_config(
        cls, overrides: Mapping[str, Any] | None = None, tiers: Mapping[str, Any] | None = None
    ) -> PriceBook:
        """Validate the ``price_overrides`` and ``tiers`` settings; ValueError if bad."""
        try:
            parsed_overrides = OverrideConfig.model_validate(overrides or {})
        except ValidationError as exc:
            raise _invalid("price_overrides", exc) from exc
        try:
            parsed_tiers = _TierConfig.model_validate(tiers or {})
        except ValidationError as exc:
            raise _invalid("tiers", exc) from exc
        return cls(parsed_overrides, parsed_tiers)

    @property
    def tier_names(self) -> tuple[str, ...]:
        """Tier names, cheapest first."""
        return self._tiers.names

    def price(self, usage: Usage, at: datetime | date | None = None) -> PricedUsage:
        """Dollars for one usage line at ``at`` (the commit's date; None means now)."""
        ref = normalise_model(usage.model)
        ts = _timestamp(at)
        found = _resolve(ref)
        known = found if isinstance(found, _Found) else None
        provider_id = known.provider.id if known else ref.provider
        model_id = known.model.id if known else None
        tier = self._tier_for(ref, ts.date())
        speed = self._speed(ref, usage.speed)
        if min(usage.input, usage.output, usage.cache_read, usage.cache_write) < 0:
            usd, source, note = None, "unpriced", "negative token count"
        elif isinstance(speed, str):
            usd, source, note = None, "unpriced", speed
        elif (override := self._override(ref, ts.date())) is not None:
            pattern, rule = override
            model_id = model_id or ref.model
            usd = _cost(rule.coef().times(speed), usage, max(usage.requests, 1))
            source, note = "override", _join(f"override {pattern!r}", _speed_note(speed))
        elif known is None:
            usd, source, note = None, "unpriced", str(found)
        else:
            usd, note = self._list_cost(usage, ref, known, ts, speed)
            source = "unpriced" if usd is None else "genai-prices"
        return PricedUsage(usage, ref, usd, source, provider_id, model_id, tier, note)

    def _speed(self, ref: ModelRef, speed: str) -> Decimal | str:
        """The rate multiplier of a line's speed, or why there is none (the line is unpriced)."""
        if not speed:
            return Decimal(1)
        if speed != "fast":
            return f"unknown speed {speed!r}: no price for it"
        for table in self._fast:  # the configuration first, any match in it beats the defaults
            found = table.matches(_candidates(ref))
            if found:
                return found[0][1]
        return f"no fast-mode price for {ref.raw!r}; set price_overrides.fast_mode"

    def _list_cost(
        self, usage: Usage, ref: ModelRef, known: _Found, ts: datetime, speed: Decimal
    ) -> tuple[Decimal | None, str]:
        """List-price dollars (per-request tiers, fast mode, provider multiplier) and a note."""
        table = _table_at(ref, known, ts)
        if isinstance(table, str):
            return None, table
        requests = max(usage.requests, 1)
        coef, long_context = table.for_usage(usage.total_input, requests)
        if isinstance(coef, str):
            return None, coef
        usd = _cost(coef.times(speed), usage, requests)
        notes = [n for n in (known.note, _speed_note(speed)) if n]
        if long_context:
            notes.append(
                f"long-context rates ({usage.total_input // requests} input tokens/request)"
            )
        multiplier = self._multipliers.get(known.provider.id)
        if multiplier is not None:
            usd *= multiplier
            notes.append(f"x{multiplier} {known.provider.id} multiplier")
        return usd, "; ".join(notes)

    def price_all(
        self, usages: Iterable[Usage], at: datetime | date | None = None
    ) -> list[PricedUsage]:
        """Each line priced separately (never summed first: surcharges are per request)."""
        return [self.price(u, at) for u in usages]

    def tier_of(self, model: str | ModelRef, at: datetime | date | None = None) -> str | None:
        """Configured tier, else the price band of the model's list price; None if unknown."""
        ref = model if isinstance(model, ModelRef) else normalise_model(model)
        return self._tier_for(ref, _timestamp(at).date())

    def list_price(self, model: str | ModelRef, at: datetime | date | None = None) -> Rates | None:
        """Per-million rates at ``at``: genai-prices' list price (no multiplier), else an override.

        Meant for counterfactuals (the same usage on another tier's model) and for tier bands.
        """
        ref = model if isinstance(model, ModelRef) else normalise_model(model)
        return self._rates(ref, _timestamp(at))

    # -- internals

    def _rates(self, ref: ModelRef, ts: datetime) -> Rates | None:
        found = _resolve(ref)
        if isinstance(found, _Found):
            table = _table_at(ref, found, ts)
            if not isinstance(table, str) and not isinstance(table.base, str):
                c = table.base
                return Rates(
                    c.input, c.output, c.cache_read, c.cache_write, "genai-prices",
                    found.provider.id, found.model.id, table.tiered,
                )  # fmt: skip
        override = self._override(ref, ts.date())
        if override is None:
            return None
        c = override[1].coef()
        return Rates(
            c.input, c.output, c.cache_read, c.cache_write, "override", ref.provider, ref.model
        )

    def _override(self, ref: ModelRef, day: date) -> tuple[str, _OverrideRule] | None:
        for pattern, rules in self._rules_for(ref):
            for rule in rules:
                if rule.active(day):
                    return pattern, rule
        return None

    def _rules_for_uncached(
        self, ref: ModelRef
    ) -> tuple[tuple[str, tuple[_OverrideRule, ...]], ...]:
        return tuple(self._rules.matches(_candidates(ref)))

    def _tier_uncached(self, ref: ModelRef, day: date) -> str | None:
        explicit = self._tier_map.matches(_candidates(ref))
        if explicit:
            return explicit[0][1]
        rates = self._rates(ref, datetime.combine(day, time(12), UTC))
        if rates is None:
            return None
        cfg = self._tiers
        value = rates.output
        if cfg.basis == "blended":
            value = (cfg.blend_ratio * rates.input + rates.output) / (cfg.blend_ratio + 1)
        for name, bound in zip(cfg.names, cfg.effective_bands, strict=False):
            if value < bound:
                return name
        return cfg.names[-1]


def _speed_note(multiplier: Decimal) -> str:
    return f"fast mode: x{multiplier} rates" if multiplier != 1 else ""


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _candidates(ref: ModelRef) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names a config key may match: ``provider:model`` forms first (the billing provider is
    more specific than the model family), then bare names."""
    found = _resolve(ref)
    qualified = [f"{ref.provider}:{ref.model}"] if ref.provider else []
    bare = [ref.model]
    if isinstance(found, _Found):
        pid, mid = found.provider.id, found.model.id
        qualified += [f"{pid}:{ref.model}", f"{pid}:{mid}"]
        bare.append(mid)
    return tuple(dict.fromkeys(qualified)), tuple(dict.fromkeys(bare))
