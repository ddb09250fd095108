"""Accessible SVG charts for the dashboard, rendered on the server.

Pure functions from plain data to inline SVG markup. The dashboard's Content-Security-Policy
forbids inline styles and scripts, so the charts use SVG presentation attributes only (the
``class`` attributes are optional hooks, no CSS is needed). Each chart carries a text
alternative (``<title>`` and a ``<desc>`` with the key figures) and a ``<title>`` tooltip on
every mark. Labels come from commit trailers, so every text goes through an autoescaping
Jinja2 environment. A missing value is drawn as a gap or a "no data" mark, never as zero.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment
from markupsafe import Markup

from bot import format as fmt
from bot.format import UNITS
from bot.render.jinja import environment, plain

Number = float | Decimal
_UNIT_WORDS = {"share": "%", "usd": "US dollars", "count": "count", "tokens": "tokens"}
COLOURS = {  # Okabe-Ito: distinguishable with every common colour-vision deficiency
    "series": "#0072B2",  # blue: the data
    "loss": "#D55E00",  # vermillion: spend that did not ship, the calibration reference
    "total": "#595959",  # dark grey: the waterfall's total
    "text": "#333333",
    "muted": "#595959",  # "n/a" marks; 7:1 on white
    "grid": "#dddddd",
    "axis": "#767676",
    "no_data": "#e6e6e6",  # heatmap cell with tasks but no value
    "no_tasks": "#fafafa",  # heatmap cell nobody routed to
}
# viridis at 0, 1/8, ... 1: sequential, colour-blind safe, still ordered when printed in grey
VIRIDIS = (
    "#440154",
    "#472d7b",
    "#3b528b",
    "#2c728e",
    "#21918c",
    "#28ae80",
    "#5ec962",
    "#addc30",
    "#fde725",
)
# generous width of a character per pixel of font size (DejaVu digits are 0.64 em), so that
# labels are thinned or clipped before they overlap
CHAR_EM = 0.66
CHAR_WIDTH = 10 * CHAR_EM  # at the charts' font-size 10


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True, slots=True)
class Point:
    """One x position of a line or bar chart."""

    label: str
    value: float | Decimal | None


@dataclass(frozen=True, slots=True)
class HeatCell:
    row: str
    column: str
    value: float | None  # 0..1, the colour; None: tasks but no value
    label: str  # text shown in the cell
    detail: str  # tooltip and accessible name
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """A router score bucket and the first-pass yield of its tasks."""

    low: float
    high: float
    value: float | None
    interval: tuple[float, float] | None
    n: int


@dataclass(frozen=True, slots=True)
class Step:
    """One bucket of the spend waterfall (dollars or tokens)."""

    label: str
    value: Decimal | float


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """A routing policy on the routing-efficiency curve: its frontier-dollar share (x, 0 to 1)
    and the share of the quality gap it recovers (PGR, y)."""

    x: float
    y: float
    label: str


# --------------------------------------------------------------------------- text and values


def _clip(text: str, chars: float) -> str:
    text, chars = plain(text), max(2, int(chars))
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _chart_id(chart_id: str) -> str:
    """An id of [A-Za-z0-9_-] starting with a letter, so it is valid in HTML, SVG and CSS."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "", chart_id)
    return cleaned if cleaned[:1].isalpha() else "chart-" + cleaned


def _safe_href(href: str | None) -> str | None:
    """Relative, http or https links only: a javascript: URL in a link would run on click."""
    if href is None:
        return None
    text = plain(href)
    try:
        scheme = urlsplit(text).scheme
    except ValueError:
        return None
    return text if text and scheme in ("", "http", "https") else None


def _finite(value: Number | None) -> Number | None:
    """The value, or None when it cannot be drawn (NaN, infinite, beyond float range)."""
    if value is None or (isinstance(value, Decimal) and not value.is_finite()):
        return None
    return value if math.isfinite(float(value)) else None


def _check(unit: str, width: int, height: int) -> None:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    if width < 200 or height < 120:
        raise ValueError("a chart needs at least 200 x 120 pixels")


# --------------------------------------------------------------------------- scales


@dataclass(frozen=True, slots=True)
class _Axis:
    lo: float
    hi: float
    ticks: tuple[float, ...]

    def fraction(self, value: float) -> float:
        """Where value sits from lo (0) to hi (1), clamped; halved so nothing can overflow."""
        span = self.hi / 2 - self.lo / 2
        return min(1.0, max(0.0, (value / 2 - self.lo / 2) / span))


def _axis(values: Iterable[float], unit: str) -> _Axis:
    """A scale from 0 (or below) to a round maximum, with about four round steps."""
    data = list(values)
    lo = min([0.0, *data])
    hi = max([1.0 if unit == "share" else 0.0, *data])
    if hi <= lo:
        hi = lo + 1  # no data: an empty 0..1 scale
    hi = max(hi, lo + 1e-9)  # a scale for values too tiny to plot is a flat one
    step = _nice_step(hi / 4 - lo / 4)
    bottom, top = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if not all(map(math.isfinite, (bottom, top))) or not 0 < (top - bottom) / step <= 8:
        return _Axis(lo, hi, (lo, hi))
    return _Axis(
        bottom, top, tuple(bottom + i * step for i in range(round((top - bottom) / step) + 1))
    )


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten not below raw."""
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if math.isfinite(m * magnitude) and m * magnitude >= raw:
            return m * magnitude
    return raw  # at the ends of the float range


@dataclass(frozen=True, slots=True)
class _Plot:
    """The plotting area inside the axes, and where values and slots fall in it."""

    left: float
    top: float
    right: float
    bottom: float
    axis: _Axis

    def y(self, value: float) -> float:
        return round(self.bottom - self.axis.fraction(value) * (self.bottom - self.top), 1)

    def slot(self, n: int) -> float:
        return (self.right - self.left) / max(n, 1)

    def centre(self, i: int, n: int) -> float:
        return round(self.left + self.slot(n) * (i + 0.5), 1)


def _plot(axis: _Axis, unit: str, width: int, height: int, bottom_margin: int = 24) -> _Plot:
    longest = max(len(_tick_text(t, unit, axis)) for t in axis.ticks)
    left = min(width / 3, max(36, longest * CHAR_WIDTH + 10))
    return _Plot(round(left, 1), 22, width - 8, height - bottom_margin, axis)


def _tick_text(tick: float, unit: str, axis: _Axis) -> str:
    """A tick's label: whole dollars ("$1,000", "$250") when every tick is whole."""
    text = fmt.figure(tick, unit)
    whole = unit == "usd" and all(t == int(t) for t in axis.ticks)
    return text.removesuffix(".00") if whole else text


def _axes(plot: _Plot, unit: str, y_label: str, labels: Sequence[str], width: int) -> dict:
    """Gridlines with tick labels, the zero line, the y-axis label and the x labels."""
    ticks = [
        {"y": plot.y(t), "ty": round(plot.y(t) + 3, 1), "text": _tick_text(t, unit, plot.axis)}
        for t in plot.axis.ticks
    ]
    return {
        "left": plot.left,
        "right": plot.right,
        "tick_x": round(plot.left - 6, 1),
        "zero": plot.y(0.0),
        "ticks": ticks,
        "label": _clip(y_label, (width - 8) / CHAR_WIDTH),
        "x_labels": _x_labels(plot, labels),
    }


def _x_labels(plot: _Plot, labels: Sequence[str]) -> list[dict]:
    """Every k-th label (always the last), as many as fit; a clipped label keeps a tooltip."""
    n, slot = len(labels), plot.slot(len(labels))
    longest = max((len(plain(label)) for label in labels), default=0)
    every = max(1, math.ceil((longest * CHAR_WIDTH + 4) / slot))
    shown = []
    for i, label in enumerate(labels):
        if (n - 1 - i) % every == 0:
            text = _clip(label, (slot * every - 4) / CHAR_WIDTH)
            shown.append(
                {
                    "x": plot.centre(i, n),
                    "y": plot.bottom + 14,
                    "text": text,
                    "full": plain(label) if text != plain(label) else None,
                }
            )
    return shown


# --------------------------------------------------------------------------- colour


def viridis(t: float) -> str:
    """The viridis colour at t in [0, 1]: sequential, colour-blind safe, legible in grey."""
    t = min(1.0, max(0.0, t)) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    a, b = _rgb(VIRIDIS[i]), _rgb(VIRIDIS[i + 1])
    return "#" + "".join(f"{round(x + (y - x) * (t - i)):02x}" for x, y in zip(a, b, strict=True))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    linear = [
        c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in _rgb(colour)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on the background (always at least 4.5:1)."""
    return max(("#000000", "#ffffff"), key=lambda text: contrast(text, background))


# --------------------------------------------------------------------------- rendering


def _environment() -> Environment:
    env = environment("svg")
    env.globals["colours"] = COLOURS
    return env


_ENV = _environment()


def _render(
    kind: str,
    chart_id: str,
    title: str,
    desc: str,
    width: float,
    height: float,
    role: str = "img",
    **chart: Any,
) -> Markup:
    frame = {
        "kind": kind,
        "id": _chart_id(chart_id),
        "title": title,
        "desc": desc,
        "width": width,
        "height": height,
        "role": role,
    }
    return Markup(_ENV.get_template(f"charts/{kind}.svg.j2").render(c=frame | chart))  # noqa: S704 - autoescaped


def _span(points: Sequence[Point]) -> str:
    """ "2026-W36 to 2026-W47", the x range a description refers to."""
    first, last = plain(points[0].label), plain(points[-1].label)
    return first if len(points) == 1 else f"{first} to {last}"


def _missing(labels: Sequence[str]) -> str:
    if not labels:
        return ""
    named = ", ".join(plain(label) for label in labels[:5])
    more = f" and {len(labels) - 5} more" if len(labels) > 5 else ""
    return f" No data for {named}{more}."


# --------------------------------------------------------------------------- line and bar


def line_chart(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    *,
    unit: str = "share",
    width: int = 640,
    height: int = 200,
) -> Markup:
    """A series over time; a missing value breaks the line instead of dropping it to zero."""
    _check(unit, width, height)
    values = [_finite(p.value) for p in points]
    plot = _plot(_axis((float(v) for v in values if v is not None), unit), unit, width, height)
    runs: list[list[str]] = [[]]
    marks, gaps = [], []
    for i, (p, v) in enumerate(zip(points, values, strict=True)):
        x = plot.centre(i, len(points))
        if v is None:
            runs.append([])
            gaps.append(_gap(x, plot.bottom - 4, p.label))
            continue
        y = plot.y(float(v))
        runs[-1].append(f"{x},{y}")
        marks.append({"x": x, "y": y, "title": f"{plain(p.label)}: {fmt.figure(v, unit, True)}"})
    return _render(
        "line",
        chart_id,
        title,
        _line_desc(title, points, values, unit),
        width,
        height,
        axes=_axes(plot, unit, f"{title} ({_UNIT_WORDS[unit]})", [p.label for p in points], width),
        lines=[" ".join(r) for r in runs if len(r) > 1],
        points=marks,
        gaps=gaps,
        empty=not points,
    )


def _gap(x: float, y: float, label: str) -> dict:
    return {"x": x, "y": round(y, 1), "title": f"{plain(label)}: no data"}


def _line_desc(title: str, points: Sequence[Point], values: list, unit: str) -> str:
    known = [(p, v) for p, v in zip(points, values, strict=True) if v is not None]
    missing = _missing([p.label for p, v in zip(points, values, strict=True) if v is None])
    if not known:
        return f"{plain(title)}: no data."
    low, high = min(known, key=lambda pv: pv[1]), max(known, key=lambda pv: pv[1])
    return (
        f"{plain(title)}, {_span(points)}: from {fmt.figure(known[0][1], unit)} to "
        f"{fmt.figure(known[-1][1], unit)}; lowest {fmt.figure(low[1], unit)} "
        f"({plain(low[0].label)}), highest {fmt.figure(high[1], unit)} "
        f"({plain(high[0].label)}).{missing}"
    )


def bar_chart(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    *,
    unit: str = "usd",
    width: int = 640,
    height: int = 200,
) -> Markup:
    """Vertical bars; a missing value gets no bar but an "n/a" mark, so it never reads as 0."""
    _check(unit, width, height)
    values = [_finite(p.value) for p in points]
    plot = _plot(_axis((float(v) for v in values if v is not None), unit), unit, width, height)
    slot, zero = plot.slot(len(points)), plot.y(0.0)
    bars, gaps = [], []
    for i, (p, v) in enumerate(zip(points, values, strict=True)):
        x = plot.centre(i, len(points))
        if v is None:
            gaps.append(_gap(x, zero - 4, p.label))
            continue
        y = plot.y(float(v))
        bars.append(
            {
                "x": round(x - slot * 0.35, 1),
                "y": min(y, zero),
                "w": round(slot * 0.7, 1),
                "h": round(abs(zero - y), 1),
                "cx": x,
                "ty": max(12, min(y, zero) - 4),
                "text": fmt.figure(v, unit) if slot >= 36 else "",
                "title": f"{plain(p.label)}: {fmt.figure(v, unit, True)}",
            }
        )
    return _render(
        "bar",
        chart_id,
        title,
        _bar_desc(title, points, values, unit),
        width,
        height,
        axes=_axes(plot, unit, f"{title} ({_UNIT_WORDS[unit]})", [p.label for p in points], width),
        bars=bars,
        gaps=gaps,
        empty=not points,
    )


def _bar_desc(title: str, points: Sequence[Point], values: list, unit: str) -> str:
    """Every bar's value: bar charts are short, and a reader may want any one of them."""
    if not points:
        return f"{plain(title)}: no data."
    parts = [
        f"{plain(p.label)} {'no data' if v is None else fmt.figure(v, unit)}"
        for p, v in zip(points, values, strict=True)
    ]  # "no data", as the missing bar's tooltip says
    return f"{plain(title)}, {_span(points)}: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- heatmap


def heatmap(
    chart_id: str,
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[HeatCell],
    *,
    cell_width: int = 110,
    cell_height: int = 44,
) -> Markup:
    """Tier x task class grid coloured by a 0..1 value; a cell with a link drills down.

    A grid with links is a ``role="group"``, not an image, so its links stay reachable for
    screen readers (an image's children are presentational).
    """
    if cell_width < 40 or cell_height < 20:
        raise ValueError("a heatmap cell needs at least 40 x 20 pixels")
    grid = _grid(rows, columns, cells)
    header = min(180, max(60, max((len(plain(r)) for r in rows), default=0) * 11 * CHAR_EM + 14))
    width = max(320, round(header + len(columns) * cell_width + 8))
    height = 28 + len(rows) * cell_height + 44
    drawn = [
        _cell(
            r,
            c,
            grid.get((r, c)),
            header + j * cell_width,
            28 + i * cell_height,
            cell_width,
            cell_height,
        )
        for i, r in enumerate(rows)
        for j, c in enumerate(columns)
    ]
    return _render(
        "heatmap",
        chart_id,
        title,
        _heatmap_desc(title, rows, columns, grid),
        width,
        height,
        role="group" if any(d["href"] for d in drawn) else "img",
        cells=drawn,
        row_labels=[
            _header(r, 6, 28 + (i + 0.5) * cell_height + 4, (header - 14) / (11 * CHAR_EM), "start")
            for i, r in enumerate(rows)
        ],
        column_labels=[
            _header(
                c, header + (j + 0.5) * cell_width, 18, (cell_width - 8) / (11 * CHAR_EM), "middle"
            )
            for j, c in enumerate(columns)
        ],
        legend=_legend(28 + len(rows) * cell_height + 12),
        empty=not (rows and columns),
    )


def _legend(y: float) -> dict:
    """The colour scale (0% to 100%) and the two swatches for cells without a value."""
    return {
        "x": 8,
        "y": y,
        "w": 120,
        "end": 128,
        "label_y": y + 22,
        "text_y": y + 9,
        "stops": [
            {"offset": round(i / (len(VIRIDIS) - 1), 3), "colour": colour}
            for i, colour in enumerate(VIRIDIS)
        ],
        "swatches": [
            {"x": 148, "text_x": 164, "fill": COLOURS["no_data"], "text": "no data"},
            {"x": 228, "text_x": 244, "fill": COLOURS["no_tasks"], "text": "no tasks"},
        ],
    }


def _grid(rows: Sequence[str], columns: Sequence[str], cells: Sequence[HeatCell]) -> dict:
    """Cells by (row, column); a cell outside the grid or given twice is the caller's bug."""
    if len(set(rows)) != len(rows) or len(set(columns)) != len(columns):
        raise ValueError("heatmap rows and columns must be unique")
    grid: dict[tuple[str, str], HeatCell] = {}
    for cell in cells:
        key = (cell.row, cell.column)
        if cell.row not in rows or cell.column not in columns or key in grid:
            raise ValueError(f"heatmap cell {key!r} is outside the grid or given twice")
        grid[key] = cell
    return grid


def _cell(row: str, column: str, cell: HeatCell | None, x: float, y: float, w: int, h: int) -> dict:
    value = None if cell is None else _finite(cell.value)
    if cell is None:
        fill, text, detail = COLOURS["no_tasks"], "no tasks", f"{row} x {column}: no tasks"
    elif value is None:
        fill, text, detail = COLOURS["no_data"], "no data", cell.detail
    else:
        fill, text, detail = viridis(float(value)), cell.label, cell.detail
    fg = text_colour(fill) if value is not None else COLOURS["text"]
    return {
        "x": round(x, 1),
        "y": y,
        "w": w,
        "h": h,
        "fill": fill,
        "text_fill": fg,
        "text": _clip(text, (w - 8) / (12 * CHAR_EM)),
        "tx": round(x + w / 2, 1),
        "ty": y + h / 2 + 4,
        "detail": plain(detail),
        "href": _safe_href(cell.href) if cell else None,
    }


def _header(text: str, x: float, y: float, chars: float, anchor: str) -> dict:
    clipped = _clip(text, chars)
    return {
        "x": round(x, 1),
        "y": round(y, 1),
        "text": clipped,
        "anchor": anchor,
        "full": plain(text) if clipped != plain(text) else None,
    }


def _heatmap_desc(title: str, rows: Sequence[str], columns: Sequence[str], grid: dict) -> str:
    if not (rows and columns):
        return f"{plain(title)}: no data."
    known = [c for c in grid.values() if _finite(c.value) is not None]
    text = (
        f"{plain(title)}: {len(rows)} rows ({', '.join(map(plain, rows))}) by "
        f"{len(columns)} columns ({', '.join(map(plain, columns))})."
    )
    if known:
        high = max(known, key=lambda c: float(c.value))
        low = min(known, key=lambda c: float(c.value))
        text += (
            f" Highest: {plain(high.row)} x {plain(high.column)}, {plain(high.label)}."
            f" Lowest: {plain(low.row)} x {plain(low.column)}, {plain(low.label)}."
        )
    no_data = len(grid) - len(known)
    no_tasks = len(rows) * len(columns) - len(grid)
    return text + f" Cells without data: {no_data}; without tasks: {no_tasks}."


# --------------------------------------------------------------------------- calibration


def calibration_chart(
    chart_id: str, title: str, buckets: Sequence[Bucket], *, width: int = 640, height: int = 220
) -> Markup:
    """First-pass yield per router score bucket, with 95% whiskers, against the diagonal a
    perfectly calibrated router would follow (yield = the bucket's midpoint score)."""
    _check("share", width, height)
    plot = _plot(_axis([], "share"), "share", width, height, bottom_margin=48)
    labels = [_bucket_label(b) for b in buckets]
    bars, gaps, reference = [], [], []
    slot = plot.slot(len(buckets))
    for i, b in enumerate(buckets):
        x, value, mid = plot.centre(i, len(buckets)), _finite(b.value), _midpoint(b)
        if mid is not None:
            reference.append(
                {
                    "x": x,
                    "y": plot.y(mid),
                    "title": f"{labels[i]}: perfect calibration {fmt.share(mid)}",
                }
            )
        if value is None:
            gaps.append(_gap(x, plot.bottom - 4, f"{labels[i]}, n={b.n}"))
            continue
        y = plot.y(float(value))
        bars.append(
            {
                "x": round(x - slot * 0.3, 1),
                "y": y,
                "w": round(slot * 0.6, 1),
                "h": round(plot.bottom - y, 1),
                "cx": x,
                "whisker": _whisker(plot, b),
                "title": f"{labels[i]}: {fmt.share(value, True)}{_interval_text(b)}, n={b.n}",
            }
        )
    axes = _axes(plot, "share", "first-pass yield (%)", labels, width)
    counts = [
        {"x": plot.centre(i, len(buckets)), "y": plot.bottom + 27, "text": f"n={b.n}"}
        for i, b in enumerate(buckets)
    ]
    return _render(
        "calibration",
        chart_id,
        title,
        _calibration_desc(title, buckets, labels),
        width,
        height,
        axes=axes,
        bars=bars,
        gaps=gaps,
        counts=counts,
        reference=reference,
        line=" ".join(f"{r['x']},{r['y']}" for r in reference),
        x_title={"x": round((plot.left + plot.right) / 2, 1), "y": height - 6},
        key={"x": plot.right - 150, "y": 12},
        empty=not buckets,
    )


def _bucket_label(b: Bucket) -> str:
    return f"{b.low:.1f}-{b.high:.1f}"


def _midpoint(b: Bucket) -> float | None:
    mid = float(b.low) / 2 + float(b.high) / 2
    return min(1.0, max(0.0, mid)) if math.isfinite(mid) else None


def _whisker(plot: _Plot, b: Bucket) -> dict | None:
    ends = [_finite(e) for e in b.interval] if b.interval else [None]
    if None in ends:
        return None
    return {"y1": plot.y(float(min(ends))), "y2": plot.y(float(max(ends)))}


def _interval_text(b: Bucket) -> str:
    if not b.interval or None in map(_finite, b.interval):
        return ""
    return f" (95%: {fmt.share(b.interval[0])}-{fmt.share(b.interval[1])})"


def _calibration_desc(title: str, buckets: Sequence[Bucket], labels: list[str]) -> str:
    if not buckets:
        return f"{plain(title)}: no data."
    parts = []
    for b, label in zip(buckets, labels, strict=True):
        value, mid = _finite(b.value), _midpoint(b)
        observed = "no data" if value is None else fmt.share(value) + _interval_text(b)
        expected = "" if mid is None else f", perfect calibration {fmt.share(mid)}"
        parts.append(f"{label}: {observed}, n={b.n}{expected}")
    return f"{plain(title)}, first-pass yield by router score: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- waterfall


def waterfall_chart(
    chart_id: str,
    title: str,
    steps: Sequence[Step],
    *,
    unit: str = "usd",
    width: int = 640,
    height: int = 220,
) -> Markup:
    """Total spend, minus each bucket that did not ship (floating bars), down to what shipped.

    The steps labelled "shipped" make the last bar; the others are subtracted in the given
    order. The bars tile the total exactly: each floating bar starts where the one before ends.
    """
    _check(unit, width, height)
    amounts = [_amount(s.value) for s in steps]
    total = sum(amounts, Decimal(0))
    if not math.isfinite(float(total)):
        raise ValueError("the waterfall's total is beyond the float range")
    plot = _plot(_axis([float(total)], unit), unit, width, height, bottom_margin=36)
    levels, running = [("total", total, total, Decimal(0))], total
    for step, amount in zip(steps, amounts, strict=True):
        if not _is_shipped(step.label):
            levels.append((step.label, amount, running, running - amount))
            running -= amount
    kept = [(s.label, a) for s, a in zip(steps, amounts, strict=True) if _is_shipped(s.label)]
    label = kept[0][0] if kept else "shipped"
    levels.append((label, sum((a for _, a in kept), Decimal(0)), running, Decimal(0)))
    bars = (
        [_waterfall_bar(plot, i, len(levels), level, total, unit) for i, level in enumerate(levels)]
        if steps
        else []
    )
    return _render(
        "waterfall",
        chart_id,
        title,
        _waterfall_desc(title, bars, unit),
        width,
        height,
        axes=_axes(plot, unit, _UNIT_WORDS[unit], [], width),
        bars=bars,
        connectors=_connectors(bars),
        empty=not steps,
    )


def _amount(value: Decimal | float) -> Decimal:
    amount = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not amount.is_finite() or amount < 0 or not math.isfinite(float(amount)):
        raise ValueError(f"a waterfall step must be a finite amount >= 0, not {value!r}")
    return amount


def _is_shipped(label: str) -> bool:
    return plain(label).lower() == "shipped"


def _waterfall_bar(plot: _Plot, i: int, n: int, level: tuple, total: Decimal, unit: str) -> dict:
    label, amount, top, bottom = level
    y1, y2 = plot.y(float(top)), plot.y(float(bottom))
    slot, x = plot.slot(n), plot.centre(i, n)
    share = fmt.share(amount / total if total else None)
    exact = fmt.share(amount / total if total else None, True)
    kind = "total" if i == 0 else "shipped" if i == n - 1 else "loss"
    return {
        "x": round(x - slot * 0.35, 1),
        "y": y1,
        "w": round(slot * 0.7, 1),
        "h": round(y2 - y1, 1),
        "cx": x,
        "kind": kind,
        "label": plain(label),
        "amount": amount,
        "fill": COLOURS["series" if kind == "shipped" else kind],
        "share": share,
        "text": fmt.figure(amount, unit),
        "ty": max(12, y1 - 4),
        "name": _clip(label, (slot - 2) / CHAR_WIDTH),
        "ny": plot.bottom + 14,
        "sy": plot.bottom + 27,
        "title": f"{plain(label)}: {fmt.figure(amount, unit, True)}"
        f"{'' if i == 0 else f', {exact} of the total'}",
    }


def _connectors(bars: list[dict]) -> list[dict]:
    """Dashed lines from each bar's remaining level to the next bar, as in a ledger."""
    return [
        {
            "x1": round(a["x"] + a["w"], 1),
            "x2": b["x"],
            "y": a["y"] if a["kind"] == "total" else round(a["y"] + a["h"], 1),
        }
        for a, b in itertools.pairwise(bars)
    ]


def _waterfall_desc(title: str, bars: list[dict], unit: str) -> str:
    if not bars:
        return f"{plain(title)}: no data."
    parts = [f"{b['label']} {fmt.figure(b['amount'], unit)} ({b['share']})" for b in bars[1:]]
    return f"{plain(title)}: total {fmt.figure(bars[0]['amount'], unit)}; " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- efficiency curve

X_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def curve_chart(
    chart_id: str,
    title: str,
    vertices: Sequence[CurvePoint],
    current: CurvePoint | None = None,
    *,
    x_axis: str = "the dollars on the frontier tier",
    x_short: str = "dollars",
    width: int = 640,
    height: int = 260,
) -> Markup:
    """PGR against frontier-dollar share (docs/metrics.md): the curve through its vertices from
    all-cheap to all-frontier, the current policy as a point (how far it sits below the curve
    is the cost of mis-routing), and the diagonal from (0, 0) to (1, 1), where APGR is 0.5.

    ``x_axis`` names what the x axis is a share of (``x_short`` in the description): the
    router's threshold sweep draws PGR against the share of tasks sent to the stronger tier.
    """
    _check("share", width, height)
    shown = [p for p in map(_drawable, vertices) if p is not None]
    now = _drawable(current) if current else None
    ys = [p.y for p in shown] + ([now.y] if now else [])
    plot = _plot(_axis(ys, "share"), "share", width, height, bottom_margin=40)
    marks = [_curve_mark(plot, p, x_axis) for p in shown]
    return _render(
        "curve",
        chart_id,
        title,
        _curve_desc(title, shown, now, x_axis, x_short),
        width,
        height,
        axes=_axes(plot, "share", "share of the quality gap recovered, PGR (%)", [], width),
        x_ticks=[_x_tick(plot, t) for t in X_TICKS],
        x_title={
            "x": round((plot.left + plot.right) / 2, 1),
            "y": height - 6,
            "text": f"share of {x_axis}",
        },
        diagonal={
            "x1": _curve_x(plot, 0.0),
            "y1": plot.y(0.0),
            "x2": _curve_x(plot, 1.0),
            "y2": plot.y(1.0),
        },  # fmt: skip
        line=" ".join(f"{m['x']},{m['y']}" for m in marks),
        points=marks,
        current=_curve_mark(plot, now, x_axis) if now else None,
        key={"x": plot.left + 8, "y": 34},
        empty=not shown,
    )


def _drawable(p: CurvePoint) -> CurvePoint | None:
    """The point in floats, or None when a coordinate cannot be drawn (not a gap: left out)."""
    x, y = _finite(p.x), _finite(p.y)
    return None if x is None or y is None else CurvePoint(float(x), float(y), p.label)


def _x_tick(plot: _Plot, x: float) -> dict:
    """A tick of the share axis; the last ends at the plot's edge, so it is not clipped."""
    anchor = "end" if x == X_TICKS[-1] else "middle"
    return {"x": _curve_x(plot, x), "y": plot.bottom + 14, "text": fmt.share(x), "anchor": anchor}


def _curve_x(plot: _Plot, x: float) -> float:
    return round(plot.left + min(1.0, max(0.0, x)) * (plot.right - plot.left), 1)


def _curve_mark(plot: _Plot, p: CurvePoint, x_axis: str) -> dict:
    return {
        "x": _curve_x(plot, p.x),
        "y": plot.y(p.y),
        "title": f"{plain(p.label)}: {fmt.share(p.x, True)} of {x_axis}, "
        f"PGR {fmt.share(p.y, True)}",
    }


def _curve_desc(
    title: str, shown: Sequence[CurvePoint], now: CurvePoint | None, x_axis: str, x_short: str
) -> str:
    if not shown:
        return f"{plain(title)}: no data."
    parts = [f"{plain(p.label)}: {fmt.share(p.x)} of {x_short}, PGR {fmt.share(p.y)}"
             for p in shown]  # fmt: skip
    current = (
        f" Current policy: {fmt.share(now.x)} of {x_short}, PGR {fmt.share(now.y)}." if now else ""
    )
    return f"{plain(title)}, PGR against the share of {x_axis}: " + "; ".join(parts) + "." + current
