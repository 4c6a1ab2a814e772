"""The charger MILP, assembled from small named constraint functions.

:func:`build_model` turns a :class:`~siting.chargers.problem.ChargerProblem` and a
:class:`Scope` (which pairs carry a flow variable, whether pile counts are relaxed,
which stations are fixed, which stations get the exact Erlang-C rows) into a
:class:`~siting.models.builder.LinearModel` on the core's
:class:`~siting.models.builder.ModelBuilder`. Variable blocks are named per stage
(``open1``, ``piles_slow1``, ``flow1``, ..., ``open2``, ...), so an
``extra_constraints`` hook can address them.

Clients no candidate can reach within the radius are left out of the model and of
the objective: their demand is unmet whatever the plan does (reported as such).

Every Erlang-C capacity the rows use is ``σ_ti T_t(n) - CAP_MARGIN`` (:meth:`Layout.table`):
solvers return loads up to their feasibility tolerance above a row's bound (CBC about
4e-8 sessions/day on the toys, and its MPS file carries 13 significant digits), and a
load even 1e-8 above ``T_t(n)`` fails the independent checker, which re-computes
``P(wait)`` from the queue itself. The margin keeps such solutions inside the table;
:mod:`siting.chargers.solve` then enforces the exact table on every plan (any load
still above it is shed to unmet demand).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from siting.chargers.problem import TYPES, ChargerProblem, PileType, upper_hull
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock

logger = logging.getLogger(__name__)

__all__ = ["CAP_MARGIN", "Layout", "Scope", "add_district_min", "add_headroom", "build_model",
           "layout", "model_table"]

#: sessions/day by which every capacity in the model stays below the Erlang-C table:
#: 100 x the solvers' primal feasibility tolerance (1e-7 in HiGHS and CBC), and far
#: below any demand (a 10-pile slow station serves 22.4 sessions/day)
CAP_MARGIN = 1e-5

Flagged = frozenset[tuple[int, int, int]]  # (stage, type, site)


@dataclass
class Layout:
    """Derived data shared by every round's model."""

    slots: np.ndarray            # (2, sites) new piles allowed per type
    base: np.ndarray             # (2, sites) existing piles of each type (slow only)
    room: np.ndarray             # (sites,) new piles allowed in total
    kappa: np.ndarray            # (stages,) piles per session
    new_site: np.ndarray         # (sites,) bool: not an existing station
    reach: np.ndarray            # clients with at least one pair
    client_row: np.ndarray       # (clients,) position among reach clients, -1 if none
    rank: np.ndarray             # (pairs,) position of the pair in its client's sorted row
    tables: tuple[np.ndarray, ...] = ()  # per type, the Erlang-C table T_t
    scale: np.ndarray = field(default_factory=lambda: np.ones((2, 0)))  # (2, sites) σ_ti
    hull: dict[tuple[int, int, int, float], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict)

    def table(self, pb: ChargerProblem, t: int, i: int) -> np.ndarray:
        """``g(n) = σ_ti T_t(base + n) - CAP_MARGIN`` for ``n = 0..slots`` (the model's
        table at site ``i``, at least 0)."""
        b, s = int(self.base[t, i]), int(self.slots[t, i])
        return np.maximum(self.tables[t][b:b + s + 1] * self.scale[t, i] - CAP_MARGIN, 0.0)

    def capacity(self, t: int, piles: np.ndarray) -> np.ndarray:
        """The model's capacity of ``piles[i]`` piles of type ``t`` in all at every site
        (clipped to the table)."""
        table = self.tables[t]
        n = np.clip(np.asarray(piles, dtype=np.int64), 0, table.size - 1)
        return np.maximum(table[n] * self.scale[t] - CAP_MARGIN, 0.0)

    def servers_for(self, t: int, load: np.ndarray, *, tol: float = 0.0) -> np.ndarray:
        """Fewest type-``t`` piles in all whose model capacity at each site reaches
        ``load[i] - tol`` (the table's length where none does)."""
        want = np.asarray(load, dtype=np.float64) - tol
        return np.where(want <= 0, 0,
                        np.searchsorted(self.tables[t], (want + CAP_MARGIN) / self.scale[t]))


def model_table(pt: PileType) -> np.ndarray:
    """``T_t(n) - CAP_MARGIN`` for ``n >= 0`` (at least 0, so no piles still serve 0):
    the model's table at a site with ``σ = 1``."""
    out = np.maximum(pt.table - CAP_MARGIN, 0.0)
    out.setflags(write=False)
    return out


def layout(pb: ChargerProblem) -> Layout:
    slots = pb.slots()
    base = np.vstack([pb.existing, np.zeros_like(pb.existing)])
    forbidden = np.zeros(pb.costs.n_sites, bool)
    forbidden[pb.forbidden] = True
    room = np.where(forbidden & (pb.existing == 0), 0, pb.max_piles - pb.existing)
    reach = np.flatnonzero(pb.costs.degree() > 0)
    row = np.full(pb.costs.n_clients, -1, np.int64)
    row[reach] = np.arange(reach.size)
    rank = np.arange(pb.costs.nnz) - pb.costs.indptr[pb.costs.client]
    return Layout(slots, base, room, pb.ratio(), pb.existing == 0, reach, row, rank,
                  tables=tuple(pt.table for pt in pb.pile_types),
                  scale=np.vstack([pb.capacity_scale(t) for t in range(2)]))


@dataclass(frozen=True)
class Scope:
    """What one round's model contains.

    ``pairs[s]``: indices (into ``problem.costs``) of the pairs with a flow variable
    in stage ``s``. ``far[s]``: per reach client, the cost (m) of its nearest pair left
    out of ``pairs[s]`` (NaN where none is), giving it a *far* flow that uses no
    station capacity: a relaxation of the left-out pairs. ``relax_piles``: continuous
    pile counts. ``fixed_open``: ``(stages, sites)`` open stations, fixed.
    ``fixed_piles``: ``(stages, 2, sites)`` whole new piles, fixed; each queue's load is
    then bounded by its exact Erlang-C capacity ``T_t(e + n)`` (less ``CAP_MARGIN``),
    so the model is an LP that is exact. ``flagged``: ``(stage, type, site)`` triples
    with the exact multiple-choice Erlang-C rows. ``cover[s]``: add stage ``s``'s cover rows.
    ``headroom_margin_kw``: keep this much of every substation's headroom free (so that
    continuous piles can be rounded up within it). ``sites``: ``(sites,)`` bool, the
    only sites that may open (a neighbourhood of a plan; existing and locked stations
    must be in it); ``None``: all. ``link_sites``: pairs linked per client (``x_ij <=
    d_j y_i`` for its nearest); ``None``: the problem's ``link_sites``.
    """

    pairs: tuple[np.ndarray, ...]
    far: tuple[np.ndarray, ...] | None = None
    relax_piles: bool = False
    fixed_open: np.ndarray | None = None
    fixed_piles: np.ndarray | None = None
    flagged: Flagged = frozenset()
    cover: tuple[bool, ...] = (True, True)
    headroom_margin_kw: float = 0.0
    sites: np.ndarray | None = None
    link_sites: int | None = None


# ------------------------------------------------------------------ model parts


def _add_stage_vars(b: ModelBuilder, pb: ChargerProblem, lay: Layout, scope: Scope, s: int
                    ) -> dict[str, VarBlock]:
    n = pb.costs.n_sites
    w = float(pb.stage_weight[s])
    tag = str(s + 1)
    lo = np.where(lay.new_site, 0.0, 1.0)
    if s == 0 and pb.locked.size:
        lo[pb.locked] = 1.0
    hi = np.maximum(np.where(lay.room > 0, 1.0, 0.0), lo)
    if scope.sites is not None:
        hi = np.where(scope.sites, hi, 0.0)
    if scope.fixed_open is not None:
        lo = hi = np.asarray(scope.fixed_open[s], dtype=float)
    v = {"open": b.add_vars(f"open{tag}", n, lb=lo, ub=hi, integer=True,
                            cost=w * pb.station_cost)}
    for t, pt in enumerate(pb.pile_types):
        plo, phi = (0.0, lay.slots[t]) if scope.fixed_piles is None else \
            (scope.fixed_piles[s, t], scope.fixed_piles[s, t])
        v[f"piles_{TYPES[t]}"] = b.add_vars(f"piles_{TYPES[t]}{tag}", n, lb=plo, ub=phi,
                                            integer=not scope.relax_piles,
                                            cost=w * pt.annual_capex_cny)
    d = pb.demand[s]
    pairs = scope.pairs[s]
    v["flow"] = b.add_vars(f"flow{tag}", pairs.size, ub=d[pb.costs.client[pairs]],
                           cost=w * pb.distance_cost * pb.costs.cost[pairs])
    if scope.far is not None:
        far = scope.far[s]
        has = np.isfinite(far)
        v["far"] = b.add_vars(f"far{tag}", lay.reach.size, ub=np.where(has, d[lay.reach], 0.0),
                              cost=w * pb.distance_cost * np.where(has, far, 0.0))
    v["unmet"] = b.add_vars(f"unmet{tag}", lay.reach.size, ub=d[lay.reach],
                            cost=w * pb.unmet_cost)
    for t in range(len(pb.pile_types)):
        most = lay.slots[t] if scope.fixed_piles is None else scope.fixed_piles[s, t]
        top = lay.capacity(t, lay.base[t] + most)
        v[f"load_{TYPES[t]}"] = b.add_vars(f"load_{TYPES[t]}{tag}", n, ub=top)
    v["short"] = b.add_vars(f"short{tag}", n, cost=w * pb.ratio_cost)
    return v


def _add_demand(b: ModelBuilder, pb: ChargerProblem, lay: Layout, scope: Scope,
                v: Mapping[str, VarBlock], s: int) -> None:
    """``Σ_i x_ij (+ far_j) + u_j = d_j`` for every reachable client."""
    m = lay.reach.size
    d = pb.demand[s][lay.reach]
    pairs = scope.pairs[s]
    rows = [lay.client_row[pb.costs.client[pairs]], np.arange(m)]
    cols = [v["flow"].index(), v["unmet"].index()]
    if "far" in v:
        rows.append(np.arange(m))
        cols.append(v["far"].index())
    r, c = np.concatenate(rows), np.concatenate(cols)
    b.add_rows(f"demand{s + 1}", rows=r, cols=c, vals=np.ones(r.size), lower=d, upper=d)


def _add_flow(b: ModelBuilder, pb: ChargerProblem, scope: Scope, v: Mapping[str, VarBlock],
              s: int) -> None:
    """``Σ_j x_ij - q_slow,i - q_fast,i = 0``."""
    n = pb.costs.n_sites
    pairs = scope.pairs[s]
    rows = np.r_[pb.costs.site[pairs], np.arange(n), np.arange(n)]
    cols = np.r_[v["flow"].index(), v["load_slow"].index(), v["load_fast"].index()]
    vals = np.r_[np.ones(pairs.size), -np.ones(2 * n)]
    b.add_rows(f"flow{s + 1}", rows=rows, cols=cols, vals=vals, lower=0.0, upper=0.0,
               n_rows=n)


def _add_cover(b: ModelBuilder, pb: ChargerProblem, lay: Layout, v: Mapping[str, VarBlock],
               s: int) -> None:
    """``Σ_{i near j} d_j y_i + u_j >= d_j`` over *all* pairs (the sum of pair linking)."""
    d = pb.demand[s]
    cl = pb.costs.client
    m = lay.reach.size
    b.add_rows(f"cover{s + 1}", rows=np.r_[lay.client_row[cl], np.arange(m)],
               cols=np.r_[v["open"].index(pb.costs.site), v["unmet"].index()],
               vals=np.r_[d[cl], np.ones(m)], lower=d[lay.reach], upper=np.inf)


def _add_reach(b: ModelBuilder, pb: ChargerProblem, v: Mapping[str, VarBlock]) -> None:
    """``Σ_{i near j} y_1i >= 1`` for every client with an allowed site (``reach_all``)."""
    c = pb.costs
    clients = pb.reach_clients()
    row = np.full(c.n_clients, -1, np.int64)
    row[clients] = np.arange(clients.size)
    keep = row[c.client] >= 0
    b.add_rows("reach1", rows=row[c.client[keep]], cols=v["open"].index(c.site[keep]),
               vals=np.ones(int(keep.sum())), lower=1.0, upper=np.inf, n_rows=clients.size)


def reachable_load(pb: ChargerProblem, scope: Scope, s: int) -> np.ndarray:
    """``D_si``: the most sessions/day site ``i`` can carry in stage ``s``, the demand of
    every client with a pair to it in ``scope`` (a queue's load never exceeds it)."""
    pairs = scope.pairs[s]
    c = pb.costs
    return np.bincount(c.site[pairs], weights=pb.demand[s][c.client[pairs]],
                       minlength=c.n_sites)


def _add_capacity_hull(b: ModelBuilder, pb: ChargerProblem, lay: Layout, scope: Scope,
                       v: Mapping[str, VarBlock], s: int) -> None:
    """Erlang-C capacity by its hull, in perspective with the open variable ``y_i``:
    ``q_ti <= slope_k n_ti + (h(start_k) - slope_k start_k) y_i`` per segment of the
    upper concave hull of ``h(n) = min(g(n), D_si)``, ``n = 0..slots``; and
    ``q_slow,i + q_fast,i <= D_si y_i``.

    Every plan has ``q_ti <= g(n_ti)`` and ``q_ti <= D_si`` (:func:`reachable_load`),
    and a closed site ``y_i = 0`` has ``n = q = 0``, so the rows are valid: at ``y = 1``
    they are the hull, at ``y = 0`` they force ``q = 0``.

    - Without the cap the hull is the chord from 0 to the most piles (the table is
      convex): every pile serves as much as one in the largest station, which on thin
      demand, where stations are small, undercounts the piles a station needs. With it,
      a site that can reach only ``D`` sessions is priced at the piles its own table
      needs for them.
    - Without the perspective a station half open (``y = 0.5``, half its cost) carries
      its full load; with it, at most ``D y``, as if all its pairs were linked, at one
      row per station.
    """
    rows, cols, vals = [], [], []
    r = 0
    reachable = reachable_load(pb, scope, s)
    y = v["open"]
    for t in range(2):
        q, npile = v[f"load_{TYPES[t]}"], v[f"piles_{TYPES[t]}"]
        for i in np.flatnonzero(lay.slots[t] > 0):
            g = lay.table(pb, t, int(i))
            if reachable[i] < g[-1]:  # capped by what the site can reach
                g = np.minimum(g, reachable[i])
                start, slope = upper_hull(g)
            else:
                key = (t, int(lay.base[t, i]), int(lay.slots[t, i]), float(lay.scale[t, i]))
                if key not in lay.hull:
                    lay.hull[key] = upper_hull(g)
                start, slope = lay.hull[key]
            k = start.size
            rr = np.arange(r, r + k)
            rows += [rr, rr, rr]
            cols += [np.full(k, q.start + i), np.full(k, npile.start + i),
                     np.full(k, y.start + i)]
            vals += [np.ones(k), -slope, -(g[start] - slope * start)]
            r += k
    if r:
        b.add_rows(f"capacity{s + 1}", rows=np.concatenate(rows), cols=np.concatenate(cols),
                   vals=np.concatenate(vals), lower=-np.inf, upper=0.0, n_rows=r)
    sites = np.flatnonzero(lay.room > 0)
    k = np.arange(sites.size)
    b.add_rows(f"reachable{s + 1}", rows=np.r_[k, k, k],
               cols=np.r_[v["load_slow"].index(sites), v["load_fast"].index(sites),
                          y.index(sites)],
               vals=np.r_[np.ones(2 * sites.size), -reachable[sites]], lower=-np.inf,
               upper=0.0, n_rows=sites.size)


def _add_exact(b: ModelBuilder, pb: ChargerProblem, lay: Layout, v: Mapping[str, VarBlock],
               s: int, triples: list[tuple[int, int]]) -> None:
    """Multiple-choice Erlang-C rows for the flagged ``(type, site)`` of stage ``s``:
    ``n = Σ_k k z_k``, ``Σ_k z_k <= 1``, ``q <= g(0) + Σ_k (g(k) - g(0)) z_k``."""
    if not triples:
        return
    tag = str(s + 1)
    sizes = np.array([lay.slots[t, i] for t, i in triples], dtype=np.int64)
    z = b.add_vars(f"size{tag}", int(sizes.sum()), ub=1.0, integer=True)
    ptr = np.r_[0, np.cumsum(sizes)]
    m = len(triples)
    r_one, c_one, r_n, c_n, v_n, r_q, c_q, v_q, rhs_q = ([] for _ in range(9))
    for k, (t, i) in enumerate(triples):
        g = lay.table(pb, t, i)
        zk = z.start + np.arange(ptr[k], ptr[k + 1])
        units = np.arange(1, sizes[k] + 1)
        r_one.append(np.full(units.size, k))
        c_one.append(zk)
        r_n.append(np.full(units.size + 1, k))
        c_n.append(np.r_[v[f"piles_{TYPES[t]}"].start + i, zk])
        v_n.append(np.r_[1.0, -units])
        r_q.append(np.full(units.size + 1, k))
        c_q.append(np.r_[v[f"load_{TYPES[t]}"].start + i, zk])
        v_q.append(np.r_[1.0, -(g[1:] - g[0])])
        rhs_q.append(g[0])
    b.add_rows(f"size_choice{tag}", rows=np.concatenate(r_one), cols=np.concatenate(c_one),
               vals=np.ones(int(sizes.sum())), lower=-np.inf, upper=1.0, n_rows=m)
    b.add_rows(f"size_piles{tag}", rows=np.concatenate(r_n), cols=np.concatenate(c_n),
               vals=np.concatenate(v_n), lower=0.0, upper=0.0, n_rows=m)
    b.add_rows(f"size_capacity{tag}", rows=np.concatenate(r_q), cols=np.concatenate(c_q),
               vals=np.concatenate(v_q), lower=-np.inf, upper=np.asarray(rhs_q), n_rows=m)


def _add_opening(b: ModelBuilder, pb: ChargerProblem, lay: Layout, v: Mapping[str, VarBlock],
                 s: int) -> None:
    """``y_i <= n_slow + n_fast <= room_i y_i`` (the lower one for new sites only)."""
    n = pb.costs.n_sites
    i = np.arange(n)
    tag = str(s + 1)
    b.add_rows(f"open_max{tag}", rows=np.r_[i, i, i],
               cols=np.r_[v["piles_slow"].index(), v["piles_fast"].index(), v["open"].index()],
               vals=np.r_[np.ones(2 * n), -lay.room.astype(float)], lower=-np.inf, upper=0.0,
               n_rows=n)
    new = np.flatnonzero(lay.new_site & (lay.room > 0))
    k = np.arange(new.size)
    b.add_rows(f"open_min{tag}", rows=np.r_[k, k, k],
               cols=np.r_[v["piles_slow"].index(new), v["piles_fast"].index(new),
                          v["open"].index(new)],
               vals=np.r_[np.ones(2 * new.size), -np.ones(new.size)], lower=0.0,
               upper=np.inf, n_rows=new.size)


def _add_linking(b: ModelBuilder, pb: ChargerProblem, lay: Layout, scope: Scope,
                 v: Mapping[str, VarBlock], s: int) -> None:
    """Pair linking ``x_ij <= d_j y_i`` for each client's ``link_sites`` nearest new sites
    (``scope.link_sites``, else the problem's): tightens the cover rows where most flow
    goes, at one row per linked pair."""
    pairs = scope.pairs[s]
    link = pb.link_sites if scope.link_sites is None else scope.link_sites
    if link <= 0:
        return
    keep = np.flatnonzero(lay.new_site[pb.costs.site[pairs]] & (lay.rank[pairs] < link))
    d = pb.demand[s][pb.costs.client[pairs[keep]]]
    k = np.arange(keep.size)
    b.add_rows(f"link{s + 1}", rows=np.r_[k, k],
               cols=np.r_[v["flow"].index(keep), v["open"].index(pb.costs.site[pairs[keep]])],
               vals=np.r_[np.ones(keep.size), -d], lower=-np.inf, upper=0.0, n_rows=keep.size)


def _add_ratio(b: ModelBuilder, pb: ChargerProblem, lay: Layout, v: Mapping[str, VarBlock],
               s: int) -> None:
    """``n_slow + n_fast + r - κ (q_slow + q_fast) >= -e``."""
    n = pb.costs.n_sites
    kap = float(lay.kappa[s])
    i = np.arange(n)
    b.add_rows(f"ratio{s + 1}", rows=np.r_[i, i, i, i, i],
               cols=np.r_[v["piles_slow"].index(), v["piles_fast"].index(), v["short"].index(),
                          v["load_slow"].index(), v["load_fast"].index()],
               vals=np.r_[np.ones(3 * n), -kap * np.ones(2 * n)],
               lower=-pb.existing.astype(float), upper=np.inf)


def _add_totals(b: ModelBuilder, pb: ChargerProblem, scope: Scope,
                v: Mapping[str, VarBlock], s: int) -> None:
    """Pile target, fast share, substation headroom (and district minimums in stage 1)."""
    n = pb.costs.n_sites
    tag = str(s + 1)
    target = float(pb.piles[s])
    both = np.r_[v["piles_slow"].index(), v["piles_fast"].index()]
    b.add_rows(f"target{tag}", rows=np.zeros(2 * n), cols=both, vals=np.ones(2 * n),
               lower=target, upper=target if pb.rule == "exact" else np.inf, n_rows=1)
    if pb.fast_share_min > 0 and pb.rule == "exact":
        # the total is the target, so the share is a count of whole piles
        b.add_rows(f"fast_share{tag}", rows=np.zeros(n), cols=v["piles_fast"].index(),
                   vals=np.ones(n), lower=float(math.ceil(pb.fast_share_min * target - 1e-9)),
                   upper=np.inf, n_rows=1)
    elif pb.fast_share_min > 0:
        phi = pb.fast_share_min
        b.add_rows(f"fast_share{tag}", rows=np.zeros(2 * n), cols=both,
                   vals=np.r_[-phi * np.ones(n), (1 - phi) * np.ones(n)], lower=0.0,
                   upper=np.inf, n_rows=1)
    if pb.headroom_kw.size:
        add_headroom(b, pb, v["piles_slow"], v["piles_fast"], f"headroom{tag}",
                     np.maximum(pb.headroom_kw[s] - scope.headroom_margin_kw, 0.0))
    if s == 0:
        add_district_min(b, pb, v["piles_slow"], v["piles_fast"], "district_min")


def add_headroom(b: ModelBuilder, pb: ChargerProblem, slow: VarBlock, fast: VarBlock,
                 name: str, room_kw: np.ndarray) -> None:
    """Rows ``sum over a substation's sites of kW x piles <= room_kw`` (one per
    substation; sites with no substation are left out)."""
    has = np.flatnonzero(pb.substation >= 0)
    if not has.size:
        return
    sub = pb.substation[has]
    b.add_rows(name, rows=np.r_[sub, sub], cols=np.r_[slow.index(has), fast.index(has)],
               vals=np.r_[np.full(has.size, pb.slow.kw), np.full(has.size, pb.fast.kw)],
               lower=-np.inf, upper=room_kw, n_rows=room_kw.size)


def add_district_min(b: ModelBuilder, pb: ChargerProblem, slow: VarBlock, fast: VarBlock,
                     name: str) -> None:
    """Rows ``piles in a district >= its minimum`` for every district with one."""
    if not np.any(pb.district_min > 0):
        return
    dist = np.flatnonzero(pb.district_min > 0)
    pos = np.full(len(pb.district_names), -1, np.int64)
    pos[dist] = np.arange(dist.size)
    members = np.flatnonzero(np.isin(pb.district, dist))
    rows = pos[pb.district[members]]
    b.add_rows(name, rows=np.r_[rows, rows], cols=np.r_[slow.index(members), fast.index(members)],
               vals=np.ones(2 * members.size), lower=pb.district_min[dist], upper=np.inf,
               n_rows=dist.size)


def _add_staging(b: ModelBuilder, v1: Mapping[str, VarBlock], v2: Mapping[str, VarBlock]
                 ) -> None:
    """Stage 2 keeps every stage-1 station and pile: ``y2 >= y1``, ``n2 >= n1``."""
    for key in ("open", "piles_slow", "piles_fast"):
        size = v1[key].size
        k = np.arange(size)
        b.add_rows(f"keep_{key}", rows=np.r_[k, k], cols=np.r_[v2[key].index(), v1[key].index()],
                   vals=np.r_[np.ones(size), -np.ones(size)], lower=0.0, upper=np.inf,
                   n_rows=size)


def build_model(pb: ChargerProblem, lay: Layout, scope: Scope,
                extra: ExtraConstraints | None = None) -> LinearModel:
    """The MILP of one round (see :class:`~siting.chargers.problem.ChargerProblem`)."""
    b = ModelBuilder(pb.name)
    stages = [_add_stage_vars(b, pb, lay, scope, s) for s in range(pb.n_stages)]
    for s, v in enumerate(stages):
        _add_demand(b, pb, lay, scope, v, s)
        _add_flow(b, pb, scope, v, s)
        _add_capacity_hull(b, pb, lay, scope, v, s)
        _add_opening(b, pb, lay, v, s)
        if scope.cover[s] and scope.fixed_open is None:
            _add_cover(b, pb, lay, v, s)
        if s == 0 and pb.reach_all and scope.fixed_open is None:
            _add_reach(b, pb, v)
        if scope.fixed_open is None:
            _add_linking(b, pb, lay, scope, v, s)
        if pb.ratio_cost > 0:
            _add_ratio(b, pb, lay, v, s)
        _add_totals(b, pb, scope, v, s)
        _add_exact(b, pb, lay, v, s, sorted((t, i) for st, t, i in scope.flagged if st == s))
    if pb.n_stages == 2:
        _add_staging(b, stages[0], stages[1])
    if extra is not None:
        extra(b, b.vars)
    model = b.build()
    if scope.relax_piles:
        integer = model.integer.copy()
        for v in stages:
            for key in ("piles_slow", "piles_fast"):
                integer[v[key].slice] = False
        integer.setflags(write=False)
        model = replace(model, integer=integer)
    return model
