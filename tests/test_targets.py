"""The plan's targets in kpis.json: met or not, with the shortfall, never hidden."""

from __future__ import annotations

import pytest

from siting.chargers.targets import charger_targets
from siting.heat.targets import heat_targets
from siting.logistics.targets import logistics_targets
from siting.planners import Target, format_target, targets_table

KEYS = {"id", "text", "target", "achieved", "unit", "met", "source"}


def test_met_and_shortfall_by_hand():
    t = Target("x", "x", 110_000, 101_848, "NEVs", "plan")
    assert not t.met and t.shortfall == 8_152
    assert Target("x", "x", 40_000, 40_000, "piles", "plan").met  # at least the target
    assert Target("x", "x", 40_000, 39_999.99999999, "piles", "plan").met  # rounding noise
    unmodelled = Target("x", "x", 0.8, None, "share", "plan")
    assert not unmodelled.met and unmodelled.shortfall is None
    strict = Target("x", "x", 0.0, 0.0, "km", "plan", comparison=">")
    assert strict.shortfall is None  # "more than 0 km" has no shortfall in km
    assert Target("x", "x", 1.0, float("nan"), "km", "plan").shortfall is None
    assert not strict.met and Target("x", "x", 0.0, 0.1, "km", "plan", comparison=">").met
    assert set(t.to_dict()) >= KEYS


def test_the_demo_charger_kpis_give_the_plan_targets(scenario):
    # the default demo's figures before the fidelity work (issue 11)
    kpis = {"piles_total": 40_000, "nev_served": 101_848,
            "residential": {"reserved_share": 0.8268, "definition": "piles or headroom"},
            "stage_2030": {"piles_total": 80_000}}
    targets = {t.id: t for t in charger_targets(kpis, scenario)}
    assert targets["chargers.piles_2025"].met
    assert targets["chargers.nev_2025"].shortfall == pytest.approx(8_152)
    assert targets["chargers.residential_reserved"].shortfall == pytest.approx(0.1732)
    assert not targets["fleet.bus_nev_share"].met
    assert targets["fleet.taxi_nev_share"].target == 0.8
    assert targets["chargers.piles_2030"].source == "assumption"
    assert {t.source for t in targets.values() if t.id != "chargers.piles_2030"} == {"plan"}
    single = scenario.replace(**{"chargers.staged": False})
    assert "chargers.piles_2030" not in {t.id for t in charger_targets(kpis, single)}


def test_logistics_and_heat_targets(scenario):
    parks, freight = logistics_targets({"parks": 8, "freight_mt": 17.0, "target_mt": 18.5},
                                       scenario)
    assert parks.met and not freight.met and freight.shortfall == pytest.approx(1.5)
    (link,) = heat_targets({"interconnection_km": 0.0}, scenario)
    assert not link.met
    assert format_target(link.to_dict()) == "0 / > 0 km: NOT MET, needs more than 0"


def test_targets_read_as_text():
    nev = Target("chargers.nev_2025", "NEVs", 110_000, 101_848, "NEVs", "plan").to_dict()
    assert format_target(nev) == "101,848 / 110,000 NEVs: NOT MET, short 8,152"
    share = Target("r", "r", 1.0, 0.8268, "share", "plan").to_dict()
    assert format_target(share) == "82.7 % / 100.0 %: NOT MET, short 17.3 %"
    bus = Target("b", "b", 1.0, None, "share", "plan").to_dict()
    assert format_target(bus).endswith("NOT MET (not modelled)")
    assumed = Target("p", "p", 80_000, 80_000, "piles", "assumption").to_dict()
    assert format_target(assumed) == "80,000 / 80,000 piles: met [assumed]"
    table = targets_table([nev, assumed])
    assert table.splitlines()[0] == "Targets: 1 of 2 met"
    assert "NO  chargers.nev_2025" in table
