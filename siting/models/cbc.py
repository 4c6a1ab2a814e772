"""CBC backend: a vectorised free-MPS writer and pulp's bundled CBC binary.

pulp builds one Python object per variable and per coefficient before it writes
the same MPS file; here the file is written straight from the compressed-column
arrays. Status, primal bound and dual bound are read from CBC's own solution file
and log ("Stopped on time" is a time-limit stop, never "optimal").
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from siting.errors import SolverError
from siting.models.base import SolverOptions, Status
from siting.models.builder import LinearModel
from siting.models.raw import RawSolution, effective_abs_gap, finish, guard_slack_s, is_feasible

logger = logging.getLogger(__name__)

__all__ = ["cbc_path", "cbc_version", "solve_cbc", "write_mps"]

_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf", re.IGNORECASE)


@functools.cache
def cbc_path() -> str:
    """Path of the CBC binary: pulp's bundled one, else ``cbc`` on the PATH."""
    import shutil

    try:
        from pulp.apis import coin_api
    except ImportError as exc:  # pragma: no cover - pulp is a hard dependency
        raise SolverError("pulp is not installed; CBC comes with it: pip install pulp") from exc
    bundled = Path(coin_api.pulp_cbc_path)
    if bundled.exists():
        if not os.access(bundled, os.X_OK):  # wheels sometimes lose the bit; pulp sets it too
            bundled.chmod(bundled.stat().st_mode | stat.S_IXUSR)
        return str(bundled.resolve())
    found = shutil.which("cbc")
    if found is None:
        raise SolverError(f"no CBC binary: pulp's bundled one is missing ({bundled}) and "
                          f"'cbc' is not on the PATH; install coinor-cbc or use "
                          f"solver='highs'")
    return found


@functools.cache
def cbc_version() -> str:
    out = subprocess.run([cbc_path(), "-quit"], capture_output=True, text=True, timeout=60)
    m = re.search(r"Version:\s*(\S+)", out.stdout)
    return m.group(1) if m else "unknown"


_MAX_NAMES = 10_000_000  # fixed-format MPS names have at most 8 characters


def _lines(fmt: str, *columns: np.ndarray) -> list[str]:
    return [fmt % row for row in zip(*(c.tolist() for c in columns), strict=True)]


def write_mps(model: LinearModel, path: Path, *, relax: bool = False) -> None:
    """Write ``model`` as fixed-format MPS (always minimising; a max model is negated).

    Fixed format (8-character names ``C1234567``/``R1234567``, values as ``% .12e``,
    the layout pulp writes) because CBC's reader misparses free-format lines whose
    fields happen to fall across fixed column positions.
    """
    a = model.matrix
    n, m = model.n_cols, model.n_rows
    if n >= _MAX_NAMES or m >= _MAX_NAMES:
        raise SolverError(f"model {model.name!r} has {n} columns and {m} rows; the MPS "
                          f"route to CBC takes fewer than {_MAX_NAMES:,} of each: use "
                          f"solver='highs'")
    sign = -1.0 if model.sense == "max" else 1.0
    lo, hi = model.row_lower, model.row_upper
    keep = np.isfinite(lo) | np.isfinite(hi)  # free rows are left out
    rtype = np.where(lo == hi, "E", np.where(np.isfinite(hi), "L", "G"))
    rid = np.flatnonzero(keep)
    lines: list[str] = ["NAME          " + re.sub(r"\W+", "_", model.name or "model")[:8],
                        "ROWS", " N  OBJ"]
    lines += _lines(" %s  R%d", rtype[rid], rid)
    lines.append("COLUMNS")
    # one objective entry per column (even zero: every column must appear), then its rows
    col_of_nz = np.repeat(np.arange(n), np.diff(a.indptr))
    nz_keep = keep[a.indices] if m else np.zeros(0, bool)
    cols = np.concatenate([np.arange(n), col_of_nz[nz_keep]])
    rows = np.concatenate([np.full(n, -1), a.indices[nz_keep]])
    vals = np.concatenate([sign * model.cost, a.data[nz_keep]])
    order = np.lexsort((rows, cols))
    cols, rows, vals = cols[order], rows[order], vals[order]
    rname = np.where(rows < 0, "OBJ", np.char.add("R", rows.astype(str)))
    body = _lines("    C%-7d  %-8s  % .12e", cols, rname, vals)
    integer = model.integer & (not relax)
    starts = np.searchsorted(cols, np.arange(n + 1))
    change = np.flatnonzero(np.diff(np.r_[False, integer, False].astype(np.int8)))
    pos = 0
    for k, ci in enumerate(change):
        at = int(starts[ci])
        lines += body[pos:at]
        pos = at
        lines.append("    MARK      'MARKER'                 "
                     + ("'INTORG'" if k % 2 == 0 else "'INTEND'"))
    lines += body[pos:]
    lines.append("RHS")
    rhs = np.where(rtype == "G", lo, hi)
    nzr = np.flatnonzero(keep & (rhs != 0))
    lines += _lines("    RHS       R%-7d  % .12e", nzr, rhs[nzr])
    ranged = np.flatnonzero(keep & np.isfinite(lo) & np.isfinite(hi) & (lo != hi))
    if ranged.size:
        lines.append("RANGES")
        lines += _lines("    RNG       R%-7d  % .12e", ranged, hi[ranged] - lo[ranged])
    lines.append("BOUNDS")
    lb, ub = model.col_lower, model.col_upper
    fixed = lb == ub
    free = ~np.isfinite(lb) & ~np.isfinite(ub)
    minus = ~np.isfinite(lb) & np.isfinite(ub)
    lower = ~fixed & np.isfinite(lb) & ((lb != 0) | integer)
    upper = ~fixed & np.isfinite(ub)
    plus = ~fixed & integer & ~np.isfinite(ub) & np.isfinite(lb)
    for mask, tag, values in ((fixed, "FX", lb), (free, "FR", None), (minus, "MI", None),
                              (lower, "LO", lb), (upper, "UP", ub), (plus, "PL", None)):
        cols_b = np.flatnonzero(mask)
        if not cols_b.size:
            continue
        if values is None:
            lines += _lines(f" {tag} BND       C%-7d", cols_b)
        else:
            lines += _lines(f" {tag} BND       C%-7d  % .12e", cols_b, values[cols_b])
    lines.append("ENDATA")
    path.write_text("\n".join(lines) + "\n")


def _parse_log(text: str) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    m = re.search(r"Result - (.+)", text)
    if m:
        out["result"] = m.group(1).strip()
    if "Pre-processing says infeasible" in text:
        out["preprocess_infeasible"] = "yes"
    wall = re.search(r"\(Wallclock seconds\):\s*(" + _FLOAT.pattern + ")", text)
    if wall:
        out["wall"] = float(wall.group(1))
    for key, label in (("objective", "Objective value:"), ("bound", "Lower bound:"),
                       ("gap", "Gap:")):
        mm = re.search(re.escape(label) + r"\s*(" + _FLOAT.pattern + ")", text, re.IGNORECASE)
        if mm:
            out[key] = float(mm.group(1))
    return out


def _read_solution(path: Path, n: int, m: int
                   ) -> tuple[str, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Status line, column values, reduced costs and row duals (when printed)."""
    if not path.exists():
        return "", None, None, None
    text = path.read_text().splitlines()
    if not text:
        return "", None, None, None
    head = text[0].strip()
    x, dj, pi = np.zeros(n), np.zeros(n), np.zeros(m)
    for line in text[1:]:
        parts = line.replace("**", " ").split()
        if len(parts) < 4:
            continue
        name = parts[1]
        if name.startswith("C"):
            k = int(name[1:])
            x[k], dj[k] = float(parts[2]), float(parts[3])
        elif name.startswith("R"):
            pi[int(name[1:])] = float(parts[3])
    return head, x, dj, pi


def _run_guarded(args: list[str], time_limit_s: float | None, name: str
                 ) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run CBC, stopped at ``time_limit_s`` plus
    :func:`~siting.models.raw.guard_slack_s` at the latest: CBC checks ``-sec``
    between steps only, so past that it gets SIGINT (it stops as on Ctrl-C and writes
    its best solution), and one slack later it is killed. Returns the finished process
    and whether it had to be killed (then its output is not used)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    slack = None if time_limit_s is None else guard_slack_s(time_limit_s)
    stopped = killed = False
    try:
        try:
            out, err = proc.communicate(timeout=None if time_limit_s is None
                                        else time_limit_s + slack)
        except subprocess.TimeoutExpired:
            stopped = True
            if sys.platform != "win32":  # (on Windows CBC cannot be sent Ctrl-C: killed)
                proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=slack)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                killed = True
    except BaseException:  # Ctrl-C in the caller: stop CBC too
        proc.kill()
        proc.communicate()
        raise
    if stopped:
        logger.warning("CBC ran past its %.1f s time limit on model %r and was %s",
                       time_limit_s, name, "killed" if killed else
                       "stopped (as on Ctrl-C), keeping its best solution")
    return subprocess.CompletedProcess(args, proc.returncode, out, err), killed


def solve_cbc(model: LinearModel, options: SolverOptions, *, time_limit_s: float | None,
              relax: bool = False, want_duals: bool = False,
              cutoff: float | None = None) -> RawSolution:
    """Solve ``model`` with CBC; see :func:`siting.models.solvers.run_solver`."""
    binary = cbc_path()
    is_mip = model.is_mip and not relax
    with tempfile.TemporaryDirectory(prefix="siting-cbc-") as tmp:
        mps, sol = Path(tmp) / "model.mps", Path(tmp) / "model.sol"
        write_mps(model, mps, relax=relax)
        args = [binary, str(mps), "-timeMode", "elapsed",
                "-ratioGap", repr(float(options.mip_gap)),
                "-allowableGap", repr(float(effective_abs_gap(model, options))),
                "-randomCbcSeed", str(int(options.seed) + 1)]
        if time_limit_s is not None:
            args += ["-sec", repr(float(time_limit_s))]
        if options.threads is not None:
            args += ["-threads", str(int(options.threads))]
        if cutoff is not None and is_mip:
            args += ["-cutoff", repr(float(cutoff) * (-1.0 if model.sense == "max" else 1.0))]
        if want_duals and not is_mip:
            args += ["-printingOptions", "all"]
        args += ["-solve", "-solution", str(sol)]
        t0 = time.perf_counter()
        proc, killed = _run_guarded(args, time_limit_s, model.name)
        seconds = time.perf_counter() - t0
        if options.verbose:
            logger.info("CBC log:\n%s", proc.stdout)
        head, x, dj, pi = _read_solution(sol, model.n_cols, model.n_rows)
    log = _parse_log(proc.stdout)
    low = head.lower()
    result = str(log.get("result", "")).lower()
    if killed:  # nothing written that can be trusted
        status, x = Status.TIME_LIMIT_NO_SOLUTION, None
    elif is_mip and time_limit_s is not None and "preprocess_infeasible" in log and \
            float(log.get("wall", seconds)) >= 0.5 * time_limit_s:
        # CBC 2.10's preprocessing, cut off by the clock, reports "Integer infeasible"
        # for feasible models (seen with -sec 0.01); that claim is not a proof
        status, x = Status.TIME_LIMIT_NO_SOLUTION, None
    elif "infeasible" in low or "infeasible" in result:
        status, x = Status.INFEASIBLE, None
    elif "unbounded" in low:
        status, x = Status.UNBOUNDED, None
    elif low.startswith("optimal") and "optimal" in (result or "optimal"):
        status = Status.OPTIMAL
    elif "no integer solution" in low or ("stopped" in low and is_mip and "objective" not in log):
        status, x = Status.TIME_LIMIT_NO_SOLUTION, None
    elif low.startswith("stopped") and is_mip:
        # an incumbent, checked: a stopped CBC's file is not vouched for by a status
        if x is not None and not is_feasible(model, x):
            x = None
        status = Status.TIME_LIMIT_FEASIBLE if x is not None else Status.TIME_LIMIT_NO_SOLUTION
    elif low.startswith("stopped"):
        # an LP stopped in simplex (CBC's -sec does not stop LPs: the guard's SIGINT
        # does): its point is neither feasible nor a bound
        status, x = Status.TIME_LIMIT_NO_SOLUTION, None
    else:
        raise SolverError(f"CBC failed on model {model.name!r} (exit {proc.returncode}): "
                          f"{head or proc.stderr.strip() or proc.stdout[-500:]}")
    sign = -1.0 if model.sense == "max" else 1.0
    # CBC's bound is on sign * cost . x: the MPS file carries no objective constant
    if status is Status.OPTIMAL:
        bound = math.nan  # finish() sets it to the objective
        if is_mip and "bound" in log:
            bound = sign * float(log["bound"]) + model.offset
    elif "bound" in log:
        bound = sign * float(log["bound"]) + model.offset
    else:
        bound = math.nan
    duals: dict[str, np.ndarray | None] = {}
    if want_duals and not is_mip and status is Status.OPTIMAL and pi is not None \
            and dj is not None:
        duals = {"row_dual": sign * pi, "col_dual": sign * dj}
    return finish(model, status, x, bound, seconds, "cbc", cbc_version(),
                  info={"result": log.get("result", head)}, **duals)
