"""The carbon-peak plan's green logistics targets, against a logistics plan's KPIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from siting.planners import Target

if TYPE_CHECKING:
    from siting.config import Scenario

__all__ = ["logistics_targets"]


def logistics_targets(kpis: Mapping[str, Any], scenario: Scenario) -> tuple[Target, ...]:
    """Green logistics parks with multimodal access, and multimodal freight."""
    s = scenario.logistics
    freight = kpis.get("freight_mt")
    target = float(kpis.get("target_mt", s.freight_mt_2025))
    return (
        Target("logistics.parks", "green logistics parks with rail + road (multimodal) access",
               s.parks, None if kpis.get("parks") is None else float(kpis["parks"]), "parks",
               "plan"),
        Target("logistics.freight_mt",
               f"multimodal freight a year by {kpis.get('target_year', 2025)}",
               target, None if freight is None else float(freight), "Mt/yr", "plan"),
    )
