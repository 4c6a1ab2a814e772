"""The offline map page: :class:`MapLayer` and :func:`write_map`, the general writer.

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

The KPI panel labels each KPI for people, with its unit (:data:`KPI_LABELS`,
:func:`kpi_label`; unknown keys are humanised), shows years as years and never float
noise (:func:`format_number`); the targets table comes first.

Names from OSM or user files never become markup: the JSON is escaped for embedding
in ``<script>`` and the page writes every value with ``textContent``.

This module knows no planner: :mod:`siting.maps.plan` composes the plan and region
maps from the planners' declared recipes, and :mod:`siting.review` and
:mod:`siting.diff` write their maps and tables through :func:`write_map`.
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

from siting._version import OSM_ATTRIBUTION, __version__
from siting.errors import InputError, SitingError
from siting.io import atomic_path, digest
from siting.planners import format_target

logger = logging.getLogger(__name__)

__all__ = ["ASSUMED_SECTIONS", "CANDIDATE_NOTE", "KPI_GROUPS", "KPI_LABELS", "MAP_CRS", "Kind",
           "MapLayer", "display_column", "format_kpi", "format_number", "format_value",
           "heat_points", "is_assumed_section", "is_year", "kpi_label", "label_unit",
           "map_bounds", "map_url", "to_map_crs", "write_map"]

MAP_CRS = "EPSG:4326"
DECIMALS = 5                     # ~1.1 m at Zibo's latitude
MAIN_ROADS = {"motorway": ("#d4883a", 2.6), "trunk": ("#e3a857", 2.2),
              "primary": ("#b9b3a8", 1.6), "secondary": ("#cfcac1", 1.0)}
RAMP_FLOW = ((255, 237, 160), (254, 178, 76), (240, 59, 32), (128, 0, 38))
PERCENT = {"utilisation", "utilization", "coverage_share", "loss_share", "share"}
HIDDEN_COLUMNS = {"geometry", "synthetic", "lon", "lat", "x", "y", "u", "v", "key"}
MAX_POPUP_FIELDS = 14
#: what the popup of a candidate layer (``MapLayer.candidate``) says
CANDIDATE_NOTE = "candidate site — not in the plan; read only"
#: values closer to zero than this are shown as 0 (solver and float noise)
ZERO = 1e-9


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
        candidate: a layer of candidate sites, not items of the plan: its popups are
            read only and say so (:data:`CANDIDATE_NOTE`); never decidable.
        cluster: cluster points (the cluster label sums ``style["cluster_field"]``, by
            default ``size``'s column; a cluster whose sum is 0 shows its number of sites).
        size, width: ``{"field", "lo", "hi", "label"}``: radius / line width scaled
            over the column's range (square-root scaled for sizes).
        color_by: ``{"field", "label"}`` for a colour ramp, or ``{"field",
            "categories": {value: colour}}``.
        style: ``color``, ``radius``, ``weight``, ``fill_opacity``, ``dash``,
            ``interactive``, legend ``shape`` and ``note``.
        z: drawing order among a plan's overlays (:func:`siting.maps.plan.plan_layers`
            sorts by it, lower first); ``None`` takes the ``z`` of the
            :class:`~siting.planners.LayerSpec` whose recipe drew it. :func:`write_map`
            draws layers in the order given.
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
    candidate: bool = False
    cluster: bool = False
    size: Mapping[str, Any] | None = None
    width: Mapping[str, Any] | None = None
    color_by: Mapping[str, Any] | None = None
    style: Mapping[str, Any] = field(default_factory=dict)
    z: int | None = None


# ------------------------------------------------------------------ the writer

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
    bounds = map_bounds(frames)
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


# ------------------------------------------------------------------ encoding

def _layer_spec(layer: MapLayer, *, decisions: bool) -> dict[str, Any]:
    st = dict(layer.style)
    spec: dict[str, Any] = {
        "id": layer.key, "title": layer.title, "kind": layer.kind, "show": layer.show,
        "synthetic": layer.synthetic, "color": st.get("color", "#2b6cb0"),
        "radius": st.get("radius", 5), "weight": st.get("weight", 2),
        "fillOpacity": st.get("fill_opacity", 0.2), "dash": st.get("dash"),
        "interactive": st.get("interactive", True), "cluster": layer.cluster,
        "decide": bool(layer.decide and decisions and not layer.candidate),
        "readOnly": CANDIDATE_NOTE if layer.candidate else None,
        "clusterField": st.get("cluster_field"),
        "legend": {"shape": st.get("shape", "point"), "color": st.get("color"),
                   "fill": st.get("color") if st.get("shape") == "point" else None,
                   "note": st.get("note")},
    }
    if layer.kind == "circles":
        spec.update(of=st["of"], radius_m=st["radius_m"], legend={
            "shape": "area", "color": st.get("color"), "fill": st.get("color"),
            "note": f"{st['radius_m']:,.0f} m around each station"})
        return spec
    frame = to_map_crs(layer.frame, what=f"layer {layer.key!r}")
    if layer.kind == "heat":
        spec["data"] = {"points": heat_points(frame, st["weight"])}
        spec["legend"] = None
        return spec
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    columns = [f[0] for f in layer.fields]
    for extra in (layer.name_field, layer.id_field,
                  (layer.size or {}).get("field"), (layer.width or {}).get("field"),
                  (layer.color_by or {}).get("field"), st.get("cluster_field")):
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


def is_year(name: str) -> bool:
    """Whether column or KPI ``name`` holds years (``year``, ``stage``, ``target_year``):
    shown as ``2025``, never ``2,025``."""
    return name in {"year", "stage"} or name.endswith("_year") or name.startswith("year_")


def _column(series: pd.Series, *, percent: bool) -> list[Any]:
    """A JSON-ready column: NaN -> null, numpy -> Python, floats rounded, years as text."""
    if pd.api.types.is_bool_dtype(series):
        return [bool(v) for v in series]
    if is_year(str(series.name)) and pd.api.types.is_numeric_dtype(series):
        return [None if not math.isfinite(v) else f"{v:.0f}" for v in series.astype(float)]
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float).to_numpy()
        if percent and np.nanmax(np.abs(values), initial=0) <= 1.0:
            values = values * 100
        out = np.round(values, 1 if percent else 3)
        ints = pd.api.types.is_integer_dtype(series)
        return [None if not math.isfinite(v) else int(v) if ints else float(v) for v in out]
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in series]


def display_column(series: pd.Series, unit: str = "") -> list[str]:
    """A column as the page's popups show it: ``"45.2 %"``, ``"1,200 m"``, ``"–"``.

    Shares (:data:`PERCENT` columns) are shown in percent, as on the offline page.
    """
    return [format_value(v, unit) for v in _column(series, percent=series.name in PERCENT)]


def format_number(value: float, *, digits: int = 4) -> str:
    """A number as text without float noise: ``4.758e-16`` -> ``"0"``, ``763.483`` ->
    ``"763.5"``, ``40000.0`` -> ``"40,000"``, ``0.0123456`` -> ``"0.01235"``.

    Values within :data:`ZERO` of 0 are 0; integers and values of 1,000 or more are
    rounded to whole numbers with thousands separators; others keep ``digits``
    significant digits (never an exponent). ``siting/assets/map.js`` (``num``) does
    the same.
    """
    v = float(value)
    if not math.isfinite(v):
        return "–"
    a = abs(v)
    if a < ZERO:
        return "0"
    if v.is_integer() or a >= 10 ** (digits - 1) or a >= 1000:
        return f"{round(v):,}"
    decimals = min(9, digits - 1 - math.floor(math.log10(a)))
    text = f"{v:,.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def format_value(value: Any, unit: str = "") -> str:
    """One popup value as text, as ``siting/assets/map.js`` writes it (``fmt``)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.number):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        text = format_number(v, digits=3 if abs(v) < 1 else 4)
        return f"{text} {unit}" if unit else text
    return f"{value} {unit}" if unit else str(value)


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


def heat_points(cells: gpd.GeoDataFrame, weight: str) -> list[float]:
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
    roads = to_map_crs(roads, what="basemap roads")
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


# ------------------------------------------------------------------ helpers

def to_map_crs(frame: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    """``frame`` in EPSG:4326; ``what`` names it in the error when it has no CRS."""
    if frame.crs is None:
        raise InputError(f"{what} has no CRS; set it (e.g. frame.set_crs('EPSG:4326')) "
                         "before drawing it on a map")
    return frame.to_crs(MAP_CRS)


def map_bounds(frames: Sequence[gpd.GeoDataFrame]) -> list[list[float]]:
    """``[[south, west], [north, east]]`` around ``frames`` (the world when empty)."""
    boxes = [np.asarray(to_map_crs(f, what="map layer").total_bounds) for f in frames]
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return [[-60.0, -170.0], [75.0, 170.0]]
    b = np.vstack(boxes)
    return [[float(b[:, 1].min()), float(b[:, 0].min())],
            [float(b[:, 3].max()), float(b[:, 2].max())]]


def label_unit(col: str) -> tuple[str, str]:
    """A column's label and unit from its name: ``"length_m"`` -> ``("Length", "m")``."""
    units = {"_mw_e": "MWe", "_gj": "GJ", "_m": "m", "_km": "km", "_mw": "MW", "_kw": "kW",
             "_mt": "Mt", "_km2": "km²",
             "_cny": "CNY", "_min": "min", "_minutes": "min", "_kv": "kV", "_t": "t"}
    for suffix, unit in units.items():
        if col.endswith(suffix):
            return col[: -len(suffix)].replace("_", " ").capitalize(), unit
    return col.replace("_", " ").capitalize(), ""


#: KPI group titles (``kpis.json``'s top-level keys); others are humanised
KPI_GROUPS = {"chargers": "Charging piles", "logistics": "Logistics parks",
              "heat": "Heat networks", "review": "Review", "rules": "Review rules",
              "fleet": "Bus and taxi fleets"}

_CNY_YR = "CNY/yr"
#: What the KPI panel calls each KPI, and its unit. Keys are KPI names, or
#: ``section.name`` where a name means something else in a section. The unit also
#: says how a value is shown: ``%`` (a share, shown x 100), ``km`` (``*_m`` values
#: are converted), ``year`` (no thousands separator), ``yes/no`` (true or false).
#: KPIs not listed fall back to :func:`label_unit` (a humanised name and the unit of
#: its suffix).
KPI_LABELS: dict[str, tuple[str, str]] = {
    # chargers
    "piles_total": ("Charging piles", "piles"), "piles_slow": ("Slow piles", "piles"),
    "piles_fast": ("Fast piles", "piles"), "fast_share": ("Share of fast piles", "%"),
    "stations": ("Charging stations", ""), "kw_total_mw": ("Charging power", "MW"),
    "sessions_day": ("Charging sessions a day", ""),
    "sessions_served_day": ("Sessions served a day", ""),
    "nev_served": ("NEVs served", "NEVs"), "nev": ("NEVs", "NEVs"),
    "coverage_share": ("Demand within reach", "%"), "unmet_share": ("Demand unmet", "%"),
    "unreachable_share": ("Demand out of reach", "%"),
    "mean_distance_m": ("Mean distance to a station", "km"),
    "utilisation": ("Mean utilisation", "%"),
    "peak_utilisation": ("Utilisation, busiest hour", "%"),
    "peak_wait_min": ("Expected wait, busiest hour", "minutes"),
    "peak_p_wait_over_max": ("Chance of a wait over the limit, busiest hour", "%"),
    "stations_erlang_binding": ("Stations at the waiting-time limit", ""),
    "median_station_sessions_day": ("Sessions a day per station (median)", ""),
    "ratio_shortfall_piles": ("Piles short of the pile-to-NEV ratio", "piles"),
    "existing_piles": ("Existing piles", "piles"), "stations_existing": ("Existing stations", ""),
    "stations_new": ("New stations", ""),
    "piles_per_nev": ("Piles per NEV", ""), "stations_fleet": ("Bus depots and taxi hubs", ""),
    "piles_public": ("Public piles", "piles"), "piles_fleet": ("Fleet piles", "piles"),
    "objective_cny_per_year": ("Annual cost (objective)", _CNY_YR),
    "bound_cny_per_year": ("Lower bound of the annual cost", _CNY_YR),
    "status": ("Solver status", ""), "mip_gap": ("Optimality gap", "%"),
    "solve_seconds": ("Solve time", "s"), "solver": ("Solver", ""),
    "checked": ("Solution checked", "yes/no"),
    "substations": ("Substations", ""), "substations_used": ("Substations used", ""),
    "substations_binding": ("Substations at full headroom", ""),
    "max_substation_use_share": ("Highest use of a substation's headroom", "%"),
    "definition": ("Definition", ""), "note": ("Note", ""), "source": ("Source", ""),
    "new_residential_sites": ("New residential communities", ""),
    "reserved_before_plan": ("Reserved before the plan", ""),
    "with_piles": ("Communities given piles", ""),
    "with_piles_share": ("Share given piles", "%"),
    "with_piles_final_share": ("Share with piles, final stage", "%"),
    "reserved": ("Communities with reserved installation conditions", ""),
    "reserved_share": ("Share with reserved installation conditions", "%"),
    "buses": ("Urban buses", ""), "buses_electric": ("Electric buses", ""),
    "bus_depot_capacity": ("Bus depot capacity (buses)", ""),
    "buses_charged": ("Buses charged", ""), "bus_charged_share": ("Share of buses charged", "%"),
    "bus_piles": ("Bus depot piles", "piles"), "bus_kw_mw": ("Bus depot power", "MW"),
    "taxis": ("Cruise taxis", ""), "taxis_electric": ("Electric taxis", ""),
    "taxi_hub_capacity": ("Taxi hub capacity (taxis)", ""),
    "taxis_charged": ("Taxis charged", ""), "taxi_charged_share": ("Share of taxis charged", "%"),
    "taxi_piles": ("Taxi hub piles", "piles"), "taxi_kw_mw": ("Taxi hub power", "MW"),
    "taxi_sessions_day": ("Taxi charging sessions a day", ""),
    "taxi_peak_wait_probability_max": ("Highest chance of waiting at a taxi hub, busiest hour",
                                       "%"),
    "fleet.piles": ("Fleet piles", "piles"), "fleet.kw_total_mw": ("Fleet charging power", "MW"),
    "demand_cells": ("Demand cells", ""), "demand_points": ("Demand points", ""),
    "candidates": ("Candidate sites", ""), "pairs": ("Candidate-demand pairs", ""),
    "service_radius_m": ("Service radius", "km"), "stages": ("Build stages", ""),
    # logistics
    "parks": ("Logistics parks", ""), "freight_mt": ("Multimodal freight", "Mt/yr"),
    "target_mt": ("Freight target", "Mt/yr"), "target_year": ("Target year", "year"),
    "rail_access_max_m": ("Longest rail access", "km"),
    "road_access_max_m": ("Longest road access", "km"),
    "co2_saved_t": ("CO₂ saved (net)", "t/yr"), "co2_saved_gross_t": ("CO₂ saved (gross)", "t/yr"),
    "co2_rail_t": ("CO₂ of the rail haul", "t/yr"), "co2_drayage_t": ("CO₂ of drayage", "t/yr"),
    "co2_delivery_t": ("CO₂ of delivery", "t/yr"), "co2_handling_t": ("CO₂ of handling", "t/yr"),
    "capacity_mt": ("Park capacity", "Mt/yr"), "logistics.utilisation": ("Park utilisation", "%"),
    "drayage_mean_km": ("Mean drayage distance", "km"), "drayage_tkm": ("Drayage", "t·km/yr"),
    "sources": ("Freight sources", ""), "sources_served": ("Freight sources served", ""),
    "source_freight_mt": ("Freight at the sources", "Mt/yr"),
    "rail_suitable_mt": ("Freight suited to rail", "Mt/yr"),
    "existing_parks": ("Existing parks", ""), "park_cost_cny_yr": ("Park cost", _CNY_YR),
    "drayage_cost_cny_yr": ("Drayage cost", _CNY_YR),
    "rail_shift_value_cny_yr": ("Value of the shift to rail", _CNY_YR),
    "net_cost_cny_yr": ("Net cost", _CNY_YR),
    "objective_cny_yr": ("Annual cost (objective)", _CNY_YR),
    "road_access_class": ("Road access by", ""),
    # heat
    "pipes_km": ("Heat pipes", "km"), "heat_delivered_mw": ("Heat delivered", "MW"),
    "sources_used": ("Heat sources used", ""), "loss_share": ("Share of heat lost in pipes", "%"),
    "co2_avoided_t": ("CO₂ avoided", "t/yr"),
    "interconnection_km": ("Pipes between zone networks", "km"),
    "source_link_km": ("Pipes from sources", "km"), "required_links": ("Required links", ""),
    "required_links_built": ("Required links built", ""),
    "waste_heat_mw": ("Waste heat used", "MW"), "chp_extraction_mw": ("CHP extraction", "MW"),
    "heat_delivered_gj": ("Heat delivered a season", "GJ"),
    "heat_supplied_mw": ("Heat supplied", "MW"), "loss_mw": ("Heat lost in pipes", "MW"),
    "loss_gj": ("Heat lost a season", "GJ"), "season_hours": ("Heating season", "h"),
    "co2_displaced_t": ("CO₂ displaced", "t/yr"), "co2_chp_fuel_t": ("CO₂ of CHP fuel", "t/yr"),
    "co2_grid_t": ("CO₂ of grid electricity", "t/yr"),
    "heat_pump_mw_e": ("Heat pump electricity", "MWe"),
    "sources_available": ("Heat sources available", ""),
    "heat.sources": ("Heat sources", ""), "sinks": ("Heat networks (sinks)", ""),
    "sinks_served": ("Heat networks served", ""), "demand_mw": ("Heat demand", "MW"),
    "unmet_mw": ("Heat demand unmet", "MW"), "capex_cny": ("Capital cost", "CNY"),
    "annual_capex_cny": ("Annualised capital cost", _CNY_YR),
    "loss_cost_cny": ("Cost of heat lost", _CNY_YR),
    "heat_pump_electricity_cny": ("Heat pump electricity cost", _CNY_YR),
    "chp_fuel_cny": ("CHP fuel", _CNY_YR), "pumping_cny": ("Pumping", _CNY_YR),
    "displaced_heat_value_cny": ("Value of heat displaced", _CNY_YR),
    "unmet_penalty_avoided_cny": ("Unmet-demand penalty avoided", _CNY_YR),
    "net_annual_cost_cny": ("Net annual cost", _CNY_YR),
    "candidate_road_edges": ("Candidate road edges", ""),
    "corridor_edges": ("Corridor edges", ""), "candidate_links": ("Candidate links", ""),
    "trunk_candidates": ("Candidate trunk pipes", ""),
    "diameter_options": ("Pipe diameter options", ""),
    # review
    "result": ("Result", ""), "violations": ("Violations", ""),
    "conditions": ("Conditions", ""), "items_with_violations": ("Items with violations", ""),
    "extra_cost_cny": ("Extra cost", "CNY"),
}
#: sections whose numbers are all annual costs (``objective_terms``)
_COST_SECTIONS = {"objective_terms": _CNY_YR}
_WORDS = {"nev": "NEV", "nevs": "NEVs", "co2": "CO₂", "chp": "CHP", "dn": "DN", "mip": "MIP",
          "id": "id", "kv": "kV", "kw": "kW", "mw": "MW", "cny": "CNY", "poi": "POI",
          "pois": "POIs"}
_SUFFIX_UNITS = (("_cny_per_year", _CNY_YR), ("_cny_yr", _CNY_YR), ("_cny_year", _CNY_YR),
                 ("_share", "%"), ("_gap", "%"), ("_minutes", "minutes"), ("_min", "minutes"),
                 ("_seconds", "s"), ("_mt", "Mt/yr"), ("_tkm", "t·km/yr"), ("_t_yr", "t/yr"),
                 ("_t", "t/yr"))


def _humanise(name: str) -> str:
    words = [w for w in name.replace("-", "_").split("_") if w]
    out = [_WORDS.get(w.lower(), w) for w in words]
    text = " ".join(out)
    return text[:1].upper() + text[1:] if text else name


def kpi_label(key: str, *, section: str = "") -> tuple[str, str]:
    """A KPI's label and unit for people: ``kw_total_mw`` -> ``("Charging power",
    "MW")``; ``section`` (``"fleet"``) picks a label meant for that section. Unknown
    keys fall back to a humanised name and the unit of their suffix."""
    if f"{section}.{key}" in KPI_LABELS:
        return KPI_LABELS[f"{section}.{key}"]
    if section in _COST_SECTIONS:
        return _humanise(key), _COST_SECTIONS[section]
    if key in KPI_LABELS:
        return KPI_LABELS[key]
    if is_year(key):
        return _humanise(key), "year"
    for suffix, unit in _SUFFIX_UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            return _humanise(key[: -len(suffix)]), unit
    if key in PERCENT:
        return _humanise(key), "%"
    label, unit = label_unit(key)
    if unit:
        label = _humanise(key[: len(key) - len(unit) - 1] if key.lower().endswith(
            "_" + unit.lower()) else label)
    if unit == "m":
        unit = "km"
    return (label if unit else _humanise(key)), unit


def format_kpi(key: str, value: Any, *, section: str = "", signed: bool = False) -> str:
    """A KPI value as text, in the unit of :func:`kpi_label`: shares in %, ``*_m`` in km
    (m below 1 km), years without separators, booleans as yes/no, never float noise
    (:func:`format_number`). ``signed`` adds ``+`` to positive numbers (for changes)."""
    if value is None:
        return "–"
    unit = kpi_label(key, section=section)[1]
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if not isinstance(value, int | float | np.number):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "–"
    sign = "+" if signed and v > ZERO else ""
    if unit == "year":
        return f"{sign}{v:.0f}"
    if unit == "yes/no":
        return "yes" if v else "no"
    if unit == "%":
        pct = v * 100 if (abs(v) <= 1.5 or signed) else v
        if abs(pct) < ZERO:
            return "0 %"
        text = f"{pct:.1f}" if abs(pct) >= 0.1 else format_number(pct, digits=2)
        return f"{sign}{text} %"
    if unit == "km" and key.endswith("_m"):
        if abs(v) < 1000:
            return f"{sign}{format_number(v, digits=3)} m"
        v = v / 1000
    if unit == "s":
        return f"{sign}{format_number(v, digits=3)} s"
    text = format_number(v, digits=4)
    return f"{sign}{text} {unit}".rstrip() if unit else f"{sign}{text}"


def _group_title(group: str) -> str:
    return KPI_GROUPS.get(group, _humanise(group))


def _kpi_rows(kpis: Mapping[str, Any]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for group, values in kpis.items():
        if group == "targets" and isinstance(values, list):
            groups.insert(0, {"group": "Targets of the plan",
                              "rows": [_target_row(t) for t in values if isinstance(t, Mapping)]})
        elif isinstance(values, Mapping):
            groups.append({"group": _group_title(str(group)),
                           "rows": _scalar_rows(values, section=str(group))})
            # one level of sections (``stage_2030``, ``residential``...) as groups of
            # their own, labelled "(assumed)" where they are assumptions, not plan figures
            for key, section in values.items():
                rows = (_scalar_rows(section, section=str(key)) if isinstance(section, Mapping)
                        else [])
                if rows:
                    title = f"{_group_title(str(group))} · {_section_title(str(key))}"
                    if is_assumed_section(str(key), section):
                        title += " (assumed)"
                    groups.append({"group": title, "rows": rows})
        else:
            groups.append({"group": "", "rows": [[kpi_label(str(group))[0],
                                                  format_kpi(str(group), values)]]})
    return groups


def _section_title(key: str) -> str:
    """``stage_2030`` -> "stage 2030"; ``objective_terms`` -> "objective terms"."""
    return " ".join(w.lower() if w.lower() not in _WORDS else _WORDS[w.lower()]
                    for w in key.split("_") if w)


#: KPI sections that are the demo's assumptions whatever they say (see
#: :func:`is_assumed_section`): the 2030 stage rests on ``nev_2030`` and ``piles_2030``
ASSUMED_SECTIONS = frozenset({"stage_2030"})


def is_assumed_section(key: str, section: Mapping[str, Any]) -> bool:
    """Whether a KPI section is an assumption rather than a plan figure: it says
    ``"source": "assumption"``, or its key is in :data:`ASSUMED_SECTIONS`."""
    return section.get("source") == "assumption" or key in ASSUMED_SECTIONS


def _scalar_rows(values: Mapping[str, Any], *, section: str = "") -> list[list[str]]:
    return [[_kpi_label(str(k), v, section=section), format_kpi(str(k), v, section=section)]
            for k, v in values.items() if not isinstance(v, Mapping | list)]


def _target_row(target: Mapping[str, Any]) -> list[str]:
    return [str(target.get("text", target.get("id", ""))), format_target(target)]


def _kpi_label(key: str, value: Any, *, section: str = "") -> str:
    """The row label: ``pipes_km`` -> "Heat pipes"; with "(km)" when the value is text
    that does not already say its unit."""
    label, unit = kpi_label(key, section=section)
    shown = unit and unit not in ("year", "yes/no")
    if shown and isinstance(value, str) and unit not in value:
        return f"{label} ({unit})"
    return label


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
        f"<meta name=\"generator\" content=\"siting {__version__}\">\n"
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
