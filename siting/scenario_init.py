"""A scenario for a region of your own, scaled from the Zibo plan by population.

``python cli.py init --osm FILE --population-total N --out scenario.toml`` builds the
region (as ``plan`` would), measures its population (the raster, ``--population-total``
or the road-density proxy) and writes a copy of the embedded Zibo scenario in which

- every target and size that grows with the city is scaled by ``population / Zibo's``
  (:data:`SCALED`: NEVs, piles, bus and taxi fleets, logistics parks (at least one)
  and freight, the CHP-heated floor area), each line tagged
  ``[scaled from Zibo by population x FACTOR]``;
- ``scenario.population``, ``scenario.name`` and ``scenario.crs`` (the region's own
  metric CRS, its UTM zone) describe the region;
- the Zibo-only parts are dropped: district pile minimums and the heat links the Zibo
  plan requires (``[[heat.required_links]]`` name Zibo plants and districts);
- the heating settings that describe Zibo's climate (:data:`CLIMATE_KEYS`) are kept
  and tagged as Zibo's, to be set for the region; within the tropics no central space
  heating is assumed (``heated_share = 0``: the heat planner then has nothing to plan
  and says so);
- everything else (costs, service levels, assumptions) is kept with its comment, so
  each number still says where it came from.

The text is edited line by line (comments kept), then validated with
:func:`siting.config.load_scenario` before it is written, atomically.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

from siting.config import DEFAULT_SCENARIO, Scenario, load_scenario
from siting.errors import InputError
from siting.io import atomic_path

__all__ = ["SCALED", "init_scenario", "scaled_scenario_text"]

#: ``section.key`` -> kind of value: targets and sizes that grow with population
SCALED: Mapping[str, str] = {
    "chargers.nev_2025": "int", "chargers.nev_2030": "int",
    "chargers.piles_2025": "int", "chargers.piles_2030": "int",
    "fleet.buses": "int", "fleet.taxis": "int",
    "logistics.parks": "int>=1", "logistics.freight_mt_2025": "float",
    "logistics.source_freight_mt": "float", "heat.chp_heated_area_m2": "float",
}

_SECTION = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
_ASSIGN = re.compile(r"^(?P<key>[A-Za-z0-9_]+)(?P<eq>\s*=\s*)(?P<value>[^#]*?)(?P<pad>\s*)"
                     r"(?P<comment>#.*)?$")


def _scale(value: str, kind: str, factor: float) -> str:
    number = float(value.replace("_", ""))
    if kind.startswith("int"):
        scaled = max(1 if kind == "int>=1" else 0, round(number * factor))
        return str(int(scaled))
    return f"{number * factor:.6g}" if number * factor < 1e6 else f"{number * factor:.1f}"


#: heating settings that describe Zibo's climate (a cold-winter zone), not its size
CLIMATE_KEYS = ("heat.heat_intensity_w_m2", "heat.heated_share", "heat.full_load_hours",
                "heat.season_hours")
#: below this latitude (the tropics) no central space heating is assumed
TROPICS_DEG = 23.44


def scaled_scenario_text(text: str, *, population: int, name: str, crs: str,
                         base_population: int,
                         floors: Mapping[str, tuple[float, str]] | None = None,
                         latitude: float | None = None) -> str:
    """``text`` (a scenario TOML) for a region of ``population`` people: see the module
    docstring. ``floors``: ``section.key`` -> (lowest value, why) for scaled values that
    must not fall below what another scaled target needs. ``latitude`` (the region's,
    degrees): the heating settings of :data:`CLIMATE_KEYS` are Zibo's climate and say so;
    within the tropics no central heating is assumed (``heated_share = 0``). Raises
    :class:`InputError` for a population that is not positive."""
    if not population > 0 or not base_population > 0:
        raise InputError(f"population {population!r}: must be > 0 to scale the scenario; "
                         f"pass --population-total N or --population FILE.tif")
    factor = population / base_population
    tag = f"[scaled from Zibo by population x {factor:.4g}]"
    out: list[str] = []
    section = ""
    skip_table = False
    for number, line in enumerate(text.splitlines()):
        if number == 0 and line.startswith("#"):
            out.append(f"# Siting scenario for {name}: the Zibo carbon-peak plan's targets "
                       f"scaled by population (python cli.py init).")
            continue
        head = _SECTION.match(line)
        if head:
            section = head.group(1).strip()
            skip_table = section == "heat.required_links"
            if skip_table:
                out.append("# [[heat.required_links]] of the Zibo plan (Zibo plants and "
                           "districts) left out; add your own")
                continue
        if skip_table:
            continue
        m = _ASSIGN.match(line)
        if not m:
            out.append(line)
            continue
        key, value = m.group("key"), m.group("value").strip()
        path = f"{section}.{key}" if section else key
        if path in SCALED and re.fullmatch(r"[0-9_.eE+-]+", value):
            new = _scale(value, SCALED[path], factor)
            floor = (floors or {}).get(path)
            if floor is not None and float(new) < floor[0]:
                out.append(f"{key}{m.group('eq')}{floor[0]:.6g}   # [assumption] {floor[1]} "
                           f"(scaled from Zibo by population it would be {new})")
                continue
            out.append(f"{key}{m.group('eq')}{new}   # {tag} Zibo: {value}; "
                       f"{(m.group('comment') or '#').lstrip('# ')}")
        elif path == "heat.heated_share" and latitude is not None and \
                abs(latitude) < TROPICS_DEG:
            out.append(f"{key}{m.group('eq')}0.0   # [assumption] tropical latitude "
                       f"({latitude:.1f}): no central space heating assumed (Zibo: {value}); "
                       f"set your region's share if it has district heating")
        elif path in CLIMATE_KEYS:
            out.append(f"{key}{m.group('eq')}{value}   # [assumption] Zibo's climate (cold-winter "
                       f"zone), not your region's: set your own. Zibo: "
                       f"{(m.group('comment') or '#').lstrip('# ')}")
        elif path == "scenario.population":
            out.append(f"{key} = {int(population)}   # the region's population (raster, "
                       f"--population-total or the road-density proxy)")
        elif path == "scenario.name":
            # the name labels maps; no "Zibo" in it, so the region's pages stay in English
            out.append(f'{key} = "{name}"   # label on maps (targets scaled from the Zibo '
                       f'plan, see description)')
        elif path == "scenario.description":
            out.append(f'{key} = "Targets of the Zibo carbon-peak plan scaled to {name} by '
                       f'population; every assumption kept from the Zibo scenario"')
        elif path == "scenario.currency":
            out.append(f'{key} = {value}   # the amounts below are the Zibo plan\'s, in this '
                       f'currency: change it only with them (your own costs, your currency)')
        elif path == "scenario.crs":
            out.append(f'{key} = "{crs}"   # the region\'s metric CRS (its UTM zone)')
        elif path == "chargers.district_min_piles":
            out.append(f"# {line}   (Zibo districts: left out)")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def init_scenario(out: str | Path, *, population: float, name: str, crs: str,
                  base: str | Path = DEFAULT_SCENARIO, latitude: float | None = None
                  ) -> Scenario:
    """Write the scaled scenario to ``out`` (atomically) and return it, validated.

    Raises:
        InputError: a bad population, or the scaled scenario fails validation (a bug:
            the message names the key).
    """
    base_scenario = load_scenario(base)
    base_population = base_scenario.scenario.population
    if base_population is None:
        raise InputError(f"scenario {base}: [scenario] population is not set, so there is "
                         f"nothing to scale the targets by")
    if not (isinstance(population, (int, float)) and math.isfinite(population)):
        raise InputError(f"population {population!r}: must be a finite number")
    # a new region's industry has no known sectors, so only rail_share_default of its
    # freight can move by rail: its freight must cover the scaled target at that share
    lg = base_scenario.logistics
    target = lg.freight_mt_2025 * round(population) / base_population
    floors = {"logistics.source_freight_mt": (
        1.25 * target / lg.rail_share_default,
        f"freight of the industrial zones sized so that their rail-suitable share "
        f"(rail_share_default {lg.rail_share_default:g}) covers the scaled freight target "
        f"with 25% to spare")}
    text = scaled_scenario_text(Path(base).read_text(encoding="utf-8"),
                                population=round(population), name=name, crs=crs,
                                base_population=base_population, floors=floors,
                                latitude=latitude)
    out = Path(out)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
        scenario = load_scenario(tmp)
    return scenario
