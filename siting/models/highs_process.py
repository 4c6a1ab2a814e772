"""HiGHS MIPs in a child process, so that a time limit holds whatever HiGHS is doing.

HiGHS polls its user interrupt (see :func:`siting.models.highs.run_guarded`) inside
simplex, interior point and branch-and-bound, but not everywhere: its root-node cut
rounds ran 40 s on a 23 s limit on a 1,000-point charger instance, and nothing in the
calling process can stop them. So every time-limited MIP runs in a child process
(``python -m siting.models.highs_process``, reused from call to call):

- the child solves with :func:`~siting.models.highs.solve_highs`, its own watchdog
  interrupting at the limit plus :func:`~siting.models.raw.guard_slack_s`, and sends
  the dual bound to the parent as it moves;
- the parent waits until the limit plus twice that slack, then kills the child and
  returns ``TIME_LIMIT_NO_SOLUTION`` with the last bound it was sent. That is the
  stated slack of every time-limited MIP: ``time limit + 2 x max(1 s, 5% of it)``.
  The solutions found are lost with the child (HiGHS hands them out only through a
  callback that changes its search; see ``solve_highs``): callers that start a MIP
  from an incumbent keep their own.

The limit is an absolute point on the machine's monotonic clock, so the time the
child takes to start (about half a second, once per process) counts against it.
Ctrl-C in the parent kills the child at once (the child itself ignores SIGINT, which
a terminal sends to both); a child whose parent is gone, or that is still solving a
few seconds after its parent would have killed it, exits by itself. A child that
crashes (out of memory, say) raises :class:`~siting.errors.SolverError`. LPs stay in
the calling process: simplex and interior point poll the interrupt throughout.

Set ``SITING_HIGHS_IN_PROCESS=1`` to solve in the calling process instead (the
watchdog then cancels what it can, and a run it cannot cancel is logged). The same
happens, with one WARNING, when no child can be started (``sys.executable`` is not a
Python that can import this package, as in some embedded applications).
"""

from __future__ import annotations

import atexit
import contextlib
import json
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
from typing import IO, Any

import numpy as np

from siting.errors import SolverError
from siting.models.base import SolverOptions, Status
from siting.models.builder import LinearModel
from siting.models.highs import highs_version, running_threads, solve_highs
from siting.models.raw import RawSolution, finish, guard_slack_s

logger = logging.getLogger(__name__)

__all__ = ["hard_limit_s", "isolation_enabled", "solve_isolated"]

#: seconds a new child may take to load HiGHS and say it is ready; past it, or if it
#: exits first, MIPs are solved in the calling process for the rest of the session
START_TIMEOUT_S = 30.0
#: seconds past the parent's kill time after which a child still solving exits by itself
#: (its parent is gone or stuck); and how often a child checks that its parent lives
CHILD_MARGIN_S = 5.0
PARENT_POLL_S = 1.0

_MAGIC = b"SHP1"
_HEADER = struct.Struct("<4sQ")
_PATH_ENV = "SITING_HIGHS_CHILD_PATH"
#: the child: fd 1 is kept for messages and HiGHS's own output sent to stderr before
#: anything is imported; SIGINT ignored (the parent decides); the parent's sys.path
_BOOT = (
    "import json, os, signal, sys\n"
    "out = os.dup(1)\n"
    "os.dup2(2, 1)\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    f"sys.path[:] = json.loads(os.environ['{_PATH_ENV}'])\n"
    "from siting.models.highs_process import _serve\n"
    "_serve(out)\n"
)


def hard_limit_s(time_limit_s: float) -> float:
    """Seconds after which a child still solving is killed: the limit plus twice
    :func:`~siting.models.raw.guard_slack_s` (the child's own watchdog interrupts
    at one slack; the second is for it to hand its solution back)."""
    return time_limit_s + 2 * guard_slack_s(time_limit_s)


def isolation_enabled() -> bool:
    """Whether time-limited MIPs run in a child process (``SITING_HIGHS_IN_PROCESS``
    unset or ``0``)."""
    return os.environ.get("SITING_HIGHS_IN_PROCESS", "0").strip() in ("", "0")


def _send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(_MAGIC, len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the other end closed the pipe")
    magic, size = _HEADER.unpack(head)
    if magic != _MAGIC:
        raise EOFError("not a message of this protocol (something else wrote to the pipe)")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other end closed the pipe")
    return pickle.loads(data)


class _Worker:
    """One child process and a thread that reads its messages into a queue."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env[_PATH_ENV] = json.dumps(sys.path)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env)
        self.messages: queue.Queue[tuple[Any, ...]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True,
                         name=f"highs-child-{self.proc.pid}").start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                message = _recv(self.proc.stdout)
            except Exception as exc:
                self.messages.put(("exit", str(exc)))
                return
            self.messages.put(message)

    def wait_ready(self, timeout_s: float) -> str | None:
        """``None`` once the child says it is ready, else why it is not."""
        end = time.monotonic() + timeout_s
        while True:
            try:
                message = self.messages.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return f"it did not start within {timeout_s:.0f} s"
            if message[0] == "ready":
                return None
            if message[0] == "exit":
                return f"it exited at start (exit code {self.kill()})"

    def send(self, message: object) -> None:
        assert self.proc.stdin is not None
        _send(self.proc.stdin, message)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        """Kill the child (if alive), close its pipes; its exit code."""
        if self.alive():
            self.proc.kill()
        code = self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return code

    def close(self) -> None:
        try:
            self.send(None)
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        self.kill()


_IDLE: list[_Worker] = []
_LOCK = threading.Lock()
#: why no child can be started in this session (then MIPs run in process)
_UNAVAILABLE: list[str] = []


def _ready_worker() -> _Worker | None:
    """An idle child, or a new one once it is ready; ``None`` if none can start."""
    with _LOCK:
        if _UNAVAILABLE:
            return None
        while _IDLE:
            worker = _IDLE.pop()
            if worker.alive():
                return worker
            worker.kill()
    try:
        worker = _Worker()
        why = worker.wait_ready(START_TIMEOUT_S)
    except OSError as exc:
        why = f"it could not be started ({exc})"
    else:
        if why is None:
            return worker
        worker.kill()
    with _LOCK:
        if not _UNAVAILABLE:
            _UNAVAILABLE.append(why)
            logger.warning(
                "HiGHS MIPs run in this process for the rest of the session: a child "
                "process (%s -c ...) could not serve them: %s. A step HiGHS does not "
                "interrupt can then overrun its time limit", sys.executable, why)
    return None


def _release(worker: _Worker) -> None:
    with _LOCK:
        _IDLE.append(worker)


@atexit.register
def _close_all() -> None:
    with _LOCK:
        workers, _IDLE[:] = list(_IDLE), []
    for worker in workers:
        worker.close()


def solve_isolated(model: LinearModel, options: SolverOptions, *, time_limit_s: float,
                   start: np.ndarray | None = None, cutoff: float | None = None,
                   _stall_s: float = 0.0) -> RawSolution:
    """Solve MIP ``model`` with HiGHS in a child process, killed at
    :func:`hard_limit_s` if it has not returned (see the module docstring); in the
    calling process if no child can be started.

    ``_stall_s`` (tests only) makes the child wait that long after solving before it
    answers, as a HiGHS step that polls no interrupt would.
    """
    t_call = time.perf_counter()
    deadline = time.monotonic() + time_limit_s
    if options.threads is None and running_threads() is not None:
        # as in this thread: a solve that leaves the count to HiGHS uses the scheduler
        # running here (a sweep worker pins it to one thread)
        options = replace(options, threads=running_threads())
    kwargs = {"start": start, "cutoff": cutoff}
    worker = _ready_worker()
    if worker is None:
        return solve_highs(model, options, time_limit_s=time_limit_s, **kwargs)
    try:
        worker.send(("solve", model, options, deadline, kwargs, _stall_s))
    except OSError as exc:  # it died since it said it was ready: solve here this once
        code = worker.kill()
        logger.warning("the HiGHS process for %r could not take the model (%s, exit code %s); "
                       "solving in this process", model.name, exc, code)
        return solve_highs(model, options, time_limit_s=max(1e-3, deadline - time.monotonic()),
                           **kwargs)
    hard = deadline - time_limit_s + hard_limit_s(time_limit_s)
    bound = math.nan
    done = False
    try:
        while True:
            wait = hard - time.monotonic()
            try:  # past the kill time, what is already there is still read
                message = worker.messages.get(timeout=wait) if wait > 0 else \
                    worker.messages.get_nowait()
            except queue.Empty:
                break
            kind = message[0]
            if kind == "bound":
                bound = message[1]
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
                code = worker.kill()
                raise SolverError(
                    f"the HiGHS process solving model {model.name!r} ({model.stats()}) "
                    f"ended unexpectedly after {time.perf_counter() - t_call:.1f} s (exit "
                    f"code {code}: {message[1]}); if the machine ran out of memory, plan a "
                    f"smaller region or give it more memory")
    finally:
        if not done:  # past the hard limit, or the caller was interrupted (Ctrl-C)
            worker.kill()
    seconds = time.perf_counter() - t_call
    logger.warning("HiGHS ran past %.1f s on a %.1f s time limit on model %r in a step it "
                   "does not interrupt; its process was killed (its solutions with it, its "
                   "last bound kept)", seconds, time_limit_s, model.name)
    return _killed(model, bound, seconds)


def _killed(model: LinearModel, bound: float, seconds: float) -> RawSolution:
    """What a child killed at the time limit leaves: no solution, its last bound."""
    return finish(model, Status.TIME_LIMIT_NO_SOLUTION, None,
                  bound if math.isfinite(bound) else math.nan, seconds, "highs",
                  highs_version(), info={"model_status": "killed at the time limit",
                                         "nodes": 0, "simplex_iterations": 0})


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(4)  # the parent is gone: nobody wants this solve


def _match_threads(threads: int | None) -> None:
    """A request that leaves the count to HiGHS gets HiGHS's own scheduler, not the one
    a pinned request before it left running (as in the requesting thread)."""
    if threads is None and running_threads() is not None:
        import highspy

        from siting.models.highs import _SCHEDULER

        highspy.Highs.resetGlobalScheduler(True)
        _SCHEDULER[threading.get_ident()] = "auto"


def _serve(out_fd: int) -> None:
    """The child: answer ``("solve", ...)`` requests on stdin until ``None`` or EOF,
    writing messages to ``out_fd`` (see ``_BOOT``)."""
    import warnings

    logging.disable(logging.CRITICAL)  # the parent reports what goes wrong (and
    warnings.simplefilter("ignore")    # prints nothing under --quiet)
    out = os.fdopen(out_fd, "wb")
    inp = sys.stdin.buffer
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
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
        def report(bound: float) -> None:
            _send(out, ("bound", bound))

        limit = max(1e-3, deadline - time.monotonic())
        # the parent kills at hard_limit_s; if it has not, it is gone or stuck
        guard = threading.Timer(hard_limit_s(limit) + CHILD_MARGIN_S, os._exit, args=(5,))
        guard.daemon = True
        guard.start()
        try:
            _match_threads(options.threads)
            raw = solve_highs(model, options, time_limit_s=limit, on_bound=report, **kwargs)
        except Exception as exc:
            _send(out, ("error", type(exc).__name__, str(exc), traceback.format_exc()))
            continue
        finally:
            guard.cancel()
        if stall_s > 0:
            _send(out, ("bound", raw.bound))
            time.sleep(stall_s)
        _send(out, ("done", raw))
        del request, model, raw, kwargs  # an idle child holds no model
