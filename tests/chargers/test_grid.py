"""Substation headroom by voltage class: voltage parsing, class mapping, overrides, errors."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from siting.chargers.grid import (
    headroom_kw,
    nearest_supply,
    parse_voltage_kv,
    substation_headroom,
    voltage_class_kv,
)
from siting.errors import ConfigError, CRSError, InputError

CRS = "EPSG:32650"


@pytest.fixture(scope="module")
def chargers(scenario):
    # hand-checkable table: default 30 / 60 MW (the scenario's), three classes
    return scenario.replace(**{
        "chargers.substation_headroom_mw": 30.0,
        "chargers.substation_headroom_mw_2030": 60.0,
        "chargers.substation_headroom_by_kv": {
            "500": {"mw": 0.0, "mw_2030": 0.0},
            "110": {"mw": 20.0, "mw_2030": 50.0},
            "35": {"mw": 4.0}}}).chargers


def _subs(**columns) -> gpd.GeoDataFrame:
    n = len(next(iter(columns.values())))
    return gpd.GeoDataFrame(columns, geometry=[Point(1000.0 * k, 0.0) for k in range(n)],
                            crs=CRS)


# ------------------------------------------------------------------ voltage parsing


@pytest.mark.parametrize(("value", "kv"), [
    ("110000;35000", 110.0),        # OSM: volts, highest part
    ("10000;400", 10.0),            # 400 alone would be kV: the highest part decides
    ("35 kV", 35.0),
    ("110kV/35kV", 110.0),
    ("220", 220.0),                 # a bare small number is kV
    (500, 500.0),
    (220000.0, 220.0),              # a large number is volts, in a numeric column too
    ("1000", 1000.0),               # UHV 1,000 kV stays kV (<= 1,100)
    ("66000 V", 66.0),
    (" 110000 ; ", 110.0),
])
def test_parse_voltage(value, kv):
    assert parse_voltage_kv(value) == pytest.approx(kv)


@pytest.mark.parametrize("value", [None, math.nan, "", " ; "])
def test_parse_voltage_empty_is_unknown(value):
    assert math.isnan(parse_voltage_kv(value))


@pytest.mark.parametrize("value", ["high", "-500000", 0, -35.0, True, "110000;abc"])
def test_parse_voltage_rejects_nonsense(value):
    with pytest.raises(ValueError, match="voltage"):
        parse_voltage_kv(value)


def test_class_is_highest_at_or_below():
    got = voltage_class_kv([66, 330, 1000, 6, np.nan, 110, 35, 109.9999999999],
                           [10, 35, 110, 220, 500])
    np.testing.assert_array_equal(got, [35, 220, 500, np.nan, np.nan, 110, 35, 110])
    assert np.isnan(voltage_class_kv([110.0], [])).all()


# ----------------------------------------------------------------- headroom by class


def test_headroom_by_voltage_class(chargers):
    subs = _subs(voltage=["500000", 220, "110000;35000", None, "66 kV", 6.0])
    out = substation_headroom(subs, chargers, stages=2)
    assert out["headroom_mw"].tolist() == [0.0, 20.0, 20.0, 30.0, 4.0, 30.0]
    # 35 kV has no mw_2030: the same as mw
    assert out["headroom_mw_2030"].tolist() == [0.0, 50.0, 50.0, 60.0, 4.0, 60.0]
    assert out["headroom_source"].tolist() == ["voltage class"] * 3 + [
        "default", "voltage class", "default"]
    assert out["headroom_assumed"].all()
    np.testing.assert_array_equal(out["voltage_class_kv"],
                                  [500, 110, 110, np.nan, 35, np.nan])
    assert "headroom_mw" not in subs.columns  # input untouched
    assert out.crs == subs.crs and out.index.equals(subs.index)


def test_voltage_kv_column_preferred_and_one_stage(chargers):
    subs = _subs(voltage_kv=[110.0, np.nan], voltage=["500000", "500000"])
    out = substation_headroom(subs, chargers, stages=1)
    assert out["headroom_mw"].tolist() == [20.0, 30.0]
    assert "headroom_mw_2030" not in out.columns


def test_no_table_or_no_voltage_uses_default(scenario):
    c = scenario.replace(**{"chargers.substation_headroom_by_kv": {}}).chargers
    out = substation_headroom(_subs(voltage_kv=[500.0, 110.0]), c, stages=2)
    assert out["headroom_source"].tolist() == ["default", "default"]
    assert out["headroom_mw"].tolist() == [c.substation_headroom_mw] * 2
    out = substation_headroom(_subs(name=["a"]), c, stages=1)
    assert out["headroom_source"].tolist() == ["default"]


def test_column_overrides_class_where_given(chargers):
    subs = _subs(voltage=["500000", "110000", "110000"],
                 headroom_mw=[12.0, np.nan, "7"], headroom_mw_2030=[15.0, np.nan, 7.0])
    out = substation_headroom(subs, chargers, stages=2)
    assert out["headroom_mw"].tolist() == [12.0, 20.0, 7.0]
    assert out["headroom_mw_2030"].tolist() == [15.0, 50.0, 7.0]
    assert out["headroom_source"].tolist() == ["column", "voltage class", "column"]
    assert out["headroom_assumed"].tolist() == [False, True, False]
    # one stage needs only headroom_mw; a stale 2030 column is dropped
    one = substation_headroom(subs.drop(columns="headroom_mw_2030").assign(
        headroom_mw_2030=[1.0, 2.0, 3.0]), chargers, stages=1)
    assert one["headroom_mw"].tolist() == [12.0, 20.0, 7.0]
    assert "headroom_mw_2030" not in one.columns


def test_headroom_kw_matrix(chargers):
    out = substation_headroom(_subs(voltage=["110000", None]), chargers, stages=2)
    np.testing.assert_array_equal(headroom_kw(out, stages=2),
                                  [[20_000, 30_000], [50_000, 60_000]])
    with pytest.raises(InputError, match="substation_headroom first"):
        headroom_kw(_subs(voltage=["1"]), stages=1)


# --------------------------------------------------------------------- error paths


def test_negative_headroom_names_layer_column_row(chargers):
    subs = _subs(voltage=["110000", "35000"], headroom_mw=[5.0, -3.0])
    with pytest.raises(InputError, match=r"layer 'substations' column 'headroom_mw' row 1: "
                                         r"headroom -3 MW must be finite and >= 0"):
        substation_headroom(subs, chargers, stages=1)


def test_non_numeric_headroom(chargers):
    subs = _subs(voltage=[None, None], headroom_mw=["abc", 5.0])
    with pytest.raises(InputError, match=r"column 'headroom_mw' row 0: 'abc' is not a number"):
        substation_headroom(subs, chargers, stages=1)
    with pytest.raises(InputError, match="column 'headroom_mw' is boolean"):
        substation_headroom(_subs(headroom_mw=[True]), chargers, stages=1)


def test_every_problem_reported_at_once(chargers):
    subs = _subs(voltage=["high", "110000"], headroom_mw=[1.0, -1.0],
                 headroom_mw_2030=[0.5, 2.0])
    with pytest.raises(InputError) as info:
        substation_headroom(subs, chargers, stages=2)
    msg = str(info.value)
    assert "3 problems" in msg
    assert "column 'voltage' row 0: 'high'" in msg
    assert "column 'headroom_mw' row 1: headroom -1 MW" in msg
    assert "row 0: headroom_mw_2030 (0.5) must be >= headroom_mw (1)" in msg


def test_two_stages_need_both_columns(chargers):
    with pytest.raises(InputError, match="has column 'headroom_mw' but not 'headroom_mw_2030'"):
        substation_headroom(_subs(headroom_mw=[5.0]), chargers, stages=2)
    with pytest.raises(InputError, match="row 1: has headroom_mw_2030 but no headroom_mw"):
        substation_headroom(_subs(headroom_mw=[5.0, np.nan],
                                  headroom_mw_2030=[6.0, 6.0]), chargers, stages=2)
    with pytest.raises(InputError, match="has column 'headroom_mw_2030' but not 'headroom_mw'"):
        substation_headroom(_subs(headroom_mw_2030=[5.0]), chargers, stages=2)


def test_stages_must_be_one_or_two(chargers):
    with pytest.raises(InputError, match="stages=3 must be 1 or 2"):
        substation_headroom(_subs(voltage=["1"]), chargers, stages=3)


def test_scenario_table_is_validated(scenario):
    with pytest.raises(ConfigError, match=r"substation_headroom_by_kv\.110.*cumulative"):
        scenario.replace(**{"chargers.substation_headroom_by_kv":
                            {"110": {"mw": 30.0, "mw_2030": 10.0}}})
    with pytest.raises(ConfigError, match="substation_headroom_by_kv"):
        scenario.replace(**{"chargers.substation_headroom_by_kv": {"0": {"mw": 1.0}}})
    with pytest.raises(ConfigError, match="substation_headroom_by_kv"):
        scenario.replace(**{"chargers.substation_headroom_by_kv": {"110": {"mw": -1.0}}})


# ------------------------------------------------------------------ nearest supply


def test_nearest_supply_skips_zero_headroom(chargers):
    # 500 kV at x = 0 (0 MW), 110 kV at x = 1000, 35 kV at x = 2000
    out = substation_headroom(_subs(voltage=["500000", "110000", "35000"]), chargers,
                              stages=2)
    xy = np.array([[10.0, 0.0], [1900.0, 0.0], [-5000.0, 0.0]])
    np.testing.assert_array_equal(nearest_supply(xy, out), [1, 2, 1])
    np.testing.assert_array_equal(nearest_supply(xy, out, max_distance_m=2000.0), [1, 2, -1])
    dead = substation_headroom(_subs(voltage=["500000"]), chargers, stages=2)
    np.testing.assert_array_equal(nearest_supply(xy, dead), [-1, -1, -1])


def test_nearest_supply_uses_last_stage(chargers):
    subs = _subs(headroom_mw=[0.0, 5.0], headroom_mw_2030=[8.0, 9.0])
    out = substation_headroom(subs, chargers, stages=2)
    assert nearest_supply([[0.0, 0.0]], out).tolist() == [0]
    one = substation_headroom(subs, chargers, stages=1)
    assert nearest_supply([[0.0, 0.0]], one).tolist() == [1]


def test_nearest_supply_errors(chargers):
    out = substation_headroom(_subs(voltage=["110000"]), chargers, stages=1)
    with pytest.raises(InputError, match=r"finite \(n, 2\) array"):
        nearest_supply(np.zeros((3, 3)), out)
    with pytest.raises(InputError, match="no 'headroom_mw' column"):
        nearest_supply([[0.0, 0.0]], _subs(voltage=["1"]))
    with pytest.raises(CRSError, match="layer 'substations' has geographic CRS"):
        nearest_supply([[0.0, 0.0]], out.to_crs("EPSG:4326"))


# ----------------------------------------------------------- the real Zibo layer


def test_zibo_substations_keep_about_todays_total(scenario):
    from siting.region.zibo import load_facts

    subs = load_facts("substations")
    subs = subs[subs["kind"] == "substation"]
    out = substation_headroom(subs, scenario.chargers, stages=2)
    assert len(out) == 72
    assert (out["headroom_mw"] == 0).sum() == 4          # the four 500 kV substations
    assert out["headroom_source"].value_counts().to_dict() == {"default": 62,
                                                               "voltage class": 10}
    total = out["headroom_mw"].sum()
    assert 0.9 * 72 * 30 <= total <= 1.1 * 72 * 30       # today's 2,160 MW, broadly
    assert total > 2 * 810                                # the 2025 plan draws ~810 MW
    assert (out["headroom_mw_2030"] >= out["headroom_mw"]).all()
