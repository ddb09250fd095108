"""How often the routing advice is wrong, measured on simulated histories with a known truth.

Every scenario of ``bot.engine.simulate.SCENARIOS`` at 10, 30, 100 and 300 tasks in the least-used
tier's cell, ``--seeds`` histories each, through
``bot.engine.report.recommendations(cells_of(...))`` with every default. Prints, per row: the
share of switch / keep / explore; the false switch rate
(switches where switching is wrong) or the power (switches where it saves >= 10% at no loss of
quality beyond the tolerance); and how often the 90% intervals hold the true saving per shipped
task and the true success rate (over the histories that show one). ``--markdown FILE`` also
writes the table between the markers of FILE (docs/statistics.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine.simulate import SCENARIOS, Scenario, Trial, switch_is_right, trial  # noqa: E402
from bot.stats.rule import DELTA, MIN_SAVING  # noqa: E402

SIZES = (10, 30, 100, 300)
BEGIN = "<!-- recommender-simulation:begin -->"
END = "<!-- recommender-simulation:end -->"
HEADER = (
    "| scenario | tasks a cell | switch | keep | explore | false switch | power "
    "| saving covered | rate covered |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _run(job: tuple[int, int, int]) -> Trial:
    scenario, size, seed = job
    return trial(SCENARIOS[scenario], size, seed)


def _share(hits: int, of: int) -> str:
    return "—" if of == 0 else f"{hits / of:.1%}"


def row(scenario: Scenario, size: int, trials: Sequence[Trial]) -> str:
    """One table row: action shares, the error or power, interval coverage."""
    n = len(trials)
    count = {a: sum(t.action == a for t in trials) for a in ("switch", "keep", "explore")}
    right = switch_is_right(scenario, DELTA, MIN_SAVING)
    false_switch = "—" if right else _share(count["switch"], n)
    power = _share(count["switch"], n) if right else "—"
    shown = [t.covered for t in trials if t.covered is not None]
    rates = [t.rate_covered for t in trials if t.rate_covered is not None]
    return (
        f"| {scenario.name} | {size} | {_share(count['switch'], n)} | {_share(count['keep'], n)} "
        f"| {_share(count['explore'], n)} | {false_switch} | {power} "
        f"| {_share(sum(shown), len(shown))} | {_share(sum(rates), len(rates))} |"
    )


def table(seeds: int, processes: int, sizes: Sequence[int] = SIZES) -> str:
    jobs = [(i, size, seed) for i in range(len(SCENARIOS)) for size in sizes
            for seed in range(seeds)]  # fmt: skip
    with Pool(processes) as pool:
        results = pool.map(_run, jobs, chunksize=8)
    rows = []
    for i, scenario in enumerate(SCENARIOS):
        for size in sizes:
            trials = [r for (j, s, _), r in zip(jobs, results, strict=True) if (j, s) == (i, size)]
            rows.append(row(scenario, size, trials))
    return "\n".join([HEADER, *rows])


def write_between_markers(path: Path, text: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace what lies between ``begin`` and ``end`` in ``path`` (both must be there)."""
    doc = path.read_text()
    start, stop = doc.find(begin), doc.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{path}: needs the markers {begin} and {end}")
    path.write_text(doc[: start + len(begin)] + "\n" + text + "\n" + doc[stop:])


def main(
    argv: Sequence[str] | None = None,
    make_table: Callable[[int, int, Sequence[int]], str] = table,
    sizes: Sequence[int] = SIZES,
    markers: tuple[str, str] = (BEGIN, END),
    description: str = __doc__,
) -> None:
    """The simulation benches' command line: this one's, and bench/scorecard_simulation.py's
    with its own table, sizes and markers."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200, help="histories per row (200)")
    parser.add_argument("--processes", type=int, default=2, choices=(1, 2))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(sizes))
    parser.add_argument("--markdown", type=Path, help="write the table into this file too")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    started = time.perf_counter()
    text = make_table(args.seeds, args.processes, args.sizes)
    print(text)
    print(f"\n{args.seeds} seeds per row, {time.perf_counter() - started:.0f} s")
    if args.markdown is not None:
        write_between_markers(args.markdown, f"{text}\n\n{args.seeds} seeds per row.", *markers)


if __name__ == "__main__":
    main()
