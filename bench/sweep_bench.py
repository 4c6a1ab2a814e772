"""Benchmark: wall time of a 16-run charger sweep on 1 and on 2 Dask workers.

Each sweep is a 4x4 grid (``chargers.station_capex_cny`` x
``chargers.distance_cost_cny_per_session_km``) on the coarse demo (2 km cells, one
stage, a 5 % MIP gap), run through :func:`siting.sweep.run_sweep` on a fresh
LocalCluster (one solver thread per worker) into a fresh folder, so no run is reused.
The network-cost cache is warmed by one plan first, so both sweeps read the same
cached costs. The wall time includes starting the cluster and writing every output;
"run seconds" sums each run's own time on its worker.

    python bench/sweep_bench.py
    python bench/sweep_bench.py --workers 1,2 --results bench/RESULTS.md

``--results FILE`` rewrites only the section between ``<!-- sweep:start -->`` and
``<!-- sweep:end -->`` of FILE (appended if absent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from siting.config import DEFAULT_SCENARIO, load_scenario  # noqa: E402
from siting.sweep import run_sweep, sweep_points  # noqa: E402

VARY = ["chargers.station_capex_cny=2e5:6e5:4",
        "chargers.distance_cost_cny_per_session_km=0.5:2:4"]


def coarse_scenario(folder: Path) -> Path:
    """The default scenario on the coarse demo: 2 km cells, one stage, a 5 % gap."""
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    for pattern, repl in ((r'^road_detail = "full"', 'road_detail = "coarse"'),
                          (r"^cell_size_m = 500.0", "cell_size_m = 2000.0"),
                          (r"^mip_gap = 0.01", "mip_gap = 0.05"),
                          (r"^staged = true", "staged = false")):
        text = re.sub(pattern, repl, text, flags=re.M)
    path = folder / "coarse.toml"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to time (1,2)")
    parser.add_argument("--results", type=Path, default=None,
                        help="write the table into this RESULTS.md")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="siting-sweep-bench-") as tmp:
        folder = Path(tmp)
        path = coarse_scenario(folder)
        scenario = load_scenario(path)
        points = sweep_points(VARY, scenario)
        # warm the network-cost cache with one run (not timed)
        run_sweep(scenario, points[:1], out=folder / "warm", workers=1, scenario_path=path,
                  progress=False)
        rows = []
        for n in counts:
            start = time.perf_counter()
            result = run_sweep(scenario, points, out=folder / f"w{n}", workers=n,
                               scenario_path=path, progress=False)
            wall = time.perf_counter() - start
            table = result.table
            ok = int((table["status"] == "ok").sum())
            rows.append((n, len(table), ok, wall, float(table["seconds"].sum())))
            print(f"{n} worker(s): {wall:.1f} s", flush=True)
    base = rows[0][3]
    lines = ["| workers | runs | ok | wall s | run s (sum) | speed-up |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {runs} | {ok} | {wall:.1f} | {busy:.1f} | {base / wall:.2f}x |"
              for n, runs, ok, wall, busy in rows]
    table_md = "\n".join(lines)
    print(table_md)
    if args.results is not None:
        from _results import write_section  # bench/ is the script's folder

        cores = os.cpu_count()
        body = (f"## Scenario sweeps on Dask (`bench/sweep_bench.py`)\n\n"
                f"`python bench/sweep_bench.py --workers {args.workers} --results "
                f"bench/RESULTS.md`: a 16-run charger sweep (4x4 grid of "
                f"`chargers.station_capex_cny` x `chargers.distance_cost_cny_per_session_km`) "
                f"on the coarse demo (2 km cells, one stage, 5 % MIP gap), a fresh "
                f"LocalCluster per row (one solver thread per worker), network costs cached. "
                f"{cores}-core machine shared with other work, "
                f"{dt.date.today().isoformat()}:\n\n{table_md}\n")
        write_section(args.results, "sweep", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
