"""The agent rule schema: what one signature rule says, its validation, and ``RuleSet``,
the compiled table the detector (``bot.agents.detect``) runs.

Rules are plain data so a new agent or a local convention is a configuration change, not a
code change (``RuleSet.from_config``); the built-in rows are ``bot.agents.table``. Compiling
puts each field's rules behind one literal precheck, so a value that matches nothing costs one
scan (see docs/agents.md, performance).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic import Field as PydField

from bot.agents.table import BUILTIN_RULES, address_rule, bot_rules
from bot.protocol.commit import parse_identity

MAX_IDENTITY = 320  # one name, e-mail or login
MAX_AGENT_NAME = 40  # an agent name captured from free text

# Strongest first; the rank decides the primary agent when several match.
STRENGTHS = ("github_id", "email", "trailer", "name", "message", "branch")
RANK = {s: len(STRENGTHS) - i for i, s in enumerate(STRENGTHS)}

# --- agent names ---------------------------------------------------------------------------

# Unambiguous spellings of agents named in free text (Assisted-by, Agent, config rules).
AGENT_ALIASES: Mapping[str, str] = {
    "claudecode": "claude-code",
    "claude-code-cli": "claude-code",
    "github-copilot": "copilot",
    "copilot-cli": "copilot",
    "copilot-agent": "copilot",
    "copilot-coding-agent": "copilot",
    "copilot-swe-agent": "copilot",
    "openai-codex": "codex",
    "codex-cli": "codex",
    "chatgpt-codex": "codex",
    "gemini-cli": "gemini",
    "google-gemini": "gemini",
    "devin-ai": "devin",
    "cursor-agent": "cursor",
    "google-jules": "jules",
    "amazon-q-developer": "amazon-q",
    "q-developer": "amazon-q",
    "open-hands": "openhands",
    "all-hands": "openhands",
    "openhands-agent": "openhands",
    "ampcode": "amp",
    "amp-code": "amp",
    "factory-droid": "factory",
    "droid": "factory",
    "open-code": "opencode",
    "warp-agent": "warp",
    "qwen-coder": "qwen-code",
    "qwen-code-cli": "qwen-code",
    "crush-cli": "crush",
}

_SLUG_SPACE = re.compile(r"[\s_/]+")
_SLUG_DROP = re.compile(r"[^\w.+-]+")


def canonical_agent(name: str) -> str | None:
    """Slug of a free-text agent name with aliases applied: ``Claude Code`` -> ``claude-code``."""
    slug = _SLUG_DROP.sub("", _SLUG_SPACE.sub("-", name[:200].strip().lower()))
    slug = re.sub(r"-{2,}", "-", slug)[:MAX_AGENT_NAME].strip("-.+")
    return AGENT_ALIASES.get(slug, slug) or None


# --- the rule schema -----------------------------------------------------------------------

MatchKind = Literal["equals", "prefix", "suffix", "contains", "regex", "present"]
_IDENTITY_ATTRS = {
    "name": "name",
    "email": "email",
    "login": "github_login",
    "github_id": "github_id",
}
_SIDES = ("author", "committer")
IDENTITY_FIELDS = tuple(f"{side}.{attr}" for side in _SIDES for attr in _IDENTITY_ATTRS)
TEXT_FIELDS = ("subject", "body", "message", "branch")
MULTILINE_FIELDS = frozenset({"body", "message"})
_TRAILER_KEY = re.compile(r"[A-Za-z0-9-]+\Z")
_DEFAULT_STRENGTH = {
    "github_id": "github_id",
    "email": "email",
    "login": "email",
    "name": "name",
    "subject": "message",
    "body": "message",
    "message": "message",
    "branch": "branch",
}
# Trailer-shaped lines of these keys are also looked for in the body, at "message" strength:
# squash merges list each commit's message, and prose next to a trailer hides it from git.
BODY_TRAILER_KEYS = (
    "co-authored-by",
    "assisted-by",
    "generated-by",
    "made-with",
    "claude-session",
    "amp-thread-id",
)


def _field_kind(field: str) -> str:
    """``"identity"``, ``"trailer"`` or the text field's own name; ValueError if unknown."""
    if field in IDENTITY_FIELDS:
        return "identity"
    if field in TEXT_FIELDS:
        return field
    if field.startswith("trailer:") and _TRAILER_KEY.match(field[8:]):
        return "trailer"
    raise ValueError(
        f"unknown field {field!r}; expected one of {', '.join(IDENTITY_FIELDS + TEXT_FIELDS)}"
        " or 'trailer:<Key>'"
    )


def _group_names(regex: re.Pattern[str], base: str) -> tuple[str, ...]:
    """Groups named ``base`` or ``base_<n>`` (one per alternative), in pattern order."""
    names = [(i, n) for n, i in regex.groupindex.items() if n == base or n.startswith(base + "_")]
    return tuple(n for _, n in sorted(names))


class Rule(BaseModel):
    """One signature. Plain data, so rules can come from TOML/JSON configuration.

    ``pattern`` may name groups ``model`` and ``agent`` (or ``model_2``, ``agent_2``... for
    alternatives, since Python forbids repeated names); ``agent`` may then be left out.
    ``hint`` lists literals, one of which must occur (case-insensitively) before a regex runs.
    ``role="either"`` marks evidence that the agent made the commit but not who wrote the change
    (aider's ``aider: `` subject): it takes the role of the commit's other evidence.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = PydField(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    enabled: bool = True
    agent: str | None = None
    field: str | None = None
    match: MatchKind = "contains"
    pattern: str = PydField("", max_length=1000)
    role: Literal["authored", "committed", "either"] = "authored"
    strength: Literal["github_id", "email", "trailer", "name", "message", "branch"] | None = None
    github_id: tuple[int, ...] = ()
    hint: tuple[str, ...] = ()
    case_sensitive: bool = False
    source: str = ""

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        if value is None:
            return None
        slug = canonical_agent(value)
        if not slug:
            raise ValueError(f"agent {value!r} has no letters or digits")
        return slug

    @field_validator("github_id", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        values = [value] if isinstance(value, int | str) else value
        if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values or ()):
            raise ValueError("github_id must be a positive integer or a list of them")
        return values

    @field_validator("hint", mode="before")
    @classmethod
    def _hints(cls, value: Any) -> Any:
        values = [value] if isinstance(value, str) else value
        if any(not isinstance(v, str) or not v for v in values or ()):
            raise ValueError("hint must be a non-empty string or a list of them")
        return [v.lower() for v in values]

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if not self.enabled:
            return self  # only disables the rule of the same id
        if self.field is None:
            raise ValueError("'field' is required")
        kind = _field_kind(self.field)
        if self.match != "present" and not self.pattern:
            raise ValueError(f"'pattern' is required for match={self.match!r}")
        regex = None
        if self.match == "regex":
            try:
                regex = re.compile(self.pattern, _flags(self, kind))
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        elif self.hint:
            raise ValueError("'hint' only applies to match='regex'")
        if self.agent is None and (regex is None or not _group_names(regex, "agent")):
            raise ValueError("'agent' is required unless the regex captures a group named agent")
        if self.github_id and kind not in ("identity", "trailer"):
            raise ValueError("'github_id' only applies to author.*, committer.* and trailer fields")
        return self


# --- compiled rules ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    id: str
    agent: str | None
    kind: str
    needle: str  # the pattern as compared: lower-cased unless case-sensitive
    regex: re.Pattern[str] | None
    hints: tuple[str, ...]
    ids: frozenset[int]
    role: str
    rank: int
    agent_groups: tuple[str, ...]
    model_groups: tuple[str, ...]
    case_sensitive: bool


def _flags(rule: Rule, kind: str) -> int:
    """The flags a rule's regex runs with; validation compiles with them too, so the table
    costs one compilation per regex (the second is a hit in ``re``'s cache)."""
    flags = 0 if rule.case_sensitive else re.IGNORECASE
    return flags | (re.MULTILINE if kind in MULTILINE_FIELDS else 0)


def compile_rule(rule: Rule, index: int) -> CompiledRule:
    assert rule.field is not None
    kind = _field_kind(rule.field)
    regex = re.compile(rule.pattern, _flags(rule, kind)) if rule.match == "regex" else None
    if rule.strength:
        strength = rule.strength
    elif kind in ("identity", "trailer"):
        strength = "trailer" if kind == "trailer" else _DEFAULT_STRENGTH[rule.field.split(".")[1]]
    else:
        strength = _DEFAULT_STRENGTH[kind]
    return CompiledRule(
        index=index,
        id=rule.id,
        agent=rule.agent,
        kind=rule.match,
        needle=rule.pattern if rule.case_sensitive else rule.pattern.lower(),
        regex=regex,
        hints=rule.hint,
        ids=frozenset(rule.github_id),
        role=rule.role,
        rank=RANK[strength],
        agent_groups=_group_names(regex, "agent") if regex else (),
        model_groups=_group_names(regex, "model") if regex else (),
        case_sensitive=rule.case_sensitive,
    )


@dataclass(frozen=True, slots=True)
class FieldBucket:
    """The rules of one field, arranged so a value that matches nothing costs one scan:
    exact matches by value; rules with a literal (pattern or hint) behind one ``gate`` regex
    of all those literals; the few without a literal (``present``, hint-less regexes) always run.
    """

    equals: Mapping[str, tuple[CompiledRule, ...]]
    gate: re.Pattern[str] | None
    gated: tuple[CompiledRule, ...]
    always: tuple[CompiledRule, ...]


def _literals(c: CompiledRule) -> tuple[str, ...]:
    if c.kind == "regex":
        return c.hints
    return () if c.kind == "present" else (c.needle.lower(),)


def _bucket(compiled: Sequence[CompiledRule]) -> FieldBucket:
    equals: dict[str, tuple[CompiledRule, ...]] = {}
    gated, always, literals = [], [], set()
    for c in compiled:
        if c.kind == "equals" and not c.case_sensitive:
            equals[c.needle] = (*equals.get(c.needle, ()), c)
        elif _literals(c):
            gated.append(c)
            literals.update(_literals(c))
        else:
            always.append(c)
    ordered = sorted(literals, key=lambda lit: (-len(lit), lit))
    gate = re.compile("|".join(map(re.escape, ordered))) if ordered else None
    return FieldBucket(equals, gate, tuple(gated), tuple(always))


def _validate(raw: Any, where: str) -> Rule:
    """One rule from configuration, or a ValueError that names it and says what is wrong."""
    if isinstance(raw, Rule):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"invalid {where}: expected a table of rule fields, got {type(raw).__name__}"
        )
    try:
        return Rule.model_validate(dict(raw))
    except ValidationError as exc:
        rid = raw.get("id")
        name = f"{where} ({rid!r})" if isinstance(rid, str) else where
        details = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ValueError(f"invalid {name}: {details}") from None


class RuleSet:
    """An immutable, compiled rule table: build once, use for every commit.

    ``by_identity``, ``by_text``, ``by_trailer`` and ``body_line`` are the compiled index the
    detector reads: each field's bucket of rules, and the regex of trailer-shaped body lines.
    """

    __slots__ = ("rules", "_by_id", "by_identity", "by_text", "by_trailer", "body_line")

    def __init__(self, rules: Iterable[Rule | Mapping[str, Any]]) -> None:
        validated = [_validate(r, f"rule #{i}") for i, r in enumerate(rules)]
        by_id: dict[str, Rule] = {}
        for rule in validated:
            if rule.id in by_id:
                raise ValueError(f"duplicate agent rule id {rule.id!r}")
            by_id[rule.id] = rule
        kept = tuple(r for r in validated if r.enabled)
        compiled = [compile_rule(r, i) for i, r in enumerate(kept)]
        by_field: dict[str, list[CompiledRule]] = {}
        for rule, c in zip(kept, compiled, strict=True):
            assert rule.field is not None
            key = rule.field.lower() if rule.field.startswith("trailer:") else rule.field
            by_field.setdefault(key, []).append(c)
        identity = tuple(
            (f, f.split(".")[0], _IDENTITY_ATTRS[f.split(".")[1]], _bucket(by_field[f]))
            for f in IDENTITY_FIELDS
            if f in by_field
        )
        text = tuple((f, _bucket(by_field[f])) for f in TEXT_FIELDS if f in by_field)
        trailers = {k[8:]: _bucket(v) for k, v in by_field.items() if k.startswith("trailer:")}
        body_keys = [re.escape(k) for k in BODY_TRAILER_KEYS if k in trailers]
        body_line = re.compile(rf"^ {{0,3}}({'|'.join(body_keys)}):", re.MULTILINE)
        for name, value in (
            ("rules", kept),
            ("_by_id", {r.id: r for r in kept}),
            ("by_identity", identity),
            ("by_text", text),
            ("by_trailer", trailers),
            ("body_line", body_line if body_keys else None),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("RuleSet is immutable; build a new one with extend()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("RuleSet is immutable")

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def __getitem__(self, rule_id: str) -> Rule:
        """The rule of that id, e.g. to show the strength or source behind an Evidence."""
        return self._by_id[rule_id]

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules)"

    def extend(self, extra: Iterable[Mapping[str, Any]]) -> RuleSet:
        """A new set with ``extra`` added; an entry with an existing id replaces that rule in
        place, and ``{"id": ..., "enabled": false}`` removes it."""
        if isinstance(extra, str | bytes | Mapping):
            raise ValueError("agent_rules must be a list of rule tables")
        rules = {r.id: r for r in self.rules}
        seen: set[str] = set()
        for i, raw in enumerate(extra):
            rule = _validate(raw, f"agent_rules[{i}]")
            if rule.id in seen:
                raise ValueError(f"invalid agent_rules[{i}] ({rule.id!r}): id used twice")
            seen.add(rule.id)
            if not rule.enabled and rule.id not in rules:
                raise ValueError(f"invalid agent_rules[{i}] ({rule.id!r}): no such rule to disable")
            rules[rule.id] = rule
        return RuleSet(rules.values())

    @classmethod
    def from_config(
        cls,
        extra: Iterable[Mapping[str, Any]],
        base: RuleSet | None = None,
        identities: Iterable[AgentIdentity | Mapping[str, Any]] = (),
    ) -> RuleSet:
        """The built-in rules (or ``base``) extended by the ``agent_rules`` setting, then by
        the rules of the declared ``agent_identities``."""
        rules = (DEFAULT_RULES if base is None else base).extend(extra)
        return rules.with_identities(agent_identities(identities))

    def with_identities(self, identities: Sequence[AgentIdentity]) -> RuleSet:
        """This set plus the rules of ``identities`` (a repository's or the server's own agent
        accounts); one identity declared twice keeps the later declaration. None: this set."""
        return _with_identities(self, tuple(identities)) if identities else self


# --- declared agent identities -------------------------------------------------------------

_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?\Z")
_EMAIL = re.compile(r"[^\s@<>]{1,200}@[^\s@<>]{1,200}\Z")


class AgentIdentity(BaseModel):
    """A team's own agent account, declared in configuration: ``match`` is a GitHub login
    (``acme-claude[bot]``), an e-mail address, or a git identity ``Name <email>`` (the e-mail
    decides; the name is free text). ``github_id`` pins a login to its account, so another
    account using the name is refused and reported, as for the built-in bots."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    match: str = PydField(min_length=1, max_length=MAX_IDENTITY)
    agent: str = PydField(min_length=1, max_length=200)
    github_id: int | None = PydField(None, gt=0)

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        slug = canonical_agent(value)
        if not slug:
            raise ValueError(f"agent {value!r} has no letters or digits")
        return slug

    @field_validator("match")
    @classmethod
    def _match(cls, value: str) -> str:
        if _LOGIN.match(value.strip()) or _EMAIL.match(parse_identity(value).email):
            return value.strip()
        raise ValueError(
            "expected a GitHub login such as 'acme-claude[bot]', an e-mail address, or "
            "'Name <email>'"
        )

    def rules(self) -> list[dict[str, Any]]:
        """The rules recognising this identity: a login's as a bot's (API id, login, noreply
        e-mail, name, co-author); an e-mail's as author and as co-author."""
        key = re.sub(r"[^A-Za-z0-9_.:-]+", "-", self.match.lower()).strip("-")[:80]
        prefix, source = f"identity.{key}", f"declared agent identity {self.match!r}"
        if _LOGIN.match(self.match):
            return bot_rules(self.agent, prefix, self.match, self.github_id, source)
        email = parse_identity(self.match).email
        ids = {"github_id": self.github_id} if self.github_id else {}
        return [
            {"id": f"{prefix}.email", "agent": self.agent, "field": "author.email",
             "match": "equals", "pattern": email, **ids, "source": source},
            {"id": f"{prefix}.coauthor", "agent": self.agent, "field": "trailer:Co-authored-by",
             **address_rule(email), **ids, "source": source},
        ]  # fmt: skip


def agent_identities(
    entries: Iterable[AgentIdentity | Mapping[str, Any]], where: str = "agent_identities"
) -> tuple[AgentIdentity, ...]:
    """Validated identities, or a ValueError naming the entry and what is wrong with it."""
    if isinstance(entries, str | bytes | Mapping):
        raise ValueError(f"{where} must be a list of tables with 'match' and 'agent'")
    found = []
    for i, raw in enumerate(entries):
        try:
            found.append(AgentIdentity.model_validate(raw))
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ValueError(f"invalid {where}[{i}]: {details}") from None
    return tuple(found)


@lru_cache(maxsize=64)
def _with_identities(base: RuleSet, identities: tuple[AgentIdentity, ...]) -> RuleSet:
    """Cached: the App builds the rule set of a repository's identities on every delivery."""
    rules = {r.id: r for r in base}
    for identity in identities:
        for raw in identity.rules():
            rules[raw["id"]] = _validate(raw, f"agent identity {identity.match!r}")
    return RuleSet(rules.values())


DEFAULT_RULES = RuleSet(BUILTIN_RULES)
