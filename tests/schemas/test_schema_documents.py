"""The schema documents themselves: valid draft 2020-12, one per kind, loaded from package data."""

from __future__ import annotations

from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from service.cds import schemas

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def _shipped_schema_files() -> list[str]:
    """Names of the *.schema.json files in the installed package data."""
    folder = resources.files("service").joinpath("schemas")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".schema.json"))


def test_one_schema_file_per_kind() -> None:
    assert _shipped_schema_files() == sorted(f"{kind}.schema.json" for kind in schemas.KINDS)


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    document = schemas.schema(kind)
    assert document["$schema"] == DRAFT_2020_12
    Draft202012Validator.check_schema(document)


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_schema_is_loaded_once(kind: str) -> None:
    assert schemas.schema(kind) is schemas.schema(kind)


def test_preload_builds_every_validator() -> None:
    schemas._validator.cache_clear()
    schemas.preload()
    assert schemas._validator.cache_info().currsize == len(schemas.KINDS)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown schema kind 'cards'"):
        schemas.errors("cards", {})


@pytest.mark.parametrize("kind", [schemas.RESPONSE, schemas.DISCOVERY])
def test_emitted_documents_reject_unknown_properties(kind: str) -> None:
    # We emit these, so a typo must fail loudly rather than reach a CDS client.
    messages = schemas.errors(kind, {"cards": [], "services": [], "typo": 1})
    assert any(message.startswith("$: Unevaluated properties are not allowed") for message in messages)
