"""``siting.plan()``: the Python face of ``python cli.py plan``.

>>> import siting
>>> plan = siting.plan(planners=["chargers"])        # doctest: +SKIP
>>> plan.kpis["chargers"]["piles_total"]              # doctest: +SKIP
40000
>>> plan.layers["charging_stations"].crs.to_epsg()   # doctest: +SKIP
4326
>>> m = plan.explore()                                # a folium.Map  # doctest: +SKIP
>>> plan.write("maps/zibo")                          # the CLI's files  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from siting.config import DEFAULT_SCENARIO, Scenario, load_scenario
from siting.errors import InputError
from siting.models.base import SolverOptions
from siting.pipeline import Plan, RegionSource, make_plan
from siting.region import Region

__all__ = ["plan"]

_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".graphml")


def plan(scenario: Scenario | str | os.PathLike[str] | None = None, *,
         region: Region | RegionSource | str | os.PathLike[str] | None = None,
         planners: Sequence[str] | None = None,
         decisions: str | os.PathLike[str] | None = None,
         solver: str | SolverOptions | None = None,
         out: str | os.PathLike[str] | None = None,
         time_limit_s: float | None = None,
         progress: bool = False,
         joint: bool | None = None) -> Plan:
    """Plan chargers, logistics parks and waste-heat pipes for a region.

    Args:
        scenario: a :class:`~siting.config.Scenario`, or the path of a scenario TOML
            file (default: the embedded Zibo scenario, ``data/zibo/scenario.toml``).
        region: the embedded Zibo demo (``None``), a :class:`~siting.region.Region`
            already built, a :class:`~siting.pipeline.RegionSource` (OSM file or place
            with user layers), or the path of a local OSM file (``.osm``,
            ``.osm.bz2``, ``.osm.pbf`` or ``.graphml``).
        planners: names among ``"chargers"``, ``"logistics"`` and ``"heat"``
            (default: all three, in that order).
        decisions: a reviewer decisions file (``decisions.geojson`` from the map):
            rejected items are forbidden, approved ones locked.
        solver: ``"highs"`` or ``"cbc"`` or :class:`~siting.models.base.SolverOptions`
            (default: the scenario's ``[solver]``).
        out: when given, the plan's files (``plan.gpkg``, ``plan.html``,
            ``kpis.json``, ``provenance.json``) are also written there, atomically.
        time_limit_s: time limit per planner (default: the scenario's).
        progress: show progress bars.
        joint: plan the chargers with the other planners on one grid and one land
            (default: the scenario's ``[joint] enabled``; see :mod:`siting.joint`).

    Returns:
        The :class:`~siting.pipeline.Plan`: ``kpis``, ``layers`` (EPSG:4326),
        ``provenance``, ``write(dir)`` and ``explore()``.

    Raises:
        InputError, InfeasibleError: bad input or a target that cannot be met.
        SolverError: no feasible plan within the time limit.
        CheckError: a planner's independent checker rejected its plan (a bug).
    """
    path: Path | None = None
    if scenario is None or isinstance(scenario, str | os.PathLike):
        path = Path(scenario) if scenario is not None else DEFAULT_SCENARIO
        scenario = load_scenario(path)
    elif not isinstance(scenario, Scenario):
        raise InputError(f"scenario={scenario!r}: expected a Scenario, a TOML path or None")
    if time_limit_s is not None and not time_limit_s > 0:
        raise InputError(f"time_limit_s={time_limit_s!r}: must be a positive number of seconds")
    result = make_plan(scenario, _source(region), planners=planners,
                       decisions=Path(decisions) if decisions is not None else None,
                       solver=solver, time_limit_s=time_limit_s, scenario_path=path,
                       progress=progress, joint=joint)
    if out is not None:
        result.write(Path(out))
    return result


def _source(region: Region | RegionSource | str | os.PathLike[str] | None
            ) -> Region | RegionSource:
    if region is None:
        return RegionSource()
    if isinstance(region, Region | RegionSource):
        return region
    if isinstance(region, str | os.PathLike):
        p = Path(region)
        if not p.name.lower().endswith(_OSM_SUFFIXES):
            raise InputError(f"region={str(region)!r}: expected an OSM file ending in "
                             f"{', '.join(_OSM_SUFFIXES)}; for a place name use "
                             f"RegionSource(place=...)")
        return RegionSource(osm=p)
    raise InputError(f"region={region!r}: expected None, a Region, a RegionSource or the "
                     f"path of an OSM file")
