"""Scenario sweeps on Dask: many plans of one region, one per varied scenario.

- :mod:`siting.sweep.spec`: ``--vary`` options -> the varied values of each run
  (cartesian grid, or a Latin hypercube sample);
- :mod:`siting.sweep.runner`: :func:`run_sweep`, on a Dask LocalCluster or a running
  scheduler, resumable (finished runs are skipped);
- :mod:`siting.sweep.tasks`: what a worker runs;
- :mod:`siting.sweep.robust`: one charger station set for all the scenarios;
- :mod:`siting.sweep.report`: ``sweep.csv``, ``sweep.parquet``, ``sweep.html``.

Example (Python; the CLI is ``python cli.py sweep``)::

    from siting.config import load_scenario
    from siting.sweep import run_sweep, sweep_points

    s = load_scenario()
    points = sweep_points(["chargers.station_capex_cny=2e5,6e5"], s)
    result = run_sweep(s, points, out="maps/zibo-sweep", planners=["chargers"], workers=2)
    result.table[["chargers.station_capex_cny", "chargers.stations"]]
"""

from __future__ import annotations

from siting.sweep.runner import SweepResult, run_key, run_sweep
from siting.sweep.spec import parse_vary, sweep_points, varied_scenario

__all__ = ["SweepResult", "parse_vary", "run_key", "run_sweep", "sweep_points",
           "varied_scenario"]
