"""Independent checker of a charging plan: re-verifies a solution from the raw data.

It shares no code with the model builder or the Erlang-C table: the service level is
re-computed from the defining sum of the Erlang C formula (in log space) at each
station's actual pile count and load, and every other constraint from the problem's
arrays. Tests run it on every solved instance.

Example:
    >>> report = check_charger_solution(problem, solution)     # doctest: +SKIP
    >>> report.ok, report.violations[:3]                       # doctest: +SKIP
    (True, ())
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from siting.chargers.problem import ChargerProblem, ChargerSolution
from siting.errors import SitingError

logger = logging.getLogger(__name__)

__all__ = ["ChargerCheck", "ServiceLevel", "check_charger_solution", "erlang_c_sum"]


@dataclass(frozen=True)
class ServiceLevel:
    """``P(wait > max_wait_minutes) <= wait_probability`` with sessions arriving over
    ``operating_hours``; ``session_minutes`` per pile type (slow, fast)."""

    max_wait_minutes: float
    wait_probability: float
    operating_hours: float
    session_minutes: tuple[float, float]


@dataclass(frozen=True)
class ChargerCheck:
    """The checker's verdict: ``ok`` and every violation found, plus key figures."""

    violations: tuple[str, ...]
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def raise_if_failed(self) -> None:
        if self.violations:
            body = "\n".join(f"  - {v}" for v in self.violations[:20])
            raise SitingError(f"charging plan fails {len(self.violations)} checks:\n{body}")


def erlang_c_sum(servers: int, load_erlang: float) -> float:
    """Erlang C from its defining sum, in log space (1 when ``load >= servers``)."""
    if load_erlang <= 0:
        return 0.0
    if servers <= 0 or load_erlang >= servers:
        return 1.0
    c, a = int(servers), float(load_erlang)
    k = np.arange(c)
    logs = k * math.log(a) - np.array([math.lgamma(i + 1.0) for i in k])
    tail = c * math.log(a) - math.lgamma(c + 1.0) + math.log(c / (c - a))
    top = max(float(logs.max()), tail)
    head = float(np.exp(logs - top).sum())
    return math.exp(tail - top) / (head + math.exp(tail - top))


def _p_wait(servers: int, sessions_day: float, minutes: float, level: ServiceLevel,
            scale: float = 1.0) -> float:
    """``P(wait > W)`` in the busiest hour: ``sessions_day / (hours × σ)`` arrive in it
    (``σ = 1 / (peak share × hours)``, see :class:`ChargerProblem`)."""
    lam = sessions_day / (level.operating_hours * scale)  # per hour, at the peak
    mu = 60.0 / minutes
    if lam <= 0:
        return 0.0
    if lam >= servers * mu:
        return 1.0
    return erlang_c_sum(servers, lam / mu) * math.exp(
        -(servers * mu - lam) * level.max_wait_minutes / 60.0)


def check_charger_solution(problem: ChargerProblem, solution: ChargerSolution, *,
                           service: ServiceLevel | None = None,
                           radius_m: float | None = None, tol: float = 1e-6) -> ChargerCheck:
    """Re-verify ``solution`` against ``problem`` (see the module docstring).

    Checks, per stage: demand balance (served + unmet = demand, all >= 0); flows only on
    allowed pairs and, with ``radius_m``, within it; pile totals (exact or at least),
    the fast share and, in stage 1, district minimums; per-site limits (allowed types,
    existing + new <= max, piles only at open stations, at least one pile at an open
    new station, forbidden closed, locked open); the Erlang-C service level of each
    pile type's queue at its load (``service``; else against the problem's tables);
    substation headroom; stage 2 keeping every stage-1 station and pile; and the
    reported objective against one recomputed from the plan.
    """
    pb, sol = problem, solution
    v: list[str] = []
    figs: dict[str, float] = {}
    S, n = pb.n_stages, pb.costs.n_sites
    c = pb.costs
    if sol.piles.shape != (S, 2, n) or sol.flow.shape != (S, c.nnz):
        return ChargerCheck((f"solution arrays have shapes {sol.piles.shape}/{sol.flow.shape}, "
                             f"expected {(S, 2, n)}/{(S, c.nnz)}",))
    piles = np.asarray(sol.piles)
    if np.any(piles < 0):
        v.append("negative pile counts")
    new_site = pb.existing == 0
    room = pb.max_piles - pb.existing
    for s in range(S):
        lab = f"stage {s + 1}"
        d = pb.demand[s]
        served = np.bincount(c.client, weights=sol.flow[s], minlength=c.n_clients)
        if np.any(sol.flow[s] < -tol) or np.any(sol.unmet[s] < -tol):
            v.append(f"{lab}: negative flow or unmet demand")
        bad = np.abs(served + sol.unmet[s] - d) > tol * np.maximum(1.0, d)
        if bad.any():
            v.append(f"{lab}: {int(bad.sum())} clients where served + unmet != demand")
        if radius_m is not None:
            far = (sol.flow[s] > tol) & (c.cost > radius_m + 1e-9)
            if far.any():
                v.append(f"{lab}: {int(far.sum())} flows beyond the {radius_m:g} m radius")
        total = int(piles[s].sum())
        target = int(pb.piles[s])
        if (pb.rule == "exact" and total != target) or total < target:
            v.append(f"{lab}: {total} new piles, target {target} ({pb.rule})")
        fast = int(piles[s, 1].sum())
        if fast < pb.fast_share_min * total - tol:
            v.append(f"{lab}: {fast} fast piles of {total}, below the share "
                     f"{pb.fast_share_min:g}")
        for t, name in enumerate(("slow", "fast")):
            off = (piles[s, t] > 0) & ~pb.allow[t]
            if off.any():
                v.append(f"{lab}: {int(off.sum())} sites have {name} piles they do not allow")
        site_new = piles[s].sum(axis=0)
        over = site_new > room
        if over.any():
            v.append(f"{lab}: {int(over.sum())} sites exceed their max piles")
        is_open = np.asarray(sol.open[s], dtype=bool)
        if np.any((site_new > 0) & ~is_open):
            v.append(f"{lab}: piles at closed sites")
        if np.any(is_open & new_site & (site_new < 1)):
            v.append(f"{lab}: open new stations without a pile")
        if np.any(~is_open & ~new_site):
            v.append(f"{lab}: an existing station is closed")
        if s == 0 and pb.reach_all:
            near = np.bincount(c.client, weights=is_open[c.site], minlength=c.n_clients)
            lost = pb.reach_clients()[near[pb.reach_clients()] < 1]
            if lost.size:
                v.append(f"{lab}: {lost.size} demand points have no open station within "
                         f"reach (reach_all)")
        if pb.forbidden.size and np.any(is_open[pb.forbidden] & new_site[pb.forbidden]):
            v.append(f"{lab}: a rejected (forbidden) site is open")
        if s == 0 and pb.locked.size and not np.all(is_open[pb.locked]):
            v.append(f"{lab}: an approved (locked) site is closed")
        site_load = np.bincount(c.site, weights=sol.flow[s], minlength=n)
        if np.any(site_load > tol * np.maximum(1.0, site_load)) and np.any(
                (site_load > tol) & ~is_open):
            v.append(f"{lab}: sessions served at closed sites")
        split = sol.load[s].sum(axis=0)
        if np.any(np.abs(split - site_load) > 1e-5 * np.maximum(1.0, site_load)):
            v.append(f"{lab}: slow + fast loads differ from the sessions served")
        worst = 0.0
        for t, pt in enumerate(pb.pile_types):
            base = pb.existing if t == 0 else np.zeros(n, np.int64)
            scale = pb.capacity_scale(t)
            servers = base + piles[s, t]
            for i in np.flatnonzero(sol.load[s, t] > tol):
                if service is not None:
                    p = _p_wait(int(servers[i]), float(sol.load[s, t, i]),
                                service.session_minutes[t], service, float(scale[i]))
                    worst = max(worst, p)
                    if p > service.wait_probability + 1e-9:
                        v.append(f"{lab}: {pb.site_names[i]} {pt.name} queue: "
                                 f"P(wait > {service.max_wait_minutes:g} min) = {p:.9f} > "
                                 f"{service.wait_probability:g} with {int(servers[i])} piles "
                                 f"and {sol.load[s, t, i]:.3f} sessions/day")
                else:
                    cap = pt.table[min(int(servers[i]), pt.table.size - 1)] * scale[i]
                    if sol.load[s, t, i] > cap + 1e-6:
                        v.append(f"{lab}: {pb.site_names[i]} {pt.name} load "
                                 f"{sol.load[s, t, i]:.3f} > table {cap:.3f}")
        figs[f"worst_p_wait_{s + 1}"] = worst
        if pb.headroom_kw.size:
            head = pb.headroom_kw[s]
            kw = piles[s, 0] * pb.slow.kw + piles[s, 1] * pb.fast.kw
            has = pb.substation >= 0
            use = np.bincount(pb.substation[has], weights=kw[has],
                              minlength=head.size)
            hot = use > head + 1e-6
            if hot.any():
                v.append(f"{lab}: {int(hot.sum())} substations over headroom (worst "
                         f"{float((use - head).max()):.1f} kW)")
            figs[f"max_substation_use_{s + 1}"] = float(
                (use / np.maximum(head, 1e-9)).max(initial=0.0))
    for k, need in enumerate(pb.district_min):
        got = int(piles[0][:, pb.district == k].sum())
        if got < need:
            v.append(f"district {pb.district_names[k]}: {got} new piles < minimum {need:g}")
    if S == 2:
        if np.any(np.asarray(sol.open[1], bool) < np.asarray(sol.open[0], bool)):
            v.append("stage 2 closes a stage-1 station")
        if np.any(piles[1] < piles[0]):
            v.append("stage 2 removes stage-1 piles")
    w = pb.stage_weight
    capex = np.array([pb.slow.annual_capex_cny, pb.fast.annual_capex_cny])
    recomputed = float(
        np.sum(w * (np.asarray(sol.open, float) @ pb.station_cost))
        + np.sum(w * (piles.astype(float) * capex[None, :, None]).sum(axis=(1, 2)))
        + pb.distance_cost * np.sum(w * (sol.flow @ c.cost))
        + pb.unmet_cost * np.sum(w * sol.unmet[:, c.degree() > 0].sum(axis=1))
        + pb.ratio_cost * np.sum(w * np.asarray(sol.shortfall).sum(axis=1)))
    figs["objective"] = recomputed
    obj = sol.result.objective
    if math.isfinite(obj) and abs(recomputed - obj) > 1e-6 * max(1.0, abs(obj)):
        v.append(f"reported objective {obj:.6g} != recomputed {recomputed:.6g}")
    if pb.ratio_cost > 0:
        kappa = pb.ratio()
        for s in range(S):
            site_load = np.bincount(c.site, weights=sol.flow[s], minlength=n)
            need = kappa[s] * site_load - piles[s].sum(axis=0) - pb.existing
            if np.any(np.asarray(sol.shortfall[s]) < need - 1e-6):
                v.append(f"stage {s + 1}: ratio shortfall under-reported")
    return ChargerCheck(tuple(v), figs)
