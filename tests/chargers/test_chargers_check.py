"""The independent checker catches every kind of broken plan."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from siting.chargers.check import ServiceLevel, check_charger_solution, erlang_c_sum
from siting.chargers.problem import ChargerProblem, PileType
from siting.chargers.queueing import capacity_table, erlang_c
from siting.chargers.solve import solve_chargers
from siting.errors import SitingError
from siting.models.base import SolverOptions

TABLE = dict(max_wait_minutes=10, wait_probability=0.2, operating_hours=16)
SLOW = PileType("slow", 7.0, 700.0, capacity_table(8, session_minutes=300, **TABLE))
FAST = PileType("fast", 60.0, 8000.0, capacity_table(8, session_minutes=40, **TABLE))
SERVICE = ServiceLevel(10.0, 0.2, 16.0, (300.0, 40.0))


@pytest.fixture(scope="module")
def solved():
    # three towns, four sites, two stages, headroom, a district minimum
    i = np.array([0, 0, 1, 1, 2, 2])
    j = np.array([0, 1, 1, 2, 2, 3])
    m = np.array([0.0, 1500, 0, 1800, 0, 900])
    pb = ChargerProblem.from_costs(
        (i, j, m), demand=[[5.0, 3.0, 2.0], [9.0, 6.0, 4.0]], piles=[10, 16], slow=SLOW,
        fast=FAST, max_piles=[8, 8, 8, 8], station_cost=[900.0, 1000, 1100, 800],
        distance_cost=0.5, unmet_cost=9000.0, ratio_cost=200.0, fast_share_min=0.2,
        substation=[0, 0, 1, 1], headroom_kw=[[300.0, 300.0], [500.0, 500.0]],
        district=[0, 0, 1, 1], district_names=("N", "S"), district_min={"S": 3},
        stage_weight=[1.0, 0.7])
    sol = solve_chargers(pb, SolverOptions(mip_gap=0.0, time_limit_s=60), method="exact")
    assert sol.result.status.has_solution
    return pb, sol


def test_a_valid_plan_passes(solved) -> None:
    pb, sol = solved
    report = check_charger_solution(pb, sol, service=SERVICE, radius_m=2000.0)
    assert report.ok, report.violations
    assert report.figures["worst_p_wait_1"] <= 0.2 + 1e-9
    assert report.figures["objective"] == pytest.approx(sol.result.objective)
    report.raise_if_failed()
    # the table check (no service level given) agrees
    assert check_charger_solution(pb, sol).ok


def broken(sol, **arrays):
    out = {k: np.array(getattr(sol, k), copy=True) for k in
           ("open", "piles", "load", "flow", "unmet", "shortfall")}
    for key, fn in arrays.items():
        fn(out[key])
    return replace(sol, **out)


@pytest.mark.parametrize("edit, message", [
    (dict(piles=lambda p: p.__setitem__((0, 0, 0), p[0, 0, 0] + 1)),
     r"stage 1: 11 new piles, target 10"),
    (dict(unmet=lambda u: u.__setitem__((0, 0), u[0, 0] + 1.0)),
     r"served \+ unmet != demand"),
    (dict(flow=lambda f: f.__setitem__((0, slice(None)), f[0] * 0 + 0.0)),
     r"served \+ unmet != demand"),
])
def test_violations_are_found(solved, edit, message) -> None:
    pb, sol = solved
    report = check_charger_solution(pb, broken(sol, **edit), service=SERVICE)
    assert not report.ok
    assert any(re.search(message, v) for v in report.violations), \
        report.violations
    with pytest.raises(SitingError, match=r"charging plan fails \d+ checks"):
        report.raise_if_failed()


def test_overloaded_queue_fails_the_service_level(solved) -> None:
    pb, sol = solved
    s, t, i = 0, *np.unravel_index(np.argmax(sol.load[0]), sol.load[0].shape)
    piles = int(sol.piles[s, t, i] + (pb.existing[i] if t == 0 else 0))
    extra = pb.pile_types[t].table[piles] * 1.5 - sol.load[s, t, i]

    def more(load: np.ndarray) -> None:
        load[s, t, i] += extra
    report = check_charger_solution(pb, broken(sol, load=more), service=SERVICE)
    assert any("P(wait > 10 min)" in v for v in report.violations), report.violations


def test_radius_headroom_staging_and_minimums(solved) -> None:
    pb, sol = solved
    assert check_charger_solution(pb, sol, radius_m=1000.0).ok  # all flows at 0 m

    def far(f: np.ndarray) -> None:  # one session of town 0 to the site 1,500 m away
        f[0, 0] -= 1.0
        f[0, 1] += 1.0
    report = check_charger_solution(pb, broken(sol, flow=far), radius_m=1000.0)
    assert any("beyond the 1000 m radius" in v for v in report.violations)
    assert any("loads differ" in v for v in report.violations)

    def hot(p: np.ndarray) -> None:
        p[0, 1, 0] += 6  # 360 kW more on substation 0 (300 kW headroom)
    report = check_charger_solution(pb, broken(sol, piles=hot), service=SERVICE)
    assert any("over headroom" in v for v in report.violations), report.violations

    def shrink(p: np.ndarray) -> None:
        p[1] = 0
    report = check_charger_solution(pb, broken(sol, piles=shrink), service=SERVICE)
    assert any("stage 2 removes stage-1 piles" in v for v in report.violations)

    def south_empty(p: np.ndarray) -> None:
        p[0, :, 2:] = 0
    report = check_charger_solution(pb, broken(sol, piles=south_empty), service=SERVICE)
    assert any("district S" in v for v in report.violations)


def test_objective_is_recomputed(solved) -> None:
    pb, sol = solved
    fake = replace(sol, result=replace(sol.result, objective=sol.result.objective * 0.5))
    report = check_charger_solution(pb, fake)
    assert any("reported objective" in v for v in report.violations)


def test_erlang_c_sum_is_independent_and_right() -> None:
    for c, a in ((1, 0.3), (3, 2.0), (25, 24.0), (60, 50.0)):
        assert erlang_c_sum(c, a) == pytest.approx(float(erlang_c(c, a)), rel=1e-10)
    assert erlang_c_sum(3, 0.0) == 0.0 and erlang_c_sum(3, 3.0) == 1.0
    assert math.isclose(erlang_c_sum(3, 2.0), 4 / 9)


def test_shape_mismatch() -> None:
    pb = ChargerProblem.from_costs((np.array([0]), np.array([0]), np.array([0.0])),
                                   demand=[[1.0]], piles=[1], slow=SLOW, fast=FAST,
                                   max_piles=[2])
    sol = solve_chargers(pb, SolverOptions(), method="exact")
    bad = replace(sol, piles=np.zeros((1, 2, 5), np.int64))
    assert "solution arrays have shapes" in check_charger_solution(pb, bad).violations[0]
