r"""Layers and KPIs of a solved logistics plan (region CRS).

**CO₂ of the rail shift** (:func:`co2_breakdown_t`). A tonne shifted through a park
would otherwise go door to door by road over the line-haul ``L`` (``linehaul_km``).
Shifted, it goes by road drayage ``d`` (the network distance from its source to the
park, per source-park pair) to the park, by rail over ``L``, and by road delivery
``D`` (``delivery_km``) from the destination terminal to the consignee, with
``h`` (``co2_handling_kg_per_t``) for the two road-rail transfers. With road and rail
emission factors ``e_road``, ``e_rail`` (kg CO₂/tkm), per tonne (kg)::

    gross = L e_road                                        (road line-haul avoided)
    net   = L e_road - L e_rail - d e_road - D e_road - h    (what the shift saves)

and a flow of ``f`` Mt/yr saves ``1000 f net`` t CO₂ a year. The KPIs report both:
``co2_saved_t`` is the **net** figure (the catchments' ``co2_saved_t_yr`` summed),
``co2_saved_gross_t`` the gross one, and ``co2_rail_t``, ``co2_drayage_t``,
``co2_delivery_t`` and ``co2_handling_t`` the terms between them. The road
counterfactual is credited with ``L`` only, so the access legs at both ends count in
full against the shift (conservative). The model's objective does not price CO₂: it
credits the value ``v`` (``rail_shift_value_cny_per_t``) per tonne shifted and
charges the drayage cost, both linear in the same flows; a pair whose drayage
exceeds the break-even ``(L (e_road - e_rail) - D e_road - h) / e_road`` km would
raise CO₂, and plans using one are logged as a warning.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike

from siting.config import LogisticsSettings
from siting.logistics.problem import LogisticsProblem
from siting.models.base import Result
from siting.planners import ItemDecisions, solver_kpis

logger = logging.getLogger(__name__)

__all__ = ["breakeven_drayage_km", "co2_breakdown_t", "co2_saved_t", "logistics_kpis",
           "logistics_layers"]


def co2_breakdown_t(flow_mt: ArrayLike, drayage_m: ArrayLike, settings: LogisticsSettings
                    ) -> dict[str, np.ndarray]:
    """CO₂ a year (t) of shifting ``flow_mt`` (Mt/yr) to rail after ``drayage_m`` (m).

    Returns ``gross`` (road line-haul avoided), the emissions of the rail chain
    ``rail``, ``drayage``, ``delivery`` and ``handling``, and ``net`` = ``gross`` less
    those four (see the module docstring), each aligned to ``flow_mt``.

    >>> from siting.config import DEFAULT_SCENARIO, load_scenario
    >>> s = load_scenario(DEFAULT_SCENARIO).logistics   # L 300 km, D 30 km, h 2 kg/t
    >>> b = co2_breakdown_t([1.0], [10_000.0], s)        # 1 Mt/yr after 10 km of drayage
    >>> [round(float(b[k][0])) for k in ("gross", "rail", "drayage", "delivery", "handling")]
    [24000, 3600, 800, 2400, 2000]
    >>> round(float(b["net"][0]))                        # 24000 - 3600 - 800 - 2400 - 2000
    15200
    """
    s = settings
    t = np.asarray(flow_mt, dtype=float) * 1e3   # Mt/yr x 1e6 t/Mt x (kg/t) / 1000 = t/yr
    d_km = np.asarray(drayage_m, dtype=float) / 1000.0
    out = {"gross": t * s.linehaul_km * s.co2_road_kg_per_tkm,
           "rail": t * s.linehaul_km * s.co2_rail_kg_per_tkm,
           "drayage": t * d_km * s.co2_road_kg_per_tkm,
           "delivery": t * s.delivery_km * s.co2_road_kg_per_tkm,
           "handling": t * s.co2_handling_kg_per_t}
    out["net"] = out["gross"] - out["rail"] - out["drayage"] - out["delivery"] - out["handling"]
    return out


def co2_saved_t(flow_mt: ArrayLike, drayage_m: ArrayLike, settings: LogisticsSettings
                ) -> np.ndarray:
    """Net CO₂ saved a year (t) by shifting ``flow_mt`` (Mt/yr) to rail after
    ``drayage_m`` (m): ``net`` of :func:`co2_breakdown_t`."""
    return co2_breakdown_t(flow_mt, drayage_m, settings)["net"]


def breakeven_drayage_km(settings: LogisticsSettings) -> float:
    """Drayage (km) beyond which shifting a tonne raises CO₂ (``inf`` with no road factor)."""
    s = settings
    margin = (s.linehaul_km * (s.co2_road_kg_per_tkm - s.co2_rail_kg_per_tkm)
              - s.delivery_km * s.co2_road_kg_per_tkm - s.co2_handling_kg_per_t)
    return margin / s.co2_road_kg_per_tkm if s.co2_road_kg_per_tkm > 0 else float("inf")


def logistics_layers(pb: LogisticsProblem, result: Result, src: gpd.GeoDataFrame,
            sites: gpd.GeoDataFrame, settings: LogisticsSettings, decisions: ItemDecisions,
            synthetic: bool) -> dict[str, gpd.GeoDataFrame]:
    crs = sites.crs
    flow = result.values["flow"]
    used = flow > 0
    s_idx, p_idx = pb.costs.client[used], pb.costs.site[used]
    f_mt, d_m = flow[used], pb.costs.cost[used]
    co2_terms = co2_breakdown_t(f_mt, d_m, settings)
    co2, gross = co2_terms["net"], co2_terms["gross"]
    if (co2 < 0).any():
        logger.warning("logistics: %d shifted flows raise CO2: their drayage exceeds the "
                       "break-even %.1f km (linehaul, delivery and emission factors)",
                       int((co2 < 0).sum()), breakeven_drayage_km(settings))
    order = np.lexsort((s_idx, p_idx))
    s_idx, p_idx, f_mt, d_m, co2, gross = (a[order] for a in (s_idx, p_idx, f_mt, d_m, co2,
                                                              gross))
    sx, sy = src["x"].to_numpy(), src["y"].to_numpy()
    px, py = sites["x"].to_numpy(), sites["y"].to_numpy()
    catch = gpd.GeoDataFrame({
        "park_id": sites["id"].to_numpy()[p_idx], "source_id": src["source_id"].to_numpy()[s_idx],
        "source_name": src["name"].to_numpy()[s_idx], "sector": src["sector"].to_numpy()[s_idx],
        "freight_mt": f_mt,
        "share_of_source": f_mt / np.maximum(src["freight_mt"].to_numpy()[s_idx], 1e-300),
        "drayage_km": d_m / 1000.0, "co2_saved_t_yr": co2, "co2_saved_gross_t_yr": gross,
        "synthetic": synthetic,
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
    co2 = {k: float(v.sum()) for k, v in co2_breakdown_t(
        catch["freight_mt"].to_numpy(float), catch["drayage_km"].to_numpy(float) * 1000.0,
        settings).items()}
    park_cost = float(parks["annual_cost_cny"].sum())
    return {
        "parks": len(parks),
        "freight_mt": round(freight, 4),
        "target_mt": round(pb.target_mt, 4),
        "target_year": settings.target_year,
        "rail_access_max_m": round(float(parks["rail_access_m"].max()), 1),
        "road_access_max_m": round(float(parks["road_access_m"].max()), 1),
        "co2_saved_t": round(float(catch["co2_saved_t_yr"].sum()), 1),
        "co2_saved_gross_t": round(co2["gross"], 1),
        "co2_rail_t": round(co2["rail"], 1),
        "co2_drayage_t": round(co2["drayage"], 1),
        "co2_delivery_t": round(co2["delivery"], 1),
        "co2_handling_t": round(co2["handling"], 1),
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
