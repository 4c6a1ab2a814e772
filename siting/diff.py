"""What changed between two plans: items added, removed and changed, and KPI deltas.

:func:`diff_plans` matches the items of each layer (stations, parks, pipes, heat
sources and sinks) by their ``id`` column. An item is *changed* when any attribute
both plans share differs (numbers beyond a relative tolerance) or its geometry moved
more than ``move_tolerance_m`` (Hausdorff distance in a metric CRS). KPIs come from
the ``kpis.json`` beside each ``plan.gpkg``. :func:`write_diff` writes ``diff.html``
(a map of the changes with a table), ``diff.csv``, ``diff_kpis.csv`` and
``diff_summary.json``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.crs import estimate_metric_crs
from siting.errors import InputError
from siting.io import atomic_dir, write_json
from siting.registry import diff_layers, layer_specs
from siting.review import read_plan

logger = logging.getLogger(__name__)

__all__ = ["DIFF_LAYERS", "DiffFiles", "PlanDiff", "diff_plans", "format_diff", "write_diff"]

DIFF_LAYERS = diff_layers()
#: bookkeeping columns that are not attributes of the item: the synthetic flag and
#: per-run solver indexes (heat's ``link``/``seq``/``from_node``/``to_node``)
IGNORED_COLUMNS = frozenset({"synthetic", "link", "seq", "from_node", "to_node"})
CHANGE_COLOURS = {"added": "#1a7f37", "removed": "#b42318", "changed": "#f79009"}


@dataclass(frozen=True)
class PlanDiff:
    """Differences between plan A and plan B.

    Attributes:
        items: one row per added, removed or changed item: ``layer``, ``id``,
            ``change`` (added/removed/changed), ``changes`` (``"piles: 12 -> 16;
            moved 35 m"``), geometry in EPSG:4326 (B's; A's for removed items).
        counts: per layer: ``a``, ``b``, ``added``, ``removed``, ``changed``, ``unchanged``.
        kpis: ``group``, ``kpi``, ``a``, ``b``, ``delta``, ``delta_pct``.
        a, b: the two plan files.
    """

    items: gpd.GeoDataFrame
    counts: pd.DataFrame
    kpis: pd.DataFrame
    a: Path
    b: Path

    @property
    def identical(self) -> bool:
        return bool(self.items.empty)

    def summary(self) -> dict[str, Any]:
        return {"a": str(self.a), "b": str(self.b), "identical": self.identical,
                "counts": self.counts.reset_index().to_dict(orient="records"),
                "kpis": self.kpis.replace({np.nan: None}).to_dict(orient="records")}


def diff_plans(a: str | Path, b: str | Path, *, layers: Sequence[str] = DIFF_LAYERS,
               move_tolerance_m: float = 1.0, rel_tol: float = 1e-3,
               ignore_columns: Collection[str] = IGNORED_COLUMNS) -> PlanDiff:
    """Compare two ``plan.gpkg`` files (and the ``kpis.json`` beside each).

    Numbers count as changed beyond ``rel_tol`` (0.1 % by default, so solver noise in
    flows is not a change); ``ignore_columns`` are never compared.

    Raises:
        InputError: a missing or unreadable file, or a layer without an ``id`` column
            (items could not be matched) or with duplicate ids.
    """
    a, b = Path(a), Path(b)
    la, lb = read_plan(a), read_plan(b)
    frames = [f for f in [*la.values(), *lb.values()] if len(f)]
    crs = estimate_metric_crs(pd.concat([f[["geometry"]].to_crs("EPSG:4326") for f in frames])) \
        if frames else "EPSG:3857"
    rows: list[dict[str, Any]] = []
    counts = []
    for layer in layers:
        fa, fb = la.get(layer), lb.get(layer)
        if fa is None and fb is None:
            continue
        fa = _indexed(fa, a, layer)
        fb = _indexed(fb, b, layer)
        added = fb.index.difference(fa.index)
        removed = fa.index.difference(fb.index)
        common = fa.index.intersection(fb.index)
        changed = _changes(fa.loc[common], fb.loc[common], crs=crs,
                           move_tolerance_m=move_tolerance_m, rel_tol=rel_tol,
                           ignore=set(ignore_columns))
        rows += [{"layer": layer, "id": i, "change": "added", "changes": "",
                  "geometry": fb.geometry.loc[i]} for i in added]
        rows += [{"layer": layer, "id": i, "change": "removed", "changes": "",
                  "geometry": fa.geometry.loc[i]} for i in removed]
        rows += [{"layer": layer, "id": i, "change": "changed", "changes": text,
                  "geometry": fb.geometry.loc[i]} for i, text in changed.items()]
        counts.append({"layer": layer, "a": len(fa), "b": len(fb), "added": len(added),
                       "removed": len(removed), "changed": len(changed),
                       "unchanged": len(common) - len(changed)})
    items = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["layer", "id", "change", "changes",
                                                         "geometry"]),
                             geometry="geometry", crs="EPSG:4326")
    count_frame = pd.DataFrame(counts, columns=["layer", "a", "b", "added", "removed",
                                                "changed", "unchanged"]).set_index("layer")
    kpis = _kpi_deltas(_read_kpis(a), _read_kpis(b))
    logger.info("diff %s -> %s: %d item changes", a, b, len(items))
    return PlanDiff(items=items, counts=count_frame, kpis=kpis, a=a, b=b)


def _indexed(frame: gpd.GeoDataFrame | None, path: Path, layer: str) -> gpd.GeoDataFrame:
    if frame is None:
        return gpd.GeoDataFrame({"id": pd.Series(dtype=str)}, geometry=gpd.GeoSeries(
            [], crs="EPSG:4326"), crs="EPSG:4326").set_index("id")
    if "id" not in frame.columns:
        raise InputError(f"{path}, layer {layer!r}: no 'id' column, so its items cannot be "
                         "matched between plans; plans written by `cli.py plan` have one")
    ids = frame["id"].astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise InputError(f"{path}, layer {layer!r}: duplicate ids {list(dup[:5])}")
    return frame.assign(id=ids).set_index("id").to_crs("EPSG:4326")


def _changes(fa: gpd.GeoDataFrame, fb: gpd.GeoDataFrame, *, crs: str,
             move_tolerance_m: float, rel_tol: float, ignore: set[str]) -> dict[str, str]:
    """id -> "col: a -> b; ..." for the items whose attributes or geometry differ."""
    if fa.empty:
        return {}
    cols = [c for c in fa.columns if c in fb.columns and c != fa.geometry.name
            and c not in ignore]
    notes: dict[str, list[str]] = {i: [] for i in fa.index}
    for col in cols:
        va, vb = fa[col], fb[col]
        if pd.api.types.is_numeric_dtype(va) and pd.api.types.is_numeric_dtype(vb):
            x, y = va.astype(float).to_numpy(), vb.astype(float).to_numpy()
            same = np.isclose(x, y, rtol=rel_tol, atol=1e-6) | (np.isnan(x) & np.isnan(y))
        else:
            sa, sb = va.astype(str).where(va.notna(), ""), vb.astype(str).where(vb.notna(), "")
            same = (sa.to_numpy() == sb.to_numpy())
        for i in fa.index[~same]:
            notes[i].append(f"{col}: {_short(fa.at[i, col])} -> {_short(fb.at[i, col])}")
    ga = fa.geometry.to_crs(crs).to_numpy()
    gb = fb.geometry.to_crs(crs).to_numpy()
    moved = shapely.hausdorff_distance(ga, gb)
    for i, m in zip(fa.index, moved, strict=True):
        if not math.isfinite(m) or m > move_tolerance_m:
            notes[i].append(f"moved {m:,.0f} m" if math.isfinite(m) else "geometry changed")
    return {i: "; ".join(n) for i, n in notes.items() if n}


def _short(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"
    return str(value)


def _read_kpis(plan: Path) -> dict[str, Any]:
    path = plan.with_name("kpis.json")
    if not path.is_file():
        logger.warning("no kpis.json beside %s; KPI deltas left out", plan)
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


def _kpi_deltas(a: Mapping[str, Any], b: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for group in dict.fromkeys([*a, *b]):
        ga, gb = a.get(group, {}), b.get(group, {})
        if group == "targets":  # a list of targets: compare what each achieved, by id
            ga, gb = ({t["id"]: t.get("achieved") for t in g if isinstance(t, Mapping)}
                      if isinstance(g, list) else {} for g in (ga, gb))
        if not isinstance(ga, Mapping) or not isinstance(gb, Mapping):
            ga, gb = {group: ga}, {group: gb}
        for key in dict.fromkeys([*ga, *gb]):
            va, vb = ga.get(key), gb.get(key)
            if isinstance(va, Mapping | list) or isinstance(vb, Mapping | list):
                continue
            row = {"group": group, "kpi": key, "a": va, "b": vb, "delta": None,
                   "delta_pct": None}
            if _number(va) and _number(vb):
                row["delta"] = float(vb) - float(va)
                row["delta_pct"] = (100.0 * (float(vb) - float(va)) / abs(float(va))
                                    if float(va) != 0 else None)
            rows.append(row)
    return pd.DataFrame(rows, columns=["group", "kpi", "a", "b", "delta", "delta_pct"])


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


@dataclass(frozen=True)
class DiffFiles:
    html: Path
    csv: Path
    kpis_csv: Path
    summary: Path


def write_diff(diff: PlanDiff, out_dir: str | Path, *, title: str | None = None,
               lang: str = "en") -> DiffFiles:
    """Write ``diff.html``, ``diff.csv``, ``diff_kpis.csv`` and ``diff_summary.json``;
    ``lang`` (``en``/``zh``) is the language of the page's labels."""
    from siting.i18n import t
    from siting.maps import MapLayer, write_map
    from siting.maps.recipes import geom_kind

    out = Path(out_dir)
    specs = layer_specs()
    layers = []
    for (change, layer), sub in diff.items.groupby(["change", "layer"], sort=False):
        spec = specs.get(str(layer))
        kind = spec.geometry if spec is not None else geom_kind(sub)
        name = spec.title if spec is not None else str(layer).replace("_", " ").capitalize()
        layers.append(MapLayer(
            key=f"{change}:{layer}", frame=sub, kind=kind, title=f"{name}: {change}",
            id_field="id", name_field="id", fields=(("changes", "Changes", ""),),
            style={"color": CHANGE_COLOURS[str(change)], "radius": 7, "weight": 4,
                   "fill_opacity": 0.08, "shape": "line" if kind == "lines" else "point"}))
    layers.sort(key=lambda m: ("removed", "changed", "added").index(m.key.split(":")[0]))
    districts = _districts(diff.b)
    if districts is not None:
        layers.insert(0, MapLayer(key="districts", frame=districts, title="District boundaries",
                                  kind="polygons", name_field="name" if "name" in districts
                                  else None, style={"color": "#34495e", "weight": 1.6,
                                                    "fill_opacity": 0.02, "shape": "area"}))
    kpis: dict[str, dict[str, str]] = {}
    for r in diff.kpis.itertuples(index=False):
        kpis.setdefault(str(r.group), {})[str(r.kpi)] = _kpi_change(r)
    c = diff.counts.sum() if len(diff.counts) else pd.Series(dtype=float)
    subtitle = (f"{diff.a} -> {diff.b}: " + ", ".join(
        f"{int(c.get(k, 0))} {k}" for k in ("added", "removed", "changed")))
    table = diff.items.drop(columns="geometry")
    with atomic_dir(out, kind="diff") as stage:
        table.to_csv(stage / "diff.csv", index=False)
        diff.kpis.to_csv(stage / "diff_kpis.csv", index=False)
        write_json(stage / "diff_summary.json", diff.summary())
        write_map(stage / "diff.html", layers, title=title or t("diff.title", lang),
                  subtitle=subtitle, kpis=kpis, decisions=False, lang=lang,
                  table={"title": f"{t('diff.items', lang)} ({len(table)})",
                         "columns": ["layer", "id", "change", "changes"],
                         "rows": table[["layer", "id", "change", "changes"]].to_numpy().tolist(),
                         "link": (0, 1, 2),
                         "empty": t("diff.empty", lang)})
    return DiffFiles(html=out / "diff.html", csv=out / "diff.csv",
                     kpis_csv=out / "diff_kpis.csv", summary=out / "diff_summary.json")


def _kpi_change(r: Any) -> str:
    """One KPI row of diff.html: "A -> B (+delta, +pct %)", in the KPI's own units and
    without float noise (a delta of 4.758e-16 is 0)."""
    from siting.maps.page import ZERO, format_kpi

    key, group = str(r.kpi), str(r.group)

    def show(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        return format_kpi(key, v, section=group)

    text = f"{show(r.a)} -> {show(r.b)}"
    if r.delta is None or pd.isna(r.delta):
        return text
    if abs(float(r.delta)) < ZERO:
        return f"{text} (no change)"
    pct = ("" if r.delta_pct is None or pd.isna(r.delta_pct) or abs(r.delta_pct) < ZERO
           else f", {r.delta_pct:+.1f} %")
    return f"{text} ({format_kpi(key, float(r.delta), section=group, signed=True)}{pct})"


def _districts(plan: Path) -> gpd.GeoDataFrame | None:
    """Plan B's district boundaries for context on the diff map, if it has them."""
    import pyogrio

    try:
        if "districts" not in set(pyogrio.list_layers(plan)[:, 0]):
            return None
        return gpd.read_file(plan, layer="districts", engine="pyogrio")
    except (pyogrio.errors.DataSourceError, OSError):
        return None


def format_diff(diff: PlanDiff) -> str:
    """Plain-text summary for the CLI: counts per layer and each KPI delta."""
    lines = [f"Diff {diff.a} -> {diff.b}"]
    for layer, r in diff.counts.iterrows():
        lines.append(f"  {layer:<18} {r['a']:>6} -> {r['b']:>6}   +{r['added']} added  "
                     f"-{r['removed']} removed  ~{r['changed']} changed")
    for r in diff.kpis.itertuples(index=False):
        delta = "" if r.delta is None or pd.isna(r.delta) else f"  ({r.delta:+,.4g})"
        lines.append(f"  {r.group}.{r.kpi}: {_short(r.a)} -> {_short(r.b)}{delta}")
    return "\n".join(lines)
