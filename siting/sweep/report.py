"""The sweep's outputs: ``sweep.csv``, ``sweep.parquet``, ``sweep.html``, ``provenance.json``.

``sweep.html`` is one self-contained page that works with no network: plain HTML
and inline SVG drawn here (no scripts, no CDN). It holds a plot of each headline KPI
against each varied value, a map of how often each charging station is opened
across the runs (over the region's boundary and districts, with the region's credits
and a "synthetic" label for the embedded demo), the robust station set when there is
one, and the table of runs, each linked to its own ``plan.html``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.io import atomic_path, write_json

__all__ = ["HEADLINE_KPIS", "records_table", "write_outputs"]

#: KPIs plotted and shown in the table first, per planner (those present are used)
HEADLINE_KPIS = {
    "chargers": ("objective_cny_per_year", "stations", "piles_fast", "mean_distance_m",
                 "coverage_share", "utilisation"),
    "logistics": ("objective_cny_per_year", "parks", "freight_mt", "rail_access_max_m"),
    "heat": ("heat_delivered_mw", "pipes_km", "co2_avoided_t", "loss_share"),
}
#: nested KPI sections too large for one row (kept in each run's kpis.json)
SKIPPED_SECTIONS = ("per_district", "per_zone", "per_source", "per_park")


def _flatten(node: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in node.items():
        if key in SKIPPED_SECTIONS:
            continue
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(value, name, out)
        elif isinstance(value, bool | int | float | str) or value is None:
            out[name] = value


def record_row(record: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """One table row: the run, its varied values, status, diagnosis, seconds, every
    scalar KPI (``<planner>.<kpi>``, nested sections dotted) and each target's
    ``target.<id>.met`` and ``.achieved``."""
    status = str(record.get("status"))
    row: dict[str, Any] = {"run_id": record["run_id"]}
    point = record.get("point") or {}
    row.update({k: point.get(k) for k in keys})
    row["status"] = "error" if status == "input" else status
    row["diagnosis"] = record.get("diagnosis") or ""
    row["seconds"] = record.get("seconds")
    row["skipped"] = bool(record.get("skipped"))
    row["worker"] = record.get("worker")
    kpis = record.get("kpis") or {}
    targets = kpis.get("targets") or []
    row["targets_met"] = sum(1 for t in targets if t.get("met")) if targets else None
    row["targets_total"] = len(targets) if targets else None
    for name, section in kpis.items():
        if name != "targets" and isinstance(section, Mapping):
            _flatten(section, name, row)
    for t in targets:
        row[f"target.{t.get('id')}.met"] = bool(t.get("met"))
        row[f"target.{t.get('id')}.achieved"] = t.get("achieved")
    return row


def records_table(records: Sequence[Mapping[str, Any]], *, keys: Sequence[str]
                  ) -> pd.DataFrame:
    """The sweep table, one row per run (see :func:`record_row`)."""
    return pd.DataFrame([record_row(r, keys) for r in records])


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Columns of mixed types (a number in some runs, text in others) as text."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col] if v is not None and not
                     (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 or (kinds and not kinds <= {str, bool}):
                out[col] = [None if v is None or (isinstance(v, float) and math.isnan(v))
                            else str(v) for v in out[col]]
    return out


def write_outputs(out: Path, *, table: pd.DataFrame, records: Sequence[Mapping[str, Any]],
                  region: Any, is_demo: bool, provenance: Mapping[str, Any],
                  robust: Mapping[str, Any] | None, varied: Sequence[str],
                  stations: tuple[Mapping[str, frozenset[str]],
                                  Mapping[str, tuple[float, float]]] | None = None
                  ) -> tuple[Path, ...]:
    """Write the sweep's files into ``out`` (each atomically); return their paths.
    ``stations``: the runs' :func:`~siting.sweep.robust.station_sets`, when already read."""
    import logging

    out.mkdir(parents=True, exist_ok=True)
    files = []
    with atomic_path(out / "sweep.csv") as tmp:
        table.to_csv(tmp, index=False)
    files.append(out / "sweep.csv")
    try:
        with atomic_path(out / "sweep.parquet") as tmp:
            _parquet_safe(table).to_parquet(tmp, index=False)
        files.append(out / "sweep.parquet")
    except ImportError as exc:
        logging.getLogger(__name__).warning("sweep.parquet not written: %s (pip install "
                                            "pyarrow)", exc)
    from siting.sweep.robust import station_sets

    sets, where = stations if stations is not None else station_sets(records, out)
    page = sweep_page(table, region=region, is_demo=is_demo, varied=varied,
                      station_sets=sets, where=where, robust=robust, provenance=provenance)
    with atomic_path(out / "sweep.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    files.append(out / "sweep.html")
    write_json(out / "provenance.json", dict(provenance))
    files.append(out / "provenance.json")
    if robust is not None:
        files.append(out / "robust.json")
    return tuple(files)


# ------------------------------------------------------------------ the page

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(value)


def headline_columns(table: pd.DataFrame) -> list[str]:
    """The headline KPI columns present in ``table`` with at least one number."""
    cols = []
    for planner, names in HEADLINE_KPIS.items():
        for name in names:
            col = f"{planner}.{name}"
            if col in table.columns and pd.to_numeric(table[col], errors="coerce").notna().any():
                cols.append(col)
    return cols


def _short(value: float) -> str:
    """A tick label that fits a narrow margin: 1.32e8 -> ``132M``."""
    v = float(value)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(v) >= div:
            return f"{v / div:.4g}{suffix}" if div != 1e4 else f"{v / 1e3:.4g}k"
    return f"{v:.4g}"


def _axis_values(series: pd.Series) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Numeric positions of the varied values, and the ticks to label."""
    numeric = pd.to_numeric(series, errors="coerce")
    if numeric.notna().all() and series.map(lambda v: not isinstance(v, bool)).all():
        x = numeric.to_numpy(float)
        lo, hi = float(np.min(x)), float(np.max(x))
        ticks = [(lo, _fmt(lo)), (hi, _fmt(hi))] if hi > lo else [(lo, _fmt(lo))]
        return x, ticks
    labels = sorted({str(v) for v in series}, key=str)
    pos = {label: float(k) for k, label in enumerate(labels)}
    return np.array([pos[str(v)] for v in series]), [(p, lab) for lab, p in pos.items()]


def kpi_plot(x_series: pd.Series, y_series: pd.Series, status: pd.Series, *, xlabel: str,
             ylabel: str, width: int = 300, height: int = 190) -> str:
    """An inline SVG scatter plot of one KPI against one varied value (runs that did not
    finish with a plan are marked on the axis as red crosses)."""
    x, ticks = _axis_values(x_series)
    y = pd.to_numeric(y_series, errors="coerce").to_numpy(float)
    left, right, top, bottom = 58, 12, 12, 38
    pw, ph = width - left - right, height - top - bottom
    xlo, xhi = (float(np.min(x)), float(np.max(x))) if len(x) else (0.0, 1.0)
    if xhi == xlo:
        xlo, xhi = xlo - 1, xhi + 1
    finite = y[np.isfinite(y)]
    ylo, yhi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if yhi == ylo:
        ylo, yhi = ylo - max(abs(ylo) * 0.05, 1e-9), yhi + max(abs(yhi) * 0.05, 1e-9)
    pad = (yhi - ylo) * 0.08
    ylo, yhi = ylo - pad, yhi + pad

    def px(v: float) -> float:
        return left + (v - xlo) / (xhi - xlo) * pw * 0.9 + pw * 0.05

    def py(v: float) -> float:
        return top + ph - (v - ylo) / (yhi - ylo) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{_e(ylabel)} against {_e(xlabel)}">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" '
             f'stroke="#999"/>']
    for v, label in ticks:
        parts.append(f'<text x="{px(v):.1f}" y="{top + ph + 14}" font-size="10" '
                     f'text-anchor="middle">{_e(label)}</text>')
    for v in (ylo + pad, yhi - pad):
        parts.append(f'<text x="{left - 4}" y="{py(v) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{_e(_short(v))}</text>')
    parts.append(f'<text x="{left + pw / 2:.0f}" y="{height - 6}" font-size="10" '
                 f'text-anchor="middle">{_e(xlabel)}</text>')
    # mean per distinct x (grid sweeps): a line through the means
    means = pd.Series(y).groupby(x).mean().dropna()
    if len(means) > 1:
        pts = " ".join(f"{px(float(a)):.1f},{py(float(b)):.1f}" for a, b in means.items())
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#888" '
                     f'stroke-dasharray="3,2"/>')
    for xi, yi, st in zip(x, y, status, strict=True):
        if np.isfinite(yi):
            parts.append(f'<circle cx="{px(xi):.1f}" cy="{py(yi):.1f}" r="3.5" '
                         f'fill="#1f77b4" fill-opacity="0.75"><title>{_e(xlabel)}='
                         f'{_e(_fmt(xi))}: {_e(_fmt(yi))}</title></circle>')
        elif st != "ok":
            cx, cy = px(xi), top + ph - 4
            parts.append(f'<path d="M{cx - 3:.1f},{cy - 3:.1f}l6,6m0,-6l-6,6" stroke="#c00" '
                         f'stroke-width="1.5"><title>{_e(st)}</title></path>')
    parts.append("</svg>")
    return "".join(parts)


def _ramp(t: float) -> str:
    """A colour from pale yellow (rarely opened) to dark red (opened in every run)."""
    stops = [(255, 237, 160), (254, 178, 76), (240, 59, 32), (128, 0, 38)]
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    k = min(int(t), len(stops) - 2)
    f = t - k
    a, b = stops[k], stops[k + 1]
    return "#" + "".join(f"{round(a[i] + (b[i] - a[i]) * f):02x}" for i in range(3))


def station_map(region: Any, sets: Mapping[str, frozenset[str]],
                where: Mapping[str, tuple[float, float]], *, is_demo: bool,
                robust: frozenset[str] = frozenset(), width: int = 720,
                max_height: int = 900) -> str:
    """An inline SVG map: the region's boundary and districts, each charging station
    sized and coloured by the share of runs that open it (robust stations ringed)."""
    from siting.export import EDGE_CRS

    n_runs = len(sets)
    counts: dict[str, int] = {}
    for stations in sets.values():
        for s in stations:
            counts[s] = counts.get(s, 0) + 1
    shapes = []
    if region is not None:
        shapes.append(("boundary", region.boundary.to_crs(EDGE_CRS).geometry))
        if getattr(region, "districts", None) is not None and len(region.districts):
            shapes.append(("district", region.districts.to_crs(EDGE_CRS).geometry))
    xs: list[float] = []
    ys: list[float] = []
    for _, geoms in shapes:
        b = geoms.total_bounds
        xs += [b[0], b[2]]
        ys += [b[1], b[3]]
    for s in counts:
        if s in where:
            xs.append(where[s][0])
            ys.append(where[s][1])
    if not xs:
        return "<p>No stations and no region to draw.</p>"
    lat0 = (min(ys) + max(ys)) / 2
    k = math.cos(math.radians(lat0))
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = max((x1 - x0) * k, 1e-9), max(y1 - y0, 1e-9)
    scale = min((width - 20) / span_x, (max_height - 20) / span_y)
    width = int(span_x * scale) + 20
    height = int(span_y * scale) + 20

    def pt(lon: float, lat: float) -> str:
        return f"{10 + (lon - x0) * k * scale:.1f},{10 + (y1 - lat) * scale:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="charging stations by how often the runs open them">',
             f'<rect width="{width}" height="{height}" fill="#f4f6f8"/>']
    for kind, geoms in shapes:  # the boundary (filled) first, districts over it
        style = ('fill="#ffffff" stroke="#555" stroke-width="1.2"' if kind == "boundary"
                 else 'fill="none" stroke="#bbb" stroke-width="0.6"')
        for geom in geoms:
            if geom is None or geom.is_empty:
                continue
            polys = getattr(geom, "geoms", [geom])
            d = []
            for poly in polys:
                for ring in [poly.exterior, *poly.interiors]:
                    coords = list(ring.coords)
                    step = max(1, len(coords) // 400)
                    d.append("M" + "L".join(pt(c[0], c[1]) for c in coords[::step]) + "Z")
            parts.append(f'<path d="{"".join(d)}" {style} fill-rule="evenodd"/>')
    for s, c in sorted(counts.items(), key=lambda item: (item[1], item[0])):
        if s not in where:
            continue
        share = c / max(n_runs, 1)
        x, y = pt(*where[s]).split(",")
        ring = ' stroke="#000" stroke-width="0.7"' if s in robust else ""
        parts.append(f'<circle cx="{x}" cy="{y}" r="{1.5 + 3.5 * share:.2f}" '
                     f'fill="{_ramp(share)}"{ring}><title>{_e(s)}: opened in {c} of '
                     f'{n_runs} runs</title></circle>')
    parts.append("</svg>")
    legend = " ".join(
        f'<svg width="16" height="16"><circle cx="8" cy="8" r="{1.5 + 3.5 * t:.2f}" '
        f'fill="{_ramp(t)}"/></svg> {int(t * 100)}%' for t in (0.25, 0.5, 0.75, 1.0))
    credits = list(getattr(region, "attribution", ()) or ())
    label = ('<p class="synthetic"><b>Synthetic</b>: the embedded demo region; its roads, '
             'land use and candidate sites are generated, not real data.</p>'
             if is_demo else "")
    from siting._version import OSM_ATTRIBUTION

    if not is_demo and not any("OpenStreetMap" in c for c in credits):
        credits.append(OSM_ATTRIBUTION)
    ring_note = " Ringed: the robust station set." if robust else ""
    return (f'{label}<p>Share of the {n_runs} run(s) with a charger plan that open each '
            f'station (fleet depots and hubs left out): {legend}.{ring_note}</p>'
            f'<div class="map">{"".join(parts)}</div>'
            f'<p class="credits">{"<br>".join(_e(c) for c in credits)}</p>')


def _robust_section(robust: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(p['run_id'])}</td><td>{_e(_point(p.get('varied', {})))}</td>"
        f"<td>{_fmt(p['robust_cost'])}</td><td>{_fmt(p['own_cost'])}</td>"
        f"<td>{_fmt(p['own_bound'])}</td><td>{_fmt(p['extra_cost'])}</td>"
        f"<td>{_fmt(100 * p['extra_share']) + ' %' if p.get('extra_share') is not None else '–'}"
        f"</td></tr>" for p in robust["per_scenario"])
    chosen = robust["chosen_candidate"]
    cand = "".join(
        f"<tr><td>{_e(c['candidate'])}{' (chosen)' if c['candidate'] == chosen else ''}</td>"
        f"<td>{_e(', '.join(c['from_runs']) or c.get('move') or '')}</td>"
        f"<td>{c['stations']:,}</td>"
        f"<td>{_fmt(c['expected_cost'])}</td><td>{_fmt(c['max_regret'])}</td>"
        f"<td>{'yes' if c['fixed'] else 'no'}</td></tr>" for c in robust["candidates"])
    gap = robust.get("gap")
    runs = ", ".join(robust["chosen_from_runs"])
    origin = (f"the plan of run(s) {runs}" if runs else
              f"local-search move: {robust.get('chosen_move')}")
    return (
        f"<h2>Robust station set ({_e(robust['objective'])})</h2>"
        f"<p><b>Method:</b> {_e(robust['method'])}. {_e(robust['claim'])}.</p>"
        f"<p>{robust['n_stations']:,} stations ({_e(origin)}); expected cost "
        f"{_fmt(robust['expected_cost'])} CNY/yr, maximum regret "
        f"{_fmt(robust['max_regret'])} CNY/yr; wait-and-see lower bound "
        f"{_fmt(robust['lower_bound'])} CNY/yr; gap "
        f"{_fmt(100 * gap) + ' %' if gap is not None else '–'}.</p>"
        f"<table><tr><th>run</th><th>varied</th><th>robust set's cost</th>"
        f"<th>own plan's cost</th><th>own bound</th><th>extra cost</th><th>extra</th></tr>"
        f"{rows}</table><h3>Candidates</h3><table><tr><th>candidate</th>"
        f"<th>plan of run, or move</th>"
        f"<th>stations</th><th>expected cost</th><th>max regret</th>"
        f"<th>stations held fixed</th></tr>{cand}</table>")


def _point(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in point.items())


def sweep_page(table: pd.DataFrame, *, region: Any, is_demo: bool, varied: Sequence[str],
               station_sets: Mapping[str, frozenset[str]],
               where: Mapping[str, tuple[float, float]], robust: Mapping[str, Any] | None,
               provenance: Mapping[str, Any]) -> str:
    """The whole ``sweep.html`` (see the module docstring)."""
    name = getattr(region, "name", None) or provenance.get("region") or "region"
    heads = headline_columns(table)
    status = table["status"] if "status" in table.columns else pd.Series(dtype=str)
    counts = status.value_counts().to_dict()
    plots = []
    for key in varied:
        cells = "".join(
            f'<figure>{kpi_plot(table[key], table[col], status, xlabel=key, ylabel=col)}'
            f'<figcaption>{_e(col)}</figcaption></figure>' for col in heads)
        plots.append(f"<h3>Against {_e(key)}</h3><div class='plots'>{cells}</div>")
    robust_set = frozenset(s["id"] for s in robust["stations"]) if robust else frozenset()
    smap = station_map(region, station_sets, where, is_demo=is_demo, robust=robust_set) \
        if station_sets else "<p>No run has a charger plan: no station map.</p>"
    shown = ["run_id", *varied, "status", *heads, "targets_met", "seconds"]
    shown = [c for c in shown if c in table.columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in shown) + "<th>diagnosis</th>"
    body = []
    for _, row in table.iterrows():
        tds = []
        for c in shown:
            v = row[c]
            if c == "run_id" and row.get("status") == "ok":
                tds.append(f'<td><a href="runs/{_e(v)}/plan.html">{_e(v)}</a></td>')
            elif c == "targets_met" and row.get("targets_total") and \
                    not _isnan(row.get("targets_total")):
                tds.append(f"<td>{_fmt(v)} / {_fmt(row['targets_total'])}</td>")
            else:
                tds.append(f"<td>{_e(_fmt(None if _isnan(v) else v))}</td>")
        diag = str(row.get("diagnosis") or "")
        first = diag.splitlines()[0][:240] if diag else ""
        tds.append(f'<td title="{_e(diag)}">{_e(first)}</td>')
        body.append(f"<tr class='{_e(row.get('status'))}'>{''.join(tds)}</tr>")
    dask = provenance.get("dask", {})
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    cluster = (f"Dask: {dask.get('workers')} worker(s) at {dask.get('scheduler')}, dask "
               f"{dask.get('dask_version')}" if dask.get("scheduler") else
               "No Dask cluster was started (every run and evaluation was reused)")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Scenario sweep: {_e(name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
th {{ background: #eee; }}
tr.infeasible td, tr.error td, tr.bug td {{ background: #fde8e8; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 8px; }}
figure {{ margin: 0; }} figcaption {{ font-size: 11px; text-align: center; }}
.synthetic {{ color: #a00; }} .credits {{ font-size: 11px; color: #555; }}
</style></head><body>
<h1>Scenario sweep: {_e(name)}</h1>
<p>{len(table)} run(s): {_e(summary)}; {provenance.get('runs_skipped', 0)} reused from an
earlier sweep. Varied: {_e(', '.join(varied))}. Planners:
{_e(', '.join(provenance.get('planners', [])))}.
{_e(cluster)}. Made {_e(provenance.get('created_utc'))} by siting
{_e(provenance.get('siting_version'))}.</p>
<h2>KPIs against each varied value</h2>
<p>Each dot is a run; the dashed line joins the means per value; red crosses are runs
without a plan (infeasible or failed: see the table).</p>
{''.join(plots) or '<p>No KPI to plot.</p>'}
<h2>How often each charging station is opened</h2>
{smap}
{_robust_section(robust) if robust else ''}
<h2>Runs</h2>
<table><tr>{head}</tr>{''.join(body)}</table>
<p>Every column is in sweep.csv and sweep.parquet; each run's folder holds its own
plan.html, plan.gpkg, kpis.json and provenance.json.</p>
</body></html>
"""


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
