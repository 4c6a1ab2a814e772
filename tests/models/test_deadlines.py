"""Every time-limited solve ends within its stated slack: HiGHS MIPs run in a child
process that is killed at the deadline, CBC is stopped and then killed."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

from siting.errors import SolverError
from siting.models import SolverOptions, Status
from siting.models import highs_process as hp
from siting.models.highs import guard_slack_s
from siting.models.raw import is_feasible
from siting.models.solvers import run_solver

from .test_builder_solvers import brute_knapsack, knapsack


@pytest.mark.parametrize("sense", ["max", "min"])
def test_the_child_solves_as_the_calling_process_does(sense: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    model, value, weight = knapsack(50, 5, sense=sense)
    best = brute_knapsack(value, weight, weight.sum() / 3) if sense == "max" else 0.0
    opts = SolverOptions(name="highs", time_limit_s=30)
    start = np.zeros(model.n_cols)  # taking nothing is feasible
    cutoff = best - 5 if sense == "max" else 1.0
    out = {}
    for isolated in (True, False):
        monkeypatch.setenv("SITING_HIGHS_IN_PROCESS", "0" if isolated else "1")
        assert hp.isolation_enabled() is isolated
        raw = run_solver(model, opts, start=start, cutoff=cutoff)
        assert raw.status is Status.OPTIMAL
        assert raw.objective == pytest.approx(best)
        assert model.objective_of(raw.x) == pytest.approx(best)
        out[isolated] = (raw.objective, raw.bound, raw.info.get("model_status"))
    assert out[True] == out[False]


def test_a_child_past_its_limit_is_killed_and_its_last_bound_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    model, value, weight = knapsack(40, 3)
    best = brute_knapsack(value, weight, weight.sum() / 3)
    opts = SolverOptions(name="highs")
    run_solver(model, opts, time_limit_s=30)  # a child ready to answer
    pid = hp._IDLE[-1].proc.pid
    t0 = time.perf_counter()
    # the child solves, sends its bound, then answers nothing for 10 minutes: as HiGHS
    # does in a step that polls no interrupt
    raw = hp.solve_isolated(model, opts, time_limit_s=0.5, _stall_s=600.0)
    seconds = time.perf_counter() - t0
    # killed at the limit plus twice the slack (here with a margin for a loaded machine),
    # not waited for
    assert seconds < hp.hard_limit_s(0.5) + 10
    assert raw.status is Status.TIME_LIMIT_NO_SOLUTION  # never "optimal" from a killed run
    assert raw.x is None and raw.info["model_status"] == "killed at the time limit"
    assert raw.bound == pytest.approx(best)  # the last bound it sent
    assert "its process was killed" in caplog.text
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # the next solve starts a new child
    again = run_solver(model, opts, time_limit_s=30)
    assert again.status is Status.OPTIMAL and again.objective == pytest.approx(best)
    assert hp._IDLE[-1].proc.pid != pid


def test_the_bound_is_reported_while_highs_runs() -> None:
    from siting.models.highs import solve_highs

    model = _market_split_model()
    seen: list[float] = []
    raw = solve_highs(model, SolverOptions(name="highs"), time_limit_s=2.0,
                      on_bound=seen.append)
    assert raw.status in (Status.TIME_LIMIT_FEASIBLE, Status.TIME_LIMIT_NO_SOLUTION)
    assert seen and all(math.isfinite(b) for b in seen)
    assert seen == sorted(seen)  # a minimisation's bound only rises
    assert seen[-1] <= raw.bound + 1e-6


def test_the_kill_comes_at_the_limit_plus_twice_the_stated_slack() -> None:
    assert hp.hard_limit_s(10.0) == 10.0 + 2 * guard_slack_s(10.0) == 12.0
    assert hp.hard_limit_s(600.0) == 660.0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_child_that_dies_raises_a_clear_error() -> None:
    model = knapsack(40, 3)[0]
    opts = SolverOptions(name="highs")
    run_solver(model, opts, time_limit_s=30)
    worker = hp._IDLE[-1]
    get = worker.messages.get

    def get_then_crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        message = get(*args, **kwargs)
        if message[0] == "bound":  # the child dies (out of memory, say) mid-solve
            os.kill(worker.proc.pid, signal.SIGKILL)
        return message

    worker.messages.get = get_then_crash  # type: ignore[method-assign]
    with pytest.raises(SolverError, match=r"'knapsack'.*ended unexpectedly.*exit code -9"
                                          r".*out of memory"):
        hp.solve_isolated(model, opts, time_limit_s=60.0, _stall_s=600.0)

    # a child found dead when idle is never handed out: a new one is started
    run_solver(model, opts, time_limit_s=30)
    worker = hp._IDLE[-1]
    worker.kill()
    again = run_solver(model, opts, time_limit_s=30)
    assert again.status is Status.OPTIMAL
    assert hp._IDLE[-1] is not worker


def test_with_no_usable_child_mips_are_solved_here_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # an embedded application's sys.executable is not a Python that imports this package
    monkeypatch.setattr(hp, "_IDLE", [])
    monkeypatch.setattr(hp, "_UNAVAILABLE", [])
    monkeypatch.setattr(hp.sys, "executable", sys.executable + "-not-there")
    model, value, weight = knapsack(40, 3)
    best = brute_knapsack(value, weight, weight.sum() / 3)
    for _ in range(2):
        raw = run_solver(model, SolverOptions(name="highs"), time_limit_s=30)
        assert raw.status is Status.OPTIMAL and raw.objective == pytest.approx(best)
    assert caplog.text.count("HiGHS MIPs run in this process") == 1
    assert "could not be started" in caplog.text
    monkeypatch.setattr(hp.sys, "executable", "/bin/false" if os.path.exists("/bin/false")
                        else sys.executable)
    monkeypatch.setattr(hp, "_UNAVAILABLE", [])
    if os.path.exists("/bin/false"):  # one that exits at once
        assert run_solver(model, SolverOptions(name="highs"), time_limit_s=30).status \
            is Status.OPTIMAL
        assert "exited at start" in caplog.text


def test_a_stopped_solvers_solution_must_meet_the_models_rows_bounds_and_integrality() -> None:
    model = knapsack(10, 1)[0]
    assert is_feasible(model, np.zeros(10))
    assert not is_feasible(model, np.ones(10))  # over the weight row
    x = np.zeros(10)
    x[0] = 0.5
    assert not is_feasible(model, x)  # not whole
    x[0] = -1.0
    assert not is_feasible(model, x)  # below its bound
    assert not is_feasible(model, np.zeros(9))


def _market_split_model(m: int = 6, n: int = 60, seed: int = 0):  # type: ignore[no-untyped-def]
    """Market split (see test_builder_solvers): far more than seconds of branching."""
    from siting.models import ModelBuilder

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 100, (m, n))
    b = ModelBuilder("market split")
    x = b.add_vars("x", n, ub=1.0, integer=True, cost=rng.integers(0, 10, n).astype(float))
    rhs = (a.sum(axis=1) // 2).astype(float)
    b.add_rows("r", rows=np.repeat(np.arange(m), n), cols=np.tile(x.index(), m),
               vals=a.ravel().astype(float), lower=rhs - 3, upper=rhs + 3, n_rows=m)
    return b.build()


@pytest.mark.skipif(sys.platform == "win32", reason="CBC is stopped by SIGINT on POSIX")
def test_cbc_past_its_limit_is_stopped_and_keeps_its_best_solution(
        tmp_path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from siting.models.cbc import _run_guarded, cbc_path, write_mps

    model = _market_split_model()
    write_mps(model, Path(tmp_path) / "m.mps")
    sol = Path(tmp_path) / "m.sol"
    # no -sec: CBC would branch for hours; the guard stops it at 1 s plus its slack
    t0 = time.perf_counter()
    proc, killed = _run_guarded([cbc_path(), str(tmp_path / "m.mps"), "-solve", "-solution",
                                 str(sol)], 1.0, model.name)
    assert time.perf_counter() - t0 < 60  # (hours without the guard)
    assert not killed and "ctrl-c" in proc.stdout.lower()
    assert sol.read_text().lower().startswith("stopped")
    assert "was stopped (as on Ctrl-C)" in caplog.text

    # a process that ignores SIGINT is killed one slack later
    t0 = time.perf_counter()
    proc, killed = _run_guarded(["sh", "-c", "trap '' INT; exec sleep 600"], 0.1, "m")
    assert killed and proc.returncode != 0
    assert time.perf_counter() - t0 < 60


def test_cbc_at_its_limit_is_not_optimal_and_keeps_its_solution() -> None:
    model = _market_split_model()
    raw = run_solver(model, SolverOptions(name="cbc"), time_limit_s=1.0)
    assert raw.status in (Status.TIME_LIMIT_FEASIBLE, Status.TIME_LIMIT_NO_SOLUTION)
    if raw.x is not None:
        assert is_feasible(model, raw.x)


def test_a_sweep_workers_pinned_thread_count_reaches_the_child(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a sweep worker pins HiGHS to one thread; a solve there that leaves the count to
    # HiGHS must not take every core in the child process either
    from siting.models.highs import running_threads
    from siting.sweep.tasks import pin_highs_threads

    asked: list[object] = []
    send = hp._Worker.send

    def spy(self, message):  # type: ignore[no-untyped-def]
        if message is not None:
            asked.append(message[2].threads)
        send(self, message)

    monkeypatch.setattr(hp._Worker, "send", spy)
    seen: list[object] = []

    def worker() -> None:
        model = knapsack(30, 2)[0]
        opts = SolverOptions(name="highs", threads=None)
        seen.append(run_solver(model, opts, time_limit_s=30).status)
        seen.append(running_threads())
        pin_highs_threads(1)
        seen.append(running_threads())
        seen.append(run_solver(model, opts, time_limit_s=30).status)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [Status.OPTIMAL, None, 1, Status.OPTIMAL]
    assert asked == [None, 1]


def _fake_stopped_cbc(path, take: int, objective: float) -> None:  # type: ignore[no-untyped-def]
    """A shell script standing in for CBC stopped by SIGINT: "Stopped on iterations" and
    a point taking ``take`` of each of 3 columns."""
    sol = "\\n".join([f"Stopped on iterations - objective value {objective}"] +
                      [f"      {j} C{j}  {take}  0" for j in range(3)])
    path.write_text("#!/bin/sh\n"
                    'while [ "$1" != "-solution" ]; do shift; done\n'
                    f'printf "{sol}\\n" > "$2"\n'
                    'echo "Result - User ctrl-c"\n'
                    'echo "Objective value:                0.00000000"\n')
    path.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for CBC")
@pytest.mark.parametrize("mip", [True, False])
def test_a_stopped_cbc_lp_gives_no_point_and_a_stopped_mip_a_checked_one(
        mip: bool, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # what CBC writes when SIGINT stops it: "Stopped on iterations" and its current point;
    # in an LP's simplex that point is neither feasible nor a bound
    from siting.models import cbc

    cbc.cbc_version()  # the real binary's, cached
    model = knapsack(3, 1)[0]
    fake = tmp_path / "cbc"
    _fake_stopped_cbc(fake, 1, -999.0)
    monkeypatch.setattr(cbc, "cbc_path", lambda: str(fake))
    raw = cbc.solve_cbc(model, SolverOptions(name="cbc"), time_limit_s=5.0, relax=not mip)
    assert raw.status is Status.TIME_LIMIT_NO_SOLUTION and raw.x is None
    assert math.isnan(raw.bound)
    # with a point that meets the rows (taking nothing), a stopped MIP keeps it
    _fake_stopped_cbc(fake, 0, 0.0)
    raw = cbc.solve_cbc(model, SolverOptions(name="cbc"), time_limit_s=5.0, relax=not mip)
    if mip:
        assert raw.status is Status.TIME_LIMIT_FEASIBLE and raw.objective == 0.0
    else:
        assert raw.status is Status.TIME_LIMIT_NO_SOLUTION


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.split()[1:2] == ["Z"] for line in f if line.startswith("State:"))
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_child_whose_parent_dies_mid_solve_exits_by_itself(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the parent is killed (out of memory, a Dask nanny restart) while its child is in a
    # step that reads no request: the child must not go on using the cores
    import subprocess

    script = tmp_path / "parent.py"
    script.write_text(
        "import os, sys, threading, time\n"
        "sys.path[:0] = [p for p in sys.argv[1:]]\n"
        "from siting.models import SolverOptions, highs_process as hp\n"
        "from siting.models.solvers import run_solver\n"
        "from tests.models.test_builder_solvers import knapsack\n"
        "model = knapsack(30, 2)[0]\n"
        "run_solver(model, SolverOptions(name='highs'), time_limit_s=30)\n"
        "print(hp._IDLE[-1].proc.pid, flush=True)\n"
        "threading.Thread(target=hp.solve_isolated, args=(model, SolverOptions()),\n"
        "                 kwargs={'time_limit_s': 300.0, '_stall_s': 600.0}, daemon=True).start()\n"
        "time.sleep(2)\n"
        "os._exit(9)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # (not waiting for the pipes to close: the child holds them until it exits)
    parent = subprocess.Popen([sys.executable, str(script), root, *sys.path],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              cwd=root)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline().split()[0])
    assert parent.wait(timeout=120) == 9
    for _ in range(300):  # it checks every second that its parent lives
        if _gone(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the child {pid} outlived its parent by 30 s")
