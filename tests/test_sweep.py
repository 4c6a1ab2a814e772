"""Scenario sweeps on Dask (``python cli.py sweep``): grids and Latin hypercubes, a local
cluster and a running scheduler that loses a worker, resuming, the robust station set
and the errors of bad ``--vary`` options.

The sweeps run the charger planner on the coarse demo (2 km cells, a 5 % MIP gap,
one stage), a few seconds per run.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from siting.cli import main
from siting.config import DEFAULT_SCENARIO, load_scenario
from siting.errors import InputError
from siting.sweep import run_key, sweep_points

REPO = Path(__file__).resolve().parents[1]
GRID = ["--vary", "chargers.station_capex_cny=2e5,6e5",
        "--vary", "chargers.distance_cost_cny_per_session_km=0.5,2"]


@pytest.fixture(scope="module")
def coarse_scenario(tmp_path_factory) -> Path:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    for pattern, repl in ((r'^road_detail = "full"', 'road_detail = "coarse"'),
                          (r"^cell_size_m = 500.0", "cell_size_m = 2000.0"),
                          (r"^mip_gap = 0.01", "mip_gap = 0.05"),
                          (r"^staged = true", "staged = false")):
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == 1, pattern
    path = tmp_path_factory.mktemp("scenario") / "coarse.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def grid_sweep(coarse_scenario, tmp_path_factory) -> Path:
    """A 2x2 charger sweep with --robust on a LocalCluster of 2 workers."""
    out = tmp_path_factory.mktemp("sweep") / "grid"
    assert main(["sweep", "--scenario", str(coarse_scenario), *GRID, "--workers", "2",
                 "--out", str(out), "--robust", "--robust-moves", "0", "--quiet"]) == 0
    return out


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ options, no solving

def test_grid_is_the_cartesian_product_of_lists_and_ranges(scenario) -> None:
    points = sweep_points(["chargers.station_capex_cny=2e5,6e5",
                           "solver.mip_gap=0.01:0.05:3"], scenario)
    assert [tuple(p.values()) for p in points] == [
        (2e5, 0.01), (2e5, 0.03), (2e5, 0.05), (6e5, 0.01), (6e5, 0.03), (6e5, 0.05)]
    ints = sweep_points(["chargers.piles_2025=30000:40000:3"], scenario)
    assert [p["chargers.piles_2025"] for p in ints] == [30000, 35000, 40000]
    assert all(isinstance(p["chargers.piles_2025"], int) for p in ints)


def test_latin_hypercube_puts_one_sample_in_each_stratum(scenario) -> None:
    items = ["chargers.sessions_per_nev_day=0.2:0.4", "chargers.station_capex_cny=1e5:5e5"]
    points = sweep_points(items, scenario, samples=8, seed=3)
    assert points == sweep_points(items, scenario, samples=8, seed=3)  # seeded
    assert points != sweep_points(items, scenario, samples=8, seed=4)
    for key, lo, hi in (("chargers.sessions_per_nev_day", 0.2, 0.4),
                        ("chargers.station_capex_cny", 1e5, 5e5)):
        u = (np.array([p[key] for p in points]) - lo) / (hi - lo)
        assert sorted(np.floor(u * 8).astype(int)) == list(range(8))


def test_run_key_follows_the_scenario_and_what_plans_it(scenario) -> None:
    src = {"demo": True}
    base = run_key(scenario, planners=["chargers"], source=src, solver=None,
                   time_limit_s=None)
    assert base == run_key(scenario, planners=["chargers"], source=src, solver=None,
                           time_limit_s=None)
    other = scenario.replace(**{"chargers.station_capex_cny": 1.0})
    assert len({base,
                run_key(other, planners=["chargers"], source=src, solver=None,
                        time_limit_s=None),
                run_key(scenario, planners=["chargers", "heat"], source=src, solver=None,
                        time_limit_s=None),
                run_key(scenario, planners=["chargers"], source=src, solver=None,
                        time_limit_s=30.0)}) == 4


@pytest.mark.parametrize(("vary", "message"), [
    (["chargers.sessions_per_nev_da=0.2,0.3"],
     r"no setting 'chargers.sessions_per_nev_da'; did you mean "
     r"'chargers.sessions_per_nev_day'"),
    (["chargers.station_capex_cny=-5,1e5"],
     r"chargers.station_capex_cny=-5.0: the scenario refuses it: .*greater than or equal "
     r"to 0"),
    (["chargers.station_capex_cny=cheap"], r"'cheap' is not a number"),
    (["chargers.piles_2025=1:2:4"], r"chargers.piles_2025 is an integer but 1:2:4 gives "
                                    r"fractions"),
    (["chargers.station_capex_cny=1e5:2e5"], r"LOW:HIGH is a range for --samples"),
    (["chargers"], r"expected KEY=V1,V2"),
    (["region=1,2"], r"--vary region: is a table or list, not a single value"),
])
def test_bad_vary_exits_2_with_a_clear_message(vary, message, capsys, tmp_path) -> None:
    args = ["sweep", "--out", str(tmp_path / "s"), "--quiet"]
    for item in vary:
        args += ["--vary", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err and err.startswith("error: sweep options")
    assert not (tmp_path / "s").exists()  # refused before anything ran


def test_bad_vary_lists_every_problem_at_once(scenario) -> None:
    with pytest.raises(InputError, match=r"3 problems") as err:
        sweep_points(["chargers.nope=1", "solver.mip_gap=0.9", "chargers.staged=maybe"],
                     scenario)
    text = str(err.value)
    assert "chargers.nope" in text and "solver.mip_gap=0.9" in text and "'maybe'" in text


# ------------------------------------------------------------------ a local cluster

@pytest.mark.slow
def test_grid_sweep_on_a_local_cluster_writes_a_row_and_a_plan_per_run(grid_sweep) -> None:
    table = pd.read_csv(grid_sweep / "sweep.csv")
    keys = ["chargers.station_capex_cny", "chargers.distance_cost_cny_per_session_km"]
    assert len(table) == 4
    assert sorted(map(tuple, table[keys].to_numpy().tolist())) == [
        (2e5, 0.5), (2e5, 2.0), (6e5, 0.5), (6e5, 2.0)]
    assert (table["status"] == "ok").all() and table["run_id"].is_unique
    assert table["chargers.objective_cny_per_year"].nunique() == 4  # distinct KPIs
    assert table["chargers.stations"].nunique() >= 2
    # dearer stations cost more whatever the distance cost (far beyond the 5 % MIP gap)
    cost = table.set_index(keys)["chargers.objective_cny_per_year"]
    for d in (0.5, 2.0):
        assert cost[(6e5, d)] > cost[(2e5, d)] * 1.1
    assert {"chargers.mip_gap", "chargers.solve_seconds", "chargers.status", "seconds",
            "diagnosis", "target.chargers.piles_2025.met"} <= set(table.columns)
    assert table["target.chargers.piles_2025.met"].all()
    assert table["worker"].nunique() == 2  # both workers planned
    parquet = pd.read_parquet(grid_sweep / "sweep.parquet")
    assert list(parquet["run_id"]) == list(table["run_id"])
    for rid, capex in zip(table["run_id"], table["chargers.station_capex_cny"], strict=True):
        run = grid_sweep / "runs" / rid
        assert {"plan.gpkg", "plan.html", "kpis.json", "provenance.json"} <= \
            {p.name for p in run.iterdir()}
        prov = _read(run / "provenance.json")
        assert prov["sweep"]["run_id"] == rid
        assert prov["scenario"]["chargers"]["station_capex_cny"] == capex
    prov = _read(grid_sweep / "provenance.json")
    import dask

    assert prov["varied_keys"] == keys and prov["runs"] == 4 and prov["runs_skipped"] == 0
    assert prov["dask"]["workers"] == 2 and prov["dask"]["dask_version"] == dask.__version__
    assert prov["dask"]["scheduler"].startswith("tcp://127.0.0.1:")
    assert prov["siting_version"] and len(prov["scenario_sha256"]) == 64


@pytest.mark.slow
def test_sweep_page_is_offline_with_plots_map_and_table(grid_sweep) -> None:
    page = (grid_sweep / "sweep.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert page.count("<svg") >= 1 + 2 * 4  # the map and >= 4 KPIs against each key
    assert "Synthetic" in page and "© OpenStreetMap contributors" in page
    table = pd.read_csv(grid_sweep / "sweep.csv")
    for rid in table["run_id"]:
        assert f'href="runs/{rid}/plan.html"' in page
    # one circle per station any run opened, its title the number of runs opening it
    opened: dict[str, int] = {}
    for rid in table["run_id"]:
        st = pyogrio.read_dataframe(grid_sweep / "runs" / rid / "plan.gpkg",
                                    layer="charging_stations", columns=["id", "fleet"])
        for ident in st.loc[st["fleet"].isna(), "id"]:
            opened[ident] = opened.get(ident, 0) + 1
    titles = dict(re.findall(r"<title>(chg-[^:<]+): opened in (\d) of 4 runs</title>", page))
    assert {k: int(v) for k, v in titles.items()} == opened
    assert "Robust station set (expected)" in page and "wait-and-see" in page


@pytest.mark.slow
def test_robust_set_is_no_worse_in_expectation_than_any_scenario_plan(grid_sweep) -> None:
    robust = _read(grid_sweep / "robust.json")
    table = pd.read_csv(grid_sweep / "sweep.csv")
    assert robust["objective"] == "expected" and len(robust["scenarios"]) == 4
    assert "not proven optimal" in robust["claim"] and "wait-and-see" in robust["method"]
    cands = robust["candidates"]
    # every scenario's own station set is a candidate, evaluated in all four scenarios
    assert sorted(r for c in cands for r in c["from_runs"]) == sorted(table["run_id"])
    assert all(len(c["costs"]) == 4 and None not in c["costs"].values() for c in cands)
    assert all(c["fixed"] for c in cands)  # each evaluation kept exactly the set open
    for c in cands:
        assert c["expected_cost"] == pytest.approx(np.mean(list(c["costs"].values())), abs=1)
    chosen = next(c for c in cands if c["candidate"] == robust["chosen_candidate"])
    assert robust["expected_cost"] == chosen["expected_cost"]
    assert all(robust["expected_cost"] <= c["expected_cost"] for c in cands)
    # the set is one scenario plan's public stations, exactly
    origin = robust["chosen_from_runs"][0]
    st = pyogrio.read_dataframe(grid_sweep / "runs" / origin / "plan.gpkg",
                                layer="charging_stations", columns=["id", "fleet"])
    assert {s["id"] for s in robust["stations"]} == set(st.loc[st["fleet"].isna(), "id"])
    # each evaluation in another scenario is a real plan with those stations held
    for rid in robust["scenarios"]:
        if rid in chosen["from_runs"]:
            continue
        ev = _read(grid_sweep / "robust" / "evals" / f"{chosen['candidate']}-{rid}.json")
        assert ev["fixed"] is True and ev["status"] in ("optimal", "time_limit_feasible")
        assert ev["objective"] == pytest.approx(chosen["costs"][rid], abs=1)
    # the wait-and-see bound: the mean of each scenario's own bound, below the cost
    own = table.set_index("run_id")["chargers.bound_cny_per_year"]
    assert robust["lower_bound"] == pytest.approx(own.mean(), abs=1)
    assert robust["lower_bound"] <= robust["expected_cost"]
    assert robust["gap"] == pytest.approx(
        (robust["expected_cost"] - robust["lower_bound"]) / robust["expected_cost"], abs=1e-6)
    assert {p["run_id"] for p in robust["per_scenario"]} == set(table["run_id"])


@pytest.mark.slow
def test_rerun_skips_every_finished_run(grid_sweep, coarse_scenario, capsys) -> None:
    runs = sorted((grid_sweep / "runs").iterdir())
    before = {p: p.stat().st_mtime_ns for run in runs for p in run.iterdir()}
    evals = {p: p.stat().st_mtime_ns for p in (grid_sweep / "robust" / "evals").iterdir()}
    robust = _read(grid_sweep / "robust.json")
    capsys.readouterr()
    assert main(["sweep", "--scenario", str(coarse_scenario), *GRID, "--workers", "2",
                 "--out", str(grid_sweep), "--robust", "--robust-moves", "0", "--quiet"]) == 0
    assert "0 run, 4 skipped" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for run in runs for p in run.iterdir()} == before
    assert {p: p.stat().st_mtime_ns for p in evals} == evals
    prov = _read(grid_sweep / "provenance.json")
    assert prov["runs_skipped"] == 4 and prov["ran"] == 0
    assert prov["dask"]["scheduler"] is None and prov["dask"]["workers"] == 0  # no cluster
    again = _read(grid_sweep / "robust.json")
    assert again["chosen_candidate"] == robust["chosen_candidate"]
    table = pd.read_csv(grid_sweep / "sweep.csv")
    assert len(table) == 4 and table["skipped"].all() and (table["status"] == "ok").all()


# ------------------------------------------------------------------ a running scheduler

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env=os.environ.copy(),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_sweep_on_a_scheduler_survives_a_killed_worker(coarse_scenario, tmp_path) -> None:
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                     str(port), "--no-dashboard"], tmp_path / "scheduler.log")]
    client = sweep = None
    try:
        client = Client(address, timeout="60s")
        for name in ("doomed", "keeper"):
            procs.append(_start(["distributed.cli.dask_worker", address, "--nthreads", "1",
                                 "--no-nanny", "--no-dashboard", "--name", name],
                                tmp_path / f"{name}.log"))
        client.wait_for_workers(2, timeout=120)
        doomed = next(a for a, w in client.scheduler_info()["workers"].items()
                      if w["name"] == "doomed")
        out = tmp_path / "sweep"
        # two runs that plan, two that the pre-flight finds infeasible (rows, not failures)
        sweep = subprocess.Popen(
            [sys.executable, "cli.py", "sweep", "--scenario", str(coarse_scenario),
             "--vary", "chargers.station_capex_cny=3e5,5e5",
             "--vary", "chargers.sessions_per_nev_day=0.3,30", "--scheduler", address,
             "--out", str(out), "--quiet"], cwd=REPO, env=os.environ.copy(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not client.processing().get(doomed):  # kill it while it holds a run
            assert sweep.poll() is None, sweep.communicate()
            assert time.monotonic() < deadline, "the doomed worker never got a run"
            time.sleep(0.05)
        # ... once both hold the scattered region (the sweep replicates it before it
        # submits; a worker lost before that would take data Dask cannot recompute)
        while not all(len(holders) == 2 for key, holders in client.who_has().items()
                      if str(key).startswith("RegionPayload")):
            assert time.monotonic() < deadline, client.who_has()
            time.sleep(0.05)
        procs[1].kill()
        procs[1].wait(timeout=30)
        stdout, stderr = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, stderr
        assert "4 run, 0 skipped" in stdout
        table = pd.read_csv(out / "sweep.csv")
        assert len(table) == 4
        ok = table[table["chargers.sessions_per_nev_day"] == 0.3]
        bad = table[table["chargers.sessions_per_nev_day"] == 30.0]
        assert (ok["status"] == "ok").all() and len(ok) == 2
        assert (bad["status"] == "infeasible").all() and len(bad) == 2
        assert bad["diagnosis"].str.contains("short .* NEVs").all()
        assert doomed not in set(table["worker"])  # every run finished on the keeper
        for rid in ok["run_id"]:
            assert (out / "runs" / rid / "plan.gpkg").is_file()
            assert not list((out / "runs" / rid).glob(".staging.*"))
        prov = _read(out / "provenance.json")
        assert prov["dask"]["scheduler"] == address
    finally:
        if sweep is not None and sweep.poll() is None:
            sweep.kill()
        if client is not None:
            client.close()
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def test_default_scenario_loads_for_sweeps() -> None:
    # the keys the README's example varies exist in the shipped scenario
    s = load_scenario()
    assert sweep_points(["chargers.sessions_per_nev_day=0.25,0.35",
                         "chargers.service_radius_m=2000,3000"], s)[3] == {
        "chargers.sessions_per_nev_day": 0.35, "chargers.service_radius_m": 3000.0}


# ------------------------------------------------------------------ the local search, exactly

class _Inline:
    """Runs the robust evaluations in this process (no Dask), counting them."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, fn, calls, *, desc, on_lost):
        self.calls += len(calls)
        return [fn(*args, **kwargs) for args, kwargs in calls]


#: a toy cost: 10 per station open, 100 per station the scenario needs and lacks
NEEDS = {"s1": {"x", "y"}, "s2": {"x", "z"}, "s3": {"x", "z"}}


def _toy_evaluate(payload, scenario, *, stations, solver, time_limit_s, scenario_file, path,
                  tag):
    cost = 10.0 * len(stations) + 100.0 * len(NEEDS[scenario] - set(stations))
    record = {**tag, "objective": cost, "bound": None, "status": "optimal", "fixed": True,
              "diagnosis": ""}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record), encoding="utf-8")
    return record


def _toy_sweep(out: Path) -> list[dict]:
    import geopandas as gpd
    from shapely.geometry import Point

    records = []
    for k, (rid, need) in enumerate(NEEDS.items()):
        ids = sorted(need)
        frame = gpd.GeoDataFrame({"id": ids, "fleet": [None] * len(ids)},
                                 geometry=[Point(118.0 + 0.01 * ("xyz".index(i)), 36.8)
                                           for i in ids], crs="EPSG:4326")
        (out / "runs" / rid).mkdir(parents=True)
        frame.to_file(out / "runs" / rid / "plan.gpkg", layer="charging_stations")
        records.append({"run_id": rid, "status": "ok", "point": {"k": k},
                        "kpis": {"chargers": {"objective_cny_per_year": 20.0,
                                              "bound_cny_per_year": 18.0,
                                              "status": "optimal"}}})
    return records


@pytest.mark.parametrize("mode", ["expected", "regret"])
def test_local_search_finds_the_set_no_scenario_plan_has(tmp_path, mode) -> None:
    from siting.sweep.robust import robust_stations

    records = _toy_sweep(tmp_path)
    inline = _Inline()

    def choose(executor):
        return robust_stations(records, list(NEEDS), out=tmp_path, mode=mode,
                               executor=executor, payload=lambda i: None, solver=None,
                               time_limit_s=None, scenario_file=None,
                               evaluate=_toy_evaluate, moves=3)

    robust = choose(lambda: inline)
    # the plans' sets {x,y} and {x,z} cost 86.7 and 53.3 on average (the own plans'
    # 20 where they apply); adding y to {x,z} serves every scenario for 30
    costs = {c["candidate"]: c["expected_cost"] for c in robust["candidates"]}
    assert sorted(costs.values()) == pytest.approx([30.0, 53.3, 86.7, 110.0], abs=0.05)
    assert {s["id"] for s in robust["stations"]} == {"x", "y", "z"}
    assert robust["expected_cost"] == 30.0 and robust["max_regret"] == 10.0
    assert robust["chosen_from_runs"] == [] and "add the 1 station" in robust["chosen_move"]
    assert [m["accepted"] for m in robust["local_search"]] == [False, True]
    assert "local search" in robust["method"] and robust["lower_bound"] == 18.0
    assert robust["gap"] == pytest.approx((30 - 18) / 30)
    # {x,y} in s2 and s3, {x,z} (the plan of s2 and s3) in s1, 2 moves in all 3: once each
    assert inline.calls == 2 + 1 + 2 * 3

    def no_cluster():
        raise AssertionError("a rerun started a cluster")

    again = choose(no_cluster)  # every evaluation is read back from robust/evals
    assert again["chosen_candidate"] == robust["chosen_candidate"]


def test_docstring_examples_run() -> None:
    import doctest

    from siting.sweep import robust, spec

    for module in (spec, robust):
        failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert tried > 0 and failures == 0, module
