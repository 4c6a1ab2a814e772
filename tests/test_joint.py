"""Joint planning (issue 17): small hand-solved cases of the shared grid and land.

The charger part is the real model (:func:`from_geodataframes`, :func:`solve_chargers`,
:func:`substation_layer`) on a road of two towns; heat and logistics are given as their
layers, as the planners output them.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from _charger_toys import CRS, EXACT, FAST, SERVICE, SLOW
from shapely.geometry import Point

from siting.chargers.inputs import ChargerParams, _outside, from_geodataframes
from siting.chargers.outputs import substation_layer
from siting.chargers.solve import solve_chargers
from siting.config import load_scenario
from siting.joint import grid_loads, land_conflicts, plan_jointly, substation_loads
from siting.planners import ItemDecisions, PlannerOutput

#: four piles, at least one fast: one fast pile and three slow ones at the cheapest
PARAMS = ChargerParams(piles=(4,), slow=SLOW, fast=FAST, service=SERVICE, radius_m=3000.0,
                       station_cny_yr=1000.0, distance_cny_per_session_m_yr=0.01,
                       unmet_cny_per_session_yr=10_000.0, fast_share_min=0.25,
                       headroom_mw=(1.0,))


def _town():  # type: ignore[no-untyped-def]
    """Demand in town A (x = 0) only; candidate sites A, C (800 m east) and B (x = 5 km,
    beyond the 3 km reach, so a station there serves nobody), all taking fast piles.
    Substation S1 (200 kW) feeds A and C, S2 (1 MW) feeds B."""
    graph = nx.MultiDiGraph(crs=CRS)
    for node, x in (("a", 0.0), ("c", 800.0), ("b", 5000.0)):
        graph.add_node(node, x=x, y=0.0)
    for u, v, metres in (("a", "c", 800.0), ("c", "b", 4200.0)):
        graph.add_edge(u, v, length=metres, travel_time=metres / 15)
        graph.add_edge(v, u, length=metres, travel_time=metres / 15)
    demand = gpd.GeoDataFrame({"ev_sessions_day": [2.0], "district": ["D"]},
                              geometry=[Point(20, 5)], crs=CRS)
    sites = gpd.GeoDataFrame({"id": ["A", "B", "C"], "district": ["D"] * 3,
                              "max_piles": [6, 6, 6], "slow_ok": [True] * 3,
                              "fast_ok": [True] * 3, "existing_piles": [0, 0, 0]},
                             geometry=[Point(10, 0), Point(4990, 0), Point(790, 0)], crs=CRS)
    subs = gpd.GeoDataFrame({"id": ["S1", "S2"], "headroom_mw": [0.2, 1.0]},
                            geometry=[Point(0, 50), Point(5000, 50)], crs=CRS)
    return demand, sites, graph, subs


def _chargers(*, decisions: ItemDecisions | None = None,
              grid_loads: gpd.GeoDataFrame | None = None,
              exclude: gpd.GeoDataFrame | None = None) -> PlannerOutput:
    """The charger planner on the two towns, as the pipeline's re-plan calls it."""
    demand, sites, graph, subs = _town()
    notes: list[str] = []
    if exclude is not None:
        sites = _outside(sites, exclude, decisions or ItemDecisions(), notes)
    loads = None if grid_loads is None else grid_loads[["kw", "geometry"]]
    inputs = from_geodataframes(demand, sites, graph, params=PARAMS, substations=subs,
                                loads=loads, decisions=decisions or ItemDecisions())
    sol = solve_chargers(inputs.problem, EXACT)
    opened = sol.open[0]
    stations = inputs.sites.loc[opened, ["id", "geometry"]].reset_index(drop=True)
    stations["piles"] = sol.piles[0].sum(axis=0)[opened]  # (type, site)
    return PlannerOutput("chargers", {"charging_stations": stations,
                                      "substations": substation_layer(inputs, sol)},
                         {}, sol.result, tuple(notes))


def _heat(mw_e: float, *, at: Point | None = None) -> PlannerOutput:
    src = gpd.GeoDataFrame({"id": ["hs:pump"], "used_mw": [4 * mw_e],
                            "heat_pump_mw_e": [mw_e], "capacity_mw": [4 * mw_e]},
                           geometry=[at or Point(0, 60)], crs=CRS)
    return PlannerOutput("heat", {"heat_sources": src}, {}, None)


def _parks(at: Point, mt: float = 0.01) -> PlannerOutput:
    parks = gpd.GeoDataFrame({"id": ["lp:1"], "existing": [False], "throughput_mt": [mt]},
                             geometry=[at], crs=CRS)
    return PlannerOutput("logistics", {"logistics_parks": parks}, {}, None)


def _layer_sums_hold(subs: gpd.GeoDataFrame) -> None:
    parts = subs[["reserved_mw", "charger_mw", "heat_pump_mw", "logistics_mw"]].sum(axis=1)
    np.testing.assert_allclose(subs["load_mw"], parts, atol=2e-3)


def test_alone_the_town_takes_its_piles_at_home() -> None:
    # by hand: one fast (60 kW) and three slow piles (21 kW), all at A (B serves nobody)
    out = _chargers()
    stations = out.layers["charging_stations"]
    assert stations["id"].tolist() == ["A"] and stations["piles"].tolist() == [4]
    subs = out.layers["substations"]
    assert subs["charger_mw"].tolist() == pytest.approx([0.081, 0.0])
    assert subs["load_mw"].tolist() == pytest.approx([0.081, 0.0])


def test_a_heat_pump_on_a_full_substation_is_limited_and_the_layer_adds_up() -> None:
    """Two planners, one substation. S1 has 200 kW; the charger plan takes 81 kW of it
    and a heat pump wants 150 kW MW_e: together 231 kW, 31 kW over. The joint plan keeps
    the charger plan and gives the heat pump the 119 kW left, so heat is re-planned with
    the source capped at 119/150 of the heat it gave."""
    scenario = load_scenario()
    seq = {"chargers": _chargers(), "heat": _heat(0.150)}
    calls: list[dict[str, float]] = []

    def heat_again(*, decisions, source_caps):  # type: ignore[no-untyped-def]
        calls.append(dict(source_caps))
        cap = source_caps["hs:pump"]
        return _heat(cap / 4.0)

    report = plan_jointly(seq, scenario=scenario, crs=CRS,
                          replan={"chargers": _chargers, "heat": heat_again}, decisions={})
    assert calls == [{"hs:pump": pytest.approx(4 * 0.119, abs=1e-6)}]
    k = report.kpis
    assert k["overloaded_substations_sequential"] == 1
    assert k["overload_mw_sequential"] == pytest.approx(0.031, abs=1e-6)
    assert k["overloaded_substations"] == 0 and k["overload_mw"] == 0.0
    subs = report.outputs["chargers"].layers["substations"]
    assert subs.loc[0, "heat_pump_mw"] == pytest.approx(0.119, abs=1e-3)
    assert subs.loc[0, "load_mw"] == pytest.approx(0.2, abs=1e-3)
    assert (subs["load_mw"] <= subs["headroom_mw"] + 1e-3).all()
    _layer_sums_hold(subs)
    # the chargers kept their plan (and their cost): only the layer gained the loads
    assert report.outputs["chargers"].result is seq["chargers"].result
    assert k["extra_cost_cny_yr"] == 0


def test_a_park_load_beyond_the_rest_makes_the_chargers_move() -> None:
    """A new park near A draws 150 kW (0.15 Mt x 1 MW/Mt) on S1, so only 50 kW is left
    there: less than one fast pile (60 kW). The joint charger plan moves the fast pile to
    B (on S2) and keeps slow piles at A; the sequential one overloads S1 by 31 kW."""
    scenario = load_scenario()
    seq = {"chargers": _chargers(), "logistics": _parks(Point(1500, 0), mt=0.15)}
    loads = grid_loads(seq, scenario, CRS)
    assert loads["kw"].tolist() == pytest.approx([150.0])
    report = plan_jointly(seq, scenario=scenario, crs=CRS, replan={"chargers": _chargers},
                          decisions={})
    k = report.kpis
    # the park stands 1.5 km from A: no land conflict, the grid alone makes them move
    assert k["land_conflicts_sequential"] == 0
    assert k["overloaded_substations_sequential"] == 1
    assert k["overload_mw_sequential"] == pytest.approx(0.031, abs=1e-6)
    assert k["overloaded_substations"] == 0 and k["status"] in ("optimal", "feasible")
    subs = report.outputs["chargers"].layers["substations"]
    _layer_sums_hold(subs)
    assert (subs["load_mw"] <= subs["headroom_mw"] + 1e-3).all()
    assert subs.loc[0, "reserved_mw"] == 0.0 and subs.loc[0, "logistics_mw"] == 0.15
    stations = report.outputs["chargers"].layers["charging_stations"].set_index("id")
    assert "B" in stations.index  # the fast pile went where the grid has room
    # the joint plan costs more than the sequential one, which its bound stays below
    assert k["extra_cost_cny_yr"] > 0
    assert k["bound_cny_yr"] <= k["cost_joint_cny_yr"] + 1e-6
    assert k["bound_cny_yr"] <= k["cost_sequential_cny_yr"] + 1e-6


def test_one_parcel_wanted_by_a_park_and_a_station() -> None:
    """The park at (100, 0) takes the disc of 500 m round it, where station A stands.
    Sequentially both are built there; jointly A is left out and the town is served from
    C, 800 m away (a longer trip: the joint plan costs more)."""
    scenario = load_scenario()
    seq = {"chargers": _chargers(), "logistics": _parks(Point(100, 0))}
    hits = land_conflicts(seq, scenario, CRS)
    assert hits[["park_id", "layer", "item_id"]].values.tolist() == [
        ["lp:1", "charging_stations", "A"]]
    assert hits["distance_m"].tolist() == pytest.approx([90.0])
    report = plan_jointly(seq, scenario=scenario, crs=CRS, replan={"chargers": _chargers},
                          decisions={})
    k = report.kpis
    assert k["land_conflicts_sequential"] == 1 and k["land_conflicts"] == 0
    stations = report.outputs["chargers"].layers["charging_stations"]
    assert stations["id"].tolist() == ["C"] and stations["piles"].tolist() == [4]
    assert k["extra_cost_cny_yr"] > 0
    assert k["overloaded_substations"] == 0


def test_no_clash_keeps_the_sequential_plan() -> None:
    scenario = load_scenario()
    seq = {"chargers": _chargers(), "heat": _heat(0.05, at=Point(5000, 60))}
    report = plan_jointly(seq, scenario=scenario, crs=CRS,
                          replan={"chargers": pytest.fail, "heat": pytest.fail}, decisions={})
    assert report.kpis["steps"] == ["no clash: the sequential plan is the joint plan"]
    assert report.kpis["overloaded_substations_sequential"] == 0
    assert report.kpis["extra_cost_cny_yr"] == 0
    subs = report.outputs["chargers"].layers["substations"]
    assert subs["heat_pump_mw"].tolist() == [0.0, 0.05]
    _layer_sums_hold(subs)


def test_substation_loads_sum_their_parts_in_each_stage() -> None:
    subs = gpd.GeoDataFrame({
        "headroom_mw": [1.0, 2.0], "headroom_mw_2030": [2.0, 3.0],
        "reserved_mw": [0.2, 0.0], "reserved_mw_2030": [0.2, 0.0],
        "charger_mw": [0.5, 0.1], "charger_mw_2030": [1.0, 0.2]},
        geometry=[Point(0, 0), Point(9000, 0)], crs=CRS)
    loads = gpd.GeoDataFrame({"planner": ["heat", "logistics", "heat"], "kw": [400, 300, 50],
                              "id": ["h1", "p1", "h2"]},
                             geometry=[Point(10, 0), Point(20, 0), Point(8990, 0)], crs=CRS)
    out = substation_loads(subs, loads, held=False)
    assert out["heat_pump_mw"].tolist() == [0.4, 0.05]
    assert out["logistics_mw_2030"].tolist() == [0.3, 0.0]
    assert out["load_mw"].tolist() == pytest.approx([1.4, 0.15])
    assert out["load_mw_2030"].tolist() == pytest.approx([1.9, 0.25])
    assert out["overloaded"].tolist() == [True, False]  # 1.4 MW on 1 MW in 2025
    # a joint charger plan held them in reserved_mw already: moved out, not added twice
    held = subs.assign(reserved_mw=[0.9, 0.05], reserved_mw_2030=[0.9, 0.05])
    again = substation_loads(held, loads, held=True)
    assert again["reserved_mw"].tolist() == pytest.approx([0.2, 0.0])
    assert again["load_mw"].tolist() == pytest.approx([1.4, 0.15])


def test_no_joint_reports_the_clash_and_review_fails_it(tmp_path) -> None:
    # --no-joint: nothing re-planned, the overload shown in the layer and the KPIs, and
    # the review's grid rule names the substation, the stage and the load's parts
    from siting.config import ReviewSettings
    from siting.review import review_plan

    scenario = load_scenario()
    seq = {"chargers": _chargers(), "heat": _heat(0.150)}
    report = plan_jointly(seq, scenario=scenario, crs=CRS,
                          replan={"chargers": pytest.fail, "heat": pytest.fail}, decisions={},
                          enabled=False)
    k = report.kpis
    assert k["status"] == "clash" and k["steps"] == ["nothing re-planned (--no-joint)"]
    assert k["overloaded_substations"] == k["overloaded_substations_sequential"] == 1
    subs = report.outputs["chargers"].layers["substations"]
    _layer_sums_hold(subs)
    assert subs["overloaded"].tolist() == [True, False]
    stations = report.outputs["chargers"].layers["charging_stations"]
    result = review_plan({"charging_stations": stations, "substations": subs}, {},
                         rules=ReviewSettings(), crs=CRS)
    assert not result.passed
    (finding,) = result.violations.itertuples()
    assert finding.item_id == "S1" and finding.rule == "substation_load"
    assert finding.detail == ("2025: load 0.23 MW (chargers 0.08, reserved 0.00, heat pumps "
                              "0.15, parks 0.00) over headroom 0.20 MW by 0.03 MW")
    check = result.checks.set_index("rule").loc["substation_load"]
    assert check["status"] == "fail" and check["items_checked"] == 2
    # the joint plan of the same case passes
    joint = plan_jointly(seq, scenario=scenario, crs=CRS,
                         replan={"chargers": _chargers, "heat": lambda **kw: _heat(
                             kw["source_caps"]["hs:pump"] / 4.0)}, decisions={})
    assert review_plan({"charging_stations": stations,
                        "substations": joint.outputs["chargers"].layers["substations"]}, {},
                       rules=ReviewSettings(), crs=CRS).passed


def _heat_costing(mw_e: float, cny_per_mw_cut: float, full_mw_e: float = 0.150
                  ) -> PlannerOutput:
    """``_heat`` whose annual cost rises by ``cny_per_mw_cut`` per MW_e of heat pump cut
    (the heat replaced from dearer supply), with a bound equal to its cost."""
    from siting.models.base import Assignment, Result, Status

    cost = cny_per_mw_cut * (full_mw_e - mw_e)
    out = _heat(mw_e)
    result = Result(Status.OPTIMAL, cost, cost, 0.0, np.empty(0, np.int64), Assignment.empty(),
                    0.0, 0.0, "highs", "test")
    return PlannerOutput("heat", out.layers, {"status": "optimal"}, result)


@pytest.mark.parametrize(("cny_per_mw_cut", "kept"), [(1e3, "chargers first"),
                                                      (1e7, "heat first")])
def test_the_cheaper_rule_of_priority_is_kept(cny_per_mw_cut: float, kept: str) -> None:
    """S1 (200 kW) holds the town's 81 kW of piles and a 150 kW heat pump: 31 kW over.
    Chargers first cuts the heat pump to 119 kW; heat first keeps it whole and moves the
    fast pile to B. Which is cheaper depends on what a MW of cut heat costs: cheap heat
    elsewhere keeps the chargers' plan, dear heat moves the chargers."""
    scenario = load_scenario()
    seq = {"chargers": _chargers(), "heat": _heat_costing(0.150, cny_per_mw_cut)}
    report = plan_jointly(
        seq, scenario=scenario, crs=CRS, decisions={},
        replan={"chargers": _chargers, "heat": lambda **kw: _heat_costing(
            kw["source_caps"]["hs:pump"] / 4.0, cny_per_mw_cut)})
    k = report.kpis
    assert [a["rule"] for a in k["alternatives"]] == ["chargers first", "heat first"]
    assert all(a["feasible"] for a in k["alternatives"])
    costs = {a["rule"]: a["cost_cny_yr"] for a in k["alternatives"]}
    assert k["steps"][-1] == f"kept: {kept} (the cheaper)"
    assert k["cost_joint_cny_yr"] == min(costs.values()) == costs[kept]
    assert k["overloaded_substations"] == 0
    subs = report.outputs["chargers"].layers["substations"]
    _layer_sums_hold(subs)
    assert (subs["load_mw"] <= subs["headroom_mw"] + 1e-3).all()
    heat_mw = 0.119 if kept == "chargers first" else 0.150
    assert subs.loc[0, "heat_pump_mw"] == pytest.approx(heat_mw, abs=1e-3)
