"""Small helpers shared by the model families (validation, site sets, rows)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from siting.errors import InfeasibleError
from siting.models.base import Assignment, Result
from siting.models.builder import ModelBuilder, VarBlock
from siting.models.costs import as_index_array

if TYPE_CHECKING:
    from siting.models.solvers import RawSolution

__all__ = [
    "add_count_row",
    "check_count",
    "check_p",
    "fmt",
    "is_integral",
    "no_solution_result",
    "nonneg_array",
    "site_sets",
]

def is_integral(a: np.ndarray) -> bool:
    """All values finite and whole."""
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)))


def fmt(x: float) -> str:
    """A number for messages: thousands separators, no needless decimals."""
    if not math.isfinite(x):
        return str(x)
    if abs(x - round(x)) < 1e-9 * max(1.0, abs(x)):
        return f"{round(x):,}"
    return f"{x:,.6g}" if abs(x) < 1e6 else f"{x:,.2f}"


def nonneg_array(value: ArrayLike | None, n: int, *, what: str, default: float,
                 problems: list[str], positive: bool = False) -> np.ndarray:
    """A length-``n`` float array from a scalar or array; problems are collected."""
    arr = np.full(n, float(default)) if value is None else np.asarray(value, np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    arr = arr.ravel()
    if arr.shape != (n,):
        problems.append(f"{what} has {arr.size} values, expected {n}")
        return np.zeros(n)
    bad = ~np.isfinite(arr) | (arr <= 0 if positive else arr < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        rule = "> 0" if positive else ">= 0"
        problems.append(f"{what} must be finite and {rule}: {int(bad.sum())} values are not "
                        f"(first: index {k}, value {arr[k]})")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def site_sets(fixed: ArrayLike | None, forbidden: ArrayLike | None, n: int, name: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """Validated fixed and forbidden site indices (disjoint)."""
    fx = as_index_array(fixed, n=n, name=f"{name}: fixed")
    fb = as_index_array(forbidden, n=n, name=f"{name}: forbidden")
    both = np.intersect1d(fx, fb)
    if both.size:
        raise InfeasibleError(f"{name}: sites {both[:10].tolist()} are both fixed and "
                              f"forbidden; remove them from one of the two lists",
                              constraint="fixed/forbidden")
    return fx, fb


def check_count(name: str, *, p: int | None, n_fixed: int, n_allowed: int) -> None:
    """``n_fixed <= p <= n_allowed``, with the shortfall named."""
    if p is None:
        return
    if n_fixed > p:
        raise InfeasibleError(f"{name}: {n_fixed} fixed sites but p={p}; raise p to at least "
                              f"{n_fixed} or unfix {n_fixed - p} sites", constraint="p",
                              shortfall=float(n_fixed - p))
    if n_allowed < p:
        raise InfeasibleError(f"{name}: p={p} but only {n_allowed} sites are not forbidden; "
                              f"lower p or allow {p - n_allowed} more sites", constraint="p",
                              shortfall=float(p - n_allowed))


def check_p(p: int | None, problems: list[str]) -> int | None:
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 1:
        problems.append(f"p={p!r} must be an integer >= 1 (or None)")
        return None
    return int(p)


def add_count_row(b: ModelBuilder, y: VarBlock, p: int) -> None:
    """``sum_i y_i = p``."""
    b.add_rows("p", rows=np.zeros(y.size), cols=y.index(), vals=np.ones(y.size),
               lower=float(p), upper=float(p), n_rows=1)


def no_solution_result(raw: RawSolution, build_s: float, info: Mapping[str, object]
                       ) -> Result:
    """The :class:`Result` of a solve that returned no solution (its status and bound)."""
    return Result(raw.status, math.nan, raw.bound, math.nan, np.empty(0, np.int64),
                  Assignment.empty(), raw.seconds, build_s, raw.solver, raw.version,
                  model=dict(info))
