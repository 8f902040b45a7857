"""The five Synthea patients (tests/data/synthea) through every hook of the real app: no error, plausible cards.

Synthea has no MRI reports, no BME and no vertebral fracture, so no BME pathway (R-rule) card may appear for
anyone. With a naproxen draft (RxNorm ingredient 7258) the NSAID safety gates still run: every patient's labs
are years older than the pinned clock (the newest Synthea Observation is from 2020) and a stale or missing eGFR
never counts as normal, so S01 asks for renal function for everyone; the two patients with an active naproxen
order on record (Hershel Marvin, Lonnie Von) also get the duplicate-NSAID gate S06. No absolute
contraindication is in the data, so no card is critical.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hooks.common import OBSERVATION_CODES
from service.cds import schemas
from tests import builders as b
from tests.scenarios.conftest import post

DATA = Path(__file__).resolve().parents[1] / "data" / "synthea"
PATIENTS = ("Clemente", "Hershel", "Kathe", "Lonnie", "Twyla")
HOOKS = ("patient-view", "order-select", "order-sign")
NEGATIVE_CONTROL = "Clemente"
# The prefetch template asks for these Observation codes only (hooks/common.py); the EHR filters, so do we.
WANTED_OBSERVATIONS = {tuple(item.split("|", 1)) for item in OBSERVATION_CODES.split(",")}
PREFETCHED_TYPES = {kind for kinds in b.PREFETCH_KEYS.values() for kind in kinds}


def prefetched(resource: dict[str, Any]) -> bool:
    """Would the documented prefetch queries return this resource? (type, encounter class, observation code)."""
    kind = resource["resourceType"]
    if kind not in PREFETCHED_TYPES:
        return False
    if kind == "Encounter":
        return resource.get("class", {}).get("code") in ("IMP", "EMER")
    if kind == "Observation":
        codes = {(c.get("system"), c.get("code")) for c in resource.get("code", {}).get("coding", [])}
        return any(c in WANTED_OBSERVATIONS or (c[0], "") in WANTED_OBSERVATIONS for c in codes)
    return True


def synthea_request(name: str, hook: str) -> dict[str, Any]:
    """A CDS Hooks request for one Synthea patient, prefetch filled as the templates ask; naproxen drafted."""
    (path,) = DATA.glob(f"{name}_*.json")
    resources = b.flatten(json.loads(path.read_text(encoding="utf-8")))
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    drafts = []
    if hook != "patient-view":
        drafts = [
            b.draft_medication_request(
                "7258", "naproxen 500 MG Oral Tablet", id="draft-naproxen", patient_id=patient_id
            )
        ]
    return b.request(
        hook,
        [r for r in resources if prefetched(r)],
        drafts,
        patient_id,
        selections=["MedicationRequest/draft-naproxen"] if drafts else (),
        hook_instance=str(uuid.uuid5(uuid.NAMESPACE_URL, f"synthea/{name}/{hook}")),
    )


@pytest.fixture(scope="module")
def answers(pinned_client: FlaskClient) -> dict[tuple[str, str], dict[str, Any]]:
    """Every patient through every hook: the response bodies (status and schema checked on the way)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in PATIENTS:
        for hook in HOOKS:
            request = synthea_request(name, hook)
            schemas.validate("request", request)
            response = post(pinned_client, request)
            assert response.status_code == 200, (name, hook, response.get_data(as_text=True))
            body = response.get_json()
            schemas.validate("response", body)
            out[(name, hook)] = body
    return out


def codes(body: dict[str, Any]) -> list[str]:
    """The rule and gate ids of a response's cards."""
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def test_negative_control_gets_no_card_at_all(answers: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Clemente Kreiger (no bone disease): patient-view is empty."""
    assert answers[(NEGATIVE_CONTROL, "patient-view")] == {"cards": []}


@pytest.mark.parametrize("name", PATIENTS)
def test_no_bme_pathway_card_without_bme_imaging(name: str, answers: dict[tuple[str, str], dict[str, Any]]) -> None:
    """No MRI, no BME, no vertebral fracture in Synthea: no R-rule card in any hook (osteoporosis alone is none)."""
    for hook in HOOKS:
        assert not [c for c in codes(answers[(name, hook)]) if c.startswith("R")], (name, hook)


@pytest.mark.parametrize("name", PATIENTS)
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_naproxen_draft_without_bme_gets_no_card(
    name: str, hook: str, answers: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """No BME and no vertebral fracture in Synthea: the NSAID draft is the EHR's own drug checks' (issue 12)."""
    assert answers[(name, hook)] == {"cards": []}


def test_a_repeated_call_gets_the_same_response(
    pinned_client: FlaskClient, answers: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """The sandbox repeats calls: the same hookInstance gives the very same cards (uuids included)."""
    again = post(pinned_client, synthea_request("Lonnie", "order-sign"))
    assert again.get_json() == answers[("Lonnie", "order-sign")]
