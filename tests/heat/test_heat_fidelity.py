"""Heat that the city would count (issue 11), on hand-checked cases.

- CHP plants are the existing supply: their heat is CHP extraction, with its fuel
  cost and CO2, never free waste heat;
- pipe losses run the whole heating season (``heat.season_hours``), deliveries the
  full-load hours;
- interconnections between zone networks: trunk candidates, a required link built
  (and classified ``interconnection``), or stopped with the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from siting.errors import ConfigError, InfeasibleError, InputError
from siting.heat import plan_heat
from siting.heat.check import check_heat_solution
from siting.heat.graph import pipe_edges, reduce_network
from siting.heat.inputs import HeatEconomics, heat_sources, prepare_heat, source_cost_cny_per_mw_yr
from siting.heat.outputs import _link_kinds, heat_energy
from siting.heat.problem import HeatNetworkProblem, PipeCatalogue, RequiredFlow
from siting.heat.solve import solve_heat
from siting.models.base import SolverOptions, Status

CRS = "EPSG:32650"
EXACT = SolverOptions("highs", mip_gap=0.0)


def cat2(loss: float = 0.0) -> PipeCatalogue:
    """DN100 holds 5 MW at 100 CNY/m, DN200 20 MW at 150 CNY/m."""
    return PipeCatalogue(dn=np.array([100, 200]), max_mw=np.array([5.0, 20.0]),
                         cost_cny_per_m=np.array([100.0, 150.0]),
                         loss_mw_per_m=np.array([loss, loss]))


def solve(pb: HeatNetworkProblem):
    sol = solve_heat(pb, EXACT)
    assert check_heat_solution(pb, sol) == []
    return sol


@pytest.fixture(scope="module")
def demo(zibo, scenario):
    """The default scenario's heat plan on the coarse demo roads."""
    return plan_heat(*zibo, scenario)


# ------------------------------------------------------------- CHP is no waste heat


def test_chp_extraction_costs_fuel_and_earns_no_coal_credit(scenario):
    h = scenario.heat
    plants = gpd.GeoDataFrame({"name": ["CHP", "Cooler", "Smelter"],
                               "kind": ["chp", "petrochemical", "aluminium"],
                               "output_mw": [100.0, 100.0, 100.0]},
                              geometry=[shapely.Point(i, 0) for i in range(3)], crs=CRS)
    src = heat_sources(plants, h)
    assert src["role"].tolist() == ["chp_extraction", "waste_heat", "waste_heat"]
    e = HeatEconomics.from_settings(h)
    # 45 CNY/GJ x 1800 h x 3.6 GJ/MWh: CHP extraction costs exactly what it displaces
    assert e.chp_cny_per_mw_yr == pytest.approx(45.0 * 1800 * 3.6) == e.value_cny_per_mw_yr
    cost = source_cost_cny_per_mw_yr(src, e)
    assert cost.tolist() == pytest.approx([291_600.0, 1800 * 1000 / 4.5 * 0.65, 0.0])
    # ... so, with pumping on top, it can never pay: the planner gives it no routes
    from siting.heat.inputs import _never_pays

    assert _never_pays(src, e, [], set()).tolist() == [True, False, False]
    assert _never_pays(src, e, [("req", np.array([0]), [0])], set()).tolist() == \
        [False, False, False]


def test_net_co2_counts_chp_fuel_heat_pumps_and_season_losses(scenario):
    """3 MW free waste heat, 4 MW CHP extraction, 3 MW cooling water (COP 4.5);
    9.5 MW delivered, 0.5 MW lost."""
    h = scenario.replace(**{
        "heat.full_load_hours": 1800.0, "heat.season_hours": 2880.0,
        "heat.co2_displaced_t_per_gj": 0.11, "heat.chp_extraction_co2_t_per_gj": 0.11,
        "heat.co2_grid_t_per_mwh": 0.5703, "heat.pumping_share": 0.01}).heat
    inst = SimpleNamespace(sources=pd.DataFrame({
        "role": ["waste_heat", "chp_extraction", "waste_heat"],
        "grade": ["high", "high", "low"], "cop": [np.nan, np.nan, 4.5]}))
    got = heat_energy(inst, np.array([3.0, 4.0, 3.0]), 9.5, 0.5, h)
    # delivered 9.5 MW x 1800 h x 3.6 = 61,560 GJ; lost 0.5 MW x 2880 h x 3.6 = 5,184 GJ
    assert got["delivered_gj"] == pytest.approx(61_560.0)
    assert got["loss_gj"] == pytest.approx(5_184.0)
    # each source makes its peak share of the 66,744 GJ: the CHP 40 %, the coolers 30 %
    assert got["co2_displaced_t"] == pytest.approx(61_560 * 0.11)               # 6,771.6
    assert got["co2_chp_fuel_t"] == pytest.approx(0.4 * 66_744 * 0.11)         # 2,936.736
    hp_mwh = 0.3 * 66_744 / 3.6 / 4.5                                           # 1,236
    pump_mwh = 0.01 * 9.5 * 1800                                                # 171
    assert got["co2_grid_t"] == pytest.approx((hp_mwh + pump_mwh) * 0.5703)    # 802.4121
    assert got["co2_avoided_t"] == pytest.approx(6_771.6 - 2_936.736 - 802.4121)
    # counted as free waste heat, the CHP's 4 MW would have "avoided" 2,936.7 t more
    free = heat_energy(SimpleNamespace(sources=inst.sources.assign(role="waste_heat")),
                       np.array([3.0, 4.0, 3.0]), 9.5, 0.5, h)
    assert free["co2_avoided_t"] - got["co2_avoided_t"] == pytest.approx(2_936.736)


def test_demo_pipes_no_chp_heat_and_reports_it_apart(demo, zibo, scenario):
    region, demand = zibo
    out = demo
    k, sources = out.kpis, out.layers["heat_sources"]
    chp = sources["role"] == "chp_extraction"
    assert chp.any() and (sources.loc[chp, "used_mw"] == 0).all()
    assert k["chp_extraction_mw"] == 0 and k["co2_chp_fuel_t"] == 0
    assert k["waste_heat_mw"] == pytest.approx(k["heat_supplied_mw"], abs=1e-3)
    assert any("get no pipe routes" in n for n in out.notes)
    # offered for free (the old model), CHP heat is piped and its fuel shows in the CO2
    # (without the required link, which this is not about: a smaller model)
    cheap = scenario.replace(**{"heat.chp_extraction_cny_per_gj": 0.0,
                                "heat.required_links": []})
    cheap_out = plan_heat(region, demand, cheap)
    c = cheap_out.kpis
    assert c["chp_extraction_mw"] > 0 and c["co2_chp_fuel_t"] > 0
    assert c["co2_avoided_t"] == pytest.approx(
        c["co2_displaced_t"] - c["co2_chp_fuel_t"] - c["co2_grid_t"], abs=0.5)
    sinks = cheap_out.layers["heat_sinks"]
    assert sinks["chp_extraction_mw"].sum() > 0
    assert (sinks["waste_heat_mw"] + sinks["chp_extraction_mw"]).sum() == pytest.approx(
        c["heat_delivered_mw"], abs=1e-3)


# ------------------------------------------------------------- season losses


def test_season_losses_are_charged_beyond_the_full_load_hours(scenario):
    e = HeatEconomics.from_settings(scenario.heat)
    # 45 CNY/GJ x 3.6 GJ/MWh x (2880 - 1800) h
    assert e.loss_cny_per_mw_yr == pytest.approx(174_960.0)
    # source 0 - 1 - zone 2, two 1 km links losing 0.1 MW each; 6 MW wanted, DN200
    kw = dict(n_nodes=3, link_u=[0, 1], link_v=[1, 2], link_length_m=[1000.0, 1000.0],
              catalogue=cat2(1e-4), annuity=0.1, source_node=[0], source_mw=[10.0],
              gate_node=[2], gate_sink=[0], sink_demand_mw=[6.0],
              sink_value_cny_per_mw_yr=100_000.0)
    sol = solve(HeatNetworkProblem.from_arrays(**kw, loss_cny_per_mw_yr=174_960.0))
    assert sol.dn_index.tolist() == [1, 1]
    assert sol.supply_mw.tolist() == pytest.approx([6.2])
    assert sol.costs["loss_cost_cny"] == pytest.approx(0.2 * 174_960.0)   # 34,992
    assert sol.result.objective == pytest.approx(0.1 * 300_000 + 34_992.0 - 600_000)
    # without the season term the same network costs 34,992 CNY/yr less
    plain = solve(HeatNetworkProblem.from_arrays(**kw))
    assert sol.result.objective - plain.result.objective == pytest.approx(34_992.0)
    # enough season loss makes the pipe not worth it: nothing is built
    dear = solve(HeatNetworkProblem.from_arrays(**kw, loss_cny_per_mw_yr=3e6))
    assert (dear.dn_index == -1).all() and dear.result.objective == pytest.approx(0.0)


def test_season_loss_energy_in_the_kpis(demo):
    k = demo.kpis
    assert k["season_hours"] == 2880.0
    # loss_mw is rounded to 1 kW in the KPIs: 0.0005 MW x 10,368 h-GJ/MW
    assert k["loss_gj"] == pytest.approx(k["loss_mw"] * 2880 * 3.6, abs=6.0)
    assert k["loss_share"] == pytest.approx(
        k["loss_gj"] / (k["heat_delivered_gj"] + k["loss_gj"]), abs=1e-4)
    assert k["loss_cost_cny"] == pytest.approx(k["loss_mw"] * 174_960.0, rel=1e-2)


def test_season_shorter_than_the_full_load_hours_is_refused(scenario):
    with pytest.raises(ConfigError, match=r"season_hours \(1000\) must be at least "
                                          r"full_load_hours \(1800\)"):
        scenario.replace(**{"heat.season_hours": 1000.0})


# ------------------------------------------------------------- interconnection


def chain(**kw: object) -> HeatNetworkProblem:
    """Source 0 - gate 1 of zone A; node 2 is A's out-gate (and gate); trunk 2 - 3 to
    zone B's gate. A and B need 10 MW each, all of it covered by CHP today (so waste
    heat only displaces it, at 100k per MW-year)."""
    args = dict(n_nodes=4, link_u=[0, 2], link_v=[1, 3], link_length_m=[1000.0, 1000.0],
                catalogue=cat2(), annuity=0.1, source_node=[0], source_mw=[10.0],
                gate_node=[1, 2, 3], gate_sink=[0, 0, 1], outgate_node=[2],
                outgate_sink=[0], sink_demand_mw=[10.0, 10.0], sink_chp_mw=[10.0, 10.0],
                sink_value_cny_per_mw_yr=100_000.0)
    args.update(kw)
    return HeatNetworkProblem.from_arrays(**args)


def test_a_required_interconnection_is_built_through_a_zone_network():
    # left alone, A takes all 10 MW: DN200 on 0-1, 15k/yr, 1M/yr of CHP heat displaced
    free = solve(chain())
    assert free.dn_index.tolist() == [1, -1]
    assert free.result.objective == pytest.approx(15_000 - 1_000_000)
    # required: the source's heat into A's network, on through it to B, 3 MW each
    req = RequiredFlow.of("S to A to B", [0], [[0], [1]], 3.0)
    pb = chain(required=[req])
    assert pb.required[0].min_mw == (3.0, 3.0)
    sol = solve(pb)
    assert sol.dn_index.tolist() == [1, 0]          # the trunk: DN100 (5 MW) holds 3 MW
    assert sol.delivered_mw[1] >= 3.0 - 1e-6 and sol.delivered_mw[0] >= 3.0 - 1e-6
    assert sol.gate_out_mw.tolist() == pytest.approx([sol.delivered_mw[1]])
    assert sol.result.objective == pytest.approx(15_000 + 10_000 - 1_000_000)
    # the trunk carries heat on from A's network to B's: an interconnection
    assert _link_kinds(pb, sol) == {0: "source_link", 1: "interconnection"}


def test_the_checker_catches_a_missing_interconnection():
    pb = chain(required=[RequiredFlow.of("S to A to B", [0], [[0], [1]], 3.0)])
    sol = solve(pb)
    # B fed straight from the gate at node 2 instead of through A's network: flows
    # balance, but the heat no longer passes through A
    cut = dataclasses.replace(sol, gate_out_mw=np.zeros(1), gate_mw=np.array(
        [sol.gate_mw[0] - sol.gate_out_mw[0], 0.0, sol.gate_mw[2]]),
        inflow_mw=np.array([sol.inflow_mw[0] - sol.gate_out_mw[0], sol.inflow_mw[1]]),
        outflow_mw=np.array([sol.outflow_mw[0] - sol.gate_out_mw[0], sol.outflow_mw[1]]),
        supply_mw=sol.supply_mw - sol.gate_out_mw[0])
    found = check_heat_solution(pb, cut, objective_rtol=1.0)
    assert any("required interconnection 'S to A to B': stage 2" in f for f in found), found


def test_required_interconnection_that_cannot_be_built_is_named_before_solving():
    req = RequiredFlow.of("S to A to B", [0], [[0], [1]], 3.0)
    with pytest.raises(InfeasibleError, match="'S to A to B': no allowed pipe route joins "
                                              "stage 1") as info:
        solve_heat(chain(required=[req], forbidden=[1]), "highs")   # the trunk: red line
    assert info.value.constraint == "required interconnection S to A to B"
    with pytest.raises(InfeasibleError, match=r"needs 12\.00 MW but its sources hold only "
                                              r"10\.00 MW") as info:
        solve_heat(chain(required=[RequiredFlow.of("big", [0], [[0], [1]], 6.0)]), "highs")
    assert info.value.shortfall == pytest.approx(2.0)
    with pytest.raises(InfeasibleError, match="has no trunk to pass heat on"):
        solve_heat(chain(required=[req], outgate_node=[], outgate_sink=[]), "highs")
    # pre-checks pass, but DN100 (5 MW) is the largest pipe and 6 MW must reach A
    small = PipeCatalogue(dn=np.array([100]), max_mw=np.array([5.0]),
                          cost_cny_per_m=np.array([100.0]), loss_mw_per_m=np.array([0.0]))
    sol = solve_heat(chain(catalogue=small, required=[RequiredFlow.of("x", [0], [[0], [1]],
                                                                      3.0)]), "highs")
    assert sol.result.status is Status.INFEASIBLE


def test_trunk_candidates_join_neighbouring_zones():
    import networkx as nx

    # source 0 - 1 (zone A's gate) - 2 - 3 - 4 (zone B's gate), 100 m each
    g = nx.MultiDiGraph(crs=CRS)
    for i in range(5):
        g.add_node(i, x=i * 100.0, y=0.0)
    for i in range(4):
        g.add_edge(i, i + 1, length=100.0)
    e = pipe_edges(g)
    pos = {n: i for i, n in enumerate(e.node_ids.tolist())}
    kw = dict(source_pos=np.array([pos[0]]), gate_pos=np.array([pos[1], pos[4]]),
              gate_zone=np.array([0, 1]), n_zones=2, max_link_m=150.0, detour=0.0)
    red = reduce_network(e, trunk_max_m=500.0, **kw)
    assert red.trunks == ((0, 1, 300.0),)
    assert sorted(zip(e.node_ids[red.outgate_pos].tolist(), red.outgate_zone.tolist(),
                      strict=True)) == [(1, 0), (4, 1)]
    # the source reaches A only (max_link_m), but its heat may ride A's trunk on to B
    trunk_links = [k for k in range(red.n_links) if red.link_length_m[k] == 300.0]
    assert red.link_cover[trunk_links, 0].all()
    assert reduce_network(e, trunk_max_m=200.0, **kw).trunks == ()
    # a required trunk is a candidate at any distance, or reported when nothing joins
    assert reduce_network(e, required_trunks=[(0, 1, [0])], **kw).trunks == ((0, 1, 300.0),)
    cut = np.ones(e.n_edges, bool)
    cut[e.ids.tolist().index("hp:2-3")] = False
    assert reduce_network(e, allowed=cut, required_trunks=[(0, 1, [0])],
                          **kw).unreachable == (("trunk", 0, 1),)


def test_demo_builds_the_qilu_first_phase(demo):
    out = demo
    k, pipes = out.kpis, out.layers["heat_pipes"]
    assert k["status"] == "optimal_on_candidate_routes" and k["mip_gap"] <= 0.01
    assert k["interconnection_km"] > 0 and k["required_links_built"] == 1
    assert (pipes["kind"] == "interconnection").any()
    sinks = out.layers["heat_sinks"].set_index("id")
    zhangdian = sinks[sinks["district"] == "Zhangdian"]["demand_mw"].idxmax()
    zhoucun = sinks[sinks["district"] == "Zhoucun"]["demand_mw"].idxmax()
    qilu = "hs:qilu-petrochemical-ethylene-plant-power-station"
    for zone in (zhangdian, zhoucun):
        assert sinks.loc[zone, "waste_heat_mw"] >= 4.0 - 1e-6
        assert qilu in sinks.loc[zone, "sources"].split(",")
    assert sinks.loc[zhangdian, "passed_on_mw"] >= 4.0 - 1e-6


def test_demo_link_cut_by_the_red_line_is_named(zibo, scenario):
    region, demand = zibo
    inst = prepare_heat(region, demand, scenario)
    zones = inst.zones[inst.zones["district"] == "Zhoucun"]
    main = zones.geometry.iloc[int(np.argmax(zones["demand_mw"]))]
    ring = main.buffer(2500).difference(main.buffer(500))
    red = gpd.GeoDataFrame({"name": ["ring"]}, geometry=[ring], crs=region.crs)
    if "red_line" in region.layers:
        red = pd.concat([region.layers["red_line"].to_crs(region.crs), red],
                        ignore_index=True)
    walled = replace(region, layers={**region.layers, "red_line": red})
    with pytest.raises(InfeasibleError, match=r"'Qilu cooling water to Zhangdian and Zhoucun "
                                              r"\(first phase\)' cannot be built: no trunk "
                                              r"route joins zones .*red line"):
        plan_heat(walled, demand, scenario)


def test_required_link_input_errors(zibo, scenario):
    region, demand = zibo
    link = {"name": "nowhere", "source": "Moon Base", "zones_in": ["Zhangdian"],
            "min_mw": 1.0}
    with pytest.raises(InputError, match="'nowhere': no plant of layer 'heat_sources' has "
                                         "'Moon Base' in its name"):
        prepare_heat(region, demand, scenario.replace(**{"heat.required_links": [link]}))
    link = {**link, "source": "Qilu", "zones_in": ["Atlantis"]}
    with pytest.raises(InputError, match="zones_in 'Atlantis' is no heating zone id"):
        prepare_heat(region, demand, scenario.replace(**{"heat.required_links": [link]}))
    with pytest.raises(ConfigError, match="required_links: names must be unique"):
        scenario.replace(**{"heat.required_links": [link, link]})


def test_strong_bound_and_route_cover_carry_heat_through_zone_networks():
    """With a route cover (HiGHS), the commodity model passes each source's heat through
    a zone network to its out-gates: the strong bound holds and the network keeps to
    its sources' routes."""
    from siting.models.highs import safe_lp_bound

    req = RequiredFlow.of("S to A to B", [0], [[0], [1]], 3.0)
    pb = chain(required=[req], link_cover=np.ones((2, 1), bool), link_tier=[0, 1])
    bound = safe_lp_bound(pb.build_model(commodities=True), EXACT, time_limit_s=None)
    assert bound is not None   # in the model's kCNY; tight on this toy
    assert bound / pb.cost_scale == pytest.approx(15_000 + 10_000 - 1_000_000, abs=1.0)
    sol = solve(pb)
    stages = [s["stage"] for s in sol.result.model["stages"]]
    assert "strong bound" in stages
    assert sol.dn_index.tolist() == [1, 0]
    assert sol.result.objective == pytest.approx(15_000 + 10_000 - 1_000_000)
    assert sol.result.status is Status.OPTIMAL


def test_demo_link_beyond_the_pipes_is_named_after_solving(zibo, scenario):
    """9 MW must leave the plant (4.5 MW to each zone) but its one connection pipe can
    be at most DN200 (8 MW): the pre-checks pass, the solver proves it impossible."""
    region, demand = zibo
    link = {**scenario.heat.required_links[0].model_dump(), "min_mw": 4.5}
    small = scenario.replace(**{"heat.required_links": [link],
                                "heat.pipes": [scenario.heat.pipes[0].model_dump()]})
    with pytest.raises(InfeasibleError, match=r"no network carries the required "
                                              r"interconnection\(s\) 'Qilu cooling water"):
        plan_heat(region, demand, small)
