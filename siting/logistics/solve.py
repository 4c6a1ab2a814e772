"""Solve a :class:`~siting.logistics.problem.LogisticsProblem` on the core CFLP.

:func:`solve_logistics` pre-checks the problem, solves the core
:class:`~siting.models.cflp.CFLP` with the freight-target row added through its
constraint hook, and returns a :class:`LogisticsSolution`. A target the solver proves
out of reach is explained with the largest freight ``p`` parks can shift
(:func:`max_freight`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from siting.errors import InfeasibleError
from siting.logistics.problem import FLOW_EPS_MT, LogisticsProblem
from siting.models.base import Result, SolverOptions, Status
from siting.models.builder import ExtraConstraints
from siting.models.cflp import CFLP

logger = logging.getLogger(__name__)

__all__ = ["LogisticsSolution", "max_freight", "solve_logistics"]


@dataclass(frozen=True)
class LogisticsSolution:
    """The parks opened and the freight they take, plus the solver's :class:`Result`.

    ``flow_mt``: Mt/yr per allowed (source, park) pair, in ``problem.costs`` order
    (also ``result.values["flow"]``); ``result.assignment.amount`` and
    ``result.unmet`` are shares of each source's rail-suitable freight. Without a
    solution (``result.status.has_solution`` false) nothing is open and no freight
    moves.
    """

    result: Result
    flow_mt: np.ndarray

    @property
    def parks(self) -> np.ndarray:
        """Indices of the open parks."""
        return self.result.selected


def solve_logistics(problem: LogisticsProblem, solver: SolverOptions | str | None = None, *,
                    extra_constraints: ExtraConstraints | None = None) -> LogisticsSolution:
    """Pre-check, then solve the core CFLP with the target row; never mutates ``problem``.

    ``extra_constraints(builder, vars)`` may add rows on the core's blocks ``open``
    (parks), ``assign`` (share of each allowed pair, in ``problem.costs`` order) and
    ``unmet`` (share of each source left on the road). A time limit without a
    solution is returned (``result.status``), not raised.

    Raises:
        InfeasibleError: a pre-check fails, or the solver proves the target out of
            reach (the message gives the largest freight ``p`` parks can shift).
    """
    opts = SolverOptions.coerce(solver)
    problem.check()
    res = problem.to_cflp().solve(opts,
                                  extra_constraints=problem.target_hook(extra_constraints))
    logger.info("%s: %s, objective %s, gap %s, %.2f s (%s)", problem.name, res.status.value,
                res.objective, res.mip_gap, res.solve_seconds, dict(res.model))
    if res.status is Status.INFEASIBLE:
        _explain_infeasible(problem, opts, extra_constraints)
    if not res.status.has_solution:
        return LogisticsSolution(res, np.zeros(problem.costs.nnz))
    share = res.values["assign"]
    flow = share * problem.supply_mt[problem.costs.client]
    flow = np.where(flow > FLOW_EPS_MT, flow, 0.0)
    flow.setflags(write=False)
    res = dataclasses.replace(res, values={**res.values, "flow": flow},
                              model={**res.model, "pairs": problem.costs.nnz})
    return LogisticsSolution(res, flow)


def max_freight(problem: LogisticsProblem, solver: SolverOptions | str | None = None, *,
                extra_constraints: ExtraConstraints | None = None) -> Result:
    """The largest freight ``p`` parks can shift (no target): the core CFLP with zero
    drayage and park costs and unit value, so its objective is ``U - max freight``."""
    pb = CFLP.from_costs(
        (problem.costs.client, problem.costs.site, np.zeros(problem.costs.nnz)),
        n_clients=problem.n_sources, n_sites=problem.n_parks, demand=problem.supply_mt,
        capacity=problem.capacity_mt, unmet_cost=1.0, p=problem.p, fixed=problem.fixed,
        forbidden=problem.forbidden, name=f"{problem.name} (largest freight)")
    return pb.solve(solver, extra_constraints=extra_constraints)


def _explain_infeasible(problem: LogisticsProblem, opts: SolverOptions,
                        extra_constraints: ExtraConstraints | None) -> None:
    raw = max_freight(problem, opts, extra_constraints=extra_constraints)
    target = problem.target_mt
    if raw.status is Status.OPTIMAL:
        best = float(problem.supply_mt.sum()) - float(raw.objective)
        raise InfeasibleError(
            f"{problem.name}: freight target {target:.2f} Mt/yr cannot be met: "
            f"{problem.p} parks can shift at most {best:.2f} Mt/yr (largest multimodal "
            f"freight over every choice of parks): short {target - best:.2f} Mt/yr",
            constraint="freight target", shortfall=target - best)
    raise InfeasibleError(
        f"{problem.name}: the solver proved the freight target {target:.2f} Mt/yr "
        f"infeasible with {problem.p} parks (by how much is unknown: sizing it ended "
        f"{raw.status.value}); relax the target or add parks", constraint="freight target")
