"""Honest small-sample statistics for the routing advice: the building blocks.

Why this exists: a (tier, task class) cell usually holds a handful of tasks, and per-task cost is
heavy-tailed (runs of the same task differ by up to 30x in tokens). Point estimates from such cells
are noise, so every number here comes with an interval or a probability:

* ``wilson``/``rate``: a raw success rate k/n with its Wilson score interval (Brown, Cai & DasGupta
  2001).
* ``posterior``: the Beta posterior of a cell's success rate from Jeffreys' prior, which takes
  nothing from the cell's data or its siblings, with ``rate_interval``: Stevens' randomised
  binomial interval, whose coverage is exactly its level at every true rate and n.
* ``bayes_bootstrap_means``: Rubin's (1981) Bayesian bootstrap of a mean cost; exact up to
  ``BOOTSTRAP_EXACT_MAX`` values, its large-n normal limit beyond (O(n + draws), not O(n draws)).
* ``cost_per_shipped``: posterior draws of cost per shipped task, resampling costs together with
  outcomes (failed tasks cost more). A missing cost is missing, never zero: it lowers
  ``coverage``, and below 50% coverage the estimate is withheld.
* ``CellData``/``summarise_cell``: one (tier, task class) cell and what a report shows of it.
* ``studentised``/``saving_interval``: the studentised bootstrap of a difference in cost per
  shipped task, resampling each task's cost with its outcome: closer to its level on heavy-tailed
  costs than the percentile interval of the posterior draws (docs/statistics.md, section 6).

The decision rule that compares cells (switch, keep or explore) is ``bot.stats.rule``.

Pure functions: the standard library, and numpy for the posterior draws. Every random function
takes a seed or a ``random.Random``; the same inputs and seed give identical output. See
docs/statistics.md for formulas and defaults.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from statistics import NormalDist
from typing import TYPE_CHECKING

from bot import format as fmt

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BOOTSTRAP_EXACT_MAX",
    "INTERVAL",
    "JEFFREYS",
    "CellData",
    "CellSummary",
    "CostEstimate",
    "Posterior",
    "Prior",
    "Rate",
    "Studentised",
    "bayes_bootstrap_means",
    "beta_cdf",
    "beta_ppf",
    "cell_seed",
    "cost_per_shipped",
    "posterior",
    "quantile",
    "rate",
    "rate_interval",
    "saving_interval",
    "studentised",
    "summarise_cell",
    "wilson",
]

Prior = tuple[float, float]
"""A Beta prior as (alpha0, beta0) = (kappa * m, kappa * (1 - m))."""

JEFFREYS: Prior = (0.5, 0.5)
"""Every cell's prior: it takes nothing from the cell's own data nor from its siblings."""
INTERVAL = 0.90
"""Level of the rate (``rate_interval``) and equal-tailed cost intervals."""
MIN_COVERAGE = 0.5
"""Below this share of priced tasks the cost estimate is withheld (as in bot.pricing.prices)."""
THETA_FLOOR = 1e-12
"""Beta draws that underflow to 0.0 are raised to this, so CPS stays finite (and huge)."""
BOOTSTRAP_EXACT_MAX = 200
"""Above this many values the Bayesian bootstrap uses its large-n normal limit (O(n + draws))
instead of Dirichlet weights (O(n * draws)). At n = 250 on lognormal(0, 1) costs (runs differing
~30x) the normal's median and 5%/95% quantiles are typically within ~1% of the exact bootstrap's;
the error grows with skew, worst at the 5% quantile (docs/statistics.md, section 3)."""
_U_MIN = 2.0**-53
"""Smallest positive ``random()`` value: stands in for 0.0, where Phi^-1 is undefined."""

_NORMAL = NormalDist()


# --- rates -------------------------------------------------------------------------------------


def _check_counts(k: int, n: int) -> None:
    if (
        isinstance(k, bool)
        or isinstance(n, bool)
        or not (isinstance(k, int) and isinstance(n, int))
    ):
        raise TypeError(f"k and n must be integers, got {k!r} and {n!r}")
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def _check_level(level: float, name: str = "conf") -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {level!r}")


def wilson(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n; (0.0, 1.0) when n == 0.

    centre = (p + z^2/2n) / (1 + z^2/n), half = z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n),
    with p = k/n and z = Phi^-1(1 - alpha/2). The bound at 0 (k == 0) or 1 (k == n) is exact.
    """
    _check_counts(k, n)
    _check_level(conf)
    if n == 0:
        return (0.0, 1.0)
    z = _NORMAL.inv_cdf(0.5 + conf / 2)
    z2 = z * z
    p = k / n
    d = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / d
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return (low, high)


@dataclass(frozen=True)
class Rate:
    """Raw k/n (``value`` is None when n == 0) with its Wilson interval at ``conf``."""

    k: int
    n: int
    value: float | None
    low: float
    high: float
    conf: float = 0.95


def rate(k: int, n: int, conf: float = 0.95) -> Rate:
    low, high = wilson(k, n, conf)
    return Rate(k, n, k / n if n else None, low, high, conf)


# --- exact Beta distribution -------------------------------------------------------------------


def _betacf(x: float, a: float, b: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def beta_cdf(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta function I_x(a, b): P(X <= x) for X ~ Beta(a, b)."""
    if a <= 0 or b <= 0:
        raise ValueError(f"Beta parameters must be positive, got a={a!r}, b={b!r}")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, front * _betacf(x, a, b) / a)
    return max(0.0, 1.0 - front * _betacf(1.0 - x, b, a) / b)


def beta_ppf(q: float, a: float, b: float) -> float:
    """Inverse of ``beta_cdf``: the q-quantile of Beta(a, b) (Newton safeguarded by bisection)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    if a <= 0 or b <= 0:
        raise ValueError(f"Beta parameters must be positive, got a={a!r}, b={b!r}")
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    # Newton's method in logit space, z = log(x / (1 - x)): dF/dz = pdf(x) x (1 - x)
    # = exp(a log x + b log(1 - x) - log B(a, b)), which behaves in both tails (a Newton step in x
    # crawls when the quantile is 1e-100). Steps leaving the bracket [lo, hi] bisect it in z.
    lo, hi = 0.0, 1.0
    x = a / (a + b)
    log_b = _log_beta(a, b)
    for _ in range(400):
        f = beta_cdf(x, a, b) - q
        if f == 0.0:
            return x
        if f < 0:
            lo = x
        else:
            hi = x
        log_slope = a * math.log(x) + b * math.log1p(-x) - log_b
        nxt = -1.0  # outside any bracket
        if log_slope > -700.0:
            nxt = _expit(_logit(x) - f / math.exp(log_slope))
        if not lo < nxt < hi:
            nxt = _expit(0.5 * (_logit(lo) + _logit(hi)))
            if not lo < nxt < hi:
                nxt = 0.5 * (lo + hi)
        if nxt in (x, lo, hi):
            break  # float resolution reached
        done = abs(nxt - x) <= 1e-15 * min(nxt, 1.0 - nxt)
        x = nxt
        if done:
            break
    return x


def _logit(x: float) -> float:
    if x <= 0.0:
        return -745.0  # log of the smallest positive float
    if x >= 1.0:
        return 37.0  # logit(1 - 2**-53)
    return math.log(x) - math.log1p(-x)


def _expit(z: float) -> float:
    if z < 0:
        e = math.exp(z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(-z))


# --- Beta posterior of a success rate --------------------------------------------------------


@dataclass(frozen=True)
class Posterior:
    """Beta(alpha, beta) posterior of a cell's success rate; ``low``/``high`` its ``level``
    confidence interval (``rate_interval``), not posterior quantiles: see ``posterior``."""

    alpha: float
    beta: float
    mean: float
    low: float
    high: float
    level: float = INTERVAL


def _check_prior(prior: Prior) -> tuple[float, float]:
    a0, b0 = prior
    if not (a0 > 0 and b0 > 0 and math.isfinite(a0) and math.isfinite(b0)):
        raise ValueError(f"prior must be two positive finite numbers, got {prior!r}")
    return float(a0), float(b0)


def posterior(
    k: int, n: int, prior: Prior = JEFFREYS, level: float = INTERVAL, u: float = 0.5
) -> Posterior:
    """theta ~ Beta(alpha0 + k, beta0 + n - k), by default from Jeffreys' prior Beta(1/2, 1/2).

    The interval is ``rate_interval(k, n, level, u)``, not the posterior's quantiles: at 30
    tasks and a true rate of 93.6% Jeffreys' equal-tailed interval holds the rate 82.2% of the
    time (the binomial's steps), and no fixed interval can do better there than 82% or 96%.
    """
    _check_counts(k, n)
    _check_level(level, "level")
    a0, b0 = _check_prior(prior)
    a, b = a0 + k, b0 + (n - k)
    low, high = rate_interval(k, n, level, u)
    return Posterior(alpha=a, beta=b, mean=a / (a + b), low=low, high=high, level=level)


def rate_interval(k: int, n: int, level: float = INTERVAL, u: float = 0.5) -> tuple[float, float]:
    """Stevens' (1950) randomised interval for a binomial rate: exact ``level`` coverage.

    With V(p) = P_p(X > k) + u P_p(X = k), increasing in p, the interval is the p where
    (1 - level)/2 <= V(p) <= (1 + level)/2. When u is uniform and independent of X, V(true p) is
    exactly uniform, so the interval holds the true rate with probability ``level`` at every p and
    n (Geyer & Meeden 2005). u = 1/2 gives the deterministic mid-p interval. Bounds by bisection
    on ``beta_cdf`` (P_p(X >= j) = I_p(j, n - j + 1)) to 1e-12.
    """
    _check_counts(k, n)
    _check_level(level, "level")
    if not 0.0 <= u <= 1.0:
        raise ValueError(f"u must be in [0, 1], got {u!r}")

    def v(p: float) -> float:
        at_least = beta_cdf(p, k, n - k + 1) if k > 0 else 1.0
        above = beta_cdf(p, k + 1, n - k) if k < n else 0.0
        return above + u * (at_least - above)

    tail = (1.0 - level) / 2
    v0 = u if k == 0 else 0.0  # V(0) and V(1)
    v1 = u if k == n else 1.0
    low = 0.0 if v0 >= tail else _increasing_root(v, tail)
    high = 1.0 if v1 <= 1.0 - tail else _increasing_root(v, 1.0 - tail)
    return low, high


def _increasing_root(f: Callable[[float], float], target: float) -> float:
    """The p in (0, 1) where the increasing f crosses ``target`` (bisection to 1e-12)."""
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-12:
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --- Monte Carlo helpers -----------------------------------------------------------------------


def _as_rng(seed: int | random.Random) -> random.Random:
    if isinstance(seed, random.Random):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a random.Random, got {seed!r}")
    return random.Random(seed)  # noqa: S311 - seeded statistics, not cryptography


def cell_seed(seed: int, tier: str, task_class: str) -> int:
    """A stable 64-bit seed for one cell: BLAKE2b of (seed, tier, task_class), not ``hash()``."""
    key = json.dumps([seed, tier, task_class], ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (type 7) of already sorted values; safe with +inf."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    pos = q * (len(sorted_values) - 1)
    i = math.floor(pos)
    frac = pos - i
    lo = sorted_values[i]
    if frac == 0.0 or lo == sorted_values[i + 1]:
        return lo
    return lo + frac * (sorted_values[i + 1] - lo)


def bayes_bootstrap_means(
    values: Sequence[float],
    draws: int,
    rng: int | random.Random,
    *,
    exact_max: int = BOOTSTRAP_EXACT_MAX,
) -> list[float]:
    """Rubin's Bayesian bootstrap: ``draws`` posterior draws of the mean of ``values``.

    Up to ``exact_max`` values, each draw weights the values by Dirichlet(1, ..., 1), built as
    normalised Exp(1) draws (``_dirichlet_means``: one 64-bit draw of ``rng`` seeds them; none
    for a single value). Above ``exact_max`` values, the draws come from the bootstrap's large-n
    limit: mean + sd * z, z = Phi^-1(U) (one uniform per draw), where mean is the sample mean and
    sd^2 = population variance / (n + 1) is the exact variance of the Dirichlet-weighted mean;
    draws below 0 are raised to 0 when all values are non-negative.
    """
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("the Bayesian bootstrap needs at least one value")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    if len(xs) == 1:
        return [xs[0]] * draws
    if len(xs) > exact_max:
        return _normal_means(xs, draws, _as_rng(rng))
    return _dirichlet_means(xs, draws, _as_rng(rng))


_BOOTSTRAP_BLOCK = 1 << 20
"""Exp(1) weights drawn at once (8 MB): bounds the memory of many draws of many values."""


def _dirichlet_means(xs: list[float], draws: int, rng: random.Random) -> list[float]:
    """The exact Bayesian bootstrap, vectorised: numpy draws the (draws x n) Exp(1) weights in
    blocks (pure Python took ~0.8 s of a 13,000-commit audit's report), from a generator seeded
    by one 64-bit draw of ``rng``, so a seed still gives the same draws. ``(w * x).sum`` rather
    than ``w @ x``: numpy's own pairwise sums, not BLAS, whose rounding may vary by CPU."""
    import numpy as np  # here, not at module level: most commands never bootstrap (start-up)

    gen = np.random.Generator(np.random.PCG64(rng.getrandbits(64)))
    x = np.array(xs)
    rows = max(1, _BOOTSTRAP_BLOCK // len(xs))
    out: list[float] = []
    for start in range(0, draws, rows):
        w = gen.standard_exponential((min(rows, draws - start), len(xs)))
        out.extend(((w * x).sum(axis=1) / w.sum(axis=1)).tolist())
    return out


def _normal_means(xs: list[float], draws: int, rng: random.Random) -> list[float]:
    """The Bayesian bootstrap's large-n limit N(mean, pop. variance / (n + 1)); >= 0 for costs.

    The sums are exactly rounded (``math.fsum``) and the variance is centred (no cancellation).
    Scaling every value by 2 scales mean and sd exactly, and the z draws do not depend on the
    values, so every draw scales exactly too (the property ``cost_per_shipped`` promises).
    """
    n = len(xs)
    mean = math.fsum(xs) / n
    var = math.fsum([(x - mean) * (x - mean) for x in xs]) / n
    sd = math.sqrt(var / (n + 1))
    rnd = rng.random
    inv = _NORMAL.inv_cdf
    mus = [mean + sd * inv(rnd() or _U_MIN) for _ in range(draws)]
    if min(xs) >= 0.0:  # a mean of non-negative values (costs) is non-negative
        return [mu if mu > 0.0 else 0.0 for mu in mus]
    return mus


# --- cost per shipped task ---------------------------------------------------------------------


@dataclass(frozen=True)
class CostEstimate:
    """Cost per shipped task (dollars): median and equal-tailed ``level`` interval of CPS*.

    ``median``/``low``/``high``/``draws`` are None when the estimate is withheld (``reason`` says
    why). ``coverage`` = priced tasks / tasks.
    """

    median: float | None
    low: float | None
    high: float | None
    draws: list[float] | None
    coverage: float
    reason: str = ""
    priced: int = 0
    tasks: int = 0
    level: float = INTERVAL

    @property
    def withheld(self) -> bool:
        return self.median is None


Costs = Sequence[Decimal | float | None]
"""One dollar total per task, None for a task that could not be priced."""


def _to_cost(c: Decimal | float) -> float:
    x = float(c)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"costs must be finite and non-negative, got {c!r}")
    return x


def _theta_draws(k: int, n: int, prior: Prior, draws: int, rng: random.Random) -> np.ndarray:
    """Beta posterior draws of theta, floored at ``THETA_FLOOR``: numpy draws them (pure Python
    took ~0.2 s of a 13,000-commit audit) from a generator seeded by one 64-bit draw of ``rng``,
    as ``_dirichlet_means`` does, so a seed still gives the same draws."""
    import numpy as np  # here, not at module level: most commands never draw (start-up)

    a0, b0 = _check_prior(prior)
    gen = np.random.Generator(np.random.PCG64(rng.getrandbits(64)))
    return np.maximum(gen.beta(a0 + k, b0 + (n - k), draws), THETA_FLOOR)


def _cell_draws(
    shipped: Costs,
    failed: Costs,
    prior: Prior,
    draws: int,
    rng: random.Random,
    min_coverage: float,
) -> tuple[np.ndarray, CostEstimate]:
    """Theta draws (always) and the CPS estimate; theta first, then shipped, then failed costs."""
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage!r}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    k, n = len(shipped), len(shipped) + len(failed)
    priced_s = [_to_cost(c) for c in shipped if c is not None]
    priced_f = [_to_cost(c) for c in failed if c is not None]
    thetas = _theta_draws(k, n, prior, draws, rng)
    priced = len(priced_s) + len(priced_f)
    coverage = priced / n if n else 0.0
    base = {"coverage": coverage, "priced": priced, "tasks": n}
    if n == 0:
        return thetas, CostEstimate(None, None, None, None, reason="no tasks", **base)
    if coverage < min_coverage:
        reason = (
            f"withheld: only {priced}/{n} tasks priced (coverage {fmt.share(coverage)} < "
            f"{fmt.share(min_coverage)}); missing costs are missing, not zero"
        )
        return thetas, CostEstimate(None, None, None, None, reason=reason, **base)
    notes = [f"{n - priced} unpriced task(s) left out of the mean costs"] if priced < n else []
    means = []
    for group, label in ((priced_s, "shipped"), (priced_f, "failed")):
        if not group:  # no priced task of this outcome: every priced task stands in
            group = priced_s + priced_f
            notes.append(f"no priced {label} task: the cell's mean cost stands in")
        means.append(bayes_bootstrap_means(group, draws, rng))
    import numpy as np  # here, not at module level (start-up)

    mu_s, mu_f = (np.array(m) for m in means)
    cps = mu_s + (1.0 - thetas) / thetas * mu_f
    srt = np.sort(cps).tolist()
    tail = (1.0 - INTERVAL) / 2
    est = CostEstimate(
        median=quantile(srt, 0.5),
        low=quantile(srt, tail),
        high=quantile(srt, 1.0 - tail),
        draws=cps.tolist(),
        reason="; ".join(notes),
        **base,
    )
    return thetas, est


def cost_per_shipped(
    shipped: Costs,
    failed: Costs,
    draws: int = 4000,
    seed: int | random.Random = 0,
    *,
    prior: Prior = JEFFREYS,
    min_coverage: float = MIN_COVERAGE,
) -> CostEstimate:
    """Posterior of cost per shipped task, E[cost] / P(ship), resampling costs with outcomes.

    ``shipped`` holds the cost of each shipped task, ``failed`` of each task that did not ship
    (None: unpriced). CPS* = mu_s* + (1 - theta*) / theta* * mu_f*: theta* from the Beta
    posterior (``posterior``), mu_s* and mu_f* Bayesian-bootstrap means of the shipped and failed
    costs. With a flat Dirichlet over all tasks this is exactly the Bayesian bootstrap of total
    cost / tasks shipped (the weight on the shipped tasks is Beta(k, n - k), independent of the
    weights within each group); the prior replaces Beta(k, n - k) so that k == 0 and k == n stay
    defined. Failed tasks cost more (they use every attempt): resampling the two together keeps
    that, and the interval its level. Withheld below ``min_coverage``. Median and 90% interval.
    """
    _, est = _cell_draws(shipped, failed, prior, draws, _as_rng(seed), min_coverage)
    return est


# --- cells -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellData:
    """One (tier, task class) cell: the cost of each shipped and of each failed task."""

    tier: str
    task_class: str
    shipped: Costs
    failed: Costs
    prior: Prior = JEFFREYS

    @property
    def k(self) -> int:
        return len(self.shipped)

    @property
    def n(self) -> int:
        return len(self.shipped) + len(self.failed)


@dataclass(frozen=True)
class CellSummary:
    """What a report shows for a cell: raw rate (Wilson 95%), posterior (90%), CPS (90%)."""

    tier: str
    task_class: str
    rate: Rate
    posterior: Posterior
    cost: CostEstimate


def _summary(cell: CellData, cost: CostEstimate) -> CellSummary:
    """A cell's summary from draws already made (``bot.stats.rule`` shares them with its
    comparison); the cost draws are dropped to keep it small."""
    return CellSummary(
        tier=cell.tier,
        task_class=cell.task_class,
        rate=rate(cell.k, cell.n),
        posterior=posterior(cell.k, cell.n, cell.prior, u=_cell_u(cell)),
        cost=replace(cost, draws=None),
    )


def _cell_u(cell: CellData) -> float:
    """The u of ``rate_interval`` for a cell: BLAKE2b of its data, so the same data give the same
    interval, while across histories u is uniform and (through the costs) independent of k."""
    data = [
        cell.tier,
        cell.task_class,
        [str(c) for c in cell.shipped],
        [str(c) for c in cell.failed],
    ]
    key = json.dumps(data, ensure_ascii=False).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2.0**64


def summarise_cell(cell: CellData, seed: int = 0, draws: int = 4000) -> CellSummary:
    """A cell's rates and cost per shipped task, on its own (no comparison)."""
    return _summary(cell, _draw_cell(cell, draws, seed)[1])


def _draw_cell(cell: CellData, draws: int, seed: int) -> tuple[np.ndarray, CostEstimate]:
    """A cell's theta draws and cost estimate, seeded by ``cell_seed``: a cell's draws do not
    depend on the cells it is compared with."""
    rng = random.Random(cell_seed(seed, cell.tier, cell.task_class))  # noqa: S311 - seeded
    return _cell_draws(cell.shipped, cell.failed, cell.prior, draws, rng, MIN_COVERAGE)


# --- the studentised bootstrap of a saving -----------------------------------------------------


@dataclass(frozen=True)
class Studentised:
    """A cell's cost per shipped task for the studentised bootstrap (``saving_interval``): the
    plug-in ``estimate`` and its delta-method ``se``, then both again under each of ``draws``
    Bayesian-bootstrap reweightings of the cell's tasks (``estimates``, ``ses``)."""

    estimate: float
    se: float
    estimates: np.ndarray
    ses: np.ndarray


def studentised(cell: CellData, draws: int = 4000, seed: int = 0) -> Studentised | None:
    """The cell's tasks reweighted ``draws`` times, each task's cost together with its outcome.

    None when the cost is withheld (under ``MIN_COVERAGE`` priced, or no task). Up to
    ``BOOTSTRAP_EXACT_MAX`` tasks each draw weights the tasks by Exp(1) (Rubin's bootstrap);
    beyond, the draws come from the large-n limit: estimate + se * z, se unchanged. The seed is
    ``cell_seed``'s, through its own SeedSequence, so these draws are not ``_draw_cell``'s.
    """
    import numpy as np  # here, not at module level (start-up)

    priced = [c is not None for c in (*cell.shipped, *cell.failed)]
    if not cell.n or sum(priced) < MIN_COVERAGE * cell.n:
        return None
    s = np.array([1.0] * cell.k + [0.0] * (cell.n - cell.k))
    p = np.array(priced, dtype=float)
    c = np.array([0.0 if x is None else _to_cost(x) for x in (*cell.shipped, *cell.failed)])
    gen = np.random.default_rng([cell_seed(seed, cell.tier, cell.task_class), 1])
    estimate, se = (float(x[0]) for x in _ratio_and_se(np.ones((1, cell.n)), s, p, c))
    if cell.n > BOOTSTRAP_EXACT_MAX:
        return Studentised(estimate, se, estimate + se * gen.standard_normal(draws),
                           np.full(draws, se))  # fmt: skip
    rows = max(1, _BOOTSTRAP_BLOCK // cell.n)
    blocks = [_ratio_and_se(gen.standard_exponential((min(rows, draws - i), cell.n)), s, p, c)
              for i in range(0, draws, rows)]  # fmt: skip
    return Studentised(estimate, se, *(np.concatenate(b) for b in zip(*blocks, strict=True)))


def _ratio_and_se(
    w: np.ndarray, s: np.ndarray, p: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of task weights ``w``: CPS = mu_s + (1 - theta) / theta * mu_f and its
    delta-method standard error.

    mu_s and mu_f are the weighted mean costs of the priced shipped and failed tasks (a group with
    no weight borrows every priced task's, as ``cost_per_shipped`` does). With z each task's
    influence, (c - mu) * total / weight within its group, their variance is
    sum w z^2 / total^2; theta = (shipped + 1/2) / (tasks + 1) has variance
    theta (1 - theta) / (tasks + 2), the Jeffreys posterior's, so a cell that shipped everything
    still has an uncertain theta. theta is uncorrelated with the means (the influences sum to 0
    within each outcome), so its variance adds. The sums come from weighted moments of the costs
    (``_moments``), not from each task's influence."""
    import numpy as np  # here, not at module level (start-up)

    total = w.sum(axis=1)
    theta = ((w * s).sum(axis=1) + 0.5) / (total + 1.0)
    odds = (1.0 - theta) / theta
    shipped, failed, every = (_moments(w, v, c) for v in (p * s, p * (1.0 - s), p))
    borrow_s, borrow_f = shipped[0] <= 0.0, failed[0] <= 0.0
    a = _pick(borrow_s, every, shipped)
    b = _pick(borrow_f, every, failed)
    # Tasks in both groups: only where a group borrows every priced task.
    none = (np.zeros_like(total),) * 3
    both = _pick(
        borrow_s & borrow_f, every, _pick(borrow_s, failed, _pick(borrow_f, shipped, none))
    )
    mu_s, mu_f = a[1] / a[0], b[1] / b[0]
    var = (
        _spread(a, mu_s, mu_s) / a[0] ** 2
        + odds**2 * _spread(b, mu_f, mu_f) / b[0] ** 2
        + 2.0 * odds * _spread(both, mu_s, mu_f) / (a[0] * b[0])
        + (mu_f / theta**2) ** 2 * theta * (1.0 - theta) / (total + 2.0)
    )
    return mu_s + odds * mu_f, np.sqrt(np.maximum(var, 0.0))


Moments = tuple["np.ndarray", "np.ndarray", "np.ndarray"]
"""Per row of weights: sum w, sum w c and sum w c^2 over a group's tasks."""


def _moments(w: np.ndarray, member: np.ndarray, c: np.ndarray) -> Moments:
    """``(w * x).sum`` rather than ``w @ x``: numpy's own pairwise sums, not BLAS, whose rounding
    may vary by CPU (as in ``_dirichlet_means``)."""
    return (
        (w * member).sum(axis=1),
        (w * (member * c)).sum(axis=1),
        (w * (member * c * c)).sum(axis=1),
    )


def _pick(where: np.ndarray, yes: Moments, no: Moments) -> Moments:
    """Row by row, ``yes``'s moments where ``where`` holds, else ``no``'s."""
    import numpy as np  # here, not at module level (start-up)

    return (np.where(where, yes[0], no[0]), np.where(where, yes[1], no[1]),
            np.where(where, yes[2], no[2]))  # fmt: skip


def _spread(m: Moments, mean_1: np.ndarray, mean_2: np.ndarray) -> np.ndarray:
    """sum w (c - mean_1)(c - mean_2) over a group, from its moments."""
    return m[2] - (mean_1 + mean_2) * m[1] + mean_1 * mean_2 * m[0]


def saving_interval(
    current: Studentised, candidate: Studentised, level: float = INTERVAL
) -> tuple[float, float]:
    """Symmetric studentised-bootstrap interval of CPS_current - CPS_candidate.

    t* = (D* - D) / se(D*) per draw, D the plug-in difference; the interval is D +- q se(D) with
    q the ``level`` quantile of |t*|. Heavy-tailed costs make a sample's spread volatile: a sample
    without the rare dear task has a low mean *and* a low spread. Dividing by each draw's own se
    carries that into q, where the percentile interval of the posterior draws stayed too short
    (docs/statistics.md, section 6). Symmetric, since the equal-tailed version's lower and upper
    quantiles of t* covered less in the simulation."""
    import numpy as np  # here, not at module level (start-up)

    _check_level(level, "level")
    diff = current.estimate - candidate.estimate
    se = math.hypot(current.se, candidate.se)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(current.estimates - candidate.estimates - diff) / np.hypot(
            current.ses, candidate.ses
        )
    finite = np.sort(t[np.isfinite(t)]).tolist()
    q = quantile(finite, level) if finite else 0.0
    return float(diff - q * se), float(diff + q * se)
