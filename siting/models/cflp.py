"""Capacitated facility location (CFLP) on sparse pairs: split or single-source demand.

See :class:`CFLP`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError, InputError
from siting.models._common import (
    add_count_row,
    check_count,
    check_p,
    fmt,
    is_integral,
    no_solution_result,
    nonneg_array,
    site_sets,
)
from siting.models._lagrange import lagrangian_reduction
from siting.models.base import Assignment, Result, SolverOptions, Status, relative_gap
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock
from siting.models.costs import CostInput, SparseCosts
from siting.models.solvers import Deadline, run_solver, solver_version

logger = logging.getLogger(__name__)

__all__ = ["CFLP"]

#: from this many allowed pairs up, ``method="auto"`` runs the Lagrangian reduction
_LAGRANGE_MIN_PAIRS = 10_000
#: after the reduction, linking rows ``x_ij <= y_i`` only for each client's nearest
#: sites: on capc they already give the full strong LP bound, with a quarter of the rows
_LINK_NEAREST = 8


@dataclass(frozen=True)
class CFLP:
    r"""Capacitated facility location: open sites and serve all demand at least cost.

    **Formulation** (strong form, e.g. Cornuéjols, Sridharan & Thizy 1991). Sites
    ``i`` with fixed cost ``f_i`` and capacity ``Q_i``, binary ``y_i``; clients ``j``
    with demand ``d_j``; for each allowed pair the share ``x_ij in [0, 1]`` of ``j``'s
    demand served by ``i`` (binary with ``single_source=True``) at cost ``c_ij`` for
    the whole of ``j``'s demand; optionally an unserved share ``u_j`` at ``unmet_cost``
    per unit::

        min  sum_i f_i y_i + sum_(i,j) c_ij x_ij + sum_j unmet_cost d_j u_j
        s.t. sum_i x_ij + u_j = 1                 for every client j   (assignment)
             sum_j d_j x_ij <= Q_i y_i             for every site i     (capacity)
             x_ij <= y_i                          for every pair       (linking)
             sum_i Q_i y_i >= sum_j d_j            (aggregate capacity; without unmet)
             sum_i y_i = p                        (when p is given)
             y_i = 1 (fixed) ;  y_i = 0 (forbidden)

    The linking rows make the LP bound strong (the "weak" form without them is
    much slower to close); the aggregate capacity row is a valid cut. Only allowed
    pairs get an ``x``: nothing is dense.

    **Example** (two sites of capacity 10, fixed costs 5 and 8, three clients):

    >>> import numpy as np
    >>> from siting.models import CFLP
    >>> i = np.array([0, 0, 1, 1, 2, 2])     # clients
    >>> j = np.array([0, 1, 0, 1, 0, 1])     # sites
    >>> c = np.array([1., 3., 2., 1., 4., 1.])  # cost per unit of demand
    >>> res = CFLP.from_costs((i, j, c), demand=[4, 4, 4], capacity=[10, 10],
    ...                       fixed_cost=[5, 8]).solve("highs")
    >>> res.status.value, res.objective, res.selected.tolist()
    ('optimal', 25.0, [0, 1])
    """

    costs: SparseCosts  # cost of serving ALL of client j's demand from site i
    demand: np.ndarray
    capacity: np.ndarray
    fixed_cost: np.ndarray
    single_source: bool = False
    unmet_cost: float | None = None
    p: int | None = None
    fixed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    name: str = "CFLP"

    @classmethod
    def from_costs(cls, costs: CostInput, *, demand: ArrayLike, capacity: ArrayLike,
                   fixed_cost: ArrayLike | float = 0.0, single_source: bool = False,
                   cost_basis: Literal["unit", "total"] = "unit",
                   unmet_cost: float | None = None, p: int | None = None,
                   fixed: ArrayLike | None = None, forbidden: ArrayLike | None = None,
                   n_clients: int | None = None, n_sites: int | None = None,
                   name: str = "CFLP") -> CFLP:
        """Build from sparse pair costs.

        ``cost_basis="unit"``: a pair's cost is per unit of demand (distance x rate);
        ``"total"``: the cost of serving all of the client's demand (OR-Library).
        ``unmet_cost`` (per unit of demand) allows leaving demand unserved; ``None``
        requires every unit to be served. ``p`` fixes the number of open sites.
        """
        sc = SparseCosts.from_input(costs, n_clients=n_clients, n_sites=n_sites,
                                    name=f"{name}: costs")
        problems: list[str] = []
        d = nonneg_array(demand, sc.n_clients, what="demand", default=0.0, problems=problems)
        q = nonneg_array(capacity, sc.n_sites, what="capacity", default=0.0, problems=problems)
        f = nonneg_array(fixed_cost, sc.n_sites, what="fixed_cost", default=0.0,
                         problems=problems)
        if cost_basis not in ("unit", "total"):
            problems.append(f"cost_basis={cost_basis!r}; use 'unit' or 'total'")
        if unmet_cost is not None and not (math.isfinite(unmet_cost) and unmet_cost >= 0):
            problems.append(f"unmet_cost={unmet_cost!r} must be finite and >= 0, or None")
        pp = check_p(p, problems)
        if problems:
            raise InputError.collect(problems, context=name)
        if cost_basis == "unit":
            sc = SparseCosts._frozen(sc.n_clients, sc.n_sites, sc.indptr, sc.site,
                                     sc.cost * d[sc.client])
        fx, fb = site_sets(fixed, forbidden, sc.n_sites, name)
        return cls(sc, d, q, f, bool(single_source),
                   None if unmet_cost is None else float(unmet_cost), pp, fx, fb, name)

    # ------------------------------------------------------------------ checks
    def _masks(self) -> tuple[np.ndarray, np.ndarray]:
        forbidden = np.zeros(self.costs.n_sites, bool)
        forbidden[self.forbidden] = True
        fixed = np.zeros(self.costs.n_sites, bool)
        fixed[self.fixed] = True
        return fixed, forbidden

    def check(self) -> None:
        """Feasibility pre-checks; raise :class:`InfeasibleError` naming the shortfall."""
        fixed, forbidden = self._masks()
        n_allowed = int((~forbidden).sum())
        check_count(self.name, p=self.p, n_fixed=int(fixed.sum()), n_allowed=n_allowed)
        if self.unmet_cost is not None:
            return
        costs = self.costs.drop_sites(forbidden)
        needy = self.demand > 0
        orphans = np.flatnonzero(needy & (costs.degree() == 0))
        if orphans.size:
            raise InfeasibleError(
                f"{self.name}: {orphans.size} clients with demand have no allowed site "
                f"(first: {orphans[:10].tolist()}, demand {fmt(self.demand[orphans].sum())}); "
                f"add candidate pairs, allow unmet demand or drop them",
                constraint="assignment", shortfall=float(self.demand[orphans].sum()))
        total = float(self.demand.sum())
        cap = self.capacity[~forbidden]
        if self.p is not None:
            # the fixed sites plus the largest p - |fixed| others
            others = np.sort(self.capacity[~forbidden & ~fixed])[::-1]
            best = float(self.capacity[fixed].sum() + others[:self.p - int(fixed.sum())].sum())
            where = f"the {self.p} largest allowed sites (fixed ones included)"
        else:
            best, where = float(cap.sum()), f"all {n_allowed} allowed sites"
        if best < total * (1 - 1e-12):
            raise InfeasibleError(
                f"{self.name}: demand {fmt(total)} exceeds the capacity of {where}, "
                f"{fmt(best)}, by {fmt(total - best)}; add capacity or sites, or allow "
                f"unmet demand", constraint="capacity", shortfall=total - best)
        if self.single_source:
            reach = np.zeros(costs.n_clients)
            if costs.nnz:
                np.maximum.at(reach, costs.client, self.capacity[costs.site])
            short = np.flatnonzero(needy & (self.demand > reach))
            if short.size:
                k = int(short[0])
                raise InfeasibleError(
                    f"{self.name}: with single sourcing, client {k} needs "
                    f"{fmt(self.demand[k])} but its largest allowed site holds "
                    f"{fmt(reach[k])} ({short.size} clients like this); allow split demand "
                    f"or larger sites", constraint="single_source",
                    shortfall=float(self.demand[k] - reach[k]))

    # ------------------------------------------------------------------- solve
    def solve(self, solver: SolverOptions | str | None = None, *,
              method: Literal["auto", "mip", "lagrangian"] = "auto",
              extra_constraints: ExtraConstraints | None = None,
              progress: bool = False) -> Result:
        """Solve to the requested gap within the time limit; never mutates ``self``.

        ``method="mip"`` hands the whole model to the solver. ``"lagrangian"`` (split
        demand, no hook) first runs :mod:`siting.models._lagrange`: a Lagrangian bound,
        a transportation-LP incumbent and penalty tests that close (or open) sites
        for good, then solves the MIP over the remaining sites with the incumbent as
        cutoff; exact, and on OR-Library capa (100 sites x 1,000 clients) it turns a
        solve that does not finish in 300 s into about half a minute. ``"auto"`` uses
        it from 10,000 pairs up.

        ``extra_constraints(builder, vars)`` gets blocks ``open`` (sites), ``assign``
        (one per stored pair of :attr:`costs`, in its order, clients with zero demand
        included) and ``unmet`` (per client, when ``unmet_cost`` is set).
        ``Result.assignment.amount`` is the share of each client's demand.
        """
        opts = SolverOptions.coerce(solver)
        if method == "auto":
            method = "lagrangian" if (extra_constraints is None and not self.single_source
                                      and self.costs.nnz >= _LAGRANGE_MIN_PAIRS) else "mip"
        if method not in ("mip", "lagrangian"):
            raise InputError(f"{self.name}.solve: method={method!r}; use 'auto', 'mip' or "
                             f"'lagrangian'")
        if method == "lagrangian" and (extra_constraints is not None or self.single_source):
            raise InputError(f"{self.name}.solve: method='lagrangian' needs split demand and "
                             f"no extra_constraints")
        self.check()
        if method == "lagrangian":
            return self._solve_reduced(opts, progress)
        t0 = time.perf_counter()
        model = self.build(extra_constraints)
        build_s = time.perf_counter() - t0
        raw = run_solver(model, opts)
        info = {**model.stats(), **raw.info}
        if raw.x is None:
            return no_solution_result(raw, build_s, info)
        v = model.values(raw.x)
        unmet = v["unmet"] if "unmet" in v else np.zeros(self.costs.n_clients)
        return self._result(raw.status, raw.objective, raw.bound, v["open"] > 0.5,
                            v["assign"], unmet, raw.seconds, build_s, raw.solver,
                            raw.version, values=v, info=info)

    def _result(self, status: Status, objective: float, bound: float, is_open: np.ndarray,
                share: np.ndarray, unmet: np.ndarray, solve_s: float, build_s: float,
                solver: str, version: str, *, values: dict[str, np.ndarray],
                info: dict[str, object]) -> Result:
        keep = share > 1e-9
        return Result(status, objective, bound, relative_gap(objective, bound),
                      np.flatnonzero(is_open),
                      Assignment(self.costs.client[keep], self.costs.site[keep], share[keep]),
                      solve_s, build_s, solver, version, unmet=np.clip(unmet, 0.0, 1.0),
                      values=values, model=info)

    def _solve_reduced(self, opts: SolverOptions, progress: bool) -> Result:
        """Lagrangian reduction, then the MIP on the sites left (see :meth:`solve`)."""
        t0 = time.perf_counter()
        deadline = Deadline(opts.time_limit_s)
        fixed, forbidden = self._masks()

        def tol(upper: float) -> float:
            rel = opts.mip_gap * abs(upper) if math.isfinite(upper) else 0.0
            return max(opts.mip_abs_gap, rel)

        red = lagrangian_reduction(self, forbidden=forbidden, fixed=fixed, opts=opts,
                                   deadline=deadline, tolerance=tol(0.0))
        lag_s = time.perf_counter() - t0
        info: dict[str, object] = {"lagrangian_bound": red.lower, "lagrangian_seconds":
                                   round(lag_s, 3), "iterations": red.iterations,
                                   "closed_by_penalty": int(red.closed.sum()),
                                   "opened_by_penalty": int(red.opened.sum())}
        version = solver_version(opts.name)
        upper, lower = red.upper, red.lower
        is_open, share, unmet = red.is_open, red.share, red.unmet
        status = Status.OPTIMAL if upper - lower <= tol(upper) else Status.TIME_LIMIT_FEASIBLE
        solve_s, build_s = lag_s, 0.0
        if status is not Status.OPTIMAL and not deadline.expired():
            drop = forbidden | red.closed
            sub = replace(self, costs=self.costs.drop_sites(drop),
                          fixed=np.flatnonzero(fixed | red.opened),
                          forbidden=np.flatnonzero(drop), name=f"{self.name}-reduced")
            t1 = time.perf_counter()
            model = sub.build(links=_nearest_links(sub.costs, _LINK_NEAREST))
            build_s = time.perf_counter() - t1
            cutoff = upper - tol(upper) if math.isfinite(upper) else None
            raw = run_solver(model, opts, time_limit_s=deadline.remaining(), cutoff=cutoff)
            solve_s += raw.seconds
            info.update({"reduced_" + k: v for k, v in model.stats().items()})
            # solutions the reduction excluded cost at least `floor`
            floor = math.inf if cutoff is None else cutoff
            if raw.x is not None:
                if raw.objective < upper:
                    v = model.values(raw.x)
                    is_open = v["open"] > 0.5
                    share = np.zeros(self.costs.nnz)
                    share[np.flatnonzero(~drop[self.costs.site])] = v["assign"]
                    unmet = v["unmet"] if "unmet" in v else np.zeros(self.costs.n_clients)
                    upper = raw.objective
                status = raw.status
                if math.isfinite(raw.bound):
                    lower = max(lower, min(raw.bound, floor))
            elif raw.status is Status.INFEASIBLE and cutoff is not None:
                status = Status.OPTIMAL  # nothing beats the incumbent by the tolerance
                lower = max(lower, floor)
            elif raw.status is Status.INFEASIBLE:
                status = Status.INFEASIBLE
            elif math.isfinite(raw.bound):
                lower = max(lower, min(raw.bound, floor))
        if is_open is None or share is None or unmet is None or not math.isfinite(upper):
            st = status if status in (Status.INFEASIBLE,) else Status.TIME_LIMIT_NO_SOLUTION
            return Result(st, math.nan, lower, math.nan, np.empty(0, np.int64),
                          Assignment.empty(), solve_s, build_s, opts.name, version, model=info)
        lower = min(lower, upper)
        values = {"open": is_open.astype(float), "assign": share, "unmet": unmet}
        return self._result(status, upper, lower, is_open, share, unmet, solve_s, build_s,
                            opts.name, version, values=values, info=info)

    def build(self, extra_constraints: ExtraConstraints | None = None, *,
              links: np.ndarray | None = None) -> LinearModel:
        """The model described in the class docstring, as a :class:`LinearModel`.

        ``links`` restricts the linking rows ``x_ij <= y_i`` to those stored pairs
        (they are valid inequalities, not needed for correctness); default all.
        """
        fixed, forbidden = self._masks()
        sc = self.costs
        # integral objective only when every x is binary and nothing is left unmet
        integral = (self.single_source and self.unmet_cost is None
                    and is_integral(sc.cost) and is_integral(self.fixed_cost))
        b = ModelBuilder(self.name, objective_integral=integral)
        y = b.add_vars("open", sc.n_sites, lb=fixed.astype(float),
                       ub=np.where(forbidden, 0.0, 1.0), cost=self.fixed_cost, integer=True)
        x = b.add_vars("assign", sc.nnz, ub=np.where(forbidden[sc.site], 0.0, 1.0),
                       cost=sc.cost, integer=self.single_source)
        u = None
        if self.unmet_cost is not None:
            u = b.add_vars("unmet", sc.n_clients, ub=1.0, cost=self.unmet_cost * self.demand)
        _add_assignment(b, sc, x, u, self.demand)
        _add_capacity(b, sc, y, x, self.demand, self.capacity)
        _add_linking(b, sc, y, x, np.arange(sc.nnz) if links is None else links)
        if u is None:
            _add_aggregate_capacity(b, y, self.capacity, float(self.demand.sum()))
        if self.p is not None:
            add_count_row(b, y, self.p)
        if extra_constraints is not None:
            extra_constraints(b, b.vars)
        return b.build()


def _nearest_links(sc: SparseCosts, r: int) -> np.ndarray:
    """Stored pairs that are among their client's ``r`` cheapest (rows are sorted)."""
    return np.flatnonzero(np.arange(sc.nnz) - sc.indptr[sc.client] < r)


def _add_assignment(b: ModelBuilder, sc: SparseCosts, x: VarBlock, u: VarBlock | None,
                    demand: np.ndarray) -> None:
    """``sum_i x_ij (+ u_j) = 1`` for clients with demand; ``= 0`` for the others."""
    rhs = (demand > 0).astype(float)
    rows, cols = sc.client, x.index()
    if u is not None:
        rows = np.r_[rows, np.arange(sc.n_clients)]
        cols = np.r_[cols, u.index()]
    b.add_rows("assignment", rows=rows, cols=cols, vals=np.ones(rows.size), lower=rhs,
               upper=rhs)


def _add_capacity(b: ModelBuilder, sc: SparseCosts, y: VarBlock, x: VarBlock,
                  demand: np.ndarray, capacity: np.ndarray) -> None:
    """``sum_j d_j x_ij - Q_i y_i <= 0`` for every site."""
    n = sc.n_sites
    b.add_rows("capacity", rows=np.r_[sc.site, np.arange(n)], cols=np.r_[x.index(), y.index()],
               vals=np.r_[demand[sc.client], -capacity], lower=-np.inf, upper=0.0, n_rows=n)


def _add_linking(b: ModelBuilder, sc: SparseCosts, y: VarBlock, x: VarBlock,
                 pairs: np.ndarray) -> None:
    """``x_ij - y_i <= 0`` for the given stored pairs (all by default)."""
    k = np.arange(pairs.size)
    b.add_rows("linking", rows=np.r_[k, k], cols=np.r_[x.index(pairs), y.index(sc.site[pairs])],
               vals=np.r_[np.ones(k.size), -np.ones(k.size)], lower=-np.inf, upper=0.0,
               n_rows=pairs.size)


def _add_aggregate_capacity(b: ModelBuilder, y: VarBlock, capacity: np.ndarray,
                            total: float) -> None:
    """``sum_i Q_i y_i >= sum_j d_j`` (valid; strengthens the LP)."""
    b.add_rows("aggregate_capacity", rows=np.zeros(y.size), cols=y.index(), vals=capacity,
               lower=total, upper=np.inf, n_rows=1)
