"""The layers the logistics planner writes, their map recipes and the review rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.crs import estimate_metric_crs
from siting.maps.page import Kind, MapLayer, to_map_crs
from siting.maps.recipes import DrawContext, fields, first_column, geom_kind, other_fields, scale
from siting.planners import LayerSpec, ReviewRule

if TYPE_CHECKING:
    from siting.config import ReviewSettings

__all__ = ["LAYERS", "draw_catchments", "draw_parks", "rail_links", "review_rules"]

#: the rail access lines sit between the catchments and the heat pipes
RAIL_ACCESS_Z = 40


def review_rules(s: ReviewSettings) -> tuple[ReviewRule, ...]:
    """Parks stay off the red line (plus its buffer), farmland, and away from water."""
    within = (f" or within {s.park_red_line_buffer_m:,.0f} m of it"
              if s.park_red_line_buffer_m > 0 else "")
    return (
        ReviewRule("park_in_red_line", "logistics_parks", "red_line", s.park_red_line_buffer_m,
                   "violation", "no park inside the red line" + within),
        ReviewRule("park_near_water", "logistics_parks", "water", s.park_water_buffer_m,
                   "violation", f"a park keeps at least {s.park_water_buffer_m:,.0f} m from water"),
        ReviewRule("park_on_farmland", "logistics_parks", "farmland", 0.0, "violation",
                   "no park on permanent basic farmland"),
    )


def draw_parks(layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
               ) -> list[MapLayer]:
    """Parks sized by capacity; with ``rail_stations``, straight lines to the nearest one."""
    parks = layers["logistics_parks"]
    out = []
    if "rail_stations" in layers:
        out.append(MapLayer(
            key="rail_access", frame=rail_links(parks, layers["rail_stations"]), kind="lines",
            title="Rail access (nearest station)", z=RAIL_ACCESS_Z,
            fields=(("distance_m", "Straight line", "m"),
                    ("rail_access_m", "Network distance", "m")),
            name_field="station", style={"color": "#2c3e50", "weight": 2, "dash": "6 4",
                                         "shape": "line"}))
    known = [("capacity_mt", "Capacity", "Mt/yr"), ("throughput_mt", "Throughput", "Mt/yr"),
             ("rail_access_m", "Rail access", "m")]
    out.append(context.layer(
        "logistics_parks", parks, "Logistics parks", "points", id_field="id", decide=True,
        name_field=first_column(parks, "name"),
        fields=fields(parks, [*known, *other_fields(parks, skip={"name", *(k for k, _, _
                                                                          in known)})]),
        size=scale(parks, "capacity_mt", 8, 16, "Mt/yr"),
        style={"color": "#7b4fa0", "radius": 10, "shape": "point"}))
    return out


def draw_catchments(layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
                    ) -> list[MapLayer]:
    """Catchments: the lines (or areas) from freight sources to their park."""
    frame = layers["logistics_catchments"]
    kind: Kind = "lines" if geom_kind(frame) == "lines" else "polygons"
    return [context.layer("logistics_catchments", frame, "Park catchments", kind,
                          fields=fields(frame, other_fields(frame)),
                          style={"color": "#7b4fa0", "weight": 0.8, "fill_opacity": 0.08,
                                 "shape": "line" if kind == "lines" else "area"})]


def rail_links(parks: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Straight lines from each park to its nearest railway station (metric CRS)."""
    crs = estimate_metric_crs(to_map_crs(parks, what="logistics_parks"))
    p = parks.to_crs(crs).reset_index(drop=True)
    s = stations.to_crs(crs).reset_index(drop=True)
    pp = p.geometry.representative_point()
    tree = shapely.STRtree(s.geometry.to_numpy())
    idx, dist = tree.query_nearest(pp.to_numpy(), return_distance=True, all_matches=False)
    lines = shapely.shortest_line(pp.to_numpy()[idx[0]], s.geometry.to_numpy()[idx[1]])
    name = first_column(s, "name", "name_zh")
    return gpd.GeoDataFrame({
        "park": p.get("id", pd.Series(p.index.astype(str))).astype(str).to_numpy()[idx[0]],
        "station": s[name].astype(str).to_numpy()[idx[1]] if name else "",
        "distance_m": np.round(dist, 0),
        "rail_access_m": p["rail_access_m"].to_numpy()[idx[0]] if "rail_access_m" in p
        else np.nan}, geometry=lines, crs=crs)


LAYERS = (
    LayerSpec("logistics_parks", "Logistics parks", "points", diff=True, decidable=True,
              id_pattern=r"^LP-(-?\d+)-(-?\d+)$",
              rules=review_rules, draw=draw_parks, z=80),
    LayerSpec("logistics_catchments", "Park catchments", "lines", draw=draw_catchments, z=30),
    # no recipe: drawn generically (siting.maps.recipes.generic_layer) at its z
    LayerSpec("logistics_sources", "Freight sources", "points", z=45),
    LayerSpec("logistics_candidates", "Logistics candidates", "points", z=35),
)
