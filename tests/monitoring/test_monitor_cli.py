"""`bme-cds monitor` and `bme-cds feedback-report --html` on a real database filled from synthetic histories."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import time
from pathlib import Path

import pytest
from sqlalchemy import insert

from service.cli import main
from service.store.db import FeedbackItem
from service.store.db import IssuedCard
from service.store.db import make_engine
from service.store.drift import History
from tests.monitoring.synthetic import RulePlan
from tests.monitoring.synthetic import day
from tests.monitoring.synthetic import history

STABLE = {"R05": RulePlan(rate=12.0, feedback_share=1.0, override=0.2), "R21": RulePlan(rate=4.0)}
COMMENT = "Mrs Example declined, see chart"  # free text that must never reach the HTML page


def _fill(data_dir: Path, hist: History) -> None:
    """Write the history as issued-card and feedback rows, one card per firing, at noon UTC."""
    engine = make_engine(f"sqlite:///{data_dir / 'bme-cds.sqlite3'}")
    cards, items = [], []
    for rule_id, days in hist.rules.items():
        for when, count in days.issued.items():
            noon = datetime.combine(when, time(12), tzinfo=UTC)
            uuids = [f"{rule_id}-{when.isoformat()}-{i}" for i in range(count)]
            cards += [{"uuid": u, "service_id": "bme-patient-view", "rule_id": rule_id, "hook_instance": u,
                       "issued_at": noon} for u in uuids]
            answered, overridden = days.feedback.get(when, 0), days.overridden.get(when, 0)
            for i, card_uuid in enumerate(uuids[:answered]):
                over = i < overridden
                items.append({
                    "service_id": "bme-patient-view", "card_uuid": card_uuid,
                    "outcome": "overridden" if over else "accepted", "outcome_timestamp": noon.isoformat(),
                    "accepted_suggestions": "", "override_system": "",
                    "override_code": "patient-declined" if over else "",
                    "override_display": "Patient declined" if over else "",
                    "override_comment": COMMENT if over else "",
                    "rule_id": "", "hook_instance": "", "received_at": noon,
                })
    with engine.begin() as connection:
        connection.execute(insert(IssuedCard), cards)
        if items:
            connection.execute(insert(FeedbackItem), items)
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """BME_DATA_DIR for the CLI, pointing at an empty folder."""
    monkeypatch.setenv("BME_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BME_DATABASE_URL", raising=False)
    return tmp_path


def test_monitor_exits_zero_on_a_stable_history(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(data_dir, history(STABLE, days=60, seed=11))
    assert main(["monitor", "--until", day(59).isoformat()]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^R05 .* ok$", out, re.M) and re.search(r"^R21 .* ok$", out, re.M)


def test_monitor_flags_a_stopped_rule_and_exits_non_zero(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plans = {**STABLE, "R21": RulePlan(rate=4.0, break_day=57, rate_after=0.0)}
    _fill(data_dir, history(plans, days=60, seed=12))
    assert main(["monitor", "--until", day(59).isoformat()]) == 1
    captured = capsys.readouterr()
    assert re.search(r"^R21 .*STOPPED$", captured.out, re.M)
    assert re.search(r"^R05 .* ok$", captured.out, re.M)
    assert "1 rule(s) flagged: R21" in captured.err


def test_monitor_refuses_a_malformed_date(data_dir: Path) -> None:
    assert main(["monitor", "--until", "yesterday"]) == 2


def test_feedback_report_html_is_self_contained_and_free_of_comments(data_dir: Path) -> None:
    _fill(data_dir, history(STABLE, days=30, seed=13))
    page_path = data_dir / "report.html"
    assert main(["feedback-report", "--html", str(page_path)]) == 0
    page = page_path.read_text(encoding="utf-8")
    # Per rule (both have overrides): cards per day, override reasons in total and per week.
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2 * 3
    assert "Override reasons per week" in page
    assert "<polyline" in page and "Patient declined" in page
    assert COMMENT not in page and "Mrs" not in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}  # no external asset


def test_feedback_report_text_is_unchanged_without_html(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_engine(f"sqlite:///{data_dir / 'bme-cds.sqlite3'}").dispose()  # the service's database, nothing issued
    assert main(["feedback-report"]) == 0
    assert capsys.readouterr().out == "No cards issued and no feedback received yet.\n"
