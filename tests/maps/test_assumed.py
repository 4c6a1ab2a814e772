"""The map labels what is assumed: the 2030 stage in the legend, popups and KPI panel."""

from __future__ import annotations

import json
import re

import numpy as np
from _toys import KPIS, make_plan

from siting.chargers.layers import STAGE_COLOURS, stage_label
from siting.maps import plan_layers, plan_map


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="siting-data">(.*?)</script>', page,
                  re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def test_stage_labels():
    assert stage_label(2025) == "2025" and stage_label("2025") == "2025"
    assert stage_label(2030) == "2030 (assumed)" and stage_label(np.int64(2030)) == \
        "2030 (assumed)"
    assert stage_label(2030.0) == "2030 (assumed)" and stage_label("later") == "later"


def test_station_legend_and_popups_say_2030_is_assumed(tmp_path):
    layers = make_plan()
    layers["charging_stations"]["stage"] = np.where(
        layers["charging_stations"]["stage"] == "2030", 2030, 2025)     # years, as planned
    (st,) = [m for m in plan_layers(layers) if m.key == "charging_stations"]
    assert st.color_by["categories"] == {"2025": STAGE_COLOURS[0],
                                         "2030 (assumed)": STAGE_COLOURS[1]}
    assert "assumed stages" in st.style["note"]
    page = _data(plan_map(layers, tmp_path / "p.html", title="t").read_text(encoding="utf-8"))
    (spec,) = [s for s in page["layers"] if s["id"] == "charging_stations"]
    assert set(spec["data"]["props"]["stage"]) == {"2025", "2030 (assumed)"}
    assert list(spec["colorBy"]["categories"]) == ["2025", "2030 (assumed)"]
    # the plan's own layer is untouched
    assert set(layers["charging_stations"]["stage"]) == {2025, 2030}


def test_kpi_panel_shows_sections_and_marks_assumed_ones(tmp_path):
    kpis = {"chargers": {**KPIS["chargers"],
                         "stage_2030": {"piles_total": 80_000, "headroom": {"x": 1}},
                         "residential": {"reserved_share": 0.5},
                         "per_district": {"A": {"piles": 3}}},
            "heat": {**KPIS["heat"], "extra": {"source": "assumption", "mw": 3.0}}}
    groups = _data(plan_map(make_plan(), tmp_path / "p.html", kpis=kpis, title="t")
                   .read_text(encoding="utf-8"))["kpis"]
    titles = [g["group"] for g in groups]
    assert titles == ["Charging piles", "Charging piles · stage 2030 (assumed)",
                      "Charging piles · residential", "Heat networks",
                      "Heat networks · extra (assumed)"]
    assert groups[1]["rows"] == [["Charging piles", "80,000 piles"]]  # nested deeper: left out
    assert ["Source", "assumption"] in groups[4]["rows"]
