"""How :class:`~siting.heat.problem.HeatNetworkProblem` is solved.

Up to four steps share one time budget (:class:`~siting.models.solvers.Deadline`):

1. **Shortest routes first.** When the links come in tiers (tier 0: links on a
   shortest source-zone route; tier 1: links only on alternative routes, see
   :mod:`siting.heat.graph`), the problem restricted to tier 0, with the flow bounds
   its shortest routes alone allow (``link_first_max_mw``), is solved first with at
   most :data:`FIRST_STAGE_SHARE` of the budget. It is a much smaller and tighter
   model and usually solves to the requested gap in seconds; every network of it is
   a network of the full problem.
2. **Strong bound** (HiGHS, problems with ``link_cover``). The LP relaxation of the
   model extended with one flow commodity per source on the links its routes use,
   each linked to the pipes by ``c_e^i <= sum_d min(S_i, K_d) y_ed`` (a source's heat
   cannot ride on a sliver of a pipe), is solved by interior point. Its bound is
   read safely from the LP duals (:func:`siting.models.highs.safe_lp_bound`). When
   the network in hand is within the requested gap of it, the search stops here.
3. **All links.** Otherwise the full model is solved, looking only for networks
   better than the one in hand by more than the requested gap (a cutoff); its dual
   bound joins the strong one.
4. **Polish** (after each solve). A built pipe that passes no heat on (its outflow
   is nil: it only feeds its own loss) is removed, and the flows of the remaining
   network are re-optimised as an LP with every build decision (and every gate's
   direction, where a zone network passes heat on) fixed. With a cover,
   that LP is the extended model's, so the network reported also keeps every
   source's heat on its own routes, the problem the strong bound belongs to. The
   cleaned network is kept when it is no worse.

The status is ``OPTIMAL`` only when the network reported lies within the requested
gap of the best valid bound, computed here from the network's own objective: a
solver's "optimal" is never taken on trust.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from siting.heat.problem import HeatNetworkProblem, HeatSolution
from siting.models.base import Assignment, Result, SolverOptions, Status, relative_gap
from siting.models.builder import ExtraConstraints, LinearModel
from siting.models.highs import safe_lp_bound
from siting.models.solvers import Deadline, run_solver

logger = logging.getLogger(__name__)

__all__ = ["FIRST_STAGE_SHARE", "solve_heat", "solve_problem", "trace_sources"]

#: largest share of the time limit the shortest-routes stage may use
FIRST_STAGE_SHARE = 0.4
#: largest share of what is left that the strong bound's LP may use
STRONG_BOUND_SHARE = 0.6
_EPS = 1e-6
#: the polishing LP may run this long even when the time limit is spent
_POLISH_MIN_S = 5.0
#: flows below this (MW) are read as zero in a solution
FLOW_EPS = 1e-6

Outflow = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class _Run:
    """Best network so far (model units) and what each stage did."""

    x: np.ndarray | None = None
    objective: float = math.inf
    bound: float = -math.inf          # the full model's dual bound
    strong: float = -math.inf         # the extended model's LP bound ...
    strong_valid: bool = False        # ... which holds once x is a network of it
    seconds: float = 0.0
    solver: str = ""
    version: str = ""
    stages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best_bound(self) -> float:
        return max(self.bound, self.strong if self.strong_valid else -math.inf)


def solve_heat(problem: HeatNetworkProblem, solver: SolverOptions | str | None = None, *,
               extra_constraints: ExtraConstraints | None = None) -> HeatSolution:
    """Check, build and solve ``problem``; return the network in physical terms.

    Never mutates the problem. Solved in stages (see the module docstring): the
    shortest-route links first, then (HiGHS, with ``link_cover``) the strong bound,
    then all links from the network in hand, each network polished. The status is
    ``OPTIMAL`` only within the requested gap of the best valid bound, else
    ``TIME_LIMIT_FEASIBLE`` with the gap reached.

    When no network is found (proven infeasible, or none within the time limit) the
    solution has nothing built and ``result.status`` says why: it is returned, not
    raised, like every planner's solve.

    Raises:
        InfeasibleError: a pre-check failed (see :meth:`HeatNetworkProblem.check`).
    """
    opts = SolverOptions.coerce(solver)
    problem.check()
    return solve_problem(problem, opts, extra_constraints)


def solve_problem(pb: HeatNetworkProblem, opts: SolverOptions,
                  extra: ExtraConstraints | None) -> HeatSolution:
    """Solve ``pb`` (see the module docstring)."""
    deadline = Deadline(opts.time_limit_s)
    t0 = time.perf_counter()
    model = pb.build_model(extra)
    link = pb.options()[0]
    strong = pb.build_model(extra, commodities=True) \
        if pb.link_cover is not None and opts.name == "highs" else None
    build_s = time.perf_counter() - t0
    logger.info("%s: %d links, %d diameter options, %s", pb.name, pb.n_links, link.size,
                model.stats())
    run = _Run(solver=opts.name)
    tiered = bool((pb.link_tier > 0).any() and (pb.link_tier == 0).any())
    if tiered:
        first = pb.first_stage()
        t0 = time.perf_counter()
        m1 = first.build_model(extra)
        build_s += time.perf_counter() - t0
        limit = None if opts.time_limit_s is None else FIRST_STAGE_SHARE * opts.time_limit_s
        x1, _, _ = _solve_polished(m1, opts, first.options()[0], outflow(first, m1), limit,
                                   "shortest routes", run)
        if x1 is not None:
            start = start_from(pb, model, first, m1, x1)
            if start is not None:
                run.x, run.objective = start, model.objective_of(start)
    if strong is not None and tiered:
        _strong_bound(strong, opts, deadline, run)
        _restrict(pb, model, strong, opts, deadline, run)
    if not _closed(run, opts):
        x, obj, bound = _solve_polished(model, opts, link, outflow(pb, model),
                                        deadline.remaining(), "all links", run, start=run.x)
        run.bound = max(run.bound, bound)
        if x is not None and obj <= run.objective:
            run.x, run.objective = x, obj
        if strong is not None and not tiered and not _closed(run, opts):
            _strong_bound(strong, opts, deadline, run)
        if strong is not None:
            _restrict(pb, model, strong, opts, deadline, run)
    info = {**model.stats(), "links": pb.n_links, "build_options": int(link.size),
            "tier0_links": int((pb.link_tier == 0).sum()), "stages": run.stages}
    scale = pb.cost_scale
    objective = run.objective / scale if run.x is not None else math.nan
    bound = run.best_bound / scale if math.isfinite(run.best_bound) else math.nan
    if run.x is None:
        status = Status.TIME_LIMIT_NO_SOLUTION
        # with no network in hand the full model ran without a cutoff: its
        # "infeasible" is a proof, whatever the strong bound's LP did after it
        if any(s["stage"] == "all links" and s["status"] == Status.INFEASIBLE.value
               for s in run.stages):
            status = Status.INFEASIBLE
        result = Result(status, math.nan, bound, math.nan, np.empty(0, np.int64),
                        Assignment.empty(), run.seconds, build_s, run.solver, run.version,
                        model=info)
        return no_network(pb, result)
    status = Status.OPTIMAL if _closed(run, opts) else Status.TIME_LIMIT_FEASIBLE
    return solution(pb, model, run.x, status, objective, bound, run.seconds, build_s,
                    run.solver, run.version, info)


def _tolerance(objective: float, opts: SolverOptions) -> float:
    """How far above a bound a network may lie and still count as optimal."""
    return max(opts.mip_gap * abs(objective), opts.mip_abs_gap, 1e-9)


def _closed(run: _Run, opts: SolverOptions) -> bool:
    """Is the best network proven within the requested gap? Decided from its own
    objective and the bound only, never from a solver's status."""
    if run.x is None or not math.isfinite(run.best_bound):
        return False
    return run.objective - run.best_bound <= _tolerance(run.objective, opts)


def _solve_polished(model: LinearModel, opts: SolverOptions, link: np.ndarray,
                    flows: Outflow, time_limit_s: float | None, stage: str, run: _Run, *,
                    start: np.ndarray | None = None
                    ) -> tuple[np.ndarray | None, float, float]:
    """Solve ``model``, polish; return ``(x, objective, bound)`` (``bound`` valid for
    ``model``).

    A ``start`` network is not handed to the solver as a MIP start: HiGHS 1.16 can
    return the start's vector with an "optimal" status and the bound of a better
    solution it found in its presolved space. The start's objective is passed as a
    cutoff instead: the solver looks only for networks better by more than the
    requested gap; if it proves there are none (``INFEASIBLE``), the cutoff is a
    valid bound and the start is within the gap.
    """
    deadline = Deadline(time_limit_s)
    cutoff = None
    if start is not None:
        from_start = model.objective_of(start)
        cutoff = from_start - _tolerance(from_start, opts)
    raw = run_solver(model, opts, time_limit_s=time_limit_s, cutoff=cutoff)
    run.seconds += raw.seconds
    run.version = raw.version
    x, objective = raw.x, raw.objective
    bound = raw.bound if math.isfinite(raw.bound) else -math.inf
    if start is not None and cutoff is not None:
        if raw.status is Status.INFEASIBLE:   # nothing beats the cutoff: it is a bound
            bound = cutoff
        elif math.isfinite(bound):            # a bound for networks below the cutoff
            bound = min(bound, cutoff)
        if x is None or from_start < objective:
            x, objective = start, from_start
    if x is not None:
        x, objective = _polish(model, opts, x, objective, link, flows, deadline, run)
    run.stages.append({"stage": stage, "status": raw.status.value, "objective": objective,
                       "bound": raw.bound, "seconds": round(raw.seconds, 3),
                       "build_options": int(link.size)})
    return x, objective, bound


def _with_bounds(model: LinearModel, lower: np.ndarray, upper: np.ndarray) -> LinearModel:
    lo, hi = np.array(lower, dtype=np.float64), np.array(upper, dtype=np.float64)
    lo.setflags(write=False)
    hi.setflags(write=False)
    return dataclasses.replace(model, col_lower=lo, col_upper=hi)


def _fixed(model: LinearModel, chosen: np.ndarray, x: np.ndarray | None = None,
           source: LinearModel | None = None) -> LinearModel:
    """``model`` with every build variable fixed to ``chosen`` and, given a solution
    ``x`` (of ``source``, default ``model``), every other integer block (the gates'
    directions) fixed to its values."""
    y = model.vars["build"]
    lo, hi = model.col_lower.copy(), model.col_upper.copy()
    lo[y.slice] = hi[y.slice] = np.where(chosen, 1.0, 0.0)
    if x is not None:
        source = model if source is None else source
        for name, block in model.vars.items():
            if name != "build" and model.integer[block.slice].any():
                lo[block.slice] = hi[block.slice] = np.round(x[source.vars[name].slice])
    return _with_bounds(model, lo, hi)


def _lp(model: LinearModel, opts: SolverOptions, deadline: Deadline, run: _Run) -> Any:
    left = deadline.remaining()  # an LP: a few seconds past the limit at most
    raw = run_solver(model, opts, relax=True,
                     time_limit_s=None if left is None else max(left, _POLISH_MIN_S))
    run.seconds += raw.seconds
    return raw


def _polish(model: LinearModel, opts: SolverOptions, x: np.ndarray, objective: float,
            link: np.ndarray, flows: Outflow, deadline: Deadline,
            run: _Run) -> tuple[np.ndarray, float]:
    """Drop built pipes that pass nothing on and re-optimise the flows (an LP)."""
    y = model.vars["build"]
    locked = model.row_lower[model.rows["one_diameter"].slice] >= 1.0 - 1e-9  # per link
    chosen = x[y.slice] > 0.5
    best_x, best = x, objective
    for _ in range(10):
        raw = _lp(_fixed(model, chosen, x), opts, deadline, run)
        if raw.x is None or raw.objective > best + _EPS * max(1.0, abs(best)):
            break
        best_x, best = raw.x, min(best, raw.objective)
        out, built = flows(best_x)
        drop = (built & (out <= _EPS) & ~locked)[link] & chosen
        if not drop.any():
            break
        chosen &= ~drop
    if best < objective - _EPS * max(1.0, abs(objective)):
        logger.info("heat: polishing lowered the objective from %.6g to %.6g", objective, best)
    return best_x, best


def _strong_bound(strong: LinearModel, opts: SolverOptions, deadline: Deadline,
                  run: _Run) -> None:
    """The extended model's LP bound, by interior point (see :func:`safe_lp_bound`)."""
    left = deadline.remaining()
    limit = None if left is None else STRONG_BOUND_SHARE * left
    t0 = time.perf_counter()
    bound = safe_lp_bound(strong, opts, time_limit_s=limit)
    seconds = time.perf_counter() - t0
    run.seconds += seconds
    run.stages.append({"stage": "strong bound", "status": "optimal" if bound is not None
                       else "time_limit_no_solution", "objective": None, "bound": bound,
                       "seconds": round(seconds, 3), "build_options": strong.vars["build"].size})
    if bound is not None:
        run.strong = bound


def _restrict(pb: HeatNetworkProblem, model: LinearModel, strong: LinearModel,
              opts: SolverOptions, deadline: Deadline, run: _Run) -> None:
    """Re-optimise the best network's flows in the extended model (every source's heat
    on its own routes), so it belongs to the problem the strong bound bounds."""
    run.strong_valid = False
    if run.x is None or not math.isfinite(run.strong):
        return
    chosen = run.x[model.vars["build"].slice] > 0.5
    raw = _lp(_fixed(strong, chosen, run.x, model), opts, deadline, run)
    if raw.x is None:
        logger.warning("%s: the network found sends some heat off its sources' routes; the "
                       "strong bound does not apply to it", pb.name)
        return
    x = np.zeros(model.n_cols)
    for name, block in model.vars.items():
        x[block.slice] = raw.x[strong.vars[name].slice]
    run.x, run.objective, run.strong_valid = x, model.objective_of(x), True


# ------------------------------------------------------------------- networks


def physical(pb: HeatNetworkProblem, model: LinearModel, x: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diameter index per link (-1: not built), net flow u->v and loss (MW)."""
    vals = model.values(x)
    link, dn, _ = pb.options()
    chosen = vals["build"] > 0.5
    dn_index = np.full(pb.n_links, -1, np.int64)
    dn_index[link[chosen]] = dn[chosen]
    built = dn_index >= 0
    loss = np.zeros(pb.n_links)
    loss[built] = pb.link_length_m[built] * pb.catalogue.loss_mw_per_m[dn_index[built]]
    net = np.where(built, vals["flow_fw"] - vals["flow_bw"], 0.0)
    net[np.abs(net) < FLOW_EPS] = 0.0
    return dn_index, net, loss


def outflow(pb: HeatNetworkProblem, model: LinearModel) -> Outflow:
    """A function of a solution vector: each link's outflow (MW) and built flag."""
    def flows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dn_index, net, loss = physical(pb, model, x)
        built = dn_index >= 0
        return np.where(built, np.abs(net) - loss / 2.0, 0.0), built
    return flows


def start_from(pb: HeatNetworkProblem, model: LinearModel, other: HeatNetworkProblem,
               other_model: LinearModel, x: np.ndarray) -> np.ndarray | None:
    """``other``'s solution as a full vector of ``model`` (``None`` if it does not fit).

    Diameter choices are matched by (link, diameter); every other variable block of
    the same name and size is copied."""
    link, dn, _ = pb.options()
    o_link, o_dn, _ = other.options()
    index = {(int(a), int(b)): j for j, (a, b) in enumerate(zip(link, dn, strict=True))}
    chosen = x[other_model.vars["build"].slice] > 0.5
    out = np.zeros(model.n_cols)
    y = model.vars["build"]
    for a, b in zip(o_link[chosen], o_dn[chosen], strict=True):
        j = index.get((int(a), int(b)))
        if j is None:
            return None
        out[y.start + j] = 1.0
    for name, block in model.vars.items():
        if name == "build":
            continue
        theirs = other_model.vars.get(name)
        if theirs is None or theirs.size != block.size:
            return None
        out[block.slice] = np.minimum(x[theirs.slice], model.col_upper[block.slice])
    return out


def no_network(pb: HeatNetworkProblem, result: Result) -> HeatSolution:
    """The solution of a solve that found no network: nothing built, nothing delivered.

    ``result`` says why (``INFEASIBLE`` or ``TIME_LIMIT_NO_SOLUTION``); the planner
    contract returns it rather than raising (:func:`siting.planners.finish`)."""
    links, sources, gates = pb.n_links, pb.n_sources, len(pb.gate_node)
    zeros = np.zeros
    return HeatSolution(result=result, dn_index=np.full(links, -1), from_node=pb.link_u,
                        inflow_mw=zeros(links), outflow_mw=zeros(links), loss_mw=zeros(links),
                        supply_mw=zeros(sources), gate_mw=zeros(gates),
                        delivered_mw=zeros(pb.n_sinks), unmet_mw=pb.sink_gap_mw.copy(),
                        chp_mw=pb.sink_demand_mw - pb.sink_gap_mw,
                        attribution=Assignment.empty(),
                        gate_out_mw=zeros(pb.outgate_node.size))


def solution(pb: HeatNetworkProblem, model: LinearModel, x: np.ndarray, status: Status,
             objective: float, bound: float, solve_s: float, build_s: float, solver: str,
             version: str, info: dict[str, Any]) -> HeatSolution:
    """The network of ``x`` in physical terms, with its :class:`Result`."""

    vals = model.values(x)
    dn_index, net, loss = physical(pb, model, x)
    built = dn_index >= 0
    from_node = np.where(net >= 0, pb.link_u, pb.link_v)
    inflow = np.where(built, np.abs(net) + loss / 2.0, 0.0)
    out = np.where(built, np.abs(net) - loss / 2.0, 0.0)
    supply, gate, deliver, gate_out = (_clean(vals[k]) for k in ("supply", "gate", "deliver",
                                                                  "gate_out"))
    # demand left unmet is no network decision: given the deliveries, the existing CHP
    # covers what it can unless leaving demand unmet is cheaper than CHP heat (ties:
    # serve it). The LP picks the same extreme up to ties; the objective is recomputed.
    gap = pb.sink_gap_mw
    unmet = np.where(pb.sink_unmet_cny_per_mw_yr >= pb.sink_value_cny_per_mw_yr,
                     np.maximum(gap - deliver, 0.0),
                     np.maximum(np.minimum(gap, pb.sink_demand_mw - deliver), 0.0))
    chp = np.maximum(pb.sink_demand_mw - deliver - unmet, 0.0)
    attribution = trace_sources(pb, from_node, out, built, supply, gate, gate_out)
    costs = pb.cost_breakdown(dn_index, supply, deliver, unmet)
    if costs["objective_cny"] < objective - 1e-9 * max(1.0, abs(objective)):
        objective = costs["objective_cny"]
    result = Result(status, objective, bound, relative_gap(objective, bound),
                    np.flatnonzero(built), attribution, solve_s, build_s, solver, version,
                    unmet=unmet, values={**vals, "unmet": unmet}, model={**info,
                                                                         "costs": costs})
    return HeatSolution(result=result, dn_index=dn_index, from_node=from_node,
                        inflow_mw=inflow, outflow_mw=out, loss_mw=loss, supply_mw=supply,
                        gate_mw=gate, delivered_mw=deliver, unmet_mw=unmet, chp_mw=chp,
                        attribution=attribution, costs=costs, gate_out_mw=gate_out)


def trace_sources(pb: HeatNetworkProblem, from_node: np.ndarray, outflow_mw: np.ndarray,
                  built: np.ndarray, supply: np.ndarray, gate: np.ndarray,
                  gate_out: np.ndarray | None = None) -> Assignment:
    """Which source's heat reaches which sink (proportional sharing at every node).

    Each node mixes the heat reaching it (pipe outflows and its own sources) and
    sends the mix on, in proportion, into its outgoing pipes and gates. Each sink's
    network is one more node: its gates feed it, and it sends its mix on to its
    deliveries and its out-gates. Solved as one sparse linear system, so a built loop
    is fine. Returns an :class:`~siting.models.base.Assignment` with ``client`` =
    sink, ``site`` = source and ``amount`` = share of the sink's *demand* met by that
    source.
    """
    n, nk = pb.n_nodes, pb.n_sinks
    out_mw = np.zeros(pb.outgate_node.size) if gate_out is None else np.asarray(gate_out)
    if not pb.n_sources or not nk or gate.sum() <= FLOW_EPS:
        return Assignment.empty()
    e = np.flatnonzero(built & (outflow_mw > FLOW_EPS))
    ug, uo = np.flatnonzero(gate > FLOW_EPS), np.flatnonzero(out_mw > FLOW_EPS)
    # arcs: pipes, gates (node -> network n + k), out-gates (network -> node)
    tail = np.r_[from_node[e], pb.gate_node[ug], n + pb.outgate_sink[uo]]
    head = np.r_[np.where(from_node[e] == pb.link_u[e], pb.link_v[e], pb.link_u[e]),
                 n + pb.gate_sink[ug], pb.outgate_node[uo]]
    arc_mw = np.r_[outflow_mw[e], gate[ug], out_mw[uo]]
    size = n + nk
    through = np.bincount(head, weights=arc_mw, minlength=size) + \
        np.bincount(pb.source_node, weights=supply, minlength=size)
    live = through > FLOW_EPS
    coef = np.where(live[tail], arc_mw / np.where(live[tail], through[tail], 1.0), 0.0)
    m = sp.csr_matrix((coef, (head, tail)), shape=(size, size))
    rhs = sp.csr_matrix((supply, (pb.source_node, np.arange(pb.n_sources))),
                        shape=(size, pb.n_sources)).toarray()
    n = size
    with np.errstate(all="ignore"):
        mix = spla.spsolve((sp.identity(n, format="csc") - m.tocsc()), rhs)
    mix = np.asarray(mix).reshape(n, pb.n_sources)
    if not np.all(np.isfinite(mix)):  # a loop carrying heat with no exit: no mixing answer
        logger.warning("%s: heat circulates in a closed loop; source attribution skipped",
                       pb.name)
        return Assignment.empty()
    share = np.where(live[:, None], mix / np.where(live, through, 1.0)[:, None], 0.0)
    delivered = np.bincount(pb.gate_sink[ug], weights=gate[ug], minlength=nk) - \
        np.bincount(pb.outgate_sink[uo], weights=out_mw[uo], minlength=nk)
    sink_src = share[pb.n_nodes:] * np.maximum(delivered, 0.0)[:, None]  # MW per sink, source
    k, i = np.nonzero(sink_src > FLOW_EPS)
    demand = np.where(pb.sink_demand_mw > 0, pb.sink_demand_mw, 1.0)
    return Assignment(k, i, sink_src[k, i] / demand[k])


def _clean(a: np.ndarray) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64).copy()
    out[np.abs(out) < FLOW_EPS] = 0.0
    return out
