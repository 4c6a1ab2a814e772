"""Modular capacity: sites hold an integer number of units (charging piles), not just open.

See :class:`ModularCFLP`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError, InputError
from siting.models._common import fmt, no_solution_result, nonneg_array, site_sets
from siting.models.base import Assignment, Result, SolverOptions
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock
from siting.models.costs import CostInput, SparseCosts
from siting.models.solvers import run_solver

logger = logging.getLogger(__name__)

__all__ = ["GroupLimit", "ModularCFLP"]

_CONCAVE_TOL = 1e-9


@dataclass(frozen=True)
class GroupLimit:
    """``lower <= sum_{s in sites} weight_s * units_s <= upper``.

    Per-district minimum piles: ``GroupLimit("Gaoqing", sites, lower=1200)``; a
    substation's limit on connected power: ``GroupLimit("sub 17", sites,
    weight=kw_per_pile, upper=8000)``.
    """

    name: str
    sites: np.ndarray
    weight: np.ndarray | float = 1.0
    lower: float = -math.inf
    upper: float = math.inf


@dataclass(frozen=True)
class ModularCFLP:
    r"""Capacitated location with integer units per site and a capacity table per site.

    **Problem.** Site ``s`` may hold ``n_s in {0, ..., U_s}`` units (piles); opening
    it costs ``f_s``, each unit ``c_s``; with ``n`` units it serves up to
    ``cap_s(n)`` demand (a table, e.g. sessions per day at a service level, from
    Erlang-C). Clients ``j`` with demand ``d_j`` are served over the allowed pairs at
    ``a_ij`` per unit of demand; unmet demand costs ``unmet_cost`` per unit when
    allowed.

    **Formulation.** ``y_s`` binary (open), ``n_s`` integer, ``k_s >= 0`` (capacity
    provided), ``x_ij in [0, 1]`` (share of ``j`` served by ``s``), ``u_j in [0, 1]``::

        min  sum f_s y_s + sum c_s n_s + sum a_ij d_j x_ij + sum unmet_cost d_j u_j
        s.t. sum_s x_sj + u_j = 1                              (assignment)
             sum_j d_j x_sj <= k_s                             (capacity)
             m_s y_s <= n_s <= U_s y_s                         (units; m_s = min_units)
             k_s <= cap_s(t) + (cap_s(t+1) - cap_s(t)) (n_s - t)   for every t   [concave]
             x_sj <= y_s     (each client's ``linking`` nearest sites; valid, tightens)
             T_lo <= sum_s n_s <= T_hi                          (units_total)
             L_g <= sum_{s in g} w_gs n_s <= U_g                 (groups)
             y_s = 1, n_s >= fixed_min_units_s (fixed) ;  y_s = 0 (forbidden)

    A concave table is modelled exactly by its tangent lines (one row per distinct
    slope; exact at integer ``n_s``). A table that is not concave (Erlang-C capacity
    grows faster than linearly: pooling) gets an exact multiple-choice form
    instead: binaries ``w_st`` for ``t = 1..U_s`` with ``sum_t w_st = y_s``,
    ``n_s = sum_t t w_st``, ``k_s <= sum_t cap_s(t) w_st``. The choice is made per
    site, so only non-concave sites pay for the extra binaries.

    **Example** (one client of demand 25, two sites; 10 per unit, at most 3 units):

    >>> import numpy as np
    >>> from siting.models import ModularCFLP
    >>> res = ModularCFLP.from_costs(
    ...     (np.array([0, 0]), np.array([0, 1]), np.array([1.0, 2.0])),
    ...     demand=[25], max_units=3, capacity_per_unit=10.0, unit_cost=100.0,
    ...     fixed_cost=[50.0, 0.0]).solve("highs")
    >>> res.units.tolist(), res.objective
    ([0, 3], 350.0)
    """

    costs: SparseCosts  # per unit of demand
    demand: np.ndarray
    max_units: np.ndarray
    capacity: np.ndarray  # (n_sites, max U + 1); entries beyond U_s are nan
    unit_cost: np.ndarray
    fixed_cost: np.ndarray
    min_units: np.ndarray
    units_total: tuple[float, float] = (0.0, math.inf)
    groups: tuple[GroupLimit, ...] = ()
    unmet_cost: float | None = None
    fixed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    fixed_min_units: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    linking: int | None = 8
    name: str = "modular CFLP"

    @classmethod
    def from_costs(cls, costs: CostInput, *, demand: ArrayLike, max_units: ArrayLike | int,
                   capacity_table: ArrayLike | Sequence[ArrayLike] | None = None,
                   capacity_per_unit: ArrayLike | float | None = None,
                   unit_cost: ArrayLike | float = 0.0, fixed_cost: ArrayLike | float = 0.0,
                   min_units: ArrayLike | int = 1,
                   units_total: float | tuple[float, float] | None = None,
                   groups: Sequence[GroupLimit] = (), unmet_cost: float | None = None,
                   fixed: ArrayLike | None = None, fixed_min_units: ArrayLike | int = 0,
                   forbidden: ArrayLike | None = None, linking: int | None = 8,
                   n_clients: int | None = None, n_sites: int | None = None,
                   name: str = "modular CFLP") -> ModularCFLP:
        """Build from sparse pair costs (per unit of demand).

        Give the capacity either as ``capacity_per_unit`` (linear) or as
        ``capacity_table``: one table ``cap(0..U)`` shared by all sites, a 2-D array
        with one row per site, or a list of per-site tables; ``cap(0)`` must be 0 and
        tables nondecreasing. ``units_total`` is an exact total (a number) or a
        ``(lower, upper)`` pair. ``fixed`` sites are open with at least
        ``fixed_min_units`` units; ``min_units`` applies to every open site.
        """
        sc = SparseCosts.from_input(costs, n_clients=n_clients, n_sites=n_sites,
                                    name=f"{name}: costs")
        n = sc.n_sites
        problems: list[str] = []
        d = nonneg_array(demand, sc.n_clients, what="demand", default=0.0, problems=problems)
        umax = _int_array(max_units, n, "max_units", problems)
        umin = _int_array(min_units, n, "min_units", problems)
        uc = nonneg_array(unit_cost, n, what="unit_cost", default=0.0, problems=problems)
        fc = nonneg_array(fixed_cost, n, what="fixed_cost", default=0.0, problems=problems)
        table = _capacity_table(capacity_table, capacity_per_unit, umax, problems)
        if unmet_cost is not None and not (math.isfinite(unmet_cost) and unmet_cost >= 0):
            problems.append(f"unmet_cost={unmet_cost!r} must be finite and >= 0, or None")
        if units_total is None:
            total = (0.0, math.inf)
        elif isinstance(units_total, tuple):
            total = (float(units_total[0]), float(units_total[1]))
        else:
            total = (float(units_total), float(units_total))
        if not total[0] <= total[1]:
            problems.append(f"units_total={units_total!r}: lower bound above upper bound")
        if linking is not None and linking < 0:
            problems.append(f"linking={linking!r} must be >= 0 or None")
        grp = tuple(_check_group(g, n, problems) for g in groups)
        if problems:
            raise InputError.collect(problems, context=name)
        fx, fb = site_sets(fixed, forbidden, n, name)
        fmin = _int_array(fixed_min_units, fx.size, "fixed_min_units", problems)
        if problems:
            raise InputError.collect(problems, context=name)
        return cls(sc, d, umax, table, uc, fc, umin, total, grp,
                   None if unmet_cost is None else float(unmet_cost), fx, fmin, fb, linking,
                   name)

    # ------------------------------------------------------------------ checks
    def _masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.costs.n_sites
        forbidden = np.zeros(n, bool)
        forbidden[self.forbidden] = True
        lo_units = np.zeros(n, np.int64)
        lo_units[self.fixed] = np.maximum(self.fixed_min_units, self.min_units[self.fixed])
        hi_units = np.where(forbidden, 0, self.max_units)
        return forbidden, lo_units, hi_units

    def check(self) -> None:
        """Feasibility pre-checks; raise :class:`InfeasibleError` naming the shortfall."""
        forbidden, lo_units, hi_units = self._masks()
        bad = np.flatnonzero(lo_units > hi_units)
        if bad.size:
            s = int(bad[0])
            raise InfeasibleError(f"{self.name}: fixed site {s} needs at least {lo_units[s]} "
                                  f"units but holds at most {hi_units[s]}",
                                  constraint="fixed", shortfall=float(lo_units[s] - hi_units[s]))
        lo, hi = self.units_total
        if hi_units.sum() < lo:
            raise InfeasibleError(
                f"{self.name}: the plan needs at least {fmt(lo)} units but the allowed sites "
                f"hold at most {fmt(hi_units.sum())}; add sites or raise max_units",
                constraint="units_total", shortfall=float(lo - hi_units.sum()))
        if lo_units.sum() > hi:
            raise InfeasibleError(
                f"{self.name}: the fixed sites already need {fmt(lo_units.sum())} units but "
                f"the plan allows at most {fmt(hi)}", constraint="units_total",
                shortfall=float(lo_units.sum() - hi))
        for g in self.groups:
            w = np.broadcast_to(np.asarray(g.weight, float), g.sites.shape)
            most = float(np.dot(w, hi_units[g.sites]))
            least = float(np.dot(w, lo_units[g.sites]))
            if most < g.lower:
                raise InfeasibleError(
                    f"{self.name}: group {g.name!r} needs >= {fmt(g.lower)} but its sites hold "
                    f"at most {fmt(most)}", constraint=g.name, shortfall=g.lower - most)
            if least > g.upper:
                raise InfeasibleError(
                    f"{self.name}: group {g.name!r} allows <= {fmt(g.upper)} but its fixed "
                    f"sites already need {fmt(least)}", constraint=g.name,
                    shortfall=least - g.upper)
        if self.unmet_cost is not None:
            return
        costs = self.costs.drop_sites(forbidden | (hi_units == 0))
        orphans = np.flatnonzero((self.demand > 0) & (costs.degree() == 0))
        if orphans.size:
            raise InfeasibleError(
                f"{self.name}: {orphans.size} clients with demand have no allowed site "
                f"(first: {orphans[:10].tolist()}); add pairs or allow unmet demand",
                constraint="assignment", shortfall=float(self.demand[orphans].sum()))
        cap_max = float(np.nansum(self.capacity[np.arange(hi_units.size), hi_units]))
        total = float(self.demand.sum())
        if cap_max < total * (1 - 1e-12):
            raise InfeasibleError(
                f"{self.name}: demand {fmt(total)} exceeds what the allowed sites serve at "
                f"their largest size, {fmt(cap_max)}, by {fmt(total - cap_max)}; add sites or "
                f"units, or allow unmet demand", constraint="capacity",
                shortfall=total - cap_max)

    # ------------------------------------------------------------------- solve
    def solve(self, solver: SolverOptions | str | None = None, *,
              extra_constraints: ExtraConstraints | None = None,
              progress: bool = False) -> Result:
        """Solve; never mutates ``self``. ``Result.units`` holds the units per site.

        ``extra_constraints(builder, vars)`` sees blocks ``open``, ``units``,
        ``capacity`` (per site), ``assign`` (per stored pair of :attr:`costs`),
        ``unmet`` (per client, when allowed) and ``size`` (the multiple-choice
        binaries of non-concave sites, if any); a staged plan adds a second copy of
        ``units`` and rows ``units_2030 >= units`` through it.
        """
        opts = SolverOptions.coerce(solver)
        self.check()
        t0 = time.perf_counter()
        model = self.build(extra_constraints)
        build_s = time.perf_counter() - t0
        raw = run_solver(model, opts)
        info = {**model.stats(), **raw.info}
        if raw.x is None:
            return no_solution_result(raw, build_s, info)
        v = model.values(raw.x)
        units = np.rint(v["units"]).astype(np.int64)
        share = v["assign"]
        keep = share > 1e-9
        unmet = v["unmet"] if "unmet" in v else np.zeros(self.costs.n_clients)
        return Result(raw.status, raw.objective, raw.bound, raw.gap, np.flatnonzero(units > 0),
                      Assignment(self.costs.client[keep], self.costs.site[keep], share[keep]),
                      raw.seconds, build_s, raw.solver, raw.version, units=units,
                      unmet=np.clip(unmet, 0.0, 1.0), values=v, model=info)

    def build(self, extra_constraints: ExtraConstraints | None = None) -> LinearModel:
        """The model described in the class docstring, as a :class:`LinearModel`."""
        _, lo_units, hi_units = self._masks()
        sc, n = self.costs, self.costs.n_sites
        b = ModelBuilder(self.name)
        open_lo = (lo_units > 0).astype(float)
        y = b.add_vars("open", n, lb=open_lo, ub=np.where(hi_units > 0, 1.0, 0.0),
                       cost=self.fixed_cost, integer=True)
        units = b.add_vars("units", n, lb=lo_units, ub=hi_units, cost=self.unit_cost,
                           integer=True)
        kap = b.add_vars("capacity", n, ub=np.nan_to_num(
            self.capacity[np.arange(n), hi_units], nan=0.0))
        x = b.add_vars("assign", sc.nnz, ub=np.where(hi_units[sc.site] > 0, 1.0, 0.0),
                       cost=sc.cost * self.demand[sc.client])
        u = None
        if self.unmet_cost is not None:
            u = b.add_vars("unmet", sc.n_clients, ub=1.0, cost=self.unmet_cost * self.demand)
        _add_assignment(b, sc, x, u, self.demand)
        _add_served(b, sc, x, kap, self.demand)
        _add_unit_bounds(b, y, units, self.min_units, hi_units)
        concave = _concave_sites(self.capacity, hi_units)
        _add_envelope(b, units, kap, self.capacity, hi_units, concave)
        _add_size_choice(b, y, units, kap, self.capacity, hi_units, ~concave & (hi_units > 0))
        if self.linking is None or self.linking > 0:
            _add_linking(b, sc, y, x, self.linking)
        _add_units_total(b, units, self.units_total)
        for g in self.groups:
            _add_group(b, units, g)
        if extra_constraints is not None:
            extra_constraints(b, b.vars)
        return b.build()


# --------------------------------------------------------------------- validation
def _int_array(value: ArrayLike | int, n: int, what: str, problems: list[str]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    arr = arr.ravel()
    if arr.shape != (n,):
        problems.append(f"{what} has {arr.size} values, expected {n}")
        return np.zeros(n, np.int64)
    if arr.size and (not np.all(np.isfinite(arr.astype(float)))
                     or not np.all(arr.astype(float) == np.round(arr.astype(float)))
                     or (arr.astype(float) < 0).any()):
        problems.append(f"{what} must hold whole numbers >= 0")
        return np.zeros(n, np.int64)
    return arr.astype(np.int64)


def _capacity_table(table: ArrayLike | Sequence[ArrayLike] | None,
                    per_unit: ArrayLike | float | None, umax: np.ndarray,
                    problems: list[str]) -> np.ndarray:
    n = umax.size
    width = int(umax.max()) + 1 if n else 1
    out = np.full((n, width), np.nan)
    if (table is None) == (per_unit is None):
        problems.append("give exactly one of capacity_table and capacity_per_unit")
        return out
    if per_unit is not None:
        c = np.broadcast_to(np.asarray(per_unit, float), (n,)) if np.ndim(per_unit) == 0 \
            else np.asarray(per_unit, float).ravel()
        if c.shape != (n,) or not np.all(np.isfinite(c)) or (c < 0).any():
            problems.append(f"capacity_per_unit must be {n} finite values >= 0 (or one)")
            return out
        out[:] = c[:, None] * np.arange(width)[None, :]
    elif isinstance(table, list | tuple) and table and np.ndim(table[0]) == 1 and \
            len(table) == n and not np.isscalar(table[0]):
        for s, t in enumerate(table):
            t = np.asarray(t, float).ravel()
            if t.size < umax[s] + 1:
                problems.append(f"capacity_table[{s}] has {t.size} entries; site {s} needs "
                                f"cap(0..{umax[s]})")
                return out
            out[s, :umax[s] + 1] = t[:umax[s] + 1]
    else:
        t = np.asarray(table, float)
        if t.ndim == 1:
            if t.size < width:
                problems.append(f"capacity_table has {t.size} entries; max_units needs "
                                f"cap(0..{width - 1})")
                return out
            out[:] = t[None, :width]
        elif t.ndim == 2 and t.shape[0] == n and t.shape[1] >= width:
            out[:] = t[:, :width]
        else:
            problems.append(f"capacity_table of shape {t.shape} does not fit {n} sites with "
                            f"up to {width - 1} units")
            return out
    cols = np.arange(width)[None, :]
    out[cols > umax[:, None]] = np.nan
    valid = ~np.isnan(out)
    if not np.all(np.isfinite(out[valid])):
        problems.append("capacity_table holds non-finite values")
    if np.any(np.abs(out[:, 0]) > 0):
        problems.append("capacity_table must have cap(0) = 0 at every site")
    inc = np.diff(out, axis=1)
    if np.any(inc[~np.isnan(inc)] < -_CONCAVE_TOL):
        s = int(np.flatnonzero(np.nan_to_num(inc, nan=0.0).min(axis=1) < -_CONCAVE_TOL)[0])
        problems.append(f"capacity_table must not decrease with more units (site {s})")
    return out


def _check_group(g: GroupLimit, n: int, problems: list[str]) -> GroupLimit:
    """Sites as sorted indices, weights aligned with them."""
    raw = np.asarray(g.sites)
    if raw.dtype == bool:
        if raw.shape != (n,):
            problems.append(f"group {g.name!r}: boolean mask has shape {raw.shape}, "
                            f"expected ({n},)")
            return g
        raw = np.flatnonzero(raw)
    raw = raw.ravel()
    if raw.size and (not np.issubdtype(raw.dtype, np.integer) or raw.min() < 0
                     or raw.max() >= n):
        problems.append(f"group {g.name!r}: sites must be indices in 0..{n - 1} or a mask")
        return g
    if np.unique(raw).size != raw.size:
        problems.append(f"group {g.name!r}: a site is listed twice")
        return g
    w = np.asarray(g.weight, float)
    if w.ndim and w.shape != raw.shape:
        problems.append(f"group {g.name!r}: weight has {w.size} values for {raw.size} sites")
        return g
    if not np.all(np.isfinite(w)):
        problems.append(f"group {g.name!r}: weights must be finite")
    if not g.lower <= g.upper:
        problems.append(f"group {g.name!r}: lower {g.lower} above upper {g.upper}")
    order = np.argsort(raw, kind="stable")
    weight = float(w) if w.ndim == 0 else w[order]
    return GroupLimit(g.name, raw[order].astype(np.int64), weight, float(g.lower),
                      float(g.upper))


def _concave_sites(cap: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sites whose table is concave over ``0..U_s`` (second differences <= 0)."""
    second = np.diff(cap, n=2, axis=1)
    viol = np.nan_to_num(second, nan=-np.inf) > _CONCAVE_TOL * np.maximum(
        1.0, np.nanmax(np.abs(cap), axis=1, initial=0.0))[:, None]
    return ~viol.any(axis=1) | (hi <= 1)


# ---------------------------------------------------------------------- constraints
def _add_assignment(b: ModelBuilder, sc: SparseCosts, x: VarBlock, u: VarBlock | None,
                    demand: np.ndarray) -> None:
    """``sum_s x_sj (+ u_j) = 1`` for clients with demand (``= 0`` otherwise)."""
    rhs = (demand > 0).astype(float)
    rows, cols = sc.client, x.index()
    if u is not None:
        rows, cols = np.r_[rows, np.arange(sc.n_clients)], np.r_[cols, u.index()]
    b.add_rows("assignment", rows=rows, cols=cols, vals=np.ones(rows.size), lower=rhs,
               upper=rhs, n_rows=sc.n_clients)


def _add_served(b: ModelBuilder, sc: SparseCosts, x: VarBlock, kap: VarBlock,
                demand: np.ndarray) -> None:
    """``sum_j d_j x_sj - k_s <= 0``."""
    n = sc.n_sites
    b.add_rows("served", rows=np.r_[sc.site, np.arange(n)], cols=np.r_[x.index(), kap.index()],
               vals=np.r_[demand[sc.client], -np.ones(n)], lower=-np.inf, upper=0.0, n_rows=n)


def _add_unit_bounds(b: ModelBuilder, y: VarBlock, units: VarBlock, min_units: np.ndarray,
                     hi: np.ndarray) -> None:
    """``m_s y_s <= n_s <= U_s y_s``."""
    n = y.size
    k = np.arange(n)
    b.add_rows("units_max", rows=np.r_[k, k], cols=np.r_[units.index(), y.index()],
               vals=np.r_[np.ones(n), -hi.astype(float)], lower=-np.inf, upper=0.0, n_rows=n)
    m = np.minimum(np.maximum(min_units, 1), np.maximum(hi, 1)).astype(float)
    b.add_rows("units_min", rows=np.r_[k, k], cols=np.r_[units.index(), y.index()],
               vals=np.r_[np.ones(n), -m], lower=0.0, upper=np.inf, n_rows=n)


def _add_envelope(b: ModelBuilder, units: VarBlock, kap: VarBlock, cap: np.ndarray,
                  hi: np.ndarray, concave: np.ndarray) -> None:
    """Tangent lines ``k_s - slope_t n_s <= cap(t) - slope_t t``, one per distinct slope."""
    sites = np.flatnonzero(concave & (hi > 0))
    if not sites.size:
        return
    slope = np.diff(cap[sites], axis=1)  # slope_t for t = 0..U-1 (nan beyond)
    t = np.arange(slope.shape[1])[None, :]
    valid = ~np.isnan(slope)
    new = valid.copy()
    new[:, 1:] &= np.abs(slope[:, 1:] - slope[:, :-1]) > _CONCAVE_TOL * np.maximum(
        1.0, np.abs(slope[:, :-1]))
    si, ti = np.nonzero(new)
    s = sites[si]
    sl = slope[si, ti]
    r = np.arange(s.size)
    b.add_rows("envelope", rows=np.r_[r, r], cols=np.r_[kap.index(s), units.index(s)],
               vals=np.r_[np.ones(r.size), -sl], lower=-np.inf,
               upper=cap[s, ti] - sl * t[0, ti], n_rows=r.size)


def _add_size_choice(b: ModelBuilder, y: VarBlock, units: VarBlock, kap: VarBlock,
                     cap: np.ndarray, hi: np.ndarray, sites_mask: np.ndarray) -> None:
    """Exact multiple choice for non-concave tables: ``sum_t w_st = y_s``,
    ``n_s = sum_t t w_st``, ``k_s <= sum_t cap_s(t) w_st``."""
    sites = np.flatnonzero(sites_mask)
    if not sites.size:
        return
    counts = hi[sites]
    s = np.repeat(sites, counts)
    t = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    w = b.add_vars("size", s.size, ub=1.0, integer=True)
    loc = np.repeat(np.arange(sites.size), counts)
    one = np.ones(s.size)
    k = np.arange(sites.size)
    b.add_rows("size_choice", rows=np.r_[loc, k], cols=np.r_[w.index(), y.index(sites)],
               vals=np.r_[one, -np.ones(k.size)], lower=0.0, upper=0.0, n_rows=sites.size)
    b.add_rows("size_units", rows=np.r_[loc, k], cols=np.r_[w.index(), units.index(sites)],
               vals=np.r_[t.astype(float), -np.ones(k.size)], lower=0.0, upper=0.0,
               n_rows=sites.size)
    b.add_rows("size_capacity", rows=np.r_[loc, k], cols=np.r_[w.index(), kap.index(sites)],
               vals=np.r_[cap[s, t], -np.ones(k.size)], lower=0.0, upper=np.inf,
               n_rows=sites.size)


def _add_linking(b: ModelBuilder, sc: SparseCosts, y: VarBlock, x: VarBlock,
                 nearest: int | None) -> None:
    """``x_sj <= y_s`` for each client's ``nearest`` sites (all when ``None``)."""
    pos = np.arange(sc.nnz) - sc.indptr[sc.client]
    pairs = np.arange(sc.nnz) if nearest is None else np.flatnonzero(pos < nearest)
    k = np.arange(pairs.size)
    b.add_rows("linking", rows=np.r_[k, k], cols=np.r_[x.index(pairs), y.index(sc.site[pairs])],
               vals=np.r_[np.ones(k.size), -np.ones(k.size)], lower=-np.inf, upper=0.0,
               n_rows=pairs.size)


def _add_units_total(b: ModelBuilder, units: VarBlock, total: tuple[float, float]) -> None:
    """``T_lo <= sum_s n_s <= T_hi``."""
    lo, hi = total
    if lo <= 0 and math.isinf(hi):
        return
    b.add_rows("units_total", rows=np.zeros(units.size), cols=units.index(),
               vals=np.ones(units.size), lower=lo, upper=hi, n_rows=1)


def _add_group(b: ModelBuilder, units: VarBlock, g: GroupLimit) -> None:
    """``L_g <= sum_{s in g} w_s n_s <= U_g``."""
    w = np.broadcast_to(np.asarray(g.weight, float), g.sites.shape)
    b.add_rows(f"group:{g.name}", rows=np.zeros(g.sites.size), cols=units.index(g.sites),
               vals=w, lower=g.lower, upper=g.upper, n_rows=1)
