"""What the dashboard shows: one installation's figures, filters and operations, scoped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.app import explore
from bot.digest.period import period_of
from bot.digest.query import build_digest
from bot.engine.yields import summarise
from bot.ledger import inbox
from tests.scenario import INSTALLATION, REPO, failed_delivery, load_dataset, seed

OTHER, OTHER_REPO = 8, "globex/app"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.fixture
def engine(ledger_engine):
    seed(ledger_engine)
    seed(ledger_engine, installation=OTHER, account="globex", repository=OTHER_REPO)
    return ledger_engine


def test_a_dataset_holds_only_its_installation(engine):
    mine, theirs = load_dataset(engine), load_dataset(engine, OTHER)
    assert mine.repositories == (REPO,) and theirs.repositories == (OTHER_REPO,)
    assert {d.task.repository for d in mine.dated} == {REPO}
    assert {p.repository for p in mine.pulls} == {REPO}
    assert len(mine.dated) == len(theirs.dated) > 0
    with Session(engine) as session:
        assert explore.load_installation(session, 999) is None
        assert [row[0] for row in explore.installation_rows(session, [OTHER, 999])] == [OTHER]


def test_the_default_window_ends_with_the_latest_week_a_task_finished(engine):
    window = explore.window(load_dataset(engine), None, 12, NOW)
    assert window.weeks[-1].label == "2026-W46" and len(window.weeks) == 12
    assert window.latest and window.label == "2026-W35 to 2026-W46"
    chosen = explore.window(load_dataset(engine), "2026-W48", 4, NOW)
    assert [w.label for w in chosen.weeks] == ["2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    assert not chosen.latest
    assert chosen.dates() == (date(2026, 11, 2), date(2026, 11, 29))
    with pytest.raises(ValueError, match="weeks"):
        explore.window(load_dataset(engine), None, 0, NOW)


def test_a_quiet_installation_shows_this_week():
    empty = explore.Dataset(1, "acme", "active", ())
    assert explore.window(empty, None, 1, NOW).weeks[0].label == "2026-W48"
    assert not explore.window(empty, None, 1, NOW).latest


def test_the_overview_agrees_with_the_weekly_digest(engine):
    dataset = load_dataset(engine)
    overview = explore.overview(dataset, explore.window(dataset, None, 12, NOW))
    with Session(engine) as session:
        digest = build_digest(session, INSTALLATION, period_of("2026-W46", "UTC", NOW))
    by_week = {w.label: w.metrics for w in overview.trend}
    assert [p.token_yield for p in digest.trend] == [m.token_yield for m in by_week.values()]
    assert [p.spend_usd for p in digest.trend] == [m.usd_total for m in by_week.values()]
    finished = [d.task for d in dataset.dated if d.finished_at is not None]
    assert overview.metrics == summarise(finished)
    assert overview.open_tasks == sum(d.finished_at is None for d in dataset.dated) > 0


def test_the_matrix_orders_tiers_cheapest_first_and_counts_every_finished_task(engine):
    dataset = load_dataset(engine)
    m = explore.matrix(dataset, explore.window(dataset, None, 12, NOW))
    assert m.tiers == ("economy", "standard", "frontier")
    assert sum(c.tasks for c in m.cells) == sum(d.finished_at is not None for d in dataset.dated)
    assert {(c.tier, c.task_class) for c in m.cells} <= {(t, k) for t in m.tiers for k in m.classes}


def test_filters_narrow_tasks_by_every_field(engine):
    dataset = load_dataset(engine)
    everything = explore.tasks(dataset, explore.TaskFilter())
    assert len(everything) == len(dataset.dated)
    assert everything[0].finished_at is None  # open tasks first, then latest finished
    finished = [d.finished_at for d in everything if d.finished_at]
    assert finished == sorted(finished, reverse=True)
    for field in ("tier", "task_class", "agent", "model", "outcome"):
        for value in explore.choices(dataset)[field]:
            found = explore.tasks(dataset, explore.TaskFilter(**{field: value}))
            assert all(matches(explore.TaskFilter(**{field: value}), d.task) for d in found)
    shipped = explore.tasks(dataset, explore.TaskFilter(outcome="shipped"))
    assert shipped and {d.task.status for d in shipped} == {"shipped"}
    assert explore.tasks(dataset, explore.TaskFilter(repository=OTHER_REPO)) == []


def test_date_filters_are_inclusive_and_leave_out_open_tasks(engine):
    dataset = load_dataset(engine)
    w46 = explore.tasks(
        dataset, explore.TaskFilter(since=date(2026, 11, 9), until=date(2026, 11, 15))
    )
    assert w46 and all(d.finished_at and d.finished_at.date() >= date(2026, 11, 9) for d in w46)
    day = w46[0].finished_at.date()
    assert w46[0] in explore.tasks(dataset, explore.TaskFilter(since=day, until=day))
    assert all(d.finished_at is not None for d in w46)


def test_pull_requests_carry_their_tasks_and_filter_by_outcome(engine):
    dataset = load_dataset(engine)
    rows = explore.pulls(dataset, explore.TaskFilter())
    assert rows and all(r.tasks for r in rows)
    assert all(r.pull.number in d.task.pr_numbers for r in rows for d in r.tasks)
    abandoned = explore.pulls(dataset, explore.TaskFilter(outcome="abandoned"))
    assert abandoned and {r.outcome for r in abandoned} == {"abandoned"}
    frontier = explore.pulls(dataset, explore.TaskFilter(tier="frontier"))
    assert frontier and all("frontier" in r.values(lambda t: t.tier) for r in frontier)
    row = explore.pull(dataset, REPO, rows[0].pull.number)
    assert row is not None and row.tasks == rows[0].tasks
    assert explore.pull(dataset, OTHER_REPO, rows[0].pull.number) is None


def test_task_lookup_is_scoped_to_the_dataset(engine):
    dataset, theirs = load_dataset(engine), load_dataset(engine, OTHER)
    key = dataset.dated[0].task.id
    assert explore.task(dataset, REPO, key) == dataset.dated[0]
    assert explore.task(theirs, REPO, key) is None


def test_pages_split_a_list_and_count_it(engine):
    page = explore.paginate(list(range(45)), 3, 20)
    assert page.items == tuple(range(40, 45)) and page.pages == 3 and page.total == 45
    assert explore.paginate([], 1, 20).pages == 1
    assert explore.paginate(list(range(5)), 9, 20).items == ()
    with pytest.raises(ValueError):
        explore.paginate([], 0, 20)


def test_calibration_and_waterfall_cover_the_window(engine):
    dataset = load_dataset(engine)
    window = explore.window(dataset, None, 12, NOW)
    assert len(explore.calibration_buckets(dataset, window)) == 5
    spend = explore.waterfall(dataset, window)
    assert (
        sum(s.tokens for s in spend.values())
        == explore.overview(dataset, window).metrics.tokens_total
    )


def test_operations_and_retries_stay_within_the_installation(engine):
    failed_delivery(engine, "mine", INSTALLATION, REPO, error="GitHub said 502")
    failed_delivery(engine, "theirs", OTHER, OTHER_REPO)
    ops = explore.operations(engine, INSTALLATION)
    assert [d.guid for d in ops.failed] == ["mine"] and ops.failed[0].error == "GitHub said 502"
    assert ops.queue.counts[inbox.FAILED] == 1
    assert explore.retry_failed(engine, INSTALLATION, ["theirs"]) == 0
    inbox.store(engine, "done", "ping", b"{}", {"installation": {"id": INSTALLATION}})
    claimed = inbox.claim(engine, "w", timedelta(minutes=1))
    with engine.begin() as connection:
        assert inbox.finish(connection, claimed.guid, "w")
    assert explore.retry_failed(engine, INSTALLATION, ["done"]) == 0  # only failed ones
    assert inbox.get(engine, "theirs").status == inbox.FAILED
    assert explore.retry_failed(engine, INSTALLATION, []) == 1
    assert inbox.get(engine, "mine").status == inbox.RECEIVED
    assert inbox.get(engine, "theirs").status == inbox.FAILED


# The lists are filtered in SQL; this is what they must mean, said in Python over every task.
FILTER_FIELDS = ("repository", "tier", "task_class", "agent", "model", "outcome")


def matches(wanted, task) -> bool:
    """The task has every value the filter names ("unknown": none recorded)."""
    values = {
        "repository": task.repository,
        "tier": task.tier or "unknown",
        "task_class": task.task_class,
        "agent": task.agent or "unknown",
        "model": task.model or "unknown",
        "outcome": task.status,
    }
    return all(getattr(wanted, k) in (None, v) for k, v in values.items())


def in_dates(wanted, when) -> bool:
    """``when`` falls on the filter's inclusive UTC dates (nothing falls on them if None)."""
    if wanted.since is None and wanted.until is None:
        return True
    if when is None:
        return False
    day = when.astimezone(UTC).date()
    return (wanted.since is None or day >= wanted.since) and (
        wanted.until is None or day <= wanted.until
    )


def _expected_tasks(dataset, wanted):
    return {
        d.task.id
        for d in dataset.dated
        if matches(wanted, d.task) and in_dates(wanted, d.finished_at)
    }


def _expected_pulls(dataset, wanted):
    found = set()
    for pull in dataset.pulls:
        own = [d for d in dataset.dated if d.task.repository == pull.repository
               and pull.number in d.task.pr_numbers]  # fmt: skip
        by_task = explore.TaskFilter(**{f: getattr(wanted, f) for f in FILTER_FIELDS[:-1]})
        worst = next((s for s in explore.WORST_FIRST if s in {d.task.status for d in own}), None)
        matched = own and any(matches(by_task, d.task) for d in own)
        if matched and wanted.outcome in (None, worst) and in_dates(wanted, pull.created_at):
            found.add((pull.repository, pull.number))
    return found


def test_sql_filters_mean_what_the_python_filter_says(engine):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    dataset = load_dataset(engine)
    options = explore.choices(dataset)
    days = st.one_of(st.none(), st.dates(date(2026, 10, 30), date(2026, 11, 20)))
    fields = {
        f: st.one_of(st.none(), st.sampled_from([*options[f], "unknown"])) for f in FILTER_FIELDS
    }

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.builds(explore.TaskFilter, **fields, since=days, until=days))
    def check(wanted):
        page = explore.task_page(dataset, wanted, 1, 1000)
        assert {d.task.id for d in page.items} == _expected_tasks(dataset, wanted)
        assert page.total == len(page.items)
        pulls = explore.pull_page(dataset, wanted, 1, 1000)
        assert {(r.pull.repository, r.pull.number) for r in pulls.items} == _expected_pulls(
            dataset, wanted
        )

    check()


def test_pages_of_a_list_are_its_slices(engine):
    dataset = load_dataset(engine)
    everything = explore.tasks(dataset, explore.TaskFilter())
    count = explore.task_page(dataset, explore.TaskFilter(), 1, 3).pages
    pages = [explore.task_page(dataset, explore.TaskFilter(), n, 3) for n in range(1, count + 2)]
    assert [d for p in pages for d in p.items] == everything and not pages[-1].items
    assert {p.total for p in pages} == {len(everything)}
    pulls = explore.pulls(dataset, explore.TaskFilter())
    count = explore.pull_page(dataset, explore.TaskFilter(), 1, 2).pages
    by_two = [explore.pull_page(dataset, explore.TaskFilter(), n, 2) for n in range(1, count + 1)]
    assert [r.pull for p in by_two for r in p.items] == [r.pull for r in pulls]
