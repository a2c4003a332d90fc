"""End to end in headless Debian Chromium (Playwright, never a downloaded browser): overview ->
layer -> atlas zoom and hover -> unit page, no console errors, nothing fetched from outside."""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from helpers import SITE_CHANNELS as CHANNELS
from helpers import SITE_LAYER as LAYER
from helpers import tiny_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def site(model, tmp_path_factory) -> Path:
    return tiny_site(model, tmp_path_factory)


@pytest.fixture(scope="module")
def base_url(site):
    from deepscope.app import make_server

    server = make_server(site, 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Watch:
    """Console errors, page errors, failed requests and requests that leave 127.0.0.1."""

    def __init__(self, page, base_url: str):
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

        def route(r):
            if r.request.url.startswith(base_url + "/") or r.request.url.startswith("data:"):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()
        page.route("**/*", route)


@pytest.fixture()
def shots(tmp_path):
    """Screenshot folder under tmp_path, copied to $DEEPSCOPE_ARTIFACTS when that is set."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    target = os.environ.get("DEEPSCOPE_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            shutil.copy(f, Path(target) / f.name)


def images_loaded(page, selector: str) -> list[bool]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.complete && e.naturalWidth > 0)")


def test_overview_layer_atlas_unit(browser, base_url, site, shots):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, base_url)

    page.goto(base_url + "/")
    assert "overview" in page.title()
    assert page.locator("table.site-layers a.layer-link").all_inner_texts() == [LAYER]
    shape = page.locator("table.site-layers td.mono").first.inner_text()
    assert shape.startswith("(80, 14, 14)")
    page.screenshot(path=shots / "1-overview.png", full_page=True)

    page.click("table.site-layers a.layer-link")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/layers/{LAYER}/index.html")
    assert page.locator("a.unit").count() == len(CHANNELS)
    assert all(images_loaded(page, "a.unit img"))

    atlas = json.loads((site / "layers" / LAYER / "data" / "atlas.json").read_text())
    canvas = page.locator("#atlas-canvas")
    page.wait_for_function("document.getElementById('atlas-canvas').getAttribute('data-ready') === '1'")
    page.evaluate("document.getElementById('atlas-canvas').scrollIntoView({block: 'end'})")
    box = canvas.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 902, box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)  # zoom in around the centre, animated
    page.wait_for_function("window.deepscopeAtlas.view().zoom > 2")
    page.wait_for_timeout(400)  # let the animation settle
    zoom = page.evaluate("window.deepscopeAtlas.view().zoom")
    assert zoom > 2
    page.mouse.down()  # drag to pan
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 40, steps=4)
    page.mouse.up()

    # hover a cell that is on screen now and read its details (once the zoom animation has settled)
    page.wait_for_function("""() => {
        const v = JSON.stringify(window.deepscopeAtlas.view());
        const same = window.__lastView === v;
        window.__lastView = v;
        return same;
    }""", polling=250)
    positions = page.evaluate("window.deepscopeAtlas.cells.map((c, i) => window.deepscopeAtlas.cellScreenPosition(i))")
    visible = [i for i, (x, y) in enumerate(positions)
               if box["x"] + 5 < x < box["x"] + box["width"] - 5 and box["y"] + 5 < y < box["y"] + box["height"] - 5]
    assert visible, "no atlas cell on screen after zooming"
    cell = atlas["cells"][visible[0]]
    page.mouse.move(*positions[visible[0]])
    details = page.locator("#cell-details")
    sync_api.expect(details.locator(".cell-count")).to_have_text(str(cell["count"]))
    assert f"Cell ({cell['x']}, {cell['y']})" in details.inner_text()
    classes = details.locator(".cell-classes li").all_inner_texts()
    assert [c.rsplit(" (", 1)[0] for c in classes] == [t["class"] for t in cell["top_classes"]]
    assert len(classes) == 5
    page.wait_for_function("[...document.querySelectorAll('#cell-details .sources img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert details.locator(".sources img").count() == len(cell["sources"]) > 0
    page.mouse.click(*positions[visible[0]])  # pin: linkable
    pinned = re.escape(f"#cell={cell['x']},{cell['y']}") + "$"
    sync_api.expect(page).to_have_url(re.compile(pinned))  # history.replaceState reaches page.url later
    page.screenshot(path=shots / "2-layer-atlas-hover.png", full_page=True)

    page.click("a.unit >> nth=1")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/layers/{LAYER}/units/{CHANNELS[1]}.html")
    assert all(images_loaded(page, ".fv-main img, .variants img"))
    assert page.locator(".variants img").count() == 2
    examples = page.locator(".examples .example")
    assert examples.count() == 4
    assert all(images_loaded(page, ".examples img"))
    page.screenshot(path=shots / "3-unit.png", full_page=True)
    page.click("a[rel=next]")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/units/{CHANNELS[2]}.html")

    page.click("header nav >> text=Saliency")
    page.wait_for_load_state("load")
    assert all(images_loaded(page, "main img"))
    page.click("header nav >> text=Sanity checks")
    page.wait_for_load_state("load")
    tables = page.locator("table.verdicts")  # the sanity verdicts, then the faithfulness metrics
    assert tables.nth(0).locator("tr").count() == 1 + 2
    assert tables.nth(1).locator("tr").count() == 1 + 2 + 1  # the methods and the random-map control
    assert all(images_loaded(page, "main img"))
    page.screenshot(path=shots / "4-sanity.png", full_page=True)

    assert watch.errors == []
    assert watch.outside == []
    page.close()


def test_unit_page_opens_from_disk_without_a_server(browser, site):
    """file:// works too: no fetch, data is inline."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((site / "layers" / LAYER / "index.html").as_uri())
    page.wait_for_function("document.getElementById('atlas-canvas').getAttribute('data-ready') === '1'")
    page.locator("#atlas-zoom-in").click()
    page.wait_for_function("window.deepscopeAtlas.view().zoom > 1.5")
    assert errors == []
    page.close()
