"""Candidate pipe links from a road graph, reduced before the heat-network MILP.

Pipes follow roads. :func:`pipe_edges` turns an osmnx-style road graph into one
undirected candidate edge per pair of adjacent nodes (the shortest of parallel road
edges; a pipe needs one trench, not one per carriageway). :func:`reduce_network`
then shrinks the candidate graph, with each step's effect on the optimum stated:

1. **Routes** (a stated restriction, not lossless). Source ``i`` and heating zone
   ``k`` are *paired* when the shortest pipe route between them (in
   metre-equivalents, surcharges included) is at most ``max_link_m``. From every
   source, a shortest-route tree to its paired zones is kept, and from every zone
   (rooted at all its gates) a tree to its paired sources; then ``n_routes - 1``
   alternative trees, each searched with the edges of the earlier trees made
   ``1 + _ALTERNATIVE_PENALTY`` times costlier, keeping a route only if its true
   length is at most ``(1 + detour)`` times the pair's shortest. The optimum is
   thus over networks built from these routes; on grid-like road networks, where
   every monotone path ties for shortest, a "near-shortest edges" corridor would
   keep whole rectangles and the whole city. Each kept edge remembers the sources
   and zones whose routes use it, and its flow is bounded by the smaller of their
   heat and their demand: heat travels along its own source's routes.
2. **Dead ends** (lossless). An edge ending at a node of degree 1 that is neither a
   source, a zone gate, nor the end of a locked edge can carry no heat anywhere; it
   is removed, repeatedly.
3. **Chains** (lossless up to one diameter per chain). A node of degree 2 that is
   no terminal cannot branch heat, so a pipe through it runs the whole chain. The
   chain becomes one link whose length, surcharge and loss are the sums of its
   edges. The only solutions lost are ones that change diameter inside a chain.
4. **Parallel links** (lossless). Of links joining the same two nodes, one that is
   no shorter and no cheaper than another (and not locked) is dropped when a single
   pipe of the largest diameter can carry the flow bound of both, as is a link that
   returns to its own start node. Steps 2-4 repeat until nothing changes.

**Interconnection trunks** (candidates, part of step 1). Two heating zones are
*neighbours* when the shortest pipe route between their gates is at most
``trunk_max_m``; that route is kept as a trunk candidate between their networks, and
both of its end gates become *out-gates*, where a zone's network may hand heat back to
a pipe (heat passes on through an existing network; see
:class:`~siting.heat.problem.HeatNetworkProblem`). A trunk's edges may carry the heat
of every source whose routes reach either zone. ``required_trunks`` adds trunks at any
distance and ``required_routes`` source-zone routes beyond ``max_link_m``; the pairs
that no allowed edge joins are reported in :attr:`Reduction.unreachable`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["PipeEdges", "Reduction", "edge_geometries", "pipe_edges", "reduce_network"]


@dataclass(frozen=True)
class PipeEdges:
    """Undirected candidate pipe edges along a road graph, one per adjacent node pair.

    Node ``p`` is graph node ``node_ids[p]`` at ``xy[p]``; edge ``e`` joins positions
    ``u[e] < v[e]`` with ``length_m[e]``, using road edge ``road_edge[e]`` (a
    ``(a, b, key)`` triple of the graph) for its geometry. ``ids[e]`` is the stable
    item id ``"hp:<a>-<b>"`` (graph node ids, smaller first).
    """

    node_ids: NDArray[Any]
    xy: NDArray[np.float64]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    length_m: NDArray[np.float64]
    road_edge: tuple[tuple[Any, Any, Any], ...]
    ids: NDArray[Any]

    @property
    def n_nodes(self) -> int:
        return int(self.node_ids.size)

    @property
    def n_edges(self) -> int:
        return int(self.u.size)


def pipe_edges(graph: nx.MultiDiGraph) -> PipeEdges:
    """Candidate pipe edges of a projected road graph (see :class:`PipeEdges`).

    Raises:
        InputError: the graph has no nodes or edges, nodes lack ``x``/``y``, or an
            edge lacks a finite, non-negative ``length``.
    """
    if graph.number_of_nodes() == 0 or graph.number_of_edges() == 0:
        raise InputError("road graph has no nodes or no edges; pipes need a road network")
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    try:
        xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], dtype=float)
    except KeyError:
        raise InputError("road graph nodes lack 'x'/'y' coordinates; use a projected "
                         "osmnx graph") from None
    a_list, b_list, length, triples = [], [], [], []
    bad = None
    for a, b, k, data in graph.edges(keys=True, data=True):
        if a == b:
            continue
        val = data.get("length")
        try:
            val = float(val)
        except (TypeError, ValueError):
            val = math.nan
        if not (math.isfinite(val) and val >= 0):
            bad = bad or (a, b, k, data.get("length"))
            continue
        a_list.append(index[a])
        b_list.append(index[b])
        length.append(val)
        triples.append((a, b, k))
    if bad is not None:
        raise InputError(f"road graph edge {bad[:3]} has length {bad[3]!r}; every edge needs "
                         f"a finite length >= 0 (osmnx.distance.add_edge_lengths)")
    pa, pb = np.asarray(a_list, np.int64), np.asarray(b_list, np.int64)
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    lens = np.asarray(length, dtype=np.float64)
    order = np.lexsort((lens, hi, lo))
    lo, hi, lens = lo[order], hi[order], lens[order]
    first = np.ones(lo.size, bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    keep = order[first]
    node_ids = np.empty(len(nodes), dtype=object)
    node_ids[:] = nodes
    u, v = lo[first], hi[first]
    ids = np.array([_edge_id(node_ids[i], node_ids[j]) for i, j in zip(u, v, strict=True)],
                   dtype=object)
    if all(isinstance(n, int | np.integer) for n in nodes):
        node_ids = node_ids.astype(np.int64)
    return PipeEdges(node_ids=node_ids, xy=xy, u=u, v=v, length_m=lens[first],
                     road_edge=tuple(triples[i] for i in keep), ids=ids)


def _edge_id(a: Any, b: Any) -> str:
    x, y = sorted((a, b), key=lambda n: (str(type(n)), n) if not isinstance(n, tuple)
                  else (str(type(n)), str(n)))
    return f"hp:{x}-{y}"


def edge_geometries(graph: nx.MultiDiGraph, edges: PipeEdges, which: NDArray[np.int64]
                    ) -> list[shapely.LineString]:
    """LineStrings of edges ``which``, oriented from ``u`` to ``v`` (position order).

    The road edge's ``geometry`` is used when it has one, else a straight line.
    """
    out = []
    for e in np.asarray(which, dtype=np.int64):
        a, b, k = edges.road_edge[e]
        geom = graph.edges[a, b, k].get("geometry")
        if geom is None:
            geom = shapely.LineString([edges.xy[edges.u[e]], edges.xy[edges.v[e]]])
        else:
            start = np.asarray(geom.coords[0])
            to_u, to_v = start - edges.xy[edges.u[e]], start - edges.xy[edges.v[e]]
            if np.hypot(*to_u) > np.hypot(*to_v):
                geom = shapely.reverse(geom)
        out.append(geom)
    return out


@dataclass(frozen=True)
class Reduction:
    """The reduced candidate graph and how to map it back to road edges.

    Model node ``m`` is road-node position ``node_pos[m]``. Link ``l`` joins model
    nodes ``link_u[l]``, ``link_v[l]``; its road edges are
    ``member_edge[member_ptr[l]:member_ptr[l+1]]`` in order from ``link_u`` to
    ``link_v``, ``member_forward`` saying whether each is walked from its ``u`` to its
    ``v``. ``link_max_mw`` bounds each link's flow by the smaller of the heat of the
    sources and the demand of the zones whose routes use it (``link_first_max_mw``:
    counting shortest routes only); ``link_tier`` is 0 for links on a shortest route
    and 1 for links only on alternatives; ``link_cover[l, i]`` says whether a route
    of source ``i`` uses link ``l``. ``outgate_pos``/``outgate_zone`` are the trunk
    end gates (road-node position, zone) where a zone's network may pass heat on;
    ``trunks`` lists ``(zone a, zone b, route length)`` per trunk candidate;
    ``unreachable`` the required pairs no allowed edges join (``("route", source,
    zone)`` or ``("trunk", zone a, zone b)``). ``stats`` counts what every step kept.
    """

    node_pos: NDArray[np.int64]
    link_u: NDArray[np.int64]
    link_v: NDArray[np.int64]
    link_length_m: NDArray[np.float64]
    link_extra_cny: NDArray[np.float64]
    link_locked: NDArray[np.bool_]
    link_max_mw: NDArray[np.float64]
    link_first_max_mw: NDArray[np.float64]
    link_tier: NDArray[np.int64]
    link_cover: NDArray[np.bool_]
    member_ptr: NDArray[np.int64]
    member_edge: NDArray[np.int64]
    member_forward: NDArray[np.bool_]
    pair_distance_m: NDArray[np.float64]
    outgate_pos: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    outgate_zone: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    trunks: tuple[tuple[int, int, float], ...] = ()
    unreachable: tuple[tuple[str, int, int], ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.node_pos.size)

    @property
    def n_links(self) -> int:
        return int(self.link_u.size)

    def model_node(self, road_pos: NDArray[np.int64]) -> NDArray[np.int64]:
        """Model node of each road-node position (``-1`` if it was reduced away)."""
        lookup = dict(zip(self.node_pos.tolist(), range(self.n_nodes), strict=True))
        return np.array([lookup.get(int(p), -1) for p in np.asarray(road_pos).ravel()],
                        dtype=np.int64)

    def members(self, link: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        s = slice(self.member_ptr[link], self.member_ptr[link + 1])
        return self.member_edge[s], self.member_forward[s]


def reduce_network(edges: PipeEdges, *, source_pos: NDArray[np.int64],
                   gate_pos: NDArray[np.int64], gate_zone: NDArray[np.int64], n_zones: int,
                   max_link_m: float, detour: float, allowed: NDArray[np.bool_] | None = None,
                   extra_cny: NDArray[np.float64] | None = None,
                   locked: NDArray[np.bool_] | None = None,
                   cost_per_m_ref: float = 1.0, n_routes: int = 2,
                   source_mw: NDArray[np.float64] | None = None,
                   zone_mw: NDArray[np.float64] | None = None,
                   max_pipe_mw: float = math.inf, trunk_max_m: float = 0.0,
                   required_trunks: Sequence[tuple[int, int, Sequence[int]]] = (),
                   required_routes: Sequence[tuple[int, int]] = (),
                   routed: NDArray[np.bool_] | None = None) -> Reduction:
    """Corridor, dead ends, chains and parallel links (see the module docstring).

    Args:
        edges: candidate edges from :func:`pipe_edges`.
        source_pos: road-node position of each heat source.
        gate_pos, gate_zone: the gates: road-node positions where zone
            ``gate_zone[g]`` may take heat.
        n_zones: number of zones.
        max_link_m: longest source-zone route considered (metre-equivalents).
        detour: allowed relative detour over a pair's shortest route (e.g. ``0.2``).
        allowed: edges a pipe may use (False: forbidden, e.g. red line, rejected).
        extra_cny: one-off surcharge per edge (CNY), added to the link and, divided by
            ``cost_per_m_ref``, to the edge's routing length.
        locked: edges that must be built; kept, with the shortest routes joining them
            to the nearest source and the nearest zone.
        cost_per_m_ref: CNY per metre that turns a surcharge into metre-equivalents.
        n_routes: routes per source and per zone: the shortest, then alternatives
            found with the edges already used made costlier (see the module docstring).
        source_mw, zone_mw: source capacities and zone demands, for each link's flow
            bound ``link_max_mw``: the smaller of the heat of the sources and the demand
            of the zones whose routes use it (``inf`` when not given).
        max_pipe_mw: the largest pipe's capacity; parallel links are merged only when
            one such pipe can carry their joint flow bound.
        trunk_max_m: zones whose gates are at most this far apart by road get a trunk
            candidate between them (0: none; see the module docstring).
        required_trunks: ``(zone a, zone b, sources)``: a trunk between ``a`` and ``b``
            whatever its length, which the heat of ``sources`` (indices into
            ``source_pos``) may also use.
        required_routes: ``(source, zone)`` pairs given a route even beyond
            ``max_link_m``.
        routed: sources that get routes (default all); the others keep only their
            road node (e.g. sources whose heat can never pay for itself).
    """
    n, m = edges.n_nodes, edges.n_edges
    allowed = np.ones(m, bool) if allowed is None else np.asarray(allowed, bool)
    extra = np.zeros(m) if extra_cny is None else np.asarray(extra_cny, float)
    locked = np.zeros(m, bool) if locked is None else np.asarray(locked, bool)
    problems = []
    if not (max_link_m > 0 and math.isfinite(max_link_m)):
        problems.append(f"max_link_m={max_link_m!r} must be a finite number > 0")
    if not (detour >= 0 and math.isfinite(detour)):
        problems.append(f"detour={detour!r} must be a finite number >= 0")
    if not (trunk_max_m >= 0 and math.isfinite(trunk_max_m)):
        problems.append(f"trunk_max_m={trunk_max_m!r} must be a finite number >= 0")
    if isinstance(n_routes, bool) or not isinstance(n_routes, int) or n_routes < 1:
        problems.append(f"n_routes={n_routes!r} must be an integer >= 1")
    if (locked & ~allowed).any():
        problems.append(f"{int((locked & ~allowed).sum())} locked edges are not allowed "
                        f"(forbidden or crossing the red line)")
    if problems:
        raise InputError.collect(problems, context="reduce_network")
    weight = edges.length_m + extra / max(cost_per_m_ref, 1e-9)
    idx = np.flatnonzero(allowed)
    src_u, src_inv = np.unique(source_pos, return_inverse=True)
    routes = _Routes(edges, idx, weight, max_link_m=max_link_m, detour=detour)
    pair = np.full((src_u.size, n_zones), np.inf)
    zone_gates = [np.unique(gate_pos[gate_zone == k]) for k in range(n_zones)]
    for k, gates in enumerate(zone_gates):
        if gates.size:
            pair[:, k] = routes.distances(gates)[src_u]
    if routed is not None:
        keep_src = np.bincount(src_inv.ravel(), weights=np.asarray(routed, float),
                               minlength=src_u.size) > 0
        pair[~keep_src, :] = np.inf
    n_src = src_u.size
    cover = np.zeros((m, n_src + n_zones), bool)
    cover_first = np.zeros_like(cover)   # the same, from the shortest routes only
    for k, gates in enumerate(zone_gates):
        near = np.flatnonzero(pair[:, k] <= max_link_m)
        if gates.size and near.size:
            routes.tree_routes(gates, src_u[near], pair[near, k], n_routes=n_routes,
                               cover=cover, root_col=n_src + k, target_cols=near,
                               cover_first=cover_first)
    for s in range(n_src):
        near = np.flatnonzero(pair[s] <= max_link_m)
        if near.size:
            routes.tree_routes(src_u[s:s + 1], [zone_gates[k] for k in near], pair[s, near],
                               n_routes=n_routes, cover=cover, root_col=s,
                               target_cols=n_src + near, cover_first=cover_first)
    src_col = src_inv.ravel()
    unreachable: list[tuple[str, int, int]] = []
    for i, k in required_routes:
        if pair[src_col[i], k] <= max_link_m:
            continue
        path = routes.path(np.atleast_1d(source_pos[i]), zone_gates[k])
        if path is None:
            unreachable.append(("route", int(i), int(k)))
            continue
        for c in (src_col[i], n_src + k):
            cover[path, c] = cover_first[path, c] = True
    trunks, out_pos, out_zone = _trunks(
        routes, zone_gates, pair <= max_link_m, cover, cover_first, n_src, trunk_max_m,
        [(int(a), int(b), src_col[np.asarray(list(ss), np.int64)])
         for a, b, ss in required_trunks], unreachable)
    keep = cover.any(axis=1)
    corridor = int(keep.sum())
    if locked.any():
        joined = locked | _joining_paths(edges, routes.adjacency(routes.base), idx, locked,
                                         src_u, gate_pos, n)
        cover[joined] = True  # a locked pipe may carry anyone's heat
        cover_first[joined] = True
        keep |= joined
    cap_u = np.full(n_src, np.inf) if source_mw is None else \
        np.bincount(src_inv.ravel(), weights=np.asarray(source_mw, float), minlength=n_src)
    zone_cap = np.full(n_zones, np.inf) if zone_mw is None else np.asarray(zone_mw, float)
    col_mw = np.r_[cap_u, zone_cap]
    terminal = np.zeros(n, bool)
    terminal[source_pos] = True
    terminal[gate_pos] = True
    terminal[out_pos] = True
    terminal[edges.u[locked]] = True
    terminal[edges.v[locked]] = True
    links = _Links.from_edges(edges, np.flatnonzero(keep), weight, extra, locked, cover,
                              cover_first)
    rounds = 0
    while True:
        rounds += 1
        before = links.size
        links = links.prune_dead_ends(terminal, n)
        links = links.contract_chains(terminal, n)
        links = links.drop_dominated(col_mw, n_src, max_pipe_mw)
        if links.size == before or rounds > 50:
            break
    bound = _bound(links.cover, col_mw, n_src)
    bound_first = _bound(links.first, col_mw, n_src)
    tier = np.where(links.first.any(axis=1), 0, 1).astype(np.int64)
    node_pos = np.unique(np.r_[links.a, links.b, source_pos, gate_pos]).astype(np.int64)
    pos_to_node = np.full(n, -1, np.int64)
    pos_to_node[node_pos] = np.arange(node_pos.size)
    ptr = np.r_[0, np.cumsum([len(mm) for mm in links.members])].astype(np.int64)
    flat = [x for mm in links.members for x in mm]
    stats = {"road_edges": m, "allowed_edges": int(allowed.sum()), "sources": int(src_u.size),
             "zones": n_zones, "source_zone_pairs": int((pair <= max_link_m).sum()),
             "corridor_edges": corridor, "kept_edges": int(ptr[-1]), "links": links.size,
             "shortest_route_links": int((tier == 0).sum()),
             "model_nodes": int(node_pos.size), "rounds": rounds,
             "max_link_m": float(max_link_m), "detour": float(detour),
             "trunks": len(trunks)}
    logger.info("heat graph: %d road edges -> %d in corridors -> %d links on %d nodes",
                m, corridor, links.size, node_pos.size)
    pair_full = np.full((source_pos.size, n_zones), np.inf)
    if src_u.size:
        pair_full = pair[src_inv.ravel()]
    return Reduction(
        node_pos=node_pos, link_u=pos_to_node[links.a], link_v=pos_to_node[links.b],
        link_length_m=np.asarray(links.length, float), link_extra_cny=np.asarray(links.extra,
                                                                                   float),
        link_locked=np.asarray(links.locked, bool), link_max_mw=bound,
        link_first_max_mw=bound_first, link_tier=tier,
        link_cover=links.cover[:, :n_src][:, src_inv.ravel()] if n_src else
        np.zeros((links.size, 0), bool),
        member_ptr=ptr,
        member_edge=np.array([e for e, _ in flat], np.int64),
        member_forward=np.array([f for _, f in flat], bool), pair_distance_m=pair_full,
        outgate_pos=out_pos, outgate_zone=out_zone, trunks=tuple(trunks),
        unreachable=tuple(unreachable), stats=stats)


def _trunks(routes: _Routes, zone_gates: list[NDArray[np.int64]], paired: NDArray[np.bool_],
            cover: NDArray[np.bool_], cover_first: NDArray[np.bool_], n_src: int,
            trunk_max_m: float, required: list[tuple[int, int, NDArray[np.int64]]],
            unreachable: list[tuple[str, int, int]]
            ) -> tuple[list[tuple[int, int, float]], NDArray[np.int64], NDArray[np.int64]]:
    """Trunk candidates between neighbouring zones and the required ones (see the module
    docstring); marks their edges in ``cover`` and ``cover_first`` (shortest routes) and
    returns ``(trunks, out-gate positions, out-gate zones)``."""
    n_zones = len(zone_gates)
    want: dict[tuple[int, int], set[int]] = {}
    if trunk_max_m > 0:
        adj = routes.adjacency(routes.base)
        for a in range(n_zones):
            if not zone_gates[a].size:
                continue
            dist = dijkstra(adj, directed=False, indices=zone_gates[a], min_only=True,
                            limit=trunk_max_m)
            for b in range(a + 1, n_zones):
                g = zone_gates[b]
                if g.size and dist[g].min() <= trunk_max_m:
                    want.setdefault((a, b), set())
    for a, b, extra in required:
        want.setdefault((min(a, b), max(a, b)), set()).update(extra.tolist())
    trunks: list[tuple[int, int, float]] = []
    out: set[tuple[int, int]] = set()
    required_pairs = {(min(a, b), max(a, b)) for a, b, _ in required}
    for (a, b), sources in sorted(want.items()):
        found = routes.path(zone_gates[a], zone_gates[b], ends=True)
        if found is None:
            if (a, b) in required_pairs:
                unreachable.append(("trunk", a, b))
            continue
        path, start, end = found
        if not path.size or start == end:   # the zones share a gate: no trunk needed
            continue
        cols = np.r_[np.flatnonzero(paired[:, a] | paired[:, b]),
                     np.asarray(sorted(sources), np.int64), n_src + a, n_src + b]
        cover[np.ix_(path, cols)] = True
        cover_first[np.ix_(path, cols)] = True
        trunks.append((a, b, float(routes.edges.length_m[path].sum())))
        out |= {(start, a), (end, b)}
    pairs = sorted(out)
    return (trunks, np.array([p for p, _ in pairs], np.int64),
            np.array([z for _, z in pairs], np.int64))


def _bound(cover: NDArray[np.bool_], col_mw: NDArray[np.float64], n_src: int
           ) -> NDArray[np.float64]:
    """Flow bound per row of ``cover``: the smaller of its sources' heat and its zones'
    demand."""
    with np.errstate(invalid="ignore"):
        return np.minimum(np.where(cover[:, :n_src], col_mw[:n_src], 0.0).sum(axis=1),
                          np.where(cover[:, n_src:], col_mw[n_src:], 0.0).sum(axis=1))


#: an alternative route is searched with the edges of earlier routes this much costlier
_ALTERNATIVE_PENALTY = 1.0


class _Routes:
    """Shortest and alternative routes over the allowed edges (scipy Dijkstra)."""

    def __init__(self, edges: PipeEdges, idx: NDArray[np.int64], weight: NDArray[np.float64],
                 *, max_link_m: float, detour: float) -> None:
        self.edges, self.idx, self.n = edges, idx, edges.n_nodes
        # tiny positive weights keep zero-length edges as edges in the sparse graph
        self.base = np.maximum(weight[idx], 1e-6)
        self.max_link_m, self.detour = max_link_m, detour
        self.limit = max_link_m * (1.0 + detour)
        self.lookup = {(int(a), int(b)): j for j, (a, b) in
                       enumerate(zip(edges.u[idx], edges.v[idx], strict=True))}

    def adjacency(self, w: NDArray[np.float64]) -> sp.csr_matrix:
        eu, ev = self.edges.u[self.idx], self.edges.v[self.idx]
        return sp.coo_matrix((np.r_[w, w], (np.r_[eu, ev], np.r_[ev, eu])),
                             shape=(self.n, self.n)).tocsr()

    def distances(self, roots: NDArray[np.int64]) -> NDArray[np.float64]:
        """Shortest route length from the nearest of ``roots`` to every node."""
        return dijkstra(self.adjacency(self.base), directed=False, indices=roots,
                        min_only=True, limit=self.limit)

    def tree_routes(self, roots: NDArray[np.int64], targets: Any,
                    shortest: NDArray[np.float64], *, n_routes: int, cover: NDArray[np.bool_],
                    root_col: int, target_cols: NDArray[np.int64],
                    cover_first: NDArray[np.bool_]) -> None:
        """Routes from ``roots`` (one tree) to each target (a node position, or an array
        of positions meaning "the nearest of them"): the shortest, then up to
        ``n_routes - 1`` alternatives, each kept only when at most ``(1 + detour)``
        times the target's ``shortest`` length. Every kept route's edges get the
        root's column and the target's column of ``cover`` (edges x columns) set; the
        first (shortest) routes also mark ``cover_first``."""
        w = self.base.copy()
        for round_ in range(n_routes):
            dist, pred, _ = dijkstra(self.adjacency(w), directed=False, indices=roots,
                                     min_only=True, limit=self.limit * (1 + _ALTERNATIVE_PENALTY),
                                     return_predecessors=True)
            used: list[np.ndarray] = []
            for t, best, col in zip(targets, shortest, target_cols, strict=True):
                t_arr = np.atleast_1d(t)
                end = int(t_arr[np.argmin(dist[t_arr])])
                if not np.isfinite(dist[end]):
                    continue
                path = np.asarray(self._trace(pred, end), np.int64)
                if self.base[path].sum() <= (1.0 + self.detour) * best * (1 + 1e-9) + 1e-6:
                    used.append(path)
                    cover[self.idx[path], root_col] = True
                    cover[self.idx[path], col] = True
                    if round_ == 0:
                        cover_first[self.idx[path], root_col] = True
                        cover_first[self.idx[path], col] = True
            if not used:
                break
            w[np.unique(np.concatenate(used))] *= 1.0 + _ALTERNATIVE_PENALTY

    def path(self, roots: NDArray[np.int64], targets: NDArray[np.int64], *,
             ends: bool = False) -> Any:
        """Edges (indices into ``edges``) of the shortest route from the nearest of
        ``roots`` to the nearest of ``targets``, with no length limit; ``None`` when
        none joins them. With ``ends``: ``(edges, start node, end node)``."""
        if not len(roots) or not len(targets):
            return None
        dist, pred, src = dijkstra(self.adjacency(self.base), directed=False,
                                   indices=np.asarray(roots), min_only=True,
                                   return_predecessors=True)
        t = np.asarray(targets)
        end = int(t[np.argmin(dist[t])])
        if not np.isfinite(dist[end]):
            return None
        local = np.asarray(self._trace(pred, end), np.int64)
        edges = self.idx[local]
        return (edges, int(src[end]), end) if ends else edges

    def _trace(self, pred: NDArray[np.int32], end: int) -> list[int]:
        out, cur = [], end
        while pred[cur] >= 0:
            p = int(pred[cur])
            out.append(self.lookup[(p, cur) if p < cur else (cur, p)])
            cur = p
        return out


def _joining_paths(edges: PipeEdges, adj: sp.csr_matrix, idx: NDArray[np.int64],
                   locked: NDArray[np.bool_], src_u: NDArray[np.int64],
                   gate_pos: NDArray[np.int64], n: int) -> NDArray[np.bool_]:
    """Edges on the shortest routes from the nearest source to each locked edge and
    from each locked edge to the nearest gate."""
    lookup = {}
    for e in idx:
        lookup[(int(edges.u[e]), int(edges.v[e]))] = int(e)
    out = np.zeros(edges.n_edges, bool)
    ends = np.unique(np.r_[edges.u[locked], edges.v[locked]])
    for starts in (src_u, np.unique(gate_pos)):
        if not starts.size:
            continue
        _, pred, _ = dijkstra(adj, directed=False, indices=starts, min_only=True,
                              return_predecessors=True)
        for node in ends:
            cur = int(node)
            while pred[cur] >= 0:
                p = int(pred[cur])
                out[lookup[(min(p, cur), max(p, cur))]] = True
                cur = p
    return out


@dataclass
class _Links:
    """A working list of links (each a chain of road edges) during reduction.

    ``cover[l]`` flags the sources and zones (columns) whose routes use link ``l``;
    ``first[l]`` the same for shortest routes only (alternatives left out).
    """

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    length: NDArray[np.float64]
    weight: NDArray[np.float64]
    extra: NDArray[np.float64]
    locked: NDArray[np.bool_]
    cover: NDArray[np.bool_]
    first: NDArray[np.bool_]
    members: list[list[tuple[int, bool]]]

    @property
    def size(self) -> int:
        return int(self.a.size)

    @classmethod
    def from_edges(cls, edges: PipeEdges, which: NDArray[np.int64], weight: NDArray[np.float64],
                   extra: NDArray[np.float64], locked: NDArray[np.bool_],
                   cover: NDArray[np.bool_], first: NDArray[np.bool_]) -> _Links:
        return cls(edges.u[which].copy(), edges.v[which].copy(), edges.length_m[which].copy(),
                   weight[which].copy(), extra[which].copy(), locked[which].copy(),
                   cover[which].copy(), first[which].copy(), [[(int(e), True)] for e in which])

    def _take(self, keep: NDArray[np.bool_]) -> _Links:
        return _Links(self.a[keep], self.b[keep], self.length[keep], self.weight[keep],
                      self.extra[keep], self.locked[keep], self.cover[keep], self.first[keep],
                      [m for m, k in zip(self.members, keep, strict=True) if k])

    def degree(self, n: int) -> NDArray[np.int64]:
        return np.bincount(np.r_[self.a, self.b], minlength=n)

    def prune_dead_ends(self, terminal: NDArray[np.bool_], n: int) -> _Links:
        links = self
        while links.size:
            deg = links.degree(n)
            dead = (deg == 1) & ~terminal
            drop = (dead[links.a] | dead[links.b]) & ~links.locked
            if not drop.any():
                break
            links = links._take(~drop)
        return links

    def contract_chains(self, terminal: NDArray[np.bool_], n: int) -> _Links:
        """Merge links through non-terminal nodes of degree 2 into single links."""
        if not self.size:
            return self
        deg = self.degree(n)
        inner = (deg == 2) & ~terminal
        if not inner[self.a].any() and not inner[self.b].any():
            return self
        ends = np.r_[self.a, self.b]
        order = np.argsort(ends, kind="stable")
        ptr = np.r_[0, np.cumsum(np.bincount(ends, minlength=n))]
        inc = order % self.size  # incident link ids, grouped by node
        seen = np.zeros(self.size, bool)
        chains: list[tuple[int, int, list[int], list[tuple[int, bool]]]] = []

        def walk(start: int, first: int) -> None:
            node, link = start, first
            mem: list[tuple[int, bool]] = []
            parts: list[int] = []
            while True:
                seen[link] = True
                parts.append(link)
                fwd = int(self.a[link]) == node
                mem.extend(self.members[link] if fwd else
                           [(e, not f) for e, f in reversed(self.members[link])])
                node = int(self.b[link]) if fwd else int(self.a[link])
                if not inner[node]:
                    break
                nxt = [int(x) for x in inc[ptr[node]:ptr[node + 1]] if x != link]
                if not nxt or seen[nxt[0]]:
                    break
                link = nxt[0]
            chains.append((start, node, parts, mem))

        for node in np.flatnonzero(~inner & (deg > 0)):
            for link in inc[ptr[node]:ptr[node + 1]]:
                if not seen[link]:
                    walk(int(node), int(link))
        # links never reached lie on closed loops of inner nodes: no terminal, no use
        return _Links(
            np.array([c[0] for c in chains], np.int64), np.array([c[1] for c in chains],
                                                                 np.int64),
            np.array([self.length[c[2]].sum() for c in chains]),
            np.array([self.weight[c[2]].sum() for c in chains]),
            np.array([self.extra[c[2]].sum() for c in chains]),
            np.array([self.locked[c[2]].any() for c in chains], bool),
            np.array([self.cover[c[2]].any(axis=0) for c in chains], bool).reshape(
                len(chains), self.cover.shape[1]),
            np.array([self.first[c[2]].any(axis=0) for c in chains], bool).reshape(
                len(chains), self.first.shape[1]),
            [c[3] for c in chains])

    def drop_dominated(self, col_mw: NDArray[np.float64], n_src: int,
                       max_pipe_mw: float) -> _Links:
        """Drop self-loops and parallel links that are no shorter and no cheaper, when
        one pipe can carry all their flow (flow bound at most ``max_pipe_mw``); the link
        kept takes over the routes of the ones dropped."""
        if not self.size:
            return self
        lo, hi = np.minimum(self.a, self.b), np.maximum(self.a, self.b)
        drop = (lo == hi) & ~self.locked
        order = np.lexsort((self.extra, self.length, hi, lo))
        lo_s, hi_s = lo[order], hi[order]
        start = np.r_[True, (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1])]
        group = np.cumsum(start) - 1
        sizes = np.bincount(group)
        cover, first = self.cover.copy(), self.first.copy()
        for g in np.flatnonzero(sizes > 1):
            members = order[group == g]
            for j in members:
                if self.locked[j] or drop[j]:
                    continue
                for k in members:
                    merged = cover[k] | cover[j]
                    if _bound(merged[None, :], col_mw, n_src)[0] > max_pipe_mw:
                        continue
                    if k != j and not drop[k] and self.length[k] <= self.length[j] and \
                            self.extra[k] <= self.extra[j] and \
                            (self.length[k] < self.length[j] or self.extra[k] < self.extra[j]
                             or k < j):
                        drop[j] = True
                        cover[k] |= cover[j]
                        first[k] |= first[j]
                        break
        if not drop.any():
            return self
        return _Links(self.a, self.b, self.length, self.weight, self.extra, self.locked, cover,
                      first, self.members)._take(~drop)
