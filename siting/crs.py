"""CRS policy and GCJ-02 <-> WGS84 conversion.

The policy (see DESIGN.md):

- Files in and out, and maps, use EPSG:4326. CGCS2000 (EPSG:4490), China's
  official datum, agrees with WGS84 to well within a metre, so it is treated as
  EPSG:4326 at the edges (:func:`normalise_crs`).
- Every distance, area and buffer is computed in a projected CRS in metres: UTM
  zone 50N (:data:`ZIBO_CRS`) for Zibo, the UTM zone of the data's centre
  elsewhere (:func:`estimate_metric_crs`).
- A layer with no CRS, or a geographic CRS reaching metric code, is a
  :class:`~siting.errors.CRSError` (:func:`require_metric`).
- Chinese web maps (AMap/Gaode, DataV GeoAtlas, Tencent) publish coordinates in
  GCJ-02, an obfuscated datum offset from WGS84 by a few hundred metres. Loaders
  convert only when told to (``gcj02=True``); the conversion cannot be detected.

The GCJ-02 forward formula is the one widely published for the "Mars coordinate"
system (as in eviltransform and coordtransform). It has no closed-form inverse, so
:func:`gcj02_to_wgs84` inverts it by fixed-point iteration to below a millimetre.
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from siting.errors import CRSError

logger = logging.getLogger(__name__)

__all__ = [
    "WGS84",
    "ZIBO_CRS",
    "crs_label",
    "estimate_metric_crs",
    "gcj02_to_wgs84",
    "geometry_gcj02_to_wgs84",
    "geometry_wgs84_to_gcj02",
    "is_metric",
    "normalise_crs",
    "require_metric",
    "to_metric",
    "to_wgs84",
    "wgs84_to_gcj02",
]

ZIBO_CRS = "EPSG:32650"
"""WGS 84 / UTM zone 50N: the metric CRS for Zibo (117.5°E-118.5°E)."""

WGS84 = "EPSG:4326"
"""The CRS at the edges of the system: files in and out, maps."""

_CGCS2000 = CRS.from_epsg(4490)

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# The formula is applied inside this box only (the usual "out of China" test).
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
_INVERSE_TOL_DEG = 1e-10  # ~0.01 mm
_INVERSE_MAX_ITER = 30

_HOW_TO_REPROJECT = (
    "reproject it first, e.g. siting.crs.to_metric(gdf, what=...) (UTM zone of the data) "
    f"or gdf.to_crs({ZIBO_CRS!r}) for Zibo"
)


# --------------------------------------------------------------------------- CRS policy


def normalise_crs(crs: CRS | str | int) -> CRS:
    """``crs`` as a :class:`pyproj.CRS`, with CGCS2000 (EPSG:4490) mapped to EPSG:4326.

    The two datums agree to within a metre in China, far below the accuracy of
    any input this toolkit uses, so treating them as equal avoids a needless
    (and on some PROJ installs unavailable) datum transformation.
    """
    try:
        parsed = CRS.from_user_input(crs)
    except PyprojCRSError as exc:
        raise CRSError(
            f"CRS {crs!r} is not a valid coordinate reference system ({exc}); "
            "give an EPSG code such as 'EPSG:4326' or a WKT/PROJ string"
        ) from None
    if parsed == _CGCS2000 or parsed.to_epsg() == 4490:
        return CRS.from_epsg(4326)
    return parsed


def crs_label(crs: CRS | str | int | None) -> str:
    """A short, readable name for ``crs``: ``"EPSG:32650"`` where it has a code."""
    if crs is None:
        return "none"
    parsed = CRS.from_user_input(crs)
    auth = parsed.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else parsed.name


def is_metric(crs: CRS | str | int | None) -> bool:
    """True when ``crs`` is projected with metre units on both axes."""
    if crs is None:
        return False
    parsed = CRS.from_user_input(crs)
    if not parsed.is_projected:
        return False
    units = {axis.unit_name.lower() for axis in parsed.axis_info}
    return bool(units) and units <= {"metre", "meter", "m"}


def require_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, what: str) -> str:
    """Check that ``gdf`` is in a projected metric CRS; return that CRS's label.

    ``what`` names the data in the message, e.g. ``"layer 'demand' in file x.gpkg"``.

    Raises:
        CRSError: the CRS is missing, geographic, or not in metres.
    """
    crs = gdf.crs
    if crs is None:
        raise CRSError(
            f"{what} has no CRS; metric code needs a projected CRS in metres; "
            "set the CRS it was made in (gdf.set_crs(...), or assume_crs=... when reading), "
            f"then {_HOW_TO_REPROJECT}"
        )
    if not is_metric(crs):
        kind = "geographic" if crs.is_geographic else "non-metric"
        raise CRSError(
            f"{what} has {kind} CRS {crs_label(crs)}; metric code needs a projected CRS "
            f"in metres; {_HOW_TO_REPROJECT}"
        )
    return crs_label(crs)


def estimate_metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> str:
    """The WGS 84 / UTM zone (``"EPSG:326zz"`` north, ``"EPSG:327zz"`` south) of the
    centre of ``gdf``'s bounding box.

    Zibo (118°E, 36.7°N) gives :data:`ZIBO_CRS`. Special zones (Norway, Svalbard)
    are not applied: the standard zone is metric there too, just less exact.

    Raises:
        CRSError: ``gdf`` has no CRS.
        InputError: ``gdf`` is empty or has no coordinates.
    """
    from siting.errors import InputError

    if gdf.crs is None:
        raise CRSError(
            "cannot estimate a metric CRS for data with no CRS; set its CRS first "
            "(gdf.set_crs(...))"
        )
    geo = gdf.to_crs(WGS84) if not gdf.crs.equals(CRS.from_epsg(4326)) else gdf
    bounds = geo.total_bounds
    if len(geo) == 0 or not np.all(np.isfinite(bounds)):
        raise InputError("cannot estimate a metric CRS for an empty layer; give a CRS explicitly")
    lon = (bounds[0] + bounds[2]) / 2.0
    lat = (bounds[1] + bounds[3]) / 2.0
    zone = min(max(math.floor((lon + 180.0) / 6.0) + 1, 1), 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def to_metric(
    gdf: gpd.GeoDataFrame, crs: CRS | str | int | None = None, *, what: str
) -> gpd.GeoDataFrame:
    """``gdf`` reprojected to the metric ``crs`` (estimated from the data when ``None``).

    Raises:
        CRSError: ``gdf`` has no CRS, or ``crs`` is not a projected metric CRS.
    """
    if gdf.crs is None:
        raise CRSError(
            f"{what} has no CRS, so it cannot be reprojected; set the CRS it was made in "
            "(gdf.set_crs(...), or assume_crs=... when reading)"
        )
    target = normalise_crs(crs) if crs is not None else CRS.from_user_input(
        estimate_metric_crs(gdf)
    )
    if not is_metric(target):
        raise CRSError(
            f"target CRS {crs_label(target)} for {what} is not a projected CRS in metres; "
            f"give one such as {ZIBO_CRS!r}, or None to use the UTM zone of the data"
        )
    source = normalise_crs(gdf.crs)
    if source.equals(target):
        return gdf.set_crs(target, allow_override=True)
    return gdf.set_crs(source, allow_override=True).to_crs(target)


def to_wgs84(gdf: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 for the edges of the system (files out, maps).

    CGCS2000 (EPSG:4490) input is relabelled, not transformed.

    Raises:
        CRSError: ``gdf`` has no CRS.
    """
    if gdf.crs is None:
        raise CRSError(
            f"{what} has no CRS, so it cannot be written in EPSG:4326; set the CRS it was "
            "made in (gdf.set_crs(...))"
        )
    source = normalise_crs(gdf.crs)
    out = gdf.set_crs(source, allow_override=True)
    return out if source.equals(CRS.from_epsg(4326)) else out.to_crs(WGS84)


# --------------------------------------------------------------------------- GCJ-02


def _in_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (
        (lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1])
        & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])
    )


def _gcj_offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 minus WGS84, in degrees, at WGS84 ``(lon, lat)`` (zero outside China)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    radlat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = np.degrees(dlat / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic)))
    dlon = np.degrees(dlon / (_GCJ_A / sqrt_magic * np.cos(radlat)))
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _as_float_arrays(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in shape: {lon_a.shape} vs {lat_a.shape}")
    return lon_a, lat_a


def wgs84_to_gcj02(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS84 ``(lon, lat)`` degrees to GCJ-02; points outside China are returned as is."""
    lon_a, lat_a = _as_float_arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon_a, lat_a)
    return lon_a + dlon, lat_a + dlat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 ``(lon, lat)`` degrees to WGS84, the exact inverse of :func:`wgs84_to_gcj02`.

    Fixed-point iteration ``w <- w - (f(w) - g)`` from ``w = g``; the offset field is
    smooth and varies by less than 1e-4 per degree of displacement, so it converges to
    below 1e-10 degrees (well under a millimetre) in a few steps.
    """
    g_lon, g_lat = _as_float_arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon = f_lon - g_lon
        e_lat = f_lat - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        if not (np.any(np.abs(e_lon) > _INVERSE_TOL_DEG)
                or np.any(np.abs(e_lat) > _INVERSE_TOL_DEG)):
            break
    return w_lon, w_lat


def _transform_geometries(
    gdf: gpd.GeoDataFrame, func_name: str, *, what: str
) -> gpd.GeoDataFrame:
    if gdf.crs is not None and not normalise_crs(gdf.crs).equals(CRS.from_epsg(4326)):
        raise CRSError(
            f"{what} has CRS {crs_label(gdf.crs)}, but GCJ-02 conversion works on longitude/"
            "latitude degrees; GCJ-02 data is published as lon/lat (usually labelled "
            "EPSG:4326 or unlabelled): read it without reprojecting"
        )
    func = wgs84_to_gcj02 if func_name == "to_gcj" else gcj02_to_wgs84

    def _coords(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out_lon, out_lat = func(xy[:, 0], xy[:, 1])
        return np.column_stack([out_lon, out_lat])

    geoms = shapely.transform(np.asarray(gdf.geometry.values), _coords)
    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=WGS84))
    return out.set_crs(WGS84, allow_override=True)


def geometry_gcj02_to_wgs84(
    gdf: gpd.GeoDataFrame, *, what: str = "GCJ-02 layer"
) -> gpd.GeoDataFrame:
    """A copy of lon/lat ``gdf`` with every vertex moved from GCJ-02 to WGS84 (EPSG:4326).

    Raises:
        CRSError: ``gdf`` is labelled with a projected CRS (GCJ-02 is lon/lat only).
    """
    logger.info("converting %s from GCJ-02 to WGS84 (%d features)", what, len(gdf))
    return _transform_geometries(gdf, "to_wgs", what=what)


def geometry_wgs84_to_gcj02(
    gdf: gpd.GeoDataFrame, *, what: str = "WGS84 layer"
) -> gpd.GeoDataFrame:
    """A copy of lon/lat ``gdf`` with every vertex moved from WGS84 to GCJ-02.

    For overlaying results on AMap/Gaode base maps. The output is labelled EPSG:4326
    because GCJ-02 has no EPSG code; keep such files away from metric code.
    """
    return _transform_geometries(gdf, "to_gcj", what=what)
