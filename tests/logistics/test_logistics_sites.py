"""Freight sources, freight rail, junctions, road access and candidate park sites."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _logistics_toys import CRS, EXPECTED_SITES, X0, Y0, pid, toy_graph, toy_region

from siting.errors import CRSError, InputError
from siting.logistics.sites import (
    freight_sources,
    freight_stations,
    park_candidates,
    road_access_m,
    screen_sites,
    trunk_junctions,
)

SHARES = {"metallurgy": 0.7, "food": 0.2}


def _zones(**cols: object) -> gpd.GeoDataFrame:
    base = {"zone_id": [1, 2, 3], "sector": ["metallurgy", "food", "glass"]}
    base.update(cols)
    geoms = [shapely.box(X0 + k * 1000, Y0, X0 + k * 1000 + 500, Y0 + 500) for k in range(3)]
    return gpd.GeoDataFrame(base, geometry=geoms, crs=CRS)


# ------------------------------------------------------------------ sources


def test_sources_take_sector_shares_and_convert_tonnes():
    src = freight_sources(_zones(freight_t_yr=[2_000_000, 1_000_000, 500_000]), crs=CRS,
                          rail_share_max=SHARES, rail_share_default=0.1)
    assert src["source_id"].tolist() == ["FS-1", "FS-2", "FS-3"]
    assert src["freight_mt"].tolist() == pytest.approx([2.0, 1.0, 0.5])
    assert src["rail_share"].tolist() == pytest.approx([0.7, 0.2, 0.1])  # glass: default
    assert src["shiftable_mt"].tolist() == pytest.approx([1.4, 0.2, 0.05])
    # routed from a point inside each zone
    assert all(g.contains(shapely.Point(x, y)) for g, x, y in
               zip(src.geometry, src["x"], src["y"], strict=True))


def test_sources_per_row_share_overrides_sector_and_ids_from_location():
    gdf = _zones(freight_mt_yr=[1.0, 1.0, 1.0], rail_share=[0.5, np.nan, 1.0]).drop(
        columns="zone_id")
    src = freight_sources(gdf, crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)
    assert src["rail_share"].tolist() == pytest.approx([0.5, 0.2, 1.0])
    x, y = src["x"].iat[0], src["y"].iat[0]
    assert src["source_id"].iat[0] == f"FS-{x:.0f}-{y:.0f}"


def test_sources_in_geographic_crs_are_reprojected():
    gdf = _zones(freight_mt_yr=[1.0, 2.0, 3.0]).to_crs("EPSG:4326")
    src = freight_sources(gdf, crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)
    assert src.crs.to_epsg() == 32650
    assert src["x"].iat[0] == pytest.approx(X0 + 250, abs=1.0)


def test_sources_report_every_problem_at_once():
    gdf = _zones(freight_mt_yr=[1.0, -2.0, "x"], rail_share=[0.5, 1.5, 0.5])
    gdf["zone_id"] = [1, 1, 2]
    with pytest.raises(InputError) as info:
        freight_sources(gdf, crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)
    msg = str(info.value)
    assert "3 problems" in msg
    assert "column 'freight_mt_yr': 2 values are missing, non-numeric or negative" in msg
    assert "column 'rail_share': 1 values outside [0, 1]" in msg
    assert "source ids are not unique (e.g. ['FS-1'])" in msg


def test_sources_without_tonnage_column_say_which_names_work():
    with pytest.raises(InputError, match=r"no tonnage column; add one of freight_mt_yr"):
        freight_sources(_zones(), crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)
    with pytest.raises(InputError, match=r"tonnage column 'tons' is missing \(columns: "):
        freight_sources(_zones(), crs=CRS, rail_share_max=SHARES, rail_share_default=0.1,
                        tonnage_column="tons")


def test_sources_named_tonnage_column_is_in_mt():
    src = freight_sources(_zones(tons=[1.0, 2.0, 3.0]), crs=CRS, rail_share_max=SHARES,
                          rail_share_default=0.0, tonnage_column="tons")
    assert src["freight_mt"].sum() == pytest.approx(6.0)


def test_sources_bad_crs_and_empty_layers():
    gdf = _zones(freight_mt_yr=[1.0, 1.0, 1.0])
    with pytest.raises(CRSError, match="has no CRS"):
        freight_sources(gdf.set_crs(None, allow_override=True), crs=CRS, rail_share_max=SHARES,
                        rail_share_default=0.1)
    with pytest.raises(CRSError, match="not projected in metres"):
        freight_sources(gdf, crs="EPSG:4326", rail_share_max=SHARES, rail_share_default=0.1)
    with pytest.raises(InputError, match="is empty"):
        freight_sources(gdf.iloc[:0], crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)
    gdf.loc[1, "geometry"] = None
    with pytest.raises(InputError, match="1 rows have empty or missing geometries"):
        freight_sources(gdf, crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)


def test_sources_from_a_file(tmp_path):
    path = tmp_path / "zones.gpkg"
    _zones(freight_mt_yr=[1.0, 2.0, 3.0]).to_crs("EPSG:4326").to_file(path)
    src = freight_sources(path, crs=CRS, rail_share_max=SHARES, rail_share_default=0.1)
    assert src["shiftable_mt"].sum() == pytest.approx(0.7 + 0.4 + 0.3)
    with pytest.raises(InputError, match="does not exist"):
        freight_sources(tmp_path / "nope.gpkg", crs=CRS, rail_share_max=SHARES,
                        rail_share_default=0.1)


# ------------------------------------------------------------------ rail and roads


def test_freight_stations_filter_by_flag_text_and_lines():
    region = toy_region()
    rail = freight_stations(region.layers["rail_stations"], crs=CRS)
    assert rail["name"].tolist() == ["Freight Yard"]
    text = region.layers["rail_stations"].assign(freight=["no", "Yes"])
    line = gpd.GeoDataFrame({"name": ["spur"], "freight": ["yes"]},
                            geometry=[shapely.LineString([(X0, Y0), (X0 + 1, Y0 + 1)])], crs=CRS)
    rail = freight_stations(text, crs=CRS, lines=line)
    assert rail["name"].tolist() == ["Passenger Halt", "spur"]
    assert rail["kind"].tolist() == ["station", "line"]


def test_no_freight_station_is_a_clear_error():
    stations = toy_region().layers["rail_stations"].assign(freight=False)
    with pytest.raises(InputError, match="no freight-capable railway station or line"):
        freight_stations(stations, crs=CRS)


def test_stations_without_freight_column_all_count(caplog):
    stations = toy_region().layers["rail_stations"].drop(columns="freight")
    assert len(freight_stations(stations, crs=CRS)) == 2
    assert "no 'freight' column" in caplog.text


def test_junctions_are_major_road_nodes_reached_by_other_roads():
    g = toy_graph()
    assert trunk_junctions(g) == sorted((i * 100 + 5 for i in range(11)), key=str)
    # a lone expressway that no local road reaches has no junction
    g2 = toy_graph()
    for _, _, d in g2.edges(data=True):
        d["highway"] = "residential"
    g2.add_node(9999, x=X0, y=Y0 - 5000.0)
    g2.add_node(9998, x=X0 + 1000, y=Y0 - 5000.0)
    g2.add_edge(9999, 9998, length=1000.0, highway=["motorway"], speed_kph=100.0,
                travel_time=36.0)
    assert trunk_junctions(g2) == []
    with pytest.raises(InputError, match="no expressway or trunk junction"):
        road_access_m(g2, np.array([[X0, Y0]]))


def test_road_access_is_snap_plus_network_distance():
    g = toy_graph()
    pts = np.array([[X0 + 3000, Y0 + 5000], [X0 + 3000, Y0 + 7000], [X0 + 3100, Y0 + 1200]])
    access, snap = road_access_m(g, pts, limit_m=3500.0)
    assert snap.tolist() == pytest.approx([0.0, 0.0, math.hypot(100, 200)])
    assert access[:2].tolist() == pytest.approx([0.0, 2000.0])
    assert access[2] == math.inf  # 4000 m + snap > 3500 m


def test_road_access_counts_one_way_streets_both_ways():
    g = toy_graph()
    g.remove_edge(300, 301)  # (3, 0) -> (3, 1): now one-way down towards (3, 0)
    access, _ = road_access_m(g, np.array([[X0 + 3000, Y0]]))
    # from the trunk down: 5 km straight; up: via (2, 0) or (4, 0) to the junction
    # at (2, 5) or (4, 5): 6 km; the longer of the two counts
    assert access[0] == pytest.approx(6000.0)


# ------------------------------------------------------------------ candidates


def _rules(region):
    return dict(rail=freight_stations(region.layers["rail_stations"], crs=CRS),
                rail_access_m=3000.0, road_access_m_max=2500.0,
                excluded_land_use=["urban_core"], water_buffer_m=500.0, red_line_buffer_m=0.0)


def test_candidates_are_the_hand_worked_sites():
    region = toy_region()
    cand = park_candidates(region, spacing_m=1000.0, **_rules(region))
    got = sorted(((x - X0) / 1000, (y - Y0) / 1000) for x, y in zip(cand["x"], cand["y"],
                                                                    strict=True))
    assert got == [tuple(map(float, p)) for p in EXPECTED_SITES]
    row = cand.set_index("id").loc[pid(6, 4)]
    assert row["rail_access_m"] == pytest.approx(math.hypot(1000, 1000))
    assert row["road_access_m"] == pytest.approx(1000.0)
    assert row["station"] == "Freight Yard"
    assert row["district"] == "East"
    assert cand.crs.to_epsg() == 32650


def test_denser_grid_keeps_every_site_and_its_id():
    region = toy_region()
    rules = _rules(region)
    coarse = park_candidates(region, spacing_m=1000.0, **rules)
    dense = park_candidates(region, spacing_m=500.0, **rules)
    assert set(coarse["id"]) <= set(dense["id"])
    assert 3.0 < len(dense) / len(coarse) < 5.0
    again = park_candidates(region, spacing_m=1000.0, **rules)
    pd.testing.assert_frame_equal(coarse.drop(columns="geometry"),
                                  again.drop(columns="geometry"))


def test_screen_sites_says_why_a_site_fails():
    region = toy_region()
    pts = np.array([[X0 + 7000, Y0 + 5000], [X0 + 2000, Y0 + 5000], [X0 + 5000, Y0 + 7000],
                    [X0 + 4000, Y0 + 3000], [X0 + 5000, Y0 + 9000], [X0 - 500, Y0 + 5000],
                    [X0 + 5000, Y0 + 5000]])
    rules = _rules(region) | {"red_line_buffer_m": 100.0}
    why = screen_sites(region, pts, **rules)["problem"].tolist()
    assert why[0] == "in the ecological red line or within 100 m of it"
    assert why[1] == "within 500 m of water"
    assert why[2] == "on permanent basic farmland"
    assert why[3] == "on urban_core land"
    assert why[4] == "rail access 4,000 m > 3,000 m; road access over 2,500 m"
    assert why[5].startswith("outside the region")
    assert why[6] == ""


def test_candidates_bad_arguments_are_listed():
    region = toy_region()
    rules = _rules(region) | {"road_access_m_max": -1.0, "water_buffer_m": math.nan}
    with pytest.raises(InputError, match=r"(?s)2 problems.*road_access_m=-1.0.*water_buffer_m=nan"):
        screen_sites(region, np.array([[X0, Y0]]), **rules)
    with pytest.raises(InputError, match=r"spacing_m=0 must be a number > 0"):
        park_candidates(region, spacing_m=0, **_rules(region))


def test_missing_constraint_layer_is_warned(caplog):
    region = toy_region()
    del region.layers["farmland"]
    cand = park_candidates(region, spacing_m=1000.0, **_rules(region))
    assert len(cand) == len(EXPECTED_SITES) + 3
    assert "no 'farmland' layer" in caplog.text
