"""``yield-auditor policy export``: the policy of a ledger's installation or of a local history,
in the documented schema, as JSON or YAML; and docs/policy.md's routers, run against it."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import main
from bot.engine.policy import Policy, choose, policy
from bot.engine.scorecard import routed
from tests.paths import ROOT
from tests.routing_history import seed_routed
from tests.scenario import load_dataset, seed

SCHEMA = json.loads((ROOT / "docs" / "policy.schema.json").read_text())
A, B = 7, 8


def export(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["policy", "export", *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def ledger(ledger_engine, database_url):
    """A ledger with installation A's routed history; returns its URL."""
    seed_routed(ledger_engine, A, "acme", "acme/app")
    return database_url


def test_a_ledgers_policy_is_the_engines_in_the_documented_schema(ledger, ledger_engine):
    doc = json.loads(export("--db", ledger))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    dated = load_dataset(ledger_engine, A).dated
    expected = policy(routed(d.task for d in dated)).to_json()
    assert doc == json.loads(json.dumps(expected))
    assert yaml.safe_load(export("--db", ledger, "--format", "yaml")) == doc


def test_dates_and_a_repository_narrow_the_evidence(ledger, ledger_engine):
    seed(ledger_engine, installation=B, account="globex", repository="globex/app")
    doc = json.loads(export("--db", ledger, "--installation", str(A), "--since", "2026-09-01",
                            "--repository", "acme/app"))  # fmt: skip
    assert (doc["since"], doc["until"]) == ("2026-09-01", None)
    dated = load_dataset(ledger_engine, A).dated
    later = [d for d in dated if d.finished_at and d.finished_at.date().isoformat() >= "2026-09-01"]
    assert 0 < len(later) < len(dated)
    assert sum(e["tasks"] for c in doc["classes"] for e in c["evidence"]) == len(later)


def test_the_ledger_must_say_which_installation(ledger, ledger_engine, tmp_path):
    seed(ledger_engine, installation=B, account="globex", repository="globex/app")
    assert "choose one with --installation" in export("--db", ledger, code=1)
    assert "no installation 99" in export("--db", ledger, "--installation", "99", code=1)
    assert "no repository 'x/y'" in export("--db", ledger, "--installation", str(A),
                                           "--repository", "x/y", code=1)  # fmt: skip
    assert "not both" in export("--db", ledger, "--repo", str(tmp_path), code=2)
    assert "add --db" in export("--repository", "acme/app", code=2)


USAGE = "Agent-Usage: model=anthropic:claude-haiku-4-5; in=1000; out=100; requests=2"


def test_a_local_historys_policy(tmp_path, run_git):
    """Two economy docs tasks merged, one bugfix closed: every class is there, to explore."""
    repo = tmp_path / "app"
    run_git("init", "-q", "-b", "main", str(repo))
    for n, task_class in enumerate(("docs", "docs", "bugfix"), 1):
        (repo / f"f{n}.txt").write_text("x\n")
        run_git("add", ".", cwd=repo)
        message = (f"change {n}\n\nAgent-Trailers: 1\nAgent: claude-code/2.0.31\n"
                   f"Agent-Task: T-{n}\nAgent-Task-Class: {task_class}\nAgent-Attempt: 1\n"
                   f"Agent-Route: tier=economy\n{USAGE}\n")  # fmt: skip
        agent = {"GIT_AUTHOR_NAME": "agent", "GIT_AUTHOR_EMAIL": "agent@example.com"}
        run_git("commit", "-q", "-F", "-", cwd=repo, input=message.encode(), env=agent)
    out = tmp_path / "policy.yaml"
    export("--repo", str(repo), "--format", "yaml", "--output", str(out))
    doc = yaml.safe_load(out.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["default_tier"] == "economy"
    assert {c["task_class"]: c["action"] for c in doc["classes"]} == {
        "bugfix": "explore", "docs": "explore"
    }  # fmt: skip
    docs = next(c for c in doc["classes"] if c["task_class"] == "docs")
    assert docs["model"] == "anthropic:claude-haiku-4-5" and docs["evidence"][0]["tasks"] == 2


def test_a_history_that_is_not_git_is_an_error(tmp_path):
    assert "Error" in export("--repo", str(tmp_path), code=1)


# --------------------------------------------------------------------------- docs/policy.md


def _examples() -> dict[str, str]:
    """docs/policy.md's Python examples, by the name in the comment on their first line."""
    text = (ROOT / "docs" / "policy.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    return {b.splitlines()[0].removeprefix("# ").strip(): b for b in blocks}


def _run(name: str) -> dict:
    namespace: dict = {}
    exec(compile(_examples()[name], f"docs/policy.md:{name}", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def policy_file(tmp_path, ledger, monkeypatch) -> dict:
    """The ledger's policy exported to policy.json in the working directory, as the docs do."""
    monkeypatch.chdir(tmp_path)
    export("--db", ledger, "--output", "policy.json")
    return json.loads((tmp_path / "policy.json").read_text())


def test_the_plain_router_draws_the_policys_shares(policy_file):
    route = _run("router.py")["route"]
    doc = Policy.from_json(policy_file)
    rng = random.Random(4)
    tiers = [route("docs", rng) for _ in range(2000)]
    again = random.Random(4)
    assert tiers == [choose(doc, "docs", again) for _ in range(2000)]
    share = tiers.count(doc.classes["docs"].tier) / len(tiers)
    assert share == pytest.approx(1 - doc.classes["docs"].explore_share, abs=0.03)
    assert route("a class never seen", rng) == doc.default_tier


SIGNATURE = ["self", "model", "messages", "input", "specific_deployment", "request_kwargs"]


def test_the_litellm_hook_picks_the_deployment_of_the_chosen_tier(policy_file):
    import asyncio
    import inspect

    found = _run("litellm_routing.py")
    strategy_class = found["PolicyRouting"]
    for method in ("get_available_deployment", "async_get_available_deployment"):
        params = list(inspect.signature(getattr(strategy_class, method)).parameters)
        assert params == SIGNATURE, method
    deployments = [{"model_name": tier, "litellm_params": {"model": f"m/{tier}"}}
                   for tier in ("economy", "frontier")]  # fmt: skip
    strategy = strategy_class(found["policy"], deployments, random.Random(1))
    bugfix = Policy.from_json(policy_file).classes["bugfix"]
    kwargs = {"metadata": {"task_class": "bugfix"}}
    picked = [strategy.get_available_deployment("auto", request_kwargs=kwargs)["model_name"]
              for _ in range(400)]  # fmt: skip
    assert picked.count(bugfix.tier) / len(picked) == pytest.approx(1 - bugfix.explore_share,
                                                                    abs=0.05)  # fmt: skip
    chosen = asyncio.run(strategy.async_get_available_deployment("auto", [], None, False, kwargs))
    assert chosen in deployments
    unknown = strategy.get_available_deployment("auto", messages=[{"role": "user"}])
    assert unknown["model_name"] == Policy.from_json(policy_file).default_tier
