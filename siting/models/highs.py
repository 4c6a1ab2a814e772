"""HiGHS backend: pass the model's arrays straight to ``highspy`` (no pulp objects).

Measured on OR-Library pmed40 (0.3 M columns, 0.6 M nonzeros): ``passModel`` from
arrays takes about 0.05 s, pulp needs about 5 s to build the same model.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from siting.errors import SolverError
from siting.models.base import SolverOptions, Status
from siting.models.builder import LinearModel
from siting.models.raw import RawSolution, effective_abs_gap, finish, guard_slack_s

logger = logging.getLogger(__name__)

__all__ = ["HighsLP", "guard_slack_s", "highs_version", "run_guarded", "safe_lp_bound",
           "solve_highs"]


#: seconds between two reports of a MIP's dual bound to ``solve_highs``'s ``on_bound``
BOUND_REPORT_S = 0.5


def run_guarded(h: object, time_limit_s: float | None) -> float:
    """``h.run()``, cancelled at ``time_limit_s`` plus :func:`guard_slack_s` at the latest.

    HiGHS checks its own ``time_limit`` between steps only, and a step can be long (a
    root-node cut round or sub-MIP ran 15 s on a 4.8 s limit): a watchdog thread then
    cancels the run through highspy's user interrupt, which HiGHS polls inside simplex,
    interior point and MIP. A cancelled run ends as ``kInterrupt`` (a time limit to the
    callers), keeping any solution found. Returns the seconds the run took; a run still
    past the slack (HiGHS did not reach a polling point) is logged as a WARNING.
    """
    t0 = time.perf_counter()
    if time_limit_s is None or not math.isfinite(time_limit_s):
        h.run()  # type: ignore[attr-defined]
        return time.perf_counter() - t0
    slack = guard_slack_s(time_limit_s)
    stop = threading.Event()

    def interrupt(event: Any) -> None:  # HiGHS keeps the flag between runs: always set it
        event.interrupt(stop.is_set())

    hooks = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt)  # type: ignore[attr-defined]
    for hook in hooks:
        hook += interrupt
    watchdog = threading.Timer(time_limit_s + slack, stop.set)
    watchdog.daemon = True
    watchdog.start()
    try:
        h.run()  # type: ignore[attr-defined]
    finally:
        watchdog.cancel()
        for hook in hooks:
            hook -= interrupt
    seconds = time.perf_counter() - t0
    if seconds > time_limit_s + 2 * slack:
        logger.warning("HiGHS ran %.1f s on a %.1f s time limit: it could not be cancelled "
                       "sooner", seconds, time_limit_s)
    return seconds


@contextlib.contextmanager
def _quiet_stdout(enabled: bool) -> Iterator[None]:
    """Silence C-level stdout (HiGHS prints a banner when its first object is made)."""
    if not enabled:
        yield
        return
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


_NO_HEURISTICS: dict[str, object] = {
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_zi_round": False,
    "mip_heuristic_run_shifting": False,
    "mip_heuristic_run_feasibility_jump": False,
}


def _new_highs(verbose: bool):  # type: ignore[no-untyped-def]
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a hard dependency
        raise SolverError("HiGHS is not installed: pip install highspy") from exc
    with _quiet_stdout(not verbose):
        h = highspy.Highs()
        h.setOptionValue("output_flag", bool(verbose))
    return h


@functools.cache
def highs_version() -> str:
    h = _new_highs(False)
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def _status(model_status: object, primal_ok: bool, is_mip: bool) -> Status:
    import highspy

    s = highspy.HighsModelStatus
    if model_status == s.kOptimal:
        return Status.OPTIMAL
    if model_status == s.kInfeasible:
        return Status.INFEASIBLE
    if model_status == s.kUnbounded:
        return Status.UNBOUNDED
    if model_status in (s.kTimeLimit, s.kIterationLimit, s.kInterrupt, s.kSolutionLimit,
                        s.kObjectiveBound, s.kObjectiveTarget, s.kUnknown):
        if primal_ok:
            return Status.TIME_LIMIT_FEASIBLE
        return Status.TIME_LIMIT_NO_SOLUTION if model_status == s.kTimeLimit else Status.ERROR
    return Status.ERROR


def solve_highs(model: LinearModel, options: SolverOptions, *, time_limit_s: float | None,
                start: np.ndarray | None = None, relax: bool = False,
                want_duals: bool = False, cutoff: float | None = None,
                on_bound: Callable[[float], None] | None = None) -> RawSolution:
    """Solve ``model`` with HiGHS; see :func:`siting.models.solvers.run_solver`.

    ``on_bound(bound)`` is called with the MIP's dual bound (in the model's sense) when
    it has moved, at most every :data:`BOUND_REPORT_S` seconds, from HiGHS's interrupt
    polls; the child process of :mod:`siting.models.highs_process` sends it to its
    parent. (Not solutions from HiGHS's improving-solution callback: with one
    registered, a 500-point charger neighbourhood MIP missed the plan it otherwise
    finds in the last half second of its time, 0.24% better.)"""
    import highspy

    is_mip = model.is_mip and not relax
    flip = cutoff is not None and is_mip and model.sense == "max"
    if flip and cutoff is not None:  # HiGHS applies objective_bound to minimisation only
        cutoff = -float(cutoff)
        h = _load(replace(model, sense="min", cost=-model.cost, offset=-model.offset), options,
                  relax=relax)
    else:
        h = _load(model, options, relax=relax)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    if cutoff is not None and is_mip:
        # the caller holds an incumbent: only a proof or a better solution is wanted, so
        # HiGHS's primal heuristics (about half the LP work on CFLP) are switched off
        h.setOptionValue("objective_bound", float(cutoff))
        for key, value in _NO_HEURISTICS.items():
            h.setOptionValue(key, value)
    if on_bound is not None and is_mip:
        last = [-math.inf, math.nan]  # time, bound

        def report(event: Any) -> None:
            bound = float(event.data_out.mip_dual_bound)
            now = time.perf_counter()
            if math.isfinite(bound) and bound != last[1] and now - last[0] >= BOUND_REPORT_S:
                last[:] = [now, bound]
                on_bound(-bound if flip else bound)

        h.cbMipInterrupt += report
    t0 = time.perf_counter()
    if start is not None and is_mip:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=np.float64).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    run_guarded(h, time_limit_s)
    ms = h.getModelStatus()
    if ms == highspy.HighsModelStatus.kUnboundedOrInfeasible:
        # presolve could not tell which; the plain solver can
        h.setOptionValue("presolve", "off")  # HiGHS's time_limit counts both runs
        run_guarded(h, None if time_limit_s is None else
                    max(1e-3, time_limit_s - (time.perf_counter() - t0)))
        ms = h.getModelStatus()
    seconds = time.perf_counter() - t0
    info = h.getInfo()
    primal_ok = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    st = _status(ms, primal_ok, is_mip)
    x = None
    row_dual = col_dual = None
    if st.has_solution:
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=np.float64)
        if want_duals and not is_mip and sol.dual_valid:
            row_dual = np.asarray(sol.row_dual, dtype=np.float64)
            col_dual = np.asarray(sol.col_dual, dtype=np.float64)
    if is_mip:
        bound = -float(info.mip_dual_bound) if flip else float(info.mip_dual_bound)
    elif st is Status.OPTIMAL:
        bound = float(info.objective_function_value)
    else:
        bound = math.nan
    if not math.isfinite(bound):
        bound = math.nan
    return finish(model, st, x, bound, seconds, "highs", highs_version(),
                  row_dual=row_dual, col_dual=col_dual,
                  info={"model_status": h.modelStatusToString(ms),
                        "nodes": int(info.mip_node_count) if is_mip else 0,
                        "simplex_iterations": int(info.simplex_iteration_count)})


#: the thread count HiGHS's task scheduler was started with, per calling thread
#: (``"auto"`` when HiGHS chose it): see :func:`_match_scheduler`
_SCHEDULER: dict[int, int | str] = {}


def running_threads() -> int | None:
    """The thread count of the HiGHS scheduler this thread started (``None``: none yet,
    or HiGHS chose it)."""
    running = _SCHEDULER.get(threading.get_ident())
    return running if isinstance(running, int) else None


def _match_scheduler(threads: int | None) -> None:
    """Restart HiGHS's task scheduler when a solve asks for another thread count.

    HiGHS sizes its scheduler on the first solve and refuses ("status error") a later
    solve that asks for a different ``threads``; a solve that leaves the count to HiGHS
    uses whatever is running. So a scheduler started with another count, or by HiGHS
    itself, is reset before a solve that names its count.
    """
    import highspy

    key = threading.get_ident()
    running = _SCHEDULER.get(key)
    if threads is None:
        _SCHEDULER.setdefault(key, "auto")
        return
    if running is not None and running != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _SCHEDULER[key] = threads


def _load(model: LinearModel, options: SolverOptions, *, relax: bool):  # type: ignore[no-untyped-def]
    """A Highs object holding ``model`` with the options set (no time limit yet)."""
    import highspy

    _match_scheduler(options.threads)
    h = _new_highs(options.verbose)
    opts: dict[str, object] = {
        "mip_rel_gap": float(options.mip_gap),
        "mip_abs_gap": float(effective_abs_gap(model, options)),
        "random_seed": int(options.seed),
    }
    if options.threads is not None:
        opts["threads"] = int(options.threads)
    for key, value in opts.items():
        h.setOptionValue(key, value)

    a = model.matrix
    integrality = (model.integer & (not relax)).astype(np.int32)
    sense = highspy.ObjSense.kMaximize if model.sense == "max" else highspy.ObjSense.kMinimize
    status = h.passModel(
        model.n_cols, model.n_rows, model.nnz, int(highspy.MatrixFormat.kColwise),
        int(sense), float(model.offset),
        np.ascontiguousarray(model.cost), np.ascontiguousarray(model.col_lower),
        np.ascontiguousarray(model.col_upper), np.ascontiguousarray(model.row_lower),
        np.ascontiguousarray(model.row_upper), a.indptr.astype(np.int32),
        a.indices.astype(np.int32), np.ascontiguousarray(a.data, dtype=np.float64),
        integrality,
    )
    if status == highspy.HighsStatus.kError:
        raise SolverError(f"HiGHS rejected model {model.name!r} ({model.stats()})")
    return h


def safe_lp_bound(model: LinearModel, opts: SolverOptions, *,
                  time_limit_s: float | None) -> float | None:
    """A valid lower bound on ``model``'s LP relaxation from an interior-point solve.

    For any row multipliers ``pi``, ``sum_r (pi_r^+ lo_r - pi_r^- hi_r) + sum_j
    min(d_j l_j, d_j u_j)`` with reduced costs ``d = c - A^T pi`` bounds the LP from
    below (Lagrangian weak duality), so the approximate duals of an interior-point
    run without crossover give a rigorous bound as long as every column has finite
    bounds (the heat planner's
    :meth:`~siting.heat.problem.HeatNetworkProblem.build_model` sets them). Multipliers
    that would need an infinite row side are set to 0. Returns ``None`` when the run did
    not finish. Minimisation only. Used directly: :func:`run_solver` does not offer
    interior point.
    """
    if model.sense != "min" or not (np.isfinite(model.col_lower).all()
                                    and np.isfinite(model.col_upper).all()):
        return None
    import highspy

    h = _load(model, opts, relax=True)
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "off")
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(max(time_limit_s, 1e-3)))
    run_guarded(h, None if time_limit_s is None else max(time_limit_s, 1e-3))
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    pi = np.asarray(h.getSolution().row_dual, dtype=np.float64)
    lo, hi = model.row_lower, model.row_upper
    pi = np.where((pi > 0) & ~np.isfinite(lo), 0.0, pi)
    pi = np.where((pi < 0) & ~np.isfinite(hi), 0.0, pi)
    d = model.cost - model.matrix.T @ pi
    rows = np.where(pi > 0, pi * np.where(np.isfinite(lo), lo, 0.0),
                    pi * np.where(np.isfinite(hi), hi, 0.0)).sum()
    cols = np.minimum(d * model.col_lower, d * model.col_upper).sum()
    return float(rows + cols + model.offset)


class HighsLP:
    """A persistent HiGHS LP for branch-and-bound: change bounds, re-solve warm.

    HiGHS keeps the last optimal basis, so re-solving after a bound change runs a
    few dual simplex iterations instead of a cold start. Integrality is dropped.
    """

    def __init__(self, model: LinearModel, options: SolverOptions) -> None:
        import highspy

        self._hs = highspy
        self.model = model
        self.h = _load(model, options, relax=True)
        self.h.setOptionValue("presolve", "off")  # keep the basis across re-solves


    def solve(self, *, time_limit_s: float | None, objective_bound: float | None = None
              ) -> Status:
        """Re-solve; ``objective_bound`` lets the dual simplex stop once it is exceeded
        (the node can be pruned), reported as ``Status.INFEASIBLE``."""
        h, hs = self.h, self._hs
        limit = math.inf if time_limit_s is None else h.getRunTime() + max(time_limit_s, 1e-3)
        h.setOptionValue("time_limit", float(limit))
        h.setOptionValue("objective_bound", math.inf if objective_bound is None
                         else float(objective_bound))
        h.run()
        ms = h.getModelStatus()
        if ms == hs.HighsModelStatus.kOptimal:
            return Status.OPTIMAL
        if ms in (hs.HighsModelStatus.kInfeasible, hs.HighsModelStatus.kObjectiveBound):
            return Status.INFEASIBLE
        if ms == hs.HighsModelStatus.kTimeLimit:
            return Status.TIME_LIMIT_NO_SOLUTION
        if ms == hs.HighsModelStatus.kUnboundedOrInfeasible:
            return Status.INFEASIBLE
        return Status.ERROR

    @property
    def objective(self) -> float:
        return float(self.h.getInfo().objective_function_value)

    def solution(self) -> tuple[np.ndarray, np.ndarray]:
        """Primal values and reduced costs of every column."""
        sol = self.h.getSolution()
        return (np.asarray(sol.col_value, dtype=np.float64),
                np.asarray(sol.col_dual, dtype=np.float64))

    def set_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.h.changeColsBounds(int(cols.size), cols.astype(np.int32),
                                np.ascontiguousarray(lower, dtype=np.float64),
                                np.ascontiguousarray(upper, dtype=np.float64))

    def basis(self) -> object:
        return self.h.getBasis()

    def set_basis(self, basis: object) -> None:
        self.h.setBasis(basis)
