"""Self-contained, offline HTML maps: region quick-look, plan, review and diff maps.

Every page is one HTML file that needs no network:

- Leaflet and its plugins (marker clustering, heat map, full screen, distance
  measure) are inlined from the copies vendored from npm in :mod:`siting.assets`,
  with their CSS images as ``data:`` URIs;
- the data travel as one compact JSON block (rounded coordinates, column arrays),
  drawn by ``siting/assets/map.js`` on a canvas renderer;
- the default base map is drawn from the region's own main roads; OpenStreetMap and
  Tianditu tiles are optional online layers (the Tianditu key is read at run time
  from the URL fragment ``#tk=KEY`` or asked for once and kept in the browser, never
  written into the file);
- a Content-Security-Policy allows only the page's own script (by SHA-256) and, for
  images, ``data:`` URIs and the two tile hosts, so nothing else can load or run.

Names from OSM or user files never become markup: the JSON is escaped for embedding
in ``<script>`` and the page writes every value with ``textContent``.

:func:`plan_map` draws the planners' contract layers (DESIGN.md) with a legend, a
KPI panel, a scale bar, a measure tool, full screen and approve/reject controls that
download ``decisions.geojson``. :func:`write_map` is the general writer that
:mod:`siting.review` and :mod:`siting.diff` use for their maps and tables.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import siting
from siting import OSM_ATTRIBUTION
from siting.errors import InputError, SitingError
from siting.io import atomic_path, digest
from siting.region import Region

logger = logging.getLogger(__name__)

__all__ = ["DECIDABLE_LAYERS", "MapLayer", "basemap_roads", "map_url", "plan_layers", "plan_map",
           "region_map", "write_map"]

MAP_CRS = "EPSG:4326"
DECIMALS = 5                     # ~1.1 m at Zibo's latitude
DECIDABLE_LAYERS = ("charging_stations", "logistics_parks", "heat_pipes")
MAIN_ROADS = {"motorway": ("#d4883a", 2.6), "trunk": ("#e3a857", 2.2),
              "primary": ("#b9b3a8", 1.6), "secondary": ("#cfcac1", 1.0)}
RAMP_FLOW = ((255, 237, 160), (254, 178, 76), (240, 59, 32), (128, 0, 38))
STAGE_COLOURS = ("#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#e31a1c", "#b15928")
PERCENT = {"utilisation", "utilization", "coverage_share", "loss_share", "share"}
HIDDEN_COLUMNS = {"geometry", "synthetic", "lon", "lat", "x", "y", "u", "v", "key"}
MAX_POPUP_FIELDS = 14

Kind = Literal["points", "lines", "polygons", "heat", "circles"]


@dataclass(frozen=True)
class MapLayer:
    """One toggleable overlay.

    Attributes:
        key: layer id (``"charging_stations"``); decisions and table links use it.
        frame: the features, any CRS (drawn in EPSG:4326).
        title: name in the layer control and legend.
        kind: ``points``, ``lines``, ``polygons``, ``heat`` (``style["weight"]`` names
            the weight column) or ``circles`` (``style["of"]``: a points layer key,
            ``style["radius_m"]``: circle radius; ``frame`` unused).
        fields: popup rows as ``(column, label, unit)``; missing columns are skipped.
        name_field, id_field: columns naming and identifying each feature.
        decide: add approve/reject controls (needs ``id_field``).
        cluster: cluster points (the cluster label sums ``size``'s column).
        size, width: ``{"field", "lo", "hi", "label"}``: radius / line width scaled
            over the column's range (square-root scaled for sizes).
        color_by: ``{"field", "label"}`` for a colour ramp, or ``{"field",
            "categories": {value: colour}}``.
        style: ``color``, ``radius``, ``weight``, ``fill_opacity``, ``dash``,
            ``interactive``, legend ``shape`` and ``note``.
    """

    key: str
    frame: gpd.GeoDataFrame
    title: str
    kind: Kind
    fields: tuple[tuple[str, str, str], ...] = ()
    name_field: str | None = None
    id_field: str | None = None
    show: bool = True
    synthetic: bool = False
    decide: bool = False
    cluster: bool = False
    size: Mapping[str, Any] | None = None
    width: Mapping[str, Any] | None = None
    color_by: Mapping[str, Any] | None = None
    style: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ public writers

def plan_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | Path,
    *,
    kpis: Mapping[str, Any] | None = None,
    title: str = "Plan",
    subtitle: str = "",
    attribution: Sequence[str] = (),
    synthetic: Collection[str] = frozenset(),
    basemap_roads: gpd.GeoDataFrame | None = None,
    coverage_radius_m: float | None = None,
    plan_id: str | None = None,
    online_basemaps: bool = True,
) -> Path:
    """Write the plan map ``plan.html`` (atomically) and return its path.

    Draws whichever DESIGN.md contract layers ``layers`` holds: ``districts``,
    ``demand_cells`` (heat maps of charging and heat demand), ``charging_stations``
    (clustered, sized by ``piles``, coloured by ``stage``), coverage (a ``coverage``
    layer, or circles of ``coverage_radius_m`` around each station),
    ``logistics_parks`` with ``logistics_catchments`` and rail access lines to the
    nearest ``rail_stations``, ``heat_pipes`` (width by ``dn``, colour by
    ``flow_mw``), ``heat_sources``, ``heat_sinks``, the constraint layers
    ``red_line``, ``farmland`` and ``water``, and any other layer generically.
    Stations, parks and pipes get approve/reject controls.

    Args:
        layers: layer name -> GeoDataFrame, any CRS (e.g. the layers of plan.gpkg).
        path: the HTML file to write.
        kpis: ``kpis.json`` content: group -> {name: value}.
        title, subtitle: shown in the title panel and ``<title>``.
        attribution: credit lines; "© OpenStreetMap contributors" is always added.
        synthetic: names of synthetic layers; each is labelled "(synthetic)".
        basemap_roads: roads with a ``highway`` column for the offline base map.
        coverage_radius_m: service radius drawn around stations when there is no
            ``coverage`` layer.
        plan_id: identifies the plan in downloaded decisions (e.g. the SHA-256 of
            plan.gpkg); by default a digest of the drawn data.
        online_basemaps: offer OpenStreetMap and Tianditu tiles as optional bases.

    Raises:
        InputError: a layer without a CRS, or duplicate ids in a decidable layer.
    """
    map_layers = plan_layers(layers, synthetic=synthetic, coverage_radius_m=coverage_radius_m)
    bounds_from = [layers[n] for n in ("boundary", "districts") if n in layers and len(layers[n])]
    return write_map(path, map_layers, title=title, subtitle=subtitle, kpis=kpis,
                     attribution=attribution, synthetic=synthetic, basemap=basemap_roads,
                     plan_id=plan_id, online_basemaps=online_basemaps,
                     bounds_from=bounds_from or None)


def region_map(region: Region, path: str | Path, *,
               layers: Mapping[str, gpd.GeoDataFrame] | None = None,
               simplify_m: float = 50.0) -> Path:
    """Write an offline quick-look HTML map of ``region`` to ``path`` (atomically).

    ``layers`` are the export layers (as from :func:`siting.export.region_layers`);
    by default the region's own. Main roads form the offline base map; demand cells
    are drawn as heat maps; facilities and constraint layers are overlays.
    ``simplify_m`` is kept for compatibility: polygons are simplified to the map's
    own tolerance.
    """
    from siting.export import region_layers

    layers = dict(layers) if layers is not None else region_layers(region)
    roads = layers.get("roads")
    shown = {k: v for k, v in layers.items() if k not in ("roads", "boundary")}
    map_layers = plan_layers(shown, synthetic=region.synthetic)
    attribution = [*region.attribution]
    return write_map(path, map_layers, title=region.name,
                     subtitle="Region quick-look", attribution=attribution,
                     synthetic=region.synthetic | ({"roads"} if region.is_synthetic("graph")
                                                   else set()),
                     basemap=roads, bounds_from=[region.boundary], decisions=False)


def write_map(
    path: str | Path,
    layers: Sequence[MapLayer],
    *,
    title: str,
    subtitle: str = "",
    kpis: Mapping[str, Any] | None = None,
    attribution: Sequence[str] = (),
    synthetic: Collection[str] = frozenset(),
    basemap: gpd.GeoDataFrame | None = None,
    table: Mapping[str, Any] | None = None,
    plan_id: str | None = None,
    online_basemaps: bool = True,
    bounds_from: Sequence[gpd.GeoDataFrame] | None = None,
    decisions: bool = True,
) -> Path:
    """Write one self-contained map page; the general writer behind every map here.

    ``table`` is an optional data table under the map: ``{"title", "columns",
    "rows", "link", "empty"}``; ``link`` is ``(layer column, id column)`` or
    ``(layer column, id column, prefix column)`` (indexes into each row): clicking a
    row opens the popup of item ``id`` in map layer ``[prefix:]layer``. Returns ``path``.
    """
    path = Path(path)
    specs = [_layer_spec(layer, decisions=decisions) for layer in layers]
    frames = [f for f in (bounds_from or [lyr.frame for lyr in layers]) if len(f)]
    bounds = _bounds(frames)
    roads = _basemap_spec(basemap, bounds)
    credits = list(dict.fromkeys([*attribution, OSM_ATTRIBUTION]))
    syn = sorted(set(synthetic))
    data: dict[str, Any] = {
        "title": title, "subtitle": subtitle, "bounds": bounds,
        "attribution": credits,
        "syntheticNote": ("synthetic layers: " + ", ".join(syn)) if syn else "",
        "basemap": {"offlineName": "Offline: region roads" if roads else "Offline (no tiles)",
                    "roads": roads, "online": online_basemaps},
        "kpis": _kpi_rows(kpis or {}),
        "layers": specs,
        "table": _table_spec(table) if table is not None else None,
    }
    payload = _json(data)
    data["planId"] = plan_id or digest(payload)[:16]
    page = _page(title, _json(data), online=online_basemaps)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    logger.info("wrote %s (%.2f MB, %d layers)", path, len(page.encode()) / 1e6, len(specs))
    return path


# ------------------------------------------------------------------ plan layer recipes

def plan_layers(layers: Mapping[str, gpd.GeoDataFrame], *,
                synthetic: Collection[str] = frozenset(),
                coverage_radius_m: float | None = None) -> list[MapLayer]:
    """The overlays :func:`plan_map` draws for ``layers``, bottom to top."""
    syn = set(synthetic)
    have = {k: v for k, v in layers.items() if v is not None and len(v)}
    out: list[MapLayer] = []

    def add(key: str, title: str, kind: Kind, **kw: Any) -> None:
        frame = have[key]
        out.append(MapLayer(key=key, frame=frame, title=title, kind=kind,
                            synthetic=key in syn or _flagged(frame), **kw))

    if "districts" in have:
        add("districts", "District boundaries", "polygons", name_field=_first(
            have["districts"], "name", "name_zh"),
            fields=_fields(have["districts"], [("name_zh", "Chinese name", ""),
                                               ("population", "Population (2020)", "")]),
            style={"color": "#34495e", "weight": 1.6, "fill_opacity": 0.02, "shape": "area"})
    for key, title, colour, show in (("red_line", "Ecological red line", "#c0392b", True),
                                     ("farmland", "Permanent basic farmland", "#3f9a3f", True),
                                     ("water", "Water bodies", "#2f80c9", True),
                                     ("industrial_zones", "Industrial zones", "#8d6e3f", False),
                                     ("land_use", "Land use", "#9e9e9e", False)):
        if key in have:
            add(key, title, "polygons", show=show, name_field=_first(have[key], "name"),
                fields=_fields(have[key], _other_fields(have[key], skip={"name"})),
                style={"color": colour, "weight": 1, "fill_opacity": 0.22, "shape": "area"})
    if "demand_cells" in have:
        cells = have["demand_cells"]
        for col, title, show in (("ev_sessions_day", "EV charging demand (heat map)", True),
                                 ("heat_peak_mw", "Heat demand (heat map)", False),
                                 ("population", "Population (heat map)", "ev_sessions_day"
                                  not in cells.columns)):
            if col in cells.columns:
                out.append(MapLayer(key=f"demand_{col}", frame=cells, title=title, kind="heat",
                                    show=bool(show), synthetic="demand_cells" in syn
                                    or _flagged(cells), style={"weight": col}))
    stations = have.get("charging_stations")
    if "coverage" in have:
        add("coverage", "Coverage", "polygons", style={"color": "#2b8cbe", "weight": 0.5,
                                                       "fill_opacity": 0.12, "shape": "area"})
    elif stations is not None and coverage_radius_m:
        out.append(MapLayer(key="coverage", frame=stations.iloc[:0], title=(
            f"Coverage ({coverage_radius_m / 1000:g} km service radius)"), kind="circles",
            synthetic="charging_stations" in syn, show=False,
            style={"of": "charging_stations", "radius_m": float(coverage_radius_m),
                   "color": "#2b8cbe", "shape": "area"}))
    for key in ("logistics_catchments", "logistics_flows"):
        if key in have:
            kind: Kind = "lines" if _geom_kind(have[key]) == "lines" else "polygons"
            add(key, "Park catchments", kind, fields=_fields(have[key], _other_fields(have[key])),
                style={"color": "#7b4fa0", "weight": 0.8, "fill_opacity": 0.08,
                       "shape": "line" if kind == "lines" else "area"})
    if "logistics_parks" in have and "rail_stations" in have:
        links = _rail_links(have["logistics_parks"], have["rail_stations"])
        out.append(MapLayer(
            key="rail_access", frame=links, kind="lines", title="Rail access (nearest station)",
            fields=(("distance_m", "Straight line", "m"),
                    ("rail_access_m", "Network distance", "m")),
            name_field="station", style={"color": "#2c3e50", "weight": 2, "dash": "6 4",
                                         "shape": "line"}))
    if "heat_pipes" in have:
        pipes = have["heat_pipes"]
        add("heat_pipes", "Heat pipes", "lines", id_field="id", decide=True,
            name_field=_first(pipes, "name"),
            fields=_fields(pipes, [("dn", "DN", "mm"), ("flow_mw", "Flow", "MW"),
                                   ("loss_mw", "Loss", "MW"), ("length_m", "Length", "m"),
                                   ("cost", "Cost", "CNY"), ("cost_cny", "Cost", "CNY"),
                                   ("kind", "Kind", "")]),
            width=_scale(pipes, "dn", 1.5, 7.0, "DN"),
            color_by={"field": "flow_mw", "label": "flow (MW)"} if "flow_mw" in pipes else None,
            style={"color": "#c0392b", "weight": 3, "shape": "line",
                   "note": "width: DN; colour: heat flow"})
    for key, title, colour, weight_col in (("heat_sources", "Heat sources", "#d35400",
                                            ("used_mw", "supply_mw", "output_mw")),
                                           ("heat_sinks", "Heat sinks", "#2471a3",
                                            ("demand_mw", "heat_mw", "delivered_mw"))):
        if key in have:
            mw = _first(have[key], *weight_col)
            add(key, title, "points", name_field=_first(have[key], "name", "name_zh"),
                id_field="id" if "id" in have[key] else None,
                fields=_fields(have[key], _other_fields(have[key], skip={"name"})),
                size=_scale(have[key], mw, 4, 14, "MW") if mw else None,
                style={"color": colour, "radius": 6, "shape": "point"})
    for key, title, colour in (("rail_stations", "Railway stations", "#2c3e50"),
                               ("substations", "Substations", "#8e44ad"),
                               ("pois", "Candidate sites", "#16a085")):
        if key in have:
            add(key, title, "points", show=False, name_field=_first(have[key], "name", "name_zh"),
                fields=_fields(have[key], _other_fields(have[key], skip={"name"})),
                style={"color": colour, "radius": 4, "shape": "point"})
    if "logistics_parks" in have:
        parks = have["logistics_parks"]
        add("logistics_parks", "Logistics parks", "points", id_field="id", decide=True,
            name_field=_first(parks, "name"),
            fields=_fields(parks, [("capacity_mt", "Capacity", "Mt/yr"),
                                   ("throughput_mt", "Throughput", "Mt/yr"),
                                   ("rail_access_m", "Rail access", "m"),
                                   *_other_fields(parks, skip={"name", "capacity_mt",
                                                               "throughput_mt", "rail_access_m"})]),
            size=_scale(parks, "capacity_mt", 8, 16, "Mt/yr"),
            style={"color": "#7b4fa0", "radius": 10, "shape": "point"})
    if stations is not None:
        stage = "stage" if "stage" in stations else None
        cats = sorted(map(str, stations[stage].dropna().unique()))[:len(STAGE_COLOURS)] \
            if stage else []
        add("charging_stations", "Charging stations", "points", id_field="id", decide=True,
            cluster=True, name_field=_first(stations, "name"),
            fields=_fields(stations, _station_fields(stations)),
            size=_scale(stations, "piles", 4, 13, "piles"),
            color_by={"field": stage, "categories": dict(zip(cats, STAGE_COLOURS, strict=False))}
            if stage else None,
            style={"color": "#1f78b4", "radius": 6, "shape": "point",
                   "note": "size: piles; clusters show total piles"})
    known = {"boundary", "roads", "demand_cells", "districts", "district_centres", "coverage",
             "charging_stations", "logistics_parks", "heat_pipes", "heat_sources", "heat_sinks",
             "rail_stations", "substations", "pois", "red_line", "farmland", "water",
             "industrial_zones", "land_use", "logistics_catchments", "logistics_flows"}
    for key, frame in have.items():
        if key in known:
            continue
        kind = _geom_kind(frame)
        add(key, key.replace("_", " ").capitalize(), kind,
            show=kind != "polygons" and len(frame) <= 500,
            name_field=_first(frame, "name"), fields=_fields(frame, _other_fields(frame)),
            style={"color": "#555", "radius": 4, "weight": 1.5, "fill_opacity": 0.15,
                   "shape": {"points": "point", "lines": "line"}.get(kind, "area")})
    return out


def basemap_roads(region: Region) -> gpd.GeoDataFrame:
    """The region's roads (one row per road) for :func:`plan_map`'s offline base map."""
    from siting.export import roads_frame

    roads = roads_frame(region.graph)
    return roads[roads["highway"].astype(str).str.startswith(tuple(MAIN_ROADS))]


# ------------------------------------------------------------------ encoding

def _layer_spec(layer: MapLayer, *, decisions: bool) -> dict[str, Any]:
    st = dict(layer.style)
    spec: dict[str, Any] = {
        "id": layer.key, "title": layer.title, "kind": layer.kind, "show": layer.show,
        "synthetic": layer.synthetic, "color": st.get("color", "#2b6cb0"),
        "radius": st.get("radius", 5), "weight": st.get("weight", 2),
        "fillOpacity": st.get("fill_opacity", 0.2), "dash": st.get("dash"),
        "interactive": st.get("interactive", True), "cluster": layer.cluster,
        "decide": bool(layer.decide and decisions),
        "legend": {"shape": st.get("shape", "point"), "color": st.get("color"),
                   "fill": st.get("color") if st.get("shape") == "point" else None,
                   "note": st.get("note")},
    }
    if layer.kind == "circles":
        spec.update(of=st["of"], radius_m=st["radius_m"], legend={
            "shape": "area", "color": st.get("color"), "fill": st.get("color"),
            "note": f"{st['radius_m']:,.0f} m around each station"})
        return spec
    frame = _to_map_crs(layer.frame, what=f"layer {layer.key!r}")
    if layer.kind == "heat":
        spec["data"] = {"points": _heat_points(frame, st["weight"])}
        spec["legend"] = None
        return spec
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    columns = [f[0] for f in layer.fields]
    for extra in (layer.name_field, layer.id_field,
                  (layer.size or {}).get("field"), (layer.width or {}).get("field"),
                  (layer.color_by or {}).get("field")):
        if extra and extra not in columns:
            columns.append(extra)
    frame = frame.copy()
    if layer.id_field and layer.id_field not in frame.columns:
        frame[layer.id_field] = [str(i) for i in frame.index]
    if layer.id_field:
        ids = frame[layer.id_field].astype(str)
        dup = ids[ids.duplicated()].unique()
        if len(dup):
            raise InputError(f"layer {layer.key!r}: column {layer.id_field!r} has duplicate ids "
                             f"{list(dup[:5])}; each item needs a unique id for review decisions")
    props = {c: _column(frame[c], percent=c in PERCENT) for c in columns if c in frame.columns}
    if layer.id_field:
        props[layer.id_field] = frame[layer.id_field].astype(str).tolist()
    spec.update(fields=[list(f) for f in layer.fields if f[0] in frame.columns],
                nameField=layer.name_field, idField=layer.id_field)
    for name, rule in (("size", layer.size), ("width", layer.width)):
        spec[name] = _range_rule(frame, rule) if rule else None
    spec["colorBy"] = _colour_rule(frame, layer.color_by) if layer.color_by else None
    if layer.kind == "points":
        pts = frame.geometry.representative_point()
        spec["data"] = {"x": np.round(pts.x.to_numpy(), DECIMALS).tolist(),
                        "y": np.round(pts.y.to_numpy(), DECIMALS).tolist(), "props": props}
    else:
        tolerance = st.get("simplify_deg", 1e-4 if layer.kind == "polygons" else 2e-5)
        spec["data"] = {"geoms": _geoms(frame.geometry, tolerance), "props": props}
    return spec


def _column(series: pd.Series, *, percent: bool) -> list[Any]:
    """A JSON-ready column: NaN -> null, numpy -> Python, floats rounded."""
    if pd.api.types.is_bool_dtype(series):
        return [bool(v) for v in series]
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float).to_numpy()
        if percent and np.nanmax(np.abs(values), initial=0) <= 1.0:
            values = values * 100
        out = np.round(values, 1 if percent else 3)
        ints = pd.api.types.is_integer_dtype(series)
        return [None if not math.isfinite(v) else int(v) if ints else float(v) for v in out]
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in series]


def _range_rule(frame: gpd.GeoDataFrame, rule: Mapping[str, Any]) -> dict[str, Any] | None:
    col = rule["field"]
    if col not in frame.columns or not pd.api.types.is_numeric_dtype(frame[col]):
        return None
    values = frame[col].astype(float)
    lo, hi = (float(values.min()), float(values.max())) if values.notna().any() else (0.0, 1.0)
    return {"field": col, "min": lo, "max": hi, "lo": rule["lo"], "hi": rule["hi"],
            "sqrt": True, "label": rule.get("label", col)}


def _colour_rule(frame: gpd.GeoDataFrame, rule: Mapping[str, Any]) -> dict[str, Any] | None:
    col = rule["field"]
    if col not in frame.columns:
        return None
    if "categories" in rule:
        return {"field": col, "categories": dict(rule["categories"])}
    values = frame[col].astype(float)
    return {"field": col, "min": float(values.min()), "max": float(values.max()),
            "ramp": [list(c) for c in RAMP_FLOW], "label": rule.get("label", col)}


def _geoms(geoms: gpd.GeoSeries, tolerance_deg: float) -> list[dict[str, Any]]:
    """GeoJSON geometries, simplified (tolerance in degrees) and rounded."""
    arr = shapely.simplify(geoms.to_numpy(), tolerance_deg, preserve_topology=True)
    arr = shapely.set_precision(arr, 10 ** -DECIMALS)
    out = []
    for g in arr:
        out.append(json.loads(shapely.to_geojson(g), parse_float=lambda s: round(float(s),
                                                                              DECIMALS)))
    return out


def _heat_points(cells: gpd.GeoDataFrame, weight: str) -> list[float]:
    """Flat ``[lat, lon, w, ...]`` with ``w`` scaled to [0, 1] by the 99th percentile."""
    values = cells[weight].astype(float).fillna(0).to_numpy()
    keep = values > 0
    pts = cells.geometry.representative_point()[keep]
    values = values[keep]
    top = float(np.percentile(values, 99)) if len(values) else 1.0
    w = np.clip(values / (top or 1.0), 0, 1)
    flat = np.column_stack([np.round(pts.y.to_numpy(), 4), np.round(pts.x.to_numpy(), 4),
                            np.round(w, 2)]).ravel()
    return flat.tolist()


def _basemap_spec(roads: gpd.GeoDataFrame | None, bounds: list[list[float]]
                  ) -> list[dict[str, Any]]:
    """Main roads merged into one geometry per class, drawn as the offline base."""
    if roads is None or roads.empty or "highway" not in roads.columns:
        return []
    roads = _to_map_crs(roads, what="basemap roads")
    highway = roads["highway"].astype(str)
    out = []
    for cls, (colour, weight) in reversed(MAIN_ROADS.items()):
        part = roads[highway.str.startswith(cls)]
        if part.empty:
            continue
        merged = shapely.line_merge(shapely.union_all(
            shapely.simplify(part.geometry.to_numpy(), 1.5e-4)))
        geom = _geoms(gpd.GeoSeries([merged], crs=MAP_CRS), 0.0)[0]
        out.append({"class": cls, "color": colour, "weight": weight, "geometry": geom})
    return out


def _rail_links(parks: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Straight lines from each park to its nearest railway station (metric CRS)."""
    from siting.crs import estimate_metric_crs

    crs = estimate_metric_crs(_to_map_crs(parks, what="logistics_parks"))
    p = parks.to_crs(crs).reset_index(drop=True)
    s = stations.to_crs(crs).reset_index(drop=True)
    pp = p.geometry.representative_point()
    tree = shapely.STRtree(s.geometry.to_numpy())
    idx, dist = tree.query_nearest(pp.to_numpy(), return_distance=True, all_matches=False)
    lines = shapely.shortest_line(pp.to_numpy()[idx[0]], s.geometry.to_numpy()[idx[1]])
    name = _first(s, "name", "name_zh")
    frame = gpd.GeoDataFrame({
        "park": p.get("id", pd.Series(p.index.astype(str))).astype(str).to_numpy()[idx[0]],
        "station": s[name].astype(str).to_numpy()[idx[1]] if name else "",
        "distance_m": np.round(dist, 0),
        "rail_access_m": p["rail_access_m"].to_numpy()[idx[0]] if "rail_access_m" in p
        else np.nan}, geometry=lines, crs=crs)
    return frame


# ------------------------------------------------------------------ helpers

def _to_map_crs(frame: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise InputError(f"{what} has no CRS; set it (e.g. frame.set_crs('EPSG:4326')) "
                         "before drawing it on a map")
    return frame.to_crs(MAP_CRS)


def _bounds(frames: Sequence[gpd.GeoDataFrame]) -> list[list[float]]:
    boxes = [np.asarray(_to_map_crs(f, what="map layer").total_bounds) for f in frames]
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return [[-60.0, -170.0], [75.0, 170.0]]
    b = np.vstack(boxes)
    return [[float(b[:, 1].min()), float(b[:, 0].min())],
            [float(b[:, 3].max()), float(b[:, 2].max())]]


def _geom_kind(frame: gpd.GeoDataFrame) -> Kind:
    types = set(frame.geom_type.dropna())
    if types <= {"Point", "MultiPoint"}:
        return "points"
    if types <= {"LineString", "MultiLineString"}:
        return "lines"
    return "polygons"


def _flagged(frame: gpd.GeoDataFrame) -> bool:
    if "synthetic" not in frame.columns:
        return False
    return bool(frame["synthetic"].fillna(False).astype(bool).all())


def _first(frame: gpd.GeoDataFrame, *names: str) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _fields(frame: gpd.GeoDataFrame, wanted: Sequence[tuple[str, str, str]]
            ) -> tuple[tuple[str, str, str], ...]:
    seen: set[str] = set()
    out = []
    for col, label, unit in wanted:
        if col in frame.columns and col not in seen:
            seen.add(col)
            out.append((col, label, "%" if col in PERCENT else unit))
    return tuple(out[:MAX_POPUP_FIELDS])


def _other_fields(frame: gpd.GeoDataFrame, *, skip: Collection[str] = ()
                  ) -> list[tuple[str, str, str]]:
    """Every scalar column not hidden or skipped, labelled from its name and unit suffix."""
    out = []
    for col in frame.columns:
        if col in HIDDEN_COLUMNS or col in skip or col == frame.geometry.name:
            continue
        label, unit = _label_unit(col)
        out.append((col, label, unit))
    return out


def _label_unit(col: str) -> tuple[str, str]:
    units = {"_mw_e": "MWe", "_gj": "GJ", "_m": "m", "_km": "km", "_mw": "MW", "_kw": "kW",
             "_mt": "Mt", "_km2": "km²",
             "_cny": "CNY", "_min": "min", "_minutes": "min", "_kv": "kV", "_t": "t"}
    for suffix, unit in units.items():
        if col.endswith(suffix):
            return col[: -len(suffix)].replace("_", " ").capitalize(), unit
    return col.replace("_", " ").capitalize(), ""


def _station_fields(stations: gpd.GeoDataFrame) -> list[tuple[str, str, str]]:
    known = [("piles", "Piles", ""), ("piles_fast", "Fast piles", ""),
             ("piles_slow", "Slow piles", ""), ("kw", "Power", "kW"),
             ("nev_served", "NEVs served", ""), ("sessions_day", "Sessions / day", ""),
             ("sessions", "Sessions / day", ""), ("utilisation", "Utilisation", "%"),
             ("wait_minutes", "Expected wait", "min"),
             ("expected_wait_min", "Expected wait", "min"),
             ("wait_min", "Expected wait", "min"), ("stage", "Stage", ""),
             ("district", "District", ""), ("site_type", "Site type", ""),
             ("substation", "Substation", "")]
    names = {k for k, _, _ in known} | {"name", "id"}
    return known + _other_fields(stations, skip=names)


def _scale(frame: gpd.GeoDataFrame, col: str | None, lo: float, hi: float, label: str
           ) -> dict[str, Any] | None:
    if col is None or col not in frame.columns:
        return None
    return {"field": col, "lo": lo, "hi": hi, "label": label}


def _kpi_rows(kpis: Mapping[str, Any]) -> list[dict[str, Any]]:
    groups = []
    for group, values in kpis.items():
        if isinstance(values, Mapping):
            rows = [[_kpi_label(k, v), _format_kpi(k, v)] for k, v in values.items()
                    if not isinstance(v, Mapping | list)]
            groups.append({"group": str(group), "rows": rows})
        else:
            groups.append({"group": "", "rows": [[str(group), _format_kpi(str(group), values)]]})
    return groups


def _kpi_label(key: str, value: Any) -> str:
    """``pipes_km`` -> "Pipes"; with "(km)" when the value is preformatted text."""
    label, unit = _label_unit(key)
    return f"{label} ({unit})" if unit and isinstance(value, str) else label


def _format_kpi(key: str, value: Any) -> str:
    """A KPI value as text: shares as %, metres as m/km, seconds as s, big numbers with commas."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return str(value)
    if key.endswith(("_share", "_gap")) or key in PERCENT:
        return f"{v * 100:.1f} %" if abs(v) <= 1.5 else f"{v:.1f} %"
    if key.endswith("_m"):
        return f"{v / 1000:,.2f} km" if abs(v) >= 10_000 else f"{v:,.0f} m"
    if key.endswith(("_seconds", "_s")):
        return f"{v:,.1f} s"
    unit = _label_unit(key)[1]
    text = f"{v:,.0f}" if v.is_integer() or abs(v) >= 1000 else f"{v:,.3g}"
    return f"{text} {unit}".strip()


def _table_spec(table: Mapping[str, Any]) -> dict[str, Any]:
    rows = [[_cell(v) for v in row] for row in table["rows"]]
    return {"title": str(table.get("title", "")), "columns": [str(c) for c in table["columns"]],
            "rows": rows, "link": list(table["link"]) if table.get("link") else None,
            "empty": str(table.get("empty", "no rows"))}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else round(float(value), 3)
    return str(value)


def _json(data: Any) -> str:
    """Compact JSON that is safe inside ``<script>``: ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _page(title: str, data_json: str, *, online: bool) -> str:
    from siting.assets import inline_bundle

    css, js = inline_bundle()
    if "</script" in js.lower() or "</style" in css.lower():
        raise SitingError("a vendored map asset contains a closing </script> or </style> tag "
                          "and cannot be inlined; check siting/assets")
    script_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    tiles = " https://tile.openstreetmap.org https://*.tianditu.gov.cn" if online else ""
    csp = (f"default-src 'none'; script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; "
           f"img-src data: blob:{tiles}; font-src data:; connect-src 'none'; "
           "base-uri 'none'; form-action 'none'; object-src 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        f"<meta name=\"generator\" content=\"siting {siting.__version__}\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
        "<div id=\"map\"></div>\n<noscript>This map needs JavaScript.</noscript>\n"
        f"<script type=\"application/json\" id=\"siting-data\">{data_json}</script>\n"
        f"<script>{js}</script>\n</body>\n</html>\n")


def map_url(path: str | Path, *, tianditu_key: str | None = None) -> str:
    """A ``file://`` URL that opens the map at ``path``, with a Tianditu key if any.

    The key (argument, else ``$TIANDITU_KEY``) goes into the URL fragment, which the
    page reads at run time and which browsers never send to a server; it is never
    written into the HTML file.
    """
    import os

    key = tianditu_key or os.environ.get("TIANDITU_KEY")
    uri = Path(path).resolve().as_uri()
    return f"{uri}#tk={key}" if key else uri
