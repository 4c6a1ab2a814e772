"""Joint planning: chargers, heat pumps and logistics parks on one grid and one land.

The planners compete for two things in the city:

* **Substation headroom.** Each planner's new electric load draws on the nearest
  substation with headroom (straight line, as the charger planner assigns its
  stations): the charging piles' kW; the heat pumps' MW_e (heat / COP, times
  ``joint.heat_pump_coincidence``) at the low-grade waste-heat sources the heat plan
  uses; the new logistics parks' truck charging and yard equipment
  (``joint.park_mw_per_mt`` x the park's throughput, an ``[assumption]``).
* **Land.** A new park takes a disc of ``joint.park_radius_m`` round its site: no
  charging station may stand on it and no heat source the heat plan uses may lie in it.

**Method** (:func:`plan_jointly`, a decomposition). First each planner alone, with the
whole headroom (the *sequential* plan: what ``plan`` did before). Its combined load is
checked per substation and its land conflicts listed. Where they clash, the joint plan
re-plans, in order: logistics with every park site on a used heat source's land
forbidden; heat with each heat pump limited to the headroom its substation has left
after the charger plan, its reservations (residential communities, fleet depots) and
the parks (shared among a substation's heat pumps in proportion to their MW_e); then
the chargers, only where a substation is still over (the parks alone) or a station
stands on a park's land, with the heat pumps' and parks' loads held on headroom before
the plan (as the fleet's depots are) and no candidate on a park's land. The charger
plan keeps its place on the grid first because heat has a substitute on hand (CHP
extraction) where a station has none: this is a rule of the decomposition, not a
proven optimum, and the gap below says how far from one it may be.

**Bound.** Each planner alone is a relaxation of the joint problem (the shared rows
dropped), so the sum of their own dual bounds bounds the joint optimum from below, and
the joint plan's cost from above: ``mip_gap`` is the gap between them, the gap of the
joint problem, not of any part. Heat's part is over its candidate routes (see
:mod:`siting.heat.solve`), so the joint bound is too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.config import Scenario
from siting.errors import InfeasibleError
from siting.planners import ItemDecisions, PlannerOutput

logger = logging.getLogger(__name__)

__all__ = ["JOINT_PLANNERS", "JointReport", "grid_loads", "land_conflicts", "park_land",
           "plan_jointly", "substation_loads"]

#: the planners whose outputs share the grid and the land
JOINT_PLANNERS = ("chargers", "heat", "logistics")
#: load columns by planner on the ``substations`` layer (``_2030`` for stage 2)
LOAD_COLUMNS = {"heat": "heat_pump_mw", "logistics": "logistics_mw"}
#: money a planner's result objective is in, in CNY (logistics: million CNY a year)
_CNY = {"chargers": 1.0, "heat": 1.0, "logistics": 1e6}
_TOL_MW = 1e-6


def grid_loads(outputs: Mapping[str, PlannerOutput], scenario: Scenario,
               crs: Any) -> gpd.GeoDataFrame:
    """The heat and logistics plans' new electric loads as points in ``crs``: ``id``,
    ``planner`` (``heat`` or ``logistics``), ``kw`` (at the charging peak) and
    ``source`` (how it was reckoned). Existing parks add nothing (their load is on the
    grid already); heat sources without a heat pump neither."""
    j = scenario.joint
    parts: list[gpd.GeoDataFrame] = []
    heat = outputs.get("heat")
    if heat is not None and "heat_sources" in heat.layers:
        src = heat.layers["heat_sources"]
        mw = pd.to_numeric(src.get("heat_pump_mw_e"), errors="coerce").fillna(0.0)
        use = (mw > _TOL_MW).to_numpy()
        if use.any():
            parts.append(gpd.GeoDataFrame({
                "id": src.loc[use, "id"].astype(str).to_numpy(), "planner": "heat",
                "kw": mw[use].to_numpy(float) * 1000.0 * j.heat_pump_coincidence,
                "source": f"heat pump MW_e x joint.heat_pump_coincidence "
                          f"{j.heat_pump_coincidence:g} [assumption]"},
                geometry=src.geometry[use].to_crs(crs).to_numpy(), crs=crs))
    logistics = outputs.get("logistics")
    if logistics is not None and "logistics_parks" in logistics.layers:
        parks = logistics.layers["logistics_parks"]
        new = ~parks["existing"].fillna(False).astype(bool).to_numpy() \
            if "existing" in parks.columns else np.ones(len(parks), bool)
        mt = pd.to_numeric(parks["throughput_mt"], errors="coerce").fillna(0.0).to_numpy()
        use = new & (mt > 0)
        if use.any() and j.park_mw_per_mt > 0:
            parts.append(gpd.GeoDataFrame({
                "id": parks.loc[use, "id"].astype(str).to_numpy(), "planner": "logistics",
                "kw": mt[use] * j.park_mw_per_mt * 1000.0,
                "source": f"throughput x joint.park_mw_per_mt {j.park_mw_per_mt:g} MW/Mt "
                          f"[assumption]"},
                geometry=parks.geometry[use].to_crs(crs).to_numpy(), crs=crs))
    if not parts:
        return gpd.GeoDataFrame({"id": [], "planner": [], "kw": [], "source": []},
                                geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)


def _stage_tags(subs: gpd.GeoDataFrame) -> list[str]:
    return [""] + (["_2030"] if "headroom_mw_2030" in subs.columns else [])


def substation_loads(subs: gpd.GeoDataFrame, loads: gpd.GeoDataFrame, *,
                     held: bool) -> gpd.GeoDataFrame:
    """The charger plan's ``substations`` layer with the other planners' loads.

    Adds ``heat_pump_mw`` and ``logistics_mw`` (per stage: the heat pumps and parks are
    built by the first and kept), each at its nearest substation with headroom, and
    ``overloaded`` (load above headroom in any stage). ``held``: the charger plan
    already held these loads on the headroom (a joint plan), so they are moved out of
    ``reserved_mw``; otherwise (the sequential plan) they are added to ``load_mw`` and
    ``use_share``. ``load_mw`` is then ``reserved_mw + charger_mw + heat_pump_mw +
    logistics_mw`` in both cases.
    """
    from siting.chargers.grid import nearest_supply

    out = subs.copy()
    per = {planner: np.zeros(len(out)) for planner in LOAD_COLUMNS}
    if len(loads) and len(out):
        pts = loads.to_crs(out.crs).geometry
        at = nearest_supply(np.column_stack([pts.x, pts.y]), out)
        if (at < 0).any():  # no substation with headroom at all: nothing to hold it on
            logger.warning("joint: %d load(s) (%.2f MW) have no substation with headroom to "
                           "draw on and are not counted against any",
                           int((at < 0).sum()), float(loads["kw"].to_numpy(float)[at < 0].sum())
                           / 1000.0)
        for planner in LOAD_COLUMNS:
            mine = (loads["planner"] == planner).to_numpy() & (at >= 0)
            per[planner] = np.bincount(at[mine], weights=loads["kw"].to_numpy(float)[mine],
                                       minlength=len(out)) / 1000.0
    over = np.zeros(len(out), bool)
    for tag in _stage_tags(out):
        other = sum(per.values(), np.zeros(len(out)))
        for planner, column in LOAD_COLUMNS.items():
            out[f"{column}{tag}"] = np.round(per[planner], 3)
        reserved = out[f"reserved_mw{tag}"].to_numpy(float) - (other if held else 0.0)
        out[f"reserved_mw{tag}"] = np.round(np.maximum(reserved, 0.0), 3)
        load = (np.maximum(reserved, 0.0) + out[f"charger_mw{tag}"].to_numpy(float) + other)
        head = out[f"headroom_mw{tag}"].to_numpy(float)
        out[f"load_mw{tag}"] = np.round(load, 3)
        out[f"use_share{tag}"] = np.round(np.where(head > 0, load / np.maximum(head, 1e-9),
                                                   np.where(load > _TOL_MW, np.inf, 0.0)), 4)
        over |= load > head + 1e-3  # the layer's figures are rounded to kW
    out["overloaded"] = over
    return out


def _overload(subs: gpd.GeoDataFrame) -> tuple[int, float]:
    """Substations over their headroom in any stage, and the MW above it (worst stage)."""
    worst = np.zeros(len(subs))
    for tag in _stage_tags(subs):
        excess = subs[f"load_mw{tag}"].to_numpy(float) - subs[f"headroom_mw{tag}"].to_numpy(float)
        worst = np.maximum(worst, excess)
    over = worst > 1e-3
    return int(over.sum()), round(float(worst[over].sum()), 3)


def park_land(outputs: Mapping[str, PlannerOutput], scenario: Scenario, crs: Any
              ) -> gpd.GeoDataFrame:
    """The land the new parks take: a disc of ``joint.park_radius_m`` round each (``id``,
    ``name``), in ``crs``; empty without parks or with a radius of 0."""
    logistics = outputs.get("logistics")
    radius = scenario.joint.park_radius_m
    if logistics is None or "logistics_parks" not in logistics.layers or radius <= 0:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=crs)
    parks = logistics.layers["logistics_parks"].to_crs(crs)
    if "existing" in parks.columns:
        parks = parks[~parks["existing"].fillna(False).astype(bool)]
    return gpd.GeoDataFrame({"id": parks["id"].astype(str).to_numpy()},
                            geometry=parks.geometry.buffer(radius).to_numpy(), crs=crs)


def land_conflicts(outputs: Mapping[str, PlannerOutput], scenario: Scenario, crs: Any
                   ) -> pd.DataFrame:
    """Items of two planners on one parcel: a charging station or a used heat source on
    a new park's land. Columns ``park_id``, ``layer``, ``item_id``, ``distance_m``."""
    land = park_land(outputs, scenario, crs)
    rows: list[dict[str, Any]] = []
    if len(land):
        centres = land.geometry.centroid
        for layer, planner, used in (("charging_stations", "chargers", None),
                                     ("heat_sources", "heat", "used_mw")):
            out = outputs.get(planner)
            if out is None or layer not in out.layers or not len(out.layers[layer]):
                continue
            items = out.layers[layer].to_crs(crs)
            if used is not None and used in items.columns:
                items = items[pd.to_numeric(items[used], errors="coerce").fillna(0) > 1e-6]
            hits = gpd.sjoin(items[["id", "geometry"]], land.rename(columns={"id": "park_id"}),
                             predicate="intersects")
            for idx, hit in hits.iterrows():
                rows.append({"park_id": hit["park_id"], "layer": layer,
                             "item_id": str(hit["id"]),
                             "distance_m": round(float(items.geometry.loc[idx].distance(
                                 centres[land["id"] == hit["park_id"]].iloc[0])), 1)})
    return pd.DataFrame(rows, columns=["park_id", "layer", "item_id", "distance_m"])


def _cost_and_bound(outputs: Mapping[str, PlannerOutput]) -> tuple[float, float]:
    cost = bound = 0.0
    for name, out in outputs.items():
        res = out.result
        if res is None:  # nothing planned (e.g. heat with no source): costs nothing
            continue
        cost += float(res.objective) * _CNY.get(name, 1.0)
        bound += float(res.bound) * _CNY.get(name, 1.0) if res.bound is not None \
            else math.nan
    return cost, bound


@dataclass(frozen=True)
class JointReport:
    """The joint plan's outputs and the sequential comparison (``kpis.json``
    ``joint``)."""

    outputs: dict[str, PlannerOutput]
    kpis: dict[str, Any]


Planner = Callable[..., PlannerOutput]


def _heat_caps(subs: gpd.GeoDataFrame, loads: gpd.GeoDataFrame, heat: PlannerOutput, *,
               with_chargers: bool) -> dict[str, float]:
    """Heat (MW) each heat-pump source may give so that its substation holds its
    reservations, the parks, the heat pumps and (``with_chargers``) the charger plan:
    where the total is over headroom in any stage, the heat pumps there get what is left
    (0 at least), shared in proportion to their MW_e. Source id -> cap, for the sources
    cut only."""
    from siting.chargers.grid import nearest_supply

    hp = loads[loads["planner"] == "heat"]
    if not len(hp) or not len(subs):
        return {}
    left = np.full(len(subs), np.inf)
    for tag in _stage_tags(subs):
        others = (subs[f"reserved_mw{tag}"].to_numpy(float)
                  + subs[f"logistics_mw{tag}"].to_numpy(float))
        if with_chargers:
            others = others + subs[f"charger_mw{tag}"].to_numpy(float)
        left = np.minimum(left, subs[f"headroom_mw{tag}"].to_numpy(float) - others)
    want = subs["heat_pump_mw"].to_numpy(float)
    cut = want > np.maximum(left, 0.0) + 1e-3
    if not cut.any():
        return {}
    share = np.where(cut, np.maximum(left, 0.0) / np.maximum(want, 1e-12), 1.0)
    pts = hp.to_crs(subs.crs).geometry
    at = nearest_supply(np.column_stack([pts.x, pts.y]), subs)
    sources = heat.layers["heat_sources"].set_index(heat.layers["heat_sources"]["id"].astype(str))
    caps: dict[str, float] = {}
    for sid, k in zip(hp["id"].astype(str), at, strict=True):
        if k >= 0 and cut[k]:
            caps[sid] = float(sources.loc[sid, "used_mw"]) * float(share[k])
    return caps


def _grid_alternatives(joint: Mapping[str, PlannerOutput], subs: gpd.GeoDataFrame | None,
                       loads: gpd.GeoDataFrame, *,
                       scenario: Scenario, crs: Any, replan: Mapping[str, Planner],
                       decisions: Mapping[str, ItemDecisions]) -> list[dict[str, Any]]:
    """The joint plan under each rule of priority on a full substation.

    ``chargers first``: heat pumps get what the charger plan, the reservations and the
    parks leave; the chargers are re-planned only where the parks still overload a
    substation or a station stands on a park's land. ``heat first`` (only when a heat
    pump was cut): heat pumps are cut only where the reservations and parks alone leave
    too little, and the chargers are re-planned round all of it. Each: ``rule``,
    ``outputs`` (``None`` when infeasible, with ``error``), ``loads``, ``cost``,
    ``steps``."""
    out: list[dict[str, Any]] = []
    has_heat = subs is not None and "heat" in joint and "heat" in replan
    for rule in ("chargers first", "heat first"):
        if rule == "heat first" and not (out and out[0]["cut"]):
            break  # no heat pump was cut: nothing to weigh
        plan = dict(joint)
        steps: list[str] = []
        now = loads
        caps: dict[str, float] = {}
        error: Exception | None = None
        try:
            if has_heat:
                caps = _heat_caps(substation_loads(subs, loads, held=False), loads,
                                  joint["heat"], with_chargers=rule == "chargers first")
            if caps:
                plan["heat"] = replan["heat"](decisions=decisions.get("heat", ItemDecisions()),
                                              source_caps=caps)
                steps.append(f"{rule}: heat re-planned, {len(caps)} heat-pump source(s) "
                             f"limited to their substation's headroom left "
                             f"({', '.join(sorted(caps))})")
                now = grid_loads(plan, scenario, crs)
            parks_land = park_land(plan, scenario, crs)
            on_land = land_conflicts(plan, scenario, crs)
            on_land = on_land[on_land["layer"] == "charging_stations"]
            still = _overload(substation_loads(subs, now, held=False))[0] \
                if subs is not None else 0
            if (still or len(on_land)) and "chargers" in replan:
                plan["chargers"] = replan["chargers"](
                    decisions=decisions.get("chargers", ItemDecisions()),
                    grid_loads=now if len(now) else None,
                    exclude=parks_land if len(parks_land) else None)
                steps.append(f"{rule}: chargers re-planned with "
                             f"{float(now['kw'].sum()) / 1000:,.1f} MW of heat-pump and park "
                             f"load held on headroom and {len(parks_land)} park(s)' land "
                             f"left out")
        except InfeasibleError as exc:
            error = exc
            logger.info("joint: %s is infeasible: %s", rule, exc)
        out.append({"rule": rule, "outputs": None if error else plan, "error": error,
                    "loads": now, "cost": _cost_and_bound(plan)[0] if not error else math.inf,
                    "steps": steps, "cut": bool(caps)})
    return out


def plan_jointly(outputs: Mapping[str, PlannerOutput], *, scenario: Scenario, crs: Any,
                 replan: Mapping[str, Planner], decisions: Mapping[str, ItemDecisions],
                 enabled: bool = True) -> JointReport:
    """Joint plan from the planners' own (sequential) outputs; see the module docstring.

    ``replan``: planner name -> a callable taking ``decisions=`` (chargers also
    ``grid_loads=`` and ``exclude=``, heat ``source_caps=``) that plans it again on the
    same region. Raises what the planners raise (an InfeasibleError naming the
    substation when even the reservations and parks exceed its headroom).
    ``enabled=False`` (``plan --no-joint``): nothing is re-planned; the sequential plan's
    combined loads and land conflicts are only reported (and ``review`` fails them).
    """
    from siting.models.base import relative_gap

    seq = dict(outputs)
    loads = grid_loads(seq, scenario, crs)
    subs = seq["chargers"].layers.get("substations") if "chargers" in seq else None
    seq_subs = substation_loads(subs, loads, held=False) if subs is not None else None
    seq_over = _overload(seq_subs) if seq_subs is not None else (0, 0.0)
    seq_conflicts = land_conflicts(seq, scenario, crs)
    seq_cost, bound = _cost_and_bound(seq)
    joint = dict(seq)
    steps: list[str] = []
    # 1. land: a new park on a used heat source's land -> those park sites forbidden
    if not enabled:
        replan = {}
    heat_hits = seq_conflicts[seq_conflicts["layer"] == "heat_sources"]
    if len(heat_hits) and "logistics" in replan:
        cands = seq["logistics"].layers.get("logistics_candidates")
        sources = seq["heat"].layers["heat_sources"].to_crs(crs)
        used = sources[sources["id"].astype(str).isin(heat_hits["item_id"])]
        taken: set[str] = set()
        if cands is not None and len(cands):
            near = cands.to_crs(crs).geometry.apply(lambda g: bool(
                (used.geometry.distance(g) <= scenario.joint.park_radius_m).any()))
            taken = set(cands.loc[near.to_numpy(), "id"].astype(str))
        own = decisions.get("logistics", ItemDecisions())
        joint["logistics"] = replan["logistics"](decisions=ItemDecisions(
            approved=own.approved, rejected=own.rejected | frozenset(taken)))
        steps.append(f"logistics re-planned: {len(taken)} park site(s) on the land of a used "
                     f"heat source forbidden")
        loads = grid_loads(joint, scenario, crs)
    # 2-3. grid: two rules of priority on a full substation, each planned, the cheaper kept
    alternatives = _grid_alternatives(joint, subs, loads, scenario=scenario, crs=crs,
                                      replan=replan, decisions=decisions) if enabled else []
    feasible = [a for a in alternatives if a["outputs"] is not None]
    if not enabled:
        pass
    elif feasible:
        best = min(feasible, key=lambda a: a["cost"])
        joint, loads = dict(best["outputs"]), best["loads"]
        steps.extend(best["steps"])
        if len(alternatives) > 1:
            steps.append(f"kept: {best['rule']} (the cheaper)")
    else:  # every rule failed: the first one's diagnosis is the user's to act on
        raise alternatives[0]["error"]
    joint_subs = None
    if "chargers" in joint and joint["chargers"].layers.get("substations") is not None:
        held = joint["chargers"] is not seq.get("chargers")
        joint_subs = substation_loads(joint["chargers"].layers["substations"], loads,
                                      held=held and bool(len(loads)))
        joint["chargers"] = _with_layer(joint["chargers"], "substations", joint_subs)
    joint_over = _overload(joint_subs) if joint_subs is not None else (0, 0.0)
    joint_conflicts = land_conflicts(joint, scenario, crs)
    cost, _ = _cost_and_bound(joint)
    gap = relative_gap(cost, bound) if math.isfinite(bound) else math.nan
    clean = not joint_over[0] and not len(joint_conflicts)
    proven = math.isfinite(gap) and gap <= scenario.solver.mip_gap + 1e-9
    kpis: dict[str, Any] = {
        "planners": [p for p in JOINT_PLANNERS if p in joint],
        "method": "decomposition: each planner alone (the sequential plan); then parks "
                  "kept off used heat sources' land, heat pumps limited to the headroom the "
                  "charger plan, reservations and parks leave, and the chargers re-planned "
                  "round the parks' land and any load still over headroom" if enabled else
                  "sequential (--no-joint): the planners one after another; their loads and "
                  "land only checked together",
        "steps": steps or ["no clash: the sequential plan is the joint plan" if enabled
                           else "nothing re-planned (--no-joint)"],
        "status": _status(clean, proven, joint),
        "mip_gap": None if not math.isfinite(gap) else round(float(gap), 6),
        "overloaded_substations": joint_over[0],
        "overload_mw": joint_over[1],
        "overloaded_substations_sequential": seq_over[0],
        "overload_mw_sequential": seq_over[1],
        "land_conflicts": len(joint_conflicts),
        "land_conflicts_sequential": len(seq_conflicts),
        "land_conflicts_sequential_items": seq_conflicts.to_dict("records")[:50],
        "cost_joint_cny_yr": round(cost, 0),
        "cost_sequential_cny_yr": round(seq_cost, 0),
        "extra_cost_cny_yr": round(cost - seq_cost, 0),
        "bound_cny_yr": None if not math.isfinite(bound) else round(bound, 0),
        "bound_note": "the sum of each planner's own bound with the whole headroom and land "
                      "(a relaxation of the joint problem); heat's over its candidate routes",
        "alternatives": [{"rule": a["rule"], "feasible": a["outputs"] is not None,
                          "cost_cny_yr": round(a["cost"], 0) if math.isfinite(a["cost"])
                          else None, "diagnosis": str(a["error"]) if a["error"] else None}
                         for a in alternatives],
        "given_up": _given_up(seq, joint),
        "loads": {column: round(float(loads.loc[loads["planner"] == p, "kw"].sum()) / 1000,
                                3) for p, column in LOAD_COLUMNS.items()},
        "assumptions": {"park_mw_per_mt": scenario.joint.park_mw_per_mt,
                        "heat_pump_coincidence": scenario.joint.heat_pump_coincidence,
                        "park_radius_m": scenario.joint.park_radius_m,
                        "source": "assumption"},
    }
    for step in steps:
        logger.info("joint: %s", step)
    if seq_over[0]:
        logger.info("joint: the sequential plan overloads %d substation(s) by %.2f MW; the "
                    "joint plan %d", seq_over[0], seq_over[1], joint_over[0])
    return JointReport(outputs=joint, kpis=kpis)


#: planner KPIs a joint plan may lower, shown against the sequential plan's
_GIVEN_UP = {"chargers": ("nev_served", "mean_distance_m"),
             "heat": ("heat_delivered_mw", "waste_heat_mw", "co2_avoided_t"),
             "logistics": ("freight_mt", "co2_saved_t")}


def _given_up(seq: Mapping[str, PlannerOutput], joint: Mapping[str, PlannerOutput]
              ) -> dict[str, Any]:
    """What the joint plan delivers against the sequential one, for the planners it
    re-planned: ``<planner>.<kpi>`` -> ``[sequential, joint]``."""
    out: dict[str, Any] = {}
    for name, keys in _GIVEN_UP.items():
        if name in joint and name in seq and joint[name].result is not seq[name].result:
            for key in keys:
                a, b = seq[name].kpis.get(key), joint[name].kpis.get(key)
                if a is not None and b is not None:
                    out[f"{name}.{key}"] = [a, b]
    return out


def _status(clean: bool, proven: bool, outputs: Mapping[str, PlannerOutput]) -> str:
    """``optimal`` only for a proven joint optimum of clash-free plans; with heat, over its
    candidate routes (as its own status says); ``feasible`` when clash-free within a
    larger gap; ``clash`` when a substation is over or two planners share land."""
    if not clean:
        return "clash"
    if not proven:
        return "feasible"
    heat = outputs.get("heat")
    restricted = heat is not None and "proven_over" in heat.kpis
    return "optimal_on_candidate_routes" if restricted else "optimal"


def _with_layer(output: PlannerOutput, name: str, frame: gpd.GeoDataFrame) -> PlannerOutput:
    from dataclasses import replace

    return replace(output, layers={**output.layers, name: frame})
