"""The exact reductions agree with the plain MIP: p-median (branch-and-bound, truncation,
reduced-cost compaction) and CFLP (Lagrangian reduction), on random instances."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting.errors import InfeasibleError, InputError
from siting.models import CFLP, PMedian, SolverOptions, Status, VarBlock
from siting.models.builder import ModelBuilder


def planar(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    return xy, np.rint(np.linalg.norm(xy[:, None] - xy[None], axis=2))


def all_pairs(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j = np.indices(d.shape)
    return i.ravel(), j.ravel(), d.ravel()


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(12, 40), p=st.integers(1, 6), seed=st.integers(0, 10_000),
       cut=st.sampled_from([None, 45.0]))
def test_pmedian_methods_agree(n: int, p: int, seed: int, cut: float | None) -> None:
    _, d = planar(n, seed)
    i, j, c = all_pairs(d)
    if cut is not None:  # sparse pairs, like a network cutoff (each client keeps itself)
        keep = c <= cut
        i, j, c = i[keep], j[keep], c[keep]
    pb = PMedian.from_costs((i, j, c), p=min(p, n))
    exact = SolverOptions(mip_gap=0.0)
    results = [pb.solve(exact, method="branch"), pb.solve(exact, method="mip"),
               pb.solve(exact, method="mip", reduction="none"),
               pb.solve(SolverOptions(name="cbc", mip_gap=0.0))]
    objs = {round(r.objective, 6) for r in results if r.status is Status.OPTIMAL}
    statuses = {r.status for r in results}
    if statuses == {Status.INFEASIBLE}:  # the cutoff left no p-set covering every client
        return
    assert statuses == {Status.OPTIMAL}
    assert len(objs) == 1
    for r in results:
        assert r.selected.size == min(p, n)
        a = r.assignment
        assert a.client.tolist() == list(range(n))
        # each client goes to its nearest open site among its allowed pairs
        best = np.full(n, np.inf)
        np.minimum.at(best, i[np.isin(j, r.selected)], c[np.isin(j, r.selected)])
        np.testing.assert_allclose(d[a.client, a.site], best)


def test_pmedian_extra_constraints_hook() -> None:
    _, d = planar(25, 4)
    pb = PMedian.from_costs(all_pairs(d), p=3)
    free = pb.solve("highs")

    def not_together(b: ModelBuilder, v: Mapping[str, VarBlock]) -> None:
        s = free.selected[:2]
        b.add_rows("not_together", rows=[0, 0], cols=v["open"].index(s), vals=[1.0, 1.0],
                   lower=-np.inf, upper=1.0, n_rows=1)

    hooked = pb.solve("highs", extra_constraints=not_together)
    assert hooked.status is Status.OPTIMAL
    assert not set(free.selected[:2]) <= set(hooked.selected.tolist())
    assert hooked.objective >= free.objective
    with pytest.raises(InputError, match="method='branch' needs solver 'highs' and no "
                                         "extra_constraints"):
        pb.solve("highs", method="branch", extra_constraints=not_together)


def test_pmedian_weighted_with_fixed_and_forbidden() -> None:
    _, d = planar(30, 9)
    w = np.random.default_rng(9).integers(1, 20, 30).astype(float)
    pb = PMedian.from_costs(all_pairs(d), p=4, weights=w, fixed=[3], forbidden=[0, 1, 2])
    a = pb.solve(SolverOptions(mip_gap=0.0), method="branch")
    b = pb.solve(SolverOptions(mip_gap=0.0), method="mip", reduction="none")
    assert a.objective == pytest.approx(b.objective)
    assert 3 in a.selected and not set(a.selected.tolist()) & {0, 1, 2}


# ------------------------------------------------------------------------- CFLP
@st.composite
def cflp_instances(draw: st.DrawFn) -> dict:
    m = draw(st.integers(3, 9))
    n = draw(st.integers(5, 30))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    demand = rng.integers(1, 30, n).astype(float)
    equal = draw(st.booleans())
    cap = np.full(m, demand.sum() / draw(st.integers(2, 4)) + 1) if equal else \
        rng.uniform(0.3, 0.8, m) * demand.sum()
    return {"costs": (np.repeat(np.arange(n), m), np.tile(np.arange(m), n),
                      rng.uniform(1, 50, n * m).round(2)),
            "demand": demand, "capacity": cap,
            "fixed_cost": rng.uniform(50, 400, m).round(1),
            "unmet_cost": draw(st.sampled_from([None, 60.0])),
            "p": draw(st.sampled_from([None, None, 2]))}


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(inst=cflp_instances())
def test_cflp_lagrangian_matches_mip(inst: dict) -> None:
    try:
        pb = CFLP.from_costs(**inst)
        pb.check()
    except InfeasibleError as exc:  # an infeasible draw is skipped
        assert "exceeds the capacity" in str(exc)
        return
    exact = SolverOptions(mip_gap=0.0)
    mip = pb.solve(exact, method="mip")
    lag = pb.solve(exact, method="lagrangian")
    assert mip.status is Status.OPTIMAL and lag.status is Status.OPTIMAL
    assert lag.objective == pytest.approx(mip.objective, rel=1e-7)
    assert lag.bound <= lag.objective + 1e-6
    # capacities respected, every client's demand served (or unmet) exactly once
    d = np.asarray(inst["demand"])
    a = lag.assignment
    load = np.bincount(a.site, weights=a.amount * d[a.client], minlength=len(inst["capacity"]))
    assert (load <= np.asarray(inst["capacity"]) + 1e-6).all()
    assert not set(a.site.tolist()) - set(lag.selected.tolist())
    served = np.bincount(a.client, weights=a.amount, minlength=d.size)
    assert lag.unmet is not None
    np.testing.assert_allclose(served + lag.unmet, 1.0, atol=1e-6)
    if inst["p"] is not None:
        assert lag.selected.size == inst["p"]


def test_cflp_lagrangian_refuses_single_source() -> None:
    pb = CFLP.from_costs(([0], [0], [1.0]), demand=[1], capacity=[5], single_source=True)
    with pytest.raises(InputError, match="method='lagrangian' needs split demand"):
        pb.solve("highs", method="lagrangian")


def graph_costs(n: int, seed: int, degree: int = 4) -> np.ndarray:
    """Shortest paths on a random connected graph with integer edge costs (like pmed)."""
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    rng = np.random.default_rng(seed)
    m = n * degree // 2
    a = np.r_[rng.integers(0, n, m), np.arange(n)]
    b = np.r_[rng.integers(0, n, m), (np.arange(n) + 1) % n]  # a ring keeps it connected
    c = rng.integers(1, 100, a.size)
    return csgraph.shortest_path(sp.coo_matrix((c, (a, b)), shape=(n, n)).tocsr(),
                                 directed=False)


def test_pmedian_branching_compaction_and_restarts_stay_exact() -> None:
    # seed 6 needs branching, closes sites by reduced costs and re-grows its truncation
    nodes = 0
    for n, p, seed in [(120, 6, 6), (100, 5, 4), (80, 3, 7)]:
        pb = PMedian.from_costs(all_pairs(graph_costs(n, seed)), p=p)
        exact = SolverOptions(mip_gap=0.0)
        branch = pb.solve(exact, method="branch")
        full = pb.solve(exact, method="mip", reduction="none")
        cbc = pb.solve(SolverOptions(name="cbc", mip_gap=0.0))
        assert branch.status is full.status is cbc.status is Status.OPTIMAL
        assert branch.objective == full.objective == cbc.objective
        assert branch.bound == branch.objective
        nodes += branch.model["nodes"]
    assert nodes > 0
