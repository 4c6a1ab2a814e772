"""What a map recipe needs: the drawing context and small helpers to build :class:`MapLayer`.

A planner declares a recipe for each of its layers (``LayerSpec.draw``, in
``siting/<planner>/layers.py``)::

    def draw(layers: Mapping[str, GeoDataFrame], context: DrawContext) -> list[MapLayer]

:func:`siting.maps.plan.plan_layers` calls it when the layer is present (non-empty)
in ``layers`` (every plan layer, any CRS) and orders what it returns by ``z`` with the
context layers. This module knows no planner; it only helps recipes pick popup fields,
scale sizes and flag synthetic data the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd

from siting.maps.page import HIDDEN_COLUMNS, MAX_POPUP_FIELDS, PERCENT, Kind, MapLayer, label_unit

__all__ = ["FALLBACK_Z", "DrawContext", "fields", "first_column", "flagged", "generic_layer",
           "geom_kind", "other_fields", "scale"]

#: the z of layers drawn by the generic recipe (on top, in the order of ``layers``)
FALLBACK_Z = 100


@dataclass(frozen=True)
class DrawContext:
    """What a recipe may use besides the layers.

    Attributes:
        synthetic: names of synthetic layers; their overlays are labelled "(synthetic)".
        coverage_radius_m: the chargers' service radius, drawn as circles around each
            station when the plan has no ``coverage`` layer.
    """

    synthetic: frozenset[str] = frozenset()
    coverage_radius_m: float | None = None

    def is_synthetic(self, key: str, frame: gpd.GeoDataFrame) -> bool:
        """Whether layer ``key`` is synthetic: named so, or every row flagged."""
        return key in self.synthetic or flagged(frame)

    def layer(self, key: str, frame: gpd.GeoDataFrame, title: str, kind: Kind,
              **kw: Any) -> MapLayer:
        """A :class:`MapLayer` of plan layer ``key``, flagged synthetic when it is."""
        return MapLayer(key=key, frame=frame, title=title, kind=kind,
                        synthetic=self.is_synthetic(key, frame), **kw)


def geom_kind(frame: gpd.GeoDataFrame) -> Kind:
    """``points``, ``lines`` or ``polygons`` (mixed geometries count as polygons)."""
    types = set(frame.geom_type.dropna())
    if types <= {"Point", "MultiPoint"}:
        return "points"
    if types <= {"LineString", "MultiLineString"}:
        return "lines"
    return "polygons"


def flagged(frame: gpd.GeoDataFrame) -> bool:
    """Whether every row of ``frame`` has a true ``synthetic`` column."""
    if "synthetic" not in frame.columns:
        return False
    return bool(frame["synthetic"].fillna(False).astype(bool).all())


def first_column(frame: gpd.GeoDataFrame, *names: str) -> str | None:
    """The first of ``names`` that is a column of ``frame``."""
    return next((n for n in names if n in frame.columns), None)


def fields(frame: gpd.GeoDataFrame, wanted: Sequence[tuple[str, str, str]]
           ) -> tuple[tuple[str, str, str], ...]:
    """The popup rows ``(column, label, unit)`` of ``wanted`` that ``frame`` has.

    Duplicates are dropped, shares get the unit ``%`` and at most
    ``MAX_POPUP_FIELDS`` rows are kept.
    """
    seen: set[str] = set()
    out = []
    for col, label, unit in wanted:
        if col in frame.columns and col not in seen:
            seen.add(col)
            out.append((col, label, "%" if col in PERCENT else unit))
    return tuple(out[:MAX_POPUP_FIELDS])


def other_fields(frame: gpd.GeoDataFrame, *, skip: Collection[str] = ()
                 ) -> list[tuple[str, str, str]]:
    """Every scalar column not hidden or skipped, labelled from its name and unit suffix."""
    out = []
    for col in frame.columns:
        if col in HIDDEN_COLUMNS or col in skip or col == frame.geometry.name:
            continue
        label, unit = label_unit(col)
        out.append((col, label, unit))
    return out


def scale(frame: gpd.GeoDataFrame, col: str | None, lo: float, hi: float, label: str
          ) -> dict[str, Any] | None:
    """A size or width rule over ``col`` (``MapLayer.size``/``width``), if it is a column."""
    if col is None or col not in frame.columns:
        return None
    return {"field": col, "lo": lo, "hi": hi, "label": label}


def generic_layer(key: str, frame: gpd.GeoDataFrame, context: DrawContext, *,
                  title: str | None = None, z: int | None = None) -> MapLayer:
    """Any layer, drawn plainly: grey, every column in the popup.

    Points and lines of at most 500 features are shown at first; polygons and bigger
    layers start hidden.
    """
    kind = geom_kind(frame)
    return context.layer(
        key, frame, title or key.replace("_", " ").capitalize(), kind,
        show=kind != "polygons" and len(frame) <= 500,
        name_field=first_column(frame, "name"), fields=fields(frame, other_fields(frame)),
        style={"color": "#555", "radius": 4, "weight": 1.5, "fill_opacity": 0.15,
               "shape": {"points": "point", "lines": "line"}.get(kind, "area")}, z=z)
