"""QGIS styles inside plan.gpkg (siting.styles)."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import pytest
import shapely

from siting.export import write_gpkg
from siting.maps.plan import plan_layers
from siting.review import read_plan
from siting.styles import STYLE_TABLE, layer_styles, write_styles


def toy_layers() -> dict[str, gpd.GeoDataFrame]:
    """A tiny plan around Zibo, in EPSG:4326."""
    def gdf(data, geoms):
        return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")

    box = shapely.box(117.9, 36.7, 118.2, 36.9)
    return {
        "boundary": gdf({"name": ["Zibo"]}, [box]),
        "districts": gdf({"name": ["Zhangdian"], "population": [1_000_000]}, [box]),
        "demand_cells": gdf({"ev_sessions_day": [10.0, 30.0], "population": [500, 900]},
                            [shapely.box(117.9, 36.7, 118.0, 36.8),
                             shapely.box(118.0, 36.8, 118.1, 36.9)]),
        "charging_stations": gdf({"id": ["s1", "s2", "s3"], "piles": [4, 10, 20],
                                  "stage": [2025, 2025, 2030], "name": ["A", "B", "C"]},
                                 [shapely.Point(118.0, 36.8), shapely.Point(118.05, 36.82),
                                  shapely.Point(118.1, 36.85)]),
        "logistics_parks": gdf({"id": ["p1"], "capacity_mt": [5.0], "throughput_mt": [4.0],
                                "rail_access_m": [800.0]}, [shapely.Point(118.02, 36.75)]),
        "rail_stations": gdf({"name": ["Zibo"]}, [shapely.Point(118.05, 36.79)]),
        "heat_pipes": gdf({"id": ["e1", "e2"], "dn": [200, 600], "flow_mw": [5.0, 40.0]},
                          [shapely.LineString([(118.0, 36.8), (118.1, 36.8)]),
                           shapely.LineString([(118.1, 36.8), (118.1, 36.85)])]),
        "heat_sources": gdf({"id": ["h1"], "name": ["Plant"], "used_mw": [50.0]},
                            [shapely.Point(118.0, 36.8)]),
        "red_line": gdf({"name": ["Reserve"]}, [shapely.box(118.15, 36.85, 118.2, 36.9)]),
    }


@pytest.fixture
def styled_gpkg(tmp_path):
    layers = toy_layers()
    path = tmp_path / "plan.gpkg"
    write_gpkg(path, layers, styles=write_styles)
    return path, layers


def _rows(path) -> dict[str, tuple]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute(f"SELECT f_table_name, f_geometry_column, styleQML, styleSLD, "
                           f"useAsDefault FROM {STYLE_TABLE}").fetchall()
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def test_every_drawn_layer_has_a_default_qgis_style(styled_gpkg):
    path, layers = styled_gpkg
    rows = _rows(path)
    drawn = {m.key for m in plan_layers(layers) if m.key in layers}
    drawn.add("demand_cells")  # drawn as heat maps
    assert drawn <= set(rows)
    assert set(layers) <= set(rows)  # the plain ones too (boundary)
    for name, (geom_col, qml, sld, default) in rows.items():
        root = ET.fromstring(qml.split("\n", 1)[1])  # past the DOCTYPE line
        assert root.tag == "qgis", name
        renderer = root.find("renderer-v2")
        assert renderer is not None and renderer.get("type"), name
        assert renderer.find(".//symbol/layer") is not None, name
        assert ET.fromstring(sld.split("\n", 1)[1]).tag.endswith("StyledLayerDescriptor")
        assert default == 1 and geom_col == "geom"


def test_styles_match_the_map(styled_gpkg):
    path, _ = styled_gpkg
    rows = _rows(path)
    stations = ET.fromstring(rows["charging_stations"][1].split("\n", 1)[1])
    r = stations.find("renderer-v2")
    assert r.get("type") == "categorizedSymbol" and r.get("attr") == "stage"
    values = {c.get("value"): c.get("label") for c in r.iter("category")}
    assert values == {"2025": "2025", "2030": "2030 (assumed)"}
    colours = [o.get("value") for o in r.iter("Option") if o.get("name") == "color"]
    assert colours[0].startswith("31,120,180")  # STAGE_COLOURS[0] #1f78b4
    assert "scale_exp(\"piles\"" in rows["charging_stations"][1]
    pipes = rows["heat_pipes"][1]
    assert 'type="graduatedSymbol"' in pipes and 'attr="flow_mw"' in pipes
    assert 'scale_exp("dn", 200, 600, 1.5, 7, 0.5)' in pipes
    assert "123,79,160" in rows["logistics_parks"][1]  # parks #7b4fa0
    assert "192,57,43" in rows["red_line"][1]  # AREAS red_line #c0392b


def test_readers_skip_the_style_table(styled_gpkg):
    path, layers = styled_gpkg
    assert set(read_plan(path)) == set(layers)


def test_rewriting_keeps_one_row_per_layer(tmp_path):
    from siting.styles import write_layer_styles

    layers = toy_layers()
    path = tmp_path / "plan.gpkg"
    write_gpkg(path, layers, styles=write_styles)
    write_layer_styles(path, layer_styles(layers))
    con = sqlite3.connect(path)
    try:
        n = con.execute(f"SELECT count(*) FROM {STYLE_TABLE}").fetchone()[0]
    finally:
        con.close()
    assert n == len(layers)
