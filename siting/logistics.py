"""Green logistics park planner: site ``p`` multimodal (rail + road) parks.

The plan calls for eight green logistics parks with multimodal functions, for 18.5 Mt
of multimodal freight by 2025, growing 10 % a year (``[logistics]`` in the scenario).
:func:`plan_logistics` is the planner the pipeline runs:

1. **Freight sources** (:func:`~siting.logistics_sites.freight_sources`): the
   region's ``industrial_zones`` (on the demo: synthetic zones anchored on real
   plants, tonnage scaled to ``source_freight_mt``) or a user layer with a tonnage
   column; the rail-suitable share comes from the sector (``rail_share_max``).
2. **Candidate sites** (:func:`~siting.logistics_sites.park_candidates`): a grid
   within ``rail_access_m`` of a freight station or line and ``road_access_m`` (road
   network) of an expressway/trunk junction, outside the red line, water (plus
   ``[review].park_water_buffer_m``), permanent farmland and excluded land uses.
   Existing parks (layer ``logistics_parks_existing`` or ``existing=``) and parks a
   reviewer approved are fixed open; rejected ones are forbidden.
3. **Drayage distances** source -> site on the road network within
   ``max_drayage_m`` (:func:`siting.network.network_costs`, sparse).
4. **Model** (:class:`~siting.logistics_model.LogisticsProblem`): exactly ``p``
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
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.config import LogisticsSettings, Scenario
from siting.errors import InputError
from siting.logistics_model import LogisticsProblem, annuity_factor
from siting.logistics_sites import (
    VectorInput,
    freight_sources,
    freight_stations,
    park_candidates,
    screen_sites,
    vector_input,
)
from siting.models.base import Result, SolverOptions
from siting.network import network_costs
from siting.planning import ItemDecisions, PlannerOutput, solver_kpis, solver_options
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["co2_saved_t", "plan_logistics"]

EXISTING_LAYER = "logistics_parks_existing"
_ID = re.compile(r"^LP-(-?\d+)-(-?\d+)$")


def co2_saved_t(flow_mt: np.ndarray, drayage_m: np.ndarray, settings: LogisticsSettings
                ) -> np.ndarray:
    """CO₂ saved a year (t) by shifting ``flow_mt`` (Mt/yr) to rail after ``drayage_m``.

    Per tonne: the line-haul ``linehaul_km`` goes by rail instead of road, and the
    drayage to the park is driven by road: ``L (e_road - e_rail) - d e_road`` kg.
    """
    s = settings
    kg_per_t = (s.linehaul_km * (s.co2_road_kg_per_tkm - s.co2_rail_kg_per_tkm)
                - np.asarray(drayage_m) / 1000.0 * s.co2_road_kg_per_tkm)
    return np.asarray(flow_mt) * 1e6 * kg_per_t / 1000.0


# --------------------------------------------------------------------------- inputs


def _existing_parks(region: Region, existing: VectorInput | None, settings: LogisticsSettings,
                    rules: dict[str, Any]) -> gpd.GeoDataFrame:
    layer = existing if existing is not None else region.layers.get(EXISTING_LAYER)
    if layer is None:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=region.crs)
    what = "existing logistics parks"
    gdf = vector_input(layer, crs=region.crs, what=what).reset_index(drop=True)
    pts = gdf.geometry.representative_point()
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    table = screen_sites(region, xy, **rules)
    problems = []
    if "id" in gdf.columns:
        table["id"] = gdf["id"].astype(str).to_numpy()
    if "name" in gdf.columns:
        table["name"] = gdf["name"].astype(str).to_numpy()
    cap = (pd.to_numeric(gdf["capacity_mt"], errors="coerce").to_numpy(dtype=float)
           if "capacity_mt" in gdf.columns else np.full(len(gdf), settings.park_capacity_mt))
    for k in np.flatnonzero(~np.isfinite(cap) | (cap <= 0)):
        problems.append(f"park {table['id'].iat[k]}: capacity_mt {cap[k]:g} must be > 0")
    for pid, why in zip(table["id"], table["problem"], strict=True):
        if why:
            problems.append(f"park {pid}: {why}")
    dup = table["id"].duplicated()
    if dup.any():
        problems.append(f"ids {sorted(set(table['id'][dup]))[:5]} appear more than once")
    if problems:
        raise InputError.collect(problems, context=f"{what} (fix the layer, or relax "
                                 "[logistics] rail_access_m/road_access_m)")
    table["capacity_mt"] = cap
    table["existing"] = True
    return table.drop(columns="problem")


def _approved_outside(ids: Sequence[str], region: Region, rules: dict[str, Any]
                      ) -> gpd.GeoDataFrame:
    """Sites for approved ids that are not candidates this run (e.g. another spacing)."""
    bad = [i for i in ids if not _ID.match(i)]
    if bad:
        raise InputError(f"decisions: approved logistics parks {bad[:10]} are not park ids of "
                         f"this plan (ids look like 'LP-<easting>-<northing>'); check the "
                         f"decisions file belongs to this region and scenario")
    xy = np.array([[float(m.group(1)), float(m.group(2))] for m in map(_ID.match, ids)
                   if m is not None])
    table = screen_sites(region, xy, **rules)
    problems = [f"approved park {pid}: {why}" for pid, why in
                zip(table["id"], table["problem"], strict=True) if why]
    if problems:
        raise InputError.collect(problems, context="decisions: approved logistics parks "
                                 "break the siting rules")
    return table.drop(columns="problem")


def _sites(region: Region, settings: LogisticsSettings, scenario: Scenario,
           decisions: ItemDecisions, existing: VectorInput | None, density: float,
           progress: bool) -> gpd.GeoDataFrame:
    rail = freight_stations(region.layer("rail_stations"), crs=region.crs,
                            lines=region.layers.get("rail_lines"))
    rules = dict(rail=rail, rail_access_m=settings.rail_access_m,
                 road_access_m_max=settings.road_access_m,
                 excluded_land_use=settings.excluded_land_use,
                 water_buffer_m=scenario.review.park_water_buffer_m,
                 red_line_buffer_m=scenario.review.park_red_line_buffer_m)
    grid = park_candidates(region, spacing_m=settings.candidate_spacing_m / math.sqrt(density),
                           progress=progress, **rules)
    grid["capacity_mt"] = settings.park_capacity_mt
    grid["existing"] = False
    old = _existing_parks(region, existing, settings, rules)
    sites = pd.concat([old, grid[~grid["id"].isin(old["id"])]], ignore_index=True) \
        if len(old) else grid
    missing = sorted(decisions.approved - set(sites["id"]))
    if missing:
        extra = _approved_outside(missing, region, rules)
        extra["capacity_mt"] = settings.park_capacity_mt
        extra["existing"] = False
        sites = pd.concat([sites, extra], ignore_index=True)
    rejected_old = sorted(decisions.rejected & set(old["id"]))
    if rejected_old:
        raise InputError(f"decisions: existing logistics parks {rejected_old} were rejected; "
                         f"an existing park cannot be removed by the plan: take it out of "
                         f"the existing-parks layer instead")
    unknown = sorted(decisions.rejected - set(sites["id"]))
    if unknown:
        logger.warning("decisions: %d rejected logistics parks are not candidates this run "
                       "(ignored): %s", len(unknown), unknown[:10])
    if "name" not in sites.columns:
        sites["name"] = None
    names = sites["name"].where(sites["name"].notna(), None)
    sites["name"] = [n if isinstance(n, str) else f"{d} park near {s}"
                     for n, d, s in zip(names, sites["district"], sites["station"], strict=True)]
    return gpd.GeoDataFrame(sites, geometry="geometry", crs=region.crs)


# --------------------------------------------------------------------------- planner


def plan_logistics(region: Region, demand: gpd.GeoDataFrame | None, scenario: Scenario, *,
                   decisions: ItemDecisions = ItemDecisions(),  # noqa: B008 (frozen)
                   solver: SolverOptions | str | None = None, progress: bool = False,
                   sources: VectorInput | None = None, tonnage_column: str | None = None,
                   existing: VectorInput | None = None,
                   candidate_density: float = 1.0) -> PlannerOutput:
    """Site ``[logistics].parks`` multimodal logistics parks for the freight target.

    Args:
        region: the region (metric CRS) with ``rail_stations`` (``freight`` column),
            optionally ``rail_lines``, the constraint layers and, unless ``sources``
            is given, ``industrial_zones``.
        demand: unused (freight comes from the sources); accepted for the planner
            contract.
        scenario: ``[logistics]``, ``[review]`` (park buffers) and ``[solver]``.
        decisions: reviewer decisions on ``logistics_parks`` ids: rejected parks are
            forbidden, approved ones locked open.
        solver: solver options (default: the scenario's ``[solver]``).
        progress: progress bars.
        sources: freight-source layer (GeoDataFrame or file) instead of the region's
            ``industrial_zones``; see :func:`~siting.logistics_sites.freight_sources`.
        tonnage_column: the sources' tonnage column if not a standard one.
        existing: existing parks (points/polygons; optional ``id``, ``name``,
            ``capacity_mt``), fixed open; default: the region layer
            ``logistics_parks_existing`` if present.
        candidate_density: candidate sites per area relative to the scenario's
            ``candidate_spacing_m`` grid (4.0: half the spacing).

    Returns:
        :class:`~siting.planning.PlannerOutput` named ``"logistics"`` with layers
        ``logistics_parks``, ``logistics_catchments``, ``logistics_sources`` and
        ``logistics_candidates`` in the region's CRS, the KPIs and the core result.

    Raises:
        InputError: bad layers or decisions (every problem listed).
        InfeasibleError: the target cannot be met (the message says by how much).
        SolverError: no feasible solution within the time limit.
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
    sites = _sites(region, settings, scenario, decisions, existing, candidate_density, progress)
    if len(sites) == 0:
        raise InputError(
            f"no candidate logistics park site in region {region.name!r} meets the rules "
            f"(within {settings.rail_access_m:,.0f} m of a freight station, "
            f"{settings.road_access_m:,.0f} m by road of an expressway/trunk junction, "
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
    result = problem.solve(opts).raise_for_status(model="logistics")
    synthetic = bool(region.is_synthetic("graph") or src["synthetic"].any())
    layers = _layers(problem, result, src, sites, settings, decisions, synthetic)
    kpis = _kpis(problem, result, layers, src, sites, settings)
    notes = (f"target {problem.target_mt:.2f} Mt/yr in {settings.target_year}",)
    return PlannerOutput(name="logistics", layers=layers, kpis=kpis, result=result,
                         notes=notes)


# --------------------------------------------------------------------------- outputs


def _layers(pb: LogisticsProblem, result: Result, src: gpd.GeoDataFrame,
            sites: gpd.GeoDataFrame, settings: LogisticsSettings, decisions: ItemDecisions,
            synthetic: bool) -> dict[str, gpd.GeoDataFrame]:
    crs = sites.crs
    flow = result.values["flow"]
    used = flow > 0
    s_idx, p_idx = pb.costs.client[used], pb.costs.site[used]
    f_mt, d_m = flow[used], pb.costs.cost[used]
    co2 = co2_saved_t(f_mt, d_m, settings)
    order = np.lexsort((s_idx, p_idx))
    s_idx, p_idx, f_mt, d_m, co2 = (a[order] for a in (s_idx, p_idx, f_mt, d_m, co2))
    sx, sy = src["x"].to_numpy(), src["y"].to_numpy()
    px, py = sites["x"].to_numpy(), sites["y"].to_numpy()
    catch = gpd.GeoDataFrame({
        "park_id": sites["id"].to_numpy()[p_idx], "source_id": src["source_id"].to_numpy()[s_idx],
        "source_name": src["name"].to_numpy()[s_idx], "sector": src["sector"].to_numpy()[s_idx],
        "freight_mt": f_mt,
        "share_of_source": f_mt / np.maximum(src["freight_mt"].to_numpy()[s_idx], 1e-300),
        "drayage_km": d_m / 1000.0, "co2_saved_t_yr": co2, "synthetic": synthetic,
    }, geometry=shapely.linestrings(np.stack([np.c_[sx[s_idx], sy[s_idx]],
                                              np.c_[px[p_idx], py[p_idx]]], axis=1))
                   if len(s_idx) else [], crs=crs)
    catch.insert(0, "id", [f"{a}>{b}" for a, b in zip(catch["source_id"], catch["park_id"],
                                                          strict=True)])

    sel = result.selected
    n = pb.n_parks
    through = np.bincount(p_idx, weights=f_mt, minlength=n)
    tkm = np.bincount(p_idx, weights=f_mt * d_m / 1000.0, minlength=n)  # Mt·km
    co2_p = np.bincount(p_idx, weights=co2, minlength=n)
    members: dict[int, list[str]] = {int(i): [] for i in sel}
    for i, sid in zip(p_idx, catch["source_id"], strict=True):
        members.setdefault(int(i), []).append(str(sid))
    parks = sites.iloc[sel].copy()
    parks["throughput_mt"] = through[sel]
    parks["utilisation"] = through[sel] / parks["capacity_mt"].to_numpy(dtype=float)
    parks["catchment_sources"] = [len(members[int(i)]) for i in sel]
    parks["sources"] = ["; ".join(members[int(i)]) for i in sel]
    parks["drayage_mean_km"] = np.divide(tkm[sel], through[sel], out=np.zeros(sel.size),
                                         where=through[sel] > 0)
    parks["co2_saved_t_yr"] = co2_p[sel]
    parks["annual_cost_cny"] = pb.annual_cost_cny[sel]
    parks["locked"] = parks["id"].isin(decisions.approved).to_numpy()
    parks["synthetic"] = synthetic
    cols = ["id", "name", "district", "existing", "locked", "capacity_mt", "throughput_mt",
            "utilisation", "catchment_sources", "sources", "rail_access_m", "station",
            "road_access_m", "drayage_mean_km", "co2_saved_t_yr", "annual_cost_cny",
            "synthetic", "geometry"]
    parks = gpd.GeoDataFrame(parks[cols].reset_index(drop=True), geometry="geometry", crs=crs)

    shifted = np.bincount(s_idx, weights=f_mt, minlength=pb.n_sources)
    by_source: dict[int, list[str]] = {}
    for j, pid in zip(s_idx, catch["park_id"], strict=True):
        by_source.setdefault(int(j), []).append(str(pid))
    sources = src.drop(columns=["x", "y"]).copy()
    sources["shifted_mt"] = shifted
    sources["shift_share"] = np.divide(shifted, sources["freight_mt"].to_numpy(),
                                       out=np.zeros(pb.n_sources),
                                       where=sources["freight_mt"].to_numpy() > 0)
    sources["parks"] = ["; ".join(by_source.get(j, [])) for j in range(pb.n_sources)]
    sources["in_reach"] = pb.costs.degree() > 0
    sources["id"] = sources["source_id"]
    sources = sources[["id", *[c for c in sources.columns if c not in ("id", "geometry")],
                       "geometry"]]

    cand = sites.drop(columns=["name"]).copy()
    is_open = np.zeros(n, bool)
    is_open[sel] = True
    cand["selected"] = is_open
    cand["forbidden"] = cand["id"].isin(decisions.rejected).to_numpy()
    cand["synthetic"] = synthetic
    cand = cand[[c for c in cand.columns if c != "geometry"] + ["geometry"]]
    return {"logistics_parks": parks, "logistics_catchments": catch,
            "logistics_sources": gpd.GeoDataFrame(sources, geometry="geometry", crs=crs),
            "logistics_candidates": gpd.GeoDataFrame(cand, geometry="geometry", crs=crs)}


def _kpis(pb: LogisticsProblem, result: Result, layers: dict[str, gpd.GeoDataFrame],
          src: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, settings: LogisticsSettings
          ) -> dict[str, Any]:
    parks, catch = layers["logistics_parks"], layers["logistics_catchments"]
    freight = float(catch["freight_mt"].sum())
    tkm = float((catch["freight_mt"] * catch["drayage_km"]).sum()) * 1e6
    park_cost = float(parks["annual_cost_cny"].sum())
    return {
        "parks": len(parks),
        "freight_mt": round(freight, 4),
        "target_mt": round(pb.target_mt, 4),
        "target_year": settings.target_year,
        "rail_access_max_m": round(float(parks["rail_access_m"].max()), 1),
        "road_access_max_m": round(float(parks["road_access_m"].max()), 1),
        "co2_saved_t": round(float(catch["co2_saved_t_yr"].sum()), 1),
        "capacity_mt": round(float(parks["capacity_mt"].sum()), 4),
        "utilisation": round(freight / max(float(parks["capacity_mt"].sum()), 1e-300), 4),
        "drayage_mean_km": round(tkm / 1e6 / freight, 3) if freight > 0 else 0.0,
        "drayage_tkm": round(tkm),
        "sources": len(src),
        "sources_served": int(catch["source_id"].nunique()),
        "source_freight_mt": round(float(src["freight_mt"].sum()), 4),
        "rail_suitable_mt": round(float(src["shiftable_mt"].sum()), 4),
        "candidates": len(sites),
        "existing_parks": int(parks["existing"].sum()),
        "park_cost_cny_yr": round(park_cost),
        "drayage_cost_cny_yr": round(tkm * settings.drayage_cost_cny_per_tkm),
        "rail_shift_value_cny_yr": round(freight * 1e6 * settings.rail_shift_value_cny_per_t),
        "net_cost_cny_yr": round(pb.net_objective(result) * 1e6),
        "objective_cny_yr": round(result.objective * 1e6),
        **solver_kpis(result),
    }
