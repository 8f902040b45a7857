"""The rule pages in headless Chromium: no horizontal scroll at 380 px (an EHR side panel) or 1,100 px, and
they render inside a frame of another origin. Screenshots go to tests/output/ (CI keeps them as artifacts)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.knowledge.rulepage import page_ids
from tests.browser import OUTPUT
from tests.browser import chromium
from tests.smart.authserver import ServerThread

pytestmark = [pytest.mark.browser]

WIDTHS = (380, 1100)
SHOWN = ("R21", "S08", "R29")  # the longest rule page, a gate, a rule with three variants


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a loopback port: its base URL."""
    from service.web.app import create_app

    application = create_app(test_config={"data_dir": tmp_path_factory.mktemp("pages"), "auth": "off",
                                          "public_base_url": "http://127.0.0.1:8080"})
    server = ServerThread(application, quiet=True).start()
    yield server.url
    server.stop()
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian Chromium (tests/browser.py)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with chromium(profile) as driver:
        yield driver
    shutil.rmtree(profile, ignore_errors=True)


def _overflow(driver: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scroll)."""
    return int(driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def _screenshot(driver: Any, name: str, width: int) -> Path:
    """A full-page PNG at this width."""
    driver.set_window_size(width, 900)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(height + 140, 12000))
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    assert driver.save_screenshot(str(path))
    return path


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(browser: Any, served: str, width: int) -> None:
    """Every rule and gate page, and the index, fit the width: nothing wider than the window."""
    browser.set_window_size(width, 900)
    wide = {}
    for path in ("", *page_ids()):
        browser.get(f"{served}/rules/{path}")
        assert browser.find_element("css selector", "h1").text
        if _overflow(browser) > 0:
            wide[path or "index"] = _overflow(browser)
    assert not wide, f"horizontal scroll at {width} px: {wide}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("rule_id", ["", *SHOWN])
def test_screenshot(browser: Any, served: str, rule_id: str, width: int) -> None:
    """Full-page screenshots for review; the stylesheet applied (the CSP let it load) and no sideways scroll."""
    browser.set_window_size(width, 900)
    browser.get(f"{served}/rules/{rule_id}")
    banner = browser.find_element("css selector", "header.top")
    assert banner.value_of_css_property("background-color") == "rgba(18, 50, 79, 1)"  # rules.css loaded
    path = _screenshot(browser, f"rules-{rule_id or 'index'}-{width}.png", width)
    assert path.stat().st_size > 10_000
    assert _overflow(browser) == 0


def test_the_page_renders_inside_a_frame_of_another_origin(browser: Any, served: str) -> None:
    """An EHR frames the page from its own origin: the CSP allows it and the page is readable at 380 px."""
    page = f"{served}/rules/R21"

    def ehr(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = (f'<!doctype html><title>EHR</title><iframe id="cds" src="{page}" '
                'style="width:380px;height:700px;border:1px solid #888"></iframe>').encode()
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
        return [body]

    frame_host = ServerThread(ehr, quiet=True).start()
    try:
        browser.set_window_size(1100, 900)
        browser.get(frame_host.url)
        browser.switch_to.frame(browser.find_element("id", "cds"))
        heading = browser.find_element("css selector", "h1").text
        assert heading.startswith("R21")
        assert _overflow(browser) == 0
        browser.switch_to.default_content()
        OUTPUT.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(OUTPUT / "rules-R21-in-frame.png"))
    finally:
        browser.switch_to.default_content()
        frame_host.stop()
