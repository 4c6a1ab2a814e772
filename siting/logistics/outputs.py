"""Layers and KPIs of a solved logistics plan (region CRS).

The CO₂ saving of the rail shift is :func:`co2_saved_t`.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from siting.config import LogisticsSettings
from siting.logistics.problem import LogisticsProblem
from siting.models.base import Result
from siting.planners import ItemDecisions, solver_kpis

logger = logging.getLogger(__name__)

__all__ = ["co2_saved_t", "logistics_kpis", "logistics_layers"]


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


def logistics_layers(pb: LogisticsProblem, result: Result, src: gpd.GeoDataFrame,
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


def logistics_kpis(pb: LogisticsProblem, result: Result, layers: dict[str, gpd.GeoDataFrame],
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
