"""End to end in headless Chromium: EHR launch -> authorization server -> token -> real FHIR engine -> page.

Our app runs under a real WSGI server on a loopback port; the test EHR fronts the Medplum FHIR search engine
(tests/fhirserver) and only passes on requests with the token it issued. Screenshots go to tests/output/
(CI keeps them as artifacts).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.browser import OUTPUT
from tests.browser import chromium
from tests.fhir_server import FhirTestServer
from tests.smart.authserver import AuthConfig
from tests.smart.authserver import LateApp
from tests.smart.authserver import LaunchContext
from tests.smart.authserver import ServerThread
from tests.smart.authserver import TestEhr
from tests.smart.patient import MRI_DAYS_AGO
from tests.smart.patient import bundle
from tests.smart.patient import synthea_calcium

pytestmark = [pytest.mark.browser, pytest.mark.fhirserver]

LAUNCH = "launch-browser-1"


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium with a fresh profile (tests/browser.py)."""
    with chromium(tmp_path / "chromium-profile") as browser:
        yield browser
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _screenshot(browser: Any, name: str, width: int) -> Path:
    """A full-page PNG at the given width."""
    browser.set_window_size(width, 900)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(height) + 120, 12000))
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    assert browser.save_screenshot(str(path))
    return path


@contextmanager
def launched(fhir_server: FhirTestServer, make_smart_app: Callable[..., Flask], launch: LaunchContext,
             **config: Any) -> Iterator[tuple[TestEhr, str]]:
    """The BME patient in the FHIR engine, the test EHR in front of it and our app served: (EHR, app URL)."""
    fhir_server.clear()
    refs = fhir_server.load(bundle(date.today()))
    patient_id = next(ref for ref in refs.values() if ref.startswith("Patient/")).split("/")[1]
    fhir_server.load(synthea_calcium(date.today(), f"Patient/{patient_id}"))
    ours = LateApp()
    app_server = ServerThread(ours, quiet=True)
    auth = AuthConfig(redirect_uri=f"{app_server.url}/smart/callback", upstream=fhir_server.base_url,
                      launches={LAUNCH: replace(launch, patient=patient_id)}, **config)
    with TestEhr(auth) as ehr:
        ours.app = make_smart_app(
            {"BME_SMART_CLIENT_ID": auth.client_id, "BME_SMART_ALLOWED_ISS": ehr.fhir_base},
            public_base_url=app_server.url,
        )
        app_server.start()
        try:
            yield ehr, app_server.url
        finally:
            app_server.stop()


def test_ehr_launch_in_chromium_shows_features_rules_and_evidence(
    driver: Any, fhir_server: FhirTestServer, make_smart_app: Callable[..., Flask]
) -> None:
    from selenium.webdriver.common.by import By

    context = LaunchContext(patient="", need_patient_banner="true", app_context='{"rule":"R21"}')
    with launched(fhir_server, make_smart_app, context) as (ehr, app_url):
            driver.get(f"{app_url}/smart/launch?iss={ehr.fhir_base}&launch={LAUNCH}")
            body = driver.find_element(By.TAG_NAME, "body").text
            assert driver.current_url.startswith(f"{app_url}/smart/app/"), body[:500]
            assert "code=" not in driver.current_url  # the redirect dropped the code from the address bar

            # The launch went through authorize and token (PKCE, aud), and the FHIR reads used the token.
            assert ehr.recorded.authorize_errors == [] and ehr.recorded.token_errors == []
            assert ehr.recorded.authorize[0]["aud"] == ehr.fhir_base
            token = ehr.recorded.issued_tokens[0]
            assert ehr.recorded.fhir and all(auth == f"Bearer {token}" for _, auth in ehr.recorded.fhir)

            # The first screen gives the answer; the details are folded away until opened.
            assert driver.find_element(By.CSS_SELECTOR, "ol.glance").is_displayed()
            folded = driver.execute_script("return document.documentElement.scrollHeight")
            assert folded < 4000, f"the folded page is {folded} px tall"  # 10,350 px before folding
            for summary in driver.find_elements(By.CSS_SELECTOR, "details.group > summary"):
                summary.click()
            # A feature with the resource and date it came from.
            mri_date = (date.today() - timedelta(days=MRI_DAYS_AGO)).isoformat()
            row = driver.find_element(By.XPATH, "//tr[th[normalize-space()='Bone marrow edema on imaging']]")
            assert "yes" in row.text and mri_date in row.text and "DiagnosticReport/" in row.text
            # A recommendation with its rule id, the card it was opened from, and seed evidence.
            rule = driver.find_element(By.ID, "rule-R21")
            assert "R21" in rule.text and "the rule in plain words" in rule.text.lower()
            assert "seed 002_a2231a674c43bc45.txt" in rule.text
            assert "Opened from the card for rule R21" in body
            assert "Ada Nordmann" in body  # need_patient_banner "true" (a string, as Epic sends it)
            assert driver.find_elements(By.CSS_SELECTOR, "svg.timeline g.event")
            assert token not in driver.page_source
            cookies = driver.get_cookies()
            assert [c["name"] for c in cookies] == ["bme_smart"] and cookies[0]["httpOnly"]

            wide = _screenshot(driver, "smart-app.png", 1100)
            narrow = _screenshot(driver, "smart-app-narrow.png", 380)
            # The narrow side panel must not scroll sideways.
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 380
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            printed = _screenshot(driver, "smart-app-print.png", 800)
            assert not driver.find_element(By.CSS_SELECTOR, ".top nav").is_displayed()
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
            driver.find_element(By.LINK_TEXT, "seed 002_a2231a674c43bc45.txt").click()
            assert "/smart/about#seed-002" in driver.current_url
            about_text = driver.find_element(By.TAG_NAME, "body").text
            assert "Source attributes" in about_text and "Rule set version" in about_text
            about = _screenshot(driver, "smart-about.png", 900)
            # A forged redirect in the same browser: refused with a page a person can act on.
            driver.get(f"{app_url}/smart/callback?code=stolen&state=forged-{'x' * 40}")
            refused = driver.find_element(By.TAG_NAME, "body").text
            assert (
                "does not belong to a launch from this browser" in refused
                and "WHAT YOU CAN DO" in refused.upper()
            )
            error = _screenshot(driver, "smart-error.png", 600)
            assert len(ehr.recorded.token) == 1
            assert all(p.stat().st_size > 10_000 for p in (wide, narrow, printed, about, error))


def test_labs_and_pain_scores_survive_a_proxy_that_collapses_slashes(
    driver: Any, fhir_server: FhirTestServer, make_smart_app: Callable[..., Flask]
) -> None:
    """Behind the SMART launcher's proxy every value the FHIR engine holds still reaches the page."""
    from selenium.webdriver.common.by import By

    with launched(fhir_server, make_smart_app, LaunchContext(patient=""), collapse_query_slashes=True) as (
        ehr,
        app_url,
    ):
            driver.get(f"{app_url}/smart/launch?iss={ehr.fhir_base}&launch={LAUNCH}")
            assert driver.current_url.startswith(f"{app_url}/smart/app/")
            for summary in driver.find_elements(By.CSS_SELECTOR, "details.group > summary"):
                summary.click()
            egfr = driver.find_element(By.XPATH, "//tr[th[normalize-space()='eGFR']]")
            assert "72" in egfr.text, egfr.text
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "no pain scores on record" not in body.lower()
            assert "no current egfr" not in body.lower()
            assert "returned an error for other lab results" not in body  # the engine answers that search too
            # A lab coded outside our value sets (Synthea's calcium 49765-1) is on the page too, folded, as is.
            driver.find_element(By.CSS_SELECTOR, "details.other-labs > summary").click()
            calcium = driver.find_element(By.XPATH, "//tr[th[contains(., 'Calcium [Mass/volume] in Blood')]]")
            assert "9.4" in calcium.text and "49765-1" in calcium.text, calcium.text
            searches = [query for query, _ in ehr.recorded.fhir if query.startswith("Observation?")]
            by_code = [query for query in searches if "&code=" in query]
            assert by_code and all("http%3A%2F%2Floinc.org" in query for query in by_code)
            # The search for other lab results survives the proxy too: its category system is encoded.
            assert any("observation-category%7Claboratory" in query for query in searches), searches
