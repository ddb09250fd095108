"""The repository's own settings, ``.github/yield-auditor.yml``, found and merged as Probot does.

Lookup: the repository's file, else the owner's ``.github`` repository (same path); ``_extends``
chains to another file, and the extending file wins key by key (docs/configuration.md). An
invalid file never raises: the sections at fault fall back to their defaults and ``errors``
name the file and line, never the values (a secret pasted in the wrong place stays hidden).
Digests are configured on the server (docs/digests.md): a ``digest`` section here is an error.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot import format as fmt
from bot.agents.rules import AgentIdentity, RuleSet
from bot.engine.analysis import Analyser
from bot.pricing.prices import OverrideConfig, PriceBook

CONFIG_PATH = ".github/yield-auditor.yml"
MAX_EXTENDS = 5  # files in one ``_extends`` chain, the repository's own included
MAX_ERRORS = 20
MAX_FILE = 64 * 1024  # characters of one file
MAX_NODES = 10_000  # keys and list items of one file, aliases expanded
Fetch = Callable[[str, str], "str | None"]
"""``fetch(repo_full_name, path)``: the file's text, or None when it does not exist."""

_NAME = r"[A-Za-z0-9_.-]+"
_EXTENDS_RE = re.compile(rf"(?:(?P<owner>{_NAME})/)?(?P<repo>{_NAME})(?::(?P<path>[^\s:]+))?")
_TASK_CLASS = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SERVER_ONLY = {
    "digest": "digests are configured on the server ([[digests]] in its TOML file), not in a "
    "repository file: remove this section; see docs/digests.md",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class CommentConfig(_Strict):
    """``on``: always; ``off``: never; ``quiet``: only once spend reaches ``quiet_min_cost_usd``
    or the task bounced (then kept current like ``on``). ``layout``: ``compact`` folds all but
    the verdict, the figures and the attempts into ``<details>``; ``full`` shows every section."""

    mode: Literal["on", "off", "quiet"] = "on"
    on_prs_without_agents: bool = False
    quiet_min_cost_usd: Decimal = Field(Decimal("1.00"), ge=0, allow_inf_nan=False)
    layout: Literal["compact", "full"] = "compact"

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare ``on`` / ``off`` as a boolean."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class CheckRunConfig(_Strict):
    enabled: bool = False


class BudgetConfig(_Strict):
    max_cost_usd: Decimal | None = Field(None, gt=0, allow_inf_nan=False)
    action: Literal["fail", "require_action"] = "fail"


class TiersConfig(_Strict):
    """``models``: model pattern -> tier (as the server's ``tiers.models``); ``representatives``:
    tier -> the model that prices the comment's counterfactual on that tier."""

    models: dict[str, str] = {}
    representatives: dict[str, str] = {}


class TaskClassRule(_Strict):
    """A task of this class: any of ``labels`` on the PR, and every changed file in ``paths``."""

    task_class: str = Field(pattern=_TASK_CLASS, alias="class")
    labels: list[str] = []
    paths: list[str] = []

    @model_validator(mode="after")
    def _says_something(self) -> TaskClassRule:
        if not self.labels and not self.paths:
            raise ValueError("a task class rule needs labels or paths")
        return self

    def matches(self, files: list[str], labels: set[str]) -> bool:
        by_label = not self.labels or bool(labels & set(self.labels))
        by_path = not self.paths or (bool(files) and all(_any_glob(f, self.paths) for f in files))
        return by_label and by_path


class AgentsConfig(_Strict):
    """``identities``: the team's own agent accounts (docs/agents.md), added to the server's."""

    identities: list[AgentIdentity] = Field([], max_length=100)


class RepoConfig(_Strict):
    comment: CommentConfig = CommentConfig()
    agents: AgentsConfig = AgentsConfig()
    check_run: CheckRunConfig = CheckRunConfig()
    budget: BudgetConfig = BudgetConfig()
    tiers: TiersConfig = TiersConfig()
    price_overrides: OverrideConfig = OverrideConfig()
    task_classes: list[TaskClassRule] = []
    rework_window_days: int = Field(21, ge=1, le=365)
    ignored_paths: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _server_only(cls, data: Any) -> Any:
        """Keys that moved to the server: a targeted error at their line, not "extra inputs"."""
        moved = [k for k in _SERVER_ONLY if isinstance(data, dict) and k in data]
        if moved:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    {"type": PydanticCustomError("server_only", _SERVER_ONLY[k]), "loc": (k,)}
                    for k in moved
                ],
                hide_input=True,
            )
        return data

    @field_validator("comment", mode="before")
    @classmethod
    def _comment_shorthand(cls, value: Any) -> Any:
        """``comment: quiet`` means ``comment: {mode: quiet}``."""
        return {"mode": value} if isinstance(value, str | bool) else value

    def task_class_for(self, files: Iterable[str], labels: Iterable[str]) -> str | None:
        """The first matching rule's class; meant for tasks whose class was only inferred."""
        paths, names = [f for f in files if not self.ignored(f)], set(labels)
        return next((r.task_class for r in self.task_classes if r.matches(paths, names)), None)

    def ignored(self, path: str) -> bool:
        return _any_glob(path, self.ignored_paths)


def _any_glob(path: str, globs: Iterable[str]) -> bool:
    """``fnmatch`` globs, case-sensitive; ``*`` also crosses ``/`` (``docs/*`` is all of docs)."""
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


def price_book(
    config: RepoConfig,
    overrides: Mapping[str, Any] | None = None,
    tiers: Mapping[str, Any] | None = None,
) -> tuple[PriceBook, str | None]:
    """The server's price book with the repository's overrides and tier map on top.

    The repository's patterns come first (they win); if the result is invalid (a tier name
    the server does not have), the server's book is returned with the reason.
    """
    overrides, tiers = dict(overrides or {}), dict(tiers or {})
    own = config.price_overrides.model_dump()
    merged_overrides = {
        **overrides,
        "models": {**own["models"], **_without(overrides.get("models"), own["models"])},
        "provider_multipliers": {
            **(overrides.get("provider_multipliers") or {}),
            **own["provider_multipliers"],
        },
    }
    own_tiers = config.tiers.models
    merged_tiers = {**tiers, "models": {**own_tiers, **_without(tiers.get("models"), own_tiers)}}
    try:
        return PriceBook.from_config(merged_overrides, merged_tiers), None
    except ValueError as exc:
        return PriceBook.from_config(overrides, tiers), f"{CONFIG_PATH}: ignored prices: {exc}"


def agent_rules(config: RepoConfig, rules: RuleSet) -> RuleSet:
    """The server's rules with the repository's declared agent identities on top."""
    return rules.with_identities(config.agents.identities)


def analyser_for(config: RepoConfig | None, analyser: Analyser) -> Analyser:
    """The server's analyser, with the repository's declared agent identities when it has any:
    every path that analyses a repository's commits goes through here."""
    if config is None or not config.agents.identities:
        return analyser
    return Analyser(agent_rules(config, analyser.rules), analyser.prices)


def _without(entries: Mapping[str, Any] | None, drop: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (entries or {}).items() if k not in drop}


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class ConfigResult:
    """The configuration in force, what was wrong (file and line), and the files read in
    order of precedence (``owner/repo:path``, the extending file first)."""

    config: RepoConfig
    errors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Layer:
    source: str
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]


def load_repo_config(fetch: Fetch, repo: str) -> ConfigResult:
    """Find, parse, chain, merge and validate; never raises on the files' content."""
    owner, _, name = repo.partition("/")
    target = (repo, CONFIG_PATH)
    text = fetch(*target)
    if text is None and name != ".github":
        target = (f"{owner}/.github", CONFIG_PATH)
        text = fetch(*target)
    if text is None:
        return ConfigResult(RepoConfig())
    layers, errors = _chain(fetch, target, text)
    data, lines = _merge(reversed(layers))
    config, more = _validate(data, lines)
    sources = tuple(layer.source for layer in layers)
    return ConfigResult(config, tuple([*errors, *more][:MAX_ERRORS]), sources)


def _chain(fetch: Fetch, target: tuple[str, str], text: str) -> tuple[list[_Layer], list[str]]:
    """The file and the files it extends, the extending file first."""
    layers: list[_Layer] = []
    errors: list[str] = []
    seen = {target}
    while True:
        source = f"{target[0]}:{target[1]}"
        layer, error = _parse(source, text)
        if error:
            errors.append(error)
        if layer is None:
            break
        layers.append(layer)
        extends = layer.data.pop("_extends", None)
        if extends is None:
            break
        at = f"{source} line {layer.lines.get(('_extends',), 1)}: _extends"
        nxt = _extends_target(extends, target[0].partition("/")[0])
        if nxt is None:
            errors.append(f"{at}: use repo, owner/repo or repo:path/file.yml")
            break
        if nxt in seen:
            errors.append(f"{at}: loop back to {nxt[0]}:{nxt[1]}")
            break
        if len(seen) >= MAX_EXTENDS:
            errors.append(f"{at}: more than {MAX_EXTENDS} files chained")
            break
        text = fetch(*nxt)
        if text is None:
            errors.append(f"{at}: {nxt[0]}:{nxt[1]} not found")
            break
        seen.add(nxt)
        target = nxt
    return layers, errors


def _extends_target(value: Any, owner: str) -> tuple[str, str] | None:
    """``repo``, ``owner/repo``, ``repo:path`` or ``owner/repo:path`` as (owner/repo, path)."""
    match = _EXTENDS_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    path = (match["path"] or CONFIG_PATH).lstrip("/")
    if ".." in path.split("/"):
        return None
    return f"{match['owner'] or owner}/{match['repo']}", path


def _parse(source: str, text: str) -> tuple[_Layer | None, str | None]:
    """The file's mapping and the line of every key; a YAML error gives its line, not its text
    (the text may hold a secret)."""
    if len(text) > MAX_FILE:
        return None, f"{source}: larger than {fmt.count(MAX_FILE)} characters"
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark else ""
        return None, f"{source}{line}: invalid YAML: {(exc.problem or exc.context or '')[:100]}"
    except (yaml.YAMLError, RecursionError):
        return None, f"{source}: invalid YAML"
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        return None, f"{source} line 1: the file must be a mapping of settings"
    lines = _node_lines(node) if node is not None else {}
    if lines is None:
        return None, f"{source}: more than {fmt.count(MAX_NODES)} values (aliases expanded)"
    return _Layer(source, data, lines), None


def _node_lines(root: yaml.Node) -> dict[tuple[str, ...], int] | None:
    """The line of every key and list item; None past ``MAX_NODES`` (alias bombs, cycles)."""
    lines: dict[tuple[str, ...], int] = {}
    stack: list[tuple[tuple[str, ...], yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            items = [((*path, str(k.value)), k, v) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            items = [((*path, str(i)), v, v) for i, v in enumerate(node.value)]
        else:
            continue
        for here, mark_node, value in items:
            lines[here] = mark_node.start_mark.line + 1
            stack.append((here, value))
        if len(lines) > MAX_NODES:
            return None
    return lines


def _merge(layers: Iterable[_Layer]) -> tuple[dict[str, Any], dict]:
    """Deep-merge base first: mappings key by key, anything else replaced; ``null`` resets."""
    data: dict[str, Any] = {}
    lines: dict[tuple[str, ...], tuple[str, int]] = {}
    for layer in layers:
        data = _deep_merge(data, layer.data)
        for path, line in layer.lines.items():
            lines[path] = (layer.source, line)
    return data, lines


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], lines: dict) -> tuple[RepoConfig, list[str]]:
    """Validate; sections with errors fall back to their defaults, the rest applies.

    A server-only key (``digest``) stops validation before the sections are checked, hence
    the second round."""
    found: list[tuple[str, int, str]] = []
    for _ in range(3):
        try:
            return RepoConfig.model_validate(data), [text for *_, text in sorted(found)]
        except ValidationError as exc:
            problems = exc.errors(include_input=False, include_url=False)
        found += [_message(e["loc"], e["msg"], lines) for e in problems]
        bad = {str(e["loc"][0]) for e in problems if e["loc"]}
        if not bad:
            break
        data = {k: v for k, v in data.items() if str(k) not in bad}
    return RepoConfig(), [text for *_, text in sorted(found)]


def _message(loc: tuple, msg: str, lines: dict) -> tuple[str, int, str]:
    """(file, line, ``file line N: a.b.c: message``) for the deepest part of ``loc`` in the YAML."""
    path: tuple[str, ...] = ()
    source, line = next(iter(lines.values()), ("", 1))[0], 1
    for part in loc:
        if (*path, str(part)) in lines:
            path = (*path, str(part))
            source, line = lines[path]
    shown = ".".join(_redact(str(p)) for p in loc) or "<root>"
    return source, line, f"{source} line {line}: {shown}: {msg.removeprefix('Value error, ')}"


def _redact(part: str) -> str:
    """A key that looks like a URL or an address may be a secret pasted in the wrong place."""
    return "<redacted>" if "://" in part or "@" in part or len(part) > 80 else part
