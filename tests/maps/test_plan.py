"""siting.maps.plan: planner layers drawn through their declared recipes, ordered by z."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import pytest
from _toys import CRS, X0, Y0, make_plan
from shapely.geometry import Point

from siting.errors import InputError
from siting.maps.page import MapLayer
from siting.maps.plan import plan_layers, plan_map
from siting.maps.recipes import DrawContext
from siting.planners import LayerSpec
from siting.registry import PLANNERS, layer_specs


def _points(n: int = 2, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)], **cols},
                            geometry=[Point(X0 + 100 * i, Y0) for i in range(n)], crs=CRS)


def test_every_planner_layer_with_a_recipe_is_drawn_through_its_spec() -> None:
    layers = make_plan()
    layers["rail_stations"] = _points()
    calls: list[tuple[str, DrawContext]] = []

    def recording(spec: LayerSpec) -> LayerSpec:
        def draw(given, context):
            calls.append((spec.name, context))
            assert set(given) == set(layers)        # every non-empty layer, once
            return spec.draw(given, context)
        return replace(spec, draw=draw if spec.draw else None)

    specs = {name: recording(spec) for name, spec in layer_specs().items()}
    built = plan_layers(layers, specs=specs, coverage_radius_m=800, synthetic={"water"})
    drawn = [name for name, _ in calls]
    assert sorted(drawn) == sorted(n for n, s in layer_specs().items()
                                   if s.draw is not None and n in layers)
    assert len(drawn) == len(set(drawn))
    assert {c.coverage_radius_m for _, c in calls} == {800}
    assert all(c.synthetic == {"water"} for _, c in calls)
    # the same overlays as through the registry itself
    assert [m.key for m in built] == [m.key for m in plan_layers(
        layers, coverage_radius_m=800, synthetic={"water"})]


def test_the_registry_declares_recipes_for_its_contract_layers() -> None:
    specs = layer_specs()
    for name in ("charging_stations", "logistics_parks", "logistics_catchments", "heat_pipes",
                 "heat_sources", "heat_sinks"):
        assert specs[name].draw is not None, name
    decidable = {p.decision_layer for p in PLANNERS.values()}
    assert all(specs[name].draw is not None for name in decidable)


def test_a_spec_recipe_is_called_and_placed_by_z() -> None:
    sentinel_low = MapLayer("low", _points(), "Low", "points")
    sentinel_high = MapLayer("high", _points(), "High", "points")
    seen = []

    def draw_low(layers, context):
        seen.append("low")
        return [sentinel_low]

    def draw_high(layers, context):
        seen.append("high")
        return [sentinel_high]

    layers = {"charging_stations": make_plan()["charging_stations"], "toy_high": _points(),
              "water": make_plan()["water"], "toy_low": _points(),
              "districts": make_plan()["districts"]}
    specs = {**layer_specs(),
             "toy_low": LayerSpec("toy_low", "Toy low", "points", draw=draw_low, z=2),
             "toy_high": LayerSpec("toy_high", "Toy high", "points", draw=draw_high, z=95)}
    built = plan_layers(layers, specs=specs)
    assert sorted(seen) == ["high", "low"]
    assert built[1] is sentinel_low and built[-1] is sentinel_high
    # districts (z 0), the spec at z 2, water (z 3), stations (z 90), the spec at z 95
    assert [m.key for m in built] == ["districts", "low", "water", "charging_stations", "high"]


def test_a_map_layer_z_overrides_its_spec_z() -> None:
    def draw(layers, context):
        return [MapLayer("under", _points(), "Under", "points", z=-1),
                MapLayer("over", _points(), "Over", "points")]

    layers = {"districts": make_plan()["districts"], "toy": _points()}
    specs = {"toy": LayerSpec("toy", "Toy", "points", draw=draw, z=50)}
    assert [m.key for m in plan_layers(layers, specs=specs)] == ["under", "districts", "over"]


def test_planner_layers_without_a_recipe_are_drawn_generically_with_their_title() -> None:
    layers = {"charging_demand": _points(3, sessions=[1, 2, 3]), "my_stops": _points(1)}
    built = plan_layers(layers)
    assert [(m.key, m.title) for m in built] == [("charging_demand", "Charging demand served"),
                                                ("my_stops", "My stops")]
    # the declared z (20) puts it under the unknown layer (100), in any order given
    assert [m.key for m in plan_layers(dict(reversed(layers.items())))] == [
        "charging_demand", "my_stops"]
    # ties at the same z keep the order of the layers given
    both = {"my_stops": _points(1), "their_stops": _points(1)}
    assert [m.key for m in plan_layers(both)] == ["my_stops", "their_stops"]
    assert [m.key for m in plan_layers(dict(reversed(both.items())))] == [
        "their_stops", "my_stops"]


def test_drawing_order_bottom_to_top() -> None:
    layers = make_plan()
    layers = {"my_stops": _points(), **layers, "rail_stations": _points(),
              "substations": _points(), "pois": _points(), "boundary": layers["districts"]}
    keys = [m.key for m in plan_layers(layers, coverage_radius_m=1000)]
    assert keys == ["districts", "red_line", "farmland", "water", "demand_ev_sessions_day",
                    "demand_population", "coverage", "rail_access", "heat_pipes",
                    "heat_sources", "heat_sinks", "rail_stations", "substations", "pois",
                    "logistics_parks", "charging_stations", "my_stops"]


def test_coverage_circles_need_a_radius_and_no_coverage_layer() -> None:
    layers = make_plan()
    assert "coverage" not in {m.key for m in plan_layers(layers)}
    (circles,) = [m for m in plan_layers(layers, coverage_radius_m=500) if m.key == "coverage"]
    assert circles.kind == "circles" and circles.style["radius_m"] == 500
    layers["coverage"] = layers["water"]
    (area,) = [m for m in plan_layers(layers, coverage_radius_m=500) if m.key == "coverage"]
    assert area.kind == "polygons" and area.title == "Coverage"


def test_synthetic_layers_are_flagged_by_name_or_column() -> None:
    layers = make_plan()
    layers["heat_sinks"]["synthetic"] = True
    built = {m.key: m for m in plan_layers(layers, synthetic={"charging_stations"})}
    assert built["charging_stations"].synthetic and built["heat_sinks"].synthetic
    assert not built["heat_pipes"].synthetic


def test_a_planner_layer_without_crs_is_an_input_error(tmp_path) -> None:
    layers = make_plan()
    layers["heat_pipes"] = layers["heat_pipes"].set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="layer 'heat_pipes' has no CRS"):
        plan_map(layers, tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()


def test_decision_controls_follow_the_declaration_not_the_recipe() -> None:
    def draw(layers, context):
        return [MapLayer("toy", layers["toy"], "Toy", "points", id_field="id", decide=True)]

    layers = {"toy": _points(2, id=["a", "b"])}
    for decidable in (False, True):
        specs = {"toy": LayerSpec("toy", "Toy", "points", decidable=decidable, draw=draw)}
        (toy,) = plan_layers(layers, specs=specs)
        assert toy.decide is decidable
    # the real planners: exactly their decidable layers get controls
    drawn = plan_layers(make_plan())
    assert {m.key for m in drawn if m.decide} == {
        spec.decision_layer for spec in PLANNERS.values()}
