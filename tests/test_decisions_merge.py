"""Merging several reviewers' decisions files (siting.decisions, `cli.py decisions merge`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import Point

from siting.cli import main
from siting.decisions import format_merge, merge_decisions, write_merged
from siting.errors import InputError
from siting.review import Decision, read_decisions, write_decisions


@pytest.fixture
def two_reviewers(tmp_path: Path) -> tuple[Path, Path]:
    a = write_decisions(tmp_path / "natural_resources.geojson", [
        Decision("charging_stations", "cs-1", "approved", "fine", reviewer="Wang (NRPB)",
                 geometry=Point(118.05, 36.8)),
        Decision("heat_pipes", "hp-2", "rejected", "crosses the reserve",
                 reviewer="Wang (NRPB)"),
        Decision("logistics_parks", "lp-1", "approved", reviewer="Wang (NRPB)"),
    ], plan="p1")
    b = write_decisions(tmp_path / "grid.geojson", [
        Decision("charging_stations", "cs-1", "rejected", "no feeder capacity",
                 reviewer="Li (State Grid)"),
        Decision("logistics_parks", "lp-1", "approved", "ok"),  # no name: the file's
        Decision("charging_stations", "cs-7", "rejected", reviewer="Li (State Grid)"),
    ], plan="p1")
    return a, b


def test_merge_keeps_every_review_and_finds_the_conflict(two_reviewers):
    merged = merge_decisions(two_reviewers)
    assert [(i.layer, i.id, i.decision) for i in merged.items] == [
        ("charging_stations", "cs-1", "conflict"), ("heat_pipes", "hp-2", "rejected"),
        ("logistics_parks", "lp-1", "approved"), ("charging_stations", "cs-7", "rejected")]
    (conflict,) = merged.conflicts
    assert (conflict.layer, conflict.id) == ("charging_stations", "cs-1")
    assert conflict.approved_by == ("Wang (NRPB)",)
    assert conflict.rejected_by == ("Li (State Grid)",)
    lp = merged.items[2]
    assert [r.reviewer for r in lp.reviews] == ["Wang (NRPB)", "grid"]
    assert merged.plan == "p1"
    text = format_merge(merged)
    assert "1 conflicts" in text
    assert "charging_stations cs-1: approved by Wang (NRPB); rejected by Li (State Grid)" \
        in text


def test_merged_file_marks_conflicts_and_plan_refuses_it(two_reviewers, tmp_path):
    path = write_merged(tmp_path / "merged.geojson", merge_decisions(two_reviewers))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["conflicts"] == [{"layer": "charging_stations", "id": "cs-1",
                                 "approved_by": ["Wang (NRPB)"],
                                 "rejected_by": ["Li (State Grid)"]}]
    assert [s["path"] for s in doc["merged_from"]] == [str(p) for p in two_reviewers]
    cs1 = doc["features"][0]["properties"]
    assert cs1["conflict"] is True and cs1["decision"] == "conflict"
    assert [(r["reviewer"], r["decision"], r["comment"]) for r in cs1["reviews"]] == [
        ("Wang (NRPB)", "approved", "fine"), ("Li (State Grid)", "rejected",
                                              "no feeder capacity")]
    assert doc["features"][0]["geometry"]["type"] == "Point"
    with pytest.raises(InputError, match=r"1 problem:\n.*unresolved conflict on "
                                         r"charging_stations cs-1 \(approved by Wang \(NRPB\); "
                                         r"rejected by Li \(State Grid\)\)"):
        read_decisions(path)
    # resolved by hand: the planner's call stands
    doc["features"][0]["properties"].update(decision="rejected", conflict=False)
    path.write_text(json.dumps(doc), encoding="utf-8")
    d = read_decisions(path)
    assert d.rejected("charging_stations") == {"cs-1", "cs-7"}
    assert d.approved("logistics_parks") == {"lp-1"}
    assert d.get("heat_pipes", "hp-2").comment == "Wang (NRPB): crosses the reserve"


def test_cli_merge_exit_codes(two_reviewers, tmp_path, capsys):
    a, b = two_reviewers
    out = tmp_path / "merged.geojson"
    assert main(["decisions", "merge", str(a), str(b), "--out", str(out), "--quiet"]) == 4
    stdout = capsys.readouterr().out
    assert "charging_stations cs-1" in stdout and "Li (State Grid)" in stdout
    assert out.is_file()
    # plan refuses the unresolved conflict with exit 2, naming it, before any solving
    code = main(["plan", "--decisions", str(out), "--out", str(tmp_path / "plan"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unresolved conflict on charging_stations cs-1" in err
    assert "Traceback" not in err
    # no disagreement: exit 0
    c = write_decisions(tmp_path / "housing.geojson",
                        [Decision("heat_pipes", "hp-2", "rejected", reviewer="Zhao")])
    assert main(["decisions", "merge", str(a), str(c), "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["conflicts"] == []


def test_merge_bad_inputs_exit_2(two_reviewers, tmp_path, capsys):
    a, _ = two_reviewers
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    missing = tmp_path / "missing.geojson"
    with pytest.raises(InputError, match=r"decisions merge: 3 problems") as info:
        merge_decisions([a, a, bad, missing])
    msg = str(info.value)
    assert "given twice" in msg and "not valid JSON" in msg and "does not exist" in msg
    code = main(["decisions", "merge", str(a), str(bad), "--out", str(tmp_path / "m.geojson")])
    assert code == 2 and "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "m.geojson").exists()
    with pytest.raises(InputError, match="at least one"):
        merge_decisions([])


def test_same_reviewer_name_in_two_files_stays_apart(tmp_path):
    a = write_decisions(tmp_path / "a.geojson",
                        [Decision("heat_pipes", "hp-1", "approved", reviewer="Chen")])
    b = write_decisions(tmp_path / "b.geojson",
                        [Decision("heat_pipes", "hp-1", "rejected", reviewer="Chen")])
    (c,) = merge_decisions([a, b]).conflicts
    assert c.approved_by == ("Chen",) and c.rejected_by == ("Chen (b.geojson)",)
