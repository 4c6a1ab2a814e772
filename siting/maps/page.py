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
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting._version import OSM_ATTRIBUTION, __version__
from siting.errors import InputError, SitingError
from siting.i18n import has, html_lang, t, texts
from siting.io import atomic_path, digest
from siting.planners import format_target

logger = logging.getLogger(__name__)

__all__ = [
    "ASSUMED_SECTIONS",
    "CANDIDATE_NOTE",
    "KPI_GROUPS",
    "KPI_LABELS",
    "KPI_UNITS",
    "MAP_CRS",
    "Kind",
    "MapLayer",
    "display_column",
    "format_kpi",
    "format_number",
    "format_value",
    "heat_points",
    "is_assumed_section",
    "is_year",
    "kpi_label",
    "label_unit",
    "map_bounds",
    "map_url",
    "to_map_crs",
    "write_map",
]

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
        color_by: ``{"field", "label"}`` for a colour ramp (``min``/``max`` fix its
            ends, else the column's range), or ``{"field",
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

#: the currency the page's money is in (``[scenario] currency``); set by :func:`write_map`
#: for its page. Keys and units say ``CNY`` in code and data; only what people read
#: changes (:func:`money`)
CURRENCY: ContextVar[str] = ContextVar("siting_map_currency", default="CNY")


def money(unit: str) -> str:
    """``unit`` with ``CNY`` read as the page's currency (:data:`CURRENCY`)."""
    cur = CURRENCY.get()
    return unit.replace("CNY", cur) if cur != "CNY" and "CNY" in unit else unit


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
    lang: str = "en",
    currency: str = "CNY",
) -> Path:
    """Write one self-contained map page; the general writer behind every map here.

    ``currency``: what money is shown in (the scenario's ``currency``; the amounts are
    the scenario's own, never converted).

    ``lang`` (``"en"`` or ``"zh"``) is the language of the page's labels: layer
    titles, popup labels, KPI labels, panels and buttons come from the catalogue
    (:mod:`siting.i18n`) and the page says ``<html lang="zh-CN">``; ids and data
    values are never translated.

    ``table`` is an optional data table under the map: ``{"title", "columns",
    "rows", "link", "empty"}``; ``link`` is ``(layer column, id column)`` or
    ``(layer column, id column, prefix column)`` (indexes into each row): clicking a
    row opens the popup of item ``id`` in map layer ``[prefix:]layer``. Returns ``path``.
    """
    token = CURRENCY.set(currency)
    try:
        path = Path(path)
        specs = [_layer_spec(layer, decisions=decisions, lang=lang) for layer in layers]
        frames = [f for f in (bounds_from or [lyr.frame for lyr in layers]) if len(f)]
        bounds = map_bounds(frames)
        roads = _basemap_spec(basemap, bounds)
        credits = list(dict.fromkeys([*attribution, OSM_ATTRIBUTION]))
        syn = sorted(set(synthetic))
        data: dict[str, Any] = {
            "title": title, "subtitle": subtitle, "bounds": bounds,
            "attribution": credits,
            "syntheticNote": (t("ui.synthetic_layers", lang) + ", ".join(
                _layer_title(n, n, lang) for n in syn)) if syn else "",
            "basemap": {"offlineName": t("ui.offline_roads" if roads else "ui.offline_none",
                                         lang),
                        "roads": roads, "online": online_basemaps,
                        "tianditu": online_basemaps and in_china(bounds)},
            "kpis": _kpi_rows(kpis or {}, lang),
            "layers": specs,
            "table": _table_spec(table) if table is not None else None,
        }
        payload = _json(data)
        data["planId"] = plan_id or digest(payload)[:16]
        if lang != "en":  # English is map.js's own text; the plan id never depends on lang
            data["lang"] = lang
            data["text"] = texts("ui.", lang)
        page = _page(title, _json(data), online=online_basemaps, lang=lang,
                     tianditu=bool(data["basemap"]["tianditu"]))
        with atomic_path(path) as tmp:
            tmp.write_text(page, encoding="utf-8")
        logger.info("wrote %s (%.2f MB, %d layers)", path, len(page.encode()) / 1e6, len(specs))
        return path
    finally:
        CURRENCY.reset(token)


# ------------------------------------------------------------------ encoding


def _layer_title(key: str, title: str, lang: str) -> str:
    """``title`` of layer ``key``, from the catalogue (``layer.<key>``) unless English."""
    return t(f"layer.{key}", lang) if lang != "en" and has(f"layer.{key}") else title


def _field_label(column: str, label: str, lang: str) -> str:
    """A popup row's label, from the catalogue (``field.<column>``) unless English."""
    return t(f"field.{column}", lang) if lang != "en" and has(f"field.{column}") else label


def _layer_spec(layer: MapLayer, *, decisions: bool, lang: str = "en") -> dict[str, Any]:
    st = dict(layer.style)
    spec: dict[str, Any] = {
        "id": layer.key, "title": _layer_title(layer.key, layer.title, lang),
        "kind": layer.kind, "show": layer.show,
        "synthetic": layer.synthetic, "color": st.get("color", "#2b6cb0"),
        "radius": st.get("radius", 5), "weight": st.get("weight", 2),
        "fillOpacity": st.get("fill_opacity", 0.2), "dash": st.get("dash"),
        "interactive": st.get("interactive", True), "cluster": layer.cluster,
        "decide": bool(layer.decide and decisions and not layer.candidate),
        "readOnly": (CANDIDATE_NOTE if lang == "en" else t("ui.candidate_note", lang))
        if layer.candidate else None,
        "clusterField": st.get("cluster_field"),
        "legend": {"shape": st.get("shape", "point"), "color": st.get("color"),
                   "fill": st.get("color") if st.get("shape") == "point" else None,
                   "note": st.get("note")},
    }
    if layer.kind == "circles":
        spec.update(of=st["of"], radius_m=st["radius_m"], legend={
            "shape": "area", "color": st.get("color"), "fill": st.get("color"),
            "note": t("ui.around_station", lang, radius_m=f"{st['radius_m']:,.0f}")})
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
    spec.update(fields=[[f[0], _field_label(f[0], f[1], lang), money(f[2])]
                        for f in layer.fields if f[0] in frame.columns],
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
    values = frame[col].astype(float).replace([np.inf, -np.inf], np.nan)
    lo = float(rule["min"]) if "min" in rule else float(values.min())
    hi = float(rule["max"]) if "max" in rule else float(values.max())
    return {"field": col, "min": lo, "max": hi,
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


#: mainland China, Hainan and Taiwan as a lon/lat box: where Tianditu's tiles are offered
CHINA_BOX = (73.4, 18.0, 135.1, 53.6)


def in_china(bounds: Sequence[Sequence[float]]) -> bool:
    """Whether map bounds ``[[south, west], [north, east]]`` overlap :data:`CHINA_BOX`:
    only there are Tianditu's (Chinese) base maps offered, else OpenStreetMap alone."""
    (south, west), (north, east) = bounds
    w, s, e, n = CHINA_BOX
    return west <= e and east >= w and south <= n and north >= s


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


#: KPI group titles (``kpis.json``'s top-level keys; text in :mod:`siting.i18n`,
#: ``kpi_group.*``); others are humanised
KPI_GROUPS = {g: t(f"kpi_group.{g}") for g in
              ("chargers", "logistics", "heat", "review", "rules", "fleet", "joint")}

_CNY_YR = "CNY/yr"
#: The unit of each KPI the panel labels; its label, in English and Chinese, is the
#: catalogue's ``kpi.<key>`` (:mod:`siting.i18n`). Keys are KPI names, or
#: ``section.name`` where a name means something else in a section. The unit also
#: says how a value is shown: ``%`` (a share, shown x 100), ``km`` (``*_m`` values
#: are converted), ``year`` (no thousands separator), ``yes/no`` (true or false).
KPI_UNITS: dict[str, str] = {
    'piles_total': 'piles',
    'piles_slow': 'piles',
    'piles_fast': 'piles',
    'fast_share': '%',
    'stations': '',
    'kw_total_mw': 'MW',
    'sessions_day': '',
    'sessions_served_day': '',
    'nev_served': 'NEVs',
    'nev': 'NEVs',
    'coverage_share': '%',
    'unmet_share': '%',
    'unreachable_share': '%',
    'mean_distance_m': 'km',
    'utilisation': '%',
    'peak_utilisation': '%',
    'peak_wait_min': 'minutes',
    'peak_p_wait_over_max': '%',
    'stations_erlang_binding': '',
    'median_station_sessions_day': '',
    'ratio_shortfall_piles': 'piles',
    'existing_piles': 'piles',
    'stations_existing': '',
    'stations_new': '',
    'piles_per_nev': '',
    'stations_fleet': '',
    'piles_public': 'piles',
    'piles_fleet': 'piles',
    'objective_cny_per_year': _CNY_YR,
    'bound_cny_per_year': _CNY_YR,
    'status': '',
    'mip_gap': '%',
    'solve_seconds': 's',
    'solver': '',
    'checked': 'yes/no',
    'substations': '',
    'substations_used': '',
    'substations_binding': '',
    'max_substation_use_share': '%',
    'definition': '',
    'note': '',
    'source': '',
    'new_residential_sites': '',
    'reserved_before_plan': '',
    'with_piles': '',
    'with_piles_share': '%',
    'with_piles_final_share': '%',
    'reserved': '',
    'reserved_share': '%',
    'buses': '',
    'buses_electric': '',
    'bus_depot_capacity': '',
    'buses_charged': '',
    'bus_charged_share': '%',
    'bus_piles': 'piles',
    'bus_kw_mw': 'MW',
    'taxis': '',
    'taxis_electric': '',
    'taxi_hub_capacity': '',
    'taxis_charged': '',
    'taxi_charged_share': '%',
    'taxi_piles': 'piles',
    'taxi_kw_mw': 'MW',
    'taxi_sessions_day': '',
    'taxi_peak_wait_probability_max': '%',
    'fleet.piles': 'piles',
    'fleet.kw_total_mw': 'MW',
    'demand_cells': '',
    'demand_points': '',
    'candidates': '',
    'pairs': '',
    'service_radius_m': 'km',
    'stages': '',
    'parks': '',
    'freight_mt': 'Mt/yr',
    'target_mt': 'Mt/yr',
    'target_year': 'year',
    'rail_access_max_m': 'km',
    'road_access_max_m': 'km',
    'co2_saved_t': 't/yr',
    'co2_saved_gross_t': 't/yr',
    'co2_rail_t': 't/yr',
    'co2_drayage_t': 't/yr',
    'co2_delivery_t': 't/yr',
    'co2_handling_t': 't/yr',
    'capacity_mt': 'Mt/yr',
    'logistics.utilisation': '%',
    'drayage_mean_km': 'km',
    'drayage_tkm': 't·km/yr',
    'sources': '',
    'sources_served': '',
    'source_freight_mt': 'Mt/yr',
    'rail_suitable_mt': 'Mt/yr',
    'existing_parks': '',
    'park_cost_cny_yr': _CNY_YR,
    'drayage_cost_cny_yr': _CNY_YR,
    'rail_shift_value_cny_yr': _CNY_YR,
    'net_cost_cny_yr': _CNY_YR,
    'objective_cny_yr': _CNY_YR,
    'road_access_class': '',
    'pipes_km': 'km',
    'heat_delivered_mw': 'MW',
    'sources_used': '',
    'loss_share': '%',
    'co2_avoided_t': 't/yr',
    'interconnection_km': 'km',
    'source_link_km': 'km',
    'required_links': '',
    'required_links_built': '',
    'waste_heat_mw': 'MW',
    'chp_extraction_mw': 'MW',
    'heat_delivered_gj': 'GJ',
    'heat_supplied_mw': 'MW',
    'loss_mw': 'MW',
    'loss_gj': 'GJ',
    'season_hours': 'h',
    'co2_displaced_t': 't/yr',
    'co2_chp_fuel_t': 't/yr',
    'co2_grid_t': 't/yr',
    'heat_pump_mw_e': 'MWe',
    'sources_available': '',
    'heat.sources': '',
    'sinks': '',
    'sinks_served': '',
    'demand_mw': 'MW',
    'unmet_mw': 'MW',
    'capex_cny': 'CNY',
    'annual_capex_cny': _CNY_YR,
    'loss_cost_cny': _CNY_YR,
    'heat_pump_electricity_cny': _CNY_YR,
    'chp_fuel_cny': _CNY_YR,
    'pumping_cny': _CNY_YR,
    'displaced_heat_value_cny': _CNY_YR,
    'unmet_penalty_avoided_cny': _CNY_YR,
    'net_annual_cost_cny': _CNY_YR,
    'candidate_road_edges': '',
    'corridor_edges': '',
    'candidate_links': '',
    'trunk_candidates': '',
    'diameter_options': '',
    'result': '',
    'violations': '',
    'conditions': '',
    'items_with_violations': '',
    'extra_cost_cny': 'CNY',
    'proven_over': '',
    'nothing_to_plan': '',
    'method': '',
    'overloaded_substations': '',
    'overload_mw': 'MW',
    'overloaded_substations_sequential': '',
    'overload_mw_sequential': 'MW',
    'land_conflicts': '',
    'land_conflicts_sequential': '',
    'cost_joint_cny_yr': _CNY_YR,
    'cost_sequential_cny_yr': _CNY_YR,
    'extra_cost_cny_yr': _CNY_YR,
    'bound_cny_yr': _CNY_YR,
    'bound_note': '',
    'heat_pump_mw': 'MW',
    'logistics_mw': 'MW',
    'park_mw_per_mt': 'MW per Mt/yr',
    'heat_pump_coincidence': '%',
    'park_radius_m': 'm',
}
#: What the KPI panel calls each KPI in English, and its unit (from :data:`KPI_UNITS`
#: and the catalogue). KPIs not listed fall back to :func:`label_unit` (a humanised
#: name and the unit of its suffix).
KPI_LABELS: dict[str, tuple[str, str]] = {k: (t(f"kpi.{k}"), u) for k, u in KPI_UNITS.items()}
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


def kpi_label(key: str, *, section: str = "", lang: str = "en") -> tuple[str, str]:
    """A KPI's label and unit for people: ``kw_total_mw`` -> ``("Charging power",
    "MW")`` (``lang="zh"``: ``("充电功率", "MW")``); ``section`` (``"fleet"``) picks a
    label meant for that section. Unknown keys fall back to a humanised name and the
    unit of their suffix. Money is in the page's currency (:func:`money`)."""
    label, unit = _kpi_label_unit(key, section=section, lang=lang)
    return label, money(unit)


def _kpi_label_unit(key: str, *, section: str, lang: str) -> tuple[str, str]:
    if f"{section}.{key}" in KPI_UNITS:
        return t(f"kpi.{section}.{key}", lang), KPI_UNITS[f"{section}.{key}"]
    if section in _COST_SECTIONS:
        return _humanise(key), _COST_SECTIONS[section]
    if key in KPI_UNITS:
        return t(f"kpi.{key}", lang), KPI_UNITS[key]
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


def format_kpi(key: str, value: Any, *, section: str = "", signed: bool = False,
               lang: str = "en") -> str:
    """A KPI value as text, in the unit of :func:`kpi_label`: shares in %, ``*_m`` in km
    (m below 1 km), years without separators, booleans as yes/no, never float noise
    (:func:`format_number`). ``signed`` adds ``+`` to positive numbers (for changes)."""
    if value is None:
        return "–"
    unit = kpi_label(key, section=section, lang=lang)[1]
    if isinstance(value, bool | np.bool_):
        return t("ui.yes" if value else "ui.no", lang)
    if not isinstance(value, int | float | np.number):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "–"
    sign = "+" if signed and v > ZERO else ""
    if unit == "year":
        return f"{sign}{v:.0f}"
    if unit == "yes/no":
        return t("ui.yes" if v else "ui.no", lang)
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
    if unit and lang != "en" and has(f"unit.{unit}"):
        unit = t(f"unit.{unit}", lang)
    return f"{sign}{text} {unit}".rstrip() if unit else f"{sign}{text}"


def _group_title(group: str, lang: str = "en") -> str:
    key = f"kpi_group.{group}"
    return t(key, lang) if has(key) else _humanise(group)


def _kpi_rows(kpis: Mapping[str, Any], lang: str = "en") -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for group, values in kpis.items():
        if group == "targets" and isinstance(values, list):
            groups.insert(0, {"group": t("ui.targets", lang),
                              "rows": [_target_row(x, lang) for x in values
                                       if isinstance(x, Mapping)]})
        elif isinstance(values, Mapping):
            groups.append({"group": _group_title(str(group), lang),
                           "rows": _scalar_rows(values, section=str(group), lang=lang)})
            # one level of sections (``stage_2030``, ``residential``...) as groups of
            # their own, labelled "(assumed)" where they are assumptions, not plan figures
            for key, section in values.items():
                rows = (_scalar_rows(section, section=str(key), lang=lang)
                        if isinstance(section, Mapping) else [])
                if rows:
                    title = f"{_group_title(str(group), lang)} · {_section_title(str(key))}"
                    if is_assumed_section(str(key), section):
                        title += t("ui.assumed_suffix", lang)
                    groups.append({"group": title, "rows": rows})
        else:
            groups.append({"group": "", "rows": [[kpi_label(str(group), lang=lang)[0],
                                                  format_kpi(str(group), values, lang=lang)]]})
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


def _scalar_rows(values: Mapping[str, Any], *, section: str = "",
                 lang: str = "en") -> list[list[str]]:
    return [[_kpi_label(str(k), v, section=section, lang=lang),
             format_kpi(str(k), v, section=section, lang=lang)]
            for k, v in values.items() if not isinstance(v, Mapping | list)]


def _target_row(target: Mapping[str, Any], lang: str = "en") -> list[str]:
    return [str(target.get("text", target.get("id", ""))), format_target(target, lang=lang)]


def _kpi_label(key: str, value: Any, *, section: str = "", lang: str = "en") -> str:
    """The row label: ``pipes_km`` -> "Heat pipes"; with "(km)" when the value is text
    that does not already say its unit."""
    label, unit = kpi_label(key, section=section, lang=lang)
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


def _page(title: str, data_json: str, *, online: bool, lang: str = "en",
          tianditu: bool = True) -> str:
    from siting.assets import inline_bundle

    css, js = inline_bundle()
    if "</script" in js.lower() or "</style" in css.lower():
        raise SitingError("a vendored map asset contains a closing </script> or </style> tag "
                          "and cannot be inlined; check siting/assets")
    script_hash = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    tiles = (" https://tile.openstreetmap.org" + (" https://*.tianditu.gov.cn" if tianditu
                                                  else "")) if online else ""
    csp = (f"default-src 'none'; script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; "
           f"img-src data: blob:{tiles}; font-src data:; connect-src 'none'; "
           "base-uri 'none'; form-action 'none'; object-src 'none'")
    return (
        f"<!DOCTYPE html>\n<html lang=\"{html_lang(lang)}\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        f"<meta name=\"generator\" content=\"siting {__version__}\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n"
        f"<div id=\"map\"></div>\n<noscript>{html.escape(t('ui.no_js', lang))}</noscript>\n"
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
