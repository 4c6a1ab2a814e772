"""Compliance review of a plan against constraint layers, and reviewers' decisions.

**Review.** :func:`review_plan` checks every charging station, logistics park and
heat-pipe segment against the ecological red line, permanent basic farmland and
water bodies, with the buffers of the scenario's ``[review]`` section
(:class:`~siting.config.ReviewSettings`). All geometry work happens in a projected
metric CRS with an STRtree over the constraint polygons' parts (``dwithin`` /
``intersects`` queries), so the cost grows with the number of close pairs, not with
items x polygons. Rules (:func:`review_rules`):

========================  ==========  ===========================================
rule                      severity    meaning
========================  ==========  ===========================================
station_in_red_line       violation   station inside the red line (+ buffer)
station_on_farmland       violation   station on permanent basic farmland
station_in_water          violation   station in a water body
park_in_red_line          violation   park inside the red line (+ buffer)
park_near_water           violation   park closer than ``park_water_buffer_m``
park_on_farmland          violation   park on permanent basic farmland
pipe_in_red_line          violation   pipe crossing the red line
pipe_across_farmland      condition   crossing allowed underground at a cost
                          violation   (``pipe_farmland = "forbid"``, or a pipe
                                      marked overhead)
pipe_across_water         condition   river crossing: bored or bridged
========================  ==========  ===========================================

Stations, parks and pipes may not occupy farmland or water because permanent basic
farmland cannot be taken by construction projects (Land Administration Law, art. 35)
and water bodies are protected; the buffers are scenario assumptions.

:func:`write_review` writes ``review.html`` (map + table), ``review.csv`` and
``review_summary.json``; the CLI exits 0 when :attr:`ReviewResult.passed`, else 4.

**Decisions.** Reviewers mark stations, parks and pipes approved or rejected in
``plan.html`` / ``review.html`` and download ``decisions.geojson``: a GeoJSON
FeatureCollection with top-level ``"siting_decisions": 1`` and ``"plan"`` (the plan
id the page was drawn for), and per feature the properties ``layer``, ``id``,
``decision`` (``"approved"`` or ``"rejected"``), ``comment``, ``reviewer``,
``timestamp`` and ``plan``. :func:`read_decisions` validates such a file;
planners forbid :meth:`Decisions.rejected` ids and lock :meth:`Decisions.approved`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import siting.registry as registry
from siting.config import ReviewSettings
from siting.crs import estimate_metric_crs, is_metric
from siting.errors import CRSError, InputError
from siting.io import atomic_dir, atomic_path, write_json
from siting.planners import ReviewRule, Severity

logger = logging.getLogger(__name__)

__all__ = ["CONSTRAINT_LAYERS", "ITEM_LAYERS", "Decision", "Decisions", "ReviewFiles",
           "ReviewResult", "Rule", "format_review", "plan_id", "read_constraints",
           "read_decisions", "read_plan", "review_plan", "review_rules", "run_review",
           "write_decisions", "write_review"]

ITEM_LAYERS = registry.reviewed_layers()
DECIDABLE_LAYERS = tuple(registry.decidable_layers())
CONSTRAINT_LAYERS = ("red_line", "farmland", "water")
CONSTRAINT_TITLES = {"red_line": "Ecological red line", "farmland": "Permanent basic farmland",
                     "water": "Water bodies"}
FINDING_COLUMNS = ("item_layer", "item_id", "item_name", "constraint", "rule", "severity",
                   "overlap_m2", "overlap_m", "distance_m", "buffer_m", "extra_cost_cny",
                   "detail")
DECISION_VALUES = ("approved", "rejected")


Rule = ReviewRule
"""One check (declared by each planner beside its layers: :class:`~siting.planners.ReviewRule`)."""


def review_rules(settings: ReviewSettings) -> tuple[Rule, ...]:
    """The rules :func:`review_plan` applies, with the scenario's buffers: each
    planner's own (``siting/<planner>/layers.py``), in registry order."""
    return registry.review_rules(settings)


@dataclass(frozen=True)
class ReviewResult:
    """What :func:`review_plan` found.

    Attributes:
        findings: one row per (item, rule) that matched, columns ``FINDING_COLUMNS``
            plus the overlap geometry (or the item where nothing overlaps), in ``crs``.
        checks: one row per rule: ``rule``, ``item_layer``, ``constraint``,
            ``text``, ``items_checked``, ``violations``, ``conditions``, ``status``
            (``pass``, ``fail`` or ``not checked: ...``).
        crs: the metric CRS of the checks.
    """

    findings: gpd.GeoDataFrame
    checks: pd.DataFrame
    crs: str

    @property
    def violations(self) -> gpd.GeoDataFrame:
        return self.findings[self.findings["severity"] == "violation"]

    @property
    def passed(self) -> bool:
        return bool(len(self.violations) == 0)

    def summary(self) -> dict[str, Any]:
        """A JSON-able pass/fail summary."""
        v = self.violations
        return {
            "passed": self.passed,
            "violations": len(v),
            "conditions": int((self.findings["severity"] == "condition").sum()),
            "items_with_violations": int(v[["item_layer", "item_id"]].drop_duplicates().shape[0]),
            "extra_cost_cny": float(self.findings["extra_cost_cny"].sum()),
            "crs": self.crs,
            "checks": self.checks.to_dict(orient="records"),
        }


# ------------------------------------------------------------------ checks

def review_plan(plan_layers: Mapping[str, gpd.GeoDataFrame],
                constraints: Mapping[str, gpd.GeoDataFrame], *,
                rules: ReviewSettings, crs: str) -> ReviewResult:
    """Check the plan's stations, parks and pipes against the constraint layers.

    Args:
        plan_layers: at least one of ``ITEM_LAYERS``; items are identified by an
            ``id`` column (else their row label).
        constraints: ``red_line``, ``farmland`` and/or ``water`` polygons, any CRS.
        rules: buffer rules (the scenario's ``[review]`` section).
        crs: the projected metric CRS to compute distances, areas and lengths in.

    Raises:
        CRSError: ``crs`` is not metric, or a layer has no CRS.
        InputError: no item layer to check.
    """
    if not is_metric(crs):
        raise CRSError(f"review needs a projected metric CRS; got {crs!r} (e.g. 'EPSG:32650')")
    items = {k: _metric(v, crs, what=f"plan layer {k!r}") for k, v in plan_layers.items()
             if k in ITEM_LAYERS and v is not None}
    if not items:
        raise InputError(f"the plan has none of the layers {list(ITEM_LAYERS)} to review; give "
                         "a plan.gpkg written by `cli.py plan`")
    cons = {k: _parts(_metric(v, crs, what=f"constraint layer {k!r}"))
            for k, v in constraints.items() if k in CONSTRAINT_LAYERS and v is not None}
    found: list[gpd.GeoDataFrame] = []
    checks: list[dict[str, Any]] = []
    for rule in review_rules(rules):
        row = {"rule": rule.name, "item_layer": rule.item_layer, "constraint": rule.constraint,
               "text": rule.text, "items_checked": 0, "violations": 0, "conditions": 0}
        frame = items.get(rule.item_layer)
        if frame is None or frame.empty:
            checks.append({**row, "status": f"not checked: no {rule.item_layer} in the plan"})
            continue
        row["items_checked"] = len(frame)
        if rule.constraint not in cons:
            checks.append({**row, "status": f"not checked: no {rule.constraint} layer"})
            continue
        hits = _apply(rule, frame, cons[rule.constraint])
        found.append(hits)
        row["violations"] = int((hits["severity"] == "violation").sum())
        row["conditions"] = int((hits["severity"] == "condition").sum())
        checks.append({**row, "status": "fail" if row["violations"] else "pass"})
    subs = plan_layers.get("substations")
    if subs is not None and {"load_mw", "headroom_mw"} <= set(subs.columns):
        grid = _grid_findings(_metric(subs, crs, what="plan layer 'substations'"))
        found.append(grid)
        row = {"rule": "substation_load", "item_layer": "substations",
               "constraint": "headroom", "text": SUBSTATION_RULE, "items_checked": len(subs),
               "violations": len(grid), "conditions": 0}
        checks.append({**row, "status": "fail" if len(grid) else "pass"})
    found = [f for f in found if len(f)]
    findings = (pd.concat(found, ignore_index=True) if found else _empty_findings(crs))
    findings = gpd.GeoDataFrame(findings, geometry="geometry", crs=crs)
    logger.info("review: %d violations, %d conditions over %d rules", len(
        findings[findings["severity"] == "violation"]),
        int((findings["severity"] == "condition").sum()), len(checks))
    return ReviewResult(findings=findings, checks=pd.DataFrame(checks), crs=crs)


#: the grid rule: every substation's combined new load within its headroom
SUBSTATION_RULE = ("a substation's new load (chargers, reservations, heat pumps, logistics "
                   "parks) stays within its headroom, in every stage")
_LOAD_PARTS = (("charger_mw", "chargers"), ("reserved_mw", "reserved"),
               ("heat_pump_mw", "heat pumps"), ("logistics_mw", "parks"))


def _grid_findings(subs: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One violation per substation and stage whose ``load_mw`` exceeds ``headroom_mw``
    (the layer rounds to kW: 1 kW of slack), with the load's parts in the detail."""
    rows = []
    for tag, year in (("", "2025"), ("_2030", "2030")):
        if f"load_mw{tag}" not in subs.columns or f"headroom_mw{tag}" not in subs.columns:
            continue
        load = pd.to_numeric(subs[f"load_mw{tag}"], errors="coerce").fillna(0.0)
        head = pd.to_numeric(subs[f"headroom_mw{tag}"], errors="coerce").fillna(np.inf)
        for i in map(int, np.flatnonzero((load - head).to_numpy() > 1e-3)):
            parts = ", ".join(f"{label} {float(subs[c + tag].iloc[i]):,.2f}"
                              for c, label in _LOAD_PARTS if c + tag in subs.columns)
            rows.append({
                "item_layer": "substations", "item_id": _item_id(subs, i),
                "item_name": _item_name(subs, i), "constraint": "headroom",
                "rule": "substation_load", "severity": "violation", "overlap_m2": 0.0,
                "overlap_m": 0.0, "distance_m": 0.0, "buffer_m": 0.0, "extra_cost_cny": 0.0,
                "detail": f"{year}: load {float(load.iloc[i]):,.2f} MW ({parts}) over "
                          f"headroom {float(head.iloc[i]):,.2f} MW by "
                          f"{float(load.iloc[i] - head.iloc[i]):,.2f} MW",
                "geometry": subs.geometry.iloc[i]})
    if not rows:
        return _empty_findings(subs.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=subs.crs)


def _apply(rule: Rule, items: gpd.GeoDataFrame, parts: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """Findings of one rule: STRtree query, then overlap and distance per item."""
    geoms = items.geometry.to_numpy()
    part_geoms = parts.to_numpy()
    tree = shapely.STRtree(part_geoms)
    if rule.buffer_m > 0:
        ii, pp = tree.query(geoms, predicate="dwithin", distance=rule.buffer_m)
    else:
        ii, pp = tree.query(geoms, predicate="intersects")
    if len(ii) == 0:
        return _empty_findings(items.crs)
    dist = shapely.distance(geoms[ii], part_geoms[pp])
    overlap = shapely.intersection(geoms[ii], part_geoms[pp])
    rows = []
    for i in np.unique(ii):
        sel = ii == i
        inter = shapely.union_all(overlap[sel]) if sel.sum() > 1 else overlap[sel][0]
        area = float(shapely.area(inter))
        length = float(shapely.length(inter)) if _is_line(geoms[i]) else 0.0
        severity: Severity = rule.severity
        detail = rule.text
        if rule.name == "pipe_across_farmland" and _overhead(items.iloc[i]):
            severity, detail = "violation", "pipe marked overhead crosses farmland"
        cost = length * rule.cost_cny_per_m if severity == "condition" else 0.0
        d = float(dist[sel].min())
        rows.append({
            "item_layer": rule.item_layer, "item_id": _item_id(items, i),
            "item_name": _item_name(items, i), "constraint": rule.constraint,
            "rule": rule.name, "severity": severity,
            "overlap_m2": round(area, 1), "overlap_m": round(length, 1),
            "distance_m": round(d, 1), "buffer_m": rule.buffer_m,
            "extra_cost_cny": round(cost, 0), "detail": detail,
            "geometry": inter if not shapely.is_empty(inter) else geoms[i]})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=items.crs)


def _empty_findings(crs: Any) -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=float if c.endswith(("_m", "_m2", "_cny")) else
                                       object) for c in FINDING_COLUMNS})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _metric(frame: gpd.GeoDataFrame, crs: str, *, what: str) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise CRSError(f"{what} has no CRS; set it before reviewing")
    out = frame.to_crs(crs)
    return out[out.geometry.notna() & ~out.geometry.is_empty].reset_index(drop=True)


def _parts(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Polygon parts (exploded, repaired) so the STRtree holds small, tight boxes."""
    geoms = shapely.make_valid(frame.geometry.to_numpy())
    parts = shapely.get_parts(geoms)
    parts = parts[shapely.get_type_id(parts) == 3]  # Polygon
    return gpd.GeoSeries(parts, crs=frame.crs)


def _is_line(geom: Any) -> bool:
    return shapely.get_type_id(geom) in (1, 5)  # LineString, MultiLineString


def _overhead(row: pd.Series) -> bool:
    if "underground" in row.index and row["underground"] is not None and not pd.isna(
            row["underground"]):
        return not bool(row["underground"])
    return str(row.get("laying", "")).lower() == "overhead"


def _item_id(items: gpd.GeoDataFrame, i: int) -> str:
    return str(items["id"].iloc[i]) if "id" in items.columns else str(items.index[i])


def _item_name(items: gpd.GeoDataFrame, i: int) -> str:
    for col in ("name", "name_zh"):
        if col in items.columns and pd.notna(items[col].iloc[i]):
            return str(items[col].iloc[i])
    return ""


# ------------------------------------------------------------------ files in

def read_plan(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of a ``plan.gpkg`` (EPSG:4326), with clear errors for bad files."""
    import pyogrio

    p = Path(path)
    if not p.is_file():
        raise InputError(f"plan file {p} does not exist; give the plan.gpkg that "
                         "`cli.py plan --out DIR` wrote (DIR/plan.gpkg)")
    try:
        names = [str(n) for n in pyogrio.list_layers(p)[:, 0]
                 if str(n) != "layer_styles"]  # QGIS styles (siting.styles)
        layers = {n: gpd.read_file(p, layer=n, engine="pyogrio") for n in names}
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InputError(f"plan file {p} cannot be read as a GeoPackage ({exc}); is it "
                         "truncated or another format?") from None
    for name, frame in layers.items():
        if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
            raise CRSError(f"plan file {p}, layer {name!r}: no geometry CRS; plan.gpkg "
                           "layers are written in EPSG:4326 by `cli.py plan`")
    return layers


def plan_id(path: str | Path) -> str:
    """The id a plan's maps stamp into downloaded decisions: SHA-256 of plan.gpkg, 16 hex."""
    from siting.io import file_sha256

    return file_sha256(path)[:16]


def plan_crs(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame]) -> str:
    """The metric CRS of a plan: ``crs_internal`` of the provenance.json beside it, or
    the UTM zone of its data."""
    prov = Path(path).with_name("provenance.json")
    if prov.is_file():
        try:
            crs = json.loads(prov.read_text(encoding="utf-8")).get("crs_internal")
        except json.JSONDecodeError:
            crs = None
        if crs and is_metric(crs):
            return str(crs)
    frames = [f for f in layers.values() if len(f)]
    if not frames:
        raise InputError(f"plan file {path} has no features to review")
    return estimate_metric_crs(pd.concat([f[["geometry"]].to_crs("EPSG:4326") for f in frames]))


def read_constraints(sources: Sequence[str | Path] = (), *,
                     plan_layers: Mapping[str, gpd.GeoDataFrame] | None = None,
                     crs: str) -> dict[str, gpd.GeoDataFrame]:
    """Constraint layers from user files, else the plan's own ``red_line``/``farmland``/``water``.

    Each source is ``PATH`` (a GeoPackage whose layers are named like
    ``CONSTRAINT_LAYERS``, or a single-layer file named e.g. ``red_line.shp``) or
    ``NAME=PATH`` for a single-layer file of any name. Any CRS; reprojected to ``crs``.
    """
    import pyogrio

    from siting.region.layers import read_vector

    out: dict[str, gpd.GeoDataFrame] = {}
    problems: list[str] = []
    for source in sources:
        name, sep, raw = str(source).partition("=")
        if not sep:
            name, raw = "", str(source)
        path = Path(raw)
        if name and name not in CONSTRAINT_LAYERS:
            problems.append(f"{source}: unknown constraint {name!r}; use one of "
                            f"{list(CONSTRAINT_LAYERS)}")
            continue
        if not path.exists():
            problems.append(f"{path}: file does not exist")
            continue
        try:
            layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        except (pyogrio.errors.DataSourceError, OSError) as exc:
            problems.append(f"{path}: cannot be read as a vector file ({exc})")
            continue
        if name:
            if len(layers) > 1:
                problems.append(f"{path}: has {len(layers)} layers {layers}; give a "
                                "single-layer file, or name its layers red_line/farmland/water")
                continue
            out[name] = read_vector(path, what=f"constraint {name!r}", target_crs=crs)
            continue
        named = [n for n in layers if n in CONSTRAINT_LAYERS]
        if not named and len(layers) == 1 and path.stem in CONSTRAINT_LAYERS:
            out[path.stem] = read_vector(path, what=f"constraint {path.stem!r}", target_crs=crs)
        elif named:
            for n in named:
                out[n] = read_vector(path, layer=n, what=f"constraint {n!r}", target_crs=crs)
        else:
            problems.append(f"{path}: cannot tell which constraint it holds (layers {layers}); "
                            f"name its layers {list(CONSTRAINT_LAYERS)} or pass NAME=PATH, "
                            "e.g. red_line=redline.shp")
    if problems:
        raise InputError.collect(problems, context="constraint layers")
    if not sources and plan_layers is not None:
        out = {k: v.to_crs(crs) for k, v in plan_layers.items() if k in CONSTRAINT_LAYERS}
        if not out:
            raise InputError(f"the plan has no constraint layers {list(CONSTRAINT_LAYERS)}; "
                             "pass --constraints FILE (GeoPackage or Shapefile, any CRS)")
    return out


# ------------------------------------------------------------------ files out

@dataclass(frozen=True)
class ReviewFiles:
    html: Path
    csv: Path
    summary: Path


def write_review(result: ReviewResult, out_dir: str | Path, *,
                 plan_layers: Mapping[str, gpd.GeoDataFrame],
                 constraints: Mapping[str, gpd.GeoDataFrame],
                 title: str | None = None, plan_id: str | None = None,
                 synthetic: Iterable[str] = (), lang: str = "en") -> ReviewFiles:
    """Write ``review.html``, ``review.csv`` and ``review_summary.json`` into ``out_dir``.

    All three are staged and moved in together (:func:`siting.io.atomic_dir`). ``lang``
    (``en``/``zh``) is the language of the page's labels (:mod:`siting.i18n`).
    """
    from siting.i18n import t
    from siting.maps import MapLayer, write_map
    from siting.maps.recipes import DrawContext

    out = Path(out_dir)
    table = result.findings.drop(columns="geometry")
    status = _item_status(result.findings)
    notes: dict[tuple[str, str], str] = {}
    for r in result.findings.itertuples(index=False):
        text = f"{r.rule} ({_measure(r)})"
        item_key = (r.item_layer, r.item_id)
        notes[item_key] = f"{notes[item_key]}; {text}" if item_key in notes else text
    syn = set(synthetic)
    layers: list[MapLayer] = []
    districts = plan_layers.get("districts")
    if districts is not None and len(districts):
        layers.append(MapLayer(key="districts", frame=districts, title="District boundaries",
                               kind="polygons", name_field="name" if "name" in districts
                               else None, style={"color": "#34495e", "weight": 1.6,
                                                 "fill_opacity": 0.02, "shape": "area"}))
    for key in CONSTRAINT_LAYERS:
        if key in constraints and len(constraints[key]):
            layers.append(MapLayer(key=key, frame=constraints[key], title=CONSTRAINT_TITLES[key],
                                   kind="polygons", synthetic=key in syn,
                                   style={"color": {"red_line": "#c0392b", "farmland": "#3f9a3f",
                                                    "water": "#2f80c9"}[key],
                                          "weight": 1, "fill_opacity": 0.22, "shape": "area"}))
    if len(result.findings):
        layers.append(MapLayer(key="overlaps", frame=result.findings[["rule", "severity",
                                                                      "geometry"]],
                               title="Overlaps and near misses", kind="polygons",
                               fields=(("rule", "Rule", ""), ("severity", "Severity", "")),
                               color_by={"field": "severity", "categories": {
                                   "violation": "#b42318", "condition": "#f79009"}},
                               style={"color": "#b42318", "weight": 3, "fill_opacity": 0.5,
                                      "shape": "area"}))
    specs = registry.layer_specs()
    for key in ITEM_LAYERS:
        frame = plan_layers.get(key)
        if frame is None or frame.empty:
            continue
        spec = specs[key]
        frame = frame.copy()
        ids = frame["id"].astype(str) if "id" in frame else pd.Series(frame.index.astype(str),
                                                                        index=frame.index)
        frame["id"] = ids
        frame["review"] = ids.map(lambda i, k=key: status.get((k, i), "pass"))
        frame["findings"] = ids.map(lambda i, k=key: notes.get((k, i), ""))
        kind = spec.geometry
        # clustered as on the plan map (its declared recipe decides)
        cluster = spec.draw is not None and any(
            m.cluster for m in spec.draw({key: frame}, DrawContext()) if m.key == key)
        layers.append(MapLayer(
            key=key, frame=frame, title=spec.title, kind=kind, id_field="id",
            name_field="name" if "name" in frame else None, decide=True,
            cluster=cluster, synthetic=key in syn,
            fields=(("review", "Review", ""), ("findings", "Findings", "")),
            color_by={"field": "review", "categories": {"violation": "#b42318",
                                                        "condition": "#f79009",
                                                        "pass": "#1a7f37"}},
            style={"radius": 7, "weight": 4, "shape": "line" if kind == "lines" else "point",
                   "color": "#1a7f37"}))
    s = result.summary()
    verdict = t("review.pass" if result.passed else "review.fail", lang)
    kpis = {"review": {"result": verdict, "violations": s["violations"],
                       "conditions": s["conditions"],
                       "items_with_violations": s["items_with_violations"],
                       "extra_cost_cny": s["extra_cost_cny"]},
            "rules": {r["rule"]: f"{r['status']} ({r['violations']} of {r['items_checked']})"
                      for r in s["checks"]}}
    with atomic_dir(out, kind="review") as stage:
        table.to_csv(stage / "review.csv", index=False)
        write_json(stage / "review_summary.json", s)
        write_map(stage / "review.html", layers, title=title or t("review.title", lang),
                  subtitle=f"{verdict}: {s['violations']} {t('review.violations', lang)}, "
                           f"{s['conditions']} {t('review.conditions', lang)}", kpis=kpis,
                  synthetic=syn, plan_id=plan_id, lang=lang,
                  table={"title": f"{t('review.findings', lang)} ({len(table)})",
                         "columns": list(FINDING_COLUMNS),
                         "rows": table[list(FINDING_COLUMNS)].to_numpy().tolist(),
                         "link": (0, 1), "empty": t("review.empty", lang)})
    return ReviewFiles(html=out / "review.html", csv=out / "review.csv",
                       summary=out / "review_summary.json")


def _measure(r: Any) -> str:
    """The number that matters for one finding: overlap length/area, else distance."""
    if r.overlap_m > 0:
        return f"{r.overlap_m:,.0f} m across"
    if r.overlap_m2 > 0:
        return f"{r.overlap_m2:,.0f} m² overlap"
    if r.distance_m > 0:
        return f"{r.distance_m:,.0f} m away, needs {r.buffer_m:,.0f} m"
    return "inside"


def _item_status(findings: pd.DataFrame) -> dict[tuple[str, str], str]:
    status: dict[tuple[str, str], str] = {}
    for layer, item, sev in findings[["item_layer", "item_id", "severity"]].itertuples(
            index=False):
        if status.get((layer, item)) != "violation":
            status[(layer, item)] = sev
    return status


def format_review(result: ReviewResult) -> str:
    """A plain-text pass/fail summary with one line per rule (for the CLI)."""
    s = result.summary()
    lines = [f"Review: {'PASS' if result.passed else 'FAIL'} ({s['violations']} violations, "
             f"{s['conditions']} conditions, extra cost {s['extra_cost_cny']:,.0f} CNY)"]
    for r in s["checks"]:
        if r["status"].startswith("not checked"):
            lines.append(f"  skip  {r['rule']:<22} {r['status']}")
            continue
        counts = f"{r['violations']} violations, {r['conditions']} conditions"
        lines.append(f"  {r['status']:<5} {r['rule']:<22} {counts} in {r['items_checked']:,} "
                     f"items: {r['text']}")
    return "\n".join(lines)


def run_review(plan: str | Path, *, constraints: Sequence[str | Path] = (),
               rules: ReviewSettings, out: str | Path | None = None,
               lang: str | None = None) -> tuple[ReviewResult, ReviewFiles]:
    """``cli.py review``: read plan.gpkg and constraints, check, write the outputs.

    ``out`` defaults to the plan's folder; ``lang`` to the plan's own language
    (:func:`plan_lang`). Returns the result (exit 0 when ``result.passed``, else 4) and
    the files written.
    """
    plan = Path(plan)
    layers = read_plan(plan)
    crs = plan_crs(plan, layers)
    cons = read_constraints(constraints, plan_layers=layers, crs=crs)
    result = review_plan(layers, cons, rules=rules, crs=crs)
    synthetic = {k for k, v in {**layers, **cons}.items()
                 if "synthetic" in v.columns and v["synthetic"].fillna(False).astype(bool).all()}
    lang = lang or plan_lang(plan)
    from siting.i18n import t

    files = write_review(result, out or plan.parent, plan_layers=layers, constraints=cons,
                         plan_id=plan_id(plan), synthetic=synthetic,
                         title=f"{t('review.title', lang)}: {plan}", lang=lang)
    return result, files


def plan_lang(plan: str | Path) -> str:
    """The language a plan's pages default to: Chinese when its ``provenance.json``
    (beside ``plan.gpkg``) names Zibo's region or scenario, else English."""
    from siting.i18n import default_lang

    try:
        prov = json.loads((Path(plan).parent / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "en"
    if not isinstance(prov, dict):
        return "en"
    scenario = prov.get("scenario") if isinstance(prov.get("scenario"), dict) else {}
    meta = scenario.get("scenario", {}) if isinstance(scenario, dict) else {}
    region = prov.get("region")
    names = [region.get("name") if isinstance(region, dict) else region,
             meta.get("name") if isinstance(meta, dict) else None]
    return default_lang(*names)


# ------------------------------------------------------------------ decisions

@dataclass(frozen=True)
class Decision:
    layer: str
    id: str
    decision: Literal["approved", "rejected"]
    comment: str = ""
    reviewer: str = ""
    timestamp: str = ""
    geometry: Any = None


@dataclass(frozen=True)
class Decisions:
    """Validated reviewer decisions (from :func:`read_decisions`)."""

    items: tuple[Decision, ...]
    plan: str | None = None
    source: Path | None = None

    def get(self, layer: str, ident: str) -> Decision | None:
        """The decision on item ``ident`` of ``layer``, if any."""
        return next((d for d in self.items if d.layer == layer and d.id == str(ident)), None)

    def rejected(self, layer: str) -> frozenset[str]:
        """Ids of ``layer`` a reviewer rejected: planners must not choose them."""
        return frozenset(d.id for d in self.items if d.layer == layer and
                         d.decision == "rejected")

    def approved(self, layer: str) -> frozenset[str]:
        """Ids of ``layer`` a reviewer approved: planners must keep them."""
        return frozenset(d.id for d in self.items if d.layer == layer and
                         d.decision == "approved")

    def by_layer(self) -> dict[str, Any]:
        """Layer -> :class:`siting.planners.ItemDecisions` (rejected and approved ids)."""
        from siting.planners import ItemDecisions

        layers = dict.fromkeys(d.layer for d in self.items)
        return {layer: ItemDecisions(rejected=self.rejected(layer),
                                     approved=self.approved(layer)) for layer in layers}

    def frame(self) -> gpd.GeoDataFrame:
        """The decisions as a GeoDataFrame in EPSG:4326."""
        rows = [{k: getattr(d, k) for k in ("layer", "id", "decision", "comment", "reviewer",
                                            "timestamp")} for d in self.items]
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=["layer", "id", "decision", "comment",
                                                            "reviewer", "timestamp"]),
                                geometry=[d.geometry for d in self.items], crs="EPSG:4326")


def read_decisions(path: str | Path, *, plan_id: str | None = None,
                   layers: Sequence[str] = DECIDABLE_LAYERS) -> Decisions:
    """Read and validate a ``decisions.geojson`` downloaded from a map.

    Every problem is reported at once: not GeoJSON, a feature without ``layer``/``id``,
    a ``decision`` other than approved/rejected, an unknown layer, or one item with
    two different decisions, or an unresolved conflict of a merged file (a feature
    with ``"conflict": true``, see :mod:`siting.decisions`). A file made for another
    plan (``plan`` differs from ``plan_id``) is only logged as a warning, since ids are
    stable across re-plans.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"decisions file {p} does not exist; download it from plan.html "
                         "or review.html ('Download decisions.geojson')")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"decisions file {p} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        raise InputError(f"decisions file {p} is not a GeoJSON FeatureCollection; download it "
                         "again from the map")
    problems: list[str] = []
    items: dict[tuple[str, str], Decision] = {}
    for n, feat in enumerate(data["features"]):
        props = feat.get("properties") if isinstance(feat, dict) else None
        if not isinstance(props, dict):
            problems.append(f"feature {n}: no properties")
            continue
        layer, ident, decision = props.get("layer"), props.get("id"), props.get("decision")
        if props.get("conflict") is True:  # a merged file (siting.decisions)
            problems.append(_conflict_problem(n, props))
            continue
        if layer not in layers:
            problems.append(f"feature {n}: layer {layer!r} is not one of {list(layers)}")
        if ident is None or str(ident) == "":
            problems.append(f"feature {n}: no id")
        if decision not in DECISION_VALUES:
            problems.append(f"feature {n}: decision {decision!r} must be 'approved' or "
                            "'rejected'")
        if layer not in layers or ident is None or decision not in DECISION_VALUES:
            continue
        geom = None
        if isinstance(feat.get("geometry"), dict):
            try:
                geom = shapely.geometry.shape(feat["geometry"])
            except (ValueError, TypeError, AttributeError, KeyError):
                problems.append(f"feature {n} ({layer} {ident}): invalid geometry")
        d = Decision(layer=str(layer), id=str(ident), decision=decision,
                     comment=str(props.get("comment") or ""),
                     reviewer=str(props.get("reviewer") or ""),
                     timestamp=str(props.get("timestamp") or ""), geometry=geom)
        old = items.get((d.layer, d.id))
        if old is not None and old.decision != d.decision:
            problems.append(f"feature {n}: {d.layer} {d.id} is both {old.decision} and "
                            f"{d.decision}")
        items[(d.layer, d.id)] = d
    if problems:
        raise InputError.collect(problems, context=f"decisions file {p}")
    plan = data.get("plan")
    if plan_id is not None and plan and plan != plan_id:
        logger.warning("decisions file %s was made for plan %s, not %s; applying it by item id",
                       p, plan, plan_id)
    logger.info("read %d decisions from %s", len(items), p)
    return Decisions(items=tuple(items.values()), plan=plan, source=p)


def _conflict_problem(n: int, props: Mapping[str, Any]) -> str:
    """The message for an unresolved conflict of a merged decisions file."""
    def names(key: str) -> str:
        v = props.get(key)
        return ", ".join(map(str, v)) if isinstance(v, list) and v else "?"

    return (f"feature {n}: unresolved conflict on {props.get('layer')} {props.get('id')} "
            f"(approved by {names('approved_by')}; rejected by {names('rejected_by')}); "
            f"set its \"decision\" to \"approved\" or \"rejected\" and \"conflict\" to false")


def write_decisions(path: str | Path, decisions: Iterable[Decision], *,
                    plan: str | None = None) -> Path:
    """Write decisions in the same format the maps download (for scripts and notebooks)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    feats = [{"type": "Feature",
              "geometry": shapely.geometry.mapping(d.geometry) if d.geometry is not None
              else None,
              "properties": {"layer": d.layer, "id": d.id, "decision": d.decision,
                             "comment": d.comment, "reviewer": d.reviewer,
                             "timestamp": d.timestamp or now, "plan": plan}}
             for d in decisions]
    doc = {"type": "FeatureCollection", "siting_decisions": 1, "plan": plan, "created": now,
           "features": feats}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(path)
