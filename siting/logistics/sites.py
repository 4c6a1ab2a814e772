"""Inputs of the logistics park planner: freight sources, candidate park sites, access.

- :func:`freight_sources`: industrial zones or enterprises with an annual tonnage, and
  the share of it that is rail-suitable (by sector), as one validated layer.
- :func:`freight_stations`: the freight-capable railway stations (and lines) a park
  must lie near.
- :func:`trunk_junctions`: road-graph nodes where a truck gets onto an expressway or
  a trunk road.
- :func:`road_access_m`: network distance from points to the nearest such junction
  (there and back, the longer of the two).
- :func:`park_candidates`: a deterministic grid of candidate park sites within the
  rail-access distance of a freight station or line and the road-access distance of
  a junction, outside the red line, water (with the review buffer), permanent
  farmland and excluded land uses, each with a stable id that encodes its location.

Everything here works in the region's metric CRS and refuses geographic coordinates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra
from tqdm.auto import tqdm

from siting.crs import crs_label, is_metric, require_metric
from siting.errors import CRSError, InputError
from siting.network import graph_arrays, snap_points
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = [
    "ACCESS_ROAD_TIERS",
    "MAJOR_ROADS",
    "TONNAGE_COLUMNS",
    "access_junctions",
    "freight_sources",
    "freight_stations",
    "park_candidates",
    "park_id",
    "rail_access",
    "road_access_m",
    "screen_sites",
    "trunk_junctions",
    "vector_input",
]

MAJOR_ROADS = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
"""OSM ``highway`` classes of expressways and trunk roads."""

ACCESS_ROAD_TIERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("motorway/trunk", MAJOR_ROADS),
    ("primary", MAJOR_ROADS | {"primary", "primary_link"}),
    ("secondary", MAJOR_ROADS | {"primary", "primary_link", "secondary", "secondary_link"}),
)
"""Road classes a park's road access may reach, best first: expressways and trunk
roads; where a region has no junction with them, the best class present (primary,
then secondary; ``[assumption]``: a region without motorways hauls on its best roads)."""

TONNAGE_COLUMNS = {"freight_mt_yr": 1.0, "freight_mt": 1.0, "freight_t_yr": 1e-6,
                   "tonnage_t_yr": 1e-6, "tonnes_yr": 1e-6}
"""Tonnage columns recognised in a source layer, with their factor to Mt/yr."""

VectorInput: TypeAlias = gpd.GeoDataFrame | str | Path


def vector_input(value: VectorInput, *, crs: str, what: str) -> gpd.GeoDataFrame:
    """A user layer (GeoDataFrame or file) in the metric ``crs``; clear errors if not."""
    from siting.region.layers import read_vector

    if isinstance(value, str | Path):
        return read_vector(value, what=what, target_crs=crs)
    if not isinstance(value, gpd.GeoDataFrame):
        raise InputError(f"{what}: expected a GeoDataFrame or a vector file path, got "
                         f"{type(value).__name__}")
    if value.crs is None:
        raise CRSError(f"{what} has no CRS; set the CRS its coordinates are in "
                       f"(gdf.set_crs(...)) so it can be matched to the region's {crs}")
    if len(value) == 0:
        raise InputError(f"{what} is empty (0 features); give a layer with data")
    bad = value.geometry.isna() | value.geometry.is_empty
    if bad.any():
        raise InputError(f"{what}: {int(bad.sum())} rows have empty or missing geometries "
                         f"(first row {value.index[bad.to_numpy()][0]!r}); drop or fix them")
    return value.to_crs(crs) if crs_label(value.crs) != crs_label(crs) else value


def park_id(x: NDArray[np.float64], y: NDArray[np.float64]) -> list[str]:
    """Stable park ids from metric coordinates: ``"LP-<easting>-<northing>"`` (metres)."""
    return [f"LP-{a:.0f}-{b:.0f}" for a, b in zip(x, y, strict=True)]


# --------------------------------------------------------------------------- sources


def _tonnage(gdf: gpd.GeoDataFrame, column: str | None, what: str,
             problems: list[str]) -> NDArray[np.float64] | None:
    if column is not None:
        if column not in gdf.columns:
            problems.append(f"tonnage column {column!r} is missing (columns: "
                            f"{', '.join(map(str, gdf.columns))})")
            return None
        factor = TONNAGE_COLUMNS.get(column, 1.0)
    else:
        found = [c for c in TONNAGE_COLUMNS if c in gdf.columns]
        if not found:
            problems.append(f"no tonnage column; add one of {', '.join(TONNAGE_COLUMNS)} "
                            f"(Mt/yr or t/yr) or name yours with tonnage_column=...")
            return None
        column, factor = found[0], TONNAGE_COLUMNS[found[0]]
    raw = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(raw) | (raw < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        problems.append(f"column {column!r}: {int(bad.sum())} values are missing, "
                        f"non-numeric or negative (first at row {k}: {gdf[column].iat[k]!r}); "
                        f"give every source a tonnage >= 0")
        return None
    return raw * factor


def _source_ids(gdf: gpd.GeoDataFrame, pts: gpd.GeoSeries, problems: list[str]) -> list[str]:
    for col in ("id", "source_id", "zone_id"):
        if col in gdf.columns:
            ids = [f"FS-{v}" if col == "zone_id" else str(v) for v in gdf[col]]
            break
    else:
        ids = [f"FS-{x:.0f}-{y:.0f}" for x, y in zip(pts.x, pts.y, strict=True)]
    dup = pd.Series(ids).duplicated(keep=False)
    if dup.any():
        problems.append(f"source ids are not unique (e.g. {sorted(set(pd.Series(ids)[dup]))[:5]});"
                        f" give each source its own id")
    return ids


def freight_sources(layer: VectorInput, *, crs: str, rail_share_max: Mapping[str, float],
                    rail_share_default: float, tonnage_column: str | None = None,
                    what: str = "freight sources") -> gpd.GeoDataFrame:
    """Freight sources with their rail-suitable tonnage.

    ``layer`` has one row per industrial zone or enterprise (points or polygons) with
    a tonnage column (:data:`TONNAGE_COLUMNS`, or ``tonnage_column``). A ``sector``
    column picks the rail-suitable share from ``rail_share_max`` (unknown sectors and
    layers without it get ``rail_share_default``); a ``rail_share`` column overrides
    it per source. Ids come from ``id``/``source_id``, ``zone_id`` (``FS-<n>``), or the
    location (``FS-<easting>-<northing>``).

    Returns:
        Columns ``source_id``, ``name``, ``sector``, ``district`` (if given),
        ``freight_mt`` (all modes), ``rail_share``, ``shiftable_mt``, ``x``, ``y``
        (a representative point, used for routing), ``synthetic`` and the original
        ``geometry``, in ``crs``.

    Raises:
        InputError: every problem with the layer at once (no tonnage column, bad values,
            shares outside [0, 1], duplicate ids, empty geometries).
        CRSError: no CRS, or a non-metric target ``crs``.
    """
    if not is_metric(crs):
        raise CRSError(f"{what}: target CRS {crs_label(crs)} is not projected in metres")
    gdf = vector_input(layer, crs=crs, what=what).reset_index(drop=True)
    problems: list[str] = []
    tonnes = _tonnage(gdf, tonnage_column, what, problems)
    sector = (gdf["sector"].astype(str).to_numpy() if "sector" in gdf.columns
              else np.full(len(gdf), "unknown", dtype=object))
    share = np.array([rail_share_max.get(s, rail_share_default) for s in sector], dtype=float)
    if "rail_share" in gdf.columns:
        given = pd.to_numeric(gdf["rail_share"], errors="coerce").to_numpy(dtype=float)
        bad = np.isfinite(given) & ((given < 0) | (given > 1))
        if bad.any():
            problems.append(f"column 'rail_share': {int(bad.sum())} values outside [0, 1] "
                            f"(first {given[bad][0]!r}); give shares of the source's freight")
        share = np.where(np.isfinite(given), given, share)
    pts = gdf.geometry.representative_point()
    ids = _source_ids(gdf, pts, problems)
    if problems:
        raise InputError.collect(problems, context=what)
    assert tonnes is not None
    name = (gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else np.array(ids))
    out = gpd.GeoDataFrame({
        "source_id": ids, "name": name, "sector": sector,
        "freight_mt": tonnes, "rail_share": share, "shiftable_mt": tonnes * share,
        "x": pts.x.to_numpy(), "y": pts.y.to_numpy(),
        "synthetic": gdf["synthetic"].astype(bool).to_numpy() if "synthetic" in gdf.columns
        else False,
    }, geometry=gdf.geometry.to_numpy(), crs=crs)
    if "district" in gdf.columns:
        out.insert(3, "district", gdf["district"].astype(str).to_numpy())
    unknown = sorted(set(sector) - set(rail_share_max) - {"unknown"})
    if unknown and "rail_share" not in gdf.columns:
        logger.info("%s: sectors %s get the default rail share %.2f", what, unknown,
                    rail_share_default)
    logger.info("%s: %d sources, %.3f Mt/yr freight, %.3f Mt/yr rail-suitable", what,
                len(out), float(tonnes.sum()), float(out["shiftable_mt"].sum()))
    return out


# --------------------------------------------------------------------------- rail


def _truthy(values: pd.Series) -> NDArray[np.bool_]:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool)
    text = values.astype(str).str.strip().str.lower()
    return text.isin(["true", "1", "yes", "y", "t"]).to_numpy()


def freight_stations(stations: gpd.GeoDataFrame, *, crs: str,
                     lines: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The freight-capable rail features (stations and optional lines) in ``crs``.

    A ``freight`` column (bool, or yes/no text) selects them; a layer without it is
    taken as freight-capable throughout (with a warning). Returns ``name``, ``kind``
    (``station`` or ``line``) and ``geometry``.

    Raises:
        InputError: no freight-capable station or line is left.
    """
    frames = []
    for layer, kind in ((stations, "station"), (lines, "line")):
        if layer is None or len(layer) == 0:
            continue
        gdf = vector_input(layer, crs=crs, what=f"rail {kind}s")
        if "freight" in gdf.columns:
            gdf = gdf[_truthy(gdf["freight"])]
        else:
            logger.warning("rail %ss have no 'freight' column; all %d are taken as "
                           "freight-capable", kind, len(gdf))
        name = gdf["name"].astype(str) if "name" in gdf.columns else \
            pd.Series([f"{kind} {i}" for i in range(len(gdf))], index=gdf.index)
        frames.append(gpd.GeoDataFrame({"name": name.to_numpy(), "kind": kind},
                                       geometry=gdf.geometry.to_numpy(), crs=crs))
    if not frames or sum(len(f) for f in frames) == 0:
        raise InputError("no freight-capable railway station or line: the region's "
                         "'rail_stations' layer (column 'freight') has none; mark the "
                         "stations that handle freight or add a 'rail_lines' layer")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)


def rail_access(points_xy: NDArray[np.float64], rail: gpd.GeoDataFrame
                ) -> tuple[NDArray[np.float64], NDArray[np.object_]]:
    """Straight-line distance (m) from each point to the nearest freight station or
    line, and that feature's name."""
    pts = shapely.points(points_xy)
    tree = shapely.STRtree(rail.geometry.to_numpy())
    idx = tree.nearest(pts)
    dist = shapely.distance(pts, rail.geometry.to_numpy()[idx])
    return np.asarray(dist, dtype=float), rail["name"].to_numpy()[idx]


# --------------------------------------------------------------------------- road


def _is_major(highway: Any, classes: frozenset[str] = MAJOR_ROADS) -> bool:
    if isinstance(highway, list | tuple | set):
        return any(h in classes for h in highway)
    return highway in classes


def trunk_junctions(graph: nx.MultiDiGraph, classes: frozenset[str] = MAJOR_ROADS
                    ) -> list[Any]:
    """Nodes where a truck gets onto an expressway or trunk road (or ``classes``).

    A junction is a node touching both a :data:`MAJOR_ROADS` edge and any other edge:
    interchange ends of ``motorway_link`` ramps, and at-grade crossings of trunk roads.
    Mid-carriageway expressway nodes, which no local road reaches, are not junctions.
    """
    major: set[Any] = set()
    minor: set[Any] = set()
    for u, v, data in graph.edges(data=True):
        (major if _is_major(data.get("highway"), classes) else minor).update((u, v))
    return sorted(major & minor, key=str)


def access_junctions(graph: nx.MultiDiGraph) -> tuple[list[Any], str]:
    """The junctions of the best road class present (:data:`ACCESS_ROAD_TIERS`) and
    that class's label (``"motorway/trunk"``, ``"primary"`` or ``"secondary"``).

    Raises:
        InputError: the graph has no junction with a motorway, trunk, primary or
            secondary road.
    """
    for label, classes in ACCESS_ROAD_TIERS:
        junctions = trunk_junctions(graph, classes)
        if junctions:
            return junctions, label
    raise InputError("the road graph has no expressway or trunk junction, nor a primary or "
                     "secondary road junction to fall back to (edges with highway in "
                     f"{sorted(ACCESS_ROAD_TIERS[-1][1])} meeting other roads); parks need "
                     "road access: use a road network that includes such roads")


def road_access_m(graph: nx.MultiDiGraph, points_xy: NDArray[np.float64], *,
                  junctions: Sequence[Any] | None = None, limit_m: float = math.inf
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Road-access distance (m) from each point to the nearest junction.

    The point is snapped to its nearest graph node; the distance is the snap length
    plus the longer of the shortest drives node→junction and junction→node (one-way
    streets count both ways). Points farther than ``limit_m`` get ``inf``.

    Returns:
        ``(access_m, snap_m)`` per point.

    Raises:
        InputError: no junction (default: :func:`access_junctions`, the best road
            class present).
    """
    if junctions is None:
        junctions, _ = access_junctions(graph)
    if len(junctions) == 0:
        raise InputError("the road graph has no expressway or trunk junction (edges with "
                         f"highway in {sorted(MAJOR_ROADS)} meeting other roads); parks need "
                         "road access: use a road network that includes such roads")
    nodes, snap_m = snap_points(graph, points_xy, what="candidate park sites")
    adj, order = graph_arrays(graph, weight="length")
    index = {n: i for i, n in enumerate(order)}
    src = np.array([index[j] for j in junctions], dtype=np.int64)
    limit = max(0.0, float(limit_m)) if math.isfinite(limit_m) else np.inf
    there = dijkstra(adj.T.tocsr(), indices=src, min_only=True, limit=limit)
    back = dijkstra(adj, indices=src, min_only=True, limit=limit)
    pos = np.array([index[n] for n in nodes], dtype=np.int64)
    access = snap_m + np.maximum(there[pos], back[pos])
    access[access > limit_m] = np.inf
    return access, snap_m


# --------------------------------------------------------------------------- candidates


def _grid_points(area: shapely.Geometry, spacing_m: float) -> NDArray[np.float64]:
    """Points of the global grid ``(k * spacing, l * spacing)`` inside ``area``."""
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(math.ceil(minx / spacing_m), math.floor(maxx / spacing_m) + 1) * spacing_m
    ys = np.arange(math.ceil(miny / spacing_m), math.floor(maxy / spacing_m) + 1) * spacing_m
    mx, my = np.meshgrid(xs, ys)
    gx, gy = mx.ravel(), my.ravel()
    shapely.prepare(area)
    inside = shapely.contains_xy(area, gx, gy)
    return np.column_stack([gx[inside], gy[inside]])


def _near(xy: NDArray[np.float64], layer: gpd.GeoDataFrame | None, buffer_m: float
          ) -> NDArray[np.bool_]:
    """Points inside ``layer`` or within ``buffer_m`` of it."""
    hit = np.zeros(len(xy), dtype=bool)
    if layer is None or len(layer) == 0 or len(xy) == 0:
        return hit
    tree = shapely.STRtree(layer.geometry.to_numpy())
    pts = shapely.points(xy)
    if buffer_m > 0:
        idx, _ = tree.query(pts, predicate="dwithin", distance=buffer_m)
    else:
        idx, _ = tree.query(pts, predicate="intersects")
    hit[np.unique(idx)] = True
    return hit


def _constraint(region: Region, name: str) -> gpd.GeoDataFrame | None:
    layer = region.layers.get(name)
    if layer is None:
        logger.warning("region %r has no %r layer; park candidates are not checked against "
                       "it", region.name, name)
        return None
    require_metric(layer, what=f"region layer {name!r}")
    return layer


def screen_sites(region: Region, xy: NDArray[np.float64], *, rail: gpd.GeoDataFrame,
                 rail_access_m: float, road_access_m_max: float,
                 excluded_land_use: Iterable[str] = (), water_buffer_m: float = 0.0,
                 red_line_buffer_m: float = 0.0) -> gpd.GeoDataFrame:
    """Measure every siting rule at the points ``xy`` (metric, the region's CRS).

    Rules: within ``rail_access_m`` (straight line: a siding is built) of a freight
    station or line in ``rail``; within ``road_access_m_max`` (network, see
    :func:`road_access_m`) of an expressway/trunk junction; not in the red line (or
    within ``red_line_buffer_m`` of it), not within ``water_buffer_m`` of water, not on
    permanent basic farmland, not on ``excluded_land_use`` classes; inside the region.

    Returns:
        One row per point: ``id`` (:func:`park_id`), ``x``, ``y``, ``rail_access_m``,
        ``station`` (nearest freight rail feature), ``road_access_m`` (``inf`` beyond
        the limit), ``snap_m``, ``district``, ``problem`` (``""`` when every rule is
        met, else why not) and point ``geometry``.
    """
    problems = []
    for key, val in (("rail_access_m", rail_access_m), ("road_access_m", road_access_m_max)):
        if not (isinstance(val, int | float) and math.isfinite(val) and val > 0):
            problems.append(f"{key}={val!r} must be a number > 0 (metres)")
    for key, val in (("water_buffer_m", water_buffer_m),
                     ("red_line_buffer_m", red_line_buffer_m)):
        if not (isinstance(val, int | float) and math.isfinite(val) and val >= 0):
            problems.append(f"{key}={val!r} must be a number >= 0 (metres)")
    if problems:
        raise InputError.collect(problems, context="park site rules")
    crs = require_metric(region.boundary, what=f"region {region.name!r} boundary")
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    why: list[list[str]] = [[] for _ in range(n)]

    def flag(mask: NDArray[np.bool_], text: str) -> None:
        for k in np.flatnonzero(mask):
            why[k].append(text)

    outline = shapely.union_all(region.boundary.geometry.to_numpy())
    shapely.prepare(outline)
    flag(~shapely.contains_xy(outline, xy[:, 0], xy[:, 1]), "outside the region")
    rail_m, station = rail_access(xy, rail) if n else (np.empty(0), np.empty(0, object))
    far = rail_m > rail_access_m
    for k in np.flatnonzero(far):
        why[k].append(f"rail access {rail_m[k]:,.0f} m > {rail_access_m:,.0f} m")
    flag(_near(xy, _constraint(region, "red_line"), red_line_buffer_m),
         "in the ecological red line" + (f" or within {red_line_buffer_m:,.0f} m of it"
                                         if red_line_buffer_m > 0 else ""))
    flag(_near(xy, _constraint(region, "water"), water_buffer_m),
         f"within {water_buffer_m:,.0f} m of water")
    flag(_near(xy, _constraint(region, "farmland"), 0.0), "on permanent basic farmland")
    excluded = sorted(set(excluded_land_use))
    land = region.layers.get("land_use")
    if excluded and land is not None and "land_use" in land.columns:
        for cls in excluded:
            flag(_near(xy, land[land["land_use"] == cls], 0.0), f"on {cls} land")
    if n:
        road_m, snap_m = road_access_m(region.graph, xy, limit_m=road_access_m_max)
    else:
        road_m = snap_m = np.empty(0)
    for k in np.flatnonzero(road_m > road_access_m_max):
        why[k].append(f"road access over {road_access_m_max:,.0f} m")
    out = gpd.GeoDataFrame({
        "id": park_id(xy[:, 0], xy[:, 1]), "x": xy[:, 0], "y": xy[:, 1],
        "rail_access_m": rail_m, "station": station, "road_access_m": road_m,
        "snap_m": snap_m, "problem": ["; ".join(w) for w in why],
    }, geometry=shapely.points(xy) if n else [], crs=crs)
    out["district"] = _district_of(out, region.districts)
    return out


def park_candidates(region: Region, *, rail: gpd.GeoDataFrame, rail_access_m: float,
                    road_access_m_max: float, spacing_m: float,
                    excluded_land_use: Iterable[str] = (), water_buffer_m: float = 0.0,
                    red_line_buffer_m: float = 0.0, progress: bool = False
                    ) -> gpd.GeoDataFrame:
    """Candidate park sites: the points of a ``spacing_m`` grid meeting every rule of
    :func:`screen_sites`.

    The grid is anchored at the CRS origin (points at multiples of ``spacing_m``), so
    the same inputs give the same sites and ids, and a spacing that divides this one
    (half: a 4x denser set) keeps every site and its id. Only grid points within
    ``rail_access_m`` of freight rail are screened.

    Returns:
        The rows of :func:`screen_sites` with an empty ``problem`` (that column
        dropped); possibly empty.

    Raises:
        InputError: bad arguments; a road graph without junctions.
        CRSError: the region's CRS is not metric.
    """
    if not (isinstance(spacing_m, int | float) and math.isfinite(spacing_m) and spacing_m > 0):
        raise InputError(f"park candidates: spacing_m={spacing_m!r} must be a number > 0 "
                         f"(metres)")
    if not (isinstance(rail_access_m, int | float) and rail_access_m > 0):
        raise InputError(f"park candidates: rail_access_m={rail_access_m!r} must be > 0")
    with tqdm(total=2, desc="park candidates", disable=not progress, leave=False) as bar:
        area = shapely.intersection(
            shapely.union_all(rail.geometry.buffer(rail_access_m, quad_segs=16).to_numpy()),
            shapely.union_all(region.boundary.geometry.to_numpy()))
        xy = _grid_points(area, float(spacing_m))
        bar.update()
        table = screen_sites(region, xy, rail=rail, rail_access_m=rail_access_m,
                             road_access_m_max=road_access_m_max,
                             excluded_land_use=excluded_land_use, water_buffer_m=water_buffer_m,
                             red_line_buffer_m=red_line_buffer_m)
        bar.update()
    ok = table["problem"] == ""
    logger.info("park candidates: %d grid points (%g m) near freight rail, %d meet every "
                "rule", len(table), spacing_m, int(ok.sum()))
    return table[ok].drop(columns="problem").reset_index(drop=True)


def _district_of(points: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> NDArray[np.object_]:
    """Name of the district holding each point (nearest district for edge points)."""
    if len(points) == 0:
        return np.empty(0, dtype=object)
    names = districts["name"].astype(str).to_numpy() if "name" in districts.columns else \
        np.array([str(i) for i in range(len(districts))], dtype=object)
    tree = shapely.STRtree(districts.geometry.to_numpy())
    idx = tree.nearest(points.geometry.to_numpy())
    return names[idx]
