"""Recognise the signatures coding agents leave on commits, from a data table of rules.

Few agents write our trailer protocol, but nearly all leave a mark: a bot identity, a
``Co-authored-by`` trailer, a body line, a branch prefix. Each mark is one row of the table in
``bot.agents.table`` (sources in docs/agents.md and /work/shared/reference/agent-attribution.md),
compiled into a ``bot.agents.rules.RuleSet``, so a new agent or a local convention is a
configuration change, not a code change (``RuleSet.from_config``). Every match carries its
evidence so a reviewer can see *why* a commit was classified.

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

from bot.agents.rules import (
    DEFAULT_RULES,
    MAX_IDENTITY,
    MULTILINE_FIELDS,
    RANK,
    CompiledRule,
    FieldBucket,
    RuleSet,
    canonical_agent,
)
from bot.protocol.commit import CommitInfo, Identity

# --- limits: what is scanned, so hostile input costs linear time at most --------------------

MAX_MESSAGE_SCAN = 256 * 1024  # longer messages: the first 3/4 and the last 1/4 of this
MAX_VALUE = 1000  # one trailer value, subject line or branch name
MAX_MATCHED = 200  # Evidence.matched
MAX_AGENTS_PER_RULE = 8  # distinct agents one capturing rule (Assisted-by...) may report

# --- the public result ---------------------------------------------------------------------

Role = Literal["authored", "committed", "none"]
ROLES = ("authored", "committed", "none")

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
        self.hits: dict[tuple[int, str], tuple[CompiledRule, Evidence, str, str | None, int]] = (
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
    if rules.body_line is not None:
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
    for field, side, attr, bucket in rules.by_identity:
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
    for field, bucket in rules.by_text:
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
            _scan_bucket(bucket, _Value(field, text, tlow, field in MULTILINE_FIELDS), scan)


def _scan_trailers(rules: RuleSet, trailers: Sequence[tuple[str, str]], scan: _Scan) -> None:
    by_key = rules.by_trailer
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
    rank = RANK["message"]
    for m in rules.body_line.finditer(low, body_start):
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
            _scan_bucket(rules.by_trailer[m.group(1)], v, scan)


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


def _scan_bucket(bucket: FieldBucket, v: _Value, scan: _Scan) -> None:
    for c in bucket.equals.get(v.low, ()):
        if c.index not in scan.full:
            _record(c, v, (0, len(v.text)), None, scan)
    if bucket.gate is not None and bucket.gate.search(v.low):
        _scan_rules(bucket.gated, v, scan)
    if bucket.always:
        _scan_rules(bucket.always, v, scan)


def _scan_rules(rules: Sequence[CompiledRule], v: _Value, scan: _Scan) -> None:
    for c in rules:
        if c.index not in scan.full:
            found = _find(c, v.text, v.low)
            if found is not None:
                _record(c, v, found[0], found[1], scan)


def _find(
    c: CompiledRule, text: str, low: str
) -> tuple[tuple[int, int], re.Match[str] | None] | None:
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
    c: CompiledRule, v: _Value, span: tuple[int, int], m: re.Match[str] | None, scan: _Scan
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


def _captured_agent(c: CompiledRule, m: re.Match[str] | None) -> str:
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
