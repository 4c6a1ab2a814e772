"""Waste-heat pipe planner: route industrial waste heat to the city's heating zones.

**Definitions.** *Waste heat* is industrial process heat and cooling-water heat that
is lost today: it costs nothing but, for cooling water, the heat pump's electricity,
and every GJ delivered displaces a GJ of coal-fired CHP heat. Heat taken from CHP
plants (kinds in ``heat.chp_kinds``) is not waste heat: those plants are the existing
supply, and more heat from them is *CHP extraction*, which burns fuel at
``heat.chp_extraction_cny_per_gj`` and emits ``heat.chp_extraction_co2_t_per_gj``
(by default as much as the CHP heat it displaces, so it earns no coal credit).

:func:`plan_heat` is the Region/GeoDataFrame way in. It

1. turns the plants of ``region.layers["heat_sources"]`` into heat sources
   (:func:`heat_sources`): recoverable MW = rated output x the scenario's
   ``heat.recoverable_share[kind]``; kinds in ``heat.low_grade_kinds`` give cooling
   water that reaches supply temperature only through an electric heat pump of COP
   ``c``, which delivers ``recoverable x c / (c - 1)`` MW for ``1/c`` MW of
   electricity per MW delivered; ``role`` is ``"chp_extraction"`` for CHP kinds and
   ``"waste_heat"`` otherwise;
2. aggregates the urban demand cells into heating zones (:func:`heat_zones`:
   touching urban cells of one district, one district-heating network each, at
   least ``heat.min_zone_peak_mw``), or takes a user layer ``heat_zones``
   (``heat_peak_mw``, ``heat_annual_gj``, ``chp_mw``) when the region has one. A
   zone's existing CHP capacity is its share of the city's: ``heat.chp_heated_area_m2``
   (the heating plan's 156 million m2 for Zibo) x ``heat_intensity_w_m2``, spread
   over all heat demand in proportion (the OSM plant list holds only some of the
   plan's 39 CHP sources, so placing capacity plant by plant would misplace it);
   waste heat displaces that supply, and demand beyond it is unmet unless waste heat
   serves it;
3. builds candidate pipe edges along the roads, forbids or surcharges red-line
   crossings, applies reviewer decisions, and reduces the graph
   (:mod:`siting.heat.graph`), with interconnection trunk candidates between zone
   networks whose gates are at most ``heat.interconnection_max_m`` apart by road;
3b. turns each ``[[heat.required_links]]`` into a required interconnection
   (:class:`~siting.heat.problem.RequiredFlow`): its sources are the plants whose
   name contains ``source``; each ``zones_in`` entry is a zone id or a district,
   whose largest zone (its main heating network) it means; the route from the
   sources to the first zone and the trunks between consecutive zones are always
   candidates. A link that cannot be built (no plant or zone of that name, its
   plants left out, no route that avoids the red line) stops the plan with an
   :class:`~siting.errors.InputError` or :class:`~siting.errors.InfeasibleError`
   that names it;
4. solves the fixed-charge network design of
   :class:`~siting.heat.problem.HeatNetworkProblem`, re-checks the network with
   :func:`~siting.heat.check.check_heat_solution`, and returns the ``heat_pipes``,
   ``heat_sources`` and ``heat_sinks`` layers and the ``heat`` KPIs.

Annual energy is peak MW x ``heat.full_load_hours`` for deliveries, heat-pump and
pumping electricity, which follow the load; pipe losses run the whole heating season,
``heat.season_hours``: the model charges the season's hours beyond the full-load
hours at the displaced-heat price (:class:`HeatEconomics`), and the KPIs count loss
energy over the season (:mod:`siting.heat.outputs`).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from siting.config import HeatSettings, Scenario
from siting.crs import crs_label, is_metric
from siting.errors import CRSError, InfeasibleError, InputError
from siting.heat.graph import PipeEdges, Reduction, edge_geometries, pipe_edges, reduce_network
from siting.heat.problem import HeatNetworkProblem, PipeCatalogue, RequiredFlow
from siting.models.finance import annuity_factor
from siting.planners import NO_DECISIONS, ItemDecisions
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["HeatEconomics", "HeatInstance", "heat_sources", "heat_zones", "prepare_heat"]

GJ_PER_MWH = 3.6
#: the default: no reviewer decisions (frozen, so safe to share)


@dataclass(frozen=True)
class HeatEconomics:
    """The scenario's heat economics as per-MW-year coefficients of the model.

    Deliveries, heat-pump and pumping electricity and CHP fuel follow the load
    (``full_load_hours``); ``loss_cny_per_mw_yr`` prices a MW of pipe loss over the
    season's remaining hours, ``season_hours - full_load_hours`` (the peak balance
    already carries it over the full-load hours), at the displaced-heat price: heat
    lost is heat that, delivered, would have displaced CHP heat.
    """

    annuity: float
    value_cny_per_mw_yr: float
    unmet_cny_per_mw_yr: float
    pumping_cny_per_mw_yr: float
    heat_pump_cny_per_mw_yr: float
    chp_cny_per_mw_yr: float
    loss_cny_per_mw_yr: float
    gj_per_mw_yr: float
    mwh_per_mw_yr: float
    season_gj_per_mw_yr: float

    @classmethod
    def from_settings(cls, h: HeatSettings) -> HeatEconomics:
        kwh = h.full_load_hours * 1000.0
        gj = h.full_load_hours * GJ_PER_MWH
        return cls(
            annuity=annuity_factor(h.discount_rate, h.lifetime_years),
            value_cny_per_mw_yr=h.displaced_heat_cny_per_gj * gj,
            unmet_cny_per_mw_yr=h.unmet_penalty_cny_per_gj * gj,
            pumping_cny_per_mw_yr=h.pumping_share * kwh * h.electricity_cny_per_kwh,
            heat_pump_cny_per_mw_yr=kwh / h.heat_pump_cop * h.electricity_cny_per_kwh,
            chp_cny_per_mw_yr=h.chp_cny_per_gj * gj,
            loss_cny_per_mw_yr=h.displaced_heat_cny_per_gj * GJ_PER_MWH
            * (h.season_hours - h.full_load_hours),
            gj_per_mw_yr=gj, mwh_per_mw_yr=h.full_load_hours,
            season_gj_per_mw_yr=h.season_hours * GJ_PER_MWH)


# ------------------------------------------------------------------------ sources


def heat_sources(plants: gpd.GeoDataFrame, settings: HeatSettings) -> gpd.GeoDataFrame:
    """Heat sources from a plant layer (``name``, ``kind``, ``output_mw``, points).

    Returns one row per plant whose kind has a recoverable share > 0, with ``id``
    (stable, from the name), ``name``, ``kind``, ``role`` (``"chp_extraction"`` for
    kinds in ``heat.chp_kinds``, else ``"waste_heat"``), ``grade`` (``"low"``/``"high"``),
    ``output_mw``, ``recoverable_mw``, ``capacity_mw`` (deliverable at supply
    temperature, after the heat pump for low grade) and ``cop`` (``nan`` for high
    grade). Plants of kinds the scenario does not list are left out with a warning.

    Raises:
        InputError: missing columns, non-numeric or negative ``output_mw``.
    """
    what = "layer 'heat_sources'"
    problems = [f"column {c!r} is missing" for c in ("kind", "output_mw")
                if c not in plants.columns]
    if problems:
        raise InputError.collect(problems, context=what)
    mw = pd.to_numeric(plants["output_mw"], errors="coerce")
    bad = mw.isna() | (mw < 0)
    if bad.any():
        raise InputError(f"{what}: column 'output_mw' must be a number >= 0 in every row "
                         f"({int(bad.sum())} bad, first at row {int(np.flatnonzero(bad)[0])})")
    kinds = plants["kind"].astype(str)
    share = kinds.map(settings.recoverable_share)
    unknown = sorted(set(kinds[share.isna()]))
    if unknown:
        logger.warning("heat sources: plant kind(s) %s have no heat.recoverable_share in the "
                       "scenario and are left out; add them to use their waste heat", unknown)
    share = share.fillna(0.0).to_numpy(dtype=float)
    low = kinds.isin(settings.low_grade_kinds).to_numpy()
    cop = settings.heat_pump_cop
    recoverable = mw.to_numpy(dtype=float) * share
    capacity = np.where(low, recoverable * cop / (cop - 1.0), recoverable)
    names = (plants["name"].astype(str) if "name" in plants.columns
             else pd.Series([""] * len(plants), index=plants.index))
    pts = plants.geometry.representative_point()
    out = gpd.GeoDataFrame({
        "id": _source_ids(names.tolist(), pts),
        "name": names.to_numpy(), "kind": kinds.to_numpy(),
        "role": np.where(kinds.isin(settings.chp_kinds).to_numpy(), "chp_extraction",
                         "waste_heat"),
        "grade": np.where(low, "low", "high"), "output_mw": mw.to_numpy(dtype=float),
        "recoverable_mw": recoverable, "capacity_mw": capacity,
        "cop": np.where(low, cop, np.nan)}, geometry=pts.to_numpy(), crs=plants.crs)
    return out[out["capacity_mw"] > 0].reset_index(drop=True)


def _source_ids(names: list[str], pts: gpd.GeoSeries) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for name, p in zip(names, pts, strict=True):
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        base = f"hs:{slug}" if slug else f"hs:{p.x:.0f}-{p.y:.0f}"
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


# -------------------------------------------------------------------------- zones


def heat_zones(demand: gpd.GeoDataFrame, *, min_peak_mw: float,
               chp_share: float = 1.0) -> gpd.GeoDataFrame:
    """Heating zones: contiguous urban demand cells of one district.

    Cells flagged ``urban`` (see :mod:`siting.demand`) that touch (edge or corner)
    and lie in the same district form one zone, standing for that district's
    district-heating network; zones under ``min_peak_mw`` are left out (small towns
    stay on local supply). Each zone has ``id`` (``"hz:<district>:<first cell>"``,
    stable), ``district``, ``demand_mw`` (peak), ``annual_gj``, ``chp_mw`` (existing
    CHP capacity = ``chp_share`` x demand), ``cells`` and the dissolved cell polygons.

    Raises:
        InputError: missing columns; CRSError: a geographic CRS.
    """
    what = "demand cells"
    if demand.crs is None or not is_metric(demand.crs):
        raise CRSError(f"{what} must be in a projected metric CRS (got "
                       f"{crs_label(demand.crs) if demand.crs else 'none'}); reproject them "
                       f"to the region's CRS")
    need = ("heat_peak_mw", "heat_annual_gj", "district", "urban")
    problems = [f"column {c!r} is missing" for c in need if c not in demand.columns]
    if problems:
        raise InputError.collect(problems, context=what)
    cells = demand[demand["urban"].astype(bool) & (demand["heat_peak_mw"] > 0)]
    cols = ["id", "district", "demand_mw", "annual_gj", "chp_mw", "cells", "geometry"]
    if cells.empty:
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=demand.crs)
    cells = cells.reset_index(drop=True)
    geom = cells.geometry.to_numpy()
    left, right = shapely.STRtree(geom).query(geom, predicate="intersects")
    same = cells["district"].to_numpy()[left] == cells["district"].to_numpy()[right]
    n = len(cells)
    adj = coo_matrix((np.ones(int(same.sum())), (left[same], right[same])), shape=(n, n))
    _, label = connected_components(adj, directed=False)
    key = cells["cell_id"] if "cell_id" in cells.columns else pd.Series(np.arange(n))
    frame = pd.DataFrame({"label": label, "district": cells["district"].astype(str),
                          "peak": cells["heat_peak_mw"].astype(float),
                          "gj": cells["heat_annual_gj"].astype(float), "key": key})
    agg = frame.groupby("label").agg(district=("district", "first"), demand_mw=("peak", "sum"),
                                     annual_gj=("gj", "sum"), cells=("peak", "size"),
                                     first=("key", "min"))
    agg = agg[agg["demand_mw"] >= min_peak_mw]
    polys = [shapely.union_all(geom[label == lab]) for lab in agg.index]
    out = gpd.GeoDataFrame({
        "id": [f"hz:{d}:{k}" for d, k in zip(agg["district"], agg["first"], strict=True)],
        "district": agg["district"].to_numpy(), "demand_mw": agg["demand_mw"].to_numpy(),
        "annual_gj": agg["annual_gj"].to_numpy(),
        "chp_mw": agg["demand_mw"].to_numpy() * float(chp_share),
        "cells": agg["cells"].to_numpy()}, geometry=polys, crs=demand.crs)
    out = out.sort_values("demand_mw", ascending=False, kind="stable").reset_index(drop=True)
    left_out = frame["peak"].sum() - out["demand_mw"].sum()
    logger.info("heat zones: %d zones hold %.0f MW of %.0f MW urban peak demand (%.0f MW in "
                "zones under %.0f MW left out)", len(out), out["demand_mw"].sum(),
                frame["peak"].sum(), left_out, min_peak_mw)
    return out[cols]


def _user_zones(layer: gpd.GeoDataFrame, settings: HeatSettings) -> gpd.GeoDataFrame:
    what = "layer 'heat_zones'"
    problems = [f"column {c!r} is missing" for c in ("heat_peak_mw", "heat_annual_gj")
                if c not in layer.columns]
    if problems:
        raise InputError.collect(problems, context=what)
    out = gpd.GeoDataFrame({
        "id": (layer["id"].astype(str) if "id" in layer.columns
               else [f"hz:{i}" for i in range(len(layer))]),
        "district": layer["district"].astype(str) if "district" in layer.columns else "",
        "demand_mw": pd.to_numeric(layer["heat_peak_mw"], errors="coerce"),
        "annual_gj": pd.to_numeric(layer["heat_annual_gj"], errors="coerce"),
        "chp_mw": (pd.to_numeric(layer["chp_mw"], errors="coerce") if "chp_mw" in layer.columns
                   else pd.to_numeric(layer["heat_peak_mw"], errors="coerce")),
        "cells": 0}, geometry=layer.geometry.to_numpy(), crs=layer.crs)
    bad = out[["demand_mw", "annual_gj", "chp_mw"]].isna().any(axis=1) | \
        (out[["demand_mw", "annual_gj", "chp_mw"]] < 0).any(axis=1)
    if bad.any():
        raise InputError(f"{what}: heat_peak_mw, heat_annual_gj and chp_mw must be numbers "
                         f">= 0 ({int(bad.sum())} bad rows)")
    return out


def _chp_share(demand: gpd.GeoDataFrame, settings: HeatSettings) -> float:
    """Share of each zone's peak the existing CHP supply covers (see the scenario)."""
    if settings.chp_heated_area_m2 is None:
        return 1.0
    capacity = settings.chp_heated_area_m2 * settings.heat_intensity_w_m2 / 1e6
    total = float(pd.to_numeric(demand["heat_peak_mw"]).sum())
    return 1.0 if total <= 0 else min(1.0, capacity / total)


# ----------------------------------------------------------------------- instance


@dataclass(frozen=True)
class HeatInstance:
    """Everything :func:`plan_heat` solves, before solving.

    Model nodes are the reduction's nodes followed by one node per source; model
    links are the reduction's links followed by one connection link per source
    (plant to its nearest road node). ``problem`` is ``None`` when there is nothing
    to plan (no usable source or no zone); ``notes`` say why.
    """

    sources: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    edges: PipeEdges
    edge_red_line_m: np.ndarray
    reduction: Reduction | None
    problem: HeatNetworkProblem | None
    economics: HeatEconomics
    source_road_pos: np.ndarray
    source_link_m: np.ndarray
    source_link_red_line_m: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def n_road_links(self) -> int:
        return 0 if self.reduction is None else self.reduction.n_links


def prepare_heat(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario, *,
                 decisions: ItemDecisions = NO_DECISIONS,
                 source_caps: Mapping[str, float] | None = None) -> HeatInstance:
    """Sources, zones, candidate pipes and the reduced :class:`HeatNetworkProblem`.

    ``source_caps``: source id -> the most heat (MW) it may give, below its own capacity
    (a joint plan's share of its substation's headroom for the heat pump)."""
    h = scenario.heat
    notes: list[str] = []
    crs = region.crs
    if h.heated_share <= 0 and "heat_sources" not in region.layers:  # no heating: no plants
        plants = gpd.GeoDataFrame({"name": [], "kind": [], "output_mw": []}, geometry=[],
                                  crs=crs)
    else:
        plants = region.layer("heat_sources")
    if plants.crs is None or crs_label(plants.crs) != crs_label(crs):
        plants = _to_region_crs(plants, crs, "heat_sources")
    sources = heat_sources(plants, h)
    if source_caps:
        cap = sources["id"].map(dict(source_caps)).astype(float)
        lower = cap.notna() & (cap < sources["capacity_mw"])
        if lower.any():
            sources.loc[lower, "capacity_mw"] = cap[lower].clip(lower=0.0)
            notes.append(f"{int(lower.sum())} heat source(s) limited by their substation's "
                         f"headroom for the heat pump (joint plan): "
                         f"{', '.join(sources.loc[lower, 'id'].astype(str))}")
    unknown_kinds = sorted(set(plants["kind"].astype(str)) - set(h.recoverable_share))
    if unknown_kinds:
        notes.append(f"plants of kind(s) {unknown_kinds} left out: no "
                     f"heat.recoverable_share for them")
    if "heat_zones" in region.layers:
        zones = _user_zones(_to_region_crs(region.layers["heat_zones"], crs, "heat_zones"), h)
        notes.append("heating zones from the region's 'heat_zones' layer")
    else:
        zones = heat_zones(_to_region_crs(demand, crs, "demand cells"),
                           min_peak_mw=h.min_zone_peak_mw, chp_share=_chp_share(demand, h))
    edges = pipe_edges(region.graph)
    rejected, approved = set(decisions.rejected), set(decisions.approved)
    known = set(edges.ids) | set(sources["id"]) | set(zones["id"]) | \
        {f"hp:src:{s}" for s in sources["id"]}
    lost = sorted(approved - known)
    if lost:  # the reviewer asked for something this run cannot build: say so
        raise InputError(
            f"decisions: {len(lost)} approved heat item(s) are not pipes, sources or zones "
            f"of this run (first: {lost[:5]}); decisions apply to plans of the same region "
            f"and scenario: re-plan from the plan the decisions were made on, or drop them")
    unknown = sorted(rejected - known)
    if unknown:
        logger.warning("heat: %d rejected id(s) match no heat item (first: %s); ignored",
                       len(unknown), unknown[:5])
        notes.append(f"{len(unknown)} rejected item(s) matched no heat item")
    drop_src = sources["id"].isin(rejected) | \
        sources["id"].map(lambda s: f"hp:src:{s}").isin(rejected)
    why_out = {str(n): "rejected by a reviewer" for n in sources.loc[drop_src, "name"]}
    sources = sources[~drop_src].reset_index(drop=True)
    all_zones = zones
    zones = zones[~zones["id"].isin(rejected)].reset_index(drop=True)
    econ = HeatEconomics.from_settings(h)
    red = _red_line_lengths(region, edges)
    allowed = ~np.isin(edges.ids, list(rejected))
    extra = np.zeros(edges.n_edges)
    if h.red_line_crossing == "forbid":
        allowed &= red < 1.0
    else:
        extra += red * h.red_line_cost_cny_per_m
    locked = np.isin(edges.ids, list(approved))
    bad_lock = locked & ~allowed
    if bad_lock.any():
        raise InputError(f"heat: {int(bad_lock.sum())} approved pipe(s) cross the ecological "
                         f"red line, which the scenario forbids (first: "
                         f"{edges.ids[bad_lock][0]}); reject them or set "
                         f"heat.red_line_crossing = \"cost\"")
    src_pos, src_len = _snap_sources(edges, sources)
    src_red = _red_line_lengths_lines(region, _service_lines(edges, sources, src_pos))
    usable = np.ones(len(sources), bool) if h.red_line_crossing == "cost" else src_red < 1.0
    if not usable.all():
        notes.append(f"{int((~usable).sum())} source(s) left out: their connection to the "
                     f"road crosses the red line")
    why_out |= {str(n): "its connection to the road crosses the red line"
                for n in sources.loc[~usable, "name"]}
    sources = sources[usable].reset_index(drop=True)
    src_pos, src_len, src_red = src_pos[usable], src_len[usable], src_red[usable]
    required = _required_links(h, plants, sources, zones, all_zones, why_out)
    empty = HeatInstance(sources, zones, edges, red, None, None, econ, src_pos, src_len,
                         src_red, tuple(notes))
    if sources.empty or zones.empty or h.heated_share <= 0:
        why = ("no space heating in this scenario (heat.heated_share = 0)"
               if h.heated_share <= 0 else
               "no usable heat source" if sources.empty else "no heating zone")
        logger.warning("heat: %s; nothing to plan", why)
        return _replace_notes(empty, (*notes, f"nothing to plan: {why}"))
    gate_pos, gate_zone = _gates(edges, zones, src_pos)
    idle = _never_pays(sources, econ, required, approved)
    if idle.any():
        notes.append(f"{int(idle.sum())} source(s) get no pipe routes: their heat costs at "
                     f"least what it displaces ({', '.join(sources.loc[idle, 'kind'].unique())})")
    cost_ref = float(np.median([p.cost_cny_per_m for p in h.pipes]))
    reduction = reduce_network(
        edges, source_pos=src_pos, gate_pos=gate_pos, gate_zone=gate_zone,
        n_zones=len(zones), max_link_m=h.max_link_m, detour=h.corridor_detour,
        allowed=allowed, extra_cny=extra, locked=locked, cost_per_m_ref=cost_ref,
        n_routes=h.corridor_routes, source_mw=sources["capacity_mw"].to_numpy(dtype=float),
        zone_mw=zones["demand_mw"].to_numpy(dtype=float),
        max_pipe_mw=max(p.max_mw for p in h.pipes), trunk_max_m=h.interconnection_max_m,
        required_routes=[(int(i), stages[0]) for _, src, stages in required for i in src],
        required_trunks=[(a, b, src.tolist()) for _, src, stages in required
                         for a, b in itertools.pairwise(stages)],
        routed=~idle)
    _unreachable(reduction, required, sources, zones, h)
    if reduction.trunks:
        notes.append(f"{len(reduction.trunks)} interconnection trunk candidate(s) between "
                     f"zone networks")
    problem = _problem(reduction, sources, zones, gate_pos, gate_zone, src_pos, src_len,
                       src_red, approved, econ, scenario, required,
                       idle & ~locked.any())
    return HeatInstance(sources, zones, edges, red, reduction, problem, econ, src_pos,
                        src_len, src_red, tuple(notes))


_Required = list[tuple[str, np.ndarray, list[int]]]


def source_cost_cny_per_mw_yr(sources: gpd.GeoDataFrame, econ: HeatEconomics) -> np.ndarray:
    """What a MW-year of each source's heat costs: heat-pump electricity for low grade,
    fuel for CHP extraction, nothing for high-grade waste heat."""
    low = (sources["grade"] == "low").to_numpy()
    chp = (sources["role"] == "chp_extraction").to_numpy()
    return np.where(low, econ.heat_pump_cny_per_mw_yr, 0.0) + \
        np.where(chp, econ.chp_cny_per_mw_yr, 0.0)


def _never_pays(sources: gpd.GeoDataFrame, econ: HeatEconomics, required: _Required,
                approved: set[str]) -> np.ndarray:
    """Sources whose heat costs at least what delivering it earns anywhere:
    ``o_i >= max(v, p) - q`` (with the default scenario, CHP extraction). Dropping
    their heat from any network never makes it worse (less is delivered, or the gap
    stays unmet, for no less than it cost), so they get no routes and, unless pipes
    are locked (their heat may keep an approved pipe warm), no connection. Sources a
    required link names or a reviewer approved keep theirs."""
    if sources.empty:
        return np.zeros(0, bool)
    margin = max(econ.value_cny_per_mw_yr, econ.unmet_cny_per_mw_yr) - \
        econ.pumping_cny_per_mw_yr
    idle = source_cost_cny_per_mw_yr(sources, econ) >= margin
    idle &= ~(sources["id"].isin(approved) |
              sources["id"].map(lambda s: f"hp:src:{s}").isin(approved)).to_numpy()
    for _, src, _ in required:
        idle[src] = False
    return idle


def _required_links(h: HeatSettings, plants: gpd.GeoDataFrame, sources: gpd.GeoDataFrame,
                    zones: gpd.GeoDataFrame, all_zones: gpd.GeoDataFrame,
                    why_out: dict[str, str]) -> _Required:
    """``(name, source indices, zone index per stage)`` of each required link.

    Raises:
        InputError: no plant has the link's ``source`` in its name, or a ``zones_in``
            entry is no zone id and no district with a heating zone.
        InfeasibleError: the link's plants or zones are all left out (no recoverable
            share, rejected, connection across the red line).
    """
    out: _Required = []
    if not h.required_links:
        return out
    plant_names = plants["name"].astype(str) if "name" in plants.columns else \
        pd.Series([""] * len(plants), index=plants.index)
    for link in h.required_links:
        what = f"heat.required_links {link.name!r}"
        text = link.source.casefold()
        named = plant_names[plant_names.str.casefold().str.contains(text, regex=False)]
        if named.empty:
            raise InputError(f"{what}: no plant of layer 'heat_sources' has {link.source!r} in "
                             f"its name")
        src = np.flatnonzero(sources["name"].astype(str).str.casefold()
                             .str.contains(text, regex=False).to_numpy())
        if not src.size:
            why = "; ".join(f"{n}: {why_out.get(n, 'its kind has no heat.recoverable_share')}"
                            for n in named)
            raise InfeasibleError(f"{what} cannot be built: its source plants are all left "
                                  f"out ({why})", constraint=f"required link {link.name}")
        stages = [_stage_zone(z, zones, all_zones, what, link.name) for z in link.zones_in]
        if len(set(stages)) != len(stages):
            raise InputError(f"{what}: zones_in {link.zones_in} names one zone twice")
        out.append((link.name, src, stages))
    return out


def _stage_zone(name: str, zones: gpd.GeoDataFrame, all_zones: gpd.GeoDataFrame,
                what: str, link: str) -> int:
    """A zone id, or a district's largest zone (its main heating network)."""
    for frame, rejected in ((zones, False), (all_zones, True)):
        hit = np.flatnonzero(frame["id"].astype(str).to_numpy() == name)
        if not hit.size:
            dist = frame["district"].astype(str).str.casefold().to_numpy()
            hit = np.flatnonzero(dist == name.casefold())
            if hit.size:
                hit = hit[[int(np.argmax(frame["demand_mw"].to_numpy(dtype=float)[hit]))]]
        if hit.size and not rejected:
            return int(hit[0])
        if hit.size:
            raise InfeasibleError(f"{what} cannot be built: zone {frame['id'].iat[hit[0]]} "
                                  f"({name}) is rejected by a reviewer",
                                  constraint=f"required link {link}")
    districts = sorted(set(all_zones["district"].astype(str)))
    raise InputError(f"{what}: zones_in {name!r} is no heating zone id and no district with a "
                     f"heating zone (districts: {', '.join(districts)})")


def _unreachable(red: Reduction, required: _Required, sources: gpd.GeoDataFrame,
                 zones: gpd.GeoDataFrame, h: HeatSettings) -> None:
    """Raise :class:`InfeasibleError` for a required link whose sources all lack a route
    to its first zone, or two of whose consecutive zones no trunk route joins."""
    if not red.unreachable:
        return
    why = ("the ecological red line (heat.red_line_crossing = \"forbid\") or rejected pipes "
           "cut every road" if h.red_line_crossing == "forbid" else "rejected pipes cut every "
           "road")
    cut = {(a, b) for kind, a, b in red.unreachable if kind == "route"}
    for name, src, stages in required:
        if all((int(i), stages[0]) in cut for i in src):
            names = ", ".join(sources["name"].iloc[src].astype(str))
            raise InfeasibleError(
                f"heat.required_links {name!r} cannot be built: no pipe route from {names} "
                f"to zone {zones['id'].iat[stages[0]]}: {why}",
                constraint=f"required link {name}")
        pairs = {(min(x, y), max(x, y)) for x, y in itertools.pairwise(stages)}
        for kind, a, b in red.unreachable:
            if kind == "trunk" and (a, b) in pairs:
                raise InfeasibleError(
                    f"heat.required_links {name!r} cannot be built: no trunk route joins "
                    f"zones {zones['id'].iat[a]} and {zones['id'].iat[b]}: {why}",
                    constraint=f"required link {name}")


def _replace_notes(inst: HeatInstance, notes: tuple[str, ...]) -> HeatInstance:
    from dataclasses import replace

    return replace(inst, notes=notes)


def _to_region_crs(gdf: gpd.GeoDataFrame, crs: str, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise CRSError(f"layer {what!r} has no CRS; set the CRS it was made in")
    return gdf if crs_label(gdf.crs) == crs_label(crs) else gdf.to_crs(crs)


def _snap_sources(edges: PipeEdges, sources: gpd.GeoDataFrame
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest road node (with at least one pipe edge) of each source and the distance."""
    from scipy.spatial import cKDTree

    has_edge = np.zeros(edges.n_nodes, bool)
    has_edge[edges.u] = has_edge[edges.v] = True
    cand = np.flatnonzero(has_edge)
    if sources.empty:
        return np.empty(0, np.int64), np.empty(0)
    pts = np.column_stack([sources.geometry.x, sources.geometry.y])
    dist, k = cKDTree(edges.xy[cand]).query(pts)
    return cand[k].astype(np.int64), np.asarray(dist, float)


def _service_lines(edges: PipeEdges, sources: gpd.GeoDataFrame, pos: np.ndarray) -> np.ndarray:
    if sources.empty:
        return np.empty(0, dtype=object)
    pts = np.column_stack([sources.geometry.x, sources.geometry.y])
    coords = np.stack([pts, edges.xy[pos]], axis=1)
    return shapely.linestrings(coords)


def _red_line_lengths(region: Region, edges: PipeEdges) -> np.ndarray:
    """Metres of each candidate edge inside the ecological red line (0 without one)."""
    if "red_line" not in region.layers:
        return np.zeros(edges.n_edges)
    straight = shapely.linestrings(np.stack([edges.xy[edges.u], edges.xy[edges.v]], axis=1))
    out = _red_line_lengths_lines(region, straight)
    hit = np.flatnonzero(out > 0)
    if hit.size:  # recompute the hits along the road's own geometry
        out[hit] = _red_line_lengths_lines(region, np.array(
            edge_geometries(region.graph, edges, hit), dtype=object))
    return out


def _red_line_lengths_lines(region: Region, lines: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lines))
    if "red_line" not in region.layers or not len(lines):
        return out
    red = _to_region_crs(region.layers["red_line"], region.crs, "red_line")
    polys = red.geometry.to_numpy()
    tree = shapely.STRtree(polys)
    li, pi = tree.query(lines, predicate="intersects")
    if li.size:
        inside = shapely.length(shapely.intersection(lines[li], polys[pi]))
        np.add.at(out, li, inside)
    return out


def _gates(edges: PipeEdges, zones: gpd.GeoDataFrame, src_pos: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Road nodes where each zone can take heat: its nodes next to a node outside it,
    and the road nodes of sources inside it. A zone with no road node inside is
    served at the road node nearest to it.

    Taking heat at interior nodes is never better: heat from outside reaches a
    boundary node first, and heat from a source inside enters at the source."""
    zone_of = np.full(edges.n_nodes, -1, np.int64)
    pts = shapely.points(edges.xy)
    pi, zi = shapely.STRtree(zones.geometry.to_numpy()).query(pts, predicate="intersects")
    zone_of[pi] = zi
    boundary = np.zeros(edges.n_nodes, bool)
    differ = zone_of[edges.u] != zone_of[edges.v]
    boundary[edges.u[differ]] = True
    boundary[edges.v[differ]] = True
    is_gate = (zone_of >= 0) & boundary
    is_gate[src_pos[zone_of[src_pos] >= 0]] = True
    pos = np.flatnonzero(is_gate)
    zone = zone_of[pos]
    missing = np.setdiff1d(np.arange(len(zones)), zone)
    if missing.size:
        from scipy.spatial import cKDTree

        has_edge = np.zeros(edges.n_nodes, bool)
        has_edge[edges.u] = has_edge[edges.v] = True
        cand = np.flatnonzero(has_edge)
        cen = zones.geometry.iloc[missing].representative_point()
        _, k = cKDTree(edges.xy[cand]).query(np.column_stack([cen.x, cen.y]))
        pos = np.r_[pos, cand[k]]
        zone = np.r_[zone, missing]
    return pos.astype(np.int64), zone.astype(np.int64)


def _problem(red: Reduction, sources: gpd.GeoDataFrame, zones: gpd.GeoDataFrame,
             gate_pos: np.ndarray, gate_zone: np.ndarray, src_pos: np.ndarray,
             src_len: np.ndarray, src_red: np.ndarray, approved: set[str],
             econ: HeatEconomics, scenario: Scenario,
             required: _Required | None = None,
             idle: np.ndarray | None = None) -> HeatNetworkProblem:
    h = scenario.heat
    n_src = len(sources)
    road_node = red.model_node(src_pos)
    gate_node = red.model_node(gate_pos)
    # gates that no link and no source touch can never receive heat: leave them out
    touched = np.zeros(red.n_nodes, bool)
    touched[red.link_u] = touched[red.link_v] = True
    touched[road_node] = True
    keep = (gate_node >= 0) & touched[np.maximum(gate_node, 0)]
    extra_src = src_red * h.red_line_cost_cny_per_m if h.red_line_crossing == "cost" \
        else np.zeros(n_src)
    lock_src = sources["id"].isin(approved).to_numpy() | \
        sources["id"].map(lambda s: f"hp:src:{s}").isin(approved).to_numpy()
    out_node = red.model_node(red.outgate_pos)
    idle = np.zeros(n_src, bool) if idle is None else idle
    out_ok = out_node >= 0
    return HeatNetworkProblem.from_arrays(
        n_nodes=red.n_nodes + n_src,
        link_u=np.r_[red.link_u, red.n_nodes + np.arange(n_src)].astype(np.int64),
        link_v=np.r_[red.link_v, road_node].astype(np.int64),
        link_length_m=np.r_[red.link_length_m, src_len],
        link_extra_cny=np.r_[red.link_extra_cny, extra_src],
        locked=np.r_[red.link_locked, lock_src],
        forbidden=np.r_[np.zeros(red.n_links, bool), idle & ~lock_src],
        link_max_mw=np.r_[red.link_max_mw, sources["capacity_mw"].to_numpy(dtype=float)],
        link_tier=np.r_[red.link_tier, np.zeros(n_src, np.int64)],
        link_first_max_mw=np.r_[red.link_first_max_mw,
                                sources["capacity_mw"].to_numpy(dtype=float)],
        link_cover=np.r_[red.link_cover, np.eye(n_src, dtype=bool)],
        catalogue=PipeCatalogue.from_settings(h.pipes), annuity=econ.annuity,
        source_node=red.n_nodes + np.arange(n_src),
        source_mw=sources["capacity_mw"].to_numpy(dtype=float),
        source_cost_cny_per_mw_yr=source_cost_cny_per_mw_yr(sources, econ),
        gate_node=gate_node[keep], gate_sink=gate_zone[keep],
        sink_demand_mw=zones["demand_mw"].to_numpy(dtype=float),
        sink_chp_mw=zones["chp_mw"].to_numpy(dtype=float),
        sink_value_cny_per_mw_yr=econ.value_cny_per_mw_yr,
        sink_unmet_cny_per_mw_yr=econ.unmet_cny_per_mw_yr,
        sink_delivery_cost_cny_per_mw_yr=econ.pumping_cny_per_mw_yr,
        outgate_node=out_node[out_ok], outgate_sink=red.outgate_zone[out_ok],
        loss_cny_per_mw_yr=econ.loss_cny_per_mw_yr,
        required=[RequiredFlow.of(name, src, [[k] for k in stages],
                                  _min_mw(scenario.heat, name))
                  for name, src, stages in required or ()], name="heat network")


def _min_mw(h: HeatSettings, name: str) -> float:
    return next(link.min_mw for link in h.required_links if link.name == name)
