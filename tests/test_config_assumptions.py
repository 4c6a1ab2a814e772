"""scenario_assumptions: the [assumption]-tagged values of a scenario, for provenance.json."""

from __future__ import annotations

import pytest

from siting.config import DEFAULT_SCENARIO, scenario_assumptions
from siting.errors import ConfigError

TOML = '''
# header comment mentioning [assumption] is not a value
top = 1                      # [assumption] a top-level value

[a]
x = 1                        # [assumption] first
y = 2                        # [plan] a plan figure
z = "has # and [assumption] inside"   # no tag here
w = [1,                      # [assumption] spans lines
     2]
"quoted key" = 3             # [assumption]
q = 4

# [assumption] the whole table, from
# the comment block above its header
[a.types]
mall = { max_piles = 40 }    # [assumption] its own note
hub = { max_piles = 60 }
depot = { max_piles = 9 }    # [census] not assumed

[b]                          # [assumption] header-line tag
"6.3" = 0.5
kept = 7                     # a comment but no tag: inherits

[c]
k = 1

# [assumption] catalogue
[[pipes]]
dn = 200
[[pipes]]
dn = 300                     # [assumption] inside an array listed whole: not repeated
'''


def _by_key(items):
    return {a["key"]: (a["value"], a["note"]) for a in items}


def test_tags_on_a_small_toml_string():
    got = _by_key(scenario_assumptions(text=TOML))
    assert got == {
        "top": (1, "a top-level value"),
        "a.x": (1, "first"),
        "a.w": ([1, 2], "spans lines"),
        'a."quoted key"': (3, ""),
        "a.types.mall": ({"max_piles": 40}, "its own note"),
        "a.types.hub": ({"max_piles": 60}, "the whole table, from the comment block above "
                                           "its header"),
        'b."6.3"': (0.5, "header-line tag"),
        "b.kept": (7, "header-line tag; a comment but no tag: inherits"),
        "pipes": ([{"dn": 200}, {"dn": 300}], "catalogue"),
    }
    # in file order
    assert [a["key"] for a in scenario_assumptions(text=TOML)][:3] == ["top", "a.x", "a.w"]


def test_a_blank_line_detaches_a_comment_block():
    text = "# [assumption] not for the table below\n\n[t]\nv = 1\n"
    assert scenario_assumptions(text=text) == []


def test_array_of_tables_elements_are_indexed():
    text = "[[p]]\nd = 1\n[[p]]\nd = 2   # [assumption] second only\n"
    assert scenario_assumptions(text=text) == [
        {"key": "p[1].d", "value": 2, "note": "second only"}]


def test_default_scenario(scenario):
    got = _by_key(scenario_assumptions(scenario))
    assert got["chargers.nev_2030"] == (250000, "stage-2 fleet growth to 2030")
    assert got["chargers.piles_2030"][0] == 80000
    assert "chargers.nev_2025" not in got and "chargers.piles_2025" not in got  # [plan]
    assert "scenario.population" not in got                                     # [census]
    assert got["chargers.site_types.mall"][0] == {"max_piles": 40, "slow": True,
                                                   "fast": True}
    assert got["logistics.delivery_km"][0] == 30.0
    assert got["logistics.co2_handling_kg_per_t"][0] == 2.0
    assert got['logistics.rail_share_max."power & heat"'][0] == 0.8
    assert got["heat.recoverable_share.chp"][0] == 0.1       # tagged on its table header
    assert [p["dn"] for p in got["heat.pipes"][0]] == [200, 300, 400, 500, 600, 800, 1000]
    assert all(isinstance(a["note"], str) for a in scenario_assumptions(scenario))


def test_values_are_the_runs_own(scenario):
    s = scenario.replace(**{"chargers.nev_2030": 300000})
    got = _by_key(scenario_assumptions(s, path=DEFAULT_SCENARIO))
    assert got["chargers.nev_2030"][0] == 300000


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        scenario_assumptions(text="a = ")
    with pytest.raises(ConfigError, match="cannot read its assumptions"):
        scenario_assumptions(path=tmp_path / "none.toml")


def test_provenance_record(scenario, tmp_path):
    from siting.pipeline import scenario_assumption_record

    rec = scenario_assumption_record(scenario, None)       # a Scenario without a file
    assert rec["assumptions_file"] == str(DEFAULT_SCENARIO)
    keys = {a["key"] for a in rec["assumptions"]}
    assert {"chargers.nev_2030", "chargers.piles_2030"} <= keys
    assert "chargers.nev_2025" not in keys
    own = tmp_path / "s.toml"
    own.write_text(DEFAULT_SCENARIO.read_text(encoding="utf-8").replace(
        "nev_2030 = 250000        # [assumption] stage-2 fleet growth to 2030",
        "nev_2030 = 250000        # [plan] a sourced figure"), encoding="utf-8")
    rec = scenario_assumption_record(scenario, own)
    assert rec["assumptions_file"] == str(own)
    assert "chargers.nev_2030" not in {a["key"] for a in rec["assumptions"]}
