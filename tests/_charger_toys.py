"""Shared toy pile types and solver options of the charger tests."""

from __future__ import annotations

from siting.chargers.check import ServiceLevel
from siting.chargers.problem import PileType
from siting.chargers.queueing import capacity_table
from siting.models.base import SolverOptions

CRS = "EPSG:32650"


def pile_types(max_piles: int) -> tuple[PileType, PileType]:
    """7 kW AC (300 min sessions) and 60 kW DC (40 min) piles, W = 10 min, alpha = 0.2."""
    def table(minutes: float):  # type: ignore[no-untyped-def]
        return capacity_table(max_piles, session_minutes=minutes, max_wait_minutes=10,
                              wait_probability=0.2, operating_hours=16)

    return (PileType("slow", 7.0, 700.0, table(300)), PileType("fast", 60.0, 8000.0, table(40)))


SLOW, FAST = pile_types(6)
SERVICE = ServiceLevel(10.0, 0.2, 16.0, (300.0, 40.0))
EXACT = SolverOptions(name="highs", mip_gap=0.0, time_limit_s=60)
#: no time limit: every solve runs to its end (nothing depends on the clock)
PROOF = SolverOptions(name="highs", mip_gap=0.0, time_limit_s=None)
