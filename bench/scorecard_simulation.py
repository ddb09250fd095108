"""How often the scorecard, the curve and the policy recover a known truth (issue 18, section 4).

Histories of ``bot.engine.simulate.PROOF`` routed by ``PROOF_ROUTING`` (a 20% explore share
in every class) at 30, 100 and 300 tasks in each class's explore cell, ``--seeds`` each. Per
size: how often each 90% interval holds the exact figure (``realised_truth``, ``curve_truth``),
how often the policy switches a class to a truly worse tier (dearer per shipped task, or shipping
more than DELTA less; also on the recommender's quality trap, whose economy tier ships 7.5 points
less), and how often the recommended policy's true cost per shipped task is within 5% of the
optimal policy's. ``--markdown FILE`` also writes the table between the markers of FILE
(docs/statistics.md).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender_simulation import main as simulation_main  # noqa: E402

from bot.engine.curve import curve  # noqa: E402
from bot.engine.policy import policy  # noqa: E402
from bot.engine.scorecard import scorecard  # noqa: E402
from bot.engine.simulate import (  # noqa: E402
    PROOF,
    PROOF_ROUTING,
    SCENARIOS,
    TARGET,
    Routing,
    cost_over_optimal,
    current_tier,
    curve_truth,
    realised_truth,
    routed_history,
    truly_worse,
)
from bot.stats.rule import DELTA  # noqa: E402

SIZES = (30, 100, 300)
BEGIN = "<!-- scorecard-simulation:begin -->"
END = "<!-- scorecard-simulation:end -->"
CURVE = ("current_pgr", "apgr", "cpt50", "cpt80", "below_points")
COLUMNS = ("saving", "shipped", *CURVE, "false switch", "false switch (trap)", "within 5%")
HEADER = (
    "| tasks a cell | realised saving | shipped points | PGR | APGR | CPT$(50%) | CPT$(80%) "
    "| below the curve | false switch | false switch, quality trap | within 5% of optimal |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)
QUALITY_TRAP = next(s for s in SCENARIOS if s.name == "quality trap")
TRAP_ROUTING = Routing({c: dict(QUALITY_TRAP.shares) for c in QUALITY_TRAP.arms})


def _run(job: tuple[int, int]) -> dict[str, bool | None]:
    """One seed at one size: a verdict per column (None: no interval shown)."""
    size, seed = job
    cells = PROOF_ROUTING.cells(size)
    records = routed_history(PROOF, PROOF_ROUTING, size, seed)
    saving, points = realised_truth(PROOF, cells, "frontier")
    card = scorecard(records, seed=seed)
    found: dict[str, bool | None] = {
        "saving": card.realised_saving.low <= saving <= card.realised_saving.high,
        "shipped": card.shipped_points.low <= points <= card.shipped_points.high,
    }
    exact = curve_truth(PROOF, cells, "economy", "frontier")
    drawn = curve(records, seed=seed)
    for name in CURVE:
        e = getattr(drawn, name)
        found[name] = None if e is None else e.low <= exact[name] <= e.high
    chosen = policy(records, seed=seed).classes
    found["false switch"] = any(
        truly_worse(PROOF, c, PROOF_ROUTING.current(c), p.tier, DELTA) for c, p in chosen.items()
    )
    trap_history = routed_history(QUALITY_TRAP, TRAP_ROUTING, size, seed)
    trap = policy(trap_history, seed=seed).classes[TARGET]
    found["false switch (trap)"] = truly_worse(
        QUALITY_TRAP, TARGET, current_tier(QUALITY_TRAP), trap.tier, DELTA
    )
    tiers = {c: p.tier for c, p in chosen.items()}
    found["within 5%"] = cost_over_optimal(PROOF, tiers, DELTA) <= 1.05
    return found


def _share(values: Sequence[bool | None]) -> str:
    shown = [v for v in values if v is not None]
    return "—" if not shown else f"{sum(shown) / len(shown):.1%}"


def table(seeds: int, processes: int, sizes: Sequence[int] = SIZES) -> str:
    jobs = [(size, seed) for size in sizes for seed in range(seeds)]
    with Pool(processes) as pool:
        results = pool.map(_run, jobs, chunksize=4)
    rows = []
    for size in sizes:
        mine = [r for (s, _), r in zip(jobs, results, strict=True) if s == size]
        cells = " | ".join(_share([r[c] for r in mine]) for c in COLUMNS)
        rows.append(f"| {size} | {cells} |")
    return "\n".join([HEADER, *rows])


def main(argv: Sequence[str] | None = None) -> None:
    simulation_main(argv, table, SIZES, (BEGIN, END), __doc__)


if __name__ == "__main__":
    main()
