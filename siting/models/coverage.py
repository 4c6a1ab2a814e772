"""Coverage models on a sparse cover relation: set covering (LSCP) and maximal covering (MCLP).

A client is *covered* by a site when the pair is allowed and its cost is within the
service radius (``from_costs``), or when the incidence matrix says so
(``from_cover``). Both models aggregate clients with identical cover sets before
solving (an exact reduction: such clients are interchangeable), which on gridded
demand shrinks the model severalfold.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError, InputError
from siting.models._common import is_integral, no_solution_result, site_sets
from siting.models.base import Assignment, Result, SolverOptions
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock
from siting.models.costs import CostInput, SparseCosts
from siting.models.solvers import RawSolution, run_solver

logger = logging.getLogger(__name__)

__all__ = ["LSCP", "MCLP"]




@dataclass(frozen=True)
class _Cover:
    """Validated cover relation: CSR ``clients x sites`` (data = cost, or 0), sorted by
    cost within each row so the first open entry is the nearest."""

    costs: SparseCosts

    @classmethod
    def from_costs(cls, costs: CostInput, radius: float, *, n_clients: int | None,
                   n_sites: int | None, name: str) -> _Cover:
        if not (isinstance(radius, int | float | np.number) and math.isfinite(radius)
                and radius >= 0):
            raise InputError(f"{name}: radius={radius!r} must be a finite number >= 0")
        sc = SparseCosts.from_input(costs, n_clients=n_clients, n_sites=n_sites,
                                    name=f"{name}: costs")
        keep = sc.cost <= radius
        counts = np.bincount(sc.client[keep], minlength=sc.n_clients)
        return cls(SparseCosts._frozen(sc.n_clients, sc.n_sites, np.r_[0, np.cumsum(counts)],
                                       sc.site[keep], sc.cost[keep]))

    @classmethod
    def from_matrix(cls, cover: sp.spmatrix | sp.sparray, *, name: str) -> _Cover:
        if not sp.issparse(cover):
            raise InputError(f"{name}: cover must be a scipy sparse matrix (clients x sites), "
                             f"got {type(cover).__name__}")
        coo = sp.coo_matrix(cover)
        nz = coo.data != 0
        i, j = coo.row[nz], coo.col[nz]
        sc = SparseCosts.from_input((i, j, np.zeros(i.size)), n_clients=coo.shape[0],
                                    n_sites=coo.shape[1], name=f"{name}: cover")
        return cls(sc)

    def without(self, forbidden: np.ndarray) -> SparseCosts:
        return self.costs.drop_sites(forbidden)


def _aggregate_rows(costs: SparseCosts, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """Group clients with identical cover sets (an exact reduction).

    Returns the representative client of each group, the group of every client and
    the summed weight per group. Rows are hashed with two random 64-bit keys per
    site, then every member is compared with its representative element by element,
    so a hash collision can never merge different rows.
    """
    n = costs.n_clients
    deg = costs.degree()
    client = costs.client
    order = np.lexsort((costs.site, client))
    site = costs.site[order]  # each row sorted by site
    rng = np.random.default_rng(0x5171_6E67)
    keys = rng.integers(0, np.iinfo(np.int64).max, size=(2, costs.n_sites), dtype=np.int64)
    h = np.zeros((2, n), np.int64)
    nonempty = np.flatnonzero(deg > 0)
    if nonempty.size:
        with np.errstate(over="ignore"):
            for r in range(2):
                h[r, nonempty] = np.add.reduceat(keys[r, site], costs.indptr[nonempty])
    table = np.stack([deg, h[0], h[1]], axis=1)
    _, reps, group = np.unique(table, axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    # verify: every pair of a member equals the pair at the same position of its rep
    pos = np.arange(costs.nnz) - costs.indptr[client]
    rep_pair = costs.indptr[reps[group[client]]] + pos
    bad = np.unique(client[site != site[rep_pair]])
    if bad.size:  # a hash collision: give those clients groups of their own
        group = group.copy()
        group[bad] = reps.size + np.arange(bad.size)
        reps = np.r_[reps, bad]
    wsum = np.bincount(group, weights=weights, minlength=reps.size)
    return reps.astype(np.int64), group.astype(np.int64), wsum


def _cover_rows(b: ModelBuilder, name: str, costs: SparseCosts, reps: np.ndarray,
                y: VarBlock, u: VarBlock | None, lower: float) -> None:
    """One row per group: ``sum_{i covers j} y_i (- u_j) >= lower``."""
    deg = np.diff(costs.indptr)[reps]
    rows = np.repeat(np.arange(reps.size), deg)
    starts = costs.indptr[reps]
    pos = np.arange(int(deg.sum())) - np.repeat(np.cumsum(deg) - deg, deg)
    cols = y.index(costs.site[np.repeat(starts, deg) + pos])
    vals = np.ones(rows.size)
    if u is not None:
        rows = np.r_[rows, np.arange(reps.size)]
        cols = np.r_[cols, u.index()]
        vals = np.r_[vals, -np.ones(reps.size)]
    b.add_rows(name, rows=rows, cols=cols, vals=vals, lower=lower, upper=np.inf,
               n_rows=int(reps.size))


def _nearest_open(costs: SparseCosts, is_open: np.ndarray) -> np.ndarray:
    site = np.full(costs.n_clients, -1, np.int64)
    hit = np.flatnonzero(is_open[costs.site])
    if hit.size:
        cl = costs.client[hit]
        uniq, first = np.unique(cl, return_index=True)
        site[uniq] = costs.site[hit[first]]
    return site


def _finish(raw: RawSolution, model: LinearModel, costs: SparseCosts, build_s: float,
            extra_info: dict[str, object], *, unmet: np.ndarray | None = None,
            name: str) -> Result:
    info = {**model.stats(), **raw.info, **extra_info}
    if raw.x is None:
        return no_solution_result(raw, build_s, info)
    is_open = raw.x[model.vars["open"].slice] > 0.5
    site = _nearest_open(costs, is_open)
    served = np.flatnonzero(site >= 0)
    return Result(raw.status, raw.objective, raw.bound, raw.gap, np.flatnonzero(is_open),
                  Assignment(served, site[served], np.ones(served.size)), raw.seconds,
                  build_s, raw.solver, raw.version, unmet=unmet,
                  values=model.values(raw.x), model=info)


@dataclass(frozen=True)
class LSCP:
    r"""Weighted location set covering: cover every client at least cost.

    **Formulation.** Sites ``i`` with opening cost ``c_i``, binary ``y_i``; ``N(j)``
    the sites covering client ``j``::

        min  sum_i c_i y_i
        s.t. sum_{i in N(j)} y_i >= 1      for every client j
             y_i = 1 (fixed),  y_i = 0 (forbidden)

    Clients with identical ``N(j)`` share one row; the solver's presolve handles
    dominated rows and columns. The objective is integral when the costs are, which
    lets the solver stop at an absolute gap below 1 and stay exact.

    **Example.**

    >>> import numpy as np, scipy.sparse as sp
    >>> from siting.models import LSCP
    >>> cover = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]]))
    >>> res = LSCP.from_cover(cover, site_cost=[2, 3, 2]).solve("highs")
    >>> res.objective, res.selected.tolist()
    (4.0, [0, 2])
    """

    cover: SparseCosts
    site_cost: np.ndarray
    fixed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    name: str = "LSCP"

    @classmethod
    def from_costs(cls, costs: CostInput, *, radius: float, site_cost: ArrayLike | None = None,
                   fixed: ArrayLike | None = None, forbidden: ArrayLike | None = None,
                   n_clients: int | None = None, n_sites: int | None = None,
                   name: str = "LSCP") -> LSCP:
        """Client ``j`` is covered by site ``i`` when the pair's cost is ``<= radius``."""
        cv = _Cover.from_costs(costs, radius, n_clients=n_clients, n_sites=n_sites, name=name)
        return cls._make(cv, site_cost, fixed, forbidden, name)

    @classmethod
    def from_cover(cls, cover: sp.spmatrix | sp.sparray, *, site_cost: ArrayLike | None = None,
                   fixed: ArrayLike | None = None, forbidden: ArrayLike | None = None,
                   name: str = "LSCP") -> LSCP:
        """From a ``clients x sites`` incidence matrix (nonzero = covers)."""
        return cls._make(_Cover.from_matrix(cover, name=name), site_cost, fixed, forbidden, name)

    @classmethod
    def _make(cls, cv: _Cover, site_cost: ArrayLike | None, fixed: ArrayLike | None,
              forbidden: ArrayLike | None, name: str) -> LSCP:
        n = cv.costs.n_sites
        c = np.ones(n) if site_cost is None else np.asarray(site_cost, np.float64).ravel()
        if c.shape != (n,) or not np.all(np.isfinite(c)) or (c < 0).any():
            raise InputError(f"{name}: site_cost must hold {n} finite values >= 0 (got shape "
                             f"{c.shape})")
        fx, fb = site_sets(fixed, forbidden, n, name)
        c.setflags(write=False)
        return cls(cv.costs, c, fx, fb, name)

    def check(self) -> None:
        """Every client must be covered by some site that is not forbidden."""
        mask = np.zeros(self.cover.n_sites, bool)
        mask[self.forbidden] = True
        orphans = np.flatnonzero(self.cover.drop_sites(mask).degree() == 0)
        if orphans.size:
            raise InfeasibleError(
                f"{self.name}: {orphans.size} clients are covered by no allowed site (first: "
                f"{orphans[:10].tolist()}); raise the radius, add candidate sites or "
                f"un-forbid some", constraint="cover", shortfall=float(orphans.size))

    def solve(self, solver: SolverOptions | str | None = None, *,
              extra_constraints: ExtraConstraints | None = None,
              progress: bool = False) -> Result:
        """Solve; ``extra_constraints(builder, vars)`` may add rows on ``vars["open"]``."""
        opts = SolverOptions.coerce(solver)
        self.check()
        t0 = time.perf_counter()
        mask = np.zeros(self.cover.n_sites, bool)
        mask[self.forbidden] = True
        cov = self.cover.drop_sites(mask)
        reps, _, _ = _aggregate_rows(cov, np.ones(cov.n_clients))
        b = ModelBuilder(self.name, objective_integral=is_integral(self.site_cost))
        lb = np.zeros(cov.n_sites)
        lb[self.fixed] = 1.0
        y = b.add_vars("open", cov.n_sites, lb=lb, ub=np.where(mask, 0.0, 1.0),
                       cost=self.site_cost, integer=True)
        _cover_rows(b, "cover", cov, reps, y, None, 1.0)
        if extra_constraints is not None:
            extra_constraints(b, b.vars)
        model = b.build()
        build_s = time.perf_counter() - t0
        raw = run_solver(model, opts)
        return _finish(raw, model, cov, build_s, {"client_groups": int(reps.size)},
                       name=self.name)


@dataclass(frozen=True)
class MCLP:
    r"""Maximal covering: open ``p`` sites to cover the most client weight.

    **Formulation** (Church & ReVelle 1974). Binary ``y_i``; ``u_j in [0, 1]`` the
    covered share of client ``j`` (integral at any integer ``y``)::

        max  sum_j w_j u_j
        s.t. u_j <= sum_{i in N(j)} y_i    for every client j
             sum_i y_i = p ;  y_i = 1 (fixed) ;  y_i = 0 (forbidden)

    Clients with identical ``N(j)`` are merged (weights summed); clients covered by
    no allowed site are dropped from the model and reported as unmet.

    **Example.**

    >>> import numpy as np, scipy.sparse as sp
    >>> from siting.models import MCLP
    >>> cover = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]]))
    >>> res = MCLP.from_cover(cover, p=1, weights=[5, 2, 4, 6]).solve("highs")
    >>> res.objective, res.selected.tolist()
    (7.0, [0])
    """

    cover: SparseCosts
    weights: np.ndarray
    p: int
    fixed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    name: str = "MCLP"

    @classmethod
    def from_costs(cls, costs: CostInput, *, radius: float, p: int,
                   weights: ArrayLike | None = None, fixed: ArrayLike | None = None,
                   forbidden: ArrayLike | None = None, n_clients: int | None = None,
                   n_sites: int | None = None, name: str = "MCLP") -> MCLP:
        """Client ``j`` is covered by site ``i`` when the pair's cost is ``<= radius``."""
        cv = _Cover.from_costs(costs, radius, n_clients=n_clients, n_sites=n_sites, name=name)
        return cls._make(cv, p, weights, fixed, forbidden, name)

    @classmethod
    def from_cover(cls, cover: sp.spmatrix | sp.sparray, *, p: int,
                   weights: ArrayLike | None = None, fixed: ArrayLike | None = None,
                   forbidden: ArrayLike | None = None, name: str = "MCLP") -> MCLP:
        """From a ``clients x sites`` incidence matrix (nonzero = covers)."""
        return cls._make(_Cover.from_matrix(cover, name=name), p, weights, fixed, forbidden, name)

    @classmethod
    def _make(cls, cv: _Cover, p: int, weights: ArrayLike | None, fixed: ArrayLike | None,
              forbidden: ArrayLike | None, name: str) -> MCLP:
        n_c = cv.costs.n_clients
        problems = []
        w = np.ones(n_c) if weights is None else np.asarray(weights, np.float64).ravel()
        if w.shape != (n_c,) or not np.all(np.isfinite(w)) or (w < 0).any():
            problems.append(f"weights must hold {n_c} finite values >= 0 (got shape {w.shape})")
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 1:
            problems.append(f"p={p!r} must be an integer >= 1")
        if problems:
            raise InputError.collect(problems, context=name)
        fx, fb = site_sets(fixed, forbidden, cv.costs.n_sites, name)
        w.setflags(write=False)
        return cls(cv.costs, w, int(p), fx, fb, name)

    def check(self) -> None:
        """``p`` must fit between the fixed sites and the allowed sites."""
        allowed = self.cover.n_sites - self.forbidden.size
        if self.fixed.size > self.p:
            raise InfeasibleError(
                f"{self.name}: {self.fixed.size} fixed sites but p={self.p}; raise p or unfix "
                f"{self.fixed.size - self.p} sites", constraint="p",
                shortfall=float(self.fixed.size - self.p))
        if allowed < self.p:
            raise InfeasibleError(
                f"{self.name}: p={self.p} but only {allowed} sites are not forbidden; lower p "
                f"or allow {self.p - allowed} more", constraint="p",
                shortfall=float(self.p - allowed))

    def solve(self, solver: SolverOptions | str | None = None, *,
              extra_constraints: ExtraConstraints | None = None,
              progress: bool = False) -> Result:
        """Solve; ``extra_constraints(builder, vars)`` may add rows on ``vars["open"]``.

        ``Result.unmet`` is each client's uncovered share (0 or 1).
        """
        opts = SolverOptions.coerce(solver)
        self.check()
        t0 = time.perf_counter()
        mask = np.zeros(self.cover.n_sites, bool)
        mask[self.forbidden] = True
        cov = self.cover.drop_sites(mask)
        reps, _, wsum = _aggregate_rows(cov, self.weights)
        # groups with no covering site can never be covered; groups of zero weight do not
        # matter: both are left out of the model
        live = (np.diff(cov.indptr)[reps] > 0) & (wsum > 0)
        b = ModelBuilder(self.name, sense="max", objective_integral=is_integral(wsum[live]))
        lb = np.zeros(cov.n_sites)
        lb[self.fixed] = 1.0
        y = b.add_vars("open", cov.n_sites, lb=lb, ub=np.where(mask, 0.0, 1.0), integer=True)
        u = b.add_vars("covered", int(live.sum()), ub=1.0, cost=wsum[live])
        _cover_rows(b, "cover", cov, reps[live], y, u, 0.0)
        b.add_rows("p", rows=np.zeros(y.size), cols=y.index(), vals=np.ones(y.size),
                   lower=float(self.p), upper=float(self.p), n_rows=1)
        if extra_constraints is not None:
            extra_constraints(b, b.vars)
        model = b.build()
        build_s = time.perf_counter() - t0
        raw = run_solver(model, opts)
        unmet = None
        if raw.x is not None:
            is_open = raw.x[y.slice] > 0.5
            unmet = (_nearest_open(cov, is_open) < 0).astype(float)
        return _finish(raw, model, cov, build_s, {"client_groups": int(live.sum())},
                       unmet=unmet, name=self.name)
