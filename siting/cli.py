"""Command-line interface (the contract is in DESIGN.md).

Exit codes: 0 success; 2 bad input or infeasible target; 3 solver time limit with no
feasible solution; 1 a bug. Errors print one message and no traceback unless
``--debug`` is given.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from siting.errors import InputError, SitingError

logger = logging.getLogger("siting.cli")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", type=Path, default=None,
                   help="scenario TOML (default: data/zibo/scenario.toml)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: maps/<region>: maps/zibo for the demo, "
                        "maps/<file name> for --osm, maps/<place> for --place)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.add_argument("--no-cache", action="store_true",
                   help="compute network costs afresh: read and write no cache")


def _region_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--osm", type=Path, metavar="FILE",
                     help="local OSM file: .osm, .osm.bz2, .osm.pbf or .graphml")
    src.add_argument("--place", metavar="NAME",
                     help='place name to download through osmnx (online), e.g. "Zibo, China"')
    p.add_argument("--boundary", type=Path, metavar="FILE",
                   help="boundary layer (GeoPackage, Shapefile, GeoJSON; any CRS)")
    p.add_argument("--population", type=Path, metavar="FILE.tif|N",
                   help="population raster (GeoTIFF, any CRS), or a number: the region's "
                        "total population (as --population-total)")
    p.add_argument("--population-total", type=float, metavar="N",
                   help="total population when no raster is given (scales the proxy)")
    from siting.pipeline import CONSTRAINT_LAYERS, PLANNER_LAYERS  # the one list of names

    p.add_argument("--layer", "--constraint", dest="constraint", action="append", default=[],
                   metavar="NAME=FILE",
                   help=f"user layer (any CRS), repeatable: constraints "
                        f"{', '.join(CONSTRAINT_LAYERS)} (replace the region's); planner "
                        f"inputs {', '.join(PLANNER_LAYERS)} (pois adds candidate sites, "
                        f"with optional site_type, max_piles and id columns; the others "
                        f"replace the region's). Points outside the boundary are kept "
                        f"within the planners' reach (heat sources: heat.max_link_m; rail: "
                        f"logistics.rail_access_m); whatever is dropped is a WARNING")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cli.py", description="Site charging piles, logistics parks and waste-heat pipes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("region", help="build a region (Zibo demo or OSM) and a quick-look map")
    _common(p)
    _region_args(p)
    p.set_defaults(func=cmd_region)

    p = sub.add_parser("plan", help="run every planner and write plan.gpkg, plan.html, kpis.json")
    _common(p)
    _region_args(p)
    _plan_args(p)
    p.set_defaults(func=cmd_plan, planners=None)  # every planner in siting.registry
    for name, text in (("chargers", "site charging stations and piles"),
                       ("logistics", "site the multimodal logistics parks"),
                       ("heat", "route industrial waste heat to the heating networks")):
        p = sub.add_parser(name, help=f"{text} (one planner of `plan`)")
        _common(p)
        _region_args(p)
        _plan_args(p)
        p.set_defaults(func=cmd_plan, planners=(name,))

    p = sub.add_parser("map", help="re-render plan.html from a plan's plan.gpkg and kpis.json, "
                                   "without solving")
    p.add_argument("--plan", type=Path, required=True, metavar="DIR/plan.gpkg",
                   help="the plan.gpkg to draw (kpis.json beside it)")
    _lang_arg(p)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: the plan's); only plan.html is written")
    p.add_argument("--quiet", action="store_true", help="no info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("init", help="write a scenario for your own region: the Zibo plan's "
                                    "targets scaled by its population")
    _region_args(p)
    p.add_argument("--out", type=Path, required=True, metavar="scenario.toml",
                   help="scenario file to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_init, scenario=None)

    p = sub.add_parser("cache", help="the network-cost cache: `cache clear` empties it")
    p.add_argument("action", choices=["clear", "info"])
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("review", help="check a plan against the red line, farmland and water "
                                      "(exit 0 if clean, 4 if there are violations)")
    p.add_argument("--plan", type=Path, required=True, metavar="DIR/plan.gpkg",
                   help="the plan.gpkg to review")
    p.add_argument("--constraints", type=Path, action="append", default=[], metavar="FILE",
                   help="constraint layers (GeoPackage with red_line/farmland/water layers, or a "
                        "Shapefile/GeoJSON named after its layer); default: the plan's own")
    p.add_argument("--scenario", type=Path, default=None,
                   help="scenario TOML whose [review] rules apply (default: the Zibo scenario)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the plan's)")
    _lang_arg(p)
    p.add_argument("--quiet", action="store_true", help="no info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("diff", help="compare two plans: items added, removed and changed, "
                                    "and the change in each KPI")
    p.add_argument("a", type=Path, metavar="A/plan.gpkg")
    p.add_argument("b", type=Path, metavar="B/plan.gpkg")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: B's folder)")
    _lang_arg(p)
    p.add_argument("--quiet", action="store_true", help="no info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("export", help="reproject a plan for GIS desktops (CGCS2000, "
                                      "Gauss-Kruger): GeoPackage or Shapefiles")
    p.add_argument("--plan", type=Path, required=True, metavar="DIR/plan.gpkg",
                   help="the plan.gpkg to export")
    p.add_argument("--crs", required=True, metavar="EPSG:CODE",
                   help="target CRS: EPSG:4490 (CGCS2000) or a 3-degree Gauss-Kruger zone, "
                        "EPSG:4548 for Zibo (CM 117E)")
    p.add_argument("--format", dest="fmt", choices=("gpkg", "shp", "dxf"), default="gpkg",
                   help="GeoPackage (one file, QGIS styles), Shapefiles (one per layer) or "
                        "DXF for CAD (geometry on a CAD layer per plan layer)")
    p.add_argument("--encoding", default="UTF-8", metavar="UTF-8|GBK",
                   help="Shapefile attribute encoding, stated in each .cpg (default UTF-8)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("decisions", help="work with reviewers' decisions files")
    dsub = p.add_subparsers(dest="decisions_command", required=True, metavar="ACTION")
    p = dsub.add_parser("merge", help="combine several reviewers' decisions.geojson files "
                                      "(exit 4 when reviewers disagree)")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE.geojson",
                   help="decisions files, one per reviewer or department")
    p.add_argument("--out", type=Path, required=True, metavar="merged.geojson",
                   help="the merged decisions file to write")
    p.add_argument("--quiet", action="store_true", help="no info logs")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    p.set_defaults(func=cmd_decisions_merge)
    _sweep_parser(sub)
    return parser


def cmd_export(args: argparse.Namespace) -> int:
    from siting.export import export_plan
    from siting.styles import write_styles

    result = export_plan(args.plan, args.out, crs=args.crs, fmt=args.fmt,
                         encoding=args.encoding, styles=write_styles)
    print(f"Exported {args.plan} in {result.crs} ({args.fmt})")
    tops = dict.fromkeys(result.out / p.relative_to(result.out).parts[0] for p in result.files)
    print("Wrote: " + ", ".join(str(p) for p in tops))
    return 0


#: exit code of ``decisions merge`` when reviewers disagree
EXIT_CONFLICTS = 4


def cmd_decisions_merge(args: argparse.Namespace) -> int:
    from siting.decisions import format_merge, merge_decisions, write_merged

    merged = merge_decisions(args.files)
    path = write_merged(args.out, merged)
    print(format_merge(merged))
    print(f"Wrote: {path}")
    return EXIT_CONFLICTS if merged.conflicts else 0


#: exit code of ``review`` when the plan has violations
EXIT_VIOLATIONS = 4


def cmd_review(args: argparse.Namespace) -> int:
    from siting.config import DEFAULT_SCENARIO, load_scenario
    from siting.review import format_review, run_review

    scenario = load_scenario(args.scenario or DEFAULT_SCENARIO)
    result, files = run_review(args.plan, constraints=args.constraints,
                               rules=scenario.review, out=args.out, lang=args.lang)
    print(format_review(result))
    print("Wrote: " + ", ".join(str(p) for p in _paths(files)))
    return 0 if result.passed else EXIT_VIOLATIONS


def cmd_diff(args: argparse.Namespace) -> int:
    from siting.diff import diff_plans, format_diff, write_diff
    from siting.review import plan_lang

    diff = diff_plans(args.a, args.b)
    files = write_diff(diff, args.out or args.b.parent, lang=args.lang or plan_lang(args.b))
    print(format_diff(diff))
    print("Wrote: " + ", ".join(str(p) for p in _paths(files)))
    return 0


def _paths(files: object) -> list[Path]:
    """The paths held by a small files record (a dataclass of Path fields)."""
    from dataclasses import fields, is_dataclass

    if is_dataclass(files):
        return [getattr(files, f.name) for f in fields(files)
                if isinstance(getattr(files, f.name), Path)]
    return []


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solver", choices=("highs", "cbc"), default=None,
                   help="MIP solver (default: the scenario's, highs)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="time limit per planner (default: the scenario's)")
    p.add_argument("--joint", action=argparse.BooleanOptionalAction, default=None,
                   help="plan chargers with heat and logistics on one grid (substation "
                        "headroom) and one land, and compare with the planners one after "
                        "another (default: the scenario's [joint] enabled, true)")
    _lang_arg(p)
    p.add_argument("--decisions", type=Path, default=None, metavar="FILE",
                   help="reviewer decisions (decisions.geojson from plan.html/review.html): "
                        "rejected items are forbidden, approved ones locked")


def _lang_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=("zh", "en"), default=None,
                   help="language of the map pages and summary (default: zh for Zibo's "
                        "scenarios, en elsewhere)")


def cmd_map(args: argparse.Namespace) -> int:
    from siting.pipeline import render_map

    path = render_map(args.plan, args.out, lang=args.lang)
    print(f"Wrote: {path}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    import siting
    from siting.i18n import t as text
    from siting.planners import targets_table

    if args.time_limit is not None and args.time_limit <= 0:
        raise InputError(f"--time-limit {args.time_limit}: must be a positive number of seconds")
    from siting.pipeline import check_fewer_planners
    from siting.registry import PLANNERS

    out = args.out or _default_out(args)
    check_fewer_planners(out, args.planners or tuple(PLANNERS))  # before any solving
    source = _source(args)
    plan = siting.plan(args.scenario, region=source, planners=args.planners,
                       decisions=args.decisions, solver=args.solver,
                       time_limit_s=args.time_limit, progress=not args.quiet,
                       joint=args.joint)
    lang = args.lang or ("zh" if source.is_demo else plan.lang)  # Chinese for Zibo
    files = plan.write(out, lang=lang)
    print(text("cli.plan_for", lang, region=plan.region.name) + ", ".join(plan.outputs))
    for name in plan.outputs:
        shown = {k: v for k, v in plan.kpis[name].items() if not isinstance(v, dict | list)}
        print(f"  {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items()))
    joint = plan.kpis.get("joint")
    if joint:
        print(f"  joint ({joint['status']}, gap {_fmt(joint['mip_gap'])}): substations over "
              f"headroom {joint['overloaded_substations']} (planners one after another: "
              f"{joint['overloaded_substations_sequential']}, "
              f"{_fmt(joint['overload_mw_sequential'])} MW); parcels wanted twice "
              f"{joint['land_conflicts']} (one after another: "
              f"{joint['land_conflicts_sequential']}); extra cost "
              f"{_fmt(joint['extra_cost_cny_yr'])} {plan.scenario.scenario.currency}/yr")
        for key, (before, after) in joint.get("given_up", {}).items():
            print(f"    {key}: {_fmt(before)} one after another -> {_fmt(after)} joint")
    print(targets_table(plan.kpis.get("targets", []), lang=lang))
    print(text("cli.wrote", lang) + ", ".join(str(p) for p in files))
    return 0


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def _source(args: argparse.Namespace):  # -> RegionSource
    from siting.pipeline import RegionSource

    constraints: dict[str, Path] = {}
    for item in args.constraint:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--layer {item!r}: expected NAME=FILE, "
                             f"e.g. --layer red_line=redline.gpkg")
        if name in constraints:
            raise InputError(f"--layer {name}=...: given twice ({constraints[name]} and "
                             f"{path}); give each layer once (merge the files first)")
        constraints[name] = Path(path)
    population, total = args.population, args.population_total
    if population is not None and not population.exists():
        number = str(population).replace(",", "").replace("_", "")
        try:
            value = float(number)
        except ValueError:
            value = None
        if value is not None:  # --population 80000: a head count, not a file
            if total is not None:
                raise InputError(f"--population {population} and --population-total "
                                 f"{total:g}: both give the total population; give one")
            population, total = None, value
    return RegionSource(osm=args.osm, place=args.place, boundary=args.boundary,
                        population=population, population_total=total,
                        constraints=constraints)


def cmd_region(args: argparse.Namespace) -> int:
    from siting.config import DEFAULT_SCENARIO, load_scenario
    from siting.pipeline import run_region

    scenario_path = args.scenario or DEFAULT_SCENARIO
    scenario = load_scenario(scenario_path)
    run = run_region(scenario, _source(args), out=args.out or _default_out(args),
                     scenario_path=scenario_path,
                     progress=not args.quiet)
    g = run.region.graph
    print(f"Region: {run.region.name}  (CRS {run.region.crs})")
    synthetic = ", ".join(sorted(run.region.synthetic)) or "none"
    print(f"Districts: {len(run.region.districts)}   road nodes: {g.number_of_nodes():,}   "
          f"road edges: {g.number_of_edges():,}   synthetic: {synthetic}")
    print(_format_summary(run.summary))
    print("Wrote: " + ", ".join(str(p) for p in run.files))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from siting.io import cache_dir, clear_cache

    root = cache_dir()
    if args.action == "clear":
        files, size = clear_cache()
        print(f"Removed {files:,} files ({size / 2**20:,.1f} MB) from {root}")
    else:
        found = [p for p in root.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in found)
        print(f"Cache {root}: {len(found):,} files, {size / 2**20:,.1f} MB")
    return 0


def _default_out(args: argparse.Namespace) -> Path:
    """``maps/<region>``: ``zibo`` for the demo, the OSM file's name, the place's name."""
    import re

    if getattr(args, "osm", None) is not None:
        name = Path(args.osm).name.split(".")[0]
    elif getattr(args, "place", None):
        name = str(args.place).split(",")[0]
    else:
        name = "zibo"
    slug = re.sub(r"[^\w-]+", "-", name.strip().lower()).strip("-") or "region"
    return Path("maps") / slug


def cmd_init(args: argparse.Namespace) -> int:
    from siting.config import load_scenario
    from siting.pipeline import build_region
    from siting.scenario_init import init_scenario

    source = _source(args)
    if source.is_demo:
        raise InputError("init needs your region: --osm FILE or --place NAME (the embedded "
                         "demo's scenario is data/zibo/scenario.toml)")
    region = build_region(load_scenario(), source, progress=not args.quiet)
    population = float(region.districts["population"].sum()) \
        if "population" in region.districts.columns else math.nan
    centre = region.districts.to_crs("EPSG:4326").geometry.union_all().centroid
    scenario = init_scenario(args.out, population=population, name=region.name,
                             crs=str(region.crs), latitude=float(centre.y))
    c = scenario.chargers
    print(f"Region: {region.name}  population {scenario.scenario.population:,}  "
          f"CRS {region.crs}")
    print(f"Scaled targets: {c.nev_2025:,} NEVs and {c.piles_2025:,} piles by 2025, "
          f"{scenario.logistics.parks} logistics park(s), "
          f"{scenario.logistics.freight_mt_2025:g} Mt/yr multimodal freight")
    print(f"Wrote: {args.out}  (next: python cli.py plan --osm ... --scenario {args.out})")
    return 0


def _format_summary(table) -> str:  # type: ignore[no-untyped-def]
    formats = {"population": "{:,.0f}", "cell_population": "{:,.0f}", "cells": "{:,.0f}",
               "nev": "{:,.0f}", "ev_sessions_day": "{:,.0f}", "heat_peak_mw": "{:,.1f}",
               "heat_annual_gj": "{:,.0f}"}
    cols = [c for c in formats if c in table.columns]
    shown = table[cols].copy()
    for c in cols:
        shown[c] = shown[c].map(formats[c].format)
    return "Demand by district:\n" + shown.to_string()


def _configure_logging(*, quiet: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("siting")
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    _configure_logging(quiet=getattr(args, "quiet", False), debug=debug)
    func: Callable[[argparse.Namespace], int] = args.func
    from siting.io import NO_CACHE_ENV

    cache_setting = os.environ.get(NO_CACHE_ENV)
    if getattr(args, "no_cache", False):
        os.environ[NO_CACHE_ENV] = "1"
    previous = _on_sigterm()
    try:
        return func(args)
    except _Terminated:
        print("terminated; no outputs were changed", file=sys.stderr)
        return 143
    except SitingError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; no outputs were changed", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"internal error (a bug): {type(exc).__name__}: {exc}\n"
              f"rerun with --debug for the traceback and report it", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if cache_setting is None:
            os.environ.pop(NO_CACHE_ENV, None)
        else:
            os.environ[NO_CACHE_ENV] = cache_setting


class _Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so that staged outputs are cleaned up on the way out."""


def _on_sigterm() -> Any:
    """Turn SIGTERM into :class:`_Terminated` (main thread only); returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, handler)


def _sweep_parser(sub: Any) -> None:
    p = sub.add_parser("sweep", help="plan many varied scenarios on Dask (a local cluster or "
                                     "--scheduler): sweep.csv/.parquet/.html, runs/<id>/")
    _common(p)
    _region_args(p)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2|START:STOP:N",
                   help="a scenario setting to vary (dotted key, e.g. "
                        "chargers.sessions_per_nev_day=0.2,0.3 or solver.mip_gap=0.01:0.05:3); "
                        "repeatable: the runs are the cartesian product. With --samples: "
                        "KEY=LOW:HIGH ranges")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="a Latin hypercube sample of N runs over the --vary ranges")
    p.add_argument("--seed", type=int, default=0, help="seed of the Latin hypercube (default 0)")
    p.add_argument("--planners", default="chargers", metavar="NAMES",
                   help="comma-separated planners to run (default: chargers)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="local Dask worker processes, one solver thread each (default: "
                            "the machine's cores)")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="a running Dask scheduler (`dask scheduler`) instead of a local "
                            "cluster; --out must then be on a file system every worker can "
                            "write")
    p.add_argument("--solver", choices=("highs", "cbc"), default=None,
                   help="MIP solver (default: the scenario's, highs)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="time limit per planner and run (default: the scenario's)")
    p.add_argument("--robust", nargs="?", const="expected", default=None,
                   choices=("expected", "regret"),
                   help="choose one charger station set for every scenario (piles sized per "
                        "scenario): lowest expected cost (default) or lowest maximum regret")
    p.add_argument("--robust-moves", type=int, default=3, metavar="N",
                   help="--robust: at most N station sets tried by the local search after "
                        "the scenario plans' own sets (default 3; 0: none)")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from siting.config import DEFAULT_SCENARIO, load_scenario
    from siting.sweep import run_sweep, sweep_points

    if args.scenario is not None and args.scenario.is_dir():
        raise InputError(f"--scenario {args.scenario}: is a folder; give a scenario TOML file")
    scenario_path = args.scenario or DEFAULT_SCENARIO
    scenario = load_scenario(scenario_path)
    points = sweep_points(args.vary, scenario, samples=args.samples, seed=args.seed)
    planners = [n.strip() for n in str(args.planners).split(",") if n.strip()]
    source = _source(args)
    out = args.out or Path(f"{_default_out(args)}-sweep")
    result = run_sweep(scenario, points, out=out, source=source, planners=planners,
                       solver=args.solver, time_limit_s=args.time_limit,
                       workers=args.workers, scheduler=args.scheduler,
                       scenario_path=scenario_path, robust=args.robust,
                       robust_moves=args.robust_moves, samples=args.samples,
                       seed=args.seed if args.samples else None,
                       progress=not args.quiet)
    c = result.counts
    print(f"Sweep of {c['runs']} run(s) in {out}: {c['ran']} run, {c['skipped']} skipped "
          f"(already finished); {c['status_ok']} ok, {c['status_infeasible']} infeasible, "
          f"{c['status_error']} error(s), {c['status_bug']} bug(s)")
    if result.robust is not None:
        r = result.robust
        gap = r.get("gap")
        print(f"Robust station set ({r['objective']}): {r['n_stations']:,} stations, expected "
              f"cost {_fmt(r['expected_cost'])} CNY/yr, wait-and-see bound "
              f"{_fmt(r['lower_bound'])}, gap {_fmt(gap * 100) + ' %' if gap is not None else '?'}"
              f" ({r['method']})")
    print("Wrote: " + ", ".join(str(p) for p in result.files))
    return 1 if c["status_bug"] else 0
