"""Demand cells: hand-solvable toy, exact totals (census and NEVs), any raster CRS,
and a clear error for every bad input."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from siting.demand import DEMAND_COLUMNS, demand_cells
from siting.errors import CRSError, InputError
from siting.region import RasterLayer

CRS = "EPSG:32650"
X0, Y0, CELL = 500_000.0, 4_000_300.0, 100.0
#        col 0   1     2   3
TOY = [[10, 20, 0, 5],      # row 0
       [100, 3000, 40, 1],  # row 1
       [-1, 7, 8, 9]]       # row 2 (-1 = nodata)
OPTIONS = dict(nev_total=100, sessions_per_nev_day=0.5, heat_intensity_w_m2=50.0,
               heated_share=0.5, full_load_hours=2000.0, crs=CRS)


def _write(path: Path, values, *, crs: str | None = CRS, x0: float = X0, y0: float = Y0,
           cell: float = CELL, nodata: float | None = -1, dtype: str = "int32") -> RasterLayer:
    arr = np.asarray(values, dtype=dtype)
    profile = dict(driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1,
                   dtype=dtype, transform=from_origin(x0, y0, cell, cell), nodata=nodata)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
    return RasterLayer(name="population", path=path, units="persons")


@pytest.fixture
def toy(tmp_path: Path) -> RasterLayer:
    return _write(tmp_path / "toy.tif", TOY)


@pytest.fixture
def districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [1, 2], "name": ["West", "East"], "floor_area_m2_per_person": [40.0, 50.0],
         "population": [3137, 63]},
        geometry=[box(X0, Y0 - 300, X0 + 200, Y0), box(X0 + 200, Y0 - 300, X0 + 400, Y0)],
        crs=CRS)


def test_hand_solved_toy(toy: RasterLayer, districts: gpd.GeoDataFrame) -> None:
    cells = demand_cells(toy, districts, **OPTIONS)
    assert list(cells.columns) == [*DEMAND_COLUMNS, "geometry"]
    assert cells.crs == CRS
    # the empty cell (0 persons) and the nodata cell are left out; 1 person is kept
    by_id = cells.set_index("cell_id")
    assert list(by_id.index) == [0, 1, 3, 4, 5, 6, 7, 9, 10, 11]
    assert by_id.loc[5, "population"] == 3000 and by_id.loc[5, "district"] == "West"
    assert by_id.loc[6, "district"] == "East" and by_id.loc[6, "district_code"] == 2
    assert math.isclose(by_id.loc[5, "density_per_km2"], 300_000.0)
    # urban: >= 1,500/km² = 15 persons per 100 m cell
    assert set(by_id.index[by_id["urban"]]) == {1, 4, 5, 6}
    # NEV weights 10, 30, 150, 4500, 7 | 5, 60, 1, 8, 9 (urban x1.5), total 4780;
    # shares of 100 floor to 98 and the two largest remainders (cells 1, 6) get one more
    expected_nev = {0: 0, 1: 1, 3: 0, 4: 3, 5: 94, 6: 2, 7: 0, 9: 0, 10: 0, 11: 0}
    assert by_id["nev"].to_dict() == expected_nev
    assert by_id.loc[5, "ev_sessions_day"] == 47.0
    # heat: 3000 persons x 40 m² x 0.5 x 50 W/m² = 3.0 MW; x 2000 h x 3.6 = 21,600 GJ
    assert math.isclose(by_id.loc[5, "floor_area_m2"], 120_000.0)
    assert math.isclose(by_id.loc[5, "heat_peak_mw"], 3.0)
    assert math.isclose(by_id.loc[5, "heat_annual_gj"], 21_600.0)
    assert math.isclose(by_id.loc[6, "floor_area_m2"], 2_000.0)  # East: 50 m²/person
    assert np.allclose(cells.area, CELL * CELL)
    assert cells.geometry.iloc[0].bounds == (X0, Y0 - CELL, X0 + CELL, Y0)


def test_min_population_and_overrides(toy: RasterLayer, districts: gpd.GeoDataFrame) -> None:
    cells = demand_cells(toy, districts.drop(columns="floor_area_m2_per_person"),
                         **{**OPTIONS, "min_population": 5.0}, floor_area_m2_per_person=30.0)
    assert 7 not in set(cells["cell_id"])  # 1 person < 5
    assert cells["population"].min() == 5
    assert np.allclose(cells["floor_area_m2"], cells["population"] * 30.0)
    assert cells["nev"].sum() == 100
    fractional = demand_cells(toy, districts, **{**OPTIONS, "nev_total": 12.5})
    assert math.isclose(fractional["nev"].sum(), 12.5)


@pytest.fixture(scope="module")
def zibo(tmp_path_factory: pytest.TempPathFactory):
    from siting.region.zibo import build_zibo_region

    return build_zibo_region(road_detail="coarse", cell_size_m=1000.0,
                             workdir=tmp_path_factory.mktemp("zibo_demand"))


def test_zibo_census_and_nev_totals_are_exact(zibo) -> None:
    cells = demand_cells(zibo.rasters["population"], zibo.districts, nev_total=110_000,
                         sessions_per_nev_day=0.3, heat_intensity_w_m2=40.0, heated_share=0.85,
                         full_load_hours=2000.0, crs=zibo.crs)
    by_district = cells.groupby("district")["population"].sum()
    census = zibo.districts.set_index("name")["population"]
    assert (by_district.reindex(census.index) == census).all()
    assert cells["nev"].sum() == 110_000
    assert (cells["nev"] == np.round(cells["nev"])).all()
    assert cells["synthetic"].all()  # derived from the synthetic raster
    # more NEVs per person in town than in the country
    per_person = cells.groupby("urban")["nev"].sum() / cells.groupby("urban")["population"].sum()
    assert per_person[True] > per_person[False]


def test_geographic_raster_is_reprojected(tmp_path: Path, districts: gpd.GeoDataFrame) -> None:
    lonlat = districts.to_crs("EPSG:4326")
    left, _, _, top = lonlat.total_bounds
    step = 0.0005
    values = np.arange(1, 101, dtype="int32").reshape(10, 10)
    layer = _write(tmp_path / "ll.tif", values, crs="EPSG:4326", x0=left - 0.0007,
                   y0=top + 0.0007, cell=step)
    cells = demand_cells(layer, districts, **OPTIONS)
    assert cells.crs == CRS
    centres = gpd.GeoSeries(gpd.points_from_xy(
        left - 0.0007 + (np.arange(10)[None, :] + 0.5).repeat(10, 0).ravel() * step,
        top + 0.0007 - (np.arange(10)[:, None] + 0.5).repeat(10, 1).ravel() * step),
        crs="EPSG:4326")
    inside = centres.within(lonlat.union_all()).to_numpy()
    assert cells["population"].sum() == values.ravel()[inside].sum()
    assert cells["nev"].sum() == 100
    assert (cells.area > 1000).all()  # real metric cell areas (about 45 m x 55 m)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=12, max_size=12), st.integers(0, 10**6))
def test_nev_total_is_always_exact(tmp_path_factory, pops: list[int], nev_total: int) -> None:
    if sum(pops) == 0:
        pops[0] = 1
    layer = _write(tmp_path_factory.mktemp("h") / "p.tif", np.array(pops).reshape(3, 4))
    districts = gpd.GeoDataFrame({"name": ["All"], "floor_area_m2_per_person": [35.0]},
                                 geometry=[box(X0, Y0 - 300, X0 + 400, Y0)], crs=CRS)
    cells = demand_cells(layer, districts, **{**OPTIONS, "nev_total": nev_total})
    assert cells["nev"].sum() == nev_total
    assert (cells["nev"] >= 0).all()
    assert cells["population"].sum() == sum(pops)


# ------------------------------------------------------------------ bad input


def test_missing_raster(tmp_path: Path, districts: gpd.GeoDataFrame) -> None:
    layer = RasterLayer(name="population", path=tmp_path / "none.tif", units="persons")
    with pytest.raises(InputError, match=r"none\.tif does not exist"):
        demand_cells(layer, districts, **OPTIONS)


def test_corrupt_raster(tmp_path: Path, districts: gpd.GeoDataFrame) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(b"this is not a GeoTIFF")
    layer = RasterLayer(name="population", path=path, units="persons")
    with pytest.raises(InputError, match=r"bad\.tif cannot be read as a raster"):
        demand_cells(layer, districts, **OPTIONS)


def test_raster_without_crs(tmp_path: Path, districts: gpd.GeoDataFrame) -> None:
    layer = _write(tmp_path / "nocrs.tif", TOY, crs=None)
    with pytest.raises(CRSError, match=r"nocrs\.tif has no CRS"):
        demand_cells(layer, districts, **OPTIONS)


def test_raster_that_does_not_overlap(tmp_path: Path, districts: gpd.GeoDataFrame) -> None:
    layer = _write(tmp_path / "far.tif", TOY, x0=300_000.0)
    with pytest.raises(InputError, match=r"raster .*far\.tif does not overlap the boundary"):
        demand_cells(layer, districts, **OPTIONS)


def test_negative_population(tmp_path: Path, districts: gpd.GeoDataFrame) -> None:
    layer = _write(tmp_path / "neg.tif", [[1, -5], [2, 3]], nodata=None)
    with pytest.raises(InputError, match="1 negative cells"):
        demand_cells(layer, districts, **OPTIONS)


def test_geographic_output_crs(toy: RasterLayer, districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(CRSError, match="needs a projected metric output CRS"):
        demand_cells(toy, districts, **{**OPTIONS, "crs": "EPSG:4326"})


def test_bad_options_are_listed_together(toy: RasterLayer,
                                         districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(InputError, match=r"3 problems(.|\n)*nev_total=-1 must be >= 0"
                                         r"(.|\n)*heated_share=1\.5 must be in \[0, 1\]"
                                         r"(.|\n)*full_load_hours=9000 must be in"):
        demand_cells(toy, districts, **{**OPTIONS, "heated_share": 1.5, "nev_total": -1,
                                        "full_load_hours": 9000.0})
    with pytest.raises(InputError, match=r"sessions_per_nev_day='0\.3' must be a finite number"):
        demand_cells(toy, districts, **{**OPTIONS, "sessions_per_nev_day": "0.3"})


def test_bad_districts(toy: RasterLayer, districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(InputError, match="'floor_area_m2_per_person' is missing"):
        demand_cells(toy, districts.drop(columns="floor_area_m2_per_person"), **OPTIONS)
    with pytest.raises(InputError, match="districts layer is empty"):
        demand_cells(toy, districts.iloc[:0], **OPTIONS)
    with pytest.raises(CRSError, match="districts layer has no CRS"):
        demand_cells(toy, districts.set_crs(None, allow_override=True), **OPTIONS)
    with pytest.raises(InputError, match="column 'name' is missing"):
        demand_cells(toy, districts.drop(columns="name"), **OPTIONS)


def test_invalid_district_geometry_is_repaired_with_a_warning(
        toy: RasterLayer, districts: gpd.GeoDataFrame, caplog: pytest.LogCaptureFixture) -> None:
    bowtie = Polygon([(X0, Y0 - 300), (X0 + 200, Y0), (X0 + 200, Y0 - 300), (X0, Y0)])
    bad = districts.copy()
    bad.loc[0, "geometry"] = bowtie
    with caplog.at_level(logging.WARNING, logger="siting.demand"):
        cells = demand_cells(toy, bad, **OPTIONS)
    assert "repairing 1 invalid district geometry" in caplog.text
    assert (cells["district"] == "West").any()
