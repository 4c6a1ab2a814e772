"""Whole piles from continuous ones, meeting every pile-side constraint exactly.

Used by :mod:`siting.chargers.solve` at fixed stations: the LP there gives continuous
pile counts; :func:`round_piles` turns them into whole piles that still meet the pile
targets, the fast share, substation headroom, district minimums, each site's room, a
first pile at every open new station and the staging rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from siting.chargers.build import Layout, add_district_min, add_headroom
from siting.chargers.problem import ChargerProblem
from siting.models.builder import ModelBuilder, VarBlock
from siting.models.solvers import RawSolution

logger = logging.getLogger(__name__)

__all__ = ["Plan", "round_greedy", "round_piles"]

#: load (sessions/day) a queue may carry above its table (numerical tolerance)
CAP_TOL = 1e-6


class Plan(Protocol):
    """What rounding reads of a plan: ``(stages, sites)`` open stations and
    ``(stages, 2, sites)`` continuous piles and loads."""

    open: np.ndarray
    piles: np.ndarray
    load: np.ndarray


SolveFn = Callable[..., RawSolution]


class _StageRounding:
    """Floor-and-fill rounding of one stage's piles (see :func:`round_greedy`)."""

    def __init__(self, pb: ChargerProblem, lay: Layout, plan: Plan, s: int,
                 lo: np.ndarray) -> None:
        self.pb, self.lay, self.s = pb, lay, s
        n = pb.costs.n_sites
        self.is_open = plan.open[s]
        self.cont = np.where(self.is_open[None, :], plan.piles[s], 0.0)
        self.lo = lo
        self.cap = np.where(self.is_open[None, :], lay.slots, 0)
        cur = np.maximum(np.floor(self.cont + 1e-6).astype(np.int64), lo)
        self.cur = np.maximum(np.minimum(cur, self.cap), lo)
        self.kw = np.array([pb.slow.kw, pb.fast.kw])
        self.has_sub = pb.substation >= 0
        self.room = np.zeros(0)
        if pb.headroom_kw.size:
            used = np.bincount(pb.substation[self.has_sub], minlength=pb.headroom_kw.shape[1],
                               weights=(self.kw[:, None] * self.cur)[:, self.has_sub].sum(axis=0))
            self.room = pb.headroom_kw[s] - used
        self.need = np.stack([
            np.clip(lay.servers_for(t, plan.load[s, t], tol=CAP_TOL)
                    - lay.base[t], 0, self.cap[t]) for t in (0, 1)])
        self.sites = np.arange(n)

    def headroom_ok(self, t: int) -> np.ndarray:
        ok = np.ones(self.sites.size, bool)
        if self.room.size:
            ok[self.has_sub] = self.room[self.pb.substation[self.has_sub]] >= self.kw[t] - 1e-9
        return ok

    def addable(self, t: int) -> np.ndarray:
        return (self.cur[t] < self.cap[t]) & (self.cur.sum(axis=0) < self.lay.room) & \
            self.headroom_ok(t)

    def step(self, t: int, i: int, delta: int) -> None:
        self.cur[t, i] += delta
        if self.room.size and self.has_sub[i]:
            self.room[self.pb.substation[i]] -= delta * self.kw[t]

    def fill(self, count: int, mask: np.ndarray | None, types: tuple[int, ...]) -> bool:
        """Add ``count`` piles of ``types`` where the remainder is largest."""
        for _ in range(max(count, 0)):
            best, where = -np.inf, (0, 0)
            for t in types:
                ok = self.addable(t) if mask is None else self.addable(t) & mask
                if ok.any():
                    frac = np.where(ok, self.cont[t] - self.cur[t], -np.inf)
                    i = int(np.argmax(frac))
                    if frac[i] > best:
                        best, where = frac[i], (t, i)
            if best == -np.inf:
                return False
            self.step(*where, 1)
        return True

    def trim(self, count: int, fast_min: int) -> bool:
        """Remove ``count`` piles where the count is most above its remainder, keeping
        previous-stage piles, Erlang-C needs, a first pile and the fast minimum."""
        pb = self.pb
        for _ in range(max(count, 0)):
            best, where = -np.inf, (0, 0)
            site_total = self.cur.sum(axis=0)
            for t in (0, 1):
                if t == 1 and self.cur[1].sum() <= fast_min:
                    continue
                ok = (self.cur[t] > self.lo[t]) & (self.cur[t] > self.need[t])
                ok &= ~(self.lay.new_site & self.is_open & (site_total <= 1))
                if self.s == 0 and np.any(pb.district_min > 0):
                    k = pb.district
                    tot = np.bincount(k[k >= 0], weights=site_total[k >= 0],
                                      minlength=pb.district_min.size)
                    tight = np.zeros(self.sites.size, bool)
                    tight[k >= 0] = tot[k[k >= 0]] <= pb.district_min[k[k >= 0]]
                    ok &= ~tight
                if ok.any():
                    over = np.where(ok, self.cur[t] - self.cont[t], -np.inf)
                    i = int(np.argmax(over))
                    if over[i] > best:
                        best, where = over[i], (t, i)
            if best == -np.inf:
                return False
            self.step(*where, -1)
        return True

    def relieve(self) -> bool:
        """Bring every substation back within its headroom by removing piles above the
        previous stage's (most over-rounded first), keeping a first pile at every open
        new station. Needed in later stages: the previous stage's rounded-up piles can
        exceed this stage's continuous ones by more than the margin the LP kept free."""
        for b in np.flatnonzero(self.room < -1e-6):
            member = self.has_sub & (self.pb.substation == b)
            while self.room[b] < -1e-6:
                keeps_one = ~(self.lay.new_site & self.is_open & (self.cur.sum(axis=0) <= 1))
                over = np.where(member[None, :] & (self.cur > self.lo) & keeps_one[None, :],
                                self.cur - self.cont, -np.inf)
                t, i = np.unravel_index(int(np.argmax(over)), over.shape)
                if over[t, i] == -np.inf:
                    return False
                self.step(int(t), int(i), -1)
        return True

    def fit_rooms(self) -> bool:
        """Bring every site within its room: the floors of each type's continuous piles,
        raised to the previous stage's, can add up to more than the site holds (say 10
        slow and 10 fast piles in stage 1, 15 and 5 continuous in stage 2, room 20).
        Removes piles above the previous stage's, most over-rounded first."""
        for i in np.flatnonzero(self.cur.sum(axis=0) > self.lay.room):
            while self.cur[:, i].sum() > self.lay.room[i]:
                over = np.where(self.cur[:, i] > self.lo[:, i],
                                self.cur[:, i] - self.cont[:, i], -np.inf)
                t = int(np.argmax(over))
                if over[t] == -np.inf:
                    return False
                self.step(t, int(i), -1)
        return True

    def run(self) -> np.ndarray | None:
        pb, lay, s = self.pb, self.lay, self.s
        n = self.sites.size
        if not self.fit_rooms():
            return None
        if self.room.size and np.any(self.room < -1e-6) and not self.relieve():
            return None
        for i in np.flatnonzero(self.is_open & lay.new_site & (self.cur.sum(axis=0) == 0)):
            if not self.fill(1, self.sites == i, (0, 1)):
                return None
        target = int(pb.piles[s])
        fast_min = math.ceil(pb.fast_share_min * target - 1e-9)
        if not self.fill(fast_min - int(self.cur[1].sum()), None, (1,)):
            return None
        if s == 0:
            for k in np.flatnonzero(pb.district_min > 0):
                member = pb.district == k
                if not self.fill(int(pb.district_min[k] - self.cur[:, member].sum()), member,
                                 (0, 1)):
                    return None
        # Erlang-C needs, as far as the target allows
        for t in (0, 1):
            for i in np.flatnonzero(self.need[t] > self.cur[t]):
                room_left = target - int(self.cur.sum())
                if pb.rule == "exact" and room_left <= 0:
                    break
                self.fill(min(int(self.need[t, i] - self.cur[t, i]), max(room_left, 0))
                          if pb.rule == "exact" else int(self.need[t, i] - self.cur[t, i]),
                          self.sites == i, (t,))
        total = int(self.cur.sum())
        if total < target and not self.fill(target - total, None, (0, 1)):
            return None
        if pb.rule == "exact" and int(self.cur.sum()) > target and \
                not self.trim(int(self.cur.sum()) - target, fast_min):
            return None
        if self.cur[1].sum() < fast_min or (pb.rule == "exact" and self.cur.sum() != target):
            return None
        assert self.cur.shape == (2, n)
        return self.cur


def round_greedy(pb: ChargerProblem, lay: Layout, plan: Plan) -> np.ndarray | None:
    """Whole piles from ``plan``'s continuous ones by floor-and-fill, stage by stage.

    Start from the floors (at least the previous stage's piles; where those overfill a
    substation, piles above the previous stage's are taken off there), then add single piles
    where the continuous count has the largest remainder, in this order: a first pile
    at every open new station, the fast share, the district minimums, the piles each
    queue's load needs under the Erlang-C table, and the pile target (trimming the
    most over-rounded counts if the needs overshoot an exact target). Every addition
    respects the site's room and its substation's headroom. Returns ``None`` when a
    requirement cannot be met this way.
    """
    S, n = pb.n_stages, pb.costs.n_sites
    out = np.zeros((S, 2, n), np.int64)
    for s in range(S):
        lo = out[s - 1] if s > 0 else np.zeros((2, n), np.int64)
        cur = _StageRounding(pb, lay, plan, s, lo).run()
        if cur is None:
            return None
        out[s] = cur
    return out


def round_piles(pb: ChargerProblem, lay: Layout, plan: Plan, solve: SolveFn, *,
                time_limit_s: float | None = None) -> np.ndarray | None:
    """Whole piles near ``plan``'s continuous ones, meeting every pile constraint.

    Floor-and-fill first (:func:`round_greedy`); where that cannot meet a requirement
    (typically the fast share under tight headroom, which needs slow piles swapped for
    fast ones), a small MILP over pile counts only: the targets, fast share, headroom,
    district minimums, per-site room, at least one pile per open new station and
    staging hold exactly, and the counts stay as close to the continuous ones as
    possible (L1). The Erlang-C capacities of the whole piles are applied afterwards,
    in the last LP.
    """
    quick = round_greedy(pb, lay, plan)
    if quick is not None:
        return quick
    logger.info("%s: floor-and-fill rounding failed; rounding piles by MILP", pb.name)
    S, n = pb.n_stages, pb.costs.n_sites
    b = ModelBuilder(f"{pb.name} pile rounding")
    blocks: list[list[VarBlock]] = []
    i = np.arange(n)
    for s in range(S):
        open_s = plan.open[s]
        per_type = []
        for t in range(2):
            ub = np.where(open_s, lay.slots[t], 0).astype(float)
            nv = b.add_vars(f"n{s}{t}", n, ub=ub, integer=True)
            up = b.add_vars(f"up{s}{t}", n, cost=1.0)
            down = b.add_vars(f"down{s}{t}", n, cost=1.0)
            target = np.minimum(plan.piles[s, t], ub)
            b.add_rows(f"dev{s}{t}", rows=np.r_[i, i, i],
                       cols=np.r_[nv.index(), up.index(), down.index()],
                       vals=np.r_[np.ones(n), -np.ones(n), np.ones(n)], lower=target,
                       upper=target)
            per_type.append(nv)
        both = np.r_[per_type[0].index(), per_type[1].index()]
        total = float(pb.piles[s])
        b.add_rows(f"target{s}", rows=np.zeros(2 * n), cols=both, vals=np.ones(2 * n),
                   lower=total, upper=total if pb.rule == "exact" else np.inf, n_rows=1)
        if pb.fast_share_min > 0 and pb.rule == "exact":
            # with an exact total the share is a count, which rounds more easily
            b.add_rows(f"fast{s}", rows=np.zeros(n), cols=per_type[1].index(), vals=np.ones(n),
                       lower=float(math.ceil(pb.fast_share_min * total - 1e-9)),
                       upper=np.inf, n_rows=1)
        elif pb.fast_share_min > 0:
            phi = pb.fast_share_min
            b.add_rows(f"fast{s}", rows=np.zeros(2 * n), cols=both,
                       vals=np.r_[-phi * np.ones(n), (1 - phi) * np.ones(n)], lower=0.0,
                       upper=np.inf, n_rows=1)
        new_open = (open_s & lay.new_site).astype(float)
        b.add_rows(f"site{s}", rows=np.r_[i, i], cols=both, vals=np.ones(2 * n),
                   lower=new_open, upper=np.where(open_s, lay.room, 0).astype(float))
        if pb.headroom_kw.size:
            add_headroom(b, pb, per_type[0], per_type[1], f"headroom{s}", pb.headroom_kw[s])
        if s == 0:
            add_district_min(b, pb, per_type[0], per_type[1], "district")
        if s > 0:
            for t in range(2):
                b.add_rows(f"keep{s}{t}", rows=np.r_[i, i],
                           cols=np.r_[per_type[t].index(), blocks[-1][t].index()],
                           vals=np.r_[np.ones(n), -np.ones(n)], lower=0.0, upper=np.inf,
                           n_rows=n)
        blocks.append(per_type)
    model = b.build()
    raw = solve(model, "pile rounding (MILP)", mip_gap=0.2, time_limit_s=time_limit_s)
    if raw.x is None:
        return None
    vals = model.values(raw.x)
    out = np.stack([np.stack([vals[f"n{s}{t}"] for t in range(2)]) for s in range(S)])
    return np.rint(out).astype(np.int64)
