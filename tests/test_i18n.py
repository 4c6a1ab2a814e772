"""The message catalogue (siting/i18n.py), ``--lang`` and ``cli.py map``."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from _toys import KPIS, make_plan

from siting import i18n
from siting.cli import build_parser, main
from siting.export import write_gpkg
from siting.i18n import MESSAGES, default_lang, t
from siting.maps.page import KPI_LABELS, KPI_UNITS, format_kpi, kpi_label
from siting.pipeline import render_map
from siting.planners import targets_table

TARGETS = [{"id": "piles_2025", "text": "new charging piles by 2025", "unit": "piles",
            "achieved": 900.0, "target": 1000.0, "shortfall": 100.0, "met": False},
           {"id": "parks", "text": "logistics parks", "unit": "parks", "achieved": 2.0,
            "target": 2.0, "shortfall": 0.0, "met": True, "source": "assumption"}]


def test_every_key_has_english_and_chinese() -> None:
    bad = [k for k, v in MESSAGES.items()
           if set(v) != {"en", "zh"} or not all(isinstance(s, str) and s.strip()
                                                 for s in v.values())]
    assert not bad, f"keys without both en and zh text: {bad}"


def test_every_kpi_label_is_catalogued() -> None:
    assert set(KPI_UNITS) == set(KPI_LABELS)
    assert all(f"kpi.{k}" in MESSAGES for k in KPI_UNITS)
    assert kpi_label("kw_total_mw") == ("Charging power", "MW")
    assert kpi_label("kw_total_mw", lang="zh") == ("充电功率", "MW")
    assert kpi_label("piles", section="fleet", lang="zh") == ("专用充电桩", "piles")
    assert format_kpi("checked", True, lang="zh") == "是"
    assert format_kpi("piles_total", 1200, lang="zh") == "1,200 个"


@pytest.mark.parametrize(("key", "zh"), [
    ("layer.charging_stations", "充电站"), ("field.piles", "充电桩"),
    ("layer.logistics_parks", "物流园区"), ("layer.heat_pipes", "供热管道"),
    ("layer.heat_sources", "热源"), ("layer.red_line", "生态保护红线"),
    ("layer.farmland", "永久基本农田"), ("layer.water", "水体"), ("layer.districts", "行政区"),
    ("layer.substations", "变电站"), ("layer.rail_stations", "火车站"),
    ("ui.targets", "规划目标"), ("ui.met", "达标"), ("ui.not_met", "未达标"),
    ("ui.assumed", "假设"), ("ui.approve", "同意"), ("ui.reject", "驳回")])
def test_required_terms(key: str, zh: str) -> None:
    assert t(key, "zh") == zh


def test_missing_text_falls_back_to_english_and_is_logged_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(MESSAGES, "test.only_en", {"en": "Only English"})
    monkeypatch.setattr(i18n, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="siting.i18n"):
        assert t("test.only_en", "zh") == "Only English"
        assert t("test.only_en", "zh") == "Only English"
        assert t("test.nowhere", "zh") == "test.nowhere"
    assert len([r for r in caplog.records if "test.only_en" in r.getMessage()]) == 1


def test_default_language() -> None:
    assert default_lang("Zibo (demo)") == "zh"
    assert default_lang("淄博市") == "zh"
    assert default_lang("Monaco", "my scenario") == "en"
    assert default_lang("Monaco", demo=True) == "zh"


def test_targets_table_in_both_languages() -> None:
    en = targets_table(TARGETS)
    assert en.startswith("Targets: 1 of 2 met") and "NOT MET, short 100" in en
    zh = targets_table(TARGETS, lang="zh")
    assert zh.startswith("规划目标：2 项中 1 项达标")
    assert "未达标，缺口 100" in zh and "[假设]" in zh


def test_lang_option_on_plan_and_planners() -> None:
    parser = build_parser()
    for command in ("plan", "chargers", "logistics", "heat"):
        assert parser.parse_args([command, "--lang", "en"]).lang == "en"
        assert parser.parse_args([command]).lang is None
    with pytest.raises(SystemExit):
        parser.parse_args(["plan", "--lang", "fr"])


# ------------------------------------------------------------------ cli.py map

def _spec(page: str) -> dict:
    return json.loads(re.search(r'id="siting-data">(.*?)</script>', page, re.S).group(1))


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plan"
    write_gpkg(folder / "plan.gpkg", make_plan())
    (folder / "kpis.json").write_text(json.dumps({"targets": TARGETS, **KPIS}), "utf-8")
    (folder / "provenance.json").write_text(json.dumps({"region": "Zibo (demo)"}), "utf-8")
    return folder


def test_map_zh_is_chinese(plan_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "zh"
    assert main(["map", "--plan", str(plan_dir / "plan.gpkg"), "--lang", "zh",
                 "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["plan.html"]
    page = (out / "plan.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page
    spec = _spec(page)
    titles = {ls["id"]: ls["title"] for ls in spec["layers"]}
    assert titles["charging_stations"] == "充电站"          # ids unchanged, titles Chinese
    assert titles["logistics_parks"] == "物流园区" and titles["heat_pipes"] == "供热管道"
    stations = next(ls for ls in spec["layers"] if ls["id"] == "charging_stations")
    assert ["piles", "充电桩", ""] in stations["fields"]     # popup label
    groups = [g["group"] for g in spec["kpis"]]
    assert groups[0] == "规划目标" and "充电桩" in groups and "供热管网" in groups
    rows = dict(r for g in spec["kpis"] for r in g["rows"])
    assert rows["充电桩"] == "1,000 个" and "服务范围内需求占比" in rows
    assert "供热管道" in rows and "求解状态" in rows
    assert rows["new charging piles by 2025"].endswith("未达标，缺口 100")
    assert spec["text"]["approve"] == "同意" and spec["text"]["reject"] == "驳回"
    assert spec["text"]["download_decisions"].startswith("下载")
    assert "充电站" in page and "充电桩" in page


def test_map_en_is_english_and_default_follows_the_region(plan_dir: Path,
                                                           tmp_path: Path) -> None:
    path = render_map(plan_dir / "plan.gpkg", tmp_path / "en", lang="en")
    page = path.read_text(encoding="utf-8")
    spec = _spec(page)
    assert '<html lang="en">' in page and "text" not in spec
    titles = {ls["id"]: ls["title"] for ls in spec["layers"]}
    assert titles["charging_stations"] == "Charging stations"
    assert spec["kpis"][0]["group"] == "Targets of the plan"
    assert "充电站" not in page
    # no --lang: Zibo's plan is drawn in Chinese, another region's in English
    assert _spec(render_map(plan_dir / "plan.gpkg", tmp_path / "d1").read_text(
        encoding="utf-8"))["lang"] == "zh"
    (plan_dir / "provenance.json").write_text(json.dumps({"region": "Monaco"}), "utf-8")
    assert "lang" not in _spec(render_map(plan_dir / "plan.gpkg", tmp_path / "d2").read_text(
        encoding="utf-8"))


def test_map_into_the_plan_folder_replaces_only_plan_html(plan_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in plan_dir.iterdir()}
    assert main(["map", "--plan", str(plan_dir / "plan.gpkg"), "--quiet"]) == 0
    after = {p.name: p.read_bytes() for p in plan_dir.iterdir()}
    assert set(after) == set(before) | {"plan.html"}
    assert all(after[n] == before[n] for n in before)


def test_map_errors_name_the_missing_file(plan_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["map", "--plan", str(tmp_path / "nope" / "plan.gpkg"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "nope/plan.gpkg" in capsys.readouterr().err
    (plan_dir / "kpis.json").unlink()
    assert main(["map", "--plan", str(plan_dir / "plan.gpkg"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "kpis.json" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
