"""Snapping and sparse shortest-path costs on a projected road graph.

The graph is an osmnx-style ``MultiDiGraph`` in a metric CRS (``graph.graph["crs"]``)
with node attributes ``x``, ``y`` and edge attributes ``length`` (m) and
``travel_time`` (s).

:func:`network_costs` runs :func:`scipy.sparse.csgraph.dijkstra` with a distance
limit over chunks of sources, keeps only the target columns within the cutoff and
returns them as ``(source, target, metres, minutes)`` arrays. Memory is bounded by
the chunk budget (``max_chunk_mb``), never by ``sources × nodes`` or
``sources × targets``.

Which path, and its two costs: ``weight`` picks what the path minimises. With
``weight="length"`` (the default) ``metres`` is the shortest network distance and
``minutes`` the travel time *along that same path*; with ``weight="travel_time"``
``minutes`` is the fastest time and ``metres`` the length of that fastest path. So a
pair's two numbers always describe one real route. The cutoff ``cutoff_m`` always
bounds ``metres`` of the reported path; ``cutoff_min`` optionally bounds ``minutes``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from siting.crs import crs_label, is_metric
from siting.errors import CRSError, InputError
from siting.io import atomic_path, cache_dir, cache_enabled, digest, prune_cache

logger = logging.getLogger(__name__)

__all__ = ["NetworkCosts", "graph_arrays", "network_costs", "snap_points"]

Weight = Literal["length", "travel_time"]
_WEIGHTS: tuple[str, ...] = ("length", "travel_time")
_CACHE_VERSION = 1


@functools.cache
def _code_hash() -> str:
    """This module's own source, hashed into every cache key: changed code, fresh results."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
# bytes per (source row × graph node) of the dense per-chunk arrays: distances (8),
# predecessors (4), compact positions (4), the reached mask (1), rounded up. Arrays
# over the *reached* cells come on top and scale with the cutoff, not with n.
_BYTES_PER_CELL = 24


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class NetworkCosts:
    """Sparse origin-destination costs within a cutoff, as aligned COO arrays.

    Attributes:
        source: index into the given sources, per pair (int64).
        target: index into the given targets, per pair (int64).
        metres: network length of the pair's path (m).
        minutes: travel time along the same path (min).
        n_sources, n_targets: how many sources and targets were given.
        weight: what the path minimises (``"length"`` or ``"travel_time"``).
        cutoff_m: the bound on ``metres``; ``cutoff_min`` the bound on ``minutes``
            (``None``: none).
        source_node, target_node: graph node id each source/target was snapped to.
        source_snap_m, target_snap_m: straight-line snap distance (m) of each point
            to its node, or ``None`` where graph node ids were given.

    Pairs are sorted by ``(source, target)``; pairs beyond the cutoff or unreachable
    are absent. All arrays are read-only.
    """

    source: NDArray[np.int64]
    target: NDArray[np.int64]
    metres: NDArray[np.float64]
    minutes: NDArray[np.float64]
    n_sources: int
    n_targets: int
    weight: str
    cutoff_m: float
    cutoff_min: float | None
    source_node: NDArray[Any]
    target_node: NDArray[Any]
    source_snap_m: NDArray[np.float64] | None = None
    target_snap_m: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.source.size)

    def to_sparse(self, which: Literal["metres", "minutes"] = "metres") -> sp.csr_matrix:
        """A ``n_sources × n_targets`` CSR matrix of ``which``.

        Pairs at cost 0 (a source and target on the same node) are kept as *explicit*
        zeros: test membership with the sparsity structure, never with ``!= 0``.
        """
        if which not in ("metres", "minutes"):
            raise InputError(f"to_sparse(which={which!r}): use 'metres' or 'minutes'")
        data = self.metres if which == "metres" else self.minutes
        return sp.csr_matrix(
            (data, (self.source, self.target)), shape=(self.n_sources, self.n_targets)
        )


# --------------------------------------------------------------------------- graph


def _graph_crs(graph: nx.MultiDiGraph) -> str:
    crs = graph.graph.get("crs")
    if crs is None:
        raise CRSError(
            "road graph has no 'crs' attribute; metric code needs a graph projected to a "
            "CRS in metres: project it with osmnx.project_graph(G, to_crs=...)"
        )
    if not is_metric(crs):
        raise CRSError(
            f"road graph has CRS {crs_label(crs)}, not a projected CRS in metres; project it "
            "with osmnx.project_graph(G, to_crs=siting.crs.estimate_metric_crs(...))"
        )
    return crs_label(crs)


def _node_order(graph: nx.MultiDiGraph) -> tuple[NDArray[Any], dict[Any, int]]:
    if graph.number_of_nodes() == 0:
        raise InputError("road graph has no nodes; load a region with a drivable network")
    nodes = list(graph.nodes)
    if all(isinstance(n, int | np.integer) for n in nodes):
        arr = np.asarray(nodes, dtype=np.int64)
    else:  # tuples and other labels: keep them whole, one object per node
        arr = np.empty(len(nodes), dtype=object)
        for i, label in enumerate(nodes):
            arr[i] = label
    return arr, {n: i for i, n in enumerate(nodes)}


def _edge_table(
    graph: nx.MultiDiGraph, index: dict[Any, int], attrs: tuple[str, ...]
) -> tuple[NDArray[np.int64], NDArray[np.int64], list[NDArray[np.float64]]]:
    """Edge endpoints (as node positions) and the named attributes, validated."""
    u_list: list[int] = []
    v_list: list[int] = []
    val_lists: list[list[float]] = [[] for _ in attrs]
    missing: dict[str, tuple[Any, ...]] = {}
    nan = math.nan
    for a, b, k, data in graph.edges(keys=True, data=True):
        u_list.append(index[a])
        v_list.append(index[b])
        for attr, out in zip(attrs, val_lists, strict=True):
            val = data.get(attr)
            if val is None:
                missing.setdefault(attr, (a, b, k))
                out.append(nan)
            else:
                out.append(float(val))
    u = np.asarray(u_list, dtype=np.int64)
    v = np.asarray(v_list, dtype=np.int64)
    vals = [np.asarray(x, dtype=np.float64) for x in val_lists]
    problems = []
    for attr, edge in missing.items():
        fix = ("osmnx.add_edge_speeds(G) then osmnx.add_edge_travel_times(G)"
               if attr == "travel_time" else "osmnx.distance.add_edge_lengths(G)")
        problems.append(f"edge {edge} (and maybe others) has no {attr!r} attribute; run {fix}")
    for attr, arr in zip(attrs, vals, strict=True):
        bad = ~np.isfinite(arr) | (arr < 0)
        if attr not in missing and bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(
                f"{int(bad.sum())} edges have a negative or non-finite {attr!r} "
                f"(first: {arr[i]!r}); edge weights must be finite and >= 0"
            )
    if problems:
        raise InputError.collect(problems, context="road graph edges")
    return u, v, vals


def _csr_pair(
    n: int, u: NDArray[np.int64], v: NDArray[np.int64],
    primary: NDArray[np.float64], secondary: NDArray[np.float64],
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Two CSR matrices with one structure: per ``(u, v)`` the edge of least
    ``primary`` (ties: least ``secondary``) and that same edge's ``secondary``.
    Self-loops are dropped (they never shorten a path)."""
    keep = u != v
    u, v, primary, secondary = u[keep], v[keep], primary[keep], secondary[keep]
    order = np.lexsort((secondary, primary, v, u))
    u, v, primary, secondary = u[order], v[order], primary[order], secondary[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, primary, secondary = u[first], v[first], primary[first], secondary[first]
    # (u, v) are unique and sorted, so indptr/indices build the CSR directly
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    idx = v.astype(np.int32 if n < 2**31 else np.int64)
    a = sp.csr_matrix((primary, idx, indptr), shape=(n, n))
    b = sp.csr_matrix((secondary, idx.copy(), indptr.copy()), shape=(n, n))
    return a, b


def graph_arrays(
    graph: nx.MultiDiGraph, *, weight: Weight = "length"
) -> tuple[sp.csr_matrix, NDArray[Any]]:
    """The graph as a ``n × n`` CSR adjacency of ``weight`` and its node order.

    Parallel edges collapse to the least weight; self-loops are dropped; zero-weight
    edges are kept as explicit zeros (``scipy.sparse.csgraph`` treats them as edges).
    Row/column ``i`` is node ``nodes[i]``.

    Raises:
        InputError: an edge lacks ``weight`` or has a negative/non-finite one.
    """
    if weight not in _WEIGHTS:
        raise InputError(f"weight={weight!r} is not supported; use one of {_WEIGHTS}")
    nodes, index = _node_order(graph)
    u, v, (w,) = _edge_table(graph, index, (weight,))
    a, _ = _csr_pair(len(nodes), u, v, w, w)
    return a, nodes


def _node_xy(graph: nx.MultiDiGraph, nodes: NDArray[Any]) -> NDArray[np.float64]:
    try:
        xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], dtype=float)
    except KeyError:
        raise InputError(
            "road graph nodes lack 'x'/'y' coordinates; use an osmnx graph (or set them)"
        ) from None
    return xy


# --------------------------------------------------------------------------- snapping


def _points_xy(
    points: NDArray[Any] | gpd.GeoSeries | gpd.GeoDataFrame, graph_crs: str, *, what: str
) -> NDArray[np.float64]:
    if isinstance(points, gpd.GeoDataFrame):
        points = points.geometry
    if isinstance(points, gpd.GeoSeries):
        if points.crs is None:
            raise CRSError(
                f"{what} have no CRS; set it (gdf.set_crs(...)) so they can be matched to "
                f"the road graph's {graph_crs}"
            )
        if not is_metric(points.crs):
            raise CRSError(
                f"{what} have geographic CRS {crs_label(points.crs)}; metric code needs a "
                f"projected CRS in metres: reproject them to the graph's CRS, "
                f"e.g. .to_crs({graph_crs!r})"
            )
        if crs_label(points.crs) != graph_crs:
            points = points.to_crs(graph_crs)
        if points.is_empty.any() or points.isna().any():
            bad = int((points.is_empty | points.isna()).sum())
            raise InputError(f"{what}: {bad} empty or missing geometries; drop them first")
        geom_type = set(points.geom_type)
        if geom_type != {"Point"}:
            points = points.representative_point()
        xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    else:
        xy = np.asarray(points, dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise InputError(
                f"{what}: expected an (n, 2) array of x, y in the graph's CRS, got shape "
                f"{xy.shape}"
            )
    if not np.isfinite(xy).all():
        raise InputError(f"{what}: {int((~np.isfinite(xy)).any(axis=1).sum())} points have "
                         "NaN or infinite coordinates; drop or fix them")
    return xy


def snap_points(
    graph: nx.MultiDiGraph,
    xy: NDArray[np.float64] | gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    what: str = "points",
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Snap each point to its nearest graph node (straight line, KD-tree).

    ``xy`` is an ``(n, 2)`` array in the graph's CRS, or a GeoSeries/GeoDataFrame in
    any metric CRS (reprojected; non-point geometries use a representative point).

    Returns:
        ``(nodes, distance_m)``: the node id and snap distance (m) per point.

    Raises:
        CRSError: the graph or the points are not in a metric CRS.
        InputError: malformed, empty or non-finite points.
    """
    graph_crs = _graph_crs(graph)
    nodes, _ = _node_order(graph)
    pos, dist = _snap(_node_xy(graph, nodes), _points_xy(xy, graph_crs, what=what))
    return nodes[pos], dist


def _snap(node_xy: NDArray[np.float64], pts: NDArray[np.float64]
          ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Node positions and distances of the nearest node to each point."""
    dist, pos = cKDTree(node_xy).query(pts, k=1)
    return np.asarray(pos, dtype=np.int64), np.asarray(dist, dtype=np.float64)


def _resolve(
    items: Any, nodes: NDArray[Any], index: dict[Any, int],
    node_xy: Callable[[], NDArray[np.float64]], graph_crs: str, *, what: str,
) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.float64] | None]:
    """Positions in the node order, node ids, and snap distances (points only)."""
    is_points = isinstance(items, gpd.GeoSeries | gpd.GeoDataFrame) or (
        isinstance(items, np.ndarray) and items.ndim == 2
    )
    if is_points:
        pos, dist = _snap(node_xy(), _points_xy(items, graph_crs, what=what))
        return pos, nodes[pos], dist
    ids = list(np.asarray(items).ravel()) if not isinstance(items, list) else items
    missing = [n for n in ids if n not in index]
    if missing:
        raise InputError(
            f"{what}: {len(missing)} of {len(ids)} node ids are not in the road graph "
            f"(first: {missing[:5]}); snap points with siting.network.snap_points or pass "
            "point geometries"
        )
    pos = np.array([index[n] for n in ids], dtype=np.int64)
    return pos, nodes[pos], None


# --------------------------------------------------------------------------- costs


def _path_sums(
    rows: NDArray[np.int64], cols: NDArray[np.int64], pred: NDArray[np.int32],
    n: int, edge_keys: NDArray[np.int64], edge_vals: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Sum of an edge value along each reached node's shortest-path-tree path.

    ``(rows, cols)`` are the reached (row, node) cells of one chunk; ``pred`` the
    chunk's predecessor matrix. Pointer jumping: each round doubles the path length
    covered, so it takes ``ceil(log2(depth))`` vectorised rounds.
    """
    k = rows.size
    if k == 0:
        return np.zeros(0)
    pos = np.full(pred.shape, -1, dtype=np.int64 if k >= 2**31 else np.int32)
    pos[rows, cols] = np.arange(k)
    parent = pred[rows, cols].astype(np.int64)
    has_parent = parent >= 0
    self_idx = np.arange(k, dtype=np.int64)
    anc = np.where(has_parent, 0, self_idx)
    anc[has_parent] = pos[rows[has_parent], parent[has_parent]]
    val = np.zeros(k)
    keys = parent[has_parent] * n + cols[has_parent]
    val[has_parent] = edge_vals[np.searchsorted(edge_keys, keys)]
    del pos
    # invariant: val[i] is the sum from i up to anc[i]; roots point at themselves
    while True:
        nxt = anc[anc]
        if np.array_equal(nxt, anc):  # every anc is a root: the sums are complete
            return val
        val = val + val[anc]
        anc = nxt


def _group(inverse: NDArray[np.int64], n_unique: int
           ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=n_unique)
    starts = np.zeros(n_unique, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return order, starts, counts


def _explode(keys: NDArray[np.int64], inverse: NDArray[np.int64], n_unique: int
             ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For pairs keyed by unique ids, the pair index repeated once per original item
    with that id, and the original item index."""
    order, starts, counts = _group(inverse, n_unique)
    rep = counts[keys]
    pair = np.repeat(np.arange(keys.size, dtype=np.int64), rep)
    offset = np.arange(pair.size, dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep)
    return pair, order[starts[keys[pair]] + offset]


def _validate_options(weight: str, cutoff_m: float, cutoff_min: float | None,
                      max_chunk_mb: float) -> list[str]:
    problems = []
    if weight not in _WEIGHTS:
        problems.append(f"weight={weight!r}: use one of {_WEIGHTS}")
    if not isinstance(cutoff_m, Real) or math.isnan(cutoff_m) or cutoff_m <= 0:
        problems.append(f"cutoff_m={cutoff_m!r}: must be a number > 0 (metres)")
    if cutoff_min is not None and (
        not isinstance(cutoff_min, Real) or math.isnan(cutoff_min) or cutoff_min <= 0
    ):
        problems.append(f"cutoff_min={cutoff_min!r}: must be a number > 0 (minutes) or None")
    if not isinstance(max_chunk_mb, Real) or not max_chunk_mb > 0:
        problems.append(f"max_chunk_mb={max_chunk_mb!r}: must be > 0")
    return problems


def _compute(
    length: sp.csr_matrix, time_s: sp.csr_matrix, src_pos: NDArray[np.int64],
    tgt_pos: NDArray[np.int64], *, weight: str, cutoff_m: float, cutoff_min: float | None,
    max_chunk_mb: float, progress: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Costs between unique source and unique target positions (in unique indices)."""
    n = length.shape[0]
    primary, secondary = (length, time_s) if weight == "length" else (time_s, length)
    if weight == "length":
        limit = cutoff_m  # cutoff_min, if any, is applied to the path times afterwards
    else:
        # a path with length <= cutoff_m takes at most cutoff_m / (slowest edge speed)
        # (0/0 and x/0 are dropped: such edges add no time; a zero-length edge with
        # time > 0 has speed 0, and then no time bound follows from a length bound)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            speed = length.data / time_s.data
        slowest = float(np.min(speed[np.isfinite(speed)], initial=np.inf))
        limit = cutoff_m / slowest if 0.0 < slowest < math.inf else math.inf
        if cutoff_min is not None:
            limit = min(limit, cutoff_min * 60.0)
    coo = secondary.tocoo()
    edge_keys = coo.row.astype(np.int64) * n + coo.col
    order = np.argsort(edge_keys)
    edge_keys, edge_vals = edge_keys[order], coo.data[order]

    tgt_of_node = np.full(n, -1, dtype=np.int64)
    tgt_of_node[tgt_pos] = np.arange(tgt_pos.size)

    rows_per_chunk = max(1, int(max_chunk_mb * 2**20 // (_BYTES_PER_CELL * n)))
    out_s, out_t, out_p, out_q = [], [], [], []
    starts = range(0, src_pos.size, rows_per_chunk)
    for start in tqdm(starts, disable=not progress, desc="network costs", unit="chunk"):
        chunk = src_pos[start:start + rows_per_chunk]
        dist, pred = dijkstra(primary, directed=True, indices=chunk, limit=limit,
                              return_predecessors=True)
        rows, cols = np.nonzero(np.isfinite(dist))
        rows = rows.astype(np.int64)
        cols = cols.astype(np.int64)
        along = _path_sums(rows, cols, pred, n, edge_keys, edge_vals)
        is_tgt = tgt_of_node[cols] >= 0
        r, c = rows[is_tgt], cols[is_tgt]
        out_s.append(r + start)
        out_t.append(tgt_of_node[c])
        out_p.append(dist[r, c])
        out_q.append(along[is_tgt])
        del dist, pred
    s = np.concatenate(out_s) if out_s else np.zeros(0, dtype=np.int64)
    t = np.concatenate(out_t) if out_t else np.zeros(0, dtype=np.int64)
    p = np.concatenate(out_p) if out_p else np.zeros(0)
    q = np.concatenate(out_q) if out_q else np.zeros(0)
    metres, seconds = (p, q) if weight == "length" else (q, p)
    keep = metres <= cutoff_m
    if cutoff_min is not None:
        keep &= seconds <= cutoff_min * 60.0
    return s[keep], t[keep], metres[keep], seconds[keep] / 60.0


def _load_cache(path: Any) -> tuple[NDArray[Any], ...] | None:
    try:
        with np.load(path) as z:
            return z["source"], z["target"], z["metres"], z["minutes"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable network-cost cache %s (%s); recomputing", path, exc)
        return None


def network_costs(
    graph: nx.MultiDiGraph,
    sources: Any,
    targets: Any,
    *,
    cutoff_m: float,
    weight: Weight = "length",
    cutoff_min: float | None = None,
    cache: bool = True,
    max_chunk_mb: float = 64.0,
    progress: bool = False,
) -> NetworkCosts:
    """Shortest-path costs from every source to every target within the cutoff.

    Args:
        graph: projected osmnx-style ``MultiDiGraph`` (see the module docstring).
        sources, targets: graph node ids (1-D), or points to snap: an ``(n, 2)`` array
            in the graph's CRS, or a GeoSeries/GeoDataFrame in a metric CRS. Several
            items may share a node; each keeps its own index in the result.
        cutoff_m: keep pairs whose path is at most this long (m).
        weight: what the path minimises: ``"length"`` (m) or ``"travel_time"`` (s).
        cutoff_min: also drop pairs whose path takes longer than this (min).
        cache: read/write the result under ``siting.io.cache_dir()/network``, keyed
            by a hash of the graph arrays, source/target nodes, cutoffs, weight and
            this module's source (changed code never reads an old result); the folder
            is kept under ``$SITING_CACHE_MAX_MB`` (:func:`siting.io.prune_cache`).
        max_chunk_mb: memory budget for one chunk of the Dijkstra search.
        progress: show a progress bar over chunks.

    Returns:
        :class:`NetworkCosts`; ``to_sparse()`` gives a ``sources × targets`` matrix.

    Raises:
        InputError: bad options, unknown node ids, malformed points, bad edge weights.
        CRSError: the graph or the points are not in a metric CRS.

    Example:
        >>> costs = network_costs(G, demand.geometry, sites.geometry, cutoff_m=5000)
        >>> D = costs.to_sparse("metres")          # n_demand × n_sites, CSR
    """
    problems = _validate_options(weight, cutoff_m, cutoff_min, max_chunk_mb)
    if problems:
        raise InputError.collect(problems, context="network_costs options")
    graph_crs = _graph_crs(graph)
    nodes, index = _node_order(graph)
    xy_cache: list[NDArray[np.float64]] = []

    def node_xy() -> NDArray[np.float64]:  # built once, only if points need snapping
        if not xy_cache:
            xy_cache.append(_node_xy(graph, nodes))
        return xy_cache[0]

    src_pos, src_nodes, src_snap = _resolve(sources, nodes, index, node_xy, graph_crs,
                                            what="sources")
    tgt_pos, tgt_nodes, tgt_snap = _resolve(targets, nodes, index, node_xy, graph_crs,
                                            what="targets")
    u, v, (length, time_s) = _edge_table(graph, index, ("length", "travel_time"))
    # one CSR structure; parallel edges resolved by the weight that is minimised
    if weight == "length":
        length_m, time_m = _csr_pair(len(nodes), u, v, length, time_s)
    else:
        time_m, length_m = _csr_pair(len(nodes), u, v, time_s, length)

    key = digest(
        "network_costs", _CACHE_VERSION, _code_hash(), weight, float(cutoff_m), cutoff_min,
        length_m.indptr.tobytes(), length_m.indices.tobytes(), length_m.data.tobytes(),
        time_m.data.tobytes(), src_pos.tobytes(), tgt_pos.tobytes(),
    )
    path = cache_dir() / "network" / f"{key}.npz" if cache and cache_enabled() else None
    cached = _load_cache(path) if path is not None and path.exists() else None
    if cached is not None:
        logger.info("network costs: cache hit %s", path)
        if path is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # used: kept longest by prune_cache
        s, t, metres, minutes = cached
    else:
        uniq_s, inv_s = np.unique(src_pos, return_inverse=True)
        uniq_t, inv_t = np.unique(tgt_pos, return_inverse=True)
        us, ut, metres_u, minutes_u = _compute(
            length_m, time_m, uniq_s, uniq_t, weight=weight, cutoff_m=float(cutoff_m),
            cutoff_min=cutoff_min, max_chunk_mb=max_chunk_mb, progress=progress,
        )
        pair, s = _explode(us, inv_s.ravel(), uniq_s.size)
        ut, metres_u, minutes_u = ut[pair], metres_u[pair], minutes_u[pair]
        pair, t = _explode(ut, inv_t.ravel(), uniq_t.size)
        s, metres, minutes = s[pair], metres_u[pair], minutes_u[pair]
        order = np.lexsort((t, s))
        s, t, metres, minutes = s[order], t[order], metres[order], minutes[order]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, source=s, target=t, metres=metres, minutes=minutes)
            logger.debug("network costs cached at %s", path)
            prune_cache(path.parent)
    logger.info("network costs: %d sources × %d targets → %d pairs within %.0f m (%s)",
                src_pos.size, tgt_pos.size, s.size, cutoff_m, weight)
    arrays = [np.asarray(a) for a in (s, t, metres, minutes, src_nodes, tgt_nodes)]
    arrays[0] = arrays[0].astype(np.int64, copy=False)
    arrays[1] = arrays[1].astype(np.int64, copy=False)
    snaps = [a for a in (src_snap, tgt_snap) if a is not None]
    for a in [*arrays, *snaps]:
        a.flags.writeable = False
    return NetworkCosts(
        source=arrays[0], target=arrays[1], metres=arrays[2], minutes=arrays[3],
        n_sources=int(src_pos.size), n_targets=int(tgt_pos.size), weight=weight,
        cutoff_m=float(cutoff_m), cutoff_min=cutoff_min,
        source_node=arrays[4], target_node=arrays[5],
        source_snap_m=src_snap, target_snap_m=tgt_snap,
    )
