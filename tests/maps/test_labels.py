"""The KPI panel speaks to people: labels with units, years as years, no float noise."""

from __future__ import annotations

import pandas as pd
import pytest

from siting.maps.page import (
    KPI_LABELS,
    _column,
    _kpi_rows,
    format_kpi,
    format_number,
    format_value,
    kpi_label,
)

#: the KPIs the planners write (kpis.json of the Zibo demo), each with its label's unit
PLAN_KPIS = {
    "chargers": {"piles_total": 40000, "kw_total_mw": 763.483, "nev_served": 110000.0,
                 "peak_p_wait_over_max": 0.2, "stations_erlang_binding": 90,
                 "peak_wait_min": 1.181, "mean_distance_m": 863.5, "coverage_share": 1.0,
                 "objective_cny_per_year": 406101120.0, "checked": True, "mip_gap": 0.009815,
                 "objective_terms": {"stations": 99796643.0}},
    "logistics": {"freight_mt": 23.9427, "target_year": 2025, "rail_access_max_m": 2819.1,
                  "net_cost_cny_yr": -109895828},
    "heat": {"pipes_km": 5.314, "heat_delivered_mw": 234.654, "loss_share": 0.00216},
}


def _rows() -> dict[str, str]:
    return {r[0]: r[1] for g in _kpi_rows(PLAN_KPIS) for r in g["rows"]}


def test_every_kpi_has_a_label_for_people_with_its_unit() -> None:
    rows = _rows()
    for raw in ("Kw total", "Nev served", "P wait over max", "Stations erlang binding",
                "Checked", "Piles total"):
        assert raw not in rows, raw
    assert rows["Charging power"] == "763.5 MW"
    assert rows["NEVs served"] == "110,000 NEVs"
    assert rows["Chance of a wait over the limit, busiest hour"] == "20.0 %"
    assert rows["Stations at the waiting-time limit"] == "90"
    assert rows["Expected wait, busiest hour"] == "1.181 minutes"
    assert rows["Mean distance to a station"] == "864 m"
    assert rows["Longest rail access"] == "2.819 km"
    assert rows["Multimodal freight"] == "23.94 Mt/yr"
    assert rows["Annual cost (objective)"] == "406,101,120 CNY/yr"
    assert rows["Net cost"] == "-109,895,828 CNY/yr"
    assert rows["Heat pipes"] == "5.314 km" and rows["Heat delivered"] == "234.7 MW"
    assert rows["Share of heat lost in pipes"] == "0.2 %"
    assert rows["Solution checked"] == "yes" and rows["Optimality gap"] == "1.0 %"
    # a section's own meaning: objective terms are annual costs, not counts
    terms = next(g for g in _kpi_rows(PLAN_KPIS) if g["group"].endswith("objective terms"))
    assert terms["rows"] == [["Stations", "99,796,643 CNY/yr"]]


def test_years_are_years() -> None:
    assert _rows()["Target year"] == "2025"
    assert format_kpi("stage", 2025) == "2025"
    assert _column(pd.Series([2025, 2030], name="stage"), percent=False) == ["2025", "2030"]
    assert _column(pd.Series([2025.0, None], name="target_year"), percent=False) == [
        "2025", None]


def test_unknown_keys_fall_back_to_a_humanised_name() -> None:
    assert kpi_label("new_thing_count") == ("New thing count", "")
    assert kpi_label("grid_upgrade_cny_yr") == ("Grid upgrade", "CNY/yr")
    assert kpi_label("nev_parking_share") == ("NEV parking", "%")
    assert kpi_label("wait_min") == ("Wait", "minutes")
    assert kpi_label("line_mw") == ("Line", "MW")


@pytest.mark.parametrize(("value", "text"), [
    (4.758e-16, "0"), (-3e-12, "0"), (0.0, "0"), (40000.0, "40,000"), (763.483, "763.5"),
    (1573.059, "1,573"), (0.0123456, "0.01235"), (1.5, "1.5"), (-109895828, "-109,895,828")])
def test_numbers_never_show_float_noise(value: float, text: str) -> None:
    assert format_number(value) == text
    assert "e-" not in format_value(value)


def test_a_kpi_change_of_float_noise_is_no_change() -> None:
    assert format_kpi("coverage_share", 4.758e-16, signed=True) == "0 %"
    assert format_kpi("piles_total", 120, signed=True) == "+120 piles"


def test_the_label_table_gives_every_entry_a_label_and_a_known_unit() -> None:
    units = {"", "%", "MW", "MWe", "km", "m", "Mt/yr", "t/yr", "CNY/yr", "CNY", "minutes", "s",
             "GJ", "h", "year", "yes/no", "piles", "NEVs", "t·km/yr", "MW per Mt/yr"}
    for key, (label, unit) in KPI_LABELS.items():
        assert label and label[0].isupper(), key
        assert unit in units, (key, unit)
