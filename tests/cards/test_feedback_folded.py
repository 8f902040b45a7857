"""Feedback on a folded pathway card reaches every rule it carries (its `bme-cds-rules` extension)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from service.store.db import make_engine
from service.store.feedback import CardBuffer
from service.store.feedback import feedback_report
from service.store.feedback import store_feedback
from service.store.feedback import write_issued_cards

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
# As the pipeline records a response: a folded card once per rule it carries, its own rule first.
ISSUED = [("card-1", "R22"), ("card-1", "R28"), ("card-1", "R37"), ("card-2", "S01")]


@pytest.mark.parametrize("merge", [False, True], ids=["upsert", "merge"])
def test_feedback_on_a_folded_card_counts_for_each_rule(tmp_path: Path, merge: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if merge:  # the dialect-neutral path (Session.merge) must record the folded rules too
        monkeypatch.setattr("service.store.feedback._UPSERT_INSERTS", {})
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    buffer = CardBuffer(write_issued_cards(engine), interval=3600)
    buffer("bme-patient-view", "hook-1", ISSUED, NOW)
    buffer("bme-patient-view", "hook-1", ISSUED, NOW)  # the sandbox repeats a call: recorded once
    buffer.flush()
    items = [
        {"card": "card-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T09:06:00Z",
         "overrideReason": {"reason": {"code": "already-addressed", "display": "Already addressed"}}},
        {"card": "card-2", "outcome": "accepted", "outcomeTimestamp": "2026-11-21T09:07:00Z",
         "acceptedSuggestions": [{"id": "s-1"}]},
    ]
    assert store_feedback(engine, "bme-patient-view", items, NOW).stored == 2
    report = {t.rule_id: t for t in feedback_report(engine)}
    for rule_id in ("R22", "R28", "R37"):
        assert (report[rule_id].issued, report[rule_id].overridden) == (1, 1), rule_id
        assert report[rule_id].reasons == {"Already addressed": 1}
    assert (report["S01"].issued, report["S01"].accepted, report["S01"].overridden) == (1, 1, 0)
    assert set(report) == {"R22", "R28", "R37", "S01"}


def test_a_card_with_one_rule_writes_no_folded_row() -> None:
    written: list[list[dict[str, object]]] = []
    buffer = CardBuffer(lambda rows: written.append(list(rows)), interval=3600)
    buffer("bme-patient-view", "hook-2", [("c1", "R21"), ("c2", "R22"), ("c2", "R37")], NOW)
    buffer.flush()
    (rows,) = written
    assert [(r["uuid"], r["rule_id"], r.get("carried")) for r in rows] == [
        ("c1", "R21", None), ("c2", "R22", ("R22", "R37"))]
