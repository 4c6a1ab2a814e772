"""The p-median problem on sparse costs, solved exactly by a truncated radius formulation.

See :class:`PMedian`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError, InputError
from siting.models._branch import branch_and_bound
from siting.models._common import is_integral
from siting.models._interchange import assignment_cost, fast_interchange
from siting.models._radius import Levels, nearest_open
from siting.models.base import Assignment, Result, SolverOptions, Status, relative_gap
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock
from siting.models.costs import CostInput, SparseCosts, as_index_array
from siting.models.highs import HighsLP, highs_version
from siting.models.solvers import INTEGRAL_ABS_GAP, Deadline, run_solver, solver_version

logger = logging.getLogger(__name__)

__all__ = ["ExtraConstraints", "PMedian"]


#: a client's truncation starts at the levels holding about this many times its fair
#: share ``n_sites / p`` of sites, and at least ``_MIN_SITES`` sites.
_SHARE_FACTOR = 1.5
_MIN_SITES = 8
#: rebuild the model without reduced-cost-closed sites once they are this share
_COMPACT_SHARE = 0.2



@dataclass(frozen=True)
class PMedian:
    r"""Weighted p-median: open ``p`` sites, serve every client from its nearest open one.

    **Problem.** Given clients ``j`` with weights ``w_j``, candidate sites ``i`` and
    costs ``d_ij`` for the allowed pairs only, choose exactly ``p`` sites (including the
    ``fixed`` ones, never the ``forbidden`` ones) minimising
    ``sum_j w_j min_{i open, (i,j) allowed} d_ij``.

    **Formulation (radius / cover form).** Following Elloumi (2010, *INFORMS JoC*
    22:4) and García, Labbé & Marín (2011, *INFORMS JoC* 23:546), let client ``j``'s
    distinct costs be ``D_j^0 < ... < D_j^{L_j-1}`` and ``G_j^l`` its sites at cost
    ``D_j^l``. With ``y_i in {0,1}`` (site open) and ``z_j^k >= 0`` ("no open site of
    ``j`` costs less than ``D_j^k``"), written in chained form so each site appears once
    per client::

        min   sum_j w_j D_j^0 + sum_j sum_{k=1}^{K_j} w_j (D_j^k - D_j^{k-1}) z_j^k
        s.t.  z_j^1 + sum_{i in G_j^0} y_i >= 1                       for all j
              z_j^k - z_j^{k-1} + sum_{i in G_j^{k-1}} y_i >= 0       for all j, 2 <= k <= K_j
              sum_i y_i = p ;   y_i = 1 (fixed) ;   y_i = 0 (forbidden)
              z_j^{L_j} = 0  when K_j = L_j (the client must be served by an allowed pair)

    The variables are ``y`` plus one ``z`` per *distinct* distance, not one ``x_ij`` per
    pair: ties are common on road networks and OR-Library graphs (pmed39 has 38
    levels per client for 900 sites). Its LP bound equals that of the classical
    ``x_ij <= y_i`` formulation.

    **Exact reduction.** Each client starts truncated at ``K_j < L_j`` levels (about
    1.5 ``n/p`` nearest sites). Dropping the deeper levels drops nonnegative terms, so
    the truncated model is a relaxation: its optimum, and any dual bound on it, are
    lower bounds for the full problem. The LP is expanded first until no client keeps
    weight on its last truncated level (then the truncated LP equals the full LP).

    **Search.** A vertex-substitution local search from the LP's largest site values
    gives an incumbent; LP reduced costs then close every site that cannot be in a
    better solution, and the model is rebuilt without them. With HiGHS the rest is
    an LP-based branch-and-bound on the sites (:mod:`siting.models._branch`), which
    re-solves warm from the parent basis; otherwise (CBC, or an
    ``extra_constraints`` hook) the solver's MIP runs with the incumbent as cutoff.
    Every integer solution is evaluated exactly; if a client is served beyond its
    truncation, its truncation grows and the search repeats, so the result is the
    optimum of the full problem. Under a time limit the result carries the best
    evaluated objective and the best proven bound: a valid gap, never a false
    "optimal".

    **Speed.** On OR-Library pmed (n = 100-900) this proves every published optimum
    in 0.01-60 s on a shared 2-core machine, where spopt 0.7 with the same HiGHS
    builds 41 µs of pulp objects per pair and often does not finish in 120 s (see
    ``bench/RESULTS.md``).

    **Example.**

    >>> import numpy as np
    >>> from siting.models import PMedian
    >>> i = np.array([0, 0, 1, 1, 2, 2, 3, 3])          # clients
    >>> j = np.array([0, 1, 0, 1, 1, 2, 1, 2])          # sites
    >>> d = np.array([0., 5., 4., 1., 3., 0., 6., 2.])  # costs of allowed pairs
    >>> res = PMedian.from_costs((i, j, d), p=2).solve("highs")
    >>> res.status.value, res.objective, res.selected.tolist()
    ('optimal', 6.0, [0, 2])
    """

    costs: SparseCosts
    weights: np.ndarray
    p: int
    fixed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    name: str = "p-median"

    @classmethod
    def from_costs(cls, costs: CostInput, *, p: int, weights: ArrayLike | None = None,
                   fixed: ArrayLike | None = None, forbidden: ArrayLike | None = None,
                   n_clients: int | None = None, n_sites: int | None = None,
                   name: str = "p-median") -> PMedian:
        """Build from ``(i, j, cost)`` arrays or a sparse ``clients x sites`` matrix.

        ``weights`` default to 1 per client. ``fixed`` (existing sites, always open)
        and ``forbidden`` (never open) take site indices or boolean masks.
        """
        sc = SparseCosts.from_input(costs, n_clients=n_clients, n_sites=n_sites,
                                    name=f"{name}: costs")
        problems = []
        if weights is None:
            w = np.ones(sc.n_clients)
        else:
            w = np.asarray(weights, dtype=np.float64).ravel()
            if w.shape != (sc.n_clients,):
                problems.append(f"weights has {w.size} values for {sc.n_clients} clients")
            elif not np.all(np.isfinite(w)) or (w < 0).any():
                problems.append("weights must be finite and >= 0")
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 1:
            problems.append(f"p={p!r} must be an integer >= 1")
        if problems:
            raise InputError.collect(problems, context=name)
        fx = as_index_array(fixed, n=sc.n_sites, name=f"{name}: fixed")
        fb = as_index_array(forbidden, n=sc.n_sites, name=f"{name}: forbidden")
        w.setflags(write=False)
        return cls(sc, w, int(p), fx, fb, name)

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Feasibility pre-checks; raise :class:`InfeasibleError` naming the shortfall."""
        both = np.intersect1d(self.fixed, self.forbidden)
        if both.size:
            raise InfeasibleError(
                f"{self.name}: sites {both[:10].tolist()} are both fixed and forbidden; "
                f"remove them from one of the two lists", constraint="fixed/forbidden")
        if self.fixed.size > self.p:
            raise InfeasibleError(
                f"{self.name}: {self.fixed.size} fixed sites but p={self.p}; raise p to at "
                f"least {self.fixed.size} or unfix {self.fixed.size - self.p} sites",
                constraint="p", shortfall=float(self.fixed.size - self.p))
        allowed = self.costs.n_sites - self.forbidden.size
        if allowed < self.p:
            raise InfeasibleError(
                f"{self.name}: p={self.p} but only {allowed} of {self.costs.n_sites} sites "
                f"are not forbidden; lower p or allow {self.p - allowed} more sites",
                constraint="p", shortfall=float(self.p - allowed))
        forbidden = np.zeros(self.costs.n_sites, bool)
        forbidden[self.forbidden] = True
        reach = self.costs.drop_sites(forbidden).degree()
        orphans = np.flatnonzero(reach == 0)
        if orphans.size:
            raise InfeasibleError(
                f"{self.name}: {orphans.size} clients have no allowed site (first: "
                f"{orphans[:10].tolist()}); add candidate pairs for them (a larger network "
                f"cutoff) or drop them", constraint="assignment", shortfall=float(orphans.size))

    # ------------------------------------------------------------------- solve
    def solve(self, solver: SolverOptions | str | None = None, *,
              method: Literal["auto", "branch", "mip"] = "auto",
              reduction: Literal["auto", "none"] = "auto",
              extra_constraints: ExtraConstraints | None = None,
              progress: bool = False) -> Result:
        """Solve to the requested gap within the time limit; never mutates ``self``.

        ``method="branch"`` (HiGHS only): the LP-based branch-and-bound of
        :mod:`siting.models._branch`, with a local-search incumbent and reduced-cost
        fixing. ``"mip"``: the solver's own MIP on the truncated model, with the same
        incumbent as a cutoff and the same fixing. ``"auto"`` picks ``"branch"`` for
        HiGHS without extra constraints and ``"mip"`` otherwise (the measured fastest;
        see ``bench/RESULTS.md``). ``reduction="none"`` builds every distance level at
        once instead of the certified truncation.

        ``extra_constraints(builder, vars)`` may add rows on ``vars["open"]`` (and
        variable blocks of its own); it is called for every round's model. With a hook
        the heuristic incumbent (which cannot see the hook's rows) is not used.
        """
        opts = SolverOptions.coerce(solver)
        if method == "auto":
            method = "branch" if opts.name == "highs" and extra_constraints is None else "mip"
        problems = []
        if method not in ("branch", "mip"):
            problems.append(f"method={method!r}; use 'auto', 'branch' or 'mip'")
        if method == "branch" and (opts.name != "highs" or extra_constraints is not None):
            problems.append("method='branch' needs solver 'highs' and no extra_constraints")
        if reduction not in ("auto", "none"):
            problems.append(f"reduction={reduction!r}; use 'auto' or 'none'")
        if problems:
            raise InputError.collect(problems, context=f"{self.name}.solve")
        self.check()
        run = _Run(self, opts, extra_constraints, progress)
        if reduction == "none":
            run.k = run.count.copy()
        run.lp_phase()
        if extra_constraints is None:
            run.heuristic()
        if method == "branch":
            run.branch()
        else:
            run.mip()
        return run.result()



class _Run:
    """The state of one :meth:`PMedian.solve` call (the problem itself is never touched)."""

    def __init__(self, problem: PMedian, opts: SolverOptions,
                 extra: ExtraConstraints | None, progress: bool) -> None:
        self.pb, self.opts, self.extra, self.progress = problem, opts, extra, progress
        self.t_start = time.perf_counter()
        n_sites = problem.costs.n_sites
        self.forbidden = np.zeros(n_sites, bool)
        self.forbidden[problem.forbidden] = True
        self.fixed = np.zeros(n_sites, bool)
        self.fixed[problem.fixed] = True
        self.closed = self.forbidden.copy()  # forbidden, plus sites fixed by reduced costs
        # all allowed pairs (exact evaluation, the result) and the pairs the model uses
        # (without sites closed by reduced costs, once the incumbent allows it)
        self.all_costs = problem.costs.drop_sites(self.forbidden)
        self.integral = is_integral(problem.weights) and is_integral(self.all_costs.cost)
        self._set_costs(self.all_costs)
        self.deadline = Deadline(opts.time_limit_s)
        self.build_s = self.solve_s = 0.0
        self.rounds: list[dict[str, object]] = []
        self.upper, self.lower = math.inf, -math.inf
        self.incumbent: np.ndarray | None = None
        self.status = Status.TIME_LIMIT_NO_SOLUTION
        self.version = ""
        self.lp: HighsLP | None = None
        self.lp_model: LinearModel | None = None
        self.lp_x = self.lp_rc = np.empty(0)
        self.done = False
        self.nodes = 0

    # ----------------------------------------------------------------- pieces
    def _set_costs(self, costs: SparseCosts) -> None:
        """Use ``costs`` for the model: levels, radius limits, initial truncation."""
        self.costs = costs
        self.levels = Levels.of(costs)
        self.count = self.levels.count
        self.k = self._initial_truncation()

    def _initial_truncation(self) -> np.ndarray:
        """Levels per client holding about ``1.5 n/p`` nearest sites (at least 8)."""
        allowed = int((~self.closed).sum())
        want = max(_MIN_SITES, math.ceil(_SHARE_FACTOR * allowed / self.pb.p))
        lv = self.levels
        client_of_level = np.repeat(np.arange(self.costs.n_clients), self.count)
        idx = np.flatnonzero(lv.first_pair >= want)
        k = self.count.copy()
        if idx.size:
            c = client_of_level[idx]
            uniq, first = np.unique(c, return_index=True)
            k[uniq] = idx[first] - lv.ptr[uniq]
        return np.maximum(k, np.minimum(1, self.count))

    def tolerance(self, upper: float) -> float:
        """How much better than ``upper`` a solution must be to matter."""
        tol = max(self.opts.mip_abs_gap, self.opts.mip_gap * abs(upper) if
                  math.isfinite(upper) else 0.0)
        return max(tol, INTEGRAL_ABS_GAP) if self.integral else tol

    def build(self) -> LinearModel:
        t0 = time.perf_counter()
        model = _build_model(self.pb, self.costs, self.levels, self.k, self.closed,
                             self.integral, self.extra)
        self.build_s += time.perf_counter() - t0
        return model

    def record(self, model: LinearModel, kind: str, status: Status, seconds: float) -> None:
        self.solve_s += seconds
        self.rounds.append({"kind": kind, "levels": int(self.k.sum()), **model.stats(),
                            "status": status.value, "seconds": round(seconds, 4)})
        logger.debug("%s: %s round %s", self.pb.name, kind, self.rounds[-1])

    def evaluate(self, is_open: np.ndarray) -> float:
        return assignment_cost(self.all_costs, self.pb.weights, is_open)

    def improve(self, is_open: np.ndarray) -> tuple[np.ndarray, float]:
        return fast_interchange(self.all_costs, self.pb.weights, is_open,
                                locked_open=self.fixed,
                                locked_closed=self.closed, deadline=self.deadline)

    def _last_z(self, model: LinearModel, x: np.ndarray) -> np.ndarray:
        return x[model.vars["z"].start + np.cumsum(self.k) - 1]

    # ----------------------------------------------------------------- phases
    def lp_phase(self) -> None:
        """Solve the LP, growing truncations until it equals the full LP."""
        while not self.deadline.expired():
            model = self.build()
            if self.opts.name == "highs":
                lp = HighsLP(model, self.opts)
                t0 = time.perf_counter()
                st = lp.solve(time_limit_s=self.deadline.remaining())
                self.record(model, "lp", st, time.perf_counter() - t0)
                self.version = highs_version()
                if st is not Status.OPTIMAL:
                    self._lp_failed(st)
                    return
                x, rc = lp.solution()
                obj = lp.objective
            else:
                raw = run_solver(model, self.opts, time_limit_s=self.deadline.remaining(),
                                 relax=True, want_duals=True)
                self.record(model, "lp", raw.status, raw.seconds)
                self.version = raw.version
                if raw.x is None or raw.col_dual is None:
                    self._lp_failed(raw.status)
                    return
                lp, x, rc, obj = None, raw.x, raw.col_dual, raw.objective
            grow = (self.k < self.count) & (self._last_z(model, x) > 1e-7)
            if not grow.any():
                self.lp, self.lp_model, self.lp_x, self.lp_rc = lp, model, x, rc
                self.lower = max(self.lower, obj)
                return
            self.k = np.where(grow, np.minimum(self.count, 2 * self.k), self.k)

    def _lp_failed(self, status: Status) -> None:
        self.lp = self.lp_model = None
        if status is Status.INFEASIBLE and self.incumbent is not None:
            # the reductions only keep solutions better than the incumbent: none exists
            self.lower = max(self.lower, self.upper - self.tolerance(self.upper))
            self.status, self.done = Status.OPTIMAL, True
        elif status is Status.INFEASIBLE:
            self.status, self.done = Status.INFEASIBLE, True

    def heuristic(self) -> None:
        """Incumbent from the LP (largest site values, then local search); then fix
        every site whose reduced cost proves it is closed in any better solution."""
        if self.lp_model is None:
            return
        y = self.lp_x[self.lp_model.vars["open"].slice]
        guess = self.fixed.copy()
        need = self.pb.p - int(guess.sum())
        order = np.argsort(-np.where(self.fixed | self.closed, -np.inf, y), kind="stable")
        guess[order[:need]] = True
        guess, cost = self.improve(guess)
        if cost < self.upper:
            self.upper, self.incumbent = cost, guess
        model = self.lp_model
        rc = self.lp_rc[model.vars["open"].slice]
        slack = self.upper - self.tolerance(self.upper) - self.lower
        fix = (rc > slack) & ~self.fixed & ~self.closed
        self.closed |= fix
        logger.info("%s: LP bound %.6g, incumbent %.6g; reduced costs close %d of %d sites",
                    self.pb.name, self.lower, self.upper, int(fix.sum()), self.costs.n_sites)
        if self.upper - self.lower <= self.tolerance(self.upper):
            self.status, self.done = Status.OPTIMAL, True
        elif fix.sum() >= _COMPACT_SHARE * self.costs.n_sites:
            self._compact()

    def _compact(self) -> None:
        """Drop the pairs of closed sites and rebuild levels and LP (exact: no solution
        better than the incumbent opens a closed site)."""
        costs = self.all_costs.drop_sites(self.closed)
        if (costs.degree() == 0).any():  # a client lost all its sites:
            self.status, self.done = Status.OPTIMAL, True  # nothing beats the incumbent
            self.lower = max(self.lower, self.upper - self.tolerance(self.upper))
            return
        self._set_costs(costs)
        self.lp_phase()

    def branch(self) -> None:
        """LP-based branch-and-bound (HiGHS), expanding truncations when needed."""
        while not self.done:
            if self.lp is None or self.lp_model is None:
                self.status = Status.TIME_LIMIT_NO_SOLUTION if self.incumbent is None \
                    else Status.TIME_LIMIT_FEASIBLE
                return
            model = self.lp_model
            yb = model.vars["open"]
            lo = model.col_lower[yb.slice].copy()
            hi = np.where(self.closed, 0.0, model.col_upper[yb.slice])
            t0 = time.perf_counter()
            out = branch_and_bound(
                self.lp, y=yb, p=self.pb.p, root_lo=lo, root_hi=hi,
                evaluate=self.evaluate, improve=self.improve,
                incumbent=self.incumbent if self.incumbent is not None
                else np.zeros(yb.size, bool),
                upper=self.upper, root_bound=self.lower, tolerance=self.tolerance,
                integral=self.integral, deadline=self.deadline, progress=self.progress)
            self.record(model, "branch", out.status, time.perf_counter() - t0)
            self.nodes += out.nodes
            if math.isfinite(out.upper) and out.upper <= self.upper:
                self.upper, self.incumbent = out.upper, out.incumbent
            if out.too_tight is None:
                self.lower = max(self.lower, out.lower)
                self.status = out.status if self.incumbent is not None else \
                    Status.TIME_LIMIT_NO_SOLUTION
                return
            self._expand(out.too_tight)
            self.lp_phase()

    def mip(self) -> None:
        """The solver's MIP on the truncated model, certified and expanded as needed."""
        start_bound = self.lower
        while not self.done:
            model = self.build()
            cutoff = None
            if math.isfinite(self.upper):
                cutoff = self.upper - self.tolerance(self.upper)
            raw = run_solver(model, self.opts, time_limit_s=self.deadline.remaining(),
                             cutoff=cutoff)
            self.version = raw.version
            self.record(model, "mip", raw.status, raw.seconds)
            if raw.x is None:
                if raw.status is Status.INFEASIBLE and cutoff is not None:
                    # nothing beats the incumbent, even in this relaxation
                    self.lower = max(self.lower, cutoff)
                    self.status = Status.OPTIMAL
                elif self.incumbent is not None:
                    if math.isfinite(raw.bound):
                        self.lower = max(self.lower, min(raw.bound, cutoff if cutoff
                                                         is not None else self.upper))
                    self.status = Status.TIME_LIMIT_FEASIBLE
                else:
                    self.status = raw.status
                return
            is_open = raw.x[model.vars["open"].slice] > 0.5
            cost = self.evaluate(is_open)
            if cost < self.upper:
                self.upper, self.incumbent = cost, is_open
            if math.isfinite(raw.bound):
                # solutions the reductions excluded cost at least the cutoff
                self.lower = max(self.lower, start_bound,
                                 min(raw.bound, cutoff) if cutoff is not None else raw.bound)
            if not self._expand(is_open):
                self.status = raw.status
                return
            if self.deadline.expired():
                self.status = Status.TIME_LIMIT_FEASIBLE
                return

    def _expand(self, is_open: np.ndarray) -> bool:
        """Grow the truncation of clients served beyond it by ``is_open``; any grown?"""
        pos, _ = nearest_open(self.costs, is_open)
        level = np.where(pos >= 0, self.levels.pair_level[self.costs.indptr[:-1]
                                                          + np.maximum(pos, 0)], self.count)
        outside = (level >= self.k) & (self.k < self.count)
        if outside.any():
            self.k = np.where(outside, np.minimum(self.count, np.maximum(2 * self.k, level + 1)),
                              self.k)
            logger.info("%s: %d clients served beyond their truncation; expanding",
                        self.pb.name, int(outside.sum()))
        return bool(outside.any())

    # ----------------------------------------------------------------- result
    def result(self) -> Result:
        opts, costs = self.opts, self.all_costs
        version = self.version or solver_version(opts.name)
        info = {"rounds": self.rounds, "levels_total": int(self.count.sum()),
                "levels_used": int(self.k.sum()), "pairs": costs.nnz, "nodes": self.nodes,
                "closed_by_reduced_cost": int((self.closed & ~self.forbidden).sum()),
                "wall_seconds": round(time.perf_counter() - self.t_start, 4)}
        if self.incumbent is None or not math.isfinite(self.upper):
            status = self.status if not self.status.has_solution else Status.ERROR
            return Result(status, math.nan, self.lower if math.isfinite(self.lower)
                          else math.nan, math.nan, np.empty(0, np.int64), Assignment.empty(),
                          self.solve_s, self.build_s, opts.name, version, model=info)
        upper = self.upper
        lower = min(self.lower, upper) if math.isfinite(self.lower) else math.nan
        if self.integral and math.isfinite(lower):
            lower = min(upper, math.ceil(lower - 1e-5))
        status = self.status
        if status is Status.OPTIMAL and math.isfinite(lower) and \
                upper - lower > self.tolerance(upper) + 1e-9 * max(1.0, abs(upper)):
            logger.warning("%s: solver said optimal but the bound %.9g leaves a gap to %.9g; "
                           "reporting a time-limit result", self.pb.name, lower, upper)
            status = Status.TIME_LIMIT_FEASIBLE
        _, site = nearest_open(costs, self.incumbent)
        clients = np.arange(costs.n_clients)
        return Result(status, upper, lower, relative_gap(upper, lower),
                      np.flatnonzero(self.incumbent),
                      Assignment(clients, site, np.ones(costs.n_clients)), self.solve_s,
                      self.build_s, opts.name, version,
                      values={"open": self.incumbent.astype(float)}, model=info)


def _build_model(pb: PMedian, costs: SparseCosts, levels: Levels, k: np.ndarray,
                 closed: np.ndarray, integral: bool, extra: ExtraConstraints | None
                 ) -> LinearModel:
    """The truncated radius model (see :class:`PMedian`) with ``k_j`` levels per client;
    when ``k_j = L_j`` the client's last ``z`` is fixed to 0 (it must be served)."""
    n_sites = costs.n_sites
    count = levels.count
    w = pb.weights
    b = ModelBuilder(pb.name, objective_integral=integral)
    lb = np.zeros(n_sites)
    lb[pb.fixed] = 1.0
    y = b.add_vars("open", n_sites, lb=lb, ub=np.where(closed, 0.0, 1.0), integer=True)
    zptr = np.r_[0, np.cumsum(k)]
    client_z = np.repeat(np.arange(costs.n_clients), k)
    kk = np.arange(int(zptr[-1])) - zptr[client_z] + 1  # k = 1..K_j
    base = levels.ptr[client_z]
    beyond = kk >= count[client_z]  # k = L_j: "unserved", fixed 0
    nxt = levels.value[np.minimum(base + kk, max(levels.value.size - 1, 0))]
    prev = levels.value[base + kk - 1]
    z = b.add_vars("z", int(zptr[-1]), ub=np.where(beyond, 0.0, np.inf),
                   cost=np.where(beyond, 0.0, w[client_z] * (nxt - prev)))
    b.offset = float(np.dot(w, levels.value[levels.ptr[:-1]])) if costs.n_clients else 0.0
    _add_cover_chain(b, costs, levels, k, zptr, y, z)
    _add_cardinality(b, y, pb.p)
    if extra is not None:
        extra(b, b.vars)
    return b.build()


def _add_cover_chain(b: ModelBuilder, costs: SparseCosts, levels: Levels, k: np.ndarray,
                     zptr: np.ndarray, y: VarBlock, z: VarBlock) -> None:
    """Rows ``z_j^k - z_j^{k-1} + sum_{i in G_j^{k-1}} y_i >= [k == 1]``, one per z."""
    n_z = int(zptr[-1])
    within = levels.sites_within(k, costs)
    pos_in_row = np.arange(costs.nnz) - costs.indptr[costs.client]
    keep = pos_in_row < within[costs.client]
    pc = costs.client[keep]
    pair_rows = zptr[pc] + levels.pair_level[keep]
    r_idx = np.arange(n_z)
    client_z = np.repeat(np.arange(costs.n_clients), k)
    has_prev = r_idx > zptr[client_z]
    rows = np.concatenate([pair_rows, r_idx, r_idx[has_prev]])
    cols = np.concatenate([y.index(costs.site[keep]), z.index(r_idx),
                           z.index(r_idx[has_prev] - 1)])
    vals = np.concatenate([np.ones(pair_rows.size), np.ones(n_z), -np.ones(int(has_prev.sum()))])
    b.add_rows("cover", rows=rows, cols=cols, vals=vals, lower=np.where(has_prev, 0.0, 1.0),
               upper=np.inf)


def _add_cardinality(b: ModelBuilder, y: VarBlock, p: int) -> None:
    """``sum_i y_i = p``."""
    b.add_rows("p", rows=np.zeros(y.size), cols=y.index(), vals=np.ones(y.size),
               lower=float(p), upper=float(p), n_rows=1)
