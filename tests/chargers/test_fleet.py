"""Bus depots and taxi hubs: a two-district toy worked by hand, reconciliation, errors."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from siting.chargers.fleet import FLEET_SITE_COLUMNS, FleetPlan, hub_piles, plan_fleet
from siting.config import FleetSettings
from siting.errors import CRSError, InputError

CRS = "EPSG:32650"
MAX_WAIT_MIN, ALPHA, SESSION_MIN = 10.0, 0.2, 40.0


def _p_wait_over(c: int, lam_per_h: float) -> float:
    """P(Wq > W) for M/M/c from the textbook sum, independent of siting.chargers.queueing."""
    mu = 60.0 / SESSION_MIN
    a = lam_per_h / mu
    if a >= c:
        return 1.0
    # log-space terms a^k / k! (k < c) and the tail a^c / c! x c / (c - a)
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)] if a > 0 else [0.0]
    log_tail = (c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
                if a > 0 else -math.inf)
    m = max(*logs, log_tail)
    head = sum(math.exp(v - m) for v in logs)
    tail = math.exp(log_tail - m)
    return tail / (head + tail) * math.exp(-(c * mu - lam_per_h) * MAX_WAIT_MIN / 60.0)


@pytest.fixture(scope="module")
def chargers(scenario):
    return scenario.replace(**{"chargers.max_wait_minutes": MAX_WAIT_MIN,
                               "chargers.wait_probability": ALPHA,
                               "chargers.fast.session_minutes": SESSION_MIN}).chargers


@pytest.fixture()
def fleet() -> FleetSettings:
    return FleetSettings(bus_nev_share_2025=1.0, taxi_nev_share_2025=0.8, buses=101,
                         taxis=50, buses_per_depot_pile=3.0, depot_pile_kw=100.0,
                         taxi_sessions_per_day=2.0, taxi_peak_hour_share=0.1,
                         hub_pile_kw=60.0)


def _points(rows: list[tuple[str, float, float]], **extra) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"district": [d for d, _, _ in rows], **extra},
                            geometry=[Point(x, y) for _, x, y in rows], crs=CRS)


# district A (weight 3): two depots, one hub; district B (weight 1): one depot, two hubs
DEPOTS = [("A", 5000.0, 0.0), ("A", 1000.0, 0.0), ("B", 20000.0, 0.0)]
HUBS = [("B", 21000.0, 500.0), ("A", 2000.0, 0.0), ("B", 21000.0, 100.0)]
WEIGHTS = {"A": 3.0, "B": 1.0}


@pytest.fixture()
def plan(fleet, chargers) -> FleetPlan:
    return plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS), weights_by_district=WEIGHTS,
                      fleet=fleet, chargers=chargers)


def test_depot_piles_by_hand(plan):
    bus = plan.sites[plan.sites["fleet"] == "bus"]
    # 101 electric buses: A 75.75 -> 75 + the larger remainder -> 76, B 25; A's two depots
    # (x order: x=1000 then x=5000) 38 each; piles ceil(38/3) = 13, ceil(25/3) = 9
    assert bus["id"].tolist() == ["chg-fleet-bus-a-1", "chg-fleet-bus-a-2",
                                  "chg-fleet-bus-b-1"]
    assert [p.x for p in bus.geometry] == [1000.0, 5000.0, 20000.0]
    assert bus["vehicles"].tolist() == [38, 38, 25]
    assert bus["piles"].tolist() == [13, 13, 9]
    assert bus["capacity_vehicles"].tolist() == [39, 39, 27]
    assert bus["kw"].tolist() == [1300.0, 1300.0, 900.0]
    assert bus["sessions_day"].tolist() == [38.0, 38.0, 25.0]
    assert bus["peak_wait_probability"].isna().all()


def test_hub_piles_smallest_meeting_the_peak_hour_rule(plan):
    taxi = plan.sites[plan.sites["fleet"] == "taxi"]
    # 40 electric taxis: A 30, B 10 -> 5 + 5 (B's hubs in x, then y order)
    assert taxi["id"].tolist() == ["chg-fleet-taxi-a-1", "chg-fleet-taxi-b-1",
                                   "chg-fleet-taxi-b-2"]
    assert [p.y for p in taxi.geometry] == [0.0, 100.0, 500.0]
    assert taxi["vehicles"].tolist() == [30, 5, 5]
    assert taxi["sessions_day"].tolist() == [60.0, 10.0, 10.0]
    lam = taxi["peak_arrivals_per_h"].to_numpy()
    np.testing.assert_allclose(lam, [6.0, 1.0, 1.0])          # 10% of the day's sessions
    for c, rate in zip(taxi["piles"], lam, strict=True):
        assert _p_wait_over(int(c), rate) <= ALPHA                # c meets the level
        assert c == 0 or _p_wait_over(int(c) - 1, rate) > ALPHA   # c - 1 does not
    # by hand (a = 6 / 1.5 = 4 Erlangs): P(c=5) = 0.432 > 0.2 >= P(c=6) = 0.173;
    # a = 2/3: P(c=1) = 0.613 > 0.2 >= P(c=2) = 0.119
    assert taxi["piles"].tolist() == [6, 2, 2]
    assert _p_wait_over(6, 6.0) == pytest.approx(0.17272, abs=1e-5)
    np.testing.assert_allclose(taxi["peak_wait_probability"],
                               [_p_wait_over(6, 6.0), _p_wait_over(2, 1.0),
                                _p_wait_over(2, 1.0)])
    assert taxi["kw"].tolist() == [360.0, 120.0, 120.0]
    # the hub's daily capacity (hourly capacity / peak share) covers its sessions
    assert (taxi["capacity_sessions_day"] >= taxi["sessions_day"]).all()


def test_shares_reconcile_with_the_scenario(plan, fleet):
    k = plan.kpis()
    assert k["buses"] == 101 and k["buses_electric"] == 101 and k["buses_charged"] == 101
    assert k["bus_charged_share"] == pytest.approx(fleet.bus_nev_share_2025)
    assert k["taxis"] == 50 and k["taxis_electric"] == 40 and k["taxis_charged"] == 40
    assert k["taxi_charged_share"] == pytest.approx(fleet.taxi_nev_share_2025)
    assert k["bus_depot_capacity"] == 105
    assert k["bus_piles"] == 35 and k["taxi_piles"] == 10 and k["piles"] == 45
    assert k["kw_total_mw"] == pytest.approx((3500 + 600) / 1000)
    assert k["taxi_sessions_day"] == 80.0
    assert "bus_charged_share" in k["definition"]
    assert set(plan.sites.columns) == set(FLEET_SITE_COLUMNS)
    assert plan.sites["piles"].dtype == np.int64 and (plan.sites["piles"] >= 0).all()


def test_share_rounds_up_to_whole_vehicles(fleet, chargers):
    f = fleet.model_copy(update={"bus_nev_share_2025": 0.75, "taxi_nev_share_2025": 0.5})
    k = plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS), weights_by_district=WEIGHTS,
                   fleet=f, chargers=chargers).kpis()
    assert k["buses_charged"] == 76 == math.ceil(101 * 0.75)   # 75.75 -> 76
    assert k["bus_charged_share"] >= 0.75
    assert k["taxis_charged"] == 25 and k["taxi_charged_share"] == 0.5


def test_share_capped_at_what_the_piles_support(plan):
    cut = plan.sites.copy()
    cut.loc[cut["id"] == "chg-fleet-bus-b-1", "capacity_vehicles"] = 20   # 5 buses short
    k = FleetPlan(cut, plan.buses, plan.taxis, plan.buses_per_depot_pile,
                  plan.taxi_sessions_per_day).kpis()
    assert k["buses_charged"] == 96 and k["bus_charged_share"] == pytest.approx(96 / 101)


def test_ids_are_deterministic_whatever_the_input_order(plan, fleet, chargers):
    again = plan_fleet(depots=_points(DEPOTS[::-1]), hubs=_points([HUBS[1], HUBS[2], HUBS[0]]),
                       weights_by_district=dict(reversed(WEIGHTS.items())), fleet=fleet,
                       chargers=chargers)
    assert again.sites.drop(columns="geometry").equals(plan.sites.drop(columns="geometry"))
    assert again.sites.geometry.geom_equals(plan.sites.geometry).all()
    assert plan.sites["id"].is_unique


def test_names_from_the_layer_or_made_up(fleet, chargers):
    hubs = _points(HUBS, name=["Zibo", None, "  "])
    taxi = plan_fleet(depots=_points(DEPOTS), hubs=hubs, weights_by_district=WEIGHTS,
                      fleet=fleet, chargers=chargers).sites.query("fleet == 'taxi'")
    assert taxi["name"].tolist() == ["A taxi hub 1", "B taxi hub 1", "Zibo"]


def test_district_ids_are_slugs(fleet, chargers):
    depots = _points([("Zhou Cun", 0.0, 0.0)])
    out = plan_fleet(depots=depots, hubs=_points([("Zhou Cun", 0.0, 0.0)]),
                     weights_by_district={"Zhou Cun": 1.0}, fleet=fleet, chargers=chargers)
    assert out.sites["id"].tolist() == ["chg-fleet-bus-zhou-cun-1", "chg-fleet-taxi-zhou-cun-1"]


def test_district_without_a_depot_goes_to_the_nearest(fleet, chargers):
    weights = {**WEIGHTS, "C": 1.0}                # C (x 30-40 km) is nearest to B's depot
    with pytest.raises(InputError, match=r"layer 'bus_depots' has no bus depot in "
                                         r"district\(s\) C; add one there, or pass districts="):
        plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS), weights_by_district=weights,
                   fleet=fleet, chargers=chargers)
    districts = gpd.GeoDataFrame({"name": ["A", "B", "C"]},
                                 geometry=[box(0, -1e4, 1e4, 1e4), box(1e4, -1e4, 3e4, 1e4),
                                           box(3e4, -1e4, 4e4, 1e4)], crs=CRS)
    out = plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS), weights_by_district=weights,
                     fleet=fleet, chargers=chargers, districts=districts)
    bus = out.sites[out.sites["fleet"] == "bus"]
    # weights A 3, B 1 + 1: 101 x 3/5 = 60.6 -> 61 (30 + 31 -> 31, 30), B 40.4 -> 40
    assert bus["vehicles"].tolist() == [31, 30, 40]
    assert any("district C has no bus depot: its vehicles go to B's" in n for n in out.notes)
    assert out.kpis()["bus_charged_share"] == 1.0


def test_empty_layer_with_a_fleet_says_which_layer_to_add(fleet, chargers):
    empty = _points([])
    with pytest.raises(InputError, match=r"layer 'bus_depots' is empty but 101 electric buses "
                                         r"need charging; add bus depot points"):
        plan_fleet(depots=empty, hubs=_points(HUBS), weights_by_district=WEIGHTS, fleet=fleet,
                   chargers=chargers)
    with pytest.raises(InputError, match=r"layer 'taxi_hubs' is empty but 40 electric taxis"):
        plan_fleet(depots=_points(DEPOTS), hubs=empty, weights_by_district=WEIGHTS,
                   fleet=fleet, chargers=chargers)
    # no fleet, no layer: fine, no rows
    none = plan_fleet(depots=empty, hubs=empty, weights_by_district=WEIGHTS,
                      fleet=fleet.model_copy(update={"buses": 0, "taxis": 0}), chargers=chargers)
    assert len(none.sites) == 0
    assert none.kpis()["bus_charged_share"] is None and none.kpis()["piles"] == 0


def test_bad_layers_and_weights(fleet, chargers):
    no_district = gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=CRS)
    with pytest.raises(InputError, match="layer 'bus_depots' has no 'district' column"):
        plan_fleet(depots=no_district, hubs=_points(HUBS), weights_by_district=WEIGHTS,
                   fleet=fleet, chargers=chargers)
    blank = _points([("A", 0.0, 0.0)]).assign(district=[None])
    with pytest.raises(InputError, match=r"layer 'taxi_hubs' column 'district': 1 row\(s\)"):
        plan_fleet(depots=_points(DEPOTS), hubs=blank, weights_by_district=WEIGHTS,
                   fleet=fleet, chargers=chargers)
    with pytest.raises(InputError, match=r"weights must be finite numbers >= 0 \(got A=-1"):
        plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS),
                   weights_by_district={"A": -1, "B": 1}, fleet=fleet, chargers=chargers)
    with pytest.raises(InputError, match="weights sum to 0"):
        plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS),
                   weights_by_district={"A": 0, "B": 0}, fleet=fleet, chargers=chargers)
    with pytest.raises(CRSError, match="layer 'bus_depots' has geographic CRS"):
        plan_fleet(depots=_points(DEPOTS).to_crs("EPSG:4326"), hubs=_points(HUBS),
                   weights_by_district=WEIGHTS, fleet=fleet, chargers=chargers)
    with pytest.raises(CRSError, match="must share one CRS"):
        plan_fleet(depots=_points(DEPOTS), hubs=_points(HUBS).to_crs("EPSG:32651"),
                   weights_by_district=WEIGHTS, fleet=fleet, chargers=chargers)


def test_hub_piles_function():
    piles, per_h = hub_piles(np.array([0.0, 6.0, 1.0]), session_minutes=SESSION_MIN,
                             max_wait_minutes=MAX_WAIT_MIN, wait_probability=ALPHA)
    assert piles.tolist() == [0, 6, 2]
    assert per_h[0] == 0.0 and (per_h[1:] >= [6.0, 1.0]).all()
    big, _ = hub_piles(np.array([300.0]), session_minutes=SESSION_MIN,
                       max_wait_minutes=MAX_WAIT_MIN, wait_probability=ALPHA)
    assert _p_wait_over(int(big[0]), 300.0) <= ALPHA < _p_wait_over(int(big[0]) - 1, 300.0)
    with pytest.raises(InputError, match="arrivals_per_h must be finite and >= 0"):
        hub_piles(np.array([-1.0]), session_minutes=SESSION_MIN,
                  max_wait_minutes=MAX_WAIT_MIN, wait_probability=ALPHA)


def test_fleet_settings_validated(scenario):
    from siting.errors import ConfigError

    with pytest.raises(ConfigError, match=r"fleet.*taxi_peak_hour_share.*>= 1/24"):
        scenario.replace(**{"fleet.taxi_peak_hour_share": 0.02})
    with pytest.raises(ConfigError, match=r"fleet\.buses_per_depot_pile"):
        scenario.replace(**{"fleet.buses_per_depot_pile": 0.0})
    assert scenario.fleet.buses > 0 and scenario.fleet.taxis > 0
