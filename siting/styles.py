"""QGIS styles for ``plan.gpkg``: the ``layer_styles`` table QGIS reads on opening.

QGIS (and GDAL's GeoPackage driver) keep a layer's default style in a table named
``layer_styles`` (the QGIS GeoPackage styling extension,
https://github.com/pka/qgpkg/blob/master/qgis_geopackage_extension.md), with the
columns of :data:`CREATE_TABLE`. A row with ``useAsDefault = 1`` is applied when the
layer is added, so the bureau opens the GeoPackage already styled.

The styles are derived from the same recipes that draw ``plan.html``
(:func:`siting.maps.plan.plan_layers`), so colours, sizes and widths match the map:

* points: simple circle markers, the map's radius doubled (QGIS sizes a marker by its
  diameter, in pixels), size data-defined over the map's ``size`` column with the
  same square-root scaling (``scale_exp(..., 0.5)``); categories (stations by build
  stage) become a categorized renderer;
* lines: the map's colour and width, width data-defined over ``width``'s column
  (pipes by DN); a colour ramp (pipes by heat flow) becomes a graduated renderer with
  the map's ramp;
* polygons: the map's outline colour and weight, fill at the map's opacity;
* heat maps (demand cells): a graduated renderer on the weight column, in the ramp;
* every other layer in the file (e.g. ``boundary``): a plain style for its geometry.

:func:`write_layer_styles` writes the rows with :mod:`sqlite3` into a GeoPackage that
is already written (call it inside the atomic staging, before the file is moved);
:func:`write_styles` is the hook :func:`siting.export.write_gpkg` takes for that.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["STYLE_TABLE", "LayerStyle", "layer_styles", "qml", "write_layer_styles",
           "write_styles"]

#: the table QGIS reads default styles from; readers of plan.gpkg skip it
STYLE_TABLE = "layer_styles"
#: the QGIS version the QML claims (any 3.x reads it)
QGIS_VERSION = "3.28.0-Firenze"
#: pixel sizes in the QML, as on the Leaflet page
UNIT = "Pixel"
#: the ramp of the page's colour rules (siting.maps.page.RAMP_FLOW)
RAMP = ((255, 237, 160), (254, 178, 76), (240, 59, 32), (128, 0, 38))
RAMP_CLASSES = 5

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS "layer_styles" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "f_table_catalog" TEXT(256),
    "f_table_schema" TEXT(256),
    "f_table_name" TEXT(256),
    "f_geometry_column" TEXT(256),
    "styleName" TEXT(30),
    "styleQML" TEXT,
    "styleSLD" TEXT,
    "useAsDefault" BOOLEAN,
    "description" TEXT,
    "owner" TEXT(30),
    "ui" TEXT(30),
    "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""


@dataclass(frozen=True)
class LayerStyle:
    """One ``layer_styles`` row: the QML (and a simple SLD) of one GeoPackage layer."""

    table: str
    title: str
    qml: str
    sld: str
    geometry_column: str = "geom"


# ------------------------------------------------------------------ colours

def _rgb(colour: str) -> tuple[int, int, int]:
    """``#rgb`` / ``#rrggbb`` -> (r, g, b); anything else is grey."""
    c = str(colour or "").lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except (ValueError, IndexError):
        return (85, 85, 85)


def _qcolour(colour: str | tuple[int, int, int], alpha: float = 1.0) -> str:
    r, g, b = _rgb(colour) if isinstance(colour, str) else colour
    return f"{r},{g},{b},{round(255 * max(0.0, min(1.0, alpha)))}"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _ramp_at(t: float) -> tuple[int, int, int]:
    """The page's ramp at ``t`` in [0, 1] (linear between stops, as map.js ``lerp``)."""
    t = max(0.0, min(1.0, t)) * (len(RAMP) - 1)
    i = min(int(t), len(RAMP) - 2)
    f = t - i
    a, b = RAMP[i], RAMP[i + 1]
    return tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))  # type: ignore[return-value]


# ------------------------------------------------------------------ QML pieces

def _option(name: str, value: Any) -> str:
    return f'<Option name={quoteattr(name)} type="QString" value={quoteattr(str(value))}/>'


def _dd(prop: str, expression: str | None) -> str:
    """Data-defined properties: ``prop`` from an expression (QgsProperty type 3)."""
    if not expression:
        return ('<data_defined_properties><Option type="Map"><Option name="name" type="QString" '
                'value=""/><Option name="properties"/><Option name="type" type="QString" '
                'value="collection"/></Option></data_defined_properties>')
    return ('<data_defined_properties><Option type="Map">'
            '<Option name="name" type="QString" value=""/>'
            '<Option name="properties" type="Map">'
            f'<Option name={quoteattr(prop)} type="Map">'
            '<Option name="active" type="bool" value="true"/>'
            f'<Option name="expression" type="QString" value={quoteattr(expression)}/>'
            '<Option name="type" type="int" value="3"/>'
            '</Option></Option>'
            '<Option name="type" type="QString" value="collection"/>'
            '</Option></data_defined_properties>')


def _scale_expr(rule: Mapping[str, Any] | None, frame: gpd.GeoDataFrame, *, factor: float
                ) -> str | None:
    """``scale_exp`` over ``rule['field']``'s range (square root, as on the page)."""
    if not rule or rule.get("field") not in frame.columns:
        return None
    col = rule["field"]
    if not pd.api.types.is_numeric_dtype(frame[col]):
        return None
    values = frame[col].astype(float)
    lo_v, hi_v = ((float(values.min()), float(values.max())) if values.notna().any()
                  else (0.0, 1.0))
    lo, hi = float(rule["lo"]) * factor, float(rule["hi"]) * factor
    if not (math.isfinite(lo_v) and math.isfinite(hi_v)) or hi_v <= lo_v:
        return f"{hi:g}"
    field = '"' + col.replace('"', '""') + '"'
    return f"coalesce(scale_exp({field}, {lo_v:g}, {hi_v:g}, {lo:g}, {hi:g}, 0.5), {lo:g})"


def _symbol(kind: str, name: str, colour: str | tuple[int, int, int], st: Mapping[str, Any],
            *, size_expr: str | None = None, width_expr: str | None = None) -> str:
    """One ``<symbol>``: a circle marker, a simple line or a simple fill."""
    if kind == "points":
        size = 2 * float(st.get("radius", 6))
        layer = ('<layer class="SimpleMarker" enabled="1" locked="0" pass="0"><Option type="Map">'
                 + _option("color", _qcolour(colour, 0.85)) + _option("name", "circle")
                 + _option("outline_color", "34,34,34,255") + _option("outline_style", "solid")
                 + _option("outline_width", "1") + _option("outline_width_unit", UNIT)
                 + _option("size", f"{size:g}") + _option("size_unit", UNIT)
                 + "</Option>" + _dd("size", size_expr) + "</layer>")
        stype = "marker"
    elif kind == "lines":
        width = float(st.get("weight", 2))
        dash = str(st.get("dash") or "")
        layer = ('<layer class="SimpleLine" enabled="1" locked="0" pass="0"><Option type="Map">'
                 + _option("line_color", _qcolour(colour)) + _option("line_width", f"{width:g}")
                 + _option("line_width_unit", UNIT)
                 + _option("line_style", "dash" if dash else "solid")
                 + _option("use_custom_dash", "1" if dash else "0")
                 + _option("customdash", dash.replace(" ", ";") if dash else "5;2")
                 + _option("customdash_unit", UNIT)
                 + _option("capstyle", "round") + _option("joinstyle", "round")
                 + "</Option>" + _dd("outlineWidth", width_expr) + "</layer>")
        stype = "line"
    else:
        weight = float(st.get("weight", 1))
        layer = ('<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">'
                 + _option("color", _qcolour(colour, float(st.get("fill_opacity", 0.2))))
                 + _option("style", "solid")
                 + _option("outline_color", _qcolour(colour))
                 + _option("outline_style", "solid")
                 + _option("outline_width", f"{weight:g}") + _option("outline_width_unit", UNIT)
                 + "</Option>" + _dd("", None) + "</layer>")
        stype = "fill"
    return (f'<symbol name={quoteattr(name)} type="{stype}" alpha="1" clip_to_extent="1" '
            f'force_rhr="0">{layer}</symbol>')


def qml(*, kind: str, colour: str, style: Mapping[str, Any], frame: gpd.GeoDataFrame,
        size: Mapping[str, Any] | None = None, width: Mapping[str, Any] | None = None,
        color_by: Mapping[str, Any] | None = None, title: str = "") -> str:
    """The QML document of one layer (``kind``: points, lines or polygons).

    ``size`` / ``width`` / ``color_by`` follow :class:`siting.maps.page.MapLayer`.
    """
    size_expr = _scale_expr(size, frame, factor=2.0) if kind == "points" else None
    width_expr = _scale_expr(width, frame, factor=1.0) if kind == "lines" else None

    def sym(name: str, c: str | tuple[int, int, int]) -> str:
        return _symbol(kind, name, c, style, size_expr=size_expr, width_expr=width_expr)

    field = (color_by or {}).get("field")
    if field and field in frame.columns and "categories" in color_by:  # type: ignore[operator]
        cats = dict(color_by["categories"])  # type: ignore[index]
        # the page shows stage labels ("2030 (assumed)"); the file keeps the raw value
        rows = "".join(f'<category render="true" value={quoteattr(str(v).split(" (")[0])} '
                       f'symbol="{i}" label={quoteattr(str(v))}/>'
                       for i, v in enumerate(cats))
        cat_symbols = "".join(sym(str(i), c) for i, c in enumerate(cats.values()))
        renderer = (f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} '
                    f'symbollevels="0" enableorderby="0" forceraster="0">'
                    f"<categories>{rows}</categories><symbols>{cat_symbols}</symbols>"
                    f'<source-symbol>{sym("0", style.get("color", "#555"))}</source-symbol>'
                    f"</renderer-v2>")
    elif field and field in frame.columns and pd.api.types.is_numeric_dtype(frame[field]):
        values = frame[field].astype(float)
        lo, hi = ((float(values.min()), float(values.max())) if values.notna().any()
                  else (0.0, 1.0))
        top = hi
        q = (color_by or {}).get("quantile")  # heat maps: the page scales to the 99th pct
        if q is not None and values.notna().any():
            hi = float(values.quantile(float(q)))
        if not hi > lo:
            hi = lo + 1.0
        edges = [lo + (hi - lo) * k / RAMP_CLASSES for k in range(RAMP_CLASSES + 1)]
        edges[-1] = max(edges[-1], top)
        ranges: list[str] = []
        symbols: list[str] = []
        for k in range(RAMP_CLASSES):
            a, b = edges[k], edges[k + 1]
            ranges.append(f'<range render="true" lower="{a:.6g}" upper="{b:.6g}" symbol="{k}" '
                          f'label={quoteattr(f"{a:,.4g} – {b:,.4g}")}/>')
            symbols.append(sym(str(k), _ramp_at((k + 0.5) / RAMP_CLASSES)))
        renderer = (f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} '
                    f'graduatedMethod="GraduatedColor" symbollevels="0" enableorderby="0" '
                    f'forceraster="0"><ranges>{"".join(ranges)}</ranges>'
                    f'<symbols>{"".join(symbols)}</symbols>'
                    f'<mode name="equal"/></renderer-v2>')
    else:
        renderer = ('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" '
                    f'forceraster="0"><symbols>{sym("0", colour)}</symbols></renderer-v2>')
    note = f"<!-- {escape(title)} -->" if title else ""
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">{note}'
            f"{renderer}<blendMode>0</blendMode><featureBlendMode>0</featureBlendMode>"
            f"<layerOpacity>1</layerOpacity></qgis>\n")


def _sld(table: str, title: str, kind: str, colour: str, style: Mapping[str, Any]) -> str:
    """A one-rule SLD 1.1 (for GIS software that reads SLD rather than QML)."""
    c = _hex(_rgb(colour))
    if kind == "points":
        size = 2 * float(style.get("radius", 6))
        sym = ("<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle"
               f'</se:WellKnownName><se:Fill><se:SvgParameter name="fill">{c}</se:SvgParameter>'
               "</se:Fill><se:Stroke><se:SvgParameter name=\"stroke\">#222222</se:SvgParameter>"
               "</se:Stroke></se:Mark>"
               f"<se:Size>{size:g}</se:Size></se:Graphic></se:PointSymbolizer>")
    elif kind == "lines":
        sym = ('<se:LineSymbolizer><se:Stroke>'
               f'<se:SvgParameter name="stroke">{c}</se:SvgParameter>'
               f'<se:SvgParameter name="stroke-width">{float(style.get("weight", 2)):g}'
               "</se:SvgParameter></se:Stroke></se:LineSymbolizer>")
    else:
        sym = ('<se:PolygonSymbolizer><se:Fill>'
               f'<se:SvgParameter name="fill">{c}</se:SvgParameter>'
               f'<se:SvgParameter name="fill-opacity">{float(style.get("fill_opacity", 0.2)):g}'
               '</se:SvgParameter></se:Fill><se:Stroke>'
               f'<se:SvgParameter name="stroke">{c}</se:SvgParameter>'
               f'<se:SvgParameter name="stroke-width">{float(style.get("weight", 1)):g}'
               "</se:SvgParameter></se:Stroke></se:PolygonSymbolizer>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" '
            'xmlns:se="http://www.opengis.net/se" version="1.1.0">'
            f"<NamedLayer><se:Name>{escape(table)}</se:Name><UserStyle>"
            f"<se:Name>{escape(table)}</se:Name><se:FeatureTypeStyle><se:Rule>"
            f"<se:Name>{escape(title)}</se:Name>{sym}</se:Rule></se:FeatureTypeStyle>"
            "</UserStyle></NamedLayer></StyledLayerDescriptor>\n")


# ------------------------------------------------------------------ from the map

def _kind(frame: gpd.GeoDataFrame) -> str:
    """``points``, ``lines`` or ``polygons``; an empty layer counts as polygons."""
    from siting.maps.recipes import geom_kind

    return geom_kind(frame) if len(frame) else "polygons"


def layer_styles(layers: Mapping[str, gpd.GeoDataFrame], *,
                 synthetic: Sequence[str] = ()) -> list[LayerStyle]:
    """A style for every layer of ``layers`` (as written to a GeoPackage).

    Layers the plan map draws take the map recipe's colours and sizes
    (:func:`siting.maps.plan.plan_layers`); the demand heat maps become a graduated
    style of ``demand_cells``; every other layer gets a plain style of its geometry.
    """
    from siting.maps.plan import plan_layers

    drawn = plan_layers(layers, synthetic=frozenset(synthetic))
    out: dict[str, LayerStyle] = {}
    for m in drawn:
        if m.kind == "heat":
            table = "demand_cells" if "demand_cells" in layers else None
            if table is None or table in out:
                continue
            frame = layers[table]
            kind = _kind(frame)
            heat = _hex(RAMP[1])
            st = {"color": heat, "radius": 4, "weight": 0.3, "fill_opacity": 0.6}
            rule = {"field": m.style.get("weight"), "label": m.title, "quantile": 0.99}
            out[table] = LayerStyle(table, m.title, qml(
                kind=kind, colour=heat, style=st, frame=frame, color_by=rule,
                title=m.title), _sld(table, m.title, kind, heat, st))
            continue
        if m.key not in layers or m.key in out or m.kind not in ("points", "lines",
                                                                 "polygons"):
            continue  # derived overlays (rail access, coverage circles) live only on the map
        frame = layers[m.key]
        colour = str(m.style.get("color", "#555"))
        out[m.key] = LayerStyle(m.key, m.title, qml(
            kind=m.kind, colour=colour, style=m.style, frame=frame, size=m.size,
            width=m.width, color_by=m.color_by, title=m.title),
            _sld(m.key, m.title, m.kind, colour, m.style))
    for name, frame in layers.items():  # not drawn (boundary, empty layers): plain
        if name in out or not isinstance(frame, gpd.GeoDataFrame):
            continue
        kind = _kind(frame)
        colour = "#34495e" if name == "boundary" else "#555555"
        st = ({"weight": 2.0, "fill_opacity": 0.0} if name == "boundary"
              else {"radius": 4, "weight": 1.5, "fill_opacity": 0.15})
        title = name.replace("_", " ").capitalize()
        out[name] = LayerStyle(name, title, qml(kind=kind, colour=colour, style=st,
                                                frame=frame, title=title),
                               _sld(name, title, kind, colour, st))
    return [out[n] for n in layers if n in out]


def write_layer_styles(gpkg: str | Path, styles: Sequence[LayerStyle]) -> int:
    """Write ``styles`` as the default QGIS styles of a written GeoPackage; return rows.

    Replaces earlier rows of the same layers; registers the table in
    ``gpkg_contents`` as an attribute table, as QGIS does.
    """
    # GDAL stamps gpkg_contents with OGR_CURRENT_DATE when set (reproducible files)
    now = os.environ.get("OGR_CURRENT_DATE") or dt.datetime.now(dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    con = sqlite3.connect(str(gpkg))
    try:
        with con:
            con.execute(CREATE_TABLE)
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                        "description, last_change) VALUES (?, 'attributes', ?, ?, ?)",
                        (STYLE_TABLE, STYLE_TABLE, "QGIS layer styles", now))
            geom_columns = dict(con.execute(
                "SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
            for s in styles:
                con.execute(f'DELETE FROM "{STYLE_TABLE}" WHERE f_table_name = ?', (s.table,))
                con.execute(
                    f'INSERT INTO "{STYLE_TABLE}" (f_table_catalog, f_table_schema, '
                    "f_table_name, f_geometry_column, styleName, styleQML, styleSLD, "
                    "useAsDefault, description, owner, ui, update_time) "
                    "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, 'siting', NULL, ?)",
                    (s.table, geom_columns.get(s.table, s.geometry_column), s.table[:30], s.qml,
                     s.sld, s.title, now))
    finally:
        con.close()
    logger.debug("wrote %d QGIS styles into %s", len(styles), gpkg)
    return len(styles)


def write_styles(gpkg: str | Path, layers: Mapping[str, gpd.GeoDataFrame]) -> int:
    """Style every layer of a just-written GeoPackage (``layers``: what it holds).

    The ``styles`` hook of :func:`siting.export.write_gpkg`::

        write_gpkg(stage / "plan.gpkg", layers, styles=write_styles)
    """
    return write_layer_styles(gpkg, layer_styles(layers))
