"""Interactive folium maps of a plan for notebooks: :func:`explore_plan` (``Plan.explore()``).

The map shows what the offline page (:mod:`siting.maps.plan`) shows, with the same
overlays, titles, colours and popup rows, since both draw from
:func:`~siting.maps.plan.plan_layers`; but it is a plain folium map for a notebook:
web tiles as the base, no approve/reject controls and no clustering. Each overlay is a
``folium.FeatureGroup`` drawn with :meth:`geopandas.GeoDataFrame.explore`.

folium is imported only when a map is made, as geopandas does.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np

from siting._version import OSM_ATTRIBUTION
from siting.errors import InputError
from siting.maps.page import (
    RAMP_FLOW,
    MapLayer,
    _colour_rule,
    _range_rule,
    display_column,
    format_value,
    heat_points,
    map_bounds,
    to_map_crs,
)
from siting.maps.plan import plan_layers
from siting.maps.recipes import flagged

if TYPE_CHECKING:
    import folium

__all__ = ["explore_plan"]

#: the offline page's heat map gradient and settings (siting/assets/map.js)
HEAT_GRADIENT = {0.15: "#fff7bc", 0.35: "#fec44f", 0.6: "#fe9929", 0.8: "#ec7014",
                 1.0: "#993404"}
POINT_STROKE = "#222"


def explore_plan(plan: Any, *, layers: Iterable[str] | None = None,
                 m: folium.Map | None = None, tiles: str | None = "OpenStreetMap",
                 **kw: Any) -> folium.Map:
    """An interactive :class:`folium.Map` of ``plan``, as ``GeoDataFrame.explore()`` makes.

    One ``folium.FeatureGroup`` per overlay of the offline page (a plan layer, or for
    ``demand_cells`` one heat map per demand column, plus the chargers' coverage
    circles and the parks' rail access lines), toggled in a ``folium.LayerControl``;
    popups hold the page's rows (labels, units, shares in percent) and tooltips the
    names. A legend names each overlay with its colour, marks synthetic layers, and
    repeats the attribution, which always includes "© OpenStreetMap contributors".

    Args:
        plan: a :class:`siting.pipeline.Plan` (``layers`` in EPSG:4326, ``region``,
            optionally ``radius_m`` for the coverage circles).
        layers: the plan layer names to draw (default: all).
        m: an existing map (or ``folium.FeatureGroup``-like parent) to add to; its
            own layer control is kept.
        tiles: the base tiles for a new map (a folium/xyzservices name, or ``None``).
        **kw: more arguments for the new ``folium.Map`` (``width``, ``height``,
            ``zoom_start``, ``location``, ...).

    Raises:
        InputError: an unknown layer name, or map arguments together with ``m``.

    Example:
        >>> plan = siting.plan(planners=["logistics"])       # doctest: +SKIP
        >>> plan.explore(layers=["districts", "logistics_parks"])  # doctest: +SKIP
    """
    import folium

    every = dict(plan.layers)
    if layers is None:
        chosen = every
    else:
        names = list(layers)
        unknown = [n for n in names if n not in every]
        if unknown:
            raise InputError(f"explore_plan: unknown layer(s) {unknown}; the plan has "
                             f"{', '.join(sorted(every))}")
        chosen = {n: every[n] for n in names}
    region = getattr(plan, "region", None)
    synthetic = {n for n, f in every.items() if flagged(f)} | set(
        getattr(region, "synthetic", ()) or ())
    overlays = plan_layers(chosen, synthetic=synthetic,
                           coverage_radius_m=getattr(plan, "radius_m", None))
    if m is None:
        m = _new_map(folium, every, overlays, tiles=tiles, **kw)
    elif kw:
        raise InputError(f"explore_plan: map arguments {sorted(kw)} need m=None; they "
                         "configure the new folium.Map")
    by_key = {o.key: o for o in overlays}
    groups = []
    for overlay in overlays:
        name = overlay.title + (" (synthetic)" if overlay.synthetic else "")
        group = folium.FeatureGroup(name=name, show=overlay.show)
        _draw(folium, overlay, group, by_key)
        group.add_to(m)
        groups.append((overlay, group))
    credits = [*getattr(region, "attribution", ()), OSM_ATTRIBUTION]
    _legend(groups, credits=list(dict.fromkeys(credits)), synthetic=sorted(synthetic),
            title=str(getattr(region, "name", "") or "Plan")).add_to(m)
    if isinstance(m, folium.Map) and not any(isinstance(c, folium.LayerControl)
                                             for c in m._children.values()):
        folium.LayerControl(collapsed=False).add_to(m)
    return m


# ------------------------------------------------------------------ the map and layers

def _new_map(folium: Any, every: Mapping[str, gpd.GeoDataFrame], overlays: list[MapLayer], *,
             tiles: str | None, **kw: Any) -> folium.Map:
    frames = [every[n] for n in ("boundary", "districts") if n in every and len(every[n])]
    frames = frames or [o.frame for o in overlays if len(o.frame)]
    (south, west), (north, east) = map_bounds(frames)
    fit = "location" not in kw and "zoom_start" not in kw
    kw.setdefault("location", ((south + north) / 2, (west + east) / 2))
    kw.setdefault("control_scale", True)
    m = folium.Map(tiles=tiles, **kw)
    if fit:
        m.fit_bounds([[south, west], [north, east]])
    return m


def _draw(folium: Any, overlay: MapLayer, group: Any, by_key: Mapping[str, MapLayer]) -> None:
    st = dict(overlay.style)
    colour = st.get("color", "#2b6cb0")
    if overlay.kind == "heat":
        from folium.plugins import HeatMap

        flat = np.asarray(heat_points(to_map_crs(overlay.frame, what=overlay.key),
                                      st["weight"])).reshape(-1, 3)
        HeatMap(flat.tolist(), radius=st.get("radius", 9), blur=12, min_opacity=0.05,
                max_zoom=12, gradient=HEAT_GRADIENT).add_to(group)
        return
    if overlay.kind == "circles":
        source = by_key.get(st["of"])
        if source is None:
            return
        centres = to_map_crs(source.frame, what=source.key)
        centres = centres[~centres.geometry.is_empty & centres.geometry.notna()]
        gpd.GeoDataFrame(geometry=centres.geometry.representative_point()).explore(
            m=group, marker_type="circle", marker_kwds={"radius": float(st["radius_m"])},
            style_kwds={"stroke": False, "fill": True, "fillColor": colour,
                        "fillOpacity": 0.08},
            tooltip=False, popup=False, highlight=False)
        return
    frame = to_map_crs(overlay.frame, what=f"layer {overlay.key!r}")
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()].reset_index(drop=True)
    if frame.empty:
        return
    shown, labels = _popup_frame(overlay, frame)
    shown["__color"] = _colours(overlay, frame, colour)
    if overlay.kind == "points":
        shown["__radius"] = _scaled(frame, overlay.size, st.get("radius", 5))

        def style(f: dict[str, Any]) -> dict[str, Any]:
            p = f["properties"]
            return {"radius": p["__radius"], "color": POINT_STROKE, "weight": 1,
                    "fillColor": p["__color"], "fillOpacity": 0.85}
    elif overlay.kind == "lines":
        shown["__weight"] = _scaled(frame, overlay.width, st.get("weight", 2))
        dash = st.get("dash")

        def style(f: dict[str, Any]) -> dict[str, Any]:
            p = f["properties"]
            return {"color": p["__color"], "weight": p["__weight"], "opacity": 0.9,
                    "dashArray": dash}
    else:
        weight, fill = st.get("weight", 2), st.get("fill_opacity", 0.2)

        def style(f: dict[str, Any]) -> dict[str, Any]:
            p = f["properties"]
            return {"color": p["__color"], "weight": weight, "fillColor": p["__color"],
                    "fillOpacity": fill, "dashArray": st.get("dash")}
    popup_cols = list(labels)
    name = "__name" if "__name" in shown else None
    shown.explore(
        m=group, marker_kwds={"radius": st.get("radius", 5)},
        style_kwds={"style_function": style},
        highlight=st.get("interactive", True),
        tooltip=[name] if name else False,
        tooltip_kwds={"labels": False} if name else {},
        popup=popup_cols or False,
        popup_kwds={"aliases": [labels[c] for c in popup_cols]} if popup_cols else {})


def _popup_frame(overlay: MapLayer, frame: gpd.GeoDataFrame
                 ) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """The popup columns as the page writes them, and their labels (title first).

    folium writes popup and tooltip values as markup, so every value (and label) is
    escaped here: a name from OSM is shown as text, never run.
    """
    shown = gpd.GeoDataFrame(geometry=frame.geometry, crs=frame.crs)
    labels: dict[str, str] = {}
    if overlay.name_field and overlay.name_field in frame.columns:
        shown["__name"] = [html.escape(v) for v in display_column(frame[overlay.name_field])]
        labels["__name"] = html.escape(overlay.title)
    for col, label, unit in overlay.fields:
        if col in frame.columns and col not in labels:
            shown[col] = [html.escape(v) for v in display_column(frame[col], unit)]
            labels[col] = html.escape(label)
    return shown, labels


def _colours(overlay: MapLayer, frame: gpd.GeoDataFrame, default: str) -> list[str]:
    """Each feature's colour, by the overlay's colour rule as the page does."""
    rule = _colour_rule(frame, overlay.color_by) if overlay.color_by else None
    if rule is None:
        return [default] * len(frame)
    values = frame[rule["field"]]
    if "categories" in rule:
        return [rule["categories"].get(str(v), default) for v in values]
    lo, hi = rule["min"], rule["max"]
    out = []
    for v in values.astype(float):
        if not math.isfinite(v):
            out.append("#999")
            continue
        out.append(_ramp((v - lo) / (hi - lo) if hi > lo else 1.0))
    return out


def _ramp(t: float) -> str:
    """A colour on the page's flow ramp at ``t`` in [0, 1] (``lerp`` in map.js)."""
    stops = RAMP_FLOW
    t = min(max(t, 0.0), 1.0)
    x = t * (len(stops) - 1)
    i = min(math.floor(x), len(stops) - 2)
    f = x - i
    r, g, b = (round(a + f * (c - a)) for a, c in zip(stops[i], stops[i + 1], strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _scaled(frame: gpd.GeoDataFrame, rule: Mapping[str, Any] | None, fallback: float
            ) -> list[float]:
    """Radius or width per feature: ``lo`` to ``hi`` over the column's range, as the page."""
    spec = _range_rule(frame, rule) if rule else None
    if spec is None:
        return [float(fallback)] * len(frame)
    span = spec["max"] - spec["min"]
    out = []
    for v in frame[spec["field"]].astype(float):
        if not math.isfinite(v):
            out.append(float(fallback))
            continue
        t = min(max((v - spec["min"]) / span if span > 0 else 1.0, 0.0), 1.0)
        t = math.sqrt(t) if spec["sqrt"] else t
        out.append(round(spec["lo"] + t * (spec["hi"] - spec["lo"]), 2))
    return out


# ------------------------------------------------------------------ legend

def _tint(colour: str, alpha: float) -> str:
    """``#rgb``/``#rrggbb`` as ``rgba(...)`` with ``alpha``; other colours unchanged."""
    c = colour.lstrip("#")
    if colour.startswith("#") and len(c) in (3, 6) and all(ch in "0123456789abcdefABCDEF"
                                                           for ch in c):
        c = "".join(ch * 2 for ch in c) if len(c) == 3 else c
        r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
        return f"rgba({r},{g},{b},{alpha})"
    return colour


def _legend_row(o: MapLayer) -> str:
    """One overlay in the legend: swatch, title, note and colour key (as on the page)."""
    st = dict(o.style)
    colour = html.escape(str(st.get("color", "#2b6cb0")))
    shape = "area" if o.kind == "circles" else st.get("shape", "point")
    swatch = {"point": f"border-radius:50%;background:{colour};border:1px solid #222;",
              "line": f"height:3px;margin-bottom:3px;background:{colour};",
              "area": f"background:{_tint(colour, 0.25)};border:1px solid {colour};"}.get(
        shape, f"background:{colour};")
    title = html.escape(o.title + (" (synthetic)" if o.synthetic else ""))
    row = (f'<div><span style="display:inline-block;width:12px;height:12px;'
           f'margin-right:6px;vertical-align:middle;{swatch}"></span>{title}</div>')
    notes = []
    if st.get("note"):
        notes.append(html.escape(str(st["note"])))
    rule = _colour_rule(o.frame, o.color_by) if o.color_by else None
    if rule and "categories" in rule:
        notes.extend(f'<span style="color:{html.escape(c)}">&#9679;</span> '
                     f'{html.escape(str(k))}' for k, c in rule["categories"].items())
    elif rule:
        notes.append(f"{html.escape(str(rule['label']))}: {format_value(rule['min'])} – "
                     f"{format_value(rule['max'])}, light to dark")
    return row + "".join(f'<div style="margin-left:18px;color:#555">{n}</div>' for n in notes)


def _legend(groups: list[tuple[MapLayer, Any]], *, credits: list[str], synthetic: list[str],
            title: str) -> Any:
    """A small legend box, greyed rows for hidden overlays, and the attribution lines.

    A branca ``MacroElement``: its HTML is the fixed box (top left, under the zoom
    buttons); its script adds ``credits`` to the map's attribution control and keeps
    the rows in step with the layer control.
    """
    from branca.element import MacroElement, Template

    rows = "".join(f'<div data-siting-layer="{group.get_name()}">{_legend_row(o)}</div>'
                   for o, group in groups if o.kind != "heat")
    note = (f'<div style="margin-top:4px;color:#8a4b00">synthetic layers: '
            f'{html.escape(", ".join(synthetic))}</div>') if synthetic else ""
    element = MacroElement()
    element._name = "SitingLegend"
    # the template reads this.box and this.credits: plain attributes of the element
    element.box = (  # type: ignore[attr-defined]
        '<div class="siting-legend" style="position:fixed;top:80px;left:10px;z-index:1000;'
        'background:rgba(255,255,255,.92);padding:6px 8px;border-radius:4px;'
        'box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.4 sans-serif;max-height:70%;'
        'overflow:auto;max-width:260px">'
        f'<div style="font-weight:bold;margin-bottom:2px">{html.escape(title)}</div>'
        f'{rows}{note}</div>')
    # escaped text (no "<" left), so it is safe inside the script as a JSON string
    element.credits = json.dumps(  # type: ignore[attr-defined]
        [html.escape(c) for c in credits], ensure_ascii=False)
    element._template = Template("""
{% macro html(this, kwargs) %}{{ this.box }}{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    if (map.attributionControl) {
        {{ this.credits }}.forEach(function (a) { map.attributionControl.addAttribution(a); });
    }
    function sync() {
        document.querySelectorAll('.siting-legend [data-siting-layer]').forEach(function (row) {
            var layer = window[row.getAttribute('data-siting-layer')];
            row.style.opacity = layer && map.hasLayer(layer) ? 1 : 0.4;
        });
    }
    if (map.on && map.hasLayer) { map.on('overlayadd overlayremove', sync); sync(); }
})();
{% endmacro %}
""")
    return element
