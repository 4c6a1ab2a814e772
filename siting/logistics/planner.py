"""Green logistics park planner: site ``p`` multimodal (rail + road) parks.

The plan calls for eight green logistics parks with multimodal functions, for 18.5 Mt
of multimodal freight by 2025, growing 10 % a year (``[logistics]`` in the scenario).
:func:`plan_logistics` is the planner the pipeline runs:

1. **Freight sources** (:func:`~siting.logistics.sites.freight_sources`): the
   region's ``industrial_zones`` (on the demo: synthetic zones anchored on real
   plants, tonnage scaled to ``source_freight_mt``) or a user layer with a tonnage
   column; the rail-suitable share comes from the sector (``rail_share_max``).
2. **Candidate sites** (:func:`~siting.logistics.sites.park_candidates`): a grid
   within ``rail_access_m`` of a freight station or line and ``road_access_m`` (road
   network) of an expressway/trunk junction, outside the red line, water (plus
   ``[review].park_water_buffer_m``), permanent farmland and excluded land uses.
   Existing parks (layer ``logistics_parks_existing`` or ``existing=``) and parks a
   reviewer approved are fixed open; rejected ones are forbidden.
3. **Drayage distances** source -> site on the road network within
   ``max_drayage_m`` (:func:`siting.network.network_costs`, sparse).
4. **Model** (:class:`~siting.logistics.problem.LogisticsProblem`): exactly ``p``
   parks, capacity, split assignment, rail shift per source, freight >= target;
   minimise drayage cost + annualised park cost - value of the rail shift.
5. **Layers** (region CRS): ``logistics_parks``, ``logistics_catchments`` (a line per
   source -> park flow), ``logistics_sources`` and ``logistics_candidates``; KPIs
   under ``logistics``.

Example:
    >>> from siting.config import load_scenario
    >>> from siting.region.zibo import build_zibo_region
    >>> scenario = load_scenario()
    >>> region = build_zibo_region(road_detail="coarse",
    ...                            freight_total_mt=scenario.logistics.source_freight_mt)
    >>> out = plan_logistics(region, None, scenario)            # doctest: +SKIP
    >>> out.kpis["parks"], out.kpis["freight_mt"] >= 18.5         # doctest: +SKIP
    (8, True)
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np

from siting.config import Scenario
from siting.errors import InputError
from siting.logistics.check import check_logistics_problem
from siting.logistics.inputs import candidate_sites
from siting.logistics.outputs import logistics_kpis, logistics_layers
from siting.logistics.problem import LogisticsProblem
from siting.logistics.sites import (
    VectorInput,
    access_junctions,
    freight_sources,
)
from siting.logistics.solve import solve_logistics
from siting.models.base import SolverOptions
from siting.models.finance import annuity_factor
from siting.network import network_costs
from siting.planners import NO_DECISIONS, ItemDecisions, PlannerOutput, finish, solver_options
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["plan_logistics"]


def plan_logistics(region: Region, demand: gpd.GeoDataFrame | None, scenario: Scenario, *,
                   decisions: ItemDecisions = NO_DECISIONS,
                   solver: SolverOptions | str | None = None, progress: bool = False,
                   sources: VectorInput | None = None, tonnage_column: str | None = None,
                   existing: VectorInput | None = None,
                   candidate_density: float = 1.0) -> PlannerOutput:
    """Site ``[logistics].parks`` multimodal logistics parks for the freight target.

    Args:
        region: the region (metric CRS) with ``rail_stations`` and/or ``rail_lines``
            (``freight`` column), the constraint layers and, unless ``sources``
            is given, ``industrial_zones``. Road access is to motorway/trunk
            junctions, or, where the region has none, to those of the best road class
            present (primary, then secondary: a WARNING, a note and the KPI
            ``road_access_class`` say so).
        demand: unused (freight comes from the sources); accepted for the planner
            contract.
        scenario: ``[logistics]``, ``[review]`` (park buffers) and ``[solver]``.
        decisions: reviewer decisions on ``logistics_parks`` ids: rejected parks are
            forbidden, approved ones locked open.
        solver: solver options (default: the scenario's ``[solver]``).
        progress: progress bars.
        sources: freight-source layer (GeoDataFrame or file) instead of the region's
            ``industrial_zones``; see :func:`~siting.logistics.sites.freight_sources`.
        tonnage_column: the sources' tonnage column if not a standard one.
        existing: existing parks (points/polygons; optional ``id``, ``name``,
            ``capacity_mt``), fixed open; default: the region layer
            ``logistics_parks_existing`` if present.
        candidate_density: candidate sites per area relative to the scenario's
            ``candidate_spacing_m`` grid (4.0: half the spacing).

    Returns:
        :class:`~siting.planners.PlannerOutput` named ``"logistics"`` with layers
        ``logistics_parks``, ``logistics_catchments``, ``logistics_sources`` and
        ``logistics_candidates`` in the region's CRS, the KPIs and the core result.

    Raises:
        InputError: bad layers or decisions (every problem listed).
        InfeasibleError: the target cannot be met (the message says by how much).
        SolverError: no feasible solution within the time limit.
        CheckError: the plan fails the independent checker (a bug); see
            :func:`siting.planners.finish`.
    """
    settings = scenario.logistics
    if not (isinstance(candidate_density, int | float) and math.isfinite(candidate_density)
            and candidate_density > 0):
        raise InputError(f"candidate_density={candidate_density!r} must be a number > 0")
    opts = solver_options(scenario.solver, seed=scenario.seed) if solver is None \
        else SolverOptions.coerce(solver)
    src = freight_sources(
        sources if sources is not None else region.layer("industrial_zones"), crs=region.crs,
        rail_share_max=settings.rail_share_max, rail_share_default=settings.rail_share_default,
        tonnage_column=tonnage_column,
        what="freight sources" if sources is not None else "region layer 'industrial_zones'")
    _, road_class = access_junctions(region.graph)
    road_note = None
    if road_class != "motorway/trunk":
        road_note = (f"road access falls back to {road_class} roads: region "
                     f"{region.name!r} has no motorway or trunk junction")
        logger.warning("logistics: %s", road_note)
    sites = candidate_sites(region, settings, scenario, decisions, existing,
                            candidate_density, progress)
    if len(sites) == 0:
        raise InputError(
            f"no candidate logistics park site in region {region.name!r} meets the rules "
            f"(within {settings.rail_access_m:,.0f} m of a freight station, "
            f"{settings.road_access_m:,.0f} m by road of a {road_class} junction, "
            f"outside red line, water and farmland); raise the access distances")
    nc = network_costs(region.graph, np.column_stack([src["x"], src["y"]]),
                       np.column_stack([sites["x"], sites["y"]]),
                       cutoff_m=settings.max_drayage_m, progress=progress)
    assert nc.source_snap_m is not None and nc.target_snap_m is not None
    metres = nc.metres + nc.source_snap_m[nc.source] + nc.target_snap_m[nc.target]
    near = metres <= settings.max_drayage_m
    ids = sites["id"].to_numpy()
    problem = LogisticsProblem.from_costs(
        (nc.source[near], nc.target[near], metres[near]), n_sources=len(src),
        n_parks=len(sites), supply_mt=src["shiftable_mt"].to_numpy(),
        capacity_mt=sites["capacity_mt"].to_numpy(dtype=float), p=settings.parks,
        target_mt=settings.target_mt(),
        drayage_cny_per_tkm=settings.drayage_cost_cny_per_tkm,
        shift_value_cny_per_t=settings.rail_shift_value_cny_per_t,
        annual_cost_cny=np.where(sites["existing"].to_numpy(dtype=bool), 0.0,
                                 settings.park_capex_cny
                                 * annuity_factor(settings.discount_rate,
                                                  settings.lifetime_years)),
        fixed=sites["existing"].to_numpy(dtype=bool) | np.isin(ids, list(decisions.approved)),
        forbidden=np.isin(ids, list(decisions.rejected)), name="logistics")
    result = solve_logistics(problem, opts).result
    finish("logistics", result, lambda: check_logistics_problem(problem, result))
    synthetic = bool(region.is_synthetic("graph") or src["synthetic"].any())
    layers = logistics_layers(problem, result, src, sites, settings, decisions, synthetic)
    kpis = logistics_kpis(problem, result, layers, src, sites, settings)
    kpis["road_access_class"] = road_class
    notes = (f"target {problem.target_mt:.2f} Mt/yr in {settings.target_year}",
             *((road_note,) if road_note else ()))
    return PlannerOutput(name="logistics", layers=layers, kpis=kpis, result=result,
                         notes=notes)


def logistics_preflight(region: Region, demand: gpd.GeoDataFrame | None, scenario: Scenario
                        ) -> list[str]:
    """Before any solve: the parks' capacity and the rail-suitable freight of the
    region's industry against the freight target (each a shortfall in Mt/yr)."""
    settings = scenario.logistics
    target = settings.target_mt()
    problems = []
    capacity = settings.parks * settings.park_capacity_mt
    if capacity < target - 1e-9:
        problems.append(
            f"logistics.freight_mt_2025: {settings.parks} parks x {settings.park_capacity_mt:g} "
            f"Mt/yr hold {capacity:g} Mt/yr, short {target - capacity:.3g} Mt/yr of the "
            f"{target:.3g} Mt/yr target; raise logistics.parks or park_capacity_mt")
    if "industrial_zones" in region.layers and len(region.layers["industrial_zones"]):
        src = freight_sources(region.layer("industrial_zones"), crs=region.crs,
                              rail_share_max=settings.rail_share_max,
                              rail_share_default=settings.rail_share_default,
                              what="region layer 'industrial_zones'")
        shiftable = float(src["shiftable_mt"].sum())
        if shiftable < target - 1e-9:
            problems.append(
                f"logistics.freight_mt_2025: the industrial zones' rail-suitable freight is "
                f"{shiftable:.3g} Mt/yr, short {target - shiftable:.3g} Mt/yr of the "
                f"{target:.3g} Mt/yr target; lower the target or give the zones' tonnage")
    return problems
