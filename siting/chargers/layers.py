"""The layers the charging-pile planner writes, their map recipe and the review rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import geopandas as gpd

from siting.maps.page import MapLayer
from siting.maps.recipes import DrawContext, fields, first_column, other_fields, scale
from siting.planners import LayerSpec, ReviewRule

if TYPE_CHECKING:
    from siting.config import ReviewSettings

__all__ = ["LAYERS", "PLAN_LAST_YEAR", "STAGE_COLOURS", "draw_stations", "review_rules",
           "stage_label", "station_fields"]

#: station colours by build stage (sorted stage names take them in turn)
STAGE_COLOURS = ("#1f78b4", "#33a02c", "#ff7f00", "#6a3d9a", "#e31a1c", "#b15928")
#: coverage circles sit under the other planners' layers (see siting.maps.plan)
COVERAGE_Z = 25
#: the last year of the carbon-peak plan's own figures (2021-2025); the map labels the
#: stations of later stages (the demo's 2030 stage: nev_2030, piles_2030) as assumed
PLAN_LAST_YEAR = 2025


def stage_label(stage: object) -> str:
    """A build stage as the map shows it: ``2030`` -> ``"2030 (assumed)"`` (any stage
    after :data:`PLAN_LAST_YEAR`, whose targets are the scenario's assumptions, not the
    plan's), ``2025`` -> ``"2025"``."""
    text = str(int(stage)) if isinstance(stage, float) and stage.is_integer() else str(stage)
    try:
        later = float(text) > PLAN_LAST_YEAR
    except ValueError:
        later = False
    return f"{text} (assumed)" if later else text


def _within(buffer_m: float) -> str:
    return f" or within {buffer_m:,.0f} m of it" if buffer_m > 0 else ""


def review_rules(s: ReviewSettings) -> tuple[ReviewRule, ...]:
    """Stations stay off the red line (plus its buffer), farmland and water."""
    return (
        ReviewRule("station_in_red_line", "charging_stations", "red_line",
                   s.station_red_line_buffer_m, "violation",
                   "no station inside the red line" + _within(s.station_red_line_buffer_m)),
        ReviewRule("station_on_farmland", "charging_stations", "farmland", 0.0, "violation",
                   "no station on permanent basic farmland"),
        ReviewRule("station_in_water", "charging_stations", "water", 0.0, "violation",
                   "no station in a water body"),
    )


def station_fields(stations: gpd.GeoDataFrame) -> list[tuple[str, str, str]]:
    """The station popup rows: piles, power, NEVs, sessions, wait, stage, then the rest."""
    known = [("piles", "Piles", ""), ("piles_fast", "Fast piles", ""),
             ("piles_slow", "Slow piles", ""), ("kw", "Power", "kW"),
             ("nev_served", "NEVs served", ""), ("sessions_day", "Sessions / day", ""),
             ("sessions", "Sessions / day", ""), ("utilisation", "Utilisation", "%"),
             ("wait_minutes", "Expected wait", "min"),
             ("peak_wait_min", "Expected wait, busiest hour", "min"),
             ("peak_utilisation", "Utilisation, busiest hour", "%"),
             ("wait_min", "Expected wait", "min"), ("stage", "Stage", ""),
             ("district", "District", ""), ("site_type", "Site type", ""),
             ("substation", "Substation", "")]
    names = {k for k, _, _ in known} | {"name", "id"}
    return known + other_fields(stations, skip=names)


def draw_stations(layers: Mapping[str, gpd.GeoDataFrame], context: DrawContext
                  ) -> list[MapLayer]:
    """Stations clustered, sized by piles, coloured by stage; coverage circles under them.

    The circles (radius ``context.coverage_radius_m``, hidden at first) are drawn
    only when the plan has no ``coverage`` layer of its own.
    """
    stations = layers["charging_stations"]
    out = []
    if "coverage" not in layers and context.coverage_radius_m:
        radius_m = float(context.coverage_radius_m)
        out.append(MapLayer(
            key="coverage", frame=stations.iloc[:0], kind="circles", show=False,
            title=f"Coverage ({radius_m / 1000:g} km service radius)",
            synthetic="charging_stations" in context.synthetic, z=COVERAGE_Z,
            style={"of": "charging_stations", "radius_m": radius_m, "color": "#2b8cbe",
                   "shape": "area"}))
    stage = "stage" if "stage" in stations else None
    note = "size: piles; clusters show total piles"
    if stage:
        # legend and popups say which stages are assumed: "2030 (assumed)"
        stations = stations.copy()
        known = stations[stage].notna()
        stations[stage] = stations[stage].astype(object)
        stations.loc[known, stage] = [stage_label(v) for v in stations.loc[known, stage]]
        if stations[stage].astype(str).str.endswith("(assumed)").any():
            note += "; assumed stages are the scenario's assumptions, not plan figures"
    cats = sorted(map(str, stations[stage].dropna().unique()))[:len(STAGE_COLOURS)] \
        if stage else []
    out.append(context.layer(
        "charging_stations", stations, "Charging stations", "points", id_field="id",
        decide=True, cluster=True, name_field=first_column(stations, "name"),
        fields=fields(stations, station_fields(stations)),
        size=scale(stations, "piles", 4, 13, "piles"),
        color_by={"field": stage, "categories": dict(zip(cats, STAGE_COLOURS, strict=False))}
        if stage else None,
        style={"color": "#1f78b4", "radius": 6, "shape": "point", "note": note}))
    return out


LAYERS = (
    LayerSpec("charging_stations", "Charging stations", "points", diff=True, decidable=True,
              id_pattern=r"^chg-",
              rules=review_rules, draw=draw_stations, z=90),
    # no recipe: drawn generically (siting.maps.recipes.generic_layer) at its z
    LayerSpec("charging_demand", "Charging demand served", "points", z=20),
)
