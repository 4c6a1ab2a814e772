"""The charger model on arrays: hand-solved toys, exact vs default solve, diagnoses."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from _charger_toys import EXACT, FAST, PROOF, SERVICE, SLOW, pile_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import siting.chargers.build as charger_build
import siting.chargers.solve as charger_solve
from siting.chargers.build import CAP_MARGIN, model_table
from siting.chargers.check import check_charger_solution
from siting.chargers.problem import ChargerProblem, PileType, upper_hull
from siting.chargers.queueing import wait_exceed_probability
from siting.chargers.solve import solve_chargers
from siting.errors import InfeasibleError, InputError
from siting.models.base import SolverOptions, Status
from siting.models.solvers import RawSolution, run_solver


def toy(**kw: object) -> ChargerProblem:
    """Two towns 5 km apart, each with one candidate site on it; 3 km radius."""
    args: dict[str, object] = dict(
        demand=[[4.0, 2.0]], piles=[4], slow=SLOW, fast=FAST, max_piles=[6, 6],
        station_cost=[1000.0, 1000.0], distance_cost=0.01, unmet_cost=10_000.0,
        site_names=("A", "B"), n_clients=2, n_sites=2)
    args.update(kw)
    costs = args.pop("costs", (np.array([0, 1]), np.array([0, 1]), np.array([0.0, 0.0])))
    return ChargerProblem.from_costs(costs, **args)  # type: ignore[arg-type]


def checked(pb: ChargerProblem, sol, **kw: object) -> None:
    report = check_charger_solution(pb, sol, service=SERVICE, **kw)  # type: ignore[arg-type]
    assert report.ok, report.violations


# ----------------------------------------------------------------- hand-solved toys


@pytest.mark.parametrize("method", ["auto", "exact", "relax"])
def test_two_towns_hand_solved(method: str) -> None:
    # Both towns must be served (unmet costs 10,000 per session) and each site reaches
    # only its own town; site B takes slow piles only. Exactly 4 piles. Town B has 2.5
    # sessions: 2 slow piles serve 2.43 < 2.5, so B needs 3 slow (4.56). That leaves
    # one pile for town A's 4 sessions: a slow one serves 0.66, a fast one 5.8. The
    # unique optimum: A 1 fast, B 3 slow; cost 2 x 1000 + 8000 + 3 x 700 = 12,100.
    pb = toy(demand=[[4.0, 2.5]], fast_ok=[True, False])
    sol = solve_chargers(pb, EXACT, method=method)  # type: ignore[arg-type]
    if method == "relax":
        # the hull relaxation alone cannot prove it (one slow pile "serves" 2.82 there);
        # the exact MIP from the incumbent, run on small instances, does
        steps = sol.result.model["phases"]
        assert steps[0]["step"] == "relaxation (LP)"
        assert steps[0]["objective"] < 12_100 - 1000
        assert steps[-1]["step"] == "exact (MIP) from the incumbent"
    assert sol.result.status is Status.OPTIMAL and sol.result.model["gap_closed"]
    assert sol.result.objective == pytest.approx(2000 + 8000 + 3 * 700, abs=1e-6)
    assert sol.piles[0].tolist() == [[0, 3], [1, 0]]  # [slow A, slow B], [fast A, fast B]
    assert sol.unmet.sum() == pytest.approx(0.0, abs=1e-9)
    checked(pb, sol)


def test_erlang_c_is_exact_not_the_chord() -> None:
    # One town with 2.4 sessions/day, one slow-only site, at least 1 pile. The chord
    # from 0 to 6 piles allows 2.82 sessions per pile, so 1 pile "would" do; the
    # table says 1 pile serves 0.66 and 2 piles 2.43 >= 2.4: two piles are needed.
    pb = ChargerProblem.from_costs(
        (np.array([0]), np.array([0]), np.array([0.0])), demand=[[2.4]], piles=[1],
        rule="at_least", slow=SLOW, fast=FAST, max_piles=[6], fast_ok=[False],
        station_cost=[100.0], unmet_cost=1e6)
    for method in ("exact", "relax"):
        sol = solve_chargers(pb, EXACT, method=method)  # type: ignore[arg-type]
        assert int(sol.piles[0, 0, 0]) == 2, method
        checked(pb, sol)


def test_staged_plan_keeps_stage_one() -> None:
    # Stage 2 doubles demand and piles; both stations open in stage 1 and keep piles.
    pb = toy(demand=[[4.0, 2.0], [8.0, 4.0]], piles=[4, 8], stage_weight=[1.0, 0.75])
    sol = solve_chargers(pb, EXACT)
    assert sol.piles.shape == (2, 2, 2)
    assert np.all(sol.piles[1] >= sol.piles[0])
    assert sol.piles[1].sum() == 8
    assert np.all(sol.open[1] >= sol.open[0])
    checked(pb, sol)


def test_locked_and_forbidden_sites() -> None:
    # A third site C reaches both towns at 2 km; 1 session-km costs 1,000 > a station.
    costs = (np.array([0, 0, 1, 1]), np.array([0, 2, 1, 2]), np.array([0.0, 2000, 0, 2000]))
    base = dict(costs=costs, max_piles=[6, 6, 6], station_cost=[1000.0] * 3,
                site_names=("A", "B", "C"), n_sites=3, distance_cost=1.0)
    free = solve_chargers(toy(**base), EXACT)
    assert free.open[0].tolist() == [True, True, False]
    pb = toy(**base, forbidden=[0], locked=[2])
    sol = solve_chargers(pb, EXACT)
    assert not sol.open[0, 0] and sol.open[0, 2]  # rejected A closed, approved C open
    checked(pb, sol, radius_m=3000.0)
    assert sol.flow[0][np.flatnonzero(pb.costs.site == 0)].sum() == 0


def test_unreachable_demand_is_unmet_and_left_out_of_the_objective() -> None:
    pb = toy(demand=[[4.0, 2.5, 9.0]], fast_ok=[True, False], n_clients=3)
    sol = solve_chargers(pb, EXACT)
    assert sol.unmet[0, 2] == pytest.approx(9.0)
    assert sol.objective_terms["unmet_unreachable"] == pytest.approx(9.0 * 10_000.0)
    assert sol.result.objective == pytest.approx(12_100.0, abs=1e-6)
    checked(pb, sol)


def test_ratio_balance_spreads_surplus_piles_with_demand() -> None:
    # 12 piles for 6 sessions (surplus): without the ratio term both sites could hold
    # any split; with it, piles follow sessions (A: 4 sessions -> 8 piles, B: 4).
    big, fast = pile_types(10)
    pb = toy(piles=[12], ratio_cost=500.0, max_piles=[10, 10], slow=big, fast=fast)
    sol = solve_chargers(pb, EXACT)
    assert sol.piles[0].sum(axis=0).tolist() == [8, 4]
    assert sol.shortfall.sum() == pytest.approx(0.0, abs=1e-6)
    checked(pb, sol)


def test_headroom_moves_fast_piles() -> None:
    # Site A's substation has 100 kW: no fast pile (60 kW) fits beside 7 slow (49 kW)...
    pb = toy(piles=[5], fast_share_min=0.2, substation=[0, 1], headroom_kw=[60.0, 1e6])
    sol = solve_chargers(pb, EXACT)
    kw_a = sol.piles[0, 0, 0] * 7 + sol.piles[0, 1, 0] * 60
    assert kw_a <= 60
    assert sol.piles[0, 1].sum() >= 1
    checked(pb, sol)


def test_rounding_takes_piles_off_where_stage_one_overfills_stage_two_headroom() -> None:
    """Stage 1 rounds A and B up (1.5 -> 2 slow piles); stage 2's continuous piles keep
    them at 1.5 and use whole piles at C and D, so flooring stage 2 and keeping stage
    1's piles gives 8 piles (56 kW) under a 55 kW substation. Floor-and-fill must take
    the surplus off at C or D (above stage 1) instead of giving up (seen on the Zibo
    demo after a reviewer rejected one station; CI then found no plan in time)."""
    from types import SimpleNamespace

    from siting.chargers.build import layout
    from siting.chargers.round import round_greedy

    n = 4
    costs = (np.arange(n), np.arange(n), np.zeros(n))
    pb = ChargerProblem.from_costs(
        costs, demand=[[1.0] * n, [1.0] * n], piles=[6, 7], slow=SLOW, fast=FAST,
        max_piles=[6] * n, substation=[0] * n, headroom_kw=[[1000.0], [55.0]],
        stage_weight=[1.0, 1.0], n_clients=n, n_sites=n)
    slow = np.array([[1.5, 1.5, 1.5, 1.5], [1.5, 1.5, 2.0, 2.0]])
    piles = np.zeros((2, 2, n))
    piles[:, 0] = slow
    plan = SimpleNamespace(open=np.ones((2, n), bool), piles=piles, load=np.zeros((2, 2, n)))
    out = round_greedy(pb, layout(pb), plan)
    assert out is not None
    assert out.sum(axis=(1, 2)).tolist() == [6, 7]
    assert np.all(out[1] >= out[0])
    assert (out[1] * np.array([[7.0], [60.0]])).sum() <= 55.0
    assert np.all(out[1].sum(axis=0) >= 1)


def test_default_solve_matches_exact_on_toys() -> None:
    for pb in (toy(), toy(piles=[12], ratio_cost=500.0, fast_share_min=0.25),
               toy(demand=[[4.0, 2.0], [8.0, 4.0]], piles=[4, 8], stage_weight=[1, 0.75])):
        exact = solve_chargers(pb, EXACT, method="exact")
        auto = solve_chargers(pb, EXACT, method="relax")
        assert auto.result.bound <= exact.result.objective + 1e-6
        assert auto.result.objective >= exact.result.objective - 1e-6
        checked(pb, auto)


# ----------------------------------------------------------------- property


def _random_sites(seed: int, n_clients: int, n_sites: int) -> tuple[np.random.Generator, ...]:
    rng = np.random.default_rng(seed)
    pts_c = rng.uniform(0, 4000, (n_clients, 2))
    pts_s = rng.uniform(0, 4000, (n_sites, 2))
    demand = rng.uniform(0.2, 6.0, n_clients)
    max_piles = rng.integers(2, 7, n_sites)
    return rng, pts_c, pts_s, demand, max_piles


def random_problem(seed: int, n_clients: int, n_sites: int, stages: int, p1: int, *,
                   ratio_cost: float = 0.0, fast_share_min: float = 0.0,
                   peak: bool = False) -> ChargerProblem:
    """Clients and sites at seeded random points in a 4 km square, 2.5 km radius,
    two substations (one with 200 kW of headroom); with ``peak``, each site's
    peak-hour factor one of 0.5, 0.7 and 1."""
    rng, pts_c, pts_s, demand, max_piles = _random_sites(seed, n_clients, n_sites)
    scale = np.random.default_rng(seed + 1).choice([0.5, 0.7, 1.0], n_sites) if peak else None
    d = np.hypot(*(pts_c[:, None, :] - pts_s[None, :, :]).transpose(2, 0, 1))
    i, j = np.nonzero(d <= 2500)
    rows = [demand] if stages == 1 else [demand, 1.8 * demand]
    piles = [p1] if stages == 1 else [p1, min(int(max_piles.sum()), p1 + 3)]
    return ChargerProblem.from_costs(
        (i, j, d[i, j]), n_clients=n_clients, n_sites=n_sites, demand=np.vstack(rows),
        piles=piles, slow=SLOW, fast=FAST, max_piles=max_piles,
        fast_ok=rng.random(n_sites) < 0.7, station_cost=rng.uniform(500, 3000, n_sites),
        distance_cost=0.2, unmet_cost=5000.0, ratio_cost=ratio_cost,
        fast_share_min=fast_share_min, substation=rng.integers(0, 2, n_sites),
        headroom_kw=[200.0, 1e6], stage_weight=[1.0, 0.8][:stages], peak_scale=scale)


@st.composite
def instances(draw: st.DrawFn) -> ChargerProblem:
    seed = draw(st.integers(0, 10_000))
    n_clients, n_sites = draw(st.integers(2, 7)), draw(st.integers(2, 5))
    stages = draw(st.integers(1, 2))
    most = int(_random_sites(seed, n_clients, n_sites)[-1].sum())
    p1 = int(draw(st.integers(n_sites, most)))
    return random_problem(seed, n_clients, n_sites, stages, p1,
                          ratio_cost=float(draw(st.sampled_from([0, 300]))),
                          fast_share_min=float(draw(st.sampled_from([0.0, 0.2]))),
                          peak=draw(st.booleans()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pb=instances())
def test_property_plans_pass_the_checker_and_bracket_the_optimum(pb: ChargerProblem) -> None:
    # no time limit (PROOF): every solve runs to its end, so nothing here depends on
    # the clock, and both methods must either prove the optimum or the same infeasibility
    try:
        exact = solve_chargers(pb, PROOF, method="exact")
    except InfeasibleError as proof:
        with pytest.raises(InfeasibleError) as again:
            solve_chargers(pb, PROOF, method="relax")
        assert (again.value.constraint, again.value.shortfall) == \
            (proof.constraint, proof.shortfall), (str(again.value), str(proof))
        return
    auto = solve_chargers(pb, PROOF, method="relax")
    assert exact.result.status is Status.OPTIMAL, exact.result.status
    assert auto.result.status.has_solution, auto.result.status
    for sol in (exact, auto):
        checked(pb, sol, radius_m=2500.0)
        # every session served at most once
        for s in range(pb.n_stages):
            served = np.bincount(pb.costs.client, weights=sol.flow[s],
                                 minlength=pb.costs.n_clients)
            assert np.all(served <= pb.demand[s] + 1e-6)
    tol = 1e-6 * max(1.0, abs(exact.result.objective))
    # each method's bound is below the other's plan (a NaN bound fails these)
    assert auto.result.bound <= exact.result.objective + tol
    assert exact.result.bound <= auto.result.objective + tol
    assert auto.result.objective >= exact.result.objective - tol
    if auto.result.status is Status.OPTIMAL:
        assert auto.result.objective <= exact.result.objective + tol


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pb=instances())
def test_property_hull_rows_cut_off_no_plan(pb: ChargerProblem) -> None:
    # The exact MIP sizes every queue by its multiple-choice rows, so the hull rows
    # (capped by the reachable demand, in perspective with the open variable) and the
    # reachable-load rows are redundant there: removing them must leave the optimum
    # where it is. A row that cut off a plan would raise it (and a relaxation built
    # on it would then give a false bound).
    try:
        tight = solve_chargers(pb, PROOF, method="exact")
    except InfeasibleError:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(charger_build, "_add_capacity_hull", lambda *a, **k: None)
        loose = solve_chargers(pb, PROOF, method="exact")
    assert tight.result.status is loose.result.status is Status.OPTIMAL
    tol = 1e-6 * max(1.0, abs(loose.result.objective))
    assert tight.result.objective == pytest.approx(loose.result.objective, abs=tol)


def test_hull_rows_use_each_sites_own_peak_factor() -> None:
    # Two sites with the same room but peak factors 0.5 and 1: the hull's chord was
    # once cached by room alone, so the second site got the first one's slope
    pb = ChargerProblem.from_costs(
        (np.array([0, 1]), np.array([0, 1]), np.array([0.0, 0.0])), n_clients=2,
        n_sites=2, demand=[[30.0, 30.0]], piles=[12], slow=SLOW, fast=FAST,
        max_piles=[6, 6], fast_ok=[False, False], peak_scale=[0.5, 1.0])
    lay = charger_build.layout(pb)
    scope = charger_solve._Run(pb, PROOF, None).relaxation_scope()
    model = charger_build.build_model(pb, lay, scope)
    x = np.zeros(model.n_cols)
    values = {"open1": [1.0, 1.0], "piles_slow1": [6.0, 6.0],
              "load_slow1": [0.5 * SLOW.table[6], SLOW.table[6]]}
    for name, value in values.items():
        x[model.vars[name].slice] = value
    x[model.vars["load_slow1"].slice] -= 2 * CAP_MARGIN
    rows = model.rows["capacity1"].slice
    assert np.all(model.matrix.tocsr()[rows] @ x <= model.row_upper[rows] + 1e-9)


def test_relax_diagnoses_a_whole_pile_conflict_like_exact() -> None:
    """Hypothesis seed 1 (issue 12): 11 piles, exactly, at least a fifth fast; fast piles
    fit only at sites 0-2, all on substation 0 with 200 kW. Three fast piles (180 kW)
    leave room for two slow ones there, and site 3 (substation 1) takes five: 10 < 11.
    Fractional piles fit (2.2 fast), so only whole piles show the conflict: the exact
    MIP proved it, but the relaxation path found no plan and reported a time limit
    (0.85 s of 60). Both must now name the same constraint and shortfall."""
    costs = (np.array([0, 0, 0, 0, 0, 1]), np.array([1, 3, 2, 4, 0, 3]),
             np.array([1017.05357973, 1341.18560486, 1436.76126217, 1633.37484048,
                       2189.18821799, 1034.32973835]))
    pb = ChargerProblem.from_costs(
        costs, n_clients=2, n_sites=5, demand=[[2.6521511, 3.87246952]], piles=[11],
        slow=SLOW, fast=FAST, max_piles=[6, 6, 6, 5, 3],
        fast_ok=[True, True, True, False, False],
        station_cost=[1295.36650154, 2810.54224127, 1677.27471354, 2234.39710551,
                      768.01827113],
        distance_cost=0.2, unmet_cost=5000.0, fast_share_min=0.2,
        substation=[0, 0, 0, 1, 0], headroom_kw=[200.0, 1e6])
    pb.check()  # every constraint holds on its own and with fractional piles
    for method in ("exact", "relax"):
        for opts in (EXACT, PROOF):
            with pytest.raises(InfeasibleError, match=r"cannot all hold together in whole "
                                                      r"piles.*stage 1 substation 0 headroom "
                                                      r"0\.2 MW: short by 1\.0 kW") as e:
                solve_chargers(pb, opts, method=method)  # type: ignore[arg-type]
            assert e.value.constraint == "headroom", method
            assert e.value.shortfall == pytest.approx(1.0), method


def test_relax_falls_back_to_whole_piles_when_rounding_finds_no_plan(monkeypatch) -> None:
    # rounding failing everywhere leaves the relaxation's steps without a plan; with
    # time left the relax path must still plan (here: at the pile-side check's whole
    # piles), not report a time limit
    monkeypatch.setattr(charger_solve, "round_piles", lambda *a, **k: None)
    monkeypatch.setattr(charger_solve, "POLISH_MAX_COLUMNS", 0)
    pb = toy(demand=[[4.0, 2.5]], fast_ok=[True, False])
    sol = solve_chargers(pb, PROOF, method="relax")
    assert sol.result.status is Status.TIME_LIMIT_FEASIBLE  # planned, not proven
    assert any(p["step"].startswith("whole piles") for p in sol.result.model["phases"])
    assert sol.piles[0].sum() == 4
    checked(pb, sol)


# ----------------------------------------------------------------- solver tolerances


def test_model_tables_keep_a_margin_the_checker_accepts() -> None:
    # the model bounds loads by T(n) - CAP_MARGIN; a solver may return up to its
    # feasibility tolerance (1e-7) more, which must still meet the service level, while
    # the same tolerance over T(n) itself does not (what CBC returned, issue 12)
    n = np.arange(1, 7)
    for pt, minutes in ((SLOW, 300.0), (FAST, 40.0)):
        assert np.array_equal(model_table(pt), np.r_[0.0, pt.table[1:] - CAP_MARGIN])

        def p_wait(sessions: np.ndarray, minutes: float = minutes) -> np.ndarray:
            return wait_exceed_probability(n, sessions / 16.0, session_minutes=minutes,
                                           wait_minutes=10.0)
        assert np.all(p_wait(model_table(pt)[1:] + 1e-7) <= 0.2)
        assert np.any(p_wait(pt.table[1:] + 1e-7) > 0.2 + 1e-9)


def _sloppy_solver(model, options, **kw):  # type: ignore[no-untyped-def]
    """``run_solver``, then every positive flow 1e-7 higher: a solution within a
    solver's feasibility tolerance, as CBC returns them."""
    raw = run_solver(model, options, **kw)
    if raw.x is None:
        return raw
    x = raw.x.copy()
    for name, block in model.vars.items():
        if name.startswith("flow"):
            part = x[block.slice]
            part[part > 1e-9] += 1e-7
    return replace(raw, x=x)


@pytest.mark.parametrize("method", ["exact", "relax"])
def test_plans_at_the_solver_tolerance_pass_the_checker(monkeypatch, method: str) -> None:
    # one site, two slow piles at most, 3 sessions/day: the queue is full (T(2) = 2.43)
    monkeypatch.setattr(charger_solve, "run_solver", _sloppy_solver)
    pb = ChargerProblem.from_costs(
        (np.array([0]), np.array([0]), np.array([0.0])), demand=[[3.0]], piles=[2],
        slow=SLOW, fast=FAST, max_piles=[2], fast_ok=[False], station_cost=[100.0],
        unmet_cost=1e6)
    sol = solve_chargers(pb, EXACT, method=method)  # type: ignore[arg-type]
    assert sol.load[0, 0, 0] <= SLOW.table[2]
    assert sol.load[0, 0, 0] == pytest.approx(SLOW.table[2], abs=2 * CAP_MARGIN)
    checked(pb, sol)


@pytest.mark.parametrize("method", ["exact", "relax"])
def test_cbc_plans_pass_the_checker(method: str) -> None:
    # CBC returned a load 4e-8 over T(4) here; the checker found P(wait) = 0.2000 > 0.2
    pb = random_problem(6727, 5, 3, 1, 8, ratio_cost=300.0)
    sol = solve_chargers(pb, SolverOptions(name="cbc", mip_gap=0.0, time_limit_s=60),
                         method=method)  # type: ignore[arg-type]
    assert sol.result.status.has_solution
    checked(pb, sol, radius_m=2500.0)


# ----------------------------------------------------------------- bounds


def _stopped_early(model, options, **kw):  # type: ignore[no-untyped-def]
    """``run_solver``, but every solve ends as if at the time limit: the solution kept,
    no proof and no dual bound."""
    raw = run_solver(model, options, **kw)
    if raw.status is Status.OPTIMAL:
        return replace(raw, status=Status.TIME_LIMIT_FEASIBLE, bound=math.nan,
                       gap=math.nan)
    return raw


def test_an_lp_stopped_early_gives_no_bound(monkeypatch) -> None:
    # the relaxation LP's primal objective is not a bound unless the LP is optimal; on
    # this instance (one site, exactly two slow piles) the LP is tight, so taking it as
    # the bound would even claim the plan optimal
    pb = ChargerProblem.from_costs(
        (np.array([0]), np.array([0]), np.array([0.0])), demand=[[1.0]], piles=[2],
        slow=SLOW, fast=FAST, max_piles=[2], fast_ok=[False], station_cost=[100.0],
        unmet_cost=1e6)
    proven = solve_chargers(pb, PROOF, method="relax")
    lp_objective = proven.result.model["phases"][0]["objective"]
    assert proven.result.status is Status.OPTIMAL
    assert lp_objective == pytest.approx(proven.result.objective)  # the LP is tight here
    monkeypatch.setattr(charger_solve, "run_solver", _stopped_early)
    sol = solve_chargers(pb, PROOF, method="relax")
    assert sol.result.model["phases"][0]["status"] == "time_limit_feasible"
    assert sol.result.status is Status.TIME_LIMIT_FEASIBLE
    assert math.isnan(sol.result.bound) and math.isnan(sol.result.mip_gap)
    assert not sol.result.model["gap_closed"]
    assert sol.result.objective == pytest.approx(proven.result.objective)
    checked(pb, sol)


# ----------------------------------------------------------------- diagnoses


def test_target_above_room_is_diagnosed_before_solving() -> None:
    with pytest.raises(InfeasibleError, match=r"needs 20 new piles but the 2 allowed "
                                              r"candidate sites hold at most 12 "
                                              r"\(shortfall 8") as e:
        solve_chargers(toy(piles=[20]), EXACT)
    assert e.value.constraint == "piles_target" and e.value.shortfall == 8


def test_fast_share_above_fast_room() -> None:
    with pytest.raises(InfeasibleError, match=r"fast piles.*shortfall") as e:
        solve_chargers(toy(piles=[10], fast_share_min=0.9, fast_ok=[True, False]), EXACT)
    assert e.value.constraint == "fast_share"


def test_headroom_too_small() -> None:
    with pytest.raises(InfeasibleError, match=r"substation headroom.*powers at most 1") as e:
        solve_chargers(toy(piles=[4], substation=[0, 0], headroom_kw=[10.0]), EXACT)
    assert e.value.constraint == "headroom" and e.value.shortfall == 3


def test_district_minimum_above_its_sites() -> None:
    pb = toy(piles=[8], district=[0, 1], district_names=("North", "South"),
             district_min={"South": 9})
    with pytest.raises(InfeasibleError, match=r"district South needs >= 9 new piles.*"
                                              r"hold at most 6 \(shortfall 3") as e:
        solve_chargers(pb, EXACT)
    assert e.value.constraint == "district_min" and e.value.shortfall == 3


def test_district_minimums_above_exact_target() -> None:
    pb = toy(piles=[6], district=[0, 1], district_names=("North", "South"),
             district_min={"North": 4, "South": 4})
    with pytest.raises(InfeasibleError, match=r"district minimums add up to 8.*exact target"):
        solve_chargers(pb, EXACT)


def test_combined_conflict_found_by_the_pile_lp() -> None:
    # Each alone fits: 6 piles in North is possible, and 8 piles overall within 300 kW
    # of headroom; but North's substation (100 kW) powers 14 slow piles, fine... make
    # the fast share force fast piles into the only substation with room.
    pb = toy(piles=[8], district=[0, 1], district_names=("North", "South"),
             district_min={"South": 6}, fast_share_min=0.5, fast_ok=[True, True],
             substation=[0, 1], headroom_kw=[1e6, 100.0])
    with pytest.raises(InfeasibleError, match=r"cannot all hold together") as e:
        solve_chargers(pb, EXACT)
    assert e.value.shortfall is not None and e.value.shortfall > 0


def test_locked_and_forbidden_conflict() -> None:
    with pytest.raises(InfeasibleError, match=r"both approved \(locked\) and rejected"):
        solve_chargers(toy(locked=[0], forbidden=[0]), EXACT)


# ----------------------------------------------------------------- inputs and helpers


def test_bad_arrays_are_reported_together() -> None:
    with pytest.raises(InputError, match=r"(?s)demand has 3 clients.*max_piles has shape"):
        toy(demand=[[1.0, 2.0, 3.0]], max_piles=[1, 2, 3], n_clients=None)
    with pytest.raises(InputError, match=r"district_min names unknown district 'Atlantis'"):
        toy(district=[0, 0], district_names=("North",), district_min={"Atlantis": 1})
    with pytest.raises(InputError, match=r"piles targets \[5, 3\] must be"):
        toy(demand=[[1.0, 1.0], [1.0, 1.0]], piles=[5, 3])
    with pytest.raises(InputError, match=r"method='fast'"):
        solve_chargers(toy(), EXACT, method="fast")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"table must start at 0"):
        PileType("x", 7.0, 1.0, np.array([1.0, 2.0]))


def test_upper_hull() -> None:
    start, slope = upper_hull([0, 1, 3, 6])  # convex: one chord
    assert start.tolist() == [0] and slope.tolist() == [2.0]
    start, slope = upper_hull([0, 3, 5, 6])  # concave: every segment
    assert start.tolist() == [0, 1, 2] and slope.tolist() == [3.0, 2.0, 1.0]
    t = SLOW.table
    s, k = upper_hull(t)
    n = np.arange(t.size)
    hull = np.min(t[s][:, None] + k[:, None] * (n[None, :] - s[:, None]), axis=0)
    assert np.all(hull >= t - 1e-12)


def test_solution_is_frozen_and_problem_untouched() -> None:
    pb = toy()
    before = pb.demand.copy()
    sol = solve_chargers(pb, EXACT)
    assert np.array_equal(pb.demand, before)
    with pytest.raises(ValueError, match="read-only"):
        sol.piles[0, 0, 0] = 9
    assert replace(pb, name="x").name == "x"


def test_small_fixed_station_plans_size_every_queue_exactly() -> None:
    # at fixed stations with few flows every open queue gets the multiple-choice
    # Erlang-C rows at once (whole piles by the exact tables), not only undersized ones
    import re

    pb = random_problem(11, 7, 5, 1, 9, ratio_cost=300.0)
    sol = solve_chargers(pb, PROOF, method="relax")
    assert sol.result.status.has_solution
    sized = [int(m.group(1)) for p in sol.result.model["phases"]
             if (m := re.search(r"stations fixed \((\d+) sized\)", p["step"]))]
    assert sized and sized[0] > 0  # the first evaluation already sized queues
    checked(pb, sol, radius_m=2500.0)


def test_small_relax_plans_improve_in_the_incumbents_neighbourhood() -> None:
    # on instances the exact MIP fits, the relax path solves the relaxation as a MIP
    # (its bound counts), then searches the incumbent's neighbourhood exactly (a
    # heuristic: its plan counts, its bound does not) before the exact MIP proves the gap
    pb = random_problem(11, 7, 5, 1, 9, ratio_cost=300.0)
    exact = solve_chargers(pb, PROOF, method="exact")
    sol = solve_chargers(pb, PROOF, method="relax")
    steps = [p["step"] for p in sol.result.model["phases"]]
    hood = [k for k, s in enumerate(steps) if s.startswith("neighbourhood of the incumbent")]
    assert hood, steps
    assert steps.index("relaxation (MIP)") < hood[0], steps
    assert sol.result.status is Status.OPTIMAL
    assert sol.result.objective == pytest.approx(exact.result.objective, rel=1e-6)
    checked(pb, sol, radius_m=2500.0)


@pytest.mark.parametrize("seed", [3, 11, 29])
@pytest.mark.parametrize("every_pair", [True, False])
def test_large_instance_path_brackets_the_optimum(monkeypatch, seed: int, every_pair: bool
                                                  ) -> None:
    # past the exact MIP's size limits the relax path runs the relaxation MIP instead
    # of the neighbourhood and the exact MIP; its plan and bound must still bracket
    # the exact optimum, with every pair in the relaxation or (past RELAX_ALL_PAIRS)
    # each client's nearest two, a far flow, and one link per client
    monkeypatch.setattr(charger_solve, "POLISH_MAX_PAIRS", 0)
    pb = random_problem(seed, 7, 5, 2, 8, ratio_cost=300.0, peak=True)
    if not every_pair:
        monkeypatch.setattr(charger_solve, "RELAX_ALL_PAIRS", 0)
        pb = replace(pb, near_sites=2, link_sites=1)
        assert pb.costs.degree().max() > 2  # some pairs become far flows
    try:
        exact = solve_chargers(pb, PROOF, method="exact")
    except InfeasibleError:
        pytest.skip("this seed's instance has no plan")
    sol = solve_chargers(pb, PROOF, method="relax")
    steps = [p["step"] for p in sol.result.model["phases"]]
    assert not any(s.startswith(("neighbourhood", "exact")) for s in steps), steps
    tol = 1e-6 * max(1.0, abs(exact.result.objective))
    assert sol.result.bound <= exact.result.objective + tol
    assert sol.result.objective >= exact.result.objective - tol
    checked(pb, sol, radius_m=2500.0)


def test_stations_are_added_where_the_rounded_plan_leaves_demand_unserved() -> None:
    # Two towns, each reached by its own site only, and a third site reaching both.
    # Rounding the LP opens only the shared site (forced here), whose 6 slow piles
    # (at least 6 in all) cannot serve both towns' 16 sessions; the town left unserved
    # gets its own station, and the plan then serves everything
    costs = (np.array([0, 0, 1, 1]), np.array([0, 2, 1, 2]), np.array([0.0, 900, 0, 900]))
    pb = ChargerProblem.from_costs(
        costs, n_clients=2, n_sites=3, demand=[[8.0, 8.0]], piles=[6], rule="at_least",
        slow=SLOW,
        fast=FAST, max_piles=[6, 6, 6], fast_ok=[False, False, False],
        station_cost=[1000.0, 1000.0, 500.0], distance_cost=0.01, unmet_cost=10_000.0)
    run = charger_solve._Run(pb, PROOF, None)
    only_shared = np.array([[False, False, True]])
    run.evaluate(only_shared, "shared site only")
    assert run.best is not None and run.best.unmet.sum() > 1.0
    run.open_for_unmet(np.zeros((1, 3)))
    assert run.best.unmet.sum() == pytest.approx(0.0, abs=1e-6)
    assert run.best.open[0].sum() == 2


def test_small_relaxations_keep_and_link_every_pair(monkeypatch) -> None:
    # Up to RELAX_ALL_PAIRS flows the relaxation keeps every pair (no far flow, which
    # loads no station) and links each to its site's open variable. On thin demand
    # that is what prices far clients right: its LP bound is above the near-pairs
    # relaxation's, and still below the exact optimum
    pb = replace(random_problem(5, 7, 5, 1, 9, ratio_cost=300.0), near_sites=2,
                 link_sites=1)
    exact = solve_chargers(pb, PROOF, method="exact")

    def lp_bound() -> tuple[float, Any]:
        run = charger_solve._Run(pb, PROOF, None)
        model = run.build(run.relaxation_scope())
        raw = run.solve(model, "relaxation (LP)", relax=True)
        assert raw.status is Status.OPTIMAL
        return raw.objective, model

    every, model = lp_bound()
    assert "far1" not in model.vars
    lay = charger_build.layout(pb)
    assert model.rows["link1"].size == int(lay.new_site[pb.costs.site].sum())
    monkeypatch.setattr(charger_solve, "RELAX_ALL_PAIRS", 0)
    near, model = lp_bound()
    assert "far1" in model.vars
    assert near < every - 1.0
    assert every <= exact.result.objective + 1e-6 * abs(exact.result.objective)


def test_an_every_pair_lp_out_of_its_time_gives_way_to_the_nearest_pairs(monkeypatch
                                                                          ) -> None:
    # Past EVERY_PAIR_FULL_TIME flows the LP with every pair gets EVERY_PAIR_SHARE of
    # the time; one that stops there is replaced by the nearest pairs' LP, whose plan
    # and bound still bracket the optimum (here the every-pair LP is made to stop)
    pb = replace(random_problem(5, 7, 5, 1, 9, ratio_cost=300.0), near_sites=2,
                 link_sites=1)
    exact = solve_chargers(pb, PROOF, method="exact")
    monkeypatch.setattr(charger_solve, "EVERY_PAIR_FULL_TIME", 0)
    limits = []
    real = charger_solve.run_solver

    def every_pair_stops(model, opts, *, time_limit_s=None, relax=False, **kw):
        if relax and "cover1" in model.rows and "far1" not in model.vars:
            limits.append(time_limit_s)
            return RawSolution(Status.TIME_LIMIT_NO_SOLUTION, None, math.nan, math.nan,
                               math.nan, 1.0, "highs", "")
        return real(model, opts, time_limit_s=time_limit_s, relax=relax, **kw)

    monkeypatch.setattr(charger_solve, "run_solver", every_pair_stops)
    sol = solve_chargers(pb, replace(PROOF, time_limit_s=600.0), method="relax")
    steps = [p["step"] for p in sol.result.model["phases"]]
    assert steps[:2] == ["relaxation (LP)", "relaxation (LP, nearest pairs)"], steps
    assert len(limits) == 1 and limits[0] <= charger_solve.EVERY_PAIR_SHARE * 600.0
    assert sol.result.status.has_solution
    tol = 1e-6 * max(1.0, abs(exact.result.objective))
    assert sol.result.bound <= exact.result.objective + tol
    assert sol.result.objective >= exact.result.objective - tol
    checked(pb, sol, radius_m=2500.0)


def test_a_sizing_mip_stopped_far_from_its_optimum_gives_way_to_rounds(monkeypatch) -> None:
    # Sizing every queue at fixed stations at once is one MIP; one stopped at its time
    # limit above the plan's gap (2,000 thin points: a plan 9x its bound) is dropped,
    # and the queues are sized round by round, for this and every later station set
    pb = random_problem(11, 7, 5, 1, 9, ratio_cost=300.0)
    real = charger_solve.run_solver
    stopped = []

    def stops_far(model, opts, **kw):
        raw = real(model, opts, **kw)
        if "size1" in model.vars and "cover1" not in model.rows and not stopped:
            stopped.append(model.stats())
            return replace(raw, status=Status.TIME_LIMIT_FEASIBLE, gap=0.5)
        return raw

    monkeypatch.setattr(charger_solve, "run_solver", stops_far)
    sol = solve_chargers(pb, replace(PROOF, mip_gap=0.01), method="relax")
    steps = [p["step"] for p in sol.result.model["phases"]]
    assert stopped
    first = next(k for k, s in enumerate(steps) if "stations fixed" in s)
    assert "(0 sized)" not in steps[first] and steps[first + 1].endswith("(0 sized)"), steps
    assert sol.result.status.has_solution
    checked(pb, sol, radius_m=2500.0)
