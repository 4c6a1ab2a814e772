"""A seeded synthetic drive network with a realistic road hierarchy (osmnx-style graph).

Everything here is **synthetic**. The network is drawn from a
:class:`~siting.region.synthetic.Landscape` so that it follows the same population
density as the demand layers:

1. **Fabric.** Each district gets its own street-grid frame (origin at the seat, a
   seeded rotation). The district is tiled with 2 km patches and each patch gets a
   lattice spacing from the densest point in it: 125 m in dense cores, then 250,
   500, 1,000 and 2,000 m down to the mountains (``"coarse"`` detail uses 500 m
   and up). Lattice points are jittered (little in town, a lot in the country),
   some rural ones dropped, and those in lakes or outside the district removed.
2. **Planar graph.** A Delaunay triangulation of all points is thinned to its
   Urquhart graph (each triangle loses its longest side: grids keep their sides
   and lose their diagonals; scattered rural points keep a tree-like mesh), and a
   share of the dropped rural edges is put back as loops. Edges that leave the
   region or cross a lake are removed; rivers are crossed only on arterial lines
   and rural roads (bridges).
3. **Hierarchy.** Lattice lines every 2 km, 1 km and 500 m in town become primary,
   secondary and tertiary streets, the rest residential; rural roads are
   unclassified, with tertiary county roads every 4 km. Trunk roads join
   neighbouring district seats, primary roads join towns and railway stations to
   their seat and secondary roads join neighbouring towns and the given
   facilities, each routed along the fabric by shortest paths that prefer higher
   classes and avoid hills.
4. **Expressways** (``motorway``) join neighbouring seats on their own nodes
   (grade-separated), bypassing each seat at a hub on the urban edge, with
   interchanges (``motorway_link``) every 10-14 km.

Speeds (km/h; urban where the expected density is at least 1,500 persons/km²):
see :data:`SPEEDS_KPH`; outside expressways they fall by up to 35 % in hills. All
roads are two-way; the largest connected component is kept, so the directed graph
is strongly connected.
"""

from __future__ import annotations

import itertools
import logging
import math
from types import MappingProxyType
from typing import Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from numpy.typing import NDArray
from pyproj import Transformer
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree
from tqdm.auto import tqdm

from siting.errors import InputError
from siting.region.synthetic import GENERATOR, Landscape

logger = logging.getLogger(__name__)

__all__ = ["SPEEDS_KPH", "road_network"]

Detail = Literal["full", "coarse"]

SPEEDS_KPH = MappingProxyType({
    # highway: (rural, urban) km/h; Chinese design speeds for highways/urban roads
    "motorway": (110.0, 100.0),
    "motorway_link": (50.0, 40.0),
    "trunk": (80.0, 60.0),
    "primary": (70.0, 50.0),
    "secondary": (60.0, 40.0),
    "tertiary": (50.0, 35.0),
    "unclassified": (40.0, 30.0),
    "residential": (30.0, 25.0),
})
"""Free-flow speed by class, ``(rural, urban)`` in km/h."""

_CLASSES = ("residential", "unclassified", "tertiary", "secondary", "primary", "trunk")
_ROUTE_COST = np.array([1.0, 1.0, 0.8, 0.7, 0.6, 0.5])  # per _CLASSES, for routing

PATCH_M = 2000.0
BASE_M = 125.0
_TIERS = {
    # detail: ((min density persons/km², spacing m), ...) densest first
    "full": ((7000.0, 125.0), (2500.0, 250.0), (700.0, 500.0), (120.0, 1000.0),
             (0.0, 2000.0)),
    "coarse": ((2500.0, 500.0), (400.0, 1000.0), (0.0, 2000.0)),
}
_JITTER = {125.0: 0.04, 250.0: 0.05, 500.0: 0.10, 1000.0: 0.22, 2000.0: 0.28}
_URBAN_DENSITY = 1500.0
_RESIDENTIAL_DROP = 0.15
Int = NDArray[np.int64]
Float = NDArray[np.float64]


def _rotate(u: Float, v: Float, theta: float) -> tuple[Float, Float]:
    c, s = math.cos(theta), math.sin(theta)
    return u * c - v * s, u * s + v * c


def _fabric_points(land: Landscape, detail: Detail, barrier: shapely.Geometry | None,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Jittered lattice points of every district with their frame and lattice indices."""
    tiers = _TIERS[detail]
    frames = []
    seats = land.centres[land.centres["kind"] == "seat"].sort_values("district")
    thetas = rng.uniform(-0.45, 0.45, len(land.districts))
    sub = (np.arange(5) + 0.5) / 5 * PATCH_M
    su, sv = (a.ravel() for a in np.meshgrid(sub, sub))
    for d, geom in enumerate(land.districts.geometry):
        ox = round(float(seats["x"].iat[d]) / BASE_M) * BASE_M
        oy = round(float(seats["y"].iat[d]) / BASE_M) * BASE_M
        theta = float(thetas[d])
        bx = np.array(geom.bounds)[[0, 2, 2, 0]] - ox
        by = np.array(geom.bounds)[[1, 1, 3, 3]] - oy
        bu, bv = _rotate(bx, by, -theta)
        iu = np.arange(math.floor(bu.min() / PATCH_M), math.ceil(bu.max() / PATCH_M))
        iv = np.arange(math.floor(bv.min() / PATCH_M), math.ceil(bv.max() / PATCH_M))
        pu, pv = (a.ravel() * PATCH_M for a in np.meshgrid(iu, iv))
        # densest of 25 sample points per patch decides the patch's spacing
        qu = (pu[:, None] + su[None, :]).ravel()
        qv = (pv[:, None] + sv[None, :]).ravel()
        qx, qy = _rotate(qu, qv, theta)
        qx, qy = qx + ox, qy + oy
        near = shapely.contains_xy(geom.buffer(PATCH_M / 2), qx, qy)
        dens = np.zeros(qx.size)
        if near.any():
            urban, rural = land.density_per_km2(qx[near], qy[near])
            dens[near] = urban + rural
        has = near.reshape(pu.size, -1).any(axis=1)
        peak = dens.reshape(pu.size, -1).max(axis=1)
        spacing = np.full(pu.size, tiers[-1][1])
        for threshold, s in reversed(tiers):
            spacing[peak >= threshold] = s
        for s in sorted(set(spacing[has].tolist())):
            sel = has & (spacing == s)
            k = int(PATCH_M // s)
            off = np.arange(k) * s
            ou, ov = (a.ravel() for a in np.meshgrid(off, off))
            lu = (pu[sel][:, None] + ou[None, :]).ravel()
            lv = (pv[sel][:, None] + ov[None, :]).ravel()
            frames.append(pd.DataFrame({
                "district": d, "spacing": s, "iu": np.rint(lu / BASE_M).astype(np.int64),
                "iv": np.rint(lv / BASE_M).astype(np.int64), "lu": lu, "lv": lv,
                "theta": theta, "ox": ox, "oy": oy}))
    pts = pd.concat(frames, ignore_index=True)
    pts = pts.sort_values(["district", "iu", "iv"], kind="stable").reset_index(drop=True)
    jit = pts["spacing"].map(_JITTER).to_numpy() * pts["spacing"].to_numpy()
    ju = pts["lu"].to_numpy() + rng.normal(0.0, 1.0, len(pts)) * jit
    jv = pts["lv"].to_numpy() + rng.normal(0.0, 1.0, len(pts)) * jit
    c, s = np.cos(pts["theta"].to_numpy()), np.sin(pts["theta"].to_numpy())
    x = ju * c - jv * s + pts["ox"].to_numpy()
    y = ju * s + jv * c + pts["oy"].to_numpy()
    pts["x"], pts["y"] = x, y
    drop = rng.random(len(pts)) < np.where(pts["spacing"] >= 1000.0, 0.12, 0.0)
    inside = land.district_index(x, y) == pts["district"].to_numpy()
    keep = inside & ~drop
    if barrier is not None and not barrier.is_empty:
        shapely.prepare(barrier)
        keep &= ~shapely.contains_xy(barrier, x, y)
    return pts.loc[keep, ["district", "spacing", "iu", "iv", "x", "y"]].reset_index(drop=True)


def _planar_edges(pts: pd.DataFrame, rng: np.random.Generator) -> Int:
    """Urquhart graph of the points plus some rural loops, as sorted ``(a, b)`` pairs."""
    xy = pts[["x", "y"]].to_numpy()
    tri = Delaunay(xy - xy.mean(axis=0)).simplices  # centred for qhull's precision
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    e.sort(axis=1)
    length = np.hypot(*(xy[e[:, 0]] - xy[e[:, 1]]).T)
    t = len(tri)
    longest = np.argmax(length.reshape(3, t), axis=0) * t + np.arange(t)
    # Gabriel test for the longest sides: the opposite angle must be acute
    opp = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])[longest]
    va = xy[e[longest, 0]] - xy[opp]
    vb = xy[e[longest, 1]] - xy[opp]
    acute = np.einsum("ij,ij->i", va, vb) > 0
    codes = e[:, 0] * len(xy) + e[:, 1]
    dropped_codes = np.unique(codes[longest])
    spacing = pts["spacing"].to_numpy()
    rural = (spacing[e[longest, 0]] >= 1000.0) & (spacing[e[longest, 1]] >= 1000.0)
    # an edge dropped from one triangle but Gabriel in both may come back as a loop
    back = longest[rural & acute]
    back_codes = np.unique(codes[back])
    not_acute = np.unique(codes[longest[~acute]])
    back_codes = np.setdiff1d(back_codes, not_acute)
    back_codes = back_codes[rng.random(back_codes.size) < 0.3]
    all_codes = np.unique(codes)
    keep = np.setdiff1d(all_codes, np.setdiff1d(dropped_codes, back_codes))
    pairs = np.column_stack([keep // len(xy), keep % len(xy)])
    span = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    limit = 2.6 * np.maximum(spacing[pairs[:, 0]], spacing[pairs[:, 1]])
    return pairs[span <= limit]


def _lattice_class(pts: pd.DataFrame, pairs: Int) -> NDArray[np.int64]:
    """Class index (into _CLASSES) of each fabric edge from its lattice line."""
    a, b = pairs[:, 0], pairs[:, 1]
    same = pts["district"].to_numpy()[a] == pts["district"].to_numpy()[b]
    iu, iv = pts["iu"].to_numpy(), pts["iv"].to_numpy()
    along_v, along_u = iu[a] == iu[b], iv[a] == iv[b]
    line = np.where(along_v, iu[a], iv[a])
    on_line = same & (along_v ^ along_u)
    spacing = pts["spacing"].to_numpy()
    urban = (spacing[a] <= 500.0) & (spacing[b] <= 500.0)
    cls = np.where(urban, 0, 1)
    ln = np.abs(line)
    cls = np.where(on_line & urban & (ln % 4 == 0), 2, cls)
    cls = np.where(on_line & urban & (ln % 8 == 0), 3, cls)
    cls = np.where(on_line & urban & (ln % 16 == 0), 4, cls)
    cls = np.where(on_line & ~urban & (ln % 32 == 0), 2, cls)
    return cls.astype(np.int64)


def _segments(geom: shapely.Geometry) -> NDArray[np.object_]:
    """The boundary of ``geom`` as an array of two-point LineStrings."""
    rings = shapely.get_parts(shapely.get_rings(shapely.get_parts(geom)))
    out = []
    for ring in rings:
        c = shapely.get_coordinates(ring)
        out.append(shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)))
    return np.concatenate(out) if out else np.zeros(0, dtype=object)


def _filter_barriers(xy: Float, pairs: Int, cls: Int, region: shapely.Geometry,
                     lakes: shapely.Geometry | None, rivers: shapely.Geometry | None,
                     pts: pd.DataFrame) -> NDArray[np.bool_]:
    """Edges that stay in the region, miss lakes and cross rivers only as bridges.

    Both ends of every edge lie inside the region, so an edge leaves it exactly when
    it crosses the region's boundary; an STR-tree over the edges finds those.
    """
    lines = shapely.linestrings(np.stack([xy[pairs[:, 0]], xy[pairs[:, 1]]], axis=1))
    tree = shapely.STRtree(lines)
    keep = np.ones(len(pairs), dtype=bool)
    keep[tree.query(_segments(region), predicate="intersects")[1]] = False
    if lakes is not None and not lakes.is_empty:
        keep[tree.query(shapely.get_parts(lakes), predicate="intersects")[1]] = False
    if rivers is not None and not rivers.is_empty:
        spacing = pts["spacing"].to_numpy()
        bridge = (cls >= 3) | ((spacing[pairs[:, 0]] >= 1000.0) & (spacing[pairs[:, 1]] >= 1000.0))
        wet = np.zeros(len(pairs), dtype=bool)
        wet[tree.query(shapely.get_parts(rivers), predicate="intersects")[1]] = True
        keep &= bridge | ~wet
    return keep


def _region_polygon(land: Landscape) -> shapely.Geometry:
    """The union of the districts with slivers between them (holes < 1 km²) closed."""
    parts = []
    for poly in shapely.get_parts(shapely.union_all(land.districts.geometry.to_numpy())):
        holes = [r for r in poly.interiors if shapely.Polygon(r).area >= 1e6]
        parts.append(shapely.Polygon(poly.exterior, holes))
    return shapely.union_all(parts)


def _gabriel_pairs(xy: Float) -> list[tuple[int, int]]:
    """Gabriel graph of a few points (the seats), by brute force."""
    n = len(xy)
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            mid = (xy[i] + xy[j]) / 2
            r2 = np.sum((xy[i] - xy[j]) ** 2) / 4
            others = np.delete(np.arange(n), [i, j])
            if not np.any(np.sum((xy[others] - mid) ** 2, axis=1) < r2):
                out.append((i, j))
    return out


def _route_upgrades(xy: Float, pairs: Int, cls: Int, rugged: Float, targets: dict[str, list],
                    progress: bool) -> Int:
    """Upgrade edges on shortest paths between named places; returns new classes."""
    n = len(xy)
    length = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    cost = length * _ROUTE_COST[cls] * (1.0 + 1.5 * rugged)
    m = sparse.coo_matrix((np.r_[cost, cost], (np.r_[pairs[:, 0], pairs[:, 1]],
                                                np.r_[pairs[:, 1], pairs[:, 0]])),
                          shape=(n, n)).tocsr()
    codes = pairs[:, 0] * n + pairs[:, 1]
    order = np.argsort(codes)
    new = cls.copy()
    jobs = [(src, dst, _CLASSES.index(c)) for c, routes in targets.items()
            for src, dst in routes]
    by_source: dict[int, list[tuple[int, int]]] = {}
    for src, dst, c in jobs:
        by_source.setdefault(int(src), []).append((int(dst), c))
    steps_a: list[int] = []
    steps_b: list[int] = []
    steps_c: list[int] = []
    for src in tqdm(sorted(by_source), desc="routing arterials", disable=not progress,
                    leave=False):
        _, pred = csgraph.dijkstra(m, indices=src, return_predecessors=True)
        for dst, c in by_source[src]:
            node = dst
            if pred[node] < 0:
                continue
            while node != src:
                prev = int(pred[node])
                steps_a.append(prev)
                steps_b.append(node)
                steps_c.append(c)
                node = prev
    if steps_a:
        a, b = np.array(steps_a), np.array(steps_b)
        step_codes = np.minimum(a, b) * n + np.maximum(a, b)
        k = order[np.searchsorted(codes, step_codes, sorter=order)]
        np.maximum.at(new, k, np.array(steps_c))
    return new


def _hub(land: Landscape, seat: pd.Series, region: shapely.Geometry,
         barrier: shapely.Geometry | None, rng: np.random.Generator) -> tuple[float, float]:
    """A bypass hub on the urban edge of a seat: the least dense of 16 directions."""
    r = 1.3 * float(seat["sigma_m"]) + 2000.0
    ang = rng.uniform(0, 2 * math.pi) + np.arange(16) * (2 * math.pi / 16)
    hx, hy = seat["x"] + r * np.cos(ang), seat["y"] + r * np.sin(ang)
    ok = shapely.contains_xy(region, hx, hy)
    if barrier is not None and not barrier.is_empty:
        ok &= ~shapely.contains_xy(barrier, hx, hy)
    if not ok.any():
        return float(seat["x"]), float(seat["y"])
    urban, _ = land.density_per_km2(hx, hy)
    urban = np.where(ok, urban, np.inf)
    i = int(np.argmin(urban))
    return float(hx[i]), float(hy[i])


def _cost_surface(land: Landscape, region: shapely.Geometry, barrier: shapely.Geometry | None,
                  cell_m: float) -> tuple[sparse.csr_matrix, Float, Float]:
    """An 8-neighbour grid graph whose edge costs steer expressways round towns and hills."""
    xmin, ymin, xmax, ymax = region.bounds
    gx = np.arange(xmin - cell_m, xmax + 2 * cell_m, cell_m)
    gy = np.arange(ymin - cell_m, ymax + 2 * cell_m, cell_m)
    X, Y = np.meshgrid(gx, gy)
    x, y = X.ravel(), Y.ravel()
    urban, _ = land.density_per_km2(x, y)
    inside = shapely.contains_xy(region, x, y)
    if barrier is not None and not barrier.is_empty:
        inside &= ~shapely.contains_xy(barrier, x, y)
    cost = 1.0 + 4.0 * np.minimum(1.0, urban / 3000.0) + 2.0 * land.ruggedness(x, y)
    cost = np.where(inside, cost, 60.0)
    h, w = X.shape
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = idx[max(0, -dr):h - max(0, dr), max(0, -dc):w - max(0, dc)]
        b = idx[max(0, dr):h - max(0, -dr) or h, max(0, dc):w - max(0, -dc) or w]
        step = math.hypot(dr, dc) * cell_m
        c = step * (cost[a.ravel()] + cost[b.ravel()]) / 2
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
        vals += [c, c]
    graph = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                      np.concatenate(cols))), shape=(h * w,) * 2)
    return graph, x, y


def _chaikin(coords: Float, rounds: int = 3) -> Float:
    for _ in range(rounds):
        p, q = coords[:-1], coords[1:]
        mid = np.empty((2 * len(p), 2))
        mid[0::2] = 0.75 * p + 0.25 * q
        mid[1::2] = 0.25 * p + 0.75 * q
        coords = np.vstack([coords[:1], mid, coords[-1:]])
    return coords


def _motorways(land: Landscape, region: shapely.Geometry, barrier: shapely.Geometry | None,
               rng: np.random.Generator) -> list[tuple[str, shapely.LineString, list[float]]]:
    """Expressways between neighbouring seat hubs, routed round towns and hills on a
    1 km cost grid and smoothed, with interchange positions along each."""
    seats = land.centres[land.centres["kind"] == "seat"].sort_values("district")
    hubs = np.array([_hub(land, seats.iloc[i], region, barrier, rng) for i in range(len(seats))])
    names = land.districts["name"].tolist()
    grid, gx, gy = _cost_surface(land, region, barrier, cell_m=1000.0)
    tree = cKDTree(np.column_stack([gx, gy]))
    hub_cell = tree.query(hubs)[1]
    out = []
    for i, j in _gabriel_pairs(hubs):
        if float(np.hypot(*(hubs[j] - hubs[i]))) > 60000.0:
            continue
        _, pred = csgraph.dijkstra(grid, indices=int(hub_cell[i]), return_predecessors=True)
        node, path = int(hub_cell[j]), []
        while node >= 0 and node != hub_cell[i]:
            path.append(node)
            node = int(pred[node])
        if node < 0:
            continue
        path.append(int(hub_cell[i]))
        pts = np.column_stack([gx[path[::-1]], gy[path[::-1]]])
        pts[0], pts[-1] = hubs[i], hubs[j]
        rough = shapely.simplify(shapely.LineString(pts), 1500.0)
        line = shapely.LineString(_chaikin(shapely.get_coordinates(rough)))
        stops, pos = [], rng.uniform(6000.0, 10000.0)
        while pos < line.length - 4000.0:
            stops.append(pos)
            pos += rng.uniform(10000.0, 14000.0)
        out.append((f"{names[i]}-{names[j]} expressway (synthetic)", line, stops))
    return out


def road_network(land: Landscape, *, detail: Detail = "full",
                 water: gpd.GeoDataFrame | None = None,
                 facilities: gpd.GeoDataFrame | None = None,
                 progress: bool = False) -> nx.MultiDiGraph:
    """The synthetic drive network of ``land`` as an osmnx-style ``MultiDiGraph``.

    Args:
        land: the landscape (its districts, centres and densities).
        detail: ``"full"`` (tens of thousands of nodes for a city region) or
            ``"coarse"`` (a few thousand, for tests).
        water: water bodies with a ``kind`` column; ``river`` polygons are crossed
            only by bridges, every other kind (lakes, reservoirs) not at all.
        facilities: points (stations, plants) to join to the network: rows with
            ``road_class`` ``"primary"`` or ``"secondary"`` get a route of that class
            to their district seat.
        progress: show progress bars.

    Returns:
        A strongly connected graph in ``land.crs``: node attributes ``x``, ``y``,
        ``lon``, ``lat``, ``street_count``; edge attributes ``highway``, ``length``
        (m), ``speed_kph``, ``travel_time`` (s), ``oneway``, ``synthetic`` and, for
        expressways,
        ``geometry`` and ``name``. ``graph.graph`` holds ``crs``, ``synthetic=True``,
        ``seed`` and ``detail``.
    """
    if detail not in _TIERS:
        raise InputError(f"road_detail={detail!r} is unknown; use 'full' or 'coarse'")
    seq = np.random.SeedSequence([land.seed, 7])
    rng_fab, rng_edges, rng_mw = (np.random.default_rng(s) for s in seq.spawn(3))
    lakes = rivers = None
    if water is not None and len(water):
        w = water.to_crs(land.crs)
        is_river = w["kind"].astype(str).eq("river").to_numpy()
        lakes = shapely.union_all(w.geometry[~is_river].to_numpy()) if (~is_river).any() else None
        rivers = shapely.union_all(w.geometry[is_river].to_numpy()) if is_river.any() else None
    bar = tqdm(total=5, desc="synthetic roads", disable=not progress, leave=False)
    barrier = None
    parts = [g for g in (lakes, rivers) if g is not None]
    if parts:
        barrier = shapely.union_all(parts)
    pts = _fabric_points(land, detail, barrier, rng_fab)
    bar.update()
    pairs = _planar_edges(pts, rng_edges)
    xy = pts[["x", "y"]].to_numpy()
    cls = _lattice_class(pts, pairs)
    region = _region_polygon(land)
    keep = _filter_barriers(xy, pairs, cls, region, lakes, rivers, pts)
    # merge some urban blocks: T-junctions and superblocks instead of a perfect grid
    keep &= ~((cls == 0) & (rng_edges.random(len(pairs)) < _RESIDENTIAL_DROP))
    pairs, cls = pairs[keep], cls[keep]
    bar.update()
    # largest connected component of the fabric
    n = len(xy)
    adj = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = csgraph.connected_components(adj, directed=False)
    main = np.argmax(np.bincount(label))
    alive = label == main
    remap = np.cumsum(alive) - 1
    e_ok = alive[pairs[:, 0]]
    pairs, cls = remap[pairs[e_ok]], cls[e_ok]
    dropped = int((~alive).sum())
    xy = xy[alive]
    pts = pts.loc[alive].reset_index(drop=True)
    mid = (xy[pairs[:, 0]] + xy[pairs[:, 1]]) / 2
    rugged = land.ruggedness(mid[:, 0], mid[:, 1])
    # arterial routes between seats, towns, stations and facilities
    tree = cKDTree(xy)
    cen = land.centres
    node_of = tree.query(cen[["x", "y"]].to_numpy())[1]
    seats = cen.index[cen["kind"] == "seat"].to_numpy()
    seat_node = node_of[seats]
    seat_xy = cen.loc[seats, ["x", "y"]].to_numpy()
    targets: dict[str, list] = {"trunk": [], "primary": [], "secondary": []}
    for i, j in _gabriel_pairs(seat_xy):
        targets["trunk"].append((seat_node[i], seat_node[j]))
    towns = cen.index[cen["kind"] == "town"].to_numpy()
    for t in towns:
        d = int(cen.at[t, "district"])
        targets["primary"].append((seat_node[d], node_of[t]))
    town_xy = cen.loc[towns, ["x", "y"]].to_numpy()
    if len(towns) >= 3:
        for i, j in _gabriel_pairs(town_xy) if len(towns) <= 400 else []:
            if np.hypot(*(town_xy[i] - town_xy[j])) < 20000.0:
                targets["secondary"].append((node_of[towns[i]], node_of[towns[j]]))
    if facilities is not None and len(facilities):
        f = facilities.to_crs(land.crs)
        fxy = np.column_stack([f.geometry.x, f.geometry.y])
        fd = land.district_index(fxy[:, 0], fxy[:, 1])
        fnode = tree.query(fxy)[1]
        for k in range(len(f)):
            c = str(f["road_class"].iat[k])
            if c in ("primary", "secondary") and fd[k] >= 0:
                targets[c].append((seat_node[fd[k]], fnode[k]))
    bar.update()
    cls = _route_upgrades(xy, pairs, cls, rugged, targets, progress)
    bar.update()
    graph = _assemble(land, xy, pairs, cls, rugged, region, barrier, rng_mw, detail)
    bar.update()
    bar.close()
    logger.info("synthetic roads (%s): %d nodes, %d edges (%d fabric points outside the "
                "main component dropped)", detail, graph.number_of_nodes(),
                graph.number_of_edges(), dropped)
    return graph


def _assemble(land: Landscape, xy: Float, pairs: Int, cls: Int, rugged: Float,
              region: shapely.Geometry, barrier: shapely.Geometry | None,
              rng: np.random.Generator, detail: Detail) -> nx.MultiDiGraph:
    n = len(xy)
    highway = np.array(_CLASSES, dtype=object)[cls]
    length = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    mid = (xy[pairs[:, 0]] + xy[pairs[:, 1]]) / 2
    urban_d, _ = land.density_per_km2(mid[:, 0], mid[:, 1])
    rows: list[tuple[int, int, float, str, float, shapely.LineString | None, str | None]] = []
    rows.extend((int(a), int(b), float(le), str(h), float(r), None, None)
                for (a, b), le, h, r in zip(pairs, length, highway,
                                            np.where(urban_d >= _URBAN_DENSITY, -1.0, rugged),
                                            strict=True))
    # expressways on their own nodes, linked at interchanges
    nodes_xy = [xy]
    next_id = n
    arterial = np.zeros(n, dtype=bool)
    arterial[pairs[cls >= 3].ravel()] = True
    art_idx = np.flatnonzero(arterial)
    art_tree = cKDTree(xy[art_idx]) if art_idx.size else cKDTree(xy)
    hub_ids: dict[tuple[float, float], int] = {}

    def node_at(p: tuple[float, float]) -> int:
        nonlocal next_id
        key = (round(p[0], 3), round(p[1], 3))
        if key not in hub_ids:
            hub_ids[key] = next_id
            nodes_xy.append(np.array([p]))
            next_id += 1
            dist, k = art_tree.query(p)
            target = int(art_idx[k]) if art_idx.size else int(k)
            rows.append((hub_ids[key], target, float(max(dist * 1.2, 50.0)), "motorway_link",
                         0.0, None, None))
        return hub_ids[key]

    for name, line, stops in _motorways(land, region, barrier, rng):
        cuts = [0.0, *stops, line.length]
        for s0, s1 in itertools.pairwise(cuts):
            seg = shapely.ops.substring(line, s0, s1)
            u = node_at(tuple(seg.coords[0]))
            v = node_at(tuple(seg.coords[-1]))
            rows.append((u, v, float(seg.length), "motorway", 0.0, seg, name))
    all_xy = np.vstack(nodes_xy)
    lon, lat = Transformer.from_crs(land.crs, "EPSG:4326", always_xy=True).transform(
        all_xy[:, 0], all_xy[:, 1])
    graph = nx.MultiDiGraph(crs=land.crs, synthetic=True, seed=land.seed, detail=detail,
                            generator=GENERATOR, simplified=False)
    ends = np.array([(r[0], r[1]) for r in rows], dtype=np.int64)
    streets = np.bincount(ends.ravel(), minlength=len(all_xy))  # osmnx "street_count"
    graph.add_nodes_from((i, {"x": float(all_xy[i, 0]), "y": float(all_xy[i, 1]),
                              "lon": float(lon[i]), "lat": float(lat[i]),
                              "street_count": int(streets[i])})
                         for i in range(len(all_xy)))
    edges = []
    for u, v, le, h, r, geom, road_name in rows:
        rural_kph, urban_kph = SPEEDS_KPH[h]
        if r < 0:
            kph = urban_kph
        elif h.startswith("motorway"):
            kph = rural_kph
        else:
            kph = rural_kph * (1.0 - 0.35 * r)
        kph = round(kph, 1)
        attrs = {"highway": h, "length": round(le, 3), "speed_kph": kph,
                 "travel_time": round(le / (kph / 3.6), 3), "oneway": False, "synthetic": True}
        if road_name:
            attrs["name"] = road_name
        fwd = dict(attrs)
        if geom is not None:
            fwd["geometry"] = geom
        edges.append((u, v, fwd))
        back = dict(attrs)
        if geom is not None:
            back["geometry"] = geom.reverse()
        edges.append((v, u, back))
    graph.add_edges_from(edges)
    return graph
