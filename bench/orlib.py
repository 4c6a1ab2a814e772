"""OR-Library benchmark of the location core against published optima and spopt 0.7.

Usage (interface fixed so scripts can rerun it on other instance sets)::

    python bench/orlib.py --data DIR [--family pmed|cap|scp] [--only NAME,...] [--no-peer]
                          [--time-limit S] [--json OUT.json]

Extra options: ``--solver highs|cbc`` (default highs), ``--peer-time-limit S``
(default: the same as ``--time-limit``), ``--repeats N`` (our solve N times with
seeds 0..N-1, the median is reported), ``--results bench/RESULTS.md`` (record the
table between ``<!-- orlib:start -->`` and ``<!-- orlib:end -->``).

``DIR`` holds ``pmed/``, ``cap/`` and ``scp/`` with instance files in OR-Library
format; ``pmed/pmedopt.txt`` and ``cap/capopt.txt`` are optional. capa/capb/capc
(capacity written as ``capacity``) are solved once per listed capacity
(``capa-8000``...). Set-covering optima come from a table of published values
(Beasley & Chu 1996) for the OR-Library names.

Timing: both sides get the same cost data in memory (shortest-path matrix, cost
table or incidence); "seconds" covers building the model and solving it
(``PMedian.from_costs(...).solve()`` for us, ``PMedian.from_cost_matrix(...).solve()``
for spopt), so file parsing and all-pairs shortest paths are outside both. The peer
runs in a child process with the same solver and tolerances (relative gap 0, and an
absolute gap just under 1 where objectives are integral, as ours), a wall-clock
limit, and counts as finished only if its solver proved optimality within it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siting.models import CFLP, LSCP, PMedian, SolverOptions  # noqa: E402
from siting.models.orlib import read_cap, read_optima, read_pmed, read_scp  # noqa: E402
from siting.models.solvers import INTEGRAL_ABS_GAP, solver_version  # noqa: E402

logger = logging.getLogger("bench.orlib")

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "bench"
FAMILIES = ("pmed", "cap", "scp")
SYMBOLIC_CAPACITIES = {"capa": (8000, 10000, 12000, 14000), "capb": (5000, 6000, 7000, 8000),
                       "capc": (5000, 5750, 6500, 7250)}
#: Balas & Ho 1980 sets, optima from OR-Library scpinfo / Beasley & Chu 1996
SCP_OPTIMA = {"scp41": 429, "scp42": 512, "scp43": 516, "scp44": 494, "scp45": 512,
              "scp46": 560, "scp47": 430, "scp48": 492, "scp49": 641, "scp410": 514,
              "scp51": 253, "scp52": 302, "scp53": 226, "scp54": 242, "scp55": 211,
              "scp56": 213, "scp57": 293, "scp58": 288, "scp59": 279, "scp510": 265,
              "scp61": 138, "scp62": 146, "scp63": 145, "scp64": 131, "scp65": 161}
#: spopt builds ~3 KB of pulp objects per variable: skip the peer beyond this many
PEER_MAX_VARIABLES = 2_500_000
MARK_START, MARK_END = "<!-- orlib:start -->", "<!-- orlib:end -->"


@dataclass
class Case:
    """One instance (one capacity of capa/capb/capc), ready to solve."""

    name: str
    family: str
    size: str
    known: float | None
    ours: Callable[[SolverOptions], Any]
    peer: tuple[str, dict[str, Any]] | None  # (kind, data) for the child process
    integral: bool


def _natural(p: Path) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem))


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted((p for p in folder.glob("*.txt") if re.fullmatch(pattern, p.stem)),
                  key=_natural)


def pmed_cases(folder: Path, wanted: Callable[[str], bool]) -> list[Case]:
    optima = read_optima(folder / "pmedopt.txt") if (folder / "pmedopt.txt").exists() else {}
    out = []
    for path in _files(folder, r"pmed\d+"):
        if not wanted(path.stem):
            continue
        inst = read_pmed(path)
        d = inst.shortest_paths()
        n = inst.n
        i, j = np.divmod(np.arange(n * n), n)
        costs = (i, j, d.ravel())

        def ours(opts: SolverOptions, costs: Any = costs, p: int = inst.p) -> Any:
            return PMedian.from_costs(costs, p=p).solve(opts)

        out.append(Case(inst.name, "pmed", f"n={n} p={inst.p}", optima.get(inst.name), ours,
                        ("pmed", {"d": d, "p": inst.p}), integral=True))
    return out


def cap_cases(folder: Path, wanted: Callable[[str], bool]) -> list[Case]:
    optima = read_optima(folder / "capopt.txt") if (folder / "capopt.txt").exists() else {}
    out = []
    for path in _files(folder, r"cap[a-z]?\d*"):
        if not wanted(path.stem):
            continue
        base = read_cap(path)
        if base.symbolic_capacity:
            caps = SYMBOLIC_CAPACITIES.get(base.name)
            if caps is None:
                logger.warning("%s: capacity is symbolic and no capacities are known; skipped",
                               path)
                continue
            variants = [base.with_capacity(c) for c in caps]
        else:
            variants = [base]
        for inst in variants:
            n, m = inst.cost.shape
            i, j = np.divmod(np.arange(n * m), m)

            def ours(opts: SolverOptions, inst: Any = inst, i: Any = i, j: Any = j) -> Any:
                return CFLP.from_costs((i, j, inst.cost.ravel()), demand=inst.demand,
                                       capacity=inst.capacity, fixed_cost=inst.fixed_cost,
                                       cost_basis="total").solve(opts)

            out.append(Case(inst.name, "cap", f"{m} sites x {n} clients",
                            optima.get(inst.name), ours, None, integral=False))
    return out


def scp_cases(folder: Path, wanted: Callable[[str], bool]) -> list[Case]:
    out = []
    for path in _files(folder, r"scp[a-z0-9]+"):
        if not wanted(path.stem):
            continue
        inst = read_scp(path)

        def ours(opts: SolverOptions, inst: Any = inst) -> Any:
            return LSCP.from_cover(inst.cover, site_cost=inst.cost).solve(opts)

        known = SCP_OPTIMA.get(inst.name)
        out.append(Case(inst.name, "scp", f"{inst.cover.shape[0]} rows x {inst.cover.shape[1]} "
                        f"cols", None if known is None else float(known), ours,
                        ("scp", {"cover": inst.cover, "cost": inst.cost}),
                        integral=bool(np.all(inst.cost == np.round(inst.cost)))))
    return out


# ----------------------------------------------------------------------------- peer
def _peer_child(kind: str, data: dict[str, Any], solver: str, limit: float, abs_gap: float,
                queue: Any) -> None:
    """Build and solve with spopt in a child process; report (seconds, objective, status)."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # solver banners and logs of the peer stay out of the table
    import pulp
    from spopt.locate import LSCP as SpLSCP
    from spopt.locate import PMedian as SpPMedian

    t0 = time.perf_counter()
    if solver == "highs":
        sol = pulp.HiGHS(msg=False, timeLimit=limit, gapRel=0.0, gapAbs=abs_gap)
    else:
        sol = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=0.0, gapAbs=abs_gap)
    if kind == "pmed":
        d = data["d"]
        model = SpPMedian.from_cost_matrix(d, np.ones(d.shape[0]), p_facilities=data["p"])
    else:
        cover, cost = data["cover"], data["cost"]
        dense = np.where(cover.toarray(), 0.0, 1.0)  # covered pairs at cost 0, radius 0.5
        model = SpLSCP.from_cost_matrix(dense, service_radius=0.5)
        # spopt's LSCP counts facilities; weight the same variables by the column costs
        model.problem.setObjective(pulp.lpSum(float(c) * v for c, v in
                                              zip(cost, model.fac_vars, strict=True)))
    try:
        model.solve(sol, results=False)
        status = "optimal"
    except RuntimeError as exc:  # spopt raises when pulp's status is not "Optimal"
        status = f"error: {exc}"
    seconds = time.perf_counter() - t0
    prob = model.problem
    if status == "optimal" and prob.sol_status != pulp.LpSolutionOptimal:
        status = f"not proven (sol_status {prob.sol_status})"
    if status == "optimal" and seconds >= limit * 0.98:
        status = "time limit"
    obj = pulp.value(prob.objective)
    queue.put((seconds, None if obj is None else float(obj), status))


def run_peer(case: Case, solver: str, limit: float) -> tuple[float | None, float | None, str]:
    """spopt's wall time, objective and status; ``None`` seconds when it did not finish."""
    if case.peer is None:
        return None, None, "no peer model"
    kind, data = case.peer
    n_vars = data["d"].size if kind == "pmed" else data["cover"].shape[1]
    if n_vars > PEER_MAX_VARIABLES:
        return None, None, f"skipped: {n_vars:,} variables (memory)"
    # a fresh interpreter: forking a process whose HiGHS thread pool is running can
    # leave the child's solver waiting for workers that do not exist
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    abs_gap = INTEGRAL_ABS_GAP if case.integral else 1e-6
    proc = ctx.Process(target=_peer_child, args=(kind, data, solver, limit, abs_gap, queue))
    t0 = time.perf_counter()
    proc.start()
    hard = 2 * limit + 120
    try:
        seconds, obj, status = queue.get(timeout=hard)
    except Exception:  # the child died or hung: report it, do not crash
        seconds, obj, status = time.perf_counter() - t0, None, "killed at hard wall limit"
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
        proc.join()
    finished = status == "optimal"
    return (seconds if finished else None), obj, status if finished else \
        f"{status} after {seconds:.0f} s"


# ----------------------------------------------------------------------------- runs
def solve_ours(case: Case, opts: SolverOptions, repeats: int) -> tuple[Any, float]:
    times, result = [], None
    for seed in range(repeats):
        o = SolverOptions(name=opts.name, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                          mip_abs_gap=opts.mip_abs_gap, seed=seed)
        t0 = time.perf_counter()
        res = case.ours(o)
        times.append(time.perf_counter() - t0)
        if result is None or res.objective < result.objective:
            result = res
    return result, statistics.median(times)


def matches(obj: float, known: float | None) -> bool | None:
    if known is None or not math.isfinite(obj):
        return None
    return abs(obj - known) <= max(1e-7 * abs(known), 5e-4)


def fmt_num(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if abs(x - round(x)) < 1e-9:
        return f"{round(x):,}"
    return f"{x:,.{digits}f}" if abs(x) >= 100 else f"{x:.{digits}g}"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| instance | size | published optimum | ours | = optimum | gap | status | "
            "ours (s) | spopt (s) | spopt ratio |")
    lines = [head, "|---|---|---:|---:|:---:|---:|---|---:|---:|---:|"]
    for r in rows:
        ok = {True: "yes", False: "**NO**", None: "?"}[r["at_optimum"]]
        if r["spopt_seconds"] is not None:
            peer = f"{r['spopt_seconds']:.2f}"
            ratio = f"{r['spopt_seconds'] / r['seconds']:.0f}×"
        else:
            peer, ratio = r["spopt_note"], "-"
        lines.append(f"| {r['instance']} | {r['size']} | {fmt_num(r['known_optimum'], 3)} | "
                     f"{fmt_num(r['objective'], 3)} | {ok} | {r['gap']:.1e} | {r['status']} | "
                     f"{r['seconds']:.2f} | {peer} | {ratio} |")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]], limit: float) -> str:
    miss = [r for r in rows if r["at_optimum"] is False or r["status"] != "optimal"]
    slow = [r for r in rows if r["seconds"] > limit]
    peer = [r for r in rows if r["spopt_seconds"] is not None]
    ratios = [r["spopt_seconds"] / r["seconds"] for r in peer]
    parts = [f"{len(rows)} instances; at the published optimum and proven: "
             f"{len(rows) - len(miss)}"]
    if miss:
        parts.append("missed: " + ", ".join(f"{r['instance']} (gap {r['gap']:.1e}, "
                                            f"{r['status']})" for r in miss))
    if slow:
        parts.append(f"over {limit:.0f} s: " + ", ".join(r["instance"] for r in slow))
    if ratios:
        parts.append(f"spopt finished {len(peer)}; speed-up min {min(ratios):.0f}×, median "
                     f"{statistics.median(ratios):.0f}×, max {max(ratios):.0f}×")
    return "; ".join(parts) + "."


def write_results(path: Path, key: str, block: str) -> None:
    """Replace this run's block inside the orlib section (re-reading the file first)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    begin, end = f"<!-- orlib-run:{key} -->", f"<!-- orlib-run-end:{key} -->"
    run = f"{begin}\n{block.rstrip()}\n{end}"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        body, tail = rest.split(MARK_END, 1)
        if begin in body and end in body:
            pre, post = body.split(begin, 1)
            body = pre + run + post.split(end, 1)[1]
        else:
            body = body.rstrip() + "\n\n" + run + "\n"
        text = head + MARK_START + body + MARK_END + tail
    else:
        section = (f"{MARK_START}\n## Location core on OR-Library (`bench/orlib.py`)\n\n"
                   f"{run}\n{MARK_END}\n")
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--family", choices=FAMILIES)
    ap.add_argument("--only", help="comma-separated instance names (capa-8000 or capa)")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--peer-time-limit", type=float)
    ap.add_argument("--solver", choices=("highs", "cbc"), default="highs")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--results", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.data.is_dir():
        print(f"error: --data {args.data} is not a folder (expected pmed/, cap/, scp/ inside)",
              file=sys.stderr)
        return 2
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    families = [args.family] if args.family else list(FAMILIES)
    makers = {"pmed": pmed_cases, "cap": cap_cases, "scp": scp_cases}
    opts = SolverOptions(name=args.solver, time_limit_s=args.time_limit, mip_gap=0.0)
    peer_limit = args.peer_time_limit or args.time_limit
    rows: list[dict[str, Any]] = []
    for fam in families:
        folder = args.data / fam
        if not folder.is_dir():
            continue
        def wanted(stem: str) -> bool:
            return only is None or stem in only or any(o.split("-")[0] == stem for o in only)

        for case in makers[fam](folder, wanted):
            if only and case.name not in only and case.name.split("-")[0] not in only:
                continue
            res, seconds = solve_ours(case, opts, max(1, args.repeats))
            if args.no_peer:
                peer_s, peer_obj, note = None, None, "not run"
            else:
                peer_s, peer_obj, note = run_peer(case, args.solver, peer_limit)
            row = {"instance": case.name, "family": fam, "size": case.size,
                   "objective": float(res.objective), "known_optimum": case.known,
                   "gap": float(res.mip_gap), "bound": float(res.bound),
                   "status": res.status.value, "seconds": round(seconds, 4),
                   "spopt_seconds": None if peer_s is None else round(peer_s, 4),
                   "spopt_objective": peer_obj, "spopt_note": note,
                   "solver": f"{res.solver} {res.solver_version}",
                   "at_optimum": matches(res.objective, case.known)}
            rows.append(row)
            print(f"{case.name:12s} {case.size:22s} opt={fmt_num(case.known, 3):>16s} "
                  f"ours={fmt_num(row['objective'], 3):>16s} gap={row['gap']:.1e} "
                  f"{row['status']:20s} {seconds:8.2f}s  spopt="
                  f"{f'{peer_s:.2f}s' if peer_s is not None else note}", flush=True)
    if not rows:
        print("no instances matched", file=sys.stderr)
        return 2
    text = table(rows)
    print()
    print(text)
    print()
    print(summary(rows, args.time_limit))
    if args.json:
        keys = ("instance", "family", "objective", "known_optimum", "gap", "status", "seconds",
                "spopt_seconds", "solver")
        args.json.write_text(json.dumps([{k: r[k] for k in keys} | {
            "bound": r["bound"], "spopt_objective": r["spopt_objective"],
            "spopt_note": r["spopt_note"], "at_optimum": r["at_optimum"]} for r in rows],
            indent=2) + "\n")
    if args.results:
        cmd = "python bench/orlib.py " + " ".join(argv if argv is not None else sys.argv[1:])
        key = f"{args.solver}-{'+'.join(families)}" + (f"-{args.only}" if args.only else "")
        block = (f"### {', '.join(families)} with {args.solver} "
                 f"{solver_version(args.solver)}\n\n"
                 f"Command: `{cmd}`\n\n"
                 f"Machine: {platform.machine()}, Python {platform.python_version()}, "
                 f"shared 2-core box; run {time.strftime('%Y-%m-%d %H:%M')}. Our limit "
                 f"{args.time_limit:.0f} s, spopt's {peer_limit:.0f} s, relative gap 0 for "
                 f"both. \n\n{text}\n\n{summary(rows, args.time_limit)}\n")
        write_results(args.results, key, block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
