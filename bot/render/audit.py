"""Render the audit report dict (``bot.engine.report``) for people: terminal, CSV, HTML."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot import format as fmt

if TYPE_CHECKING:  # Rich and Jinja2 load only for the formats that use them (not json, csv)
    from rich.console import Console
    from rich.table import Table

CELL_COLUMNS = (
    "tier", "task_class", "tasks", "shipped_tasks", "first_pass_yield", "interval",
    "tokens_total", "tokens_shipped", "token_yield", "cost_usd", "cost_per_shipped_task",
    "recommendation",
)  # fmt: skip


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def to_csv(report: dict[str, Any]) -> str:
    """The tier x task class matrix, one row per cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CELL_COLUMNS)
    for cell in report["cells"]:
        row = dict(cell)
        low, high = row["interval"]
        row["interval"] = f"{low:.4f}-{high:.4f}"
        rec = row["recommendation"]
        row["recommendation"] = f"{rec['action']} {rec['to_tier']}" if rec else ""
        writer.writerow(_csv_safe(row[c]) for c in CELL_COLUMNS)
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text that came from commits (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_html(report: dict[str, Any]) -> str:
    from bot.render.jinja import environment

    env = environment("html")
    env.globals.update(scorecard_rows=scorecard_rows, strategy_rows=strategy_rows,
                       strategy_columns=STRATEGY_COLUMNS)  # fmt: skip
    return env.get_template("audit.html.j2").render(report=report)


def print_table(report: dict[str, Any], console: Console) -> None:
    from rich.markup import escape

    s = report["summary"]
    console.print(
        f"[bold]{report['repository']}[/]: {fmt.count(report['commits_scanned'])} commits, "
        f"{fmt.count(report['agent_commits'])} agent-authored, "
        f"{fmt.count(report['agent_committed'])} agent-committed, "
        f"{fmt.count(report['tasks'])} agent tasks"
    )
    console.print(
        f"Token yield {fmt.share(s['token_yield'])}, cost yield {fmt.share(s['cost_yield'])}, "
        f"spend {fmt.money(s['cost_usd'])}, cost per shipped task "
        f"{fmt.money_per(s['cost_per_shipped_task'], s['shipped_tasks'])}, "
        f"first-pass yield {fmt.share(s['first_pass_yield']['value'])}"
    )
    if report["tasks"]:
        console.print(_matrix(report["cells"]))
        console.print(_waterfall(s["waterfall"]))
    if report["top_reworked_tasks"]:
        console.print(_reworked(report["top_reworked_tasks"]))
    if "routing" in report:
        _print_routing(report["routing"], console)
    for note in report["limitations"]:
        console.print(f"[yellow]note:[/] {escape(note)}")  # "claude[bot]" is no markup


def _matrix(cells: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title="Tier x task class")
    for name in ("tier", "class", "tasks", "shipped", "first pass (95% CI)", "token yield",
                 "spend", "$/shipped task", "recommendation"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("tier", "class") else "right")
    for c in cells:
        low, high = c["interval"]
        rec = c["recommendation"]
        table.add_row(
            str(c["tier"]), c["task_class"], str(c["tasks"]), str(c["shipped_tasks"]),
            f"{fmt.share(c['first_pass_yield'])} [{fmt.share(low)}, {fmt.share(high)}]",
            fmt.share(c["token_yield"]), fmt.money(c["cost_usd"]),
            fmt.money_per(c["cost_per_shipped_task"], c["shipped_tasks"]),
            f"{rec['action']} -> {rec['to_tier']}" if rec else "",
        )  # fmt: skip
    return table


def _waterfall(waterfall: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title="Where the spend went")
    for name in ("bucket", "tokens", "dollars"):
        table.add_column(name, justify="left" if name == "bucket" else "right")
    for bucket, spend in waterfall.items():
        table.add_row(bucket, fmt.tokens(spend["tokens"], exact=True), fmt.money(spend["usd"]))
    return table


def _reworked(tasks: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title="Most reworked or bounced tasks")
    for name in ("task", "tier", "class", "status", "bounces", "tokens not shipped"):
        table.add_column(name)
    for t in tasks:
        bounces = ", ".join(t["bounces"]) or "-"
        table.add_row(t["task"], str(t["tier"]), t["task_class"], t["status"], bounces,
                      fmt.tokens(t["tokens_not_shipped"], exact=True))  # fmt: skip
    return table


def _print_routing(routing: dict[str, Any], console: Console) -> None:
    """Does routing pay: the scorecard's sentence and figures, what would settle each thin
    cell, the curve's sentence, routing against cascading and the router's threshold sweep."""
    from rich.markup import escape

    card = routing["scorecard"]
    console.print(f"[bold]Does routing pay?[/] {escape(card['sentence'])}")
    if card["realised_saving"] is not None:
        console.print(_scorecard(card))
        for t in card["thin"]:
            console.print(f"too little data: {escape(t['sentence'])}")
    console.print(f"[bold]Routing-efficiency curve:[/] {escape(routing['curve']['sentence'])}")
    if routing["strategies"]:
        console.print(_strategies(routing["strategies"]))
    console.print(f"[bold]The router's threshold sweep:[/] {escape(routing['sweep']['sentence'])}")


def estimate(e: Any, unit: str = "share") -> str:
    """A posterior median with its 90% interval, "23% (16% to 28%)"; n/a when there is none.
    ``e`` is a ``bot.engine.scorecard.Estimate`` or its dict in the report's JSON."""
    if e is None:
        return fmt.NOT_APPLICABLE
    median, low, high = (fmt.figure(v, unit) for v in _values(e))
    return f"{median} ({low} to {high})"


def points(e: Any) -> str:
    """An estimate of a difference of shares in points, "-7.4 pts (-13.1 pts to -2.1 pts)"."""
    if e is None:
        return fmt.NOT_APPLICABLE
    median, low, high = (fmt.change(v, 0, "share", True) for v in _values(e))
    return f"{median} ({low} to {high})"


def _values(e: Any) -> tuple[float, float, float]:
    if isinstance(e, Mapping):
        return e["median"], e["low"], e["high"]
    return e.median, e.low, e.high


def scorecard_rows(card: dict[str, Any]) -> list[tuple[str, str]]:
    """The scorecard's figures as (name, text), in the terminal and the HTML report alike."""
    leak = fmt.change(card["leak"], 0, "share") if card["leak"] is not None else "n/a"
    return [
        ("invoice saving", fmt.share(card["invoice_saving"])),
        ("realised saving per shipped task (90%)", estimate(card["realised_saving"])),
        ("shipped rate, routed against reference", points(card["shipped_points"])),
        ("leak (invoice minus realised)", leak),
        ("tasks covered", f"{fmt.count(card['covered_tasks'])} of {fmt.count(card['tasks'])}"),
    ]


def strategy_rows(strategies: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Routing against cascading, one row per strategy."""
    return [
        (s["strategy"] or "not stated", fmt.count(s["tasks"]), fmt.share(s["shipped"]["value"]),
         fmt.share(s["escalated"]["value"]), estimate(s["cost_per_shipped"], "usd"),
         f"{estimate(s['late'], 'usd')}, n={s['late_tasks']}",
         f"{estimate(s['immediate'], 'usd')}, n={s['immediate_tasks']}",
         f"{fmt.hours(s['merge_hours'])}, n={s['merged_tasks']}")
        for s in strategies
    ]  # fmt: skip


STRATEGY_COLUMNS = ("strategy", "tasks", "shipped", "escalated", "$/shipped task (90%)",
                    "late escalation, mean $", "immediate escalation, mean $",
                    "time to merge, median")  # fmt: skip


def _scorecard(card: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=f"Routing scorecard against {card['reference']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for row in scorecard_rows(card):
        table.add_row(*row)
    return table


def _strategies(strategies: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title="Routing against cascading")
    for name in STRATEGY_COLUMNS:
        table.add_column(name, justify="left" if name == "strategy" else "right")
    for row in strategy_rows(strategies):
        table.add_row(*row)
    return table
