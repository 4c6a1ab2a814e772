"""Seeded synthetic vector layers: water, ecological red line, farmland, land use and
industrial zones.

Every geometry made here is **synthetic** and carries ``synthetic=True``. Names may
be real (a water body's name and rough position are facts), shapes are not. The
grid-based layers (red line, farmland, land use) are classified on a fixed 250 m
grid from the same :class:`~siting.region.synthetic.Landscape` as the roads and
population, then polygonised per district, so they agree with each other and with
the demand layers at any raster cell size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
import shapely.affinity
import shapely.geometry
from numpy.typing import NDArray
from scipy import ndimage

from siting.region.synthetic import (
    Landscape,
    NoiseField,
    cell_centres,
    district_grid,
    largest_remainder,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FREIGHT_INTENSITY",
    "LAND_USE_CLASSES",
    "WaterFeature",
    "farmland",
    "industrial_zones",
    "land_use",
    "red_line",
    "water_bodies",
]

GRID_M = 250.0
LAND_USE_CLASSES = ("urban_core", "commercial", "residential", "industrial", "rural")

FREIGHT_INTENSITY = MappingProxyType({
    # relative freight generated per km² of zone, by sector (assumption)
    "chemical": 1.6, "metallurgy": 1.8, "ceramics & building materials": 1.5,
    "power & heat": 1.2, "machinery": 0.6, "textiles & light industry": 0.4,
    "food": 0.5, "pharmaceuticals": 0.3, "waste & environment": 0.3,
})
"""Relative freight intensity per km² of industrial zone, by sector (assumption)."""

_PLANT_SECTOR = MappingProxyType({
    "petrochemical": "chemical", "aluminium": "metallurgy", "power": "power & heat",
    "chp": "power & heat", "waste_to_energy": "waste & environment",
    "textile": "textiles & light industry",
})
_INDUSTRIAL_KINDS = ("petrochemical", "aluminium", "textile")


@dataclass(frozen=True)
class WaterFeature:
    """A named water body to draw: a lake/reservoir blob, a river through points, or a
    river along a stretch of a district's boundary.

    ``points`` are metric coordinates: the centre of a lake, or a river's course.
    ``along`` names ``(district row, other district row or -1)``: the river follows
    the shared border of the two districts, or with -1 the region's outer edge of
    the first district north of ``points[0][1]``.
    """

    name: str
    name_zh: str
    kind: str  # "river", "reservoir" or "lake"
    points: tuple[tuple[float, float], ...] = ()
    size: float = 0.0  # lake area in m², or river width in m
    along: tuple[int, int] | None = None


def _blob(centre: tuple[float, float], area_m2: float, rng: np.random.Generator, *,
          elongation: float = 1.6) -> shapely.Polygon:
    """An irregular, elongated lake outline with exactly ``area_m2``."""
    phi = np.linspace(0.0, 2 * math.pi, 73)[:-1]
    r = np.ones_like(phi)
    for k in range(2, 6):
        r += rng.uniform(0.03, 0.12) / (k - 1) * np.cos(k * phi + rng.uniform(0, 2 * math.pi))
    angle = rng.uniform(0, math.pi)
    u, v = r * np.cos(phi) * elongation, r * np.sin(phi)
    x = u * math.cos(angle) - v * math.sin(angle)
    y = u * math.sin(angle) + v * math.cos(angle)
    poly = shapely.Polygon(np.column_stack([x, y]))
    scale = math.sqrt(area_m2 / poly.area)
    return shapely.affinity.translate(shapely.affinity.scale(poly, scale, scale, origin=(0, 0)),
                                      *centre)


def _meander(points: Sequence[tuple[float, float]], rng: np.random.Generator,
             amplitude_m: float) -> shapely.LineString:
    line = shapely.segmentize(shapely.LineString(points), 200.0)
    xy = shapely.get_coordinates(line)
    if len(xy) < 3:
        return line
    t = np.gradient(xy, axis=0)
    n = np.column_stack([-t[:, 1], t[:, 0]]) / np.maximum(
        np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    noise = ndimage.gaussian_filter1d(rng.standard_normal(len(xy)), 6.0)
    noise = noise / (np.abs(noise).max() or 1.0) * amplitude_m
    noise[[0, -1]] = 0.0
    return shapely.LineString(xy + n * noise[:, None])


def water_bodies(districts: gpd.GeoDataFrame, features: Sequence[WaterFeature], *,
                 seed: int) -> gpd.GeoDataFrame:
    """Polygons for the named ``features`` (synthetic geometry), clipped to the region.

    Columns: ``name``, ``name_zh``, ``kind``, ``district`` (name of the district
    holding most of it), ``area_km2``, ``synthetic`` and ``geometry``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    region = shapely.union_all(districts.geometry.to_numpy())
    rows = []
    for f in features:
        if f.kind != "river" and f.points:
            geom = _blob(f.points[0], f.size, rng)
        elif f.along is not None:
            a, b = f.along
            da = districts.geometry.iat[a]
            if b >= 0:
                line = shapely.intersection(da.boundary, districts.geometry.iat[b].boundary)
            else:
                edge = shapely.intersection(da.boundary, region.boundary)
                north = shapely.box(da.bounds[0] - 1, f.points[0][1], da.bounds[2] + 1,
                                    da.bounds[3] + 1)
                line = shapely.intersection(edge, north)
            geom = shapely.buffer(line, f.size / 2.0)
        else:
            geom = _meander(f.points, rng, amplitude_m=600.0).buffer(f.size / 2.0)
        geom = shapely.make_valid(shapely.intersection(geom, region))
        if geom.is_empty:
            logger.warning("water feature %s falls outside the region; skipped", f.name)
            continue
        rows.append({"name": f.name, "name_zh": f.name_zh, "kind": f.kind, "geometry": geom})
    gdf = gpd.GeoDataFrame(rows, columns=["name", "name_zh", "kind", "geometry"],
                           geometry="geometry", crs=districts.crs)
    gdf["district"] = _majority_district(gdf, districts)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    gdf["synthetic"] = True
    return gdf[["name", "name_zh", "kind", "district", "area_km2", "synthetic", "geometry"]]


def _majority_district(gdf: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> list[str]:
    out = []
    for geom in gdf.geometry:
        shares = shapely.area(shapely.intersection(districts.geometry.to_numpy(), geom))
        out.append(str(districts["name"].iat[int(np.argmax(shares))]))
    return out


@dataclass(frozen=True, eq=False)
class _Grid:
    transform: object
    shape: tuple[int, int]
    district: NDArray[np.int32]
    x: NDArray[np.float64]
    y: NDArray[np.float64]


def _grid(land: Landscape) -> _Grid:
    transform, shape, index = district_grid(land.districts, cell_size_m=GRID_M)
    x, y = cell_centres(transform, shape)
    return _Grid(transform, shape, index, x, y)


def _mask_of(geoms: gpd.GeoDataFrame | None, grid: _Grid) -> NDArray[np.bool_]:
    if geoms is None or len(geoms) == 0:
        return np.zeros(grid.shape, dtype=bool)
    return rasterio.features.geometry_mask(geoms.geometry, out_shape=grid.shape,
                                           transform=grid.transform, invert=True)


def _polygonise(codes: NDArray[np.int32], grid: _Grid, crs: object, *,
                min_area_m2: float = 0.0, simplify_m: float = GRID_M / 2,
                minus: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Polygons of equal non-zero ``codes`` (one row per connected patch), with the
    exact outlines of ``minus`` (e.g. water) cut out."""
    cut = None
    if minus is not None and len(minus):
        cut = shapely.union_all(minus.geometry.to_numpy())
        shapely.prepare(cut)
    shapes = rasterio.features.shapes(codes.astype(np.int32), mask=codes > 0,
                                      transform=grid.transform, connectivity=4)
    geoms, values = [], []
    for geom, value in shapes:
        poly = shapely.geometry.shape(geom)
        if poly.area < min_area_m2:
            continue
        poly = shapely.make_valid(shapely.simplify(poly, simplify_m, preserve_topology=True))
        if cut is not None and shapely.intersects(cut, poly):
            poly = shapely.make_valid(shapely.difference(poly, cut))
        if poly.is_empty:
            continue
        geoms.append(poly)
        values.append(int(value))
    return gpd.GeoDataFrame({"code": np.array(values, dtype=np.int64)}, geometry=geoms, crs=crs)


def _drop_small(mask: NDArray[np.bool_], min_cells: int) -> NDArray[np.bool_]:
    label, n = ndimage.label(mask)
    if n == 0:
        return mask
    size = np.bincount(label.ravel())
    size[0] = 0
    return (size >= min_cells)[label]


def _fields(land: Landscape, grid: _Grid) -> tuple[NDArray[np.float64], ...]:
    inside = grid.district >= 0
    xs, ys = grid.x[inside], grid.y[inside]
    urban = np.zeros(grid.shape)
    rural = np.zeros(grid.shape)
    rugged = np.zeros(grid.shape)
    u, r = land.density_per_km2(xs, ys, district=grid.district[inside].astype(np.int64))
    urban[inside], rural[inside] = u, r
    rugged[inside] = land.ruggedness(xs, ys)
    return urban, rural, rugged


def _with_district(gdf: gpd.GeoDataFrame, land: Landscape, kinds: Sequence[str] | None,
                   name: str) -> gpd.GeoDataFrame:
    d = (gdf["code"] // 10 - 1).to_numpy()
    out = gpd.GeoDataFrame({
        "name": name,
        "district": land.districts["name"].to_numpy()[d] if len(d) else [],
    }, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    if kinds is not None:
        out.insert(1, "kind", np.array(kinds, dtype=object)[(gdf["code"] % 10 - 1).to_numpy()]
                   if len(d) else [])
    out["area_km2"] = out.geometry.area / 1e6
    out["synthetic"] = True
    return out


def red_line(land: Landscape, *, water: gpd.GeoDataFrame | None = None,
             exclude: Sequence[gpd.GeoDataFrame] = (),
             ruggedness_min: float = 0.6, density_max_per_km2: float = 250.0
             ) -> gpd.GeoDataFrame:
    """An ecological protection red line over the hills (synthetic).

    Cells with ruggedness at least ``ruggedness_min`` and fewer than
    ``density_max_per_km2`` people (mountain ecosystems), plus a 1.5 km water
    conservation belt round reservoirs, smoothed and without patches under 2 km².
    Water itself and ``exclude`` layers (village land) are left out. Columns: ``name``,
    ``kind`` (``mountain`` or
    ``water_conservation``), ``district``, ``area_km2``, ``synthetic``.
    """
    grid = _grid(land)
    urban, rural, rugged = _fields(land, grid)
    inside = grid.district >= 0
    mountain = inside & (rugged >= ruggedness_min) & (urban + rural < density_max_per_km2)
    mountain = ndimage.binary_closing(ndimage.binary_opening(mountain, iterations=1),
                                      iterations=2) & inside
    wet = _mask_of(water, grid)
    conserve = np.zeros_like(mountain)
    if water is not None and len(water):
        res = water[water["kind"] != "river"]
        if len(res):
            conserve = _mask_of(res.assign(geometry=res.buffer(1500.0)), grid) & inside
    conserve &= ~mountain & (urban < 1500.0)
    keep = _drop_small(mountain | conserve, int(2e6 / GRID_M ** 2))
    codes = np.where(keep & mountain & ~wet, 1, np.where(keep & conserve & ~wet, 2, 0))
    codes = np.where(codes > 0, (grid.district + 1) * 10 + codes, 0)
    cut = [g[["geometry"]].to_crs(land.districts.crs) for g in (water, *exclude)
           if g is not None and len(g)]
    minus = gpd.GeoDataFrame(pd.concat(cut), crs=land.districts.crs) if cut else None
    polys = _polygonise(codes, grid, land.districts.crs, min_area_m2=0.25e6, minus=minus)
    return _with_district(polys, land, ("mountain", "water_conservation"),
                          "Ecological protection red line (synthetic)")


def farmland(land: Landscape, *, north_of_m: float, water: gpd.GeoDataFrame | None = None,
             exclude: Sequence[gpd.GeoDataFrame] = (), share: float = 0.75) -> gpd.GeoDataFrame:
    """Permanent basic farmland on the plains north of ``north_of_m`` (synthetic).

    Flat (ruggedness < 0.2), rural (< 900 persons/km² and at least 800 m from urban
    density) cells outside water and ``exclude`` layers; about ``share`` of them,
    in noise-shaped patches of at least 0.5 km².
    """
    grid = _grid(land)
    urban, rural, rugged = _fields(land, grid)
    inside = grid.district >= 0
    urbanish = ndimage.binary_dilation(urban >= 1500.0, iterations=int(800 / GRID_M))
    ok = (inside & (grid.y >= north_of_m) & (rugged < 0.2) & (urban + rural < 900.0)
          & ~urbanish & ~_mask_of(water, grid))
    for layer in exclude:
        ok &= ~_mask_of(layer, grid)
    rng = np.random.default_rng(np.random.SeedSequence([land.seed, 13]))
    noise = NoiseField.generate(rng, land.bounds, spacing_m=3000.0)(grid.x, grid.y)
    cut = np.quantile(noise[ok], 1.0 - share) if ok.any() else 0.0
    ok &= noise >= cut
    ok = _drop_small(ok, int(0.5e6 / GRID_M ** 2))
    codes = np.where(ok, (grid.district + 1) * 10 + 1, 0)
    cut = [g[["geometry"]].to_crs(land.districts.crs) for g in (water, *exclude)
           if g is not None and len(g)]
    minus = gpd.GeoDataFrame(pd.concat(cut), crs=land.districts.crs) if cut else None
    polys = _polygonise(codes, grid, land.districts.crs, min_area_m2=0.25e6, minus=minus)
    return _with_district(polys, land, None, "Permanent basic farmland (synthetic)")


def land_use(land: Landscape, *, industrial: gpd.GeoDataFrame | None = None,
             water: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Land-use polygons per district (synthetic), classes :data:`LAND_USE_CLASSES`.

    - ``industrial``: inside the industrial zones;
    - ``commercial``: urban density >= 4,000/km² within 0.6 kernel widths of a seat
      or of a town over 30,000 people (centres of business);
    - ``urban_core``: total density >= 8,000/km²;
    - ``residential``: total density >= 1,500/km²;
    - ``rural``: the rest (villages and fields). Water is left out.
    """
    grid = _grid(land)
    urban, rural, _ = _fields(land, grid)
    inside = (grid.district >= 0) & ~_mask_of(water, grid)
    total = urban + rural
    c = land.centres
    big = c[(c["kind"] == "seat") | (c["population"] > 30000)]
    near_centre = np.zeros(grid.shape, dtype=bool)
    for cx, cy, s in zip(big["x"], big["y"], big["sigma_m"], strict=True):
        near_centre |= np.hypot(grid.x - cx, grid.y - cy) <= 0.6 * s
    cls = np.full(grid.shape, 5, dtype=np.int32)  # rural
    cls[total >= 1500.0] = 3
    cls[total >= 8000.0] = 1
    cls[near_centre & (urban >= 4000.0)] = 2
    cls[_mask_of(industrial, grid)] = 4
    codes = np.where(inside, (grid.district + 1) * 10 + cls, 0)
    polys = _polygonise(codes, grid, land.districts.crs, minus=water)
    out = _with_district(polys, land, LAND_USE_CLASSES, "")
    return out.rename(columns={"kind": "land_use"}).drop(columns="name")


def _zone_blob(centre: tuple[float, float], area_m2: float, rng: np.random.Generator
               ) -> shapely.Polygon:
    return _blob(centre, area_m2, rng, elongation=1.3)


def industrial_zones(land: Landscape, plants: gpd.GeoDataFrame, *, freight_total_mt: float,
                     extra: Sequence[tuple[int, str]] = (),
                     water: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Industrial zones (synthetic shapes) anchored on real plants, with freight.

    Plants (``name``, ``kind``, ``output_mw``) are buffered by ``700 + 25 sqrt(MW)``
    metres; overlapping buffers merge into one zone. Its sector follows the largest
    captive plant of an industry in it (petrochemical: chemical, aluminium:
    metallurgy, textile: textiles), else the largest plant (power & heat, waste).
    ``extra`` adds one zone per ``(district row, sector)`` on the edge of that
    district's seat (sectors typical of the district, placement synthetic). Each
    zone gets ``freight_mt_yr`` in proportion to area x :data:`FREIGHT_INTENSITY`;
    the zones' ``freight_t_yr`` integers sum exactly to ``freight_total_mt`` x 10⁶.
    """
    rng = np.random.default_rng(np.random.SeedSequence([land.seed, 17]))
    p = plants.to_crs(land.crs).reset_index(drop=True)
    region = shapely.union_all(land.districts.geometry.to_numpy())
    wet = shapely.union_all(water.geometry.to_numpy()) if water is not None and len(water) \
        else shapely.Polygon()
    radius = 700.0 + 25.0 * np.sqrt(p["output_mw"].to_numpy(dtype=float))
    buffers = shapely.buffer(p.geometry.to_numpy(), radius, quad_segs=8)
    merged = shapely.get_parts(shapely.union_all(buffers))
    rows = []
    for zone in merged:
        members = np.flatnonzero(shapely.intersects(p.geometry.to_numpy(), zone))
        mw = p["output_mw"].to_numpy(dtype=float)[members]
        kinds = p["kind"].to_numpy()[members]
        # an industrial site (captive plant) sets the sector, else the largest plant does
        industrial = np.isin(kinds, _INDUSTRIAL_KINDS)
        pick = np.flatnonzero(industrial) if industrial.any() else np.arange(len(members))
        sector = _PLANT_SECTOR.get(str(kinds[pick[np.argmax(mw[pick])]]), "power & heat")
        names = p["name"].to_numpy()[members]
        rows.append({"sector": sector, "anchor": "; ".join(map(str, names)),
                     "plant_mw": float(mw.sum()), "geometry": zone.buffer(400.0).buffer(-400.0)})
    seats = land.centres[land.centres["kind"] == "seat"].sort_values("district")
    for d, sector in extra:
        seat = seats.iloc[d]
        r = 1.2 * float(seat["sigma_m"]) + 1500.0
        ang = rng.uniform(0, 2 * math.pi) + np.arange(12) * (math.pi / 6)
        cx, cy = seat["x"] + r * np.cos(ang), seat["y"] + r * np.sin(ang)
        urban, _ = land.density_per_km2(cx, cy)
        ok = shapely.contains_xy(land.districts.geometry.iat[d], cx, cy)
        k = int(np.argmin(np.where(ok, urban, np.inf))) if ok.any() else 0
        area = rng.uniform(4e6, 8e6)
        rows.append({"sector": sector, "anchor": f"synthetic: {sector} typical of "
                     f"{land.districts['name'].iat[d]}", "plant_mw": 0.0,
                     "geometry": _zone_blob((float(cx[k]), float(cy[k])), area, rng)})
    gdf = gpd.GeoDataFrame(rows, columns=["sector", "anchor", "plant_mw", "geometry"],
                           geometry="geometry", crs=land.crs)
    gdf["geometry"] = [shapely.make_valid(g.intersection(region).difference(wet))
                       for g in gdf.geometry]
    gdf = gdf[~gdf.geometry.is_empty].reset_index(drop=True)
    gdf["district"] = _majority_district(gdf, land.districts)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    weight = gdf["area_km2"].to_numpy() * gdf["sector"].map(FREIGHT_INTENSITY).fillna(1.0)
    tonnes = largest_remainder(weight.to_numpy(dtype=float), round(freight_total_mt * 1e6))
    gdf["freight_t_yr"] = tonnes
    gdf["freight_mt_yr"] = tonnes / 1e6
    gdf = gdf.sort_values(["district", "sector", "area_km2"], kind="stable").reset_index(drop=True)
    gdf.insert(0, "zone_id", np.arange(1, len(gdf) + 1))
    gdf.insert(1, "name", [f"{d} {s} zone {i} (synthetic)" for i, d, s in
                           zip(gdf["zone_id"], gdf["district"], gdf["sector"], strict=True)])
    gdf["synthetic"] = True
    return gdf[["zone_id", "name", "sector", "district", "anchor", "plant_mw", "area_km2",
                "freight_mt_yr", "freight_t_yr", "synthetic", "geometry"]]
