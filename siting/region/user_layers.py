"""User layers (``--layer NAME=FILE``) added to a region: read, kept within reach, reported.

One rule for every region source (OSM file, place, the embedded demo):

- **constraint layers** (``red_line``, ``water``, ``farmland``) are clipped to the
  region's boundary, as review checks them there; features wholly outside are
  counted (INFO: nothing inside the region is lost).
- **planner inputs** (``rail_stations``, ``heat_sources``, ``substations``, ...) are
  kept whole when they lie within the planners' own reach of the boundary: the
  boundary buffered by ``reach_m[name]`` (see :func:`siting.pipeline.layer_reach_m`:
  heat sources by ``heat.max_link_m``, rail stations and lines by
  ``logistics.rail_access_m``, substations by ``chargers.service_radius_m``; 0 m, the
  boundary itself, for the rest). Whatever lies farther out is dropped and reported as a
  WARNING with the count and the features' names.
- **``pois``** (user candidate sites) are *added* to the region's candidates, never
  replacing OSM's: polygons become their representative point, each row is marked
  ``source="user"`` and numbered ``user_row`` (1-based, in file order, before anything
  is dropped, so ids stay stable; see :func:`siting.chargers.sites.poi_candidates`).
  Candidates must lie inside the boundary (the road network stops there).

A user layer given for a name the region already has (an OSM-derived or demo layer)
replaces it, and the log says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputError
from siting.io import file_sha256
from siting.region.layers import read_vector, repair_geometries

logger = logging.getLogger(__name__)

__all__ = ["CONSTRAINT_LAYERS", "apply_user_layers", "read_user_layer"]

VectorInput: TypeAlias = str | os.PathLike[str] | gpd.GeoDataFrame

CONSTRAINT_LAYERS = ("red_line", "water", "farmland")
"""Polygon layers review checks plans against; clipped to the boundary."""

_NAME_COLUMNS = ("name", "NAME", "Name", "id", "ID", "osm_id")


def read_user_layer(value: VectorInput, *, name: str, crs: str) -> gpd.GeoDataFrame:
    """The user layer ``name`` (a file or a GeoDataFrame) in ``crs``, repaired."""
    what = f"layer {name!r}"
    if isinstance(value, gpd.GeoDataFrame):
        if len(value) == 0:
            raise InputError(f"{what} is empty (0 features); give a layer with data")
        from siting.crs import to_metric

        return repair_geometries(to_metric(value, crs, what=what),
                                 what=what).reset_index(drop=True)
    return read_vector(value, what=what, target_crs=crs)


def _labels(gdf: gpd.GeoDataFrame, mask: np.ndarray, limit: int = 8) -> str:
    """Names (or ids, else row numbers) of ``gdf``'s rows under ``mask``, shortened."""
    col = next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    rows = np.flatnonzero(mask)
    if col is not None:
        values = gdf[col].to_numpy(dtype=object)[rows]
        labels = [str(v) if v is not None and not pd.isna(v) else f"row {r + 1}"
                  for v, r in zip(values, rows, strict=True)]
    else:
        labels = [f"row {r + 1}" for r in rows]
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def _reach_text(reach: float) -> str:
    return "inside the boundary" if reach <= 0 else f"{reach / 1000:,.1f} km of the boundary"


def keep_within_reach(gdf: gpd.GeoDataFrame, area: Any, *, reach_m: float, what: str,
                      level: int = logging.WARNING, why: str = "") -> gpd.GeoDataFrame:
    """Rows of ``gdf`` that intersect ``area`` buffered by ``reach_m``; the rest are
    dropped and logged at ``level`` with their count and names."""
    zone = area.buffer(reach_m) if reach_m > 0 else area
    shapely.prepare(zone)
    inside = shapely.intersects(zone, gdf.geometry.to_numpy())
    if not inside.all():
        out = ~inside
        where = (f"farther than {_reach_text(reach_m)}" if reach_m > 0
                 else "outside the boundary")
        logger.log(level, "%s: %d of %d features lie %s and are dropped%s: %s",
                   what, int(out.sum()), len(gdf), where, why, _labels(gdf, out))
    return gdf.loc[inside].reset_index(drop=True)


def apply_user_layers(
    layers: Mapping[str, gpd.GeoDataFrame], user: Mapping[str, VectorInput], *, area: Any,
    crs: str, reach_m: Mapping[str, float] | None, sources: dict[str, dict[str, Any]],
    label: str,
) -> dict[str, gpd.GeoDataFrame]:
    """``layers`` with the user layers added (see the module docstring).

    ``area`` is the region's boundary polygon in ``crs``; ``sources`` gains a
    ``layer:NAME`` entry (path and sha256) per user file.
    """
    out = dict(layers)
    reach = dict(reach_m or {})
    for name, value in user.items():
        gdf = read_user_layer(value, name=name, crs=crs)
        if not isinstance(value, gpd.GeoDataFrame):
            sources[f"layer:{name}"] = {"path": str(value), "sha256": file_sha256(value)}
        what = f"{label}: layer {name!r}"
        if name in CONSTRAINT_LAYERS:
            outside = ~gdf.geometry.intersects(area).to_numpy()
            if outside.any():
                logger.info("%s: %d of %d features lie outside the boundary (not needed "
                            "there)", what, int(outside.sum()), len(gdf))
            kept = gpd.clip(gdf, area).reset_index(drop=True)
            if len(kept) == 0:
                logger.warning("%s has nothing inside the boundary; check that it covers "
                               "the region", what)
        elif name == "pois":
            gdf = gdf.copy()
            polygonal = gdf.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
            gdf["area_m2"] = np.where(polygonal, gdf.geometry.area, np.nan)
            gdf["geometry"] = gdf.geometry.representative_point()
            gdf["user_row"] = np.arange(1, len(gdf) + 1)
            gdf["source"] = "user"
            gdf["tag"] = "user layer"
            kept = keep_within_reach(
                gdf, area, reach_m=reach.get(name, 0.0), what=what,
                why=" (charging candidates must lie inside the boundary, where the road "
                    "network is)")
            logger.info("%s: %d user candidate sites added", what, len(kept))
            have = out.get("pois")
            if have is not None and len(have):
                kept = gpd.GeoDataFrame(pd.concat([have.assign(source=have.get(
                    "source", "osm")), kept], ignore_index=True), geometry="geometry", crs=crs)
        else:
            r = reach.get(name, 0.0)
            r_text = f"within {_reach_text(r)}" if r > 0 else _reach_text(r)
            kept = keep_within_reach(
                gdf, area, reach_m=r, what=what,
                why=f" (beyond the planners' reach of {r:,.0f} m)" if r > 0 else
                    " (the planners' reach of this layer is the boundary itself)")
            if len(kept) == 0:
                logger.warning("%s has nothing %s; check that it covers the region",
                               what, r_text)
        if name != "pois" and name in out:
            logger.info("%s replaces the region's own %r layer (%d features)", what, name,
                        len(out[name]))
        out[name] = kept
    return out
