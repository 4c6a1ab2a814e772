"""The carbon-peak plan's heating target, against a heat plan's KPIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from siting.planners import Target

if TYPE_CHECKING:
    from siting.config import Scenario

__all__ = ["heat_targets"]


def heat_targets(kpis: Mapping[str, Any], scenario: Scenario) -> tuple[Target, ...]:
    """The plan asks to speed up the interconnection of heating pipe networks: at least
    some pipe that carries heat onward between zone networks (``interconnection`` in
    ``heat_pipes``; the scenario's ``[[heat.required_links]]`` make the planner build
    them, or stop naming the link that cannot be built). A scenario without space
    heating (``heated_share = 0``, e.g. ``init`` in the tropics) has no such target."""
    if scenario.heat.heated_share <= 0:
        return ()
    km = kpis.get("interconnection_km")
    return (
        Target("heat.interconnection", "interconnection of heating pipe networks (pipes "
               "carrying heat between zone networks)", 0.0,
               None if km is None else float(km), "km", "plan", comparison=">"),
    )
