"""SVG charts: geometry, text alternatives, escaping and the CSP rules, on parsed output."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from bot.render.charts import (
    Bucket,
    CurvePoint,
    HeatCell,
    Point,
    Step,
    bar_chart,
    calibration_chart,
    curve_chart,
    heatmap,
    line_chart,
    plain,
    waterfall_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
TAGS = {
    "svg",
    "title",
    "desc",
    "g",
    "line",
    "text",
    "rect",
    "circle",
    "polyline",
    "a",
    "defs",
    "linearGradient",
    "stop",
}
HOSTILE = ["<script>alert(1)</script>", "\"&'", "]]><x/>", "&amp;", "a\x00b\x1bc", "\u202eevil"]
WEEKS = [f"2026-W{w}" for w in range(36, 48)]


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def tag(e: ET.Element) -> str:
    return e.tag.removeprefix(SVG)


def of_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in e.get("class", "").split()]


def title_of(e: ET.Element) -> str:
    return e.find(f"{SVG}title").text


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]


def tick(root: ET.Element, text: str) -> float:
    """The y of the gridline whose tick label is text."""
    for e in root.iter(f"{SVG}text"):
        if e.text == text and e.get("text-anchor") == "end":
            return float(e.get("y")) - 3
    raise AssertionError(f"no tick {text}")


def top(rect: ET.Element) -> float:
    return float(rect.get("y"))


def bottom(rect: ET.Element) -> float:
    return float(rect.get("y")) + float(rect.get("height"))


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


X, Y = ("x", "x1", "x2", "cx"), ("y", "y1", "y2", "cy")


def check(svg) -> ET.Element:
    """The rules every chart obeys: well-formed, no style or script, named and described,
    unique sanitised ids, finite coordinates inside the viewBox."""
    assert isinstance(svg, Markup)  # inlined as is by an autoescaping page template
    raw = str(svg)
    root = parse(raw)
    assert "<style" not in raw and "<script" not in raw.lower()
    assert {tag(e) for e in root.iter()} <= TAGS
    for e in root.iter():
        assert "style" not in e.attrib and not any(k.lower().startswith("on") for k in e.attrib)
    check_names(root)
    _, _, width, height = map(float, root.get("viewBox").split())
    for e in root.iter():
        check_geometry(e, width, height)
    return root


def check_names(root: ET.Element) -> None:
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", i) for i in ids)
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.get("role") in ("img", "group")
    assert root.find(f"{SVG}title").get("id") == title_id
    assert root.find(f"{SVG}desc").get("id") == desc_id and root.find(f"{SVG}desc").text


def check_geometry(e: ET.Element, width: float, height: float) -> None:
    """Every coordinate a finite number inside the viewBox (a NaN fails every comparison)."""
    for names, limit in ((X, width), (Y, height)):
        for name in names:
            if name in e.attrib:
                assert 0 <= float(e.get(name)) <= limit, (name, e.attrib)
    for pair in e.get("points", "").split():
        x, y = map(float, pair.split(","))
        assert 0 <= x <= width and 0 <= y <= height
    for name in ("width", "height", "r", "font-size", "stroke-width"):
        assert 0 <= float(e.get(name, 0)) < math.inf, (name, e.attrib)
    if tag(e) == "rect":
        assert float(e.get("x")) + float(e.get("width")) <= width + 0.1
        assert float(e.get("y")) + float(e.get("height")) <= height + 0.1


# --------------------------------------------------------------------------- line chart


def test_line_chart_describes_the_trend_and_breaks_at_missing_weeks():
    values = [0.41, 0.45, None, Decimal("0.5"), 0.55, 0.0, None, None, 0.6, 0.58, 0.61, 0.63]
    root = check(
        line_chart(
            "ty", "Token yield by week", [Point(w, v) for w, v in zip(WEEKS, values, strict=True)]
        )
    )
    desc = root.find(f"{SVG}desc").text
    assert desc.startswith("Token yield by week, 2026-W36 to 2026-W47: from 41% to 63%")
    assert "lowest 0% (2026-W41)" in desc and "No data for 2026-W38, 2026-W42, 2026-W43" in desc
    points = of_class(root, "point")
    assert [title_of(p) for p in points][:2] == ["2026-W36: 41.0%", "2026-W37: 45.0%"]
    assert len(points) == 9
    # the line breaks at every missing week: runs of 2, 3 and 4 known points
    assert [len(p.get("points").split()) for p in of_class(root, "line")] == [2, 3, 4]
    gaps = of_class(root, "na")
    assert [title_of(g) for g in gaps] == [
        f"{w}: no data" for w in ("2026-W38", "2026-W42", "2026-W43")
    ]
    # a missing week has no point at all, while a real 0% sits on the 0% gridline
    xs = {float(p.get("cx")) for p in points}
    assert all(float(g.get("x")) not in xs for g in gaps)
    zero, full = tick(root, "0%"), tick(root, "100%")
    assert float(points[4].get("cy")) == zero and title_of(points[4]) == "2026-W41: 0.0%"
    assert float(points[2].get("cy")) == pytest.approx((zero + full) / 2, abs=0.1)


def test_line_chart_in_dollars_has_a_round_scale_and_its_unit():
    root = check(
        line_chart(
            "c", "Cost per shipped task", [Point("a", 1.2), Point("b", Decimal("3.2"))], unit="usd"
        )
    )
    ticks = [e.text for e in root.iter(f"{SVG}text") if e.get("text-anchor") == "end"]
    assert ticks == ["$0", "$1", "$2", "$3", "$4"]  # whole dollars when every tick is whole
    assert "Cost per shipped task (US dollars)" in texts(root)
    assert float(of_class(root, "point")[1].get("cy")) == pytest.approx(
        tick(root, "$0") + 0.8 * (tick(root, "$4") - tick(root, "$0")), abs=0.1
    )
    root = check(line_chart("c", "Cost", [Point("a", 0.3), Point("b", 0.0042)], unit="usd"))
    ticks = [e.text for e in root.iter(f"{SVG}text") if e.get("text-anchor") == "end"]
    assert ticks == ["$0.00", "$0.10", "$0.20", "$0.30"]
    assert title_of(of_class(root, "point")[1]) == "b: $0.0042"


def test_many_labels_are_thinned_but_every_point_keeps_its_title():
    points = [Point(f"2026-W{w:02}", 0.5) for w in range(1, 53)]
    root = check(line_chart("y", "Yield", points))
    labels = of_class(root, "x-label")
    assert 5 < len(labels) < 52 and labels[-1].text == "2026-W52"
    assert len({title_of(p) for p in of_class(root, "point")}) == 52


# --------------------------------------------------------------------------- bar chart


def test_bar_chart_missing_is_not_zero():
    points = [Point("W1", Decimal("2.50")), Point("W2", None), Point("W3", 0), Point("W4", 5.0)]
    root = check(bar_chart("spend", "Spend by week", points))
    bars = of_class(root, "bar")
    assert [title_of(b) for b in bars] == ["W1: $2.50", "W3: $0.00", "W4: $5.00"]
    assert float(bars[0].get("height")) == pytest.approx(float(bars[2].get("height")) / 2, abs=0.1)
    assert float(bars[1].get("height")) == 0  # a real zero is a flat bar ...
    (gap,) = of_class(root, "na")  # ... a missing week is an "n/a" mark and no bar
    assert gap.text == "n/a" and title_of(gap) == "W2: no data"
    assert (
        root.find(f"{SVG}desc").text
        == "Spend by week, W1 to W4: W1 $2.50; W2 no data; W3 $0.00; W4 $5.00."
    )
    assert [t for t in texts(root) if t.startswith("$2.50")] == ["$2.50"]  # the value above W1


def test_bar_chart_tokens_and_counts():
    root = check(bar_chart("t", "Tokens", [Point("x", 2_400_000)], unit="tokens"))
    assert title_of(of_class(root, "bar")[0]) == "x: 2,400,000" and "2.4M" in texts(root)
    root = check(bar_chart("n", "Tasks", [Point("x", 3)], unit="count"))
    assert title_of(of_class(root, "bar")[0]) == "x: 3"


# --------------------------------------------------------------------------- heatmap


def cells() -> list[HeatCell]:
    return [
        HeatCell(
            "economy",
            "bugfix",
            0.2,
            "20% (n=10)",
            "economy x bugfix: 20%, 10 tasks",
            "/cells?tier=economy&class=bugfix",
        ),
        HeatCell("economy", "docs", 0.92, "92% (n=5)", "economy x docs: 92%", None),
        HeatCell("frontier", "bugfix", None, "n/a", "frontier x bugfix: all open", "/f"),
        HeatCell(
            "frontier", "docs", 0.5, "50% (n=2)", "frontier x docs: 50%", "javascript:alert(1)"
        ),
    ]


def test_heatmap_cells_links_and_readable_text():
    rows, columns = ["economy", "frontier", "standard"], ["bugfix", "docs"]
    svg = heatmap("fpy", "First-pass yield", rows, columns, cells())
    root = check(svg)
    drawn = of_class(root, "cell")
    assert len(drawn) == 6
    by_title = {title_of(g): g for g in drawn}
    assert set(by_title) >= {"standard x bugfix: no tasks", "standard x docs: no tasks"}
    no_data = by_title["frontier x bugfix: all open"]
    assert (
        no_data.find(f"{SVG}text").text == "no data"
        and no_data.find(f"{SVG}rect").get("fill") == "#e6e6e6"
    )
    for g in drawn:
        fill, text = g.find(f"{SVG}rect").get("fill"), g.find(f"{SVG}text").get("fill")
        assert contrast(fill, text) >= 4.5, (fill, text)
    assert by_title["economy x docs: 92%"].find(f"{SVG}text").get("fill") == "#000000"
    assert by_title["economy x bugfix: 20%, 10 tasks"].find(f"{SVG}text").get("fill") == "#ffffff"
    links = root.findall(f".//{SVG}a")
    assert [a.get("href") for a in links] == ["/cells?tier=economy&class=bugfix", "/f"]
    assert 'href="/cells?tier=economy&amp;class=bugfix"' in str(svg)
    assert links[0].get("aria-label") == "economy x bugfix: 20%, 10 tasks"
    assert "javascript" not in str(svg)  # a script URL is not linked
    assert root.get("role") == "group"  # links inside role=img would be hidden from readers
    desc = root.find(f"{SVG}desc").text
    assert "Highest: economy x docs, 92% (n=5). Lowest: economy x bugfix, 20% (n=10)." in desc
    assert "Cells without data: 1; without tasks: 2." in desc
    assert root.find(f".//{SVG}linearGradient").get("id") == "fpy-scale"


def test_heatmap_escapes_names_and_links():
    tier, klass = '<script>alert("x")</script>', "\"&'"
    href = '/c?x="><script>&y=1'
    svg = heatmap('a"><b>', "t", [tier], [klass], [HeatCell(tier, klass, 0.5, "<i>", "<d>", href)])
    root = check(svg)
    assert root.find(f".//{SVG}a").get("href") == href
    column, row = of_class(root, "header")
    assert column.text == klass and title_of(row) == tier  # the clipped name keeps a tooltip
    assert row.text.endswith("…") and tier.startswith(row.text[:-1])
    assert "<i>" in texts(root) and root.get("aria-labelledby") == "ab-title ab-desc"
    assert root.get("role") == "group"


def test_heatmap_without_links_is_an_image_and_rejects_cells_outside_the_grid():
    root = check(heatmap("h", "t", ["a"], ["b"], [HeatCell("a", "b", 0.3, "30%", "a x b")]))
    assert root.get("role") == "img" and not root.findall(f".//{SVG}a")
    with pytest.raises(ValueError, match="outside the grid or given twice"):
        heatmap("h", "t", ["a"], ["b"], [HeatCell("a", "c", 0.3, "30%", "")])
    with pytest.raises(ValueError, match="outside the grid or given twice"):
        heatmap("h", "t", ["a"], ["b"], [HeatCell("a", "b", 0.3, "", "")] * 2)


# --------------------------------------------------------------------------- calibration


def test_calibration_bars_whiskers_counts_and_the_diagonal():
    buckets = [
        Bucket(0.0, 0.2, 0.35, (0.2, 0.5), 20),
        Bucket(0.2, 0.4, None, None, 0),
        Bucket(0.4, 0.6, 0.5, None, 3),
        Bucket(0.6, 0.8, 0.7, (0.55, 0.82), 40),
    ]
    root = check(calibration_chart("cal", "Router calibration", buckets))
    bars = of_class(root, "bar")
    assert [title_of(b) for b in bars] == [
        "0.0-0.2: 35.0% (95%: 20%-50%), n=20",
        "0.4-0.6: 50.0%, n=3",
        "0.6-0.8: 70.0% (95%: 55%-82%), n=40",
    ]
    assert [e.text for e in of_class(root, "count")] == ["n=20", "n=0", "n=3", "n=40"]
    assert (
        len(of_class(root, "whisker")) == 2
        and title_of(of_class(root, "na")[0]) == "0.2-0.4, n=0: no data"
    )
    zero, full = tick(root, "0%"), tick(root, "100%")
    (line,) = of_class(root, "reference")
    ys = [float(p.split(",")[1]) for p in line.get("points").split()]
    assert ys == pytest.approx([zero + m * (full - zero) for m in (0.1, 0.3, 0.5, 0.7)], abs=0.1)
    whisker = of_class(root, "whisker")[0].find(f"{SVG}line")
    assert float(whisker.get("y1")) == pytest.approx(zero + 0.2 * (full - zero), abs=0.1)
    desc = root.find(f"{SVG}desc").text
    assert "0.0-0.2: 35% (95%: 20%-50%), n=20, perfect calibration 10%" in desc
    assert "0.2-0.4: no data, n=0, perfect calibration 30%" in desc


# --------------------------------------------------------------------------- waterfall


def test_waterfall_bars_tile_the_total():
    steps = [
        Step("shipped", Decimal("6.50")),
        Step("retry", Decimal("1.50")),
        Step("rework", 2.0),
        Step("abandoned", Decimal("0.0042")),
        Step("misroute", Decimal("0")),
    ]
    root = check(waterfall_chart("wf", "Where the spend went", steps))
    bars = of_class(root, "bar")
    assert [b.get("class") for b in bars] == ["bar total"] + ["bar loss"] * 4 + ["bar shipped"]
    assert (
        title_of(bars[0]) == "total: $10.0042"
        and title_of(bars[1]) == "retry: $1.50, 15.0% of the total"
    )
    assert title_of(bars[-1]) == "shipped: $6.50, 65.0% of the total"
    assert top(bars[1]) == top(bars[0])  # the first loss hangs from the total
    for above, below in itertools.pairwise(bars[1:]):
        assert bottom(above) == pytest.approx(top(below), abs=1e-9)  # each starts where one ends
    assert bottom(bars[-1]) == bottom(bars[0]) == tick(root, "$0")
    heights = [float(b.get("height")) for b in bars]
    assert sum(heights[1:]) == pytest.approx(heights[0], abs=0.1)
    assert heights[2] == pytest.approx(heights[1] * 4 / 3, abs=0.1)
    assert root.find(f"{SVG}desc").text == (
        "Where the spend went: total $10.00; retry $1.50 (15%); rework $2.00 (20%); "
        "abandoned $0.0042 (0%); misroute $0.00 (0%); shipped $6.50 (65%)."
    )
    assert len(of_class(root, "connector")) == 5


def test_waterfall_in_tokens_and_bad_steps():
    root = check(
        waterfall_chart(
            "t", "Tokens", [Step("retry", 250_000), Step("Shipped", 750_000)], unit="tokens"
        )
    )
    assert [title_of(b) for b in of_class(root, "bar")] == [
        "total: 1,000,000",
        "retry: 250,000, 25.0% of the total",
        "Shipped: 750,000, 75.0% of the total",
    ]
    with pytest.raises(ValueError, match="finite amount >= 0"):
        waterfall_chart("w", "t", [Step("retry", -1)])
    with pytest.raises(ValueError, match="finite amount >= 0"):
        waterfall_chart("w", "t", [Step("retry", Decimal("NaN"))])


# --------------------------------------------------------------------------- efficiency curve


def test_curve_places_its_vertices_and_the_current_policy_by_their_shares():
    vertices = [CurvePoint(0, 0, "all on economy"), CurvePoint(0.4, 0.7, "docs on frontier"),
                CurvePoint(math.nan, 0.9, "lost"), CurvePoint(1, 1, "all on frontier")]  # fmt: skip
    root = check(curve_chart("c", "Curve", vertices, CurvePoint(0.6, 0.5, "current policy")))
    points = of_class(root, "point")
    assert [title_of(p).split(":")[0] for p in points] == [
        "all on economy", "docs on frontier", "all on frontier"
    ]  # fmt: skip
    xs, ys = [float(p.get("cx")) for p in points], [float(p.get("cy")) for p in points]
    assert xs[1] - xs[0] == pytest.approx(0.4 * (xs[2] - xs[0]), abs=0.2)
    assert ys[0] == pytest.approx(tick(root, "0%")) and ys[2] == pytest.approx(tick(root, "100%"))
    [current] = of_class(root, "current")
    assert float(current.get("cx")) == pytest.approx(xs[0] + 0.6 * (xs[2] - xs[0]), abs=0.2)
    assert (
        title_of(current) == "current policy: 60.0% of the dollars on the frontier tier, PGR 50.0%"
    )
    desc = root.find(f"{SVG}desc").text
    assert "docs on frontier: 40% of dollars, PGR 70%" in desc and "lost" not in desc
    assert desc.endswith("Current policy: 60% of dollars, PGR 50%.")
    last = [e for e in root.iter(f"{SVG}text") if e.text == "100%" and e.get("class") == "x-label"]
    assert last and last[0].get("text-anchor") == "end"  # not clipped at the plot's edge


# --------------------------------------------------------------------------- all charts


def all_charts(chart_id: str, label: str) -> list:
    return [
        line_chart(chart_id, label, [Point(label, 0.5), Point("b", None)]),
        bar_chart(chart_id, label, [Point(label, 1), Point("b", None)]),
        heatmap(chart_id, label, [label], ["c"], [HeatCell(label, "c", 0.5, label, label, label)]),
        calibration_chart(chart_id, label, [Bucket(0, 0.5, 0.4, (0.2, 0.6), 3)]),
        waterfall_chart(chart_id, label, [Step(label, 1), Step("shipped", 2)]),
        curve_chart(chart_id, label, [CurvePoint(0, 0, label), CurvePoint(1, 1, "b")]),
    ]


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_text_is_escaped_in_every_chart(label):
    for svg in all_charts("x", label):
        root = check(svg)
        assert root.find(f"{SVG}title").text == plain(label)
        assert plain(label) in root.find(f"{SVG}desc").text or "calibration" in root.get("class")


def test_ids_are_sanitised_unique_and_output_is_deterministic():
    a, b = all_charts('one"<>&', "t"), all_charts("1 two", "t")
    for x, y in zip(a, b, strict=True):
        ids_x = {e.get("id") for e in parse(x).iter() if e.get("id")}
        ids_y = {e.get("id") for e in parse(y).iter() if e.get("id")}
        assert not ids_x & ids_y and "one-title" in ids_x and "chart-1two-title" in ids_y
    assert [str(s) for s in all_charts("d", "t")] == [str(s) for s in all_charts("d", "t")]


def test_empty_charts_say_no_data():
    for svg in [
        line_chart("e", "t", []),
        bar_chart("e", "t", []),
        heatmap("e", "t", [], [], []),
        calibration_chart("e", "t", []),
        waterfall_chart("e", "t", []),
        curve_chart("e", "t", [], CurvePoint(0.5, 0.5, "current")),
    ]:
        root = check(svg)
        assert root.find(f"{SVG}desc").text == "t: no data." and "no data" in texts(root)


def test_bad_units_and_sizes_are_refused():
    with pytest.raises(ValueError, match="unit must be one of"):
        line_chart("x", "t", [], unit="eur")
    with pytest.raises(ValueError, match="at least"):
        bar_chart("x", "t", [], width=50)


# --------------------------------------------------------------------------- properties

text = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE))
value = st.one_of(
    st.none(),
    st.floats(0, 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=0, max_value=10**9, places=4),
)
unit = st.sampled_from(["share", "usd", "count", "tokens"])
props = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def titles(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}title")]


@props
@given(st.text(max_size=30), text, st.lists(st.builds(Point, text, value), max_size=30), unit)
def test_series_charts_are_always_well_formed(chart_id, title, points, unit):
    for chart in (line_chart, bar_chart):
        root = check(chart(chart_id, title, points, unit=unit))
        tooltips = titles(root)
        assert all(any(t.startswith(plain(p.label) + ":") for t in tooltips) for p in points)
        marks = of_class(root, "point") + of_class(root, "bar")
        assert len(marks) + len(of_class(root, "na")) == len(points)


@props
@given(st.data(), st.lists(text, unique=True, max_size=4), st.lists(text, unique=True, max_size=4))
def test_heatmaps_are_always_well_formed_and_readable(data, rows, columns):
    pairs = [(r, c) for r in rows for c in columns]
    chosen = data.draw(st.lists(st.sampled_from(pairs), unique=True) if pairs else st.just([]))
    heat = st.one_of(st.none(), st.floats(0, 1), st.floats())
    href = st.one_of(st.none(), text, st.just("javascript:alert(1)"), st.just("/a?b=1&c=<2>"))
    cells = [
        HeatCell(r, c, data.draw(heat), data.draw(text), data.draw(text), data.draw(href))
        for r, c in chosen
    ]
    root = check(heatmap(data.draw(text), data.draw(text), rows, columns, cells))
    assert len(of_class(root, "cell")) == len(pairs)
    for g in of_class(root, "cell"):
        assert contrast(g.find(f"{SVG}rect").get("fill"), g.find(f"{SVG}text").get("fill")) >= 4.5
    for a in root.iter(f"{SVG}a"):
        assert not a.get("href").lower().lstrip().startswith("javascript")
        assert a.get("aria-label") is not None


interval = st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted).map(tuple)


@props
@given(
    text,
    st.lists(
        st.builds(
            Bucket,
            st.floats(),
            st.floats(),
            st.one_of(st.none(), st.floats()),
            st.one_of(st.none(), interval, st.tuples(st.floats(), st.floats())),
            st.integers(0, 10**6),
        ),
        max_size=12,
    ),
)
def test_calibration_charts_are_always_well_formed(title, buckets):
    root = check(calibration_chart("c", title, buckets))
    assert len(of_class(root, "count")) == len(buckets)
    assert len(of_class(root, "bar")) + len(of_class(root, "na")) == len(buckets)


amount = st.one_of(st.decimals(min_value=0, max_value=10**12, places=8), st.floats(0, 1e9))


@props
@given(
    text, st.lists(st.builds(Step, st.one_of(text, st.just("shipped")), amount), max_size=10), unit
)
def test_waterfalls_always_tile_their_total(title, steps, unit):
    root = check(waterfall_chart("w", title, steps, unit=unit))
    bars = of_class(root, "bar")
    if not steps:
        assert not bars
        return
    heights = [float(b.get("height")) for b in bars]
    assert sum(heights[1:]) == pytest.approx(heights[0], abs=0.05 * len(bars))
    for above, below in itertools.pairwise(bars[1:]):
        assert math.isclose(bottom(above), top(below), abs_tol=0.051)


@props
@given(text, st.lists(st.builds(CurvePoint, value, value, text), max_size=8),
       st.one_of(st.none(), st.builds(CurvePoint, value, value, text)))  # fmt: skip
def test_curves_are_always_well_formed(title, vertices, current):
    root = check(curve_chart("c", title, vertices, current))
    assert len(of_class(root, "point")) <= len(vertices)


def test_a_curve_names_what_its_x_axis_is_a_share_of():
    points = [CurvePoint(0, 0, "all on economy"), CurvePoint(0.25, 0.5, "0.9 and up")]
    root = check(curve_chart("s", "Sweep", points, x_axis="the tasks on frontier", x_short="tasks"))
    assert "share of the tasks on frontier" in texts(root)
    assert (
        title_of(of_class(root, "point")[1])
        == "0.9 and up: 25.0% of the tasks on frontier, PGR 50.0%"
    )
    desc = root.find(f"{SVG}desc").text
    assert desc.startswith("Sweep, PGR against the share of the tasks on frontier: ")
    assert "0.9 and up: 25% of tasks, PGR 50%" in desc
