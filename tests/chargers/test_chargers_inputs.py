"""``siting.chargers.inputs.from_geodataframes``: the GeoDataFrame way in, no Region."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from _charger_toys import CRS, EXACT, FAST, SERVICE, SLOW
from shapely.geometry import Point

from siting.chargers.check import check_charger_solution
from siting.chargers.inputs import ChargerParams, from_geodataframes
from siting.chargers.problem import ChargerProblem
from siting.chargers.solve import solve_chargers
from siting.errors import CRSError, InputError
from siting.planners import ItemDecisions

PARAMS = ChargerParams(piles=(4,), slow=SLOW, fast=FAST, service=SERVICE, radius_m=3000.0,
                       station_cny_yr=1000.0, distance_cny_per_session_m_yr=0.01,
                       unmet_cny_per_session_yr=10_000.0)


def two_towns() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, nx.MultiDiGraph]:
    """Towns A (x = 0) and B (x = 5 km) on one road; a candidate site in each."""
    graph = nx.MultiDiGraph(crs=CRS)
    graph.add_node("a", x=0.0, y=0.0)
    graph.add_node("b", x=5000.0, y=0.0)
    graph.add_edge("a", "b", length=5000.0, travel_time=300.0)
    graph.add_edge("b", "a", length=5000.0, travel_time=300.0)
    demand = gpd.GeoDataFrame({"ev_sessions_day": [3.0, 1.0, 2.0], "district": ["D"] * 3},
                              geometry=[Point(20, 5), Point(-30, 0), Point(5010, 0)], crs=CRS)
    sites = gpd.GeoDataFrame({"id": ["A", "B"], "district": ["D", "D"], "max_piles": [6, 6],
                              "slow_ok": [True, True], "fast_ok": [True, False],
                              "existing_piles": [0, 0]},
                             geometry=[Point(10, 0), Point(4990, 0)], crs=CRS)
    return demand, sites, graph


def test_the_geodataframe_path_builds_the_array_problem():
    demand, sites, graph = two_towns()
    inputs = from_geodataframes(demand, sites, graph, params=PARAMS)
    pb = inputs.problem
    # cells on the same road node are one demand point: A has 3 + 1 sessions, B 2
    assert inputs.client_node.tolist() == ["a", "b"]
    assert pb.demand.tolist() == [[4.0, 2.0]]
    assert "node" not in sites and inputs.sites["node"].tolist() == ["a", "b"]  # snapped
    # each site reaches its own town only (5 km > the 3 km radius)
    assert sorted(zip(pb.costs.client.tolist(), pb.costs.site.tolist(), strict=True)) == [
        (0, 0), (1, 1)]
    by_hand = ChargerProblem.from_costs(
        (np.array([0, 1]), np.array([0, 1]), np.array([0.0, 0.0])), demand=[[4.0, 2.0]],
        piles=[4], slow=SLOW, fast=FAST, max_piles=[6, 6], fast_ok=[True, False],
        station_cost=1000.0, distance_cost=0.01, unmet_cost=10_000.0, n_clients=2, n_sites=2)
    a, b = solve_chargers(pb, EXACT), solve_chargers(by_hand, EXACT)
    assert a.result.objective == pytest.approx(b.result.objective)
    assert a.piles.tolist() == b.piles.tolist()
    assert check_charger_solution(pb, a, service=SERVICE).ok


def test_decisions_name_site_ids_unknown_rejections_note_unknown_approvals_fail():
    demand, sites, graph = two_towns()
    inputs = from_geodataframes(demand, sites, graph, params=PARAMS, decisions=ItemDecisions(
        rejected=frozenset({"B", "Z8"}), approved=frozenset({"A"})))
    assert inputs.problem.forbidden.tolist() == [1] and inputs.problem.locked.tolist() == [0]
    assert any("1 rejected stations name no current candidate" in n for n in inputs.notes)
    with pytest.raises(InputError, match=r"approved charging station\(s\) are not candidate "
                                         r"sites of this run \(first: \['Z9'\]\)"):
        from_geodataframes(demand, sites, graph, params=PARAMS,
                           decisions=ItemDecisions(approved=frozenset({"A", "Z9"})))


def test_bad_layers_are_named():
    demand, sites, graph = two_towns()
    with pytest.raises(InputError, match=r"candidate sites: columns \['max_piles'\] are "
                                         r"missing"):
        from_geodataframes(demand, sites.drop(columns="max_piles"), graph, params=PARAMS)
    with pytest.raises(InputError, match=r"(?s)layer 'demand_cells'.*column 'sessions' is missing"):
        from_geodataframes(demand, sites, graph, params=PARAMS, sessions_column="sessions")
    with pytest.raises(InputError, match="has no row with ev_sessions_day > 0"):
        from_geodataframes(demand.assign(ev_sessions_day=0.0), sites, graph, params=PARAMS)
    with pytest.raises(CRSError):
        from_geodataframes(demand.to_crs("EPSG:4326"), sites, graph, params=PARAMS)
    with pytest.raises(InputError, match=r"(?s)ChargerParams: 2 problems:.*stage_weight has 2 "
                                         r"values for 1 stage.*radius_m=0"):
        ChargerParams(piles=(4,), slow=SLOW, fast=FAST, service=SERVICE, radius_m=0,
                      station_cny_yr=0, distance_cny_per_session_m_yr=0,
                      unmet_cny_per_session_yr=1, stage_weight=(1.0, 0.5))
