"""Maps: the self-contained offline page and folium maps for notebooks.

Modules, from the base up:

- :mod:`siting.maps.page`: :class:`MapLayer` and :func:`write_map`, the offline
  Leaflet page writer (vendored assets, no network) behind every map here;
- :mod:`siting.maps.recipes`: the :class:`~siting.maps.recipes.DrawContext` and the
  helpers the planners' map recipes (``LayerSpec.draw``) use;
- :mod:`siting.maps.plan`: :func:`plan_layers`, :func:`plan_map`, :func:`region_map`,
  which draw the context layers and call each planner's declared recipe;
- :mod:`siting.maps.explore`: :func:`explore_plan`, a :class:`folium.Map` of a plan
  (``Plan.explore()``); folium is imported only there, and only when called.

The planner packages import ``page`` and ``recipes``; ``plan`` reads the registry of
planners. The names from ``plan`` and ``explore`` load on first use, so importing a
planner (which imports ``siting.maps.page``) never loads the registry back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from siting.maps.page import Kind, MapLayer, map_url, write_map

if TYPE_CHECKING:
    from siting.maps.explore import explore_plan
    from siting.maps.plan import (
        DECIDABLE_LAYERS,
        basemap_roads,
        plan_layers,
        plan_map,
        region_map,
    )

__all__ = ["DECIDABLE_LAYERS", "Kind", "MapLayer", "basemap_roads", "explore_plan", "map_url",
           "plan_layers", "plan_map", "region_map", "write_map"]

_LAZY = {"DECIDABLE_LAYERS": "plan", "basemap_roads": "plan", "plan_layers": "plan",
         "plan_map": "plan", "region_map": "plan", "explore_plan": "explore"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
