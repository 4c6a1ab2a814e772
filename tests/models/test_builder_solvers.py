"""The sparse model builder and the two backends (HiGHS from arrays, CBC via MPS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from siting.errors import ConfigError, InputError
from siting.models import ModelBuilder, Result, SolverOptions, Status
from siting.models.base import Assignment
from siting.models.cbc import write_mps
from siting.models.highs import HighsLP
from siting.models.solvers import run_solver

SOLVERS = pytest.mark.parametrize("solver", ["highs", "cbc"])


def knapsack(n: int = 40, seed: int = 3, sense: str = "max") -> tuple:
    rng = np.random.default_rng(seed)
    value = rng.integers(10, 100, n).astype(float)
    weight = rng.integers(5, 60, n).astype(float)
    b = ModelBuilder("knapsack", sense=sense)  # type: ignore[arg-type]
    x = b.add_vars("take", n, ub=1.0, cost=value, integer=True)
    b.add_rows("weight", rows=np.zeros(n), cols=x.index(), vals=weight, lower=-np.inf,
               upper=weight.sum() / 3, n_rows=1)
    return b.build(), value, weight


def brute_knapsack(value: np.ndarray, weight: np.ndarray, cap: float) -> float:
    best = {0.0: 0.0}  # weight -> value, dynamic programming over integer weights
    for v, w in zip(value, weight, strict=True):
        for cw, cv in list(best.items()):
            if cw + w <= cap and best.get(cw + w, -1) < cv + v:
                best[cw + w] = cv + v
    return max(best.values())


# ------------------------------------------------------------------------ builder
def test_builder_assembles_blocks_and_sums_duplicates() -> None:
    b = ModelBuilder("t")
    x = b.add_vars("x", 2, ub=[1.0, 2.0], cost=[1.0, -1.0])
    y = b.add_vars("y", 1, lb=-1.0, ub=1.0, integer=True)
    b.add_rows("r", rows=[0, 0, 0, 1], cols=[x.start, x.start, y.start, x.start + 1],
               vals=[1.0, 2.0, 1.0, 1.0], lower=[0.0, -np.inf], upper=[3.0, 1.0])
    m = b.build()
    assert (m.n_cols, m.n_rows, m.nnz) == (3, 2, 3)
    assert m.matrix.toarray().tolist() == [[3.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert m.integer.tolist() == [False, False, True]
    assert m.values(np.array([1.0, 2.0, 3.0]))["y"].tolist() == [3.0]
    assert m.vars["y"].index([0]).tolist() == [2]
    with pytest.raises(ValueError, match="read-only"):
        m.cost[0] = 5.0


@pytest.mark.parametrize(("action", "match"), [
    (lambda b, x: b.add_vars("x", 1), "already exists"),
    (lambda b, x: b.add_vars("z", 2, lb=[0, 2], ub=1), r"lb 2.0 > ub 1.0"),
    (lambda b, x: b.add_vars("z", 2, cost=[1, 2, 3]), "expected a scalar or 2 values"),
    (lambda b, x: b.add_rows("r", rows=[0], cols=[5], vals=[1], lower=[0], upper=[1]),
     "column index outside"),
    (lambda b, x: b.add_rows("r", rows=[1], cols=[0], vals=[1], lower=[0], upper=[1]),
     "row index outside"),
    (lambda b, x: b.add_rows("r", rows=[0], cols=[0], vals=[np.nan], lower=[0], upper=[1]),
     "coefficients must be finite"),
    (lambda b, x: b.add_rows("r", rows=[0], cols=[0], vals=[1], lower=0, upper=1),
     "give n_rows"),
    (lambda b, x: x.index([4]), "local index out of range"),
])
def test_builder_errors(action, match: str) -> None:  # type: ignore[no-untyped-def]
    b = ModelBuilder("t")
    x = b.add_vars("x", 2)
    with pytest.raises(InputError, match=match):
        action(b, x)


def test_builder_rejects_crossed_row_bounds() -> None:
    b = ModelBuilder("t")
    x = b.add_vars("x", 1)
    b.add_rows("r", rows=[0], cols=x.index(), vals=[1.0], lower=[2.0], upper=[1.0])
    with pytest.raises(InputError, match=r"row r\[0\] has lower bound 2.0 > upper bound 1.0"):
        b.build()


def test_solver_options_validation() -> None:
    with pytest.raises(ConfigError, match="name='gurobi' is not a supported solver"):
        SolverOptions(name="gurobi")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"2 problems:[\s\S]*time_limit_s[\s\S]*mip_gap"):
        SolverOptions(time_limit_s=0, mip_gap=2.0)
    assert SolverOptions.coerce("CBC").name == "cbc"
    assert SolverOptions.coerce(None) == SolverOptions()
    with pytest.raises(ConfigError, match="expected a SolverOptions"):
        SolverOptions.coerce(3)  # type: ignore[arg-type]


def test_result_is_frozen_and_read_only() -> None:
    res = Result(Status.OPTIMAL, 1.0, 1.0, 0.0, np.array([2, 0]), Assignment.empty(), 0.1, 0.0,
                 "highs", "1", values={"open": np.ones(3)})
    with pytest.raises(ValueError, match="read-only"):
        res.selected[0] = 5
    with pytest.raises(AttributeError):
        res.objective = 2.0  # type: ignore[misc]
    assert res.summary()["status"] == "optimal" and res.proven


# ----------------------------------------------------------------------- backends
@SOLVERS
def test_mip_matches_dynamic_programming(solver: str) -> None:
    model, value, weight = knapsack()
    raw = run_solver(model, SolverOptions(name=solver, mip_gap=0.0))
    assert raw.status is Status.OPTIMAL
    assert raw.objective == pytest.approx(brute_knapsack(value, weight, weight.sum() / 3))
    assert raw.bound == pytest.approx(raw.objective) and raw.gap == pytest.approx(0.0)
    assert raw.version and raw.solver == solver


@SOLVERS
def test_lp_relaxation_and_duals(solver: str) -> None:
    # min x + 2y  s.t. x + y >= 2, x <= 1.5  ->  x = 1.5, y = 0.5, objective 2.5, dual 2
    b = ModelBuilder("lp")
    v = b.add_vars("v", 2, ub=[1.5, np.inf], cost=[1.0, 2.0], integer=True)
    b.add_rows("cover", rows=[0, 0], cols=v.index(), vals=[1.0, 1.0], lower=[2.0],
               upper=[np.inf])
    raw = run_solver(b.build(), SolverOptions(name=solver), relax=True, want_duals=True)
    assert raw.status is Status.OPTIMAL
    assert raw.objective == pytest.approx(2.5)
    assert raw.x is not None and raw.x.tolist() == pytest.approx([1.5, 0.5])
    assert raw.row_dual is not None and raw.row_dual[0] == pytest.approx(2.0)
    assert raw.col_dual is not None and raw.col_dual.tolist() == pytest.approx([-1.0, 0.0])


@SOLVERS
def test_infeasible_model_is_reported(solver: str) -> None:
    b = ModelBuilder("infeasible")
    x = b.add_vars("x", 2, ub=1.0, integer=True)
    b.add_rows("too_much", rows=[0, 0], cols=x.index(), vals=[1.0, 1.0], lower=[3.0],
               upper=[np.inf])
    raw = run_solver(b.build(), SolverOptions(name=solver))
    assert raw.status is Status.INFEASIBLE and raw.x is None


@SOLVERS
def test_cutoff_keeps_only_better_solutions(solver: str) -> None:
    model, value, weight = knapsack(sense="max")
    best = brute_knapsack(value, weight, weight.sum() / 3)
    raw = run_solver(model, SolverOptions(name=solver, mip_gap=0.0), cutoff=best + 0.5)
    # nothing beats the cutoff: infeasible, or (settled in presolve) a solution that does not
    assert raw.status is Status.INFEASIBLE or (
        raw.status is Status.OPTIMAL and raw.objective <= best + 1e-9)
    raw = run_solver(model, SolverOptions(name=solver, mip_gap=0.0), cutoff=best - 0.5)
    assert raw.status is Status.OPTIMAL and raw.objective == pytest.approx(best)


@SOLVERS
def test_ranged_free_and_bounded_rows_round_trip(solver: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # max x + y + z with 1 <= x + y <= 3 (ranged), a free row, z in [-2, 4] integer, y <= 0.5
    b = ModelBuilder("ranges", sense="max")
    v = b.add_vars("v", 3, lb=[0.0, -np.inf, -2.0], ub=[np.inf, 0.5, 4.0], cost=1.0)
    b.add_rows("ranged", rows=[0, 0], cols=v.index([0, 1]), vals=[1.0, 1.0], lower=[1.0],
               upper=[3.0])
    b.add_rows("free", rows=[0], cols=v.index([2]), vals=[1.0], lower=[-np.inf],
               upper=[np.inf])
    model = b.build()
    write_mps(model, tmp_path / "m.mps")
    text = (tmp_path / "m.mps").read_text()
    assert "RANGES" in text and " MI BND" in text
    raw = run_solver(model, SolverOptions(name=solver))
    assert raw.status is Status.OPTIMAL
    assert raw.objective == pytest.approx(7.0)


@SOLVERS
def test_time_limit_on_hard_model_is_not_optimal(solver: str) -> None:
    # a random set-partitioning-like MIP that no solver closes in a millisecond
    rng = np.random.default_rng(11)
    n, m = 400, 120
    b = ModelBuilder("hard")
    x = b.add_vars("x", n, ub=1.0, cost=rng.integers(50, 100, n).astype(float), integer=True)
    rows = np.repeat(np.arange(m), 12)
    cols = rng.integers(0, n, rows.size)
    b.add_rows("cover", rows=rows, cols=x.index(cols), vals=rng.integers(1, 9, rows.size),
               lower=np.full(m, 15.0), upper=np.inf)
    raw = run_solver(b.build(), SolverOptions(name=solver, time_limit_s=0.01, mip_gap=0.0))
    assert raw.status in (Status.TIME_LIMIT_FEASIBLE, Status.TIME_LIMIT_NO_SOLUTION,
                          Status.OPTIMAL)
    if raw.status is Status.OPTIMAL:  # only if it truly closed the gap
        assert raw.gap == pytest.approx(0.0, abs=1e-9)
    elif raw.status is Status.TIME_LIMIT_FEASIBLE:
        assert math.isfinite(raw.objective)
    else:
        assert raw.x is None


@SOLVERS
@pytest.mark.parametrize("sense", ["min", "max"])
def test_bound_includes_the_objective_offset_at_a_time_limit(solver: str, sense: str) -> None:
    # CBC reads the model from MPS, which has no objective constant: its bound must get
    # the offset back, or the gap of any model with a constant term is nonsense
    rng = np.random.default_rng(11)
    n, m, offset = 400, 120, 1e5
    cost = rng.integers(50, 100, n).astype(float)
    b = ModelBuilder("hard")
    b.sense = sense
    x = b.add_vars("x", n, ub=1.0, cost=cost if sense == "min" else -cost, integer=True)
    rows = np.repeat(np.arange(m), 12)
    cols = rng.integers(0, n, rows.size)
    b.add_rows("cover", rows=rows, cols=x.index(cols), vals=rng.integers(1, 9, rows.size),
               lower=np.full(m, 15.0), upper=np.inf)
    b.offset = offset
    raw = run_solver(b.build(), SolverOptions(name=solver, time_limit_s=1.0, mip_gap=0.0))
    if raw.x is None:
        pytest.skip(f"{solver} found no solution in 1 s on this machine")
    value = raw.objective - offset  # cost part: > 0 for min, < 0 for max
    if sense == "min":
        assert value > 0.0 and offset < raw.bound <= raw.objective + 1e-6
    else:
        assert value < 0.0 and raw.objective - 1e-6 <= raw.bound < offset
    assert raw.gap < 0.5  # with the offset lost the gap would be about 0.95
    # ... or, for max, exactly 0 (the bound clipped to the objective): a false proof
    assert raw.status is Status.OPTIMAL or raw.gap > 0


def test_highs_lp_warm_resolve_after_bound_change() -> None:
    b = ModelBuilder("lp")
    v = b.add_vars("v", 2, ub=1.0, cost=[1.0, 3.0])
    b.add_rows("need", rows=[0, 0], cols=v.index(), vals=[1.0, 1.0], lower=[1.5],
               upper=[np.inf])
    lp = HighsLP(b.build(), SolverOptions())
    assert lp.solve(time_limit_s=None) is Status.OPTIMAL
    assert lp.objective == pytest.approx(2.5)
    lp.set_bounds(np.array([0]), np.array([0.0]), np.array([0.5]))
    assert lp.solve(time_limit_s=None) is Status.OPTIMAL
    assert lp.objective == pytest.approx(3.5)
    lp.set_bounds(np.array([0]), np.array([0.0]), np.array([0.0]))
    assert lp.solve(time_limit_s=None) is Status.INFEASIBLE
    assert lp.solve(time_limit_s=None, objective_bound=-1.0) is Status.INFEASIBLE


# ----------------------------------------------------------------- the deadline guard


def _market_split(m: int = 6, n: int = 60, seed: int = 0):  # type: ignore[no-untyped-def]
    """A market-split instance (Cornuejols and Dawande): m equality rows over n binaries,
    each row's right side half its coefficients' sum. Branch and bound needs far more
    than seconds on it, so a solve with no time limit of its own runs on."""
    import highspy

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (m, n))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for _ in range(n):
        h.addVar(0.0, 1.0)
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                            np.array([highspy.HighsVarType.kInteger] * n))
    for row, rhs in zip(a, a.sum(axis=1) // 2, strict=True):
        h.addRow(float(rhs), float(rhs), n, np.arange(n, dtype=np.int32), row.astype(float))
    return h


def test_the_watchdog_cancels_a_highs_run_that_ignores_its_limit() -> None:
    # HiGHS is given no time limit of its own here (as when it overruns one at a long
    # root step): the guard alone must stop it at the limit plus the stated slack
    import highspy

    from siting.models.highs import guard_slack_s, run_guarded

    h = _market_split()
    seconds = run_guarded(h, 0.2)
    assert h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    assert seconds >= 0.2  # not cancelled before the limit and its slack
    assert guard_slack_s(0.2) == 1.0 and guard_slack_s(600.0) == 30.0
    # the guard leaves nothing behind: the same object runs again, to its own limit
    assert not any(len(cb.callbacks) for cb in (h.cbSimplexInterrupt, h.cbIpmInterrupt,
                                                h.cbMipInterrupt))
    # (not stopped at once by a leftover cancel; whichever limit comes first ends it:
    # HiGHS's own overran 0.3 s by more than the slack here)
    h.setOptionValue("time_limit", h.getRunTime() + 0.3)  # HiGHS counts every run
    assert run_guarded(h, 0.3) >= 0.3
    assert h.getModelStatus() in (highspy.HighsModelStatus.kTimeLimit,
                                  highspy.HighsModelStatus.kInterrupt)


def test_solves_with_other_thread_counts_follow_each_other() -> None:
    # HiGHS sizes its task scheduler on the first solve and refuses a later one that
    # asks for another count; a sweep worker (1 thread) and the scenario (2) both run
    b = ModelBuilder("one")
    x = b.add_vars("x", 1, ub=3.0, cost=-1.0, integer=True)
    b.add_rows("cap", rows=[0], cols=x.index(), vals=[2.0], lower=-np.inf, upper=5.0,
               n_rows=1)
    model = b.build()
    for threads in (1, None, 2, 1, None, 3):
        raw = run_solver(model, SolverOptions(name="highs", threads=threads), time_limit_s=30)
        assert raw.status is Status.OPTIMAL, threads
        assert raw.objective == pytest.approx(-2.0)
