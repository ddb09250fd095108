"""The dashboard's scorecard page: the engine's figures for the installation's tasks, printed
by bot.format, what would settle each thin cell, and the curve as an SVG chart."""

from __future__ import annotations

import pytest

from bot import format as fmt
from bot.engine.curve import curve
from bot.engine.scorecard import routed, scorecard
from bot.engine.sweep import sweep
from tests.access_helpers import make_settings, sign_in
from tests.routing_history import seed_routed
from tests.scenario import load_dataset, seed
from tests.unit.webhooks.test_dashboard import body_rows, get
from webhooks.app import create_app

A, B, C = 7, 8, 9
PAGE = f"/installations/{A}/scorecard"


@pytest.fixture
def engine(ledger_engine):
    seed_routed(ledger_engine, A, "acme", "acme/app")
    seed(ledger_engine, installation=B, account="globex", repository="globex/app")
    return ledger_engine


@pytest.fixture
def client(engine):
    client = create_app(make_settings(), engine).test_client()
    sign_in(client, installations=(A,))
    return client


def with_class(doc, tag: str, name: str) -> list:
    return [n for n in doc.all(tag) if n.attrs.get("class") == name]


@pytest.fixture
def records(engine):
    return routed(d.task for d in load_dataset(engine, A).dated)


def test_the_page_shows_the_engines_scorecard_and_curve(client, records):
    expected, line = scorecard(records), curve(records)
    doc = get(client, PAGE)
    headlines = [p.text() for p in with_class(doc, "p", "headline")]
    assert headlines == [expected.sentence(), line.sentence(), sweep(records).sentence()]
    figures = with_class(doc, "dl", "figures")[0].text()
    y = expected.realised_saving
    assert f"{fmt.share(y.median)} ({fmt.share(y.low)} to {fmt.share(y.high)})" in figures
    assert fmt.share(expected.invoice_saving) in figures
    assert fmt.change(expected.leak, 0, "share") in figures
    [cell] = body_rows(doc, "Each routed tier and class")
    assert [td.text() for td in cell.all("td")][:2] == ["bugfix", "48"]
    settle = doc.first("ul", **{"aria-label": "Cells too thin for the scorecard"}).text()
    assert "docs on frontier has 23 tasks" in settle and "settles it after about" in settle
    svg = doc.first("figure", **{"class": "chart-box"}).first("svg")
    assert svg.attrs["role"] == "img" and svg.first("title").text().startswith("Routing-eff")
    assert len(body_rows(doc, "The curve's policies")) == len(line.vertices)
    [strategy] = body_rows(doc, "Outcomes and costs per routing strategy")
    assert strategy.first("th").text() == "route"


def test_thin_data_give_what_would_settle_it_not_a_number(client):
    doc = get(client, f"{PAGE}?until=2026-08-01")
    assert not with_class(doc, "dl", "figures")
    headings = [h.text() for h in doc.all("h3")]
    assert "Too little data: what would settle it" in headings
    items = doc.first("ul", **{"aria-label": "Cells too thin for the scorecard"}).all("li")
    assert items and all("settles it after about" in li.text() for li in items)


def test_the_form_keeps_the_reference_and_the_filters(client, records):
    doc = get(client, f"{PAGE}?reference=economy&repository=acme/app&since=2026-09-01")
    options = doc.first("select", name="reference").all("option")
    assert [o.attrs["value"] for o in options if "selected" in o.attrs] == ["economy"]
    assert doc.first("input", name="since").attrs["value"] == "2026-09-01"
    assert "against economy" in with_class(doc, "p", "headline")[0].text()
    api = next(a for a in doc.all("a") if a.text() == "the API").attrs["href"]
    assert api.startswith(f"/api/v1/installations/{A}/scorecard?") and "reference=economy" in api


def test_another_tenants_page_and_repository_show_nothing_of_theirs(client):
    get(client, f"/installations/{B}/scorecard", status=404)
    doc = get(client, f"{PAGE}?repository=globex/app")
    assert "no routed tasks" in with_class(doc, "p", "headline")[0].text()
    get(client, f"{PAGE}?since=2026-13-01", status=400)


def test_the_sweep_shows_each_threshold_and_its_chart(client, records):
    found = sweep(records)
    doc = get(client, PAGE)
    rows = body_rows(doc, "Each threshold")
    assert len(rows) == len(found.thresholds) > 2
    assert rows[0].first("th").text() == "above every score"
    last = found.thresholds[-1]
    assert [td.text() for td in rows[-1].all("td")] == [
        fmt.share(last.share), fmt.share(last.shipped), fmt.share(last.pgr)
    ]  # fmt: skip
    [svg] = [c.first("svg") for c in doc.all("figure") if "sweep" in c.first("svg").text()]
    assert svg.attrs["aria-labelledby"] == "sweep-title sweep-desc"
    assert svg.first("title").text() == "The router's threshold sweep, economy to frontier"
    assert "share of the tasks on frontier" in svg.text()
    settle = doc.first("ul", **{"aria-label": "Cells too thin for the sweep"}).text()
    assert "docs on frontier has 23 tasks" in settle
    # bugfix alone cannot test the router: no APGR, no verdict
    assert not any("Better than a coin" in d.text() for d in with_class(doc, "dl", "figures"))


def test_a_longer_history_shows_the_routers_verdict(ledger_engine):
    seed_routed(ledger_engine, C, "initech", "initech/app", weeks=24)
    client = create_app(make_settings(), ledger_engine).test_client()
    sign_in(client, installations=(C,))
    found = sweep(routed(d.task for d in load_dataset(ledger_engine, C).dated))
    doc = get(client, f"/installations/{C}/scorecard")
    assert found.sentence() in [p.text() for p in with_class(doc, "p", "headline")]
    figures = with_class(doc, "dl", "figures")[-1].text()
    assert "Better than a coin" in figures and fmt.share(found.p_better) in figures
    a = found.apgr
    assert f"{fmt.share(a.median)} ({fmt.share(a.low)} to {fmt.share(a.high)})" in figures


def test_the_strategies_show_their_median_time_to_merge(client):
    [strategy] = body_rows(get(client, PAGE), "Outcomes and costs per routing strategy")
    cell = strategy.all("td")[-1].text()
    assert cell.split(" (n=")[0] not in (fmt.UNKNOWN, "") and "(n=" in cell
