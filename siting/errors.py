"""Public exceptions.

Every error a user can cause is a :class:`SitingError`. The CLI maps these to exit
codes (2 for bad input or infeasible targets, 3 for a solver that found nothing in
its time limit) and prints only the message unless ``--debug`` is given.

Messages follow one rule: name the file, layer, column or value; say what is wrong;
say what to do.
"""

from __future__ import annotations

from collections.abc import Iterable


class SitingError(Exception):
    """Base class of every error raised on purpose by :mod:`siting`."""

    exit_code: int = 2


class InputError(SitingError, ValueError):
    """Bad input: a missing or corrupt file, an empty layer, a wrong value."""

    @classmethod
    def collect(cls, problems: Iterable[str], *, context: str) -> InputError:
        """One error that lists every problem found in ``context``."""
        items = list(problems)
        body = "\n".join(f"  - {p}" for p in items)
        noun = "problem" if len(items) == 1 else "problems"
        return cls(f"{context}: {len(items)} {noun}:\n{body}")


class ConfigError(InputError):
    """A scenario file with unknown keys, wrong types or out-of-range values."""


class CRSError(InputError):
    """A layer without a CRS, or geographic coordinates reaching metric code."""


class InfeasibleError(SitingError):
    """A target that cannot be met; the message names the constraint and the shortfall."""

    def __init__(self, message: str, *, constraint: str | None = None,
                 shortfall: float | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint
        self.shortfall = shortfall


class SolverError(SitingError):
    """The solver failed, or stopped at its time limit with no feasible solution."""

    exit_code = 3


class CheckError(SitingError):
    """A plan that the planner's independent checker rejects.

    The model and the checker disagree: a defect in siting, not in the input. Every
    planner raises this the same way (:func:`siting.planners.finish`), and the CLI
    exits with code 1 (a bug) after printing the violations.
    """

    exit_code = 1

    def __init__(self, planner: str, violations: Iterable[str]) -> None:
        self.planner = planner
        self.violations = tuple(violations)
        shown = "\n".join(f"  - {v}" for v in self.violations[:20])
        more = len(self.violations) - 20
        super().__init__(
            f"{planner}: the plan fails the independent checker ({len(self.violations)} "
            f"violation(s)); this is a bug in siting, not in your input: report it with "
            f"the output of --debug\n{shown}" + (f"\n  ... and {more} more" if more > 0 else ""))
