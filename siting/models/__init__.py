"""The location-model core: sparse p-median, coverage and capacitated models.

Every model takes sparse costs (``(i, j, cost)`` arrays or a scipy sparse
``clients x sites`` matrix, absent pairs being impossible assignments), checks
feasibility before solving, and returns a frozen :class:`Result`. The solver is
passed in as a :class:`SolverOptions` (or just ``"highs"`` / ``"cbc"``).

- :class:`PMedian`: p-median, exact by a certified truncated radius formulation;
- :class:`LSCP`, :class:`MCLP`: set covering and maximal covering;
- :class:`CFLP`: capacitated facility location, split or single-source demand;
- :class:`ModularCFLP`: sites holding an integer number of units (charging piles),
  with per-site capacity tables, unit targets and group constraints.

Models are assembled by :class:`ModelBuilder` from small named constraint
functions; every problem's ``solve`` takes an ``extra_constraints(builder, vars)``
hook for rows of a planner's own.
"""

from __future__ import annotations

from siting.models.base import Assignment, Result, SolverOptions, Status
from siting.models.builder import LinearModel, ModelBuilder, VarBlock
from siting.models.cflp import CFLP
from siting.models.costs import SparseCosts
from siting.models.coverage import LSCP, MCLP
from siting.models.modular import GroupLimit, ModularCFLP
from siting.models.pmedian import PMedian

__all__ = [
    "CFLP",
    "LSCP",
    "MCLP",
    "Assignment",
    "GroupLimit",
    "LinearModel",
    "ModelBuilder",
    "ModularCFLP",
    "PMedian",
    "Result",
    "SolverOptions",
    "SparseCosts",
    "Status",
    "VarBlock",
]
