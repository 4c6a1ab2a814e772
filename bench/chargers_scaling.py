"""Benchmark of the charging-pile planner: the full Zibo demo, scaling, spopt peer.

Three parts (each can be run alone):

``--full``: the full Zibo demo at default resolution with the default scenario
(2025 + 2030 in one model) and the scenario's solver settings (HiGHS, 60 s, 1% gap):
time of every step, MIP gap, peak memory.

``--sizes 1000,2000,5000,10000,20000``: the 2025 model on subsets of demand cells of a
finer demo raster (``--cell-size-m``, 350 m by default, so 20,000 cells exist); cells
are drawn at random (seeded) and their sessions rescaled to the scenario total, so
every size plans the same 40,000 piles for the same 33,000 sessions a day. Each size
runs in a fresh process (peak RSS per size).

``--spopt 250,500,1000``: spopt 0.7's capacitated p-median
(``PMedian.from_cost_matrix`` with ``facility_capacities``, HiGHS through pulp with
our solver settings: 2 threads, 1% relative gap) on a random subset of the demo's
demand points with their own sessions, and the pile target scaled by their share of
the city's sessions; ``p`` = the stations our plan opens for them, each site's
capacity = the sessions its largest station serves at the service level, and spopt
gets the candidates within the radius of a sampled point, with a dense cost matrix
(network distances within the radius, 10^7 m beyond). Sizes run in order until one
takes more than ``--spopt-limit-s`` (600 s). Our planner is timed on the same points.

Results are printed as Markdown and, with ``--write``, stored between the
``<!-- chargers:start -->`` and ``<!-- chargers:end -->`` markers of
``bench/RESULTS.md``.

Commands used for RESULTS.md (its section joins their tables; ``--write`` stores only
the parts of the run it comes from)::

    python bench/chargers_scaling.py --full --sizes 1000,2000,5000,10000,20000
    python bench/chargers_scaling.py --spopt 100,250,500,1000 --spopt-limit-s 600
    python bench/chargers_scaling.py --spopt 250 --spopt-limit-s 600 --ours-time-limit 600
    python bench/chargers_scaling.py --thin 100,250,500,1000,2000,4000

``--thin 100,250,500,1000,2000,4000``: our planner alone on the samples of ``--spopt``
(same seed), past the sizes spopt finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section

from siting.chargers.solve import solve_chargers

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "RESULTS.md"
#: memory of one pulp variable inside spopt (measured by the location core, see the
#: p-median rows of RESULTS.md): dense n x m models past a few GiB are not attempted
SPOPT_BYTES_PER_VAR = 3000


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load_avg() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


# ------------------------------------------------------------------ full demo


def run_full() -> dict[str, Any]:
    from siting.chargers.check import check_charger_solution
    from siting.chargers.inputs import charger_inputs
    from siting.config import load_scenario
    from siting.pipeline import region_demand
    from siting.planners import solver_options
    from siting.region.zibo import build_zibo_region

    scenario = load_scenario()
    out: dict[str, Any] = {"load_before": _load_avg()}
    t0 = time.perf_counter()
    region = build_zibo_region(seed=scenario.seed, road_detail="full")
    demand = region_demand(region, scenario)
    out["region_s"] = time.perf_counter() - t0
    rows = []
    for staged in (True, False):
        sc = scenario.replace(**{"chargers.staged": staged})
        t0 = time.perf_counter()
        inputs = charger_inputs(region, demand, sc)
        t_inputs = time.perf_counter() - t0
        t0 = time.perf_counter()
        sol = solve_chargers(inputs.problem, solver_options(sc.solver, seed=sc.seed))
        t_solve = time.perf_counter() - t0
        check = check_charger_solution(inputs.problem, sol, service=inputs.service,
                                       radius_m=inputs.radius_m)
        res = sol.result
        rows.append({
            "stages": len(inputs.years), "cells": len(inputs.cells),
            "points": inputs.problem.costs.n_clients, "sites": len(inputs.sites),
            "pairs": inputs.problem.costs.nnz, "inputs_s": t_inputs, "solve_s": t_solve,
            "status": res.status.value, "gap": res.mip_gap, "objective": res.objective,
            "bound": res.bound, "piles": [int(p.sum()) for p in sol.piles],
            "stations": [int(o.sum()) for o in sol.open], "checked": check.ok,
            "rss_mib": _rss_mib(),
            "steps": [(r["step"], r["seconds"]) for r in res.model["phases"]]})
    out["rows"] = rows
    out["load_after"] = _load_avg()
    return out


# ------------------------------------------------------------------ scaling


def _sized_demand(demand: Any, n: int, seed: int, total: float) -> Any:
    cells = demand[demand["ev_sessions_day"] > 0]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(cells), size=min(n, len(cells)), replace=False))
    return _rescaled(cells.iloc[pick], total)


def _rescaled(cells: Any, total: float) -> Any:
    """A copy of ``cells`` with sessions (and NEVs) scaled to ``total`` sessions/day."""
    out = cells.copy()
    scale = total / float(out["ev_sessions_day"].sum())
    out["ev_sessions_day"] *= scale
    out["nev"] *= scale
    return out


def run_size(region_pickle: str, n: int, seed: int) -> dict[str, Any]:
    from siting.chargers.inputs import charger_inputs
    from siting.config import load_scenario
    from siting.planners import solver_options

    with open(region_pickle, "rb") as fh:
        region, demand = pickle.load(fh)
    scenario = load_scenario().replace(**{"chargers.staged": False})
    total = scenario.chargers.nev_2025 * scenario.chargers.sessions_per_nev_day
    sub = _sized_demand(demand, n, seed, total)
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    inputs = charger_inputs(region, sub, scenario)
    t_inputs = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = solve_chargers(inputs.problem, solver_options(scenario.solver, seed=scenario.seed))
    t_solve = time.perf_counter() - t0
    res = sol.result
    return {"cells": len(sub), "points": inputs.problem.costs.n_clients,
            "sites": len(inputs.sites), "pairs": inputs.problem.costs.nnz,
            "inputs_s": t_inputs, "solve_s": t_solve, "status": res.status.value,
            "gap": res.mip_gap, "rss_mib": _rss_mib(), "rss_before_mib": rss0}


# ------------------------------------------------------------------ spopt


def _thin_sample(region_pickle: str, n: int, seed: int) -> tuple[Any, ...]:
    """``n`` demand points of the demo drawn at random (seeded) with their own sessions,
    the pile target scaled by their share of the city's sessions: ``(region, cells,
    scenario, full inputs, piles)``."""
    from siting.chargers.inputs import charger_inputs
    from siting.config import load_scenario

    with open(region_pickle, "rb") as fh:
        region, demand = pickle.load(fh)
    base = load_scenario().replace(**{"chargers.staged": False})
    full = charger_inputs(region, demand, base)
    reach = np.flatnonzero(full.problem.costs.degree() > 0)
    rng = np.random.default_rng(seed)
    keep_points = np.sort(rng.choice(reach, size=min(n, reach.size), replace=False))
    # a sample of the city at its own scale: the points keep their sessions and the pile
    # target shrinks with their share of the city's sessions (so p stays realistic)
    cells = full.cells[np.isin(full.cell_client, keep_points)]
    share = float(cells["ev_sessions_day"].sum() / full.cells["ev_sessions_day"].sum())
    piles = max(1, round(base.chargers.piles_2025 * share))
    # the sample's own piles only: no city-wide bus depots or taxi hubs in a sample
    scenario = base.replace(**{"chargers.piles_2025": piles, "fleet.buses": 0,
                               "fleet.taxis": 0})
    return region, cells, scenario, full, piles


def run_thin(region_pickle: str, n: int, seed: int) -> dict[str, Any]:
    """Our planner alone on the ``n``-point sample of :func:`run_spopt` (no peer: spopt
    does not finish 500 points in 10 minutes), with the scenario's 60 s limit."""
    from siting.chargers.inputs import charger_inputs
    from siting.planners import solver_options

    region, cells, scenario, full, piles = _thin_sample(region_pickle, n, seed)
    ours = charger_inputs(region, cells, scenario, sites=full.sites)
    t0 = time.perf_counter()
    sol = solve_chargers(ours.problem, solver_options(scenario.solver, seed=scenario.seed))
    r = sol.result
    return {"points": int(ours.problem.costs.n_clients), "piles": piles,
            "pairs": int(ours.problem.costs.nnz), "solve_s": time.perf_counter() - t0,
            "status": r.status.value, "gap": r.mip_gap, "objective": r.objective,
            "bound": r.bound, "steps": [p["step"] for p in r.model.get("phases", [])]}


def run_spopt(region_pickle: str, n: int, seed: int, limit_s: float,
              ours_limit_s: float | None = None) -> dict[str, Any]:
    """spopt's capacitated p-median and our planner on the same ``n`` demand points
    (ours with the scenario's time limit, or ``ours_limit_s``)."""
    import pulp
    from spopt.locate import PMedian

    from siting.chargers.inputs import charger_inputs
    from siting.planners import solver_options

    region, cells, scenario, full, piles = _thin_sample(region_pickle, n, seed)
    t0 = time.perf_counter()
    ours = charger_inputs(region, cells, scenario, sites=full.sites)
    sol = solve_chargers(ours.problem, solver_options(scenario.solver, seed=scenario.seed,
                                            time_limit_s=ours_limit_s))
    ours_s = time.perf_counter() - t0
    p = int(sol.open[0].sum())
    pb = ours.problem
    c = pb.costs
    # spopt gets the sites within the radius of some sampled point (a reduction in its
    # favour) and a dense matrix: network metres within the radius, 1e7 beyond
    cols = np.unique(c.site)
    col_of = np.full(c.n_sites, -1)
    col_of[cols] = np.arange(cols.size)
    dense = np.full((c.n_clients, cols.size), 1e7)
    dense[c.client, col_of[c.site]] = c.cost
    slow_cap = pb.slow.capacity(pb.max_piles)
    fast_cap = pb.fast.capacity(pb.max_piles)
    cap = np.where(pb.allow[1], fast_cap, slow_cap)[cols]
    weights = pb.demand[0]
    t0 = time.perf_counter()
    model = PMedian.from_cost_matrix(dense, weights, p_facilities=p,
                                     facility_capacities=cap)
    build_s = time.perf_counter() - t0
    remaining = max(1.0, limit_s - build_s)
    t0 = time.perf_counter()
    # the same solver and tolerance as ours (the scenario's [solver]: HiGHS, 1% gap)
    solver = pulp.HiGHS(msg=False, timeLimit=remaining, threads=2,
                        gapRel=scenario.solver.mip_gap)
    try:
        model = model.solve(solver)
        status = pulp.LpStatus[model.problem.status]
        sol_status = getattr(model.problem, "sol_status", None)
    except RuntimeError:  # spopt raises when pulp reports "Not Solved" (its time limit)
        status, sol_status = f"not solved in {remaining:.0f} s", None
    solve_s = time.perf_counter() - t0
    return {"points": int(c.n_clients), "sites": int(cols.size), "p": p, "piles": piles,
            "sessions": float(pb.demand[0].sum()),
            "dense_mib": dense.nbytes / 2**20, "spopt_build_s": build_s,
            "spopt_solve_s": solve_s, "spopt_s": build_s + solve_s,
            "spopt_status": status, "spopt_sol_status": sol_status,
            "ours_s": ours_s, "ours_status": sol.result.status.value,
            "ours_gap": sol.result.mip_gap, "rss_mib": _rss_mib()}


# ------------------------------------------------------------------ driver


def _child(args: list[str], timeout_s: float) -> dict[str, Any] | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        return None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    sys.stderr.write(done.stderr[-3000:])
    return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "no output"}


def _fmt_full(out: dict[str, Any]) -> list[str]:
    lines = [
        "### Full Zibo demo, default scenario",
        "",
        f"Region build (synthetic roads, population raster, layers) and demand cells: "
        f"{out['region_s']:.1f} s. Load average before/after: {out['load_before']} → "
        f"{out['load_after']}.",
        "",
        "| stages | demand cells | demand points | candidates | pairs ≤ 3 km | inputs (s) | "
        "solve (s) | total (s) | status | MIP gap | piles | stations | checker | "
        "RSS peak (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---|---:|"]
    for r in out["rows"]:
        lines.append(
            f"| {r['stages']} | {r['cells']:,} | {r['points']:,} | {r['sites']:,} | "
            f"{r['pairs']:,} | {r['inputs_s']:.1f} | {r['solve_s']:.1f} | "
            f"{r['inputs_s'] + r['solve_s']:.1f} | {r['status']} | {100 * r['gap']:.2f}% | "
            f"{' / '.join(f'{p:,}' for p in r['piles'])} | "
            f"{' / '.join(f'{s:,}' for s in r['stations'])} | "
            f"{'ok' if r['checked'] else 'FAIL'} | {r['rss_mib']:.0f} |")
    lines += ["", "Solver steps (staged run): " + "; ".join(
        f"{name} {sec:.1f} s" for name, sec in out["rows"][0]["steps"]), ""]
    return lines


def _fmt_sizes(rows: list[dict[str, Any]], cell_size_m: float) -> list[str]:
    lines = [f"### Scaling (2025 model, {cell_size_m:g} m demo raster, cells drawn at random "
             "and rescaled to 33,000 sessions/day, 40,000 piles)", "",
             "| demand cells | demand points | candidates | pairs | inputs (s) | solve (s) | "
             "status | MIP gap | RSS after loading the region (MiB) | RSS peak (MiB) |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        if r is None or "error" in r:
            lines.append(f"| failed: {r} |")
            continue
        lines.append(f"| {r['cells']:,} | {r['points']:,} | {r['sites']:,} | {r['pairs']:,} | "
                     f"{r['inputs_s']:.1f} | {r['solve_s']:.1f} | {r['status']} | "
                     f"{100 * r['gap']:.2f}% | {r['rss_before_mib']:.0f} | {r['rss_mib']:.0f} |")
    return [*lines, ""]


def _fmt_spopt(rows: list[tuple[int, dict[str, Any] | None]], limit_s: float) -> list[str]:
    lines = ["### spopt 0.7 capacitated p-median (HiGHS via pulp, 1% gap) vs this planner", "",
             "Each sample keeps its points' own sessions; the pile target is the city's "
             "40,000 times the sample's share of sessions, and `p` is the number of "
             "stations this planner opens for it. spopt's model is the simpler one (no pile "
             "counts, Erlang-C, headroom or fast share): it gets each site's largest-station "
             "capacity and only the candidates within the radius of a sampled point.", "",
             "| demand points | sessions/day | piles | candidates (spopt) | p | "
             "dense matrix (MiB) | spopt build (s) | spopt solve (s) | spopt status | "
             "ours (s, inputs + solve) | ours status | ratio spopt/ours |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|"]
    for n, r in rows:
        if r is None:
            lines.append(f"| {n:,} | | | | | | > {limit_s:.0f} s | | timed out | | | |")
            continue
        if "error" in r:
            lines.append(f"| {n:,} | | | | | | | | error: {r['error'][:80]} | | | |")
            continue
        lines.append(
            f"| {r['points']:,} | {r['sessions']:,.0f} | {r['piles']:,} | {r['sites']:,} | "
            f"{r['p']:,} | {r['dense_mib']:.0f} | "
            f"{r['spopt_build_s']:.1f} | {r['spopt_solve_s']:.1f} | {r['spopt_status']} "
            f"(sol_status {r['spopt_sol_status']}) | {r['ours_s']:.1f} | {r['ours_status']} "
            f"({100 * r['ours_gap']:.2f}%) | {r['spopt_s'] / max(r['ours_s'], 1e-9):.1f}× |")
    return [*lines, ""]


def _fmt_thin(rows: list[tuple[int, dict[str, Any] | None]]) -> list[str]:
    lines = ["### Thin demand: this planner alone at the 60 s limit", "",
             "The samples of the spopt table (same seed), with no peer: spopt's "
             "capacitated p-median did not finish 500 points in 10 minutes.", "",
             "| demand points | pairs | piles | solve (s) | status | gap | objective (CNY/yr) "
             "| bound |", "|---:|---:|---:|---:|---|---:|---:|---:|"]
    for n, r in rows:
        if r is None:
            lines.append(f"| {n:,} | | | | timed out | | | |")
            continue
        gap = "" if r["gap"] is None or r["gap"] != r["gap"] else f"{100 * r['gap']:.2f}%"
        lines.append(f"| {r['points']:,} | {r['pairs']:,} | {r['piles']:,} | "
                     f"{r['solve_s']:.1f} | {r['status']} | {gap} | {r['objective']:,.0f} | "
                     f"{r['bound']:,.0f} |")
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--sizes", default="")
    ap.add_argument("--spopt", default="")
    ap.add_argument("--thin", default="", help="sample sizes for our planner alone")
    ap.add_argument("--spopt-limit-s", type=float, default=600.0)
    ap.add_argument("--spopt-max-gib", type=float, default=8.0)
    ap.add_argument("--ours-time-limit", type=float, default=None,
                    help="our planner's time limit in the spopt rows (default: the "
                         "scenario's, 60 s)")
    ap.add_argument("--cell-size-m", type=float, default=350.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--one-spopt", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--one-thin", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--region", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_size:
        print(json.dumps(run_size(args.region, args.one_size, args.seed)))
        return
    if args.one_thin:
        print(json.dumps(run_thin(args.region, args.one_thin, args.seed)))
        return
    if args.one_spopt:
        print(json.dumps(run_spopt(args.region, args.one_spopt, args.seed, args.spopt_limit_s,
                                   args.ours_time_limit)))
        return
    body = ["## Charging-pile planner (`siting.chargers`)", "",
            f"Machine: {platform.machine()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores shared with other jobs; HiGHS through highspy, "
            "2 threads, 1% relative gap, 60 s limit (the scenario's `[solver]`).", "",
            "Command: `python bench/chargers_scaling.py " + " ".join(
                a for a in sys.argv[1:] if a != "--write") + "`", ""]
    if args.full:
        out = run_full()
        body += _fmt_full(out)
        print("\n".join(_fmt_full(out)), flush=True)
    if args.sizes or args.spopt or args.thin:
        from siting.config import load_scenario
        from siting.pipeline import region_demand
        from siting.region.zibo import build_zibo_region

        scenario = load_scenario()
        with tempfile.TemporaryDirectory() as tmp:
            if args.sizes:
                region = build_zibo_region(seed=scenario.seed, cell_size_m=args.cell_size_m)
                demand = region_demand(region, scenario)
                path = Path(tmp) / "fine.pkl"
                with open(path, "wb") as fh:
                    pickle.dump((region, demand), fh)
                rows = []
                for n in (int(v) for v in args.sizes.split(",")):
                    r = _child(["--one-size", str(n), "--region", str(path),
                                "--seed", str(args.seed)], 1200)
                    print(n, r, flush=True)
                    rows.append(r)
                body += _fmt_sizes(rows, args.cell_size_m)
            if args.spopt or args.thin:
                region = build_zibo_region(seed=scenario.seed)
                demand = region_demand(region, scenario)
                path = Path(tmp) / "default.pkl"
                with open(path, "wb") as fh:
                    pickle.dump((region, demand), fh)
            if args.thin:
                trows: list[tuple[int, dict[str, Any] | None]] = []
                for n in (int(v) for v in args.thin.split(",")):
                    r = _child(["--one-thin", str(n), "--region", str(path),
                                "--seed", str(args.seed)], 600)
                    print(n, r, flush=True)
                    trows.append((n, r))
                body += _fmt_thin(trows)
            if args.spopt:
                srows: list[tuple[int, dict[str, Any] | None]] = []
                for n in (int(v) for v in args.spopt.split(",")):
                    need_gib = n * 2800 * SPOPT_BYTES_PER_VAR / 2**30
                    if need_gib > args.spopt_max_gib:
                        srows.append((n, {"error": f"skipped: its pulp model would need "
                                                   f"about {need_gib:.0f} GiB"}))
                        break
                    r = _child(["--one-spopt", str(n), "--region", str(path),
                                "--seed", str(args.seed), "--spopt-limit-s",
                                str(args.spopt_limit_s),
                                *(["--ours-time-limit", str(args.ours_time_limit)]
                                  if args.ours_time_limit else [])],
                               args.spopt_limit_s * 1.5 + 120 + (args.ours_time_limit or 0))
                    print(n, r, flush=True)
                    srows.append((n, r))
                    if r is None or "error" in r or r["spopt_sol_status"] is None or \
                            r["spopt_s"] > args.spopt_limit_s:
                        break
                body += _fmt_spopt(srows, args.spopt_limit_s)
    print("\n".join(body))
    if args.write:
        write_section(RESULTS, "chargers", "\n".join(body))


if __name__ == "__main__":
    main()
