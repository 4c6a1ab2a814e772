"""Benchmark: sparse network costs (siting.network.network_costs) vs a networkx loop.

For each size it times ``network_costs`` (cache off) from N source points to M target
points within a cutoff, then measures, in a second untimed run, its peak traced
memory (tracemalloc: numpy and scipy arrays included) and the process's peak RSS,
and compares it with the plain networkx way: one
``single_source_dijkstra_path_length`` per source. The networkx loop is run on a
sample of sources only and extrapolated linearly (stated in the table); on that
sample the two must agree to 1e-6 m, or the benchmark fails.

Graphs: the embedded Zibo demo (``--zibo``, full road detail), an osmnx GraphML file
(``--graphml``), a local OSM file (``--osm``), or a seeded synthetic grid (``--grid``).

    python bench/network_costs.py --zibo --sizes 500,5000 --cutoff-m 5000
    python bench/network_costs.py --grid 200 --results bench/RESULTS.md

``--results FILE`` rewrites only the section between ``<!-- network:start -->`` and
``<!-- network:end -->`` of FILE (appended if absent), re-reading the file first.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from _results import write_section  # noqa: E402  (bench/ is the script's folder)

from siting.network import network_costs  # noqa: E402


@dataclass(frozen=True)
class Row:
    sources: int
    targets: int
    pairs: int
    seconds: float
    traced_mb: float
    rss_mb: float
    dense_mb: float
    peer_sample: int
    peer_seconds_est: float
    max_diff_m: float


def grid_graph(n: int, *, spacing_m: float = 100.0, seed: int = 0) -> nx.MultiDiGraph:
    """An n×n street grid in EPSG:32650, two-way, 8% of streets removed, speeds
    30-60 km/h (seeded); the largest strongly connected part."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:32650")
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=500_000 + j * spacing_m, y=4_000_000 + i * spacing_m)
    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                if i + di >= n or j + dj >= n or rng.random() < 0.08:
                    continue
                a, b = i * n + j, (i + di) * n + (j + dj)
                length = spacing_m * rng.uniform(1.0, 1.15)
                speed = rng.choice([30.0, 40.0, 60.0])
                for u, v in ((a, b), (b, a)):
                    g.add_edge(u, v, length=length, speed_kph=speed,
                               travel_time=length / (speed / 3.6))
    big = max(nx.strongly_connected_components(g), key=len)
    return g.subgraph(big).copy()


def load_graph(args: argparse.Namespace) -> tuple[nx.MultiDiGraph, str]:
    if args.zibo:
        from siting.region.zibo import build_zibo_region

        region = build_zibo_region(seed=args.seed, road_detail="full")
        return region.graph, "Zibo demo region (synthetic roads, road_detail='full')"
    if args.graphml or args.osm:
        from siting.region.osm import region_from_osm_file

        path = args.graphml or args.osm
        return region_from_osm_file(path).graph, f"{Path(path).name}"
    return grid_graph(args.grid, seed=args.seed), f"synthetic {args.grid}×{args.grid} grid"


def points_near_nodes(g: nx.MultiDiGraph, k: int, rng: np.random.Generator) -> np.ndarray:
    """k points within 50 m of random nodes (so snapping does real work)."""
    nodes = list(g.nodes)
    pick = rng.choice(len(nodes), size=k, replace=k > len(nodes))
    xy = np.array([(g.nodes[nodes[i]]["x"], g.nodes[nodes[i]]["y"]) for i in pick])
    return xy + rng.uniform(-50, 50, xy.shape)


def peer(g: nx.MultiDiGraph, costs: object, sample: np.ndarray, cutoff_m: float
         ) -> tuple[float, float]:
    """networkx on ``sample`` source indices: seconds, max |difference| in metres."""
    src_nodes = costs.source_node  # type: ignore[attr-defined]
    tgt_nodes = costs.target_node  # type: ignore[attr-defined]
    ours = costs.to_sparse("metres").tocsr()  # type: ignore[attr-defined]
    max_diff = 0.0
    t0 = time.perf_counter()
    results = {int(i): nx.single_source_dijkstra_path_length(
        g, src_nodes[i], cutoff=cutoff_m, weight="length") for i in sample}
    seconds = time.perf_counter() - t0
    for i, dist in results.items():
        row = ours.getrow(i)
        got = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        want = {j: dist[t] for j, t in enumerate(tgt_nodes) if t in dist}
        if got.keys() != want.keys():
            raise SystemExit(f"disagreement with networkx for source {i}: "
                             f"{len(got)} vs {len(want)} targets in reach")
        if want:
            max_diff = max(max_diff, max(abs(got[j] - w) for j, w in want.items()))
    if max_diff > 1e-6:
        raise SystemExit(f"disagreement with networkx: max |diff| {max_diff} m")
    return seconds, max_diff


def measure(g: nx.MultiDiGraph, n_src: int, n_tgt: int, cutoff_m: float, peer_sample: int,
            rng: np.random.Generator) -> Row:
    src = points_near_nodes(g, n_src, rng)
    tgt = points_near_nodes(g, n_tgt, rng)
    gc.collect()
    t0 = time.perf_counter()
    costs = network_costs(g, src, tgt, cutoff_m=cutoff_m, cache=False)
    seconds = time.perf_counter() - t0
    # memory in a second, traced run (tracing slows Python code, so it is not timed)
    del costs
    gc.collect()
    tracemalloc.start()
    costs = network_costs(g, src, tgt, cutoff_m=cutoff_m, cache=False)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    sample = rng.choice(n_src, size=min(peer_sample, n_src), replace=False)
    peer_s, diff = peer(g, costs, sample, cutoff_m)
    return Row(sources=n_src, targets=n_tgt, pairs=len(costs), seconds=seconds,
               traced_mb=traced / 2**20, rss_mb=rss_mb, dense_mb=n_src * n_tgt * 8 / 2**20,
               peer_sample=len(sample), peer_seconds_est=peer_s * n_src / len(sample),
               max_diff_m=diff)


def table(rows: list[Row], *, graph_label: str, g: nx.MultiDiGraph, cutoff_m: float,
          command: str) -> str:
    lines = [
        "## Network costs (`siting.network.network_costs`)",
        "",
        f"Graph: {graph_label}: {len(g):,} nodes, {g.number_of_edges():,} edges. "
        f"Cutoff {cutoff_m:,.0f} m, weight `length` (minutes along the same path also "
        "computed). Sources and targets are random points within 50 m of random nodes, "
        "snapped inside. Cache off.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, shared 2-core box (other jobs may run beside it).",
        "",
        f"Command: `{command}`",
        "",
        "| sources | targets | pairs within cutoff | time (s) | peak traced (MiB) | "
        "peak RSS (MiB) | dense S×T float64 (MiB) | networkx loop (s, extrapolated) | "
        "speed-up | max diff vs networkx (m) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.sources:,} | {r.targets:,} | {r.pairs:,} | {r.seconds:.2f} | "
            f"{r.traced_mb:.0f} | {r.rss_mb:.0f} | {r.dense_mb:.0f} | "
            f"{r.peer_seconds_est:.1f} (from {r.peer_sample} sources) | "
            f"{r.peer_seconds_est / r.seconds:.0f}× | {r.max_diff_m:.1e} |")
    lines += [
        "",
        "Time is one untraced call, including snapping and reading the graph's edges. "
        "Peak traced memory is what Python/numpy/scipy allocated during a second call "
        "(tracemalloc), bounded by the chunk budget (`max_chunk_mb=64` for the dense "
        "per-chunk Dijkstra rows) plus the output; peak RSS is the whole process "
        "(graph included) since start. The networkx column times "
        "`single_source_dijkstra_path_length(cutoff=...)` on the stated sample of "
        "sources, scaled linearly to all sources; its results were checked equal.",
    ]
    return "\n".join(lines)



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--zibo", action="store_true", help="the Zibo demo region (full roads)")
    src.add_argument("--graphml", type=Path, help="an osmnx GraphML file")
    src.add_argument("--osm", type=Path, help="a local .osm/.osm.bz2/.osm.pbf file")
    src.add_argument("--grid", type=int, default=200, help="synthetic N×N grid (default)")
    ap.add_argument("--sizes", default="500,5000", help="comma-separated source counts")
    ap.add_argument("--targets", type=int, default=2000, help="target points")
    ap.add_argument("--cutoff-m", type=float, default=5000.0)
    ap.add_argument("--peer-sample", type=int, default=50,
                    help="sources the networkx loop runs on (then extrapolated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", type=Path, help="update the network section of this file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    t0 = time.perf_counter()
    g, label = load_graph(args)
    print(f"graph: {label}: {len(g):,} nodes, {g.number_of_edges():,} edges "
          f"(built in {time.perf_counter() - t0:.1f} s)", flush=True)
    rng = np.random.default_rng(args.seed)
    rows = []
    for n_src in (int(s) for s in args.sizes.split(",")):
        row = measure(g, n_src, args.targets, args.cutoff_m, args.peer_sample, rng)
        print(row, flush=True)
        rows.append(row)
    command = "python bench/network_costs.py " + " ".join(sys.argv[1:] if argv is None
                                                          else argv)
    body = table(rows, graph_label=label, g=g, cutoff_m=args.cutoff_m, command=command)
    print(body)
    if args.results:
        write_section(args.results, "network", body)
        print(f"updated the network section of {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
