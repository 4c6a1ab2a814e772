"""Net CO₂ of the rail shift, worked by hand (siting.logistics.outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from siting.logistics.outputs import breakeven_drayage_km, co2_breakdown_t, co2_saved_t


@pytest.fixture()
def settings(scenario):
    # round numbers: L = 200 km, D = 20 km, e_road 0.1, e_rail 0.01 kg/tkm, h = 1 kg/t
    return scenario.replace(**{
        "logistics.linehaul_km": 200.0, "logistics.delivery_km": 20.0,
        "logistics.co2_road_kg_per_tkm": 0.1, "logistics.co2_rail_kg_per_tkm": 0.01,
        "logistics.co2_handling_kg_per_t": 1.0}).logistics


def test_net_co2_by_hand(settings):
    # two flows: 2 Mt/yr after 5 km of drayage, 0.5 Mt/yr after 50 km
    b = co2_breakdown_t([2.0, 0.5], [5_000.0, 50_000.0], settings)
    # per tonne (kg): gross 200 x 0.1 = 20; rail 200 x 0.01 = 2; delivery 20 x 0.1 = 2;
    # handling 1; drayage 0.5 and 5  ->  net 14.5 and 10 kg/t; t/yr = Mt x 1000 x kg/t
    assert b["gross"] == pytest.approx([40_000.0, 10_000.0])
    assert b["rail"] == pytest.approx([4_000.0, 1_000.0])
    assert b["drayage"] == pytest.approx([1_000.0, 2_500.0])
    assert b["delivery"] == pytest.approx([4_000.0, 1_000.0])
    assert b["handling"] == pytest.approx([2_000.0, 500.0])
    assert b["net"] == pytest.approx([29_000.0, 5_000.0])
    assert co2_saved_t([2.0, 0.5], [5_000.0, 50_000.0], settings) == pytest.approx(b["net"])


def test_breakeven_drayage(settings):
    # (200 x (0.1 - 0.01) - 20 x 0.1 - 1) / 0.1 = (18 - 2 - 1) / 0.1 = 150 km
    assert breakeven_drayage_km(settings) == pytest.approx(150.0)
    net = co2_saved_t([1.0, 1.0, 1.0], [149_000.0, 150_000.0, 151_000.0], settings)
    assert net[0] > 0 and math.isclose(net[1], 0.0, abs_tol=1e-6) and net[2] < 0


def test_without_delivery_and_handling_the_old_figure_comes_back(settings):
    s = settings.model_copy(update={"delivery_km": 0.0, "co2_handling_kg_per_t": 0.0})
    # the former formula: L (e_road - e_rail) - d e_road
    net = co2_saved_t(np.array([1.0]), np.array([10_000.0]), s)
    assert net == pytest.approx([1e3 * (200 * 0.09 - 10 * 0.1)])


def test_default_scenario_keys_are_tagged_assumptions(scenario):
    s = scenario.logistics
    assert (s.delivery_km, s.co2_handling_kg_per_t) == (30.0, 2.0)
