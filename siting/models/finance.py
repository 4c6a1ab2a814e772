"""Money over time: the one annuity factor every planner annualises capex with."""

from __future__ import annotations

import math

from siting.errors import InputError

__all__ = ["annuity_factor"]


def annuity_factor(rate: float, years: int) -> float:
    """Capital recovery factor ``r / (1 - (1 + r)^-n)``: the yearly payment per unit of capex.

    ``1 / n`` at ``r = 0``.

    >>> round(annuity_factor(0.06, 15), 6)
    0.102963
    >>> annuity_factor(0.0, 4)
    0.25
    """
    problems = []
    if not (isinstance(years, int | float) and math.isfinite(years) and years > 0):
        problems.append(f"years={years!r} must be > 0")
    if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > -1):
        problems.append(f"rate={rate!r} must be a finite number > -1")
    if problems:
        raise InputError.collect(problems, context="annuity_factor")
    if rate == 0:
        return 1.0 / years
    return rate / (1.0 - (1.0 + rate) ** -years)
