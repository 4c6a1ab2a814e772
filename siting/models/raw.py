"""What a solver backend hands back, and the bookkeeping every backend shares.

:mod:`siting.models.highs` and :mod:`siting.models.cbc` build a :class:`RawSolution`
with :func:`finish`; :mod:`siting.models.solvers` dispatches between them. Keeping
these here lets the backends depend on this module and the dispatcher on the
backends, with no import cycle.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siting.models.base import SolverOptions, Status, relative_gap
from siting.models.builder import LinearModel

__all__ = ["INTEGRAL_ABS_GAP", "Deadline", "RawSolution", "effective_abs_gap", "finish",
           "guard_slack_s", "is_feasible", "tighten_bound"]

#: absolute gap used when every integer solution has an integral objective: any gap
#: below 1 then proves optimality.
INTEGRAL_ABS_GAP = 1.0 - 1e-4


@dataclass(frozen=True)
class RawSolution:
    """What one solver call returned, before a model interprets it."""

    status: Status
    x: np.ndarray | None
    objective: float
    bound: float
    gap: float
    seconds: float
    solver: str
    version: str
    row_dual: np.ndarray | None = None
    col_dual: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Deadline:
    """A wall-clock budget shared by the rounds of a reduction (``None``: unlimited)."""

    limit_s: float | None
    start: float = field(default_factory=time.perf_counter)

    def remaining(self) -> float | None:
        if self.limit_s is None:
            return None
        return max(0.0, self.limit_s - (time.perf_counter() - self.start))

    def expired(self) -> bool:
        rem = self.remaining()
        return rem is not None and rem <= 0.0


def guard_slack_s(time_limit_s: float) -> float:
    """How far past its time limit a solver run (HiGHS, CBC) may go before it is stopped: the
    larger of 1 s and 5% of the limit (the stated slack of every time-limited solve)."""
    return max(1.0, 0.05 * time_limit_s)


def effective_abs_gap(model: LinearModel, options: SolverOptions) -> float:
    """The absolute gap to ask for: just under 1 for integral objectives, else the option."""
    if model.objective_integral:
        return max(options.mip_abs_gap, INTEGRAL_ABS_GAP)
    return options.mip_abs_gap


def tighten_bound(model: LinearModel, bound: float) -> float:
    """Round a dual bound to the next integer when the objective is integral."""
    if not (model.objective_integral and math.isfinite(bound)):
        return bound
    return math.ceil(bound - 1e-5) if model.sense == "min" else math.floor(bound + 1e-5)


def is_feasible(model: LinearModel, x: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether ``x`` meets ``model``'s column bounds, rows and integrality, each to
    ``tol`` relative to its scale: the check on a solution a solver handed back without
    finishing (CBC stopped by SIGINT)."""
    if x.shape != (model.n_cols,) or not np.isfinite(x).all():
        return False
    slack = tol * np.maximum(1.0, np.abs(x))
    if np.any(x < model.col_lower - slack) or np.any(x > model.col_upper + slack):
        return False
    ints = model.integer
    if np.any(np.abs(x[ints] - np.rint(x[ints])) > 1e-5):
        return False
    act = model.matrix @ x
    scale = tol * np.maximum(1.0, abs(model.matrix) @ np.abs(x))
    return not (np.any(act < model.row_lower - scale) or np.any(act > model.row_upper + scale))


def finish(model: LinearModel, status: Status, x: np.ndarray | None, bound: float,
           seconds: float, solver: str, version: str, **extra: Any) -> RawSolution:
    """Common tail of the backends: objective from ``x``, rounded bound, gap."""
    objective = model.objective_of(x) if x is not None else math.nan
    bound = tighten_bound(model, bound)
    if status is Status.OPTIMAL and not math.isfinite(bound):
        bound = objective
    if x is not None and math.isfinite(bound):
        # a bound can only be as good as the solution it certifies
        bound = min(bound, objective) if model.sense == "min" else max(bound, objective)
    gap = relative_gap(objective, bound) if x is not None else math.nan
    return RawSolution(status, x, objective, bound, gap, seconds, solver, version, **extra)
