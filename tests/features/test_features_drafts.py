"""Draft orders (order-select / order-sign context.draftOrders) classified into DraftOrder kinds."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.features import ORDER_AUGMENTATION
from service.core.features import ORDER_BED_REST
from service.core.features import ORDER_BISPHOSPHONATE
from service.core.features import ORDER_DENOSUMAB
from service.core.features import ORDER_DEXAMETHASONE
from service.core.features import ORDER_INDOMETHACIN
from service.core.features import ORDER_IV_BISPHOSPHONATE
from service.core.features import ORDER_MRI
from service.core.features import ORDER_NSAID
from service.core.features import ORDER_OPIOID
from service.core.features import ORDER_PAMIDRONATE
from service.core.features import ORDER_SYSTEMIC_GLUCOCORTICOID
from service.core.features import ORDER_TNFI
from service.core.features import ORDER_ZOLEDRONIC
from tests import builders as b
from tests.features.conftest import Run

BP_IV = {ORDER_IV_BISPHOSPHONATE, ORDER_BISPHOSPHONATE}


@pytest.mark.parametrize(
    ("draft", "kinds"),
    [
        (b.draft_medication_request("7258"), {ORDER_NSAID}),
        (b.draft_medication_request("198014", "Naproxen 500 MG Oral Tablet"), {ORDER_NSAID}),
        (
            b.draft_medication_request(None, "Indomethacin 25 MG Oral Capsule"),
            {ORDER_NSAID, ORDER_INDOMETHACIN},
        ),
        (b.draft_medication_request("11473"), BP_IV | {ORDER_PAMIDRONATE}),
        (
            b.draft_medication_request(None, "zoledronic acid 5 MG/100ML Injection"),
            BP_IV | {ORDER_ZOLEDRONIC},
        ),
        (b.draft_medication_request(None, "Alendronic acid 70 MG Oral Tablet"), {ORDER_BISPHOSPHONATE}),
        (b.draft_medication_request("993449"), {ORDER_DENOSUMAB}),
        (b.draft_medication_request(None, "oxyCODONE 5 MG Oral Tablet"), {ORDER_OPIOID}),
        (b.draft_medication_request(None, "predniSONE 20 MG Oral Tablet"), {ORDER_SYSTEMIC_GLUCOCORTICOID}),
        (b.draft_medication_request("3264"), {ORDER_DEXAMETHASONE, ORDER_SYSTEMIC_GLUCOCORTICOID}),
        (b.draft_medication_request(None, "dexamethasone 0.1 % Ophthalmic Solution"), set()),
        (b.draft_medication_request(None, "etanercept 50 MG/ML Prefilled Syringe"), {ORDER_TNFI}),
        (b.draft_medication_request(None, "Acetaminophen 500 MG Oral Tablet"), set()),
        (b.draft_medication_request(no_medication=True), set()),  # a draft without a medication yet
        (b.draft_service_request("24968-0"), {ORDER_MRI}),
        (b.draft_service_request(None, text="MRI lumbar spine without contrast"), {ORDER_MRI}),
        (b.draft_service_request("22514", b.CPT), {ORDER_AUGMENTATION}),
        (b.draft_service_request(None, text="Referral for kyphoplasty"), {ORDER_AUGMENTATION}),
        (b.draft_service_request(None, text="Strict bed rest"), {ORDER_BED_REST}),
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
    assert ORDER_PAMIDRONATE in orders[0].kinds


def test_unresolved_draft_reference_has_no_kinds(run: Run) -> None:
    (order,) = run(
        drafts=[b.draft_medication_request(medication_reference="Medication/missing")]
    ).draft_orders
    assert order.kinds == frozenset()


def test_drafts_as_bundle_or_entries(run: Run) -> None:
    draft = b.draft_medication_request("7258", id="x")
    as_bundle = b.bundle([draft])
    assert run(drafts=as_bundle).draft_orders[0].kinds == {ORDER_NSAID}  # type: ignore[arg-type]
    assert run(drafts=as_bundle["entry"]).draft_orders[0].kinds == {ORDER_NSAID}


def test_drafts_do_not_change_the_record_features(run: Run) -> None:
    f = run(b.medication_request(text="acetaminophen 500 MG"), drafts=[b.draft_medication_request("7258")])
    assert f.nsaid_active.value is False
