"""The helper API: SchemaError, message cap, path rendering and short previews of bad values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from schema_edits import set_path

from service.cds import schemas

Loader = Callable[[str], Any]


def test_schema_error_carries_kind_and_messages() -> None:
    with pytest.raises(schemas.SchemaError) as raised:
        schemas.validate(schemas.REQUEST, {"hook": "patient-view", "context": {}})
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.kind == schemas.REQUEST
    assert error.messages == [
        "context.patientId: is a required property",
        "context.userId: is a required property",
        "hookInstance: is a required property",
    ]
    assert str(error) == "invalid CDS Hooks request: " + "; ".join(error.messages)


def test_root_type_error_names_the_root() -> None:
    assert schemas.errors(schemas.FEEDBACK, []) == ["$: expected object, got array"]


def test_messages_are_capped(load: Loader) -> None:
    response = load("spec-response.json")
    card = response["cards"][1]
    response["cards"] = [dict(card, indicator="urgent") for _ in range(25)]
    messages = schemas.errors(schemas.RESPONSE, response)
    assert len(messages) == schemas.MAX_MESSAGES
    assert messages[-1] == "... and 16 more errors"
    assert messages[0] == 'cards[0].indicator: "urgent" is not one of "info", "warning", "critical"'
    # Array indexes sort numerically: cards[2] comes before cards[10].
    assert [message.split(".")[0] for message in messages[:9]] == [f"cards[{i}]" for i in range(9)]


def test_odd_keys_are_quoted_in_paths(load: Loader) -> None:
    request = set_path(load("spec-request-patient-view.json"), "prefetch/lab results", 3)
    assert schemas.errors(schemas.REQUEST, request) == [
        'prefetch["lab results"]: expected object or null, got integer'
    ]


def test_large_bad_values_are_only_previewed(load: Loader) -> None:
    response = set_path(load("spec-response.json"), "cards/0/indicator", "x" * 10_000)
    (message,) = schemas.errors(schemas.RESPONSE, response)
    assert message.startswith('cards[0].indicator: "xxx')
    assert len(message) < 200


def test_boolean_is_not_an_integer(load: Loader) -> None:
    request = set_path(load("spec-request-patient-view.json"), "fhirAuthorization/expires_in", True)
    assert schemas.errors(schemas.REQUEST, request) == [
        "fhirAuthorization.expires_in: expected integer, got boolean"
    ]
