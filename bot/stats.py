"""Honest small-sample statistics for the routing recommendation engine.

Why this exists: a (tier, task class) cell usually holds a handful of tasks, and per-task cost is
heavy-tailed (runs of the same task differ by up to 30x in tokens). Point estimates from such cells
are noise, so every number here comes with an interval or a probability:

* ``wilson``/``rate``: a raw success rate k/n with its Wilson score interval (Brown, Cai & DasGupta
  2001).
* ``tier_prior``/``posterior``: Beta-Binomial shrinkage of a cell's success rate toward its tier's
  pooled rate (empirical Bayes); exact Beta quantiles (``beta_ppf``), no sampling.
* ``bayes_bootstrap_means``: Rubin's (1981) Bayesian bootstrap of a mean cost; exact up to
  ``BOOTSTRAP_EXACT_MAX`` values, its large-n normal limit beyond (O(n + draws), not O(n draws)).
* ``cost_per_shipped``: posterior draws of cost per shipped task, CPS* = mu*/theta*. A missing cost
  is missing, never zero: it lowers ``coverage``, and below 50% coverage the estimate is withheld.
* ``recommend``/``best_tier``: the decision rule of docs/statistics.md ("switch", "keep" or
  "explore"), always reported with its probabilities.

Pure functions, standard library only. Every random function takes a seed or a ``random.Random``;
the same inputs and seed give identical output. See docs/statistics.md for formulas and defaults.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from operator import mul
from statistics import NormalDist
from typing import Literal

__all__ = [
    "BOOTSTRAP_EXACT_MAX",
    "CellData",
    "CellSummary",
    "CostEstimate",
    "Posterior",
    "Prior",
    "Rate",
    "Recommendation",
    "bayes_bootstrap_means",
    "best_tier",
    "beta_cdf",
    "beta_ppf",
    "cell_seed",
    "cost_per_shipped",
    "posterior",
    "quantile",
    "rate",
    "recommend",
    "tier_prior",
    "wilson",
]

Prior = tuple[float, float]
"""A Beta prior as (alpha0, beta0) = (kappa * m, kappa * (1 - m))."""

Action = Literal["switch", "keep", "explore"]

DEFAULT_KAPPA = 5.0
KAPPA_MIN, KAPPA_MAX = 2.0, 20.0
MIN_CELLS_FOR_MOM = 5
"""Method-of-moments kappa needs at least this many sibling cells (with n > 0)."""
INTERVAL = 0.90
"""Level of the equal-tailed posterior and cost intervals."""
MIN_COVERAGE = 0.5
"""Below this share of priced tasks the cost estimate is withheld (as in bot.pricing)."""
COST_SHRINK_TASKS = 5
"""With fewer priced tasks than this, the mean cost is shrunk toward the tier's cost mean."""
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


# --- Beta-Binomial shrinkage -------------------------------------------------------------------


def tier_prior(cells: Sequence[tuple[int, int]], kappa: float = DEFAULT_KAPPA) -> Prior:
    """Beta prior (alpha0, beta0) = (kappa*m, kappa*(1-m)) for the cells of one tier.

    ``cells`` are the tier's (k, n) pairs, one per task class. m = (K + 1) / (N + 2) is the
    Laplace-smoothed pooled rate. With at least 5 cells that have n > 0, kappa is estimated by the
    method of moments, kappa = m(1-m) / Var(theta) - 1, where Var(theta) is the between-cell
    variance of the true rates: the sample variance of the raw rates k_i/n_i minus their expected
    binomial noise, Var(theta) = (V - m(1-m) h) / (1 - h) with h = mean(1/n_i). The estimate is
    clipped to [2, 20]; no detectable spread beyond binomial noise (Var(theta) <= 0) gives 20.
    With fewer cells (or all n_i == 1) the given ``kappa`` is used: the MoM variance of three or
    four cells is noise.
    """
    if not kappa > 0:
        raise ValueError(f"kappa must be positive, got {kappa!r}")
    for k, n in cells:
        _check_counts(k, n)
    big_k = sum(k for k, _ in cells)
    big_n = sum(n for _, n in cells)
    m = (big_k + 1) / (big_n + 2)
    observed = [(k, n) for k, n in cells if n > 0]
    if len(observed) >= MIN_CELLS_FOR_MOM:
        kappa = _mom_kappa(observed, m, kappa)
    return (kappa * m, kappa * (1.0 - m))


def _mom_kappa(observed: Sequence[tuple[int, int]], m: float, fallback: float) -> float:
    rates = [k / n for k, n in observed]
    mean = sum(rates) / len(rates)
    v = sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)
    h = sum(1.0 / n for _, n in observed) / len(observed)
    if h >= 1.0:
        return fallback
    var_theta = (v - m * (1.0 - m) * h) / (1.0 - h)
    if var_theta <= 0.0:
        return KAPPA_MAX
    return min(KAPPA_MAX, max(KAPPA_MIN, m * (1.0 - m) / var_theta - 1.0))


@dataclass(frozen=True)
class Posterior:
    """Beta(alpha, beta) posterior of a cell's success rate, with an equal-tailed interval."""

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


def posterior(k: int, n: int, prior: Prior, level: float = INTERVAL) -> Posterior:
    """theta ~ Beta(alpha0 + k, beta0 + n - k); mean (k + kappa*m) / (n + kappa).

    The interval is exact (inverse regularised incomplete beta), not sampled.
    """
    _check_counts(k, n)
    _check_level(level, "level")
    a0, b0 = _check_prior(prior)
    a, b = a0 + k, b0 + (n - k)
    tail = (1.0 - level) / 2
    return Posterior(
        alpha=a,
        beta=b,
        mean=(k + a0) / (n + a0 + b0),
        low=beta_ppf(tail, a, b),
        high=beta_ppf(1.0 - tail, a, b),
        level=level,
    )


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
    normalised Exp(1) draws (-log(1 - U)); every draw consumes exactly len(values) uniforms (none
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
    rnd = _as_rng(rng).random
    log = math.log
    out = []
    for _ in range(draws):
        # log(1 - U) = -Exp(1); the sign cancels in the ratio, so it is never negated (speed).
        w = [log(1.0 - rnd()) for _ in xs]
        out.append(sum(map(mul, w, xs)) / sum(w))
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
    why). ``coverage`` = priced tasks / tasks. ``reason`` also notes shrinkage toward the tier mean.
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


def _to_cost(c: Decimal | float) -> float:
    x = float(c)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"costs must be finite and non-negative, got {c!r}")
    return x


def _theta_draws(k: int, n: int, prior: Prior, draws: int, rng: random.Random) -> list[float]:
    a0, b0 = _check_prior(prior)
    a, b = a0 + k, b0 + (n - k)
    betav = rng.betavariate
    return [max(THETA_FLOOR, betav(a, b)) for _ in range(draws)]


def _cell_draws(
    costs: Sequence[Decimal | float | None],
    k: int,
    n: int,
    prior: Prior,
    draws: int,
    rng: random.Random,
    tier_mean: float | None,
    min_coverage: float,
) -> tuple[list[float], CostEstimate]:
    """Theta draws (always) and the CPS estimate; theta is drawn first, then the bootstrap."""
    _check_counts(k, n)
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage!r}")
    if len(costs) != n:
        raise ValueError(f"need one cost per task: {len(costs)} costs for n={n} tasks")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}")
    priced = [_to_cost(c) for c in costs if c is not None]
    thetas = _theta_draws(k, n, prior, draws, rng)
    coverage = len(priced) / n if n else 0.0
    base = {"coverage": coverage, "priced": len(priced), "tasks": n}
    if n == 0:
        return thetas, CostEstimate(None, None, None, None, reason="no tasks", **base)
    if coverage < min_coverage:
        reason = (
            f"withheld: only {len(priced)}/{n} tasks priced (coverage {coverage:.0%} < "
            f"{min_coverage:.0%}); missing costs are missing, not zero"
        )
        return thetas, CostEstimate(None, None, None, None, reason=reason, **base)
    mus = bayes_bootstrap_means(priced, draws, rng)
    notes = []
    if len(priced) < n:
        notes.append(f"{n - len(priced)} unpriced task(s) excluded from the mean cost")
    if len(priced) < COST_SHRINK_TASKS:
        if tier_mean is not None:
            tm = _to_cost(tier_mean)
            w = (COST_SHRINK_TASKS - len(priced)) / COST_SHRINK_TASKS
            mus = [(1.0 - w) * mu + w * tm for mu in mus]
            notes.append(f"mean cost shrunk {w:.0%} toward the tier mean {tm:.4g}")
        else:
            notes.append(f"only {len(priced)} priced task(s) and no tier mean: mean cost unshrunk")
    cps = [mu / th for mu, th in zip(mus, thetas, strict=True)]
    srt = sorted(cps)
    tail = (1.0 - INTERVAL) / 2
    est = CostEstimate(
        median=quantile(srt, 0.5),
        low=quantile(srt, tail),
        high=quantile(srt, 1.0 - tail),
        draws=cps,
        reason="; ".join(notes),
        **base,
    )
    return thetas, est


def cost_per_shipped(
    costs: Sequence[Decimal | float | None],
    k: int,
    n: int,
    prior: Prior,
    draws: int = 4000,
    seed: int | random.Random = 0,
    *,
    tier_mean: float | None = None,
    min_coverage: float = MIN_COVERAGE,
) -> CostEstimate:
    """Posterior of cost per shipped task, CPS* = mu*/theta* (defined even when k == 0).

    ``costs`` holds one total per task (n of them), None for a task that could not be priced.
    mu* are Bayesian-bootstrap means of the priced costs, theta* are Beta posterior draws of the
    success rate (``posterior``). With fewer than 5 priced tasks mu* is shrunk toward
    ``tier_mean``: mu* <- (1 - w) mu* + w tier_mean, w = (5 - priced) / 5. With coverage below
    ``min_coverage`` the estimate is withheld. Reports the median and the 90% equal-tailed interval.
    """
    _, est = _cell_draws(costs, k, n, prior, draws, _as_rng(seed), tier_mean, min_coverage)
    return est


# --- recommendation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CellData:
    """One (tier, task class) cell: k shipped of n tasks, one cost per task (None = unpriced)."""

    tier: str
    task_class: str
    k: int
    n: int
    costs: Sequence[Decimal | float | None]
    prior: Prior
    tier_mean: float | None = None


@dataclass(frozen=True)
class CellSummary:
    """What a report shows for a cell: raw rate (Wilson 95%), shrunk posterior (90%), CPS (90%)."""

    tier: str
    task_class: str
    rate: Rate
    posterior: Posterior
    cost: CostEstimate


@dataclass(frozen=True)
class Recommendation:
    """The decision for one task class, from ``from_tier`` (current) toward ``to_tier``.

    ``p_cheaper`` = P(CPS_to < CPS_from), None when a cost estimate is withheld; ``p_quality`` =
    P(theta_to >= theta_from - delta). ``expected_saving_per_task`` is the posterior median of
    CPS_from - CPS_to in dollars per shipped task, with its 90% interval in ``saving_low`` /
    ``saving_high`` (a median, because the mean of mu/theta may not exist when k is 0).
    ``explore_share`` is the share of the class to send to ``to_tier`` (0 unless "explore").
    """

    action: Action
    from_tier: str
    to_tier: str
    p_cheaper: float | None
    p_quality: float | None
    expected_saving_per_task: float | None
    reason: str
    saving_low: float | None = None
    saving_high: float | None = None
    explore_share: float = 0.0
    current: CellSummary | None = None
    candidate: CellSummary | None = None


def _summary(cell: CellData, cost: CostEstimate) -> CellSummary:
    return CellSummary(
        tier=cell.tier,
        task_class=cell.task_class,
        rate=rate(cell.k, cell.n),
        posterior=posterior(cell.k, cell.n, cell.prior),
        cost=replace(cost, draws=None),
    )


def summarise_cell(cell: CellData, seed: int = 0, draws: int = 4000) -> CellSummary:
    """A cell's rates and cost per shipped task, on its own (no comparison)."""
    return _summary(cell, _draw_cell(cell, draws, seed)[1])


def _draw_cell(cell: CellData, draws: int, seed: int) -> tuple[list[float], CostEstimate]:
    rng = random.Random(cell_seed(seed, cell.tier, cell.task_class))  # noqa: S311 - seeded
    return _cell_draws(
        cell.costs, cell.k, cell.n, cell.prior, draws, rng, cell.tier_mean, MIN_COVERAGE
    )


def recommend(
    current: CellData,
    candidate: CellData,
    *,
    delta: float = 0.05,
    p_cheaper: float = 0.9,
    p_quality: float = 0.8,
    min_tasks: int = 5,
    explore_share: float = 0.10,
    draws: int = 4000,
    seed: int = 0,
) -> Recommendation:
    """Should the class move from ``current`` (tier A) to ``candidate`` (tier B)?

    * switch: n_A >= min_tasks, n_B >= min_tasks, both cost estimates present,
      P(CPS_B < CPS_A) >= p_cheaper and P(theta_B >= theta_A - delta) >= p_quality.
    * keep: n_A >= min_tasks, n_B >= min_tasks and the evidence against B is as strong as a switch
      would need in its favour: P(CPS_B >= CPS_A) >= p_cheaper (needs both costs), or
      P(theta_B < theta_A - delta) >= p_quality.
    * explore otherwise (send ``explore_share`` of the class to B to learn).

    A withheld cost on either side rules out "switch"; ``reason`` says why. Each cell's draws come
    from ``cell_seed(seed, tier, task_class)``, so a cell's draws do not depend on its opponent.
    """
    if current.task_class != candidate.task_class:
        raise ValueError(
            f"cells are for different classes: {current.task_class!r}, {candidate.task_class!r}"
        )
    if current.tier == candidate.tier:
        raise ValueError(f"current and candidate are the same tier {current.tier!r}")
    _check_options(delta, p_cheaper, p_quality, min_tasks, explore_share)
    return _compare(
        current,
        candidate,
        _draw_cell(current, draws, seed),
        _draw_cell(candidate, draws, seed),
        delta=delta,
        p_cheaper=p_cheaper,
        p_quality=p_quality,
        min_tasks=min_tasks,
        explore_share=explore_share,
    )


def _check_options(
    delta: float, p_cheaper: float, p_quality: float, min_tasks: int, explore_share: float
) -> None:
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta!r}")
    _check_level(p_cheaper, "p_cheaper")
    _check_level(p_quality, "p_quality")
    _check_level(explore_share, "explore_share")
    if min_tasks < 0:
        raise ValueError(f"min_tasks must be >= 0, got {min_tasks!r}")


def _compare(
    current: CellData,
    candidate: CellData,
    drawn_a: tuple[list[float], CostEstimate],
    drawn_b: tuple[list[float], CostEstimate],
    *,
    delta: float,
    p_cheaper: float,
    p_quality: float,
    min_tasks: int,
    explore_share: float,
) -> Recommendation:
    th_a, cost_a = drawn_a
    th_b, cost_b = drawn_b
    draws = len(th_a)
    no_worse = sum(b >= a - delta for a, b in zip(th_a, th_b, strict=True))
    pq = no_worse / draws
    p_worse = (draws - no_worse) / draws  # P(theta_B < theta_A - delta), from counts: exact
    pc = p_dearer = saving = s_low = s_high = None
    if cost_a.draws is not None and cost_b.draws is not None:
        diffs = [a - b for a, b in zip(cost_a.draws, cost_b.draws, strict=True)]
        cheaper = sum(d > 0 for d in diffs)
        pc = cheaper / draws
        p_dearer = (draws - cheaper) / draws  # P(CPS_B >= CPS_A)
        srt = sorted(diffs)
        tail = (1.0 - INTERVAL) / 2
        saving = quantile(srt, 0.5)
        s_low, s_high = quantile(srt, tail), quantile(srt, 1.0 - tail)

    a, b = current.tier, candidate.tier
    probs = (
        f"P(CPS_{b} < CPS_{a}) = {'n/a' if pc is None else f'{pc:.3f}'}, "
        f"P(theta_{b} >= theta_{a} - {delta:g}) = {pq:.3f}, "
        f"n_{a} = {current.n}, n_{b} = {candidate.n}"
    )
    if saving is not None:
        probs += f"; median saving {saving:.4g} $/shipped task (90% [{s_low:.4g}, {s_high:.4g}])"
    withheld = [
        f"{cell.tier}: {cost.reason}"
        for cell, cost in ((current, cost_a), (candidate, cost_b))
        if cost.withheld
    ]
    enough = current.n >= min_tasks and candidate.n >= min_tasks
    action: Action
    if not enough:
        action = "explore"
        why = f"too few tasks to decide (need >= {min_tasks} on both tiers)"
    elif pc is not None and pc >= p_cheaper and pq >= p_quality:
        action = "switch"
        why = (
            f"{b} is cheaper per shipped task (P >= {p_cheaper:g}) and its success rate is no "
            f"worse than {a}'s minus {delta:g} (P >= {p_quality:g})"
        )
    elif p_dearer is not None and p_dearer >= p_cheaper:
        action = "keep"
        why = f"{b} is not cheaper per shipped task (P(CPS_{b} >= CPS_{a}) >= {p_cheaper:g})"
    elif p_worse >= p_quality:
        action = "keep"
        why = (
            f"{b}'s success rate is lower than {a}'s by more than {delta:g} "
            f"(P(theta_{b} < theta_{a} - {delta:g}) >= {p_quality:g})"
        )
    else:
        action = "explore"
        why = "evidence not yet conclusive"
    if withheld:
        why += "; never switch without costs: " + "; ".join(withheld)
    if action == "explore":
        why += f"; send ~{explore_share:.0%} of {current.task_class!r} to {b}"
    return Recommendation(
        action=action,
        from_tier=a,
        to_tier=b,
        p_cheaper=pc,
        p_quality=pq,
        expected_saving_per_task=saving,
        reason=f"{action}: {why} ({probs})",
        saving_low=s_low,
        saving_high=s_high,
        explore_share=explore_share if action == "explore" else 0.0,
        current=_summary(current, cost_a),
        candidate=_summary(candidate, cost_b),
    )


def best_tier(
    cells_for_class: Sequence[CellData],
    current_tier: str,
    *,
    delta: float = 0.05,
    p_cheaper: float = 0.9,
    p_quality: float = 0.8,
    min_tasks: int = 5,
    explore_share: float = 0.10,
    draws: int = 4000,
    seed: int = 0,
) -> Recommendation:
    """Compare the current tier with every other tier for one class.

    The switch with the highest median saving wins; failing that, explore toward the tier with the
    highest P(cheaper) (withheld costs rank last; ties by tier name); failing that, keep, reported
    against the most competitive alternative. With no other tier the answer is "keep".
    """
    classes = {c.task_class for c in cells_for_class}
    if len(classes) > 1:
        raise ValueError(f"cells span several classes: {sorted(classes)}")
    tiers = [c.tier for c in cells_for_class]
    if len(set(tiers)) != len(tiers):
        raise ValueError(f"duplicate tiers: {tiers}")
    current = next((c for c in cells_for_class if c.tier == current_tier), None)
    if current is None:
        raise ValueError(f"no cell for the current tier {current_tier!r}")
    others = sorted((c for c in cells_for_class if c.tier != current_tier), key=lambda c: c.tier)
    if not others:
        return Recommendation(
            action="keep",
            from_tier=current_tier,
            to_tier=current_tier,
            p_cheaper=None,
            p_quality=None,
            expected_saving_per_task=None,
            reason=f"keep: no other tier has data for {current.task_class!r}",
        )
    _check_options(delta, p_cheaper, p_quality, min_tasks, explore_share)
    drawn_current = _draw_cell(current, draws, seed)  # once, shared by every comparison
    recs = [
        _compare(
            current,
            other,
            drawn_current,
            _draw_cell(other, draws, seed),
            delta=delta,
            p_cheaper=p_cheaper,
            p_quality=p_quality,
            min_tasks=min_tasks,
            explore_share=explore_share,
        )
        for other in others
    ]

    def by_cheaper(r: Recommendation) -> float:
        return -1.0 if r.p_cheaper is None else r.p_cheaper

    switches = [r for r in recs if r.action == "switch"]
    if switches:
        return max(switches, key=lambda r: r.expected_saving_per_task or 0.0)
    explores = [r for r in recs if r.action == "explore"]
    if explores:
        return max(explores, key=by_cheaper)
    return max(recs, key=by_cheaper)
