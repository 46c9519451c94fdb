"""The web UI in a real browser: Debian's chromium, headless, driven by Playwright (its own browser
download is not reachable here), against the UI mounted on a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ASSETS, Server, start_server

CHROMIUM = os.environ.get("LLMGA_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = os.environ.get("LLMGA_UI_SCREENSHOT")
"""Where to save a screenshot of the finished page (the README's docs/ui.png is made this way)."""

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (apt-get install chromium; setup.sh --dev does)")


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("serve-ui") / "workspace", models=tiny_models, ui=True)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def wait_for_picture(canvas, upload: Callable[[], None], timeout: float = 30.0) -> None:
    """Upload, then wait until the canvas shows something new and holds still for a second.

    The editor's canvas exists before the upload is drawn, and a stroke painted before then lands
    on the default 800x800 canvas, which the editor then sends instead of the picture.
    """
    empty = canvas.screenshot()
    upload()
    deadline = time.monotonic() + timeout
    shot, still_since = empty, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = canvas.screenshot()
        if now != shot:
            shot, still_since = now, time.monotonic()
        elif shot != empty and time.monotonic() - still_since >= 1.0:
            return
    raise AssertionError(f"the uploaded picture did not appear on the editor's canvas within {timeout:.0f} s")


def test_upload_paint_a_mask_send_approve_and_see_the_result(ui_server: Server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(f"{ui_server.url}/ui/", timeout=60_000)
    canvas = page.locator("#editor canvas").first
    canvas.wait_for(timeout=30_000)
    wait_for_picture(canvas, lambda: page.locator("#editor input[type=file]").set_input_files(str(ASSETS / "car_on_road.png")))
    page.get_by_role("button", name="Brush", exact=True).click()
    box = canvas.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.75
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + step * box["width"] * 0.02, y - step * 2, steps=2)
    page.mouse.up()

    page.locator("#request textarea").fill("inpaint the car into a truck")
    page.locator("#send").click()
    page.locator("#approve").wait_for(state="visible", timeout=60_000)
    assert "inpaint" in page.locator("#plan").inner_text()
    session_id = ui_server.service.sessions("local")[-1]["id"]
    session = ui_server.service.runtime.workspace.session(session_id)
    from PIL import Image

    attached = {a.id: a for a in session.artifacts()}["image-1"]
    assert Image.open(session.path(attached)).size == (256, 192), "the editor sent its empty canvas, not the uploaded picture"
    page.locator("#approve").click()
    page.locator("#progress").get_by_text(re.compile(r"Job job-\w+: (done|failed|cancelled)")).wait_for(timeout=300_000)
    progress = page.locator("#progress").inner_text()
    assert re.search(r"Job job-\w+: done", progress), progress
    page.locator("#gallery img").first.wait_for(timeout=30_000)

    made = {a.id: a for a in session.artifacts()}
    assert made["mask-1"].tool == "import" and made["image-2"].tool == "inpaint"
    assert made["image-2"].parents == {"image": "image-1", "mask": "mask-1"}
    import numpy as np

    mask = Image.open(session.path(made["mask-1"]))
    painted = int((np.asarray(mask) > 0).sum())
    assert 0 < painted < mask.width * mask.height / 2, "the brush stroke did not become a partial mask"
    chat = page.locator("#chat").inner_text()
    assert "inpaint the car into a truck" in chat and "image-2" in chat

    page.locator("#gallery img").first.click()
    page.locator("#recipe").get_by_text("inpaint").first.wait_for(timeout=30_000)
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    page.close()
