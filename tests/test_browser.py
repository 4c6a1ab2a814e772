"""The maps in a real headless Chromium with the network cut off.

Chromium is Debian's ``chromium`` package driven by Playwright (``pip install
playwright``; never ``playwright install``). Every request that is not ``file:``,
``data:`` or ``blob:`` is aborted and counted, a dead proxy and a resolver that
finds nothing back that up, and the page's own Content-Security-Policy stays on.
The tests skip with the reason when Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _toys import EVIL, KPIS, X0, Y0, make_plan, plant_violations

CHROMIUM = os.environ.get("SITING_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                    "SITING_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@dataclass
class Page:
    page: Any
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def js(self, expr: str) -> Any:
        return self.page.evaluate(expr)


@pytest.fixture
def open_page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    contexts = []

    def _open(path: Path, url: str | None = None, *, size: tuple[int, int] = (1280, 860)
              ) -> Page:
        ctx = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  accept_downloads=True)
        contexts.append(ctx)
        page = ctx.new_page()
        out = Page(page)

        def route(r: Any) -> None:
            if r.request.url.startswith(LOCAL):
                r.continue_()
            else:
                out.external.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        page.on("requestfailed", lambda r: out.failed.append(r.url))
        page.on("pageerror", lambda e: out.errors.append(str(e)))
        page.on("console", lambda m: out.errors.append(m.text) if m.type == "error" else None)

        def dialog(d: Any) -> None:
            out.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(url or path.resolve().as_uri(), wait_until="load")
        # polled from outside: the page's CSP forbids the eval that wait_for_function uses
        for _ in range(400):
            if out.js("document.body && document.body.dataset.sitingReady === '1'"):
                break
            page.wait_for_timeout(25)
        else:
            pytest.fail(f"map never became ready; page errors: {out.errors}")
        return out

    yield _open
    for ctx in contexts:
        ctx.close()


def _not_blank(png: bytes) -> float:
    """Standard deviation of the screenshot's grey levels (0 for a blank page)."""
    import io

    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(grey.std())


def _default_layers() -> dict[str, Any]:
    """The toy plan with the default page's layers: the EV demand heat map on (over the
    stations and pipes), logistics candidates under the parks (one at each park), and
    later-stage stations with no piles of the first stage, as in the Zibo demo."""
    import geopandas as gpd

    layers = make_plan(n_stations=120, evil_names=True)
    st = layers["charging_stations"]
    later = st["stage"] == "2030"
    st.loc[later, ["piles", "piles_fast", "piles_slow", "kw"]] = 0
    parks = layers["logistics_parks"]
    spots = [*parks.geometry.representative_point(),
             *gpd.points_from_xy([X0 + 12_000, X0 + 14_000], [Y0 + 9_000, Y0 + 9_000])]
    layers["logistics_candidates"] = gpd.GeoDataFrame(
        {"id": [f"lc-{i}" for i in range(len(spots))], "capacity_mt": 3.0,
         "selected": [True, True, False, False]}, geometry=spots, crs=parks.crs)
    return layers


@pytest.fixture
def plan_html(tmp_path: Path) -> Path:
    from siting.maps import plan_map

    return plan_map(_default_layers(), tmp_path / "plan.html", kpis=KPIS, title="Toy plan",
                    coverage_radius_m=1000, synthetic={"red_line", "water", "farmland"},
                    plan_id="toy-plan-1")


def test_plan_map_works_offline(open_page: Any, plan_html: Path) -> None:
    p = open_page(plan_html)
    assert p.external == [] and p.failed == []
    assert p.errors == []
    assert p.js("L.version") == "1.9.4"
    assert p.js("window.siting.map instanceof L.Map")
    labels = p.js("Array.from(document.querySelectorAll("
                  "'.leaflet-control-layers-overlays label')).map(l => l.textContent.trim())")
    for want in ("District boundaries", "Ecological red line", "Permanent basic farmland",
                 "Water bodies", "EV charging demand", "Coverage", "Heat pipes", "Heat sources",
                 "Heat sinks", "Logistics parks", "Charging stations"):
        assert any(label.startswith(want) for label in labels), (want, labels)
    assert any("(synthetic)" in label for label in labels if label.startswith("Ecological"))
    counts = p.js("window.siting.counts")
    assert counts["charging_stations"] == 120 and counts["heat_pipes"] == 3
    # markers rendered: cluster icons in the DOM, every station inside the cluster group
    assert p.js("document.querySelectorAll('.marker-cluster').length") > 0
    assert p.js("window.siting.layers.charging_stations.getLayers().length") == 120
    assert p.js("window.siting.map.hasLayer(window.siting.layers.charging_stations)")
    for control in (".leaflet-control-scale", ".leaflet-control-zoom-fullscreen",
                    ".polyline-measure-unicode-icon", ".siting-legend", ".siting-kpis",
                    ".leaflet-control-attribution"):
        assert p.js(f"!!document.querySelector('{control}')"), control
    assert "OpenStreetMap contributors" in p.js(
        "document.querySelector('.leaflet-control-attribution').textContent")
    assert _not_blank(p.page.screenshot()) > 10


def test_chinese_page_speaks_chinese(open_page: Any, tmp_path: Path) -> None:
    """``lang="zh"``: legend, KPI panel, popup buttons and decisions panel in Chinese;
    layer ids unchanged."""
    from siting.maps import plan_map

    path = plan_map(_default_layers(), tmp_path / "zh.html", kpis=KPIS, title="淄博",
                    coverage_radius_m=1000, plan_id="toy-plan-zh", lang="zh")
    p = open_page(path)
    assert p.errors == [] and p.external == []
    assert p.js("document.documentElement.lang") == "zh-CN"
    legend = p.js("document.querySelector('.siting-legend').textContent")
    assert legend.startswith("图例") and "充电站" in legend and "供热管道" in legend
    kpis = p.js("document.querySelector('.siting-kpis').textContent")
    assert "主要指标" in kpis and "充电桩" in kpis and "供热管网" in kpis
    assert "求解状态" in kpis
    decisions = p.js("document.querySelector('.siting-decisions').textContent")
    assert "审查意见" in decisions and "下载" in decisions
    assert p.js("window.siting.counts")["charging_stations"] == 120   # ids unchanged
    stations = _default_layers()["charging_stations"]
    assert p.js(f"window.siting.openItem('charging_stations', '{stations['id'].iloc[0]}')")
    p.page.wait_for_selector(".leaflet-popup-content button.siting-approve")
    popup = p.js("document.querySelector('.leaflet-popup-content').textContent")
    assert "同意" in popup and "驳回" in popup and "充电桩" in popup
    p.page.locator(".leaflet-popup-content button.siting-reject").click()
    assert "驳回" in p.js("document.querySelector('.siting-decide-state').textContent")


def test_online_basemap_requests_are_caught_by_the_cut(open_page: Any, plan_html: Path) -> None:
    """The counter works: choosing the OSM base makes requests, and each is blocked."""
    p = open_page(plan_html)
    p.page.get_by_text("OpenStreetMap (online)").click()
    p.page.wait_for_timeout(500)
    assert p.external and all("tile.openstreetmap.org" in u for u in p.external)


def test_injected_names_stay_text(open_page: Any, plan_html: Path) -> None:
    p = open_page(plan_html)
    assert p.js("window.siting.openItem('charging_stations', 'cs-0000')")
    p.page.wait_for_selector(".leaflet-popup-content .siting-popup-title")
    title = p.js("document.querySelector('.leaflet-popup-content .siting-popup-title')"
                 ".textContent")
    assert title.endswith(EVIL)
    assert p.js("document.querySelectorAll('.leaflet-popup-content img').length") == 0
    p.page.mouse.move(640, 430)
    p.page.wait_for_timeout(200)
    assert p.dialogs == [] and p.errors == []


def test_reject_a_station_and_download_decisions(open_page: Any, plan_html: Path,
                                                 tmp_path: Path) -> None:
    from siting.review import read_decisions

    p = open_page(plan_html)
    assert p.js("window.siting.openItem('charging_stations', 'cs-0003')")
    popup = p.page.locator(".leaflet-popup-content", has_text="Charging stations")
    popup.locator("textarea.siting-comment").fill("inside a school yard")
    popup.locator("button.siting-reject").click()
    assert "rejected" in popup.locator(".siting-decide-state").text_content()
    assert p.js("window.siting.openItem('heat_pipes', 'hp-2')")
    p.page.locator(".leaflet-popup-content", has_text="Heat pipes").locator(
        "button.siting-approve").click()
    p.page.fill("#siting-reviewer", "Li Wei (NRPB)")
    assert "1 approved · 1 rejected" in p.js(
        "document.querySelector('.siting-decision-count').textContent")
    with p.page.expect_download() as info:
        p.page.get_by_text("Download decisions.geojson").click()
    download = info.value
    assert download.suggested_filename == "decisions.geojson"
    path = tmp_path / "decisions.geojson"
    download.save_as(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["plan"] == "toy-plan-1" and raw["siting_decisions"] == 1
    decisions = read_decisions(path, plan_id="toy-plan-1")
    assert decisions.rejected("charging_stations") == {"cs-0003"}
    assert decisions.approved("heat_pipes") == {"hp-2"}
    d = decisions.get("charging_stations", "cs-0003")
    assert d is not None and d.comment == "inside a school yard"
    assert d.reviewer == "Li Wei (NRPB)" and d.geometry.geom_type == "Point"
    assert p.external == [] and p.errors == []


def test_decisions_survive_a_reload(open_page: Any, plan_html: Path) -> None:
    p = open_page(plan_html)
    p.js("window.siting.setDecision('logistics_parks', 'lp-1', 'rejected', 'flood plain')")
    p.page.reload()
    for _ in range(200):
        if p.js("document.body && document.body.dataset.sitingReady === '1'"):
            break
        p.page.wait_for_timeout(25)
    assert p.js("window.siting.decisions()")["logistics_parks:lp-1"]["decision"] == "rejected"


def test_review_and_diff_pages_work_offline(open_page: Any, tmp_path: Path) -> None:

    from siting.config import ReviewSettings
    from siting.diff import diff_plans, write_diff
    from siting.export import write_gpkg
    from siting.review import review_plan, write_review

    layers = plant_violations(make_plan())
    cons = {k: layers[k] for k in ("red_line", "water", "farmland")}
    result = review_plan(layers, cons, rules=ReviewSettings(), crs="EPSG:32650")
    files = write_review(result, tmp_path / "review", plan_layers=layers, constraints=cons)
    p = open_page(files.html)
    assert p.external == [] and p.errors == []
    rows = p.js("document.querySelectorAll('.siting-table tbody tr.is-link').length")
    assert rows == len(result.findings) > 0
    p.page.locator(".siting-table tbody tr.is-link").first.click()
    p.page.wait_for_selector(".leaflet-popup-content .siting-decide")

    a, b = tmp_path / "a" / "plan.gpkg", tmp_path / "b" / "plan.gpkg"
    write_gpkg(a, make_plan())
    write_gpkg(b, make_plan(seed=8))
    files = write_diff(diff_plans(a, b), tmp_path / "diff")
    p = open_page(files.html)
    assert p.external == [] and p.errors == []
    assert p.js("document.querySelectorAll('.siting-table tbody tr').length") > 0


def test_tianditu_without_a_key_stays_offline(open_page: Any, plan_html: Path) -> None:
    p = open_page(plan_html)
    p.page.get_by_text("Tianditu imagery (online, key)").click()
    p.page.wait_for_timeout(300)
    assert p.dialogs and "Tianditu key" in p.dialogs[0]      # asked, and dismissed
    assert p.external == []                                   # so no tile was requested
    assert p.js("document.querySelector('.leaflet-control-layers-base input:checked')"
                ".parentElement.textContent").strip().startswith("Offline")


def test_tianditu_key_comes_from_the_url_fragment_not_the_file(open_page: Any,
                                                               plan_html: Path) -> None:
    from siting.maps import map_url

    key = "0123456789abcdef"
    assert key not in plan_html.read_text(encoding="utf-8")
    url = map_url(plan_html, tianditu_key=key)
    assert url.endswith(f"#tk={key}")
    p = open_page(plan_html, url=url)
    p.page.get_by_text("Tianditu vector (online, key)").click()
    p.page.wait_for_timeout(500)
    assert p.dialogs == []
    assert p.external and all("tianditu.gov.cn" in u and f"tk={key}" in u for u in p.external)


@pytest.mark.slow
@pytest.mark.parametrize(
    "planner", os.environ.get("SITING_ROUNDTRIP_PLANNERS", "chargers").split(","))
def test_reject_in_the_browser_then_replan_and_diff(open_page: Any, tmp_path: Path,
                                                    planner: str) -> None:
    """The whole loop on the Zibo demo: plan, reject an item in plan.html, download the
    decisions, re-plan with them, and diff. ``SITING_ROUNDTRIP_PLANNERS=heat`` runs it
    with another planner (each run takes minutes)."""
    from siting.config import load_scenario
    from siting.diff import diff_plans
    from siting.pipeline import run_plan
    from siting.registry import PLANNERS

    layer = PLANNERS[planner].decision_layer
    assert layer is not None
    scenario = load_scenario()
    run_a = run_plan(scenario, out=tmp_path / "A", planners=(planner,))
    items = run_a.outputs[planner].layers[layer]
    assert len(items) > 0, f"plan A has no {layer} to reject"
    item = str(items["id"].iloc[len(items) // 2])

    p = open_page(tmp_path / "A" / "plan.html")
    assert p.js(f"window.siting.openItem({json.dumps(layer)}, {json.dumps(item)})")
    p.page.locator(".leaflet-popup-content button.siting-reject").click()
    with p.page.expect_download() as info:
        p.page.get_by_text("Download decisions.geojson").click()
    decisions = tmp_path / "decisions.geojson"
    info.value.save_as(decisions)
    assert p.external == [] and p.errors == []

    run_b = run_plan(scenario, out=tmp_path / "B", planners=(planner,), decisions=decisions)
    assert item not in set(run_b.outputs[planner].layers[layer]["id"].astype(str))
    diff = diff_plans(tmp_path / "A" / "plan.gpkg", tmp_path / "B" / "plan.gpkg")
    removed = diff.items[(diff.items["change"] == "removed") & (diff.items["layer"] == layer)]
    assert item in set(removed["id"])


# ------------------------------------------------------------------ real mouse clicks

def _click_at(p: Page, lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """Zoom to (lat, lon), then click it with the mouse at its pixel, as the map itself
    places it (latLngToContainerPoint); returns the page coordinates clicked."""
    p.js("void window.siting.map.closePopup()")
    p.js(f"void window.siting.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    p.page.wait_for_timeout(350)                 # clusters settle after the zoom
    x, y = p.js(f"""(() => {{
        const m = window.siting.map, r = m.getContainer().getBoundingClientRect();
        const pt = m.latLngToContainerPoint([{lat}, {lon}]);
        return [r.left + pt.x, r.top + pt.y];
    }})()""")
    p.page.mouse.move(x - 30, y - 30)
    p.page.mouse.click(x, y)
    p.page.wait_for_timeout(150)
    return x, y


def _popup(p: Page) -> dict[str, Any]:
    return p.js("""(() => {
        const c = document.querySelector('.leaflet-popup-content');
        return c ? {title: (c.querySelector('.siting-popup-title') || {}).textContent || '',
                    text: c.textContent,
                    approve: !!c.querySelector('button.siting-approve'),
                    reject: !!c.querySelector('button.siting-reject')} : null;
    })()""")


def _lat_lon(frame: Any, i: int, *, along: float | None = None) -> tuple[float, float]:
    geom = frame.geometry.iloc[i]
    if along is not None:
        geom = geom.interpolate(along, normalized=True)
    pt = frame.iloc[[i]].set_geometry([geom.representative_point()], crs=frame.crs)
    pt = pt.to_crs("EPSG:4326").geometry.iloc[0]
    return round(pt.y, 5), round(pt.x, 5)


def test_mouse_clicks_open_stations_parks_and_pipes_on_the_default_page(
        open_page: Any, plan_html: Path) -> None:
    """Real clicks, with the default layers on: the demand heat map never takes them,
    decidable items win over candidates, even when candidates are drawn after them."""
    layers = _default_layers()
    p = open_page(plan_html)
    assert p.js("window.siting.map.hasLayer(window.siting.layers.demand_ev_sessions_day)")
    # switch the candidates off and on: drawn last now, they are still under the parks
    for _ in range(2):
        p.page.locator(".leaflet-control-layers-overlays label",
                       has_text="Logistics candidates").locator("input").click()
    assert p.js("window.siting.map.hasLayer(window.siting.layers.logistics_candidates)")

    lat, lon = _lat_lon(layers["charging_stations"], 5)
    _click_at(p, lat, lon, 17)
    got = _popup(p)
    assert got and got["title"].startswith("Charging stations: Station 5"), got
    assert got["approve"] and got["reject"]

    for i, name in enumerate(["North park", "East park"]):
        lat, lon = _lat_lon(layers["logistics_parks"], i)
        _click_at(p, lat, lon, 16)
        got = _popup(p)
        assert got and got["title"] == f"Logistics parks: {name}", got
        assert got["approve"] and got["reject"]

    lat, lon = _lat_lon(layers["heat_pipes"], 1, along=0.5)
    _click_at(p, lat, lon, 16)
    got = _popup(p)
    assert got and got["title"].startswith("Heat pipes"), got
    assert got["approve"] and got["reject"]
    p.page.locator(".leaflet-popup-content button.siting-approve").click()
    assert p.js("window.siting.decisions()")["heat_pipes:hp-2"]["decision"] == "approved"

    # a candidate away from the parks: a read-only popup that says so
    lat, lon = _lat_lon(layers["logistics_candidates"], 3)
    _click_at(p, lat, lon, 16)
    got = _popup(p)
    assert got and got["title"].startswith("Logistics candidates"), got
    assert "candidate site — not in the plan; read only" in got["text"]
    assert not got["approve"] and not got["reject"]
    assert p.errors == [] and p.external == []


def test_heat_maps_take_no_pointer_events(open_page: Any, plan_html: Path) -> None:
    p = open_page(plan_html)
    events = p.js("Array.from(document.querySelectorAll('canvas.leaflet-heatmap-layer'))"
                  ".map(c => getComputedStyle(c).pointerEvents)")
    assert events and set(events) == {"none"}


# ------------------------------------------------------------------ labels and layout

_RECT = """(sel) => Array.from(document.querySelectorAll(sel)).filter(e => {
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden';
}).map(e => { const r = e.getBoundingClientRect();
              return [r.left, r.top, r.right, r.bottom]; })"""


def _rects(p: Page, selector: str) -> list[list[float]]:
    return p.page.evaluate(_RECT, selector)


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def test_cluster_labels_kpi_labels_and_scale_bar_read_well(open_page: Any,
                                                           plan_html: Path) -> None:
    p = open_page(plan_html)
    labels = p.js("""Array.from(document.querySelectorAll('.siting-cluster span')).map(s => [
        s.textContent, s.getBoundingClientRect().width,
        s.parentElement.getBoundingClientRect().width])""")
    assert labels
    for text, inner, outer in labels:
        assert text != "0" and text.strip(), labels
        assert inner <= outer + 0.5, (text, inner, outer)         # never cut off
    kpis = p.js("document.querySelector('.siting-kpis').textContent")
    for raw in ("Piles total", "Coverage share", "Mip gap", "Solve seconds", "2,0"):
        assert raw not in kpis, raw
    assert "Charging piles" in kpis and "Demand within reach" in kpis
    # the scale bar sits clear of the attribution, visible and uncovered
    (scale,) = _rects(p, ".leaflet-control-scale")
    (attribution,) = _rects(p, ".leaflet-control-attribution")
    assert not _overlap(scale, attribution), (scale, attribution)
    cx, cy = (scale[0] + scale[2]) / 2, (scale[1] + scale[3]) / 2
    assert p.js(f"!!document.elementFromPoint({cx}, {cy}).closest('.leaflet-control-scale')")


@pytest.fixture(scope="module")
def review_and_diff(tmp_path_factory: Any) -> dict[str, Path]:
    from siting.config import ReviewSettings
    from siting.diff import diff_plans, write_diff
    from siting.export import write_gpkg
    from siting.review import review_plan, write_review

    tmp = tmp_path_factory.mktemp("pages")
    layers = plant_violations(make_plan())
    cons = {k: layers[k] for k in ("red_line", "water", "farmland")}
    result = review_plan(layers, cons, rules=ReviewSettings(), crs="EPSG:32650")
    review = write_review(result, tmp / "review", plan_layers=layers, constraints=cons).html
    a, b = tmp / "a" / "plan.gpkg", tmp / "b" / "plan.gpkg"
    write_gpkg(a, make_plan())
    (a.parent / "kpis.json").write_text(json.dumps(KPIS), encoding="utf-8")
    write_gpkg(b, make_plan(seed=8))
    moved = {**KPIS, "chargers": {**KPIS["chargers"], "coverage_share": 0.934 + 4.758e-16,
                                  "piles_total": 1100}}
    (b.parent / "kpis.json").write_text(json.dumps(moved), encoding="utf-8")
    diff = write_diff(diff_plans(a, b), tmp / "diff").html
    return {"review": review, "diff": diff}


def _region_in_view(p: Any) -> bool:
    """Whether the four corners of the page's region lie inside the map."""
    return bool(p.js("""(() => {
        const m = window.siting.map, s = m.getSize();
        const b = JSON.parse(document.getElementById('siting-data').textContent).bounds;
        return [[b[0][0], b[0][1]], [b[1][0], b[1][1]], [b[0][0], b[1][1]], [b[1][0], b[0][1]]]
          .map(c => m.latLngToContainerPoint(c))
          .every(pt => pt.x >= -1 && pt.y >= -1 && pt.x <= s.x + 1 && pt.y <= s.y + 1);
    })()"""))


def _assert_panels_apart(boxes: list[tuple[str, Any]], map_box: Any, label: object) -> None:
    """Every panel (but the table) inside the map, and no two panels overlapping."""
    for i, (sa, a) in enumerate(boxes):
        if sa != ".siting-table":
            assert a[3] <= map_box[3] + 0.5 and a[2] <= map_box[2] + 0.5, (sa, a, map_box)
        for sb, b in boxes[i + 1:]:
            assert not _overlap(a, b), (label, sa, a, sb, b)


PANELS = (".siting-title", ".siting-kpis", ".siting-decisions", ".siting-legend",
          ".leaflet-control-layers", ".leaflet-control-scale", ".leaflet-control-attribution",
          ".leaflet-control-zoom", ".siting-table")


@pytest.mark.parametrize("size", [(1280, 720), (1400, 900)], ids=["1280x720", "1400x900"])
@pytest.mark.parametrize("which", ["review", "diff"])
def test_review_and_diff_fit_the_region_and_panels_never_overlap(
        open_page: Any, review_and_diff: dict[str, Path], which: str,
        size: tuple[int, int]) -> None:
    p = open_page(review_and_diff[which], size=size)
    assert p.errors == [] and p.external == []
    # the whole region, in the map left above the table
    assert _region_in_view(p)
    (table,) = _rects(p, ".siting-table")
    (map_box,) = _rects(p, "#map")
    assert map_box[3] <= table[1] + 1                            # the map ends at the table
    boxes = [(sel, r) for sel in PANELS for r in _rects(p, sel)]
    assert {sel for sel, _ in boxes} >= {".siting-kpis", ".siting-legend", ".siting-title"}
    if which == "review":
        assert ".siting-decisions" in {sel for sel, _ in boxes}
    _assert_panels_apart(boxes, map_box, (which, size))
    assert _not_blank(p.page.screenshot()) > 10
    if which == "diff":
        kpis = p.js("document.querySelector('.siting-kpis').textContent")
        assert "e-1" not in kpis and "Demand within reach" in kpis


@pytest.mark.parametrize("size", [(1280, 720), (1400, 900)], ids=["1280x720", "1400x900"])
def test_plan_page_fits_the_region_and_panels_never_overlap(
        open_page: Any, plan_html: Path, size: tuple[int, int]) -> None:
    p = open_page(plan_html, size=size)
    assert p.errors == [] and p.external == []
    assert _region_in_view(p)
    (map_box,) = _rects(p, "#map")
    boxes = [(sel, r) for sel in PANELS for r in _rects(p, sel)]
    assert {sel for sel, _ in boxes} >= {".siting-kpis", ".siting-legend", ".siting-title"}
    _assert_panels_apart(boxes, map_box, size)
    assert _not_blank(p.page.screenshot()) > 10
