"""Planner layers derived from the OSM file itself: rail, industry, heat, constraints.

With these, ``python cli.py plan --osm FILE`` runs every planner from one OSM file,
no ``--layer`` needed. Data © OpenStreetMap contributors (ODbL 1.0).

:func:`read_osm_features` makes one pass over an ``.osm``/``.osm.bz2``/``.osm.pbf`` file
with pyosmium (the reader :mod:`siting.region.osm` uses for roads) and keeps the
objects whose tags :data:`LAYER_TAGS` lists, in EPSG:4326; for a downloaded place,
:func:`place_features` asks osmnx for the same tags. :func:`derive_layers`
turns them into the region's layers, in its metric CRS and clipped to its boundary:

- ``rail_stations`` (points): ``railway=station|halt|yard``; columns ``name``,
  ``freight`` (bool) and ``freight_basis`` (the tag that says so, or
  ``[assumption]`` where OSM does not);
- ``rail_lines`` (lines): ``railway=rail``, the track a siding joins; ``freight`` and
  ``freight_basis`` likewise;
- ``industrial_zones`` (polygons): ``landuse=industrial`` and ``man_made=works``, merged
  where they touch; ``freight_mt_yr``/``freight_t_yr`` spread ``freight_total_mt`` over
  the zones by area (an ``[assumption]``: OSM has no tonnage), so ``synthetic`` is True;
- ``heat_sources`` (points): ``power=plant|generator`` and ``man_made=works`` with a
  rated output tag (``plant:output:electricity``, ``generator:output:*``), ``kind``
  from ``plant:source``/``generator:source`` (or the works' ``product``/``industrial``
  tags) in the kinds of the default ``heat.recoverable_share``; those without an
  output tag or with a source that gives no waste heat (wind, solar, hydro) are
  left out and counted in a WARNING;
- ``water`` (``natural=water``, ``waterway=riverbank``, ``water=*``,
  ``landuse=reservoir|basin``), ``red_line`` (an OSM *proxy* of the ecological red
  line: ``natural=wetland``, ``boundary=protected_area`` of IUCN classes 1-4 or
  untagged, ``leisure=nature_reserve``)
  and ``farmland`` (``landuse=farmland``) polygons.

Each layer is recorded in ``Region.sources`` as ``osm:<layer>`` with the tags used; a
user layer of the same name (``--layer NAME=FILE``) wins.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._version import OSM_ATTRIBUTION
from siting.crs import WGS84

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_FREIGHT_TOTAL_MT",
    "LAYER_TAGS",
    "PLACE_TAGS",
    "add_osm_layers",
    "derive_layers",
    "features_from_osmnx",
    "output_mw",
    "place_features",
    "read_osm_features",
]

LAYER_TAGS: dict[str, tuple[str, ...]] = {
    "rail_stations": ("railway=station", "railway=halt", "railway=yard"),
    "rail_lines": ("railway=rail",),
    "industrial_zones": ("landuse=industrial", "man_made=works"),
    "heat_sources": ("power=plant", "power=generator", "man_made=works",
                     "plant:output:electricity", "generator:output:electricity",
                     "plant:source", "generator:source"),
    "water": ("natural=water", "waterway=riverbank", "water=*", "landuse=reservoir",
              "landuse=basin"),
    "red_line": ("natural=wetland", "boundary=protected_area (protect_class 1-4 or none)",
                 "leisure=nature_reserve"),
    "farmland": ("landuse=farmland",),
}
"""The OSM tags each derived layer is built from (recorded in provenance)."""

DEFAULT_FREIGHT_TOTAL_MT = 40.0
"""Freight (all modes, Mt/yr) spread over the industrial zones when the caller gives
none: ``[assumption]`` the default ``[logistics] source_freight_mt``."""

_KEYS = ("railway", "power", "man_made", "landuse", "natural", "waterway", "water",
         "boundary", "leisure")

# ---- heat: plant kinds (the default heat.recoverable_share keys) by OSM source tag
_SOURCE_KIND = {
    "coal": "power", "gas": "power", "oil": "power", "diesel": "power",
    "nuclear": "power", "lignite": "power", "gasoline": "power",
    "biomass": "biomass", "biofuel": "biomass", "biogas": "biomass", "wood": "biomass",
    "waste": "waste_to_energy",
}
"""``plant:source``/``generator:source`` -> kind. ``[assumption]`` thermal plants give
cooling-water heat (kind ``power``); a plant with a heat output tag is a CHP."""
_NO_WASTE_HEAT = frozenset({"wind", "solar", "hydro", "tidal", "wave", "battery",
                            "geothermal"})
_WORKS_KIND = (
    (re.compile(r"refin|petro|oil"), "petrochemical"),
    (re.compile(r"chemi|fertili|plastic"), "chemical"),
    (re.compile(r"alumin"), "aluminium"),
    (re.compile(r"textile|cloth"), "textile"),
)
_KIND_SECTOR = {"petrochemical": "chemical", "chemical": "chemical", "aluminium": "metallurgy",
                "textile": "textiles & light industry", "power": "power & heat",
                "chp": "power & heat", "waste_to_energy": "waste & environment",
                "biomass": "power & heat"}
_HEAT_OUTPUT_TAGS = ("plant:output:hot_water", "plant:output:steam", "plant:output:heat",
                     "generator:output:hot_water", "generator:output:steam",
                     "generator:output:heat")
_UNITS_MW = {"w": 1e-6, "kw": 1e-3, "mw": 1.0, "gw": 1e3, "kwp": 1e-3, "mwp": 1.0}

# ---- rail
_PASSENGER_STATION = ("subway", "light_rail", "tram", "monorail", "funicular")


def output_mw(value: Any) -> float:
    """Megawatts from an OSM output tag (``"660 MW"``, ``"1.2 GW"``, ``"500 kW"``);
    ``nan`` for ``"yes"``, blanks and anything else. A bare number is taken as MW
    (``[assumption]``: the OSM wiki asks for a unit; MW is the common omission)."""
    if not isinstance(value, str):
        return math.nan
    m = re.fullmatch(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*([a-zA-Z]*)\s*", value.split(";")[0])
    if m is None:
        return math.nan
    number = float(m.group(1).replace(",", "."))
    unit = m.group(2).lower() or "mw"
    return number * _UNITS_MW[unit] if unit in _UNITS_MW else math.nan


# --------------------------------------------------------------------------- reading


def _wanted(tags: Mapping[str, str]) -> bool:
    rw, lu = tags.get("railway"), tags.get("landuse")
    return (rw in ("station", "halt", "yard", "rail")
            or tags.get("power") in ("plant", "generator")
            or tags.get("man_made") == "works"
            or lu in ("industrial", "farmland", "reservoir", "basin")
            or tags.get("natural") in ("water", "wetland")
            or tags.get("waterway") == "riverbank" or "water" in tags
            or tags.get("boundary") == "protected_area"
            or tags.get("leisure") == "nature_reserve")


def read_osm_features(path: str | Path) -> gpd.GeoDataFrame:
    """The objects of an OSM XML/PBF file that :data:`LAYER_TAGS` lists, in EPSG:4326.

    One row per node (point), way (line; closed ways also as areas) or multipolygon
    relation (area), with ``osm_id``, ``tags`` (a dict) and ``geometry``. Broken
    multipolygons are skipped.
    """
    import osmium

    wkb = osmium.geom.WKBFactory()
    rows: list[dict[str, Any]] = []
    processor: Any = (osmium.FileProcessor(str(path))
                      .with_locations()
                      .with_filter(osmium.filter.KeyFilter(*_KEYS))
                      .with_areas(osmium.filter.KeyFilter(*_KEYS)))
    for obj in processor:
        tags = {t.k: t.v for t in obj.tags}
        if not _wanted(tags):
            continue
        try:
            if obj.is_node():
                if not obj.location.valid():
                    continue
                geom = shapely.Point(obj.location.lon, obj.location.lat)
                osm_id = f"node/{obj.id}"
            elif obj.is_way():
                if tags.get("railway") != "rail":
                    continue  # areas come from the area handler; lines only for track
                geom = shapely.from_wkb(wkb.create_linestring(obj))
                osm_id = f"way/{obj.id}"
            elif obj.is_area():
                geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                osm_id = f"{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}"
            else:
                continue
        except (RuntimeError, osmium.InvalidLocationError):  # broken geometry in the data
            continue
        rows.append({"osm_id": osm_id, "tags": tags, "geometry": geom})
    frame = pd.DataFrame(rows, columns=["osm_id", "tags", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84)


# --------------------------------------------------------------------------- layers


def _name(tags: Mapping[str, str]) -> str | None:
    for key in ("name", "name:en", "operator", "ref"):
        if tags.get(key):
            return tags[key]
    return None


def _is_polygonal(geom: Any) -> bool:
    return geom.geom_type in ("Polygon", "MultiPolygon")


def _station_freight(tags: Mapping[str, str]) -> tuple[bool, str]:
    mode = tags.get("railway:traffic_mode")
    if tags.get("railway") == "yard":
        return True, "railway=yard"
    if mode in ("freight", "mixed"):
        return True, f"railway:traffic_mode={mode}"
    if mode == "passenger":
        return False, "railway:traffic_mode=passenger"
    if tags.get("usage") == "freight" or tags.get("station") == "freight":
        return True, "usage/station=freight"
    kind = tags.get("station")
    if kind in _PASSENGER_STATION or any(tags.get(k) == "yes" for k in _PASSENGER_STATION):
        return False, f"{kind or 'urban rail'} station"
    if tags.get("highspeed") == "yes":
        return False, "highspeed=yes"
    if tags.get("railway") == "halt":
        return False, "[assumption] railway=halt: a passenger stop without sidings"
    return True, ("[assumption] railway=station on conventional rail assumed to handle "
                  "freight (OSM does not say)")


def _line_freight(tags: Mapping[str, str]) -> tuple[bool, str] | None:
    """``(freight, basis)`` of a ``railway=rail`` way; None for track to leave out."""
    mode = tags.get("railway:traffic_mode")
    if tags.get("usage") == "tourism":
        return None
    if mode == "passenger" or tags.get("highspeed") == "yes":
        return False, "railway:traffic_mode=passenger" if mode else "highspeed=yes"
    if mode in ("freight", "mixed"):
        return True, f"railway:traffic_mode={mode}"
    usage = tags.get("usage")
    if usage in ("industrial", "freight"):
        return True, f"usage={usage}"
    return True, (f"[assumption] railway=rail (usage={usage or 'untagged'}) assumed open "
                  "to freight (OSM does not say)")


def _rail(feats: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    st_rows, line_rows = [], []
    for osm_id, tags, geom in zip(feats["osm_id"], feats["tags"], feats["geometry"],
                                  strict=True):
        rw = tags.get("railway")
        if rw in ("station", "halt", "yard") and geom.geom_type != "LineString":
            freight, basis = _station_freight(tags)
            st_rows.append({"osm_id": osm_id, "name": _name(tags) or f"{rw} {osm_id}",
                            "railway": rw, "freight": freight, "freight_basis": basis,
                            "synthetic": False, "geometry": geom})
        elif rw == "rail" and geom.geom_type == "LineString":
            got = _line_freight(tags)
            if got is not None:
                line_rows.append({"osm_id": osm_id, "name": _name(tags) or f"rail {osm_id}",
                                  "usage": tags.get("usage"), "freight": got[0],
                                  "freight_basis": got[1], "synthetic": False,
                                  "geometry": geom})
    return _frame(st_rows), _frame(line_rows)


def _frame(rows: list[dict[str, Any]], columns: list[str] | None = None) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=columns or (list(rows[0]) if rows else ["geometry"]))
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=WGS84)


def _plant_kind(tags: Mapping[str, str]) -> tuple[str | None, str]:
    """``(kind, fuel)`` of a power plant/generator or works; kind None: no waste heat."""
    if tags.get("man_made") == "works" and tags.get("power") is None:
        text = " ".join(tags.get(k, "") for k in ("product", "industrial", "works",
                                                  "name")).lower()
        for pattern, kind in _WORKS_KIND:
            if pattern.search(text):
                return kind, tags.get("product") or "process"
        return None, tags.get("product") or "unknown"
    src = (tags.get("plant:source") or tags.get("generator:source") or "").split(";")[0]
    src = src.strip().lower()
    if src in _NO_WASTE_HEAT:
        return None, src
    if any(tags.get(k) for k in _HEAT_OUTPUT_TAGS):
        return "chp", src or "unknown"
    return _SOURCE_KIND.get(src), src or "unknown"


def _output(tags: Mapping[str, str]) -> tuple[float, str]:
    for key in ("plant:output:electricity", "generator:output:electricity",
                *_HEAT_OUTPUT_TAGS):
        mw = output_mw(tags.get(key))
        if math.isfinite(mw) and mw > 0:
            return mw, key
    return math.nan, ""


def _with_generators(tags: Mapping[str, str], plant: Any,
                     gens: list[tuple[Any, Mapping[str, str]]]) -> dict[str, str]:
    """A plant without an output tag, given the summed output (and the commonest
    source) of the thermal generators inside it."""
    inside = [t for p, t in gens if plant.contains(p)]
    mws = [_output(t)[0] for t in inside]
    total = sum(m for m in mws if math.isfinite(m))
    out = dict(tags)
    if total > 0:
        out["plant:output:electricity"] = f"{total:g} MW"
        out["_output_from"] = "sum of generator:output:electricity inside the plant"
    sources = [t["generator:source"] for t in inside if t.get("generator:source")]
    if sources and not out.get("plant:source"):
        out["plant:source"] = max(set(sources), key=sources.count)
    return out


def _heat(feats: gpd.GeoDataFrame, crs: str) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    rows: list[dict[str, Any]] = []
    skipped = {"no output tag": 0, "no waste heat (wind, solar, hydro...)": 0,
               "unknown kind": 0, "generator inside a plant": 0}
    metric = feats.to_crs(crs).geometry.to_numpy()
    is_plant = np.array([t.get("power") == "plant" and _is_polygonal(g) for t, g in
                         zip(feats["tags"], metric, strict=True)], dtype=bool)
    plant_area = shapely.union_all(shapely.buffer(metric[is_plant], 1.0)) if is_plant.any() \
        else shapely.Polygon()
    gens = [(g.representative_point(), t) for t, g in zip(feats["tags"], metric, strict=True)
            if t.get("power") == "generator"]
    for osm_id, tags, geom, mgeom in zip(feats["osm_id"], feats["tags"], feats["geometry"],
                                         metric, strict=True):
        power = tags.get("power")
        works = tags.get("man_made") == "works"
        if power not in ("plant", "generator") and not works:
            continue
        if geom.geom_type == "LineString":
            continue  # an unclosed way: the area handler gave its polygon if it has one
        if power == "generator" and plant_area.contains(mgeom.representative_point()):
            skipped["generator inside a plant"] += 1
            continue
        if power == "plant" and _is_polygonal(mgeom) and not math.isfinite(_output(tags)[0]):
            tags = _with_generators(tags, mgeom, gens)  # a plant tagged by its generators
        kind, fuel = _plant_kind(tags)
        mw, key = _output(tags)
        if kind is None and fuel in _NO_WASTE_HEAT:
            skipped["no waste heat (wind, solar, hydro...)"] += 1
            continue
        if not math.isfinite(mw):
            skipped["no output tag"] += 1
            continue
        if kind is None:
            skipped["unknown kind"] += 1
            continue
        rows.append({"osm_id": osm_id, "name": _name(tags) or f"{kind} {osm_id}",
                     "kind": kind, "fuel": fuel, "output_mw": mw,
                     "output_tag": tags.get("_output_from", key),
                     "kind_basis": ("[assumption] kind from "
                                    + ("plant:source/generator:source" if power else
                                       "works product/industrial tags")),
                     "synthetic": False, "geometry": geom})
    return _frame(rows), skipped


def _polygons(feats: gpd.GeoDataFrame, test: Any) -> gpd.GeoDataFrame:
    keep = [bool(test(t)) and _is_polygonal(g) for t, g in
            zip(feats["tags"], feats["geometry"], strict=True)]
    sel = feats[keep]
    rows = [{"osm_id": i, "name": _name(t), "tag": test(t), "synthetic": False, "geometry": g}
            for i, t, g in zip(sel["osm_id"], sel["tags"], sel["geometry"], strict=True)]
    return _frame(rows, ["osm_id", "name", "tag", "synthetic", "geometry"])


def _water_tag(t: Mapping[str, str]) -> str | None:
    if t.get("natural") == "water":
        return "natural=water"
    if t.get("waterway") == "riverbank":
        return "waterway=riverbank"
    if t.get("landuse") in ("reservoir", "basin"):
        return f"landuse={t['landuse']}"
    if "water" in t and t.get("natural") != "wetland":
        return f"water={t['water']}"
    return None


_STRICT_PROTECT_CLASSES = frozenset({"1", "1a", "1b", "2", "3", "4"})
"""``protect_class`` values kept in the red-line proxy: IUCN Ia-IV, strict reserves to
habitat management areas. ``[assumption]`` landscape (5), sustainable-use (6) and
non-nature classes are left out (they cover towns and farms); untagged areas are kept."""


def _red_tag(t: Mapping[str, str]) -> str | None:
    if t.get("natural") == "wetland":
        return "natural=wetland"
    if t.get("boundary") == "protected_area":
        cls = t.get("protect_class", "").strip().lower()
        if cls and cls not in _STRICT_PROTECT_CLASSES:
            return None
        return "boundary=protected_area" + (f" (protect_class={cls})" if cls else "")
    if t.get("leisure") == "nature_reserve":
        return "leisure=nature_reserve"
    return None


def _industrial(feats: gpd.GeoDataFrame, crs: str, area: Any,
                freight_total_mt: float) -> gpd.GeoDataFrame:
    from siting.region.synthetic import largest_remainder

    tagged = _polygons(feats, lambda t: "landuse=industrial" if t.get("landuse") ==
                       "industrial" else ("man_made=works" if t.get("man_made") == "works"
                                          else None))
    if len(tagged) == 0:
        return _frame([])
    parts = tagged.to_crs(crs)
    parts["geometry"] = shapely.intersection(shapely.make_valid(parts.geometry.to_numpy()),
                                             area)
    parts = parts[~parts.geometry.is_empty & parts.geometry.area.gt(0)]
    if len(parts) == 0:
        return _frame([])
    merged = [g for g in shapely.get_parts(shapely.union_all(parts.geometry.to_numpy()))
              if g.area > 0]
    tree = shapely.STRtree(parts.geometry.to_numpy())
    rows = []
    for zone in merged:
        hit = tree.query(zone, predicate="intersects")
        members = parts.iloc[hit]
        named = members[members["name"].notna()]
        biggest = (named.iloc[int(np.argmax(named.geometry.area.to_numpy()))]["name"]
                   if len(named) else None)
        rows.append({"name": biggest, "anchor": "; ".join(members["osm_id"][:10]),
                     "tags": "; ".join(sorted(set(members["tag"]))), "geometry": zone})
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    gdf = gdf.sort_values("area_km2", ascending=False, kind="stable").reset_index(drop=True)
    # [assumption] OSM has no tonnage: the scenario's freight is spread by area
    tonnes = largest_remainder(gdf["area_km2"].to_numpy(dtype=float),
                               round(freight_total_mt * 1e6))
    gdf.insert(0, "zone_id", np.arange(1, len(gdf) + 1))
    gdf["name"] = [n if isinstance(n, str) else f"industrial zone {i} (OSM)"
                   for n, i in zip(gdf["name"], gdf["zone_id"], strict=True)]
    gdf["sector"] = "unknown"
    gdf["freight_t_yr"] = tonnes
    gdf["freight_mt_yr"] = tonnes / 1e6
    gdf["freight_basis"] = (f"[assumption] {freight_total_mt:g} Mt/yr spread over "
                            "industrial land by area (OSM has no tonnage)")
    gdf["synthetic"] = True
    return gdf[["zone_id", "name", "sector", "anchor", "tags", "area_km2", "freight_mt_yr",
                "freight_t_yr", "freight_basis", "synthetic", "geometry"]]


def _sector_from_plants(zones: gpd.GeoDataFrame, plants: gpd.GeoDataFrame) -> None:
    """A zone holding a works or plant of known kind takes its sector (largest MW)."""
    if len(zones) == 0 or len(plants) == 0:
        return
    tree = shapely.STRtree(zones.geometry.to_numpy())
    pts = plants.geometry.representative_point().to_numpy()
    src, dst = tree.query(pts, predicate="within")
    best: dict[int, tuple[float, str]] = {}
    for p, z in zip(src, dst, strict=True):
        mw = float(plants["output_mw"].iat[p])
        sector = _KIND_SECTOR.get(str(plants["kind"].iat[p]))
        if sector and mw > best.get(int(z), (-1.0, ""))[0]:
            best[int(z)] = (mw, sector)
    for z, (_, sector) in best.items():
        zones.loc[z, "sector"] = sector


def derive_layers(feats: gpd.GeoDataFrame, *, crs: str, area: Any,
                  freight_total_mt: float = DEFAULT_FREIGHT_TOTAL_MT,
                  reach_m: Mapping[str, float] | None = None
                  ) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, dict[str, Any]]]:
    """The planner layers of :func:`read_osm_features`' output, in metric ``crs``.

    Polygons (industrial land, constraint layers) are clipped to ``area`` (the
    region's boundary polygon in ``crs``). Stations, track and plants are kept within
    ``reach_m[name]`` of it (the planners' own reach; 0 m: the boundary itself), as
    user layers are (:mod:`siting.region.user_layers`); what lies farther out is
    counted, with names, in a WARNING. Empty layers are left out.

    Returns:
        ``(layers, sources)``: name -> GeoDataFrame, and ``osm:<name>`` -> provenance.
    """
    layers: dict[str, gpd.GeoDataFrame] = {}
    if len(feats) == 0:
        return layers, {}
    reach = dict(reach_m or {})
    stations, lines = _rail(feats)
    heat, skipped = _heat(feats, crs)
    made = {"rail_stations": stations, "rail_lines": lines, "heat_sources": heat,
            "water": _polygons(feats, _water_tag), "red_line": _polygons(feats, _red_tag),
            "farmland": _polygons(feats, lambda t: "landuse=farmland"
                                  if t.get("landuse") == "farmland" else None)}
    for name, gdf in made.items():
        if len(gdf) == 0:
            continue
        gdf = gdf.to_crs(crs)
        if name in ("rail_stations", "heat_sources", "rail_lines"):
            if name != "rail_lines":
                gdf["geometry"] = gdf.geometry.representative_point()
            r = float(reach.get(name, 0.0))
            zone = area.buffer(r) if r > 0 else area
            inside = gdf.geometry.intersects(zone)
            if (~inside).any():
                logger.warning("OSM %s: %d of %d lie farther than %g m outside the boundary "
                               "and are left out: %s", name, int((~inside).sum()), len(gdf),
                               r, list(gdf.loc[~inside, "name"])[:10])
            gdf = gdf[inside]
            if name == "rail_lines" and len(gdf):
                gdf = gpd.clip(gdf, zone)
        else:
            gdf = gpd.clip(gdf, area)
        gdf = gdf[~gdf.geometry.is_empty]
        if len(gdf):
            layers[name] = gdf.reset_index(drop=True)
    if "red_line" in layers:
        layers["red_line"]["note"] = ("OSM proxy (wetland, protected area, nature reserve), "
                                      "not the official ecological red line")
    zones = _industrial(feats, crs, area, freight_total_mt)
    if len(zones):
        _sector_from_plants(zones, layers.get("heat_sources", _frame([]).to_crs(crs)))
        layers["industrial_zones"] = zones
    left = {k: v for k, v in skipped.items() if v}
    if left:
        logger.warning("OSM heat sources: %d power plants/generators/works left out: %s",
                       sum(left.values()), left)
    sources: dict[str, dict[str, Any]] = {}
    for name, gdf in layers.items():
        entry: dict[str, Any] = {
            "kind": "derived from the OSM file", "osm_tags": list(LAYER_TAGS[name]),
            "features": len(gdf), "attribution": OSM_ATTRIBUTION,
            "synthetic": bool(name == "industrial_zones")}
        if name == "industrial_zones":
            entry["assumption"] = (f"[assumption] freight {freight_total_mt:g} Mt/yr "
                                   "(logistics.source_freight_mt) spread by area; "
                                   "the polygons are real")
        if name == "red_line":
            entry["note"] = "OSM proxy, not the official ecological red line"
        if name == "heat_sources" and left:
            entry["left_out"] = left
        if name in ("rail_stations", "rail_lines"):
            entry["freight"] = int(gdf["freight"].sum())
            entry["assumption"] = ("[assumption] freight capability where OSM does not "
                                   "tag it: see column freight_basis")
        sources[f"osm:{name}"] = entry
    return layers, sources


def add_osm_layers(layers: dict[str, gpd.GeoDataFrame], sources: dict[str, dict[str, Any]],
                   feats: gpd.GeoDataFrame | None, *, crs: str, area: Any,
                   freight_total_mt: float = DEFAULT_FREIGHT_TOTAL_MT,
                   reach_m: Mapping[str, float] | None = None,
                   user: set[str] | frozenset[str] = frozenset()) -> frozenset[str]:
    """Add the derived layers to ``layers`` (in place) and their provenance to
    ``sources``, except for names in ``user`` (the user's layers, applied afterwards,
    replace them: no ``osm:<name>`` provenance for those). Layers already in ``layers``
    are kept. Returns the names of the synthetic layers added (``industrial_zones``:
    its tonnage is assumed)."""
    if feats is None:
        return frozenset()
    derived, provenance = derive_layers(feats, crs=crs, area=area,
                                        freight_total_mt=freight_total_mt, reach_m=reach_m)
    added = [name for name in derived if name not in layers]
    for name in added:
        layers[name] = derived[name]
        if name in user:
            logger.info("layer %r: the user's layer will replace the one derived from OSM",
                        name)
        else:
            sources[f"osm:{name}"] = provenance[f"osm:{name}"]
    if added:
        logger.info("layers derived from OSM: %s", {n: len(derived[n]) for n in added})
    return frozenset(n for n in added if n == "industrial_zones")


# --------------------------------------------------------------------------- place (osmnx)

PLACE_TAGS: dict[str, bool | str | list[str]] = {
    "railway": ["station", "halt", "yard", "rail"], "power": ["plant", "generator"],
    "man_made": ["works"], "landuse": ["industrial", "farmland", "reservoir", "basin"],
    "natural": ["water", "wetland"], "waterway": ["riverbank"], "water": True,
    "boundary": ["protected_area"], "leisure": ["nature_reserve"],
}
"""The osmnx ``tags`` query for the derived layers of a downloaded place."""


def features_from_osmnx(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """An osmnx features frame (index ``(element, id)``, a column per tag) in the form
    :func:`read_osm_features` returns (``osm_id``, ``tags`` dict, ``geometry``)."""
    rows = []
    for idx, row in frame.iterrows():
        tags = {k: v for k, v in row.items() if k != "geometry" and isinstance(v, str)}
        if not _wanted(tags) or row.geometry is None or row.geometry.is_empty:
            continue
        kind, osm_id = idx if isinstance(idx, tuple) else ("feature", idx)
        rows.append({"osm_id": f"{kind}/{osm_id}", "tags": tags, "geometry": row.geometry})
    out = pd.DataFrame(rows, columns=["osm_id", "tags", "geometry"])
    return gpd.GeoDataFrame(out, geometry="geometry", crs=frame.crs or WGS84).to_crs(WGS84)


def place_features(polygon: Any) -> gpd.GeoDataFrame:
    """The :data:`PLACE_TAGS` features inside ``polygon`` (EPSG:4326), downloaded by
    osmnx (needs internet; its HTTP cache serves repeats); empty when there are none."""
    import osmnx as ox

    try:
        frame = ox.features_from_polygon(polygon, tags=PLACE_TAGS)
    except ox._errors.InsufficientResponseError:
        return features_from_osmnx(gpd.GeoDataFrame(geometry=[], crs=WGS84))
    return features_from_osmnx(frame)
