"""The heat planner's output: ``heat_pipes``, ``heat_sources``, ``heat_sinks`` and KPIs.

``heat_pipes`` has one row per road edge a built pipe follows (so reviewer
decisions, which name road edges, match across runs), plus one row per source
connection (plant to road). Along a model link the rows are numbered by ``seq`` in
the flow direction; each passes ``flow_mw - loss_mw`` on to the next.

``kind`` is ``"interconnection"`` for a pipe that carries heat onward from a zone
that already took heat upstream (at a gate on the way, or heat its network passes on
at an out-gate) to a different zone (it links two zones' networks), else
``"source_link"`` (it brings heat from the sources to a zone).

**Waste heat and CHP extraction.** Waste heat is industrial process heat and
cooling-water heat (plants whose kind is not in ``heat.chp_kinds``); heat taken from
CHP plants is *CHP extraction*: more output of the existing supply, with its fuel
cost and CO2 (``heat.chp_extraction_*``), so it earns no coal-displacement credit.
``heat_sources`` says which in ``role``; the sinks split the piped heat they receive
(``waste_heat_mw``, ``chp_extraction_mw``) by flow tracing; the KPIs report
``waste_heat_mw`` and ``chp_extraction_mw`` as taken at the sources.

**Energy and CO2.** Deliveries, heat-pump and pumping electricity follow the load:
peak MW x ``heat.full_load_hours``. Pipe losses run all season: ``loss_gj`` is
``loss_mw x heat.season_hours x 3.6``, and ``loss_share`` is that over all heat
supplied in the year (delivered plus lost). Each source makes its peak share of
that supply; ``co2_avoided_t`` is the CHP heat displaced (delivered GJ x
``co2_displaced_t_per_gj``) net of the CHP fuel of the extraction heat and of the
grid electricity of heat pumps and pumping (``co2_chp_fuel_t``, ``co2_grid_t``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from siting.config import Scenario
from siting.heat.graph import edge_geometries
from siting.heat.inputs import GJ_PER_MWH, HeatInstance
from siting.heat.problem import HeatSolution
from siting.planners import PlannerOutput, solver_kpis
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["NOTHING_TO_PLAN", "OPTIMAL_ON_ROUTES", "PIPE_COLUMNS", "SINK_COLUMNS",
           "SOURCE_COLUMNS", "heat_outputs"]

#: the ``status`` KPI of a proven optimum: proven over the candidate routes that
#: :func:`~siting.heat.graph.reduce_network` keeps (a stated restriction), not over
#: every road of the region; ``proven_over`` says which networks those are
OPTIMAL_ON_ROUTES = "optimal_on_candidate_routes"
#: the ``status`` KPI when there was nothing to solve (no usable source or no zone);
#: ``nothing_to_plan`` says why, and no gap is reported
NOTHING_TO_PLAN = "nothing_to_plan"

PIPE_COLUMNS = ("id", "link", "seq", "kind", "dn", "flow_mw", "loss_mw", "length_m",
                "cost_cny", "red_line_m", "from_node", "to_node", "locked", "synthetic")
SOURCE_COLUMNS = ("id", "name", "kind", "role", "grade", "output_mw", "recoverable_mw",
                  "capacity_mw", "used_mw", "utilisation", "heat_pump_mw_e", "connection_m",
                  "sinks", "synthetic")
SINK_COLUMNS = ("id", "district", "demand_mw", "annual_gj", "chp_mw", "waste_heat_mw",
                "chp_extraction_mw", "passed_on_mw", "chp_used_mw", "unmet_mw", "met_mw",
                "waste_share", "sources", "synthetic")


def heat_outputs(region: Region, demand: gpd.GeoDataFrame, inst: HeatInstance,
                 solution: HeatSolution | None, scenario: Scenario, *,
                 notes: tuple[str, ...] = ()) -> PlannerOutput:
    """Layers and KPIs of a solved (or empty) heat instance."""
    synthetic_graph = region.is_synthetic("graph")
    synthetic_demand = bool(demand["synthetic"].any()) if "synthetic" in demand.columns \
        else region.is_synthetic("demand_cells")
    rate = scenario.heat.red_line_cost_cny_per_m if scenario.heat.red_line_crossing == "cost" \
        else 0.0
    pipes = _pipes(region, inst, solution, synthetic_graph, red_line_cny_per_m=rate)
    sources = _sources(inst, solution, scenario)
    sinks = _sinks(inst, solution, synthetic_demand)
    if solution is not None and inst.problem is not None:
        sinks["passed_on_mw"] = np.bincount(inst.problem.outgate_sink,
                                            weights=solution.gate_out_mw,
                                            minlength=len(sinks))
    kpis = _kpis(inst, solution, pipes, sources, sinks, scenario)
    return PlannerOutput(name="heat", layers={"heat_pipes": pipes, "heat_sources": sources,
                                              "heat_sinks": sinks},
                         kpis=kpis, result=None if solution is None else solution.result,
                         notes=notes)


def _pipes(region: Region, inst: HeatInstance, sol: HeatSolution | None,
           synthetic: bool, *, red_line_cny_per_m: float) -> gpd.GeoDataFrame:
    empty = gpd.GeoDataFrame({c: [] for c in PIPE_COLUMNS}, geometry=[], crs=region.crs)
    if sol is None or inst.problem is None or inst.reduction is None:
        return empty
    pb, red, edges = inst.problem, inst.reduction, inst.edges
    cat = pb.catalogue
    kind = _link_kinds(pb, sol)
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    n_road = red.n_links
    for link in sol.built:
        d = int(sol.dn_index[link])
        loss_m = float(cat.loss_mw_per_m[d])
        cost_m = float(cat.cost_cny_per_m[d])
        flow = float(sol.inflow_mw[link])
        if link >= n_road:  # source connection
            i = int(link - n_road)
            sid = inst.sources["id"].iat[i]
            length = float(inst.source_link_m[i])
            plant = inst.sources.geometry.iat[i]
            road = edges.xy[inst.source_road_pos[i]]
            rows.append(dict(id=f"hp:src:{sid}", link=int(link), seq=0, kind="source_link",
                             dn=int(cat.dn[d]), flow_mw=flow, loss_mw=loss_m * length,
                             length_m=length, cost_cny=cost_m * length
                             + float(pb.link_extra_cny[link]),
                             red_line_m=float(inst.source_link_red_line_m[i]), from_node=sid,
                             to_node=str(edges.node_ids[inst.source_road_pos[i]]),
                             locked=bool(pb.link_locked[link]), synthetic=synthetic))
            geoms.append(shapely.LineString([(plant.x, plant.y), tuple(road)]))
            continue
        members, forward = red.members(int(link))
        start_at_u = int(sol.from_node[link]) == int(red.link_u[link])
        if not start_at_u:
            members, forward = members[::-1], ~forward[::-1]
        lines = edge_geometries(region.graph, edges, members)
        for seq, (e, fwd, line) in enumerate(zip(members, forward, lines, strict=True)):
            length = float(edges.length_m[e])
            a, b = (edges.u[e], edges.v[e]) if fwd else (edges.v[e], edges.u[e])
            extra = float(inst.edge_red_line_m[e]) * red_line_cny_per_m
            rows.append(dict(id=str(edges.ids[e]), link=int(link), seq=seq,
                             kind=kind[link], dn=int(cat.dn[d]), flow_mw=flow,
                             loss_mw=loss_m * length, length_m=length,
                             cost_cny=cost_m * length + extra,
                             red_line_m=float(inst.edge_red_line_m[e]),
                             from_node=str(edges.node_ids[a]), to_node=str(edges.node_ids[b]),
                             locked=bool(pb.link_locked[link]), synthetic=synthetic))
            geoms.append(line if fwd else shapely.reverse(line))
            flow -= loss_m * length
    if not rows:
        return empty
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(PIPE_COLUMNS)), geometry=geoms,
                            crs=region.crs)


def _link_kinds(pb: Any, sol: HeatSolution) -> dict[int, str]:
    """``interconnection`` or ``source_link`` per built link (see the module docstring).

    Heat moves along carrying pipes, from a gate into its zone's network (node
    ``("net", k)``) and out of it at an out-gate. A zone takes heat at each gate that
    hands it heat and in its network."""
    g = nx.DiGraph()
    built = sol.built
    head = np.where(sol.from_node == pb.link_u, pb.link_v, pb.link_u)
    for e in built:
        if sol.outflow_mw[e] > 1e-6:
            g.add_edge(int(sol.from_node[e]), int(head[e]))
    taking: dict[Any, set[int]] = {}
    for n, k, q in zip(pb.gate_node.tolist(), pb.gate_sink.tolist(), sol.gate_mw.tolist(),
                       strict=True):
        if q > 1e-6:
            taking.setdefault(int(n), set()).add(int(k))
            taking.setdefault(("net", int(k)), set()).add(int(k))
            g.add_edge(int(n), ("net", int(k)))
    for n, k, q in zip(pb.outgate_node.tolist(), pb.outgate_sink.tolist(),
                       sol.gate_out_mw.tolist(), strict=True):
        if q > 1e-6:
            g.add_edge(("net", int(k)), int(n))
    cond = nx.condensation(g)
    members = cond.graph["mapping"]
    here: dict[int, set[int]] = {c: set() for c in cond.nodes}
    for n, ks in taking.items():
        here[members[n]] |= ks
    order = list(nx.topological_sort(cond))
    up = {c: set(here[c]) for c in cond.nodes}
    for c in order:
        for d in cond.successors(c):
            up[d] |= up[c]
    down = {c: set(here[c]) for c in cond.nodes}
    for c in reversed(order):
        for d in cond.successors(c):
            down[c] |= down[d]
    out: dict[int, str] = {}
    for e in built:
        t, h = int(sol.from_node[e]), int(head[e])
        if t not in members or h not in members:
            out[int(e)] = "source_link"
            continue
        a, b = up[members[t]], down[members[h]]
        out[int(e)] = "interconnection" if a and b and len(a | b) > 1 else "source_link"
    return out


def _sources(inst: HeatInstance, sol: HeatSolution | None,
             scenario: Scenario) -> gpd.GeoDataFrame:
    src = inst.sources
    used = np.zeros(len(src)) if sol is None else np.asarray(sol.supply_mw)
    cop = src["cop"].to_numpy(dtype=float)
    feeds: list[list[str]] = [[] for _ in range(len(src))]
    if sol is not None:
        zone_ids = inst.zones["id"].tolist()
        a = sol.attribution
        for k, i in zip(a.client.tolist(), a.site.tolist(), strict=True):
            feeds[i].append(zone_ids[k])
    cap = src["capacity_mw"].to_numpy(dtype=float)
    out = gpd.GeoDataFrame({
        "id": src["id"], "name": src["name"], "kind": src["kind"], "role": src["role"],
        "grade": src["grade"],
        "output_mw": src["output_mw"], "recoverable_mw": src["recoverable_mw"],
        "capacity_mw": cap, "used_mw": used,
        "utilisation": np.where(cap > 0, used / np.where(cap > 0, cap, 1.0), 0.0),
        "heat_pump_mw_e": np.where(np.isfinite(cop), used / np.where(np.isfinite(cop), cop, 1.0),
                                   0.0),
        "connection_m": inst.source_link_m, "sinks": [",".join(f) for f in feeds],
        "synthetic": False}, geometry=src.geometry.to_numpy(), crs=src.crs)
    return out[[*SOURCE_COLUMNS, "geometry"]]


def _sinks(inst: HeatInstance, sol: HeatSolution | None, synthetic: bool) -> gpd.GeoDataFrame:
    z = inst.zones
    demand = z["demand_mw"].to_numpy(dtype=float)
    chp_cap = z["chp_mw"].to_numpy(dtype=float)
    if sol is None:
        piped = np.zeros(len(z))
        unmet = np.maximum(demand - chp_cap, 0.0)
    else:
        piped, unmet = np.asarray(sol.delivered_mw), np.asarray(sol.unmet_mw)
    chp_used = np.maximum(demand - piped - unmet, 0.0)
    fed: list[list[str]] = [[] for _ in range(len(z))]
    extraction = np.zeros(len(z))
    if sol is not None:
        ids = inst.sources["id"].tolist()
        is_chp = (inst.sources["role"] == "chp_extraction").to_numpy()
        a = sol.attribution
        for k, i, share in zip(a.client.tolist(), a.site.tolist(), a.amount.tolist(),
                               strict=True):
            fed[k].append(ids[i])
            if is_chp[i]:
                extraction[k] += share * demand[k]
    extraction = np.minimum(extraction, piped)
    waste = piped - extraction
    out = gpd.GeoDataFrame({
        "id": z["id"], "district": z["district"], "demand_mw": demand,
        "annual_gj": z["annual_gj"].to_numpy(dtype=float), "chp_mw": chp_cap,
        "waste_heat_mw": waste, "chp_extraction_mw": extraction,
        "passed_on_mw": np.zeros(len(z)), "chp_used_mw": chp_used, "unmet_mw": unmet,
        "met_mw": piped + chp_used,
        "waste_share": np.where(demand > 0, waste / np.where(demand > 0, demand, 1.0), 0.0),
        "sources": [",".join(f) for f in fed], "synthetic": synthetic},
        geometry=z.geometry.to_numpy(), crs=z.crs)
    return out[[*SINK_COLUMNS, "geometry"]]


def heat_energy(inst: HeatInstance, supply_mw: np.ndarray, delivered_mw: float,
                loss_mw: float, settings: Any) -> dict[str, float]:
    """Annual energy and CO2 of a network (see the module docstring).

    ``supply_mw`` per source (peak), ``delivered_mw`` and ``loss_mw`` in all (peak).
    Returns ``delivered_gj``, ``loss_gj``, ``supplied_gj``, ``co2_displaced_t``,
    ``co2_chp_fuel_t``, ``co2_grid_t`` and ``co2_avoided_t`` (the net)."""
    h = settings
    supply = np.asarray(supply_mw, dtype=float)
    full, season = h.full_load_hours, h.season_hours
    delivered_gj = delivered_mw * full * GJ_PER_MWH
    loss_gj = loss_mw * season * GJ_PER_MWH
    total = float(supply.sum())
    # each source makes its peak share of the year's heat: deliveries and season losses
    share = supply / total if total > 0 else np.zeros_like(supply)
    source_gj = share * (delivered_gj + loss_gj)
    src = inst.sources
    chp = (src["role"] == "chp_extraction").to_numpy() if len(src) else np.zeros(0, bool)
    low = (src["grade"] == "low").to_numpy() if len(src) else np.zeros(0, bool)
    cop = src["cop"].to_numpy(dtype=float) if len(src) else np.zeros(0)
    hp_mwh = float(np.sum(np.where(low, source_gj / GJ_PER_MWH / np.where(low, cop, 1.0),
                                   0.0)))
    pump_mwh = h.pumping_share * delivered_mw * full
    displaced = delivered_gj * h.co2_displaced_t_per_gj
    fuel = float(source_gj[chp].sum()) * h.chp_co2_t_per_gj
    grid = (hp_mwh + pump_mwh) * h.co2_grid_t_per_mwh
    return {"delivered_gj": delivered_gj, "loss_gj": loss_gj,
            "supplied_gj": delivered_gj + loss_gj, "co2_displaced_t": displaced,
            "co2_chp_fuel_t": fuel, "co2_grid_t": grid,
            "co2_avoided_t": displaced - fuel - grid}


def _proven_scope(status: str, h: Any) -> dict[str, str]:
    """What a heat solve proves: the model is the region's roads restricted to candidate
    routes, so "optimal" is an optimum over those networks only (its gap too)."""
    scope = (f"networks whose pipes follow the {h.corridor_routes} shortest or "
             f"alternative road route(s) (detour at most {h.corridor_detour:.0%}) of each "
             f"source-zone pair within {h.max_link_m / 1000:g} km, and trunks between zone "
             f"networks within {h.interconnection_max_m / 1000:g} km; one pipe diameter per "
             f"road chain without branches")
    out = {"proven_over": scope}
    if status == "optimal":
        out["status"] = OPTIMAL_ON_ROUTES
    return out


def _kpis(inst: HeatInstance, sol: HeatSolution | None, pipes: gpd.GeoDataFrame,
          sources: gpd.GeoDataFrame, sinks: gpd.GeoDataFrame,
          scenario: Scenario) -> dict[str, Any]:
    h = scenario.heat
    delivered = float((sinks["waste_heat_mw"] + sinks["chp_extraction_mw"]).sum())
    supplied = float(sources["used_mw"].sum())
    is_chp = (sources["role"] == "chp_extraction").to_numpy()
    loss = float(pipes["loss_mw"].sum()) if len(pipes) else 0.0
    hp_mwe = float(sources["heat_pump_mw_e"].sum())
    energy = heat_energy(inst, sources["used_mw"].to_numpy(dtype=float), delivered, loss, h)
    costs = dict(sol.costs) if sol is not None else {}
    source_cost = np.zeros(len(sources))
    if sol is not None and inst.problem is not None:
        source_cost = inst.problem.source_cost_cny_per_mw_yr * np.asarray(sol.supply_mw)
    kpis: dict[str, Any] = {
        "pipes_km": round(float(pipes["length_m"].sum()) / 1000.0, 3) if len(pipes) else 0.0,
        "heat_delivered_mw": round(delivered, 3),
        "sources_used": int((sources["used_mw"] > 1e-6).sum()),
        "loss_share": round(energy["loss_gj"] / energy["supplied_gj"], 5)
        if energy["supplied_gj"] > 0 else 0.0,
        "co2_avoided_t": round(energy["co2_avoided_t"], 1),
    }
    if sol is not None:
        kpis.update(solver_kpis(sol.result))
        kpis.update(_proven_scope(kpis["status"], h))
    else:  # nothing was solved, so nothing was proven: say why there was nothing
        why = next((n.removeprefix("nothing to plan: ") for n in inst.notes
                    if n.startswith("nothing to plan")), "no heat network to plan")
        kpis.update(status=NOTHING_TO_PLAN, mip_gap=None, solve_seconds=0.0, solver=None,
                    nothing_to_plan=why)
    by_kind = pipes.groupby("kind")["length_m"].sum() / 1000.0 if len(pipes) else pd.Series()
    required = inst.problem.required if inst.problem is not None else ()
    kpis.update({
        "interconnection_km": round(float(by_kind.get("interconnection", 0.0)), 3),
        "source_link_km": round(float(by_kind.get("source_link", 0.0)), 3),
        "required_links": len(h.required_links),
        "required_links_built": len(required) if sol is not None else 0,
        "waste_heat_mw": round(float(sources.loc[~is_chp, "used_mw"].sum()), 3),
        "chp_extraction_mw": round(float(sources.loc[is_chp, "used_mw"].sum()), 3),
        "heat_delivered_gj": round(energy["delivered_gj"], 0),
        "heat_supplied_mw": round(supplied, 3),
        "loss_mw": round(loss, 3),
        "loss_gj": round(energy["loss_gj"], 0),
        "season_hours": h.season_hours,
        "co2_displaced_t": round(energy["co2_displaced_t"], 1),
        "co2_chp_fuel_t": round(energy["co2_chp_fuel_t"], 1),
        "co2_grid_t": round(energy["co2_grid_t"], 1),
        "heat_pump_mw_e": round(hp_mwe, 3),
        "sources_available": len(sources),
        "sinks": len(sinks),
        "sinks_served": int(((sinks["waste_heat_mw"] + sinks["chp_extraction_mw"])
                             > 1e-6).sum()),
        "demand_mw": round(float(sinks["demand_mw"].sum()), 3),
        "unmet_mw": round(float(sinks["unmet_mw"].sum()), 3),
        "capex_cny": round(costs.get("capex_cny", 0.0), 0),
        "annual_capex_cny": round(costs.get("capex_annual_cny", 0.0), 0),
        "loss_cost_cny": round(costs.get("loss_cost_cny", 0.0), 0),
        "heat_pump_electricity_cny": round(float(source_cost[~is_chp].sum()), 0),
        "chp_fuel_cny": round(float(source_cost[is_chp].sum()), 0),
        "pumping_cny": round(costs.get("delivery_cost_cny", 0.0), 0),
        "displaced_heat_value_cny": round(costs.get("displaced_value_cny", 0.0), 0),
        "unmet_penalty_avoided_cny": round(costs.get("unmet_avoided_cny", 0.0), 0),
        "net_annual_cost_cny": round(costs.get("objective_cny", 0.0), 0),
    })
    if inst.reduction is not None:
        st = inst.reduction.stats
        kpis.update({"candidate_road_edges": st["road_edges"],
                     "corridor_edges": st["corridor_edges"],
                     "candidate_links": st["links"] + len(inst.sources),
                     "trunk_candidates": st.get("trunks", 0),
                     "diameter_options": int(sol.result.model.get("build_options", 0))
                     if sol is not None else 0})
    for k, v in list(kpis.items()):
        if isinstance(v, float) and not math.isfinite(v):
            kpis[k] = None
    return kpis
