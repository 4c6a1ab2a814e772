"""Layers and KPIs of a solved charging plan (see :func:`siting.chargers.inputs.plan_chargers`).

Definitions used in the KPIs:

- ``coverage_share``: share of the daily sessions whose demand point has an open
  station within the service radius (network distance);
- ``unmet_share``: sessions left unserved over all sessions (``unreachable_share``:
  those no candidate site reaches at all);
- ``mean_distance_m``: session-weighted network distance from demand point to station;
- ``utilisation``: busy pile-minutes over available pile-minutes in the operating
  hours (``Σ q_t × session_minutes_t / Σ piles × operating_hours × 60``);
- ``peak_wait_min``: session-weighted Erlang-C mean wait ``E[Wq]`` of the queues in
  each one's busiest hour (the arrival profile of its site type, see
  :func:`siting.chargers.inputs.peak_scale`); ``peak_p_wait_over_max`` the largest
  ``P(wait > max_wait_minutes)`` then, which the plan keeps at most ``wait_probability``;
  ``peak_utilisation``: busy pile-minutes over pile-minutes in the busiest hour;
- ``stations_erlang_binding``: stations whose load is at least 99% of the sessions
  their whole piles serve at the service level;
- a new residential community has *reserved installation conditions* when the plan
  gives it piles (by the last stage), or the substation it draws from keeps enough
  headroom after the plan to power its full AC room (``max_piles x`` slow kW), so
  piles can be added later without grid works. On OSM regions every residential area
  counts as new (OSM has no construction date).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.chargers.problem import ChargerSolution
from siting.chargers.queueing import mean_wait_minutes, wait_exceed_probability
from siting.config import Scenario

if TYPE_CHECKING:
    from siting.chargers.inputs import ChargerInputs

logger = logging.getLogger(__name__)

__all__ = ["charger_kpis", "demand_layer", "station_figures", "station_layer",
           "substation_layer"]


def station_figures(inputs: ChargerInputs, solution: ChargerSolution, s: int
                    ) -> dict[str, np.ndarray]:
    """Per-site figures of stage ``s``: piles, kW, load, capacity, utilisation (over the
    operating hours and in the busiest hour), and the busiest hour's waits."""
    pb, sv = inputs.problem, inputs.service
    piles = solution.piles[s]
    load = solution.load[s]
    servers = np.vstack([pb.existing + piles[0], piles[1]])
    cap = np.vstack([pb.site_capacity(t, servers[t]) for t in range(2)])
    hours = sv.operating_hours
    busy = load[0] * sv.session_minutes[0] + load[1] * sv.session_minutes[1]
    avail = servers.sum(axis=0) * hours * 60.0
    # arrivals per hour in each queue's busiest hour (see ChargerProblem: σ = 1 / (p × hours))
    peak = np.vstack([load[t] / (hours * pb.capacity_scale(t)) for t in range(2)])
    peak_busy = peak[0] * sv.session_minutes[0] + peak[1] * sv.session_minutes[1]
    waits = np.vstack([
        mean_wait_minutes(servers[t], peak[t], session_minutes=sv.session_minutes[t])
        for t in range(2)])
    p_wait = np.vstack([
        wait_exceed_probability(servers[t], peak[t],
                                session_minutes=sv.session_minutes[t],
                                wait_minutes=sv.max_wait_minutes) for t in range(2)])
    total = load.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        wait = np.where(total > 0, (np.nan_to_num(waits * load, posinf=0.0)).sum(axis=0)
                        / np.maximum(total, 1e-12), 0.0)
        util = np.where(avail > 0, busy / np.maximum(avail, 1e-12), 0.0)
        peak_util = np.where(servers.sum(axis=0) > 0,
                             peak_busy / np.maximum(servers.sum(axis=0) * 60.0, 1e-12), 0.0)
    return {"open": np.asarray(solution.open[s], bool), "piles_slow": piles[0],
            "piles_fast": piles[1], "piles": piles.sum(axis=0),
            "kw": piles[0] * pb.slow.kw + piles[1] * pb.fast.kw, "sessions": total,
            "capacity": cap.sum(axis=0), "utilisation": util,
            "peak_utilisation": peak_util, "wait": wait,
            "p_wait": p_wait.max(axis=0),
            "binding": np.any((cap > 0) & (load >= 0.99 * cap - 1e-9) & (load > 0), axis=0),
            "busy_min": busy, "avail_min": avail}


def _substation_labels(inputs: ChargerInputs) -> list[str | None]:
    subs = inputs.substations
    if subs is None:
        return [None] * len(inputs.sites)
    names = []
    for k in range(len(subs)):
        row = subs.iloc[k]
        name = row.get("name_zh") if "name_zh" in subs.columns else None
        kv = row.get("voltage_kv") if "voltage_kv" in subs.columns else None
        label = name if isinstance(name, str) and name else f"substation {k}"
        if kv is not None and pd.notna(kv):
            label = f"{label} ({float(kv):g} kV)"
        names.append(label)
    return [names[k] if k >= 0 else None for k in inputs.site_substation]


def station_layer(inputs: ChargerInputs, solution: ChargerSolution, scenario: Scenario, *,
                  synthetic: bool) -> gpd.GeoDataFrame:
    """``charging_stations``: one row per station open in any stage (see DESIGN.md)."""
    sites = inputs.sites
    per_nev = scenario.chargers.sessions_per_nev_day
    years = inputs.years
    figs = [station_figures(inputs, solution, s) for s in range(len(years))]
    any_open = np.logical_or.reduce([f["open"] for f in figs])
    first = np.full(len(sites), years[-1])
    for s in range(len(years) - 1, -1, -1):
        first = np.where(figs[s]["open"], years[s], first)
    subs = np.array(_substation_labels(inputs), dtype=object)
    f1 = figs[0]
    frame: dict[str, Any] = {
        "id": sites["id"], "site_type": sites["site_type"], "name": sites["name"],
        "district": sites["district"], "existing": sites["existing_piles"] > 0,
        "existing_piles": sites["existing_piles"], "stage": first,
        "piles": f1["piles"], "piles_slow": f1["piles_slow"], "piles_fast": f1["piles_fast"],
        "kw": f1["kw"], "sessions_day": f1["sessions"],
        "nev_served": f1["sessions"] / per_nev, "capacity_sessions_day": f1["capacity"],
        "utilisation": f1["utilisation"], "peak_utilisation": f1["peak_utilisation"],
        "peak_wait_min": f1["wait"], "peak_p_wait_over_max": f1["p_wait"],
        "erlang_binding": f1["binding"],
        "substation": subs, "new_residential": sites["new_residential"],
        "max_piles": sites["max_piles"]}
    if len(years) > 1:
        f2 = figs[1]
        frame.update({
            "piles_2030": f2["piles"], "piles_slow_2030": f2["piles_slow"],
            "piles_fast_2030": f2["piles_fast"], "kw_2030": f2["kw"],
            "sessions_day_2030": f2["sessions"], "nev_served_2030": f2["sessions"] / per_nev,
            "utilisation_2030": f2["utilisation"], "peak_wait_min_2030": f2["wait"]})
    frame["synthetic"] = synthetic
    frame["fleet"] = None
    out = gpd.GeoDataFrame(pd.DataFrame(frame), geometry=sites.geometry, crs=sites.crs)
    out = out.loc[any_open]
    fleet = _fleet_rows(inputs, years, synthetic=synthetic)
    if fleet is not None:
        out = pd.concat([out, fleet.to_crs(out.crs)], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=sites.crs).sort_values(
        "id", kind="stable").reset_index(drop=True)


def substation_layer(inputs: ChargerInputs, solution: ChargerSolution
                     ) -> gpd.GeoDataFrame | None:
    """``substations`` with the grid side of the plan, per stage (``_2030`` suffix for
    stage 2): ``headroom_mw`` (and its ``headroom_source``, ``headroom_assumed``),
    ``reserved_mw`` held before the plan (new residential communities' full room, fleet
    depots and hubs), ``charger_mw`` the public stations' new piles draw, ``load_mw``
    their sum and ``use_share`` = load / headroom. ``None`` without substations."""
    subs = inputs.substations
    if subs is None or not len(subs):
        return None
    pb = inputs.problem
    out = subs.copy()
    has = pb.substation >= 0
    for s, year in enumerate(inputs.years):
        tag = "" if s == 0 else f"_{year}"
        kw = solution.piles[s, 0] * pb.slow.kw + solution.piles[s, 1] * pb.fast.kw
        charger = np.bincount(pb.substation[has], weights=kw[has], minlength=len(subs))
        reserved = inputs.reserved_kw[s] if inputs.reserved_kw.shape[1] == len(subs) else \
            np.zeros(len(subs))
        head = pb.headroom_kw[s] + reserved
        out[f"reserved_mw{tag}"] = np.round(reserved / 1000.0, 3)
        out[f"charger_mw{tag}"] = np.round(charger / 1000.0, 3)
        out[f"load_mw{tag}"] = np.round((reserved + charger) / 1000.0, 3)
        out[f"use_share{tag}"] = np.round(np.where(head > 0, (reserved + charger)
                                                   / np.maximum(head, 1e-9), 0.0), 4)
    return out


def _fleet_rows(inputs: ChargerInputs, years: tuple[int, ...], *, synthetic: bool
                ) -> gpd.GeoDataFrame | None:
    """Bus depots and taxi hubs with piles, as station rows (``fleet`` = bus/taxi):
    dedicated DC piles built by the first stage and kept."""
    if inputs.fleet is None:
        return None
    f = inputs.fleet.sites
    f = f[f["piles"] > 0]
    if not len(f):
        return None
    piles = f["piles"].to_numpy(np.int64)
    rows: dict[str, Any] = {
        "id": f["id"], "site_type": np.where(f["fleet"] == "bus", "bus_depot", "taxi_hub"),
        "name": f["name"], "district": f["district"], "existing": False,
        "existing_piles": 0, "stage": years[0], "piles": piles, "piles_slow": 0,
        "piles_fast": piles, "kw": f["kw"], "sessions_day": f["sessions_day"],
        "capacity_sessions_day": f["capacity_sessions_day"],
        "peak_p_wait_over_max": f["peak_wait_probability"], "fleet": f["fleet"],
        "vehicles": f["vehicles"], "max_piles": piles, "synthetic": synthetic}
    if len(years) > 1:
        rows.update({"piles_2030": piles, "piles_fast_2030": piles, "piles_slow_2030": 0,
                     "kw_2030": f["kw"]})
    return gpd.GeoDataFrame(pd.DataFrame(rows).reset_index(drop=True),
                            geometry=f.geometry.to_numpy(), crs=f.crs)


def demand_layer(inputs: ChargerInputs, solution: ChargerSolution) -> gpd.GeoDataFrame:
    """``charging_demand``: the demand cells with their 2025 service (share served, main
    station, mean network distance, whether an open station is within the radius)."""
    pb = inputs.problem
    c = pb.costs
    flow = solution.flow[0]
    d = pb.demand[0]
    served = np.bincount(c.client, weights=flow, minlength=c.n_clients)
    dist = np.bincount(c.client, weights=flow * c.cost, minlength=c.n_clients)
    covered = np.bincount(c.client, weights=solution.open[0][c.site].astype(float),
                          minlength=c.n_clients) > 0
    main = np.full(c.n_clients, -1, np.int64)
    has = np.flatnonzero(flow > 1e-9)
    if has.size:
        order = has[np.lexsort((-flow[has], c.client[has]))]
        first = np.r_[True, c.client[order][1:] != c.client[order][:-1]]
        main[c.client[order][first]] = c.site[order][first]
    k = inputs.cell_client
    ids = inputs.sites["id"].to_numpy(dtype=object)
    cells = inputs.cells
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame({
            "cell_id": cells["cell_id"].to_numpy() if "cell_id" in cells.columns
            else np.arange(len(cells)),
            "district": cells["district"].to_numpy(),
            "sessions_day": cells["ev_sessions_day"].to_numpy(float),
            "served_share": np.where(d[k] > 0, served[k] / np.maximum(d[k], 1e-12), 0.0),
            "covered": covered[k],
            "station_id": np.where(main[k] >= 0, ids[np.maximum(main[k], 0)], None),
            "distance_m": np.where(served[k] > 0, dist[k] / np.maximum(served[k], 1e-12),
                                   np.nan)})
    frame["synthetic"] = bool(cells["synthetic"].iloc[0]) if "synthetic" in cells.columns \
        else False
    return gpd.GeoDataFrame(frame, geometry=cells.geometry.to_numpy(), crs=cells.crs)


def _stage_kpis(inputs: ChargerInputs, solution: ChargerSolution, s: int,
                per_nev: float) -> dict[str, Any]:
    pb = inputs.problem
    c = pb.costs
    f = station_figures(inputs, solution, s)
    d = pb.demand[s]
    total = float(d.sum())
    flow = solution.flow[s]
    served = float(flow.sum())
    covered = np.bincount(c.client, weights=f["open"][c.site].astype(float),
                          minlength=c.n_clients) > 0
    reach = c.degree() > 0
    sessions_w = f["sessions"][f["open"]]
    piles = int(f["piles"].sum())
    return {
        "piles_total": piles, "piles_slow": int(f["piles_slow"].sum()),
        "piles_fast": int(f["piles_fast"].sum()),
        "fast_share": round(float(f["piles_fast"].sum()) / max(piles, 1), 4),
        "stations": int(f["open"].sum()),
        "kw_total_mw": round(float(f["kw"].sum()) / 1000.0, 3),
        "sessions_day": round(total, 1), "sessions_served_day": round(served, 1),
        "nev_served": round(served / per_nev, 1),
        "coverage_share": round(float(d[covered].sum()) / max(total, 1e-12), 4),
        "unmet_share": round(float(solution.unmet[s].sum()) / max(total, 1e-12), 4),
        "unreachable_share": round(float(d[~reach].sum()) / max(total, 1e-12), 4),
        "mean_distance_m": round(float(flow @ c.cost) / max(served, 1e-12), 1),
        "utilisation": round(float(f["busy_min"].sum()) / max(float(f["avail_min"].sum()),
                                                                1e-12), 4),
        "peak_utilisation": round(float((f["peak_utilisation"] * f["sessions"]).sum())
                                  / max(served, 1e-12), 4),
        "peak_wait_min": round(float((f["wait"] * f["sessions"]).sum())
                               / max(served, 1e-12), 3),
        "peak_p_wait_over_max": round(float(f["p_wait"].max(initial=0.0)), 4),
        "stations_erlang_binding": int((f["binding"] & f["open"]
                                        & (f["sessions"] > 0)).sum()),
        "median_station_sessions_day": round(float(np.median(sessions_w))
                                             if sessions_w.size else 0.0, 2),
        "ratio_shortfall_piles": round(float(solution.shortfall[s].sum()), 1),
    }


def _headroom_kpis(inputs: ChargerInputs, solution: ChargerSolution, s: int
                   ) -> dict[str, Any]:
    pb = inputs.problem
    if not pb.headroom_kw.size:
        return {"substations": 0}
    kw = solution.piles[s, 0] * pb.slow.kw + solution.piles[s, 1] * pb.fast.kw
    has = pb.substation >= 0
    use = np.bincount(pb.substation[has], weights=kw[has], minlength=pb.headroom_kw.shape[1])
    share = use / np.maximum(pb.headroom_kw[s], 1e-9)
    return {"substations": int(pb.headroom_kw.shape[1]),
            "substations_used": int((use > 0).sum()),
            "substations_binding": int((share >= 0.99).sum()),
            "max_substation_use_share": round(float(share.max(initial=0.0)), 4)}


def _residential(inputs: ChargerInputs, solution: ChargerSolution) -> dict[str, Any]:
    pb = inputs.problem
    sites = inputs.sites
    new = np.flatnonzero(sites["new_residential"].to_numpy(bool))
    last = pb.n_stages - 1
    out: dict[str, Any] = {
        "definition": "a new residential community has reserved installation conditions "
                      "when its full room (max_piles x pile kW) is held on its substation's "
                      "headroom before the plan (chargers.residential_reserved_share), when "
                      "the plan gives it piles, or when its substation keeps that much "
                      "headroom after the plan",
        "new_residential_sites": int(new.size),
        "reserved_before_plan": int(inputs.reserved_sites[new].sum())
        if inputs.reserved_sites.size else 0}
    if new.size == 0:
        out.update(with_piles_share=None, reserved_share=None)
        return out
    piles = solution.piles[:, :, new].sum(axis=1)  # (stages, sites)
    built = piles[last] > 0
    spare = np.ones(new.size, bool)
    if pb.headroom_kw.size:
        kw = solution.piles[last, 0] * pb.slow.kw + solution.piles[last, 1] * pb.fast.kw
        has = pb.substation >= 0
        left = pb.headroom_kw[last] - np.bincount(pb.substation[has], weights=kw[has],
                                                  minlength=pb.headroom_kw.shape[1])
        sub = pb.substation[new]
        need = (pb.max_piles[new] - pb.existing[new]) * pb.slow.kw
        spare = np.where(sub >= 0, left[np.maximum(sub, 0)] >= need, True)
    if inputs.reserved_sites.size:
        spare = spare | inputs.reserved_sites[new]
    out.update(with_piles=int((piles[0] > 0).sum()),
               with_piles_share=round(float((piles[0] > 0).mean()), 4),
               with_piles_final_share=round(float(built.mean()), 4),
               reserved=int((built | spare).sum()),
               reserved_share=round(float((built | spare).mean()), 4))
    return out


def charger_kpis(inputs: ChargerInputs, solution: ChargerSolution, scenario: Scenario
                 ) -> dict[str, Any]:
    """The ``chargers`` section of ``kpis.json`` (see the module docstring)."""
    c = scenario.chargers
    pb = inputs.problem
    res = solution.result
    kpis: dict[str, Any] = _stage_kpis(inputs, solution, 0, c.sessions_per_nev_day)
    kpis["existing_piles"] = int(pb.existing.sum())
    kpis["stations_existing"] = int((pb.existing > 0).sum())
    cells = inputs.cells
    nev = float(cells["nev"].sum())
    kpis["nev"] = round(nev, 1)
    kpis["piles_per_nev"] = round(kpis["piles_total"] / max(nev, 1e-12), 4)
    kpis["headroom"] = _headroom_kpis(inputs, solution, 0)
    figs = station_figures(inputs, solution, 0)
    sites = inputs.sites
    per_district: dict[str, Any] = {}
    nev_by = cells.groupby("district")["nev"].sum()
    sess_by = cells.groupby("district")["ev_sessions_day"].sum()
    served_cells = np.bincount(pb.costs.client, weights=solution.flow[0],
                               minlength=pb.costs.n_clients)
    share = np.where(pb.demand[0] > 0, served_cells / np.maximum(pb.demand[0], 1e-12), 0.0)
    unmet_cells = cells["ev_sessions_day"].to_numpy(float) * (1 - share[inputs.cell_client])
    unmet_by = pd.Series(unmet_cells, index=cells.index).groupby(cells["district"]).sum()
    fleet_by: dict[str, int] = {}
    if inputs.fleet is not None:
        fs = inputs.fleet.sites
        fleet_by = {str(k): int(v) for k, v in fs.groupby("district")["piles"].sum().items()}
    for name in sorted(set(sites["district"]) | set(nev_by.index)):
        at = (sites["district"] == name).to_numpy()
        piles = int(figs["piles"][at].sum()) + fleet_by.get(str(name), 0)
        n = float(nev_by.get(name, 0.0))
        row = {"piles": piles, "piles_fleet": fleet_by.get(str(name), 0),
               "piles_fast": int(figs["piles_fast"][at].sum()) + fleet_by.get(str(name), 0),
               "stations": int(figs["open"][at].sum()), "nev": round(n, 1),
               "piles_per_nev": round(piles / n, 4) if n > 0 else None,
               "sessions_day": round(float(sess_by.get(name, 0.0)), 1),
               "unmet_share": round(float(unmet_by.get(name, 0.0))
                                    / max(float(sess_by.get(name, 0.0)), 1e-12), 4)}
        if name in c.district_min_piles:
            row["min_piles"] = c.district_min_piles[name]
        per_district[name] = row
    kpis["per_district"] = per_district
    kpis["residential"] = _residential(inputs, solution)
    fleet_piles = fleet_sites = 0
    if inputs.fleet is not None:
        kpis["fleet"] = inputs.fleet.kpis()
        fleet_piles = int(kpis["fleet"]["piles"])
        fleet_sites = int((inputs.fleet.sites["piles"] > 0).sum())
    kpis["stations_fleet"] = fleet_sites
    kpis["piles_public"] = kpis["piles_total"]
    kpis["piles_fleet"] = fleet_piles
    kpis["piles_total"] = kpis["piles_public"] + fleet_piles
    if len(inputs.years) > 1:
        stage2 = _stage_kpis(inputs, solution, 1, c.sessions_per_nev_day)
        stage2["headroom"] = _headroom_kpis(inputs, solution, 1)
        stage2["stations_new"] = int((solution.open[1] & ~solution.open[0]).sum())
        stage2["piles_public"] = stage2["piles_total"]
        stage2["piles_total"] = stage2["piles_public"] + fleet_piles
        stage2["source"] = "assumption"
        stage2["note"] = ("the 2030 stage (chargers.nev_2030, piles_2030, headroom 2030) is "
                          "an assumption of this scenario, not a figure of the plan")
        kpis["stage_2030"] = stage2
    kpis["objective_cny_per_year"] = None if not np.isfinite(res.objective) else \
        round(float(res.objective), 0)
    kpis["bound_cny_per_year"] = None if not np.isfinite(res.bound) else \
        round(float(res.bound), 0)
    kpis["objective_terms"] = {k: round(float(v), 0) for k, v in
                               solution.objective_terms.items()}
    kpis["instance"] = {"demand_cells": len(cells),
                        "demand_points": int(pb.costs.n_clients),
                        "candidates": len(sites), "pairs": int(pb.costs.nnz),
                        "service_radius_m": inputs.radius_m, "stages": len(inputs.years)}
    return kpis
