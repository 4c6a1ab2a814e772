"""The plan and region maps: context layers plus every planner's declared recipes.

:func:`plan_layers` turns plan layers into overlays. It draws the context layers
itself (districts, constraint and land-use areas, demand heat maps, a ``coverage``
layer, railway stations, substations, candidate sites) and every planner layer
through the recipe its planner declares (``LayerSpec.draw`` in
``siting/<planner>/layers.py``, found through :mod:`siting.registry`); a planner
layer without a recipe, and any unknown layer, is drawn generically. Overlays are
ordered by ``z`` (bottom to top):

====  =====================================================================
z     overlays
====  =====================================================================
0-5   districts, red line, farmland, water, industrial zones, land use
10    demand heat maps (charging, heat, population)
25    coverage (a ``coverage`` layer, or the chargers' service circles)
20-90 planner layers at their declared ``z`` (charging demand 20, catchments 30,
      park candidates 35, rail access 40, freight sources 45, pipes 60, heat
      sources 70, sinks 71, parks 80, stations 90): what reviewers click (parks,
      stations) sits on top
75-77 railway stations, substations, candidate sites
100   everything else, in the order of ``layers``
====  =====================================================================

Ties keep the order of ``layers``.

On the page, clicks go to the decidable layers first (stations, parks, pipes; see
``siting/assets/map.js``), whatever lies above them; heat maps never take clicks;
candidate layers (:func:`is_candidate_layer`) open read-only popups that say so.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from siting.maps.page import MAIN_ROADS, MapLayer, write_map
from siting.maps.recipes import (
    FALLBACK_Z,
    DrawContext,
    fields,
    first_column,
    generic_layer,
    other_fields,
)
from siting.registry import decidable_layers, layer_specs

if TYPE_CHECKING:
    from siting.planners import LayerSpec
    from siting.region import Region

__all__ = ["CANDIDATE_LAYERS", "CONTEXT_Z", "DECIDABLE_LAYERS", "basemap_roads",
           "is_candidate_layer", "plan_layers", "plan_map", "region_map"]

DECIDABLE_LAYERS = tuple(decidable_layers())
#: layers that are never overlays: the boundary frames the map, roads are its base
NOT_DRAWN = frozenset({"boundary", "roads", "district_centres"})
AREAS = {"red_line": ("Ecological red line", "#c0392b", True),
         "farmland": ("Permanent basic farmland", "#3f9a3f", True),
         "water": ("Water bodies", "#2f80c9", True),
         "industrial_zones": ("Industrial zones", "#8d6e3f", False),
         "land_use": ("Land use", "#9e9e9e", False)}
FACILITIES = {"rail_stations": ("Railway stations", "#2c3e50"),
              "substations": ("Substations", "#8e44ad"),
              "pois": ("Candidate sites", "#16a085")}
HEAT_MAPS = (("ev_sessions_day", "EV charging demand (heat map)"),
             ("heat_peak_mw", "Heat demand (heat map)"),
             ("population", "Population (heat map)"))
#: the drawing order of the context layers (see the module docstring)
CONTEXT_Z = {"districts": 0, "red_line": 1, "farmland": 2, "water": 3, "industrial_zones": 4,
             "land_use": 5, "demand_cells": 10, "coverage": 25, "rail_stations": 75,
             "substations": 76, "pois": 77}

#: layers of candidate sites besides any ``*_candidates`` layer
CANDIDATE_LAYERS = frozenset({"pois", "candidates"})

Recipe = Callable[[str, gpd.GeoDataFrame, DrawContext], list[MapLayer]]


def is_candidate_layer(key: str) -> bool:
    """Whether overlay ``key`` shows candidate sites (``logistics_candidates``,
    ``pois``): places a planner could choose, not items of the plan."""
    return key in CANDIDATE_LAYERS or key.endswith("_candidates")


# ------------------------------------------------------------------ context recipes

def _districts(key: str, frame: gpd.GeoDataFrame, ctx: DrawContext) -> list[MapLayer]:
    return [ctx.layer(key, frame, "District boundaries", "polygons",
                      name_field=first_column(frame, "name", "name_zh"),
                      fields=fields(frame, [("name_zh", "Chinese name", ""),
                                            ("population", "Population (2020)", "")]),
                      style={"color": "#34495e", "weight": 1.6, "fill_opacity": 0.02,
                             "shape": "area"})]


def _area(key: str, frame: gpd.GeoDataFrame, ctx: DrawContext) -> list[MapLayer]:
    title, colour, show = AREAS[key]
    return [ctx.layer(key, frame, title, "polygons", show=show,
                      name_field=first_column(frame, "name"),
                      fields=fields(frame, other_fields(frame, skip={"name"})),
                      style={"color": colour, "weight": 1, "fill_opacity": 0.22,
                             "shape": "area"})]


def _demand(key: str, cells: gpd.GeoDataFrame, ctx: DrawContext) -> list[MapLayer]:
    shown = {"ev_sessions_day": True, "heat_peak_mw": False,
             "population": "ev_sessions_day" not in cells.columns}
    synthetic = ctx.is_synthetic(key, cells)
    return [MapLayer(key=f"demand_{col}", frame=cells, title=title, kind="heat",
                     show=shown[col], synthetic=synthetic, style={"weight": col})
            for col, title in HEAT_MAPS if col in cells.columns]


def _coverage(key: str, frame: gpd.GeoDataFrame, ctx: DrawContext) -> list[MapLayer]:
    return [ctx.layer(key, frame, "Coverage", "polygons",
                      style={"color": "#2b8cbe", "weight": 0.5, "fill_opacity": 0.12,
                             "shape": "area"})]


def _facilities(key: str, frame: gpd.GeoDataFrame, ctx: DrawContext) -> list[MapLayer]:
    title, colour = FACILITIES[key]
    if key == "substations" and "use_share" in frame.columns:
        return [_substations(frame, ctx)]
    return [ctx.layer(key, frame, title, "points", show=False,
                      name_field=first_column(frame, "name", "name_zh"),
                      fields=fields(frame, other_fields(frame, skip={"name"})),
                      style={"color": colour, "radius": 4, "shape": "point"})]


#: a substation's popup: its headroom and the new load on it, part by part (2025)
SUBSTATION_FIELDS = [("headroom_mw", "Headroom 2025", "MW"), ("load_mw", "New load 2025", "MW"),
                     ("use_share", "Share of headroom 2025 (1 = full)", ""),
                     ("charger_mw", "Charging piles", "MW"), ("reserved_mw", "Reserved "
                     "(residential room, fleet depots)", "MW"),
                     ("heat_pump_mw", "Heat pumps", "MW"), ("logistics_mw", "Logistics parks",
                                                            "MW"),
                     ("headroom_mw_2030", "Headroom 2030 (assumed)", "MW"),
                     ("load_mw_2030", "New load 2030 (assumed)", "MW"),
                     ("use_share_2030", "Share of headroom 2030 (assumed; 1 = full)", ""),
                     ("overloaded", "Over headroom", "yes/no"),
                     ("headroom_source", "Headroom from", ""),
                     ("headroom_assumed", "Headroom assumed", "yes/no")]


def _substations(frame: gpd.GeoDataFrame, ctx: DrawContext) -> MapLayer:
    """Substations coloured by the share of headroom the plan's new load takes (0 to
    100%, darker when fuller; over 100% is a clash), the load broken down in the popup."""
    return ctx.layer("substations", frame, "Substations (new load / headroom)", "points",
                     show=True, name_field=first_column(frame, "name", "name_zh"),
                     fields=fields(frame, SUBSTATION_FIELDS),
                     color_by={"field": "use_share", "label": "new load / headroom (1 = full)",
                               "min": 0.0, "max": 1.0},
                     style={"color": FACILITIES["substations"][1], "radius": 6,
                            "shape": "point", "note": "colour: new load / headroom"})


CONTEXT: dict[str, Recipe] = {"districts": _districts, "demand_cells": _demand,
                              "coverage": _coverage,
                              **dict.fromkeys(AREAS, _area), **dict.fromkeys(FACILITIES,
                                                                             _facilities)}


# ------------------------------------------------------------------ composition

def plan_layers(layers: Mapping[str, gpd.GeoDataFrame], *,
                synthetic: Collection[str] = frozenset(),
                coverage_radius_m: float | None = None,
                specs: Mapping[str, LayerSpec] | None = None) -> list[MapLayer]:
    """The overlays :func:`plan_map` draws for ``layers``, bottom to top.

    Empty and missing layers are skipped. Planner layers are drawn by their
    ``LayerSpec.draw`` recipes (``specs``: layer name -> spec, by default every
    planner's from :func:`siting.registry.layer_specs`), each called once with the
    non-empty ``layers`` and a :class:`~siting.maps.recipes.DrawContext`; the order
    follows ``z`` (see the module docstring).
    """
    context = DrawContext(synthetic=frozenset(synthetic), coverage_radius_m=coverage_radius_m)
    specs = layer_specs() if specs is None else specs
    have = {k: v for k, v in layers.items() if v is not None and len(v)}
    drawn: list[tuple[int, int, int, MapLayer]] = []
    for pos, (key, frame) in enumerate(have.items()):
        if key in NOT_DRAWN:
            continue
        if key in CONTEXT:
            z, out = CONTEXT_Z[key], CONTEXT[key](key, frame, context)
        elif key in specs:
            spec = specs[key]
            z = spec.z
            out = (list(spec.draw(have, context)) if spec.draw is not None
                   else [generic_layer(key, frame, context, title=spec.title)])
            # approve/reject controls follow the declaration, never the recipe alone:
            # the page offers decisions exactly where the planner accepts them
            out = [replace(m, decide=spec.decidable and m.id_field is not None)
                   if m.key == key else m for m in out]
        else:
            z, out = FALLBACK_Z, [generic_layer(key, frame, context)]
        # candidate sites are context, never items of the plan: read-only popups
        out = [replace(m, candidate=True, decide=False) if is_candidate_layer(m.key) else m
               for m in out]
        drawn.extend((z if m.z is None else m.z, pos, len(drawn) + i, m)
                     for i, m in enumerate(out))
    drawn.sort(key=lambda t: t[:3])
    return [t[3] for t in drawn]


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
    lang: str = "en",
    currency: str = "CNY",
) -> Path:
    """Write the plan map ``plan.html`` (atomically) and return its path.

    Draws whichever layers ``layers`` holds (:func:`plan_layers`): ``districts``,
    ``demand_cells`` (heat maps of charging and heat demand), the constraint layers
    ``red_line``, ``farmland`` and ``water``, every planner's layers through its
    declared recipe (stations clustered, sized by ``piles`` and coloured by
    ``stage``, with coverage circles of ``coverage_radius_m``; parks with their
    catchments and rail access lines to the nearest ``rail_stations``; pipes with
    width by ``dn`` and colour by ``flow_mw``; heat sources and sinks), and any other
    layer generically. The decidable layers get approve/reject controls.

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
        lang: ``"en"`` or ``"zh"``: the language of the page's labels (layer titles,
            legend, KPI labels, popups; :mod:`siting.i18n`); ids and values unchanged.
        currency: the currency money is shown in (the scenario's ``currency``).

    Raises:
        InputError: a layer without a CRS, or duplicate ids in a decidable layer.
    """
    map_layers = plan_layers(layers, synthetic=synthetic, coverage_radius_m=coverage_radius_m)
    bounds_from = [layers[n] for n in ("boundary", "districts") if n in layers and len(layers[n])]
    return write_map(path, map_layers, title=title, subtitle=subtitle, kpis=kpis,
                     attribution=attribution, synthetic=synthetic, basemap=basemap_roads,
                     plan_id=plan_id, online_basemaps=online_basemaps,
                     bounds_from=bounds_from or None, lang=lang, currency=currency)


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


def basemap_roads(region: Region) -> gpd.GeoDataFrame:
    """The region's roads (one row per road) for :func:`plan_map`'s offline base map."""
    from siting.export import roads_frame

    roads = roads_frame(region.graph)
    return roads[roads["highway"].astype(str).str.startswith(tuple(MAIN_ROADS))]
