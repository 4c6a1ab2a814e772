"""siting: geospatial siting of charging piles, logistics parks and waste-heat pipes.

Built for Zibo's carbon-peak plan; runs on any OpenStreetMap region.

>>> import siting
>>> plan = siting.plan(planners=["chargers"])     # the embedded Zibo demo  # doctest: +SKIP
>>> plan.kpis["chargers"]["piles_total"]           # doctest: +SKIP
40000
>>> plan.explore()                                 # a folium.Map  # doctest: +SKIP
>>> plan.write("maps/zibo")                        # doctest: +SKIP

The planning names (``plan``, ``Plan``, ``RegionSource``, ``Region``) load on first
use, so ``import siting`` (and ``python cli.py --help``) stays fast.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from siting._version import OSM_ATTRIBUTION, __version__
from siting.config import Scenario, load_scenario
from siting.errors import (
    CheckError,
    ConfigError,
    CRSError,
    InfeasibleError,
    InputError,
    SitingError,
    SolverError,
)

if TYPE_CHECKING:
    from siting.api import plan
    from siting.pipeline import Plan, RegionSource
    from siting.region import Region

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["OSM_ATTRIBUTION", "CRSError", "CheckError", "ConfigError", "InfeasibleError",
           "InputError", "Plan", "Region", "RegionSource", "Scenario", "SitingError",
           "SolverError", "__version__", "load_scenario", "plan"]


def __getattr__(name: str) -> Any:
    if name == "plan":
        from siting.api import plan

        return plan
    if name in ("Plan", "RegionSource"):
        from siting import pipeline

        return getattr(pipeline, name)
    if name == "Region":
        from siting.region import Region

        return Region
    raise AttributeError(f"module 'siting' has no attribute {name!r}")
