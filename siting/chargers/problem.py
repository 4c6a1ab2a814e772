"""The charging-station model on arrays: where stations open and how many piles each gets.

See :class:`ChargerProblem` for the formulation. The GeoDataFrame/Region path is
:func:`siting.chargers.inputs.plan_chargers`; the independent checker is
:func:`siting.chargers.check.check_charger_solution`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InputError
from siting.models.base import Result
from siting.models.costs import CostInput, SparseCosts, as_index_array

logger = logging.getLogger(__name__)

__all__ = ["ChargerProblem", "ChargerSolution", "PileType", "upper_hull"]

TYPES = ("slow", "fast")
#: ``method="auto"`` solves the exact MIP up to this many pile and flow columns
EXACT_MAX_COLUMNS = 5_000


@dataclass(frozen=True)
class PileType:
    """One pile type: power, annualised capex and its Erlang-C capacity table.

    ``table[c]`` is the sessions/day ``c`` piles of this type serve at the service
    level (:func:`siting.chargers.queueing.capacity_table`), for ``c = 0..len(table)-1``.
    """

    name: str
    kw: float
    annual_capex_cny: float
    table: np.ndarray

    def __post_init__(self) -> None:
        t = np.array(self.table, dtype=np.float64, copy=True)
        problems = []
        if t.ndim != 1 or t.size < 2:
            problems.append("table needs capacities for 0 and at least 1 pile")
        elif not (np.all(np.isfinite(t)) and t[0] == 0 and np.all(np.diff(t) >= 0)):
            problems.append("table must start at 0 and be finite and non-decreasing")
        if not (self.kw > 0 and self.annual_capex_cny >= 0):
            problems.append("kw must be > 0 and annual_capex_cny >= 0")
        if problems:
            raise InputError.collect(problems, context=f"pile type {self.name!r}")
        t.setflags(write=False)
        object.__setattr__(self, "table", t)

    def capacity(self, piles: ArrayLike) -> np.ndarray:
        """Sessions/day served at the service level by ``piles`` (clipped to the table)."""
        n = np.clip(np.asarray(piles, dtype=np.int64), 0, self.table.size - 1)
        return self.table[n]


@dataclass(frozen=True)
class ChargerSolution:
    """A solved charging plan, per stage ``s`` (arrays are read-only).

    Attributes:
        result: the core's :class:`~siting.models.base.Result` (status, objective,
            bound, gap, timings, solver report in ``model``; ``selected`` = stations open
            in the last stage, ``units`` = their new piles, ``assignment`` = the last
            stage's flows as shares of each client's demand).
        open: ``(stages, sites)`` bool, station open.
        piles: ``(stages, 2, sites)`` new piles by type (0 slow, 1 fast), cumulative.
        load: ``(stages, 2, sites)`` sessions/day served by each pile type's queue.
        flow: ``(stages, pairs)`` sessions/day on each allowed pair (pair order of
            ``problem.costs``).
        unmet: ``(stages, clients)`` sessions/day left unserved.
        shortfall: ``(stages, sites)`` piles below the station's ratio share.
        objective_terms: the objective's parts (annual CNY, stage-weighted).
    """

    result: Result
    open: np.ndarray
    piles: np.ndarray
    load: np.ndarray
    flow: np.ndarray
    unmet: np.ndarray
    shortfall: np.ndarray
    objective_terms: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("open", "piles", "load", "flow", "unmet", "shortfall"):
            arr = np.array(getattr(self, name), copy=True)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)


@dataclass(frozen=True)
class ChargerProblem:
    r"""Open stations and size them in slow and fast piles, in one or two stages.

    **Data.** Clients ``j`` (demand points) with ``d_sj`` sessions/day in stage ``s``;
    sites ``i`` with at most ``M_i`` piles (existing ``e_i`` AC piles included), the
    pile types ``t`` each allows (``M_it = M_i - e_i`` or 0), an annual station cost
    ``F_i`` (0 for existing stations) and a substation ``b(i)``; allowed pairs ``(i,
    j)`` within the service radius with network distance ``m_ij``; pile types with
    power ``k_t``, annual capex ``c_t`` and Erlang-C table ``T_t(n)``, scaled at each
    site by ``σ_ti`` (the peak-hour factor: ``T_t`` counts sessions spread evenly over
    the operating hours, and a site whose busiest hour takes a share ``p_ti`` of its
    daily sessions serves ``σ_ti T_t(n)`` with ``σ_ti = 1 / (p_ti × hours)``, so
    it is sized for its peak hour); targets ``P_s`` of new piles; stage weights ``ω_s``.

    **Variables** per stage: ``y_si`` open (binary; 1 for existing), ``n_sit``
    new piles (integer), ``x_sij >= 0`` sessions/day of pair ``(i, j)``, ``u_sj >= 0``
    unmet sessions, ``q_sit >= 0`` sessions served by type ``t``, ``r_si >= 0``
    piles short of the ratio share.

    **Model.**

    .. code-block:: text

        min  Σ_s ω_s [ Σ_i F_i y_si + Σ_it c_t n_sit + δ Σ_ij m_ij x_sij
                       + π Σ_j u_sj + ρ Σ_i r_si ]
        s.t. Σ_i x_sij + u_sj = d_sj                              (demand)
             Σ_j x_sij = Σ_t q_sit                                (flow)
             q_sit <= σ_ti T_t(e_it + n_sit)                      (Erlang-C, exact)
             Σ_i d_sj y_si + u_sj >= d_sj,  x_sij <= d_sj y_si        (cover, linking)
             Σ_{i near j} y_1i >= 1  (every client, with reach_all)   (reach target)
             y_si <= Σ_t n_sit <= (M_i - e_i) y_si,  n_sit <= M_it
             Σ_t n_sit + e_i + r_si >= κ_s Σ_t q_sit              (ratio balance)
             Σ_it n_sit = P_s  (or >= P_s)                        (target)
             Σ_i n_si,fast >= φ Σ_it n_sit                        (fast share)
             Σ_{i: b(i)=b} Σ_t k_t n_sit <= H_b                   (grid headroom)
             Σ_{i in D} Σ_t n_1it >= L_D                          (district minimum)
             y_2i >= y_1i,  n_2it >= n_1it                        (staging)
             y_1i = 1 (locked),  y_si = 0 (forbidden)

    ``reach_all`` makes the plan's NEV target a constraint: in stage 1 every client has
    an open station within the radius (clients whose every site is forbidden are
    exempt, and reported by :meth:`unreachable_clients`).

    ``κ_s = (P_s + Σ e_i) / Σ_j d_sj`` is the city-wide piles-per-session ratio over
    reachable demand: when the pile target exceeds what the service level needs (the
    plan is "moderately advanced"), ``r`` spreads the surplus where the sessions are
    instead of leaving it wherever the solver drops it.

    Only clients with at least one pair enter the objective: demand no candidate
    reaches is unmet whatever the plan does (it is reported, not optimised).

    **Erlang-C exactly.** ``T_t`` is convex in ``n`` (pooling; see
    :mod:`siting.chargers.queueing`), so ``q <= T(n)`` is not a convex constraint. Two exact
    routes:

    - ``solve_chargers(problem, method="exact")`` (the default for small instances): one
      MIP with the multiple-choice form ``n = Σ_k k z_k, Σ_k z_k <= 1,
      q <= T(e) + Σ_k (T(e+k) - T(e)) z_k`` (binary ``z``) at every station.
    - ``solve_chargers(problem, method="relax")`` (the default at city scale): a
      *relaxation* bounds the optimum from below (continuous piles, each station's upper
      concave hull of ``T``, which for a convex table is the chord from 0 to ``M``;
      every pair linked to its site, or on large instances pairs beyond each client's
      ``near_sites`` nearest merged into a far flow and pair linking for the
      ``link_sites`` nearest), and *exact plans* at fixed stations bound
      it from above: whole piles are chosen, then every queue's load is bounded by
      ``T_t(e + n)`` at its whole pile count, which is linear once ``n`` is fixed. The
      reported gap is between the two; see :func:`siting.chargers.solve.solve_problem`.

    **Example.**

    >>> import numpy as np
    >>> from siting.chargers.problem import ChargerProblem, PileType
    >>> slow = PileType("slow", 7.0, 700.0, np.array([0., 1., 3., 6.]))
    >>> fast = PileType("fast", 60.0, 8000.0, np.array([0., 6., 20., 40.]))
    >>> pb = ChargerProblem.from_costs(
    ...     (np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([100., 900., 50.])),
    ...     demand=[[4.0, 2.0]], piles=[4], slow=slow, fast=fast, max_piles=[3, 3],
    ...     station_cost=[1000.0, 1000.0])
    >>> from siting.chargers.solve import solve_chargers
    >>> sol = solve_chargers(pb, "highs")
    >>> sol.result.status.value, sol.piles[0].sum()
    ('optimal', np.int64(4))
    """

    costs: SparseCosts
    demand: np.ndarray
    piles: np.ndarray
    slow: PileType
    fast: PileType
    max_piles: np.ndarray
    allow: np.ndarray
    existing: np.ndarray
    station_cost: np.ndarray
    substation: np.ndarray
    headroom_kw: np.ndarray
    district: np.ndarray
    district_min: np.ndarray
    district_names: tuple[str, ...]
    site_names: tuple[str, ...]
    fast_share_min: float = 0.0
    rule: Literal["exact", "at_least"] = "exact"
    distance_cost: float = 0.0
    unmet_cost: float = 1.0
    ratio_cost: float = 0.0
    stage_weight: np.ndarray = field(default_factory=lambda: np.ones(1))
    peak_scale: np.ndarray = field(default_factory=lambda: np.ones((2, 0)))
    reach_all: bool = False
    locked: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    link_sites: int = 3
    near_sites: int = 30
    name: str = "chargers"

    # ------------------------------------------------------------ construction
    @classmethod
    def from_costs(cls, costs: CostInput, *, demand: ArrayLike, piles: ArrayLike,
                   slow: PileType, fast: PileType, max_piles: ArrayLike,
                   slow_ok: ArrayLike | None = None, fast_ok: ArrayLike | None = None,
                   existing_piles: ArrayLike | None = None,
                   station_cost: ArrayLike | float = 0.0,
                   substation: ArrayLike | None = None, headroom_kw: ArrayLike | None = None,
                   district: ArrayLike | None = None,
                   district_min: Mapping[str, float] | None = None,
                   district_names: tuple[str, ...] = (),
                   site_names: tuple[str, ...] | None = None, fast_share_min: float = 0.0,
                   rule: Literal["exact", "at_least"] = "exact", distance_cost: float = 0.0,
                   unmet_cost: float = 1.0, ratio_cost: float = 0.0,
                   stage_weight: ArrayLike | None = None,
                   peak_scale: ArrayLike | None = None, reach_all: bool = False,
                   locked: ArrayLike | None = None,
                   forbidden: ArrayLike | None = None, link_sites: int = 3,
                   near_sites: int = 30,
                   n_clients: int | None = None, n_sites: int | None = None,
                   name: str = "chargers") -> ChargerProblem:
        """Validate arrays and build the problem (all problems reported at once).

        ``costs``: ``(client, site, metres)`` arrays or a sparse ``clients x sites``
        matrix of the allowed pairs. ``demand``: ``(stages, clients)`` sessions/day.
        ``piles``: new-pile target per stage (cumulative). ``station_cost``,
        ``distance_cost`` (per session-metre), ``unmet_cost`` (per daily session) and
        ``ratio_cost`` (per pile short) are annual CNY. ``district`` gives each site's
        index into ``district_names`` (-1: none); ``substation`` each site's index into
        ``headroom_kw`` (-1: unconstrained); ``headroom_kw`` is one value per substation or
        a ``(stages, substations)`` array (cumulative new load). ``existing_piles`` are
        AC piles already at a site (an existing station: always open, no station cost,
        not counted in the targets). ``peak_scale``: ``σ_ti``, one value per site or a
        ``(2, sites)`` array (slow, fast); 1 (the default) sizes for sessions spread
        evenly over the operating hours. ``locked``/``forbidden``: site indices (or masks)
        open in stage 1 / never open. ``near_sites`` and ``link_sites`` tune the
        relaxation of ``method="relax"`` (pairs kept per client; pairs with a linking
        row) past :data:`siting.chargers.solve.RELAX_ALL_PAIRS` flows (below it every
        pair is kept and linked): 30 and 3 were measured on the Zibo demo
        (bench/chargers_scaling.py).
        ``n_clients`` and ``n_sites`` size the problem when some clients or sites have
        no pair.
        """
        sc = SparseCosts.from_input(costs, n_clients=n_clients, n_sites=n_sites,
                                    name=f"{name}: costs")
        n_sites = sc.n_sites
        problems: list[str] = []
        d = np.atleast_2d(np.asarray(demand, dtype=np.float64))
        if d.shape[1] != sc.n_clients:
            problems.append(f"demand has {d.shape[1]} clients, costs {sc.n_clients}")
        elif not (np.all(np.isfinite(d)) and np.all(d >= 0)):
            problems.append("demand must be finite and >= 0")
        n_stages = d.shape[0]
        if n_stages not in (1, 2):
            problems.append(f"demand has {n_stages} stages; give 1 or 2 rows")
        p = np.asarray(piles, dtype=np.int64).ravel()
        if p.size != n_stages:
            problems.append(f"piles has {p.size} targets for {n_stages} stages")
        elif np.any(p < 0) or np.any(np.diff(p) < 0):
            problems.append(f"piles targets {p.tolist()} must be >= 0 and non-decreasing")

        def site_array(value: ArrayLike | None, default: float, what: str,
                       dtype: type = np.float64) -> np.ndarray:
            if value is None:
                return np.full(n_sites, default, dtype=dtype)
            arr: np.ndarray = np.asarray(value, dtype=dtype)
            if arr.ndim == 0:
                return np.full(n_sites, arr, dtype=dtype)
            if arr.shape != (n_sites,):
                problems.append(f"{what} has shape {arr.shape}, expected ({n_sites},)")
                return np.full(n_sites, default, dtype=dtype)
            return arr

        mx = site_array(max_piles, 0, "max_piles", np.int64)
        ex = site_array(existing_piles, 0, "existing_piles", np.int64)
        sok = site_array(slow_ok, True, "slow_ok", bool)
        fok = site_array(fast_ok, True, "fast_ok", bool)
        fc = site_array(station_cost, 0.0, "station_cost")
        sub = site_array(substation, -1, "substation", np.int64)
        dist = site_array(district, -1, "district", np.int64)
        if np.any(mx < 0) or np.any(ex < 0) or np.any(ex > mx):
            problems.append("max_piles and existing_piles must be >= 0 with existing <= max")
        if not (np.all(np.isfinite(fc)) and np.all(fc >= 0)):
            problems.append("station_cost must be finite and >= 0")
        if np.any(ex > 0) and not slow.table.size > int(mx.max(initial=0)):
            problems.append("the slow table is shorter than the largest station")
        for pt, ok in ((slow, sok), (fast, fok)):
            if ok.any() and pt.table.size - 1 < int(mx[ok].max(initial=0)):
                problems.append(f"{pt.name} table covers {pt.table.size - 1} piles but a site "
                                f"allows {int(mx[ok].max())}")
        hk = np.asarray(headroom_kw if headroom_kw is not None else [], dtype=np.float64)
        hk = np.broadcast_to(hk, (n_stages, hk.shape[-1])).copy() if hk.ndim in (1, 2) and (
            hk.ndim == 1 or hk.shape[0] in (1, n_stages)) else np.zeros((n_stages, 0))
        if headroom_kw is not None and hk.shape[1] == 0 and np.size(headroom_kw):
            problems.append(f"headroom_kw has shape {np.shape(headroom_kw)}; give one value "
                            f"per substation, or a (stages, substations) array")
        if sub.size and sub.max(initial=-1) >= hk.shape[1]:
            problems.append(f"substation index {int(sub.max())} but only {hk.shape[1]} "
                            f"headroom values")
        if hk.size and not (np.all(np.isfinite(hk)) and np.all(hk >= 0)):
            problems.append("headroom_kw must be finite and >= 0")
        names = tuple(district_names)
        if dist.size and dist.max(initial=-1) >= len(names):
            problems.append(f"district index {int(dist.max())} but {len(names)} names")
        dmin = np.zeros(len(names))
        for key, value in (district_min or {}).items():
            if key not in names:
                problems.append(f"district_min names unknown district {key!r}; known: "
                                f"{', '.join(names) or 'none'}")
            else:
                dmin[names.index(key)] = float(value)
        if isinstance(near_sites, bool) or not isinstance(near_sites, int) or near_sites < 1:
            problems.append(f"near_sites={near_sites!r} must be an integer >= 1")
        if isinstance(link_sites, bool) or not isinstance(link_sites, int) or link_sites < 0:
            problems.append(f"link_sites={link_sites!r} must be an integer >= 0")
        if not 0 <= fast_share_min <= 1:
            problems.append(f"fast_share_min={fast_share_min} must be in [0, 1]")
        if rule not in ("exact", "at_least"):
            problems.append(f"rule={rule!r}; use 'exact' or 'at_least'")
        for what, v in (("distance_cost", distance_cost), ("unmet_cost", unmet_cost),
                        ("ratio_cost", ratio_cost)):
            if not (math.isfinite(v) and v >= 0):
                problems.append(f"{what}={v} must be finite and >= 0")
        w = np.ones(n_stages) if stage_weight is None else \
            np.asarray(stage_weight, dtype=np.float64).ravel()
        if w.size != n_stages or not np.all(w > 0):
            problems.append(f"stage_weight needs {n_stages} positive values")
        ps = np.ones((2, n_sites)) if peak_scale is None else \
            np.asarray(peak_scale, dtype=np.float64)
        if ps.ndim == 1 and ps.shape == (n_sites,):
            ps = np.vstack([ps, ps])
        if ps.shape != (2, n_sites):
            problems.append(f"peak_scale has shape {ps.shape}; give one value per site or a "
                            f"(2, {n_sites}) array")
            ps = np.ones((2, n_sites))
        elif not (np.all(np.isfinite(ps)) and np.all(ps > 0)):
            problems.append("peak_scale must be finite and > 0")
        sn = tuple(site_names) if site_names is not None else \
            tuple(f"site {i}" for i in range(n_sites))
        if len(sn) != n_sites:
            problems.append(f"site_names has {len(sn)} names for {n_sites} sites")
        if problems:
            raise InputError.collect(problems, context=name)
        allow = np.vstack([sok, fok]) & (mx > ex)[None, :]
        lk = as_index_array(locked, n=n_sites, name=f"{name}: locked")
        fb = as_index_array(forbidden, n=n_sites, name=f"{name}: forbidden")
        fc = np.where(ex > 0, 0.0, fc)
        arrays = dict(demand=d, piles=p, max_piles=mx, allow=allow, existing=ex,
                      station_cost=fc, substation=sub, headroom_kw=hk, district=dist,
                      district_min=dmin, stage_weight=w, peak_scale=ps)
        for a in arrays.values():
            a.setflags(write=False)
        return cls(costs=sc, slow=slow, fast=fast, district_names=names, site_names=sn,
                   fast_share_min=float(fast_share_min), rule=rule,
                   distance_cost=float(distance_cost), unmet_cost=float(unmet_cost),
                   ratio_cost=float(ratio_cost), locked=lk, forbidden=fb,
                   link_sites=int(link_sites), near_sites=int(near_sites), name=name,
                   reach_all=bool(reach_all), **arrays)

    # ----------------------------------------------------------------- helpers
    @property
    def n_stages(self) -> int:
        return int(self.demand.shape[0])

    @property
    def pile_types(self) -> tuple[PileType, PileType]:
        return self.slow, self.fast

    def site_capacity(self, t: int, servers: ArrayLike) -> np.ndarray:
        """Sessions/day each site's type-``t`` queue serves with ``servers[i]`` piles (all
        of them, existing included) at the service level in its peak hour:
        ``σ_ti T_t(servers_i)``."""
        pt = self.pile_types[t]
        return pt.capacity(servers) * self.capacity_scale(t)

    def capacity_scale(self, t: int) -> np.ndarray:
        """``σ_ti`` of every site (ones when the problem has none)."""
        n = self.costs.n_sites
        return self.peak_scale[t] if self.peak_scale.shape == (2, n) else np.ones(n)

    def slots(self) -> np.ndarray:
        """``(2, sites)`` new piles each type may add (0 where not allowed/forbidden)."""
        room = (self.max_piles - self.existing)[None, :] * self.allow
        out = room.astype(np.int64).copy()
        out[:, self.forbidden] = 0
        return out

    def reach_clients(self) -> np.ndarray:
        """Clients with at least one pair to a site that is not forbidden: those
        ``reach_all`` covers."""
        ok = np.ones(self.costs.n_sites, bool)
        ok[self.forbidden] = self.existing[self.forbidden] > 0
        good = ok[self.costs.site]
        return np.flatnonzero(np.bincount(self.costs.client, weights=good,
                                          minlength=self.costs.n_clients) > 0)

    def ratio(self) -> np.ndarray:
        """``κ_s``: piles (existing + target) per reachable daily session, per stage."""
        reach = self.costs.degree() > 0
        total = self.demand[:, reach].sum(axis=1)
        piles = self.piles + self.existing.sum()
        return np.where(total > 0, piles / np.maximum(total, 1e-12), 0.0)

    def check(self) -> None:
        """Feasibility pre-checks with numbers; raises :class:`InfeasibleError`.

        Everything that can make the model infeasible is on the pile side (demand can
        always go unmet): targets against candidate slots, the fast share, grid
        headroom, district minimums and locked stations. See
        :func:`siting.chargers.diagnose.diagnose_piles`.
        """
        from siting.chargers.diagnose import diagnose_piles

        diagnose_piles(self)

    # ------------------------------------------------------------------- solve
    def exact_size(self) -> int:
        """Columns of the exact MIP's pile and flow parts (``method="exact"``)."""
        return int(self.n_stages * (self.slots().sum() + self.costs.nnz))


def upper_hull(values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Segments of the upper concave hull of ``(n, values[n])``, ``n = 0..len-1``.

    Returns ``(start, slope)``: segment ``k`` runs from ``n = start[k]`` with the given
    slope, so ``hull(n) = min_k values[start[k]] + slope[k] (n - start[k])`` for all
    ``n`` in range. For a convex table this is one chord from the first to the last
    point; for a concave one, every segment of the table.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return np.zeros(0, np.int64), np.zeros(0)
    hull: list[int] = []
    for k in range(v.size):  # monotone chain over points already sorted by n
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b if it lies on or below the line from a to k
            if (v[b] - v[a]) * (k - a) <= (v[k] - v[a]) * (b - a):
                hull.pop()
            else:
                break
        hull.append(k)
    h = np.asarray(hull, dtype=np.int64)
    slope = np.diff(v[h]) / np.diff(h)
    return h[:-1], slope
