"""The layers the waste-heat planner writes, their map recipes and the review rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import geopandas as gpd

from siting.maps.page import MapLayer
from siting.maps.recipes import DrawContext, fields, first_column, other_fields, scale
from siting.planners import LayerSpec, ReviewRule, Severity

if TYPE_CHECKING:
    from siting.config import ReviewSettings

__all__ = ["LAYERS", "draw_pipes", "draw_sinks", "draw_sources", "review_rules"]


def review_rules(s: ReviewSettings) -> tuple[ReviewRule, ...]:
    """Pipes stay out of the red line; farmland and water crossings carry conditions."""
    farm: Severity = "condition" if s.pipe_farmland == "underground" else "violation"
    surcharge = s.pipe_farmland_extra_cost_cny_per_m
    farm_text = (f"may cross farmland only underground (+{surcharge:,.0f} CNY/m)"
                 if farm == "condition" else "may not cross farmland")
    return (
        ReviewRule("pipe_in_red_line", "heat_pipes", "red_line", 0.0, "violation",
                   "no pipe through the red line"),
        ReviewRule("pipe_across_farmland", "heat_pipes", "farmland", 0.0, farm,
                   "a pipe " + farm_text, cost_cny_per_m=surcharge),
        ReviewRule("pipe_across_water", "heat_pipes", "water", 0.0, "condition",
                   "a pipe crossing water must be bored or bridged"),
    )


def draw_pipes(layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
               ) -> list[MapLayer]:
    """Pipes with width by DN and colour by heat flow."""
    pipes = layers["heat_pipes"]
    return [context.layer(
        "heat_pipes", pipes, "Heat pipes", "lines", id_field="id", decide=True,
        name_field=first_column(pipes, "name"),
        fields=fields(pipes, [("dn", "DN", "mm"), ("flow_mw", "Flow", "MW"),
                              ("loss_mw", "Loss", "MW"), ("length_m", "Length", "m"),
                              ("cost", "Cost", "CNY"), ("cost_cny", "Cost", "CNY"),
                              ("kind", "Kind", "")]),
        width=scale(pipes, "dn", 1.5, 7.0, "DN"),
        color_by={"field": "flow_mw", "label": "flow (MW)"} if "flow_mw" in pipes else None,
        style={"color": "#c0392b", "weight": 3, "shape": "line",
               "note": "width: DN; colour: heat flow"})]


def _draw_plants(key: str, title: str, colour: str, mw_columns: tuple[str, ...],
                 layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
                 ) -> list[MapLayer]:
    frame = layers[key]
    mw = first_column(frame, *mw_columns)
    return [context.layer(key, frame, title, "points",
                          name_field=first_column(frame, "name", "name_zh"),
                          id_field="id" if "id" in frame else None,
                          fields=fields(frame, other_fields(frame, skip={"name"})),
                          size=scale(frame, mw, 4, 14, "MW") if mw else None,
                          style={"color": colour, "radius": 6, "shape": "point"})]


def draw_sources(layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
                 ) -> list[MapLayer]:
    """Heat sources sized by the heat they give (MW)."""
    return _draw_plants("heat_sources", "Heat sources", "#d35400",
                        ("used_mw", "supply_mw", "output_mw"), layers, context)


def draw_sinks(layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
               ) -> list[MapLayer]:
    """Heat sinks sized by their demand (MW)."""
    return _draw_plants("heat_sinks", "Heat sinks", "#2471a3",
                        ("demand_mw", "heat_mw", "delivered_mw"), layers, context)


LAYERS = (
    LayerSpec("heat_pipes", "Heat pipes", "lines", diff=True, decidable=True,
              id_pattern=r"^(hp|hs|hz):",
              rules=review_rules, draw=draw_pipes, z=60),
    LayerSpec("heat_sources", "Heat sources", "points", diff=True, draw=draw_sources, z=70),
    LayerSpec("heat_sinks", "Heat sinks", "points", diff=True, draw=draw_sinks, z=71),
)
