"""Candidate sites for charging stations: from land use on the demo, from OSM POIs.

Every candidate is one row with a stable string ``id``, a ``site_type`` (one of
:data:`SITE_TYPES`), its ``district``, the largest station it can hold
(``max_piles``, from the scenario's ``[chargers.site_types]`` and
``max_piles_per_station``), which pile types it takes (``slow_ok``, ``fast_ok``),
``existing_piles`` (AC piles already there; an existing station is always open), a
``new_residential`` flag (a residential community in new residential land; see
below), ``synthetic`` and a point geometry in the region's metric CRS.

Three sources, used together where a region has more than one (a region with both
a ``pois`` and a ``land_use`` layer gets both sets; a land-use site on the road node of
a POI candidate is left out):

- :func:`user_candidates`: the user's candidate sites (``--layer pois=FILE``, rows of
  the ``pois`` layer with ``source == "user"``), with optional ``site_type`` (default
  ``public_parking``), ``max_piles`` and ``id`` columns; ids ``chg-user-<id>`` or
  ``chg-user-<row>``. They add to OSM's POIs or the demo's land-use sites.
- :func:`poi_candidates`: OSM POIs (``region.layers["pois"]``, made by
  :mod:`siting.region.osm`) mapped by :data:`OSM_SITE_TYPES`; ``charging_station``
  POIs become existing stations with the OSM ``capacity`` tag as their piles (or the
  scenario's ``existing_station_piles`` where untagged). Residential land-use POIs
  are flagged ``new_residential`` (OSM carries no construction date, so every
  residential area counts; stated in the KPI notes).
- :func:`land_use_candidates`: the embedded demo, which has no POIs. Road nodes are
  drawn inside each land-use polygon at the densities of
  :data:`DEMO_DENSITY_PER_KM2` (a synthetic assumption), one site per node, so every
  candidate lies on the network; transport hubs sit at the railway stations and bus
  depots at the district seats. Residential communities drawn in ``residential``
  land (the 1,500-8,000 persons/km² ring around the cores, where the synthetic
  landscape puts urban growth) are flagged ``new_residential``; those in the core are
  established communities. Deterministic from the seed.

Both are screened by every rule ``review`` applies to charging stations
(:func:`siting.chargers.layers.review_rules`: the ecological red line with the
scenario's ``station_red_line_buffer_m``, permanent basic farmland and water, where
the region has those layers), so a plan never puts a new station where its own review
would fail it; existing stations stay.

:func:`reach_candidates` then closes the gaps that rural demand leaves: wherever a
demand point has no candidate within the service radius (network distance), a
``township_centre`` candidate is added at the nearest allowed road node, greedily,
busiest uncovered demand first (a township or village service centre: the government
compound, market or clinic car park a rural town offers). The plan then drops no NEV's
sessions for want of a site; only demand whose whole reach is screened out stays
unreachable, and is reported.

Ids encode the source, the type and the place: ``chg-pp-5735124125533`` (demo: type
code and metre coordinates), ``chg-osm-node-123456`` (OSM), so the same inputs give
the same ids and reviewer decisions carry over between runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike

from siting.config import ChargerSettings, ReviewSettings
from siting.crs import require_metric
from siting.errors import InputError
from siting.network import snap_points
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = [
    "CANDIDATE_COLUMNS",
    "DEMO_DENSITY_PER_KM2",
    "OSM_SITE_TYPES",
    "SITE_TYPES",
    "candidate_sites",
    "land_use_candidates",
    "poi_candidates",
    "reach_candidates",
    "user_candidates",
]

SITE_TYPES = ("public_parking", "mall", "transport_hub", "bus_depot",
              "residential_community", "fuel_station", "public_institution",
              "existing_station", "township_centre")
"""Kinds of candidate site (the scenario's ``[chargers.site_types]`` keys)."""

_CODE = MappingProxyType({
    "public_parking": "pp", "mall": "ml", "transport_hub": "th", "bus_depot": "bd",
    "residential_community": "rc", "fuel_station": "fs", "public_institution": "pi",
    "existing_station": "ex", "township_centre": "tc"})

OSM_SITE_TYPES = MappingProxyType({
    "parking": "public_parking", "mall": "mall", "supermarket": "mall",
    "transport_hub": "transport_hub", "public_institution": "public_institution",
    "residential": "residential_community", "fuel": "fuel_station",
    "charging_station": "existing_station"})
"""POI ``site_type`` of :mod:`siting.region.osm` -> charger site type."""

DEMO_DENSITY_PER_KM2: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "urban_core": MappingProxyType({"public_parking": 6.0, "mall": 3.0,
                                    "public_institution": 3.0,
                                    "residential_community": 4.0}),
    "commercial": MappingProxyType({"public_parking": 4.0, "mall": 3.0,
                                    "public_institution": 2.0,
                                    "residential_community": 2.0}),
    "residential": MappingProxyType({"residential_community": 1.2, "public_parking": 0.4,
                                     "public_institution": 0.2, "mall": 0.1,
                                     "fuel_station": 0.05}),
    "industrial": MappingProxyType({"public_parking": 0.3, "fuel_station": 0.1}),
    "rural": MappingProxyType({"fuel_station": 0.02, "public_institution": 0.03}),
})
"""[assumption] Candidate sites per km² of each demo land-use class, by site type:
dense where parking, shops and offices are in a real city, sparse in villages (fuel
stations on major roads, township and village service centres). Within a polygon,
nodes are drawn with probability growing with the population around them (the
region's population raster), so villages get sites and empty fields do not. About
2,800 candidates on the full demo."""

_MAJOR = frozenset({"motorway", "trunk", "primary", "secondary"})

CANDIDATE_COLUMNS = ("id", "site_type", "name", "district", "land_use", "max_piles",
                     "slow_ok", "fast_ok", "existing_piles", "new_residential", "node",
                     "snap_m", "synthetic")


def candidate_sites(region: Region, settings: ChargerSettings, *, seed: int | None = None,
                    review: ReviewSettings | None = None) -> gpd.GeoDataFrame:
    """Candidates for ``region``: OSM POIs where it has them, else demo land use,
    screened by the station review rules with ``review``'s buffers (the defaults of
    :class:`~siting.config.ReviewSettings` when ``None``).

    Raises:
        InputError: the region has neither a ``pois`` nor a ``land_use`` layer, or no
            candidate is left after screening.
    """
    parts = []
    if "pois" in region.layers and len(region.layers["pois"]):
        parts.append(poi_candidates(region, settings))
    if "land_use" in region.layers and len(region.layers["land_use"]):
        parts.append(land_use_candidates(region, settings,
                                         seed=region.seed if seed is None else seed))
    if not parts:
        raise InputError(
            f"region {region.name!r} has no 'pois' layer (OSM or user candidate sites) and "
            f"no 'land_use' layer to generate candidates from; load it from an OSM file, "
            f"or add --layer pois=FILE (points of candidate sites)")
    out = parts[0] if len(parts) == 1 else _union(parts)
    out = _screen(out, region, review=review)
    if len(out) == 0:
        raise InputError(f"region {region.name!r}: no candidate charging site is left "
                         f"outside the red line, farmland and water; check those layers")
    logger.info("charging candidates: %d sites (%s)", len(out),
                out["site_type"].value_counts().to_dict())
    return out


def _union(parts: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """POI and land-use candidates together; of two on one road node, the first kept
    (POIs, with their real names and user limits, before generated land-use sites)."""
    first, rest = parts[0], pd.concat(parts[1:], ignore_index=True)
    taken = set(first["node"].astype(str)) | set(first["id"])
    dup = (rest["node"].astype(str).isin(taken) | rest["id"].isin(taken)).to_numpy()
    both = pd.concat([first, rest.loc[~dup]], ignore_index=True)
    if dup.any():
        logger.info("charging candidates: %d land-use sites share a road node with a POI "
                    "candidate; left out", int(dup.sum()))
    return gpd.GeoDataFrame(both.sort_values("id", kind="stable").reset_index(drop=True),
                            geometry="geometry", crs=parts[0].crs)


def _limits(settings: ChargerSettings, site_type: np.ndarray) -> dict[str, np.ndarray]:
    missing = sorted(set(site_type) - set(settings.site_types))
    if missing:
        raise InputError(
            f"scenario [chargers.site_types] has no entry for site type(s) {missing}; add "
            f"them (max_piles, slow, fast)")
    st = settings.site_types
    return {
        "max_piles": np.array([min(st[t].max_piles, settings.max_piles_per_station)
                               for t in site_type], dtype=np.int64),
        "slow_ok": np.array([st[t].slow for t in site_type], dtype=bool),
        "fast_ok": np.array([st[t].fast for t in site_type], dtype=bool),
    }


def _districts_of(points: gpd.GeoSeries, districts: gpd.GeoDataFrame) -> np.ndarray:
    """District name containing each point, else the nearest district."""
    d = districts[["name", "geometry"]].to_crs(points.crs).reset_index(drop=True)
    pts = gpd.GeoDataFrame(geometry=points.to_numpy(), crs=points.crs)
    joined = gpd.sjoin_nearest(pts, d, how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["name"].astype(str).to_numpy()


def poi_candidates(region: Region, settings: ChargerSettings) -> gpd.GeoDataFrame:
    """Candidates from the region's ``pois`` layer: OSM POIs and user candidate sites
    (rows with ``source == "user"``, see :func:`user_candidates`)."""
    pois = region.layer("pois")
    require_metric(pois, what="layer 'pois'")
    user = (pois["source"].astype(str) == "user").to_numpy() if "source" in pois.columns \
        else np.zeros(len(pois), dtype=bool)
    parts = []
    if user.any():
        parts.append(user_candidates(region, pois.loc[user], settings))
    if not user.all():
        parts.append(_osm_candidates(region, pois.loc[~user], settings))
    if len(parts) == 1:
        return parts[0]
    both = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(both.sort_values("id", kind="stable").reset_index(drop=True),
                            geometry="geometry", crs=region.crs)


USER_DEFAULT_SITE_TYPE = "public_parking"
"""Site type of a user candidate whose ``site_type`` is missing or blank."""


def user_candidates(region: Region, pois: gpd.GeoDataFrame,
                    settings: ChargerSettings) -> gpd.GeoDataFrame:
    """Candidates from user rows of the ``pois`` layer (``--layer pois=FILE``).

    Columns read (all optional): ``site_type`` (one of :data:`SITE_TYPES`, default
    :data:`USER_DEFAULT_SITE_TYPE`), ``max_piles`` (a whole number >= 1: the station's
    limit instead of the site type's, still capped by ``max_piles_per_station``),
    ``id`` (unique; the candidate id becomes ``chg-user-<id>``, else
    ``chg-user-<n>`` with ``n`` the 1-based row in the file), ``name``. An
    ``existing_station`` row is an existing station with ``existing_piles`` (column,
    else ``capacity``, else the scenario's ``existing_station_piles``) AC piles.

    Raises:
        InputError: unknown site types, bad ``max_piles`` or repeated ids, all listed.
    """
    what = "layer 'pois' (user candidate sites)"
    pts = pois.to_crs(region.crs).copy()
    pts["geometry"] = pts.geometry.representative_point()
    n = len(pts)
    problems = []
    raw = (pts["site_type"] if "site_type" in pts.columns
           else pd.Series([None] * n, index=pts.index, dtype=object))
    blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    site_type = np.where(blank, USER_DEFAULT_SITE_TYPE,
                         raw.astype(str).str.strip().to_numpy()).astype(object)
    unknown = sorted(set(site_type) - set(SITE_TYPES))
    if unknown:
        problems.append(f"column 'site_type' has unknown values {unknown}; use one of "
                        f"{', '.join(SITE_TYPES)} (or leave it blank for "
                        f"{USER_DEFAULT_SITE_TYPE!r})")
    if blank.any():
        logger.info("%s: %d of %d rows have no site_type; taken as %r", what,
                    int(blank.sum()), n, USER_DEFAULT_SITE_TYPE)
    user_max = np.full(n, np.nan)
    if "max_piles" in pts.columns:
        user_max = pd.to_numeric(pts["max_piles"], errors="coerce").to_numpy(dtype=float)
        given = pts["max_piles"].notna().to_numpy()
        bad = given & ~(np.isfinite(user_max) & (user_max >= 1)
                        & (user_max == np.floor(user_max)))
        if bad.any():
            rows = (pts["user_row"].to_numpy()[bad] if "user_row" in pts.columns
                    else np.flatnonzero(bad) + 1)
            problems.append(f"column 'max_piles' must be a whole number >= 1 (or blank for "
                            f"the site type's limit); rows {list(map(int, rows[:8]))} have "
                            f"{list(pts['max_piles'].to_numpy()[bad][:8])}")
    rows_n = (pts["user_row"].astype(int).to_numpy() if "user_row" in pts.columns
              else np.arange(1, n + 1))
    if "id" in pts.columns and pts["id"].notna().any():
        given_id = pts["id"].astype(str).str.strip().to_numpy(dtype=object)
        missing = pts["id"].isna().to_numpy() | (given_id == "")
        ids = np.where(missing, [f"chg-user-{r}" for r in rows_n],
                       [f"chg-user-{v}" for v in given_id]).astype(object)
        dup = sorted(set(pd.Series(ids)[pd.Series(ids).duplicated()]))
        if dup:
            problems.append(f"column 'id' repeats {dup[:8]}; give each site its own id")
    else:
        ids = np.array([f"chg-user-{r}" for r in rows_n], dtype=object)
    if problems:
        raise InputError.collect(problems, context=what)
    lim = _limits(settings, site_type)
    has_max = np.isfinite(user_max)
    capped = has_max & (user_max > settings.max_piles_per_station)
    if capped.any():
        logger.warning("%s: %d rows ask for more than chargers.max_piles_per_station = %d "
                       "piles; capped", what, int(capped.sum()),
                       settings.max_piles_per_station)
    lim["max_piles"] = np.where(
        has_max, np.minimum(np.nan_to_num(user_max, nan=1), settings.max_piles_per_station),
        lim["max_piles"]).astype(np.int64)
    existing = site_type == "existing_station"
    cap = np.full(n, np.nan)
    for col in ("existing_piles", "capacity"):
        if col in pts.columns:
            cap = pd.to_numeric(pts[col], errors="coerce").to_numpy(dtype=float)
            break
    ex_piles = np.where(existing, np.where(np.isfinite(cap) & (cap >= 1), cap,
                                           settings.existing_station_piles), 0)
    ex_piles = np.minimum(ex_piles.astype(np.int64), lim["max_piles"])
    nodes, snap = snap_points(region.graph, pts.geometry, what=what)
    name = pts["name"] if "name" in pts.columns else pd.Series(None, index=pts.index)
    out = gpd.GeoDataFrame({
        "id": ids, "site_type": site_type, "name": name.to_numpy(dtype=object),
        "district": _districts_of(pts.geometry, region.districts),
        "land_use": "user layer", **lim, "existing_piles": ex_piles,
        "new_residential": site_type == "residential_community",
        "node": nodes, "snap_m": snap, "synthetic": False},
        geometry=pts.geometry.to_numpy(), crs=region.crs)
    logger.info("%s: %d candidates (%s)", what, len(out),
                pd.Series(site_type).value_counts().to_dict())
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _osm_candidates(region: Region, pois: gpd.GeoDataFrame,
                    settings: ChargerSettings) -> gpd.GeoDataFrame:
    """Candidates from OSM POIs (see the module docstring)."""
    if "site_type" not in pois.columns:
        raise InputError("layer 'pois' has no 'site_type' column; build it with "
                         "siting.region.osm or add the column")
    kind = pois["site_type"].map(OSM_SITE_TYPES)
    unknown = sorted(set(pois.loc[kind.isna(), "site_type"].astype(str)))
    if unknown:
        logger.info("pois: site types %s are not charging candidates; left out", unknown)
    pts = pois.loc[kind.notna()].copy()
    pts["site_type"] = kind[kind.notna()].to_numpy()
    pts = pts.to_crs(region.crs)
    pts["geometry"] = pts.geometry.representative_point()
    osm_id = (pts["osm_id"].astype(str) if "osm_id" in pts.columns
              else pd.Series([f"row{i}" for i in range(len(pts))], index=pts.index))
    ids = "chg-osm-" + osm_id.str.replace("/", "-", regex=False)
    keep = ~ids.duplicated().to_numpy()
    pts, ids = pts.loc[keep], ids[keep]
    site_type = pts["site_type"].to_numpy(dtype=object)
    existing = site_type == "existing_station"
    cap = (pd.to_numeric(pts["capacity"], errors="coerce").to_numpy(dtype=float)
           if "capacity" in pts.columns else np.full(len(pts), np.nan))
    ex_piles = np.where(existing, np.where(np.isfinite(cap) & (cap >= 1), cap,
                                           settings.existing_station_piles), 0)
    lim = _limits(settings, site_type)
    ex_piles = np.minimum(ex_piles.astype(np.int64), lim["max_piles"])
    nodes, snap = snap_points(region.graph, pts.geometry, what="layer 'pois'")
    name = pts["name"] if "name" in pts.columns else pd.Series(None, index=pts.index)
    out = gpd.GeoDataFrame({
        "id": ids.to_numpy(), "site_type": site_type, "name": name.to_numpy(dtype=object),
        "district": _districts_of(pts.geometry, region.districts),
        "land_use": pts["tag"].to_numpy(dtype=object) if "tag" in pts.columns else None,
        **lim, "existing_piles": ex_piles,
        "new_residential": site_type == "residential_community",
        "node": nodes, "snap_m": snap,
        "synthetic": region.is_synthetic("pois")},
        geometry=pts.geometry.to_numpy(), crs=region.crs)
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _node_table(graph: nx.MultiDiGraph) -> pd.DataFrame:
    nodes = list(graph.nodes)
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], dtype=float)
    major: set[Any] = set()
    for u, v, hw in graph.edges(data="highway"):
        values = hw if isinstance(hw, list) else [hw]
        if any(h in _MAJOR for h in values):
            major.update((u, v))
    order = np.lexsort((xy[:, 1], xy[:, 0]))  # by position: independent of node ids
    return pd.DataFrame({"node": np.array(nodes, dtype=object)[order], "x": xy[order, 0],
                         "y": xy[order, 1],
                         "major": [nodes[i] in major for i in order]})


def land_use_candidates(region: Region, settings: ChargerSettings, *,
                        seed: int | None) -> gpd.GeoDataFrame:
    """Demo candidates drawn on road nodes by land use (see the module docstring)."""
    land = region.layer("land_use")
    require_metric(land, what="layer 'land_use'")
    if "land_use" not in land.columns:
        raise InputError("layer 'land_use' has no 'land_use' column (urban_core, commercial, "
                         "residential, industrial, rural)")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed or 0), 0xC4A6]))
    table = _node_table(region.graph)
    weight = _node_weight(region, table)
    pts = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["x"], table["y"]),
                           crs=region.crs)
    rows: list[tuple[Any, str, str]] = []  # (node position, site type, land use)
    taken = np.zeros(len(table), dtype=bool)
    # anchors first: hubs at railway stations, depots at district seats
    for layer, kind in (("rail_stations", "transport_hub"), ("district_centres", "bus_depot")):
        if layer in region.layers and len(region.layers[layer]):
            anchors = region.layers[layer].to_crs(region.crs)
            _, pos = _nearest_free(table, anchors.geometry, taken)
            for p in pos:
                if p >= 0:
                    taken[p] = True
                    rows.append((p, kind, "anchor"))
    land = land.reset_index(drop=True)
    joined = gpd.sjoin(pts, land[["land_use", "geometry"]], predicate="within", how="inner")
    joined = joined[~joined.index.duplicated(keep="first")]
    by_poly = joined.groupby("index_right").groups
    areas_km2 = land.geometry.area.to_numpy() / 1e6
    for k in range(len(land)):
        cls = str(land.at[k, "land_use"])
        density = DEMO_DENSITY_PER_KM2.get(cls)
        if not density or k not in by_poly:
            continue
        pool = np.sort(np.asarray(by_poly[k], dtype=np.int64))
        for kind in sorted(density):
            expected = density[kind] * areas_km2[k]
            count = int(np.floor(expected + rng.random()))
            free = pool[~taken[pool]]
            if kind == "fuel_station":
                major = free[table["major"].to_numpy()[free]]
                free = major if major.size else free
            if count <= 0 or free.size == 0:
                continue
            w = weight[free]
            pick = rng.choice(free, size=min(count, free.size), replace=False, p=w / w.sum())
            taken[pick] = True
            rows.extend((int(p), kind, cls) for p in np.sort(pick))
    if not rows:
        raise InputError("layer 'land_use': no road node lies in a land-use polygon; check "
                         "that the land use and the road graph cover the same area")
    pos = np.array([r[0] for r in rows], dtype=np.int64)
    site_type = np.array([r[1] for r in rows], dtype=object)
    cls_arr = np.array([r[2] for r in rows], dtype=object)
    x, y = table["x"].to_numpy()[pos], table["y"].to_numpy()[pos]
    ids = [f"chg-{_CODE[t]}-{round(a):07d}{round(b):07d}"
           for t, a, b in zip(site_type, x, y, strict=True)]
    geom = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=region.crs)
    lim = _limits(settings, site_type)
    out = gpd.GeoDataFrame({
        "id": ids, "site_type": site_type, "name": None,
        "district": _districts_of(geom, region.districts), "land_use": cls_arr, **lim,
        "existing_piles": np.zeros(pos.size, dtype=np.int64),
        "new_residential": (site_type == "residential_community") & (cls_arr == "residential"),
        "node": table["node"].to_numpy()[pos], "snap_m": np.zeros(pos.size),
        "synthetic": True}, geometry=geom.to_numpy(), crs=region.crs)
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _node_weight(region: Region, table: pd.DataFrame) -> np.ndarray:
    """Draw weight per node: 1 + persons in its population-raster cell (1 without one)."""
    raster = region.rasters.get("population")
    if raster is None:
        return np.ones(len(table))
    import rasterio
    from pyproj import Transformer

    with rasterio.open(raster.path) as src:
        x, y = table["x"].to_numpy(), table["y"].to_numpy()
        if src.crs is not None and src.crs.to_string() != str(region.crs):
            x, y = Transformer.from_crs(region.crs, src.crs, always_xy=True).transform(x, y)
        band = np.ma.filled(src.read(1, masked=True).astype(float), 0.0)
        t = src.transform
        col = np.floor((np.asarray(x) - t.c) / t.a).astype(np.int64)
        row = np.floor((np.asarray(y) - t.f) / t.e).astype(np.int64)
    inside = (row >= 0) & (row < band.shape[0]) & (col >= 0) & (col < band.shape[1])
    values = np.zeros(len(table))
    values[inside] = band[row[inside], col[inside]]
    return 1.0 + np.clip(np.nan_to_num(values, nan=0.0), 0.0, None)


def _nearest_free(table: pd.DataFrame, points: gpd.GeoSeries, taken: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest not-yet-taken node position per point (-1 if none), and distances."""
    from scipy.spatial import cKDTree

    free = np.flatnonzero(~taken)
    if free.size == 0:
        return np.full(len(points), np.inf), np.full(len(points), -1)
    xy = np.column_stack([table["x"].to_numpy()[free], table["y"].to_numpy()[free]])
    dist, idx = cKDTree(xy).query(np.column_stack([points.x, points.y]), k=1)
    pos = free[idx]
    # two anchors on one node: keep the first
    _, first = np.unique(pos, return_index=True)
    out = np.full(pos.size, -1)
    out[first] = pos[first]
    return dist, out


def screen_mask(points: np.ndarray, region: Region, *,
                review: ReviewSettings | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Which ``points`` (shapely, in the region's CRS) break a station review rule
    (:func:`siting.chargers.layers.review_rules` with ``review``'s buffers), and how many
    each constraint layer caught."""
    from siting.chargers.layers import review_rules

    bad = np.zeros(len(points), dtype=bool)
    caught: dict[str, int] = {}
    for rule in review_rules(review or ReviewSettings()):
        if rule.severity != "violation":
            continue
        layer = region.layers.get(rule.constraint)
        if layer is None or not len(layer):
            continue
        geom = shapely.union_all(shapely.make_valid(layer.to_crs(region.crs).geometry.to_numpy()))
        if rule.buffer_m > 0:
            geom = shapely.buffer(geom, rule.buffer_m)
        shapely.prepare(geom)
        hit = shapely.intersects(geom, points)
        caught[rule.constraint] = int((hit & ~bad).sum())
        bad |= hit
    return bad, caught


def _screen(sites: gpd.GeoDataFrame, region: Region, *, review: ReviewSettings | None
            ) -> gpd.GeoDataFrame:
    """Drop new candidates that break a station review rule; existing stations stay."""
    bad, caught = screen_mask(sites.geometry.to_numpy(), region, review=review)
    bad &= sites["existing_piles"].to_numpy() == 0
    user = bad & sites["id"].astype(str).str.startswith("chg-user-").to_numpy()
    if user.any():
        logger.warning("charging candidates: %d of your candidate sites (--layer pois) break "
                       "a station review rule (red line with its buffer, farmland or water) "
                       "and are left out: %s", int(user.sum()),
                       ", ".join(sites.loc[user, "id"].astype(str).head(10)))
    if bad.any():
        logger.info("charging candidates: %d left out by the review rules (%s)",
                    int(bad.sum()), ", ".join(f"{k}: {v}" for k, v in caught.items() if v))
    return sites.loc[~bad, [*CANDIDATE_COLUMNS, "geometry"]].reset_index(drop=True)


def reach_candidates(region: Region, sites: gpd.GeoDataFrame, demand_nodes: Sequence[Any],
                     demand_weight: ArrayLike, settings: ChargerSettings, *,
                     review: ReviewSettings | None = None) -> gpd.GeoDataFrame:
    """``township_centre`` candidates so every demand node has a site within reach.

    ``demand_nodes``: road nodes of the demand points (``region.graph``'s ids),
    ``demand_weight``: their sessions/day. A demand node is *covered* when some site
    (``sites["node"]``) lies within ``settings.service_radius_m`` of it on the road
    network (from the demand to the site, as the plan measures access). While some node
    is uncovered, the busiest one gets a new candidate at the nearest road node it
    reaches that passes the station review rules (:func:`screen_mask`), which covers
    every node within the radius of it. Nodes whose whole reach is screened out stay
    uncovered (logged). Returns only the new candidates (columns of
    :data:`CANDIDATE_COLUMNS`), ids ``chg-tc-<x><y>`` from their metre coordinates.
    """
    from scipy.sparse.csgraph import dijkstra

    from siting.network import graph_arrays

    radius = float(settings.service_radius_m)
    adj, nodes = graph_arrays(region.graph)
    index = {n: k for k, n in enumerate(nodes)}
    rev = adj.T.tocsr()
    demand_pos = np.array([index[n] for n in demand_nodes], dtype=np.int64)
    weight = np.asarray(demand_weight, dtype=np.float64)
    site_pos = np.unique([index[n] for n in sites["node"] if n in index]).astype(np.int64)
    near = np.full(len(nodes), np.inf)
    if site_pos.size:  # distance from each node to its nearest site
        near = dijkstra(rev, directed=True, indices=site_pos, limit=radius, min_only=True)
    uncovered = ~np.isfinite(near[demand_pos])
    if not uncovered.any():
        return sites.iloc[:0][[*CANDIDATE_COLUMNS, "geometry"]]
    xy = np.array([(region.graph.nodes[n]["x"], region.graph.nodes[n]["y"]) for n in nodes])
    bad, _ = screen_mask(shapely.points(xy), region, review=review)
    taken = np.zeros(len(nodes), dtype=bool)
    taken[site_pos] = True
    order = np.lexsort((demand_pos, -weight))  # busiest first; ties by node position
    picked: list[int] = []
    stuck = 0
    for j in order:
        if not uncovered[j]:
            continue
        dist = dijkstra(adj, directed=True, indices=int(demand_pos[j]), limit=radius)
        ok = np.flatnonzero(np.isfinite(dist) & ~bad & ~taken)
        if ok.size == 0:
            uncovered[j] = False
            stuck += 1
            continue
        site = int(ok[np.argmin(dist[ok])])
        taken[site] = True
        picked.append(site)
        reach = dijkstra(rev, directed=True, indices=site, limit=radius)
        uncovered &= ~np.isfinite(reach[demand_pos])
    if stuck:
        logger.warning("charging candidates: %d demand points reach no road node outside "
                       "the review constraints within %.0f m; their sessions stay "
                       "unreachable", stuck, radius)
    if not picked:
        return sites.iloc[:0][[*CANDIDATE_COLUMNS, "geometry"]]
    pos = np.array(picked, dtype=np.int64)
    site_type = np.full(pos.size, "township_centre", dtype=object)
    geom = gpd.GeoSeries(gpd.points_from_xy(xy[pos, 0], xy[pos, 1]), crs=region.crs)
    lim = _limits(settings, site_type)
    out = gpd.GeoDataFrame({
        "id": [f"chg-tc-{round(a):07d}{round(b):07d}" for a, b in xy[pos]],
        "site_type": site_type, "name": "township service centre (generated for reach)",
        "district": _districts_of(geom, region.districts), "land_use": "reach", **lim,
        "existing_piles": np.zeros(pos.size, dtype=np.int64),
        "new_residential": np.zeros(pos.size, dtype=bool),
        "node": nodes[pos], "snap_m": np.zeros(pos.size), "synthetic": True},
        geometry=geom.to_numpy(), crs=region.crs)
    logger.info("charging candidates: %d township service centres added so every demand "
                "point has a candidate within %.0f m", len(out), radius)
    return out.sort_values("id", kind="stable").reset_index(drop=True)
