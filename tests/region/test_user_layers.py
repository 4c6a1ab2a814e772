"""User layers (``--layer NAME=FILE``): candidate sites added, points kept within the
planners' reach of the boundary, whatever is dropped reported, names checked."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box
from test_osm import check_region  # tests/region is on sys.path (rootdir)

from siting.chargers.sites import candidate_sites, user_candidates
from siting.errors import InputError
from siting.pipeline import USER_LAYERS, RegionSource, check_layer_names, layer_reach_m
from siting.region.osm import region_from_osm_file


def _lonlat(points: list[tuple[float, float]], **cols: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=[Point(x, y) for x, y in points], crs="EPSG:4326")


# The toy network's hull spans lon 118.000-118.002, lat 36.800-36.801 (~180 m × 110 m);
# 0.0225° of longitude is about 2 km there.


def test_points_just_outside_the_hull_kept_within_reach_or_reported(
        toy_osm: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plants = _lonlat([(118.001, 36.8005), (118.0245, 36.8005), (118.6, 36.8005)],
                     name=["Inside CHP", "Plant 2 km out", "Plant 50 km out"])
    stations = _lonlat([(118.001, 36.8005), (118.0245, 36.8005)],
                       name=["Toy station", "Far station"])
    pois = _lonlat([(118.0015, 36.8005), (118.0030, 36.8005)],
                   name=["Car park A", "Just outside"])
    path = tmp_path / "plants.geojson"
    plants.to_file(path)
    with caplog.at_level(logging.INFO, logger="siting"):
        region = region_from_osm_file(
            toy_osm, workdir=tmp_path / "w", cell_size_m=50,
            constraint_layers={"heat_sources": path, "rail_stations": stations, "pois": pois},
            layer_reach_m={"heat_sources": 30_000.0, "rail_stations": 1_000.0})
    check_region(region)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # the plant 2 km outside the hull stays (heat's reach is 30 km); the one 50 km out
    # is dropped and named
    assert sorted(region.layers["heat_sources"]["name"]) == ["Inside CHP", "Plant 2 km out"]
    assert any("layer 'heat_sources': 1 of 3 features lie farther than 30.0 km" in w
               and "Plant 50 km out" in w for w in warnings), warnings
    assert list(region.layers["rail_stations"]["name"]) == ["Toy station"]
    assert any("'rail_stations': 1 of 2" in w and "Far station" in w for w in warnings)
    # user candidate sites are added to OSM's, outside ones reported
    pois_out = region.layers["pois"]
    user = pois_out[pois_out["source"] == "user"]
    assert list(user["name"]) == ["Car park A"] and list(user["user_row"]) == [1]
    assert (pois_out["source"] == "osm").sum() == 3  # the toy's own POIs stay
    assert any("'pois': 1 of 2" in w and "Just outside" in w for w in warnings)
    assert region.sources["layer:heat_sources"]["sha256"]


def test_user_pois_become_candidates(toy_osm: Path, tmp_path: Path, scenario) -> None:
    pois = _lonlat([(118.0015, 36.8005), (118.0005, 36.8008), (118.0018, 36.8009)],
                   site_type=["mall", None, "existing_station"], max_piles=[4, None, None],
                   name=["Mall", "Lot", "Old station"])
    region = region_from_osm_file(toy_osm, workdir=tmp_path / "w", cell_size_m=50,
                                  constraint_layers={"pois": pois})
    sites = candidate_sites(region, scenario.chargers, review=scenario.review)
    user = sites[sites["id"].str.startswith("chg-user-")].set_index("id")
    assert list(user.index) == ["chg-user-1", "chg-user-2", "chg-user-3"]
    assert user.loc["chg-user-1", "site_type"] == "mall"
    assert user.loc["chg-user-1", "max_piles"] == 4
    assert user.loc["chg-user-2", "site_type"] == "public_parking"  # the stated default
    limits = scenario.chargers.site_types["public_parking"].max_piles
    assert user.loc["chg-user-2", "max_piles"] == min(limits,
                                                      scenario.chargers.max_piles_per_station)
    assert user.loc["chg-user-3", "existing_piles"] == scenario.chargers.existing_station_piles
    assert not user["synthetic"].any()
    assert sites["id"].str.startswith("chg-osm-").sum() == 3


def test_user_pois_ids_from_an_id_column(toy_osm: Path, tmp_path: Path, scenario) -> None:
    pois = _lonlat([(118.0015, 36.8005), (118.0005, 36.8008)], id=["P7", "P9"])
    region = region_from_osm_file(toy_osm, workdir=tmp_path / "w", cell_size_m=50,
                                  constraint_layers={"pois": pois})
    sites = candidate_sites(region, scenario.chargers)
    assert {"chg-user-P7", "chg-user-P9"} <= set(sites["id"])


def test_user_pois_bad_columns_are_listed(toy_osm: Path, tmp_path: Path, scenario) -> None:
    pois = _lonlat([(118.0015, 36.8005), (118.0005, 36.8008)], id=["A", "A"],
                   site_type=["carpark", "mall"], max_piles=[0, 2.5])
    region = region_from_osm_file(toy_osm, workdir=tmp_path / "w", cell_size_m=50,
                                  constraint_layers={"pois": pois})
    with pytest.raises(InputError, match=r"(?s)layer 'pois' \(user candidate sites\): 3 "
                                         r"problems:.*site_type' has unknown values "
                                         r"\['carpark'\]; use one of public_parking.*"
                                         r"max_piles' must be a whole number >= 1.*"
                                         r"'id' repeats \['chg-user-A'\]"):
        user_candidates(region, region.layers["pois"].query("source == 'user'"),
                        scenario.chargers)


def test_forty_user_points_on_helsinki_add_about_forty_candidates(
        helsinki_pbf: Path, tmp_path: Path, scenario) -> None:
    base = region_from_osm_file(helsinki_pbf, workdir=tmp_path / "a")
    before = candidate_sites(base, scenario.chargers, review=scenario.review)
    nodes = np.array([(d["x"], d["y"]) for _, d in base.graph.nodes(data=True)])
    pick = nodes[np.random.default_rng(7).choice(len(nodes), size=40, replace=False)]
    centre = np.asarray(base.boundary.geometry.iloc[0].centroid.coords[0])
    pick = pick + 15.0 * (centre - pick) / np.linalg.norm(centre - pick, axis=1)[:, None]
    pts = gpd.GeoDataFrame({"name": [f"user site {i}" for i in range(40)]},
                           geometry=gpd.points_from_xy(pick[:, 0], pick[:, 1]),
                           crs=base.crs).to_crs("EPSG:4326")
    path = tmp_path / "sites.gpkg"
    pts.to_file(path)
    region = region_from_osm_file(helsinki_pbf, workdir=tmp_path / "b",
                                  constraint_layers={"pois": path},
                                  layer_reach_m=layer_reach_m(scenario))
    after = candidate_sites(region, scenario.chargers, review=scenario.review)
    added = after["id"].str.startswith("chg-user-").sum()
    # all 40 lie 15 m off a road node, inside the boundary; only the review rules (the
    # OSM red line and water) may screen some out, and they say so
    assert 36 <= added <= 40
    assert len(after) - len(before) == added
    assert set(before["id"]) <= set(after["id"])


def test_layer_names_are_checked_with_a_suggestion() -> None:
    with pytest.raises(InputError, match=r"unknown layer name 'watr'; did you mean 'water'"):
        check_layer_names(["watr"])
    with pytest.raises(InputError, match=r"(?s)known names are the constraint layers "
                                         r"red_line, water, farmland.*'red_lin'; did you mean "
                                         r"'red_line'.*'xyz'$"):
        RegionSource(osm=Path("x.osm"), constraints={"red_lin": Path("a"), "xyz": Path("b")})
    check_layer_names(USER_LAYERS)


def test_demo_refuses_region_options_it_cannot_apply() -> None:
    with pytest.raises(InputError, match=r"(?s)demo.*--boundary b.gpkg: the demo's boundary "
                                         r"is Zibo's; use --osm FILE"):
        RegionSource(boundary=Path("b.gpkg"))
    with pytest.raises(InputError, match=r"--population p.tif: the demo's population"):
        RegionSource(population=Path("p.tif"))


def test_demo_applies_user_layers(scenario, tmp_path: Path) -> None:
    from siting.pipeline import _with_user_layers
    from siting.region import Region

    # a small stand-in for the demo: what matters is the layer handling
    area = box(0, 0, 10_000, 10_000)
    import networkx as nx

    demo = Region(name="demo", crs="EPSG:32650",
                  boundary=gpd.GeoDataFrame(geometry=[area], crs="EPSG:32650"),
                  districts=gpd.GeoDataFrame({"name": ["d"]}, geometry=[area],
                                             crs="EPSG:32650"),
                  graph=nx.MultiDiGraph(crs="EPSG:32650"),
                  layers={"red_line": gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)],
                                                       crs="EPSG:32650")},
                  synthetic=frozenset({"red_line", "graph"}))
    red = gpd.GeoDataFrame({"name": ["real red line"]},
                           geometry=[box(1000, 1000, 3000, 3000)], crs="EPSG:32650")
    path = tmp_path / "red.gpkg"
    red.to_file(path)
    sites = gpd.GeoDataFrame({"name": ["in", "out"]},
                             geometry=[Point(500, 500), Point(20_000, 500)], crs="EPSG:32650")
    sites_path = tmp_path / "sites.gpkg"
    sites.to_file(sites_path)
    out = _with_user_layers(demo, {"red_line": path, "pois": sites_path},
                            layer_reach_m(scenario))
    assert list(out.layers["red_line"]["name"]) == ["real red line"]
    assert list(out.layers["pois"]["name"]) == ["in"]  # candidates are added, "out" reported
    assert list(out.layers["pois"]["source"]) == ["user"]
    assert "pois" not in demo.layers  # the demo region itself is unchanged
    assert "red_line" not in out.synthetic and "graph" in out.synthetic
    assert out.sources["layer:red_line"]["path"] == str(path)


def test_user_land_use_adds_candidates_beside_osm_pois(helsinki_pbf: Path, tmp_path: Path,
                                                      scenario) -> None:
    """A land-use layer on a region with OSM POIs is used, not silently ignored."""
    base = region_from_osm_file(helsinki_pbf, workdir=tmp_path / "a")
    area = base.boundary.to_crs("EPSG:4326")
    land = gpd.GeoDataFrame({"land_use": ["urban_core"]}, geometry=list(area.geometry),
                            crs="EPSG:4326")
    region = region_from_osm_file(helsinki_pbf, workdir=tmp_path / "b",
                                  constraint_layers={"land_use": land})
    sites = candidate_sites(region, scenario.chargers, review=scenario.review, seed=1)
    osm = sites["id"].str.startswith("chg-osm-")
    assert osm.sum() == len(candidate_sites(base, scenario.chargers, review=scenario.review))
    assert (~osm).sum() >= 5  # ~1.6 km² of urban core at the demo's densities
    assert sites["id"].is_unique and sites["node"][~osm].isin(sites["node"][osm]).sum() == 0
