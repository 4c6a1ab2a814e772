"""The planner contract (siting.planners) and the registry every layer above reads."""

from __future__ import annotations

import math
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from siting import registry
from siting.config import ReviewSettings
from siting.errors import CheckError, InfeasibleError, InputError, SolverError
from siting.models.base import Assignment, Result, Status
from siting.pipeline import check_planner_layers
from siting.planners import (
    ItemDecisions,
    LayerSpec,
    PlannerOutput,
    PlannerSpec,
    ReviewRule,
    finish,
)
from siting.region import Region

CONSTRAINTS = {"red_line", "farmland", "water"}


def _result(status: Status) -> Result:
    ok = status.has_solution
    return Result(status, 1.0 if ok else math.nan, 1.0 if ok else math.nan,
                  0.0 if ok else math.nan, np.empty(0, np.int64), Assignment.empty(), 0.5, 0.1,
                  "highs", "test")


def test_every_registered_planner_follows_the_contract():
    names = [spec.name for p in registry.PLANNERS.values() for spec in p.layers]
    assert len(names) == len(set(names)), "two planners declare the same layer"
    assert list(registry.PLANNERS) == ["chargers", "logistics", "heat"]
    for name, spec in registry.PLANNERS.items():
        assert spec.name == name and callable(spec.plan)
        assert spec.decision_layer is not None, f"{name} has no decidable layer"
        assert spec.requires, f"{name} declares no required inputs"
        for layer in spec.layers:
            assert layer.geometry in ("points", "lines", "polygons")
            for rule in layer.rules(ReviewSettings()) if layer.rules else ():
                assert rule.item_layer == layer.name and rule.constraint in CONSTRAINTS


def test_the_registry_derives_decisions_review_and_diff_layers():
    assert registry.decidable_layers() == {"charging_stations": "chargers",
                                           "logistics_parks": "logistics",
                                           "heat_pipes": "heat"}
    rules = {r.name: r for r in registry.review_rules(ReviewSettings(park_water_buffer_m=750))}
    assert rules["park_near_water"].buffer_m == 750
    assert {r.item_layer for r in rules.values()} == set(registry.decidable_layers())
    assert {"charging_stations", "heat_pipes", "heat_sources"} <= set(registry.diff_layers())
    with pytest.raises(InputError, match=r"unknown planner\(s\) \['parking'\]"):
        registry.planner_specs(["chargers", "parking"])


def test_finish_maps_every_outcome_the_same_way():
    ok = _result(Status.OPTIMAL)
    assert finish("x", ok) is ok
    assert finish("x", ok, lambda: []) is ok
    with pytest.raises(SolverError, match=r"x: no feasible solution within the time limit"):
        finish("x", _result(Status.TIME_LIMIT_NO_SOLUTION))
    with pytest.raises(InfeasibleError, match=r"x: the solver .* proved the model infeasible"):
        finish("x", _result(Status.INFEASIBLE))
    with pytest.raises(CheckError, match=r"x: the plan fails the independent checker \(2 "
                                         r"violation\(s\)\).*\n  - a\n  - b") as err:
        finish("x", ok, lambda: ["a", "b"])
    assert err.value.exit_code == 1 and err.value.violations == ("a", "b")

    def never() -> list[str]:
        raise AssertionError("the checker must not run without a solution")

    with pytest.raises(SolverError):
        finish("x", _result(Status.TIME_LIMIT_NO_SOLUTION), never)


def test_a_spec_checks_its_rules_name_their_own_layer():
    def rules(s):
        return (ReviewRule("x", "other_layer", "water", 0.0, "violation", "x"),)

    with pytest.raises(ValueError, match="rule 'x' is declared on layer 'a' but checks "
                                         "'other_layer'"):
        PlannerSpec("p", "P", plan=lambda *a, **k: None,  # type: ignore[arg-type]
                    layers=(LayerSpec("a", "A", "points", rules=rules),))


def test_planner_names_are_one_list():
    assert [s.name for s in registry.planner_specs("heat")] == ["heat"]
    assert [s.name for s in registry.planner_specs(["heat", "heat"])] == ["heat"]


def test_a_spec_allows_one_decidable_layer():
    layers = (LayerSpec("a", "A", "points", decidable=True),
              LayerSpec("b", "B", "points", decidable=True))
    with pytest.raises(ValueError, match="2 decidable layers"):
        PlannerSpec("two", "Two", plan=lambda *a, **k: None, layers=layers)  # type: ignore
    with pytest.raises(InputError, match="both approved and rejected"):
        ItemDecisions(rejected=frozenset({"s1"}), approved=frozenset({"s1"}))


def _toy_region(**layers: gpd.GeoDataFrame) -> Region:
    import networkx as nx

    crs = "EPSG:32650"
    box = gpd.GeoDataFrame(geometry=[Point(0, 0).buffer(1000)], crs=crs)
    districts = box.assign(code="1", name="Only", population=1000)
    graph = nx.MultiDiGraph(crs=crs)
    return Region(name="toy", crs=crs, boundary=box, districts=districts, graph=graph,
                  layers=dict(layers))


def test_a_fourth_planner_is_one_spec(monkeypatch):
    """A planner added to the registry gets its inputs checked, its decisions routed and
    its review rules run, with no change outside its own package."""
    def plan_parking(region, demand, scenario, *, decisions=None, solver=None,
                     progress=False):
        return PlannerOutput("parking", {}, {"status": "optimal"})

    def rules(s):
        return (ReviewRule("lot_in_water", "parking_lots", "water", 0.0, "violation",
                           "no lot in water"),)

    spec = PlannerSpec("parking", "Park-and-ride", plan=plan_parking,
                       layers=(LayerSpec("parking_lots", "Parking lots", "points",
                                         decidable=True, rules=rules),),
                       requires=(("pois", "land_use"), ("bus_stops",)))
    monkeypatch.setattr(registry, "PLANNERS",
                        MappingProxyType({**registry.PLANNERS, "parking": spec}))
    assert registry.decidable_layers()["parking_lots"] == "parking"
    assert "lot_in_water" in {r.name for r in registry.review_rules(ReviewSettings())}
    pois = gpd.GeoDataFrame({"site_type": ["mall"]}, geometry=[Point(0, 0)], crs="EPSG:32650")
    with pytest.raises(InputError, match=r"parking needs layer 'bus_stops'") as err:
        check_planner_layers(_toy_region(pois=pois), ["chargers", "parking"])
    assert "1 problem" in str(err.value) and "chargers needs" not in str(err.value)
