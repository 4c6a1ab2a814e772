"""Plan fidelity of the charger model: peak-hour Erlang-C, the reach rule, residential
reservation, the NEV target checked before solving."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from _charger_toys import FAST, PROOF, SERVICE, SLOW
from shapely.geometry import Point
from test_chargers_model import toy

from siting.chargers.check import check_charger_solution
from siting.chargers.inputs import (
    ChargerParams,
    _check_nev_target,
    _check_reserve,
    _reserve,
    peak_scale,
)
from siting.chargers.problem import ChargerProblem
from siting.chargers.queueing import capacity_table, wait_exceed_probability
from siting.chargers.solve import solve_chargers
from siting.config import load_scenario
from siting.errors import InfeasibleError
from siting.models.base import SolverOptions


def test_peak_scale_is_one_over_peak_share_times_hours() -> None:
    # a residential AC queue whose busiest hour takes 1/8 of the day, 16 operating hours:
    # sized for 2x the even rate, so it serves half the sessions a day
    scale = peak_scale(["residential_community", "mall"], 2, operating_hours=16.0,
                       peak_share={"residential": 0.125, "public": 1 / 16, "fast": 0.25})
    assert scale.tolist() == [[0.5, 1.0], [0.25, 0.25]]
    assert peak_scale(None, 3, peak_share=None, operating_hours=16).tolist() == [[1.0] * 3] * 2


def test_peak_hour_capacity_is_the_erlang_c_rule_in_the_busiest_hour() -> None:
    """A site sized for its peak hour: σ T(n) sessions/day put exactly the service level's
    arrival rate into the busiest hour (P(wait > 10 min) = 0.2 at the table's edge)."""
    pb = toy(peak_scale=[0.5, 1.0])
    cap = pb.site_capacity(1, np.array([4, 4]))
    assert cap[0] == pytest.approx(0.5 * FAST.table[4]) and cap[1] == FAST.table[4]
    peak_share = 1 / (0.5 * 16)  # the site's busiest-hour share of daily sessions
    p = wait_exceed_probability(np.array([4]), np.array([cap[0] * peak_share]),
                                session_minutes=40, wait_minutes=10)
    assert p[0] == pytest.approx(0.2, abs=1e-6)
    # the same table with operating_hours = 1 counts sessions per busiest hour
    hourly = capacity_table(6, session_minutes=40, max_wait_minutes=10, wait_probability=0.2,
                            operating_hours=1.0)
    assert cap[0] == pytest.approx(hourly[4] / peak_share, rel=1e-6)


def test_a_peak_scaled_site_needs_more_piles_and_the_checker_holds_it_to_that() -> None:
    even = solve_chargers(toy(), PROOF)
    peaked = solve_chargers(toy(peak_scale=[[0.3, 1.0], [0.3, 1.0]], piles=[8]), PROOF)
    assert check_charger_solution(toy(peak_scale=[[0.3, 1.0], [0.3, 1.0]], piles=[8]), peaked,
                                  service=SERVICE).ok
    # the same plan against the even-arrivals problem passes; the even plan fails the peak
    assert check_charger_solution(toy(), even, service=SERVICE).ok
    strict = toy(peak_scale=[[0.05, 1.0], [0.05, 1.0]])
    report = check_charger_solution(strict, even, service=SERVICE)
    assert not report.ok and any("P(wait" in v for v in report.violations)


def test_reach_all_opens_a_station_for_every_reachable_client() -> None:
    """Town B has 0.01 sessions/day: not worth a station on cost, but the reach rule (the
    plan's NEV target) opens one; the checker flags a plan that leaves B out."""
    free = toy(demand=[[4.0, 0.01]], piles=[1], unmet_cost=1.0)
    sol = solve_chargers(free, PROOF)
    assert sol.open[0].tolist() == [True, False]
    ruled = toy(demand=[[4.0, 0.01]], piles=[2], unmet_cost=1.0, reach_all=True)
    assert ruled.reach_clients().tolist() == [0, 1]
    sol2 = solve_chargers(ruled, PROOF)
    assert sol2.open[0].tolist() == [True, True]
    assert check_charger_solution(ruled, sol2, service=SERVICE).ok
    bad = solve_chargers(toy(demand=[[4.0, 0.01]], piles=[2], unmet_cost=1.0,
                             station_cost=[1000.0, 1e9]), PROOF)
    report = check_charger_solution(ruled, bad, service=SERVICE)
    assert any("no open station within reach" in v for v in report.violations)
    # a client whose only site is forbidden is exempt
    assert toy(reach_all=True, forbidden=[1]).reach_clients().tolist() == [0]


def _sites(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "id": [f"s{i}" for i in range(n)], "max_piles": [10] * n, "existing_piles": [0] * n,
        "slow_ok": [True] * n, "fast_ok": [False] + [True] * (n - 1),
        "new_residential": [True, True, False][:n]},
        geometry=[Point(100 * i, 0) for i in range(n)], crs="EPSG:32650")


def test_residential_reservation_holds_each_communitys_full_room() -> None:
    """Hand check: two new communities on substation 0 (AC-only 10 x 7 kW = 70 kW; AC+DC
    10 x 60 kW = 600 kW), a load of 50 kW at the same substation, half the communities
    reserved -> the first by id only."""
    params = ChargerParams.from_settings(load_scenario().chargers)
    subs = gpd.GeoDataFrame({"headroom_mw": [1.0], "headroom_mw_2030": [2.0]},
                            geometry=[Point(0, 0)], crs="EPSG:32650")
    sites = _sites(3)
    load = gpd.GeoDataFrame({"kw": [50.0]}, geometry=[Point(0, 10)], crs="EPSG:32650")
    full, held = _reserve(sites, np.zeros(3, np.int64), subs, params, load)
    assert full.tolist() == [True, True, False]
    assert held.tolist() == [[720.0], [720.0]]  # 70 + 600 + 50 kW, both stages
    half = ChargerParams.from_settings(load_scenario().chargers.model_copy(
        update={"residential_reserved_share": 0.5}))
    some, held = _reserve(sites, np.zeros(3, np.int64), subs, half, None)
    assert some.tolist() == [True, False, False] and held[0, 0] == 70.0


def test_a_reservation_beyond_headroom_names_the_substation_and_the_shortfall() -> None:
    subs = gpd.GeoDataFrame({"name_zh": ["东风站"]}, geometry=[Point(0, 0)], crs="EPSG:32650")
    held = np.array([[1500.0]])
    with pytest.raises(InfeasibleError, match=r"东风站: 1.50 MW held back .* headroom 1.00 MW"
                       ) as err:
        _check_reserve(np.array([[1000.0]]) - held, subs, held)
    assert err.value.shortfall == pytest.approx(500.0)


def test_an_unreachable_nev_target_fails_before_solving_with_the_shortfall() -> None:
    c = load_scenario().chargers
    pb = toy(demand=[[1e6, 1e6]], piles=[4])
    with pytest.raises(InfeasibleError, match=r"chargers.nev_2025 .* short [\d,]+ NEVs") as err:
        _check_nev_target(pb, c)
    best = max(FAST.table[6], SLOW.table[6]) / 6 * 4  # 4 piles at the best per-pile rate
    assert err.value.shortfall == pytest.approx((2e6 - best) / c.sessions_per_nev_day)
    _check_nev_target(toy(), c)  # 6 sessions a day: fine


def test_a_region_without_depots_or_hubs_uses_its_largest_candidates() -> None:
    """OSM often tags no bus depot: the largest candidate of each district stands in."""
    from types import SimpleNamespace

    from shapely.geometry import box

    from siting.chargers.inputs import fleet_plan

    scenario = load_scenario().replace(**{"fleet.buses": 10, "fleet.taxis": 10})
    districts = gpd.GeoDataFrame({"name": ["A", "B"], "population": [100, 100]},
                                 geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
                                 crs="EPSG:32650")
    sites = gpd.GeoDataFrame({
        "id": ["a1", "a2", "b1"], "site_type": ["mall", "public_parking", "fuel_station"],
        "district": ["A", "A", "B"], "name": None, "max_piles": [40, 60, 12],
        "existing_piles": [0, 0, 0]},
        geometry=[Point(100, 100), Point(200, 200), Point(1500, 500)], crs="EPSG:32650")
    plan = fleet_plan(SimpleNamespace(districts=districts, crs="EPSG:32650"), sites, scenario)
    assert plan is not None
    built = plan.sites[plan.sites["piles"] > 0]
    assert set(built.geometry.x) <= {200.0, 1500.0}  # a2 (60 piles) in A, b1 in B
    assert any("largest candidate of each district" in n for n in plan.notes)
    assert plan.kpis()["bus_charged_share"] == 1.0


def test_reach_against_a_full_substation_is_named_before_solving() -> None:
    """Client 0 reaches only site 0, on substation 0 with 5 kW left: less than one slow
    pile (7 kW). With the reach rule no plan exists; without it the client is unmet."""
    from siting.chargers.diagnose import diagnose_reach

    base = dict(n_clients=2, n_sites=2, demand=[[1.0, 1.0]], piles=[2], slow=SLOW, fast=FAST,
                max_piles=[4, 4], fast_ok=[False, False], station_cost=[100.0, 100.0],
                unmet_cost=1e4, substation=[0, 1], headroom_kw=[5.0, 1e6])
    costs = (np.array([0, 1]), np.array([0, 1]), np.array([10.0, 10.0]))
    pb = ChargerProblem.from_costs(costs, reach_all=True, **base)  # type: ignore[arg-type]
    with pytest.raises(InfeasibleError, match=r"1 demand point\(s\) must have an open "
                                              r"station within reach .* substation 0 \(5.0 "
                                              r"kW left\)") as err:
        diagnose_reach(pb)
    assert err.value.constraint == "reach" and err.value.shortfall == 1
    with pytest.raises(InfeasibleError, match="substation 0"):
        solve_chargers(pb, SolverOptions(time_limit_s=30))
    relaxed = ChargerProblem.from_costs(costs, reach_all=False, **base)  # type: ignore[arg-type]
    diagnose_reach(relaxed)  # nothing to say
    assert solve_chargers(relaxed, SolverOptions(time_limit_s=30)).result.status.has_solution
