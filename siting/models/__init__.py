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
functions; every problem's ``solve`` takes an :data:`ExtraConstraints` hook
(``extra_constraints(builder, vars)``) for rows of a planner's own.
:func:`annuity_factor` annualises capex for every planner.

The logistics planner solves on :class:`CFLP`; the charger and heat planners build
their own models (Erlang-C pile tables, fixed-charge pipe network design) with the
same builder, solvers and :class:`Result`. The other models are a public library for
planners' own studies: each docstring states the formulation and a runnable example,
and ``bench/orlib.py`` checks them against every OR-Library optimum.
"""

from __future__ import annotations

from siting.models.base import Assignment, Result, SolverOptions, Status
from siting.models.builder import ExtraConstraints, LinearModel, ModelBuilder, VarBlock
from siting.models.cflp import CFLP
from siting.models.costs import SparseCosts
from siting.models.coverage import LSCP, MCLP
from siting.models.finance import annuity_factor
from siting.models.modular import GroupLimit, ModularCFLP
from siting.models.pmedian import PMedian

__all__ = [
    "CFLP",
    "LSCP",
    "MCLP",
    "Assignment",
    "ExtraConstraints",
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
    "annuity_factor",
]
