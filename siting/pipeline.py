"""The pipeline the CLI and the notebooks share.

- ``region``: region source -> Region -> demand cells -> ``region.gpkg``,
  ``region.html``, ``provenance.json`` (and the population raster).
- ``plan``: the same region and demand -> the planners (chargers, logistics, heat)
  -> ``plan.gpkg``, ``plan.html``, ``kpis.json``, ``provenance.json``.

Every step writes into a staging folder and moves the files into ``out`` only when
all of them are complete, so a failure leaves a previous good result untouched.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import pandas as pd

from siting.config import DEFAULT_SCENARIO, Scenario, load_scenario, scenario_assumptions
from siting.errors import InfeasibleError, InputError
from siting.io import atomic_dir, write_json
from siting.models.base import SolverOptions
from siting.planners import ItemDecisions, PlannerOutput, solver_options
from siting.region import Region
from siting.region.user_layers import CONSTRAINT_LAYERS  # red_line, water, farmland

logger = logging.getLogger(__name__)


#: planner inputs a user may give (``--layer NAME=FILE``), with what each one is
PLANNER_LAYERS: Mapping[str, str] = MappingProxyType({
    "pois": "charger candidate sites, added to the region's (points or polygons; "
            "optional site_type, max_piles, id, name columns)",
    "land_use": "land-use polygons with a land_use class; charger candidates are drawn "
                "in them",
    "rail_stations": "railway stations (points) for logistics",
    "rail_lines": "railway lines for logistics rail access",
    "industrial_zones": "freight sources for logistics",
    "heat_sources": "plants with waste heat (points)",
    "heat_zones": "heating zones (polygons), instead of zones from the demand cells",
    "substations": "substations with headroom for the charger grid check",
})
#: every name ``--layer NAME=FILE`` accepts: one list for the CLI, the API and checks
USER_LAYERS = (*CONSTRAINT_LAYERS, *PLANNER_LAYERS)


def check_layer_names(names: Iterable[str]) -> None:
    """Raise one :class:`InputError` naming every unknown user layer, with the known
    names and the closest one ("did you mean")."""
    import difflib

    problems = []
    for name in names:
        if name in USER_LAYERS:
            continue
        close = difflib.get_close_matches(name, USER_LAYERS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(f"unknown layer name {name!r}{hint}")
    if problems:
        raise InputError.collect(problems, context=(
            f"--layer NAME=FILE: the known names are the constraint layers "
            f"{', '.join(CONSTRAINT_LAYERS)} and the planner inputs "
            f"{', '.join(PLANNER_LAYERS)}"))


def layer_reach_m(scenario: Scenario) -> dict[str, float]:
    """How far outside the region's boundary each user layer's features are kept (m):
    the planners' own reach. Heat sources: ``heat.max_link_m`` (the longest pipe link);
    rail stations and lines: ``logistics.rail_access_m``; substations:
    ``chargers.service_radius_m``. Every other layer: 0 (the boundary itself; candidate
    sites, zones and constraints belong to the region). See
    :mod:`siting.region.user_layers`."""
    return {"heat_sources": float(scenario.heat.max_link_m),
            "rail_stations": float(scenario.logistics.rail_access_m),
            "rail_lines": float(scenario.logistics.rail_access_m),
            "substations": float(scenario.chargers.service_radius_m)}


@dataclass(frozen=True)
class RegionSource:
    """Where a region comes from: the embedded Zibo demo (default), a file or a place.

    ``boundary``, ``population`` and ``constraints`` are optional user layers
    (GeoPackage, Shapefile, GeoJSON; GeoTIFF for population) in any CRS.
    ``constraints`` maps a name of :data:`USER_LAYERS` to a file; unknown names are an
    error. On the demo, user layers are applied (replacing the demo's; ``pois`` adds
    candidates), and ``boundary``, ``population`` and ``population_total`` are refused
    (the demo's boundary and census are Zibo's).
    """

    osm: Path | None = None
    place: str | None = None
    boundary: Path | None = None
    population: Path | None = None
    population_total: float | None = None
    constraints: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.osm is not None and self.place is not None:
            raise InputError("give either --osm FILE or --place NAME, not both")
        check_layer_names(self.constraints)
        if self.is_demo:
            refused = [
                f"{flag} {value}: the demo's {what} is Zibo's; use --osm FILE (or --place "
                f"NAME) with {flag}" for flag, value, what in (
                    ("--boundary", self.boundary, "boundary"),
                    ("--population", self.population, "population (the 2020 census)"),
                    ("--population-total", self.population_total,
                     "population (the 2020 census)"))
                if value is not None]
            if refused:
                raise InputError.collect(refused, context="the embedded Zibo demo (no --osm)")

    @property
    def is_demo(self) -> bool:
        return self.osm is None and self.place is None


@dataclass(frozen=True)
class RegionRun:
    region: Region
    demand: gpd.GeoDataFrame
    summary: pd.DataFrame
    out: Path
    files: tuple[Path, ...]


def build_region(scenario: Scenario, source: RegionSource = RegionSource(), *,
                 workdir: Path | None = None, progress: bool = False) -> Region:
    """Build the region named by ``source`` with the scenario's seed and resolution."""
    if source.is_demo:
        from siting.region.zibo import build_zibo_region

        demo = build_zibo_region(
            seed=scenario.seed, road_detail=scenario.region.road_detail,
            cell_size_m=scenario.region.cell_size_m,
            freight_total_mt=scenario.logistics.source_freight_mt,
            workdir=workdir, progress=progress)
        return _with_user_layers(demo, source.constraints, layer_reach_m(scenario))
    from siting.region import osm

    options: dict[str, Any] = dict(
        boundary=source.boundary, population_raster=source.population,
        constraint_layers=source.constraints or None,
        population_total=source.population_total, workdir=workdir, progress=progress,
        layer_reach_m=layer_reach_m(scenario),
        freight_total_mt=scenario.logistics.source_freight_mt)  # over OSM industrial land
    if source.osm is not None:
        return osm.region_from_osm_file(source.osm, **options)
    assert source.place is not None
    return osm.region_from_place(source.place, **options)


def _with_user_layers(region: Region, layers: Mapping[str, Path], reach_m: Mapping[str, float]
                      ) -> Region:
    """``region`` (the demo) with the user's layers applied: each replaces the demo's
    layer of that name (and is no longer synthetic), ``pois`` adds candidate sites."""
    if not layers:
        return region
    from siting.region.user_layers import apply_user_layers

    sources = dict(region.sources)
    area = region.boundary.geometry.iloc[0]
    new = apply_user_layers(region.layers, layers, area=area, crs=region.crs,
                            reach_m=reach_m, sources=sources, label=region.name)
    replaced = sorted(set(layers) & set(region.layers))
    if replaced:
        logger.warning("%s: user layers replace the demo's %s (the synthetic roads and "
                       "population were drawn around the demo's own layers)", region.name,
                       ", ".join(replaced))
    return replace(region, layers=new, sources=sources,
                   synthetic=region.synthetic - set(layers))


def region_demand(region: Region, scenario: Scenario) -> gpd.GeoDataFrame:
    """Demand cells (population, NEVs, charging sessions, heat) for ``region``."""
    from siting.demand import demand_cells

    if "demand_cells" in region.layers:
        return region.layers["demand_cells"]
    if "population" not in region.rasters:
        raise InputError(
            f"region {region.name!r} has no population raster; pass --population FILE.tif")
    c, h = scenario.chargers, scenario.heat
    _warn_if_targets_do_not_fit(region, scenario)
    floor_area = (None if "floor_area_m2_per_person" in region.districts.columns
                  else scenario.region.floor_area_m2_per_person)
    return demand_cells(
        region.rasters["population"], region.districts, nev_total=c.nev_2025,
        sessions_per_nev_day=c.sessions_per_nev_day,
        heat_intensity_w_m2=h.heat_intensity_w_m2, heated_share=h.heated_share,
        full_load_hours=h.full_load_hours, crs=region.crs,
        floor_area_m2_per_person=floor_area)


def _warn_if_targets_do_not_fit(region: Region, scenario: Scenario) -> None:
    """Warn when a scenario written for one population is applied to a very different one."""
    planned = scenario.scenario.population
    actual = float(region.districts["population"].sum()) if "population" in \
        region.districts.columns else None
    if planned and actual and not 0.5 <= actual / planned <= 2.0:
        logger.warning(
            "scenario %r sets targets (e.g. %s NEVs) for %s people, but region %r has %s; "
            "use a scenario with targets scaled to this region", scenario.scenario.name,
            f"{scenario.chargers.nev_2025:,}", f"{planned:,}", region.name, f"{actual:,.0f}")


def district_summary(region: Region, demand: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-district totals: census population, demand population, NEVs, sessions, heat."""
    cols = {"population": "sum", "nev": "sum", "ev_sessions_day": "sum",
            "heat_peak_mw": "sum", "heat_annual_gj": "sum"}
    present = {k: v for k, v in cols.items() if k in demand.columns}
    agg = demand.groupby("district").agg(present).rename(
        columns={"population": "cell_population"})
    agg["cells"] = demand.groupby("district").size()
    base = region.districts.set_index("name")[["population"]]
    table = base.join(agg, how="left").fillna(0)
    table.index.name = "district"
    total = table.sum(numeric_only=True).rename("TOTAL")
    return pd.concat([table, total.to_frame().T])


def run_region(scenario: Scenario, source: RegionSource = RegionSource(), *,
               out: Path, scenario_path: Path | None = DEFAULT_SCENARIO,
               progress: bool = False) -> RegionRun:
    """Build a region and write ``region.gpkg``, ``region.html`` and ``provenance.json``.

    All files are staged and moved into ``out`` only when every one of them has been
    written, so a failure leaves a previous good result untouched.
    """
    from siting.export import provenance, region_layers, write_gpkg
    from siting.maps import region_map

    out = Path(out)
    with atomic_dir(out, kind="region") as stage:
        region = build_region(scenario, source, workdir=stage / "_work", progress=progress)
        demand = region_demand(region, scenario)
        layers = region_layers(region, extra={"demand_cells": demand})
        rasters = {}
        for name, raster in region.rasters.items():
            dest = stage / f"{name}.tif"
            shutil.copyfile(raster.path, dest)
            rasters[name] = replace(raster, path=out / dest.name)
        shutil.rmtree(stage / "_work", ignore_errors=True)
        write_gpkg(stage / "region.gpkg", layers)
        region_map(region, stage / "region.html", layers=layers)
        prov = provenance(region=region, scenario=scenario, scenario_path=scenario_path,
                          layers=layers,
                          extra={"rasters": {k: {"path": str(v.path), "units": v.units,
                                                 "synthetic": v.synthetic}
                                             for k, v in rasters.items()},
                                 **scenario_assumption_record(scenario, scenario_path)})
        write_json(stage / "provenance.json", prov)
        files = tuple(sorted(out / p.relative_to(stage) for p in stage.rglob("*")
                             if p.is_file()))
    summary = district_summary(region, demand)
    return RegionRun(region=replace(region, rasters=rasters), demand=demand, summary=summary,
                     out=out, files=files)


def scenario_assumption_record(scenario: Scenario, scenario_path: Path | None
                               ) -> dict[str, Any]:
    """``provenance.json``'s ``assumptions``: every value of ``scenario`` tagged
    ``[assumption]`` in its file (``{"key", "value", "note"}``, see
    :func:`siting.config.scenario_assumptions`), and ``assumptions_file``, the file
    the tags were read from: ``scenario_path``, or the embedded default scenario when
    the scenario came without a file (the values are always the run's own)."""
    path = Path(scenario_path) if scenario_path is not None else DEFAULT_SCENARIO
    return {"assumptions": scenario_assumptions(scenario, path=path),
            "assumptions_file": str(path)}


def load(scenario_path: Path | None) -> Scenario:
    return load_scenario(scenario_path or DEFAULT_SCENARIO)


def preflight(region: Region, demand: gpd.GeoDataFrame, scenario: Scenario,
              specs: Sequence[Any]) -> None:
    """Every chosen planner's cheap capacity checks, before any solve: every problem
    found is reported at once (:class:`~siting.errors.InfeasibleError`, exit 2)."""
    problems = [p for spec in specs if spec.preflight is not None
                for p in spec.preflight(region, demand, scenario)]
    if problems:
        body = "\n".join(f"  - {p}" for p in problems)
        raise InfeasibleError(f"the scenario's targets cannot be met in region "
                              f"{region.name!r} ({len(problems)} problem(s)):\n{body}",
                              constraint="preflight")


def check_planner_layers(region: Region, planners: Sequence[str],
                         scenario: Scenario | None = None) -> None:
    """Raise one :class:`InputError` listing every layer the chosen planners lack (none
    for a planner the scenario gives nothing to plan: ``PlannerSpec.needs_inputs``)."""
    from siting.registry import planner_specs

    have = [k for k, v in region.layers.items() if len(v)]
    problems = [f"{spec.name} needs layer {missing}" for spec in planner_specs(planners)
                for missing in spec.missing_inputs(have, scenario)]
    if problems:
        listed = ", ".join(sorted(have)) or "none"
        raise InputError.collect(problems, context=(
            f"region {region.name!r} (it has: {listed}); supply each missing layer with "
            f"--layer NAME=FILE, or run only the planners it can serve "
            f"(e.g. python cli.py chargers)"))


#: region layers copied into every plan.gpkg for context and review
CONTEXT_LAYERS = ("boundary", "districts", "red_line", "water", "farmland", "rail_stations",
                  "substations")


def plan_decisions(path: Path | None) -> dict[str, ItemDecisions]:
    """Reviewer decisions per planner (name -> ItemDecisions) from a decisions file."""
    from siting.registry import PLANNERS, decidable_layers

    out = {name: ItemDecisions() for name in PLANNERS}
    if path is None:
        return out
    import re

    from siting.registry import layer_specs
    from siting.review import read_decisions

    by_layer = decidable_layers()
    specs = layer_specs()
    problems = []
    for layer, items in read_decisions(path).by_layer().items():
        if layer not in by_layer:
            raise InputError(f"decisions file {path}: layer {layer!r} is not a plan layer; "
                             f"expected one of {', '.join(sorted(by_layer))}")
        pattern = specs[layer].id_pattern if layer in specs else None
        if pattern is not None:  # ids that cannot be this layer's: refused before any work
            bad = sorted(i for i in items.approved | items.rejected if not re.match(pattern, i))
            if bad:
                problems.append(f"{layer}: ids {bad[:5]} are not {layer} ids (they match "
                                f"{pattern!r})")
        out[by_layer[layer]] = items
    if problems:
        raise InputError.collect(problems, context=f"decisions file {path}: check that it "
                                 f"belongs to this region and scenario")
    return out


@dataclass(frozen=True, eq=False)
class Plan:
    """A solved plan, in memory: what ``python cli.py plan`` writes, before it is written.

    Attributes:
        region: the region planned (metric CRS inside).
        scenario: the validated scenario.
        outputs: planner name -> :class:`~siting.planners.PlannerOutput` (metric CRS).
        kpis: the ``kpis.json`` content: ``targets`` (the plan's targets, each met or
            not, with the shortfall) and one section per planner.
        provenance: the ``provenance.json`` content (inputs, scenario, seed, versions,
            solvers, time).
        layers: every ``plan.gpkg`` layer, in EPSG:4326 (the region's context layers,
            the demand cells and each planner's layers).

    ``write(dir)`` writes ``plan.gpkg``, ``plan.html``, ``kpis.json`` and
    ``provenance.json`` atomically; ``explore()`` returns a :class:`folium.Map` for a
    notebook, as :meth:`geopandas.GeoDataFrame.explore` does.
    """

    region: Region = field(repr=False)
    scenario: Scenario = field(repr=False)
    outputs: Mapping[str, PlannerOutput] = field(repr=False)
    kpis: Mapping[str, Any] = field(repr=False)
    provenance: Mapping[str, Any] = field(repr=False)
    metric_layers: Mapping[str, gpd.GeoDataFrame] = field(repr=False)
    radius_m: float | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (f"Plan({self.region.name!r}, planners={list(self.outputs)}, "
                f"layers={len(self.metric_layers)})")

    @cached_property
    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Every plan layer in EPSG:4326 (what ``plan.gpkg`` holds)."""
        from siting.export import EDGE_CRS

        return {name: frame.to_crs(EDGE_CRS) for name, frame in self.metric_layers.items()}

    @property
    def planners(self) -> tuple[str, ...]:
        return tuple(self.outputs)

    @property
    def lang(self) -> str:
        """The default language of the plan's pages and summary: ``zh`` for Zibo's
        scenarios (the demo, or a region or scenario named Zibo/淄博), else ``en``."""
        from siting.i18n import default_lang

        return default_lang(self.region.name, self.scenario.scenario.name)

    def write(self, out: str | Path, *, lang: str | None = None) -> tuple[Path, ...]:
        """Write the plan's files into ``out`` atomically; return their paths.

        ``lang`` (``"en"`` or ``"zh"``) is the language of ``plan.html``'s labels;
        English by default (the CLI passes :attr:`lang`, Chinese for Zibo's plans).

        A failure leaves any previous plan in ``out`` as it was. A folder that holds a
        plan of more planners is refused (a single planner's run would drop the others'
        layers and KPIs): :class:`~siting.errors.InputError`.
        """
        from siting.export import write_gpkg
        from siting.styles import write_styles

        out = Path(out)
        check_fewer_planners(out, self.planners)
        with atomic_dir(out, kind="plan") as stage:
            write_gpkg(stage / "plan.gpkg", self.metric_layers, styles=write_styles)
            write_json(stage / "kpis.json", dict(self.kpis))
            _plan_map(self.region, self.metric_layers, self.kpis, stage / "plan.html",
                      plan_gpkg=stage / "plan.gpkg", radius_m=self.radius_m,
                      lang=lang or "en", currency=self.scenario.scenario.currency)
            write_json(stage / "provenance.json", dict(self.provenance))
            files = tuple(sorted(out / q.relative_to(stage) for q in stage.rglob("*")
                                 if q.is_file()))
        logger.info("wrote %s", ", ".join(str(f) for f in files))
        return files

    def explore(self, **kwargs: Any) -> Any:
        """An interactive :class:`folium.Map` of the plan (see
        :func:`siting.maps.explore.explore_plan`)."""
        from siting.maps.explore import explore_plan

        return explore_plan(self, **kwargs)


@dataclass(frozen=True)
class PlanRun:
    """What :func:`run_plan` wrote: the plan, the folder and the files."""

    plan: Plan
    out: Path
    files: tuple[Path, ...]

    @property
    def region(self) -> Region:
        return self.plan.region

    @property
    def outputs(self) -> Mapping[str, PlannerOutput]:
        return self.plan.outputs

    @property
    def kpis(self) -> Mapping[str, Any]:
        return self.plan.kpis


def make_plan(scenario: Scenario, source: RegionSource | Region = RegionSource(), *,
              planners: Sequence[str] | None = None, decisions: Path | None = None,
              solver: str | SolverOptions | None = None, time_limit_s: float | None = None,
              scenario_path: Path | None = DEFAULT_SCENARIO, progress: bool = False,
              joint: bool | None = None) -> Plan:
    """Run the planners on one region and return the :class:`Plan`, in memory.

    ``joint`` (default: ``[joint] enabled``): when the charger planner runs with another
    one, plan them on one grid and one land (:mod:`siting.joint`); ``kpis["joint"]``
    then compares the joint plan with the planners run one after another.

    ``source`` is where the region comes from (the embedded Zibo demo by default) or a
    :class:`~siting.region.Region` already built. Decisions are read and checked
    before any region is built or anything solved.

    Raises:
        InputError, InfeasibleError: bad input or an infeasible target (exit code 2).
        SolverError: the solver found no feasible solution in its time limit (exit 3).
        CheckError: a planner's independent checker rejected its plan (a bug, exit 1).
    """
    from siting.export import provenance, region_layers
    from siting.io import file_sha256
    from siting.registry import planner_specs

    specs = planner_specs(planners)
    per_planner = plan_decisions(decisions)
    options = _solver_options(scenario, solver, time_limit_s)
    # the region's rasters go to the content-keyed cache (not a temporary folder) so
    # the returned Plan's region stays usable, e.g. siting.plan(region=plan.region)
    region = source if isinstance(source, Region) else build_region(
        scenario, source, progress=progress)
    check_planner_layers(region, [s.name for s in specs], scenario)
    demand = region_demand(region, scenario)
    preflight(region, demand, scenario, specs)
    outputs: dict[str, PlannerOutput] = {}
    for spec in specs:
        logger.info("planning %s", spec.name)
        outputs[spec.name] = spec.plan(region, demand, scenario,
                                       decisions=per_planner[spec.name], solver=options,
                                       progress=progress)
    joint_kpis = None
    if "chargers" in outputs and len(outputs) > 1:  # they share the grid and the land
        from siting.joint import plan_jointly

        replan = {spec.name: partial(spec.plan, region, demand, scenario, solver=options,
                                     progress=progress)
                  for spec in specs if spec.name in ("chargers", "heat", "logistics")}
        report = plan_jointly(outputs, scenario=scenario, crs=region.crs, replan=replan,
                              decisions=per_planner,
                              enabled=scenario.joint.enabled if joint is None else joint)
        outputs, joint_kpis = report.outputs, report.kpis
    layers = region_layers(region, extra={"demand_cells": demand},
                           names=(*CONTEXT_LAYERS, "demand_cells"))
    for output in outputs.values():
        for name, frame in output.layers.items():
            frame = frame.copy()
            if "synthetic" not in frame.columns:
                frame["synthetic"] = bool(region.synthetic)
            layers[name] = frame
    targets = [target.to_dict() for spec in specs if spec.targets is not None
               for target in spec.targets(outputs[spec.name].kpis, scenario)]
    kpis: dict[str, Any] = {"targets": targets}
    kpis.update({name: dict(output.kpis) for name, output in outputs.items()})
    if joint_kpis is not None:
        kpis["joint"] = joint_kpis
    for target in targets:
        if not target["met"]:
            logger.warning("target %s not met: %s (%s %s, achieved %s)", target["id"],
                           target["text"], target["comparison"], target["target"],
                           target["achieved"])
    extra: dict[str, Any] = {"planners": list(outputs),
                             **scenario_assumption_record(scenario, scenario_path)}
    if joint_kpis is not None:
        extra["joint"] = {k: joint_kpis[k] for k in ("status", "mip_gap", "method", "steps")}
    if decisions is not None:
        extra["decisions_file"] = {"path": str(decisions), "sha256": file_sha256(decisions)}
    prov = provenance(
        region=region, scenario=scenario, scenario_path=scenario_path, layers=layers,
        solvers={name: solver_record(o) for name, o in outputs.items()},
        extra=extra)
    radius = scenario.chargers.service_radius_m if "chargers" in outputs else None
    return Plan(region=region, scenario=scenario, outputs=outputs, kpis=kpis, provenance=prov,
                metric_layers=layers, radius_m=radius)


def solver_record(output: PlannerOutput) -> dict[str, Any] | None:
    """A planner's solver figures for ``provenance.json``: the solver's summary, with
    the planner's own ``status`` where that says more (what was proven, e.g. heat's
    optimum over its candidate routes, or that there was nothing to plan) and the
    scope of the proof (``proven_over``, ``nothing_to_plan``) when the planner gives
    one. ``None`` when nothing was solved and the planner says nothing either."""
    told = {k: output.kpis[k] for k in ("proven_over", "nothing_to_plan")
            if k in output.kpis}
    if output.result is None:
        return {"status": output.kpis["status"], **told} if "status" in output.kpis \
            else None
    record = output.result.summary()
    if "status" in output.kpis:
        record["status"] = output.kpis["status"]
    return {**record, **told}


def _solver_options(scenario: Scenario, solver: str | SolverOptions | None,
                    time_limit_s: float | None) -> SolverOptions:
    if isinstance(solver, SolverOptions):
        if time_limit_s is not None:
            return replace(solver, time_limit_s=time_limit_s)
        return solver
    return solver_options(scenario.solver, time_limit_s=time_limit_s, name=solver,
                          seed=scenario.seed)


def run_plan(scenario: Scenario, source: RegionSource = RegionSource(), *, out: Path,
             planners: Sequence[str] | None = None, decisions: Path | None = None,
             solver: str | None = None, time_limit_s: float | None = None,
             scenario_path: Path | None = DEFAULT_SCENARIO, progress: bool = False) -> PlanRun:
    """Run the planners on one region and write the plan outputs into ``out``.

    The CLI's ``plan`` command: :func:`make_plan`, then :meth:`Plan.write`.
    """
    plan = make_plan(scenario, source, planners=planners, decisions=decisions, solver=solver,
                     time_limit_s=time_limit_s, scenario_path=scenario_path, progress=progress)
    files = plan.write(out)
    return PlanRun(plan=plan, out=Path(out), files=files)


def check_fewer_planners(out: Path, planners: Sequence[str]) -> None:
    """Refuse to replace a plan of more planners with this one (see :meth:`Plan.write`)."""
    import json

    from siting.io import read_runs

    if "plan" not in read_runs(out):
        return
    try:
        kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(kpis, dict):
        return
    from siting.registry import PLANNERS

    held = [name for name in PLANNERS if name in kpis]
    lost = [name for name in held if name not in planners]
    if lost:
        raise InputError(
            f"output folder {out} holds a plan of {', '.join(held)}; writing only "
            f"{', '.join(planners)} there would drop {', '.join(lost)}. Choose another "
            f"--out (e.g. {out}-{'-'.join(planners)}), or run `plan` for all of them")


def _plan_map(region: Region, layers: Mapping[str, gpd.GeoDataFrame],
              kpis: Mapping[str, Any], path: Path, *, plan_gpkg: Path,
              radius_m: float | None, lang: str = "en", currency: str = "CNY") -> None:
    from siting.maps import basemap_roads, plan_map
    from siting.review import plan_id

    synthetic = {name for name, frame in layers.items()
                 if "synthetic" in frame.columns and frame["synthetic"].astype(bool).all()}
    plan_map(layers, path, kpis=kpis, title=region.name, attribution=list(region.attribution),
             synthetic=synthetic | set(region.synthetic), basemap_roads=basemap_roads(region),
             coverage_radius_m=radius_m, plan_id=plan_id(plan_gpkg), lang=lang,
             currency=currency)


def render_map(plan_gpkg: str | Path, out: str | Path | None = None, *,
               lang: str | None = None) -> Path:
    """Re-render ``plan.html`` from a written plan, without solving; return its path.

    Reads ``plan_gpkg`` (every layer but QGIS's ``layer_styles``, through
    :func:`siting.review.read_plan`) and ``kpis.json`` beside it; ``provenance.json``,
    when present, gives the title, credits, synthetic layers and service radius.
    ``plan.html`` is written into ``out`` (default: the plan's folder) atomically, and
    nothing else there is touched. ``lang``: ``"en"`` or ``"zh"``; by default Chinese
    for Zibo's plans (region or scenario named Zibo/淄博), English elsewhere. The plan
    has no road network, so the offline base map is drawn from a ``roads`` layer only
    when the GeoPackage holds one.

    Raises:
        InputError: ``plan_gpkg`` or ``kpis.json`` is missing or unreadable.
    """
    import json

    from siting.i18n import check_lang, default_lang
    from siting.maps import plan_map
    from siting.maps.page import MAIN_ROADS
    from siting.review import plan_id, read_plan

    plan_gpkg = Path(plan_gpkg)
    kpis_path = plan_gpkg.parent / "kpis.json"
    if not plan_gpkg.is_file():
        raise InputError(f"plan file {plan_gpkg} does not exist; give the plan.gpkg that "
                         "`cli.py plan --out DIR` wrote (DIR/plan.gpkg)")
    if not kpis_path.is_file():
        raise InputError(f"{kpis_path} does not exist; `map` needs the kpis.json that "
                         f"`cli.py plan` wrote beside {plan_gpkg.name}")
    try:
        kpis = json.loads(kpis_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{kpis_path} cannot be read as JSON ({exc})") from None
    if not isinstance(kpis, dict):
        raise InputError(f"{kpis_path}: expected a JSON object of KPI groups")
    prov: dict[str, Any] = {}
    prov_path = plan_gpkg.parent / "provenance.json"
    if prov_path.is_file():
        try:
            loaded = json.loads(prov_path.read_text(encoding="utf-8"))
            prov = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            logger.warning("%s cannot be read; the map has no title or credits from it",
                           prov_path)
    layers = read_plan(plan_gpkg)
    scenario = _section(prov, "scenario")
    meta = _section(scenario, "scenario")
    region = str(prov.get("region") or plan_gpkg.parent.name)
    lang = check_lang(lang) if lang else default_lang(region, meta.get("name"))
    radius = None
    if "charging_stations" in layers:
        radius = _section(scenario, "chargers").get("service_radius_m")
    synthetic = {name for name, frame in layers.items()
                 if "synthetic" in frame.columns and frame["synthetic"].astype(bool).all()}
    synthetic |= {str(n) for n in prov.get("synthetic_layers", []) or []}
    roads = layers.get("roads")
    if roads is not None and "highway" in roads.columns:
        roads = roads[roads["highway"].astype(str).str.startswith(tuple(MAIN_ROADS))]
    path = Path(out if out is not None else plan_gpkg.parent) / "plan.html"
    return plan_map(layers, path, kpis=kpis, title=region,
                    attribution=[str(a) for a in prov.get("attribution", []) or []],
                    synthetic=synthetic, basemap_roads=roads,
                    coverage_radius_m=float(radius) if radius else None,
                    plan_id=plan_id(plan_gpkg), lang=lang,
                    currency=str(meta.get("currency") or "CNY"))


def _section(record: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``record[key]`` when it is a JSON object, else ``{}`` (provenance read leniently)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}
