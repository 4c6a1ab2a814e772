"""User-supplied layers: vector files (GeoPackage, Shapefile, GeoJSON) and GeoTIFF rasters.

Every reader checks its input at the door and raises one clear error naming the
file (and layer): a missing or unreadable file, an empty layer, a missing CRS, a
raster that misses the region. Invalid polygons are repaired with
:func:`shapely.make_valid` and a logged warning; polygons that collapse to nothing
are rejected.

Count rasters (people per cell) keep their totals: :func:`raster_zonal_sums` sums
cells per zone by cell centre, and :func:`warp_counts` moves a count raster to
another CRS with GDAL's ``sum`` resampling, then rescales it so the total inside the
boundary is the source's.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.warp
import rasterio.windows
import shapely
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS
from rasterio.enums import Resampling
from scipy.spatial import cKDTree
from shapely.geometry import box

from siting.crs import crs_label, geometry_gcj02_to_wgs84, normalise_crs
from siting.errors import CRSError, InputError
from siting.io import atomic_path
from siting.region import RasterLayer

logger = logging.getLogger(__name__)

_NO_RESIDENTS = r"^(motorway|trunk)(_link)?$"

__all__ = [
    "raster_zonal_sums", "read_raster", "read_vector", "repair_geometries", "require_file",
    "road_density_population", "warp_counts",
]

PathLike: TypeAlias = str | os.PathLike[str]


def _describe(path: Path, layer: str | None, what: str) -> str:
    return f"{what} (file {str(path)!r}" + (f", layer {layer!r})" if layer else ")")


def require_file(path: PathLike, what: str) -> Path:
    """``path`` as a :class:`Path`; an :class:`InputError` naming ``what`` if it is
    missing or a folder (File Geodatabase ``.gdb`` folders are allowed)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(
            f"{what}: file {str(p)!r} does not exist; check the path (relative paths are "
            f"taken from {str(Path.cwd())!r})"
        )
    if p.is_dir() and p.suffix.lower() != ".gdb":
        raise InputError(f"{what}: {str(p)!r} is a folder, not a file; give the file itself")
    return p


# --------------------------------------------------------------------------- vectors


def repair_geometries(gdf: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    """Drop null/empty geometries and repair invalid ones, logging each count.

    Polygons are repaired with ``make_valid(method="structure")``, which keeps only
    area (slivers that collapse to lines are dropped, as they enclose nothing); other
    geometries with the default ``linework`` method.

    Raises:
        InputError: nothing is left, or a polygon collapses to nothing when repaired.
    """
    geoms = gdf.geometry
    missing = geoms.isna() | geoms.is_empty
    if missing.any():
        logger.warning("%s: dropping %d features with no geometry", what, int(missing.sum()))
        gdf = gdf.loc[~missing]
        geoms = gdf.geometry
    if len(gdf) == 0:
        raise InputError(f"{what} has no features with a geometry; give a layer with data")
    values = np.asarray(geoms.values)
    coords, row = shapely.get_coordinates(values, return_index=True)
    broken = np.unique(row[~np.isfinite(coords).all(axis=1)])
    if broken.size:
        raise InputError(
            f"{what}: {broken.size} features have NaN or infinite coordinates (rows "
            f"{list(gdf.index[broken][:5])}); fix or drop them in the source")
    invalid = ~shapely.is_valid(values)
    if not invalid.any():
        return gdf
    reasons = shapely.is_valid_reason(values[invalid])
    polygonal = np.isin(shapely.get_type_id(values[invalid]), [3, 6])  # Polygon, MultiPolygon
    fixed = np.empty(int(invalid.sum()), dtype=object)
    fixed[polygonal] = shapely.make_valid(values[invalid][polygonal], method="structure",
                                          keep_collapsed=False)
    fixed[~polygonal] = shapely.make_valid(values[invalid][~polygonal])
    lost = shapely.is_empty(fixed)
    if lost.any():
        idx = list(gdf.index[invalid][lost][:5])
        raise InputError(
            f"{what}: {int(lost.sum())} invalid geometries collapse to nothing when "
            f"repaired (rows {idx}; e.g. {reasons[lost][0]}); fix or drop them in the source"
        )
    logger.warning(
        "%s: repaired %d invalid geometries with shapely.make_valid (e.g. %s)",
        what, int(invalid.sum()), reasons[0],
    )
    out = gdf.copy()
    new = values.copy()
    new[invalid] = fixed
    return out.set_geometry(gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs))


def _looks_geographic(bounds: NDArray[np.float64]) -> bool:
    return bool(
        np.all(np.isfinite(bounds)) and bounds[0] >= -180.5 and bounds[2] <= 180.5
        and bounds[1] >= -90.5 and bounds[3] <= 90.5
    )


def read_vector(
    path: PathLike,
    *,
    layer: str | None = None,
    what: str,
    target_crs: str,
    assume_crs: str | None = None,
    gcj02: bool = False,
) -> gpd.GeoDataFrame:
    """Read a vector layer, check it, repair it and reproject it to ``target_crs``.

    Args:
        path: GeoPackage, Shapefile, GeoJSON, or anything else GDAL reads.
        layer: the layer of a multi-layer file (required when it has several).
        what: what the layer is, for messages (``"boundary"``, ``"constraint 'water'"``).
        target_crs: CRS of the result (metric for metric code, EPSG:4326 at the edges).
        assume_crs: CRS to use when the file declares none (e.g. a Shapefile with no
            ``.prj``). Never overrides a declared CRS.
        gcj02: the coordinates are GCJ-02 lon/lat (AMap, DataV): convert to WGS84.

    Returns:
        The layer in ``target_crs`` with a fresh ``RangeIndex``.

    Raises:
        InputError: missing, unreadable or empty file/layer; an unknown layer; polygons
            that cannot be repaired.
        CRSError: no CRS and no ``assume_crs``; coordinates that contradict the CRS.
    """
    p = require_file(path, what)
    try:
        layers = [str(name) for name in pyogrio.list_layers(p)[:, 0]]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InputError(
            f"{_describe(p, layer, what)} cannot be read as a vector file ({exc}); give a "
            "valid GeoPackage, Shapefile or GeoJSON (is it truncated, or another format?)"
        ) from None
    if layer is not None and layer not in layers:
        raise InputError(
            f"{what}: file {str(p)!r} has no layer {layer!r}; its layers are {layers}"
        )
    if layer is None and len(layers) > 1:
        raise InputError(
            f"{what}: file {str(p)!r} has {len(layers)} layers {layers}; say which one "
            "(layer=...)"
        )
    where = _describe(p, layer, what)
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError,
            pyogrio.errors.FeatureError, shapely.errors.ShapelyError, OSError,
            ValueError) as exc:
        raise InputError(
            f"{where} cannot be read ({exc}); check that the file is complete and valid "
            "(every polygon ring closed, every coordinate a number)"
        ) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError(f"{where} has no geometry column; give a layer with geometries")
    if len(gdf) == 0:
        raise InputError(f"{where} is empty (0 features); give a layer with data")

    if gdf.crs is None:
        if assume_crs is None:
            raise CRSError(
                f"{where} has no CRS (a Shapefile without its .prj?); pass the CRS its "
                "coordinates are in, e.g. assume_crs='EPSG:4326' for longitude/latitude, "
                "or fix the file"
            )
        logger.info("%s: no CRS in the file; assuming %s as told", where, assume_crs)
        gdf = gdf.set_crs(normalise_crs(assume_crs))
    else:
        gdf = gdf.set_crs(normalise_crs(gdf.crs), allow_override=True)
    gdf = repair_geometries(gdf, what=where)

    bounds = np.asarray(gdf.total_bounds, dtype=float)
    if gdf.crs.is_geographic and not _looks_geographic(bounds):
        raise CRSError(
            f"{where} says its CRS is {crs_label(gdf.crs)} (degrees), but its coordinates "
            f"span {np.round(bounds, 1).tolist()}, which are not longitude/latitude; the file "
            "(or assume_crs) has the wrong CRS"
        )
    if gcj02:
        if not gdf.crs.is_geographic:
            raise CRSError(
                f"{where}: gcj02=True, but the layer's CRS {crs_label(gdf.crs)} is projected; "
                "GCJ-02 data comes as longitude/latitude: check the file or drop gcj02"
            )
        gdf = geometry_gcj02_to_wgs84(gdf, what=where)

    target = normalise_crs(target_crs)
    if not gdf.crs.equals(target):
        gdf = gdf.to_crs(target)
        # reprojection can (rarely) make polygons invalid; repair again
        gdf = repair_geometries(gdf, what=where)
    else:
        gdf = gdf.set_crs(target, allow_override=True)
    logger.info("read %s: %d features, %s", where, len(gdf), crs_label(gdf.crs))
    return gdf.reset_index(drop=True)


# --------------------------------------------------------------------------- rasters


def _open_raster(p: Path, what: str) -> rasterio.io.DatasetReader:
    try:
        return rasterio.open(p)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            f"{what}: file {str(p)!r} cannot be read as a raster ({exc}); give a valid "
            "GeoTIFF (is it truncated, or another format?)"
        ) from None


def read_raster(
    path: PathLike,
    *,
    what: str,
    boundary: gpd.GeoDataFrame | None = None,
    name: str | None = None,
    units: str = "",
    synthetic: bool = False,
) -> RasterLayer:
    """Check a single-band GeoTIFF and describe it as a :class:`RasterLayer`.

    Checks: the file exists and opens; it has a band, a CRS and a georeferencing
    transform; and, with ``boundary``, it overlaps the boundary with at least one
    valid (not nodata, not NaN) cell there.

    Raises:
        InputError: missing/unreadable file, no bands, no overlap with ``boundary``,
            negative cells in a raster of ``units="persons"``.
        CRSError: no CRS, or no georeferencing.
    """
    p = require_file(path, what)
    with _open_raster(p, what) as src:
        where = f"{what} (raster {str(p)!r})"
        if src.count < 1:
            raise InputError(f"{where} has no bands")
        if src.count > 1:
            logger.warning("%s has %d bands; using band 1", where, src.count)
        if src.crs is None:
            raise CRSError(
                f"{where} has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:4326 FILE) "
                "or export it again with its CRS"
            )
        if src.transform.is_identity:
            raise CRSError(
                f"{where} has no georeferencing (identity transform); export it again as a "
                "GeoTIFF with its geotransform"
            )
        if boundary is not None:
            _check_overlap(src, boundary, where)
        if units == "persons":  # counts: a negative cell is an error, found before any use
            band = src.read(1, masked=True)
            negative = int(np.ma.sum(np.ma.filled(band, 0.0) < 0))
            if negative:
                raise InputError(
                    f"{where} has {negative} negative cells; persons per cell must be >= 0 "
                    "(mark missing cells as nodata)")
        crs = crs_label(src.crs)
        shape = (src.height, src.width)
    logger.info("read %s: %d×%d cells, %s", where, shape[0], shape[1], crs)
    return RasterLayer(name=name or p.stem, path=p, units=units, synthetic=synthetic)


def _check_overlap(src: rasterio.io.DatasetReader, boundary: gpd.GeoDataFrame,
                   where: str) -> None:
    if boundary.crs is None:
        raise CRSError("boundary has no CRS, so the raster cannot be checked against it")
    area = shapely.union_all(np.asarray(boundary.to_crs(src.crs).geometry.values))
    extent = box(*src.bounds)
    if area.is_empty or not area.intersects(extent):
        b = boundary.to_crs("EPSG:4326").total_bounds
        r = gpd.GeoSeries([extent], crs=src.crs).to_crs("EPSG:4326").total_bounds
        raise InputError(
            f"{where} does not overlap the boundary: raster covers lon/lat "
            f"{np.round(r, 3).tolist()}, boundary {np.round(b, 3).tolist()}; give a raster "
            "of this region (or check its CRS)"
        )
    window = rasterio.windows.from_bounds(*area.intersection(extent).bounds,
                                          transform=src.transform)
    window = window.round_offsets().round_lengths().intersection(
        rasterio.windows.Window(0, 0, src.width, src.height))
    data = src.read(1, window=window, masked=True)
    valid = ~np.ma.getmaskarray(data) & np.isfinite(np.ma.getdata(data))
    if not valid.any():
        raise InputError(
            f"{where} overlaps the boundary only with nodata cells; give a raster with data "
            "over the region"
        )


def raster_zonal_sums(
    raster: RasterLayer | PathLike, zones: gpd.GeoDataFrame
) -> NDArray[np.float64]:
    """Sum of the raster's valid cells inside each zone (a cell counts in the zone
    holding its centre; cells in no zone, nodata and NaN count nowhere)."""
    path = raster.path if isinstance(raster, RasterLayer) else Path(raster)
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float64)
        values = np.where(np.ma.getmaskarray(data), 0.0, np.ma.getdata(data))
        values[~np.isfinite(values)] = 0.0
        shapes = [(geom, i + 1) for i, geom in
                  enumerate(zones.to_crs(src.crs).geometry.values) if geom is not None]
        labels = rasterio.features.rasterize(
            shapes, out_shape=(src.height, src.width), transform=src.transform, fill=0,
            dtype="int32", all_touched=False)
    sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=len(zones) + 1)
    return np.asarray(sums[1:], dtype=np.float64)


def warp_counts(
    raster: RasterLayer,
    *,
    crs: str,
    out_path: PathLike,
    boundary: gpd.GeoDataFrame,
    resolution_m: float | None = None,
) -> RasterLayer:
    """Reproject a *count* raster (e.g. people per cell) to ``crs`` keeping its total.

    Cells are aggregated with GDAL's ``sum`` resampling (so no person is counted
    twice or lost to interpolation), then scaled so the sum inside ``boundary``
    equals the source's sum inside ``boundary``. ``resolution_m`` defaults to the
    source cell size at the boundary's centre.
    """
    target = CRS.from_user_input(normalise_crs(crs))
    src_total = float(raster_zonal_sums(raster, boundary).sum())
    with rasterio.open(raster.path) as src:
        if resolution_m is None:
            cx, cy = box(*boundary.to_crs(src.crs).total_bounds).centroid.coords[0]
            xs, ys = rasterio.warp.transform(
                src.crs, target, [cx, cx + src.res[0]], [cy, cy])
            resolution_m = max(float(math.hypot(xs[1] - xs[0], ys[1] - ys[0])), 1.0)
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, target, src.width, src.height, *src.bounds, resolution=resolution_m)
        data = src.read(1, masked=True).astype(np.float32)
        filled = np.where(np.ma.getmaskarray(data), 0.0, np.ma.getdata(data)).astype(np.float32)
        filled[~np.isfinite(filled)] = 0.0
        out = np.zeros((height, width), dtype=np.float32)
        rasterio.warp.reproject(
            filled, out, src_transform=src.transform, src_crs=src.crs,
            dst_transform=transform, dst_crs=target, resampling=Resampling.sum,
            src_nodata=None, dst_nodata=None)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1,
               "dtype": "float32", "crs": target, "transform": transform,
               "compress": "deflate"}
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(out, 1)
        warped = RasterLayer(name=raster.name, path=tmp, units=raster.units,
                             synthetic=raster.synthetic)
        new_total = float(raster_zonal_sums(warped, boundary).sum())
        if new_total > 0 and src_total > 0:
            with rasterio.open(tmp, "r+") as dst:
                dst.write((out * (src_total / new_total)).astype(np.float32), 1)
    logger.info("warped %s to %s at %.0f m; total in boundary %.0f", raster.path,
                crs_label(target), resolution_m, src_total)
    return RasterLayer(name=raster.name, path=out_path, units=raster.units,
                       synthetic=raster.synthetic, source=raster.label)


def road_density_population(
    edges: gpd.GeoDataFrame, area: Any, *, crs: str, cell_size_m: float,
    total: float | None, persons_per_road_km: float, out_path: PathLike,
) -> tuple[RasterLayer, float, float]:
    """Proxy population: residential-road length per cell, scaled to a total.

    ``edges`` are osmnx edges (``(u, v, key)`` index, ``length``, ``highway``,
    geometries in ``crs``). Each street counts once (both directions of a two-way
    street are one street); motorway and trunk roads (and links) count zero, as
    nobody lives on them. ``total`` people (else ``persons_per_road_km`` × road km)
    are spread in proportion, only over cells whose centre lies in ``area`` (road in a
    cell whose centre is outside moves to the nearest inside cell), so zonal sums by
    cell centre over ``area`` give back the total exactly.

    Returns:
        The raster (``synthetic=True``), the road km counted and the total persons.

    Raises:
        InputError: no such road in ``area``, or ``area`` holds no cell centre.
    """
    u = edges.index.get_level_values(0).to_numpy()
    v = edges.index.get_level_values(1).to_numpy()
    key = pd.DataFrame({"a": np.minimum(u, v), "b": np.maximum(u, v),
                        "m": np.round(edges["length"].to_numpy(dtype=float), 1)})
    first = ~key.duplicated().to_numpy()
    hwy = edges["highway"].map(lambda h: h[0] if isinstance(h, list) else h).astype(str)
    use = first & ~hwy.str.match(_NO_RESIDENTS).to_numpy()
    geoms = shapely.segmentize(np.asarray(edges.geometry.values[use]), cell_size_m / 4.0)
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    same = which[1:] == which[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    seg_len = np.hypot(*(b - a).T)
    mid = (a + b) / 2.0

    minx, miny, maxx, maxy = area.bounds
    x0 = math.floor(minx / cell_size_m) * cell_size_m
    y0 = math.ceil(maxy / cell_size_m) * cell_size_m
    width = max(1, math.ceil((maxx - x0) / cell_size_m))
    height = max(1, math.ceil((y0 - miny) / cell_size_m))
    # road inside the boundary only (1 m of slack: the default boundary is the hull of
    # these very roads, so some run exactly along it)
    ok = shapely.intersects_xy(area.buffer(1.0), mid[:, 0], mid[:, 1])
    col = np.floor((mid[ok, 0] - x0) / cell_size_m).astype(np.int64)
    row = np.floor((y0 - mid[ok, 1]) / cell_size_m).astype(np.int64)
    transform = Affine(cell_size_m, 0.0, x0, 0.0, -cell_size_m, y0)
    # cells whose centre is inside: zonal sums count cells by centre, so road length
    # in a cell whose centre is outside moves to the nearest cell whose centre is in
    inside = rasterio.features.geometry_mask([area], out_shape=(height, width),
                                             transform=transform, invert=True)
    if not inside.any():
        raise InputError(
            f"the region ({area.area / 1e6:.3f} km²) holds no centre of a {cell_size_m:g} m "
            "proxy-population cell; pass a smaller cell_size_m or a population raster")
    inside_rc = np.argwhere(inside)
    outside = ~inside[row, col]
    if outside.any():
        _, nearest = cKDTree(inside_rc).query(np.column_stack([row, col])[outside])
        row[outside], col[outside] = inside_rc[nearest].T
    road_m = np.bincount(row * width + col, weights=seg_len[ok],
                         minlength=width * height).reshape(height, width)
    road_km = float(road_m.sum()) / 1000.0
    if road_km <= 0:
        raise InputError("no residential-class roads inside the boundary to build a proxy "
                         "population from; give a population raster")
    persons = float(total) if total is not None else persons_per_road_km * road_km
    values = (road_m / road_m.sum() * persons).astype(np.float32)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1,
               "dtype": "float32", "crs": crs, "transform": transform, "compress": "deflate"}
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(values, 1)
        dst.update_tags(1, synthetic="proxy from drivable road length density")
    layer = RasterLayer(name="population", path=out_path, units="persons", synthetic=True)
    return layer, road_km, persons
