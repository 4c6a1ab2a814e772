"""Modular capacity (integer units per site): toys, exactness, properties, errors."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from siting.errors import InfeasibleError, InputError
from siting.models import GroupLimit, ModelBuilder, ModularCFLP, SolverOptions, Status, VarBlock

SOLVERS = pytest.mark.parametrize("solver", ["highs", "cbc"])


def pairs(*rows: tuple[int, int, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j, c = zip(*rows, strict=True)
    return np.array(i), np.array(j), np.array(c, float)


@SOLVERS
def test_docstring_toy(solver: str) -> None:
    res = ModularCFLP.from_costs(pairs((0, 0, 1.0), (0, 1, 2.0)), demand=[25], max_units=3,
                                 capacity_per_unit=10.0, unit_cost=100.0,
                                 fixed_cost=[50.0, 0.0]).solve(solver)
    # 3 units needed (25 > 20); site 1: 300 + 2 * 25 = 350 < site 0: 50 + 300 + 25 = 375
    assert res.status is Status.OPTIMAL
    assert res.units is not None and res.units.tolist() == [0, 3]
    assert res.objective == pytest.approx(350.0)
    assert res.selected.tolist() == [1]


@SOLVERS
@pytest.mark.parametrize(("table", "objective", "fixed_cost", "units"), [
    # concave, cap(1)=8, cap(2)=14: 2 units are needed (8 < 14); with a fixed cost per site
    # one site with 2 units (20 + 5 + 14) beats 1 + 1 at two sites (20 + 10 + 14)
    ([0, 8, 14, 18], 39.0, 5.0, [2, 0]),
    # convex (pooling), cap(1)=5, cap(2)=14: 1 + 1 holds only 10, so 2 units at one site
    # even without fixed costs; a concave envelope would wrongly allow 1 + 1
    ([0, 5, 14, 27], 34.0, 0.0, [2, 0]),
])
def test_capacity_tables_are_exact(solver: str, table: list[float], objective: float,
                                   fixed_cost: float, units: list[int]) -> None:
    res = ModularCFLP.from_costs(pairs((0, 0, 1.0), (0, 1, 1.0)), demand=[14], max_units=3,
                                 capacity_table=table, unit_cost=10.0,
                                 fixed_cost=fixed_cost).solve(solver)
    assert res.status is Status.OPTIMAL
    assert res.units is not None and res.units.tolist() == units
    assert res.objective == pytest.approx(objective)


@SOLVERS
def test_totals_groups_fixed_and_unmet(solver: str) -> None:
    costs = pairs((0, 0, 1.0), (0, 1, 3.0), (1, 1, 1.0), (1, 2, 2.0))
    res = ModularCFLP.from_costs(
        costs, demand=[10, 10], max_units=4, capacity_per_unit=5.0, unit_cost=1.0,
        units_total=(5, 6), groups=[GroupLimit("east", [2], lower=1)],
        fixed=[0], fixed_min_units=3, unmet_cost=100.0).solve(solver)
    assert res.status is Status.OPTIMAL and res.units is not None
    u = res.units
    assert 5 <= u.sum() <= 6 and u[0] >= 3 and u[2] >= 1
    assert res.unmet is not None and res.unmet.sum() == pytest.approx(0.0)
    # 3 (fixed) units at site 0 serve client 0 (10 x 1); the group forces 1 unit at site 2;
    # client 1 is served at site 1 (2 units, 10 x 1): 6 units + 10 + 10 = 26, cheaper than
    # splitting client 1 over sites 1 and 2 (5 units + 10 + 5 x 1 + 5 x 2 = 30)
    assert u.tolist() == [3, 2, 1]
    assert res.objective == pytest.approx(26.0)


def test_substation_weights_cap_power() -> None:
    # kW-weighted group: site 0 piles are 120 kW, site 1 piles 60 kW; 240 kW available
    costs = pairs((0, 0, 1.0), (0, 1, 5.0))
    res = ModularCFLP.from_costs(
        costs, demand=[40], max_units=4, capacity_per_unit=10.0,
        groups=[GroupLimit("substation", [1, 0], weight=[60.0, 120.0], upper=240.0)],
    ).solve("highs")
    assert res.units is not None
    assert 120 * res.units[0] + 60 * res.units[1] <= 240
    # 4 units are needed; any fast pile leaves room for too few slow ones
    assert res.units.tolist() == [0, 4]


def test_staged_plan_through_the_hook() -> None:
    def stage_2030(b: ModelBuilder, v: Mapping[str, VarBlock]) -> None:
        n = v["units"]
        later = b.add_vars("units_2030", n.size, ub=6, cost=0.5, integer=True)
        k = np.arange(n.size)
        b.add_rows("stage_monotone", rows=np.r_[k, k], cols=np.r_[later.index(), n.index()],
                   vals=np.r_[np.ones(n.size), -np.ones(n.size)], lower=0.0, upper=np.inf,
                   n_rows=n.size)
        b.add_rows("target_2030", rows=np.zeros(n.size), cols=later.index(),
                   vals=np.ones(n.size), lower=7.0, upper=np.inf, n_rows=1)

    res = ModularCFLP.from_costs(pairs((0, 0, 1.0), (0, 1, 1.0)), demand=[15], max_units=6,
                                 capacity_per_unit=5.0, unit_cost=1.0).solve(
        "highs", extra_constraints=stage_2030)
    later = np.rint(res.values["units_2030"]).astype(int)
    assert res.units is not None and res.units.sum() == 3
    assert (later >= res.units).all() and later.sum() == 7


# -------------------------------------------------------------------- brute force
@st.composite
def modular_instances(draw: st.DrawFn) -> dict:
    n_sites = draw(st.integers(1, 3))
    n_clients = draw(st.integers(1, 3))
    umax = draw(st.lists(st.integers(0, 2), min_size=n_sites, max_size=n_sites))
    mask = draw(st.lists(st.booleans(), min_size=n_clients * n_sites,
                         max_size=n_clients * n_sites))
    i, j = np.divmod(np.flatnonzero(mask), n_sites)
    cost = draw(st.lists(st.integers(0, 9), min_size=i.size, max_size=i.size))
    # one table per site: cap(0) = 0, nondecreasing, possibly convex
    tables = [np.r_[0, np.cumsum(draw(st.lists(st.integers(0, 8), min_size=2, max_size=2)))]
              for _ in range(n_sites)]
    return {"costs": (i, j, np.array(cost, float)), "n_clients": n_clients,
            "n_sites": n_sites,
            "demand": draw(st.lists(st.integers(0, 9), min_size=n_clients,
                                    max_size=n_clients)),
            "max_units": umax, "capacity_table": tables,
            "unit_cost": draw(st.lists(st.integers(0, 5), min_size=n_sites, max_size=n_sites)),
            "fixed_cost": draw(st.lists(st.integers(0, 5), min_size=n_sites,
                                        max_size=n_sites)),
            "unmet_cost": 20.0}


def brute_force(inst: dict) -> float:
    """Enumerate units per site; price the assignment with scipy's LP (independent path)."""
    i, j, c = inst["costs"]
    d = np.array(inst["demand"], float)
    best = np.inf
    for units in itertools.product(*(range(u + 1) for u in inst["max_units"])):
        cap = np.array([inst["capacity_table"][s][n] for s, n in enumerate(units)], float)
        fixed = sum(inst["fixed_cost"][s] + inst["unit_cost"][s] * n
                    for s, n in enumerate(units) if n > 0)
        n_x, n_c = i.size, inst["n_clients"]
        usable = np.array([units[s] > 0 for s in j], bool)
        cost = np.r_[c * d[i], inst["unmet_cost"] * d]
        a_eq = np.zeros((n_c, n_x + n_c))
        a_eq[i, np.arange(n_x)] = 1.0
        a_eq[np.arange(n_c), n_x + np.arange(n_c)] = 1.0
        a_ub = np.zeros((inst["n_sites"], n_x + n_c))
        a_ub[j, np.arange(n_x)] = d[i]
        bounds = [(0, 1 if ok else 0) for ok in usable] + [(0, 1)] * n_c
        lp = linprog(cost, A_ub=a_ub, b_ub=cap, A_eq=a_eq, b_eq=(d > 0).astype(float),
                     bounds=bounds, method="highs")
        if lp.status == 0:
            best = min(best, fixed + lp.fun)
    return best


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(inst=modular_instances())
def test_matches_brute_force_and_respects_limits(inst: dict) -> None:
    pb = ModularCFLP.from_costs(**inst)
    res = pb.solve(SolverOptions(mip_gap=0.0))
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(brute_force(inst), abs=1e-6)
    u = res.units
    assert u is not None and (u >= 0).all() and (u <= np.array(inst["max_units"])).all()
    # every client's demand is served or unmet exactly once
    a = res.assignment
    served = np.bincount(a.client, weights=a.amount, minlength=inst["n_clients"])
    d = np.array(inst["demand"], float)
    assert res.unmet is not None
    np.testing.assert_allclose((served + res.unmet)[d > 0], 1.0, atol=1e-6)
    # capacity respected at the chosen number of units
    load = np.bincount(a.site, weights=a.amount * d[a.client], minlength=inst["n_sites"])
    cap = np.array([inst["capacity_table"][s][n] for s, n in enumerate(u)])
    assert (load <= cap + 1e-6).all()


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"units_total": 20}, r"needs at least 20 units but the allowed sites hold at most 8"),
    ({"groups": [GroupLimit("Gaoqing", [1], lower=5)]},
     r"group 'Gaoqing' needs >= 5 but its sites hold at most 4"),
    ({"demand": [100, 1]}, r"demand 101 exceeds what the allowed sites serve at their "
                           r"largest size, 80, by 21"),
    ({"fixed": [0], "fixed_min_units": 6}, r"fixed site 0 needs at least 6 units but holds at "
                                           r"most 4"),
    ({"forbidden": [0, 1]}, r"2 clients with demand have no allowed site"),
    ({"units_total": 1, "fixed": [0], "fixed_min_units": 2},
     r"fixed sites already need 2 units but the plan allows at most 1"),
])
def test_infeasible_targets_are_named(kwargs: dict, match: str) -> None:
    base = {"demand": [10, 10], "max_units": 4, "capacity_per_unit": 10.0}
    with pytest.raises(InfeasibleError, match=match):
        ModularCFLP.from_costs(pairs((0, 0, 1.0), (1, 1, 1.0), (1, 0, 2.0)),
                               **(base | kwargs)).solve("highs")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"capacity_table": [0, 5, 3]}, "must not decrease"),
    ({"capacity_table": [1, 5, 8]}, r"cap\(0\) = 0"),
    ({"capacity_table": [0, 5]}, r"has 2 entries; max_units needs cap\(0..2\)"),
    ({"capacity_table": [0, 5, 8], "capacity_per_unit": 4.0}, "exactly one of"),
    ({"capacity_per_unit": 4.0, "max_units": [1.5, 2]}, "whole numbers"),
    ({"capacity_per_unit": 4.0, "units_total": (5, 2)}, "lower bound above upper bound"),
    ({"capacity_per_unit": 4.0, "groups": [GroupLimit("g", [0, 0])]}, "listed twice"),
])
def test_bad_input_is_named(kwargs: dict, match: str) -> None:
    base = {"demand": [1], "max_units": 2}
    with pytest.raises(InputError, match=match):
        ModularCFLP.from_costs(pairs((0, 0, 1.0), (0, 1, 1.0)), **(base | kwargs))
