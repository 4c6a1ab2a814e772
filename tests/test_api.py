"""``siting.plan``: the public Python face, in memory unless asked to write."""

from __future__ import annotations

import json

import pytest

import siting
from siting.errors import InputError


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"planners": ["chargers", "parking"]}, r"unknown planner\(s\) \['parking'\]"),
    ({"region": "zibo.shp"}, r"region='zibo.shp': expected an OSM file ending in \.osm"),
    ({"region": 42}, r"region=42: expected None, a Region, a RegionSource"),
    ({"scenario": 3.5}, r"scenario=3.5: expected a Scenario, a TOML path or None"),
    ({"time_limit_s": 0}, r"time_limit_s=0: must be a positive number"),
    ({"planners": []}, r"no planner chosen; choose from chargers, logistics, heat"),
    ({"planners": "parking"}, r"unknown planner\(s\) \['parking'\]"),
    ({"scenario": "missing.toml"}, r"missing.toml"),
])
def test_bad_arguments_fail_before_any_work(kwargs, match):
    with pytest.raises(InputError, match=match):
        siting.plan(**kwargs)


@pytest.fixture(scope="module")
def charger_plan(tmp_path_factory):
    """The issue's acceptance run: the default demo, chargers only, nothing written."""
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        plan = siting.plan(planners=["chargers"])
    assert list(cwd.iterdir()) == [], "siting.plan without out= wrote files"
    return plan


@pytest.mark.slow
def test_plan_returns_the_chargers_plan_in_memory(charger_plan):
    plan = charger_plan
    assert isinstance(plan, siting.Plan) and plan.planners == ("chargers",)
    assert plan.kpis["chargers"]["piles_total"] == 40000
    assert plan.kpis["chargers"]["status"] in ("optimal", "time_limit_feasible")
    layers = plan.layers
    assert {"districts", "demand_cells", "charging_stations"} <= set(layers)
    assert all(frame.crs.to_epsg() == 4326 for frame in layers.values())
    assert int(layers["charging_stations"]["piles"].sum()) >= 40000
    assert plan.provenance["planners"] == ["chargers"]
    targets = {t["id"]: t for t in plan.kpis["targets"]}
    assert next(iter(plan.kpis)) == "targets" and "logistics.parks" not in targets
    nev = targets["chargers.nev_2025"]
    assert nev["target"] == 110_000 and nev["source"] == "plan"
    assert nev["met"] == (plan.kpis["chargers"]["nev_served"] >= 110_000)
    # issue 11: the default demo meets every charging and fleet target of the plan
    unmet = [t["id"] for t in targets.values() if t["source"] == "plan" and not t["met"]]
    assert unmet == [], unmet
    assert plan.kpis["chargers"]["unreachable_share"] == 0
    assert plan.kpis["chargers"]["stage_2030"]["source"] == "assumption"
    assert plan.provenance["layers"]["demand_cells"]["synthetic"] is True
    assert repr(plan) == f"Plan('Zibo (demo)', planners=['chargers'], layers={len(layers)})"
    # the plan's region stays usable (its rasters are not in a deleted folder)
    from siting.pipeline import region_demand

    assert len(region_demand(plan.region, plan.scenario)) == len(layers["demand_cells"])


@pytest.mark.slow
def test_plan_explore_is_a_folium_map(charger_plan):
    folium = pytest.importorskip("folium")
    m = charger_plan.explore()
    assert isinstance(m, folium.Map)
    html = m.get_root().render()
    assert "© OpenStreetMap contributors" in html and "Charging stations" in html


@pytest.mark.slow
def test_plan_write_writes_the_cli_files(charger_plan, tmp_path):
    files = charger_plan.write(tmp_path / "out")
    assert sorted(f.name for f in files) == ["kpis.json", "plan.gpkg", "plan.html",
                                             "provenance.json"]
    assert json.loads((tmp_path / "out" / "kpis.json").read_text()) == json.loads(
        json.dumps(charger_plan.kpis, default=str))
