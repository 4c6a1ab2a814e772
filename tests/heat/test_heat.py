"""The waste-heat planner on the Zibo demo (coarse roads) and on small toy layers."""

from __future__ import annotations

import logging
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from siting.errors import CRSError, InfeasibleError, InputError
from siting.heat import plan_heat
from siting.heat.check import check_heat_layers, check_heat_solution
from siting.heat.inputs import HeatEconomics, heat_sources, heat_zones, prepare_heat
from siting.heat.outputs import PIPE_COLUMNS, SINK_COLUMNS, SOURCE_COLUMNS
from siting.heat.problem import PipeCatalogue
from siting.heat.solve import solve_heat
from siting.pipeline import solver_record
from siting.planners import ItemDecisions, solver_options

CRS = "EPSG:32650"
KPI_CONTRACT = {"pipes_km", "heat_delivered_mw", "sources_used", "loss_share", "co2_avoided_t",
                "status", "mip_gap", "solve_seconds"}


@pytest.fixture(scope="module")
def planned(zibo, scenario):
    region, demand = zibo
    return plan_heat(region, demand, scenario)


# ----------------------------------------------------------------------- planner


def test_demo_plan_meets_the_contract(planned, zibo):
    region, _ = zibo
    out = planned
    assert out.name == "heat"
    assert set(out.layers) == {"heat_pipes", "heat_sources", "heat_sinks"}
    pipes, sources, sinks = (out.layers[k] for k in ("heat_pipes", "heat_sources", "heat_sinks"))
    for layer, cols in ((pipes, PIPE_COLUMNS), (sources, SOURCE_COLUMNS), (sinks, SINK_COLUMNS)):
        assert layer.crs == region.crs
        assert set(cols) <= set(layer.columns)
        assert layer["id"].is_unique
    assert set(out.kpis) >= KPI_CONTRACT
    # an optimum over the candidate routes, not over every road: the status says so
    assert out.kpis["status"] == "optimal_on_candidate_routes"
    assert "shortest or alternative road route" in out.kpis["proven_over"]
    record = solver_record(out)  # provenance.json says the same as kpis.json
    assert record["status"] == "optimal_on_candidate_routes" and record["solver"] == "highs"
    assert record["proven_over"] == out.kpis["proven_over"]
    assert out.kpis["mip_gap"] <= 0.01
    assert out.kpis["pipes_km"] > 0 and out.kpis["heat_delivered_mw"] > 0
    assert 0 < out.kpis["loss_share"] < 0.05
    assert out.kpis["co2_avoided_t"] > 0
    k = out.kpis   # the net annual cost is its parts (rounded to whole CNY)
    assert k["net_annual_cost_cny"] == pytest.approx(
        k["annual_capex_cny"] + k["loss_cost_cny"] + k["heat_pump_electricity_cny"]
        + k["chp_fuel_cny"] + k["pumping_cny"] - k["displaced_heat_value_cny"]
        - k["unmet_penalty_avoided_cny"], abs=5.0)
    assert set(pipes["kind"]) <= {"source_link", "interconnection"}
    # the plan's interconnection (the Qilu first phase) is built and on the map
    assert k["required_links"] == k["required_links_built"] == 1
    assert k["interconnection_km"] > 0
    assert pipes.loc[pipes["kind"] == "interconnection", "length_m"].sum() / 1000 == \
        pytest.approx(k["interconnection_km"], abs=1e-3)
    assert pipes.geometry.geom_type.eq("LineString").all()
    assert pipes["synthetic"].all()          # pipes follow the synthetic demo roads
    assert sinks["synthetic"].all() and not sources["synthetic"].any()


def test_demo_plan_passes_both_independent_checkers(planned, zibo, scenario):
    region, demand = zibo
    cat = PipeCatalogue.from_settings(scenario.heat.pipes)
    assert check_heat_layers(planned.layers, cat) == []
    inst = prepare_heat(region, demand, scenario)
    sol = solve_heat(inst.problem, solver_options(scenario.solver))
    assert check_heat_solution(inst.problem, sol) == []


def test_every_used_source_is_connected_to_the_sinks_it_feeds(planned):
    pipes, sources, sinks = (planned.layers[k] for k in ("heat_pipes", "heat_sources",
                                                         "heat_sinks"))
    import networkx as nx

    g = nx.Graph()
    g.add_edges_from(zip(pipes["from_node"], pipes["to_node"], strict=True))
    used = sources[sources["used_mw"] > 1e-6]
    assert len(used) == planned.kpis["sources_used"]
    for row in used.itertuples():
        assert f"hp:src:{row.id}" in set(pipes["id"]) or row.connection_m == 0
        fed = [s for s in row.sinks.split(",") if s]
        assert fed, f"{row.id} supplies heat but feeds no sink"
        for sink in fed:
            assert row.id in sinks.set_index("id").loc[sink, "sources"].split(",")
    # the heat the sinks receive is what the sources send minus the pipe losses
    assert sinks["waste_heat_mw"].sum() == pytest.approx(
        sources["used_mw"].sum() - pipes["loss_mw"].sum(), abs=1e-4)
    assert pipes.groupby("link")["from_node"].count().min() >= 1
    # every pipe network starts at a used source or at a zone network passing heat on
    passing = int((sinks["passed_on_mw"] > 1e-6).sum())
    assert nx.number_connected_components(g) <= planned.kpis["sources_used"] + passing


def test_flows_respect_diameters_and_pass_on_along_links(planned, scenario):
    pipes = planned.layers["heat_pipes"]
    cap = {p.dn: p.max_mw for p in scenario.heat.pipes}
    assert (pipes["flow_mw"] <= pipes["dn"].map(cap) + 1e-6).all()
    loss = {p.dn: p.loss_w_per_m / 1e6 for p in scenario.heat.pipes}
    assert np.allclose(pipes["loss_mw"], pipes["length_m"] * pipes["dn"].map(loss))


def test_same_inputs_give_the_same_ids(planned, zibo, scenario):
    region, demand = zibo
    again = plan_heat(region, demand, scenario)
    for name in ("heat_pipes", "heat_sources", "heat_sinks"):
        assert set(again.layers[name]["id"]) == set(planned.layers[name]["id"])
    assert again.kpis["pipes_km"] == pytest.approx(planned.kpis["pipes_km"])


def test_reviewer_decisions_forbid_and_lock_pipes(planned, zibo, scenario):
    region, demand = zibo
    pipes = planned.layers["heat_pipes"]
    road = pipes[~pipes["id"].str.startswith("hp:src:")]
    reject = road["id"].iloc[0]
    out = plan_heat(region, demand, scenario, decisions=ItemDecisions(rejected=frozenset({
        reject})))
    assert reject not in set(out.layers["heat_pipes"]["id"])
    assert out.kpis["status"] == "optimal_on_candidate_routes"
    # lock a road edge the plan did not use, next to a used source's road node
    inst = prepare_heat(region, demand, scenario)
    used_ids = set(pipes["id"])
    at_source = set(inst.source_road_pos.tolist())
    spare = next(i for i, u in zip(inst.edges.ids, inst.edges.u.tolist(), strict=True)
                 if i not in used_ids and u in at_source)
    locked = plan_heat(region, demand, scenario,
                       decisions=ItemDecisions(approved=frozenset({spare})))
    lp = locked.layers["heat_pipes"]
    assert spare in set(lp["id"])
    assert lp.set_index("id").loc[spare, "locked"]
    assert locked.kpis["net_annual_cost_cny"] >= planned.kpis["net_annual_cost_cny"] - 1.0


def test_rejected_source_and_unknown_ids(planned, zibo, scenario, caplog):
    region, demand = zibo
    sources = planned.layers["heat_sources"]
    top = sources.sort_values("used_mw").iloc[-1]["id"]
    with caplog.at_level(logging.WARNING, logger="siting.heat.inputs"):
        out = plan_heat(region, demand, scenario, decisions=ItemDecisions(
            rejected=frozenset({top, "hp:no-such-pipe"})))
    assert top not in set(out.layers["heat_sources"]["id"])
    assert out.kpis["heat_delivered_mw"] < planned.kpis["heat_delivered_mw"]
    assert "match no heat item" in caplog.text
    assert any("matched no heat item" in n for n in out.notes)
    with pytest.raises(InputError, match=r"approved heat item\(s\) are not pipes, sources or "
                                         r"zones of this run \(first: \['hp:no-such-pipe'\]"):
        plan_heat(region, demand, scenario,
                  decisions=ItemDecisions(approved=frozenset({"hp:no-such-pipe"})))


def test_red_line_crossings_are_forbidden_or_costed(planned, zibo, scenario):
    region, demand = zibo
    assert (planned.layers["heat_pipes"]["red_line_m"] < 1.0).all()
    inst = prepare_heat(region, demand, scenario)
    assert (inst.edge_red_line_m >= 1.0).sum() > 0   # the demo's red line does cross roads
    costed = scenario.replace(**{"heat.red_line_crossing": "cost",
                                 "heat.red_line_cost_cny_per_m": 50_000.0})
    inst = prepare_heat(region, demand, costed)
    crossing = np.flatnonzero(inst.edge_red_line_m >= 1.0)
    assert crossing.size
    out = plan_heat(region, demand, costed)
    pipes = out.layers["heat_pipes"]
    inside = pipes["red_line_m"] > 0
    assert np.allclose(pipes.loc[inside, "cost_cny"] - pipes.loc[inside, "length_m"]
                       * pipes.loc[inside, "dn"].map({p.dn: p.cost_cny_per_m
                                                      for p in scenario.heat.pipes}),
                       pipes.loc[inside, "red_line_m"] * 50_000.0)


def test_region_without_heat_sources_is_an_input_error(zibo, scenario):
    region, demand = zibo
    bare = replace(region, layers={k: v for k, v in region.layers.items()
                                   if k != "heat_sources"})
    with pytest.raises(InputError, match="has no layer 'heat_sources'"):
        plan_heat(bare, demand, scenario)


def test_geographic_region_is_refused(zibo, scenario):
    region, demand = zibo
    with pytest.raises(CRSError, match="projected metric CRS"):
        plan_heat(replace(region, crs="EPSG:4326"), demand, scenario)


def test_no_usable_source_gives_an_empty_plan(zibo, scenario):
    region, demand = zibo
    nothing = scenario.replace(**{"heat.recoverable_share": {}})
    # the required interconnection cannot be built without its sources: named, stopped
    with pytest.raises(InfeasibleError, match=r"Qilu cooling water .* cannot be built: its "
                                              r"source plants are all left out"):
        plan_heat(region, demand, nothing)
    nothing = nothing.replace(**{"heat.required_links": []})
    out = plan_heat(region, demand, nothing)
    assert len(out.layers["heat_pipes"]) == 0 and len(out.layers["heat_sources"]) == 0
    # nothing was solved, so nothing is called optimal and no gap is claimed
    assert out.kpis["heat_delivered_mw"] == 0 and out.kpis["status"] == "nothing_to_plan"
    assert out.kpis["mip_gap"] is None and out.result is None
    assert out.kpis["nothing_to_plan"] == "no usable heat source"
    assert "proven_over" not in out.kpis
    assert solver_record(out) == {"status": "nothing_to_plan",
                                  "nothing_to_plan": "no usable heat source"}
    assert any("no usable heat source" in n for n in out.notes)


# ------------------------------------------------------------------- toy inputs


def plants(rows: list[tuple[str, str, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [r[0] for r in rows], "kind": [r[1] for r in rows],
                             "output_mw": [r[2] for r in rows]},
                            geometry=[shapely.Point(i * 100.0, 0.0) for i in range(len(rows))],
                            crs=CRS)


def test_heat_sources_grades_and_capacities(scenario, caplog):
    h = scenario.heat
    with caplog.at_level(logging.WARNING, logger="siting.heat.inputs"):
        src = heat_sources(plants([("A", "chp", 100.0), ("B", "petrochemical", 50.0),
                                   ("C", "moon_base", 10.0), ("A", "chp", 20.0)]), h)
    assert "moon_base" in caplog.text
    assert src["id"].tolist() == ["hs:a", "hs:b", "hs:a-2"]
    assert src["grade"].tolist() == ["high", "low", "high"]
    # CHP plants are the existing supply: their heat is extraction, not waste heat
    assert src["role"].tolist() == ["chp_extraction", "waste_heat", "chp_extraction"]
    cop = h.heat_pump_cop
    assert src["recoverable_mw"].tolist() == pytest.approx([10.0, 15.0, 2.0])
    assert src["capacity_mw"].tolist() == pytest.approx([10.0, 15.0 * cop / (cop - 1), 2.0])


def test_heat_sources_bad_columns(scenario):
    with pytest.raises(InputError, match="column 'kind' is missing"):
        heat_sources(plants([("A", "chp", 1.0)]).drop(columns="kind"), scenario.heat)
    bad = plants([("A", "chp", 1.0)])
    bad["output_mw"] = ["lots"]
    with pytest.raises(InputError, match="'output_mw' must be a number"):
        heat_sources(bad, scenario.heat)


def cells(layout: list[tuple[int, int, str, bool, float]]) -> gpd.GeoDataFrame:
    """500 m cells at (col, row) with district, urban flag and peak MW."""
    return gpd.GeoDataFrame({
        "cell_id": [r * 100 + c for c, r, *_ in layout],
        "district": [d for _, _, d, _, _ in layout], "urban": [u for *_, u, _ in layout],
        "heat_peak_mw": [m for *_, m in layout],
        "heat_annual_gj": [m * 6480.0 for *_, m in layout]},
        geometry=[shapely.box(c * 500, r * 500, c * 500 + 500, r * 500 + 500)
                  for c, r, *_ in layout], crs=CRS)


def test_heat_zones_join_touching_urban_cells_per_district():
    layout = [(0, 0, "A", True, 6.0), (1, 1, "A", True, 6.0),   # touch at a corner
              (2, 1, "B", True, 20.0),                             # touches A, other district
              (5, 5, "A", True, 4.0),                              # alone, too small
              (0, 1, "A", False, 50.0)]                            # rural
    z = heat_zones(cells(layout), min_peak_mw=5.0, chp_share=0.9)
    assert z["id"].tolist() == ["hz:B:102", "hz:A:0"]
    assert z["demand_mw"].tolist() == pytest.approx([20.0, 12.0])
    assert z["chp_mw"].tolist() == pytest.approx([18.0, 10.8])
    assert z["cells"].tolist() == [1, 2]
    assert z.geometry.area.tolist() == pytest.approx([250_000.0, 500_000.0])


def test_heat_zones_errors():
    with pytest.raises(CRSError, match="projected metric CRS"):
        heat_zones(cells([(0, 0, "A", True, 1.0)]).to_crs("EPSG:4326"), min_peak_mw=0.0)
    with pytest.raises(InputError, match="column 'urban' is missing"):
        heat_zones(cells([(0, 0, "A", True, 1.0)]).drop(columns="urban"), min_peak_mw=0.0)
    empty = heat_zones(cells([(0, 0, "A", False, 1.0)]), min_peak_mw=0.0)
    assert empty.empty and "demand_mw" in empty.columns


def test_user_heat_zones_layer_replaces_the_cells(zibo, scenario):
    region, demand = zibo
    centre = region.layers["district_centres"].geometry.iloc[1]   # Zhangdian
    user = gpd.GeoDataFrame({"id": ["net:zd"], "heat_peak_mw": [300.0],
                             "heat_annual_gj": [300.0 * 6480], "chp_mw": [250.0]},
                            geometry=[centre.buffer(3000)], crs=region.crs)
    region2 = replace(region, layers={**region.layers, "heat_zones": user})
    # the default scenario's required link names districts this layer does not have
    with pytest.raises(InputError, match="zones_in 'Zhangdian' is no heating zone id"):
        plan_heat(region2, demand, scenario)
    out = plan_heat(region2, demand, scenario.replace(**{"heat.required_links": []}))
    sinks = out.layers["heat_sinks"]
    assert sinks["id"].tolist() == ["net:zd"]
    assert 0 < sinks["waste_heat_mw"].iloc[0] <= 300.0
    assert sinks["unmet_mw"].iloc[0] == pytest.approx(
        max(0.0, 50.0 - sinks["waste_heat_mw"].iloc[0]))
    assert any("heat_zones" in n for n in out.notes)


def test_economics_from_the_scenario(scenario):
    h = scenario.heat
    e = HeatEconomics.from_settings(h)
    assert e.gj_per_mw_yr == pytest.approx(h.full_load_hours * 3.6)
    assert e.value_cny_per_mw_yr == pytest.approx(h.displaced_heat_cny_per_gj
                                                  * h.full_load_hours * 3.6)
    assert e.heat_pump_cny_per_mw_yr == pytest.approx(h.full_load_hours * 1000
                                                      / h.heat_pump_cop
                                                      * h.electricity_cny_per_kwh)
    assert pd.notna(e.annuity) and 0 < e.annuity < 1


def test_pipe_kinds_on_a_line_through_one_zone_to_another():
    from siting.heat.outputs import _link_kinds
    from siting.heat.problem import HeatNetworkProblem

    cat = PipeCatalogue(dn=np.array([100]), max_mw=np.array([20.0]),
                        cost_cny_per_m=np.array([10.0]), loss_mw_per_m=np.array([0.0]))
    # source 0 - zone A (gate 1, 3 MW) - zone B (gate 2, 5 MW): the second pipe carries
    # heat on from A's network to B's
    pb = HeatNetworkProblem.from_arrays(
        n_nodes=3, link_u=[0, 1], link_v=[1, 2], link_length_m=[100.0, 100.0], catalogue=cat,
        annuity=0.1, source_node=[0], source_mw=[10.0], gate_node=[1, 2], gate_sink=[0, 1],
        sink_demand_mw=[3.0, 5.0], sink_value_cny_per_mw_yr=100_000.0)
    sol = solve_heat(pb, "highs")
    assert sol.delivered_mw.tolist() == pytest.approx([3.0, 5.0])
    assert _link_kinds(pb, sol) == {0: "source_link", 1: "interconnection"}
