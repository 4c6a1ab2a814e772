"""Generated bad input through the real loaders: a scenario, a decisions file and a user
layer either load or fail with the project's own error (one clear message), never with
a crash of another kind.

The scenario is the real default file with lines mutated (values replaced by NaN,
infinity, huge and negative numbers, wrong types; keys misspelt; bytes that are not
UTF-8); decisions and layers are GeoJSON documents with fields and geometries mutated.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siting.config import DEFAULT_SCENARIO, load_scenario
from siting.errors import SitingError
from siting.region.layers import read_vector
from siting.review import read_decisions

# GDAL warns about the broken geometries these tests feed it; the point is what follows
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

LINES = DEFAULT_SCENARIO.read_text(encoding="utf-8").splitlines()
ASSIGN = [i for i, line in enumerate(LINES) if re.match(r"^[A-Za-z0-9_\"]+\s*=", line)]
BAD_VALUES = st.sampled_from([
    "nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "1e-320", "99999999999999999999",
    '"text"', "true", "[]", "[1, 2]", "{}", '{ a = 1 }', '""', "2021-12-01", "0x10",
    '"EPSG:4326"', "1_000", "-0.0"])
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _loads_or_says_why(path) -> None:
    try:
        load_scenario(path)
    except SitingError as err:  # the project's own error: one message, exit 2 at the CLI
        assert str(err).strip()


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(ASSIGN), BAD_VALUES), min_size=1, max_size=4))
def test_scenario_values_mutated(tmp_path, edits) -> None:
    lines = list(LINES)
    for i, value in edits:
        key = lines[i].split("=", 1)[0].rstrip()
        lines[i] = f"{key} = {value}"
    path = tmp_path / "s.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _loads_or_says_why(path)


@FUZZ
@given(i=st.sampled_from(ASSIGN), junk=st.binary(min_size=1, max_size=8),
       drop=st.booleans(), typo=st.text("abcxyz_", min_size=1, max_size=3))
def test_scenario_lines_broken(tmp_path, i, junk, drop, typo) -> None:
    lines = list(LINES)
    if drop:
        del lines[i]
    else:  # a misspelt key
        key, rest = lines[i].split("=", 1)
        lines[i] = f"{key.rstrip()}{typo} ={rest}"
    path = tmp_path / "s.toml"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + junk)
    _loads_or_says_why(path)


FEATURE_FIELDS = st.fixed_dictionaries({}, optional={
    "layer": st.sampled_from(["charging_stations", "logistics_parks", "heat_pipes", "roads",
                              "", None, 3]),
    "id": st.one_of(st.text(max_size=6), st.integers(), st.none()),
    "decision": st.sampled_from(["approved", "rejected", "maybe", "", None, 1]),
    "comment": st.one_of(st.text(max_size=10), st.none()),
    "reviewer": st.one_of(st.text(max_size=5), st.none()),
})
GEOMETRIES = st.sampled_from([
    {"type": "Point", "coordinates": [118.0, 36.8]},
    {"type": "Point", "coordinates": [float("nan"), 36.8]},
    {"type": "Point", "coordinates": [1e9, -1e9]},
    {"type": "Point", "coordinates": []},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # bowtie
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
    {"type": "LineString", "coordinates": [[118, 36], [118, 36]]},
    None,
])


@FUZZ
@given(features=st.lists(st.tuples(FEATURE_FIELDS, GEOMETRIES), max_size=4),
       top=st.sampled_from([{"siting_decisions": 1}, {}, {"siting_decisions": "x"}]),
       kind=st.sampled_from(["FeatureCollection", "Feature", "Nonsense"]))
def test_decisions_files_mutated(tmp_path, features, top, kind) -> None:
    doc = {"type": kind, **top, "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}
    path = tmp_path / "decisions.geojson"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    try:
        read_decisions(path)
    except SitingError as err:
        assert str(err).strip()


@FUZZ
@given(features=st.lists(GEOMETRIES, max_size=4),
       crs=st.sampled_from([None, "EPSG:4326", "EPSG:32650", "urn:ogc:def:crs:EPSG::9999999"]))
def test_user_layers_mutated(tmp_path, features, crs) -> None:
    doc: dict = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "x"}, "geometry": g} for g in features]}
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path = tmp_path / "layer.geojson"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    try:
        read_vector(path, what="constraint 'water'", target_crs="EPSG:32650")
    except SitingError as err:
        assert str(err).strip()
