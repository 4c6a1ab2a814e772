"""Independent re-verification of heat networks.

Nothing here reuses the model code: the checks read the problem's input arrays and a
network in physical terms (diameter, direction and inflow per link; supply, gate
and delivery amounts) and recompute losses, balances, capacities and the objective
from first principles. :func:`check_heat_solution` works on
:class:`~siting.heat.problem.HeatSolution`; :func:`check_heat_layers` on the
planner's output layers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np

__all__ = ["check_heat_layers", "check_heat_solution"]


def check_heat_solution(problem: Any, solution: Any, *, tol_mw: float | None = None,
                        objective_rtol: float = 1e-6) -> list[str]:
    """Every way ``solution`` breaks ``problem``'s rules; an empty list when none.

    Checked: chosen diameters exist and respect forbidden/locked links; each built
    pipe's inflow is within its diameter's capacity and the link's ``link_max_mw``,
    and its outflow is inflow minus ``length x loss per metre``; heat balances at
    every node (pipe outflows in, inflows out, sources in, gates out, out-gates in);
    source capacities; sink deliveries equal their gates minus their out-gates and
    stay within demand, out-gates pass on at most the sink's demand, unmet demand
    stays within what the existing CHP cannot cover; every used source reaches a
    delivering gate (or feeds only the losses of built pipes, e.g. an approved stub)
    and every served sink is reached from a used source along built pipes in their
    flow direction (a sink's network passes heat from its gates to its out-gates);
    every required interconnection is carried (:func:`_required`); and the objective
    recomputed from these amounts, season losses included, equals the solver's.
    """
    pb, s = problem, solution
    cat = pb.catalogue
    n_links = pb.link_u.size
    tol = tol_mw if tol_mw is not None else 1e-5 * max(1.0, float(np.sum(pb.source_mw)))
    out: list[str] = []
    dn = np.asarray(s.dn_index)
    if dn.shape != (n_links,):
        return [f"dn_index has shape {dn.shape}, expected ({n_links},)"]
    if ((dn < -1) | (dn >= cat.dn.size)).any():
        out.append(f"links {np.flatnonzero((dn < -1) | (dn >= cat.dn.size))[:5].tolist()} "
                   f"name a diameter outside the catalogue")
        return out
    built = dn >= 0
    for e in np.flatnonzero(built & pb.link_forbidden)[:5]:
        out.append(f"link {e} is forbidden but built")
    for e in np.flatnonzero(~built & pb.link_locked)[:5]:
        out.append(f"link {e} is locked but not built")
    length = pb.link_length_m
    loss = np.where(built, length * cat.loss_mw_per_m[np.maximum(dn, 0)], 0.0)
    cap = np.where(built, np.minimum(cat.max_mw[np.maximum(dn, 0)], pb.link_max_mw), 0.0)
    inflow, outflow = np.asarray(s.inflow_mw), np.asarray(s.outflow_mw)
    frm = np.asarray(s.from_node)
    for e in np.flatnonzero(built & (frm != pb.link_u) & (frm != pb.link_v))[:5]:
        out.append(f"link {e} has flow entering at node {frm[e]}, not one of its ends")
    for e in np.flatnonzero(~built & ((np.abs(inflow) > tol) | (np.abs(outflow) > tol)))[:5]:
        out.append(f"link {e} is not built but carries {inflow[e]:.6g} MW")
    for e in np.flatnonzero(built & (inflow > cap + tol))[:5]:
        out.append(f"link {e} (DN{cat.dn[dn[e]]}) carries {inflow[e]:.6g} MW in, over its "
                   f"{cap[e]:.6g} MW capacity")
    for e in np.flatnonzero(built & (inflow < -tol))[:5]:
        out.append(f"link {e} has negative inflow {inflow[e]:.6g} MW")
    for e in np.flatnonzero(built & (np.abs(inflow - loss - outflow) > tol))[:5]:
        out.append(f"link {e}: outflow {outflow[e]:.6g} MW is not inflow {inflow[e]:.6g} "
                   f"minus loss {loss[e]:.6g} MW")
    for e in np.flatnonzero(built & (outflow < -tol) & ~pb.link_locked)[:5]:
        out.append(f"link {e} is built but does not carry its own loss (outflow "
                   f"{outflow[e]:.6g} MW)")
    head = np.where(frm == pb.link_u, pb.link_v, pb.link_u)
    supply, gate = np.asarray(s.supply_mw), np.asarray(s.gate_mw)
    n_out = pb.outgate_node.size
    gate_out = np.asarray(getattr(s, "gate_out_mw", np.zeros(n_out)))
    if gate_out.shape != (n_out,):
        return [*out, f"gate_out_mw has shape {gate_out.shape}, expected ({n_out},)"]
    n = pb.n_nodes
    bal = (np.bincount(head[built], weights=outflow[built], minlength=n)
           - np.bincount(frm[built], weights=inflow[built], minlength=n)
           + np.bincount(pb.source_node, weights=supply, minlength=n)
           - np.bincount(pb.gate_node, weights=gate, minlength=n)
           + np.bincount(pb.outgate_node, weights=gate_out, minlength=n))
    for node in np.flatnonzero(np.abs(bal) > tol)[:5]:
        out.append(f"node {node}: heat does not balance ({bal[node]:+.6g} MW)")
    for i in np.flatnonzero((supply < -tol) | (supply > pb.source_mw + tol))[:5]:
        out.append(f"source {i} supplies {supply[i]:.6g} MW, outside [0, {pb.source_mw[i]:.6g}]")
    for g in np.flatnonzero(gate < -tol)[:5]:
        out.append(f"gate {g} hands over a negative {gate[g]:.6g} MW")
    w, u = np.asarray(s.delivered_mw), np.asarray(s.unmet_mw)
    demand = pb.sink_demand_mw
    gap = np.maximum(demand - pb.sink_chp_mw, 0.0)
    per_sink = np.bincount(pb.gate_sink, weights=gate, minlength=demand.size)
    passed = np.bincount(pb.outgate_sink, weights=gate_out, minlength=demand.size)
    for o in np.flatnonzero(gate_out < -tol)[:5]:
        out.append(f"out-gate {o} passes on a negative {gate_out[o]:.6g} MW")
    for k in np.flatnonzero(passed > demand + tol)[:5]:
        out.append(f"sink {k}: its network passes on {passed[k]:.6g} MW, over its "
                   f"{demand[k]:.6g} MW demand")
    for k in np.flatnonzero(np.abs(per_sink - passed - w) > tol)[:5]:
        out.append(f"sink {k}: gates hand over {per_sink[k]:.6g} MW and out-gates pass on "
                   f"{passed[k]:.6g} MW but {w[k]:.6g} MW is reported delivered")
    for k in np.flatnonzero((w < -tol) | (w > demand + tol))[:5]:
        out.append(f"sink {k}: {w[k]:.6g} MW delivered, outside [0, demand {demand[k]:.6g}]")
    for k in np.flatnonzero((u < -tol) | (u > gap + tol))[:5]:
        out.append(f"sink {k}: unmet {u[k]:.6g} MW outside [0, {gap[k]:.6g}] (demand beyond "
                   f"the existing CHP)")
    for k in np.flatnonzero(w + u < gap - tol)[:5]:
        out.append(f"sink {k}: {gap[k] - w[k] - u[k]:.6g} MW of demand is neither met nor "
                   f"counted unmet")
    out += _connectivity(pb, built, frm, head, inflow, outflow, loss, supply, gate, w,
                         tol, gate_out)
    out += _required(pb, built, frm, head, outflow, supply, gate, gate_out, w, tol)
    obj = _objective(pb, dn, built, supply, w, u)
    result = getattr(s, "result", None)
    reported = getattr(result, "objective", math.nan)
    if math.isfinite(reported) and abs(obj - reported) > objective_rtol * max(1.0, abs(obj)):
        out.append(f"objective recomputed as {obj:.10g} CNY/yr but the solver reported "
                   f"{reported:.10g}")
    return out


def _objective(pb: Any, dn: np.ndarray, built: np.ndarray, supply: np.ndarray,
               w: np.ndarray, u: np.ndarray) -> float:
    cat = pb.catalogue
    capex = sum(cat.cost_cny_per_m[dn[e]] * pb.link_length_m[e] + pb.link_extra_cny[e]
                for e in np.flatnonzero(built))
    lost = sum(cat.loss_mw_per_m[dn[e]] * pb.link_length_m[e] for e in np.flatnonzero(built))
    gap = np.maximum(pb.sink_demand_mw - pb.sink_chp_mw, 0.0)
    total = pb.annuity * capex + getattr(pb, "loss_cny_per_mw_yr", 0.0) * lost
    total += float(np.sum(pb.source_cost_cny_per_mw_yr * supply))
    total += float(np.sum(pb.sink_delivery_cost_cny_per_mw_yr * w))
    total -= float(np.sum(pb.sink_value_cny_per_mw_yr * (w + u - gap)))
    total -= float(np.sum(pb.sink_unmet_cny_per_mw_yr * (gap - u)))
    return float(total)


def _connectivity(pb: Any, built: np.ndarray, frm: np.ndarray, head: np.ndarray,
                  inflow: np.ndarray, outflow: np.ndarray, loss: np.ndarray,
                  supply: np.ndarray, gate: np.ndarray, w: np.ndarray,
                  tol: float, gate_out: np.ndarray) -> list[str]:
    """Used sources reach a delivering gate (or only keep built pipes warm); served
    sinks are reached from a used source. A sink's network (node ``("net", k)``)
    takes heat at its gates and passes it on at its out-gates.

    A built pipe loses heat whatever it carries, so a source may feed nothing but the
    losses of pipes that must be built (a reviewer-approved stub): that is allowed
    when its supply is at most the losses of the pipes its heat enters.
    """
    n = pb.n_nodes
    succ = _arcs(pb, built, frm, head, outflow, gate, gate_out, tol)
    warmed: dict[int, list[int]] = {}  # node -> built pipes heat enters there
    for e in np.flatnonzero(built & (inflow > tol)):
        warmed.setdefault(int(frm[e]), []).append(int(e))
    warm_succ = {u: [int(head[e]) for e in es] for u, es in warmed.items()}
    delivering = set(pb.gate_node[gate > tol].tolist())
    out = []
    reached_from_used: set[int] = set()
    for i in np.flatnonzero(supply > tol):
        seen = _bfs(int(pb.source_node[i]), succ, n)
        reached_from_used |= seen
        if seen & delivering:
            continue
        entered = {e for node in _bfs(int(pb.source_node[i]), warm_succ, n)
                   for e in warmed.get(node, [])}
        lost = float(loss[list(entered)].sum()) if entered else 0.0
        if supply[i] > lost + tol:
            out.append(f"source {i} supplies {supply[i]:.6g} MW but reaches no gate that "
                       f"hands heat to a sink (the pipes it feeds lose only {lost:.6g} MW)")
    for k in np.flatnonzero(w > tol):
        gates = set(pb.gate_node[(pb.gate_sink == k) & (gate > tol)].tolist())
        if not gates & reached_from_used:
            out.append(f"sink {k} receives {w[k]:.6g} MW but no used source reaches it")
    return out


def _arcs(pb: Any, built: np.ndarray, frm: np.ndarray, head: np.ndarray,
          outflow: np.ndarray, gate: np.ndarray, gate_out: np.ndarray,
          tol: float) -> dict[Any, list[Any]]:
    """Successors along which heat moves: carrying pipes, gates into their sink's
    network (``("net", k)``) and out-gates out of it."""
    succ: dict[Any, list[Any]] = {}
    for e in np.flatnonzero(built & (outflow > tol)):
        succ.setdefault(int(frm[e]), []).append(int(head[e]))
    for g in np.flatnonzero(gate > tol):
        succ.setdefault(int(pb.gate_node[g]), []).append(("net", int(pb.gate_sink[g])))
    for o in np.flatnonzero(gate_out > tol):
        succ.setdefault(("net", int(pb.outgate_sink[o])), []).append(int(pb.outgate_node[o]))
    return succ


def _required(pb: Any, built: np.ndarray, frm: np.ndarray, head: np.ndarray,
              outflow: np.ndarray, supply: np.ndarray, gate: np.ndarray,
              gate_out: np.ndarray, w: np.ndarray, tol: float) -> list[str]:
    """Each required interconnection: from its used sources, heat moves along carrying
    pipes into networks of its first stage, which take at least its ``min_mw``; from
    those networks (only) it moves on to the next stage, which takes its own, and so
    on. Amounts are the sinks' deliveries; routes follow the flow directions."""
    out: list[str] = []
    reqs = getattr(pb, "required", ())
    if not reqs:
        return out
    succ = _arcs(pb, built, frm, head, outflow, gate, gate_out, tol)
    for req in reqs:
        src = [i for i in req.sources if supply[i] > tol]
        starts: set[Any] = {int(pb.source_node[i]) for i in src}
        for j, (stage, mw) in enumerate(zip(req.stages, req.min_mw, strict=True)):
            seen: set[Any] = set()
            for st in starts:
                seen |= _bfs(st, succ, 0)
            got = [k for k in stage if ("net", int(k)) in seen and w[k] > tol]
            taken = float(sum(w[k] for k in got))
            if taken < mw - tol:
                frm_txt = "its sources" if j == 0 else f"stage {j}"
                out.append(f"required interconnection {req.name!r}: stage {j + 1} (sinks "
                           f"{list(stage)}) takes {taken:.6g} MW reached from {frm_txt}, "
                           f"below its {mw:.6g} MW")
                break
            starts = {("net", int(k)) for k in got}
    return out


def _bfs(start: Any, succ: Mapping[Any, list[Any]], n: int) -> set[Any]:
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def check_heat_layers(layers: Mapping[str, gpd.GeoDataFrame], catalogue: Any, *,
                      tol_mw: float = 1e-4) -> list[str]:
    """Re-check the planner's output layers on their own; an empty list when sound.

    ``heat_pipes`` rows (one per road edge): DN in the catalogue, ``flow_mw`` within
    that DN's capacity, ``loss_mw = length_m x`` the DN's loss per metre, and along
    each model link consecutive edges pass on exactly ``flow_mw - loss_mw``; the
    heat used at the sources minus every pipe loss equals the piped heat the sinks
    receive (waste heat plus CHP extraction); a sink's ``met_mw`` is its piped heat
    plus its existing CHP supply and never above demand.
    """
    pipes, sources, sinks = (layers[k] for k in ("heat_pipes", "heat_sources", "heat_sinks"))
    out: list[str] = []
    by_dn = {int(d): i for i, d in enumerate(catalogue.dn)}
    for row in pipes.itertuples():
        i = by_dn.get(int(row.dn))
        if i is None:
            out.append(f"pipe {row.id}: DN{row.dn} is not in the catalogue")
            continue
        if row.flow_mw > catalogue.max_mw[i] + tol_mw:
            out.append(f"pipe {row.id}: {row.flow_mw:.6g} MW over DN{row.dn}'s "
                       f"{catalogue.max_mw[i]:.6g} MW")
        want = row.length_m * catalogue.loss_mw_per_m[i]
        if abs(row.loss_mw - want) > tol_mw:
            out.append(f"pipe {row.id}: loss {row.loss_mw:.6g} MW, expected {want:.6g} MW")
    for link, grp in pipes.groupby("link", sort=False):
        grp = grp.sort_values("seq")
        passed = (grp["flow_mw"] - grp["loss_mw"]).to_numpy()[:-1]
        nxt = grp["flow_mw"].to_numpy()[1:]
        if passed.size and np.abs(passed - nxt).max() > tol_mw:
            out.append(f"link {link}: flow does not pass on along its road edges")
        if grp["dn"].nunique() > 1:
            out.append(f"link {link}: one link has several diameters")
    used = float(sources["used_mw"].sum())
    lost = float(pipes["loss_mw"].sum())
    piped = sinks["waste_heat_mw"] + (sinks["chp_extraction_mw"]
                                      if "chp_extraction_mw" in sinks.columns else 0.0)
    got = float(piped.sum())
    if abs(used - lost - got) > tol_mw * max(1.0, len(pipes)):
        out.append(f"sources supply {used:.6g} MW, pipes lose {lost:.6g} MW, but sinks receive "
                   f"{got:.6g} MW")
    bad = sinks["met_mw"] > sinks["demand_mw"] + tol_mw
    for row in sinks[bad].itertuples():
        out.append(f"sink {row.id}: met {row.met_mw:.6g} MW above demand {row.demand_mw:.6g}")
    wrong = (sinks["met_mw"] - piped - sinks["chp_used_mw"]).abs() > tol_mw
    for row in sinks[wrong].itertuples():
        out.append(f"sink {row.id}: met_mw is not piped heat plus CHP")
    return out
