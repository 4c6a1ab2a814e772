"""The charging-pile planner: the :class:`~siting.planners.Planner` the pipeline runs.

:func:`plan_chargers` prepares the inputs (:func:`siting.chargers.inputs.charger_inputs`),
solves the problem (:func:`siting.chargers.solve.solve_chargers`), re-verifies the plan
with :func:`siting.chargers.check.check_charger_solution` and builds the layers and
KPIs (:mod:`siting.chargers.outputs`).
"""

from __future__ import annotations

import logging

import geopandas as gpd

from siting.chargers.check import check_charger_solution
from siting.chargers.inputs import charger_inputs
from siting.chargers.outputs import charger_kpis, demand_layer, station_layer, substation_layer
from siting.chargers.solve import solve_chargers
from siting.config import Scenario
from siting.models.base import SolverOptions
from siting.planners import (
    NO_DECISIONS,
    ItemDecisions,
    PlannerOutput,
    finish,
    solver_kpis,
    solver_options,
)
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["plan_chargers"]


def plan_chargers(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
                  decisions: ItemDecisions = NO_DECISIONS,
                  solver: SolverOptions | None = None,
                  progress: bool = False,
                  grid_loads: gpd.GeoDataFrame | None = None,
                  exclude: gpd.GeoDataFrame | None = None) -> PlannerOutput:
    """Site charging stations and piles for ``region`` (see the module docstring).

    Returns the ``charging_stations`` and ``charging_demand`` layers (and
    ``substations`` with headroom and load, where the region has them; metric CRS), the
    ``chargers`` KPI section and the solver result. ``grid_loads`` and ``exclude``: other
    planners' electric loads and land, for a joint plan (see
    :func:`~siting.chargers.inputs.charger_inputs`). Every solution is re-verified by
    :func:`siting.chargers.check.check_charger_solution` before it is returned.

    Raises:
        InputError: bad inputs; InfeasibleError: targets that cannot be met (named,
            with the shortfall), before solving where possible; SolverError: no
            feasible plan within the time limit; CheckError: the plan fails the
            independent checker (a bug). See :func:`siting.planners.finish`.
    """
    opts = solver or solver_options(scenario.solver, seed=scenario.seed)
    inputs = charger_inputs(region, demand, scenario, decisions=decisions, progress=progress,
                            grid_loads=grid_loads, exclude=exclude)
    solution = solve_chargers(inputs.problem, opts, progress=progress)
    finish("chargers", solution.result, lambda: check_charger_solution(
        inputs.problem, solution, service=inputs.service, radius_m=inputs.radius_m).violations)
    synthetic = bool(region.is_synthetic("land_use") or "pois" not in region.layers)
    layers = {"charging_stations": station_layer(inputs, solution, scenario,
                                                 synthetic=synthetic),
              "charging_demand": demand_layer(inputs, solution)}
    grid = substation_layer(inputs, solution)
    if grid is not None:  # replaces the context layer: the same points, with the grid plan
        layers["substations"] = grid
    kpis = charger_kpis(inputs, solution, scenario)
    kpis.update(solver_kpis(solution.result))
    kpis["checked"] = True
    return PlannerOutput(name="chargers", layers=layers, kpis=kpis, result=solution.result,
                         notes=inputs.notes)


def charger_preflight(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario
                      ) -> list[str]:
    """Before any solve: can the 2025 piles serve the NEVs at best? Every pile in the
    largest station its type allows, in the lightest busiest hour the arrival profiles
    give (Erlang-C pools, so that is each pile's most). A shortfall in NEVs."""
    from siting.chargers.inputs import ChargerParams, nev_shortfall

    c = scenario.chargers
    params = ChargerParams.from_settings(c)
    share = params.peak_share or {}
    best = 0.0
    for pt, kinds in ((params.slow, ("residential", "public")), (params.fast, ("fast",))):
        m = min(c.max_piles_per_station, max(t.max_piles for t in c.site_types.values()))
        peak = min((share[k] for k in kinds), default=1.0 / c.operating_hours)
        scale = 1.0 / (peak * c.operating_hours)
        best = max(best, float(pt.capacity(m)) / m * scale)
    sessions = float(demand["ev_sessions_day"].sum()) if "ev_sessions_day" in demand else 0.0
    short = nev_shortfall(sessions, best * c.piles_2025, c.piles_2025, c)
    return [] if short is None else [short[0]]
