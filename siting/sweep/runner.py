"""Run a sweep on Dask: build each region once, plan every run on the workers, resume.

:func:`run_sweep` is what ``python cli.py sweep`` calls. It

1. keys every run by the hash of what determines its plan (the varied scenario, the
   planners, the region source, the solver and time limit): ``runs/<run-id>/``;
2. skips every run whose folder already holds a finished plan (or a final failure)
   of the same key, so a rerun resumes an interrupted sweep;
3. builds each distinct region once in the client, ships it to every worker once
   (``client.scatter(..., broadcast=True)``) and submits one task per remaining run
   (``retries=2, pure=False``: a task whose worker dies runs again elsewhere);
4. with ``robust``, chooses one charger station set for all scenarios
   (:mod:`siting.sweep.robust`);
5. writes ``sweep.csv``, ``sweep.parquet``, ``sweep.html`` and ``provenance.json``
   (each atomically).

Dask: by default a :class:`distributed.LocalCluster` of ``workers`` processes with
one thread each (each run's solver gets one thread); ``scheduler`` connects to a
running cluster instead (``dask scheduler`` and ``dask worker``). On a cluster of
several machines ``out`` must be a folder every worker can write (a shared file
system): the workers write the run folders.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siting.config import DEFAULT_SCENARIO, Scenario
from siting.errors import InputError
from siting.io import digest, file_sha256
from siting.sweep.tasks import (
    FINAL_STATUSES,
    RegionPayload,
    ScenarioFile,
    evaluate_fixed_task,
    run_plan_task,
)

logger = logging.getLogger(__name__)

__all__ = ["SweepResult", "run_key", "run_sweep"]


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did: one record per run (in sweep order), the table, the
    files written and the counts."""

    out: Path
    records: list[dict[str, Any]]
    table: Any  # pandas.DataFrame
    files: tuple[Path, ...]
    provenance: Mapping[str, Any]
    robust: Mapping[str, Any] | None = None
    counts: Mapping[str, int] = field(default_factory=dict)


def source_record(source: Any) -> dict[str, Any]:
    """What identifies a region source (files by content), for run keys and provenance."""
    record: dict[str, Any] = {"demo": bool(source.is_demo)}
    for name in ("osm", "boundary", "population"):
        path = getattr(source, name)
        if path is not None:
            record[name] = {"path": str(path),
                            "sha256": file_sha256(path) if Path(path).is_file() else None}
    if source.place:
        record["place"] = source.place
    if source.population_total is not None:
        record["population_total"] = source.population_total
    if source.constraints:
        record["layers"] = {k: {"path": str(p), "sha256": file_sha256(p)
                                if Path(p).is_file() else None}
                            for k, p in sorted(source.constraints.items())}
    return record


def run_key(scenario: Scenario, *, planners: Sequence[str], source: Mapping[str, Any],
            solver: str | None, time_limit_s: float | None) -> str:
    """The run id: 12 hex digits of the hash of everything that determines its plan."""
    return digest(scenario.to_dict(), sorted(planners), dict(source), solver,
                  time_limit_s)[:12]


def region_key(scenario: Scenario, source: Any) -> str:
    """Runs with the same key share one region (the settings the region is built from)."""
    from siting.pipeline import layer_reach_m

    parts: list[Any] = [scenario.seed, scenario.region.road_detail,
                        scenario.region.cell_size_m, scenario.logistics.source_freight_mt]
    if source.constraints or not source.is_demo:
        parts.append(layer_reach_m(scenario))
    return digest(*parts)[:12]


def finished_record(run_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The record of a run already finished in ``run_dir`` with key ``run_id``: a plan
    (``provenance.json``'s ``sweep.run_id`` and a readable ``kpis.json``) or a final
    failure (``error.json``); ``None`` when the run must be (re)done."""
    prov = _read_json(run_dir / "provenance.json")
    sweep = prov.get("sweep") if isinstance(prov, dict) else None
    if isinstance(sweep, dict) and sweep.get("run_id") == run_id:
        kpis = _read_json(run_dir / "kpis.json")
        if isinstance(kpis, dict) and (run_dir / "plan.gpkg").is_file():
            return {"run_id": run_id, "point": sweep.get("varied", {}), "status": "ok",
                    "diagnosis": "", "kpis": kpis, "seconds": sweep.get("seconds"),
                    "skipped": True, "worker": None}
    error = _read_json(run_dir / "error.json")
    if isinstance(error, dict) and error.get("run_id") == run_id and \
            error.get("status") in FINAL_STATUSES:
        return {"run_id": run_id, "point": error.get("varied", {}),
                "status": error["status"], "diagnosis": error.get("diagnosis", ""),
                "kpis": None, "seconds": None, "skipped": True, "worker": None}
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Executor:
    """A Dask client (a LocalCluster of its own, or a running scheduler) that runs
    tasks with retries and a progress bar."""

    def __init__(self, *, workers: int | None, scheduler: str | None, quiet: bool) -> None:
        try:
            import dask
            import distributed
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a dependency
            raise InputError(f"sweeps need dask.distributed ({exc}); pip install "
                             f"'dask[distributed]'") from None
        self.quiet = quiet
        self.cluster = None
        self.dask_version = dask.__version__
        self.distributed_version = distributed.__version__
        if scheduler is not None:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(
                    f"--scheduler {scheduler}: cannot connect ({exc}); start one with "
                    f"`dask scheduler` and give the address it prints "
                    f"(tcp://HOST:PORT)") from None
            try:
                self.client.wait_for_workers(1, timeout=120)
            except TimeoutError:
                self.client.close()
                raise InputError(f"--scheduler {scheduler}: no worker joined within 120 s; "
                                 f"start some with `dask worker {scheduler}`") from None
            self.address = scheduler
        else:
            n = workers if workers is not None else (os.cpu_count() or 1)
            self.cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR if quiet else logging.WARNING)
            self.client = Client(self.cluster)
            self.address = str(self.cluster.scheduler_address)

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def scatter(self, value: Any) -> Any:
        future = self.client.scatter(value, broadcast=True, hash=False)
        # every worker holds a copy before any run is submitted: scattered data lost with
        # its only holder cannot be recomputed, and every run needing it would fail
        # (seen once in CI: a worker killed as its first run started took the region)
        try:
            self.client.replicate([future])
        except (OSError, TimeoutError, ValueError) as exc:  # best effort: runs still fetch it
            logger.debug("replicating the scattered region: %s", exc)
        return future

    def run(self, fn: Callable[..., dict[str, Any]], calls: Sequence[tuple[tuple, dict]], *,
            desc: str, on_result: Callable[[int, dict[str, Any]], None] | None = None,
            on_lost: Callable[[int, BaseException], dict[str, Any]]) -> list[dict[str, Any]]:
        """Run ``fn(*args, **kwargs)`` for every call; return the results in order.

        A task that fails even after its retries (its workers kept dying) is replaced
        by ``on_lost(index, error)``.
        """
        from distributed import as_completed
        from tqdm.auto import tqdm

        if not calls:
            return []
        futures = [self.client.submit(fn, *args, retries=2, pure=False, **kwargs)
                   for args, kwargs in calls]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[dict[str, Any] | None] = [None] * len(futures)
        with tqdm(total=len(futures), desc=desc, disable=self.quiet, unit="run") as bar:
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    results[i] = future.result()
                except Exception as exc:  # the task's workers died (KilledWorker) etc.
                    logger.warning("%s: task %d lost: %s", desc, i, exc)
                    results[i] = on_lost(i, exc)
                if on_result is not None:
                    on_result(i, results[i])  # type: ignore[arg-type]
                bar.update(1)
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class _Session:
    """The Dask side of one sweep, started on first use (a sweep whose runs are all
    finished starts no cluster), with each region scattered to the workers once."""

    def __init__(self, *, workers: int | None, scheduler: str | None, quiet: bool) -> None:
        self.options = dict(workers=workers, scheduler=scheduler, quiet=quiet)
        self._executor: Executor | None = None
        self._payloads: dict[str, Any] = {}

    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = Executor(**self.options)  # type: ignore[arg-type]
        return self._executor

    def payload(self, key: str, region: Any) -> Any:
        if key not in self._payloads:
            self._payloads[key] = self.executor().scatter(RegionPayload.of(region))
        return self._payloads[key]

    def describe(self) -> tuple[int, str | None, tuple[str | None, str | None]]:
        """(workers, scheduler address, (dask, distributed) versions); no cluster: 0."""
        ex = self._executor
        if ex is None:
            return 0, None, _dask_versions()
        return ex.n_workers, ex.address, (ex.dask_version, ex.distributed_version)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()


def run_sweep(scenario: Scenario, points: Sequence[Mapping[str, Any]], *, out: Path,
              source: Any = None, planners: Sequence[str] = ("chargers",),
              solver: str | None = None, time_limit_s: float | None = None,
              workers: int | None = None, scheduler: str | None = None,
              scenario_path: Path | None = None, robust: str | None = None,
              robust_moves: int = 3, samples: int | None = None, seed: int | None = None,
              progress: bool = True) -> SweepResult:
    """Plan every point of a sweep (see the module docstring) and write the outputs.

    ``points``: the varied values of each run (:func:`siting.sweep.spec.sweep_points`).
    ``robust``: ``"expected"`` or ``"regret"`` for a robust charger station set;
    ``robust_moves``: the most move sets its local search evaluates
    (:func:`siting.sweep.robust.robust_stations`).

    Raises:
        InputError: bad options, an unreachable scheduler; the runs' own failures
            are rows of the table, not errors.
    """
    from siting.pipeline import RegionSource, build_region
    from siting.registry import planner_specs
    from siting.sweep.spec import varied_scenario

    source = source if source is not None else RegionSource()
    planners = [s.name for s in planner_specs(planners)]
    if robust is not None and "chargers" not in planners:
        raise InputError(f"--robust {robust}: a robust station set is for the chargers "
                         f"planner; add chargers to --planners")
    if robust_moves < 0:
        raise InputError(f"--robust-moves {robust_moves}: give 0 or more")
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    if time_limit_s is not None and time_limit_s <= 0:
        raise InputError(f"--time-limit {time_limit_s}: must be a positive number of seconds")
    scenario_path = Path(scenario_path) if scenario_path is not None else DEFAULT_SCENARIO
    scenario_file = ScenarioFile(scenario_path.resolve(),
                                 scenario_path.read_text(encoding="utf-8"))
    out = Path(out)
    src = source_record(source)
    scenarios = [varied_scenario(scenario, p) for p in points]
    keys = [run_key(s, planners=planners, source=src, solver=solver,
                    time_limit_s=time_limit_s) for s in scenarios]
    dupes = len(keys) - len(set(keys))
    if dupes:
        raise InputError(f"--vary: {dupes} run(s) repeat another's scenario; give distinct "
                         f"values")
    runs = out / "runs"
    records: list[dict[str, Any] | None] = [finished_record(runs / k, k) for k in keys]
    todo = [i for i, r in enumerate(records) if r is None]
    skipped = len(points) - len(todo)
    if skipped:
        logger.info("sweep: %d of %d run(s) already finished in %s: skipped", skipped,
                    len(points), runs)
    started = dt.datetime.now(dt.UTC)
    session = _Session(workers=workers, scheduler=scheduler, quiet=not progress)
    regions: dict[str, Any] = {}
    robust_record = None
    try:
        by_region = {i: region_key(scenarios[i], source) for i in range(len(points))}
        for i in range(len(points)):
            rk = by_region[i]
            if rk not in regions:
                regions[rk] = build_region(scenarios[i], source, progress=progress)

        def payload(i: int) -> Any:
            return session.payload(by_region[i], regions[by_region[i]])

        if todo:
            calls = [((payload(i), scenarios[i]),
                      dict(planners=planners, solver=solver, time_limit_s=time_limit_s,
                           run_dir=str(runs / keys[i]), run_id=keys[i], point=dict(points[i]),
                           scenario_file=scenario_file)) for i in todo]

            def lost(j: int, exc: BaseException) -> dict[str, Any]:
                i = todo[j]
                return {"run_id": keys[i], "point": dict(points[i]), "status": "error",
                        "diagnosis": f"the run's workers were lost: {exc}", "kpis": None,
                        "seconds": None, "skipped": False, "worker": None}

            for j, rec in enumerate(session.executor().run(run_plan_task, calls, desc="sweep",
                                                           on_lost=lost)):
                records[todo[j]] = rec
        done: list[dict[str, Any]] = [r for r in records if r is not None]
        from siting.sweep.robust import robust_stations, station_sets

        stations = station_sets(done, out)  # each run's plan.gpkg, read once
        if robust is not None:
            robust_record = robust_stations(
                done, scenarios, out=out, mode=robust, executor=session.executor,
                payload=payload, solver=solver, time_limit_s=time_limit_s,
                scenario_file=scenario_file, evaluate=evaluate_fixed_task,
                moves=robust_moves, stations=stations)
        n_workers, address, versions = session.describe()
    finally:
        session.close()
    from siting.sweep.report import records_table, write_outputs

    table = records_table(done, keys=list(points[0]) if points else [])
    counts = {"runs": len(done), "ran": len(todo), "skipped": skipped,
              **{f"status_{s}": sum(1 for r in done if _row_status(r) == s)
                 for s in ("ok", "infeasible", "error", "bug")}}
    region = next(iter(regions.values())) if regions else None
    prov = sweep_provenance(scenario, scenario_path=scenario_path, points=points,
                            planners=planners, source=src, scheduler=address,
                            n_workers=n_workers, versions=versions, started=started,
                            counts=counts, samples=samples, seed=seed, robust=robust,
                            solver=solver, time_limit_s=time_limit_s, region=region)
    files = write_outputs(out, table=table, records=done, region=region,
                          is_demo=bool(src["demo"]), provenance=prov, robust=robust_record,
                          varied=list(points[0]) if points else [], stations=stations)
    return SweepResult(out=out, records=done, table=table, files=files, provenance=prov,
                       robust=robust_record, counts=counts)


def _row_status(record: Mapping[str, Any]) -> str:
    """The table's status: ``input`` failures are reported as ``error``."""
    status = str(record.get("status"))
    return "error" if status == "input" else status


def _dask_versions() -> tuple[str | None, str | None]:
    try:
        import dask
        import distributed

        return dask.__version__, distributed.__version__
    except ImportError:  # pragma: no cover
        return None, None


def sweep_provenance(scenario: Scenario, *, scenario_path: Path, points: Iterable[Mapping],
                     planners: Sequence[str], source: Mapping[str, Any],
                     scheduler: str | None, n_workers: int,
                     versions: tuple[str | None, str | None], started: dt.datetime,
                     counts: Mapping[str, int], samples: int | None, seed: int | None,
                     robust: str | None, solver: str | None, time_limit_s: float | None,
                     region: Any) -> dict[str, Any]:
    """``provenance.json`` of the sweep folder."""
    import sys

    from siting import __version__

    points = list(points)
    return {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "started_utc": started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "siting_version": __version__,
        "scenario_file": {"path": str(scenario_path), "sha256": file_sha256(scenario_path)},
        "scenario_sha256": digest(scenario.to_dict()),
        "scenario": scenario.to_dict(),
        "region": region.name if region is not None else None,
        "region_source": dict(source),
        "attribution": list(region.attribution) if region is not None else [],
        "synthetic_layers": sorted(region.synthetic) if region is not None else [],
        "planners": list(planners),
        "varied_keys": list(points[0]) if points else [],
        "design": ({"kind": "latin_hypercube", "samples": samples, "seed": seed}
                   if samples is not None else {"kind": "grid"}),
        "points": points,
        "solver": solver, "time_limit_s": time_limit_s,
        "dask": {"scheduler": scheduler, "workers": n_workers, "dask_version": versions[0],
                 "distributed_version": versions[1]},
        "robust": robust,
        **{k: v for k, v in counts.items()},
        "runs_skipped": counts.get("skipped", 0),
    }
