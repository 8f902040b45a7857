"""The compiled yes/no check (fastjsonschema) never accepts what jsonschema refuses: errors() == the full messages."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import example
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


def _full_schema_messages(instance: Any, kind: str = schemas.REQUEST) -> list[str]:
    found = sorted(schemas._validator(kind).iter_errors(instance), key=schemas._sort_key)
    messages = list(dict.fromkeys(schemas._message(error) for error in found))
    if len(messages) > schemas.MAX_MESSAGES:
        hidden = len(messages) - (schemas.MAX_MESSAGES - 1)
        messages = messages[: schemas.MAX_MESSAGES - 1] + [f"... and {hidden} more errors"]
    return messages


def test_request_and_feedback_have_a_compiled_check_and_the_others_use_keywords_it_lacks() -> None:
    assert schemas._compiled(schemas.REQUEST) is not None
    assert schemas._compiled(schemas.FEEDBACK) is not None
    for kind in (schemas.RESPONSE, schemas.DISCOVERY):  # unevaluatedProperties, minContains: 2019-09 and later
        assert schemas._compiled(kind) is None
        assert not schemas._compilable(schemas.schema(kind))


def test_names_under_properties_are_not_keywords_and_only_string_literals_compile() -> None:
    assert schemas._compilable({"type": "object", "properties": {"unevaluatedProperties": {"type": "string"}}})
    assert not schemas._compilable({"type": "object", "unevaluatedProperties": False})
    assert schemas._compilable({"enum": ["a", "b"], "properties": {"x": {"const": "y"}}})
    assert not schemas._compilable({"properties": {"x": {"const": 1}}})  # draft 7 code would accept true
    assert not schemas._compilable({"enum": ["a", False]})


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(
    hook=st.sampled_from(sorted(REQUESTS)),
    edits=st.lists(
        st.tuples(st.booleans(), st.sampled_from(FIELDS + CONTEXT_FIELDS), st.booleans(), JUNK), max_size=4
    ),
    hook_value=st.sampled_from([None, "patient-view", "order-select", "order-sign", "other"]),
)
def test_request_check_agrees_with_the_full_validator(
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


FEEDBACK = {"feedback": [{"card": "0b0c8f7e-8f4e-4c38-9d8a-2c4e5f6a7b8c", "outcome": "overridden",
                          "outcomeTimestamp": "2026-12-05T10:00:00Z",
                          "overrideReason": {"reason": {"code": "x", "system": "http://example.org"},
                                             "userComment": "c"}},
                         {"card": "1b0c8f7e-8f4e-4c38-9d8a-2c4e5f6a7b8c", "outcome": "accepted",
                          "outcomeTimestamp": "2026-12-05T10:00:00Z", "acceptedSuggestions": [{"id": "s"}]}]}
FEEDBACK_FIELDS = ("card", "outcome", "outcomeTimestamp", "overrideReason", "overrideReasons", "acceptedSuggestions",
                   "extra")
TIMES = st.sampled_from(["2026-12-05T10:00:00Z", "2026-13-05T10:00:00Z", "2026-12-05 10:00:00", "x", 5])


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@example(edits=[(0, "overrideReason", False, {})])  # a $ref beside anyOf: draft 7 would read only the $ref
@example(edits=[(0, "overrideReasons", False, {})])
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(FEEDBACK_FIELDS), st.booleans(),
                                JUNK | TIMES), max_size=4))
def test_feedback_check_agrees_with_the_full_validator(edits: list[tuple[int, str, bool, Any]]) -> None:
    body = copy.deepcopy(FEEDBACK)
    for item, field, remove, junk in edits:
        target: Any = body if item == 2 else body["feedback"][item]
        if remove:
            target.pop(field, None)
        else:
            target[field] = junk
    assert schemas.errors(schemas.FEEDBACK, body) == _full_schema_messages(body, schemas.FEEDBACK)
