"""plan_logistics: a hand-solved toy region and the Zibo demo, every plan re-checked."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from _logistics_toys import CRS, X0, Y0, pid, toy_region, toy_sources

from siting.errors import InfeasibleError, InputError
from siting.logistics import plan_logistics
from siting.logistics.check import check_logistics_solution
from siting.models.base import SolverOptions
from siting.planners import ItemDecisions

EXACT = SolverOptions(mip_gap=0.0, mip_abs_gap=1e-9)
CONTRACT_KPIS = {"parks", "freight_mt", "rail_access_max_m", "co2_saved_t", "status",
                 "mip_gap", "solve_seconds"}


@pytest.fixture(scope="module")
def toy_scenario(scenario):
    return scenario.replace(**{
        "logistics.parks": 2, "logistics.rail_access_m": 3000.0,
        "logistics.road_access_m": 2500.0, "logistics.candidate_spacing_m": 1000.0,
        "logistics.max_drayage_m": 5000.0, "logistics.freight_mt_2025": 1.0,
        "logistics.freight_growth": 0.1, "logistics.target_year": 2025,
        "logistics.excluded_land_use": ["urban_core"],
        "logistics.rail_share_max": {"metallurgy": 0.7, "food": 0.2},
        "logistics.rail_share_default": 0.5,
        "review.park_water_buffer_m": 500.0, "review.park_red_line_buffer_m": 0.0})


@pytest.fixture()
def toy():
    region = toy_region()
    # S0 (1.4 Mt rail-suitable) and S1 (0.2 Mt) sit on candidate sites; S2 is 6 km by
    # road from the nearest candidate, beyond the 5 km drayage cutoff
    region.layers["industrial_zones"] = toy_sources([(3, 5), (6, 3), (10, 10)],
                                                    [2.0, 1.0, 1.0],
                                                    ["metallurgy", "food", "chemical"])
    return region


def _plan(region, scenario, **kw):
    out = plan_logistics(region, None, scenario, solver=kw.pop("solver", EXACT), **kw)
    inputs = gpd.read_file(kw["sources"]) if "sources" in kw else None
    problems = check_logistics_solution(out, region=region, scenario=scenario, inputs=inputs,
                                        decisions=kw.get("decisions", ItemDecisions()))
    assert problems == []
    return out


# ------------------------------------------------------------------ toy region


def test_toy_parks_sit_on_the_sources(toy, toy_scenario):
    out = _plan(toy, toy_scenario)
    parks = out.layers["logistics_parks"].set_index("id")
    assert set(parks.index) == {pid(3, 5), pid(6, 3)}
    assert parks.loc[pid(3, 5), "throughput_mt"] == pytest.approx(1.4)
    assert parks.loc[pid(6, 3), "sources"] == "S1"
    assert parks.loc[pid(6, 3), "rail_access_m"] == pytest.approx(1000 * 5 ** 0.5)
    k = out.kpis
    assert set(k) >= CONTRACT_KPIS
    assert k["parks"] == 2 and k["freight_mt"] == pytest.approx(1.6)
    # net: 1.6 Mt x (300 km x (0.080 - 0.012) kg/tkm rail line-haul instead of road
    # - 30 km x 0.08 kg/tkm road delivery - 2 kg/t handling), no drayage
    assert k["co2_saved_t"] == pytest.approx(1.6e3 * (300 * 0.068 - 30 * 0.08 - 2.0))
    assert k["co2_saved_gross_t"] == pytest.approx(1.6e3 * 300 * 0.08)
    assert k["status"] == "optimal" and k["mip_gap"] == 0.0
    src = out.layers["logistics_sources"].set_index("id")
    assert src.loc["S2", "in_reach"] == False  # noqa: E712
    assert src.loc["S2", "shifted_mt"] == 0.0
    assert src.loc["S0", "shift_share"] == pytest.approx(0.7)
    catch = out.layers["logistics_catchments"]
    assert len(catch) == 2 and catch["drayage_km"].tolist() == [0.0, 0.0]
    assert all(layer.crs == CRS for layer in out.layers.values())
    cand = out.layers["logistics_candidates"]
    assert len(cand) == 18 and int(cand["selected"].sum()) == 2


def test_toy_rejected_park_moves_next_door(toy, toy_scenario):
    decisions = ItemDecisions(rejected=frozenset({pid(3, 5)}))
    out = _plan(toy, toy_scenario, decisions=decisions)
    parks = out.layers["logistics_parks"]
    assert pid(3, 5) not in set(parks["id"])
    s0 = out.layers["logistics_catchments"].set_index("source_id").loc["S0"]
    assert s0["drayage_km"] == pytest.approx(1.0)  # (3, 4), (3, 6) or (4, 5): 1 km away
    assert bool(out.layers["logistics_candidates"].set_index("id").loc[pid(3, 5), "forbidden"])


def test_toy_approved_park_is_locked_and_the_rest_reoptimised(toy, toy_scenario):
    # with (5, 5) locked the second park goes to S0 (1.4 Mt): S1 drives 3 km to (5, 5)
    # (0.2 x 1.5 = 0.3) rather than S0 2 km (1.4 x 1.0 = 1.4)
    decisions = ItemDecisions(approved=frozenset({pid(5, 5)}))
    out = _plan(toy, toy_scenario, decisions=decisions)
    parks = out.layers["logistics_parks"].set_index("id")
    assert set(parks.index) == {pid(5, 5), pid(3, 5)}
    assert bool(parks.loc[pid(5, 5), "locked"]) and not bool(parks.loc[pid(3, 5), "locked"])
    assert parks.loc[pid(5, 5), "drayage_mean_km"] == pytest.approx(3.0)


def test_toy_approved_site_off_the_grid_is_added_if_it_meets_the_rules(toy, toy_scenario):
    off = pid(4.5, 5)
    out = _plan(toy, toy_scenario, decisions=ItemDecisions(approved=frozenset({off})))
    assert off in set(out.layers["logistics_parks"]["id"])
    with pytest.raises(InputError, match=r"approved park LP-502000-4005000: within 500 m of "
                       r"water"):
        plan_logistics(toy, None, toy_scenario,
                       decisions=ItemDecisions(approved=frozenset({pid(2, 5)})))
    with pytest.raises(InputError, match=r"\['station-7'\] are not park ids of this plan"):
        plan_logistics(toy, None, toy_scenario,
                       decisions=ItemDecisions(approved=frozenset({"station-7"})))


def test_toy_existing_park_is_fixed(toy, toy_scenario):
    existing = gpd.GeoDataFrame({"id": ["old yard"], "name": ["Old yard"], "capacity_mt": [0.5]},
                                geometry=[shapely.Point(X0 + 5000, Y0 + 4000)], crs=CRS)
    out = _plan(toy, toy_scenario, existing=existing)
    parks = out.layers["logistics_parks"].set_index("id")
    assert set(parks.index) == {"old yard", pid(3, 5)}
    assert bool(parks.loc["old yard", "existing"]) and parks.loc["old yard", "name"] == "Old yard"
    assert parks.loc["old yard", "annual_cost_cny"] == 0.0
    assert out.kpis["existing_parks"] == 1
    with pytest.raises(InputError, match=r"existing logistics parks \['old yard'\] were rejected"):
        plan_logistics(toy, None, toy_scenario, existing=existing,
                       decisions=ItemDecisions(rejected=frozenset({"old yard"})))
    bad = existing.assign(geometry=[shapely.Point(X0 + 2000, Y0 + 5000)], capacity_mt=[0.0])
    with pytest.raises(InputError, match=r"(?s)2 problems.*capacity_mt 0 must be > 0.*"
                       r"park old yard: within 500 m of water"):
        plan_logistics(toy, None, toy_scenario, existing=bad)


def test_toy_infeasible_target_says_by_how_much(toy, toy_scenario):
    # 1.5 Mt in 2025 grows to 1.65 Mt in 2026; the sources in reach have 1.6 Mt
    sc = toy_scenario.replace(**{"logistics.freight_mt_2025": 1.5, "logistics.target_year": 2026})
    with pytest.raises(InfeasibleError, match=r"target 1.65 Mt/yr .* only 1.60 Mt/yr to rail: "
                       r"short 0.05 Mt/yr") as info:
        plan_logistics(toy, None, sc)
    assert info.value.shortfall == pytest.approx(0.05)
    sc = toy_scenario.replace(**{"logistics.park_capacity_mt": 0.5})
    with pytest.raises(InfeasibleError, match=r"target 1.20 Mt/yr exceeds the capacity of 2 "
                       r"parks, 1.00 Mt/yr .*short 0.20 Mt/yr"):
        plan_logistics(toy, None, sc.replace(**{"logistics.freight_mt_2025": 1.2}))


def test_toy_bad_inputs(toy, toy_scenario):
    few = toy_scenario.replace(**{"logistics.rail_access_m": 10.0})
    with pytest.raises(InfeasibleError, match=r"2 parks are to be built but only 1 candidate"):
        plan_logistics(toy, None, few)
    none = toy_scenario.replace(**{"logistics.road_access_m": 1.0,
                                   "logistics.rail_access_m": 10.0})
    toy.layers["rail_stations"] = toy.layers["rail_stations"].assign(
        geometry=[shapely.Point(X0 + 5000, Y0 + 2500), shapely.Point(X0, Y0)])
    with pytest.raises(InputError, match=r"no candidate logistics park site .* meets the rules"):
        plan_logistics(toy, None, none)
    toy.layers["rail_stations"] = toy.layers["rail_stations"].assign(freight=False)
    with pytest.raises(InputError, match="no freight-capable railway station"):
        plan_logistics(toy, None, toy_scenario)
    del toy.layers["industrial_zones"]
    with pytest.raises(InputError, match="has no layer 'industrial_zones'"):
        plan_logistics(toy, None, toy_scenario)
    with pytest.raises(InputError, match="candidate_density=0"):
        plan_logistics(toy, None, toy_scenario, candidate_density=0)


def test_toy_user_sources_file_with_tonnes(tmp_path, toy, toy_scenario):
    path = tmp_path / "enterprises.gpkg"
    src = toy_sources([(3, 5), (6, 3)], [0.0, 0.0], ["metallurgy", "food"])
    src["annual_t"] = [2_000_000.0, 1_000_000.0]
    src.drop(columns="freight_mt_yr").to_crs("EPSG:4326").to_file(path)
    with pytest.raises(InputError, match="no tonnage column"):
        plan_logistics(toy, None, toy_scenario, sources=path)
    src["freight_t_yr"] = src["annual_t"]
    src.drop(columns="freight_mt_yr").to_crs("EPSG:4326").to_file(path, mode="w")
    out = _plan(toy, toy_scenario, sources=path)
    assert out.kpis["freight_mt"] == pytest.approx(1.6, abs=1e-6)


def test_toy_plans_are_deterministic(toy, toy_scenario):
    a = plan_logistics(toy, None, toy_scenario, solver=EXACT)
    b = plan_logistics(toy, None, toy_scenario, solver=EXACT)
    for name in a.layers:
        pd.testing.assert_frame_equal(a.layers[name].drop(columns="geometry"),
                                      b.layers[name].drop(columns="geometry"))


# ------------------------------------------------------------------ the Zibo demo


@pytest.fixture(scope="module")
def zibo(scenario):
    from siting.region.zibo import build_zibo_region

    return build_zibo_region(road_detail="coarse",
                             freight_total_mt=scenario.logistics.source_freight_mt)


@pytest.fixture(scope="module")
def zibo_plan(zibo, scenario):
    return plan_logistics(zibo, None, scenario)


def test_demo_places_eight_parks_that_pass_the_checker(zibo, zibo_plan, scenario):
    assert check_logistics_solution(zibo_plan, region=zibo, scenario=scenario) == []
    k = zibo_plan.kpis
    assert set(k) >= CONTRACT_KPIS
    assert k["parks"] == 8
    assert k["freight_mt"] >= 18.5
    assert k["rail_access_max_m"] <= scenario.logistics.rail_access_m
    assert k["status"] == "optimal" and k["mip_gap"] <= scenario.solver.mip_gap
    parks = zibo_plan.layers["logistics_parks"]
    assert {"capacity_mt", "throughput_mt", "rail_access_m", "road_access_m",
            "catchment_sources", "co2_saved_t_yr"} <= set(parks.columns)
    assert parks["synthetic"].all()
    assert (parks["throughput_mt"] <= parks["capacity_mt"] + 1e-9).all()


def test_demo_layers_write_to_geopackage_in_wgs84(tmp_path, zibo_plan):
    path = tmp_path / "plan.gpkg"
    for name, layer in zibo_plan.layers.items():
        layer.to_crs("EPSG:4326").to_file(path, layer=name)
    back = gpd.read_file(path, layer="logistics_parks")
    assert len(back) == 8 and back.crs.to_epsg() == 4326


def test_demo_reviewer_decisions_round_trip(zibo, zibo_plan, scenario):
    parks = zibo_plan.layers["logistics_parks"]
    cand = zibo_plan.layers["logistics_candidates"]
    rejected = frozenset(parks["id"].iloc[:2])
    approved = frozenset([cand.loc[~cand["selected"], "id"].iloc[0]])
    decisions = ItemDecisions(rejected=rejected, approved=approved)
    out = plan_logistics(zibo, None, scenario, decisions=decisions)
    assert check_logistics_solution(out, region=zibo, scenario=scenario,
                                    decisions=decisions) == []
    ids = set(out.layers["logistics_parks"]["id"])
    assert approved <= ids and not rejected & ids


def test_demo_denser_candidates(zibo, zibo_plan, scenario):
    out = plan_logistics(zibo, None, scenario, candidate_density=4.0)
    assert out.kpis["candidates"] > 3.5 * zibo_plan.kpis["candidates"]
    assert set(zibo_plan.layers["logistics_candidates"]["id"]) <= \
        set(out.layers["logistics_candidates"]["id"])
    assert check_logistics_solution(out, region=zibo, scenario=scenario) == []


def test_demo_cbc_agrees_with_highs(zibo, zibo_plan, scenario):
    gap = scenario.solver.mip_gap
    out = plan_logistics(zibo, None, scenario, solver=SolverOptions(name="cbc", mip_gap=gap))
    assert out.kpis["solver"].startswith("cbc")
    assert check_logistics_solution(out, region=zibo, scenario=scenario) == []
    a, b = zibo_plan.result.objective, out.result.objective
    assert abs(a - b) <= 2 * gap * max(abs(a), abs(b))


def test_demo_2030_target_is_out_of_reach_by_a_stated_amount(zibo, zibo_plan, scenario):
    sc = scenario.replace(**{"logistics.target_year": 2030})
    target = 18.5 * 1.1 ** 5
    assert sc.logistics.target_mt() == pytest.approx(target)
    src = zibo_plan.layers["logistics_sources"]
    reach = float(src.loc[src["in_reach"], "shiftable_mt"].sum())
    assert reach < target < 8 * 4.0  # the demo's rail-suitable freight, not capacity, binds
    with pytest.raises(InfeasibleError, match=rf"target {target:.2f} Mt/yr .* only {reach:.2f} "
                       rf"Mt/yr to rail: short {target - reach:.2f} Mt/yr") as info:
        plan_logistics(zibo, None, sc)
    assert info.value.shortfall == pytest.approx(target - reach)


def test_checker_catches_broken_plans(toy, toy_scenario):
    out = plan_logistics(toy, None, toy_scenario, solver=EXACT)
    layers = dict(out.layers)

    def check(**changed):
        return check_logistics_solution({**layers, **changed}, region=toy,
                                        scenario=toy_scenario, kpis=out.kpis)

    parks = layers["logistics_parks"]
    moved = parks.copy()
    moved.loc[0, "geometry"] = shapely.Point(X0 + 2000, Y0 + 5000)
    found = " | ".join(check(logistics_parks=moved))
    assert "inside water or within 500 m" in found
    assert "id does not match its location" in found
    assert "rail_access_m" in found and "line does not end at the park" in found
    found = " | ".join(check(logistics_parks=parks.iloc[:1]))
    assert "1 parks, expected exactly 2" in found and "the park is not built" in found
    catch = layers["logistics_catchments"].copy()
    catch["freight_mt"] *= 3.0
    found = " | ".join(check(logistics_catchments=catch))
    assert f"park {pid(3, 5)}: 4.200000 Mt > capacity 4.000000 Mt" in found
    assert "> rail-suitable" in found and "throughput_mt" in found
    assert "KPI freight_mt" in found
    catch = layers["logistics_catchments"].copy()
    catch["drayage_km"] += 0.5
    assert "the road network gives" in " | ".join(check(logistics_catchments=catch))
    few = layers["logistics_catchments"].iloc[1:]
    sc = toy_scenario.replace(**{"logistics.freight_mt_2025": 1.5})
    found = " | ".join(check_logistics_solution({**layers, "logistics_catchments": few},
                                                region=toy, scenario=sc))
    assert "multimodal freight 1.4000 Mt < target 1.5000 Mt (2025)" in found
    rejected = ItemDecisions(rejected=frozenset({pid(3, 5)}), approved=frozenset({pid(5, 5)}))
    found = " | ".join(check_logistics_solution(out, region=toy, scenario=toy_scenario,
                                                decisions=rejected))
    assert f"rejected park {pid(3, 5)} was built" in found
    assert f"approved park {pid(5, 5)} was not built" in found
