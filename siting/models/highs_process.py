"""HiGHS MIPs in a child process, so that a time limit holds whatever HiGHS is doing.

HiGHS polls its user interrupt (see :func:`siting.models.highs.run_guarded`) inside
simplex, interior point and branch-and-bound, but not everywhere: its root-node cut
rounds ran 40 s on a 23 s limit on a 1,000-point charger instance, and nothing in the
calling process can stop them. So every time-limited MIP runs in a child process
(``python -m siting.models.highs_process``, reused from call to call):

- the child solves with :func:`~siting.models.highs.solve_highs`, its own watchdog
  interrupting at the limit plus :func:`~siting.models.highs.guard_slack_s`, and sends
  each improving solution to the parent as it is found;
- the parent waits until the limit plus twice that slack, then kills the child and
  keeps the best solution it was sent (checked against the model's rows and bounds),
  with the dual bound of that moment. That is the stated slack of every time-limited
  MIP: ``time limit + 2 x max(1 s, 5% of it)``.

The limit is an absolute point on the machine's monotonic clock, so the time the
child takes to start (about half a second, once per process) counts against it.
Ctrl-C in the parent kills the child at once. LPs stay in the calling process:
simplex and interior point poll the interrupt throughout.

Set ``SITING_HIGHS_IN_PROCESS=1`` to solve in the calling process instead (the
watchdog then cancels what it can, and a run it cannot cancel is logged).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from siting.errors import SolverError
from siting.models.base import SolverOptions, Status
from siting.models.builder import LinearModel
from siting.models.highs import guard_slack_s, highs_version
from siting.models.raw import RawSolution, finish

logger = logging.getLogger(__name__)

__all__ = ["hard_limit_s", "isolation_enabled", "solve_isolated"]

#: seconds the parent waits for a new child to load HiGHS and report ready
START_TIMEOUT_S = 60.0
#: feasibility tolerance (relative to the row's scale) of a solution kept from a
#: killed child
FEAS_TOL = 1e-6

_HEADER = struct.Struct("<Q")


def hard_limit_s(time_limit_s: float) -> float:
    """Seconds after which a child still solving is killed: the limit plus twice
    :func:`~siting.models.highs.guard_slack_s` (the child's own watchdog interrupts
    at one slack; the second is for it to hand its solution back)."""
    return time_limit_s + 2 * guard_slack_s(time_limit_s)


def isolation_enabled() -> bool:
    """Whether time-limited MIPs run in a child process (``SITING_HIGHS_IN_PROCESS``
    unset or ``0``)."""
    return os.environ.get("SITING_HIGHS_IN_PROCESS", "0").strip() in ("", "0")


def _send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own child, over its own pipe


class _Worker:
    """One child process and a thread that reads its messages into a queue."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the folder holding `siting`
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "siting.models.highs_process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env)
        self.messages: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.ready = False
        threading.Thread(target=self._read, daemon=True,
                         name=f"highs-child-{self.proc.pid}").start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                message = _recv(self.proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                self.messages.put(("exit",))
                return
            self.messages.put(message)

    def send(self, message: object) -> None:
        assert self.proc.stdin is not None
        _send(self.proc.stdin, message)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.send(None)
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        self.kill()


_IDLE: list[_Worker] = []
_LOCK = threading.Lock()


def _acquire() -> _Worker:
    with _LOCK:
        while _IDLE:
            worker = _IDLE.pop()
            if worker.alive():
                return worker
            worker.kill()
    return _Worker()


def _release(worker: _Worker) -> None:
    with _LOCK:
        _IDLE.append(worker)


@atexit.register
def _close_all() -> None:
    with _LOCK:
        workers, _IDLE[:] = list(_IDLE), []
    for worker in workers:
        worker.close()


def _feasible(model: LinearModel, x: np.ndarray) -> bool:
    """Whether ``x`` meets ``model``'s bounds, rows and integrality (to :data:`FEAS_TOL`)."""
    if x.shape != (model.n_cols,) or not np.isfinite(x).all():
        return False
    tol = FEAS_TOL * np.maximum(1.0, np.abs(x))
    if np.any(x < model.col_lower - tol) or np.any(x > model.col_upper + tol):
        return False
    ints = model.integer
    if np.any(np.abs(x[ints] - np.rint(x[ints])) > 1e-5):
        return False
    act = model.matrix @ x
    scale = FEAS_TOL * np.maximum(1.0, abs(model.matrix) @ np.abs(x))
    return not (np.any(act < model.row_lower - scale) or np.any(act > model.row_upper + scale))


def solve_isolated(model: LinearModel, options: SolverOptions, *, time_limit_s: float,
                   start: np.ndarray | None = None, cutoff: float | None = None,
                   _stall_s: float = 0.0) -> RawSolution:
    """Solve MIP ``model`` with HiGHS in a child process, killed at
    :func:`hard_limit_s` if it has not returned (see the module docstring).

    ``_stall_s`` (tests only) makes the child wait that long after solving before it
    answers, as a HiGHS step that polls no interrupt would.
    """
    from siting.models.highs import running_threads

    t_call = time.perf_counter()
    deadline = time.monotonic() + time_limit_s
    if options.threads is None and running_threads() is not None:
        # as in this thread: a solve that leaves the count to HiGHS uses the scheduler
        # running here (a sweep worker pins it to one thread)
        options = replace(options, threads=running_threads())
    worker = _acquire()
    best: tuple[np.ndarray, float] | None = None
    done = False
    try:
        worker.send(("solve", model, options, deadline,
                     {"start": start, "cutoff": cutoff}, _stall_s))
        hard = deadline - time_limit_s + hard_limit_s(time_limit_s)
        while True:
            wait = hard - time.monotonic()
            if not worker.ready:  # a new child: the wait includes loading HiGHS
                wait = max(wait, START_TIMEOUT_S)
            if wait <= 0:
                break
            try:
                message = worker.messages.get(timeout=wait)
            except queue.Empty:
                break
            kind = message[0]
            if kind == "ready":
                worker.ready = True
            elif kind == "improved":
                best = (message[1], message[2])
            elif kind == "done":
                done = True
                _release(worker)
                raw: RawSolution = message[1]
                # timed from here: the child's start and the transfers count
                return replace(raw, seconds=time.perf_counter() - t_call)
            elif kind == "error":
                done = True
                _release(worker)
                name, text, trace = message[1:]
                logger.debug("HiGHS child process failed:\n%s", trace)
                if name == "SolverError":
                    raise SolverError(text)
                raise SolverError(f"HiGHS failed on model {model.name!r} ({model.stats()}): "
                                  f"{name}: {text}")
            elif kind == "exit":
                done = True
                code = worker.proc.wait()
                if best is None:
                    raise SolverError(
                        f"the HiGHS process solving model {model.name!r} ({model.stats()}) "
                        f"ended unexpectedly (exit code {code}); if the machine ran out of "
                        f"memory, plan a smaller region or give it more memory")
                logger.warning("the HiGHS process solving %r ended unexpectedly (exit code "
                               "%s); keeping the best solution it had sent", model.name, code)
                return _salvage(model, best, time.perf_counter() - t_call, "process ended")
    finally:
        if not done:  # past the hard limit, or the caller was interrupted (Ctrl-C)
            worker.kill()
    seconds = time.perf_counter() - t_call
    logger.warning("HiGHS ran past %.1f s on a %.1f s time limit on model %r in a step it "
                   "does not interrupt; its process was killed, keeping the best solution it "
                   "had sent", seconds, time_limit_s, model.name)
    return _salvage(model, best, seconds, "killed at the time limit")


def _salvage(model: LinearModel, best: tuple[np.ndarray, float] | None, seconds: float,
             why: str) -> RawSolution:
    x, bound = best if best is not None else (None, math.nan)
    if x is not None and not _feasible(model, x):
        logger.warning("the last solution HiGHS sent for %r is not feasible; dropped",
                       model.name)
        x = None
    status = Status.TIME_LIMIT_FEASIBLE if x is not None else Status.TIME_LIMIT_NO_SOLUTION
    if not math.isfinite(bound):
        bound = math.nan
    return finish(model, status, x, bound, seconds, "highs", highs_version(),
                  info={"model_status": why, "nodes": 0, "simplex_iterations": 0})


def _serve() -> None:
    """The child: answer ``("solve", ...)`` requests on stdin until ``None`` or EOF."""
    from siting.models.highs import solve_highs

    logging.disable(logging.CRITICAL)  # the parent reports what goes wrong
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # HiGHS's own output: stderr
    inp = sys.stdin.buffer
    highs_version()  # load HiGHS before saying ready
    _send(out, ("ready",))
    while True:
        try:
            request = _recv(inp)
        except EOFError:
            return
        if request is None:
            return
        _, model, options, deadline, kwargs, stall_s = request
        sent: list[tuple[np.ndarray, float]] = []

        def improved(x: np.ndarray, bound: float) -> None:
            sent.append((x, bound))
            _send(out, ("improved", x, bound))

        try:
            limit = max(1e-3, deadline - time.monotonic())
            raw = solve_highs(model, options, time_limit_s=limit, on_improve=improved,
                              **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
            _send(out, ("error", type(exc).__name__, str(exc), traceback.format_exc()))
            continue
        if stall_s > 0:
            if raw.x is not None and not sent:
                _send(out, ("improved", raw.x, raw.bound))
            time.sleep(stall_s)
        _send(out, ("done", raw))


if __name__ == "__main__":
    _serve()
