"""End-to-end tests of ``plan``-family commands, ``review`` and ``diff`` through the CLI.

The logistics planner is the quickest, so it carries the shared machinery (outputs,
decisions, review exit codes, diff); each planner's own tests live beside it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from siting.cli import EXIT_VIOLATIONS, main
from siting.config import DEFAULT_SCENARIO
from siting.review import Decision, write_decisions


@pytest.fixture(scope="module")
def coarse_scenario(tmp_path_factory) -> Path:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    text = re.sub(r'^road_detail = "full"', 'road_detail = "coarse"', text, flags=re.M)
    text = re.sub(r"^cell_size_m = 500.0", "cell_size_m = 1000.0", text, flags=re.M)
    path = tmp_path_factory.mktemp("scenario") / "coarse.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def logistics_plan(coarse_scenario, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    assert main(["logistics", "--scenario", str(coarse_scenario), "--out", str(out),
                 "--quiet"]) == 0
    return out


def test_plan_outputs_follow_the_contract(logistics_plan):
    out = logistics_plan
    for name in ("plan.gpkg", "plan.html", "kpis.json", "provenance.json"):
        assert (out / name).is_file(), name
    layers = {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert {"districts", "demand_cells", "logistics_parks", "red_line", "water",
            "farmland"} <= layers
    parks = gpd.read_file(out / "plan.gpkg", layer="logistics_parks")
    assert parks.crs.to_epsg() == 4326
    assert {"capacity_mt", "throughput_mt", "rail_access_m", "id"} <= set(parks.columns)
    assert len(parks) == 8
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert {"parks", "freight_mt", "rail_access_max_m", "status", "mip_gap",
            "solve_seconds"} <= set(kpis["logistics"])
    assert kpis["logistics"]["freight_mt"] >= 18.5 - 1e-6
    targets = {t["id"]: t for t in kpis["targets"]}
    assert set(targets) == {"logistics.parks", "logistics.freight_mt"}
    for target in targets.values():
        assert {"id", "text", "target", "achieved", "unit", "met", "source"} <= set(target)
        assert target["met"] is True and target["source"] == "plan"
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["solvers"]["logistics"]["solver"] == "highs"
    assert prov["solvers"]["logistics"]["status"] in ("optimal", "time_limit_feasible")
    assert prov["planners"] == ["logistics"]


def test_review_passes_the_plan_and_fails_a_planted_violation(logistics_plan, tmp_path,
                                                              capsys):
    assert main(["review", "--plan", str(logistics_plan / "plan.gpkg"), "--out",
                 str(tmp_path / "clean"), "--quiet"]) == 0
    assert "PASS" in capsys.readouterr().out
    # plant: move the first park onto the middle of a red-line polygon
    bad = tmp_path / "bad" / "plan.gpkg"
    bad.parent.mkdir()
    shutil.copy(logistics_plan / "plan.gpkg", bad)
    parks = gpd.read_file(bad, layer="logistics_parks")
    red = gpd.read_file(bad, layer="red_line")
    parks.loc[0, "geometry"] = red.geometry.iloc[0].representative_point()  # inside it
    parks.to_file(bad, layer="logistics_parks", driver="GPKG")
    code = main(["review", "--plan", str(bad), "--quiet"])
    out = capsys.readouterr().out
    assert code == EXIT_VIOLATIONS
    assert "park_in_red_line" in out
    rows = (bad.parent / "review.csv").read_text(encoding="utf-8")
    assert str(parks.loc[0, "id"]) in rows


def test_rejected_park_is_absent_after_replanning_and_diff_reports_it(
        logistics_plan, coarse_scenario, tmp_path, capsys):
    parks = gpd.read_file(logistics_plan / "plan.gpkg", layer="logistics_parks")
    rejected = str(parks["id"].iloc[0])
    decisions = write_decisions(tmp_path / "decisions.geojson", [
        Decision(layer="logistics_parks", id=rejected, decision="rejected",
                 comment="too close to a village")])
    out = tmp_path / "replan"
    assert main(["logistics", "--scenario", str(coarse_scenario), "--out", str(out),
                 "--decisions", str(decisions), "--quiet"]) == 0
    again = gpd.read_file(out / "plan.gpkg", layer="logistics_parks")
    assert rejected not in set(again["id"]) and len(again) == 8
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert len(prov["decisions_file"]["sha256"]) == 64
    capsys.readouterr()
    assert main(["diff", str(logistics_plan / "plan.gpkg"), str(out / "plan.gpkg"),
                 "--out", str(tmp_path / "diff"), "--quiet"]) == 0
    table = (tmp_path / "diff" / "diff.csv").read_text(encoding="utf-8")
    assert re.search(rf"removed.*{re.escape(rejected)}|{re.escape(rejected)}.*removed", table)


def test_bad_plan_arguments_exit_2(coarse_scenario, tmp_path, capsys):
    assert main(["logistics", "--scenario", str(coarse_scenario), "--time-limit", "-3",
                 "--out", str(tmp_path)]) == 2
    assert "--time-limit" in capsys.readouterr().err
    assert main(["logistics", "--scenario", str(coarse_scenario), "--decisions",
                 str(tmp_path / "nope.geojson"), "--out", str(tmp_path)]) == 2
    assert "nope.geojson" in capsys.readouterr().err
    assert main(["review", "--plan", str(tmp_path / "missing.gpkg")]) == 2
    assert "missing.gpkg" in capsys.readouterr().err


def test_infeasible_target_names_the_shortfall(coarse_scenario, tmp_path, capsys):
    text = coarse_scenario.read_text(encoding="utf-8")
    text = re.sub(r"^freight_mt_2025 = 18.5", "freight_mt_2025 = 500.0", text, flags=re.M)
    path = tmp_path / "infeasible.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["logistics", "--scenario", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "500" in err and "short" in err and "Traceback" not in err
    assert not (out / "plan.gpkg").exists()
