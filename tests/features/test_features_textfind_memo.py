"""textfind.find keeps recent results: the same findings as a fresh scan, bounded, and never shared lists."""

from __future__ import annotations

import pytest

from service import textfind

REPORT = "MRI lumbar spine: bone marrow edema involving the entire L2 vertebral body. No retropulsion."


@pytest.fixture(autouse=True)
def empty_memo() -> None:
    textfind._memo.clear()


def test_a_repeated_text_gives_the_same_findings_as_a_fresh_scan() -> None:
    first = textfind.find(REPORT)
    again = textfind.find(REPORT)
    assert first == again == textfind._find(REPORT)
    assert [f.kind for f in again] == ["bme", "site", "level", "extent", "retropulsion"]
    assert REPORT in textfind._memo


def test_callers_get_their_own_list() -> None:
    first = textfind.find(REPORT)
    first.clear()
    second = textfind.find(REPORT)
    assert second == textfind._find(REPORT) != []
    assert second is not textfind.find(REPORT)


def test_a_text_without_findings_is_remembered_as_empty() -> None:
    assert textfind.find("Normal study.") == []
    assert textfind._memo["Normal study."] == ()
    assert textfind.find("Normal study.") == []


def test_long_texts_are_scanned_every_time_and_not_kept() -> None:
    long = REPORT + " " * textfind.MEMO_TEXT_CHARS
    assert textfind.find(long) == textfind._find(long) != []
    assert long not in textfind._memo


def test_the_memo_never_holds_more_than_its_bound() -> None:
    for i in range(textfind.MEMO_ENTRIES * 2 + 3):
        textfind.find(f"Marrow edema at L{1 + i % 5}, case {i}.")
        assert len(textfind._memo) <= textfind.MEMO_ENTRIES
    assert textfind.find("Marrow edema at L3, case 2.") == textfind._find("Marrow edema at L3, case 2.")
