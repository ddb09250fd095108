"""Recognise the signatures coding agents leave on commits, from a data table of rules.

Few agents write our trailer protocol, but nearly all leave a mark: a bot identity, a
``Co-authored-by`` trailer, a body line, a branch prefix. Each mark is one row of
``BUILTIN_RULES`` (sources in docs/agents.md and /work/shared/reference/agent-attribution.md),
so a new agent or a local convention is a configuration change, not a code change
(``RuleSet.from_config``). Every match carries its evidence so a reviewer can see *why* a
commit was classified.

Names and e-mails are free text anyone can set. GitHub ids are not: a rule that declares its
bot's ``github_id`` only counts when the identity's id agrees (the API id, else the id inside a
``<id>+<login>@users.noreply.github.com`` address, which is how GitHub itself attributes it);
a disagreement is reported in ``Detection.mismatches`` instead.

Work is linear in the input: patterns are compiled once per ``RuleSet``, every rule has a
literal precheck before any regex runs, regexes only see capped values, and each rule yields
at most one piece of evidence per commit.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic import Field as PydField

from bot.protocol.commit import CommitInfo, Identity, parse_identity

# --- limits: what is scanned, so hostile input costs linear time at most --------------------

MAX_MESSAGE_SCAN = 256 * 1024  # longer messages: the first 3/4 and the last 1/4 of this
MAX_VALUE = 1000  # one trailer value, subject line or branch name
MAX_IDENTITY = 320  # one name, e-mail or login
MAX_MATCHED = 200  # Evidence.matched
MAX_AGENT_NAME = 40  # an agent name captured from free text
MAX_AGENTS_PER_RULE = 8  # distinct agents one capturing rule (Assisted-by...) may report

# --- the public result ---------------------------------------------------------------------

Role = Literal["authored", "committed", "none"]
ROLES = ("authored", "committed", "none")

# Strongest first; the rank decides the primary agent when several match.
STRENGTHS = ("github_id", "email", "trailer", "name", "message", "branch")
_RANK = {s: len(STRENGTHS) - i for i, s in enumerate(STRENGTHS)}

UNKNOWN_AGENT = "unknown"  # a policy trailer that names only a model
_PLACEHOLDER_MODELS = frozenset({"", "unknown", "unknown-model", "none", "n/a"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """One rule that matched: which rule, on which field, and the text it saw.

    ``agent`` is the agent the rule attributes (needed when the rule captures the agent name
    from the text); ``note`` explains a mismatch and is empty otherwise.
    """

    rule: str
    field: str
    matched: str
    agent: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Detection:
    """The verdict for one commit; ``mismatches`` lists identity matches refused on GitHub id."""

    agent: str | None
    role: Role
    model: str | None
    evidence: tuple[Evidence, ...]
    agents: tuple[str, ...]
    mismatches: tuple[Evidence, ...] = ()

    @property
    def refused(self) -> tuple[str, ...]:
        """``refused_claims`` of this verdict: what a report must name, not drop silently."""
        return refused_claims(self.mismatches, self.agents)

    def stored_evidence(self) -> list[dict[str, str]] | None:
        """The JSON document the ledger keeps with the commit: the evidence, then the refused
        matches (each with its note); None when there is neither."""
        found = [asdict(e) for e in (*self.evidence, *self.mismatches)]
        return found or None


def refused_claims(mismatches: Iterable[Evidence], credited: Collection[str]) -> tuple[str, ...]:
    """The identities claimed with another account's GitHub id, for agents not in ``credited``
    (those the commit counts for anyway). Each is the claimed name or login when one was
    refused, else the refused value itself (an e-mail, a trailer)."""
    claims: dict[str, str] = {}
    for m in sorted(mismatches, key=lambda m: not m.field.endswith((".name", ".login"))):
        if m.agent not in credited:
            claims.setdefault(m.agent, m.matched)
    return tuple(dict.fromkeys(claims.values()))


def stored_refusals(document: Any) -> tuple[str, ...]:
    """``refused_claims`` of a stored evidence document (``Detection.stored_evidence``)."""
    entries = [
        Evidence(**{k: str(e.get(k) or "") for k in Evidence.__slots__})
        for e in document or ()
        if isinstance(e, Mapping)
    ]
    credited = {e.agent for e in entries if not e.note}
    return refused_claims([e for e in entries if e.note], credited)


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
_MULTILINE_FIELDS = frozenset({"body", "message"})
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
class _Compiled:
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
    return flags | (re.MULTILINE if kind in _MULTILINE_FIELDS else 0)


def _compile(rule: Rule, index: int) -> _Compiled:
    assert rule.field is not None
    kind = _field_kind(rule.field)
    regex = re.compile(rule.pattern, _flags(rule, kind)) if rule.match == "regex" else None
    if rule.strength:
        strength = rule.strength
    elif kind in ("identity", "trailer"):
        strength = "trailer" if kind == "trailer" else _DEFAULT_STRENGTH[rule.field.split(".")[1]]
    else:
        strength = _DEFAULT_STRENGTH[kind]
    return _Compiled(
        index=index,
        id=rule.id,
        agent=rule.agent,
        kind=rule.match,
        needle=rule.pattern if rule.case_sensitive else rule.pattern.lower(),
        regex=regex,
        hints=rule.hint,
        ids=frozenset(rule.github_id),
        role=rule.role,
        rank=_RANK[strength],
        agent_groups=_group_names(regex, "agent") if regex else (),
        model_groups=_group_names(regex, "model") if regex else (),
        case_sensitive=rule.case_sensitive,
    )


@dataclass(frozen=True, slots=True)
class _Bucket:
    """The rules of one field, arranged so a value that matches nothing costs one scan:
    exact matches by value; rules with a literal (pattern or hint) behind one ``gate`` regex
    of all those literals; the few without a literal (``present``, hint-less regexes) always run.
    """

    equals: Mapping[str, tuple[_Compiled, ...]]
    gate: re.Pattern[str] | None
    gated: tuple[_Compiled, ...]
    always: tuple[_Compiled, ...]


def _literals(c: _Compiled) -> tuple[str, ...]:
    if c.kind == "regex":
        return c.hints
    return () if c.kind == "present" else (c.needle.lower(),)


def _bucket(compiled: Sequence[_Compiled]) -> _Bucket:
    equals: dict[str, tuple[_Compiled, ...]] = {}
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
    return _Bucket(equals, gate, tuple(gated), tuple(always))


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
    """An immutable, compiled rule table: build once, use for every commit."""

    __slots__ = ("rules", "_by_id", "_identity", "_text", "_trailers", "_body_line")

    def __init__(self, rules: Iterable[Rule | Mapping[str, Any]]) -> None:
        validated = [_validate(r, f"rule #{i}") for i, r in enumerate(rules)]
        by_id: dict[str, Rule] = {}
        for rule in validated:
            if rule.id in by_id:
                raise ValueError(f"duplicate agent rule id {rule.id!r}")
            by_id[rule.id] = rule
        kept = tuple(r for r in validated if r.enabled)
        compiled = [_compile(r, i) for i, r in enumerate(kept)]
        by_field: dict[str, list[_Compiled]] = {}
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
            ("_identity", identity),
            ("_text", text),
            ("_trailers", trailers),
            ("_body_line", body_line if body_keys else None),
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
            return _bot(self.agent, prefix, self.match, self.github_id, source)
        email = parse_identity(self.match).email
        ids = {"github_id": self.github_id} if self.github_id else {}
        return [
            {"id": f"{prefix}.email", "agent": self.agent, "field": "author.email",
             "match": "equals", "pattern": email, **ids, "source": source},
            {"id": f"{prefix}.coauthor", "agent": self.agent, "field": "trailer:Co-authored-by",
             **_address(email), **ids, "source": source},
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


# --- the built-in table --------------------------------------------------------------------
# Ordered by agent; within an agent, strongest first. `source` names the upstream evidence and
# the section of the shared research note agent-attribution.md that quotes it.

_NOREPLY_TAIL = r"@users\.noreply\.github\.com"
GITHUB_ACTIONS_BOT_ID = 41898282  # github-actions[bot]: the Claude action's default bot_id


# What may stand around a whole address in a trailer value: ``champ@ampcode.com`` is not
# ``amp@ampcode.com``. ``+`` may also come before one, as in a ``<id>+<login>`` noreply address.
_ADDRESS_START = r"(?:^|[\s<,;:\"'(])"
_ADDRESS_START_AFTER_ID = r"(?:^|[\s<,;:\"'(+])"
_ADDRESS_END = r"(?:$|[\s>,;:\"')])"


def _address(address: str, after_id: bool = False) -> dict[str, Any]:
    """A regex rule body matching ``address`` as a whole address in a trailer value;
    ``after_id`` also allows the ``<id>+`` of a GitHub noreply address before it."""
    start = _ADDRESS_START_AFTER_ID if after_id else _ADDRESS_START
    pattern = f"{start}{re.escape(address)}{_ADDRESS_END}"
    return {"match": "regex", "pattern": pattern, "hint": address.lower()}


def _bot(
    agent: str, prefix: str, login: str, bot_id: int | None, source: str, also: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """The rules of a GitHub bot account: API id, login, noreply e-mail, name, co-author.

    ``bot_id`` is the account's own id (None: unknown, so any id is accepted); ``also`` lists
    the ids of documented default identities that use the login with another account's id.
    """
    esc = re.escape(login)
    ids = {"github_id": [bot_id, *also]} if bot_id is not None else {}
    return [
        *([{"id": f"{prefix}.bot-id", "agent": agent, "field": "author.github_id",
            "match": "equals", "pattern": str(bot_id), "source": source}] if bot_id else []),
        {"id": f"{prefix}.bot-login", "agent": agent, "field": "author.login", "match": "equals",
         "pattern": login, **ids, "source": source},
        {"id": f"{prefix}.bot-email", "agent": agent, "field": "author.email", "match": "regex",
         "pattern": rf"^(?:\d{{1,20}}\+)?{esc}{_NOREPLY_TAIL}$", "hint": f"{login}@users.noreply",
         **ids, "source": source},
        {"id": f"{prefix}.bot-name", "agent": agent, "field": "author.name", "match": "equals",
         "pattern": login, **ids, "source": source},
        {"id": f"{prefix}.bot-coauthor", "agent": agent, "field": "trailer:Co-authored-by",
         **_address(f"{login}@users.noreply.github.com", after_id=True), **ids, "source": source},
    ]  # fmt: skip


def _generated_with(agent: str, name: str, source: str) -> dict[str, Any]:
    """An agent's ``Generated with <name>`` footer line: with the Markdown link anything may
    follow; bare, the name must end the line (an optional ``(model)`` aside), so prose such as
    ``Generated with Devin's script`` or ``Generated with opencode-gen`` is not a footer."""
    esc = re.escape(name).replace("\\ ", " ")
    return {
        "id": f"{agent}.generated-line", "agent": agent, "field": "body", "match": "regex",
        "pattern": rf"^[^\w\n]{{0,8}}generated with (?:\[{esc}\]|{esc}"
                   rf"(?:[ \t]{{1,4}}\((?P<model>[^()\n]{{1,80}})\))?[^\w\n]{{0,8}}$)",
        "hint": [f"generated with [{name.lower()}]", f"generated with {name.lower()}"],
        "source": source,
    }  # fmt: skip


_MODEL_ID = (
    r"(?:[a-z0-9_-]{1,30}/)?(?:(?:claude|gpt|chatgpt|gemini|o[1-9]|codex|llama|mistral|codestral"
    r"|devstral|qwen|deepseek|grok|kimi|glm|sonnet|opus|haiku)[-.][\w.:-]{0,100}|o[1-9])"
)
_MODEL_DISPLAY = r"(?:claude|gemini|gpt)(?:[ \t]{1,4}(?!code\b|cli\b)[\w.]{1,20}){1,4}"
# Assisted-by / Generated-by values, each alternative bounded so a value costs O(its length):
#   Claude:claude-3-opus coccinelle  (kernel AGENT:MODEL [tools])   -> agent, model
#   Claude Code claude-sonnet-4-5 | claude-opus-4-6 | Claude Opus 4.6 -> [agent], model
#   Claude (Claude Sonnet 4.6) | Claude Code [claude-opus-4]          -> agent, model
#   Codex / gpt-6-astra                                               -> agent, model
#   generic LLM chatbot | ChatGPTv5  (Fedora free text)               -> agent
# A value holding an e-mail address names a person who helped, not a tool.
_POLICY = (
    r"^(?![^\n]{0,1000}<[^<>@\n]{1,320}@[^<>\n]{1,320}>)(?:"
    r"(?P<agent>[^\s:()\[\]/][^:()\[\]/]{0,63}?)[ \t]{0,4}:[ \t]{0,4}"
    r"(?P<model>[^\s()\[\],;]{1,120})"
    r"|(?:(?P<agent_2>[^:()\[\]/]{1,64}?)[ \t]{1,4})?"
    rf"(?P<model_2>{_MODEL_ID}|{_MODEL_DISPLAY})$"
    r"|(?P<agent_3>[^:()\[\]/]{1,64}?)[ \t]{0,4}[(\[][ \t]{0,4}"
    r"(?P<model_3>[^()\[\]]{1,120}?)[ \t]{0,4}[)\]]"
    r"|(?P<agent_4>[^:()\[\]/]{1,64}?)[ \t]{1,4}/[ \t]{0,4}(?P<model_4>[^\s()\[\]]{1,120})"
    r"|(?P<agent_5>\S[^\n]{0,63})"
    r")"
)
# Generated-by also names code generators (protoc, make targets): it only counts when the
# value names an AI tool, model family or the words AI/LLM.
_AI_WORDS = (
    "claude", "anthropic", "chatgpt", "gpt", "openai", "codex", "copilot", "gemini", "jules",
    "devin", "cursor", "aider", "llama", "mistral", "codestral", "devstral", "qwen", "deepseek",
    "grok", "kimi", "glm", "windsurf", "cody", "tabnine", "amazon q", "q developer", "openhands",
    "amp", "opencode", "warp", "droid", "llm", "ai", "sonnet", "opus", "haiku", "o1", "o3", "o4",
)  # fmt: skip
_AI_NAMED = (
    rf"^(?=[^\n]{{0,1000}}?(?<![a-z0-9])(?:{'|'.join(map(re.escape, _AI_WORDS))})(?![a-z0-9]))"
)

BUILTIN_RULES: tuple[dict[str, Any], ...] = (
    # Claude Code (reference §1)
    *_bot("claude-code", "claude-code", "claude[bot]", 209825114,
          "anthropics/claude-code-action src/github/operations/git-config.ts (§1.3); its "
          "docs/usage.md bot_id default 41898282 (github-actions[bot]'s id) with claude[bot]",
          also=[GITHUB_ACTIONS_BOT_ID]),
    {"id": "claude-code.author-email", "agent": "claude-code", "field": "author.email",
     "match": "equals", "pattern": "noreply@anthropic.com",
     "source": "Claude Code's own identity, Claude <noreply@anthropic.com>, as the author (§1.1)"},
    {"id": "claude-code.coauthor", "agent": "claude-code", "field": "trailer:Co-authored-by",
     "match": "regex", "hint": "noreply@anthropic.com",
     "pattern": r"^(?:claude[ \t]{0,4}|(?P<model>claude[ \t]{1,4}(?!code\b)[^<>]{1,100}?)[ \t]{0,4}"
                r"|[^<>]{0,100}?)"
                r"<noreply@anthropic\.com>",
     "source": "Claude Code settings docs; model name since v2.0.60 (§1.1)"},
    {"id": "claude-code.session", "agent": "claude-code", "field": "trailer:Claude-Session",
     "match": "present", "source": "Claude Code cloud-environments docs, v2.1.179+ (§1.1e)"},
    _generated_with("claude-code", "Claude Code",
                    "Claude Code attribution default before 2026-06 (§1.1a/b), or bare"),
    {"id": "claude-code.session-link", "agent": "claude-code", "field": "body",
     "match": "regex", "pattern": r"^[ \t]{0,3}https://claude\.ai/code/session_[\w-]{1,100}[ \t]*$",
     "hint": "claude.ai/code/session_",
     "source": "cloud session PR body: the session URL on its own line (§1.1e)"},
    {"id": "claude-code.branch", "agent": "claude-code", "field": "branch", "match": "regex",
     "pattern": r"^claude/(?:issue|pr)-\d{1,10}-\d{8}", "hint": "claude/",
     "source": "claude-code-action claude/<issue|pr>-N-YYYYMMDD-HHMM (§1.3)"},
    *_bot("claude-code", "claude-code.anthropic-claude", "anthropic-claude[bot]", 215619710,
          "other Anthropic app identity seen (§1.3)"),
    *_bot("claude-code", "claude-code.action", "claude-code-action[bot]", 208546643,
          "other Anthropic app identity seen (§1.3)"),
    # Aider (§2)
    {"id": "aider.coauthor", "agent": "aider", "field": "trailer:Co-authored-by",
     "match": "regex", "hint": ["aider.chat", "aider.dev"],
     "pattern": r"^aider[ \t]{0,4}(?:\((?P<model>[^()<>]{1,200})\))?[ \t]{0,4}"
                r"<(?:aider@aider\.chat|noreply@aider\.(?:chat|dev))>",
     "source": "Aider-AI/aider aider/repo.py; e-mail history (§2.1)"},
    {"id": "aider.author-name", "agent": "aider", "field": "author.name", "match": "suffix",
     "pattern": " (aider)", "source": "aider --attribute-author (§2.1)"},
    {"id": "aider.committer-name", "agent": "aider", "field": "committer.name",
     "match": "suffix", "pattern": " (aider)", "role": "committed",
     "source": "aider --attribute-committer; /commit of the user's own edits (§2.1)"},
    {"id": "aider.subject-prefix", "agent": "aider", "field": "subject", "match": "prefix",
     "pattern": "aider: ", "role": "either",
     "source": "aider --attribute-commit-message-author or -committer (§2.1)"},
    {"id": "aider.chat-transcript", "agent": "aider", "field": "body", "match": "contains",
     "pattern": "# Aider chat conversation:", "source": "aider commits 2023 to June 2024 (§2.1)"},
    {"id": "aider.context-transcript", "agent": "aider", "field": "body", "match": "regex",
     "pattern": r"\A# Context:[ \t]*\r?\n(?:USER|ASSISTANT): ", "hint": "# context:",
     "case_sensitive": True,
     "source": "aider v0.5-v0.8 (spring 2023): get_context_from_history, message + context"},
    # GitHub Copilot (§3)
    {"id": "copilot.agent-id", "agent": "copilot", "field": "author.github_id",
     "match": "equals", "pattern": "198982749",
     "source": "copilot-swe-agent app user; PR author id (§3.1)"},
    {"id": "copilot.email", "agent": "copilot", "field": "author.email", "match": "regex",
     "pattern": rf"^(?:198982749|223556219|175728472)\+copilot{_NOREPLY_TAIL}$",
     "hint": "copilot@users.noreply", "github_id": [198982749, 223556219, 175728472],
     "source": "coding agent, CLI and Autofix noreply addresses (§3.1, §3.2)"},
    {"id": "copilot.login", "agent": "copilot", "field": "author.login", "match": "regex",
     "pattern": r"^(?:app/)?(?:copilot|copilot-swe-agent(?:\[bot\])?)$", "hint": "copilot",
     "github_id": [198982749, 223556219, 175728472],
     "source": "PR author login; app/copilot-swe-agent from GraphQL and gh (§3.1)"},
    {"id": "copilot.name", "agent": "copilot", "field": "author.name", "match": "regex",
     "pattern": r"^(?:copilot-swe-agent\[bot\]|copilot)$", "hint": "copilot",
     "github_id": [198982749, 223556219, 175728472],
     "source": "coding agent author; 'Copilot' after a squash merge (§3.1)"},
    {"id": "copilot.agent-coauthor", "agent": "copilot", "field": "trailer:Co-authored-by",
     **_address("198982749+copilot@users.noreply.github.com"),
     "source": "squash merges of coding agent PRs (§3.1)"},
    {"id": "copilot.cli-coauthor", "agent": "copilot", "field": "trailer:Co-authored-by",
     **_address("223556219+copilot@users.noreply.github.com"),
     "source": "Copilot CLI v0.0.410+, VS Code after PR #309951 (§3.2)"},
    {"id": "copilot.autofix-coauthor", "agent": "copilot", "field": "trailer:Co-authored-by",
     **_address("175728472+copilot@users.noreply.github.com"),
     "source": "accepted review suggestions / Copilot Autofix (§3.2)"},
    {"id": "copilot.vscode-coauthor", "agent": "copilot", "field": "trailer:Co-authored-by",
     "match": "contains", "pattern": "<copilot@github.com>",
     "source": "microsoft/vscode git.addAICoAuthor, earlier constant (§3.2)"},
    {"id": "copilot.branch", "agent": "copilot", "field": "branch", "match": "prefix",
     "pattern": "copilot/", "source": "coding agent pushes only to copilot/ branches (§3.1)"},
    # OpenAI Codex (§4.1)
    {"id": "codex.coauthor", "agent": "codex", "field": "trailer:Co-authored-by",
     "match": "regex", "pattern": r"<(?:noreply|codex)@openai\.com>", "hint": "@openai.com",
     "source": "openai/codex command_attribution / git-attribution; custom labels (§4.1)"},
    {"id": "codex.task-link", "agent": "codex", "field": "body", "match": "regex",
     "pattern": r"chatgpt\.com/codex/tasks/task_[a-z]_[0-9a-f]{8}",
     "hint": "chatgpt.com/codex/tasks/", "source": "Codex cloud PR/squash body (§4.1)"},
    {"id": "codex.branch", "agent": "codex", "field": "branch", "match": "prefix",
     "pattern": "codex/", "source": "Codex cloud branches (§4.1)"},
    # Devin (§4.2)
    *_bot("devin", "devin", "devin-ai-integration[bot]", 158243242, "real Devin commits (§4.2)"),
    {"id": "devin.name", "agent": "devin", "field": "author.name", "match": "equals",
     "pattern": "Devin AI", "github_id": 158243242, "source": "real Devin commits (§4.2)"},
    {"id": "devin.email", "agent": "devin", "field": "author.email", "match": "equals",
     "pattern": "devin@cognition.ai", "source": "variant seen (§4.2)"},
    {"id": "devin.coauthor-email", "agent": "devin", "field": "trailer:Co-authored-by",
     **_address("devin@cognition.ai"), "source": "variant seen (§4.2)"},
    _generated_with("devin", "Devin", "Devin CLI commit template (§4.2)"),
    {"id": "devin.session-link", "agent": "devin", "field": "body", "match": "regex",
     "pattern": r"app\.devin\.ai/sessions/[0-9a-f]{8}", "hint": "app.devin.ai/sessions/",
     "source": "Devin PR body footer (§4.2)"},
    {"id": "devin.branch", "agent": "devin", "field": "branch", "match": "regex",
     "pattern": r"^devin/\d{9,11}-", "hint": "devin/", "source": "devin/<unix-ts>-<slug> (§4.2)"},
    # Cursor (§4.3)
    {"id": "cursor.agent-email", "agent": "cursor", "field": "author.email", "match": "regex",
     "pattern": rf"^(?:cursoragent@cursor\.com|(?:\d{{1,20}}\+)?cursoragent{_NOREPLY_TAIL})$",
     "hint": "cursoragent@", "github_id": 199161495,
     "source": "cloud/background agent author (§4.3)"},
    {"id": "cursor.agent-id", "agent": "cursor", "field": "author.github_id", "match": "equals",
     "pattern": "199161495", "source": "GitHub user cursoragent (§4.3)"},
    {"id": "cursor.agent-login", "agent": "cursor", "field": "author.login", "match": "equals",
     "pattern": "cursoragent", "github_id": 199161495, "source": "GitHub user cursoragent (§4.3)"},
    {"id": "cursor.coauthor", "agent": "cursor", "field": "trailer:Co-authored-by",
     "match": "regex", "hint": "cursoragent@",
     "pattern": rf"{_ADDRESS_START}(?:cursoragent@cursor\.com|(?:\d{{1,20}}\+)?cursoragent"
                rf"{_NOREPLY_TAIL}){_ADDRESS_END}",
     "github_id": 199161495,
     "source": "IDE/CLI agent; squash of cloud agent commits (§4.3)"},
    {"id": "cursor.made-with", "agent": "cursor", "field": "trailer:Made-with",
     "match": "contains", "pattern": "cursor", "source": "Made-with: Cursor (§4.3)"},
    {"id": "cursor.agent-name", "agent": "cursor", "field": "author.name", "match": "equals",
     "pattern": "Cursor Agent", "source": "cloud/background agent author (§4.3)"},
    {"id": "cursor.agent-link", "agent": "cursor", "field": "body", "match": "regex",
     "pattern": r"cursor\.com/(?:agents/bc-|background-agent\?bcid=bc-)", "hint": "cursor.com/",
     "source": "background agent PR footer (§4.3)"},
    {"id": "cursor.made-with-line", "agent": "cursor", "field": "body", "match": "contains",
     "pattern": "Made with [Cursor](", "source": "PR footer (§4.3)"},
    {"id": "cursor.branch", "agent": "cursor", "field": "branch", "match": "regex",
     "pattern": r"^cursor/[\w.-]{0,200}-[0-9a-f]{4}$", "hint": "cursor/",
     "source": "cursor/<slug>-<4hex> (§4.3)"},
    # Google Jules, Amazon Q Developer, Factory (§4.4, §4.5, §4.8)
    *_bot("jules", "jules", "google-labs-jules[bot]", 161369871, "Jules commits (§4.4)"),
    *_bot("amazon-q", "amazon-q", "amazon-q-developer[bot]", 208079219, "/q dev sessions (§4.5)"),
    *_bot("factory", "factory", "factory-droid[bot]", 138933559, "Factory Droid (§4.8)"),
    # OpenHands (§4.6)
    {"id": "openhands.email", "agent": "openhands", "field": "author.email", "match": "regex",
     "pattern": r"^openhands@(?:all-hands|openhands)\.dev$", "hint": "openhands@",
     "source": "OpenHands default git identity (§4.6)"},
    {"id": "openhands.login", "agent": "openhands", "field": "author.login", "match": "equals",
     "pattern": "openhands-agent", "source": "openhands-resolver account (§4.6)"},
    {"id": "openhands.coauthor", "agent": "openhands", "field": "trailer:Co-authored-by",
     "match": "regex", "pattern": r"openhands@(?:all-hands|openhands)\.dev", "hint": "openhands@",
     "source": "OpenHands system prompt and prepare-commit-msg hook (§4.6)"},
    {"id": "openhands.name", "agent": "openhands", "field": "author.name", "match": "regex",
     "pattern": r"^openhands(?:-agent)?$", "hint": "openhands",
     "source": "OpenHands default user.name (§4.6)"},
    {"id": "openhands.branch", "agent": "openhands", "field": "branch", "match": "prefix",
     "pattern": "openhands/", "source": "branches seen (§4.6)"},
    # Amp, OpenCode, Warp (§4.8)
    {"id": "amp.email", "agent": "amp", "field": "author.email", "match": "equals",
     "pattern": "amp@ampcode.com", "source": "Amp identity (§4.8)"},
    {"id": "amp.coauthor", "agent": "amp", "field": "trailer:Co-authored-by",
     **_address("amp@ampcode.com"), "source": "Amp commits (§4.8)"},
    {"id": "amp.thread", "agent": "amp", "field": "trailer:Amp-Thread-ID", "match": "present",
     "source": "Amp git.commit.ampThread (§4.8)"},
    {"id": "opencode.coauthor", "agent": "opencode", "field": "trailer:Co-authored-by",
     **_address("noreply@opencode.ai"), "source": "OpenCode (§4.8)"},
    _generated_with("opencode", "opencode", "OpenCode (§4.8)"),
    {"id": "warp.coauthor", "agent": "warp", "field": "trailer:Co-authored-by",
     **_address("agent@warp.dev"), "source": "Warp (§4.8)"},
    {"id": "factory.droid-coauthor", "agent": "factory", "field": "trailer:Co-authored-by",
     **_address("droid@factory.ai"),
     "source": "Droid <droid@factory.ai>, Factory's address (GitHub user factorydroid)"},
    # Qwen Code, Crush
    {"id": "qwen-code.coauthor", "agent": "qwen-code", "field": "trailer:Co-authored-by",
     **_address("qwen-coder@alibabacloud.com"),
     "source": "QwenLM/qwen-code: Co-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>"},
    _generated_with("qwen-code", "Qwen Code",
                    "QwenLM/qwen-code PR footer: Generated with [Qwen Code] and its link"),
    {"id": "crush.coauthor", "agent": "crush", "field": "trailer:Co-authored-by",
     **_address("crush@charm.land"),
     "source": "charmbracelet/crush README, attribution.trailer_style co-authored-by"},
    {"id": "crush.assisted-by", "agent": "crush", "field": "trailer:Assisted-by",
     "match": "regex", "hint": "crush@charm.land",
     "pattern": r"^(?:(?P<model>[^<>\n]{1,120}?)[ \t]{1,4}via[ \t]{1,4})?crush[ \t]{0,4}"
                r"<crush@charm\.land>",
     "source": "charmbracelet/crush README: Assisted-by: <model> via Crush (the default)"},
    _generated_with("crush", "Crush",
                    "charmbracelet/crush README: attribution.generated_with (default true)"),
    # Sweep, Codegen: PR bots without known ids (§4.8)
    {"id": "sweep.login", "agent": "sweep", "field": "author.login", "match": "regex",
     "pattern": r"^sweep-(?:ai|nightly|canary)\[bot\]$", "hint": "sweep-",
     "source": "sweep source (§4.8)"},
    {"id": "sweep.email", "agent": "sweep", "field": "author.email", "match": "regex",
     "pattern": rf"^(?:\d{{1,20}}\+)?sweep-(?:ai|nightly|canary)\[bot\]{_NOREPLY_TAIL}$",
     "hint": "sweep-", "source": "sweep source (§4.8)"},
    {"id": "codegen.login", "agent": "codegen", "field": "author.login", "match": "equals",
     "pattern": "codegen-sh[bot]", "source": "PR author (§4.8)"},
    {"id": "codegen.email", "agent": "codegen", "field": "author.email", "match": "regex",
     "pattern": rf"^(?:\d{{1,20}}\+)?codegen-sh\[bot\]{_NOREPLY_TAIL}$",
     "hint": "codegen-sh[bot]@", "source": "PR author (§4.8)"},
    # Project policy trailers (§5) and our own protocol (docs/trailers.md)
    {"id": "policy.assisted-by", "field": "trailer:Assisted-by", "match": "regex",
     "pattern": _POLICY,
     "source": "Linux coding-assistants.rst, Fedora, OpenStack Assisted-By (§5)"},
    {"id": "policy.generated-by", "field": "trailer:Generated-by", "match": "regex",
     "pattern": _AI_NAMED + _POLICY.removeprefix("^"), "hint": _AI_WORDS,
     "source": "ASF Generated-by, OpenStack Generated-By (§5.3, §5.4)"},
    {"id": "protocol.agent", "field": "trailer:Agent", "match": "regex",
     "pattern": r"^(?P<agent>[a-z0-9][\w.+ -]{0,63}?)(?:/\S*)?$",
     "source": "yield-auditor trailer protocol v1 (docs/trailers.md)"},
)  # fmt: skip

DEFAULT_RULES = RuleSet(BUILTIN_RULES)


# --- detection -----------------------------------------------------------------------------

_NOREPLY = "@users.noreply.github.com"
_NOREPLY_ID = re.compile(r"(\d+)\+[^+]")
_ADDRESS_STOP = re.compile(r"[\s<>@,;:()\"']")
_FROM_VALUE = (0, "")  # sentinel: read the claimed GitHub id from the matched value itself


class _Scan:
    """Per-commit state: the first hit of each (rule, agent), the first id mismatch of each
    rule, and the rules that can add nothing more (so they are not even evaluated again)."""

    __slots__ = ("hits", "mismatches", "full", "captures")

    def __init__(self, start: _Scan | None = None) -> None:
        """A fresh scan, or one that goes on from a copy of ``start``."""
        self.hits: dict[tuple[int, str], tuple[_Compiled, Evidence, str, str | None, int]] = (
            {} if start is None else dict(start.hits)
        )
        self.mismatches: dict[int, Evidence] = {} if start is None else dict(start.mismatches)
        self.full: set[int] = set() if start is None else set(start.full)
        self.captures: dict[int, int] = {} if start is None else dict(start.captures)


def detect(
    commit: CommitInfo,
    trailers: Sequence[tuple[str, str]] | None = None,
    rules: RuleSet = DEFAULT_RULES,
) -> Detection:
    """Which agent (if any) made ``commit``, in what role, with which model, and why.

    ``trailers`` are the commit's parsed trailers when the caller already has them; otherwise
    they are parsed here with ``bot.protocol.trailers.parse_trailers``.
    """
    if trailers is None:
        from bot.protocol.trailers import parse_trailers

        trailers = parse_trailers(commit.message)
    scan = _Scan(_identity_scan(rules, commit.author, commit.committer))
    message, message_low = _message_text(commit.message)
    _scan_texts(rules, commit, message, message_low, scan)
    _scan_trailers(rules, trailers, scan)
    if rules._body_line is not None:
        _scan_body_trailers(rules, message, message_low, scan)
    return _verdict(scan)


def _lowered(text: str) -> tuple[str, str]:
    """``(text, text.lower())``, or the lowered text twice when lowering changed its length
    (a few Unicode letters), so offsets found in one are valid in the other."""
    low = text.lower()
    return (text, low) if len(low) == len(text) else (low, low)


def _message_text(message: str) -> tuple[str, str]:
    if len(message) > MAX_MESSAGE_SCAN:
        head = MAX_MESSAGE_SCAN * 3 // 4
        message = message[:head] + "\n" + message[-(MAX_MESSAGE_SCAN - head) :]
    return _lowered(message)


def _noreply_id(low: str) -> int | None:
    """The id of the first ``<id>+<login>@users.noreply.github.com`` address in ``low``.

    Looks back at most 130 characters from the fixed domain, so it costs O(1) per value.
    """
    at = low.find(_NOREPLY)
    if at < 0:
        return None
    local = _ADDRESS_STOP.split(low[max(0, at - 130) : at])[-1]
    m = _NOREPLY_ID.match(local)
    return int(m.group(1)) if m else None


def _claimed_id(identity: Identity, side: str) -> tuple[int, str] | None:
    """The GitHub id this identity claims: the API's, else the one in a noreply e-mail."""
    if identity.github_id is not None:
        return identity.github_id, f"{side}.github_id"
    email = (identity.email or "")[:MAX_IDENTITY].strip().lower()
    found = _noreply_id(email) if email.endswith(_NOREPLY) else None
    return None if found is None else (found, f"{side}.email")


@lru_cache(maxsize=4096)
def _identity_scan(rules: RuleSet, author: Identity, committer: Identity) -> _Scan:
    """The scan of the two identities alone: histories reuse a few identities many times, so
    each pair is scanned once and every commit of it goes on from a copy."""
    scan = _Scan()
    _scan_identities(rules, author, committer, scan)
    return scan


def _scan_identities(rules: RuleSet, author: Identity, committer: Identity, scan: _Scan) -> None:
    claims: dict[str, tuple[int, str] | None] = {}
    for field, side, attr, bucket in rules._identity:
        identity = author if side == "author" else committer
        raw = getattr(identity, attr)
        if raw is None or raw == "":
            continue
        text, low = _lowered(str(raw).strip()[:MAX_IDENTITY])
        if side not in claims:
            claims[side] = _claimed_id(identity, side)
        _scan_bucket(bucket, _Value(field, text, low, claim=claims[side]), scan)


def _scan_texts(rules: RuleSet, commit: CommitInfo, message: str, low: str, scan: _Scan) -> None:
    nl = message.find("\n")
    nl = len(message) if nl < 0 else nl
    for field, bucket in rules._text:
        if field == "branch":
            if not commit.branch:
                continue
            text, tlow = _lowered(commit.branch.strip().removeprefix("refs/heads/")[:MAX_VALUE])
        elif field == "subject":
            text, tlow = message[: min(nl, MAX_VALUE)].strip(), low[: min(nl, MAX_VALUE)].strip()
        elif field == "body":
            text, tlow = message[nl + 1 :].strip(), low[nl + 1 :].strip()
        else:
            text, tlow = message.strip(), low.strip()
        if text:
            _scan_bucket(bucket, _Value(field, text, tlow, field in _MULTILINE_FIELDS), scan)


def _scan_trailers(rules: RuleSet, trailers: Sequence[tuple[str, str]], scan: _Scan) -> None:
    by_key = rules._trailers
    for key, value in trailers:
        bucket = by_key.get(key.lower())
        if bucket is None or not value:
            continue
        text, low = _lowered(value.strip()[:MAX_VALUE])
        _scan_bucket(bucket, _Value(f"trailer:{key}", text, low, claim=_FROM_VALUE), scan)


def _scan_body_trailers(rules: RuleSet, message: str, low: str, scan: _Scan) -> None:
    """Trailer-shaped lines after the subject (``<key>:`` after at most 3 spaces; more, or a tab,
    is a quoted code block), matched by the trailer rules of that key at "message" strength.
    One regex pass: linear."""
    body_start = low.find("\n") + 1
    if body_start == 0:
        return
    rank = _RANK["message"]
    for m in rules._body_line.finditer(low, body_start):
        key_start, start = m.start(1), m.end()
        end = low.find("\n", start, start + MAX_VALUE)
        end = min(len(low), start + MAX_VALUE) if end < 0 else end
        raw = message[start:end]
        value = raw.lstrip()
        if value.strip():
            skip = start - key_start + len(raw) - len(value)
            value = value.rstrip()
            v = _Value("body", *_lowered(value), claim=_FROM_VALUE, rank=rank,
                       line=message[key_start:end], offset=skip)  # fmt: skip
            _scan_bucket(rules._trailers[m.group(1)], v, scan)


class _Value(NamedTuple):
    """One field value as the rules see it: original text, lowered text, and how to judge it."""

    field: str
    text: str
    low: str
    multiline: bool = False
    claim: tuple[int, str] | None = None  # the identity's GitHub id, or _FROM_VALUE
    rank: int | None = None  # overrides the rules' strength (trailer lines found in the body)
    line: str = ""  # the whole line to show as evidence, when ``text`` is part of it
    offset: int = 0  # where ``text`` starts in ``line``


def _scan_bucket(bucket: _Bucket, v: _Value, scan: _Scan) -> None:
    for c in bucket.equals.get(v.low, ()):
        if c.index not in scan.full:
            _record(c, v, (0, len(v.text)), None, scan)
    if bucket.gate is not None and bucket.gate.search(v.low):
        _scan_rules(bucket.gated, v, scan)
    if bucket.always:
        _scan_rules(bucket.always, v, scan)


def _scan_rules(rules: Sequence[_Compiled], v: _Value, scan: _Scan) -> None:
    for c in rules:
        if c.index not in scan.full:
            found = _find(c, v.text, v.low)
            if found is not None:
                _record(c, v, found[0], found[1], scan)


def _find(c: _Compiled, text: str, low: str) -> tuple[tuple[int, int], re.Match[str] | None] | None:
    """Where rule ``c`` matches the field value, with the regex match when there is one."""
    hay = text if c.case_sensitive else low
    kind, needle = c.kind, c.needle
    if kind == "contains":
        i = hay.find(needle)
        return ((i, i + len(needle)), None) if i >= 0 else None
    if kind == "prefix":
        return ((0, len(needle)), None) if hay.startswith(needle) else None
    if kind == "suffix":
        return ((len(hay) - len(needle), len(hay)), None) if hay.endswith(needle) else None
    if kind == "equals":
        return ((0, len(hay)), None) if hay == needle else None
    if kind == "present":
        return (0, len(hay)), None
    assert c.regex is not None
    if c.hints and not any(h in low for h in c.hints):
        return None
    m = c.regex.search(text)
    return (m.span(), m) if m else None


def _excerpt(text: str, span: tuple[int, int], multiline: bool) -> str:
    """The matched value, or for body/message the line holding the match, cut to 200 chars."""
    start, end = (0, len(text))
    if multiline:
        start = text.rfind("\n", 0, span[0]) + 1
        nl = text.find("\n", span[0])
        end = len(text) if nl < 0 else nl
    if end - start > MAX_MATCHED and span[0] - start > MAX_MATCHED // 4:
        start = span[0] - MAX_MATCHED // 4
    return text[start : min(end, start + MAX_MATCHED)].strip()


def _record(
    c: _Compiled, v: _Value, span: tuple[int, int], m: re.Match[str] | None, scan: _Scan
) -> None:
    """Count the hit, unless the rule names a bot id and the value claims another one."""
    if v.line:
        matched = _excerpt(v.line, (span[0] + v.offset, span[1] + v.offset), False)
    else:
        matched = _excerpt(v.text, span, v.multiline)
    agent = c.agent or _captured_agent(c, m)
    claim = v.claim
    if c.ids and claim is not None:
        if claim is _FROM_VALUE:
            found = _noreply_id(v.low)
            claim = None if found is None else (found, v.field)
        if claim is not None and claim[0] not in c.ids:
            expected = " or ".join(str(i) for i in sorted(c.ids))
            note = f"GitHub id {claim[0]} (from {claim[1]}) is not {expected}"
            scan.mismatches.setdefault(c.index, Evidence(c.id, v.field, matched, agent, note))
            return
    model = _captured(m, c.model_groups)
    model = None if model is None or model.lower() in _PLACEHOLDER_MODELS else model
    if (c.index, agent) in scan.hits:
        return
    evidence = Evidence(c.id, v.field, matched, agent)
    scan.hits[c.index, agent] = (c, evidence, agent, model, c.rank if v.rank is None else v.rank)
    if c.agent is None:  # a rule naming the agent from the text may find several, up to a cap
        scan.captures[c.index] = scan.captures.get(c.index, 0) + 1
        if scan.captures[c.index] < MAX_AGENTS_PER_RULE:
            return
    scan.full.add(c.index)


def _captured(m: re.Match[str] | None, groups: tuple[str, ...]) -> str | None:
    if m is None:
        return None
    for name in groups:
        value = m.group(name)
        if value and value.strip():
            return value.strip()[:MAX_MATCHED]
    return None


def _captured_agent(c: _Compiled, m: re.Match[str] | None) -> str:
    name = _captured(m, c.agent_groups)
    return (canonical_agent(name) if name else None) or UNKNOWN_AGENT


def _verdict(scan: _Scan) -> Detection:
    """Order agents by their strongest evidence (then authored before committed, then table
    order) and take the primary agent's model from its strongest evidence that has one."""
    mismatches = tuple(scan.mismatches[i] for i in sorted(scan.mismatches))
    if not scan.hits:
        return Detection(None, "none", None, (), (), mismatches)
    best: dict[str, tuple[int, int, int]] = {}
    for c, _, agent, _, rank in scan.hits.values():
        key = (-rank, 1 if c.role == "committed" else 0, c.index)
        best[agent] = min(best.get(agent, key), key)
    agents = tuple(sorted(best, key=best.__getitem__))
    position = {a: i for i, a in enumerate(agents)}
    hits = sorted(scan.hits.values(), key=lambda h: (position[h[2]], -h[4], h[0].index))
    primary = agents[0]
    model = next((h[3] for h in hits if h[2] == primary and h[3]), None)
    roles = {h[0].role for h in hits}
    role: Role = "committed" if "committed" in roles and "authored" not in roles else "authored"
    return Detection(primary, role, model, tuple(h[1] for h in hits), agents, mismatches)


# --- the documentation table ---------------------------------------------------------------

DOCS_TABLE_START = (
    "<!-- built-in rules: generated by "
    "`python -m bot.agents.detect docs/agents.md`, do not edit -->"
)
DOCS_TABLE_END = "<!-- end of built-in rules -->"
_GRAMMAR_RULES = frozenset({"policy.assisted-by", "policy.generated-by"})


def rules_table(rules: RuleSet = DEFAULT_RULES) -> str:
    """The Markdown table of ``rules`` that docs/agents.md embeds, so the page cannot drift."""
    lines = [
        DOCS_TABLE_START,
        "",
        "| id | agent | field | match | pattern | role | model | strength | bot id | source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rule in rules:
        c = _compile(rule, 0)
        if rule.id in _GRAMMAR_RULES:
            pattern = "policy value grammar (below)"
        elif rule.match == "present":
            pattern = "(any value)"
        else:
            pattern = "`" + rule.pattern.replace("|", r"\|") + "`"
        cells = (
            f"`{rule.id}`",
            rule.agent or "from text",
            f"`{rule.field}`",
            rule.match,
            pattern,
            rule.role,
            "yes" if c.model_groups else "",
            STRENGTHS[len(STRENGTHS) - c.rank],
            ", ".join(map(str, rule.github_id)),
            rule.source,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", DOCS_TABLE_END])


def write_rules_table(path: str) -> None:
    """Replace the generated table in the Markdown file at ``path`` with the current one."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = text.index(DOCS_TABLE_START), text.index(DOCS_TABLE_END) + len(DOCS_TABLE_END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:start] + rules_table() + text[end:])


if __name__ == "__main__":  # python -m bot.agents.detect docs/agents.md
    import sys

    if len(sys.argv) > 1:
        write_rules_table(sys.argv[1])
    else:
        print(rules_table())
