"""Candidate pipe edges and the graph reduction of :mod:`siting.heat.graph`."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from siting.errors import InputError
from siting.heat.graph import edge_geometries, pipe_edges, reduce_network


def road(edges: list[tuple[int, int, float]], xy: dict[int, tuple[float, float]],
         *, two_way: bool = True) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="EPSG:32650")
    for n, (x, y) in xy.items():
        g.add_node(n, x=x, y=y)
    for a, b, length in edges:
        g.add_edge(a, b, length=length)
        if two_way:
            g.add_edge(b, a, length=length)
    return g


def grid(n: int, step: float = 100.0) -> nx.MultiDiGraph:
    xy = {i * n + j: (j * step, i * step) for i in range(n) for j in range(n)}
    edges = [(i * n + j, i * n + j + 1, step) for i in range(n) for j in range(n - 1)]
    edges += [(i * n + j, (i + 1) * n + j, step) for i in range(n - 1) for j in range(n)]
    return road(edges, xy)


def test_pipe_edges_collapse_directions_and_parallels():
    g = road([(1, 2, 100.0), (2, 3, 50.0)], {1: (0, 0), 2: (100, 0), 3: (150, 0)})
    g.add_edge(1, 2, length=80.0)       # a shorter parallel carriageway
    g.add_edge(3, 3, length=10.0)       # a self-loop
    e = pipe_edges(g)
    assert e.n_edges == 2
    assert sorted(e.ids.tolist()) == ["hp:1-2", "hp:2-3"]
    assert e.length_m[e.ids.tolist().index("hp:1-2")] == 80.0


def test_pipe_edges_errors():
    with pytest.raises(InputError, match="no nodes or no edges"):
        pipe_edges(nx.MultiDiGraph())
    g = road([(1, 2, 100.0)], {1: (0, 0), 2: (1, 0)})
    g.add_edge(2, 1, length=None)
    with pytest.raises(InputError, match="finite length"):
        pipe_edges(g)
    g = nx.MultiDiGraph()
    g.add_edge(1, 2, length=1.0)
    with pytest.raises(InputError, match="lack 'x'/'y'"):
        pipe_edges(g)


def test_edge_geometry_follows_the_road_and_is_oriented():
    import shapely

    g = road([(1, 2, 200.0)], {1: (0, 0), 2: (100, 100)}, two_way=False)
    g.edges[1, 2, 0]["geometry"] = shapely.LineString([(100, 100), (0, 100), (0, 0)])
    e = pipe_edges(g)
    (line,) = edge_geometries(g, e, np.array([0]))
    start = e.xy[e.u[0]]
    assert line.coords[0] == pytest.approx(tuple(start))
    assert line.length == pytest.approx(200.0)


def test_chain_is_contracted_dead_end_pruned_and_bound_set():
    # source 0 - 1 - 2 - 3 gate; a dead-end spur 2 - 4; all degree-2 nodes inner
    xy = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (300, 0), 4: (200, 100)}
    g = road([(0, 1, 100.0), (1, 2, 110.0), (2, 3, 120.0), (2, 4, 100.0)], xy)
    e = pipe_edges(g)
    pos = {n: i for i, n in enumerate(e.node_ids.tolist())}
    red = reduce_network(e, source_pos=np.array([pos[0]]), gate_pos=np.array([pos[3]]),
                         gate_zone=np.array([0]), n_zones=1, max_link_m=1000.0, detour=0.5,
                         source_mw=np.array([7.0]), zone_mw=np.array([50.0]))
    assert red.n_links == 1
    assert red.link_length_m.tolist() == [330.0]
    assert red.link_max_mw.tolist() == [7.0]
    members, _ = red.members(0)
    assert len(members) == 3
    assert sorted(e.node_ids[red.node_pos].tolist()) == [0, 3]
    assert red.stats["corridor_edges"] == 3


def test_grid_routes_stay_narrow_where_every_monotone_path_ties():
    # on a 10 x 10 grid every monotone path from corner to corner is shortest; one
    # route keeps one path, not the whole rectangle
    g = grid(10)
    e = pipe_edges(g)
    pos = {n: i for i, n in enumerate(e.node_ids.tolist())}
    kw = dict(source_pos=np.array([pos[0]]), gate_pos=np.array([pos[99]]),
              gate_zone=np.array([0]), n_zones=1, max_link_m=10_000.0, detour=0.25)
    one = reduce_network(e, n_routes=1, **kw)
    assert one.stats["corridor_edges"] == 18 and one.n_links == 1
    assert one.link_length_m.tolist() == [1800.0]
    two = reduce_network(e, n_routes=2, **kw)
    assert 18 < two.stats["corridor_edges"] <= 36
    assert (two.link_length_m >= 0).all()
    # the two tied routes form equal parallel chains: one is kept, still on a shortest route
    assert two.n_links == 1 and two.link_tier.tolist() == [0]
    # with no detour allowed, alternatives must tie: every kept edge is on a monotone
    # (shortest) corner-to-corner path
    tight = reduce_network(e, n_routes=3, **{**kw, "detour": 0.0})
    xy = e.xy[np.r_[e.u[tight.member_edge], e.v[tight.member_edge]]]
    assert tight.stats["corridor_edges"] > 18
    via = xy.reshape(2, -1, 2)
    lo = np.minimum(via[0], via[1]).sum(axis=1)
    hi = np.maximum(via[0], via[1]).sum(axis=1)
    assert np.allclose(lo + 100.0 + (1800.0 - hi), 1800.0)


def test_detour_bound_excludes_long_alternatives():
    # 0 -> 3 direct via 1 (2 x 100 m) or via 2 (2 x 200 m: a 100% detour)
    xy = {0: (0, 0), 1: (100, 0), 2: (100, 100), 3: (200, 0)}
    g = road([(0, 1, 100.0), (1, 3, 100.0), (0, 2, 200.0), (2, 3, 200.0)], xy)
    e = pipe_edges(g)
    pos = {n: i for i, n in enumerate(e.node_ids.tolist())}
    kw = dict(source_pos=np.array([pos[0]]), gate_pos=np.array([pos[3]]),
              gate_zone=np.array([0]), n_zones=1, max_link_m=1000.0, n_routes=2)
    assert reduce_network(e, detour=0.5, **kw).stats["corridor_edges"] == 2
    both = reduce_network(e, detour=1.0, **kw)
    assert both.stats["corridor_edges"] == 4
    # the longer parallel route is dominated once one pipe carries everything ...
    assert both.link_length_m.tolist() == [200.0]
    # ... but kept when the flow may need two pipes
    two = reduce_network(e, detour=1.0, source_mw=np.array([500.0]),
                         zone_mw=np.array([900.0]), max_pipe_mw=350.0, **kw)
    assert sorted(two.link_length_m.tolist()) == [200.0, 400.0]
    assert sorted(two.link_tier.tolist()) == [0, 1]


def test_pairs_beyond_max_link_are_not_linked():
    g = road([(0, 1, 5000.0)], {0: (0, 0), 1: (5000, 0)})
    e = pipe_edges(g)
    red = reduce_network(e, source_pos=np.array([0]), gate_pos=np.array([1]),
                         gate_zone=np.array([0]), n_zones=1, max_link_m=1000.0, detour=0.1)
    assert red.n_links == 0
    assert red.stats["source_zone_pairs"] == 0
    assert np.isinf(red.pair_distance_m[0, 0])


def test_forbidden_edges_are_never_used_and_locked_ones_are_joined():
    # ladder: 0-1-2 top, 3-4-5 bottom, rungs 0-3, 2-5; source 0, gate 2
    xy = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (0, 100), 4: (100, 100), 5: (200, 100)}
    g = road([(0, 1, 100.0), (1, 2, 100.0), (3, 4, 100.0), (4, 5, 100.0), (0, 3, 100.0),
              (2, 5, 100.0)], xy)
    e = pipe_edges(g)
    pos = {n: i for i, n in enumerate(e.node_ids.tolist())}
    ids = e.ids.tolist()
    kw = dict(source_pos=np.array([pos[0]]), gate_pos=np.array([pos[2]]),
              gate_zone=np.array([0]), n_zones=1, max_link_m=10_000.0, detour=5.0)
    blocked = np.ones(e.n_edges, bool)
    blocked[ids.index("hp:1-2")] = False
    red = reduce_network(e, allowed=blocked, **kw)
    used = {ids[m] for m in red.member_edge}
    assert "hp:1-2" not in used and "hp:4-5" in used
    lock = np.zeros(e.n_edges, bool)
    lock[ids.index("hp:4-5")] = True
    red = reduce_network(e, locked=lock, **kw)
    used = {ids[m] for m in red.member_edge}
    assert {"hp:4-5", "hp:0-3", "hp:2-5", "hp:0-1", "hp:1-2"} <= used
    assert red.link_locked.any()
    with pytest.raises(InputError, match="locked edges are not allowed"):
        reduce_network(e, locked=lock, allowed=~lock, **kw)


def test_bad_options_are_reported_together():
    e = pipe_edges(road([(0, 1, 1.0)], {0: (0, 0), 1: (1, 0)}))
    with pytest.raises(InputError) as info:
        reduce_network(e, source_pos=np.array([0]), gate_pos=np.array([1]),
                       gate_zone=np.array([0]), n_zones=1, max_link_m=-1.0, detour=-0.1,
                       n_routes=0)
    msg = str(info.value)
    assert "max_link_m=-1.0" in msg and "detour=-0.1" in msg and "n_routes=0" in msg
