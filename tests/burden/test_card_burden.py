"""tools/card_burden.py: the figures from a small hand-made set of calls, the targets, and a run on two patients.

The hand-made cards fix every number in advance, so these tests check the arithmetic, not the rules (which
other work changes); one end-to-end run checks that the command drives the real service and the review runner.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tools import card_burden as cb

TITLES = {"R01": "MRI", "R22": "NSAID first", "R28": "Supportive care", "R37": "Course", "S01": "Kidney"}


def card(topic: str, detail_chars: int, indicator: str = "info", folded: tuple[str, ...] = ()) -> dict[str, Any]:
    """A card with a topic, a detail of the given length and optionally folded rule ids."""
    out: dict[str, Any] = {"summary": topic, "indicator": indicator, "detail": "x" * detail_chars,
                           "source": {"label": "BME", "topic": {"code": topic}}}
    if folded:
        out["extension"] = {"bme-cds-rules": [topic, *folded]}
    return out


def fixture_runs() -> list[cb.Run]:
    """Three reviewer patients (two patient-views, one order-sign) and one Synthea call."""
    return [
        cb.Run("01-a", cb.REVIEW, "patient-view",
               (card("S01", 500, "warning"), card("R22", 700, folded=("R28", "R37")), card("R01", 300))),
        cb.Run("02-b", cb.REVIEW, "patient-view", (card("R22", 1000, folded=("R37",)),),
               problems=("3 cards, at most 2 expected",)),
        cb.Run("03-c", cb.REVIEW, "order-sign", ()),
        cb.Run("Clemente", cb.SYNTHETIC, "order-sign", (card("S01", 400, "warning"),)),
    ]


def test_the_figures_are_computed_from_the_cards() -> None:
    """Pass rate, cards per call, detail lengths, the lead card and firing counts, each worked out by hand."""
    report = cb.summarise(fixture_runs(), TITLES)
    assert (report.review_passed, report.review_total) == (2, 3)
    assert report.failures == (("02-b", "3 cards, at most 2 expected"),)

    by_label = {s.label: s for s in report.per_call}
    assert set(by_label) == {"patient-view (review set)", "order-sign"}  # no Synthea patient-view in the set
    views = by_label["patient-view (review set)"]
    assert (views.calls, views.mean, views.max, views.distribution) == (2, 2.0, 3, ((1, 1), (3, 1)))
    sign = by_label["order-sign"]  # both sets' order-sign calls together
    assert (sign.calls, sign.mean, sign.max, sign.distribution) == (2, 0.5, 1, ((0, 1), (1, 1)))

    # Details: 500, 700, 300, 1000, 400 characters.
    assert report.detail_cards == 5
    assert report.detail_mean == 580
    assert report.detail_median == 500
    assert report.detail_max == 1000
    assert report.detail_over_600 == pytest.approx(2 / 5)
    assert report.detail_over_900 == pytest.approx(1 / 5)

    lead = dict(report.lead)
    assert lead["patient-view (review set)"] == {"warning": 1, "info": 1}
    assert lead["order-sign"] == {"none": 1, "warning": 1}

    fired = {f.id: f for f in report.firings}
    assert [f.id for f in report.firings] == sorted(TITLES)  # every id listed, also those that never fire
    assert (fired["R37"].review_calls, fired["R37"].own_cards, fired["R37"].folded) == (2, 0, 2)
    assert (fired["R22"].review_calls, fired["R22"].own_cards, fired["R22"].folded) == (2, 2, 0)
    assert (fired["S01"].review_calls, fired["S01"].synthea_calls, fired["S01"].own_cards) == (1, 1, 2)
    assert (fired["R28"].review_calls, fired["R28"].folded) == (1, 1)


def test_targets_are_judged_on_review_patient_views_and_every_card() -> None:
    """Max 3 and mean 2 cards pass; a failing patient and a 1,000-character detail miss their targets."""
    report = cb.summarise(fixture_runs(), TITLES)
    met = {t.what: t.met for t in report.targets}
    assert met == {
        "Review set passing": False,
        "Cards on any review patient-view": True,
        "Cards per review patient-view, mean": True,
        "Card detail, mean characters": True,
        "Card detail, longest": False,
    }
    assert not report.targets_met


def test_five_cards_on_one_patient_view_miss_the_limit_of_four() -> None:
    """The limits are inclusive: 4 cards pass, 5 do not; a mean of exactly 2.5 passes."""
    four = cb.Run("a", cb.REVIEW, "patient-view", tuple(card("R01", 10) for _ in range(4)))
    one = cb.Run("b", cb.REVIEW, "patient-view", (card("R01", 10),))
    met = {t.what: t.met for t in cb.summarise([four, one], TITLES).targets}
    assert met["Cards on any review patient-view"] and met["Cards per review patient-view, mean"]
    five = cb.Run("a", cb.REVIEW, "patient-view", tuple(card("R01", 10) for _ in range(5)))
    met = {t.what: t.met for t in cb.summarise([five, one], TITLES).targets}
    assert not met["Cards on any review patient-view"] and not met["Cards per review patient-view, mean"]
    assert cb.summarise([four, one], TITLES).targets_met


def test_the_markdown_holds_the_tables() -> None:
    """Readable tables: the targets with yes/no, cards per call, the distribution, the firing counts."""
    text = cb.render(cb.summarise(fixture_runs(), TITLES))
    assert "| Review set passing | 2 of 3 | all | **no** |" in text
    assert "| patient-view (review set) | 2 | 2.00 | 3 | 1: 1, 3: 1 |" in text
    assert "| 5 | 580 | 500 | 1000 | 40% | 20% |" in text
    assert "| R37 | Course | 2 | 0 | 0 | 2 |" in text
    assert "| 02-b | 3 cards, at most 2 expected |" in text


def test_check_and_write(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """--check exits 1 on a missed target and 0 when all hold; --write writes exactly what is printed."""
    patients = tmp_path / "patients"
    patients.mkdir()
    (patients / "01-a.json").write_text("{}", encoding="utf-8")
    runs = fixture_runs()
    monkeypatch.setattr(cb, "collect", lambda paths, synthea: runs)
    out = tmp_path / "doc" / "review-results.md"
    assert cb.main(["--patients", str(patients), "--check", "--write", str(out)]) == 1
    printed = capsys.readouterr()
    assert out.read_text(encoding="utf-8") == printed.out
    assert "targets missed: Review set passing, Card detail, longest" in printed.err

    runs = [cb.Run("a", cb.REVIEW, "patient-view", (card("R01", 100),))]
    assert cb.main(["--patients", str(patients), "--check"]) == 0


def test_a_run_through_the_service_on_two_patients(tmp_path: Path) -> None:
    """Two reviewer patients and one Synthea patient through the real app: one call each, judged by the runner."""
    from tests.review import test_review_set as review

    for name in ("35-no-bme-patient-view.json", "36-no-bme-warfarin-naproxen-sign.json"):
        shutil.copy(review.HERE / "patients" / name, tmp_path / name)
    runs = cb.collect(sorted(tmp_path.glob("*.json")), ("Clemente",))
    assert [(r.name, r.origin, r.hook) for r in runs] == [
        ("35-no-bme-patient-view", cb.REVIEW, "patient-view"),
        ("36-no-bme-warfarin-naproxen-sign", cb.REVIEW, "order-sign"),
        ("Clemente", cb.SYNTHETIC, "patient-view"),
        ("Clemente", cb.SYNTHETIC, "order-select"),
        ("Clemente", cb.SYNTHETIC, "order-sign"),
    ]
    assert all(isinstance(c.get("detail"), str) for r in runs for c in r.cards)
    report = cb.summarise(runs)
    assert report.review_total == 2
    assert report.detail_cards == sum(len(r.cards) for r in runs)
