"""Inputs of the charging-pile planner: from GeoDataFrames (or a Region) to the problem.

- :func:`from_geodataframes`: demand, candidate sites and a road graph, with
  :class:`ChargerParams` (units in the names), and no Region or Scenario: validates
  and snaps the layers, aggregates demand on the road nodes it snaps to (exact: same
  costs), builds sparse network distances within the service radius
  (:func:`siting.network.network_costs`), ties every site to its nearest substation,
  and hands over to :meth:`~siting.chargers.problem.ChargerProblem.from_costs`;
- :func:`charger_inputs`: the Region path: candidate sites from the region
  (:mod:`siting.chargers.sites`) and parameters from the scenario
  (:meth:`ChargerParams.from_settings`), then the first.

Everything the plan assumes comes from the scenario's ``[chargers]`` section:

- demand: ``ev_sessions_day`` of the demand cells (``nev x sessions_per_nev_day``)
  for 2025; 2030 grows it uniformly by ``nev_2030 / nev_2025`` (no spatial growth
  layer exists yet);
- Erlang-C service level ``P(wait > max_wait_minutes) <= wait_probability`` with
  sessions arriving over ``operating_hours`` (:func:`siting.chargers.queueing.capacity_table`);
- annualised capex with the capital recovery factor of ``discount_rate`` over
  ``lifetime_years``; access cost ``distance_cost_cny_per_session_km`` and the unmet
  penalty ``unmet_penalty_cny_per_session`` per day, times 365; stage-2 costs
  discounted over ``stage_years``;
- grid: each site draws from its nearest substation (straight line), whose headroom
  ``substation_headroom_mw`` (2025) / ``substation_headroom_mw_2030`` caps the new
  piles' nameplate kW (no diversity factor: conservative).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from siting.chargers.check import ServiceLevel
from siting.chargers.problem import ChargerProblem, PileType
from siting.chargers.queueing import capacity_table
from siting.chargers.sites import candidate_sites
from siting.config import ChargerSettings, Scenario
from siting.crs import require_metric
from siting.errors import InputError
from siting.models.finance import annuity_factor
from siting.network import NetworkCosts, network_costs, snap_points
from siting.planners import NO_DECISIONS, ItemDecisions
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["SITE_COLUMNS", "ChargerInputs", "ChargerParams", "charger_inputs", "from_geodataframes",
           "pile_types"]

STAGE_YEARS = (2025, 2030)


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


@dataclass(frozen=True)
class ChargerParams:
    """What the charger problem assumes, with units in the names (annual CNY).

    ``piles``: new-pile target per stage (cumulative); ``demand_growth``: each stage's
    sessions relative to the demand layer's (``(1.0,)`` for one stage); ``radius_m``:
    the service radius on the road network; ``headroom_mw``: new load each substation
    may take per stage (cumulative). Costs are per year: ``station_cny_yr`` per new
    station, ``distance_cny_per_session_m_yr`` per daily session and metre travelled,
    ``unmet_cny_per_session_yr`` per daily session left unserved and
    ``ratio_shortfall_cny_per_pile_yr`` per pile short of the city-wide pile ratio.
    ``stage_weight`` discounts later stages. :meth:`from_settings` reads them from a
    scenario's ``[chargers]`` section.
    """

    piles: tuple[int, ...]
    slow: PileType
    fast: PileType
    service: ServiceLevel
    radius_m: float
    station_cny_yr: float
    distance_cny_per_session_m_yr: float
    unmet_cny_per_session_yr: float
    ratio_shortfall_cny_per_pile_yr: float = 0.0
    demand_growth: tuple[float, ...] = (1.0,)
    headroom_mw: tuple[float, ...] | None = None
    stage_weight: tuple[float, ...] = (1.0,)
    years: tuple[int, ...] = STAGE_YEARS[:1]
    fast_share_min: float = 0.0
    rule: Literal["exact", "at_least"] = "exact"
    district_min_piles: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.piles)
        problems = [f"{name} has {len(value)} values for {n} stage(s)"
                    for name, value in (("demand_growth", self.demand_growth),
                                        ("stage_weight", self.stage_weight),
                                        ("years", self.years),
                                        ("headroom_mw", self.headroom_mw or (0,) * n))
                    if len(value) != n]
        if not self.radius_m > 0:
            problems.append(f"radius_m={self.radius_m!r} must be > 0")
        if problems:
            raise InputError.collect(problems, context="ChargerParams")

    @classmethod
    def from_settings(cls, c: ChargerSettings) -> ChargerParams:
        """The parameters of a scenario's ``[chargers]`` section (one or two stages)."""
        crf = annuity_factor(c.discount_rate, c.lifetime_years)
        slow, fast = pile_types(c)
        staged = c.staged
        h30 = c.substation_headroom_mw_2030 or c.substation_headroom_mw
        return cls(
            piles=(c.piles_2025, c.piles_2030) if staged else (c.piles_2025,),
            slow=slow, fast=fast,
            service=ServiceLevel(c.max_wait_minutes, c.wait_probability, c.operating_hours,
                                 (c.slow.session_minutes, c.fast.session_minutes)),
            radius_m=c.service_radius_m, station_cny_yr=crf * c.station_capex_cny,
            distance_cny_per_session_m_yr=365.0 * c.distance_cost_cny_per_session_km / 1000.0,
            unmet_cny_per_session_yr=365.0 * c.unmet_penalty_cny_per_session,
            ratio_shortfall_cny_per_pile_yr=c.pile_ratio_shortfall_cny_per_pile,
            demand_growth=(1.0, c.nev_2030 / c.nev_2025) if staged else (1.0,),
            headroom_mw=(c.substation_headroom_mw, h30) if staged
            else (c.substation_headroom_mw,),
            stage_weight=(1.0, (1.0 + c.discount_rate) ** -c.stage_years) if staged
            else (1.0,),
            years=STAGE_YEARS if staged else STAGE_YEARS[:1],
            fast_share_min=c.fast_share_min, rule=c.piles_rule,
            district_min_piles=dict(c.district_min_piles))


def _check_demand(demand: gpd.GeoDataFrame, column: str, *, what: str,
                  also: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
    require_metric(demand, what=what)
    problems = []
    for col in (column, *also, "district"):
        if col not in demand.columns:
            problems.append(f"column {col!r} is missing (see siting.demand.demand_cells)")
    if not problems:
        s = pd.to_numeric(demand[column], errors="coerce")
        if s.isna().any() or not np.all(np.isfinite(s)) or (s < 0).any():
            problems.append(f"column {column!r} must be a finite number >= 0 in every row")
    if problems:
        raise InputError.collect(problems, context=what)
    cells = demand[pd.to_numeric(demand[column]) > 0]
    if len(cells) == 0:
        raise InputError(f"{what} has no row with {column} > 0; nothing to plan charging for")
    return cells


#: columns ``from_geodataframes`` needs on the candidate sites
SITE_COLUMNS = ("id", "district", "max_piles", "slow_ok", "fast_ok", "existing_piles")


def _check_sites(sites: gpd.GeoDataFrame, graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    require_metric(sites, what="candidate sites")
    missing = [c for c in SITE_COLUMNS if c not in sites.columns]
    if missing:
        raise InputError(f"candidate sites: columns {missing} are missing; a site needs "
                         f"{', '.join(SITE_COLUMNS)} (see siting.chargers.sites)")
    if len(sites) == 0:
        raise InputError("candidate sites: the layer is empty; add candidate sites")
    kinds = sorted(set(sites.geom_type.dropna()) - {"Point"})
    if kinds or sites.geometry.isna().any():
        raise InputError(f"candidate sites: every site must be a point (found "
                         f"{', '.join(kinds) or 'missing geometries'}); use each site's "
                         f"representative point")
    if "node" not in sites.columns:
        sites = sites.copy()
        sites["node"], sites["snap_m"] = snap_points(graph, sites.geometry,
                                                     what="candidate sites")
    return sites


def from_geodataframes(demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame,
                       graph: nx.MultiDiGraph, *, params: ChargerParams,
                       substations: gpd.GeoDataFrame | None = None,
                       district_names: Sequence[str] | None = None,
                       decisions: ItemDecisions = NO_DECISIONS,
                       sessions_column: str = "ev_sessions_day",
                       progress: bool = False) -> ChargerInputs:
    """The charger problem from GeoDataFrames and a road graph; no Region or Scenario.

    Validates the layers, snaps demand (cells or points, ``sessions_column``
    sessions/day and a ``district``) and sites to the graph's nodes, aggregates demand
    on the nodes (exact: same costs), builds sparse network costs within
    ``params.radius_m``, ties each site to its nearest substation, and hands over to
    :meth:`ChargerProblem.from_costs`. Every layer must be in a metric CRS (the
    graph's). ``sites`` needs :data:`SITE_COLUMNS` (``node`` is snapped when absent);
    reviewer ``decisions`` name site ids.

    Raises:
        InputError: a bad layer (named, with the column); CRSError: geographic data.
    """
    cells = _check_demand(demand, sessions_column, what="layer 'demand_cells'")
    sites = _check_sites(sites, graph)
    notes: list[str] = []
    nodes, snap = snap_points(graph, cells.geometry.representative_point(),
                              what="layer 'demand_cells'")
    uniq, cell_client = np.unique(nodes, return_inverse=True)
    cell_client = cell_client.ravel()
    sessions = np.bincount(cell_client, weights=cells[sessions_column].to_numpy(float),
                           minlength=uniq.size)
    costs = network_costs(graph, list(uniq), list(sites["node"]), cutoff_m=params.radius_m,
                          progress=progress)
    site_sub = np.full(len(sites), -1, np.int64)
    headroom = None
    if substations is not None and len(substations) and params.headroom_mw is not None:
        substations = substations.to_crs(sites.crs).reset_index(drop=True)
        pts = substations.geometry.representative_point()
        _, site_sub = cKDTree(np.column_stack([pts.x, pts.y])).query(
            np.column_stack([sites.geometry.x, sites.geometry.y]))
        headroom = (np.asarray(params.headroom_mw, float)[:, None] * 1000.0
                    * np.ones((1, len(substations))))
    else:
        notes.append("no substations layer: grid headroom is not checked" if substations is None
                     or not len(substations) else "no headroom given: grid headroom is not "
                     "checked")
        substations = None
    names = tuple(str(n) for n in (district_names if district_names is not None
                                   else sorted(set(map(str, sites["district"])))))
    district = np.array([names.index(str(d)) if str(d) in names else -1
                         for d in sites["district"]])
    ids = sites["id"].astype(str).tolist()
    index = {sid: k for k, sid in enumerate(ids)}
    unknown = sorted((decisions.approved | decisions.rejected) - set(index))
    if unknown:
        notes.append(f"{len(unknown)} reviewer decisions name no current candidate "
                     f"(first: {unknown[:3]}); ignored")
        logger.warning("chargers: %d decisions name no current candidate site (first %s)",
                       len(unknown), unknown[:3])
    problem = ChargerProblem.from_costs(
        (costs.source, costs.target, costs.metres), n_clients=uniq.size, n_sites=len(sites),
        demand=np.vstack([sessions * g for g in params.demand_growth]),
        piles=list(params.piles), slow=params.slow, fast=params.fast,
        max_piles=sites["max_piles"].to_numpy(np.int64),
        slow_ok=sites["slow_ok"].to_numpy(bool), fast_ok=sites["fast_ok"].to_numpy(bool),
        existing_piles=sites["existing_piles"].to_numpy(np.int64),
        station_cost=params.station_cny_yr, substation=site_sub, headroom_kw=headroom,
        district=district, district_min=dict(params.district_min_piles),
        district_names=names, site_names=tuple(ids), fast_share_min=params.fast_share_min,
        rule=params.rule, distance_cost=params.distance_cny_per_session_m_yr,
        unmet_cost=params.unmet_cny_per_session_yr,
        ratio_cost=params.ratio_shortfall_cny_per_pile_yr,
        stage_weight=list(params.stage_weight),
        locked=[index[i] for i in sorted(decisions.approved) if i in index],
        forbidden=[index[i] for i in sorted(decisions.rejected) if i in index])
    logger.info("chargers: %d cells -> %d demand points (median snap %.0f m), %d candidate "
                "sites, %d pairs within %.0f m, %d stage(s)", len(cells), uniq.size,
                float(np.median(snap)), len(sites), len(costs), params.radius_m,
                len(params.piles))
    return ChargerInputs(problem, sites, cells, cell_client, uniq, costs, substations,
                         site_sub, params.service, params.radius_m, params.years,
                         tuple(notes))


def charger_inputs(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
                   decisions: ItemDecisions = NO_DECISIONS,
                   sites: gpd.GeoDataFrame | None = None,
                   progress: bool = False) -> ChargerInputs:
    """The Region path: make candidates, then :func:`from_geodataframes`.

    ``sites`` overrides the candidate sites (columns of
    :data:`siting.chargers.sites.CANDIDATE_COLUMNS`). The demand layer needs
    ``ev_sessions_day``, ``nev`` and ``district`` (:func:`siting.demand.demand_cells`).

    Raises:
        InputError: a bad demand layer or decisions, unknown district names in
            ``district_min_piles``; CRSError: geographic data.
    """
    c = scenario.chargers
    _check_demand(demand, "ev_sessions_day", what="layer 'demand_cells'", also=("nev",))
    if sites is None:
        sites = candidate_sites(region, c, seed=scenario.seed,
                                red_line_buffer_m=scenario.review.station_red_line_buffer_m)
    subs = region.layers.get("substations")
    return from_geodataframes(
        demand, sites, region.graph, params=ChargerParams.from_settings(c),
        substations=subs if subs is not None and len(subs) else None,
        district_names=tuple(str(n) for n in region.districts["name"]),
        decisions=decisions, progress=progress)
