"""User layers: every bad input gets a clear error; counts survive reprojection."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import LineString, Point, Polygon, box

from siting.crs import ZIBO_CRS, crs_label
from siting.errors import CRSError, InputError
from siting.region import RasterLayer
from siting.region.layers import (
    raster_zonal_sums,
    read_raster,
    read_vector,
    repair_geometries,
    road_density_population,
    warp_counts,
)

LONLAT_BOX = box(118.0, 36.7, 118.1, 36.8)  # in Zibo
BOWTIE = Polygon([(118.0, 36.7), (118.1, 36.8), (118.1, 36.7), (118.0, 36.8)])


def gdf(geoms: list, crs: str | None = "EPSG:4326", **cols: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=crs)


def write_tif(path: Path, data: np.ndarray, *, crs: str | None, origin: tuple[float, float],
              res: float, nodata: float | None = None) -> Path:
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1],
               "count": 1, "dtype": "float32",
               "transform": Affine(res, 0.0, origin[0], 0.0, -res, origin[1])}
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


# --------------------------------------------------------------------------- vectors


@pytest.mark.parametrize("suffix,driver", [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile"),
                                          (".geojson", "GeoJSON")])
def test_read_vector_formats_reproject(tmp_path: Path, suffix: str, driver: str) -> None:
    path = tmp_path / f"b{suffix}"
    gdf([LONLAT_BOX], name=["a"]).to_file(path, driver=driver)
    out = read_vector(path, what="boundary", target_crs=ZIBO_CRS)
    assert crs_label(out.crs) == ZIBO_CRS
    assert out["name"].tolist() == ["a"]
    # ~8.9 km × 11.1 km
    assert 95e6 < out.geometry.area.iloc[0] < 105e6


def test_read_vector_layers(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    gdf([LONLAT_BOX]).to_file(path, layer="boundary")
    gdf([Point(118.05, 36.75)]).to_file(path, layer="sites")
    out = read_vector(path, layer="sites", what="sites", target_crs="EPSG:4326")
    assert out.geom_type.tolist() == ["Point"]
    with pytest.raises(InputError, match=r"has 2 layers \['boundary', 'sites'\]; say which"):
        read_vector(path, what="sites", target_crs="EPSG:4326")
    with pytest.raises(InputError, match=r"has no layer 'roads'; its layers are"):
        read_vector(path, layer="roads", what="sites", target_crs="EPSG:4326")


def test_missing_file_folder_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"boundary: file '.*nope.gpkg' does not exist"):
        read_vector(tmp_path / "nope.gpkg", what="boundary", target_crs=ZIBO_CRS)
    with pytest.raises(InputError, match=r"is a folder, not a file"):
        read_vector(tmp_path, what="boundary", target_crs=ZIBO_CRS)
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"SQLite format 3\x00 but truncated garbage")
    with pytest.raises(InputError, match=r"boundary \(file '.*bad.gpkg'\) cannot be read"):
        read_vector(bad, what="boundary", target_crs=ZIBO_CRS)
    broken_json = tmp_path / "broken.geojson"
    broken_json.write_text('{"type": "FeatureCollection", "features": [{"type": ')
    with pytest.raises(InputError, match=r"broken.geojson.*cannot be read"):
        read_vector(broken_json, what="boundary", target_crs=ZIBO_CRS)


def test_empty_layer(tmp_path: Path) -> None:
    path = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"name": []}, geometry=[], crs="EPSG:4326").to_file(path)
    with pytest.raises(InputError, match=r"boundary \(file .*empty.gpkg.*\) is empty"):
        read_vector(path, what="boundary", target_crs=ZIBO_CRS)
    nulls = tmp_path / "nulls.geojson"
    gdf([None, Polygon()], name=["a", "b"]).to_file(nulls)
    with pytest.raises(InputError, match=r"has no features with a geometry"):
        read_vector(nulls, what="boundary", target_crs=ZIBO_CRS)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs_needs_assume_crs(tmp_path: Path) -> None:
    path = tmp_path / "noprj.shp"
    gdf([LONLAT_BOX], crs=None).to_file(path)
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(CRSError, match=r"noprj.shp'\) has no CRS.*assume_crs='EPSG:4326'"):
        read_vector(path, what="boundary", target_crs=ZIBO_CRS)
    out = read_vector(path, what="boundary", target_crs=ZIBO_CRS, assume_crs="EPSG:4326")
    assert crs_label(out.crs) == ZIBO_CRS


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_wrong_crs_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "utm_as_deg.shp"
    gdf([box(600000, 4060000, 610000, 4070000)], crs=None).to_file(path)
    with pytest.raises(CRSError, match=r"says its CRS is EPSG:4326 \(degrees\), but its "
                                       r"coordinates span"):
        read_vector(path, what="farmland", target_crs=ZIBO_CRS, assume_crs="EPSG:4326")


def test_cgcs2000_input(tmp_path: Path) -> None:
    path = tmp_path / "cgcs.gpkg"
    gdf([LONLAT_BOX], crs="EPSG:4490").to_file(path)
    out = read_vector(path, what="boundary", target_crs="EPSG:4326")
    assert crs_label(out.crs) == "EPSG:4326"
    assert out.geometry.iloc[0].equals_exact(LONLAT_BOX, 1e-12)


def test_gcj02_option(tmp_path: Path) -> None:
    from siting.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02([118.05], [36.75])
    path = tmp_path / "amap.geojson"
    gdf([Point(lon[0], lat[0])]).to_file(path)
    out = read_vector(path, what="pois", target_crs=ZIBO_CRS, gcj02=True)
    truth = gdf([Point(118.05, 36.75)]).to_crs(ZIBO_CRS).geometry.iloc[0]
    assert out.geometry.iloc[0].distance(truth) < 0.01
    raw = read_vector(path, what="pois", target_crs=ZIBO_CRS)
    assert raw.geometry.iloc[0].distance(truth) > 400
    utm = tmp_path / "utm.gpkg"
    gdf([Point(118.05, 36.75)]).to_crs(ZIBO_CRS).to_file(utm)
    with pytest.raises(CRSError, match=r"gcj02=True, but the layer's CRS EPSG:32650"):
        read_vector(utm, what="pois", target_crs=ZIBO_CRS, gcj02=True)


def test_invalid_polygons_repaired_with_warning(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bowtie.gpkg"
    gdf([BOWTIE, LONLAT_BOX], name=["bow", "ok"]).to_file(path)
    with caplog.at_level(logging.WARNING, logger="siting.region.layers"):
        out = read_vector(path, what="water", target_crs=ZIBO_CRS)
    assert "repaired 1 invalid geometries" in caplog.text
    assert out.is_valid.all()
    # the bowtie keeps both triangles: half the box
    assert out.geometry.area.iloc[0] == pytest.approx(out.geometry.area.iloc[1] / 2, rel=1e-3)


def test_collapsed_polygon_is_rejected() -> None:
    flat = Polygon([(0, 0), (1, 1), (2, 2), (0, 0)])  # zero area
    with pytest.raises(InputError, match=r"farmland: 1 invalid geometries collapse to "
                                         r"nothing when repaired \(rows \[0\]"):
        repair_geometries(gdf([flat, box(0, 0, 1, 1)], crs=ZIBO_CRS), what="farmland")


# --------------------------------------------------------------------------- rasters


@pytest.fixture
def pop_tif(tmp_path: Path) -> Path:
    """4×4 cells of 1 km in UTM 50N, values 1..16, origin (600000, 4070000)."""
    data = np.arange(1, 17, dtype=float).reshape(4, 4)
    return write_tif(tmp_path / "pop.tif", data, crs=ZIBO_CRS, origin=(600000, 4070000),
                     res=1000)


def test_read_raster_ok_and_zonal_sums(pop_tif: Path) -> None:
    boundary = gdf([box(600000, 4066000, 604000, 4070000)], crs=ZIBO_CRS)
    layer = read_raster(pop_tif, what="population", boundary=boundary, units="persons")
    assert layer == RasterLayer(name="pop", path=pop_tif, units="persons")
    # west half (columns 0-1) and east half, by cell centre
    zones = gdf([box(600000, 4066000, 602000, 4070000),
                 box(602000, 4066000, 604000, 4070000),
                 box(700000, 4066000, 701000, 4067000)], crs=ZIBO_CRS)
    sums = raster_zonal_sums(layer, zones)
    np.testing.assert_allclose(sums, [1 + 2 + 5 + 6 + 9 + 10 + 13 + 14,
                                      3 + 4 + 7 + 8 + 11 + 12 + 15 + 16, 0.0])
    # zones in another CRS give the same answer
    np.testing.assert_allclose(raster_zonal_sums(layer, zones.iloc[:2].to_crs(4326)),
                               sums[:2], rtol=0, atol=0)


def test_raster_errors(tmp_path: Path, pop_tif: Path) -> None:
    far = gdf([box(100.0, 20.0, 100.1, 20.1)])
    with pytest.raises(InputError, match=r"population \(raster '.*pop.tif'\) does not "
                                         r"overlap the boundary"):
        read_raster(pop_tif, what="population", boundary=far)
    with pytest.raises(InputError, match=r"population: file '.*missing.tif' does not exist"):
        read_raster(tmp_path / "missing.tif", what="population")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match=r"junk.tif' cannot be read as a raster"):
        read_raster(junk, what="population")
    nocrs = write_tif(tmp_path / "nocrs.tif", np.ones((2, 2)), crs=None, origin=(0, 2), res=1)
    with pytest.raises(CRSError, match=r"nocrs.tif'\) has no CRS"):
        read_raster(nocrs, what="population")
    empty = write_tif(tmp_path / "nodata.tif", np.full((4, 4), -1.0), crs=ZIBO_CRS,
                      origin=(600000, 4070000), res=1000, nodata=-1.0)
    inside = gdf([box(601000, 4067000, 603000, 4069000)], crs=ZIBO_CRS)
    with pytest.raises(InputError, match=r"overlaps the boundary only with nodata"):
        read_raster(empty, what="population", boundary=inside)


def test_warp_counts_keeps_the_total(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.uniform(0, 100, (30, 40))
    # 0.005° cells over Zibo, in lon/lat
    src = write_tif(tmp_path / "lonlat.tif", data, crs="EPSG:4326", origin=(117.9, 36.9),
                    res=0.005)
    boundary = gdf([Polygon([(117.95, 36.8), (118.05, 36.85), (118.08, 36.78),
                             (117.97, 36.76)])])
    layer = read_raster(src, what="population", boundary=boundary, units="persons")
    before = raster_zonal_sums(layer, boundary).sum()
    warped = warp_counts(layer, crs=ZIBO_CRS, out_path=tmp_path / "utm.tif",
                         boundary=boundary)
    with rasterio.open(warped.path) as ds:
        assert crs_label(ds.crs) == ZIBO_CRS
        assert 400 < ds.res[0] < 500  # 0.005° of longitude at 36.8°N is ~446 m
    after = raster_zonal_sums(warped, boundary).sum()
    assert after == pytest.approx(before, rel=1e-5)
    assert warped.units == "persons"
    # messages about the warped copy name the user's file, never the work copy
    assert warped.label == src and warped.path != src


def test_negative_persons_fail_when_the_raster_is_read(tmp_path: Path) -> None:
    data = np.array([[5.0, -3.0], [1.0, -2.0]])
    path = write_tif(tmp_path / "neg.tif", data, crs=ZIBO_CRS, origin=(600000, 4070000),
                     res=1000)
    with pytest.raises(InputError, match=r"neg.tif'\) has 2 negative cells; persons per "
                                         r"cell must be >= 0"):
        read_raster(path, what="population", units="persons")
    assert read_raster(path, what="slope", units="").path == path  # not counts: allowed


def test_road_density_population_by_hand(tmp_path: Path) -> None:
    """1 km of two-way street along y=150 in a 2 km × 300 m box of 100 m cells, plus a
    motorway: 600 people spread 60 per 100 m cell along the street, none elsewhere."""
    street = LineString([(0, 150), (1000, 150)])
    edges = gpd.GeoDataFrame(
        {"length": [1000.0, 1000.0, 2000.0], "highway": ["residential", "residential",
                                                         ["motorway", "trunk"]]},
        geometry=[street, street.reverse(), LineString([(0, 50), (2000, 50)])],
        index=pd.MultiIndex.from_tuples([(1, 2, 0), (2, 1, 0), (3, 4, 0)]), crs=ZIBO_CRS)
    area = box(0, 0, 2000, 300)
    layer, road_km, persons = road_density_population(
        edges, area, crs=ZIBO_CRS, cell_size_m=100, total=600, persons_per_road_km=1,
        out_path=tmp_path / "proxy.tif")
    assert road_km == pytest.approx(1.0) and persons == 600
    assert layer.synthetic and layer.units == "persons"
    with rasterio.open(layer.path) as ds:
        data = ds.read(1)
        assert data.shape == (3, 20)
    np.testing.assert_allclose(data[1, :10], 60.0, rtol=1e-6)  # row of y in [100, 200)
    assert data.sum() == pytest.approx(600, rel=1e-6)
    assert data[1, 10:].sum() == 0 and data[[0, 2]].sum() == 0
    # without a total: the per-km assumption
    _, _, assumed = road_density_population(
        edges, area, crs=ZIBO_CRS, cell_size_m=100, total=None, persons_per_road_km=300,
        out_path=tmp_path / "proxy2.tif")
    assert assumed == pytest.approx(300.0)
    with pytest.raises(InputError, match=r"no residential-class roads inside the boundary"):
        road_density_population(edges.iloc[2:], area, crs=ZIBO_CRS, cell_size_m=100,
                                total=1, persons_per_road_km=1, out_path=tmp_path / "x.tif")
