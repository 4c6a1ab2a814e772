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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from siting.errors import ConfigError

__all__ = [
    "DEFAULT_SCENARIO",
    "ChargerSettings",
    "ChargerSiteType",
    "HeatSettings",
    "LogisticsSettings",
    "RegionSettings",
    "ReviewSettings",
    "Scenario",
    "SolverSettings",
    "load_scenario",
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
        ("public_institution", 20, True, True), ("existing_station", 60, True, True))}


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
    site_types: dict[str, ChargerSiteType] = Field(default_factory=_default_site_types)

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

    @model_validator(mode="after")
    def _pipes_sorted(self) -> HeatSettings:
        dns = [p.dn for p in self.pipes]
        if not dns:
            raise ValueError("pipes: the catalogue needs at least one diameter")
        if dns != sorted(set(dns)):
            raise ValueError(f"pipes: DN values must be unique and ascending (got {dns})")
        return self


class FleetSettings(_Section):
    """Fleet electrification targets (reported; no fleet demand is modelled yet)."""

    bus_nev_share_2025: Share = 1.0
    taxi_nev_share_2025: Share = 0.8


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
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node[key]
            if leaf not in node:
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
