"""OR-Library benchmarks reach their published optima through the readers in
:mod:`siting.models.orlib` (data read from ``../shared/data/bench``, never copied)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siting.models import PMedian, SolverOptions, Status
from siting.models.cflp import CFLP
from siting.models.orlib import read_cap, read_optima, read_pmed

BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bench"


def bench_file(*parts: str) -> Path:
    path = BENCH.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"OR-Library file {path} not found (reference data lives in "
                    f"../shared/data/bench beside the repo)")
    return path


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_pmed1_reaches_published_optimum(solver: str) -> None:
    inst = read_pmed(bench_file("pmed", "pmed1.txt"))
    optimum = read_optima(bench_file("pmed", "pmedopt.txt"))["pmed1"]
    assert (inst.n, inst.p, optimum) == (100, 5, 5819.0)
    d = inst.shortest_paths()
    i, j = np.indices(d.shape)
    res = PMedian.from_costs((i.ravel(), j.ravel(), d.ravel()), p=inst.p).solve(
        SolverOptions(name=solver, mip_gap=0.0))
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(optimum, abs=1e-6)
    assert res.selected.size == inst.p
    a = res.assignment
    assert sorted(a.client.tolist()) == list(range(inst.n))
    assert float(d[a.site, a.client].sum()) == pytest.approx(optimum, abs=1e-6)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_cap41_reaches_published_optimum(solver: str) -> None:
    inst = read_cap(bench_file("cap", "cap41.txt"))
    optimum = read_optima(bench_file("cap", "capopt.txt"))["cap41"]
    assert optimum == pytest.approx(1040444.375)
    assert not inst.symbolic_capacity
    n, m = inst.cost.shape
    assert (m, n) == (16, 50)
    i, j = np.indices(inst.cost.shape)
    res = CFLP.from_costs((i.ravel(), j.ravel(), inst.cost.ravel()), demand=inst.demand,
                          capacity=inst.capacity, fixed_cost=inst.fixed_cost,
                          cost_basis="total").solve(SolverOptions(name=solver, mip_gap=0.0))
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(optimum, rel=1e-8)  # CBC: primal tolerance x costs ~1e5
    a = res.assignment
    share = np.bincount(a.client, weights=a.amount, minlength=n)
    np.testing.assert_allclose(share, 1.0, atol=1e-6)
    load = np.bincount(a.site, weights=a.amount * inst.demand[a.client], minlength=m)
    # CBC returns shares within its primal tolerance: loads of 5000 can be ~2e-5 over
    assert np.all(load <= inst.capacity * (1 + 1e-7))
    recomputed = inst.fixed_cost[res.selected].sum() + (inst.cost[a.client, a.site]
                                                        * a.amount).sum()
    assert recomputed == pytest.approx(optimum, rel=1e-8)  # CBC: primal tolerance x costs ~1e5
