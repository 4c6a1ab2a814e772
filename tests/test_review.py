"""Compliance review (hand-checked planted violations), decisions files and plan diffs.

The toy plan comes from ``test_maps.make_plan``: stations in x, y in [0, 8] km,
red line at x in [20, 24] km (y in [0, 4] km), water at y in [-6, -4] km, farmland at
x in [10, 12] km; offsets are from (X0, Y0) in UTM 50N.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _toys import CRS, X0, Y0, make_plan, plant_violations
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from siting.config import ReviewSettings
from siting.diff import diff_plans, format_diff, write_diff
from siting.errors import CRSError, InputError
from siting.export import write_gpkg
from siting.review import (
    Decision,
    format_review,
    read_constraints,
    read_decisions,
    review_plan,
    review_rules,
    run_review,
    write_decisions,
    write_review,
)

RULES = ReviewSettings(station_red_line_buffer_m=0.0, park_water_buffer_m=500.0,
                       park_red_line_buffer_m=0.0, pipe_farmland="underground",
                       pipe_farmland_extra_cost_cny_per_m=1500.0)
FARM_CROSSING_M = 2000.0 * math.hypot(1.0, 100.0 / 7000.0)   # hp-3 across the 2 km strip


def _constraints(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    return {k: layers[k] for k in ("red_line", "water", "farmland")}


def _review(layers: dict[str, gpd.GeoDataFrame], rules: ReviewSettings = RULES):
    return review_plan(layers, _constraints(layers), rules=rules, crs=CRS)


# ------------------------------------------------------------------ review

def test_clean_plan_passes() -> None:
    result = _review(make_plan())
    assert result.passed and result.findings.empty
    assert set(result.checks["status"]) == {"pass"}
    assert result.checks.set_index("rule").loc["station_in_red_line", "items_checked"] == 40


def test_planted_violations_are_found_with_hand_checked_numbers() -> None:
    result = _review(plant_violations(make_plan()))
    assert not result.passed
    f = result.findings.set_index(["item_id", "rule"])
    assert set(result.violations.set_index(["item_id", "rule"]).index) == {
        ("cs-0001", "station_in_red_line"), ("cs-0002", "station_on_farmland"),
        ("lp-2", "park_near_water"), ("hp-2", "pipe_in_red_line")}
    assert f.loc[("cs-0001", "station_in_red_line"), "distance_m"] == 0
    assert f.loc[("lp-2", "park_near_water"), "distance_m"] == pytest.approx(300, abs=0.1)
    assert f.loc[("lp-2", "park_near_water"), "buffer_m"] == 500
    assert f.loc[("hp-2", "pipe_in_red_line"), "overlap_m"] == pytest.approx(4000, abs=0.1)
    farm = f.loc[("hp-3", "pipe_across_farmland")]
    assert farm["severity"] == "condition"
    assert farm["overlap_m"] == pytest.approx(FARM_CROSSING_M, abs=0.1)
    assert farm["extra_cost_cny"] == pytest.approx(FARM_CROSSING_M * 1500, abs=1)
    water = f.loc[("hp-1", "pipe_across_water")]
    assert water["severity"] == "condition" and water["overlap_m"] == pytest.approx(2000, abs=0.1)
    assert len(result.findings) == 6
    s = result.summary()
    assert s["violations"] == 4 and s["conditions"] == 2 and s["items_with_violations"] == 4
    text = format_review(result)
    assert text.startswith("Review: FAIL (4 violations, 2 conditions")


def test_forbidding_farmland_crossings_makes_them_violations() -> None:
    strict = RULES.model_copy(update={"pipe_farmland": "forbid"})
    result = _review(plant_violations(make_plan()), strict)
    row = result.findings.set_index("rule").loc["pipe_across_farmland"]
    assert row["severity"] == "violation" and row["extra_cost_cny"] == 0


def test_a_pipe_marked_overhead_may_not_cross_farmland() -> None:
    layers = plant_violations(make_plan())
    layers["heat_pipes"]["underground"] = [True, True, False]
    row = _review(layers).findings.set_index("rule").loc["pipe_across_farmland"]
    assert row["severity"] == "violation" and "overhead" in row["detail"]


def test_park_polygon_overlap_area_is_exact() -> None:
    layers = make_plan()
    # lp-1 is a 300 m disc; put its centre on the water's northern edge: half inside
    layers["logistics_parks"].loc[0, "geometry"] = Point(X0 + 5_000, Y0 - 4_000).buffer(300)
    f = _review(layers).findings.set_index(["item_id", "rule"])
    area = layers["logistics_parks"].geometry[0].area / 2
    assert f.loc[("lp-1", "park_near_water"), "overlap_m2"] == pytest.approx(area, rel=1e-3)


@pytest.mark.parametrize(("offset_m", "flagged"), [(-1, True), (299, True), (301, False)])
def test_station_buffer_rule(offset_m: float, flagged: bool) -> None:
    layers = make_plan()
    # red line's west edge is x = 20 km; put cs-0000 offset_m west of it
    layers["charging_stations"].loc[0, "geometry"] = Point(X0 + 20_000 - offset_m, Y0 + 1_000)
    result = _review(layers, RULES.model_copy(update={"station_red_line_buffer_m": 300.0}))
    assert (not result.passed) is flagged


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(15_000, 30_000), st.floats(-5_000, 9_000)),
                min_size=1, max_size=25),
       st.sampled_from([0.0, 250.0, 1_000.0]))
def test_flags_exactly_the_stations_within_the_buffer(points, buffer_m) -> None:
    layers = make_plan(n_stations=len(points))
    layers["charging_stations"]["geometry"] = [Point(X0 + x, Y0 + y) for x, y in points]
    result = _review(layers, RULES.model_copy(update={"station_red_line_buffer_m": buffer_m}))
    red = layers["red_line"].union_all()
    dist = shapely.distance(np.asarray(layers["charging_stations"].geometry), red)
    want = set(layers["charging_stations"]["id"][dist <= buffer_m])
    got = set(result.findings.loc[result.findings["rule"] == "station_in_red_line", "item_id"])
    assert got == want


def test_overlapping_constraint_polygons_are_not_double_counted() -> None:
    layers = plant_violations(make_plan())
    red = layers["red_line"]
    layers["red_line"] = pd.concat([red, red.assign(geometry=red.translate(xoff=1_000))],
                                   ignore_index=True)
    f = _review(layers).findings.set_index(["item_id", "rule"])
    assert f.loc[("hp-2", "pipe_in_red_line"), "overlap_m"] == pytest.approx(5000, abs=0.1)


def test_missing_layers_are_reported_not_checked() -> None:
    layers = make_plan()
    del layers["logistics_parks"]
    result = review_plan(layers, {"red_line": layers["red_line"]}, rules=RULES, crs=CRS)
    status = result.checks.set_index("rule")["status"]
    assert status["park_near_water"] == "not checked: no logistics_parks in the plan"
    assert status["station_on_farmland"] == "not checked: no farmland layer"
    assert status["station_in_red_line"] == "pass"


def test_rules_follow_the_scenario() -> None:
    rules = {r.name: r for r in review_rules(RULES.model_copy(update={
        "park_water_buffer_m": 800.0}))}
    assert rules["park_near_water"].buffer_m == 800
    assert "800 m" in rules["park_near_water"].text


def test_review_errors() -> None:
    layers = make_plan()
    with pytest.raises(CRSError, match="projected metric CRS; got 'EPSG:4326'"):
        review_plan(layers, _constraints(layers), rules=RULES, crs="EPSG:4326")
    with pytest.raises(InputError, match="none of the layers"):
        review_plan({"districts": layers["districts"]}, _constraints(layers), rules=RULES,
                    crs=CRS)
    bad = layers["red_line"].set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="constraint layer 'red_line' has no CRS"):
        review_plan(layers, {"red_line": bad}, rules=RULES, crs=CRS)


# ------------------------------------------------------------------ files

@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    write_gpkg(tmp_path / "plan" / "plan.gpkg", plant_violations(make_plan()))
    return tmp_path / "plan"


def test_run_review_writes_html_csv_and_summary(plan_dir: Path, tmp_path: Path) -> None:
    result, files = run_review(plan_dir / "plan.gpkg", rules=RULES, out=tmp_path / "out")
    assert not result.passed and len(result.violations) == 4
    table = pd.read_csv(files.csv)
    assert len(table) == 6 and set(table["severity"]) == {"violation", "condition"}
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    assert summary["passed"] is False and summary["violations"] == 4
    page = files.html.read_text(encoding="utf-8")
    assert "Findings (6)" in page and "review_summary" not in page
    from siting.review import plan_id

    assert f'"planId":"{plan_id(plan_dir / "plan.gpkg")}"' in page


def test_clean_plan_file_passes(tmp_path: Path) -> None:
    write_gpkg(tmp_path / "plan.gpkg", make_plan())
    result, files = run_review(tmp_path / "plan.gpkg", rules=RULES)
    assert result.passed and files.html.parent == tmp_path
    assert json.loads(files.summary.read_text())["passed"] is True


def test_user_constraints_in_any_crs(plan_dir: Path, tmp_path: Path) -> None:
    layers = plant_violations(make_plan())
    shp = tmp_path / "shp" / "red_line.shp"
    shp.parent.mkdir()
    layers["red_line"].to_crs("EPSG:4326").to_file(shp)
    gpkg = tmp_path / "cons.gpkg"
    for name in ("water", "farmland"):
        layers[name].to_crs("EPSG:3857").to_file(gpkg, layer=name, driver="GPKG")
    renamed = tmp_path / "anything.gpkg"
    layers["red_line"].to_crs("EPSG:4490").to_file(renamed, driver="GPKG")
    direct = _review(layers)
    for sources in ([str(shp), str(gpkg)], [f"red_line={renamed}", str(gpkg)]):
        result, _ = run_review(plan_dir / "plan.gpkg", constraints=sources, rules=RULES,
                               out=tmp_path / "o")
        got = result.findings.set_index(["item_id", "rule"]).sort_index()
        want = direct.findings.set_index(["item_id", "rule"]).sort_index()
        assert list(got.index) == list(want.index)
        np.testing.assert_allclose(got["overlap_m"], want["overlap_m"], atol=1.0)
        np.testing.assert_allclose(got["distance_m"], want["distance_m"], atol=1.0)


def test_constraint_source_errors(tmp_path: Path) -> None:
    layers = make_plan()
    odd = tmp_path / "zones.gpkg"
    layers["red_line"].to_file(odd, layer="zones", driver="GPKG")
    multi = tmp_path / "multi.gpkg"
    for name in ("a", "b"):
        layers["water"].to_file(multi, layer=name, driver="GPKG")
    with pytest.raises(InputError, match=r"4 problems") as info:
        read_constraints([str(odd), f"wetland={odd}", f"water={multi}",
                          str(tmp_path / "nope.shp")], crs=CRS)
    msg = str(info.value)
    assert "cannot tell which constraint" in msg and "red_line=redline.shp" in msg
    assert "unknown constraint 'wetland'" in msg and "has 2 layers" in msg
    assert "nope.shp: file does not exist" in msg
    with pytest.raises(InputError, match="plan has no constraint layers"):
        read_constraints([], plan_layers={"charging_stations": layers["charging_stations"]},
                         crs=CRS)


def test_plan_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"does not exist; give the plan\.gpkg"):
        run_review(tmp_path / "missing.gpkg", rules=RULES)
    junk = tmp_path / "plan.gpkg"
    junk.write_bytes(b"not a geopackage")
    with pytest.raises(InputError, match="cannot be read as a GeoPackage"):
        run_review(junk, rules=RULES)


def test_write_review_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import siting.maps

    layers = plant_violations(make_plan())
    result = _review(layers)
    out = tmp_path / "out"
    out.mkdir()
    (out / "review.csv").write_text("previous good result")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(siting.maps, "write_map", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_review(result, out, plan_layers=layers, constraints=_constraints(layers))
    assert (out / "review.csv").read_text() == "previous good result"
    assert not (out / "review.html").exists()


# ------------------------------------------------------------------ decisions

def test_decisions_round_trip(tmp_path: Path) -> None:
    items = [Decision("charging_stations", "cs-0003", "rejected", "school yard",
                      geometry=Point(118.1, 36.8)),
             Decision("heat_pipes", "hp-2", "approved")]
    path = write_decisions(tmp_path / "decisions.geojson", items, plan="p1")
    d = read_decisions(path, plan_id="p1")
    assert d.rejected("charging_stations") == {"cs-0003"} and d.approved("heat_pipes") == {
        "hp-2"}
    assert d.rejected("heat_pipes") == frozenset() and d.plan == "p1"
    frame = d.frame()
    assert list(frame["id"]) == ["cs-0003", "hp-2"] and frame.crs == "EPSG:4326"


def test_decisions_for_another_plan_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                         ) -> None:
    path = write_decisions(tmp_path / "d.geojson",
                           [Decision("logistics_parks", "lp-1", "rejected")], plan="old")
    with caplog.at_level(logging.WARNING, logger="siting.review"):
        read_decisions(path, plan_id="new")
    assert "made for plan old, not new" in caplog.text


def test_bad_decisions_files_list_every_problem(tmp_path: Path) -> None:
    feats = [{"type": "Feature", "geometry": None, "properties": p} for p in (
        {"layer": "charging_stations", "id": "a", "decision": "maybe"},
        {"layer": "roads", "id": "b", "decision": "rejected"},
        {"layer": "charging_stations", "decision": "approved"},
        {"layer": "heat_pipes", "id": "p", "decision": "approved"},
        {"layer": "heat_pipes", "id": "p", "decision": "rejected"})]
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [*feats, 3]}))
    with pytest.raises(InputError, match="5 problems") as info:
        read_decisions(path)
    msg = str(info.value)
    for want in ("feature 0: decision 'maybe' must be 'approved' or 'rejected'",
                 "feature 1: layer 'roads' is not one of", "feature 2: no id",
                 "feature 4: heat_pipes p is both approved and rejected",
                 "feature 5: no properties"):
        assert want in msg
    path.write_text("{not json")
    with pytest.raises(InputError, match="is not valid JSON"):
        read_decisions(path)
    path.write_text(json.dumps({"type": "Feature"}))
    with pytest.raises(InputError, match="not a GeoJSON FeatureCollection"):
        read_decisions(path)
    with pytest.raises(InputError, match="does not exist; download it"):
        read_decisions(tmp_path / "none.geojson")


# ------------------------------------------------------------------ diff

def _kpis(path: Path, piles: int, gap: float) -> None:
    path.with_name("kpis.json").write_text(json.dumps(
        {"chargers": {"piles_total": piles, "stations": 40, "status": "optimal",
                      "mip_gap": gap}}))


def test_diff_reports_added_removed_changed_and_kpi_deltas(tmp_path: Path) -> None:
    a_layers = make_plan()
    b_layers = {k: v.copy() for k, v in a_layers.items()}
    st_ = b_layers["charging_stations"]
    st_.loc[4, "piles"] = st_.loc[4, "piles"] + 4
    st_.loc[5, "geometry"] = Point(st_.geometry[5].x + 100, st_.geometry[5].y)
    new = st_.iloc[[0]].assign(id="cs-9999")
    st_ = pd.concat([st_.drop(index=3), new], ignore_index=True)
    b_layers["charging_stations"] = gpd.GeoDataFrame(st_, crs=CRS)
    a, b = tmp_path / "a" / "plan.gpkg", tmp_path / "b" / "plan.gpkg"
    write_gpkg(a, a_layers)
    write_gpkg(b, b_layers)
    _kpis(a, 1000, 0.01)
    _kpis(b, 990, 0.0)
    diff = diff_plans(a, b)
    items = diff.items.set_index(["layer", "id"])
    assert items.loc[("charging_stations", "cs-0003"), "change"] == "removed"
    assert items.loc[("charging_stations", "cs-9999"), "change"] == "added"
    want = f"piles: {a_layers['charging_stations'].loc[4, 'piles']} -> " \
           f"{a_layers['charging_stations'].loc[4, 'piles'] + 4}"
    assert items.loc[("charging_stations", "cs-0004"), "changes"] == want
    assert items.loc[("charging_stations", "cs-0005"), "changes"] == "moved 100 m"
    assert len(diff.items) == 4
    counts = diff.counts.loc["charging_stations"]
    assert (counts["added"], counts["removed"], counts["changed"], counts["unchanged"]) == (
        1, 1, 2, 37)  # 40 in A: one removed, two changed
    k = diff.kpis.set_index("kpi")
    assert k.loc["piles_total", "delta"] == -10 and k.loc["piles_total", "delta_pct"] == -1.0
    assert k.loc["mip_gap", "delta_pct"] == -100.0
    assert pd.isna(k.loc["status", "delta"]) and k.loc["status", "b"] == "optimal"
    assert "cs" not in format_diff(diff).split("\n")[0]
    files = write_diff(diff, tmp_path / "d")
    assert len(pd.read_csv(files.csv)) == 4
    assert len(pd.read_csv(files.kpis_csv)) == 4
    assert json.loads(files.summary.read_text())["identical"] is False


def test_identical_plans_have_no_diff(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "plan.gpkg", tmp_path / "b" / "plan.gpkg"
    write_gpkg(a, make_plan())
    write_gpkg(b, make_plan())
    diff = diff_plans(a, b)
    assert diff.identical and diff.kpis.empty
    assert set(diff.counts["unchanged"]) >= {40, 2, 3}


def test_diff_needs_ids(tmp_path: Path) -> None:
    layers = make_plan()
    layers["heat_pipes"] = layers["heat_pipes"].drop(columns="id")
    a = tmp_path / "a" / "plan.gpkg"
    write_gpkg(a, layers)
    with pytest.raises(InputError, match="layer 'heat_pipes': no 'id' column"):
        diff_plans(a, a)


def test_decisions_by_layer_feed_the_planners(tmp_path: Path) -> None:
    from siting.planners import ItemDecisions

    path = write_decisions(tmp_path / "d.geojson", [
        Decision("charging_stations", "cs-0003", "rejected"),
        Decision("charging_stations", "cs-0007", "approved"),
        Decision("logistics_parks", "lp-1", "rejected")])
    by_layer = read_decisions(path).by_layer()
    assert by_layer == {
        "charging_stations": ItemDecisions(rejected=frozenset({"cs-0003"}),
                                           approved=frozenset({"cs-0007"})),
        "logistics_parks": ItemDecisions(rejected=frozenset({"lp-1"}))}


def test_diff_ignores_solver_bookkeeping_and_noise(tmp_path: Path) -> None:
    a_layers = make_plan()
    a_layers["heat_pipes"]["link"] = [10, 11, 12]
    b_layers = {k: v.copy() for k, v in a_layers.items()}
    pipes = b_layers["heat_pipes"]
    pipes["link"] = [7, 8, 9]                              # per-run index: not a change
    pipes.loc[0, "flow_mw"] *= 1.0001                      # solver noise: not a change
    pipes.loc[1, "flow_mw"] *= 1.02                        # a real change
    a, b = tmp_path / "a" / "plan.gpkg", tmp_path / "b" / "plan.gpkg"
    write_gpkg(a, a_layers)
    write_gpkg(b, b_layers)
    items = diff_plans(a, b).items
    assert list(items["id"]) == ["hp-2"] and items["changes"].iloc[0] == "flow_mw: 40 -> 40.8"
    strict = diff_plans(a, b, rel_tol=1e-9, ignore_columns=())
    assert set(strict.items["id"]) == {"hp-1", "hp-2", "hp-3"}


def test_review_and_diff_pages_speak_the_plans_language(plan_dir: Path) -> None:
    """A plan of Zibo's gets Chinese review and diff pages by default; --lang overrides."""
    from siting.cli import main
    from siting.review import plan_lang

    plan = plan_dir / "plan.gpkg"
    assert plan_lang(plan) == "en"  # no provenance: English
    (plan_dir / "provenance.json").write_text(
        json.dumps({"region": "Zibo (demo)", "scenario": {"scenario": {"name": "x"}}}),
        encoding="utf-8")
    assert plan_lang(plan) == "zh"
    assert main(["review", "--plan", str(plan), "--out", str(plan_dir / "rz"),
                 "--quiet"]) == 4
    page = (plan_dir / "rz" / "review.html").read_text(encoding="utf-8")
    assert "合规审查" in page and "审查发现" in page and 'lang="zh-CN"' in page
    assert main(["review", "--plan", str(plan), "--out", str(plan_dir / "re"), "--lang", "en",
                 "--quiet"]) == 4
    assert "合规审查" not in (plan_dir / "re" / "review.html").read_text(encoding="utf-8")
    assert main(["diff", str(plan), str(plan), "--out", str(plan_dir / "d"), "--quiet"]) == 0
    assert "方案对比" in (plan_dir / "d" / "diff.html").read_text(encoding="utf-8")
