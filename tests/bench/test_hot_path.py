"""Hot-path changes made after profiling keep their old behaviour (bench/profile.py found them)."""

from __future__ import annotations

import dataclasses
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core import cards
from service.core.findings import Code
from service.core.findings import SuggestionSpec
from service.store.db import IssuedCard
from service.store.db import make_engine
from tests.core.test_card_buffer import record_now

FIRST = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 21, 9, 5, tzinfo=UTC)


def _rows(url: str) -> list[tuple[str, str, str, str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        cards = session.scalars(select(IssuedCard).order_by(IssuedCard.uuid)).all()
        return [(c.uuid, c.service_id, c.rule_id, c.hook_instance) for c in cards]


def test_record_cards_writes_every_card_of_a_response(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    issued = [("c1", "R21"), ("c2", "S08"), ("c3", "R37")]
    record_now(make_engine(url), "bme-patient-view", "hook-1", issued, FIRST)
    assert _rows(url) == [(uuid, "bme-patient-view", rule, "hook-1") for uuid, rule in issued]


def test_record_cards_overwrites_a_repeated_uuid_as_merge_did(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    engine = make_engine(url)
    record_now(engine, "bme-patient-view", "hook-1", [("c1", "R21")], FIRST)
    record_now(engine, "bme-order-sign", "hook-2", [("c1", "S01"), ("c9", "S02")], LATER)
    assert _rows(url) == [("c1", "bme-order-sign", "S01", "hook-2"), ("c9", "bme-order-sign", "S02", "hook-2")]
    engine = make_engine(url)
    with Session(engine) as session:
        issued = session.get(IssuedCard, "c1")
        assert issued is not None and issued.issued_at.replace(tzinfo=UTC) == LATER


def test_record_cards_long_hook_instance_is_cut_to_the_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    record_now(make_engine(url), "bme-patient-view", "h" * 300, [("c1", "R21")], FIRST)
    assert _rows(url)[0][3] == "h" * 128


SPECS = (
    SuggestionSpec(
        label="MRI lumbar spine",
        code=Code("http://loinc.org", "24968-0", "MR Lumbar spine"),
        note="dual-energy protocol",
        priority="urgent",
    ),
    SuggestionSpec(
        label="Naproxen",
        resource_type="MedicationRequest",
        text="naproxen 500 MG Oral Tablet",
        dose_text="as the seed words it",
        is_recommended=True,
    ),
    SuggestionSpec(label="Naproxen, no dose", resource_type="MedicationRequest", note="seeds give no dose"),
    SuggestionSpec(label="Brace", resource_type="DeviceRequest", text="thoracolumbar orthosis"),
)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
@pytest.mark.parametrize("patient_id", ["pat-1", "a" * 64, "Ünïcode id", ""])
def test_cached_draft_equals_a_freshly_validated_one(spec: SuggestionSpec, patient_id: str) -> None:
    expected = cards._build_draft(spec, patient_id)
    for _ in range(2):  # the second call is served from the cache
        draft = cards.draft_resource(spec, patient_id)
        assert draft == expected
        assert list(draft) == list(expected)  # same key order, so the JSON text is the same too


def test_cached_drafts_are_independent_copies() -> None:
    first = cards.draft_resource(SPECS[0], "pat-1")
    first["note"].append({"text": "changed by a caller"})
    assert cards.draft_resource(SPECS[0], "pat-2")["note"] == [{"text": "dual-energy protocol"}]


def test_an_invalid_draft_fails_every_time_not_only_the_first() -> None:
    bad = dataclasses.replace(SPECS[0], priority="a  b")  # type: ignore[arg-type]  # FHIR code: no double space
    for _ in range(2):
        with pytest.raises(ValueError):
            cards.draft_resource(bad, "pat-1")
