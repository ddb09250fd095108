"""The dashboard in a real browser: Chromium, driven by Playwright, against the served App.

The App runs on a loopback port with the fake GitHub (a real HTTP server) as github.com, so
signing in goes through GitHub's whole OAuth dance: the sign-in button, GitHub's authorize
page, the callback, the code exchange and ``GET /user/installations``. Screenshots of each
step are saved in tests/artifacts/screenshots (CI keeps them).

Chromium: ``YIELD_AUDITOR_TEST_CHROMIUM`` names the executable (``.ci/run`` sets it, and then
these tests must run); otherwise Debian's /usr/bin/chromium is used when it is installed, and
the tests are skipped when it is not.
"""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bot.demo.fake_github.server import FakeGitHub
from bot.ledger import inbox
from bot.ledger.db import make_engine, migrate
from tests.access_helpers import make_settings
from tests.conftest import _postgres_schema
from tests.paths import TESTS
from tests.scenario import failed_delivery, seed
from webhooks.app import create_app

CHROMIUM_ENV = "YIELD_AUDITOR_TEST_CHROMIUM"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = TESTS / "artifacts" / "screenshots"
# Without the background-networking flags Chromium keeps calling Google's hosts.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
ACME, GLOBEX = 7, 8


def _chromium() -> str:
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        if not Path(named).is_file():
            pytest.fail(f"{CHROMIUM_ENV}={named}: no such file", pytrace=False)
        return named
    if DEBIAN_CHROMIUM.is_file():
        return str(DEBIAN_CHROMIUM)
    pytest.skip(f"browser tests need Chromium: apt-get install chromium, or set {CHROMIUM_ENV}")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path_factory) -> Iterator[str]:
    """The site's database: a SQLite file, or a PostgreSQL schema (as tests/conftest.py's
    ``database_url``, once per module: a browser session is slow to set up)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('browser') / 'ledger.db'}"
    else:
        yield from _postgres_schema()


@pytest.fixture(scope="module")
def site(ledger_url) -> Iterator[dict]:
    """The App on a loopback port, its ledger seeded with two tenants, and the fake GitHub
    where Ada can access (and administers) acme's installation only."""
    url = ledger_url
    engine = make_engine(url)
    migrate(engine)
    seed(engine, installation=ACME, account="acme", repository="acme/app")
    seed(engine, installation=GLOBEX, account="globex", repository="globex/app")
    failed_delivery(engine, "acme-delivery", ACME, "acme/app", error="GitHub answered 502")
    with FakeGitHub(app_id=1) as fake, serving() as (base, mount):
        fake.add_installation(ACME, "acme")
        fake.add_installation(GLOBEX, "globex")
        fake.add_user("ada", 1001, installations=[ACME], admin_of=["acme"])
        fake.sign_in_as("ada")
        settings = make_settings(database_url=url, github_api_url=fake.url, public_url=base,
                                 github_client_id=fake.oauth_client_id,
                                 github_client_secret=fake.oauth_client_secret)  # fmt: skip
        mount(create_app(settings, engine))
        yield {"base": base, "engine": engine, "fake": fake}
    engine.dispose()


@contextmanager
def serving() -> Iterator[tuple[str, Callable]]:
    """A loopback server whose app is mounted once its address is known (the app's settings
    name its own public URL)."""
    mounted: dict = {}
    server = make_server("127.0.0.1", 0, lambda env, reply: mounted["app"](env, reply),
                         threaded=True)  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", lambda app: mounted.update(app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def page(browser, site, request) -> Iterator:
    """A fresh browser context (no cookies) whose page fails the test on a console error, such
    as a Content-Security-Policy violation (answers' statuses are asserted by the tests)."""
    context = browser.new_context(accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []

    def console(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert not errors, f"console errors in {request.node.name}: {errors}"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str) -> None:
    """Ada signs in through the fake GitHub's authorize page, as a person would."""
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.get_by_role("button", name="Sign in with GitHub").click()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{base}/installations/{ACME}/")


def test_sign_in_with_github_shows_only_the_users_installation(page, site):
    base = site["base"]
    page.goto(f"{base}/")
    shot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in with GitHub").click()
    assert page.url.startswith(site["fake"].url)  # GitHub's authorize page
    shot(page, "02-github-authorize")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{base}/installations/{ACME}/")
    assert "acme" in page.content() and "globex" not in page.content()
    assert page.get_by_role("heading", level=1).count() == 1
    shot(page, "03-overview")
    assert page.goto(f"{base}/installations/{GLOBEX}/").status == 404
    page.goto(f"{base}/installations/{ACME}/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login*")
    assert page.goto(f"{base}/installations/{ACME}/").url.startswith(f"{base}/login")


def test_the_overview_draws_its_trend_charts(page, site):
    sign_in(page, site["base"])
    charts = page.locator("svg[role=img]")
    assert charts.count() >= 4
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50  # laid out
        assert charts.nth(i).locator("title").first.text_content()


def test_a_heatmap_cell_drills_down_to_its_tasks(page, site):
    base = site["base"]
    sign_in(page, base)
    page.goto(f"{base}/installations/{ACME}/matrix")
    shot(page, "04-matrix")
    cell = page.locator("svg a").first
    label = cell.get_attribute("aria-label")
    cell.click()
    page.wait_for_url("**/tasks?*")
    shot(page, "05-drill-down")
    query = dict(p.split("=", 1) for p in page.url.split("?", 1)[1].split("&"))
    assert {"tier", "task_class", "since", "until"} <= set(query), page.url
    rows = page.locator("table.list tbody tr")
    assert rows.count() > 0, label
    for i in range(rows.count()):
        text = rows.nth(i).inner_text()
        assert query["tier"] in text and query["task_class"] in text


def test_filtering_pull_requests_and_downloading_them_as_csv(page, site):
    base = site["base"]
    sign_in(page, base)
    page.goto(f"{base}/installations/{ACME}/pulls")
    everything = page.locator("table.list tbody tr").count()
    page.get_by_label("Outcome").select_option("abandoned")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**outcome=abandoned*")
    shot(page, "06-pulls-filtered")
    rows = page.locator("table.list tbody tr")
    assert 0 < rows.count() < everything
    outcomes = {rows.nth(i).locator(".outcome").inner_text() for i in range(rows.count())}
    assert outcomes == {"abandoned"}
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert len(table) == rows.count()
    assert {r["outcome"] for r in table} == {"abandoned"}


def test_an_admin_retries_a_failed_delivery(page, site):
    base = site["base"]
    sign_in(page, base)
    page.goto(f"{base}/installations/{ACME}/operations")
    assert "GitHub answered 502" in page.content()
    page.get_by_role("button", name="Retry delivery acme-delivery").click()
    page.wait_for_url(f"{base}/installations/{ACME}/operations")
    assert page.get_by_role("status").inner_text()
    shot(page, "07-operations-retried")
    assert inbox.get(site["engine"], "acme-delivery").status == inbox.RECEIVED


def test_the_demo_serves_its_dashboard_without_sign_in(browser, tmp_path):
    """``yield-auditor demo``, as the README runs it: the scripted week and its history are on
    the dashboard, in local mode (marked on the page), without signing in."""
    import signal
    import subprocess
    import sys

    demo = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--port", "0", "--db", f"sqlite:///{tmp_path}/d.db"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for line in demo.stdout:  # the comments and the digest, then the dashboard's address
            found = re.search(r"The dashboard is at (\S+)", line)
            if found:
                break
        assert found, "the demo did not print the dashboard's address"
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(found[1])
        assert "Local mode" in tab.content()
        assert tab.locator("svg[role=img]").count() >= 4
        shot(tab, "00-demo-overview")
        tab.goto(found[1] + "pulls?repository=acme/webshop")
        assert tab.locator("table.list tbody tr").count() == 5  # the scripted week's PRs
        shot(tab, "00-demo-pulls")
        context.close()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)


def test_a_fresh_install_creates_its_app_through_the_setup_page(browser, tmp_path):
    """/setup in a browser: the manifest form posts to GitHub (allowed by the page's CSP
    form-action), GitHub sends the browser back, the credentials land in the .env file."""
    from dotenv import dotenv_values

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    env_file = tmp_path / ".env"
    with FakeGitHub(app_id=1) as fake, serving() as (base, mount):
        mount(create_app(make_settings(
            database_url=url, github_api_url=fake.url, public_url=base, env_file=env_file,
            secret_key=None, github_client_id=None, github_client_secret=None,
            github_webhook_secret=None,
        ), engine))  # fmt: skip
        context = browser.new_context()
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if "Content Security" in m.text else None)
        tab.goto(f"{base}/setup")
        shot(tab, "08-setup")
        tab.get_by_role("button", name=re.compile("^Create ")).click()
        tab.wait_for_url(f"{base}/setup/callback*")
        shot(tab, "09-setup-done")
        install = tab.get_by_role("link", name="Install the App").get_attribute("href")
        context.close()
    engine.dispose()
    assert not errors
    stored = dotenv_values(env_file)
    assert stored["GITHUB_APP_ID"] and stored["GITHUB_WEBHOOK_SECRET"]
    assert install.endswith("/installations/new")


def test_the_scorecard_says_what_would_settle_it_when_data_are_thin(page, site):
    """The scenario's few tasks: no bare number, the cells to fill and how; the form keeps the
    chosen reference."""
    base = site["base"]
    sign_in(page, base)
    page.get_by_role("link", name="Scorecard").click()
    page.wait_for_url(f"{base}/installations/{ACME}/scorecard")
    assert page.get_by_role("heading", level=1).inner_text() == "Does routing pay?"
    thin = page.get_by_role("heading", name="Too little data: what would settle it", exact=True)
    assert thin.count() == 1
    settle = page.get_by_role("list", name="Cells too thin for the scorecard").locator("li")
    assert settle.count() > 0 and "settles it after about" in settle.first.inner_text()
    assert page.locator(".figures").count() == 0
    page.locator("select[name=reference]").select_option("economy")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**reference=economy*")
    assert page.locator("select[name=reference]").input_value() == "economy"
    assert "against economy" in page.locator(".headline").first.inner_text()
    shot(page, "10-scorecard-thin")


def test_the_scorecard_draws_its_curve_with_the_current_policy(browser, tmp_path):
    """A history with enough tasks (tests/routing_history.py), in local mode: the figures with
    their intervals, and the curve as an accessible chart with the current policy on it."""
    from tests.routing_history import seed_routed

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    seed_routed(engine, ACME, "acme", "acme/app")
    with serving() as (base, mount):
        mount(create_app(make_settings(database_url=url, local_mode=True, public_url=base),
                         engine))  # fmt: skip
        context = browser.new_context()
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if "Content Security" in m.text else None)
        tab.goto(f"{base}/installations/{ACME}/scorecard")
        headline = tab.locator(".headline").first.inner_text()
        assert headline.startswith("Routing cut the invoice by")
        saving = tab.locator(".figure", has_text="Realised saving per shipped task")
        assert re.search(r"\d+% \(\d+% to \d+%\)", saving.inner_text())
        chart = tab.get_by_role("img", name=re.compile("^Routing-efficiency curve"))
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
        assert "current policy" in chart.locator("desc").text_content().lower()
        assert chart.locator("circle.current title").text_content().startswith("current policy")
        assert chart.locator("circle.point").count() == 2  # all on economy, then bugfix moved
        shot(tab, "11-scorecard")
        context.close()
    engine.dispose()
    assert not errors
