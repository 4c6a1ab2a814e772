"""What every planner (chargers, logistics, heat) hands back to the pipeline.

A planner is a plain function::

    plan_chargers(region, demand, scenario, *, decisions=ItemDecisions(), solver=None,
                  progress=False) -> PlannerOutput

It returns its contract layers (DESIGN.md) in the region's metric CRS, the KPI
section for ``kpis.json``, and the core's :class:`~siting.models.base.Result`. The
pipeline adds the layers to ``plan.gpkg``, the KPIs under the planner's name, and the
solver report to ``provenance.json``.

Reviewer decisions reach a planner as :class:`ItemDecisions`: ids of items of its
own layers that were rejected (forbidden) or approved (locked). Item ids are stable
across runs with the same inputs, so a decision made on one plan applies to the next.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from siting.models.base import Result, SolverOptions

__all__ = ["ItemDecisions", "PlannerOutput", "solver_kpis", "solver_options"]


@dataclass(frozen=True)
class ItemDecisions:
    """Reviewer decisions for one planner: item ids to forbid and to lock."""

    rejected: frozenset[str] = frozenset()
    approved: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        both = self.rejected & self.approved
        if both:
            from siting.errors import InputError

            raise InputError(f"items both approved and rejected: {sorted(both)[:10]}; "
                             f"keep one decision per item in the decisions file")


@dataclass(frozen=True)
class PlannerOutput:
    """Layers (metric CRS), the KPI section and the solver result of one planner."""

    name: str
    layers: Mapping[str, gpd.GeoDataFrame]
    kpis: Mapping[str, Any]
    result: Result | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def solver_options(settings: Any, *, time_limit_s: float | None = None,
                   name: str | None = None, seed: int = 0) -> SolverOptions:
    """Core solver options from the scenario's ``[solver]`` section (and CLI overrides)."""
    return SolverOptions(
        name=(name or settings.name),  # type: ignore[arg-type]
        time_limit_s=time_limit_s if time_limit_s is not None else settings.time_limit_s,
        mip_gap=settings.mip_gap, threads=settings.threads, seed=seed)


def solver_kpis(result: Result) -> dict[str, Any]:
    """The ``status``, ``mip_gap`` and ``solve_seconds`` KPIs every planner reports."""
    gap = result.mip_gap
    return {
        "status": result.status.value,
        "mip_gap": None if gap is None or not math.isfinite(gap) else round(float(gap), 6),
        "solve_seconds": round(result.solve_seconds + result.build_seconds, 3),
        "solver": f"{result.solver} {result.solver_version}",
    }
