"""The API's routing answers: the scorecard, curve and strategies, and the router's policy,
of the caller's installation only, as the engine computes them from its tasks."""

from __future__ import annotations

import json
from datetime import date
from statistics import median

import jsonschema
import pytest

from bot.engine.curve import curve, strategies
from bot.engine.policy import policy
from bot.engine.scorecard import routed, scorecard
from bot.engine.sweep import sweep
from tests.access_helpers import make_settings, sign_in
from tests.paths import ROOT
from tests.routing_history import records, seed_routed
from tests.scenario import load_dataset, seed
from tests.unit.webhooks.test_api import fetch
from webhooks.app import create_app

A, B, C = 7, 8, 9
LONGER = 24
"""Weeks of history after which docs on frontier has enough tasks for the sweep."""
INSTALLATION = "/installations/{installation_id}"
SCORECARD, POLICY = f"{INSTALLATION}/scorecard", f"{INSTALLATION}/policy"
POLICY_SCHEMA = json.loads((ROOT / "docs" / "policy.schema.json").read_text())


@pytest.fixture
def tasks(ledger_engine):
    """Installation A's routed history, with when each task finished, read back from the
    ledger; B, another tenant, has the scenario's tasks."""
    seed_routed(ledger_engine, A, "acme", "acme/app")
    seed(ledger_engine, installation=B, account="globex", repository="globex/app")
    return load_dataset(ledger_engine, A).dated


@pytest.fixture
def client(ledger_engine, tasks):
    client = create_app(make_settings(), ledger_engine).test_client()
    sign_in(client, installations=(A,))
    return client


def get(client, template, params=None, status=200, installation_id=A):
    return fetch(client, template, params, status, installation_id=installation_id).json


def finished(dated, since=None, until=None):
    """The routed records of the tasks finished between the dates (inclusive)."""
    return routed(
        d.task for d in dated if d.finished_at is not None
        and (since is None or d.finished_at.date() >= since)
        and (until is None or d.finished_at.date() <= until)
    )  # fmt: skip


def test_the_scorecard_is_the_engines_over_the_installations_tasks(client, tasks):
    records = finished(tasks)
    expected = scorecard(records)
    body = get(client, SCORECARD)
    card = body["scorecard"]
    assert card["sentence"] == expected.sentence()
    assert card["tasks"] == len(records) and card["covered_tasks"] == expected.covered_tasks
    assert card["classes"] == ["bugfix"] and card["reference"] == "frontier"
    assert card["invoice_saving"] == pytest.approx(expected.invoice_saving)
    assert card["realised_saving"]["median"] == pytest.approx(expected.realised_saving.median)
    assert card["realised_saving"]["confidence"] == 0.9
    assert [(t["task_class"], t["tier"]) for t in card["thin"]] == [("docs", "frontier")]
    assert "settles it after about" in card["thin"][0]["sentence"]
    assert body["curve"]["sentence"] == curve(records).sentence()
    [route] = strategies(records)
    assert body["strategies"][0]["shipped"]["k"] == route.shipped.k
    assert body["strategies"][0]["escalated"]["n"] == len(records)


def test_the_reference_and_the_period_narrow_the_scorecard(client, tasks):
    since, until = date(2026, 9, 1), date(2026, 10, 15)
    records = finished(tasks, since, until)
    assert 0 < len(records) < len(finished(tasks))
    body = get(client, SCORECARD, {"since": since, "until": until, "reference": "economy"})
    assert (body["since"], body["until"]) == (since.isoformat(), until.isoformat())
    assert body["scorecard"]["tasks"] == len(records)
    assert body["scorecard"]["sentence"] == scorecard(records, "economy").sentence()


def test_another_repository_or_tenant_adds_nothing(client):
    assert get(client, SCORECARD, {"repository": "globex/app"})["scorecard"]["tasks"] == 0
    get(client, SCORECARD, status=404, installation_id=B)
    get(client, POLICY, status=404, installation_id=B)


def test_too_little_data_says_what_would_settle_it(client):
    body = get(client, SCORECARD, {"until": "2026-08-01"})["scorecard"]
    assert body["realised_saving"] is None and body["invoice_saving"] is None
    assert body["sentence"].startswith("Too little data to say what routing saves")
    assert all(t["more_tasks"] > 0 and t["class_tasks"] > 0 for t in body["thin"])


def test_the_policy_is_the_engines_in_its_documented_schema(client, tasks):
    body = get(client, POLICY)
    jsonschema.Draft202012Validator(POLICY_SCHEMA).validate(body)
    assert body == json.loads(json.dumps(policy(finished(tasks)).to_json()))
    assert {c["task_class"] for c in body["classes"]} == {"bugfix", "docs"}


def test_the_policys_dates_label_its_evidence(client, tasks):
    body = get(client, POLICY, {"since": "2026-09-01"})
    assert (body["since"], body["until"]) == ("2026-09-01", None)
    tasks_seen = sum(e["tasks"] for c in body["classes"] for e in c["evidence"])
    assert tasks_seen == len(finished(tasks, since=date(2026, 9, 1)))


def test_a_reference_no_task_ran_on_says_what_it_would_take(client):
    card = get(client, SCORECARD, {"reference": "ultra"})["scorecard"]
    assert card["reference"] == "ultra" and card["realised_saving"] is None
    assert {t["tier"] for t in card["thin"]} >= {"ultra"}
    assert "ultra has 0 tasks" in card["sentence"]


def test_the_sweep_is_the_engines_over_the_scored_tasks(client, tasks):
    records_ = finished(tasks)
    expected = sweep(records_)
    found = get(client, SCORECARD)["sweep"]
    assert found["sentence"] == expected.sentence()
    assert (found["weak"], found["strong"]) == ("economy", "frontier")
    assert found["tasks"] == expected.tasks > 0 and found["unscored"] == 0
    assert [t["score"] for t in found["thresholds"]] == [t.score for t in expected.thresholds]
    shares = [t["share"] for t in found["thresholds"]]
    assert shares == pytest.approx([t.share for t in expected.thresholds])
    assert [t["task_class"] for t in found["thin"]] == ["docs"]
    # docs is too thin: bugfix alone cannot test the router, so no number
    assert found["apgr"] is None and found["verdict"] is None and found["p_better"] is None
    assert found["classes"] == ["bugfix"]


def test_a_longer_history_gives_the_routers_verdict(ledger_engine):
    seed_routed(ledger_engine, C, "initech", "initech/app", weeks=LONGER)
    client = create_app(make_settings(), ledger_engine).test_client()
    sign_in(client, installations=(C,))
    expected = sweep(finished(load_dataset(ledger_engine, C).dated))
    found = get(client, SCORECARD, installation_id=C)["sweep"]
    assert found["sentence"] == expected.sentence() and found["thin"] == []
    assert found["verdict"] == expected.verdict is not None
    assert found["p_better"] == pytest.approx(expected.p_better)
    assert found["apgr"]["median"] == pytest.approx(expected.apgr.median)


def test_time_to_merge_runs_from_the_first_commit_to_the_merge(client, tasks):
    commits, _, _ = records("acme/app")
    authored = {c.sha: c.authored_at for c in commits}
    hours = [
        (d.finished_at - min(authored[s] for s in d.task.attempts[0].commits)).total_seconds()
        / 3600
        for d in tasks
        if d.task.merged and d.task.pr_numbers and d.task.tier is not None
    ]
    [route] = get(client, SCORECARD)["strategies"]
    assert route["merged_tasks"] == len(hours) > 0
    assert route["median_hours_to_merge"] == pytest.approx(median(hours))
