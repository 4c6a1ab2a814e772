"""Inputs of the green logistics park planner: existing parks and candidate sites.

See :mod:`siting.logistics.planner` for the whole planner.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.config import LogisticsSettings, Scenario
from siting.errors import InputError
from siting.logistics.sites import (
    VectorInput,
    freight_stations,
    park_candidates,
    screen_sites,
    vector_input,
)
from siting.planners import ItemDecisions
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["EXISTING_LAYER", "candidate_sites"]

EXISTING_LAYER = "logistics_parks_existing"
_ID = re.compile(r"^LP-(-?\d+)-(-?\d+)$")


# --------------------------------------------------------------------------- inputs


def _existing_parks(region: Region, existing: VectorInput | None, settings: LogisticsSettings,
                    rules: dict[str, Any]) -> gpd.GeoDataFrame:
    layer = existing if existing is not None else region.layers.get(EXISTING_LAYER)
    if layer is None:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=region.crs)
    what = "existing logistics parks"
    gdf = vector_input(layer, crs=region.crs, what=what).reset_index(drop=True)
    pts = gdf.geometry.representative_point()
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    table = screen_sites(region, xy, **rules)
    problems = []
    if "id" in gdf.columns:
        table["id"] = gdf["id"].astype(str).to_numpy()
    if "name" in gdf.columns:
        table["name"] = gdf["name"].astype(str).to_numpy()
    cap = (pd.to_numeric(gdf["capacity_mt"], errors="coerce").to_numpy(dtype=float)
           if "capacity_mt" in gdf.columns else np.full(len(gdf), settings.park_capacity_mt))
    for k in np.flatnonzero(~np.isfinite(cap) | (cap <= 0)):
        problems.append(f"park {table['id'].iat[k]}: capacity_mt {cap[k]:g} must be > 0")
    for pid, why in zip(table["id"], table["problem"], strict=True):
        if why:
            problems.append(f"park {pid}: {why}")
    dup = table["id"].duplicated()
    if dup.any():
        problems.append(f"ids {sorted(set(table['id'][dup]))[:5]} appear more than once")
    if problems:
        raise InputError.collect(problems, context=f"{what} (fix the layer, or relax "
                                 "[logistics] rail_access_m/road_access_m)")
    table["capacity_mt"] = cap
    table["existing"] = True
    return table.drop(columns="problem")


def _approved_outside(ids: Sequence[str], region: Region, rules: dict[str, Any]
                      ) -> gpd.GeoDataFrame:
    """Sites for approved ids that are not candidates this run (e.g. another spacing)."""
    bad = [i for i in ids if not _ID.match(i)]
    if bad:
        raise InputError(f"decisions: approved logistics parks {bad[:10]} are not park ids of "
                         f"this plan (ids look like 'LP-<easting>-<northing>'); check the "
                         f"decisions file belongs to this region and scenario")
    xy = np.array([[float(m.group(1)), float(m.group(2))] for m in map(_ID.match, ids)
                   if m is not None])
    table = screen_sites(region, xy, **rules)
    problems = [f"approved park {pid}: {why}" for pid, why in
                zip(table["id"], table["problem"], strict=True) if why]
    if problems:
        raise InputError.collect(problems, context="decisions: approved logistics parks "
                                 "break the siting rules")
    return table.drop(columns="problem")


def candidate_sites(region: Region, settings: LogisticsSettings, scenario: Scenario,
           decisions: ItemDecisions, existing: VectorInput | None, density: float,
           progress: bool) -> gpd.GeoDataFrame:
    if "rail_stations" not in region.layers and "rail_lines" not in region.layers:
        region.layer("rail_stations")  # the region's clear error naming what it has
    rail = freight_stations(region.layers.get("rail_stations"), crs=region.crs,
                            lines=region.layers.get("rail_lines"))
    rules = dict(rail=rail, rail_access_m=settings.rail_access_m,
                 road_access_m_max=settings.road_access_m,
                 excluded_land_use=settings.excluded_land_use,
                 water_buffer_m=scenario.review.park_water_buffer_m,
                 red_line_buffer_m=scenario.review.park_red_line_buffer_m)
    grid = park_candidates(region, spacing_m=settings.candidate_spacing_m / math.sqrt(density),
                           progress=progress, **rules)
    grid["capacity_mt"] = settings.park_capacity_mt
    grid["existing"] = False
    old = _existing_parks(region, existing, settings, rules)
    sites = pd.concat([old, grid[~grid["id"].isin(old["id"])]], ignore_index=True) \
        if len(old) else grid
    missing = sorted(decisions.approved - set(sites["id"]))
    if missing:
        extra = _approved_outside(missing, region, rules)
        extra["capacity_mt"] = settings.park_capacity_mt
        extra["existing"] = False
        sites = pd.concat([sites, extra], ignore_index=True)
    rejected_old = sorted(decisions.rejected & set(old["id"]))
    if rejected_old:
        raise InputError(f"decisions: existing logistics parks {rejected_old} were rejected; "
                         f"an existing park cannot be removed by the plan: take it out of "
                         f"the existing-parks layer instead")
    unknown = sorted(decisions.rejected - set(sites["id"]))
    if unknown:
        logger.warning("decisions: %d rejected logistics parks are not candidates this run "
                       "(ignored): %s", len(unknown), unknown[:10])
    if "name" not in sites.columns:
        sites["name"] = None
    names = sites["name"].where(sites["name"].notna(), None)
    sites["name"] = [n if isinstance(n, str) else f"{d} park near {s}"
                     for n, d, s in zip(names, sites["district"], sites["station"], strict=True)]
    return gpd.GeoDataFrame(sites, geometry="geometry", crs=region.crs)


