"""Hand-solvable toys, input equivalence, properties, errors and time limits for the
location-model core (p-median, LSCP, MCLP, CFLP), on both solvers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from siting.errors import InfeasibleError, InputError, SolverError
from siting.models import LSCP, MCLP, PMedian, Result, SolverOptions, Status
from siting.models.cflp import CFLP

SOLVERS = pytest.mark.parametrize("solver", ["highs", "cbc"])


def triples(dense: list[list[float | None]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(client, site, cost) arrays of the non-``None`` entries of a nested list."""
    i, j, c = [], [], []
    for a, row in enumerate(dense):
        for b, v in enumerate(row):
            if v is not None:
                i.append(a)
                j.append(b)
                c.append(float(v))
    return np.array(i), np.array(j), np.array(c)


def assert_optimal(res: Result, objective: float) -> None:
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(objective, abs=1e-6)
    assert res.mip_gap == pytest.approx(0.0, abs=1e-6)


def assignment_pairs(res: Result) -> dict[int, int]:
    """Client -> site for a single-site assignment; each client must appear once."""
    a = res.assignment
    assert np.unique(a.client).size == a.client.size, "a client is assigned twice"
    np.testing.assert_allclose(a.amount, 1.0)
    return dict(zip(a.client.tolist(), a.site.tolist(), strict=True))


# --------------------------------------------------------------------- p-median
# clients x sites; every pair allowed
PM_COSTS = [[1, 4, 9],
            [2, 3, 8],
            [7, 2, 3],
            [9, 6, 1]]
# p=2, unit weights, each client to its nearest open site:
#   {0,1}: 1+2+2+6 = 11   {0,2}: 1+2+3+1 = 7   {1,2}: 4+3+2+1 = 10  -> {0,2}, 7
#   fixed [1]:     {0,1}=11, {1,2}=10            -> {1,2}, 10
#   forbidden [2]: only {0,1}                    -> {0,1}, 11
#   weights [1,1,5,1]: {0,1}: 1+2+10+6=19  {0,2}: 1+2+15+1=19  {1,2}: 4+3+10+1=18 -> {1,2}


@SOLVERS
def test_pmedian_toy(solver: str) -> None:
    res = PMedian.from_costs(triples(PM_COSTS), p=2).solve(solver)
    assert_optimal(res, 7.0)
    assert res.selected.tolist() == [0, 2]
    assert assignment_pairs(res) == {0: 0, 1: 0, 2: 2, 3: 2}
    assert res.solver == solver


@SOLVERS
@pytest.mark.parametrize(("kwargs", "objective", "selected", "assign"), [
    ({"fixed": [1]}, 10.0, [1, 2], {0: 1, 1: 1, 2: 1, 3: 2}),
    ({"forbidden": [2]}, 11.0, [0, 1], {0: 0, 1: 0, 2: 1, 3: 1}),
    ({"fixed": np.array([False, True, False])}, 10.0, [1, 2], {0: 1, 1: 1, 2: 1, 3: 2}),
    ({"weights": [1, 1, 5, 1]}, 18.0, [1, 2], {0: 1, 1: 1, 2: 1, 3: 2}),
])
def test_pmedian_fixed_forbidden_weights(solver: str, kwargs: dict, objective: float,
                                         selected: list[int], assign: dict[int, int]) -> None:
    res = PMedian.from_costs(triples(PM_COSTS), p=2, **kwargs).solve(solver)
    assert_optimal(res, objective)
    assert res.selected.tolist() == selected
    assert assignment_pairs(res) == assign


@SOLVERS
def test_pmedian_sparse_inputs_agree(solver: str) -> None:
    # client 3 may not use site 0, client 0 may not use site 2: the optimum is unchanged
    dense = [row[:] for row in PM_COSTS]
    dense[3][0] = None
    dense[0][2] = None
    i, j, c = triples(dense)
    # an explicit zero-cost pair must survive the matrix path
    c[0] = 0.0
    mat = sp.coo_matrix((c, (i, j)), shape=(4, 3)).tocsr()
    a = PMedian.from_costs((i, j, c), p=2).solve(solver)
    b = PMedian.from_costs(mat, p=2).solve(solver)
    # {0,2}: 0+2+3+1 = 6
    assert_optimal(a, 6.0)
    assert_optimal(b, 6.0)
    assert a.selected.tolist() == b.selected.tolist() == [0, 2]
    assert assignment_pairs(a) == assignment_pairs(b)


def test_pmedian_solve_does_not_mutate() -> None:
    pb = PMedian.from_costs(triples(PM_COSTS), p=2, fixed=[1])
    before = (pb.costs.cost.copy(), pb.fixed.copy(), pb.weights.copy())
    pb.solve("highs")
    np.testing.assert_array_equal(pb.costs.cost, before[0])
    np.testing.assert_array_equal(pb.fixed, before[1])
    np.testing.assert_array_equal(pb.weights, before[2])


# ------------------------------------------------------------------------- LSCP
# cover sets (cost 1 <= radius 2; cost 5 pairs are out of range):
#   c0 {0,1}  c1 {1}  c2 {1,2}  c3 {2,3}  c4 {3};   site_cost [1, 3, 1, 2]
# c1 forces site 1 and c4 forces site 3; {1,3} covers everyone -> cost 5
LS_COSTS = [[1, 1, 5, 5],
            [5, 1, 5, 5],
            [5, 1, 1, None],
            [5, 5, 1, 1],
            [None, 5, 5, 1]]


@SOLVERS
def test_lscp_toy(solver: str) -> None:
    res = LSCP.from_costs(triples(LS_COSTS), radius=2.0, site_cost=[1, 3, 1, 2]).solve(solver)
    assert_optimal(res, 5.0)
    assert res.selected.tolist() == [1, 3]
    assert assignment_pairs(res) == {0: 1, 1: 1, 2: 1, 3: 3, 4: 3}


@SOLVERS
def test_lscp_fixed_and_cover_matrix(solver: str) -> None:
    cover = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0],
                                    [0, 0, 1, 1], [0, 0, 0, 1]]))
    # fixing site 0 adds its cost: 1 + 3 + 2 = 6
    res = LSCP.from_cover(cover, site_cost=[1, 3, 1, 2], fixed=[0]).solve(solver)
    assert_optimal(res, 6.0)
    assert res.selected.tolist() == [0, 1, 3]


# ------------------------------------------------------------------------- MCLP
# cover (cost 1 <= radius 2):  c0 {0}  c1 {0,1}  c2 {1}  c3 {2};  weights [5, 2, 4, 6]
#   p=1: {0}=7 {1}=6 {2}=6                -> {0}, 7
#   p=2: {0,1}=11 {0,2}=13 {1,2}=12       -> {0,2}, 13, client 2 unmet
#   p=2, forbidden [0]: {1,2} = 12
MC_COSTS = [[1, 3, 3],
            [1, 1, 3],
            [3, 1, None],
            [3, 3, 1]]
MC_W = [5, 2, 4, 6]


@SOLVERS
@pytest.mark.parametrize(("p", "kwargs", "objective", "selected", "unmet"), [
    (1, {}, 7.0, [0], [0, 0, 1, 1]),
    (2, {}, 13.0, [0, 2], [0, 0, 1, 0]),
    (2, {"forbidden": [0]}, 12.0, [1, 2], [1, 0, 0, 0]),
    (2, {"fixed": [1]}, 12.0, [1, 2], [1, 0, 0, 0]),
])
def test_mclp_toy(solver: str, p: int, kwargs: dict, objective: float, selected: list[int],
                  unmet: list[int]) -> None:
    res = MCLP.from_costs(triples(MC_COSTS), radius=2.0, p=p, weights=MC_W,
                          **kwargs).solve(solver)
    assert_optimal(res, objective)
    assert res.selected.tolist() == selected
    assert res.unmet is not None
    np.testing.assert_array_equal(res.unmet, unmet)
    covered = np.flatnonzero(np.asarray(unmet) == 0).tolist()
    assert sorted(assignment_pairs(res)) == covered


# ------------------------------------------------------------------------- CFLP
# unit costs (per unit of demand), demand 6 each (18 in all)
CF_COSTS = [[1, 3, 3],
            [1, 1, 3],
            [3, 1, 3]]
CF_DEMAND = [6, 6, 6]
CF_CAP = [10, 10, 20]
CF_FIXED = [10, 10, 30]
# split demand:
#   {0,1}: 20 + all 18 units at cost 1 (c0->0, c2->1, c1 split 4/2..2/4) = 38
#   {2}: 30 + 54 = 84; any set with site 2 and another costs >= 40 + 18      -> {0,1}, 38
#   forbidden [1]: {0,2}: 40 + 10 units at 1 + 8 units at 3 = 74; {2}: 84    -> {0,2}, 74
#   fixed [2]: {0,1,2}: 50 + 18 = 68; {0,2}, {1,2}: 74; {2}: 84               -> all, 68
# single source (no site of capacity 10 takes two clients of 6):
#   {0,1} infeasible; {2}: 84; {0,2}, {1,2}: 40 + 6 + 36 = 82;
#   {0,1,2}: 50 + 6 + 6 + 18 = 80                                             -> all, 80


def cflp(**kwargs: object) -> CFLP:
    return CFLP.from_costs(triples(CF_COSTS), demand=CF_DEMAND, capacity=CF_CAP,
                           fixed_cost=CF_FIXED, **kwargs)


def check_flows(res: Result, *, single: bool) -> None:
    a = res.assignment
    share = np.bincount(a.client, weights=a.amount, minlength=3)
    np.testing.assert_allclose(share, 1.0, atol=1e-6)
    assert set(a.site.tolist()) <= set(res.selected.tolist())
    load = np.bincount(a.site, weights=a.amount * np.take(CF_DEMAND, a.client), minlength=3)
    assert np.all(load <= np.asarray(CF_CAP) + 1e-6)
    if single:
        np.testing.assert_allclose(a.amount, 1.0)
    # the objective is the fixed costs plus the flow costs, recomputed
    flow = sum(CF_COSTS[c][s] * CF_DEMAND[c] * x
               for c, s, x in zip(a.client, a.site, a.amount, strict=True))
    fixed = sum(CF_FIXED[s] for s in res.selected)
    assert res.objective == pytest.approx(flow + fixed, abs=1e-6)


@SOLVERS
@pytest.mark.parametrize(("kwargs", "objective", "selected"), [
    ({}, 38.0, [0, 1]),
    ({"forbidden": [1]}, 74.0, [0, 2]),
    ({"fixed": [2]}, 68.0, [0, 1, 2]),
    ({"single_source": True}, 80.0, [0, 1, 2]),
    ({"single_source": True, "p": 1}, 84.0, [2]),
])
def test_cflp_toy(solver: str, kwargs: dict, objective: float, selected: list[int]) -> None:
    res = cflp(**kwargs).solve(solver)
    assert_optimal(res, objective)
    assert res.selected.tolist() == selected
    check_flows(res, single=bool(kwargs.get("single_source")))


@SOLVERS
def test_cflp_split_demand_is_split(solver: str) -> None:
    res = cflp().solve(solver)
    # client 1 cannot fit whole in site 0 or 1 next to client 0 or 2: it is split
    a = res.assignment
    assert (a.client == 1).sum() == 2
    assert sorted(a.site[a.client == 1].tolist()) == [0, 1]


@SOLVERS
def test_cflp_total_cost_basis_and_matrix_agree(solver: str) -> None:
    i, j, c = triples(CF_COSTS)
    total = c * np.take(CF_DEMAND, i)
    mat = sp.coo_matrix((total, (i, j)), shape=(3, 3)).tocsr()
    res = CFLP.from_costs(mat, demand=CF_DEMAND, capacity=CF_CAP, fixed_cost=CF_FIXED,
                          cost_basis="total").solve(solver)
    assert_optimal(res, 38.0)
    assert res.selected.tolist() == [0, 1]


# ----------------------------------------------------------- infeasible inputs
def test_pmedian_p_exceeds_allowed_sites() -> None:
    pb = PMedian.from_costs(triples(PM_COSTS), p=3, forbidden=[0])
    with pytest.raises(InfeasibleError, match=r"p=3 but only 2 of 3 sites are not forbidden"):
        pb.solve("highs")


def test_pmedian_fixed_exceeds_p() -> None:
    pb = PMedian.from_costs(triples(PM_COSTS), p=1, fixed=[0, 2])
    with pytest.raises(InfeasibleError, match=r"2 fixed sites but p=1"):
        pb.solve("highs")


def test_pmedian_client_without_site() -> None:
    dense = [row[:] for row in PM_COSTS] + [[None, None, None]]
    pb = PMedian.from_costs(triples(dense), p=2, n_clients=5)
    with pytest.raises(InfeasibleError, match=r"1 clients have no allowed site \(first: \[4\]\)"):
        pb.solve("cbc")


def test_pmedian_client_only_at_forbidden_site() -> None:
    dense = [row[:] for row in PM_COSTS]
    dense[2] = [None, None, 3]
    pb = PMedian.from_costs(triples(dense), p=2, forbidden=[2])
    with pytest.raises(InfeasibleError, match=r"no allowed site \(first: \[2\]\)"):
        pb.solve("highs")


def test_pmedian_fixed_and_forbidden_overlap() -> None:
    pb = PMedian.from_costs(triples(PM_COSTS), p=2, fixed=[1], forbidden=[1])
    with pytest.raises(InfeasibleError, match=r"sites \[1\] are both fixed and forbidden"):
        pb.solve("highs")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"p": 0}, r"p=0 must be an integer >= 1"),
    ({"p": 2, "weights": [1, 2]}, r"weights has 2 values for 4 clients"),
    ({"p": 2, "weights": [1, -1, 1, 1]}, r"weights must be finite and >= 0"),
    ({"p": 2, "fixed": [7]}, r"site index outside 0\.\.2"),
])
def test_pmedian_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        PMedian.from_costs(triples(PM_COSTS), **kwargs)


def test_costs_bad_input() -> None:
    i, j, c = triples(PM_COSTS)
    with pytest.raises(InputError, match=r"arrays differ in length"):
        PMedian.from_costs((i, j[:-1], c), p=1)
    with pytest.raises(InputError, match=r"a dense matrix must be converted"):
        PMedian.from_costs(np.array(PM_COSTS, float), p=1)


def test_lscp_uncoverable_client() -> None:
    pb = LSCP.from_costs(triples(LS_COSTS), radius=2.0, forbidden=[3])
    with pytest.raises(InfeasibleError, match=r"1 clients are covered by no allowed site "
                                              r"\(first: \[4\]\)"):
        pb.solve("highs")


def test_mclp_p_exceeds_allowed_sites() -> None:
    pb = MCLP.from_costs(triples(MC_COSTS), radius=2.0, p=3, forbidden=[1])
    with pytest.raises(InfeasibleError, match=r"p=3 but only 2 sites are not forbidden"):
        pb.solve("highs")


def test_cflp_capacity_short() -> None:
    pb = CFLP.from_costs(triples(CF_COSTS), demand=CF_DEMAND, capacity=[5, 5, 5])
    with pytest.raises(InfeasibleError, match=r"demand 18 exceeds the capacity of all 3 "
                                              r"allowed sites, 15, by 3"):
        pb.solve("highs")


def test_cflp_capacity_short_with_p() -> None:
    with pytest.raises(InfeasibleError, match=r"exceeds the capacity of the 1 largest"):
        cflp(p=1, forbidden=[2]).solve("highs")


def test_cflp_single_source_client_too_big() -> None:
    pb = CFLP.from_costs(triples(CF_COSTS), demand=[6, 12, 6], capacity=[10, 10, 10],
                         single_source=True)
    with pytest.raises(InfeasibleError, match=r"with single sourcing, client 1 needs 12"):
        pb.solve("highs")


# ---------------------------------------------------------- random properties
@st.composite
def pmedian_instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray, int, int]:
    n_sites = draw(st.integers(2, 7))
    n_clients = draw(st.integers(1, 8))
    p = draw(st.integers(1, n_sites))
    i, j, c = [], [], []
    for a in range(n_clients):
        sites = draw(st.lists(st.integers(0, n_sites - 1), min_size=1, max_size=n_sites,
                              unique=True))
        for b in sites:
            i.append(a)
            j.append(b)
            c.append(draw(st.integers(0, 20)))
    w = draw(st.lists(st.integers(0, 5), min_size=n_clients, max_size=n_clients))
    return (np.array(i), np.array(j), np.array(c, float), np.array(w, float), n_sites, p)


def brute_force(i: np.ndarray, j: np.ndarray, c: np.ndarray, w: np.ndarray, n_sites: int,
                p: int) -> float:
    """Best p-subset; ``inf`` when no p-subset reaches every client."""
    best = math.inf
    n_clients = w.size
    for subset in itertools.combinations(range(n_sites), p):
        open_ = np.zeros(n_sites, bool)
        open_[list(subset)] = True
        near = np.full(n_clients, math.inf)
        ok = open_[j]
        np.minimum.at(near, i[ok], c[ok])
        if np.isfinite(near).all():
            best = min(best, float(w @ near))
    return best


@SOLVERS
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(inst=pmedian_instances())
def test_pmedian_matches_brute_force(solver: str, inst: tuple) -> None:
    i, j, c, w, n_sites, p = inst
    pb = PMedian.from_costs((i, j, c), p=p, weights=w, n_sites=n_sites)
    best = brute_force(i, j, c, w, n_sites, p)
    if not math.isfinite(best):
        # no p sites reach every client: a clear error or an infeasible status
        event("no feasible p-subset")
        try:
            res = pb.solve(solver)
        except InfeasibleError:
            return
        assert res.status is Status.INFEASIBLE
        return
    event("feasible")
    res = pb.solve(solver)
    assert res.status is Status.OPTIMAL
    assert res.selected.size == p
    a = res.assignment
    # every client exactly once, to an open site, on an allowed pair
    assert sorted(a.client.tolist()) == list(range(w.size))
    assert np.isin(a.site, res.selected).all()
    cost = {(int(x), int(y)): float(z) for x, y, z in zip(i, j, c, strict=True)}
    recomputed = sum(w[x] * cost[(int(x), int(y))] for x, y in zip(a.client, a.site,
                                                                   strict=True))
    assert res.objective == pytest.approx(recomputed, abs=1e-6)
    assert res.objective == pytest.approx(best, abs=1e-6)


# ----------------------------------------------------------------- time limits
def random_instance(seed: int, n_clients: int, n_sites: int, k: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer Euclidean costs to each client's ``k`` nearest sites."""
    rng = np.random.default_rng(seed)
    cl = rng.uniform(0, 1000, (n_clients, 2))
    st_ = rng.uniform(0, 1000, (n_sites, 2))
    d = np.rint(np.hypot(*(cl[:, None, :] - st_[None, :, :]).transpose(2, 0, 1)))
    near = np.argsort(d, axis=1)[:, :k]
    i = np.repeat(np.arange(n_clients), k)
    j = near.ravel()
    return i, j, d[i, j]


TL_COSTS = random_instance(7, 400, 120, 40)
TL_P = 12


@pytest.fixture(scope="module")
def tl_exact() -> Result:
    res = PMedian.from_costs(TL_COSTS, p=TL_P).solve(SolverOptions(name="highs", mip_gap=0.0))
    assert res.status is Status.OPTIMAL
    return res


@SOLVERS
@pytest.mark.parametrize("limit_s", [1e-3, 0.05, 0.5])
def test_pmedian_time_limit_never_claims_wrong_optimum(solver: str, limit_s: float,
                                                       tl_exact: Result) -> None:
    res = PMedian.from_costs(TL_COSTS, p=TL_P).solve(
        SolverOptions(name=solver, time_limit_s=limit_s, mip_gap=0.0))
    assert res.status in (Status.OPTIMAL, Status.TIME_LIMIT_FEASIBLE,
                          Status.TIME_LIMIT_NO_SOLUTION)
    if res.status is Status.OPTIMAL:
        assert res.objective == pytest.approx(tl_exact.objective, abs=1e-6)
    elif res.status is Status.TIME_LIMIT_FEASIBLE:
        assert res.objective >= tl_exact.objective - 1e-6
        assert res.selected.size == TL_P
        if math.isfinite(res.bound):
            assert res.bound <= tl_exact.objective + 1e-6
            assert res.mip_gap == pytest.approx(
                abs(res.objective - res.bound) / res.objective, abs=1e-9)
    else:
        assert math.isnan(res.objective)
        with pytest.raises(SolverError, match=r"no feasible solution within the time limit"):
            res.raise_for_status()


@SOLVERS
def test_cflp_time_limit_never_claims_wrong_optimum(solver: str) -> None:
    i, j, c = random_instance(11, 120, 30, 12)
    rng = np.random.default_rng(3)
    demand = rng.integers(1, 20, 120)
    cap = np.full(30, float(demand.sum()) / 6)
    fixed = rng.integers(200, 600, 30)
    kw = {"demand": demand, "capacity": cap, "fixed_cost": fixed}
    exact = CFLP.from_costs((i, j, c), **kw).solve(SolverOptions(name=solver, mip_gap=0.0))
    assert exact.status is Status.OPTIMAL
    res = CFLP.from_costs((i, j, c), **kw).solve(SolverOptions(name=solver, time_limit_s=1e-3,
                                                               mip_gap=0.0))
    assert res.status in (Status.OPTIMAL, Status.TIME_LIMIT_FEASIBLE,
                          Status.TIME_LIMIT_NO_SOLUTION)
    if res.status is Status.OPTIMAL:
        assert res.objective == pytest.approx(exact.objective, rel=1e-9, abs=1e-6)
    elif res.status is Status.TIME_LIMIT_FEASIBLE:
        assert res.objective >= exact.objective - 1e-6
        if math.isfinite(res.bound):
            assert res.bound <= exact.objective + 1e-6
