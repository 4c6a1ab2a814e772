"""Why a charging plan cannot exist: checks with numbers, before and after solving.

Demand never makes the charger model infeasible (sessions can go unmet at a
penalty); only the pile side can: the pile target against the candidates' room, the
fast-pile share, grid headroom, district minimums and locked stations. Each is first
checked on its own in closed form, giving messages like::

    chargers: district Gaoqing needs >= 5,000 new piles (district_min_piles) but its
    112 allowed candidate sites hold at most 3,486 (shortfall 1,514 piles); ...

Combinations (e.g. a district minimum that fits the district's sites but not their
substations' headroom) are caught by a small LP over pile counts only, with a slack on
every constraint group; a positive optimum names the groups that cannot all hold and
by how much. Integrality is relaxed there, so the LP is a necessary condition.

Since demand cannot make the model infeasible, the same slack model in whole piles (a
small MIP over pile counts only, :func:`whole_piles`) decides whether any plan exists:
after a solver proves infeasibility, or when the relaxation-based solve finds no plan
although time is left, it names the group that whole piles cannot meet, e.g. one
substation's headroom 1 kW short of three fast and three slow piles that the fast share
and an exact target force onto it.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from siting.errors import InfeasibleError
from siting.models.base import SolverOptions, Status
from siting.models.builder import LinearModel, ModelBuilder
from siting.models.solvers import run_solver

if TYPE_CHECKING:
    from siting.chargers.problem import ChargerProblem

logger = logging.getLogger(__name__)

__all__ = ["diagnose_infeasible", "diagnose_piles", "diagnose_reach", "whole_piles"]

_TOL = 1e-6


def _stage(pb: ChargerProblem, s: int) -> str:
    return "stage 1" if pb.n_stages == 1 else ("stage 1 (2025)", "stage 2 (2030)")[s]


def _fail(pb: ChargerProblem, message: str, *, constraint: str, shortfall: float) -> None:
    raise InfeasibleError(f"{pb.name}: {message}", constraint=constraint,
                          shortfall=float(shortfall))


def _site_room(pb: ChargerProblem, slots: np.ndarray) -> np.ndarray:
    """New piles each site can take in total (both types share its room)."""
    return np.minimum(slots.sum(axis=0), slots.max(axis=0))


def _headroom_max(pb: ChargerProblem, slots: np.ndarray, s: int, *, fast_only: bool) -> float:
    """Most new piles (or fast piles) the sites can take within every substation's
    headroom: slow piles first (less kW each), on slow-only sites first, then fast piles
    in the room left at sites that take them; exact for counting piles."""
    kw_s, kw_f = pb.slow.kw, pb.fast.kw
    room = _site_room(pb, slots)
    slow_ok, fast_ok = slots[0] > 0, slots[1] > 0
    free = pb.substation < 0
    total = float(room[free & fast_ok].sum() if fast_only else room[free].sum())
    for b in range(pb.headroom_kw.shape[1]):
        at = pb.substation == b
        if not at.any():
            continue
        h = float(pb.headroom_kw[s, b])
        if fast_only:
            total += min(float(room[at & fast_ok].sum()), math.floor(h / kw_f + _TOL))
            continue
        if kw_s > kw_f:  # fast piles are the cheaper ones in kW: count them first
            total += _count(float(room[at & fast_ok & ~slow_ok].sum()),
                            float(room[at & fast_ok & slow_ok].sum()),
                            float(room[at & slow_ok & ~fast_ok].sum()), kw_f, kw_s, h)
        else:
            total += _count(float(room[at & slow_ok & ~fast_ok].sum()),
                            float(room[at & slow_ok & fast_ok].sum()),
                            float(room[at & fast_ok & ~slow_ok].sum()), kw_s, kw_f, h)
    return total


def _count(own: float, both: float, other: float, kw_cheap: float, kw_dear: float,
           headroom: float) -> float:
    """Most piles within ``headroom``: cheap ones on their own sites, then on shared
    sites, then dear ones in the room left."""
    cheap = min(own + both, math.floor(headroom / kw_cheap + _TOL))
    left_both = both - max(0.0, cheap - own)
    dear = min(other + left_both, math.floor((headroom - cheap * kw_cheap) / kw_dear + _TOL))
    return cheap + max(dear, 0.0)


def diagnose_piles(pb: ChargerProblem) -> None:
    """Raise :class:`InfeasibleError` when the pile-side constraints cannot all hold."""
    both = np.intersect1d(pb.locked, pb.forbidden)
    if both.size:
        names = [pb.site_names[i] for i in both[:5]]
        _fail(pb, f"sites {names} are both approved (locked) and rejected (forbidden); keep "
                  f"one decision per site", constraint="decisions", shortfall=both.size)
    slots = pb.slots()
    site_room = _site_room(pb, slots)
    n_sites = int((site_room > 0).sum())
    for s in range(pb.n_stages):
        target = int(pb.piles[s])
        room = int(site_room.sum())
        if room < target:
            _fail(pb, f"{_stage(pb, s)} needs {target:,} new piles but the {n_sites:,} "
                      f"allowed candidate sites hold at most {room:,} (shortfall "
                      f"{target - room:,} piles); add candidate sites, raise their max_piles "
                      f"or lower the target", constraint="piles_target",
                  shortfall=target - room)
        fast_need = math.ceil(pb.fast_share_min * target - _TOL)
        fast_room = int(site_room[slots[1] > 0].sum())
        if fast_room < fast_need:
            _fail(pb, f"{_stage(pb, s)} needs >= {fast_need:,} fast piles (fast_share_min "
                      f"{pb.fast_share_min:g}) but the sites that take fast piles hold at most "
                      f"{fast_room:,} (shortfall {fast_need - fast_room:,})",
                  constraint="fast_share", shortfall=fast_need - fast_room)
        if pb.headroom_kw.size:
            cap = _headroom_max(pb, slots, s, fast_only=False)
            if cap + _TOL < target:
                _fail(pb, f"{_stage(pb, s)} needs {target:,} new piles but substation "
                          f"headroom ({pb.headroom_kw[s].sum() / 1000:,.1f} MW over "
                          f"{pb.headroom_kw.shape[1]} substations) powers at most {cap:,.0f} "
                          f"(shortfall {target - cap:,.0f} piles); raise "
                          f"substation_headroom_mw or lower the target",
                      constraint="headroom", shortfall=target - cap)
            fcap = _headroom_max(pb, slots, s, fast_only=True)
            if fcap + _TOL < fast_need:
                _fail(pb, f"{_stage(pb, s)} needs >= {fast_need:,} fast piles but substation "
                          f"headroom powers at most {fcap:,.0f} at {pb.fast.kw:g} kW each "
                          f"(shortfall {fast_need - fcap:,.0f})", constraint="headroom",
                      shortfall=fast_need - fcap)
    for k, need in enumerate(pb.district_min):
        if need <= 0:
            continue
        at = pb.district == k
        room = int(site_room[at].sum())
        if room < need:
            _fail(pb, f"district {pb.district_names[k]} needs >= {need:,.0f} new piles "
                      f"(district_min_piles) but its {int((site_room[at] > 0).sum())} "
                      f"allowed candidate sites hold at most {room:,} (shortfall "
                      f"{need - room:,.0f} piles); lower the minimum or add sites",
                  constraint="district_min", shortfall=need - room)
    if pb.rule == "exact":
        total_min = float(pb.district_min.sum())
        if total_min > pb.piles[0] + _TOL:
            excess = total_min - pb.piles[0]
            _fail(pb, f"district minimums add up to {total_min:,.0f} piles, more than the "
                      f"exact target of {int(pb.piles[0]):,} (excess {excess:,.0f}); lower "
                      f"them or use piles_rule = 'at_least'",
                  constraint="district_min", shortfall=total_min - pb.piles[0])
        new_locked = int(np.sum(pb.existing[pb.locked] == 0))
        if new_locked > pb.piles[0]:
            _fail(pb, f"{new_locked:,} approved (locked) new stations need at least one pile "
                      f"each but the exact target is {int(pb.piles[0]):,}",
                  constraint="locked", shortfall=new_locked - pb.piles[0])
    _slack_check(pb, slots, integer=False, time_limit_s=60.0)


def _slack_model(pb: ChargerProblem, slots: np.ndarray, *, integer: bool
                 ) -> tuple[LinearModel, list[tuple[str, str, np.ndarray, list[str]]]]:
    """Pile counts only (whole with ``integer``), a slack on every constraint group
    priced per pile (per slow pile's kW for headroom); returns the model and the groups
    ``(constraint, slack block, rows, labels)``."""
    b = ModelBuilder(f"{pb.name} pile diagnosis")
    n = pb.costs.n_sites
    site_room = _site_room(pb, slots)
    groups: list[tuple[str, str, np.ndarray, list[str]]] = []  # (constraint, var, idx, labels)
    kw = np.array([pb.slow.kw, pb.fast.kw])
    prev = None
    for s in range(pb.n_stages):
        v = [b.add_vars(f"n{t}_{s}", n, ub=slots[t], integer=integer)
             for t in range(2)]
        allv = np.r_[v[0].index(), v[1].index()]
        i = np.arange(n)
        b.add_rows(f"room_{s}", rows=np.r_[i, i], cols=allv, vals=np.ones(2 * n),
                   lower=-np.inf, upper=site_room.astype(float), n_rows=n)
        under = b.add_vars(f"target_under_{s}", 1, cost=1.0)
        groups.append(("piles_target", under.name, np.zeros(1, int),
                       [f"{_stage(pb, s)} pile target {int(pb.piles[s]):,}"]))
        cols, vals = np.r_[allv, under.index()], np.r_[np.ones(2 * n), 1.0]
        if pb.rule == "exact":
            over = b.add_vars(f"target_over_{s}", 1, cost=1.0)
            groups.append(("piles_target", over.name, np.zeros(1, int),
                           [f"{_stage(pb, s)} exact pile target {int(pb.piles[s]):,} "
                            f"(exceeded by minimums or locks)"]))
            cols, vals = np.r_[cols, over.index()], np.r_[vals, -1.0]
        hi = float(pb.piles[s]) if pb.rule == "exact" else np.inf
        b.add_rows(f"target_{s}", rows=np.zeros(cols.size), cols=cols, vals=vals,
                   lower=float(pb.piles[s]), upper=hi, n_rows=1)
        if pb.fast_share_min > 0:
            sl = b.add_vars(f"fast_{s}", 1, cost=1.0)
            groups.append(("fast_share", sl.name, np.zeros(1, int),
                           [f"{_stage(pb, s)} fast share {pb.fast_share_min:g}"]))
            phi = pb.fast_share_min
            b.add_rows(f"fast_{s}", rows=np.zeros(2 * n + 1), cols=np.r_[allv, sl.index()],
                       vals=np.r_[-phi * np.ones(n), (1 - phi) * np.ones(n), 1.0], lower=0.0,
                       upper=np.inf, n_rows=1)
        has = np.flatnonzero(pb.substation >= 0)
        if has.size and pb.headroom_kw.size:
            m = pb.headroom_kw.shape[1]
            sl = b.add_vars(f"headroom_{s}", m, cost=1.0 / kw.min())
            groups.append(("headroom", sl.name, np.arange(m),
                           [f"{_stage(pb, s)} substation {k} headroom "
                            f"{pb.headroom_kw[s, k] / 1000:g} MW" for k in range(m)]))
            sub = pb.substation[has]
            b.add_rows(f"headroom_{s}", rows=np.r_[sub, sub, np.arange(m)],
                       cols=np.r_[v[0].index(has), v[1].index(has), sl.index()],
                       vals=np.r_[np.full(has.size, kw[0]), np.full(has.size, kw[1]),
                                  -np.ones(m)], lower=-np.inf, upper=pb.headroom_kw[s],
                       n_rows=m)
        if s == 0:
            dist = np.flatnonzero(pb.district_min > 0)
            if dist.size:
                sl = b.add_vars("district", dist.size, cost=1.0)
                groups.append(("district_min", sl.name, np.arange(dist.size),
                               [f"district {pb.district_names[k]} minimum "
                                f"{pb.district_min[k]:,.0f}" for k in dist]))
                pos = {int(k): r for r, k in enumerate(dist)}
                mem = np.flatnonzero(np.isin(pb.district, dist))
                rows = np.array([pos[int(pb.district[i])] for i in mem], dtype=np.int64)
                b.add_rows("district", rows=np.r_[rows, rows, np.arange(dist.size)],
                           cols=np.r_[v[0].index(mem), v[1].index(mem), sl.index()],
                           vals=np.ones(2 * mem.size + dist.size),
                           lower=pb.district_min[dist], upper=np.inf)
            lk = pb.locked[pb.existing[pb.locked] == 0]
            if lk.size:
                sl = b.add_vars("locked", lk.size, cost=1.0)
                groups.append(("locked", sl.name, np.arange(lk.size),
                               [f"approved site {pb.site_names[i]}" for i in lk]))
                k = np.arange(lk.size)
                b.add_rows("locked", rows=np.r_[k, k, k],
                           cols=np.r_[v[0].index(lk), v[1].index(lk), sl.index()],
                           vals=np.ones(3 * lk.size), lower=1.0, upper=np.inf,
                           n_rows=lk.size)
        if prev is not None:
            for t in range(2):
                k = np.arange(n)
                b.add_rows(f"keep{t}", rows=np.r_[k, k], cols=np.r_[v[t].index(), prev[t].index()],
                           vals=np.r_[np.ones(n), -np.ones(n)], lower=0.0, upper=np.inf,
                           n_rows=n)
        prev = v
    return b.build(), groups


def _slack_check(pb: ChargerProblem, slots: np.ndarray, *, integer: bool,
                 time_limit_s: float | None) -> np.ndarray | None:
    """Solve :func:`_slack_model`; raise :class:`InfeasibleError` naming the groups that
    cannot all hold when the least total slack is proven positive. Returns the
    ``(stages, 2, sites)`` pile counts found when every group holds, ``None`` when the
    solve ended (time limit) without settling the question."""
    model, groups = _slack_model(pb, slots, integer=integer)
    opts = SolverOptions(name="highs", mip_gap=0.0)
    raw = run_solver(model, opts, relax=not integer, time_limit_s=time_limit_s)
    if raw.x is not None and raw.objective <= _TOL:
        values = model.values(raw.x)
        piles = np.stack([np.stack([values[f"n{t}_{s}"] for t in range(2)])
                          for s in range(pb.n_stages)])
        return np.rint(piles).astype(np.int64) if integer else piles
    proven = raw.status is Status.OPTIMAL or (math.isfinite(raw.bound) and raw.bound > _TOL)
    if raw.x is None or not proven:
        return None
    values = model.values(raw.x)
    found = []
    worst = ("", 0.0)
    for constraint, var, idx, labels in groups:
        for hit in np.flatnonzero(values[var][idx] > _TOL):
            amount = float(values[var][idx][hit])
            unit = "kW" if constraint == "headroom" else "piles"
            found.append(f"{labels[int(hit)]}: short by {amount:,.1f} {unit}")
            if amount > worst[1]:
                worst = (constraint, amount)
    body = "; ".join(found[:8]) + (f"; and {len(found) - 8} more" if len(found) > 8 else "")
    how = ("in whole piles (fractional piles would just fit)" if integer
           else "(even with fractional piles)")
    _fail(pb, f"the pile targets cannot all hold together {how}: {body}; relax one of them",
          constraint=worst[0] or "piles", shortfall=worst[1])
    return None  # pragma: no cover - _fail raises


def whole_piles(pb: ChargerProblem, *, time_limit_s: float | None = None) -> np.ndarray | None:
    """Whole new piles ``(stages, 2, sites)`` that meet every pile-side constraint, or
    :class:`InfeasibleError` naming the one that cannot hold and by how much.

    Demand never makes the charger model infeasible, so these constraints alone decide
    whether a plan exists: :func:`diagnose_piles` (closed form, then fractional piles),
    then the same slack model in whole piles, a small MIP over pile counts only.
    Returns ``None`` when that MIP ends at ``time_limit_s`` without an answer.
    """
    diagnose_piles(pb)
    return _slack_check(pb, pb.slots(), integer=True, time_limit_s=time_limit_s)


def diagnose_reach(pb: ChargerProblem) -> None:
    """With ``reach_all``: every covered demand point needs a site within reach that can
    open in the first stage, i.e. an existing station, or a site that can take one pile
    within its substation's first-stage headroom. Raises :class:`InfeasibleError` naming
    how many points have none and the substations at fault; returns otherwise (a
    necessary condition only: the points may still compete for the same headroom)."""
    if not pb.reach_all or pb.headroom_kw.size == 0:
        return
    c = pb.costs
    slots = pb.slots()
    kw = np.minimum(np.where(slots[0] > 0, pb.slow.kw, np.inf),
                    np.where(slots[1] > 0, pb.fast.kw, np.inf))  # its lightest pile
    sub = pb.substation
    head = np.where(sub >= 0, pb.headroom_kw[0][np.maximum(sub, 0)], np.inf)
    openable = (pb.existing > 0) | (head >= kw - 1e-6)
    clients = pb.reach_clients()
    ok = np.bincount(c.client, weights=openable[c.site].astype(float),
                     minlength=c.n_clients) > 0
    bad = clients[~ok[clients]]
    if not bad.size:
        return
    near = np.isin(c.client, bad)
    full = sorted({int(k) for k in sub[c.site[near]] if k >= 0})
    where = ", ".join(f"substation {k} ({max(float(pb.headroom_kw[0][k]), 0.0):,.1f} kW left)"
                      for k in full[:5])
    _fail(pb, f"{bad.size} demand point(s) must have an open station within reach in the "
              f"first stage (the reach rule, chargers.reach_fill), but every candidate within "
              f"reach of them draws on a substation without headroom for one pile: {where}"
              f"{' ...' if len(full) > 5 else ''}; raise those substations' headroom, lower "
              f"what is held on them before the plan (other planners' loads, reservations), "
              f"or add candidates that other substations feed",
          constraint="reach", shortfall=float(bad.size))


def diagnose_infeasible(pb: ChargerProblem, *, time_limit_s: float | None = None) -> None:
    """After a solver proved the model infeasible: name the constraint and the shortfall
    (:func:`diagnose_reach`, then :func:`whole_piles`). Always raises
    :class:`InfeasibleError`."""
    diagnose_reach(pb)
    found = whole_piles(pb, time_limit_s=time_limit_s)
    if found is None:
        raise InfeasibleError(
            f"{pb.name}: the solver proved the model infeasible although every pile-side "
            f"constraint holds on its own and together with fractional piles, and whole "
            f"piles could not be checked in time; the conflict is probably in whole piles "
            f"(e.g. a district minimum or headroom that fractional piles just meet): relax "
            f"the tightest minimum or headroom slightly", constraint="integrality")
    raise InfeasibleError(
        f"{pb.name}: the solver proved the model infeasible although whole piles meet "
        f"every pile-side constraint ({int(found[-1].sum()):,} new piles in the last "
        f"stage), so the conflict is in the rows of extra_constraints (without any, the "
        f"solver's proof is a numerical error: report it)", constraint="extra_constraints")
