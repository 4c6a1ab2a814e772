from __future__ import annotations

import re
from pathlib import Path

import pytest

from siting.config import DEFAULT_SCENARIO, load_scenario
from siting.errors import ConfigError


def _edited(tmp_path: Path, *subs: tuple[str, str]) -> Path:
    text = DEFAULT_SCENARIO.read_text(encoding="utf-8")
    for pattern, repl in subs:
        text, n = re.subn(pattern, repl, text, count=1, flags=re.M)
        assert n == 1, pattern
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_scenario_holds_the_plan_targets(scenario):
    assert scenario.chargers.piles_2025 == 40_000
    assert scenario.chargers.nev_2025 == 110_000
    assert scenario.logistics.parks == 8
    assert scenario.logistics.freight_mt_2025 == 18.5
    assert scenario.chargers.piles_2030 >= scenario.chargers.piles_2025
    assert 0 < scenario.heat.heated_share <= 1


def test_every_setting_has_a_source_comment():
    for line in DEFAULT_SCENARIO.read_text(encoding="utf-8").splitlines():
        code = line.split("#", 1)[0].strip()
        if "=" in code and not code.startswith("["):
            key = code.split("=", 1)[0].strip()
            in_table = key in {"power", "chp", "petrochemical", "aluminium", "chemical",
                               "waste", "biomass", "dn", "max_mw", "cost_cny_per_m",
                               "loss_w_per_m"}
            assert "#" in line or in_table, f"no source/assumption comment: {line!r}"


def test_scenario_is_frozen(scenario):
    with pytest.raises(ValueError, match="frozen"):
        scenario.chargers.piles_2025 = 1  # type: ignore[misc]


def test_replace_revalidates(scenario):
    assert scenario.replace(**{"solver.time_limit_s": 5}).solver.time_limit_s == 5
    with pytest.raises(ConfigError, match=r"solver\.time_limit_s"):
        scenario.replace(**{"solver.time_limit_s": -1})
    with pytest.raises(ConfigError, match=r"no setting 'solver\.nope'"):
        scenario.replace(**{"solver.nope": 1})
    # a path through a missing section or a plain value: the same error, not a KeyError
    with pytest.raises(ConfigError, match=r"no setting 'nope\.x' \('nope' is not a section"):
        scenario.replace(**{"nope.x": 1})
    with pytest.raises(ConfigError, match=r"no setting 'chargers\.piles_2025\.x'"):
        scenario.replace(**{"chargers.piles_2025.x": 1})


def test_all_problems_reported_at_once_with_key_paths(tmp_path):
    path = _edited(tmp_path,
                   (r"^piles_2025 = 40000", "piles_2025 = -5"),
                   (r"^service_radius_m = 3000.0", "service_radus_m = 3000.0"),
                   (r"^parks = 8", 'parks = "8"'))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "chargers.piles_2025: Input should be greater than 0 (got -5)" in msg
    assert "chargers.service_radus_m: unknown key; did you mean 'service_radius_m'?" in msg
    assert "logistics.parks: Input should be a valid integer (got '8')" in msg
    assert "4 problems" in msg  # the misspelt key also leaves the real one missing


def test_stage_two_must_not_shrink(tmp_path):
    path = _edited(tmp_path, (r"^piles_2030 = 80000", "piles_2030 = 100"))
    with pytest.raises(ConfigError, match=r"piles_2030 \(100\) must be >= piles_2025"):
        load_scenario(path)


def test_pipe_catalogue_must_ascend(tmp_path):
    path = _edited(tmp_path, (r"^dn = 300", "dn = 150"))
    with pytest.raises(ConfigError, match="DN values must be unique and ascending"):
        load_scenario(path)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; pass --scenario"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[chargers\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_scenario(bad)


def test_currency_is_a_three_letter_code(scenario):
    assert scenario.scenario.currency == "CNY"
    assert scenario.replace(**{"scenario.currency": "EUR"}).scenario.currency == "EUR"
    with pytest.raises(ConfigError, match=r"scenario\.currency"):
        scenario.replace(**{"scenario.currency": "euro"})
