"""Cells shared by the tests of bot.stats: the reference note's bugfix costs (section 3.2)."""

from bot.stats.posterior import CellData

CHEAP_BUGFIX_COSTS = [0.15, 0.18, 0.16, 0.19, 0.17, 0.14, 0.20]  # around $0.17 a task
FRONTIER_BUGFIX_COSTS = [1.10, 1.30, 1.20, 1.25, 1.15, 1.20]  # around $1.2 a task


def split(costs, k):
    """The first k costs as the shipped tasks', the rest as the failed tasks'."""
    return list(costs[:k]), list(costs[k:])


def cell(tier, k, n, costs, task_class="bugfix"):
    assert len(costs) == n
    return CellData(tier, task_class, *split(costs, k))
