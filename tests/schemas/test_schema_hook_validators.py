"""The request validator specialised per hook reports exactly what the full request schema reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.cds import schemas

FIXTURES = Path(__file__).parent / "fixtures"
REQUESTS = {
    "patient-view": "spec-request-patient-view.json",
    "order-select": "epic-order-select.json",
    "order-sign": "sandbox-order-select.json",  # an order-select body relabelled below: same context shape
}
JUNK = st.sampled_from([None, 1, "", "x", [], {}, {"resourceType": "Bundle"}, {"resourceType": "Patient"}, True])
FIELDS = ("hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch", "extension")
CONTEXT_FIELDS = ("userId", "patientId", "encounterId", "selections", "draftOrders")


def _request(hook: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / REQUESTS[hook]).read_text(encoding="utf-8"))
    body["hook"] = hook
    return body


def _full_schema_messages(instance: Any) -> list[str]:
    found = sorted(schemas._validator(schemas.REQUEST).iter_errors(instance), key=schemas._sort_key)
    messages = list(dict.fromkeys(schemas._message(error) for error in found))
    if len(messages) > schemas.MAX_MESSAGES:
        hidden = len(messages) - (schemas.MAX_MESSAGES - 1)
        messages = messages[: schemas.MAX_MESSAGES - 1] + [f"... and {hidden} more errors"]
    return messages


def test_every_hook_the_schema_knows_has_a_specialised_validator() -> None:
    for hook in schemas.HOOKS:
        assert schemas._request_validator_for(hook) is not None
    assert schemas._request_validator_for("encounter-start") is None  # the full schema decides then


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(
    hook=st.sampled_from(sorted(REQUESTS)),
    edits=st.lists(
        st.tuples(st.booleans(), st.sampled_from(FIELDS + CONTEXT_FIELDS), st.booleans(), JUNK), max_size=4
    ),
    hook_value=st.sampled_from([None, "patient-view", "order-select", "order-sign", "other"]),
)
def test_specialised_and_full_validators_agree(
    hook: str, edits: list[tuple[bool, str, bool, Any]], hook_value: str | None
) -> None:
    body = copy.deepcopy(_request(hook))
    if hook_value is not None:
        body["hook"] = hook_value
    for in_context, field, remove, junk in edits:
        target = body.get("context") if in_context else body
        if not isinstance(target, dict):
            continue
        if remove:
            target.pop(field, None)
        else:
            target[field] = junk
    assert schemas.errors(schemas.REQUEST, body) == _full_schema_messages(body)
