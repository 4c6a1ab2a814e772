"""Scenario files (TOML) loaded into validated, frozen settings.

Every target and assumption a plan depends on lives in the scenario file, each with
a comment giving its source or marking it an assumption (see
``data/zibo/scenario.toml``). Loading it:

- rejects unknown keys (with a "did you mean" hint), wrong types (strictly: the
  string ``"40000"`` is not a number) and out-of-range values;
- reports **every** problem in one :class:`~siting.errors.ConfigError`, each with
  its key path, e.g. ``chargers.piles_2025: must be > 0 (got -5)``;
- returns a frozen :class:`Scenario`; change it with :meth:`Scenario.replace`.

Example:
    >>> from siting.config import load_scenario, DEFAULT_SCENARIO
    >>> s = load_scenario(DEFAULT_SCENARIO)
    >>> s.chargers.piles_2025, s.logistics.parks
    (40000, 8)
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siting.errors import ConfigError

__all__ = [
    "DEFAULT_SCENARIO",
    "ArrivalProfiles",
    "ChargerSettings",
    "ChargerSiteType",
    "HeatSettings",
    "LogisticsSettings",
    "RegionSettings",
    "RequiredHeatLink",
    "ReviewSettings",
    "Scenario",
    "SolverSettings",
    "load_scenario",
    "scenario_assumptions",
]

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "data" / "zibo" / "scenario.toml"

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
PosInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MetaSettings(_Section):
    name: str
    description: str = ""
    seed: NonNegInt = 20211201
    population: PosInt | None = None
    crs: str = "EPSG:32650"
    #: the currency of every amount in the scenario (and so in the plan's costs); keys
    #: keep their ``_cny`` names, maps and summaries show this code
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"

    @field_validator("crs", mode="after")
    @classmethod
    def _metric_crs(cls, value: str) -> str:
        """A CRS pyproj knows, projected, in metres (distances are measured in it)."""
        from pyproj import CRS
        from pyproj.exceptions import CRSError as ProjError

        try:
            crs = CRS.from_user_input(value)
        except ProjError as err:
            raise ValueError(f"{value!r} is not a CRS pyproj knows ({err}); give e.g. "
                             f"'EPSG:32650'") from None
        units = {a.unit_name for a in crs.axis_info}
        if not crs.is_projected or not units <= {"metre", "meter"}:
            raise ValueError(f"{value!r} is not a projected CRS in metres; give the region's "
                             f"UTM zone, e.g. 'EPSG:32650' for Zibo")
        return value


class RegionSettings(_Section):
    road_detail: Literal["full", "coarse"] = "full"
    cell_size_m: Annotated[float, Field(ge=100, le=2000)] = 500.0
    floor_area_m2_per_person: Pos = 41.0


class SolverSettings(_Section):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: Pos = 60.0
    mip_gap: Annotated[float, Field(ge=0, le=0.5)] = 0.01
    threads: PosInt = 2


class PileType(_Section):
    kw: Pos
    session_minutes: Pos
    capex_cny: NonNeg


class ChargerSiteType(_Section):
    """What a kind of candidate site can hold: its largest station and its pile types."""

    max_piles: PosInt
    slow: bool = True
    fast: bool = True

    @model_validator(mode="after")
    def _some_pile(self) -> ChargerSiteType:
        if not (self.slow or self.fast):
            raise ValueError("a site type must allow slow or fast piles (or both)")
        return self


def _default_site_types() -> dict[str, ChargerSiteType]:
    return {name: ChargerSiteType(max_piles=m, slow=s, fast=f) for name, m, s, f in (
        ("public_parking", 60, True, True), ("mall", 40, True, True),
        ("transport_hub", 60, True, True), ("bus_depot", 60, True, True),
        ("residential_community", 30, True, False), ("fuel_station", 12, False, True),
        ("public_institution", 20, True, True), ("existing_station", 60, True, True),
        ("township_centre", 20, True, True))}


class ArrivalProfiles(_Section):
    """Relative charging arrivals in each hour 0-23, per kind of queue: AC piles at
    residential communities, AC piles elsewhere, and DC fast piles. Only the shape
    matters: a queue is sized for its busiest hour, which takes
    ``max(profile) / sum(profile)`` of the day's sessions."""

    residential: list[NonNeg]
    public: list[NonNeg]
    fast: list[NonNeg]

    @model_validator(mode="after")
    def _hours(self) -> ArrivalProfiles:
        problems = [f"{name} has {len(v)} values; give 24 (hours 0-23)" if len(v) != 24
                    else f"{name} is all zero; give arrivals in some hour"
                    for name, v in (("residential", self.residential),
                                    ("public", self.public), ("fast", self.fast))
                    if len(v) != 24 or sum(v) <= 0]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def peak_share(self, name: str) -> float:
        """Share of the day's sessions arriving in the busiest hour of profile ``name``."""
        values = getattr(self, name)
        return max(values) / sum(values)

    def peak_hour(self, name: str) -> int:
        """The busiest hour (0-23, the first when several tie) of profile ``name``."""
        values = getattr(self, name)
        return values.index(max(values))


KvKey = Annotated[str, Field(pattern=r"^[1-9][0-9]*(\.[0-9]+)?$")]
"""A voltage class in kV as a TOML key, e.g. ``"110"`` or ``"6.3"``."""


class SubstationHeadroom(_Section):
    """New charging load (MW) a substation of one voltage class may take, per stage.

    ``mw_2030`` is cumulative (includes ``mw``); ``None`` means the same as ``mw``.
    """

    mw: NonNeg
    mw_2030: NonNeg | None = None

    @model_validator(mode="after")
    def _cumulative(self) -> SubstationHeadroom:
        if self.mw_2030 is not None and self.mw_2030 < self.mw:
            raise ValueError(f"mw_2030 ({self.mw_2030:g}) must be >= mw ({self.mw:g}): "
                             "headroom by 2030 is cumulative")
        return self


class ChargerSettings(_Section):
    nev_2025: PosInt
    nev_2030: PosInt
    piles_2025: PosInt
    piles_2030: PosInt
    piles_rule: Literal["exact", "at_least"] = "exact"
    sessions_per_nev_day: Pos
    service_radius_m: Annotated[float, Field(gt=0, le=50_000)]
    slow: PileType
    fast: PileType
    fast_share_min: Share = 0.0
    max_wait_minutes: Pos
    wait_probability: Annotated[float, Field(gt=0, lt=1)]
    operating_hours: Annotated[float, Field(gt=0, le=24)]
    station_capex_cny: NonNeg
    max_piles_per_station: PosInt
    substation_headroom_mw: Pos
    substation_headroom_mw_2030: Pos | None = None
    substation_headroom_by_kv: dict[KvKey, SubstationHeadroom] = Field(default_factory=dict)
    distance_cost_cny_per_session_km: NonNeg
    unmet_penalty_cny_per_session: NonNeg
    district_min_piles: dict[str, NonNegInt] = Field(default_factory=dict)
    discount_rate: Annotated[float, Field(ge=0, lt=1)]
    lifetime_years: PosInt
    staged: bool = True
    stage_years: PosInt = 5
    pile_ratio_shortfall_cny_per_pile: NonNeg = 1000.0
    existing_station_piles: NonNegInt = 4
    residential_reserved_share: Share = 1.0
    reach_fill: bool = True
    arrival_profiles: ArrivalProfiles | None = None
    site_types: dict[str, ChargerSiteType] = Field(default_factory=_default_site_types)

    @field_validator("site_types", mode="after")
    @classmethod
    def _keep_default_types(cls, value: dict[str, ChargerSiteType]
                            ) -> dict[str, ChargerSiteType]:
        """Site types a scenario leaves out keep their defaults."""
        return {**_default_site_types(), **value}

    @model_validator(mode="after")
    def _stages_grow(self) -> ChargerSettings:
        problems = []
        if self.nev_2030 < self.nev_2025:
            problems.append(f"nev_2030 ({self.nev_2030}) must be >= nev_2025 ({self.nev_2025})")
        if self.piles_2030 < self.piles_2025:
            problems.append(
                f"piles_2030 ({self.piles_2030}) must be >= piles_2025 ({self.piles_2025})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LogisticsSettings(_Section):
    parks: PosInt
    freight_mt_2025: Pos
    freight_growth: Annotated[float, Field(ge=-0.5, le=1.0)]
    rail_access_m: Pos
    road_access_m: Pos
    park_capacity_mt: Pos
    park_capex_cny: NonNeg
    co2_road_kg_per_tkm: Pos
    co2_rail_kg_per_tkm: Pos
    drayage_cost_cny_per_tkm: NonNeg
    rail_shift_value_cny_per_t: NonNeg
    discount_rate: Annotated[float, Field(ge=0, lt=1)]
    lifetime_years: PosInt
    target_year: Annotated[int, Field(ge=2000, le=2100)] = 2025
    source_freight_mt: Pos = 40.0
    max_drayage_m: Pos = 40_000.0
    linehaul_km: Pos = 300.0
    delivery_km: NonNeg = 30.0
    co2_handling_kg_per_t: NonNeg = 2.0
    candidate_spacing_m: Annotated[float, Field(ge=50, le=20_000)] = 1000.0
    excluded_land_use: list[str] = Field(
        default_factory=lambda: ["urban_core", "commercial", "residential"])
    rail_share_default: Share = 0.2
    rail_share_max: dict[str, Share] = Field(default_factory=dict)

    def target_mt(self, year: int | None = None) -> float:
        """Multimodal freight target (Mt/yr) in ``year`` (default ``target_year``):
        ``freight_mt_2025 * (1 + freight_growth) ** (year - 2025)``."""
        y = self.target_year if year is None else year
        return self.freight_mt_2025 * (1.0 + self.freight_growth) ** (y - 2025)


class PipeSize(_Section):
    dn: PosInt
    max_mw: Pos
    cost_cny_per_m: Pos
    loss_w_per_m: NonNeg


class RequiredHeatLink(_Section):
    """A heating-network interconnection the plan asks for (``[[heat.required_links]]``).

    The heat of the plants whose name contains ``source`` (case-insensitive) is handed
    to the zone networks of ``zones_in`` in that order (district names or zone ids),
    at least ``min_mw`` (peak) to each, passing on through each network to the next.
    """

    name: str
    source: str = Field(min_length=1)
    zones_in: list[str] = Field(min_length=1)
    min_mw: Pos


class HeatSettings(_Section):
    heat_intensity_w_m2: Pos
    heated_share: Share
    full_load_hours: Annotated[float, Field(gt=0, le=8760)]
    recoverable_share: dict[str, Share]
    low_grade_kinds: list[str] = Field(default_factory=list)
    heat_pump_cop: Annotated[float, Field(gt=1)]
    electricity_cny_per_kwh: NonNeg
    displaced_heat_cny_per_gj: NonNeg
    co2_displaced_t_per_gj: NonNeg
    co2_grid_t_per_mwh: NonNeg
    pumping_share: Share
    unmet_penalty_cny_per_gj: NonNeg
    red_line_crossing: Literal["forbid", "cost"] = "forbid"
    red_line_cost_cny_per_m: NonNeg = 0.0
    pipes: list[PipeSize]
    discount_rate: Annotated[float, Field(ge=0, lt=1)]
    lifetime_years: PosInt
    chp_heated_area_m2: NonNeg | None = None  # None: existing CHP covers every zone's peak
    min_zone_peak_mw: NonNeg = 10.0
    max_link_m: Pos = 30_000.0
    corridor_detour: Annotated[float, Field(ge=0, le=5)] = 0.25
    corridor_routes: Annotated[int, Field(ge=1, le=10)] = 1
    # pipe losses run all season; deliveries and electricity follow full_load_hours
    season_hours: Annotated[float, Field(gt=0, le=8760)] = 2880.0
    # plant kinds whose heat is extra CHP extraction (existing supply), not waste heat;
    # it costs fuel and emits CO2 per GJ (None: as the CHP heat it displaces)
    chp_kinds: list[str] = Field(default_factory=lambda: ["chp"])
    chp_extraction_cny_per_gj: NonNeg | None = None
    chp_extraction_co2_t_per_gj: NonNeg | None = None
    # trunk candidates between zone networks whose gates are this close by road (0: none)
    interconnection_max_m: NonNeg = 0.0
    required_links: list[RequiredHeatLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pipes_sorted(self) -> HeatSettings:
        dns = [p.dn for p in self.pipes]
        if not dns:
            raise ValueError("pipes: the catalogue needs at least one diameter")
        if dns != sorted(set(dns)):
            raise ValueError(f"pipes: DN values must be unique and ascending (got {dns})")
        if self.season_hours < self.full_load_hours:
            raise ValueError(f"season_hours ({self.season_hours:g}) must be at least "
                             f"full_load_hours ({self.full_load_hours:g}): losses run all "
                             f"season")
        names = [link.name for link in self.required_links]
        if len(set(names)) != len(names):
            raise ValueError(f"required_links: names must be unique (got {names})")
        return self

    @property
    def chp_cny_per_gj(self) -> float:
        """Fuel cost of CHP extraction heat (CNY/GJ)."""
        return self.displaced_heat_cny_per_gj if self.chp_extraction_cny_per_gj is None \
            else self.chp_extraction_cny_per_gj

    @property
    def chp_co2_t_per_gj(self) -> float:
        """CO2 of CHP extraction heat (t/GJ)."""
        return self.co2_displaced_t_per_gj if self.chp_extraction_co2_t_per_gj is None \
            else self.chp_extraction_co2_t_per_gj


class FleetSettings(_Section):
    """Fleet electrification targets and the bus depots / taxi hubs that charge them.

    ``buses`` and ``taxis`` of 0 (the default) mean that fleet is not modelled; see
    :func:`siting.chargers.fleet.plan_fleet` for how the rest are used.
    """

    bus_nev_share_2025: Share = 1.0
    taxi_nev_share_2025: Share = 0.8
    buses: NonNegInt = 0
    taxis: NonNegInt = 0
    buses_per_depot_pile: Pos = 2.0
    depot_pile_kw: Pos = 60.0
    depot_peak_coincidence: Share = 1.0
    taxi_sessions_per_day: Pos = 1.5
    taxi_peak_hour_share: Annotated[float, Field(gt=0, le=1)] = 0.12
    hub_pile_kw: Pos = 60.0

    @model_validator(mode="after")
    def _peak_above_mean(self) -> FleetSettings:
        if self.taxi_peak_hour_share < 1.0 / 24.0:
            raise ValueError(f"taxi_peak_hour_share ({self.taxi_peak_hour_share:g}) must be "
                             f">= 1/24 = {1 / 24:.4f}: the peak hour takes at least the mean "
                             "hour's share of a day's arrivals")
        return self


class JointSettings(_Section):
    """How the planners share the grid and the land (``plan --joint``; see
    :mod:`siting.joint`).

    ``enabled``: plan jointly whenever the charger planner runs with another one.
    ``park_mw_per_mt``: a logistics park's electric peak (truck charging and yard
    equipment) per Mt/yr of throughput. ``heat_pump_coincidence``: the share of the heat
    pumps' MW_e that coincides with the charging peak. ``park_radius_m``: the radius of
    the land a park takes round its site, where no charging station may stand and no
    heat source may be (a disc of ``pi r^2``). Loads go to the nearest substation with
    headroom in a straight line, as the charger planner assigns its stations.
    """

    enabled: bool = True
    park_mw_per_mt: NonNeg = 1.0
    heat_pump_coincidence: Share = 1.0
    park_radius_m: NonNeg = 500.0


class ReviewSettings(_Section):
    station_red_line_buffer_m: NonNeg = 0.0
    park_water_buffer_m: NonNeg = 500.0
    park_red_line_buffer_m: NonNeg = 0.0
    pipe_farmland: Literal["underground", "forbid"] = "underground"
    pipe_farmland_extra_cost_cny_per_m: NonNeg = 0.0


class Scenario(_Section):
    """The whole scenario: one frozen, validated object passed explicitly."""

    scenario: MetaSettings
    region: RegionSettings = RegionSettings()
    solver: SolverSettings = SolverSettings()
    chargers: ChargerSettings
    logistics: LogisticsSettings
    heat: HeatSettings
    fleet: FleetSettings = FleetSettings()
    joint: JointSettings = JointSettings()
    review: ReviewSettings = ReviewSettings()

    @property
    def seed(self) -> int:
        return self.scenario.seed

    def replace(self, **changes: Any) -> Scenario:
        """A copy with ``changes`` applied by dotted path, re-validated.

        >>> s = load_scenario(DEFAULT_SCENARIO).replace(**{"solver.time_limit_s": 30})
        >>> s.solver.time_limit_s
        30
        """
        data = self.model_dump()
        for dotted, value in changes.items():
            node: Any = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                if not isinstance(node, dict) or key not in node:
                    raise ConfigError(f"scenario has no setting {dotted!r} ({key!r} is not "
                                      f"a section there)")
                node = node[key]
            if not isinstance(node, dict) or leaf not in node:
                raise ConfigError(f"scenario has no setting {dotted!r}")
            node[leaf] = value
        return _validate(data, source="scenario override")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_scenario(path: str | Path = DEFAULT_SCENARIO) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises:
        ConfigError: the file is missing or not TOML, or has any invalid setting;
            the message lists every problem with its key path.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"scenario file {path} does not exist; pass --scenario with a TOML file "
            f"(the default is {DEFAULT_SCENARIO})"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"scenario file {path} is not valid TOML: {exc}") from None
    return _validate(data, source=str(path))


def _validate(data: dict[str, Any], *, source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        raise ConfigError.collect(problems, context=f"scenario {source}") from None


def _describe(err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc) or "(top level)"
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        known = _known_fields(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], known, n=1)
        tip = f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(known)}"
        return f"{path}: unknown key{tip}"
    if kind == "missing":
        return f"{path}: required setting is missing; add it to the scenario file"
    msg = err["msg"]
    return f"{path}: {msg} (got {got!r})"


def _known_fields(loc: list[str]) -> list[str]:
    model: Any = Scenario
    for key in loc:
        if key.isdigit():
            continue
        field = model.model_fields.get(key)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
                     None)
        if model is None:
            return []
    return sorted(model.model_fields)


# ------------------------------------------------------------------ assumptions

ASSUMPTION_TAG = "assumption"
"""The comment tag (``# [assumption] note``) marking a scenario value as assumed."""


def scenario_assumptions(scenario: Scenario | None = None, *, path: str | Path | None = None,
                         text: str | None = None) -> list[dict[str, Any]]:
    """Every scenario value tagged ``[assumption]`` in the TOML comments, in file order.

    Returns one ``{"key", "value", "note"}`` per tagged value: ``key`` is its dotted
    path (``"chargers.nev_2030"``, ``"chargers.site_types.mall"``, quoted where a
    part is not a bare key: ``'logistics.rail_share_max."power & heat"'``; the
    elements of an array of tables are ``"heat.pipes[0]"``), ``value`` the value
    ``scenario`` holds there (the TOML's own when ``scenario`` is ``None`` or lacks
    it) and ``note`` the comment without the tag. Tags are read from ``text``, else
    from the file ``path`` (default :data:`DEFAULT_SCENARIO`):

    - ``key = value  # [assumption] note`` tags that value (a value spanning lines
      takes a tag from any of its lines);
    - a tag on a table header's line, or in the comment lines right above it (no
      blank line between), tags every value of that table that carries no tag of its
      own (``# [plan] ...`` on a value keeps it out); on an array of tables
      (``[[heat.pipes]]``) it tags the whole array as one entry.

    >>> toml = '''
    ... [chargers]
    ... nev_2025 = 110000   # [plan] the plan's figure
    ... nev_2030 = 250000   # [assumption] stage-2 fleet growth to 2030
    ... [chargers.site_types]          # [assumption] by kind of site
    ... mall = { max_piles = 40 }
    ... '''
    >>> [(a["key"], a["value"], a["note"]) for a in scenario_assumptions(text=toml)]
    [('chargers.nev_2030', 250000, 'stage-2 fleet growth to 2030'), \
('chargers.site_types.mall', {'max_piles': 40}, 'by kind of site')]

    Raises:
        ConfigError: ``text`` (or the file) is not valid TOML or cannot be read.
    """
    if text is None:
        path = Path(path) if path is not None else DEFAULT_SCENARIO
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"scenario file {path}: cannot read its assumptions: {exc}"
                              ) from None
    try:
        own = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {path or 'text'} is not valid TOML: {exc}") from None
    used = scenario.to_dict() if scenario is not None else None
    out = []
    for parts, note in _tagged_values(text, ASSUMPTION_TAG):
        missing = object()
        value = _lookup(used, parts, missing) if used is not None else missing
        if value is missing:
            value = _lookup(own, parts, None)
        out.append({"key": _dotted(parts), "value": value, "note": note})
    return out


def _tagged_values(text: str, tag: str) -> list[tuple[list[str | int], str]]:
    """``(path, note)`` of each value tagged ``[tag]`` (see :func:`scenario_assumptions`)."""
    import re

    tag_re = re.compile(r"\[([A-Za-z][\w-]*)\]")

    def tags(comment: str) -> set[str]:
        return {t.lower() for t in tag_re.findall(comment)}

    def note_of(comments: list[str]) -> str:
        words = " ".join(c.replace(f"[{tag}]", " ") for c in comments)
        return " ".join(words.split()).strip(" ;:,.-")

    lines = text.splitlines()
    out: list[tuple[list[str | int], str]] = []
    table: list[str | int] = []          # the current table's resolved path
    table_note: str | None = None        # its tag's note: inherited by untagged values
    in_listed = False                    # in an array of tables listed as one entry
    arrays: dict[tuple[str, ...], int] = {}    # array-of-tables path -> current index
    listed: set[tuple[str, ...]] = set()       # arrays already listed as one entry
    block: list[str] = []                # comment lines right above the current line
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped:
            block = []
            i += 1
            continue
        if stripped.startswith("#"):
            block.append(stripped[1:].strip())
            i += 1
            continue
        # one statement (a header or key = value), which may span several lines
        body, comments, i = _statement(lines, i)
        if body.lstrip().startswith("["):
            is_array = body.lstrip().startswith("[[")
            header = _toml_path(body.strip())
            if header is None:
                block = []
                continue
            table = _resolve(header, arrays, declaring=is_array)
            tagged = any(tag in tags(c) for c in [*block, *comments])
            table_note = note_of(block + comments) if tagged else None
            if is_array and tagged and tuple(header) not in listed:
                listed.add(tuple(header))
                out.append((table[:-1], table_note or ""))
            in_listed = is_array and tuple(header) in listed
            block = []
            continue
        block = []
        eq = _key_end(body)
        key = _toml_path(body[:eq] + "= 0") if eq is not None else None
        if key is None or in_listed:
            continue
        found = set().union(*map(tags, comments)) if comments else set()
        if tag in found:
            out.append(([*table, *key], note_of(comments)))
        elif table_note is not None and not found:
            extra = note_of(comments)
            out.append(([*table, *key], f"{table_note}; {extra}" if extra else table_note))
    return out


def _statement(lines: list[str], i: int) -> tuple[str, list[str], int]:
    """The statement starting at line ``i``: its text without comments, its comments and
    the index of the line after it (strings, arrays and inline tables may span lines)."""
    body: list[str] = []
    comments: list[str] = []
    quote: str | None = None     # the open string's delimiter
    depth = 0                    # open [ and {
    while i < len(lines):
        line = lines[i]
        i += 1
        j, n = 0, len(line)
        code_end = n
        while j < n:
            ch = line[j]
            if quote is not None:
                if ch == "\\" and quote in ('"', '"""'):
                    j += 2
                    continue
                if line.startswith(quote, j):
                    j += len(quote)
                    quote = None
                    continue
                j += 1
                continue
            if ch == "#":
                comments.append(line[j + 1:].strip())
                code_end = j
                break
            if ch in "\"'":
                quote = ch * 3 if line.startswith(ch * 3, j) else ch
                j += len(quote)
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            j += 1
        if quote is not None and len(quote) == 1:
            quote = None            # an unterminated one-line string: TOML rejects it anyway
        body.append(line[:code_end])
        # a header's brackets are balanced on its own line, so it ends here too
        if quote is None and depth <= 0:
            break
    return "\n".join(body), comments, i


def _key_end(body: str) -> int | None:
    """The index of the ``=`` after a statement's key (outside quotes), if any."""
    quote = None
    for j, ch in enumerate(body):
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return j
    return None


def _toml_path(text: str) -> list[str] | None:
    """The key parts of a header (``[a."b c"]``, ``[[a.b]]``) or of ``key = 0``, by
    letting tomllib parse it; ``None`` when it does not parse."""
    try:
        node: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    parts: list[str] = []
    while isinstance(node, dict | list) and node:
        if isinstance(node, list):
            node = node[0]
            continue
        if len(node) != 1:
            return None
        key, node = next(iter(node.items()))
        parts.append(key)
    return parts or None


def _resolve(header: list[str], arrays: dict[tuple[str, ...], int], *, declaring: bool
             ) -> list[str | int]:
    """A header's path with the current index of each array of tables in it; declaring
    ``[[header]]`` starts its next element."""
    out: list[str | int] = []
    for k, part in enumerate(header):
        out.append(part)
        prefix = tuple(header[:k + 1])
        if declaring and k == len(header) - 1:
            arrays[prefix] = arrays.get(prefix, -1) + 1
        if prefix in arrays:
            out.append(arrays[prefix])
    return out


def _lookup(data: Any, parts: list[str | int], default: Any) -> Any:
    node = data
    for part in parts:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return default
    return node


def _dotted(parts: list[str | int]) -> str:
    """``["heat", "pipes", 0]`` -> ``"heat.pipes[0]"``; parts that are not bare keys
    are quoted as TOML does."""
    import json
    import re

    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part,
                                                                              ensure_ascii=False)
        out += ("." if out else "") + text
    return out
