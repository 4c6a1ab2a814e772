"""The charging-pile planner: where stations go and how many slow and fast piles each gets.

Two ways in (STYLE.md):

- :class:`~siting.chargers_model.ChargerProblem` ``.from_costs(...)``: the pure-array
  problem over sparse costs (formulation in its docstring);
- :func:`charger_inputs` / :func:`plan_chargers`: the Region path, which validates the
  demand layer, makes candidate sites (:mod:`siting.chargers_sites`), aggregates
  demand cells on the road nodes they snap to, builds network distances within the
  service radius (:func:`siting.network.network_costs`), ties every site to its
  nearest substation, and hands over to the first.

Everything the plan assumes comes from the scenario's ``[chargers]`` section:

- demand: ``ev_sessions_day`` of the demand cells (``nev x sessions_per_nev_day``)
  for 2025; 2030 grows it uniformly by ``nev_2030 / nev_2025`` (no spatial growth
  layer exists yet);
- Erlang-C service level ``P(wait > max_wait_minutes) <= wait_probability`` with
  sessions arriving over ``operating_hours`` (:func:`siting.queueing.capacity_table`);
- annualised capex with the capital recovery factor of ``discount_rate`` over
  ``lifetime_years``; access cost ``distance_cost_cny_per_session_km`` and the unmet
  penalty ``unmet_penalty_cny_per_session`` per day, times 365; stage-2 costs
  discounted over ``stage_years``;
- grid: each site draws from its nearest substation (straight line), whose headroom
  ``substation_headroom_mw`` (2025) / ``substation_headroom_mw_2030`` caps the new
  piles' nameplate kW (no diversity factor: conservative).

Example:
    >>> from siting.config import load_scenario
    >>> from siting.region.zibo import build_zibo_region
    >>> from siting.pipeline import region_demand
    >>> scenario = load_scenario()
    >>> region = build_zibo_region(road_detail="coarse")             # doctest: +SKIP
    >>> out = plan_chargers(region, region_demand(region, scenario), scenario)  # doctest: +SKIP
    >>> out.kpis["piles_total"], out.kpis["status"]                  # doctest: +SKIP
    (40000, 'optimal')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from siting.chargers_check import ServiceLevel, check_charger_solution
from siting.chargers_model import ChargerProblem, PileType
from siting.chargers_sites import candidate_sites
from siting.config import ChargerSettings, Scenario
from siting.crs import require_metric
from siting.errors import InputError
from siting.models.base import SolverOptions
from siting.network import NetworkCosts, network_costs, snap_points
from siting.planning import ItemDecisions, PlannerOutput, solver_kpis, solver_options
from siting.queueing import capacity_table
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["ChargerInputs", "annuity_factor", "charger_inputs", "pile_types", "plan_chargers"]

STAGE_YEARS = (2025, 2030)
NO_DECISIONS = ItemDecisions()
"""No reviewer decisions (``ItemDecisions`` is frozen, so one shared default is safe)."""


def annuity_factor(rate: float, years: int) -> float:
    """Capital recovery factor: the annual payment per unit of capex."""
    if rate == 0:
        return 1.0 / years
    return rate / (1.0 - (1.0 + rate) ** -years)


def pile_types(settings: ChargerSettings) -> tuple[PileType, PileType]:
    """Slow and fast pile types with annualised capex and Erlang-C tables."""
    crf = annuity_factor(settings.discount_rate, settings.lifetime_years)
    out = []
    for name in ("slow", "fast"):
        p = getattr(settings, name)
        table = capacity_table(settings.max_piles_per_station,
                               session_minutes=p.session_minutes,
                               max_wait_minutes=settings.max_wait_minutes,
                               wait_probability=settings.wait_probability,
                               operating_hours=settings.operating_hours)
        out.append(PileType(name, p.kw, crf * p.capex_cny, table))
    return out[0], out[1]


@dataclass(frozen=True)
class ChargerInputs:
    """Everything the Region path prepared, aligned with the problem's indices.

    ``sites``: candidates (row ``i`` is site ``i``); ``client_node``: road node of each
    demand point; ``cell_client``: demand point of each demand cell with sessions
    (``-1`` for cells without); ``cells``: those cells; ``costs``: the network costs
    (sources = demand points, targets = sites); ``substations``: the substation layer
    and ``site_substation`` each site's row in it (-1: none).
    """

    problem: ChargerProblem
    sites: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    cell_client: np.ndarray
    client_node: np.ndarray
    costs: NetworkCosts
    substations: gpd.GeoDataFrame | None
    site_substation: np.ndarray
    service: ServiceLevel
    radius_m: float
    years: tuple[int, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def _check_demand(demand: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    require_metric(demand, what="layer 'demand_cells'")
    problems = []
    for col in ("ev_sessions_day", "nev", "district"):
        if col not in demand.columns:
            problems.append(f"column {col!r} is missing (see siting.demand.demand_cells)")
    if not problems:
        s = pd.to_numeric(demand["ev_sessions_day"], errors="coerce")
        if s.isna().any() or not np.all(np.isfinite(s)) or (s < 0).any():
            problems.append("column 'ev_sessions_day' must be a finite number >= 0 in every "
                            "row")
    if problems:
        raise InputError.collect(problems, context="layer 'demand_cells'")
    cells = demand[pd.to_numeric(demand["ev_sessions_day"]) > 0]
    if len(cells) == 0:
        raise InputError("layer 'demand_cells' has no cell with ev_sessions_day > 0; "
                         "nothing to plan charging for")
    return cells


def charger_inputs(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
                   decisions: ItemDecisions = NO_DECISIONS,
                   sites: gpd.GeoDataFrame | None = None,
                   progress: bool = False) -> ChargerInputs:
    """Validate, make candidates, aggregate demand, build costs; return the problem.

    ``sites`` overrides the candidate sites (columns of
    :data:`siting.chargers_sites.CANDIDATE_COLUMNS`).

    Raises:
        InputError: a bad demand layer or decisions, unknown district names in
            ``district_min_piles``; CRSError: geographic data.
    """
    c = scenario.chargers
    cells = _check_demand(demand)
    if sites is None:
        sites = candidate_sites(region, c, seed=scenario.seed,
                                red_line_buffer_m=scenario.review.station_red_line_buffer_m)
    require_metric(sites, what="candidate sites")
    notes: list[str] = []
    # demand points: cells snapped to road nodes, aggregated (exact: same costs)
    nodes, snap = snap_points(region.graph, cells.geometry.representative_point(),
                              what="layer 'demand_cells'")
    uniq, cell_client = np.unique(nodes, return_inverse=True)
    cell_client = cell_client.ravel()
    sessions = np.bincount(cell_client, weights=cells["ev_sessions_day"].to_numpy(float),
                           minlength=uniq.size)
    costs = network_costs(region.graph, list(uniq), list(sites["node"]),
                          cutoff_m=c.service_radius_m, progress=progress)
    years = STAGE_YEARS if c.staged else STAGE_YEARS[:1]
    demand_rows = [sessions] + ([sessions * (c.nev_2030 / c.nev_2025)] if c.staged else [])
    piles = [c.piles_2025] + ([c.piles_2030] if c.staged else [])
    # grid: nearest substation
    subs = region.layers.get("substations")
    site_sub = np.full(len(sites), -1, np.int64)
    headroom = None
    if subs is not None and len(subs):
        subs = subs.to_crs(region.crs).reset_index(drop=True)
        pts = subs.geometry.representative_point()
        _, site_sub = cKDTree(np.column_stack([pts.x, pts.y])).query(
            np.column_stack([sites.geometry.x, sites.geometry.y]))
        h30 = c.substation_headroom_mw_2030 or c.substation_headroom_mw
        headroom = np.array([[c.substation_headroom_mw], [h30]])[:len(years)] * 1000.0 * \
            np.ones((1, len(subs)))
    else:
        subs = None
        notes.append("region has no substations layer: grid headroom is not checked")
    names = tuple(str(n) for n in region.districts["name"])
    district = np.array([names.index(d) if d in names else -1 for d in sites["district"]])
    ids = sites["id"].astype(str).tolist()
    index = {sid: k for k, sid in enumerate(ids)}
    unknown = sorted((decisions.approved | decisions.rejected) - set(index))
    if unknown:
        notes.append(f"{len(unknown)} reviewer decisions name no current candidate "
                     f"(first: {unknown[:3]}); ignored")
        logger.warning("chargers: %d decisions name no current candidate site (first %s)",
                       len(unknown), unknown[:3])
    slow, fast = pile_types(c)
    crf = annuity_factor(c.discount_rate, c.lifetime_years)
    weights = [1.0] + ([(1.0 + c.discount_rate) ** -c.stage_years] if c.staged else [])
    problem = ChargerProblem.from_costs(
        (costs.source, costs.target, costs.metres), n_clients=uniq.size, n_sites=len(sites),
        demand=np.vstack(demand_rows), piles=piles, slow=slow, fast=fast,
        max_piles=sites["max_piles"].to_numpy(np.int64),
        slow_ok=sites["slow_ok"].to_numpy(bool), fast_ok=sites["fast_ok"].to_numpy(bool),
        existing_piles=sites["existing_piles"].to_numpy(np.int64),
        station_cost=crf * c.station_capex_cny, substation=site_sub, headroom_kw=headroom,
        district=district, district_min=dict(c.district_min_piles), district_names=names,
        site_names=tuple(ids), fast_share_min=c.fast_share_min, rule=c.piles_rule,
        distance_cost=365.0 * c.distance_cost_cny_per_session_km / 1000.0,
        unmet_cost=365.0 * c.unmet_penalty_cny_per_session,
        ratio_cost=c.pile_ratio_shortfall_cny_per_pile, stage_weight=weights,
        locked=[index[i] for i in sorted(decisions.approved) if i in index],
        forbidden=[index[i] for i in sorted(decisions.rejected) if i in index])
    logger.info("chargers: %d cells -> %d demand points (median snap %.0f m), %d candidate "
                "sites, %d pairs within %.0f m, %d stage(s)", len(cells), uniq.size,
                float(np.median(snap)), len(sites), len(costs), c.service_radius_m,
                len(years))
    service = ServiceLevel(c.max_wait_minutes, c.wait_probability, c.operating_hours,
                           (c.slow.session_minutes, c.fast.session_minutes))
    return ChargerInputs(problem, sites, cells, cell_client, uniq, costs, subs, site_sub,
                         service, c.service_radius_m, years, tuple(notes))


def plan_chargers(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
                  decisions: ItemDecisions = NO_DECISIONS,
                  solver: SolverOptions | None = None,
                  progress: bool = False) -> PlannerOutput:
    """Site charging stations and piles for ``region`` (see the module docstring).

    Returns the ``charging_stations`` and ``charging_demand`` layers (metric CRS), the
    ``chargers`` KPI section and the solver result. Every solution is re-verified by
    :func:`siting.chargers_check.check_charger_solution` before it is returned.

    Raises:
        InputError: bad inputs; InfeasibleError: targets that cannot be met (named,
            with the shortfall), before solving where possible; SolverError: no
            feasible plan within the time limit.
    """
    from siting.chargers_report import charger_kpis, demand_layer, station_layer

    opts = solver or solver_options(scenario.solver, seed=scenario.seed)
    inputs = charger_inputs(region, demand, scenario, decisions=decisions, progress=progress)
    solution = inputs.problem.solve(opts, progress=progress)
    solution.result.raise_for_status(model="chargers")
    report = check_charger_solution(inputs.problem, solution, service=inputs.service,
                                    radius_m=inputs.radius_m)
    if not report.ok:  # a bug, not bad input: the model and the checker disagree
        raise RuntimeError("chargers: the plan fails the independent checker:\n  - "
                           + "\n  - ".join(report.violations[:20]))
    synthetic = bool(region.is_synthetic("land_use") or "pois" not in region.layers)
    layers = {"charging_stations": station_layer(inputs, solution, scenario,
                                                 synthetic=synthetic),
              "charging_demand": demand_layer(inputs, solution)}
    kpis = charger_kpis(inputs, solution, scenario)
    kpis.update(solver_kpis(solution.result))
    kpis["checked"] = True
    return PlannerOutput(name="chargers", layers=layers, kpis=kpis, result=solution.result,
                         notes=inputs.notes)
