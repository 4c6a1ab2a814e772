"""Regions: a boundary, districts, a road graph and named layers, in one metric CRS.

A :class:`Region` comes from one of three sources:

- :func:`siting.region.zibo.build_zibo_region`: the embedded Zibo demo (offline,
  real boundaries and facts, synthetic roads and demand, seeded);
- :func:`siting.region.osm.region_from_osm_file`: a local ``.osm``, ``.osm.bz2``,
  ``.osm.pbf`` or ``.graphml`` file;
- :func:`siting.region.osm.region_from_place`: a place name, downloaded by osmnx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx

__all__ = ["RasterLayer", "Region"]


@dataclass(frozen=True)
class RasterLayer:
    """A single-band raster stored as a GeoTIFF on disk (read through rasterio).

    ``path`` is the GeoTIFF; ``name`` its layer name; ``units`` what a cell holds
    (for example ``"persons"``); ``source`` the user's file it was made from (a
    reprojected copy lives in a work folder), which messages name.
    """

    name: str
    path: Path
    units: str
    synthetic: bool = False
    source: Path | None = None

    @property
    def label(self) -> Path:
        """The file to name in messages: the user's own, not a work copy."""
        return self.source if self.source is not None else self.path


@dataclass(frozen=True)
class Region:
    """Everything the planners need about a place, in one projected metric CRS.

    Attributes:
        name: human-readable region name.
        crs: the metric CRS every geometry here uses (e.g. ``"EPSG:32650"``).
        boundary: one-row GeoDataFrame with the outer boundary polygon.
        districts: one row per district with at least ``code``, ``name`` and
            ``population`` (may be a single row for the whole region).
        graph: osmnx-style ``MultiDiGraph`` already projected to ``crs``: node
            attributes ``x``, ``y`` (and ``street_count``); edge attributes ``length`` (m),
            ``highway``, ``speed_kph`` and ``travel_time`` (s); ``graph.graph["crs"] == crs``.
        layers: named vector layers, all in ``crs``. Well-known names:
            ``demand_cells`` (cells with ``population``, ``ev_sessions_day``,
            ``nev``, ``heat_peak_mw``, ``heat_annual_gj``, ``district``),
            ``heat_sources``, ``rail_stations``, ``substations``,
            ``industrial_zones``, ``pois`` (candidate sites with ``site_type``),
            ``district_centres``, ``land_use``, and the constraint layers
            ``red_line``, ``water``, ``farmland``.
        rasters: named rasters (e.g. ``population``).
        synthetic: names of layers (and ``"graph"``) that are synthetic, not real data.
        sources: provenance of inputs: name -> dict (path, sha256, licence, ...).
        seed: the seed a synthetic region was built from, else ``None``.
        attribution: credit lines to show on maps and in outputs.
    """

    name: str
    crs: str
    boundary: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    graph: nx.MultiDiGraph
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    rasters: dict[str, RasterLayer] = field(default_factory=dict)
    synthetic: frozenset[str] = frozenset()
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int | None = None
    attribution: tuple[str, ...] = ()

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The vector layer ``name``; a clear error if this region lacks it."""
        from siting.errors import InputError

        try:
            return self.layers[name]
        except KeyError:
            have = ", ".join(sorted(self.layers)) or "none"
            raise InputError(
                f"region {self.name!r} has no layer {name!r} (it has: {have}); "
                f"supply it as a user layer or use a region that provides it"
            ) from None

    def is_synthetic(self, name: str) -> bool:
        return name in self.synthetic
