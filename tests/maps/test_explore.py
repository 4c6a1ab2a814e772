"""siting.maps.explore: folium maps of a plan for notebooks (Plan.explore())."""

from __future__ import annotations

import ast
import html
import subprocess
import sys
from pathlib import Path

import folium
import networkx as nx
import pytest
from _toys import CRS, EVIL, EVIL2, X0, Y0, make_plan
from shapely.geometry import LineString

import siting
from siting.chargers.layers import STAGE_COLOURS
from siting.errors import InputError
from siting.maps.explore import explore_plan
from siting.maps.plan import plan_layers
from siting.pipeline import Plan
from siting.region import Region


def _plan(layers=None, *, synthetic=frozenset({"red_line"})) -> Plan:
    layers = make_plan() if layers is None else layers
    g = nx.MultiDiGraph(crs=CRS)
    g.add_node(1, x=X0, y=Y0)
    g.add_node(2, x=X0 + 5000, y=Y0)
    g.add_edge(1, 2, highway="primary", length=5000.0,
               geometry=LineString([(X0, Y0), (X0 + 5000, Y0)]))
    region = Region(name="Toy town", crs=CRS, boundary=layers["districts"].dissolve(),
                    districts=layers["districts"], graph=g, synthetic=synthetic,
                    attribution=("Census 2020 (toy)",))
    return Plan(region=region, scenario=None, outputs={}, kpis={}, provenance={},  # type: ignore[arg-type]
                metric_layers=layers, radius_m=1000.0)


def _groups(m: folium.Map) -> dict[str, folium.FeatureGroup]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.FeatureGroup)}


def _geojson(group: folium.FeatureGroup) -> folium.GeoJson:
    (gj,) = [c for c in group._children.values() if isinstance(c, folium.GeoJson)]
    return gj


def test_plan_explore_returns_a_map_with_a_group_per_overlay() -> None:
    plan = _plan()
    m = plan.explore(tiles=None)
    assert isinstance(m, folium.Map)
    want = [o.title + (" (synthetic)" if o.synthetic else "")
            for o in plan_layers(plan.layers, synthetic={"red_line"}, coverage_radius_m=1000)]
    assert list(_groups(m)) == want           # the offline page's overlays, in its order
    # every non-empty plan layer is on the map
    assert {"District boundaries", "Ecological red line (synthetic)", "Heat pipes",
            "Heat sources", "Heat sinks", "Logistics parks", "Charging stations",
            "EV charging demand (heat map)", "Coverage (1 km service radius)"} <= set(want)
    assert sum(isinstance(c, folium.LayerControl) for c in m._children.values()) == 1


def test_empty_layers_get_no_group() -> None:
    layers = make_plan()
    layers["heat_pipes"] = layers["heat_pipes"].iloc[:0]
    names = _groups(explore_plan(_plan(layers), tiles=None))
    assert "Heat pipes" not in names and "Heat sources" in names


def test_attribution_legend_and_synthetic_note_are_rendered() -> None:
    layers = make_plan()
    layers["heat_sinks"]["synthetic"] = True
    page = explore_plan(_plan(layers), tiles=None).get_root().render()
    assert "© OpenStreetMap contributors" in page and "Census 2020 (toy)" in page
    assert "synthetic layers: heat_sinks, red_line" in page
    assert 'class="siting-legend"' in page and "Heat sinks (synthetic)" in page
    assert "addAttribution" in page


def test_popups_carry_the_page_fields_formatted() -> None:
    layers = make_plan()
    m = explore_plan(_plan(layers), tiles=None)
    gj = _geojson(_groups(m)["Charging stations"])
    popup = next(c for c in gj._children.values() if isinstance(c, folium.GeoJsonPopup))
    fields = dict(zip(popup.fields, popup.aliases, strict=True))
    assert fields["piles"] == "Piles" and fields["kw"] == "Power"
    assert fields["utilisation"] == "Utilisation" and fields["__name"] == "Charging stations"
    props = [f["properties"] for f in gj.data["features"]]
    stations = layers["charging_stations"]
    assert [p["piles"] for p in props] == [f"{v:,}" for v in stations["piles"]]
    assert props[0]["__name"] == "Station 0"
    assert all(p["utilisation"].endswith(" %") for p in props)   # shares in percent
    assert props[0]["kw"].endswith(" kW")


def test_colours_and_sizes_follow_the_offline_page() -> None:
    layers = make_plan()
    m = explore_plan(_plan(layers), tiles=None)
    props = [f["properties"] for f in _geojson(_groups(m)["Charging stations"]).data["features"]]
    stages = layers["charging_stations"]["stage"]
    colour = {"2025": STAGE_COLOURS[0], "2030": STAGE_COLOURS[1]}
    assert [p["__color"] for p in props] == [colour[s] for s in stages]
    piles = layers["charging_stations"]["piles"]
    radius = {p["__radius"] for p, n in zip(props, piles, strict=True) if n == piles.max()}
    assert radius == {13.0}
    pipes = [f["properties"] for f in _geojson(_groups(m)["Heat pipes"]).data["features"]]
    assert pipes[-1]["__color"] == "#800026" and pipes[-1]["__weight"] == 7.0  # most flow, DN


def test_layers_selects_and_unknown_names_are_an_error() -> None:
    plan = _plan()
    m = explore_plan(plan, layers=["districts", "heat_pipes"], tiles=None)
    assert list(_groups(m)) == ["District boundaries", "Heat pipes"]
    with pytest.raises(InputError, match=r"unknown layer\(s\) \['bus_stops'\]; the plan has "):
        explore_plan(plan, layers=["bus_stops"])


def test_adds_to_a_given_map_and_keeps_its_layer_control() -> None:
    m = folium.Map(tiles=None)
    folium.LayerControl().add_to(m)
    out = explore_plan(_plan(), m=m, layers=["heat_sources"])
    assert out is m and list(_groups(m)) == ["Heat sources"]
    assert sum(isinstance(c, folium.LayerControl) for c in m._children.values()) == 1
    with pytest.raises(InputError, match=r"map arguments \['zoom_start'\] need m=None"):
        explore_plan(_plan(), m=m, zoom_start=3)


def test_new_map_takes_tiles_and_map_arguments() -> None:
    m = explore_plan(_plan(), tiles="OpenStreetMap", width=600, zoom_start=9)
    page = m.get_root().render()
    assert "tile.openstreetmap.org" in page and '"zoom": 9' in page


def test_html_in_names_stays_text() -> None:
    layers = make_plan(evil_names=True)
    m = explore_plan(_plan(layers), tiles=None)
    page = m.get_root().render()
    assert EVIL not in page and EVIL2 not in page
    props = [f["properties"] for f in _geojson(_groups(m)["Charging stations"]).data["features"]]
    assert props[0]["__name"] == html.escape(EVIL)          # shown as text by the popup


def test_folium_is_imported_lazily_and_only_in_siting_maps() -> None:
    code = ("import sys, siting, siting.maps, siting.maps.explore, siting.pipeline; "
            "print('folium' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    root = Path(siting.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                    node.module or ""]
                if any(n.split(".")[0] in {"folium", "branca"} for n in names):
                    assert path.parent.name == "maps", f"{path} imports folium"
                    assert node.col_offset > 0, f"{path}: folium imported at module level"
