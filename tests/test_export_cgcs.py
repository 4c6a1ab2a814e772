"""`cli.py export`: plans reprojected to CGCS2000 / Gauss-Kruger, as GeoPackage or Shapefiles."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from siting.cli import main
from siting.errors import CRSError, InputError
from siting.export import export_plan, shapefile_fields, write_gpkg
from siting.io import file_sha256
from siting.styles import write_styles


@pytest.fixture
def small_plan(tmp_path: Path) -> Path:
    """A plan.gpkg of a few Zibo features (EPSG:4326) with a provenance.json beside it."""
    def gdf(data, geoms):
        return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")

    layers = {
        "boundary": gdf({"name": ["淄博"]}, [shapely.box(117.9, 36.7, 118.2, 36.9)]),
        "charging_stations": gdf(
            {"id": ["cs-1", "cs-2"], "piles": [4, 10], "stage": [2025, 2030],
             "name": ["张店站", "Station B"], "utilisation_peak_hour": [0.5, 0.7],
             "utilisation_peak_day": [0.4, 0.6]},
            [shapely.Point(118.05, 36.81), shapely.Point(118.1, 36.85)]),
        "heat_pipes": gdf({"id": ["hp-1"], "dn": [300], "flow_mw": [12.5]},
                          [shapely.LineString([(118.0, 36.8), (118.1, 36.8)])]),
        "heat_sinks": gdf({"id": []}, gpd.GeoSeries([], crs="EPSG:4326")),
    }
    out = tmp_path / "plan"
    write_gpkg(out / "plan.gpkg", layers, styles=write_styles)
    (out / "provenance.json").write_text(json.dumps({
        "attribution": ["Synthetic demo data"], "synthetic_layers": ["boundary"]}),
        encoding="utf-8")
    return out / "plan.gpkg"


def test_export_gauss_kruger_gpkg(small_plan, tmp_path):
    out = tmp_path / "gis"
    assert main(["export", "--plan", str(small_plan), "--crs", "EPSG:4548",
                 "--out", str(out), "--quiet"]) == 0
    gpkg = out / "plan_epsg4548.gpkg"
    names = {n for n, _ in pyogrio.list_layers(gpkg)} - {"layer_styles"}
    assert names == {"boundary", "charging_stations", "heat_pipes", "heat_sinks"}
    st = gpd.read_file(gpkg, layer="charging_stations")
    assert st.crs.to_epsg() == 4548
    # CM 117E, false easting 500 km with no zone prefix: Zibo lies ~90 km east of it
    assert ((st.geometry.x > 500_000) & (st.geometry.x < 600_000)).all()
    assert ((st.geometry.y > 4_070_000) & (st.geometry.y < 4_090_000)).all()
    # 118.05E, 36.81N: x - 500 km ~ N cos(lat) dlon = 6,386 km * 0.8006 * 1.05 deg
    assert abs(st.geometry.x.iloc[0] - 593_690) < 100
    assert list(st["name"]) == ["张店站", "Station B"]
    con = sqlite3.connect(gpkg)
    try:
        styled = {r[0] for r in con.execute("SELECT f_table_name FROM layer_styles")}
    finally:
        con.close()
    assert {"charging_stations", "heat_pipes"} <= styled
    prov = json.loads((out / "export_epsg4548_gpkg_provenance.json").read_text("utf-8"))
    assert prov["source_plan"]["sha256"] == file_sha256(small_plan)
    assert prov["crs"]["code"] == "EPSG:4548" and "CM 117E" in prov["crs"]["name"]
    assert "well under a metre" in prov["datum_note"]
    assert "© OpenStreetMap contributors" in prov["attribution"]
    assert "Synthetic demo data" in prov["attribution"]
    assert prov["synthetic_layers"] == ["boundary"]
    assert prov["created_utc"]
    assert (small_plan.parent / "plan.gpkg").is_file()  # the source is untouched


def test_export_cgcs2000_geographic_is_identity_like(small_plan, tmp_path):
    result = export_plan(small_plan, tmp_path / "gis", crs="EPSG:4490")
    assert result.crs == "EPSG:4490"
    st = gpd.read_file(tmp_path / "gis" / "plan_epsg4490.gpkg", layer="charging_stations")
    assert st.crs.to_epsg() == 4490
    src = gpd.read_file(small_plan, layer="charging_stations")
    # under a metre: ~1e-5 degrees
    assert abs(st.geometry.x.to_numpy() - src.geometry.x.to_numpy()).max() < 1e-5
    assert abs(st.geometry.y.to_numpy() - src.geometry.y.to_numpy()).max() < 1e-5


def test_export_shapefiles_gbk_with_field_mapping(small_plan, tmp_path):
    out = tmp_path / "shp"
    assert main(["export", "--plan", str(small_plan), "--crs", "EPSG:4548", "--format", "shp",
                 "--encoding", "GBK", "--out", str(out), "--quiet"]) == 0
    folder = out / "plan_epsg4548_shp"
    assert (folder / "charging_stations.cpg").read_text().strip() == "GBK"
    assert (folder / "heat_pipes.cpg").read_text().strip() == "GBK"
    assert not (folder / "heat_sinks.shp").exists()  # empty: no geometry type
    st = gpd.read_file(folder / "charging_stations.shp", encoding="GBK")
    assert st.crs.to_epsg() == 4548 and list(st["name"]) == ["张店站", "Station B"]
    assert all(len(c.encode("gbk")) <= 10 for c in st.columns)
    fields = pd.read_csv(folder / "fields.csv")
    mapping = dict(zip(fields.loc[fields.layer == "charging_stations", "column"],
                       fields.loc[fields.layer == "charging_stations", "field"], strict=True))
    assert mapping["utilisation_peak_hour"] == "utilisatio"
    assert mapping["utilisation_peak_day"] == "utilisat_1"
    assert set(mapping.values()) <= set(st.columns)
    prov = json.loads((out / "export_epsg4548_shp_provenance.json").read_text("utf-8"))
    assert prov["encoding"] == "GBK"
    assert prov["layers"]["heat_sinks"]["features"] == 0


def test_field_names_are_cut_to_ten_bytes():
    m = shapefile_fields(["名称名称名称", "capacity_mt", "capacity_mw", "id"], encoding="UTF-8")
    assert m == {"名称名称名称": "名称名", "capacity_mt": "capacity_m", "capacity_mw":
                 "capacity_1", "id": "id"}


@pytest.mark.parametrize(("crs", "message"), [
    ("EPSG:999999", "unknown coordinate reference system"),
    ("not-a-crs", "unknown coordinate reference system"),
    ("EPSG:4549", r"CM 120E is meant for lon .*; for Zibo use EPSG:4548"),
    ("EPSG:5703", "not a horizontal"),
])
def test_bad_crs_is_refused(small_plan, tmp_path, crs, message, capsys):
    with pytest.raises(CRSError, match=message):
        export_plan(small_plan, tmp_path / "x", crs=crs)
    assert main(["export", "--plan", str(small_plan), "--crs", crs,
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "error: --crs" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_bad_inputs_exit_2(small_plan, tmp_path, capsys):
    with pytest.raises(InputError, match="--encoding 'latin9'"):
        export_plan(small_plan, tmp_path / "x", crs="EPSG:4548", fmt="shp", encoding="latin9")
    assert main(["export", "--plan", str(tmp_path / "none.gpkg"), "--crs", "EPSG:4548",
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_text_gbk_cannot_hold_is_named(tmp_path):
    layers = {"heat_sources": gpd.GeoDataFrame(
        {"name": ["Plant ©"]}, geometry=[shapely.Point(118.0, 36.8)], crs="EPSG:4326")}
    write_gpkg(tmp_path / "plan.gpkg", layers)
    with pytest.raises(InputError, match=r"layer 'heat_sources', column 'name': 'Plant ©'.*"):
        export_plan(tmp_path / "plan.gpkg", tmp_path / "x", crs="EPSG:4548", fmt="shp",
                    encoding="GBK")


def test_mixed_geometry_layer_splits_into_one_shapefile_per_kind(tmp_path):
    layers = {"sites": gpd.GeoDataFrame(
        {"id": ["a", "b"]}, geometry=[shapely.Point(118.0, 36.8),
                                      shapely.box(118.0, 36.8, 118.01, 36.81)],
        crs="EPSG:4326")}
    write_gpkg(tmp_path / "plan.gpkg", layers)
    result = export_plan(tmp_path / "plan.gpkg", tmp_path / "x", crs="EPSG:4548", fmt="shp")
    names = {p.name for p in result.files}
    assert {"sites_points.shp", "sites_polygons.shp", "sites_points.cpg", "fields.csv"} <= names
    assert (tmp_path / "x" / "plan_epsg4548_shp" / "sites_points.cpg").read_text() == "UTF-8\n"


def test_export_dxf_puts_each_plan_layer_on_its_own_cad_layer(small_plan, tmp_path):
    from siting.review import read_plan

    out = tmp_path / "cad"
    assert main(["export", "--plan", str(small_plan), "--crs", "EPSG:4548", "--format", "dxf",
                 "--out", str(out), "--quiet"]) == 0
    cad = gpd.read_file(out / "plan_epsg4548.dxf")
    plan = {n: len(f) for n, f in read_plan(small_plan).items() if len(f)}
    assert cad["Layer"].value_counts().to_dict() == plan
    x = cad.geometry.representative_point().x
    assert x.between(500_000, 600_000).all()  # Gauss-Kruger CM 117E, no zone prefix
