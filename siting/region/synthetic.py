"""A seeded synthetic landscape: relief, urban centres and a census-exact population raster.

Everything here is **synthetic** and deterministic from a seed. It fills in what a
demo region lacks (no real road, population or land-use data may be embedded) while
keeping the real facts it is given exact: district boundaries, census populations
and urban shares, district seats.

The model, in one place (all fields are continuous, so rasters of any cell size and
road networks of any detail are drawn from the same landscape):

- **Relief** ``R(x, y)`` in [0, 1] ("ruggedness"): 0 on plains, towards 1 on
  mountain ridges. South of ``highland_north_m`` it rises over about 6 km into
  hills whose height varies with two octaves of smooth noise (16 km and 4 km);
  river basins around district seats are kept lower.
- **Urban centres**: each district seat holds ``0.55 + 0.30 * urban_share`` of the
  district's urban population (census ``POPU_URB``); the rest lives in towns placed
  first at the given anchor points (e.g. railway stations away from the seat), then
  at random low-relief sites at least 3.5 km apart, with Zipf-like sizes. Each
  centre is a Gaussian density kernel with peak 12,000 persons/km² (seats over
  500,000 people), 9,000 (other seats) or 6,000 (towns), roughened by noise.
- **Rural population** is spread with weight ``exp(-2.5 R)`` times log-normal noise
  (villages thin out in the mountains), less inside urban cores.
- **Exactness**: a district's urban and rural totals are allocated to raster cells by
  the largest-remainder method, so every district's integer sum equals its census
  population and its urban component equals ``round(population * urban_share)``.

Water bodies passed as ``exclude`` get no population.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from numpy.typing import NDArray
from rasterio.transform import Affine
from scipy import ndimage
from scipy.special import ndtr

from siting.crs import require_metric
from siting.errors import InputError, SitingError
from siting.io import atomic_path
from siting.region import RasterLayer

logger = logging.getLogger(__name__)

__all__ = [
    "Landscape",
    "NoiseField",
    "build_landscape",
    "district_grid",
    "largest_remainder",
    "population_raster",
]

GENERATOR = "siting.region.synthetic/1"
"""Bumped whenever the synthetic output for a given seed changes (part of cache keys)."""

NORMALISE_CELL_M = 250.0
_TOWN_MIN_SPACING_M = 3500.0
_TOWN_MIN_FROM_SEAT_M = 5000.0
_KERNEL_TRUNCATE = 3.5  # kernels are zero beyond this many sigmas

FArray = NDArray[np.float64]
ArrayLikeF = FArray | float | list[float]


def largest_remainder(weights: NDArray[np.floating], total: int) -> NDArray[np.int64]:
    """Integers proportional to ``weights`` that sum exactly to ``total``.

    Each entry gets the floor of its share; the units left over go to the largest
    fractional remainders (ties to the lower index). All-zero weights are spread
    evenly. Deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    if total < 0 or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("largest_remainder needs finite weights >= 0 and total >= 0")
    if w.size == 0:
        if total:
            raise ValueError(f"cannot allocate {total} units to no entries")
        return np.zeros(0, dtype=np.int64)
    s = w.sum()
    # w / s first: total / s overflows for subnormal sums (found by hypothesis)
    share = np.full(w.size, total / w.size) if s <= 0 else (w / s) * total
    base = np.floor(share).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        order = np.lexsort((np.arange(w.size), -(share - base)))
        base[order[:left]] += 1
    elif left < 0:  # float round-off pushed a floor over; take back from the smallest
        order = np.lexsort((np.arange(w.size), share - base))
        base[order[:-left]] -= 1
    return base


@dataclass(frozen=True, eq=False)
class NoiseField:
    """Smooth, seeded Gaussian noise with unit variance, evaluated anywhere.

    A lattice of independent normals at ``spacing_m`` interpolated by cubic splines.
    """

    x0: float
    y0: float
    spacing_m: float
    values: FArray
    scale: float = 1.0

    @classmethod
    def generate(cls, rng: np.random.Generator, bounds: tuple[float, float, float, float],
                 *, spacing_m: float) -> NoiseField:
        xmin, ymin, xmax, ymax = bounds
        nx_ = math.ceil((xmax - xmin) / spacing_m) + 4
        ny_ = math.ceil((ymax - ymin) / spacing_m) + 4
        values = ndimage.spline_filter(rng.standard_normal((ny_, nx_)), order=3)
        raw = cls(xmin - 2 * spacing_m, ymin - 2 * spacing_m, spacing_m, values)
        sx, sy = np.meshgrid(np.linspace(xmin, xmax, 64), np.linspace(ymin, ymax, 64))
        std = float(np.std(raw(sx.ravel(), sy.ravel()))) or 1.0
        return cls(raw.x0, raw.y0, spacing_m, values, 1.0 / std)

    def __call__(self, x: ArrayLikeF, y: ArrayLikeF) -> FArray:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        coords = np.vstack([((y - self.y0) / self.spacing_m).ravel(),
                            ((x - self.x0) / self.spacing_m).ravel()])
        out = ndimage.map_coordinates(self.values, coords, order=3, mode="nearest",
                                      prefilter=False)
        return (out * self.scale).reshape(x.shape)



def district_grid(districts: gpd.GeoDataFrame, *, cell_size_m: float,
                  bounds: tuple[float, float, float, float] | None = None
                  ) -> tuple[Affine, tuple[int, int], NDArray[np.int32]]:
    """A grid snapped to ``cell_size_m`` over ``districts`` and each cell's district row.

    Returns ``(transform, (height, width), index)`` where ``index`` holds the
    positional row of the district containing the cell centre, or -1.
    """
    xmin, ymin, xmax, ymax = bounds or tuple(districts.total_bounds)
    cs = float(cell_size_m)
    x0, y1 = math.floor(xmin / cs) * cs, math.ceil(ymax / cs) * cs
    width = math.ceil((xmax - x0) / cs)
    height = math.ceil((y1 - ymin) / cs)
    transform = Affine(cs, 0.0, x0, 0.0, -cs, y1)
    shapes = ((geom, i) for i, geom in enumerate(districts.geometry))
    index = rasterio.features.rasterize(shapes, out_shape=(height, width), transform=transform,
                                        fill=-1, dtype="int32", all_touched=False)
    return transform, (height, width), index


def cell_centres(transform: Affine, shape: tuple[int, int]) -> tuple[FArray, FArray]:
    """x and y of every cell centre, as 2-D arrays of ``shape``."""
    rows, cols = np.indices(shape, dtype=np.float64)
    x = transform.c + (cols + 0.5) * transform.a
    y = transform.f + (rows + 0.5) * transform.e
    return x, y


@dataclass(frozen=True, eq=False)
class Landscape:
    """Seeded continuous fields over a region (see the module docstring).

    Build it with :func:`build_landscape`. ``districts`` (metric CRS) carry ``code``,
    ``name``, ``population`` and ``urban_share``; ``centres`` one row per urban
    centre with ``name``, ``kind`` (``seat``/``town``), ``district`` (positional
    row), ``x``, ``y``, ``population`` (urban persons) and ``sigma_m``.
    """

    crs: str
    seed: int
    districts: gpd.GeoDataFrame
    centres: pd.DataFrame
    highland_north_m: float | None
    exclude: shapely.Geometry | None
    noise: dict[str, NoiseField] = field(repr=False)
    urban_norm_m2: FArray = field(repr=False, default_factory=lambda: np.zeros(0))
    rural_norm_m2: FArray = field(repr=False, default_factory=lambda: np.zeros(0))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(float(v) for v in self.districts.total_bounds)  # type: ignore[return-value]

    def district_index(self, x: FArray, y: FArray) -> NDArray[np.int64]:
        """Positional row of the district containing each point, -1 outside all."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.full(x.shape, -1, dtype=np.int64)
        for i, geom in enumerate(self.districts.geometry):
            shapely.prepare(geom)
            inside = shapely.contains_xy(geom, x, y) & (out < 0)
            out[inside] = i
        return out

    def excluded(self, x: FArray, y: FArray) -> NDArray[np.bool_]:
        if self.exclude is None or self.exclude.is_empty:
            return np.zeros(np.shape(x), dtype=bool)
        shapely.prepare(self.exclude)
        return shapely.contains_xy(self.exclude, np.asarray(x), np.asarray(y))

    def ruggedness(self, x: FArray, y: FArray) -> FArray:
        """Relief in [0, 1]: 0 on plains, near 1 on the highest ridges."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.highland_north_m is None:
            return np.clip(0.08 * (1 + self.noise["relief"](x, y)), 0.0, 0.3)
        south = 1.0 / (1.0 + np.exp(-(self.highland_north_m - y) / 6000.0))
        hills = 0.25 + 0.55 * ndtr(self.noise["relief"](x, y)) + 0.2 * ndtr(
            self.noise["relief_fine"](x, y))
        valley = np.zeros_like(x)
        seats = self.centres[self.centres["kind"] == "seat"]
        for cx, cy, s in zip(seats["x"], seats["y"], seats["sigma_m"], strict=True):
            reach = 2.0 * s + 2500.0
            valley = np.maximum(valley, np.exp(-(((x - cx) ** 2 + (y - cy) ** 2)
                                                 / reach ** 2)))
        return np.clip(south * hills * (1.0 - 0.75 * valley), 0.0, 1.0)

    def _kernels(self, x: FArray, y: FArray, district: NDArray[np.int64]
                 ) -> tuple[FArray, FArray]:
        """Per-point sum of own-district centre kernels (normalised to persons/m²) and
        the raw kernel coverage in [0, 1] (any district)."""
        dens = np.zeros_like(x)
        cover = np.zeros_like(x)
        rough = np.exp(0.3 * self.noise["urban"](x, y))
        c = self.centres
        cxs, cys = c["x"].to_numpy(float), c["y"].to_numpy(float)
        sig, own_d = c["sigma_m"].to_numpy(float), c["district"].to_numpy()
        norms = self.urban_norm_m2
        if norms.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(norms > 0, c["population"].to_numpy(float) / norms, 0.0)
        else:
            scale = np.ones(len(c))
        for j in range(len(c)):
            cx, cy, s = cxs[j], cys[j], sig[j]
            reach = _KERNEL_TRUNCATE * s
            near = np.flatnonzero((np.abs(x - cx) < reach) & (np.abs(y - cy) < reach))
            if near.size == 0:
                continue
            d2 = (x[near] - cx) ** 2 + (y[near] - cy) ** 2
            k = np.where(d2 <= reach ** 2, np.exp(-0.5 * d2 / s ** 2), 0.0)
            cover[near] = np.maximum(cover[near], k)
            dens[near] += np.where(district[near] == own_d[j], k * rough[near], 0.0) * scale[j]
        return dens, cover

    def rural_weight(self, x: FArray, y: FArray, cover: FArray) -> FArray:
        r = self.ruggedness(x, y)
        return np.exp(-2.5 * r + 0.45 * self.noise["rural"](x, y)) * (1.0 - 0.7 * cover)

    def density_per_km2(self, x: FArray, y: FArray, *, district: NDArray[np.int64] | None = None
                        ) -> tuple[FArray, FArray]:
        """Expected ``(urban, rural)`` population density in persons/km² at each point.

        Zero outside every district and inside ``exclude``. ``district`` may pass
        precomputed :meth:`district_index` values.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        d = self.district_index(x, y) if district is None else district
        urban, cover = self._kernels(x, y, d)
        rural = self.rural_weight(x, y, cover)
        valid = (d >= 0) & ~self.excluded(x, y)
        pop = self.districts["population"].to_numpy(dtype=np.float64)
        share = self.districts["urban_share"].to_numpy(dtype=np.float64)
        rural_total = pop - np.round(pop * share)
        safe = np.where(d >= 0, d, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rural = rural * np.where(self.rural_norm_m2[safe] > 0,
                                     rural_total[safe] / self.rural_norm_m2[safe], 0.0)
        return (np.where(valid, urban * 1e6, 0.0), np.where(valid, rural * 1e6, 0.0))


def _far_enough(px: float, py: float, placed: list[tuple[float, float]]) -> bool:
    """At least the town spacing from every placed centre and further from the seat
    (``placed[0]``)."""
    d = np.hypot(np.array([p[0] for p in placed]) - px, np.array([p[1] for p in placed]) - py)
    return bool(d.min() >= _TOWN_MIN_SPACING_M and d[0] >= _TOWN_MIN_FROM_SEAT_M)


def _place_towns(districts: gpd.GeoDataFrame, seats: pd.DataFrame, anchors: FArray,
                 proto: Landscape, rng: np.random.Generator) -> pd.DataFrame:
    """Town centres per district: anchors first, then random low-relief sites."""
    rows = []
    for i, geom in enumerate(districts.geometry):
        area_km2 = geom.area / 1e6
        n_towns = max(2, round(area_km2 / 90.0))
        seat = seats.iloc[i]
        placed = [(seat["x"], seat["y"])]
        towns: list[tuple[float, float]] = []

        if len(anchors):
            inside = shapely.contains_xy(geom, anchors[:, 0], anchors[:, 1])
            for ax, ay in anchors[inside]:
                if len(towns) >= (n_towns + 1) // 2:
                    break
                if _far_enough(ax, ay, placed):
                    placed.append((ax, ay))
                    towns.append((ax, ay))
        xmin, ymin, xmax, ymax = geom.bounds
        cand = rng.uniform((xmin, ymin), (xmax, ymax), size=(60 * n_towns, 2))
        keep = shapely.contains_xy(geom, cand[:, 0], cand[:, 1]) & ~proto.excluded(
            cand[:, 0], cand[:, 1])
        cand = cand[keep]
        accept = rng.random(len(cand)) < np.exp(-4.0 * proto.ruggedness(cand[:, 0], cand[:, 1]))
        for cx, cy in cand[accept]:
            if len(towns) >= n_towns:
                break
            if _far_enough(cx, cy, placed):
                placed.append((cx, cy))
                towns.append((cx, cy))
        for k, (tx, ty) in enumerate(towns, start=1):
            rows.append({"name": f"{districts['name'].iat[i]} town {k}", "kind": "town",
                         "district": i, "x": tx, "y": ty, "rank": k})
    return pd.DataFrame(rows, columns=["name", "kind", "district", "x", "y", "rank"])


def _centre_populations(districts: gpd.GeoDataFrame, centres: pd.DataFrame,
                        rng: np.random.Generator) -> pd.DataFrame:
    pop = districts["population"].to_numpy(dtype=np.float64)
    share = districts["urban_share"].to_numpy(dtype=np.float64)
    urban = np.round(pop * share)
    out = centres.copy()
    people = np.zeros(len(out))
    for i in range(len(districts)):
        mine = np.flatnonzero(out["district"].to_numpy() == i)
        seat = mine[out["kind"].to_numpy()[mine] == "seat"]
        towns = mine[out["kind"].to_numpy()[mine] == "town"]
        seat_share = 0.55 + 0.30 * share[i] if len(towns) else 1.0
        people[seat] = urban[i] * seat_share
        if len(towns):
            w = 1.0 / out["rank"].to_numpy()[towns] ** 0.9 * rng.lognormal(0.0, 0.3, len(towns))
            people[towns] = urban[i] * (1.0 - seat_share) * w / w.sum()
    out["population"] = people
    peak = np.where(out["kind"] == "seat", np.where(people > 5e5, 12000.0, 9000.0), 6000.0)
    out["sigma_m"] = np.maximum(400.0, np.sqrt(people / (2 * math.pi * peak / 1e6)))
    return out


def build_landscape(districts: gpd.GeoDataFrame, seats: gpd.GeoDataFrame, *, seed: int,
                    highland_north_m: float | None = None,
                    anchors: gpd.GeoDataFrame | None = None,
                    exclude: shapely.Geometry | None = None) -> Landscape:
    """The seeded :class:`Landscape` of a region.

    Args:
        districts: district polygons in a metric CRS with ``code``, ``name``,
            ``population`` (integer census count) and ``urban_share`` (0-1).
        seats: one point per district (same order, same CRS): the district seat.
        seed: the seed; the same inputs and seed give the same landscape.
        highland_north_m: northing south of which the terrain becomes hilly
            (``None``: plains everywhere).
        anchors: points preferred as town centres (e.g. railway stations).
        exclude: area that holds no population (water bodies).
    """
    crs = require_metric(districts, what="districts for the synthetic landscape")
    problems = []
    for col in ("code", "name", "population", "urban_share"):
        if col not in districts.columns:
            problems.append(f"column {col!r} is missing")
    if len(seats) != len(districts):
        problems.append(f"{len(seats)} seats given for {len(districts)} districts")
    if problems:
        raise InputError.collect(problems, context="districts for the synthetic landscape")
    if seats.crs != districts.crs:
        seats = seats.to_crs(districts.crs)
    districts = districts.reset_index(drop=True)
    xmin, ymin, xmax, ymax = (float(v) for v in districts.total_bounds)
    bounds = (xmin, ymin, xmax, ymax)
    seq = np.random.SeedSequence(int(seed))
    rng_relief, rng_fine, rng_urban, rng_rural, rng_towns, rng_sizes = (
        np.random.default_rng(s) for s in seq.spawn(6))
    noise = {
        "relief": NoiseField.generate(rng_relief, bounds, spacing_m=16000.0),
        "relief_fine": NoiseField.generate(rng_fine, bounds, spacing_m=4000.0),
        "urban": NoiseField.generate(rng_urban, bounds, spacing_m=1500.0),
        "rural": NoiseField.generate(rng_rural, bounds, spacing_m=2500.0),
    }
    seat_rows = pd.DataFrame({
        "name": [f"{n} seat" for n in districts["name"]], "kind": "seat",
        "district": np.arange(len(districts)), "x": seats.geometry.x.to_numpy(),
        "y": seats.geometry.y.to_numpy(), "rank": 0})
    # sigma of seats only matters for the relief valleys while placing towns
    seat_rows = _centre_populations(districts, seat_rows, np.random.default_rng(0))
    proto = Landscape(crs, int(seed), districts, seat_rows, highland_north_m, exclude, noise)
    pts = np.zeros((0, 2))
    if anchors is not None and len(anchors):
        a = anchors.to_crs(districts.crs) if anchors.crs != districts.crs else anchors
        pts = np.column_stack([a.geometry.x.to_numpy(), a.geometry.y.to_numpy()])
    towns = _place_towns(districts, seat_rows, pts, proto, rng_towns)
    centres = pd.concat([seat_rows[["name", "kind", "district", "x", "y", "rank"]], towns],
                        ignore_index=True)
    centres = _centre_populations(districts, centres, rng_sizes)
    shaped = Landscape(crs, int(seed), districts, centres, highland_north_m, exclude, noise)
    # normalisers: integrate each kernel over its own district on a fixed grid
    transform, shape, index = district_grid(districts, cell_size_m=NORMALISE_CELL_M)
    x, y = cell_centres(transform, shape)
    inside = index >= 0
    xs, ys, ds = x[inside], y[inside], index[inside].astype(np.int64)
    keep = ~shaped.excluded(xs, ys)
    xs, ys, ds = xs[keep], ys[keep], ds[keep]
    cell_m2 = NORMALISE_CELL_M ** 2
    urban_norm = np.zeros(len(centres))
    rough = np.exp(0.3 * noise["urban"](xs, ys))
    cover = np.zeros_like(xs)
    for j in range(len(centres)):
        cx, cy, s = centres["x"].iat[j], centres["y"].iat[j], centres["sigma_m"].iat[j]
        k = np.exp(-0.5 * ((xs - cx) ** 2 + (ys - cy) ** 2) / s ** 2)
        k[np.hypot(xs - cx, ys - cy) > _KERNEL_TRUNCATE * s] = 0.0
        cover = np.maximum(cover, k)
        urban_norm[j] = float(np.sum(k * rough * (ds == centres["district"].iat[j]))) * cell_m2
    rural_w = shaped.rural_weight(xs, ys, cover)
    rural_norm = np.bincount(ds, weights=rural_w, minlength=len(districts)).astype(
        np.float64) * cell_m2
    logger.debug("landscape: %d centres (%d towns), seed %d", len(centres), len(towns), seed)
    return Landscape(crs, int(seed), districts, centres, highland_north_m, exclude, noise,
                     urban_norm, rural_norm)


def population_raster(landscape: Landscape, *, cell_size_m: float, path: Path) -> RasterLayer:
    """Write the census-exact synthetic population GeoTIFF to ``path`` and read it back.

    Cells are ``cell_size_m`` squares in the landscape's CRS; a cell belongs to the
    district containing its centre; cells outside every district are nodata (-1).
    Per district, the urban and rural census totals are allocated to cells in
    proportion to the expected densities, as integers (largest remainder).

    Raises:
        InputError: ``cell_size_m`` is out of range or leaves a district without cells.
        SitingError: the file read back does not hold the census totals (a bug).
    """
    if not 50.0 <= float(cell_size_m) <= 5000.0:
        raise InputError(f"cell_size_m={cell_size_m} is out of range; use 50-5000 m "
                         "(250-500 m is the intended resolution)")
    districts = landscape.districts
    transform, shape, index = district_grid(districts, cell_size_m=cell_size_m)
    x, y = cell_centres(transform, shape)
    inside = index >= 0
    d = index[inside].astype(np.int64)
    urban, rural = landscape.density_per_km2(x[inside], y[inside], district=d)
    cell_km2 = (float(cell_size_m) / 1000.0) ** 2
    pop = districts["population"].to_numpy(dtype=np.int64)
    urban_total = np.round(pop * districts["urban_share"].to_numpy(dtype=np.float64))
    counts = np.zeros(d.size, dtype=np.int64)
    empty = []
    for i in range(len(districts)):
        mine = np.flatnonzero(d == i)
        if mine.size == 0:
            empty.append(str(districts["name"].iat[i]))
            continue
        u = largest_remainder(urban[mine] * cell_km2, int(urban_total[i]))
        r = largest_remainder(rural[mine] * cell_km2, int(pop[i] - urban_total[i]))
        counts[mine] = u + r
    if empty:
        raise InputError(f"cell_size_m={cell_size_m} leaves districts {', '.join(empty)} "
                         "without a raster cell; use a smaller cell size")
    grid = np.full(shape, -1, dtype=np.int32)
    grid[inside] = counts.astype(np.int32)
    path = Path(path)
    with atomic_path(path) as tmp:
        profile = dict(driver="GTiff", height=shape[0], width=shape[1], count=1,
                       dtype="int32", crs=landscape.crs, transform=transform, nodata=-1,
                       compress="deflate", tiled=False)
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(grid, 1)
            dst.update_tags(synthetic="true", units="persons", seed=str(landscape.seed),
                            generator=GENERATOR, cell_size_m=str(float(cell_size_m)))
            dst.set_band_description(1, "population (synthetic, census-exact per district)")
    with rasterio.open(path) as src:
        back = src.read(1)
    sums = np.bincount(index[inside], weights=back[inside].astype(np.float64),
                       minlength=len(districts))
    if not np.array_equal(sums.astype(np.int64), pop):
        raise SitingError(f"population raster {path} does not hold the census totals "
                          f"({sums.astype(np.int64).tolist()} vs {pop.tolist()}); this is a bug")
    logger.info("population raster %s: %dx%d cells of %.0f m, %d persons", path.name,
                shape[1], shape[0], cell_size_m, int(pop.sum()))
    return RasterLayer(name="population", path=path, units="persons", synthetic=True)
