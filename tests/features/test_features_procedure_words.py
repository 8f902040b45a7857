"""The procedure shortcut: a procedure is skipped only when none of procedure_'s sets or patterns could apply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings

from service.core import features as f
from service.core.textfind import fold
from tests import builders as b
from tests.features.conftest import Run
from tests.features.oracle import texts
from tests.features.oracle import words_of

PATTERNS = (f._AUGMENTATION, f._CORE_DECOMPRESSION, f._OFFLOADING, f._CABG)
WORDS = words_of(*(p.pattern for p in PATTERNS))
TRICKY = [
    "Percutaneous vertebroplasty",
    "KYPHOPLASTY of L1",
    "vertebral  augmentation",
    "Core decompression of hip",
    "core\ndecompression",
    "Total contact cast",
    "off-loading boot",
    "offloading",
    "Coronary artery bypass graft",
    "CABG x3",
    "cabgs",
    "Colonoscopy | Colonoscopy",
    "Documentation of current medications",
]


def any_old(text: str) -> bool:
    """What procedure_ searched before the shortcut: the four patterns one by one."""
    return any(p.search(text) for p in PATTERNS)


@pytest.mark.parametrize("text", TRICKY + [x.upper() for x in TRICKY])
def test_shortcut_agrees_with_the_four_patterns(text: str) -> None:
    low = fold(text)
    combined = bool(f._has_any(low, f._PROCEDURE_NEEDS) and f._PROCEDURE_WORDS.search(low))
    assert combined == any_old(low)
    if any_old(low):
        assert f._has_any(low, f._PROCEDURE_NEEDS)


def test_the_shortcut_words_are_needed_by_every_pattern() -> None:
    assert sum(any_old(fold(t)) for t in TRICKY) == 10  # all but "cabgs" and the two plain ones

    @settings(max_examples=300, deadline=None)
    @given(texts(WORDS))
    def check(text: str) -> None:
        low = fold(text)
        assert bool(f._PROCEDURE_WORDS.search(low)) == any_old(low)
        if any_old(low):
            assert f._has_any(low, f._PROCEDURE_NEEDS)

    check()


def test_skipped_and_kept_procedures(run: Run) -> None:
    plain = run(b.procedure(None, text="Colonoscopy", id="colo"))
    assert plain.augmentation_done.value is False  # Procedures were supplied: none was an augmentation
    assert not plain.core_decompression_done.known and not plain.recent_cabg_date.known
    kept = run(
        b.procedure(None, text="Colonoscopy", id="colo"),
        b.procedure(None, text="Percutaneous KYPHOPLASTY", performed="2026-09-01", id="kp"),
        b.procedure(None, text="Coronary artery bypass graft", performed="2026-08-01", id="cabg"),
    )
    assert kept.augmentation_done.true
    assert [s.reference for s in kept.augmentation_done.sources] == ["Procedure/kp"]
    assert kept.recent_cabg_date.value is not None
    assert kept.recent_cabg_date.sources[0].reference == "Procedure/cabg"
