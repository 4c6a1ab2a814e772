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

import numpy as np

from siting.errors import SolverError
from siting.models.base import SolverOptions, Status
from siting.models.builder import LinearModel
from siting.models.raw import (
    INTEGRAL_ABS_GAP,
    Deadline,
    RawSolution,
    effective_abs_gap,
    finish,
    tighten_bound,
)

logger = logging.getLogger(__name__)

__all__ = ["INTEGRAL_ABS_GAP", "Deadline", "RawSolution", "effective_abs_gap", "finish",
           "run_solver", "solver_version", "tighten_bound"]

def solver_version(name: str) -> str:
    """The version string of solver ``name``."""
    if name == "highs":
        from siting.models.highs import highs_version

        return highs_version()
    from siting.models.cbc import cbc_version

    return cbc_version()


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

    A time-limited HiGHS MIP runs in a child process that is killed at the limit plus
    :func:`siting.models.highs_process.hard_limit_s`'s slack if HiGHS is still in a
    step it does not interrupt (see :mod:`siting.models.highs_process`).
    """
    limit = options.time_limit_s if time_limit_s is None else time_limit_s
    if limit is not None and limit <= 0:
        return RawSolution(Status.TIME_LIMIT_NO_SOLUTION, None, math.nan, math.nan, math.nan,
                           0.0, options.name, solver_version(options.name))
    if model.n_cols == 0:
        raise SolverError(f"model {model.name!r} has no variables; nothing to solve")
    if options.name == "highs":
        from siting.models.highs import solve_highs
        from siting.models.highs_process import isolation_enabled, solve_isolated

        if model.is_mip and not relax and limit is not None and math.isfinite(limit) and \
                isolation_enabled():  # killable at the deadline, whatever HiGHS is doing
            raw = solve_isolated(model, options, time_limit_s=limit, start=start,
                                 cutoff=cutoff)
        else:
            raw = solve_highs(model, options, time_limit_s=limit, start=start, relax=relax,
                              want_duals=want_duals, cutoff=cutoff)
    else:
        from siting.models.cbc import solve_cbc

        raw = solve_cbc(model, options, time_limit_s=limit, relax=relax,
                        want_duals=want_duals, cutoff=cutoff)
    logger.debug("%s on %s (%s): %s obj=%s bound=%s gap=%s in %.3fs", raw.solver, model.name,
                 model.stats(), raw.status.value, raw.objective, raw.bound, raw.gap, raw.seconds)
    return raw


