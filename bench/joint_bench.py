"""Benchmark: the joint plan against the planners one after another, on the Zibo demo.

Runs the whole default ``plan`` twice in one process (the region built once): with
``joint=False`` (the sequential plan: each planner alone with the whole headroom, the
combined load only checked) and ``joint=True`` (:mod:`siting.joint`). Prints a table of
wall time, status, gap, annual cost and the substations over headroom, and with
``--write`` stores it between ``<!-- joint:start -->`` and ``<!-- joint:end -->`` of
``bench/RESULTS.md``.

Command used for RESULTS.md::

    python bench/joint_bench.py --write
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from _results import write_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from siting.config import load_scenario  # noqa: E402
from siting.pipeline import RegionSource, build_region, make_plan  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="store the table in RESULTS.md")
    args = ap.parse_args()
    scenario = load_scenario()
    t0 = time.perf_counter()
    region = build_region(scenario, RegionSource())
    print(f"region built in {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for joint in (False, True):
        t0 = time.perf_counter()
        plan = make_plan(scenario, region, joint=joint)
        seconds = time.perf_counter() - t0
        j = plan.kpis["joint"]
        met = sum(t["met"] for t in plan.kpis["targets"])
        rows.append((
            "joint" if joint else "one after another", f"{seconds:.1f}", j["status"],
            "—" if j["mip_gap"] is None else f"{100 * j['mip_gap']:.2f}%",
            f"{j['cost_joint_cny_yr'] / 1e6:,.2f}", f"{j['bound_cny_yr'] / 1e6:,.2f}",
            f"{j['overloaded_substations']} ({j['overload_mw']:.2f} MW)",
            str(j["land_conflicts"]), f"{met}/{len(plan.kpis['targets'])}",
            "; ".join(j["steps"]),
            "; ".join(f"{a['rule']}: " + (f"{a['cost_cny_yr'] / 1e6:,.2f}" if a["feasible"]
                                          else "infeasible") for a in j["alternatives"])
            or "—"))
        print(rows[-1], flush=True)
    head = ("| plan | wall s | status | gap | cost M CNY/yr | bound M CNY/yr | substations "
            "over headroom | parcels wanted twice | targets met | re-planned | rules weighed (cost "
            "M CNY/yr) |\n|---|---|---|---|---|---|---|---|---|---|---|")
    body = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    text = (f"## Joint plan against the planners one after another (Zibo demo)\n\n"
            f"`python bench/joint_bench.py --write` on {platform.processor() or 'cpu'} "
            f"({platform.python_version()}), HiGHS, default scenario; wall time of "
            f"`make_plan` with the region built once (charger network costs from the cache "
            f"after the first run).\n\n{head}\n{body}\n")
    print(text)
    if args.write:
        write_section(REPO / "bench" / "RESULTS.md", "joint", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
