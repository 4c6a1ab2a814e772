"""Shared types of the location-model core: solver options, status and results.

Every model in :mod:`siting.models` returns a :class:`Result`. A result is frozen and
holds plain numpy arrays (made read-only), so it can be passed around, cached and
compared without defensive copies. ``solve()`` never mutates the problem it was
called on.

The status is read from the solver's own model status, primal bound and dual bound,
never from pulp's ``status`` (which says "Optimal" after a time limit).
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from siting.errors import ConfigError, InfeasibleError, SolverError

logger = logging.getLogger(__name__)

__all__ = ["Assignment", "Result", "SolverOptions", "Status", "frozen_array", "relative_gap"]

SolverName = Literal["highs", "cbc"]


class Status(enum.Enum):
    """What the solver proved.

    ``OPTIMAL``: proven optimal within the requested MIP gap (``Result.mip_gap`` says
    how close). ``TIME_LIMIT_FEASIBLE``: stopped at the time limit with a feasible
    solution; the gap says how far from proven it may be. ``TIME_LIMIT_NO_SOLUTION``:
    stopped at the time limit without any feasible solution (the CLI exits 3).
    ``INFEASIBLE``: the solver proved there is no solution.
    """

    OPTIMAL = "optimal"
    TIME_LIMIT_FEASIBLE = "time_limit_feasible"
    TIME_LIMIT_NO_SOLUTION = "time_limit_no_solution"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        """True when the result carries a feasible solution."""
        return self in (Status.OPTIMAL, Status.TIME_LIMIT_FEASIBLE)


@dataclass(frozen=True)
class SolverOptions:
    """How to solve: which solver, how long, how exactly.

    Attributes:
        name: ``"highs"`` (highspy, models passed straight from arrays) or ``"cbc"``
            (the CBC binary bundled with pulp, fed a free-format MPS file).
        time_limit_s: wall-clock limit for the whole solve (all rounds of a
            reduction together); ``None`` for no limit.
        mip_gap: relative MIP gap at which the solver may stop and call the result
            optimal. ``0.0`` asks for a proof of optimality. HiGHS's own default,
            1e-4, allows about one unit of error on OR-Library p-median objectives.
        mip_abs_gap: absolute MIP gap. Models whose objective is integral at every
            integer solution (integer costs and weights) raise it to just under 1
            on their own, which stays exact.
        threads: solver threads; ``None`` lets the solver decide.
        seed: solver random seed, for reproducible runs.
        verbose: echo the solver log.
    """

    name: SolverName = "highs"
    time_limit_s: float | None = None
    mip_gap: float = 1e-4
    mip_abs_gap: float = 1e-6
    threads: int | None = None
    seed: int = 0
    verbose: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.name not in ("highs", "cbc"):
            problems.append(f"name={self.name!r} is not a supported solver; use 'highs' or 'cbc'")
        if self.time_limit_s is not None and not (self.time_limit_s > 0):
            problems.append(f"time_limit_s={self.time_limit_s!r} must be > 0 or None")
        if not (0.0 <= self.mip_gap < 1.0):
            problems.append(f"mip_gap={self.mip_gap!r} must be in [0, 1)")
        if not (self.mip_abs_gap >= 0.0):
            problems.append(f"mip_abs_gap={self.mip_abs_gap!r} must be >= 0")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads={self.threads!r} must be >= 1 or None")
        if problems:
            raise ConfigError.collect(problems, context="SolverOptions")

    @classmethod
    def coerce(cls, solver: SolverOptions | str | None) -> SolverOptions:
        """Accept an options object, a solver name, or ``None`` (the default)."""
        if solver is None:
            return cls()
        if isinstance(solver, SolverOptions):
            return solver
        if isinstance(solver, str):
            return cls(name=solver.lower())  # type: ignore[arg-type]
        raise ConfigError(
            f"solver={solver!r}: expected a SolverOptions, 'highs' or 'cbc'"
        )


def frozen_array(a: Any, dtype: Any) -> np.ndarray:
    """A read-only copy of ``a`` as ``dtype`` (frozen results and problems hold these)."""
    arr = np.array(a, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Assignment:
    """Who is served by whom, as sparse triples.

    ``client[k]`` is served by ``site[k]``; ``amount[k]`` is the share of the client's
    demand (``1.0`` when the client goes wholly to one site). Rows are sorted by
    client, then site.
    """

    client: np.ndarray
    site: np.ndarray
    amount: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "client", frozen_array(self.client, np.int64))
        object.__setattr__(self, "site", frozen_array(self.site, np.int64))
        object.__setattr__(self, "amount", frozen_array(self.amount, np.float64))

    def __len__(self) -> int:
        return int(self.client.size)

    @classmethod
    def empty(cls) -> Assignment:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))


@dataclass(frozen=True)
class Result:
    """The outcome of one ``solve()``.

    Attributes:
        status: what the solver proved (see :class:`Status`).
        objective: objective value of the returned solution (``nan`` if none).
        bound: best proven bound on the optimum (a lower bound when minimising, an
            upper bound when maximising); ``nan`` if unknown.
        mip_gap: ``|objective - bound| / max(|objective|, 1e-9)``; ``0.0`` means
            proven optimal, ``nan`` without a solution.
        selected: indices of the sites used (open), sorted.
        assignment: client-to-site assignment (see :class:`Assignment`).
        units: per-site number of units for modular models, else ``None``.
        unmet: per-client share of demand left unmet, where the model allows it.
        values: the raw value of every named variable block, including blocks added
            through an ``extra_constraints`` hook.
        solve_seconds: time spent in the solver (all rounds).
        build_seconds: time spent building the model(s).
        solver: solver name (``"highs"`` or ``"cbc"``).
        solver_version: the solver's version string.
        model: model statistics and reduction report (rows, columns, nonzeros,
            rounds, ...).
    """

    status: Status
    objective: float
    bound: float
    mip_gap: float
    selected: np.ndarray
    assignment: Assignment
    solve_seconds: float
    build_seconds: float
    solver: str
    solver_version: str
    units: np.ndarray | None = None
    unmet: np.ndarray | None = None
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "selected", frozen_array(self.selected, np.int64))
        if self.units is not None:
            object.__setattr__(self, "units", frozen_array(self.units, np.int64))
        if self.unmet is not None:
            object.__setattr__(self, "unmet", frozen_array(self.unmet, np.float64))
        object.__setattr__(
            self, "values", {k: frozen_array(v, np.float64) for k, v in self.values.items()}
        )
        object.__setattr__(self, "model", dict(self.model))

    @property
    def proven(self) -> bool:
        """True when optimality was proven within the requested gap."""
        return self.status is Status.OPTIMAL

    def raise_for_status(self, *, model: str = "model") -> Result:
        """Return ``self`` if it carries a solution, else raise the matching error."""
        if self.status.has_solution:
            return self
        if self.status is Status.INFEASIBLE:
            raise InfeasibleError(
                f"{model}: the solver ({self.solver} {self.solver_version}) proved the model "
                f"infeasible although the pre-checks passed; relax targets, add candidate "
                f"sites or allow unmet demand",
                constraint=model,
            )
        if self.status is Status.TIME_LIMIT_NO_SOLUTION:
            raise SolverError(
                f"{model}: no feasible solution within the time limit "
                f"({self.solve_seconds:.1f} s with {self.solver}); raise the time limit"
            )
        raise SolverError(f"{model}: the solver ({self.solver}) ended with status "
                          f"{self.status.value}")

    def summary(self) -> dict[str, Any]:
        """JSON-able key figures (status, objective, bound, gap, timings, solver)."""
        def num(x: float) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "status": self.status.value,
            "objective": num(self.objective),
            "bound": num(self.bound),
            "mip_gap": num(self.mip_gap),
            "selected": int(self.selected.size),
            "solve_seconds": round(self.solve_seconds, 4),
            "build_seconds": round(self.build_seconds, 4),
            "solver": self.solver,
            "solver_version": self.solver_version,
        }


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / max(|objective|, 1e-9)``; ``nan`` if either is unknown."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.nan
    return abs(objective - bound) / max(abs(objective), 1e-9)
