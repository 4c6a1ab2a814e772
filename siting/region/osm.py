"""Real regions from OpenStreetMap: a local file or a place name.

The drive network, in both paths, is osmnx's ``"drive"`` network: public drivable
streets, no service roads, nothing tagged ``motor_vehicle=no``/``motorcar=no``,
``access=private`` or ``area=yes``.

Local files (:func:`region_from_osm_file`):

- ``.osm``, ``.osm.bz2``, ``.osm.gz``, ``.osm.pbf``: read with pyosmium (libosmium),
  which reads XML and PBF alike. One pass keeps the drivable ways (with the drive
  filter above, and ways cut at the edge of an extract trimmed to their present
  nodes) and the POIs; the ways and their nodes are written to an OSM XML file that
  :func:`osmnx.graph_from_xml` turns into a simplified graph. So a ``.osm.bz2`` and a
  ``.osm.pbf`` of the same data give the same graph.
- ``.graphml``: an osmnx graph saved with :func:`osmnx.save_graphml` (no POIs).

Then, for every source: the graph is projected to the boundary's (or the data's)
UTM zone, clipped to the boundary (default: the convex hull of the network's nodes,
so nothing is clipped), cut to its largest strongly connected component (so every
cost is finite both ways), and given ``speed_kph`` (the ``maxspeed`` tag where
present, else :data:`DEFAULT_HWY_SPEEDS_KPH` by highway class) and ``travel_time``.

POIs become candidate sites in ``layers["pois"]`` with a ``site_type`` (see
:data:`POI_TAGS`). Population is a user raster, or, lacking one, a clearly-labelled
*proxy*: drivable road length per cell (motorways and trunks excluded), scaled to
``population_total`` or to :data:`DEFAULT_PERSONS_PER_ROAD_KM` (an assumption). The
proxy is listed in ``Region.synthetic``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import rasterio
import rasterio.features
import shapely
from shapely.geometry import Point

from siting._version import OSM_ATTRIBUTION
from siting.crs import WGS84, crs_label, estimate_metric_crs
from siting.errors import InputError, SitingError
from siting.io import cache_dir, digest, file_sha256
from siting.region import Region
from siting.region.layers import (
    raster_zonal_sums,
    read_raster,
    read_vector,
    repair_geometries,
    require_file,
    road_density_population,
    warp_counts,
)
from siting.region.osm_layers import (
    DEFAULT_FREIGHT_TOTAL_MT,
    add_osm_layers,
    place_features,
    read_osm_features,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_HWY_SPEEDS_KPH",
    "DEFAULT_PERSONS_PER_ROAD_KM",
    "POI_TAGS",
    "region_from_osm_file",
    "region_from_place",
]

PathLike: TypeAlias = str | os.PathLike[str]
VectorInput: TypeAlias = str | os.PathLike[str] | gpd.GeoDataFrame

OSM_LICENCE = "ODbL 1.0"
OSM_XML_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".xml", ".osm.xml")
PBF_SUFFIXES = (".osm.pbf", ".pbf")

# osmnx's "drive" filter (osmnx._overpass._get_network_filter, with its default
# access filter), as Overpass `!~` regex tests: a way is dropped when the tag's value
# matches the pattern anywhere.
_DRIVE_EXCLUDE: dict[str, re.Pattern[str]] = {
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "highway": re.compile(
        "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|"
        "escalator|footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|"
        "rest_area|service|services|steps|track"
    ),
    "motor_vehicle": re.compile("no"),
    "motorcar": re.compile("no"),
    "service": re.compile("alley|driveway|emergency_access|parking|parking_aisle|private"),
}

POI_TAGS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("amenity", ("charging_station",), "charging_station"),
    ("amenity", ("fuel",), "fuel"),
    ("amenity", ("parking",), "parking"),
    ("shop", ("mall", "department_store"), "mall"),
    ("shop", ("supermarket",), "supermarket"),
    ("amenity", ("bus_station",), "transport_hub"),
    ("railway", ("station",), "transport_hub"),
    ("public_transport", ("station",), "transport_hub"),
    ("amenity", ("townhall", "hospital", "university", "college", "school", "library",
                 "community_centre", "police", "courthouse"), "public_institution"),
    ("office", ("government",), "public_institution"),
    ("landuse", ("residential",), "residential"),
)
"""``(key, values, site_type)``: the first rule an OSM object matches gives its type."""

DEFAULT_HWY_SPEEDS_KPH: dict[str, float] = {
    "motorway": 100.0, "motorway_link": 60.0, "trunk": 80.0, "trunk_link": 50.0,
    "primary": 60.0, "primary_link": 40.0, "secondary": 50.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 30.0, "unclassified": 30.0, "residential": 30.0,
    "living_street": 10.0, "road": 30.0, "busway": 30.0,
}
"""Free-flow speeds for edges with no usable ``maxspeed`` tag (assumption: typical
urban design speeds; China's GB 50220 / CJJ 37 classes fall in the same ranges)."""
_FALLBACK_SPEED_KPH = 30.0

DEFAULT_PERSONS_PER_ROAD_KM = 300.0
"""Assumed residents per km of drivable road when no raster or total is given: an
order-of-magnitude figure for mid-density cities (e.g. Helsinki, ~0.66 M people on
~2,500 km of drive network). An assumption, flagged as such in ``Region.sources``."""


# --------------------------------------------------------------------------- reading


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith(PBF_SUFFIXES):
        return "pbf"
    if name.endswith(OSM_XML_SUFFIXES):
        return "xml"
    raise InputError(
        f"OSM file {str(path)!r}: unknown format; give an .osm, .osm.bz2, .osm.pbf or "
        ".graphml file"
    )


def _is_drivable(tags: Any) -> bool:
    if "highway" not in tags:
        return False
    for key, pattern in _DRIVE_EXCLUDE.items():
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return False
    return True


def _classify(tags: Any) -> tuple[str, str] | None:
    """``(site_type, "key=value")`` of the first :data:`POI_TAGS` rule ``tags`` match."""
    for key, values, site_type in POI_TAGS:
        value = tags.get(key)
        if isinstance(value, str) and value in values:
            return site_type, f"{key}={value}"
    return None


def _number(value: Any) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return math.nan


def _poi_record(osm_id: str, tags: Any, geom: Any) -> dict[str, Any] | None:
    kind = _classify(tags)
    if kind is None:
        return None
    name = tags.get("name")
    return {"osm_id": osm_id, "site_type": kind[0], "tag": kind[1],
            "name": name if isinstance(name, str) else None,
            "access": tags.get("access") if isinstance(tags.get("access"), str) else None,
            "capacity": _number(tags.get("capacity")), "geometry": geom}


def _longest_valid_run(way: Any) -> list[int] | None:
    """Node refs of the longest run of nodes present in the file (extracts cut ways)."""
    best: list[int] = []
    run: list[int] = []
    for node in way.nodes:
        if node.location.valid():
            run.append(node.ref)
            if len(run) > len(best):
                best = run
        else:
            run = []
    return best if len(best) >= 2 else None


def _scan_osm(path: Path, xml_out: Path, *, progress: bool
              ) -> tuple[int, int, list[dict[str, Any]]]:
    """Write the drivable ways (and their nodes) of ``path`` to ``xml_out``; return the
    number of ways written, of ways trimmed, and the POI records (EPSG:4326)."""
    from tqdm.auto import tqdm

    try:
        import osmium
    except ModuleNotFoundError:  # pragma: no cover - a declared dependency
        raise SitingError(
            "reading .osm/.osm.pbf files needs pyosmium; install it with "
            "`pip install osmium` (or reinstall siting with its dependencies)"
        ) from None

    keys = ("highway", *sorted({k for k, _, _ in POI_TAGS}))
    pois: list[dict[str, Any]] = []
    written = trimmed = 0
    wkb = osmium.geom.WKBFactory()
    with osmium.BackReferenceWriter(str(xml_out), ref_src=str(path), overwrite=True) as out:
        processor: Any = (osmium.FileProcessor(str(path))
                     .with_filter(osmium.filter.KeyFilter(*keys))
                     .with_areas(osmium.filter.KeyFilter(*keys)))
        bar = tqdm(disable=not progress, desc=f"reading {path.name}", unit=" objects")
        for obj in processor:
            bar.update()
            if obj.is_way():
                if not _is_drivable(obj.tags):
                    continue
                refs = _longest_valid_run(obj)
                if refs is None:
                    continue
                if len(refs) < len(obj.nodes):
                    trimmed += 1
                    out.add_way(obj.replace(nodes=refs))
                else:
                    out.add_way(obj)
                written += 1
            elif obj.is_node():
                rec = _poi_record(f"node/{obj.id}", obj.tags,
                                  Point(obj.location.lon, obj.location.lat)
                                  if obj.location.valid() else None)
                if rec is not None and rec["geometry"] is not None:
                    pois.append(rec)
            elif obj.is_area() and _classify(obj.tags) is not None:
                try:
                    geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                except RuntimeError:  # broken multipolygon in the data: skip it
                    continue
                kind = "way" if obj.from_way() else "relation"
                rec = _poi_record(f"{kind}/{obj.orig_id()}", obj.tags, geom)
                if rec is not None:
                    pois.append(rec)
        bar.close()
    return written, trimmed, pois


def _read_osm_data(path: Path, kind: str, workdir: Path, *, progress: bool
                   ) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    """The simplified drive graph (EPSG:4326) and POIs of an OSM XML/PBF file."""
    xml_out = workdir / "drive.osm"
    try:
        written, trimmed, pois = _scan_osm(path, xml_out, progress=progress)
    except (RuntimeError, OSError, ValueError) as exc:
        raise InputError(
            f"OSM file {str(path)!r} cannot be read as OSM {kind.upper()} ({exc}); it may be "
            "truncated or not OSM data: download it again, or check the format matches "
            "its extension"
        ) from None
    if written == 0:
        raise InputError(
            f"OSM file {str(path)!r} has no drivable roads (no way passes osmnx's 'drive' "
            "filter); give an extract that covers streets"
        )
    if trimmed:
        logger.info("%s: %d ways cut at the extract's edge were trimmed to their present "
                    "nodes", path.name, trimmed)
    try:
        graph = ox.graph_from_xml(xml_out, simplify=True, retain_all=True)
    except (ValueError, ET.ParseError) as exc:  # pragma: no cover - pyosmium wrote it
        raise InputError(f"OSM file {str(path)!r}: drive network cannot be built ({exc})"
                         ) from None
    frame = pd.DataFrame(pois, columns=["osm_id", "site_type", "tag", "name", "access",
                                        "capacity", "geometry"])
    poi_gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84)
    logger.info("%s: %d drivable ways -> %d nodes, %d edges; %d POIs", path.name, written,
                len(graph), graph.number_of_edges(), len(poi_gdf))
    return graph, poi_gdf


def _read_graphml(path: Path) -> nx.MultiDiGraph:
    try:
        graph = ox.load_graphml(path)
    except (ET.ParseError, nx.NetworkXError, KeyError, ValueError, TypeError,
            UnicodeDecodeError) as exc:
        raise InputError(
            f"GraphML file {str(path)!r} cannot be read as an osmnx graph ({exc}); save it "
            "with osmnx.save_graphml, or give the OSM file instead"
        ) from None
    if graph.graph.get("crs") is None:
        raise InputError(f"GraphML file {str(path)!r} has no 'crs' graph attribute; "
                         "save it with osmnx.save_graphml")
    if graph.number_of_edges() == 0:
        raise InputError(f"GraphML file {str(path)!r} has no edges (no drivable roads)")
    missing = [n for n, d in graph.nodes(data=True) if "x" not in d or "y" not in d][:3]
    if missing:
        raise InputError(f"GraphML file {str(path)!r}: nodes {missing} have no x/y")
    return graph


# --------------------------------------------------------------------------- assembly


def _as_vector(value: VectorInput, *, what: str, crs: str) -> gpd.GeoDataFrame:
    if isinstance(value, gpd.GeoDataFrame):
        if len(value) == 0:
            raise InputError(f"{what} is empty (0 features); give a layer with data")
        from siting.crs import to_metric, to_wgs84

        out = to_wgs84(value, what=what) if crs == WGS84 else to_metric(value, crs, what=what)
        return repair_geometries(out, what=what).reset_index(drop=True)
    return read_vector(value, what=what, target_crs=crs)


def _boundary_polygon(gdf: gpd.GeoDataFrame, *, what: str) -> Any:
    geom = shapely.union_all(np.asarray(gdf.geometry.values))
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    area = shapely.union_all(polys) if polys else shapely.Polygon()
    if area.is_empty or area.area == 0:
        raise InputError(
            f"{what} is empty: it has no polygon with area (got {geom.geom_type}); give a "
            "polygon layer of the region"
        )
    return area


def _graph_hull(graph: nx.MultiDiGraph) -> Any:
    """Convex hull of the network: its nodes and the vertices of its edge geometries."""
    xy = [np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)])]
    geoms = [d["geometry"] for _, _, d in graph.edges(data=True) if "geometry" in d]
    if geoms:
        xy.append(shapely.get_coordinates(np.asarray(geoms, dtype=object)))
    return shapely.convex_hull(shapely.multipoints(np.vstack(xy)))


def _drive_graph(graph: nx.MultiDiGraph, crs: str, area: Any | None, *, source: str,
                 hwy_speeds_kph: Mapping[str, float] | None) -> tuple[nx.MultiDiGraph, Any]:
    """Project, clip to ``area`` (default: the hull of all the data's nodes), keep the
    largest strongly connected component, add speeds and travel times."""
    graph = ox.project_graph(graph, to_crs=crs)
    if area is None:
        area = _graph_hull(graph)
    else:
        try:
            graph = ox.truncate.truncate_graph_polygon(graph, area, truncate_by_edge=False)
        except ValueError:
            graph = nx.MultiDiGraph(crs=crs)
        if graph.number_of_edges() == 0:
            raise InputError(
                f"{source}: no drivable road lies inside the boundary; check that the "
                "boundary and the OSM data cover the same place"
            )
    before = len(graph)
    graph = ox.truncate.largest_component(graph, strongly=True)
    if graph.number_of_edges() == 0:
        raise InputError(f"{source}: the drive network has no strongly connected part "
                         "with roads (only one-way fragments); give a larger extract")
    logger.info("%s: largest strongly connected component keeps %d of %d nodes", source,
                len(graph), before)
    speeds = dict(DEFAULT_HWY_SPEEDS_KPH)
    speeds.update(hwy_speeds_kph or {})
    graph = ox.add_edge_speeds(graph, hwy_speeds=speeds, fallback=_FALLBACK_SPEED_KPH)
    return ox.add_edge_travel_times(graph), area


def _districts(value: VectorInput | None, boundary: gpd.GeoDataFrame, crs: str,
               region_name: str) -> tuple[gpd.GeoDataFrame, bool]:
    """Districts with ``code``, ``name``; and whether they carry their own population."""
    if value is None:
        return gpd.GeoDataFrame({"code": ["1"], "name": [region_name]},
                                geometry=list(boundary.geometry), crs=crs), False
    gdf = _as_vector(value, what="districts", crs=crs)
    name_col = next((c for c in ("name", "NAME", "Name", "district", "district_name",
                                 "name_en") if c in gdf.columns), None)
    code_col = next((c for c in ("code", "adcode", "district_adcode", "id", "ID")
                     if c in gdf.columns), None)
    names = (gdf[name_col].astype(str) if name_col
             else pd.Series([f"district {i + 1}" for i in range(len(gdf))]))
    codes = (gdf[code_col].astype(str) if code_col
             else pd.Series([str(i + 1) for i in range(len(gdf))]))
    if name_col is None:
        logger.warning("districts have no name column (name/district); numbering them")
    out = gpd.GeoDataFrame({"code": codes.to_numpy(), "name": names.to_numpy()},
                           geometry=gdf.geometry.values, crs=crs)
    has_pop = "population" in gdf.columns and pd.api.types.is_numeric_dtype(gdf["population"])
    if has_pop:
        out["population"] = gdf["population"].to_numpy(dtype=float)
    return out, has_pop


def _workdir(workdir: PathLike | None, key: str) -> Path:
    path = Path(workdir) if workdir is not None else cache_dir() / "regions" / key[:20]
    path.mkdir(parents=True, exist_ok=True)
    return path


def _assemble(
    graph: nx.MultiDiGraph, pois: gpd.GeoDataFrame | None, *, name: str, source_label: str,
    sources: dict[str, dict[str, Any]], boundary: VectorInput | None,
    districts: VectorInput | None, population_raster: PathLike | None,
    constraint_layers: Mapping[str, VectorInput] | None, population_total: float | None,
    workdir: Path, cell_size_m: float, persons_per_road_km: float,
    hwy_speeds_kph: Mapping[str, float] | None,
    layer_reach_m: Mapping[str, float] | None = None,
    osm_features: gpd.GeoDataFrame | None = None,
    freight_total_mt: float = DEFAULT_FREIGHT_TOTAL_MT,
) -> Region:
    problems = []
    if population_total is not None and not (population_total > 0):
        problems.append(f"population_total={population_total!r}: must be > 0")
    if not cell_size_m > 0:
        problems.append(f"cell_size_m={cell_size_m!r}: must be > 0")
    if problems:
        raise InputError.collect(problems, context=f"region from {source_label}")

    # boundary: the user's, else the districts' union, else the network's hull
    user_area = None
    if boundary is not None:
        user_area = _boundary_polygon(_as_vector(boundary, what="boundary", crs=WGS84),
                                      what="boundary")
    elif districts is not None:
        user_area = _boundary_polygon(_as_vector(districts, what="districts", crs=WGS84),
                                      what="districts (as boundary)")
    if user_area is not None:
        crs = estimate_metric_crs(gpd.GeoSeries([user_area], crs=WGS84))
        area = gpd.GeoSeries([user_area], crs=WGS84).to_crs(crs).iloc[0]
    else:
        nodes = gpd.GeoSeries.from_xy(*zip(*[(d["x"], d["y"]) for _, d in
                                             graph.nodes(data=True)], strict=True),
                                      crs=graph.graph["crs"])
        crs = estimate_metric_crs(nodes)
        area = None
    if area is None:
        sources["boundary"] = {"kind": "convex hull of the drive network's nodes (default)"}
    graph, area = _drive_graph(graph, crs, area, source=source_label,
                               hwy_speeds_kph=hwy_speeds_kph)
    boundary_gdf = gpd.GeoDataFrame({"name": [name]}, geometry=[area], crs=crs)

    layers: dict[str, gpd.GeoDataFrame] = {}
    if pois is not None:
        pts = pois.to_crs(crs)
        polygonal = pts.geom_type.isin(["Polygon", "MultiPolygon"])
        pts["area_m2"] = np.where(polygonal, pts.geometry.area, np.nan)
        pts["geometry"] = pts.geometry.representative_point()
        inside = pts.geometry.within(area).to_numpy()
        if not inside.all():  # the file's own POIs: a user boundary cuts many by design
            logger.log(logging.INFO if user_area is not None else logging.WARNING,
                       "%s: %d of %d OSM POIs lie outside the boundary and are not "
                       "candidates", source_label, int((~inside).sum()), len(pts))
        pts = pts.loc[inside].reset_index(drop=True)
        layers["pois"] = pts
        counts = pts["site_type"].value_counts().to_dict()
        logger.info("%s: %d candidate POIs inside the boundary: %s", source_label, len(pts),
                    counts)
    # planner layers from the file's own tags (siting.region.osm_layers); user layers win
    derived_synthetic = add_osm_layers(
        layers, sources, osm_features, crs=crs, area=area, reach_m=layer_reach_m,
        freight_total_mt=freight_total_mt, user=set(constraint_layers or {}))
    if constraint_layers:  # user layers: see siting.region.user_layers
        from siting.region.user_layers import apply_user_layers

        layers = apply_user_layers(layers, constraint_layers, area=area, crs=crs,
                                   reach_m=layer_reach_m, sources=sources, label=source_label)

    synthetic: set[str] = set(derived_synthetic - set(constraint_layers or {}))
    if population_raster is not None:
        raster = read_raster(population_raster, what="population raster",
                             boundary=boundary_gdf, name="population", units="persons")
        sources["population"] = {"path": str(population_raster),
                                 "sha256": file_sha256(population_raster), "kind": "user raster"}
        with rasterio.open(raster.path) as src:
            same = crs_label(src.crs.to_wkt()) == crs
        if not same:
            raster = warp_counts(raster, crs=crs, out_path=workdir / "population.tif",
                                 boundary=boundary_gdf)
            sources["population"]["warped_to"] = crs
    else:
        edges = ox.convert.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True)
        raster, road_km, persons = road_density_population(
            edges, area, crs=crs, cell_size_m=cell_size_m, total=population_total,
            persons_per_road_km=persons_per_road_km,
            out_path=workdir / "population_proxy.tif")
        synthetic.add("population")
        basis = (f"population_total={population_total:g} (given)"
                 if population_total is not None else
                 f"ASSUMPTION: {persons_per_road_km:g} persons per km of drivable road")
        sources["population"] = {
            "kind": "proxy", "synthetic": True,
            "method": "drivable road length per cell (motorway/trunk excluded), "
                      f"{cell_size_m:g} m cells", "road_km": round(road_km, 3),
            "total": persons, "basis": basis}
        logger.warning("no population raster: using a PROXY from road density "
                       "(%s; %.0f persons)", basis, persons)

    district_gdf, has_pop = _districts(districts, boundary_gdf, crs, name)
    if not has_pop:
        district_gdf["population"] = raster_zonal_sums(raster, district_gdf)
    return Region(
        name=name, crs=crs, boundary=boundary_gdf, districts=district_gdf, graph=graph,
        layers=layers, rasters={"population": raster}, synthetic=frozenset(synthetic),
        sources=sources, seed=None,
        attribution=(f"{OSM_ATTRIBUTION} ({OSM_LICENCE})",),
    )


def _user_sources(boundary: VectorInput | None, districts: VectorInput | None
                  ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in (("boundary", boundary), ("districts", districts)):
        if value is not None and not isinstance(value, gpd.GeoDataFrame):
            require_file(value, key)
            out[key] = {"path": str(value), "sha256": file_sha256(value)}
    return out


# --------------------------------------------------------------------------- public


def region_from_osm_file(
    path: PathLike,
    *,
    boundary: VectorInput | None = None,
    districts: VectorInput | None = None,
    population_raster: PathLike | None = None,
    constraint_layers: Mapping[str, VectorInput] | None = None,
    population_total: float | None = None,
    name: str | None = None,
    workdir: PathLike | None = None,
    cell_size_m: float = 250.0,
    persons_per_road_km: float = DEFAULT_PERSONS_PER_ROAD_KM,
    hwy_speeds_kph: Mapping[str, float] | None = None,
    layer_reach_m: Mapping[str, float] | None = None,
    freight_total_mt: float = DEFAULT_FREIGHT_TOTAL_MT,
    progress: bool = False,
) -> Region:
    """A :class:`Region` from a local ``.osm``, ``.osm.bz2``, ``.osm.pbf`` or ``.graphml``.

    Besides roads and candidate POIs, the file's own tags give the planner layers
    ``rail_stations``, ``rail_lines``, ``industrial_zones``, ``heat_sources`` and the
    constraint layers ``water``, ``red_line`` (an OSM proxy) and ``farmland`` where it
    has them (:mod:`siting.region.osm_layers`); a user layer of the same name wins.

    Args:
        path: the OSM file.
        boundary: polygon layer (file or GeoDataFrame) to clip to; default: the
            districts' union, else the convex hull of the drive network.
        districts: polygon layer with a name (``name``/``district``) and optionally a
            code and a ``population`` column; default: one district, the boundary.
        population_raster: GeoTIFF of persons per cell (any CRS; warped to the region's
            CRS keeping its total). Default: a road-density proxy (synthetic).
        constraint_layers: user layers, name -> file or GeoDataFrame (any CRS): the
            constraint layers ``red_line``, ``water``, ``farmland`` (clipped to the
            boundary), ``pois`` (candidate sites *added* to OSM's) and planner inputs
            such as ``rail_stations`` or ``heat_sources`` (replacing the region's),
            kept within ``layer_reach_m`` of the boundary; see
            :mod:`siting.region.user_layers`. Anything dropped is logged as a WARNING.
        layer_reach_m: layer name -> how far outside the boundary its features are
            still kept (m; default 0, see :func:`siting.pipeline.layer_reach_m`).
        population_total: total the proxy population is scaled to.
        name: region name; default: the file name without extensions.
        workdir: where derived files (filtered XML, rasters) go; default: a folder in
            the cache keyed by the inputs. Rasters in the Region point into it.
        cell_size_m: proxy raster cell size.
        persons_per_road_km: proxy density when ``population_total`` is not given.
        hwy_speeds_kph: speeds by highway class, overriding :data:`DEFAULT_HWY_SPEEDS_KPH`.
        freight_total_mt: freight (Mt/yr, all modes) spread over the OSM industrial
            zones by area (``[assumption]``: OSM has no tonnage); the pipeline passes
            ``[logistics] source_freight_mt``.
        progress: show progress bars.

    Raises:
        InputError: missing/unsupported/corrupt file, no drivable roads, an empty
            boundary, no roads inside the boundary, bad user layers.
        CRSError: user layers without a CRS.
    """
    p = require_file(path, "OSM file")
    kind = _file_kind(p)
    sha = file_sha256(p)
    sources: dict[str, dict[str, Any]] = {
        "osm": {"path": str(p), "sha256": sha, "format": kind, "licence": OSM_LICENCE,
                "attribution": OSM_ATTRIBUTION}}
    sources.update(_user_sources(boundary, districts))
    base = name or re.sub(r"(\.osm)?(\.(pbf|bz2|gz|xml|graphml))?$", "", p.name) or p.name
    work = _workdir(workdir, digest("osm-region", sha, str(p.resolve())))
    if kind == "graphml":
        graph, pois, feats = _read_graphml(p), None, None
    else:
        graph, pois = _read_osm_data(p, kind, work, progress=progress)
        feats = read_osm_features(p)
    return _assemble(
        graph, pois, name=base, source_label=f"OSM file {str(p)!r}", sources=sources,
        boundary=boundary, districts=districts, population_raster=population_raster,
        constraint_layers=constraint_layers, population_total=population_total,
        workdir=work, cell_size_m=cell_size_m, persons_per_road_km=persons_per_road_km,
        hwy_speeds_kph=hwy_speeds_kph, layer_reach_m=layer_reach_m,
        osm_features=feats, freight_total_mt=freight_total_mt)


def _place_pois(polygon: Any) -> gpd.GeoDataFrame:
    tags: dict[str, bool | str | list[str]] = {}
    for key, values, _ in POI_TAGS:
        listed = tags.setdefault(key, [])
        assert isinstance(listed, list)
        listed.extend(values)
    try:
        feats = ox.features_from_polygon(polygon, tags=tags)
    except ox._errors.InsufficientResponseError:
        feats = gpd.GeoDataFrame(geometry=[], crs=WGS84)
    records = []
    for idx, row in feats.iterrows():
        tags_row = {k: v for k, v in row.items() if k != "geometry" and isinstance(v, str)}
        kind, osm_id = (idx if isinstance(idx, tuple) else ("feature", idx))
        rec = _poi_record(f"{kind}/{osm_id}", tags_row, row.geometry)
        if rec is not None:
            records.append(rec)
    frame = pd.DataFrame(records, columns=["osm_id", "site_type", "tag", "name", "access",
                                           "capacity", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84)


def region_from_place(
    place: str,
    *,
    boundary: VectorInput | None = None,
    districts: VectorInput | None = None,
    population_raster: PathLike | None = None,
    constraint_layers: Mapping[str, VectorInput] | None = None,
    population_total: float | None = None,
    name: str | None = None,
    workdir: PathLike | None = None,
    cell_size_m: float = 250.0,
    persons_per_road_km: float = DEFAULT_PERSONS_PER_ROAD_KM,
    hwy_speeds_kph: Mapping[str, float] | None = None,
    layer_reach_m: Mapping[str, float] | None = None,
    freight_total_mt: float = DEFAULT_FREIGHT_TOTAL_MT,
    progress: bool = False,
) -> Region:
    """A :class:`Region` downloaded by osmnx for ``place`` (needs internet).

    The boundary is the user's, else Nominatim's polygon for ``place``
    (:func:`osmnx.geocode_to_gdf`); the network is osmnx's ``"drive"`` graph inside
    it; POIs and the planner layers of :mod:`siting.region.osm_layers` come from
    :func:`osmnx.features_from_polygon`. Other options as in
    :func:`region_from_osm_file`; osmnx's own HTTP cache serves repeated requests.

    Raises:
        InputError: the place is not found, or has no polygon or no roads.
        SitingError: the download failed (no network, server error).
    """
    import requests

    if not isinstance(place, str) or not place.strip():
        raise InputError(f"place={place!r}: give a place name such as 'Zibo, Shandong, China'")
    try:
        if boundary is not None:
            area = _boundary_polygon(_as_vector(boundary, what="boundary", crs=WGS84),
                                     what="boundary")
        else:
            found = ox.geocode_to_gdf(place)
            area = _boundary_polygon(found, what=f"the boundary of {place!r}")
        graph = ox.graph_from_polygon(area, network_type="drive", simplify=True,
                                      retain_all=True, truncate_by_edge=False)
        feats = place_features(area)  # planner layers (siting.region.osm_layers)
        pois = _place_pois(area)
    except ox._errors.InsufficientResponseError as exc:
        raise InputError(f"place {place!r}: OpenStreetMap returned no data ({exc}); check "
                         "the name, or use a local OSM file") from None
    except TypeError as exc:  # geocode_to_gdf: result is a point, not a polygon
        raise InputError(f"place {place!r} has no boundary polygon in Nominatim ({exc}); "
                         "pass boundary=FILE or a more specific name") from None
    except requests.RequestException as exc:
        raise SitingError(f"place {place!r}: download failed ({exc}); check the network "
                          "or use a local OSM file") from None
    sources = {"osm": {
        "place": place, "licence": OSM_LICENCE, "attribution": OSM_ATTRIBUTION,
        "downloaded_with": f"osmnx {ox.__version__}",
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # what was downloaded, so two runs can be compared: nodes and edges by OSM id
        "content_sha256": digest(sorted(graph.nodes), sorted(map(str, graph.edges(keys=True))),
                                 sorted(pois["osm_id"])),
    }}
    sources.update(_user_sources(boundary, districts))
    work = _workdir(workdir, digest("place-region", place))
    return _assemble(
        graph, pois, name=name or place, source_label=f"place {place!r}", sources=sources,
        boundary=boundary if boundary is not None else gpd.GeoDataFrame(
            geometry=[area], crs=WGS84),
        districts=districts, population_raster=population_raster,
        constraint_layers=constraint_layers, population_total=population_total,
        workdir=work, cell_size_m=cell_size_m, persons_per_road_km=persons_per_road_km,
        hwy_speeds_kph=hwy_speeds_kph, layer_reach_m=layer_reach_m,
        osm_features=feats, freight_total_mt=freight_total_mt)
