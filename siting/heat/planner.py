"""The waste-heat planner: the :class:`~siting.planners.Planner` the pipeline runs.

:func:`plan_heat` prepares the instance (:func:`siting.heat.inputs.prepare_heat`),
solves it (:func:`siting.heat.solve.solve_heat`), re-verifies the network with
:func:`siting.heat.check.check_heat_solution` and builds the layers and KPIs
(:func:`siting.heat.outputs.heat_outputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
from tqdm.auto import tqdm

from siting.config import Scenario
from siting.crs import is_metric
from siting.errors import CRSError, InfeasibleError
from siting.heat.check import check_heat_solution
from siting.heat.inputs import prepare_heat
from siting.heat.outputs import heat_outputs
from siting.heat.problem import HeatSolution
from siting.heat.solve import solve_heat
from siting.models.base import SolverOptions, Status
from siting.planners import NO_DECISIONS, ItemDecisions, PlannerOutput, finish, solver_options
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["plan_heat"]


def plan_heat(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
              decisions: ItemDecisions = NO_DECISIONS, solver: SolverOptions | None = None,
              progress: bool = False,
              source_caps: Mapping[str, float] | None = None) -> PlannerOutput:
    """Plan the waste-heat pipes for ``region`` (see the module docstring).

    Reviewer decisions name items of this planner's layers: a rejected pipe
    (``"hp:<a>-<b>"``, one road edge) is never used and an approved one is built; a
    rejected source (``"hs:..."``, or its connection ``"hp:src:hs:..."``) or zone
    (``"hz:..."``) is left out; an approved source has its connection pipe built (an
    approved zone changes nothing: zones are demand, not something to build). A
    rejected id that matches no heat item is ignored with a warning and a note; an
    approved one is an :class:`~siting.errors.InputError` (as for chargers and parks).
    ``source_caps`` (source id -> MW) lowers sources' capacity: a joint plan's limit
    from their substation's headroom (:mod:`siting.joint`).

    Returns:
        :class:`~siting.planners.PlannerOutput` named ``"heat"`` with the layers
        ``heat_pipes``, ``heat_sources`` and ``heat_sinks`` (region CRS) and the KPIs.

    Raises:
        InputError / CRSError: bad layers; InfeasibleError: locked pipes that cannot
        be fed, or a required interconnection (``heat.required_links``) that cannot be
        built (named, with the reason, before or right after solving); SolverError: no
        feasible network within the time limit; CheckError:
        the network fails the independent checker (a bug). See
        :func:`siting.planners.finish`.
    """
    if not is_metric(region.crs):
        raise CRSError(f"region {region.name!r} has CRS {region.crs!r}; the heat planner "
                       f"needs a projected metric CRS")
    opts = solver if solver is not None else solver_options(scenario.solver, seed=scenario.seed)
    steps = tqdm(total=3, desc="heat", disable=not progress, leave=False)
    inst = prepare_heat(region, demand, scenario, decisions=decisions, source_caps=source_caps)
    steps.update()
    solution: HeatSolution | None = None
    notes = list(inst.notes)
    if inst.problem is not None:
        solution = solve_heat(inst.problem, opts)
        problem = inst.problem
        if solution.result.status is Status.INFEASIBLE and problem.required:
            names = ", ".join(repr(r.name) for r in problem.required)
            raise InfeasibleError(
                f"heat: no network carries the required interconnection(s) {names}: the "
                f"solver proved it impossible with the candidate pipes (pipe capacity, "
                f"losses or the networks' pass-on limit); lower min_mw or drop the link",
                constraint="required links")
        finish("heat", solution.result, lambda: check_heat_solution(problem, solution))
    steps.update()
    out = heat_outputs(region, demand, inst, solution, scenario, notes=tuple(notes))
    steps.update()
    steps.close()
    return out
