"""Solve :class:`~siting.chargers.problem.ChargerProblem` (see :func:`solve_problem` and
:func:`solve_exact`) through the core's :func:`siting.models.solvers.run_solver`.

Every step is logged and recorded in ``Result.model["phases"]`` (step, model size,
status, objective, bound, seconds), so a reader can see where the time went.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from siting.chargers.build import Layout, Scope, build_model, layout
from siting.chargers.problem import (
    EXACT_MAX_COLUMNS,
    ChargerProblem,
    ChargerSolution,
)
from siting.chargers.round import round_piles
from siting.errors import InputError
from siting.models.base import Assignment, Result, SolverOptions, Status, relative_gap
from siting.models.builder import ExtraConstraints, LinearModel
from siting.models.solvers import Deadline, RawSolution, run_solver, solver_version

logger = logging.getLogger(__name__)

__all__ = ["objective_terms", "solve_chargers", "solve_exact", "solve_problem"]

#: load (sessions/day) a station may carry above the model's table before its queue
#: gets the exact rows (the model's table is ``CAP_MARGIN`` below the Erlang-C one)
CAP_TOL = 1e-6
#: rounds of sizing queues exactly at fixed stations (see :meth:`_Run.evaluate`), the
#: most time (seconds, share of what is left) one such round may take, and its gap
SIZE_ROUNDS = 3
SIZE_GAP = 1e-4
SIZE_LIMIT_S = 5.0
SIZE_SHARE = 0.1
#: above this many flows at the fixed stations the sizing MIP is skipped (at city scale
#: HiGHS rarely finishes it in time; the last LP applies the exact capacities anyway)
SIZE_MAX_PAIRS = 50_000
#: up to this many flows at the fixed stations every open queue is sized exactly at once
#: (whole piles by the multiple-choice Erlang-C rows), not only those found undersized:
#: on thin demand (small stations) rounding the continuous piles cost 2.5% on a
#: 250-point sample, sizing them all 0.04%, in about a second
SIZE_ALL_MAX_PAIRS = 20_000
#: ... and up to this many open queues (the coarse demo's 1,800 took longer than sizing
#: the undersized ones round by round)
SIZE_ALL_MAX_QUEUES = 1_000
#: up to this many pile and flow columns (``ChargerProblem.exact_size``) the exact MIP
#: gets the time left after the other steps, started from their incumbent. Sparse
#: samples of the Zibo demo (100-1,000 of its demand points, ~180,000-200,000 columns,
#: small stations where the relaxation's Erlang-C chord is weak) end the other steps at
#: 1.9-7.9% in 3-23 s; the exact MIP then raises the bound to 0.6-5.8% by the 60 s limit
POLISH_MAX_COLUMNS = 250_000
#: ... and up to this many flows (stages x pairs): past it the exact MIP's root cut
#: rounds outlast the time left and give no bound (1,000 thin points, 17,518 pairs: 40 s
#: in process on a 23 s limit; killed at the limit in its child process, no bound and
#: a 5.5% gap, against 5.0% without it), and neither the neighbourhood MIP nor the
#: exact MIP runs (the relaxation MIP gets the time instead)
POLISH_MAX_PAIRS = 10_000
#: up to this many flows (stages x pairs) the relaxation keeps every pair, each linked
#: to its site's open variable (``x_ij <= d_j y_i``), instead of each client's
#: ``near_sites`` nearest pairs, a far flow that loads no station, and ``link_sites``
#: links. On thin demand (many sites per client, few clients per station) the far
#: flows and unlinked pairs let half-open stations serve far clients for free; the
#: LP's rounded stations were then poor. Measured on thin samples of the demo (60 s):
#: 1,000 points went from 4.96% to 0.43% in 6 s (LP bound 23.55 M to 24.06 M, plan
#: 24.91 M to 24.16 M), 2,000 from 6.6% to 0.95% in 14 s, 4,000 (74,000 flows) from
#: 7.6% to 0.96% in 28 s, most of it the LP (bench/RESULTS.md). The demo's LP with every
#: pair (384,000 flows) did not finish in 60 s, nor did 8,000 thin points' (140,000).
RELAX_ALL_PAIRS = 80_000
#: past this many flows the LP with every pair may take most of the limit, so it gets
#: this share of the time left; if it has not finished by then, the near pairs' LP
#: (seconds at the same size) runs instead
EVERY_PAIR_FULL_TIME = 30_000
EVERY_PAIR_SHARE = 0.65
#: the neighbourhood MIP (:meth:`_Run.neighbourhood`): each client's nearest sites it
#: may open besides the relaxation's and the incumbent's, and its share of the time left
NEIGHBOUR_SITES = 3
NEIGHBOUR_SHARE = 0.5
#: the relaxation MIP (on instances too large for the exact one) stops this many times
#: the longest evaluation of a station set before the limit, at most this share of the
#: time left, so that the stations it ends with get evaluated; that evaluation's sizing
#: and rounding may each take this share of what is then left. On 1,000 thin points
#: (evaluations of ~5 s) the MIP's stations were left ~1 s of sizing, too little for a
#: plan
MIP_EVAL_RESERVE = 2.5
MIP_EVAL_MAX_SHARE = 0.4
MIP_EVAL_SHARE = 0.45
#: on instances the exact MIP follows, the relaxation MIP's share of the time left: on
#: Helsinki (22 demand points, 100 sites, 2 stages) it proves 0.5% in 5 s, where the
#: LP's rounded stations could not hold the piles and the neighbourhood and exact MIPs
#: took 55 s to reach 1.0%
RELAX_MIP_SHARE = 0.3
#: the relaxation MIP's own gap: its optimum, as far as time allows. At half the plan's
#: gap it stopped at once on the incumbent it was started from (the relaxation prices
#: a plan below its exact cost), so it neither raised the bound nor found stations
RELAX_MIP_GAP = 1e-4
#: relative gap below which a plan counts as proven at ``mip_gap`` (objectives are
#: recomputed from the plan, which moves them by solver tolerances)
GAP_TOL = 1e-9
#: rounds of :meth:`_Run.open_for_unmet`
UNMET_ROUNDS = 3
#: seconds the diagnosis after a proof of infeasibility may take past the time limit
#: (a MIP over pile counts only; see :func:`siting.chargers.diagnose.whole_piles`)
DIAGNOSE_MIN_S = 5.0


@dataclass
class _Plan:
    """A solution in problem terms: ``(stages, ...)`` arrays over all sites/pairs/clients."""

    open: np.ndarray       # (S, n) bool
    piles: np.ndarray      # (S, 2, n) new piles (whole in an exact plan)
    load: np.ndarray       # (S, 2, n)
    flow: np.ndarray       # (S, nnz)
    unmet: np.ndarray      # (S, c)
    short: np.ndarray      # (S, n)


def _extract(pb: ChargerProblem, lay: Layout, scope: Scope, model: LinearModel,
             x: np.ndarray) -> _Plan:
    vals = model.values(x)
    S, n = pb.n_stages, pb.costs.n_sites
    flow = np.zeros((S, pb.costs.nnz))
    unmet = pb.demand.copy()
    for s in range(S):
        flow[s, scope.pairs[s]] = np.maximum(vals[f"flow{s + 1}"], 0.0)
        unmet[s, lay.reach] = np.maximum(vals[f"unmet{s + 1}"], 0.0)

    def get(name: str) -> np.ndarray:
        return np.stack([vals[f"{name}{s + 1}"] for s in range(S)])

    piles = np.stack([get("piles_slow"), get("piles_fast")], axis=1).reshape(S, 2, n)
    return _Plan(open=get("open") > 0.5, piles=np.maximum(piles, 0.0),
                 load=np.stack([get("load_slow"), get("load_fast")], axis=1),
                 flow=flow, unmet=unmet, short=np.maximum(get("short"), 0.0))


def _capacity(pb: ChargerProblem, lay: Layout, piles: np.ndarray, *, exact: bool = False
              ) -> np.ndarray:
    """``(2, n)`` capacity of ``piles`` new piles plus the existing ones: the model's
    (``CAP_MARGIN`` below the table), or with ``exact`` the Erlang-C table itself."""
    if exact:
        return np.stack([pb.site_capacity(t, lay.base[t] + piles[t]) for t in range(2)])
    return np.stack([lay.capacity(t, lay.base[t] + piles[t]) for t in range(2)])


def _repair(pb: ChargerProblem, lay: Layout, plan: _Plan) -> _Plan:
    """Make ``plan`` exactly feasible: loads from flows, fast queue first, and any load
    above the exact Erlang-C table ``T_t(e + n)`` shed to unmet demand (farthest pairs
    first), with no tolerance: the checker re-computes ``P(wait)`` at these loads.

    The model's capacities stay ``CAP_MARGIN`` below the table, so a solution within a
    solver's feasibility tolerance needs nothing shed; this is the guarantee for one
    that is not (an integer variable a little off 0 or 1 in the multiple-choice rows)."""
    flow, unmet = plan.flow.copy(), plan.unmet.copy()
    load, short = np.zeros_like(plan.load), np.zeros_like(plan.short)
    costs = pb.costs
    for s in range(pb.n_stages):
        cap = _capacity(pb, lay, plan.piles[s], exact=True)
        total = np.bincount(costs.site, weights=flow[s], minlength=costs.n_sites)
        excess = total - cap.sum(axis=0)
        over = np.flatnonzero(excess > 0)
        if over.size:
            logger.debug("%s: stage %d sheds %.3g sessions/day over the Erlang-C tables at "
                         "%d stations", pb.name, s + 1, float(excess[over].sum()), over.size)
        for i in over:
            pairs = np.flatnonzero((costs.site == i) & (flow[s] > 0))
            need = float(excess[i])
            for p in pairs[np.argsort(-costs.cost[pairs], kind="stable")]:
                take = min(need, float(flow[s, p]))
                flow[s, p] -= take
                unmet[s, costs.client[p]] += take
                need -= take
                if need <= 0:
                    break
            total[i] = cap[:, i].sum()
        load[s, 1] = np.minimum(total, cap[1])
        load[s, 0] = np.clip(total - load[s, 1], 0.0, cap[0])
        if pb.ratio_cost > 0:
            have = plan.piles[s].sum(axis=0) + pb.existing
            short[s] = np.maximum(lay.kappa[s] * total - have, 0.0)
    is_open = plan.open | (plan.piles.sum(axis=1) > 0) | (pb.existing > 0)[None, :]
    return _Plan(is_open, plan.piles, load, flow, unmet, short)


def objective_terms(pb: ChargerProblem, plan: _Plan | ChargerSolution) -> dict[str, float]:
    """The objective's parts (annual CNY, stage-weighted) of a plan."""
    w = pb.stage_weight
    short = plan.short if isinstance(plan, _Plan) else plan.shortfall
    capex = np.array([pt.annual_capex_cny for pt in pb.pile_types])
    reach = pb.costs.degree() > 0
    terms = {
        "stations": float(np.sum(w * (plan.open.astype(float) @ pb.station_cost))),
        "piles": float(np.sum(w * np.einsum("stn,t->s", plan.piles.astype(float), capex))),
        "distance": float(np.sum(w * (plan.flow @ pb.costs.cost)) * pb.distance_cost),
        "unmet": float(np.sum(w * plan.unmet[:, reach].sum(axis=1)) * pb.unmet_cost),
        "ratio_shortfall": float(np.sum(w * short.sum(axis=1)) * pb.ratio_cost),
    }
    terms["total"] = sum(terms.values())
    # demand no candidate reaches is unmet whatever the plan: reported, not optimised
    terms["unmet_unreachable"] = float(np.sum(w * plan.unmet[:, ~reach].sum(axis=1))
                                       * pb.unmet_cost)
    return terms


class _Run:
    """State of one :func:`solve_problem` call (the problem is never touched)."""

    def __init__(self, pb: ChargerProblem, opts: SolverOptions, extra: ExtraConstraints | None
                 ) -> None:
        self.pb, self.opts, self.extra = pb, opts, extra
        self.lay = layout(pb)
        #: flow variables of a model with every pair (stages x pairs)
        self.flows = pb.n_stages * pb.costs.nnz
        self.deadline = Deadline(opts.time_limit_s)
        #: size every open queue at once at fixed stations (until that fails in time once)
        self.size_all = True
        #: seconds of the longest :meth:`evaluate` so far
        self.eval_s = 0.0
        self.upper, self.lower = math.inf, -math.inf
        self.best: _Plan | None = None
        self.build_s = self.solve_s = 0.0
        self.rounds: list[dict[str, object]] = []
        self.version = ""
        self.model: LinearModel | None = None
        self.last_x: np.ndarray | None = None

    # ------------------------------------------------------------- plumbing
    def build(self, scope: Scope) -> LinearModel:
        t0 = time.perf_counter()
        model = build_model(self.pb, self.lay, scope, self.extra)
        self.build_s += time.perf_counter() - t0
        return model

    def solve(self, model: LinearModel, step: str, *, relax: bool = False,
              time_limit_s: float | None = None, mip_gap: float | None = None,
              start: np.ndarray | None = None) -> RawSolution:
        opts = self.opts if mip_gap is None else replace(self.opts, mip_gap=mip_gap)
        limit = self.deadline.remaining() if time_limit_s is None else time_limit_s
        raw = run_solver(model, opts, time_limit_s=limit, start=start, relax=relax)
        self.version = raw.version
        self.solve_s += raw.seconds
        self.rounds.append({"step": step, **model.stats(), "status": raw.status.value,
                            "objective": raw.objective, "bound": raw.bound,
                            "seconds": round(raw.seconds, 3)})
        logger.info("%s: %s %s obj=%.8g bound=%.8g (%.1fs, %s)", self.pb.name, step,
                    raw.status.value, raw.objective, raw.bound, raw.seconds, model.stats())
        return raw

    def diagnose_limit(self) -> float | None:
        left = self.deadline.remaining()
        return None if left is None else max(left, DIAGNOSE_MIN_S)

    def gap(self) -> float:
        return relative_gap(self.upper, min(self.lower, self.upper))

    def done(self) -> bool:
        gap = self.gap()
        return math.isfinite(gap) and (gap <= self.opts.mip_gap + GAP_TOL or
                                       self.upper - self.lower <= self.opts.mip_abs_gap)

    # ------------------------------------------------------------- relaxation
    def relaxation_scope(self, *, every_pair: bool = True) -> Scope:
        """Each client's ``near_sites`` nearest pairs, the rest as one far flow; piles
        continuous (a relaxation of the exact problem, see :func:`solve_problem`). Up to
        :data:`RELAX_ALL_PAIRS` flows, unless not ``every_pair``: every pair, each
        linked to its site."""
        pb, lay = self.pb, self.lay
        if every_pair and self.flows <= RELAX_ALL_PAIRS:
            every = np.arange(pb.costs.nnz)
            most = int(pb.costs.degree().max(initial=0))
            return Scope(pairs=(every,) * pb.n_stages, relax_piles=True,
                         cover=(True, False), link_sites=most)
        k = pb.near_sites
        near = np.flatnonzero(lay.rank < k)
        far = np.full(lay.reach.size, np.nan)
        cut = np.flatnonzero(lay.rank == k)  # the nearest left-out pair of each client
        far[lay.client_row[pb.costs.client[cut]]] = pb.costs.cost[cut]
        # stage 2 keeps stage 1's stations and its demand is stage 1's grown, so its
        # cover rows add little to the bound; leaving them out keeps the model smaller
        return Scope(pairs=(near,) * pb.n_stages, far=(far,) * pb.n_stages,
                     relax_piles=True, cover=(True, False))

    def round_open(self, y: np.ndarray, scope: Scope, unmet: np.ndarray) -> np.ndarray:
        """Stations from LP values: ``y >= 0.5``, then for every client the LP serves but
        no rounded station reaches, its nearest site of largest ``y``."""
        pb, lay = self.pb, self.lay
        c = pb.costs
        is_open = y >= 0.5 - 1e-9
        is_open |= ~lay.new_site[None, :]
        if pb.locked.size:
            is_open[:, pb.locked] = True
        for s in range(pb.n_stages):
            if s > 0:
                is_open[s] |= is_open[s - 1]
            served = pb.demand[s] - unmet[s]
            if s == 0 and pb.reach_all:  # every client needs a station in reach
                served = np.where(np.isin(np.arange(c.n_clients), pb.reach_clients()),
                                  np.maximum(pb.demand[s], 1e-3), 0.0)
            while True:
                covered = np.bincount(c.client, weights=is_open[s][c.site],
                                      minlength=c.n_clients) > 0
                need = np.flatnonzero(~covered & (served > 1e-6))
                if need.size == 0:
                    break
                j = need[np.argmax(served[need])]
                row = slice(c.indptr[j], c.indptr[j + 1])
                sites = c.site[row]
                ok = lay.room[sites] > 0
                if not ok.any():
                    served[j] = 0.0
                    continue
                score = np.where(ok, y[s, sites], -np.inf)
                is_open[s, sites[int(np.argmax(score))]] = True
        return is_open

    def relaxation_start(self, model: LinearModel, scope: Scope, plan: _Plan) -> np.ndarray:
        """A feasible start for the relaxation from an exact plan: flows on left-out pairs
        become far flows, loads count the near flows only."""
        pb, lay = self.pb, self.lay
        x = np.zeros(model.n_cols)
        c = pb.costs
        for s in range(pb.n_stages):
            tag = str(s + 1)
            near = np.zeros(c.nnz, bool)
            near[scope.pairs[s]] = True
            flow = plan.flow[s]
            far = np.bincount(lay.client_row[c.client[~near]], weights=flow[~near],
                              minlength=lay.reach.size)
            total = np.bincount(c.site[near], weights=flow[near], minlength=c.n_sites)
            cap = _capacity(pb, lay, plan.piles[s])
            fast = np.minimum(total, cap[1])
            short = np.maximum(lay.kappa[s] * total - plan.piles[s].sum(axis=0) - pb.existing,
                               0.0) if pb.ratio_cost > 0 else np.zeros(c.n_sites)
            blocks = {"open": plan.open[s].astype(float), "piles_slow": plan.piles[s, 0],
                      "piles_fast": plan.piles[s, 1], "flow": flow[scope.pairs[s]],
                      "far": far, "unmet": plan.unmet[s, lay.reach],
                      "load_slow": np.maximum(total - fast, 0.0), "load_fast": fast,
                      "short": short}
            for name, value in blocks.items():
                if f"{name}{tag}" in model.vars:
                    x[model.vars[f"{name}{tag}"].slice] = value
        return x

    def evaluate_rounded(self, y: np.ndarray, lp_piles: np.ndarray, is_open: np.ndarray
                         ) -> float:
        """Step 2 on rounded stations. While whole piles cannot fit them (the target,
        fast share or headroom need more stations than the rounding kept), open more,
        those with most piles in the LP first. Then close stations the plan leaves idle
        (new in a stage, under half a session a day) and keep that if it is cheaper."""
        pb, lay = self.pb, self.lay
        value = math.inf
        for attempt in range(12):
            value = self.evaluate(is_open, f"LP rounding {attempt + 1}")
            if math.isfinite(value) or self.deadline.expired():
                break
            for s in range(pb.n_stages):
                free = np.flatnonzero(~is_open[s] & (lay.room > 0))
                if free.size == 0:
                    continue
                # big sites first (each new station costs the same), busy ones among them
                order = free[np.lexsort((-y[s, free], -lp_piles[s, free], -lay.room[free]))]
                missing = int(pb.piles[s]) - int(lay.room[is_open[s]].sum())
                if missing > 0:  # enough room for the target, plus a tenth
                    count = int(np.searchsorted(np.cumsum(lay.room[order]), 1.1 * missing)) + 1
                else:  # headroom or the fast share binds: a few more
                    count = max(10, int(0.02 * is_open[s].sum()))
                is_open[s:, order[:count]] = True
            logger.info("%s: the rounded stations cannot hold the piles; opening more",
                        pb.name)
        if self.best is None or self.deadline.expired():
            return value
        idle = self.idle(self.best)
        trial_room = [int(self.lay.room[self.best.open[s] & ~idle[s]].sum())
                      for s in range(pb.n_stages)]
        if idle.any() and all(r >= p for r, p in zip(trial_room, pb.piles, strict=True)):
            trial = _with_reach(pb, lay, self.best.open & ~idle, prefer=self.best.open[0])
            if np.array_equal(trial, self.best.open):  # the reach rule keeps them all
                return value
            logger.info("%s: closing %d idle stations", pb.name, int(idle.sum()))
            value = min(value, self.evaluate(trial, "idle stations closed"))
        return value

    def open_for_unmet(self, y: np.ndarray) -> None:
        """While the best plan leaves reachable demand unserved (its stations cannot hold
        it in whole piles), open for each such client, largest first, the closed site in
        its reach with the largest ``y`` (then the nearest), and keep the plan if cheaper;
        at most :data:`UNMET_ROUNDS` times."""
        pb, lay, c = self.pb, self.lay, self.pb.costs
        for attempt in range(UNMET_ROUNDS):
            if self.best is None or self.done() or self.deadline.expired():
                return
            plan = self.best
            trial = plan.open.copy()
            for s in range(pb.n_stages):
                left = np.zeros(c.n_clients)
                left[lay.reach] = plan.unmet[s, lay.reach]
                for j in np.argsort(-left, kind="stable")[:np.count_nonzero(left > 1e-6)]:
                    row = slice(c.indptr[j], c.indptr[j + 1])
                    sites = c.site[row]
                    if (trial[s, sites] & ~plan.open[s, sites]).any():
                        continue  # a site opened for a client before it reaches it too
                    ok = ~trial[s, sites] & (lay.room[sites] > 0)
                    if not ok.any():
                        continue
                    pick = np.lexsort((c.cost[row], -y[s, sites]))
                    trial[s:, sites[pick[ok[pick]][0]]] = True
            if np.array_equal(trial, plan.open):
                return
            logger.info("%s: opening %d stations where demand goes unserved", pb.name,
                        int((trial & ~plan.open).any(axis=0).sum()))
            if self.evaluate(trial, f"stations added for unmet demand {attempt + 1}") \
                    >= self.upper and self.best is plan:
                return

    def idle(self, plan: _Plan) -> np.ndarray:
        """``(stages, sites)``: new stations opened in a stage that serve (almost) nothing
        in it, not locked; closing them there keeps the staging rows."""
        pb = self.pb
        out = np.zeros_like(plan.open)
        before = np.zeros(pb.costs.n_sites, bool)
        for s in range(pb.n_stages):
            load = plan.load[s].sum(axis=0)
            out[s] = plan.open[s] & ~before & self.lay.new_site & (load < 0.5)
            if s == 0 and pb.locked.size:
                out[s, pb.locked] = False
            before = plan.open[s] & ~out[s]
        # a station idle in stage 1 but used in stage 2 simply opens in stage 2
        return out


    def exact_scope(self, sites: np.ndarray | None = None) -> Scope:
        """The exact MIP: every pair and every queue sized by its multiple-choice rows;
        with ``sites`` (``(sites,)`` bool), only those sites may open."""
        pb, lay = self.pb, self.lay
        ok = np.ones(pb.costs.n_sites, bool) if sites is None else sites
        flagged = frozenset((s, t, int(i)) for s in range(pb.n_stages) for t in range(2)
                            for i in np.flatnonzero((lay.slots[t] > 0) & ok))
        pairs = np.flatnonzero(ok[pb.costs.site])
        return Scope(pairs=(pairs,) * pb.n_stages, flagged=flagged, sites=sites)

    def polish(self) -> None:
        """The exact MIP, started from the incumbent if there is one, for what is left
        of the time; with no incumbent a proof of infeasibility is diagnosed (raises)."""
        from siting.chargers.diagnose import diagnose_infeasible

        pb = self.pb
        scope = self.exact_scope()
        model = self.build(scope)
        if self.best is None:
            raw = self.solve(model, "exact (MIP)")
            if raw.status is Status.INFEASIBLE:
                diagnose_infeasible(pb, time_limit_s=self.diagnose_limit())
            self.adopt_exact(scope, model, raw)
            return
        raw = self.solve(model, "exact (MIP) from the incumbent",
                         start=self.exact_start(scope, model, self.best))
        self.adopt_exact(scope, model, raw)

    def exact_start(self, scope: Scope, model: LinearModel, plan: _Plan) -> np.ndarray:
        """``plan`` as a start of an exact model (``scope.flagged`` queues sized by their
        multiple-choice variables); ``plan``'s stations must all be in ``scope``."""
        pb, lay = self.pb, self.lay
        x = np.zeros(model.n_cols)
        for s in range(pb.n_stages):
            tag = str(s + 1)
            blocks = {"open": plan.open[s].astype(float), "piles_slow": plan.piles[s, 0],
                      "piles_fast": plan.piles[s, 1], "flow": plan.flow[s, scope.pairs[s]],
                      "unmet": plan.unmet[s, lay.reach], "load_slow": plan.load[s, 0],
                      "load_fast": plan.load[s, 1], "short": plan.short[s]}
            for name, value in blocks.items():
                x[model.vars[f"{name}{tag}"].slice] = value
            offset = model.vars[f"size{tag}"].start
            for t, i in sorted((t, i) for st, t, i in scope.flagged if st == s):
                k = int(np.rint(plan.piles[s, t, i]))
                if k > 0:
                    x[offset + k - 1] = 1.0
                offset += int(lay.slots[t, i])
        return x

    def relaxation_mip(self, model: LinearModel, scope: Scope, exact: bool) -> np.ndarray:
        """The relaxation as a MIP (whole stations, continuous piles), started from the
        incumbent: its bound is a bound of the exact problem, and its stations get an
        exact plan (:meth:`evaluate`). Returns the stations it opens in any stage
        (``(sites,)`` bool, none if it found no solution).

        Where the exact MIP follows (``exact``), it gets :data:`RELAX_MIP_SHARE` of the
        time left; otherwise all of it but the time kept to evaluate its stations."""
        pb = self.pb
        assert self.best is not None
        start = self.relaxation_start(model, scope, self.best)
        left = self.deadline.remaining()
        if left is None:
            limit = None
        elif exact:
            limit = RELAX_MIP_SHARE * left
        else:  # time kept to evaluate the stations it ends with
            limit = left - min(MIP_EVAL_RESERVE * self.eval_s, MIP_EVAL_MAX_SHARE * left)
        mip = self.solve(model, "relaxation (MIP)", mip_gap=RELAX_MIP_GAP,
                         start=start, time_limit_s=limit)
        if math.isfinite(mip.bound):
            self.lower = max(self.lower, mip.bound)
        if mip.x is None:
            return np.zeros(pb.costs.n_sites, bool)
        is_open = _extract(pb, self.lay, scope, model, mip.x).open
        if mip.objective < self.upper and not self.done() and not self.deadline.expired():
            self.evaluate(is_open, "MIP stations", share=MIP_EVAL_SHARE)
        return is_open.any(axis=0)

    def neighbourhood(self, support: np.ndarray) -> None:
        """The exact MIP over a neighbourhood of the incumbent, started from it: only the
        sites in ``support`` (``(sites,)`` bool), the incumbent's stations and each
        client's :data:`NEIGHBOUR_SITES` nearest sites may open. A heuristic (every plan
        of it is a plan of the whole problem), so only its plan is kept, not its bound."""
        pb, lay = self.pb, self.lay
        assert self.best is not None
        c = pb.costs
        sites = support | self.best.open.any(axis=0) | ~lay.new_site
        if pb.locked.size:
            sites[pb.locked] = True
        near = (lay.rank < NEIGHBOUR_SITES) & (lay.room[c.site] > 0)
        sites[c.site[near]] = True
        scope = self.exact_scope(sites)
        model = self.build(scope)
        left = self.deadline.remaining()
        raw = self.solve(model, f"neighbourhood of the incumbent ({int(sites.sum())} sites, "
                         f"MIP)", start=self.exact_start(scope, model, self.best),
                         mip_gap=0.5 * self.opts.mip_gap,
                         time_limit_s=None if left is None else NEIGHBOUR_SHARE * left)
        if raw.x is not None:
            self.adopt_exact(scope, model, replace(raw, bound=math.nan))

    def adopt_exact(self, scope: Scope, model: LinearModel, raw: RawSolution) -> None:
        """Take the exact MIP's dual bound and its plan, if better."""
        pb, lay = self.pb, self.lay
        if math.isfinite(raw.bound):
            self.lower = max(self.lower, min(raw.bound, self.upper))
        if raw.x is not None:
            found = _extract(pb, lay, scope, model, raw.x)
            found = _repair(pb, lay, replace(found, piles=np.rint(found.piles)))
            value = objective_terms(pb, found)["total"]
            if value < self.upper:
                self.upper, self.best = value, found
                self.model, self.last_x = model, raw.x

    # ------------------------------------------------------------- exact plans
    def evaluate(self, is_open: np.ndarray, label: str, *, share: float = SIZE_SHARE
                 ) -> float:
        """Exact plan at fixed stations; returns its objective (``inf`` if the stations
        cannot hold the piles). Its sizing MIP and its rounding may each take ``share``
        of the time left (at most :data:`SIZE_LIMIT_S` for the sizing); the longest
        call so far is kept in ``eval_s``.

        1. Flows and piles at the fixed stations with continuous piles and the hull
           capacities. Queues whose load there exceeds the Erlang-C table at their
           rounded-up pile count get the exact multiple-choice rows (whole piles for
           them) and this step is solved again, at most :data:`SIZE_ROUNDS` times.
           With at most :data:`SIZE_ALL_MAX_PAIRS` flows and
           :data:`SIZE_ALL_MAX_QUEUES` open queues, every open queue gets those
           rows at once (the stations' exact sizing MIP); if that does not finish in
           its time, the rounds above follow, for this and every later station set.
        2. Whole piles (:func:`~siting.chargers.round.round_piles`).
        3. The LP with the piles fixed and each queue's load bounded by its exact
           Erlang-C capacity ``T(e + n)``.
        """
        t0 = time.perf_counter()
        try:
            return self._evaluate(is_open, label, share)
        finally:
            self.eval_s = max(self.eval_s, time.perf_counter() - t0)

    def _evaluate(self, is_open: np.ndarray, label: str, share: float) -> float:
        pb, lay = self.pb, self.lay
        pairs = tuple(np.flatnonzero(is_open[s][pb.costs.site]) for s in range(pb.n_stages))
        # one fast pile's headroom kept free at every substation, so that the
        # continuous piles can be rounded up
        scope = Scope(pairs=pairs, fixed_open=is_open, relax_piles=True,
                      headroom_margin_kw=pb.fast.kw)
        plan = None
        every = _open_queues(lay, is_open) if self.size_all and \
            sum(p.size for p in pairs) <= SIZE_ALL_MAX_PAIRS else frozenset()
        if len(every) > SIZE_ALL_MAX_QUEUES:
            every = frozenset()
        if every:
            scope = replace(scope, flagged=every)
        for size_round in range(SIZE_ROUNDS + 3):
            model = self.build(scope)
            limit = self.deadline.remaining()
            if scope.flagged and limit is not None:  # keep time for the steps after it
                limit = min(SIZE_LIMIT_S, share * limit)
            raw = self.solve(model, f"{label}: stations fixed ({len(scope.flagged)} sized)",
                             relax=not scope.flagged, mip_gap=SIZE_GAP, time_limit_s=limit)
            if every and scope.flagged == every and raw.x is not None and \
                    raw.status is not Status.OPTIMAL and \
                    not raw.gap <= max(self.opts.mip_gap, SIZE_GAP) + GAP_TOL:
                # stopped far from its optimum (2,000 thin points: 735 queues, a plan
                # 9x its bound after 5 s): no better than no plan
                raw = replace(raw, x=None)
            if raw.x is None:
                if every and scope.flagged == every:  # not sized: round by round, and
                    scope, every = replace(scope, flagged=frozenset()), frozenset()
                    if raw.status is not Status.INFEASIBLE:  # (out of time) from now on
                        self.size_all = False
                    continue
                if plan is None and scope.headroom_margin_kw > 0:
                    # the margin itself is what does not fit: plan without it
                    scope = replace(scope, headroom_margin_kw=0.0)
                    continue
                if plan is None:
                    return math.inf
                break  # whole piles for these queues do not fit: keep the last plan
            plan = _extract(pb, lay, scope, model, raw.x)
            over = _undersized(pb, lay, plan) - scope.flagged
            if not over or size_round == SIZE_ROUNDS or self.deadline.expired() or \
                    sum(p.size for p in pairs) > SIZE_MAX_PAIRS:
                break
            scope = replace(scope, flagged=scope.flagged | over)
        assert plan is not None
        left = self.deadline.remaining()
        piles = round_piles(pb, lay, plan, self.solve,
                            time_limit_s=None if left is None else share * left)
        if piles is None:
            return math.inf
        return self.plan_at(is_open, piles, label)

    def plan_at(self, is_open: np.ndarray, piles: np.ndarray, label: str) -> float:
        """The LP with stations and whole piles fixed, each queue's load bounded by its
        Erlang-C capacity ``T(e + n)``; keeps the plan if it is the best so far and
        returns its objective (``inf`` if the LP has no solution)."""
        pb, lay = self.pb, self.lay
        pairs = tuple(np.flatnonzero(is_open[s][pb.costs.site]) for s in range(pb.n_stages))
        scope = Scope(pairs=pairs, fixed_open=is_open, relax_piles=True, fixed_piles=piles)
        model = self.build(scope)
        raw = self.solve(model, f"{label}: piles fixed (LP)", relax=True)
        if raw.x is None:
            return math.inf
        plan = _extract(pb, lay, scope, model, raw.x)
        plan = _repair(pb, lay, replace(plan, piles=piles))
        value = objective_terms(pb, plan)["total"]
        if value < self.upper:
            self.upper, self.best = value, plan
            self.model, self.last_x = model, raw.x
        return value

    def rescue(self) -> None:
        """No plan from the relaxation's stations although time is left: whole piles
        that meet every pile-side constraint (a small MIP over pile counts), planned at
        by :meth:`plan_at`; or :class:`~siting.errors.InfeasibleError` naming the
        constraint that whole piles cannot meet and by how much."""
        from siting.chargers.diagnose import whole_piles

        pb, lay = self.pb, self.lay
        logger.info("%s: no plan at the relaxation's stations; checking whole piles", pb.name)
        piles = whole_piles(pb, time_limit_s=self.deadline.remaining())
        if piles is None or self.deadline.expired():
            return
        is_open = (piles.sum(axis=1) > 0) | ~lay.new_site[None, :]
        if pb.reach_all and np.any(_with_reach(pb, lay, is_open, prefer=is_open[0]) != is_open):
            return  # these whole piles leave clients out of reach: no plan from them
        self.plan_at(is_open, piles, "whole piles of the pile-side check")


def _with_reach(pb: ChargerProblem, lay: Layout, is_open: np.ndarray, *,
                prefer: np.ndarray) -> np.ndarray:
    """``is_open`` with, under ``reach_all``, a stage-1 station (kept in later stages) for
    every client that has none in reach: its nearest allowed site, ``prefer`` first."""
    if not pb.reach_all:
        return is_open
    out = is_open.copy()
    c = pb.costs
    ok = lay.room > 0
    for j in pb.reach_clients():
        row = slice(c.indptr[j], c.indptr[j + 1])
        sites = c.site[row]
        if out[0, sites].any():
            continue
        cost = np.where(ok[sites], c.cost[row], np.inf)
        if not np.isfinite(cost).any():
            continue
        preferred = np.where(prefer[sites], cost, np.inf)
        pick = preferred if np.isfinite(preferred).any() else cost
        out[:, sites[int(np.argmin(pick))]] = True
    return out


def _open_queues(lay: Layout, is_open: np.ndarray) -> frozenset[tuple[int, int, int]]:
    """Every ``(stage, type, site)`` queue that an open station may add piles to."""
    out = set()
    for s in range(is_open.shape[0]):
        for t, i in zip(*np.nonzero(is_open[s][None, :] & (lay.slots > 0)), strict=True):
            out.add((s, int(t), int(i)))
    return frozenset(out)


def _undersized(pb: ChargerProblem, lay: Layout, plan: _Plan) -> frozenset[tuple[int, int, int]]:
    """``(stage, type, site)`` whose load exceeds the table at the rounded-up piles."""
    out = set()
    for s in range(pb.n_stages):
        up = np.ceil(plan.piles[s] - 1e-6).astype(np.int64)
        cap = _capacity(pb, lay, up)
        for t, i in zip(*np.nonzero((plan.load[s] > cap + CAP_TOL) & (lay.slots > 0)),
                        strict=True):
            out.add((s, int(t), int(i)))
    return frozenset(out)


def solve_chargers(problem: ChargerProblem, solver: SolverOptions | str | None = None, *,
                   method: Literal["auto", "exact", "relax"] = "auto",
                   extra_constraints: ExtraConstraints | None = None,
                   progress: bool = False) -> ChargerSolution:
    """Solve ``problem`` to the requested gap within the time limit; never mutates it.

    ``method="exact"``: one MIP with every pair, whole piles and the multiple-choice
    Erlang-C rows at every station. ``"relax"``: relaxation bound and exact plans at
    fixed stations (see the class docstring), for city scale. ``"auto"``: exact when
    the exact MIP has at most :data:`EXACT_MAX_COLUMNS` pile and flow columns, else
    relax.

    ``extra_constraints(builder, vars)`` is called on every model built and may add
    rows on the named blocks ``open{s}``, ``piles_slow{s}``, ``piles_fast{s}``
    (stage ``s = 1, 2``). Flow blocks differ between steps (each holds only that
    step's pairs), and whole piles are rounded by code that knows only the
    built-in pile constraints, so a hook that restricts piles should be checked
    with ``method="exact"``.
    """
    opts = SolverOptions.coerce(solver)
    if method not in ("auto", "exact", "relax"):
        raise InputError(f"{problem.name}.solve: method={method!r}; use 'auto', 'exact' "
                         f"or 'relax'")
    from siting.chargers.diagnose import diagnose_reach

    problem.check()
    diagnose_reach(problem)  # a point no site in reach can serve: no solve needed to tell
    if method == "exact" or (method == "auto" and
                             problem.exact_size() <= EXACT_MAX_COLUMNS):
        return solve_exact(problem, opts, extra_constraints)
    return solve_problem(problem, opts, extra_constraints, progress=progress)


def solve_problem(pb: ChargerProblem, opts: SolverOptions, extra: ExtraConstraints | None,
                  *, progress: bool = False) -> ChargerSolution:
    """Bound from a relaxation, exact plans at fixed stations, improved while time lasts.

    1. **Relaxation**: pile counts continuous, Erlang-C by its upper concave hull
       (capped at the demand each site can reach, in perspective with the open
       variable; see :func:`siting.chargers.build._add_capacity_hull`), every pair
       linked to its site's open variable; past :data:`RELAX_ALL_PAIRS` flows, each
       client's pairs beyond its ``near_sites`` nearest are replaced by one *far* flow
       priced at the nearest left-out distance that loads no station, and only its
       ``link_sites`` nearest pairs are linked; so too past
       :data:`EVERY_PAIR_FULL_TIME` flows when the LP with every pair does not finish
       in :data:`EVERY_PAIR_SHARE` of the time left. Every exact plan
       maps to a feasible point of it at no higher cost, so its LP bound (and, in step
       3, its MIP bound) is a valid lower bound on the exact optimum. Only an LP solved
       to optimality gives that bound: one stopped at the time limit gives none, and
       the result is then at best ``TIME_LIMIT_FEASIBLE`` with the gap unknown.
    2. **Exact plan** at the stations the LP opens (``y >= 0.5`` plus a cover repair):
       an LP for flows and continuous piles, whole piles by rounding
       (:func:`siting.chargers.round.round_piles`), and a last LP with the piles fixed
       in which each queue's load is bounded by its exact Erlang-C capacity
       ``T(e + n)`` (less :data:`~siting.chargers.build.CAP_MARGIN`, so that solver
       tolerances stay inside the table; any load still above it is shed to unmet
       demand). Feasible for the exact problem: the upper bound.
       Where that plan leaves reachable demand unserved, stations are added for it
       (:meth:`_Run.open_for_unmet`).
    3. While the gap is above ``mip_gap`` and time is left: the relaxation as a MIP
       started from the incumbent (:meth:`_Run.relaxation_mip`); its bound counts and
       the stations it opens get step 2 again. Then, on instances small enough for the
       exact MIP (at most :data:`POLISH_MAX_COLUMNS` pile and flow columns and
       :data:`POLISH_MAX_PAIRS` flows), which leave the relaxation MIP only
       :data:`RELAX_MIP_SHARE` of the time: the exact MIP over a neighbourhood of the
       incumbent (:meth:`_Run.neighbourhood`), for a better plan.
    4. No plan yet and time left: whole piles that meet every pile-side constraint
       (:func:`siting.chargers.diagnose.whole_piles`, a MIP over pile counts only,
       which decides whether any plan exists) and the LP of step 2 at them; or
       :class:`~siting.errors.InfeasibleError` naming the constraint and the shortfall,
       as ``method="exact"`` raises. A proof of infeasibility from the relaxation or
       the exact MIP is diagnosed the same way.
    5. Still open, on instances small enough for it (step 3): the exact MIP started
       from the incumbent, for the time left; its bound is the exact problem's.

    ``TIME_LIMIT_NO_SOLUTION`` is returned only when the time limit was reached.

    Whole piles are what makes general MIP heuristics struggle here (an exact pile
    total spread over a thousand stations), not station choices; so stations are
    chosen on the relaxation and piles made whole at fixed stations, where it is cheap.
    """
    from tqdm.auto import tqdm

    from siting.chargers.diagnose import diagnose_infeasible

    t_start = time.perf_counter()
    run = _Run(pb, opts, extra)
    exact = pb.exact_size() <= POLISH_MAX_COLUMNS and run.flows <= POLISH_MAX_PAIRS
    bar = tqdm(total=3, desc=f"{pb.name}: solve", disable=not progress, leave=False)
    scope = run.relaxation_scope()
    model = run.build(scope)
    left = run.deadline.remaining()
    cap = None
    if scope.far is None and run.flows > EVERY_PAIR_FULL_TIME and left is not None:
        cap = EVERY_PAIR_SHARE * left
    raw = run.solve(model, "relaxation (LP)", relax=True, time_limit_s=cap)
    if cap is not None and raw.status not in (Status.OPTIMAL, Status.INFEASIBLE) and \
            not run.deadline.expired():  # every pair took too long: the nearest instead
        scope = run.relaxation_scope(every_pair=False)
        model = run.build(scope)
        raw = run.solve(model, "relaxation (LP, nearest pairs)", relax=True)
    bar.update()
    if raw.status is Status.INFEASIBLE:
        bar.close()
        # raises, naming the constraint and the shortfall
        diagnose_infeasible(pb, time_limit_s=run.diagnose_limit())
    if raw.x is not None:
        if raw.status is Status.OPTIMAL:
            # only a proven-optimal LP bounds the optimum: the objective of an LP
            # stopped early is that of some feasible point of it, above its optimum
            run.lower = raw.objective
        lp = _extract(pb, run.lay, scope, model, raw.x)
        y = np.stack([raw.x[model.vars[f"open{s + 1}"].slice] for s in range(pb.n_stages)])
        run.evaluate_rounded(y, lp.piles.sum(axis=1), run.round_open(y, scope, lp.unmet))
        run.open_for_unmet(y)
        support = y.max(axis=0) > 1e-6
        if run.best is not None and not run.done() and not run.deadline.expired():
            support |= run.relaxation_mip(model, scope, exact)
        bar.update()
        if exact and run.best is not None and not run.done() and not run.deadline.expired():
            run.neighbourhood(support)
    if run.best is None and not run.deadline.expired():
        run.rescue()  # raises InfeasibleError when whole piles cannot meet the pile side
    if not run.done() and not run.deadline.expired() and exact:
        run.polish()  # with no plan yet, proves infeasibility (diagnosed) or finds one
    bar.update()
    bar.close()
    if run.best is not None:
        status = Status.OPTIMAL if run.done() else Status.TIME_LIMIT_FEASIBLE
    elif run.deadline.expired():
        status = Status.TIME_LIMIT_NO_SOLUTION
    else:  # no plan and no proof, with time left (extra constraints the steps miss)
        status = Status.ERROR
    return _solution(run, status, time.perf_counter() - t_start)


def solve_exact(pb: ChargerProblem, opts: SolverOptions, extra: ExtraConstraints | None
                ) -> ChargerSolution:
    """One MIP: every pair, whole piles, multiple-choice Erlang-C rows at every station."""
    from siting.chargers.diagnose import diagnose_infeasible

    t_start = time.perf_counter()
    run = _Run(pb, opts, extra)
    lay = run.lay
    scope = run.exact_scope()
    model = run.build(scope)
    raw = run.solve(model, "exact (MIP)")
    if raw.status is Status.INFEASIBLE:
        diagnose_infeasible(pb, time_limit_s=run.diagnose_limit())
    status = raw.status
    if raw.x is not None:
        plan = _extract(pb, lay, scope, model, raw.x)
        plan = _repair(pb, lay, replace(plan, piles=np.rint(plan.piles)))
        run.upper, run.best = objective_terms(pb, plan)["total"], plan
        run.model, run.last_x = model, raw.x
        run.lower = raw.bound if math.isfinite(raw.bound) else -math.inf
    return _solution(run, status, time.perf_counter() - t_start)


def _solution(run: _Run, status: Status, wall_s: float) -> ChargerSolution:
    pb, opts, best = run.pb, run.opts, run.best
    info = {"phases": run.rounds, "pairs": pb.costs.nnz, "clients": pb.costs.n_clients,
            "clients_reachable": int(run.lay.reach.size), "sites": pb.costs.n_sites,
            "stages": pb.n_stages, "near_sites": pb.near_sites,
            "wall_seconds": round(wall_s, 3)}
    version = run.version or solver_version(opts.name)
    S, n = pb.n_stages, pb.costs.n_sites
    if best is None:
        res = Result(status, math.nan, run.lower if math.isfinite(run.lower) else math.nan,
                     math.nan, np.empty(0, np.int64), Assignment.empty(), run.solve_s,
                     run.build_s, opts.name, version, model=info)
        z = np.zeros((S, 2, n))
        return ChargerSolution(res, np.zeros((S, n), bool), z.astype(np.int64), z,
                               np.zeros((S, pb.costs.nnz)), pb.demand.copy(), np.zeros((S, n)))
    upper = run.upper
    bound = min(run.lower, upper) if math.isfinite(run.lower) else math.nan
    gap = relative_gap(upper, bound)
    closed = math.isfinite(gap) and (gap <= opts.mip_gap + GAP_TOL or
                                     upper - bound <= opts.mip_abs_gap)
    if status is Status.OPTIMAL and not closed:
        status = Status.TIME_LIMIT_FEASIBLE
    # TIME_LIMIT_FEASIBLE also when the steps ended before the time limit without
    # closing the gap (method "relax" on an instance its relaxation cannot prove)
    info["gap_closed"] = bool(closed)
    last = S - 1
    d = pb.demand[last]
    keep = best.flow[last] > 1e-9
    cl, st = pb.costs.client[keep], pb.costs.site[keep]
    amount = best.flow[last][keep] / np.maximum(d[cl], 1e-12)
    order = np.lexsort((st, cl))
    values = run.model.values(run.last_x) if run.model is not None and \
        run.last_x is not None else {}
    res = Result(status, upper, bound, gap, np.flatnonzero(best.open[last]),
                 Assignment(cl[order], st[order], amount[order]), run.solve_s, run.build_s,
                 opts.name, version, units=np.rint(best.piles[last].sum(axis=0)),
                 unmet=np.where(d > 0, best.unmet[last] / np.maximum(d, 1e-12), 0.0),
                 values=values, model=info)
    return ChargerSolution(res, best.open, np.rint(best.piles).astype(np.int64), best.load,
                           best.flow, best.unmet, best.short, objective_terms(pb, best))
