"""The dashboard's pages: figures as bot.app.explore computes them, drill-down, filters, pages,
operations, escaping and the CSP (no inline style or script), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask import url_for
from sqlalchemy.orm import Session

from bot.app import explore
from bot.engine.records import MERGED
from bot.ledger import inbox
from bot.ledger.store import claim_digest_send, finish_digest_send, upsert_installation
from tests.access_helpers import make_settings, sign_in
from tests.scenario import (
    INSTALLATION,
    REPO,
    WEEK,
    _later,
    commit,
    event,
    failed_delivery,
    load_dataset,
    pr,
    second_week,
    seed,
)
from tests.scenario import scenario as first_week
from webhooks.app import create_app

OTHER, OTHER_REPO = 8, "globex/app"
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_CLASS = '<img src=x onerror="alert(1)">'
ODD_KEY = "ROUTE-7/a b:c?d#e%f"  # an Agent-Task id with '/', ':', a space, '?', '#' and '%'
BASE = f"/installations/{INSTALLATION}"


def hostile_week():
    """W46: a task with an odd key and a hostile class, in a pull request with a hostile title."""
    commits = [commit("k1", 0, pr=21, task=ODD_KEY, task_class=HOSTILE_CLASS, subject="x")]
    return (
        _later(commits, WEEK),
        _later([pr(21, title=HOSTILE_TITLE)], WEEK),
        _later([event(MERGED, 10, 21)], WEEK),
    )


@pytest.fixture
def engine(ledger_engine):
    seed(ledger_engine, weeks=(first_week(), second_week(), hostile_week()))
    seed(ledger_engine, installation=OTHER, account="globex", repository=OTHER_REPO)
    return ledger_engine


@pytest.fixture
def app(engine):
    return create_app(make_settings(), engine)


@pytest.fixture
def client(app):
    """A member of installation 7 (not an admin) who cannot see installation 8."""
    client = app.test_client()
    sign_in(client, installations=(INSTALLATION,))
    return client


@pytest.fixture
def admin(app):
    client = app.test_client()
    sign_in(client, login="grace", installations=(INSTALLATION,), admin_of=(INSTALLATION,))
    return client


def default_window(dataset) -> explore.Window:
    return explore.window(dataset, None, explore.DEFAULT_WEEKS, datetime.now(UTC))


# --------------------------------------------------------------------------- reading HTML


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join("".join(parts).split())

    def all(self, tag: str | None = None) -> list[Node]:
        found = []
        for c in self.children:
            if isinstance(c, Node):
                found += [c] if tag in (None, c.tag) else []
                found += c.all(tag)
        return found

    def first(self, tag: str, **attrs: str) -> Node:
        return next(n for n in self.all(tag) if all(n.attrs.get(k) == v for k, v in attrs.items()))


class _Tree(HTMLParser):
    VOID = {"meta", "link", "input", "br", "hr", "img", "source", "wbr", "col"}

    def __init__(self):
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    tree = _Tree()
    tree.feed(html)
    return tree.root


def get(client, path: str, status: int = 200) -> Node:
    answer = client.get(path)
    assert answer.status_code == status, f"{path}: {answer.status_code}"
    return parse(answer.get_data(as_text=True))


def route(app, href: str) -> tuple[str, dict]:
    """The endpoint and arguments a link leads to (so a URL's quoting is checked too)."""
    return app.url_map.bind("localhost").match(unquote(urlsplit(href).path))


def query(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


def hrefs(node: Node) -> list[str]:
    return [a.attrs["href"] for a in node.all("a") if a.attrs.get("href")]


def body_rows(doc: Node, caption_start: str) -> list[Node]:
    table = next(t for t in doc.all("table") if t.first("caption").text().startswith(caption_start))
    return table.first("tbody").all("tr")


# --------------------------------------------------------------------------- the figures


def figures(doc: Node) -> dict[str, str]:
    return {f.first("dt").text(): f.first("dd").text() for f in doc.all("div")
            if f.attrs.get("class") == "figure"}  # fmt: skip


def test_the_overview_shows_explores_figures_with_their_denominators(client, engine):
    dataset = load_dataset(engine)
    o = explore.overview(dataset, default_window(dataset))
    doc = get(client, f"{BASE}/")
    shown = figures(doc)
    m = o.metrics
    assert shown["Token yield"] == (
        f"{m.token_yield:.0%} ({m.tokens_shipped:,.0f} of {m.tokens_total:,.0f} tokens shipped)"
    )
    fp = m.first_pass
    assert shown["First-pass yield"].startswith(
        f"{fp.value:.0%} ({fp.k} of {fp.n} finished tasks; 95% interval {fp.low:.0%} to "
    )
    assert shown["Cost per shipped task"].endswith(f"over {m.shipped_tasks} shipped tasks)")
    assert shown["Open tasks"].startswith(f"{o.open_tasks} ")
    assert f"Showing {o.window.label}, the latest week with finished tasks" in doc.text()
    weeks = {r.first("th").text(): [td.text() for td in r.all("td")]
             for r in body_rows(doc, "The charts' figures")}  # fmt: skip
    assert list(weeks) == [w.label for w in o.trend]
    for w in o.trend:
        assert weeks[w.label][0] == str(w.metrics.tasks)
        ty = w.metrics.token_yield
        assert weeks[w.label][2] == ("n/a" if ty is None else f"{ty:.0%}")
    assert len(doc.all("svg")) == 5  # spend, token yield, first-pass, cost yield, cost per shipped


def test_a_figure_without_data_says_why(app, engine):
    with Session(engine) as session, session.begin():
        upsert_installation(session, 9, "initech")
    client = app.test_client()
    sign_in(client, installations=(9,))
    shown = figures(get(client, "/installations/9/"))
    assert (
        shown["Token yield"] == "n/a (0 of 0 tokens shipped) no agent task finished in these weeks"
    )
    assert shown["Cost per shipped task"].startswith("n/a ")


def test_a_chosen_window_is_shown_and_bad_parameters_are_refused(client):
    text = get(client, f"{BASE}/matrix?weeks=2&to=2026-W46").text()
    assert "Showing 2026-W45 to 2026-W46 (2 ISO weeks" in text
    for bad in ("weeks=0", "weeks=105", "weeks=ten", "to=2026-47", "to=2026-W99"):
        answer = client.get(f"{BASE}/?{bad}")
        assert answer.status_code == 400, bad
        assert ("weeks" in bad) == ("weeks must be a whole number" in answer.get_data(as_text=True))
    for bad in ("page=0", "per_page=101", "since=2026-13-01", "outcome=won",
                "since=2026-11-10&until=2026-11-09"):  # fmt: skip
        assert client.get(f"{BASE}/tasks?{bad}").status_code == 400, bad
        assert client.get(f"{BASE}/pulls?{bad}").status_code == 400, bad


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/?to=0001-W01", "to: must be an ISO week like 2026-W47 of the years 1000 to 2999"),
        ("/matrix?to=9999-W52", "to: must be an ISO week"),
        ("/calibration?to=9999-W52", "to: must be an ISO week"),
        ("/repositories?to=0001-W01", "to: must be an ISO week"),
        ("/tasks?until=9999-12-31", "until must be a date like 2026-11-30, from 1000-01-01"),
        ("/pulls?since=0001-01-01", "since must be a date like 2026-11-30, from 1000-01-01"),
        (f"/tasks?page={2**63}", "page must be a whole number from 1 to 1000000"),
        (f"/pulls/{REPO}/{2**63}", "a pull request number is at most 2147483647"),
        (f"/tasks/{REPO}/pr%00", "contains a NUL character"),
    ],
)
def test_the_calendars_edges_are_a_400_page_saying_why(client, path, reason):
    """Each of these overflowed date arithmetic or a SQL integer (issue 16): a 500."""
    answer = client.get(BASE + path)
    assert answer.status_code == 400 and answer.content_type.startswith("text/html")
    assert reason in parse(answer.get_data(as_text=True)).text()


# --------------------------------------------------------------------------- the drill-down


def test_each_heatmap_cell_opens_exactly_its_tasks(app, client, engine):
    dataset = load_dataset(engine)
    window = default_window(dataset)
    cells = {(c.tier, c.task_class): c for c in explore.matrix(dataset, window).cells}
    doc = get(client, f"{BASE}/matrix")
    links = hrefs(doc.first("svg"))
    assert len(links) == len(cells) > 2
    since, until = window.dates()
    for href in links:
        q = query(href)
        assert q["since"] == [since.isoformat()] and q["until"] == [until.isoformat()]
        cell = cells[(q["tier"][0], q["task_class"][0])]
        listed = [route(app, h)[1] for r in body_rows(get(client, href), "Tasks") for h in
                  hrefs(r.first("th"))]  # fmt: skip
        assert len(listed) == cell.tasks
        for args in listed:
            repository = f"{args['owner']}/{args['repo']}"
            found = explore.task(dataset, repository, f"{repository}:{args['key']}")
            assert found is not None and window.contains(found.finished_at)
            assert found.task.task_class == cell.task_class
            assert (found.task.tier or "unknown") == cell.tier


def test_the_matrix_table_and_recommendations_match_explore(client, engine):
    dataset = load_dataset(engine)
    m = explore.matrix(dataset, default_window(dataset))
    rows = body_rows(get(client, f"{BASE}/matrix"), "First-pass yield, token yield")
    assert [(r.first("th").text(), r.first("td").text()) for r in rows] == sorted(
        ((c.tier, c.task_class) for c in m.cells), key=lambda k: (m.tiers.index(k[0]), k[1])
    )
    advice = body_rows(get(client, f"{BASE}/matrix"), "Routing recommendations")
    assert [r.first("th").text() for r in advice] == [a.task_class for a in m.advice]


# --------------------------------------------------------------------------- lists


def pull_numbers(app, doc: Node) -> list[int]:
    rows = body_rows(doc, "Pull requests")
    return [route(app, r.first("th").first("a").attrs["href"])[1]["number"] for r in rows]


def test_pull_request_pages_keep_their_filters_to_the_end(app, client, engine):
    wanted = explore.pulls(load_dataset(engine), explore.TaskFilter(tier="economy"))
    seen, url = [], f"{BASE}/pulls?tier=economy&per_page=3"
    while url:
        doc = get(client, url)
        seen += pull_numbers(app, doc)
        following = [a.attrs["href"] for a in doc.all("a") if a.attrs.get("rel") == "next"]
        for href in following:
            assert query(href)["tier"] == ["economy"] and query(href)["per_page"] == ["3"]
        url = following[0] if following else None
    assert seen == [r.pull.number for r in wanted] and len(wanted) > 3
    past = get(client, f"{BASE}/pulls?tier=economy&page=99")
    assert "Page 99 is past the end" in past.text()
    last = next(h for h in hrefs(past) if "page=" in h)
    assert query(last)["tier"] == ["economy"] and pull_numbers(app, get(client, last))


def test_filters_show_as_removable_chips_and_reach_the_csv(client):
    doc = get(client, f"{BASE}/pulls?tier=economy&outcome=shipped&repository=")
    chips = {a.text(): a.attrs["href"] for a in doc.first("ul", **{"class": "chips"}).all("a")}
    assert query(chips["tier: economy ×"]) == {"outcome": ["shipped"]}
    assert query(chips["outcome: shipped ×"]) == {"tier": ["economy"]}
    csv = next(a.attrs["href"] for a in doc.all("a") if a.text() == "Download CSV")
    assert urlsplit(csv).path == f"/api/v1/installations/{INSTALLATION}/pulls.csv"
    assert query(csv) == {"tier": ["economy"], "outcome": ["shipped"]}
    answer = client.get(csv)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "selected" in doc.first("select", name="tier").first("option", value="economy").attrs


def test_the_task_list_filters_by_outcome_and_counts(app, client, engine):
    dataset = load_dataset(engine)
    wanted = explore.tasks(dataset, explore.TaskFilter(outcome="abandoned"))
    doc = get(client, f"{BASE}/tasks?outcome=abandoned")
    assert f"{len(wanted)} tasks matching" in doc.text()
    listed = [
        route(app, h)[1]["key"] for r in body_rows(doc, "Tasks") for h in hrefs(r.first("th"))
    ]
    assert listed == [d.task.id.removeprefix(f"{REPO}:") for d in wanted]
    assert "No task matches these filters" in get(client, f"{BASE}/tasks?tier=galactic").text()


# --------------------------------------------------------------------------- pull request, task


def test_the_pull_request_page_has_the_attempts_timeline_and_the_waterfall(client, engine):
    row = explore.pull(load_dataset(engine), REPO, 12)
    assert row is not None
    doc = get(client, f"{BASE}/pulls/acme/app/12")
    attempts = body_rows(doc, "Attempts of task")
    task = row.tasks[0].task
    assert [r.first("th").text() for r in attempts] == [str(a.number) for a in task.attempts]
    assert [r.all("td")[0].text() for r in attempts] == ["economy", "frontier"]
    assert "CI failed" in attempts[0].text() and "merged" in attempts[1].text()
    assert "https://github.com/acme/app/pull/12" in hrefs(doc)
    buckets = [r.first("th").text() for r in body_rows(doc, "Tokens and dollars")]
    assert buckets == ["shipped", "rework", "misroute", "abandoned", "reverted", "open"]
    assert len(doc.all("svg")) == 1


def test_a_task_key_with_odd_characters_round_trips(app, client, engine):
    dataset = load_dataset(engine)
    found = explore.task(dataset, REPO, f"{REPO}:task:{ODD_KEY}")
    assert found is not None
    with app.test_request_context():
        href = url_for("dashboard.task", installation_id=INSTALLATION, owner="acme", repo="app",
                       key=f"task:{ODD_KEY}")  # fmt: skip
    assert route(app, href)[1]["key"] == f"task:{ODD_KEY}"
    doc = get(client, href)
    assert f"Task {ODD_KEY}" in doc.first("h1").text()
    assert [route(app, h)[1]["number"] for h in hrefs(doc.first("section", **{
        "aria-labelledby": "prs"}))] == [21]  # fmt: skip
    listed = hrefs(get(client, f"{BASE}/tasks?task_class={HOSTILE_CLASS}"))
    assert href in listed


def test_objects_of_another_installation_are_not_found_under_this_one(client):
    get(client, f"{BASE}/pulls/globex/app/12", 404)
    get(client, f"{BASE}/tasks/globex/app/pr:12", 404)
    get(client, f"{BASE}/pulls/acme/app/999", 404)
    get(client, f"/installations/{OTHER}/", 404)


# --------------------------------------------------------------------------- operations


def test_operations_are_for_admins_and_show_only_their_failures(client, admin, engine):
    failed_delivery(engine, "mine", INSTALLATION, REPO, error="<b>GitHub said 502</b>")
    failed_delivery(engine, "theirs", OTHER, OTHER_REPO)
    get(client, f"{BASE}/operations", 403)
    assert f"{BASE}/operations" not in hrefs(get(client, f"{BASE}/"))
    doc = get(admin, f"{BASE}/operations")
    assert f"{BASE}/operations" in hrefs(doc)
    failed = body_rows(doc, "The latest failed deliveries")
    assert [r.first("th").text() for r in failed] == ["mine"]
    assert failed[0].first("pre").text() == "<b>GitHub said 502</b>"  # text, not markup
    assert "theirs" not in doc.text()


def test_operations_list_the_installations_last_digests(admin, engine):
    now = datetime(2026, 11, 16, 9, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        for installation, channel, error in ((INSTALLATION, "slack:leads", None),
                                             (INSTALLATION, "email:leads", "SMTP said 550"),
                                             (OTHER, "slack:globex", None)):  # fmt: skip
            assert claim_digest_send(session, installation, channel, "2026-W46", now, lambda s: 0)
            finish_digest_send(session, installation, channel, "2026-W46", now, error)
    rows = body_rows(get(admin, f"{BASE}/operations"), "The latest weekly digests")
    shown = {r.first("th").text(): [td.text() for td in r.all("td")] for r in rows}
    assert set(shown) == {"slack:leads", "email:leads"}
    assert shown["slack:leads"][:3] == ["2026-W46", "sent", "2026-11-16 09:00 UTC"]
    assert shown["email:leads"][1] == "failed" and shown["email:leads"][-1] == "SMTP said 550"


def test_a_retry_needs_the_form_token_then_requeues_and_says_so(admin, engine):
    failed_delivery(engine, "mine", INSTALLATION, REPO)
    failed_delivery(engine, "theirs", OTHER, OTHER_REPO)
    doc = get(admin, f"{BASE}/operations")
    form = next(f for f in doc.all("form") if f.all("input") and any(
        i.attrs.get("name") == "guid" for i in f.all("input")))  # fmt: skip
    fields = {i.attrs["name"]: i.attrs["value"] for i in form.all("input")}
    assert fields["guid"] == "mine"
    refused = admin.post(form.attrs["action"], data={"guid": "mine"})
    assert refused.status_code == 400 and inbox.get(engine, "mine").status == inbox.FAILED
    answer = admin.post(form.attrs["action"], data={**fields, "guid": ["mine", "theirs"]})
    assert answer.status_code == 303 and answer.location.endswith(f"{BASE}/operations")
    assert inbox.get(engine, "mine").status == inbox.RECEIVED
    assert inbox.get(engine, "theirs").status == inbox.FAILED
    assert "Re-queued 1 of the chosen deliveries" in get(admin, answer.location).text()


# --------------------------------------------------------------------------- every page


def crawl(app, client, start: str, limit: int = 300) -> dict[str, str]:
    """Every page of the installation reachable from ``start``, by path, with its HTML."""
    pages, todo = {}, [start]
    while todo and len(pages) < limit:
        href = todo.pop()
        path = urlsplit(href).path
        if href in pages or not path.startswith(BASE) or route(app, href)[0] == "dashboard.retry":
            continue
        answer = client.get(href)
        assert answer.status_code == 200, f"{href}: {answer.status_code}"
        pages[href] = answer.get_data(as_text=True)
        todo += [h for h in hrefs(parse(pages[href])) if h not in pages]
    return pages


def test_every_page_is_escaped_accessible_and_needs_no_inline_style_or_script(app, admin):
    pages = crawl(app, admin, f"{BASE}/")
    assert {route(app, h)[0] for h in pages} >= {
        f"dashboard.{name}" for name in ("overview", "matrix", "repositories", "pulls", "pull",
                                         "tasks", "task", "calibration", "operations",
                                         "scorecard")
    }  # fmt: skip
    for href, html in pages.items():
        assert HOSTILE_TITLE not in html and "<img" not in html, href
        doc = parse(html)
        assert not doc.all("script") and not doc.all("style"), href
        assert not [n.tag for n in doc.all() if "style" in n.attrs], href
        assert doc.first("html").attrs["lang"] == "en" and doc.first("title").text(), href
        for table in doc.all("table"):
            assert table.all("caption"), href
            assert all(th.attrs.get("scope") in ("col", "row") for th in table.all("th")), href
        for svg in doc.all("svg"):
            assert svg.first("title").text(), href
    pulls = pages[next(h for h in pages if route(app, h)[0] == "dashboard.pulls")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pulls


# --------------------------------------------------------------------------- the way in


def test_a_huge_trailer_or_title_is_cut_on_every_page(ledger_engine):
    """A 1 MB pull request title and long trailers (anyone who can push writes them) made the
    list pages megabytes long for everyone: each value is shown cut, with an ellipsis, and long
    ones are left out of the filter form's options. (Trailers stay under PostgreSQL's index
    entry limit here: the ledger could not store 1 MB of them.)"""
    huge, long = "Z" * 1_000_000, "Z" * 600
    commits = [commit("h1", 0, pr=31, task="BIG-1", task_class=long, tier=long, model=long)]
    week = (commits, [pr(31, title=huge)], [event(MERGED, 10, 31)])
    seed(ledger_engine, weeks=(week,))
    client = create_app(make_settings(), ledger_engine).test_client()
    sign_in(client, installations=(INSTALLATION,))
    tasks = get(client, f"{BASE}/tasks")
    task_page = next(h for h in hrefs(tasks) if "BIG-1" in h)
    for path in (f"{BASE}/tasks", f"{BASE}/pulls", f"{BASE}/pulls/{REPO}/31", task_page):
        body = client.get(path).get_data(as_text=True)
        assert len(body) < 100_000, path
        assert "Z" * 199 + "…" in body and "Z" * 200 not in body, path


def test_the_home_page_lists_several_installations_and_skips_a_single_one(app, client):
    answer = client.get("/")
    assert answer.status_code == 302 and answer.location.endswith(f"{BASE}/")
    both = app.test_client()
    sign_in(both, installations=(INSTALLATION, OTHER))
    doc = get(both, "/")
    assert [a.text() for a in doc.first("main").all("a")] == ["acme", "globex"]
    switcher = doc.first("details", **{"class": "switcher"})
    assert f"/installations/{OTHER}/" in hrefs(switcher)
    anonymous = app.test_client().get(f"{BASE}/matrix")
    assert anonymous.status_code == 302 and "/login" in anonymous.location


def test_signed_in_pages_offer_sign_out_and_local_mode_says_so(client, engine):
    doc = get(client, f"{BASE}/")
    form = doc.first("form", **{"class": "signout"})
    assert form.attrs["method"] == "post" and form.first("input", name="csrf_token").attrs["value"]
    assert "Signed in as ada" in form.text() and "Local mode" not in doc.text()
    local = create_app(make_settings(local_mode=True), engine).test_client()
    text = get(local, f"{BASE}/").text()
    assert "Local mode: no sign-in, visible only from this machine." in text
    assert "Sign out" not in text
