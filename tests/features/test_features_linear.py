"""Extraction cost is linear in the resource count: one value-set lookup per coding (counted, not timed)."""

from __future__ import annotations

from typing import Any

import pytest

from service.core import textfind
from service.core.features import extract
from service.core.policy import DEFAULT_POLICY
from service.core.valuesets import ValueSetIndex
from tests import builders as b
from tests.features.conftest import VALUESETS_DIR


class CountingIndex(ValueSetIndex):
    """The real index, counting names_for calls."""

    calls = 0

    def names_for(self, system: str, code: str) -> frozenset[str]:
        CountingIndex.calls += 1
        return super().names_for(system, code)


def record(i: int) -> list[dict[str, Any]]:
    """One slice of a record: condition, lab, pain score, report, order, imaging study, encounter."""
    day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
    return [
        b.condition("M81.0", onset=day),
        b.observation("98979-8", 60 + i % 30, "mL/min/{1.73_m2}", day),
        b.pain(i % 11, day),
        b.report("Focal marrow edema at L1. No retropulsion.", effective=day),
        b.medication_request("198014", "Naproxen 500 MG Oral Tablet", authored=day),
        b.imaging_study("MR", day, procedure_code="24968-0"),
        b.encounter("IMP", [(b.ICD10CM, "S32.010A")], day),
    ]


def codings(value: Any) -> int:
    """Number of Coding objects with a code anywhere in a resource tree."""
    if isinstance(value, dict):
        own = 1 if "code" in value and "system" in value and isinstance(value.get("code"), str) else 0
        return own + sum(codings(v) for v in value.values())
    if isinstance(value, list):
        return sum(codings(v) for v in value)
    return 0


def count_calls(n: int, index: CountingIndex) -> tuple[int, int]:
    resources = [r for i in range(n) for r in record(i)]
    CountingIndex.calls = 0
    extract(
        resources,
        today=b.TODAY,
        valuesets=index,
        policy=DEFAULT_POLICY,
        draft_orders=[b.draft_medication_request("7258")] * n,
    )
    return CountingIndex.calls, sum(codings(r) for r in resources) + n * codings(
        b.draft_medication_request("7258")
    )


@pytest.fixture(scope="module")
def index() -> CountingIndex:
    loaded = CountingIndex.load(VALUESETS_DIR)
    assert isinstance(loaded, CountingIndex)
    return loaded


def test_value_set_lookups_grow_linearly(index: CountingIndex) -> None:
    small, small_codings = count_calls(50, index)
    large, large_codings = count_calls(500, index)
    assert small > 0
    assert large == 10 * small
    # At most one lookup per coding (status codings and the like are never looked up).
    assert small <= small_codings
    assert large <= large_codings


def test_report_text_is_scanned_once_per_report(
    index: CountingIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = textfind.find

    def counting(text: str) -> list[textfind.TextFinding]:
        calls["n"] += 1
        return real(text)

    monkeypatch.setattr(textfind, "find", counting)
    count_calls(40, index)
    assert calls["n"] == 40
