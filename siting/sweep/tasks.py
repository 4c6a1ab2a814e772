"""What runs on a Dask worker: one plan of a sweep, or one robust evaluation.

Both are plain functions of picklable arguments, so that any worker can run them:
the region travels as a :class:`RegionPayload` (the :class:`~siting.region.Region`
with its rasters' bytes, so a worker on another machine rebuilds the files it
reads), and the scenario file as its text. Every expected failure of a run
(bad input, an infeasible target, a solver without a solution, a checker that
rejects the plan) is caught and returned as a record: one run never fails the sweep.
A worker that dies mid-run loses nothing written: each run's folder is written
atomically (:meth:`siting.pipeline.Plan.write`), and the scheduler runs the task
again on another worker.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from siting.config import Scenario
from siting.errors import CheckError, InfeasibleError, InputError, SolverError
from siting.io import write_json
from siting.region import Region

logger = logging.getLogger(__name__)

#: run record statuses: a plan was written; the target cannot be met; bad input or no
#: solution in the time limit; a defect (the checker rejected the plan, or a crash)
STATUSES = ("ok", "infeasible", "error", "bug")
#: statuses a rerun keeps (deterministic); "error" from the solver's clock and "bug"
#: are run again
FINAL_STATUSES = ("ok", "infeasible", "input")


@dataclass(frozen=True)
class RegionPayload:
    """A region and the bytes of its rasters, to be shipped to workers once."""

    region: Region
    rasters: Mapping[str, bytes]

    @classmethod
    def of(cls, region: Region) -> RegionPayload:
        return cls(region, {name: Path(r.path).read_bytes()
                            for name, r in region.rasters.items()})

    def local(self) -> Region:
        """The region, with every raster file present on this machine (rewritten from
        the shipped bytes into a content-named temporary file where it is missing)."""
        missing = {n for n, r in self.region.rasters.items() if not Path(r.path).is_file()}
        if not missing:
            return self.region
        rasters = dict(self.region.rasters)
        folder = Path(tempfile.gettempdir()) / "siting-sweep-rasters"
        folder.mkdir(parents=True, exist_ok=True)
        for name in missing:
            data = self.rasters[name]
            path = folder / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}.tif"
            if not path.is_file():
                tmp = path.with_suffix(f".{time.time_ns()}.tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
            rasters[name] = replace(rasters[name], path=path)
        return replace(self.region, rasters=rasters)


@dataclass(frozen=True)
class ScenarioFile:
    """The scenario file the sweep started from: its path and text (provenance and the
    ``[assumption]`` tags read it), rewritten on a worker that lacks it."""

    path: Path
    text: str

    def local(self) -> Path:
        if self.path.is_file() and self.path.read_text(encoding="utf-8") == self.text:
            return self.path
        digest = hashlib.sha256(self.text.encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / "siting-sweep-scenarios" / \
            f"{self.path.stem}-{digest}.toml"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{time.time_ns()}.tmp")
            tmp.write_text(self.text, encoding="utf-8")
            tmp.replace(path)
        return path


def pin_highs_threads(threads: int = 1) -> None:
    """Start this thread's HiGHS scheduler with ``threads`` threads.

    HiGHS keeps one task scheduler per calling thread, sized by the first solve on
    it, and refuses a later solve that asks for another thread count ("status
    error"). Some solves (the charger planner's diagnosis) leave the count to HiGHS
    (all cores), so a run with one solver thread first starts the scheduler with one
    (a solve with the automatic count then uses it too).
    """
    try:
        import highspy

        from siting.models.highs import _match_scheduler, _new_highs
    except ImportError:  # pragma: no cover - a dependency
        return

    def tiny() -> Any:
        h = _new_highs(False)
        h.setOptionValue("threads", int(threads))
        h.addVar(0.0, 1.0)
        return h.run()

    _match_scheduler(threads)  # recorded, so solves in a child process use it too
    if tiny() != highspy.HighsStatus.kOk:
        highspy.Highs.resetGlobalScheduler(True)
        tiny()


def solver_for(scenario: Scenario, solver: str | None, time_limit_s: float | None) -> Any:
    """The run's solver options: the scenario's, with one thread (one run per worker;
    :func:`pin_highs_threads` starts HiGHS's scheduler to match)."""
    from siting.planners import solver_options

    pin_highs_threads(1)

    opts = solver_options(scenario.solver, time_limit_s=time_limit_s, name=solver,
                          seed=scenario.seed)
    return replace(opts, threads=1)


def _failure(exc: BaseException) -> tuple[str, str]:
    """(status, diagnosis) of a run that raised ``exc``."""
    if isinstance(exc, InfeasibleError):
        return "infeasible", str(exc)
    if isinstance(exc, SolverError):
        return "error", str(exc)
    if isinstance(exc, InputError):
        return "input", str(exc)
    if isinstance(exc, CheckError):
        return "bug", str(exc)
    tail = "".join(traceback.format_exception(exc)[-3:]).strip()
    return "bug", f"internal error (a bug): {type(exc).__name__}: {exc}\n{tail}"


def run_plan_task(payload: RegionPayload, scenario: Scenario, *, planners: Sequence[str],
                  solver: str | None, time_limit_s: float | None, run_dir: str,
                  run_id: str, point: Mapping[str, Any], scenario_file: ScenarioFile,
                  progress: bool = False) -> dict[str, Any]:
    """Plan one run and write its folder; return the run record.

    The record: ``run_id``, ``point`` (the varied values), ``status`` (see
    :data:`STATUSES`; ``"input"`` is reported as ``"error"``), ``diagnosis``, ``kpis``
    (the plan's ``kpis.json``), ``seconds`` (wall time of the run) and ``worker``.
    A failed run writes ``error.json`` into its folder instead of a plan.
    """
    from siting.pipeline import make_plan

    start = time.perf_counter()
    out = Path(run_dir)
    record: dict[str, Any] = {"run_id": run_id, "point": dict(point), "status": "ok",
                              "diagnosis": "", "kpis": None, "skipped": False,
                              "worker": _worker_name()}
    planned = False
    try:
        region = payload.local()
        plan = make_plan(scenario, region, planners=list(planners),
                         solver=solver_for(scenario, solver, time_limit_s),
                         time_limit_s=time_limit_s, scenario_path=scenario_file.local())
        planned = True
        seconds = time.perf_counter() - start
        sweep = {"run_id": run_id, "varied": dict(point), "seconds": round(seconds, 3),
                 "planners": list(planners)}
        plan = replace(plan, provenance={**dict(plan.provenance), "sweep": sweep})
        plan.write(out, lang=plan.lang)
        (out / "error.json").unlink(missing_ok=True)
        record["kpis"] = dict(plan.kpis)
    except (InfeasibleError, InputError, SolverError, CheckError, Exception) as exc:
        status, diagnosis = _failure(exc)
        if planned:  # the plan was made but not written (e.g. the folder is busy)
            status = "error" if status != "bug" else status
        record.update(status=status, diagnosis=diagnosis)
        logger.warning("sweep run %s: %s: %s", run_id, status, diagnosis.splitlines()[0])
        if status in FINAL_STATUSES:  # the scenario's own failure: a rerun keeps it
            write_json(out / "error.json", {"run_id": run_id, "varied": dict(point),
                                            "status": status, "diagnosis": diagnosis})
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def evaluate_fixed_task(payload: RegionPayload, scenario: Scenario, *,
                        stations: Sequence[str], solver: str | None,
                        time_limit_s: float | None, scenario_file: ScenarioFile,
                        path: str, tag: Mapping[str, Any]) -> dict[str, Any]:
    """The charger plan of ``scenario`` with its public station set fixed to
    ``stations`` (piles still sized for the scenario); the result is written to
    ``path`` (JSON, with ``tag``) so that a rerun reuses it.

    The stations are fixed through reviewer decisions: every station of the set is
    approved (locked open) and every other candidate of the scenario rejected; the
    fleet depots and hubs are sized for the fleets and are not part of the set. The
    record says whether the plan's public stations equal the set (``fixed``).
    Returns ``{"objective", "bound", "status", "mip_gap", "fixed", "diagnosis", ...}``
    with ``objective = inf`` when the set cannot serve the scenario.
    """
    from siting.chargers.inputs import charger_inputs
    from siting.pipeline import make_plan, region_demand
    from siting.review import Decision, write_decisions

    start = time.perf_counter()
    record: dict[str, Any] = {**dict(tag), "objective": float("inf"), "bound": None,
                              "status": "infeasible", "mip_gap": None, "fixed": False,
                              "diagnosis": ""}
    try:
        region = payload.local()
        demand = region_demand(region, scenario)
        candidates = {str(i) for i in charger_inputs(region, demand, scenario)
                      .sites["id"]}
        chosen = set(map(str, stations))
        decisions = [Decision(layer="charging_stations", id=i, decision="approved")
                     for i in sorted(chosen)]
        decisions += [Decision(layer="charging_stations", id=i, decision="rejected")
                      for i in sorted(candidates - chosen) if not i.startswith("chg-fleet-")]
        with tempfile.TemporaryDirectory(prefix="siting-robust-") as tmp:
            file = write_decisions(Path(tmp) / "decisions.geojson", decisions)
            plan = make_plan(scenario, region, planners=["chargers"], decisions=file,
                             solver=solver_for(scenario, solver, time_limit_s),
                             time_limit_s=time_limit_s, scenario_path=scenario_file.local())
        k = plan.kpis["chargers"]
        layer = plan.metric_layers["charging_stations"]
        public = layer[layer["fleet"].isna()] if "fleet" in layer.columns else layer
        opened = set(map(str, public["id"]))
        objective = k.get("objective_cny_per_year")
        record.update(objective=float(objective) if objective is not None else float("inf"),
                      bound=k.get("bound_cny_per_year"), status=k.get("status"),
                      mip_gap=k.get("mip_gap"), fixed=opened == chosen,
                      piles_total=k.get("piles_total"))
        if opened != chosen:
            record["diagnosis"] = (f"the plan opened {len(opened - chosen)} station(s) "
                                   f"outside the set and closed {len(chosen - opened)}")
    except (InfeasibleError, InputError, SolverError, CheckError, Exception) as exc:
        status, diagnosis = _failure(exc)
        record.update(status=status, diagnosis=diagnosis)
    record["seconds"] = round(time.perf_counter() - start, 3)
    if record["status"] not in ("bug", "error"):
        write_json(Path(path), record)
    return record


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"
