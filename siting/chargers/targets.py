"""The carbon-peak plan's charging and fleet targets, against a charger plan's KPIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from siting.planners import Target

if TYPE_CHECKING:
    from siting.config import Scenario

__all__ = ["charger_targets"]


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def charger_targets(kpis: Mapping[str, Any], scenario: Scenario) -> tuple[Target, ...]:
    """Piles and NEVs for 2025, residential reservation, and the fleet shares.

    The fleet shares (buses, cruise taxis) are the shares of each fleet whose charging
    the plan's depots and hubs provide (:mod:`siting.chargers.fleet`); a scenario without
    fleet sizes reports them with ``achieved=None`` (not met), never dropped. Piles
    count the public stations' and the fleet's dedicated piles.
    """
    c, fleet = scenario.chargers, scenario.fleet
    residential = kpis.get("residential") or {}
    fk = kpis.get("fleet") or {}
    out = [
        Target("chargers.piles_2025", f"new charging piles by 2025 (plan: at least "
               f"{c.piles_2025:,})", c.piles_2025, _num(kpis.get("piles_total")), "piles",
               "plan"),
        Target("chargers.nev_2025", f"new-energy vehicles whose charging the 2025 piles "
               f"serve (plan: about {c.nev_2025:,})", c.nev_2025,
               _num(kpis.get("nev_served")), "NEVs", "plan",
               note="NEVs whose sessions are served within the service radius and level"),
        Target("chargers.residential_reserved", "new residential communities with piles or "
               "reserved installation conditions", c.residential_reserved_share,
               _num(residential.get("reserved_share")), "share", "plan",
               note=str(residential.get("definition", ""))),
        Target("fleet.bus_nev_share", "urban buses that are new-energy vehicles by 2025 "
               "(share of the fleet whose depot charging the plan provides)",
               fleet.bus_nev_share_2025, _num(fk.get("bus_charged_share")), "share", "plan",
               note=str(fk.get("definition", "not modelled: the scenario gives no "
                                             "fleet.buses"))),
        Target("fleet.taxi_nev_share", "cruise taxis that are new-energy vehicles by 2025 "
               "(share of the fleet whose hub fast charging the plan provides)",
               fleet.taxi_nev_share_2025, _num(fk.get("taxi_charged_share")), "share", "plan",
               note=str(fk.get("definition", "not modelled: the scenario gives no "
                                             "fleet.taxis"))),
    ]
    stage = kpis.get("stage_2030")
    if c.staged and isinstance(stage, Mapping):
        out.append(Target("chargers.piles_2030", "cumulative new piles by 2030 (assumed stage)",
                          c.piles_2030, _num(stage.get("piles_total")), "piles",
                          "assumption"))
    return tuple(out)
