"""Demand layers from a population raster: EV charging and building heat per cell.

:func:`demand_cells` works for any region with a population raster (GeoTIFF, any
CRS) and district polygons, not only the Zibo demo. For each raster cell whose
centre lies in a district and that holds at least ``min_population`` persons it
gives:

- ``population`` (persons) and ``density_per_km2``; ``urban`` is density at least
  ``urban_density_per_km2`` (1,500/km² by default, the density threshold of an
  "urban centre" in the UN/GHSL Degree of Urbanisation);
- ``nev``: new-energy vehicles. The city total ``nev_total`` is shared out in
  proportion to ``population x w`` with ``w = urban_nev_weight`` (1.5 by default)
  in urban cells and 1 elsewhere, an assumption standing for higher car ownership,
  income and home-charging access in towns. When ``nev_total`` is a whole number the
  cells get whole vehicles (largest remainder) and the sum is exact;
- ``ev_sessions_day = nev x sessions_per_nev_day``;
- ``floor_area_m2 = population x`` the district's ``floor_area_m2_per_person``
  (census housing table);
- ``heat_peak_mw = floor_area_m2 x heated_share x heat_intensity_w_m2 / 10⁶``;
- ``heat_annual_gj = heat_peak_mw x full_load_hours x 3.6`` (1 MWh = 3.6 GJ).

Cell polygons are returned in ``crs`` (metric). The districts' census totals are
preserved exactly when the raster was built to match them (as the Zibo demo's is):
no populated cell is dropped while ``min_population <= 1`` for an integer raster.
"""

from __future__ import annotations

import logging
import math
import numbers
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import rasterio.windows
import shapely
from rasterio.errors import RasterioIOError

from siting.crs import crs_label, is_metric
from siting.errors import CRSError, InputError
from siting.region import RasterLayer
from siting.region.synthetic import largest_remainder

logger = logging.getLogger(__name__)

__all__ = ["DEMAND_COLUMNS", "demand_cells"]

DEMAND_COLUMNS = ("cell_id", "district", "district_code", "population", "density_per_km2",
                  "urban", "nev", "ev_sessions_day", "floor_area_m2", "heat_peak_mw",
                  "heat_annual_gj", "synthetic")


def _check_options(**values: float) -> None:
    problems = []
    for name, value in values.items():
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not math.isfinite(value)):
            problems.append(f"{name}={value!r} must be a finite number")
    if problems:
        raise InputError.collect(problems, context="demand_cells options")
    rules = {
        "nev_total": (0.0, math.inf), "sessions_per_nev_day": (0.0, math.inf),
        "heat_intensity_w_m2": (0.0, math.inf), "heated_share": (0.0, 1.0),
        "full_load_hours": (0.0, 8760.0), "min_population": (0.0, math.inf),
        "urban_density_per_km2": (0.0, math.inf), "urban_nev_weight": (1e-9, math.inf),
        "floor_area_m2_per_person": (1e-9, math.inf),
    }
    for name, value in values.items():
        lo, hi = rules[name]
        if not lo <= value <= hi:
            span = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"
            problems.append(f"{name}={value:g} must be {span}")
    if problems:
        raise InputError.collect(problems, context="demand_cells options")


def _check_districts(districts: gpd.GeoDataFrame, *, need_floor: bool) -> gpd.GeoDataFrame:
    what = "districts layer"
    if districts.crs is None:
        raise CRSError(f"{what} has no CRS; set the CRS it was made in (gdf.set_crs(...))")
    problems = []
    if len(districts) == 0:
        raise InputError(f"{what} is empty; give at least one district polygon")
    if "name" not in districts.columns:
        problems.append("column 'name' is missing (district names label the demand cells)")
    if need_floor:
        if "floor_area_m2_per_person" not in districts.columns:
            problems.append("column 'floor_area_m2_per_person' is missing; add it (census "
                            "housing table) or pass floor_area_m2_per_person=...")
        else:
            fa = pd.to_numeric(districts["floor_area_m2_per_person"], errors="coerce")
            if fa.isna().any() or (fa <= 0).any():
                problems.append("column 'floor_area_m2_per_person' must be a number > 0 in "
                                "every row")
    empty = districts.geometry.is_empty | districts.geometry.isna()
    if empty.all():
        problems.append("every district geometry is empty")
    if problems:
        raise InputError.collect(problems, context=what)
    out = districts[~empty].copy()
    bad = ~out.geometry.is_valid
    if bad.any():
        logger.warning("%s: repairing %d invalid district geometr%s", what, int(bad.sum()),
                       "y" if bad.sum() == 1 else "ies")
        out.loc[bad, "geometry"] = shapely.make_valid(out.geometry[bad].to_numpy())
    return out.reset_index(drop=True)


def _read_window(path: Path, districts: gpd.GeoDataFrame
                 ) -> tuple[np.ndarray, rasterio.Affine, object, int, int, int]:
    """The part of band 1 under the districts, as float64 with NaN for nodata.

    Returns ``(values, transform, crs, row_off, col_off, full_width)``.
    """
    if not path.is_file():
        raise InputError(f"population raster {path} does not exist; check the path")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"population raster {path} cannot be read as a raster: {exc}") from None
    with src:
        if src.crs is None:
            raise CRSError(f"population raster {path} has no CRS; assign one (for example "
                           "with gdal_edit.py -a_srs EPSG:4326) before using it")
        if src.count < 1:
            raise InputError(f"population raster {path} has no band")
        local = districts.to_crs(src.crs)
        left, bottom, right, top = local.total_bounds
        rb = src.bounds
        if right <= rb.left or left >= rb.right or top <= rb.bottom or bottom >= rb.top:
            raise InputError(
                f"raster {path} does not overlap the boundary: raster bounds "
                f"{tuple(round(v, 3) for v in rb)} vs district bounds "
                f"{tuple(round(float(v), 3) for v in (left, bottom, right, top))} in "
                f"{crs_label(src.crs)}; give a raster that covers the region")
        win = rasterio.windows.from_bounds(max(left, rb.left), max(bottom, rb.bottom),
                                           min(right, rb.right), min(top, rb.top),
                                           transform=src.transform)
        c0, r0 = math.floor(win.col_off), math.floor(win.row_off)
        c1 = math.ceil(win.col_off + win.width)
        r1 = math.ceil(win.row_off + win.height)
        win = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0).intersection(
            rasterio.windows.Window(0, 0, src.width, src.height))
        band = src.read(1, window=win, masked=True)
        values = np.ma.filled(band.astype(np.float64), np.nan)
        return (values, src.window_transform(win), src.crs, int(win.row_off),
                int(win.col_off), src.width)


def demand_cells(population: RasterLayer, districts: gpd.GeoDataFrame, *, nev_total: float,
                 sessions_per_nev_day: float, heat_intensity_w_m2: float, heated_share: float,
                 full_load_hours: float, crs: str, min_population: float = 1.0,
                 urban_density_per_km2: float = 1500.0, urban_nev_weight: float = 1.5,
                 floor_area_m2_per_person: float | None = None) -> gpd.GeoDataFrame:
    """One row per populated raster cell with EV and heat demand (see module docstring).

    Args:
        population: the population raster (persons per cell).
        districts: district polygons (any CRS) with ``name`` and, unless
            ``floor_area_m2_per_person`` is given, ``floor_area_m2_per_person``;
            ``code`` and ``population`` are used when present.
        nev_total: new-energy vehicles in the whole region.
        sessions_per_nev_day: public charging sessions per vehicle per day.
        heat_intensity_w_m2: design heat load of heated floor area, W/m².
        heated_share: share of floor area that is centrally heated (0-1).
        full_load_hours: equivalent full-load hours of the heating season.
        crs: metric CRS of the output polygons (e.g. ``"EPSG:32650"``).
        min_population: cells with fewer persons are left out.
        urban_density_per_km2: density from which a cell counts as urban.
        urban_nev_weight: NEVs per person in urban cells relative to rural ones.
        floor_area_m2_per_person: one value for every district, overriding the column.

    Returns:
        GeoDataFrame with :data:`DEMAND_COLUMNS` and cell polygons in ``crs``,
        ordered by ``cell_id`` (``row * raster width + column``).

    Raises:
        InputError: bad options, a missing or unreadable raster, empty districts or
            missing columns, a raster that does not overlap the districts.
        CRSError: the raster or districts have no CRS, or ``crs`` is not metric.
    """
    options = dict(nev_total=nev_total, sessions_per_nev_day=sessions_per_nev_day,
                   heat_intensity_w_m2=heat_intensity_w_m2, heated_share=heated_share,
                   full_load_hours=full_load_hours, min_population=min_population,
                   urban_density_per_km2=urban_density_per_km2,
                   urban_nev_weight=urban_nev_weight)
    if floor_area_m2_per_person is not None:
        options["floor_area_m2_per_person"] = floor_area_m2_per_person
    _check_options(**options)
    if not is_metric(crs):
        raise CRSError(f"demand_cells needs a projected metric output CRS, got {crs!r}; "
                       "pass the region's metric CRS, e.g. 'EPSG:32650' for Zibo")
    districts = _check_districts(districts, need_floor=floor_area_m2_per_person is None)
    path = Path(population.path)
    label = getattr(population, "label", path)  # the user's file, not a work copy
    values, transform, rcrs, row_off, col_off, width = _read_window(path, districts)
    local = districts.to_crs(rcrs)
    index = rasterio.features.rasterize(
        ((g, i) for i, g in enumerate(local.geometry)), out_shape=values.shape,
        transform=transform, fill=-1, dtype="int32", all_touched=False)
    negative = np.nan_to_num(values, nan=0.0) < 0
    if negative.any():
        raise InputError(f"population raster {label} has {int(negative.sum())} negative "
                         "cells under the districts; population must be >= 0 (mark "
                         "missing cells as nodata)")
    inside = (index >= 0) & np.isfinite(values)
    if not inside.any():
        raise InputError(f"raster {label} does not overlap the boundary: no raster cell centre "
                         "with data lies inside the districts; check its extent and CRS")
    pop_all = np.where(inside, np.nan_to_num(values, nan=0.0), 0.0)
    keep = inside & (pop_all >= min_population) & (pop_all > 0)
    dropped = float(pop_all[inside & ~keep].sum())
    if dropped > 0:
        logger.warning("demand_cells: %.0f persons in cells under min_population=%g left out",
                       dropped, min_population)
    if not keep.any():
        raise InputError(f"population raster {label} holds no cell with at least "
                         f"{min_population:g} persons inside the districts")
    rows, cols = np.nonzero(keep)
    pop = pop_all[rows, cols]
    d = index[rows, cols].astype(np.int64)
    x0 = transform.c + cols * transform.a
    y0 = transform.f + rows * transform.e
    boxes = shapely.box(x0, y0 + transform.e, x0 + transform.a, y0)
    geom = gpd.GeoSeries(boxes, crs=rcrs).to_crs(crs)
    area_km2 = geom.area.to_numpy() / 1e6
    density = pop / area_km2
    urban = density >= urban_density_per_km2
    weight = pop * np.where(urban, urban_nev_weight, 1.0)
    if float(nev_total).is_integer():
        nev = largest_remainder(weight, int(nev_total)).astype(np.float64)
    else:
        nev = weight * (nev_total / weight.sum())
    if floor_area_m2_per_person is None:
        fa = pd.to_numeric(districts["floor_area_m2_per_person"]).to_numpy(dtype=float)[d]
    else:
        fa = np.full(d.size, float(floor_area_m2_per_person))
    floor = pop * fa
    heat_mw = floor * heated_share * heat_intensity_w_m2 / 1e6
    frame = pd.DataFrame({
        "cell_id": (rows + row_off).astype(np.int64) * width + (cols + col_off),
        "district": districts["name"].astype(str).to_numpy()[d],
        "district_code": (districts["code"].to_numpy()[d] if "code" in districts.columns
                          else pd.array([pd.NA] * d.size, dtype="Int64")),
        "population": pop, "density_per_km2": density, "urban": urban, "nev": nev,
        "ev_sessions_day": nev * sessions_per_nev_day, "floor_area_m2": floor,
        "heat_peak_mw": heat_mw, "heat_annual_gj": heat_mw * full_load_hours * 3.6,
        "synthetic": bool(population.synthetic)})
    out = gpd.GeoDataFrame(frame, geometry=geom.to_numpy(), crs=crs)
    out = out.sort_values("cell_id", kind="stable").reset_index(drop=True)
    if "population" in districts.columns:
        got = out.groupby("district")["population"].sum()
        want = districts.set_index(districts["name"].astype(str))["population"]
        off = (got.reindex(want.index).fillna(0) - want).abs()
        if (off > 0.5).any():
            logger.info("demand_cells: cell population differs from the district totals "
                        "(largest gap %.0f persons in %s)", off.max(), off.idxmax())
    logger.info("demand_cells: %d cells, %.0f persons, %.0f NEVs, %.1f MW peak heat",
                len(out), out["population"].sum(), out["nev"].sum(),
                out["heat_peak_mw"].sum())
    return out[[*DEMAND_COLUMNS, "geometry"]]
