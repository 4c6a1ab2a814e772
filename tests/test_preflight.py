"""One pre-flight before any solve: every chosen planner's capacity problems at once."""

from __future__ import annotations

import pytest

import siting
from siting.errors import InfeasibleError


@pytest.mark.slow
def test_every_capacity_problem_is_reported_at_once_before_any_solve(scenario,
                                                                    monkeypatch) -> None:
    import siting.chargers.planner as chargers
    import siting.logistics.planner as logistics

    def no_solve(*args, **kwargs):
        raise AssertionError("a planner ran before the pre-flight reported")

    monkeypatch.setattr(chargers, "solve_chargers", no_solve)
    monkeypatch.setattr(logistics, "solve_logistics", no_solve)
    bad = scenario.replace(**{"chargers.nev_2025": 10_000_000, "chargers.nev_2030": 20_000_000,
                              "logistics.park_capacity_mt": 1.0,
                              "region.road_detail": "coarse"})
    with pytest.raises(InfeasibleError, match=r"\(2 problem\(s\)\)") as err:
        siting.plan(bad, planners=["chargers", "logistics"])
    text = str(err.value)
    assert "chargers.nev_2025 = 10,000,000" in text and "short 7,657,805 NEVs" in text
    assert "8 parks x 1 Mt/yr hold 8 Mt/yr, short 10.5 Mt/yr" in text
    assert err.value.constraint == "preflight"
