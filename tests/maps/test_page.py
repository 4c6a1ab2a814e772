"""Offline maps: vendored assets, page structure, escaping, layer recipes, errors.

The toy plan comes from ``_toys.make_plan``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _toys import CRS, EVIL, EVIL2, KPIS, X0, Y0, make_plan
from shapely.geometry import LineString, Point, box

from siting.assets import ASSET_DIR, VENDOR_FILES, inline_bundle, verify
from siting.errors import InputError
from siting.maps import MapLayer, plan_layers, plan_map, write_map


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="siting-data">(.*?)</script>', page,
                  re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def _write(tmp_path: Path, **kw) -> tuple[str, dict]:
    layers = kw.pop("layers", None) or make_plan()
    kw.setdefault("title", "Zibo plan")
    path = plan_map(layers, tmp_path / "plan.html", kpis=KPIS, **kw)
    page = path.read_text(encoding="utf-8")
    return page, _data(page)


# ------------------------------------------------------------------ vendored assets

def test_vendored_assets_match_manifest_and_lock() -> None:
    assert verify() == []


def test_verify_detects_an_edited_file(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "assets"
    shutil.copytree(ASSET_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    target = root / VENDOR_FILES[0].dest
    target.write_text(target.read_text(encoding="utf-8") + "\n// edited", encoding="utf-8")
    (root / VENDOR_FILES[3].dest).unlink()
    problems = verify(root)
    assert any("SHA-256 differs" in p and VENDOR_FILES[0].dest in p for p in problems)
    assert any(p == f"{VENDOR_FILES[3].dest}: missing" for p in problems)


def test_every_vendored_package_ships_its_licence() -> None:
    packages = {vf.package for vf in VENDOR_FILES}
    licensed = {vf.package for vf in VENDOR_FILES if vf.kind == "license"}
    assert packages == licensed
    for vf in VENDOR_FILES:
        assert (ASSET_DIR / vf.dest).stat().st_size > 200


def test_bundle_has_no_remote_references() -> None:
    css, js = inline_bundle()
    assert "url(images/" not in css and "url('images/" not in css
    assert not re.search(r"url\((['\"]?)https?:", css)
    assert "L.markerClusterGroup" in js and "L.heatLayer" in js
    assert "polylineMeasure" in js and "FullScreen" in js
    assert js.index("Leaflet 1.9.4") < js.index("MarkerClusterGroup")


# ------------------------------------------------------------------ the page

def test_plan_page_is_self_contained(tmp_path: Path) -> None:
    page, data = _write(tmp_path)
    markup = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", page, flags=re.S)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", markup)
    assert "<link" not in markup
    assert "http" not in re.sub(r"<meta http-equiv=[^>]+>", "", markup)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]{44}'", csp)
    assert len(re.findall(r"^<script", page, re.M)) == 2  # the data block and the app
    assert "© OpenStreetMap contributors" in data["attribution"]
    assert data["basemap"]["online"] is True


def test_csp_hash_is_the_hash_of_the_inline_script(tmp_path: Path) -> None:
    import base64
    import hashlib

    page, _ = _write(tmp_path)
    script = re.search(r"<script>(.*)</script>", page, re.S).group(1)
    want = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{want}'" in page


def test_offline_only_page_allows_no_tile_hosts(tmp_path: Path) -> None:
    page, data = _write(tmp_path, online_basemaps=False)
    assert "tile.openstreetmap.org" not in page.split("<style>")[0]
    assert data["basemap"]["online"] is False


def test_plan_layers_present_with_styles(tmp_path: Path) -> None:
    layers = make_plan()
    _, data = _write(tmp_path, layers=layers, coverage_radius_m=1000,
                     synthetic={"red_line", "water", "farmland", "demand_cells"})
    by_id = {spec["id"]: spec for spec in data["layers"]}
    assert {"districts", "red_line", "farmland", "water", "demand_ev_sessions_day", "coverage",
            "heat_pipes", "heat_sources", "heat_sinks", "logistics_parks",
            "charging_stations"} <= set(by_id)
    st = by_id["charging_stations"]
    assert st["cluster"] and st["decide"] and st["idField"] == "id"
    assert st["size"]["field"] == "piles" and st["size"]["max"] == layers[
        "charging_stations"]["piles"].max()
    assert len(st["data"]["x"]) == 40
    assert {f[0] for f in st["fields"]} >= {"piles", "kw", "nev_served", "utilisation",
                                           "wait_minutes", "stage"}
    # utilisation shares are shown in percent
    assert max(st["data"]["props"]["utilisation"]) > 1
    pipes = by_id["heat_pipes"]
    assert pipes["width"]["field"] == "dn" and pipes["colorBy"]["field"] == "flow_mw"
    assert pipes["decide"] and pipes["data"]["geoms"][0]["type"] == "LineString"
    assert by_id["coverage"]["radius_m"] == 1000 and by_id["coverage"]["of"] == "charging_stations"
    assert by_id["red_line"]["synthetic"] and not by_id["charging_stations"]["synthetic"]
    order = [spec["id"] for spec in data["layers"]]
    assert order.index("red_line") < order.index("charging_stations")  # areas drawn below
    assert data["kpis"][0]["group"] == "Charging piles"
    rows = dict(map(tuple, data["kpis"][0]["rows"]))
    assert rows["Demand within reach"] == "93.4 %"
    assert rows["Mean distance to a station"] == "1.234 km"
    assert rows["Charging piles"] == "1,000 piles"


def test_coordinates_are_wgs84_and_rounded(tmp_path: Path) -> None:
    layers = make_plan()
    _, data = _write(tmp_path, layers=layers)
    st = next(s for s in data["layers"] if s["id"] == "charging_stations")
    want = layers["charging_stations"].to_crs("EPSG:4326")
    np.testing.assert_allclose(st["data"]["x"], want.geometry.x, atol=6e-6)
    np.testing.assert_allclose(st["data"]["y"], want.geometry.y, atol=6e-6)
    assert all(len(str(v).split(".")[1]) <= 5 for v in st["data"]["x"])
    (s, w), (n, e) = data["bounds"]
    assert 117 < w < e < 119 and 36 < s < n < 38


def test_names_are_escaped_in_data_and_never_markup(tmp_path: Path) -> None:
    page, data = _write(tmp_path, layers=make_plan(evil_names=True), title=EVIL2)
    body = page.split("<body>", 1)[1]
    assert EVIL not in body and EVIL2 not in body
    assert len(re.findall(r"^<script", body, re.M)) == 2  # data block + app
    assert f"<title>{EVIL2}" not in page
    st = next(s for s in data["layers"] if s["id"] == "charging_stations")
    assert st["data"]["props"]["name"][:2] == [EVIL, EVIL2]   # round-trips as text
    assert data["title"] == EVIL2


def test_plan_id_is_stable_and_explicit_ids_win(tmp_path: Path) -> None:
    _, a = _write(tmp_path)
    _, b = _write(tmp_path)
    assert a["planId"] == b["planId"] and len(a["planId"]) == 16
    _, c = _write(tmp_path, layers=make_plan(seed=8))
    assert c["planId"] != a["planId"]
    _, d = _write(tmp_path, plan_id="abc123")
    assert d["planId"] == "abc123"


def test_rail_access_links_go_to_the_nearest_station(tmp_path: Path) -> None:
    layers = make_plan()
    layers["rail_stations"] = gpd.GeoDataFrame(
        {"name": ["Near", "Far"]}, geometry=[Point(X0 + 9000, Y0 + 2500),
                                             Point(X0 + 40000, Y0)], crs=CRS)
    built = {m.key: m for m in plan_layers(layers)}
    links = built["rail_access"].frame.set_index("park")
    assert links.loc["lp-2", "station"] == "Near"
    assert links.loc["lp-2", "distance_m"] == pytest.approx(500, abs=1)
    assert links.loc["lp-1", "rail_access_m"] == 1200


def test_unknown_layers_are_drawn_generically() -> None:
    layers = {"my_bus_stops": gpd.GeoDataFrame({"name": ["A"], "routes": [3]},
                                               geometry=[Point(X0, Y0)], crs=CRS)}
    (only,) = plan_layers(layers)
    assert only.kind == "points" and only.title == "My bus stops"
    assert ("routes", "Routes", "") in only.fields


def test_empty_and_missing_layers_are_skipped(tmp_path: Path) -> None:
    layers = make_plan()
    layers["heat_pipes"] = layers["heat_pipes"].iloc[:0]
    del layers["logistics_parks"]
    _, data = _write(tmp_path, layers=layers)
    ids = {s["id"] for s in data["layers"]}
    assert "heat_pipes" not in ids and "logistics_parks" not in ids


def test_duplicate_ids_in_a_decidable_layer_are_an_input_error(tmp_path: Path) -> None:
    layers = make_plan()
    layers["charging_stations"].loc[3, "id"] = "cs-0000"
    with pytest.raises(InputError, match=r"charging_stations.*duplicate ids \['cs-0000'\]"):
        plan_map(layers, tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_layer_without_crs_is_a_crs_error(tmp_path: Path) -> None:
    layers = make_plan()
    layers["heat_sinks"] = layers["heat_sinks"].set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="layer 'heat_sinks' has no CRS"):
        plan_map(layers, tmp_path / "p.html")


def test_missing_values_become_null(tmp_path: Path) -> None:
    layers = make_plan()
    layers["charging_stations"]["kw"] = layers["charging_stations"]["kw"].astype(float)
    layers["charging_stations"].loc[0, "kw"] = np.nan
    _, data = _write(tmp_path, layers=layers)
    st = next(s for s in data["layers"] if s["id"] == "charging_stations")
    assert st["data"]["props"]["kw"][0] is None


def test_write_map_table_is_data_not_markup(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"id": ["a"], "name": [EVIL]}, geometry=[Point(X0, Y0)], crs=CRS)
    path = write_map(tmp_path / "t.html", [MapLayer("pts", frame, "Points", "points",
                                                    id_field="id", name_field="name")],
                     title="t", table={"title": "rows", "columns": ["layer", "id", "name"],
                                       "rows": [["pts", "a", EVIL]], "link": (0, 1)})
    data = _data(path.read_text(encoding="utf-8"))
    assert data["table"]["rows"] == [["pts", "a", EVIL]] and data["table"]["link"] == [0, 1]


def test_region_map_is_offline(tmp_path: Path) -> None:
    import networkx as nx

    from siting.region import Region

    plan = make_plan()
    g = nx.MultiDiGraph(crs=CRS)
    g.add_node(1, x=X0, y=Y0)
    g.add_node(2, x=X0 + 5000, y=Y0)
    g.add_edge(1, 2, highway="primary", length=5000.0,
               geometry=LineString([(X0, Y0), (X0 + 5000, Y0)]))
    boundary = gpd.GeoDataFrame({"name": ["toy"]}, geometry=[plan["districts"].union_all()],
                                crs=CRS)
    region = Region(name="Toy <b>town</b>", crs=CRS, boundary=boundary,
                    districts=plan["districts"], graph=g,
                    layers={"red_line": plan["red_line"], "water": plan["water"]},
                    synthetic=frozenset({"red_line", "graph"}))
    from siting.maps import region_map

    path = region_map(region, tmp_path / "region.html")
    page = path.read_text(encoding="utf-8")
    data = _data(page)
    assert data["title"] == "Toy <b>town</b>" and "<b>town" not in page
    assert data["basemap"]["roads"][0]["class"] == "primary"
    assert {s["id"] for s in data["layers"]} == {"districts", "red_line", "water"}
    assert "roads" in data["syntheticNote"] and "red_line" in data["syntheticNote"]


def test_geometry_kinds_round_trip() -> None:
    from siting.maps.page import _geoms

    g = gpd.GeoSeries([shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)])],
                      crs="EPSG:4326")
    (out,) = _geoms(g, 0.0)
    assert out["type"] == "MultiPolygon" and len(out["coordinates"]) == 2


def test_heat_points_scale_to_unit_weights() -> None:
    from siting.maps.page import heat_points

    cells = make_plan()["demand_cells"].to_crs("EPSG:4326")
    flat = np.asarray(heat_points(cells, "ev_sessions_day")).reshape(-1, 3)
    assert (flat[:, 2] >= 0).all() and (flat[:, 2] <= 1).all()
    assert len(flat) == int((cells["ev_sessions_day"] > 0).sum())
    assert pd.Series(flat[:, 2]).max() == 1.0


def test_the_kpi_panel_shows_the_targets_first(tmp_path):
    from siting.planners import Target

    targets = [Target("chargers.nev_2025", "NEVs served", 110_000, 101_848, "NEVs",
                      "plan").to_dict(),
               Target("fleet.bus_nev_share", "NEV buses", 1.0, None, "share", "plan").to_dict()]
    path = plan_map(make_plan(), tmp_path / "plan.html", kpis={**KPIS, "targets": targets},
                    title="t")
    groups = _data(path.read_text(encoding="utf-8"))["kpis"]
    assert groups[0]["group"] == "Targets of the plan"
    assert groups[0]["rows"] == [
        ["NEVs served", "101,848 / 110,000 NEVs: NOT MET, short 8,152"],
        ["NEV buses", "– / 100.0 %: NOT MET (not modelled)"]]
    assert [g["group"] for g in groups[1:]] == ["Charging piles", "Heat networks"]


def test_money_is_shown_in_the_scenarios_currency(tmp_path: Path) -> None:
    # keys keep their _cny names; what people read says the scenario's currency
    layers = make_plan()
    layers["heat_pipes"] = layers["heat_pipes"].assign(cost_cny=1200.0)
    kpis = {**KPIS, "chargers": {**KPIS["chargers"], "objective_cny_per_year": 5e6}}
    path = plan_map(layers, tmp_path / "eur.html", kpis=kpis, title="Town", currency="EUR")
    data = _data(path.read_text(encoding="utf-8"))
    rows = {row[0]: row[1] for g in data["kpis"] for row in g["rows"]}
    assert rows["Annual cost (objective)"] == "5,000,000 EUR/yr"
    pipes = next(s for s in data["layers"] if s["id"] == "heat_pipes")
    assert ["cost_cny", "Cost", "EUR"] in pipes["fields"]
    assert "CNY" not in json.dumps(data["kpis"]) + json.dumps(pipes["fields"])
    # the default stays CNY, and the currency does not leak into the next page
    data = _data(plan_map(layers, tmp_path / "cny.html", kpis=kpis, title="Zibo").read_text(
        encoding="utf-8"))
    rows = {row[0]: row[1] for g in data["kpis"] for row in g["rows"]}
    assert rows["Annual cost (objective)"] == "5,000,000 CNY/yr"


def test_tianditu_is_offered_only_for_regions_in_china(tmp_path: Path) -> None:
    from siting.maps.page import in_china

    assert in_china([[36.5, 117.8], [37.2, 118.3]])           # Zibo
    assert not in_china([[60.1, 24.8], [60.3, 25.2]])         # Helsinki
    assert not in_china([[21.8, -102.4], [22.0, -102.2]])     # Aguascalientes
    page, data = _write(tmp_path)                             # the toys lie in Zibo
    assert data["basemap"]["tianditu"] is True and "tianditu.gov.cn" in page.split("<style")[0]
    helsinki = {"districts": gpd.GeoDataFrame({"name": ["Helsinki"]},
                                              geometry=[box(24.8, 60.1, 25.2, 60.3)],
                                              crs="EPSG:4326")}
    page = plan_map(helsinki, tmp_path / "fi.html", title="Helsinki").read_text(
        encoding="utf-8")
    assert _data(page)["basemap"]["tianditu"] is False
    assert "tianditu.gov.cn" not in page.split("<style")[0]   # not in the CSP either
    assert _data(page)["basemap"]["online"] is True           # OpenStreetMap still offered
