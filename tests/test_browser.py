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
from _toys import EVIL, KPIS, make_plan, plant_violations

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

    def _open(path: Path, url: str | None = None) -> Page:
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
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


@pytest.fixture
def plan_html(tmp_path: Path) -> Path:
    from siting.maps import plan_map

    layers = make_plan(n_stations=120, evil_names=True)
    return plan_map(layers, tmp_path / "plan.html", kpis=KPIS, title="Toy plan",
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
