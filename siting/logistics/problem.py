r"""The multimodal logistics park problem on sparse drayage distances.

See :class:`LogisticsProblem`. It is the location core's capacitated facility
location problem (:class:`~siting.models.cflp.CFLP`) with exactly ``p`` open sites,
split assignment and unmet demand priced at the value of the rail shift (freight
not shifted stays on the road), plus one row added through the core's
``extra_constraints`` hook: the freight shifted to rail must reach the target.
This module adds the freight-specific pre-checks (with the shortfall in Mt/yr), the
sizing of an infeasible target, and per-pair flows in Mt/yr.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError, InputError
from siting.models._common import nonneg_array
from siting.models.base import Result
from siting.models.builder import ExtraConstraints, ModelBuilder, VarBlock
from siting.models.cflp import CFLP
from siting.models.costs import CostInput, SparseCosts, as_index_array
from siting.models.finance import annuity_factor

logger = logging.getLogger(__name__)

__all__ = ["ExtraConstraints", "LogisticsProblem", "annuity_factor"]


#: flows below this (Mt/yr, i.e. 0.1 t) are solver noise and are dropped
FLOW_EPS_MT = 1e-7


@dataclass(frozen=True)
class LogisticsProblem:
    r"""Site exactly ``p`` multimodal parks; route rail-suitable freight to them by road.

    **Data.** Sources ``j`` with rail-suitable freight ``u_j`` (Mt/yr); candidate parks
    ``i`` with capacity ``C_i`` (Mt/yr) and annualised cost ``F_i`` (CNY/yr); road
    drayage distances ``d_ij`` (m) for the allowed pairs only (within the drayage
    cutoff); drayage cost ``c`` (CNY/tkm); value ``v`` (CNY/t) of a tonne moved from
    road to rail; target ``T`` (Mt/yr).

    **Model.** The core :class:`~siting.models.cflp.CFLP` (strong form, split
    demand, ``p`` fixed) with clients = sources (demand ``u_j``), sites = parks, unit
    pair cost ``c d_ij / 1000`` (CNY/t = million CNY per Mt) and unmet demand priced at
    ``v``; ``y_i in {0,1}`` opens park ``i``, ``x_ij in [0,1]`` is the share of ``u_j``
    shifted to rail through park ``i`` (so ``u_j x_ij`` Mt/yr), ``s_j`` the share left
    on the road. Objective in million CNY a year::

        min  sum_ij (c d_ij / 1000) u_j x_ij + sum_i F_i / 1e6 y_i + sum_j v u_j s_j
        s.t. sum_i x_ij + s_j = 1                        for all j   (assignment)
             sum_j u_j x_ij - C_i y_i <= 0               for all i   (capacity)
             x_ij - y_i <= 0                             for all ij  (linking)
             sum_i y_i = p                                           (parks)
             sum_ij u_j x_ij >= T                                    (target; hook)
             y_i = 1 (fixed: existing, approved) ;  y_i = 0 (forbidden: rejected)

    Since ``sum_j v u_j s_j = v U - v sum_ij u_j x_ij`` (``U = sum_j u_j``), this is
    *drayage + annualised park cost - value of the rail shift*, plus the constant
    ``v U`` (:meth:`net_objective` removes it): the solver's objective is the total
    annual cost including the value forgone on rail-suitable freight left on the
    road, a positive figure against which the MIP gap is measured. Rail and road
    access are properties of the candidate set; the drayage cutoff is in the pairs.

    **Pre-checks** (:meth:`check`) raise :class:`~siting.errors.InfeasibleError` with
    the shortfall before any solving: fixed/forbidden conflicts, too few sites,
    ``p`` parks' capacity below the target, freight within reach below the target,
    and the tighter bound "the best ``p`` parks, each handling at most
    ``min(C_i, sum_{j in reach(i)} u_j)``". If the solver still proves infeasibility,
    the largest achievable freight is computed (a second MIP) and reported.

    **Example.**

    >>> from siting.logistics.problem import LogisticsProblem
    >>> pb = LogisticsProblem.from_costs(
    ...     ([0, 0, 1, 1], [0, 1, 0, 1], [1000., 30000., 30000., 2000.]),
    ...     supply_mt=[3.0, 2.0], capacity_mt=4.0, p=1, target_mt=3.0,
    ...     drayage_cny_per_tkm=0.5, shift_value_cny_per_t=20.0)
    >>> from siting.logistics.solve import solve_logistics
    >>> res = solve_logistics(pb, "highs").result
    >>> res.selected.tolist(), round(float(res.values["flow"].sum()), 6)
    ([0], 4.0)
    >>> round(pb.net_objective(res), 6)     # 3 Mt at 0.5 - 20, 1 Mt at 15 - 20 CNY/t
    -63.5
    """

    costs: SparseCosts
    supply_mt: np.ndarray
    capacity_mt: np.ndarray
    annual_cost_cny: np.ndarray
    p: int
    target_mt: float
    drayage_cny_per_tkm: float
    shift_value_cny_per_t: float
    fixed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    name: str = "logistics"

    @classmethod
    def from_costs(cls, costs: CostInput, *, supply_mt: ArrayLike, capacity_mt: ArrayLike,
                   p: int, target_mt: float, drayage_cny_per_tkm: float,
                   shift_value_cny_per_t: float, annual_cost_cny: ArrayLike = 0.0,
                   fixed: ArrayLike | None = None, forbidden: ArrayLike | None = None,
                   n_sources: int | None = None, n_parks: int | None = None,
                   name: str = "logistics") -> LogisticsProblem:
        """Build from ``(source, park, metres)`` arrays or a sparse ``sources x parks``
        matrix of drayage distances (absent pairs are not allowed).

        ``capacity_mt`` and ``annual_cost_cny`` take one value per park or a scalar;
        ``fixed``/``forbidden`` take park indices or boolean masks.

        Raises:
            InputError: every malformed argument at once.
        """
        sc = SparseCosts.from_input(costs, n_clients=n_sources, n_sites=n_parks,
                                    name=f"{name}: drayage distances")
        problems: list[str] = []
        u = nonneg_array(supply_mt, sc.n_clients, what="supply_mt", default=0.0,
                         problems=problems)
        cap = nonneg_array(capacity_mt, sc.n_sites, what="capacity_mt", default=0.0,
                         problems=problems)
        fc = nonneg_array(annual_cost_cny, sc.n_sites, what="annual_cost_cny", default=0.0,
                         problems=problems)
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 1:
            problems.append(f"p={p!r} must be an integer >= 1")
        for key, val in (("target_mt", target_mt), ("drayage_cny_per_tkm", drayage_cny_per_tkm),
                         ("shift_value_cny_per_t", shift_value_cny_per_t)):
            if not (isinstance(val, int | float | np.number) and math.isfinite(val)
                    and val >= 0):
                problems.append(f"{key}={val!r} must be a finite number >= 0")
        if problems:
            raise InputError.collect(problems, context=name)
        fx = as_index_array(fixed, n=sc.n_sites, name=f"{name}: fixed")
        fb = as_index_array(forbidden, n=sc.n_sites, name=f"{name}: forbidden")
        return cls(sc, u, cap, fc, int(p), float(target_mt), float(drayage_cny_per_tkm),
                   float(shift_value_cny_per_t), fx, fb, name)

    @property
    def n_sources(self) -> int:
        return self.costs.n_clients

    @property
    def n_parks(self) -> int:
        return self.costs.n_sites

    def drayage_cost(self) -> np.ndarray:
        """Drayage cost per allowed pair, million CNY per Mt (= CNY/t)."""
        return self.drayage_cny_per_tkm * self.costs.cost / 1000.0

    @property
    def value_offset(self) -> float:
        """``v U``: the value (million CNY/yr) of shifting all rail-suitable freight."""
        return self.shift_value_cny_per_t * float(self.supply_mt.sum())

    def objective(self, is_open: np.ndarray, flow_mt: np.ndarray) -> float:
        """Solver objective (million CNY/yr) of open parks and per-pair flows (Mt/yr):
        drayage + park cost + value of the rail-suitable freight left on the road."""
        flow_mt = np.asarray(flow_mt, dtype=float)
        return float(self.drayage_cost() @ flow_mt
                     + self.annual_cost_cny[np.asarray(is_open, bool)].sum() / 1e6
                     + self.value_offset - self.shift_value_cny_per_t * flow_mt.sum())

    def net_objective(self, result: Result) -> float:
        """*Drayage + park cost - value of the rail shift* (million CNY/yr) of ``result``:
        its objective less :attr:`value_offset`."""
        return float(result.objective) - self.value_offset

    # ------------------------------------------------------------------ checks
    def _usable(self) -> tuple[np.ndarray, SparseCosts]:
        forbidden = np.zeros(self.n_parks, bool)
        forbidden[self.forbidden] = True
        return forbidden, self.costs.drop_sites(forbidden)

    def freight_bounds(self) -> dict[str, float]:
        """Upper bounds on the freight ``p`` parks can shift (Mt/yr), each valid alone:
        ``capacity`` (the ``p`` largest capacities, fixed parks first), ``reach``
        (freight of sources with an allowed park) and ``parks`` (the best ``p`` parks,
        each counting at most ``min(C_i, freight within its reach)``)."""
        forbidden, usable = self._usable()
        reach = float(self.supply_mt[usable.degree() > 0].sum())
        near = np.bincount(usable.site, weights=self.supply_mt[usable.client],
                           minlength=self.n_parks)
        handle = np.minimum(self.capacity_mt, near)
        return {"capacity": self._best_p(self.capacity_mt, forbidden), "reach": reach,
                "parks": self._best_p(handle, forbidden)}

    def _best_p(self, value: np.ndarray, forbidden: np.ndarray) -> float:
        is_fixed = np.zeros(self.n_parks, bool)
        is_fixed[self.fixed] = True
        rest = np.sort(value[~is_fixed & ~forbidden])[::-1]
        return float(value[is_fixed].sum() + rest[:max(0, self.p - int(is_fixed.sum()))].sum())

    def check(self) -> None:
        """Feasibility pre-checks; raise :class:`InfeasibleError` naming the shortfall."""
        both = np.intersect1d(self.fixed, self.forbidden)
        if both.size:
            raise InfeasibleError(
                f"{self.name}: parks {both[:10].tolist()} are both fixed (existing or "
                f"approved) and forbidden (rejected); keep one decision per park",
                constraint="fixed/forbidden")
        if self.fixed.size > self.p:
            raise InfeasibleError(
                f"{self.name}: {self.fixed.size} parks are fixed (existing or approved) but "
                f"exactly {self.p} are to be built; raise the number of parks to "
                f"{self.fixed.size} or unlock {self.fixed.size - self.p}",
                constraint="parks", shortfall=float(self.fixed.size - self.p))
        allowed = self.n_parks - self.forbidden.size
        if allowed < self.p:
            raise InfeasibleError(
                f"{self.name}: {self.p} parks are to be built but only {allowed} candidate "
                f"sites are allowed ({self.n_parks} found, {self.forbidden.size} rejected); "
                f"add candidate sites (denser grid, larger access distances) or lower the "
                f"number of parks", constraint="parks", shortfall=float(self.p - allowed))
        b = self.freight_bounds()
        t = self.target_mt
        tol = 1e-9 * max(1.0, t)
        if b["capacity"] < t - tol:
            raise InfeasibleError(
                f"{self.name}: freight target {t:.2f} Mt/yr exceeds the capacity of {self.p} "
                f"parks, {b['capacity']:.2f} Mt/yr (largest capacities): short "
                f"{t - b['capacity']:.2f} Mt/yr; build more or larger parks or lower the "
                f"target", constraint="capacity", shortfall=t - b["capacity"])
        if b["reach"] < t - tol:
            raise InfeasibleError(
                f"{self.name}: freight target {t:.2f} Mt/yr but the sources within drayage "
                f"reach of a candidate park can shift only {b['reach']:.2f} Mt/yr to rail: "
                f"short {t - b['reach']:.2f} Mt/yr; raise the drayage distance or the "
                f"rail-suitable shares, add sources or candidate sites, or lower the target",
                constraint="freight target", shortfall=t - b["reach"])
        if b["parks"] < t - tol:
            raise InfeasibleError(
                f"{self.name}: freight target {t:.2f} Mt/yr but the best {self.p} parks can "
                f"handle at most {b['parks']:.2f} Mt/yr (each its capacity or the freight "
                f"within its reach, whichever is smaller; {self.p} x capacity = "
                f"{b['capacity']:.2f} Mt/yr, freight within reach {b['reach']:.2f} Mt/yr): "
                f"short {t - b['parks']:.2f} Mt/yr", constraint="freight target",
                shortfall=t - b["parks"])

    # ------------------------------------------------------------------- solve
    def to_cflp(self) -> CFLP:
        """The core CFLP this problem is (without the target row; see :meth:`solve`)."""
        return CFLP.from_costs(
            (self.costs.client, self.costs.site, self.drayage_cost()),
            n_clients=self.n_sources, n_sites=self.n_parks, demand=self.supply_mt,
            capacity=self.capacity_mt, fixed_cost=self.annual_cost_cny / 1e6,
            cost_basis="unit", unmet_cost=self.shift_value_cny_per_t, p=self.p,
            fixed=self.fixed, forbidden=self.forbidden, name=self.name)

    def target_hook(self, extra: ExtraConstraints | None = None) -> ExtraConstraints:
        """The ``extra_constraints`` hook adding the target row (then ``extra``)."""
        demand = self.costs.client

        def hook(b: ModelBuilder, v: Mapping[str, VarBlock]) -> None:
            _add_target(b, v["assign"], self.supply_mt[demand], self.target_mt)
            if extra is not None:
                extra(b, v)

        return hook


# ----------------------------------------------------------------- constraint blocks


def _add_target(b: ModelBuilder, share: VarBlock, supply_mt: np.ndarray, target_mt: float
                ) -> None:
    """``sum_ij u_j x_ij >= T``: the multimodal freight target (Mt/yr)."""
    b.add_rows("target", rows=np.zeros(share.size), cols=share.index(), vals=supply_mt,
               lower=float(target_mt), upper=np.inf, n_rows=1)
