"""Draft orders (order-select / order-sign context.draftOrders) classified into DraftOrder kinds."""

from __future__ import annotations

from typing import Any

import pytest

from service.cds.pipeline import draft_order_resources
from service.core.vocabulary import BED_REST
from service.core.vocabulary import BISPHOSPHONATE
from service.core.vocabulary import DENOSUMAB
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import INDOMETHACIN
from service.core.vocabulary import IV_BISPHOSPHONATE
from service.core.vocabulary import MRI
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.core.vocabulary import PAMIDRONATE
from service.core.vocabulary import SYSTEMIC_GLUCOCORTICOID
from service.core.vocabulary import TNFI
from service.core.vocabulary import VERTEBRAL_AUGMENTATION
from service.core.vocabulary import ZOLEDRONIC_ACID
from tests import builders as b
from tests.features.conftest import Run

BP_IV = {IV_BISPHOSPHONATE, BISPHOSPHONATE}


@pytest.mark.parametrize(
    ("draft", "kinds"),
    [
        (b.draft_medication_request("7258"), {NSAID}),
        (b.draft_medication_request("198014", "Naproxen 500 MG Oral Tablet"), {NSAID}),
        (
            b.draft_medication_request(None, "Indomethacin 25 MG Oral Capsule"),
            {NSAID, INDOMETHACIN},
        ),
        (b.draft_medication_request("11473"), BP_IV | {PAMIDRONATE}),
        (
            b.draft_medication_request(None, "zoledronic acid 5 MG/100ML Injection"),
            BP_IV | {ZOLEDRONIC_ACID},
        ),
        (b.draft_medication_request(None, "Alendronic acid 70 MG Oral Tablet"), {BISPHOSPHONATE}),
        (b.draft_medication_request("993449"), {DENOSUMAB}),
        (b.draft_medication_request(None, "oxyCODONE 5 MG Oral Tablet"), {OPIOID}),
        (b.draft_medication_request(None, "predniSONE 20 MG Oral Tablet"), {SYSTEMIC_GLUCOCORTICOID}),
        (b.draft_medication_request("3264"), {DEXAMETHASONE, SYSTEMIC_GLUCOCORTICOID}),
        (b.draft_medication_request(None, "dexamethasone 0.1 % Ophthalmic Solution"), set()),
        (b.draft_medication_request(None, "etanercept 50 MG/ML Prefilled Syringe"), {TNFI}),
        (b.draft_medication_request(None, "Acetaminophen 500 MG Oral Tablet"), set()),
        (b.draft_medication_request(no_medication=True), set()),  # a draft without a medication yet
        (b.draft_service_request("24968-0"), {MRI}),
        (b.draft_service_request(None, text="MRI lumbar spine without contrast"), {MRI}),
        (b.draft_service_request("22514", b.CPT), {VERTEBRAL_AUGMENTATION}),
        (b.draft_service_request(None, text="Referral for kyphoplasty"), {VERTEBRAL_AUGMENTATION}),
        (b.draft_service_request(None, text="Strict bed rest"), {BED_REST}),
        (b.draft_service_request(None, text="Physiotherapy"), set()),
    ],
)
def test_draft_kinds(run: Run, draft: dict[str, Any], kinds: set[str]) -> None:
    (order,) = run(b.patient(), drafts=[draft]).draft_orders
    assert order.kinds == frozenset(kinds)
    assert order.reference == f"{draft['resourceType']}/{draft['id']}"
    assert order.resource_type == draft["resourceType"]
    assert order.display
    assert order.source is not None and order.source.reference == order.reference


def test_selected_and_route_and_codes(run: Run) -> None:
    a = b.draft_medication_request("198014", "Naproxen 500 MG Oral Tablet", id="a", route="oral")
    c = b.draft_medication_request("11473", id="c", route="Intravenous")
    orders = run(drafts=[a, c], selections=["MedicationRequest/c"]).draft_orders
    assert [o.selected for o in orders] == [False, True]
    assert orders[0].route == "oral"
    assert orders[0].codes == ((b.RXNORM, "198014"),)
    assert "Naproxen" in orders[0].display


@pytest.mark.parametrize("where", ["contained", "bundle", "record"])
def test_draft_medication_reference(run: Run, where: str) -> None:
    med = b.medication(None, "pamidronate disodium 30 MG Injection", id="m1")
    if where == "contained":
        drafts = [b.draft_medication_request(medication_reference="#m1", contained=[med])]
        record: list[dict[str, Any]] = []
    else:
        drafts = [b.draft_medication_request(medication_reference="Medication/m1")]
        record = []
        if where == "bundle":
            drafts.append(med)
        else:
            record.append(med)
    orders = run(*record, drafts=drafts).draft_orders
    assert len(orders) == 1  # a Medication in the draft bundle is not an order
    assert PAMIDRONATE in orders[0].kinds


def test_unresolved_draft_reference_has_no_kinds(run: Run) -> None:
    (order,) = run(
        drafts=[b.draft_medication_request(medication_reference="Medication/missing")]
    ).draft_orders
    assert order.kinds == frozenset()


def test_drafts_as_bundle_or_entries_read_by_the_one_draft_orders_parser(run: Run) -> None:
    draft = b.draft_medication_request("7258", id="x")
    as_bundle = b.bundle([draft])
    for context in ({"draftOrders": as_bundle}, {"draftOrders": as_bundle["entry"]}):
        assert run(drafts=draft_order_resources(context)).draft_orders[0].kinds == {NSAID}


def test_drafts_do_not_change_the_record_features(run: Run) -> None:
    f = run(b.medication_request(text="acetaminophen 500 MG"), drafts=[b.draft_medication_request("7258")])
    assert f.nsaid_active.value is False
