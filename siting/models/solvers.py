"""Run a :class:`~siting.models.builder.LinearModel` on HiGHS or CBC.

Both backends skip pulp's per-variable Python objects:

- HiGHS (:mod:`siting.models.highs`) gets the compressed-column arrays through
  ``highspy.Highs.passModel``: about 1 µs per variable, against about 14 µs per
  variable to build the same model in pulp.
- CBC (:mod:`siting.models.cbc`) gets a free-format MPS file written column by
  column with vectorised numpy string operations, and runs the CBC binary that pulp
  bundles. Status, bound and gap come from CBC's own log, not from pulp.

The status is decided from the solver's model status and its primal and dual bounds
(see :class:`~siting.models.base.Status`); a time-limit stop is never reported as
optimal.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siting.errors import SolverError
from siting.models.base import SolverOptions, Status, relative_gap
from siting.models.builder import LinearModel

logger = logging.getLogger(__name__)

__all__ = ["Deadline", "RawSolution", "run_solver", "solver_version"]

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


def solver_version(name: str) -> str:
    """The version string of solver ``name``."""
    if name == "highs":
        from siting.models.highs import highs_version

        return highs_version()
    from siting.models.cbc import cbc_version

    return cbc_version()


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


def run_solver(model: LinearModel, options: SolverOptions, *, time_limit_s: float | None = None,
               start: np.ndarray | None = None, relax: bool = False,
               want_duals: bool = False, cutoff: float | None = None) -> RawSolution:
    """Solve ``model`` with ``options.name``; ``relax`` drops integrality (an LP).

    ``time_limit_s`` overrides ``options.time_limit_s`` (used by reductions that share
    one budget over several rounds). ``start`` is a full column vector used as a MIP
    start where the backend supports it (HiGHS). ``cutoff`` (a known incumbent's value)
    lets the solver prune everything not strictly better; the model then ends
    ``INFEASIBLE`` when nothing beats it, or, if presolve settles the model first, with
    a solution that does not beat it. Callers holding that incumbent handle both.
    """
    limit = options.time_limit_s if time_limit_s is None else time_limit_s
    if limit is not None and limit <= 0:
        return RawSolution(Status.TIME_LIMIT_NO_SOLUTION, None, math.nan, math.nan, math.nan,
                           0.0, options.name, solver_version(options.name))
    if model.n_cols == 0:
        raise SolverError(f"model {model.name!r} has no variables; nothing to solve")
    if options.name == "highs":
        from siting.models.highs import solve_highs

        raw = solve_highs(model, options, time_limit_s=limit, start=start, relax=relax,
                          want_duals=want_duals, cutoff=cutoff)
    else:
        from siting.models.cbc import solve_cbc

        raw = solve_cbc(model, options, time_limit_s=limit, relax=relax,
                        want_duals=want_duals, cutoff=cutoff)
    logger.debug("%s on %s (%s): %s obj=%s bound=%s gap=%s in %.3fs", raw.solver, model.name,
                 model.stats(), raw.status.value, raw.objective, raw.bound, raw.gap, raw.seconds)
    return raw


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
