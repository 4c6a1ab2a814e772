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
- Erlang-C service level ``P(wait > max_wait_minutes) <= wait_probability`` in each
  queue's busiest hour (:func:`siting.chargers.queueing.capacity_table`, scaled by
  :func:`peak_scale`): the scenario's ``[chargers.arrival_profiles]`` give the share of
  the day's sessions arriving in the busiest hour for AC piles at residential
  communities, AC piles elsewhere and DC fast piles; without profiles, sessions arrive
  evenly over ``operating_hours``;
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
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from siting.chargers.check import ServiceLevel
from siting.chargers.fleet import FleetPlan, plan_fleet
from siting.chargers.grid import HEADROOM_COLUMNS, headroom_kw, nearest_supply, substation_headroom
from siting.chargers.problem import ChargerProblem, PileType
from siting.chargers.queueing import capacity_table
from siting.chargers.sites import candidate_sites, reach_candidates
from siting.config import ChargerSettings, Scenario
from siting.crs import require_metric
from siting.errors import InfeasibleError, InputError
from siting.models.finance import annuity_factor
from siting.network import NetworkCosts, network_costs, snap_points
from siting.planners import NO_DECISIONS, ItemDecisions
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["SITE_COLUMNS", "ChargerInputs", "ChargerParams", "charger_inputs", "fleet_plan",
           "from_geodataframes", "peak_scale", "pile_types"]

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


def peak_scale(site_type: Sequence[str] | None, n_sites: int, *,
               peak_share: Mapping[str, float] | None, operating_hours: float) -> np.ndarray:
    """``(2, sites)`` capacity scale ``σ = 1 / (p × operating_hours)`` of each site's slow
    and fast queue, where ``p`` is the share of the day's sessions arriving in the
    queue's busiest hour: ``peak_share["residential"]`` for AC piles at a
    ``residential_community``, ``["public"]`` for other AC piles, ``["fast"]`` for DC
    piles. Ones without ``peak_share`` (sessions spread evenly over the hours).

    >>> peak_scale(["residential_community", "mall"], 2, operating_hours=16,
    ...            peak_share={"residential": 0.125, "public": 0.0625, "fast": 0.125})
    array([[0.5, 1. ],
           [0.5, 0.5]])
    """
    if peak_share is None:
        return np.ones((2, n_sites))
    kinds = np.asarray(site_type if site_type is not None else [""] * n_sites, dtype=object)
    slow = np.where(kinds == "residential_community", peak_share["residential"],
                    peak_share["public"]).astype(np.float64)
    fast = np.full(n_sites, float(peak_share["fast"]))
    return 1.0 / (np.vstack([slow, fast]) * operating_hours)


@dataclass(frozen=True)
class ChargerInputs:
    """Everything the Region path prepared, aligned with the problem's indices.

    ``sites``: candidates (row ``i`` is site ``i``); ``client_node``: road node of each
    demand point; ``cell_client``: demand point of each demand cell with sessions
    (``-1`` for cells without); ``cells``: those cells; ``costs``: the network costs
    (sources = demand points, targets = sites); ``substations``: the substation layer
    with its headroom (:func:`siting.chargers.grid.substation_headroom`) and
    ``site_substation`` each site's row in it (-1: none). ``reserved_sites``: new
    residential communities whose full AC room is reserved on their substation
    (their piles then draw on that reservation, so the problem ties them to none);
    ``reserved_kw``: ``(stages, substations)`` kW held back before the plan, for those
    communities and the fleet's depots and hubs (``fleet``).
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
    reserved_sites: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    reserved_kw: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))
    fleet: FleetPlan | None = None


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
    ``stage_weight`` discounts later stages. ``peak_share``: the share of the day's
    sessions arriving in the busiest hour, keyed ``residential``, ``public`` and
    ``fast`` (see :func:`peak_scale`; ``None``: evenly over the operating hours).
    ``reach_all``: in 2025 every demand point has an open station within the radius
    (the plan's NEV target as a constraint, see :class:`ChargerProblem`).
    ``residential_reserved_share``: that share of the new residential communities (the
    sites' ``new_residential`` flag) get their full AC room reserved on their
    substation's headroom in every stage (see :func:`from_geodataframes`).
    :meth:`from_settings` reads them from a scenario's ``[chargers]`` section.
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
    peak_share: Mapping[str, float] | None = None
    reach_all: bool = False
    residential_reserved_share: float = 0.0

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
            district_min_piles=dict(c.district_min_piles),
            peak_share=None if c.arrival_profiles is None else
            {k: c.arrival_profiles.peak_share(k) for k in ("residential", "public", "fast")},
            reach_all=c.reach_fill, residential_reserved_share=c.residential_reserved_share)


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
                       loads: gpd.GeoDataFrame | None = None,
                       progress: bool = False) -> ChargerInputs:
    """The charger problem from GeoDataFrames and a road graph; no Region or Scenario.

    Validates the layers, snaps demand (cells or points, ``sessions_column``
    sessions/day and a ``district``) and sites to the graph's nodes, aggregates demand
    on the nodes (exact: same costs), builds sparse network costs within
    ``params.radius_m``, ties each site to its nearest substation, and hands over to
    :meth:`ChargerProblem.from_costs`. Every layer must be in a metric CRS (the
    graph's). ``sites`` needs :data:`SITE_COLUMNS` (``node`` is snapped when absent);
    reviewer ``decisions`` name site ids.

    **Grid.** Each site draws from its nearest substation with headroom
    (:func:`siting.chargers.grid.nearest_supply`); ``substations`` may carry
    ``headroom_mw`` (and ``headroom_mw_2030``) per row, else every one gets
    ``params.headroom_mw``. Before the plan, headroom is held back for ``loads``
    (points with ``kw``: the fleet's depots and hubs, at their nearest substation) and
    for the new residential communities of ``params.residential_reserved_share``
    (``max_piles - existing_piles`` x the largest pile kW the site takes: its full room,
    so that piles can be added later without grid works); those communities' own piles
    then draw on their reservation.

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
    n_stages = len(params.piles)
    reserved_sites = np.zeros(len(sites), bool)
    reserved_kw = np.zeros((n_stages, 0))
    if substations is not None and len(substations) and params.headroom_mw is not None:
        substations = substations.to_crs(sites.crs).reset_index(drop=True)
        if "headroom_mw" not in substations.columns:
            substations = substations.assign(**dict(zip(
                HEADROOM_COLUMNS[:n_stages], params.headroom_mw, strict=True)),
                headroom_source="default", headroom_assumed=True)
        headroom = headroom_kw(substations, stages=n_stages)
        site_sub = nearest_supply(np.column_stack([sites.geometry.x, sites.geometry.y]),
                                  substations)
        reserved_sites, reserved_kw = _reserve(sites, site_sub, substations, params, loads)
        headroom = headroom - reserved_kw
        _check_reserve(headroom, substations, reserved_kw)
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
    fleet = {i for i in decisions.approved | decisions.rejected if i.startswith("chg-fleet-")}
    if fleet:  # depots and hubs are sized for the fleets, not chosen: always built
        notes.append(f"{len(fleet)} reviewer decisions on fleet depots or hubs are not "
                     f"applied (they are sized for the fleets, not chosen)")
        logger.warning("chargers: %d decisions on fleet depots/hubs not applied", len(fleet))
    lost = sorted(decisions.approved - set(index) - fleet)
    if lost:  # the reviewer asked for a station this run cannot build: say so, build nothing
        raise InputError(
            f"decisions: {len(lost)} approved charging station(s) are not candidate sites of "
            f"this run (first: {lost[:5]}); decisions apply to plans of the same region and "
            f"scenario: re-plan from the plan the decisions were made on, or drop them")
    unknown = sorted(decisions.rejected - set(index) - fleet)
    if unknown:
        notes.append(f"{len(unknown)} rejected stations name no current candidate "
                     f"(first: {unknown[:3]}); nothing to forbid")
        logger.warning("chargers: %d rejected stations name no current candidate site "
                       "(first %s)", len(unknown), unknown[:3])
    problem = ChargerProblem.from_costs(
        (costs.source, costs.target, costs.metres), n_clients=uniq.size, n_sites=len(sites),
        demand=np.vstack([sessions * g for g in params.demand_growth]),
        piles=list(params.piles), slow=params.slow, fast=params.fast,
        max_piles=sites["max_piles"].to_numpy(np.int64),
        slow_ok=sites["slow_ok"].to_numpy(bool), fast_ok=sites["fast_ok"].to_numpy(bool),
        existing_piles=sites["existing_piles"].to_numpy(np.int64),
        station_cost=params.station_cny_yr,
        substation=np.where(reserved_sites, -1, site_sub), headroom_kw=headroom,
        district=district, district_min=dict(params.district_min_piles),
        district_names=names, site_names=tuple(ids), fast_share_min=params.fast_share_min,
        rule=params.rule, distance_cost=params.distance_cny_per_session_m_yr,
        unmet_cost=params.unmet_cny_per_session_yr,
        ratio_cost=params.ratio_shortfall_cny_per_pile_yr,
        stage_weight=list(params.stage_weight),
        peak_scale=peak_scale(sites["site_type"].astype(str).tolist()
                              if "site_type" in sites.columns else None, len(sites),
                              peak_share=params.peak_share,
                              operating_hours=params.service.operating_hours),
        reach_all=params.reach_all,
        locked=[index[i] for i in sorted(decisions.approved) if i in index],
        forbidden=[index[i] for i in sorted(decisions.rejected) if i in index])
    logger.info("chargers: %d cells -> %d demand points (median snap %.0f m), %d candidate "
                "sites, %d pairs within %.0f m, %d stage(s)", len(cells), uniq.size,
                float(np.median(snap)), len(sites), len(costs), params.radius_m,
                len(params.piles))
    return ChargerInputs(problem, sites, cells, cell_client, uniq, costs, substations,
                         site_sub, params.service, params.radius_m, params.years,
                         tuple(notes), reserved_sites=reserved_sites, reserved_kw=reserved_kw)


def _reserve(sites: gpd.GeoDataFrame, site_sub: np.ndarray, substations: gpd.GeoDataFrame,
             params: ChargerParams, loads: gpd.GeoDataFrame | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Residential communities reserved, and ``(stages, substations)`` kW held back."""
    n_stages, m = len(params.piles), len(substations)
    held = np.zeros(m)
    if loads is not None and len(loads):
        if "kw" not in loads.columns:
            raise InputError("loads: column 'kw' is missing (kW each point draws)")
        pts = loads.to_crs(substations.crs).geometry
        at = nearest_supply(np.column_stack([pts.x, pts.y]), substations)
        kw = pd.to_numeric(loads["kw"], errors="coerce").fillna(0.0).to_numpy(float)
        held += np.bincount(at[at >= 0], weights=kw[at >= 0], minlength=m)
    reserved = np.zeros(len(sites), bool)
    share = params.residential_reserved_share
    if share > 0 and "new_residential" in sites.columns:
        new = np.flatnonzero(sites["new_residential"].to_numpy(bool))
        order = new[np.argsort(sites["id"].astype(str).to_numpy()[new], kind="stable")]
        take = order[:math.ceil(share * new.size - 1e-9)]
        reserved[take] = True
        kw = np.where(sites["fast_ok"].to_numpy(bool), params.fast.kw, params.slow.kw)
        room = (sites["max_piles"].to_numpy(np.int64)
                - sites["existing_piles"].to_numpy(np.int64)) * kw
        tied = take[site_sub[take] >= 0]
        held += np.bincount(site_sub[tied], weights=room[tied], minlength=m)
    return reserved, np.tile(held, (n_stages, 1))


def _check_reserve(headroom: np.ndarray, substations: gpd.GeoDataFrame,
                   reserved_kw: np.ndarray) -> None:
    """Raise when what is held back exceeds a substation's headroom."""
    short = headroom.min(axis=0) < -1e-6
    if not short.any():
        return
    worst = np.flatnonzero(short)
    lines = []
    for k in worst[:10]:
        name = substations.iloc[k].get("name_zh") if "name_zh" in substations.columns else None
        label = name if isinstance(name, str) and name else f"substation {k}"
        lines.append(f"{label}: {reserved_kw[0, k] / 1000:,.2f} MW held back for fleet "
                     f"depots, reserved residential communities and other planners' loads, "
                     f"headroom "
                     f"{(headroom[0, k] + reserved_kw[0, k]) / 1000:,.2f} MW")
    raise InfeasibleError(
        f"substation headroom: {worst.size} substation(s) cannot hold the loads reserved "
        f"before the plan (short {-headroom.min(axis=0)[short].sum() / 1000:,.2f} MW in all)"
        f":\n  " + "\n  ".join(lines) + "\nraise their headroom (a 'headroom_mw' column on "
        "the substations layer, or [chargers.substation_headroom_by_kv]), lower "
        "chargers.residential_reserved_share, or the fleet's pile kW",
        constraint="residential_reserved", shortfall=float(-headroom.min(axis=0)[short].sum()))


def charger_inputs(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
                   decisions: ItemDecisions = NO_DECISIONS,
                   sites: gpd.GeoDataFrame | None = None,
                   grid_loads: gpd.GeoDataFrame | None = None,
                   exclude: gpd.GeoDataFrame | None = None,
                   progress: bool = False) -> ChargerInputs:
    """The Region path: make candidates, then :func:`from_geodataframes`.

    ``sites`` overrides the candidate sites (columns of
    :data:`siting.chargers.sites.CANDIDATE_COLUMNS`). Otherwise candidates come from the
    region (:func:`siting.chargers.sites.candidate_sites`, screened by the station review
    rules) and, with ``chargers.reach_fill``, township service centres wherever demand has
    none within reach (:func:`siting.chargers.sites.reach_candidates`). The demand layer
    needs ``ev_sessions_day``, ``nev`` and ``district`` (:func:`siting.demand.demand_cells`).

    Joint planning (:mod:`siting.joint`) passes ``grid_loads``, other planners' electric
    loads (points with ``kw``), held on their nearest substation's headroom before the
    plan as the fleet's are, and ``exclude``, land other planners take (polygons): no
    candidate in it, unless a reviewer approved it (a note says so).

    Raises:
        InputError: a bad demand layer or decisions, unknown district names in
            ``district_min_piles``; CRSError: geographic data.
    """
    c = scenario.chargers
    cells = _check_demand(demand, "ev_sessions_day", what="layer 'demand_cells'",
                          also=("nev",))
    notes: list[str] = []
    if sites is None:
        sites = candidate_sites(region, c, seed=scenario.seed, review=scenario.review)
        if exclude is not None and len(exclude):  # before the reach fill, which fills
            sites = _outside(sites, exclude, decisions, notes)  # what that leaves bare
        if c.reach_fill:
            nodes, _ = snap_points(region.graph, cells.geometry.representative_point(),
                                   what="layer 'demand_cells'")
            uniq, inv = np.unique(nodes, return_inverse=True)
            weight = np.bincount(inv.ravel(), weights=cells["ev_sessions_day"].to_numpy(float),
                                 minlength=uniq.size)
            extra = reach_candidates(region, sites, list(uniq), weight, c,
                                     review=scenario.review)
            if exclude is not None and len(exclude) and len(extra):
                extra = _outside(extra, exclude, decisions, notes)
            if len(extra):
                notes.append(f"{len(extra)} township service centres added as candidates "
                             f"where demand had no candidate within "
                             f"{c.service_radius_m:,.0f} m (chargers.reach_fill)")
                sites = pd.concat([sites, extra], ignore_index=True)
    elif exclude is not None and len(exclude):
        sites = _outside(sites, exclude, decisions, notes)
    params = ChargerParams.from_settings(c)
    subs = region.layers.get("substations")
    if subs is not None and len(subs):
        subs = substation_headroom(subs.to_crs(region.crs), c, stages=len(params.piles))
    fleet = fleet_plan(region, sites, scenario)
    loads = None
    if fleet is not None and int(fleet.sites["piles"].sum()):
        loads = fleet.sites[fleet.sites["piles"] > 0]
        piles = int(loads["piles"].sum())
        coincide = np.where(loads["fleet"] == "bus", scenario.fleet.depot_peak_coincidence, 1.0)
        loads = loads.assign(kw=loads["kw"].to_numpy(float) * coincide)
        if piles >= params.piles[0]:
            raise InfeasibleError(
                f"chargers.piles_2025 = {params.piles[0]:,}: the bus depots and taxi hubs "
                f"alone need {piles:,} piles ([fleet]); raise the pile target or lower the "
                f"fleet sizes", constraint="piles_2025", shortfall=float(piles - params.piles[0]))
        params = replace(params, piles=tuple(p - piles for p in params.piles))
        notes.append(f"{piles:,} of the new piles are dedicated fleet piles at bus depots and "
                     f"taxi hubs ({fleet.kpis()['kw_total_mw']:,.1f} MW; "
                     f"{float(loads['kw'].sum()) / 1000:,.1f} MW of it held on their "
                     f"substations' headroom, depots at fleet.depot_peak_coincidence); the "
                     f"public stations share the rest")
    if grid_loads is not None and len(grid_loads):
        extra_loads = grid_loads[["kw", "geometry"]].to_crs(region.crs)
        loads = extra_loads if loads is None else pd.concat(
            [loads[["kw", "geometry"]], extra_loads], ignore_index=True)
        notes.append(f"{float(extra_loads['kw'].sum()) / 1000:,.1f} MW of other planners' "
                     f"loads (heat pumps, logistics parks) held on their substations' "
                     f"headroom (joint plan)")
    out = from_geodataframes(
        demand, sites, region.graph, params=params,
        substations=subs if subs is not None and len(subs) else None,
        district_names=tuple(str(n) for n in region.districts["name"]),
        decisions=decisions, loads=loads, progress=progress)
    out = replace(out, fleet=fleet)
    _check_nev_target(out.problem, c)
    return replace(out, notes=(*notes, *out.notes)) if notes else out


def _check_nev_target(pb: ChargerProblem, c: ChargerSettings) -> None:
    """Raise before solving when the 2025 piles cannot serve the NEVs the plan sizes them
    for, even at their best: every pile in the largest station its type and site allow
    (Erlang-C pools, so per-pile capacity grows with station size), at the site whose
    peak hour is lightest."""
    best = 0.0
    for t in range(2):
        room = np.where(pb.allow[t], pb.max_piles, 0)
        if not room.any():
            continue
        per_pile = pb.site_capacity(t, room) / np.maximum(room, 1)
        best = max(best, float(per_pile.max()))
    target = int(pb.piles[0]) + int(pb.existing.sum())
    short = nev_shortfall(float(pb.demand[0].sum()), best * target, target, c)
    if short is not None:
        raise InfeasibleError(short[0], constraint="nev_2025", shortfall=short[1])


def nev_shortfall(sessions: float, most: float, piles: int, c: ChargerSettings
                  ) -> tuple[str, float] | None:
    """The message and the shortfall in NEVs when ``piles`` piles, serving at most
    ``most`` sessions a day, cannot take the ``sessions`` of ``chargers.nev_2025``;
    ``None`` when they can. Used before solving (the pre-flight) and by the inputs."""
    if sessions <= most * (1 + 1e-9):
        return None
    per = c.sessions_per_nev_day
    short = (sessions - most) / per
    return (f"chargers.nev_2025 = {c.nev_2025:,}: {sessions:,.0f} charging sessions a day "
            f"({per:g} per NEV) but {piles:,} piles serve at most {most:,.0f} at the service "
            f"level (P(wait > {c.max_wait_minutes:g} min) <= {c.wait_probability:g} in the "
            f"busiest hour), i.e. {most / per:,.0f} NEVs: short {short:,.0f} NEVs. Raise "
            f"chargers.piles_2025, or lower chargers.nev_2025 or sessions_per_nev_day"), short


def _outside(sites: gpd.GeoDataFrame, exclude: gpd.GeoDataFrame, decisions: ItemDecisions,
             notes: list[str]) -> gpd.GeoDataFrame:
    """``sites`` less those on land in ``exclude`` (reviewer-approved ones are kept)."""
    area = exclude.to_crs(sites.crs).geometry.union_all()
    inside = sites.geometry.intersects(area).to_numpy() & \
        ~sites["id"].isin(decisions.approved).to_numpy()
    if inside.any():
        notes.append(f"{int(inside.sum())} candidate site(s) left out: on land another "
                     f"planner takes (joint plan: logistics parks)")
        logger.info("chargers: %d candidates on other planners' land left out",
                    int(inside.sum()))
    return sites.loc[~inside].reset_index(drop=True)


def fleet_plan(region: Region, sites: gpd.GeoDataFrame, scenario: Scenario
               ) -> FleetPlan | None:
    """Depot and hub piles for the electrified bus and taxi fleets, or ``None`` when the
    scenario gives no fleet sizes.

    Depots and hubs are the candidate sites of type ``bus_depot`` and
    ``transport_hub`` (on the demo: the district seats and railway stations), with
    vehicles split by district population (:func:`siting.chargers.fleet.plan_fleet`).
    A region with neither (OSM often tags no bus depot) uses the largest candidate of
    each district instead (most room, then id), and the plan's notes say so.
    """
    f = scenario.fleet
    if f.buses <= 0 and f.taxis <= 0:
        return None
    points = sites[sites["site_type"].isin(["bus_depot", "transport_hub"])]
    stand_in = not len(points) and len(sites)
    if stand_in:
        ranked = sites.assign(room=sites["max_piles"] - sites["existing_piles"]).sort_values(
            ["district", "room", "id"], ascending=[True, False, True], kind="stable")
        points = ranked.drop_duplicates("district")
    points = points[["id", "district", "name", "geometry"]].reset_index(drop=True)
    weights = {str(k): float(v) for k, v in
               region.districts.set_index("name")["population"].items()} \
        if "population" in region.districts.columns else \
        {str(k): 1.0 for k in region.districts["name"]}
    plan = plan_fleet(depots=points, hubs=points, weights_by_district=weights, fleet=f,
                      chargers=scenario.chargers, districts=region.districts.to_crs(region.crs))
    if stand_in:
        note = (f"no bus depot or transport hub among the candidates: the fleets' depots and "
                f"hubs stand at the largest candidate of each district ({len(points)})")
        logger.warning("chargers: %s", note)
        plan = replace(plan, notes=(*plan.notes, note))
    return plan
