"""Snapping and sparse network costs: toys solvable by hand, networkx agreement."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from siting.errors import CRSError, InputError
from siting.network import NetworkCosts, graph_arrays, network_costs, snap_points

CRS = "EPSG:32650"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def make_graph(
    edges: list[tuple[object, object, float, float]],
    n_nodes: int | None = None,
    *,
    crs: str | None = CRS,
) -> nx.MultiDiGraph:
    """A MultiDiGraph from ``(u, v, length_m, time_s)``; node i sits at (100 i, 0)."""
    g = nx.MultiDiGraph(crs=crs) if crs else nx.MultiDiGraph()
    nodes = range(n_nodes) if n_nodes is not None else sorted(
        {e[0] for e in edges} | {e[1] for e in edges}
    )
    for i in nodes:
        g.add_node(i, x=100.0 * i, y=0.0)
    for u, v, length, time_s in edges:
        g.add_edge(u, v, length=length, travel_time=time_s)
    return g


def pairs(costs: NetworkCosts, which: str = "metres") -> dict[tuple[int, int], float]:
    vals = getattr(costs, which)
    return {(int(s), int(t)): float(x)
            for s, t, x in zip(costs.source, costs.target, vals, strict=True)}


# --------------------------------------------------------------------------- toys


def test_line_graph_by_hand() -> None:
    # 0 -> 1 -> 2 -> 3, 100 m each at 10 m/s; plus a slow parallel 0->1 edge of 50 m
    g = make_graph([(0, 1, 100, 10), (1, 2, 100, 10), (2, 3, 100, 10), (0, 1, 50, 60)])
    costs = network_costs(g, [0, 1], [0, 1, 2, 3], cutoff_m=250, cache=False)
    assert pairs(costs) == {
        (0, 0): 0.0, (0, 1): 50.0, (0, 2): 150.0, (0, 3): 250.0,  # 250 == cutoff: kept
        (1, 1): 0.0, (1, 2): 100.0, (1, 3): 200.0,
    }
    # minutes along the shortest-by-length path: via the slow 50 m edge (60 s)
    assert pairs(costs, "minutes")[(0, 3)] == pytest.approx((60 + 10 + 10) / 60)
    assert costs.n_sources == 2 and costs.n_targets == 4 and len(costs) == 7
    assert costs.source_snap_m is None
    with pytest.raises(ValueError, match="read-only"):
        costs.metres[0] = 1.0


def test_fastest_path_reports_its_own_length() -> None:
    # short-but-slow 0->1->3 (200 m, 200 s) vs long-but-fast 0->2->3 (400 m, 40 s)
    g = make_graph([(0, 1, 100, 100), (1, 3, 100, 100), (0, 2, 200, 20), (2, 3, 200, 20)])
    by_length = network_costs(g, [0], [3], cutoff_m=1000, cache=False)
    assert pairs(by_length) == {(0, 0): 200.0}
    assert pairs(by_length, "minutes") == {(0, 0): pytest.approx(200 / 60)}
    by_time = network_costs(g, [0], [3], cutoff_m=1000, weight="travel_time", cache=False)
    assert pairs(by_time) == {(0, 0): 400.0}
    assert pairs(by_time, "minutes") == {(0, 0): pytest.approx(40 / 60)}
    # the fastest path is 400 m long, so a 300 m cutoff drops the pair
    assert len(network_costs(g, [0], [3], cutoff_m=300, weight="travel_time",
                             cache=False)) == 0
    # cutoff_min filters on the reported path's minutes
    assert len(network_costs(g, [0], [3], cutoff_m=1000, cutoff_min=3.0, cache=False)) == 0
    assert len(network_costs(g, [0], [3], cutoff_m=1000, cutoff_min=3.4, cache=False)) == 1


def test_one_way_edges_and_unreachable_targets() -> None:
    g = make_graph([(0, 1, 10, 1), (2, 3, 10, 1)])
    costs = network_costs(g, [1, 0], [0, 1, 3], cutoff_m=1e6, cache=False)
    assert pairs(costs) == {(0, 1): 0.0, (1, 0): 0.0, (1, 1): 10.0}


def test_duplicate_sources_and_targets_keep_their_own_indices() -> None:
    g = make_graph([(0, 1, 100, 10), (1, 0, 100, 10)])
    costs = network_costs(g, [1, 0, 1], [0, 0, 1], cutoff_m=500, cache=False)
    assert pairs(costs) == {
        (0, 0): 100.0, (0, 1): 100.0, (0, 2): 0.0,
        (1, 0): 0.0, (1, 1): 0.0, (1, 2): 100.0,
        (2, 0): 100.0, (2, 1): 100.0, (2, 2): 0.0,
    }
    assert list(costs.source_node) == [1, 0, 1]
    assert list(costs.source) == sorted(costs.source)


def test_to_sparse_keeps_explicit_zeros_and_shape() -> None:
    g = make_graph([(0, 1, 100, 10)])
    costs = network_costs(g, [0, 0], [0, 1, 1], cutoff_m=500, cache=False)
    mat = costs.to_sparse("metres")
    assert mat.shape == (2, 3)
    assert mat.nnz == 6  # zeros at (i, 0) stored explicitly
    assert mat[0, 1] == 100.0
    assert costs.to_sparse("minutes")[1, 2] == pytest.approx(10 / 60)
    with pytest.raises(InputError, match=r"to_sparse\(which='km'\)"):
        costs.to_sparse("km")  # type: ignore[arg-type]


def test_tiny_chunks_give_the_same_answer() -> None:
    rng = np.random.default_rng(7)
    g = random_graph(rng, n=40, m=160)
    src = list(range(40))
    a = network_costs(g, src, src, cutoff_m=300, cache=False)
    b = network_costs(g, src, src, cutoff_m=300, cache=False, max_chunk_mb=1e-6)
    assert pairs(a) == pairs(b) and pairs(a, "minutes") == pairs(b, "minutes")


def test_graph_arrays_min_over_parallel_edges_and_no_self_loops() -> None:
    g = make_graph([(0, 1, 5, 1), (0, 1, 3, 9), (1, 1, 1, 1), (1, 2, 0, 0)])
    mat, nodes = graph_arrays(g, weight="length")
    assert list(nodes) == [0, 1, 2]
    assert mat.shape == (3, 3) and mat.nnz == 2
    assert mat[0, 1] == 3.0
    assert mat[1, 2] == 0.0 and mat[1].indices.tolist() == [2]  # explicit zero edge
    t_mat, _ = graph_arrays(g, weight="travel_time")
    assert t_mat[0, 1] == 1.0


# --------------------------------------------------------------------------- snapping


def test_snap_points_arrays_and_geoseries() -> None:
    g = make_graph([(0, 1, 100, 10), (1, 2, 100, 10)])
    nodes, dist = snap_points(g, np.array([[10.0, 0.0], [160.0, 30.0], [500.0, 0.0]]))
    assert nodes.tolist() == [0, 2, 2]
    np.testing.assert_allclose(dist, [10.0, np.hypot(40, 30), 300.0])
    # same points in another metric CRS are reprojected first
    pts = gpd.GeoSeries([Point(10, 0), Point(160, 30)], crs=CRS)
    nodes2, dist2 = snap_points(g, pts.to_crs("EPSG:3857"))
    assert nodes2.tolist() == [0, 2]
    np.testing.assert_allclose(dist2, [10.0, 50.0], atol=1e-3)


def test_network_costs_snaps_points_inside() -> None:
    g = make_graph([(0, 1, 100, 10), (1, 0, 100, 10)])
    pts = gpd.GeoDataFrame(geometry=[Point(0, 5), Point(90, 0), Point(95, 1)], crs=CRS)
    costs = network_costs(g, pts, pts.geometry, cutoff_m=150, cache=False)
    assert costs.source_node.tolist() == [0, 1, 1]
    np.testing.assert_allclose(costs.source_snap_m, [5.0, 10.0, np.hypot(5, 1)])
    assert pairs(costs)[(0, 2)] == 100.0 and pairs(costs)[(1, 2)] == 0.0


def test_tuple_node_labels() -> None:
    g = nx.MultiDiGraph(crs=CRS)
    g.add_node((0, 0), x=0.0, y=0.0)
    g.add_node((0, 1), x=0.0, y=100.0)
    g.add_edge((0, 0), (0, 1), length=100.0, travel_time=5.0)
    costs = network_costs(g, [(0, 0)], np.array([[0.0, 90.0]]), cutoff_m=200, cache=False)
    assert pairs(costs) == {(0, 0): 100.0}
    assert costs.target_node[0] == (0, 1)


# --------------------------------------------------------------------------- errors


def test_graph_crs_errors() -> None:
    with pytest.raises(CRSError, match=r"road graph has no 'crs'.*project_graph"):
        network_costs(make_graph([(0, 1, 1, 1)], crs=None), [0], [1], cutoff_m=10)
    with pytest.raises(CRSError, match=r"road graph has CRS EPSG:4326, not a projected CRS"):
        snap_points(make_graph([(0, 1, 1, 1)], crs="EPSG:4326"), np.zeros((1, 2)))


def test_point_crs_errors() -> None:
    g = make_graph([(0, 1, 100, 10)])
    with pytest.raises(CRSError, match=r"sources have geographic CRS EPSG:4326"):
        network_costs(g, gpd.GeoSeries([Point(118, 36)], crs="EPSG:4326"), [0], cutoff_m=10)
    with pytest.raises(CRSError, match=r"targets have no CRS"):
        network_costs(g, [0], gpd.GeoSeries([Point(0, 0)]), cutoff_m=10)
    with pytest.raises(InputError, match=r"points: 1 points have NaN"):
        snap_points(g, np.array([[np.nan, 0.0]]))
    with pytest.raises(InputError, match=r"expected an \(n, 2\) array"):
        snap_points(g, np.zeros((2, 3)))
    with pytest.raises(InputError, match=r"sources: 1 empty or missing geometries"):
        network_costs(g, gpd.GeoSeries([Point()], crs=CRS), [0], cutoff_m=10)


def test_unknown_nodes_and_bad_options_are_reported_together() -> None:
    g = make_graph([(0, 1, 100, 10)])
    with pytest.raises(InputError, match=r"targets: 2 of 3 node ids are not in the road graph"):
        network_costs(g, [0], [1, 7, 8], cutoff_m=10)
    with pytest.raises(InputError, match=r"(?s)3 problems:.*weight='km'.*cutoff_m=-1.*"
                                         r"max_chunk_mb=0"):
        network_costs(g, [0], [1], cutoff_m=-1, weight="km", max_chunk_mb=0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"cutoff_min=0"):
        network_costs(g, [0], [1], cutoff_m=10, cutoff_min=0)


def test_bad_edge_weights() -> None:
    g = make_graph([(0, 1, 100, 10)])
    del g.edges[0, 1, 0]["travel_time"]
    with pytest.raises(InputError, match=r"no 'travel_time' attribute; run osmnx.add_edge_speeds"):
        network_costs(g, [0], [1], cutoff_m=10)
    graph_arrays(g, weight="length")  # length alone is enough here
    g2 = make_graph([(0, 1, -5, 10), (1, 0, float("nan"), 1)])
    with pytest.raises(InputError, match=r"2 edges have a negative or non-finite 'length'"):
        graph_arrays(g2)
    with pytest.raises(InputError, match=r"road graph has no nodes"):
        graph_arrays(nx.MultiDiGraph(crs=CRS))


# --------------------------------------------------------------------------- cache


def test_cache_hit_is_logged_and_identical(_private_cache: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    g = random_graph(rng, n=30, m=90)
    first = network_costs(g, list(range(10)), list(range(30)), cutoff_m=400)
    files = list((_private_cache / "network").glob("*.npz"))
    assert len(files) == 1
    with caplog.at_level(logging.INFO, logger="siting.network"):
        second = network_costs(g, list(range(10)), list(range(30)), cutoff_m=400)
    assert "cache hit" in caplog.text
    assert pairs(first) == pairs(second)
    # different cutoff: a different key
    network_costs(g, list(range(10)), list(range(30)), cutoff_m=300)
    assert len(list((_private_cache / "network").glob("*.npz"))) == 2
    # a corrupt cache file is ignored with a warning and recomputed
    files[0].write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING, logger="siting.network"):
        third = network_costs(g, list(range(10)), list(range(30)), cutoff_m=400)
    assert "ignoring unreadable network-cost cache" in caplog.text
    assert pairs(third) == pairs(first)


# --------------------------------------------------------------------------- properties


def random_graph(rng: np.random.Generator, *, n: int, m: int) -> nx.MultiDiGraph:
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    length = rng.uniform(1.0, 200.0, m)
    time_s = length / rng.uniform(2.0, 30.0, m)
    return make_graph(list(zip(u.tolist(), v.tolist(), length, time_s, strict=True)), n)


def nx_reference(
    g: nx.MultiDiGraph, sources: list[int], targets: list[int], cutoff: float, weight: str
) -> dict[tuple[int, int], float]:
    out = {}
    for i, s in enumerate(sources):
        dist = nx.single_source_dijkstra_path_length(g, s, cutoff=cutoff, weight=weight)
        for j, t in enumerate(targets):
            if t in dist:
                out[(i, j)] = dist[t]
    return out


@st.composite
def graphs_and_queries(draw: st.DrawFn) -> tuple[nx.MultiDiGraph, list[int], list[int], float]:
    n = draw(st.integers(1, 12))
    node = st.integers(0, n - 1)
    edges = draw(st.lists(
        st.tuples(node, node, st.floats(0.0, 100.0), st.floats(0.0, 50.0)), max_size=40,
    ))
    sources = draw(st.lists(node, min_size=1, max_size=8))  # duplicates allowed
    targets = draw(st.lists(node, min_size=1, max_size=8))
    cutoff = draw(st.floats(0.5, 400.0))
    return make_graph(edges, n), sources, targets, cutoff


@settings(max_examples=150, deadline=None)
@given(graphs_and_queries())
def test_metres_agree_with_networkx(case: tuple[nx.MultiDiGraph, list[int], list[int], float]
                                    ) -> None:
    g, sources, targets, cutoff = case
    costs = network_costs(g, sources, targets, cutoff_m=cutoff, cache=False)
    expected = nx_reference(g, sources, targets, cutoff, "length")
    got = pairs(costs)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9)
    # minutes are those of a shortest-length path: never faster than the fastest path
    fastest = nx_reference(g, sources, targets, float("inf"), "travel_time")
    for key, minutes in pairs(costs, "minutes").items():
        assert minutes * 60 >= fastest[key] - 1e-9


@settings(max_examples=100, deadline=None)
@given(graphs_and_queries())
def test_fastest_paths_agree_with_networkx(
    case: tuple[nx.MultiDiGraph, list[int], list[int], float]
) -> None:
    g, sources, targets, cutoff = case
    costs = network_costs(g, sources, targets, cutoff_m=1e9, cutoff_min=cutoff / 60,
                          weight="travel_time", cache=False)
    expected = nx_reference(g, sources, targets, cutoff, "travel_time")
    got = pairs(costs, "minutes")
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] * 60 == pytest.approx(value, abs=1e-9)


def test_minutes_follow_the_networkx_shortest_path_exactly() -> None:
    """With continuous random weights (no ties) the shortest path is unique, so the
    minutes must equal the time summed along networkx's path."""
    rng = np.random.default_rng(11)
    g = random_graph(rng, n=60, m=300)
    sources = rng.integers(0, 60, 15).tolist()
    targets = rng.integers(0, 60, 25).tolist()
    costs = network_costs(g, sources, targets, cutoff_m=350, cache=False)
    minutes = pairs(costs, "minutes")
    assert len(minutes) > 30
    for (i, j), value in minutes.items():
        path = nx.dijkstra_path(g, sources[i], targets[j], weight="length")
        seconds = 0.0
        for a, b in itertools.pairwise(path):
            best = min(g[a][b].values(), key=lambda d: (d["length"], d["travel_time"]))
            seconds += best["travel_time"]
        assert value * 60 == pytest.approx(seconds, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("zero_length_edges", [0, 5])
def test_fastest_path_metres_cutoff_matches_networkx(zero_length_edges: int) -> None:
    """weight='travel_time' with a metre cutoff: exactly the pairs whose (unique)
    fastest path is at most cutoff_m long, also with zero-length edges that take time
    (no time bound follows from a length bound then)."""
    rng = np.random.default_rng(5 + zero_length_edges)
    g = random_graph(rng, n=50, m=220)
    for _ in range(zero_length_edges):
        a, b = rng.integers(0, 50, 2).tolist()
        g.add_edge(a, b, length=0.0, travel_time=float(rng.uniform(50, 100)))
    sources = list(range(0, 50, 3))
    targets = list(range(50))
    cutoff = 300.0
    costs = network_costs(g, sources, targets, cutoff_m=cutoff, weight="travel_time",
                          cache=False)
    expected = {}
    for i, s in enumerate(sources):
        _, paths = nx.single_source_dijkstra(g, s, weight="travel_time")
        for j, t in enumerate(targets):
            if t not in paths:
                continue
            metres = sum(
                min(g[a][b].values(), key=lambda d: (d["travel_time"], d["length"]))["length"]
                for a, b in itertools.pairwise(paths[t])
            )
            if metres <= cutoff:
                expected[(i, j)] = metres
    got = pairs(costs)
    assert len(expected) > 50
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9)
