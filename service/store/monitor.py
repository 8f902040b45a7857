"""`bme-cds monitor` and the HTML report's data: daily counts per rule from the issued-card and feedback records.

Reads rule ids, days, outcomes and coded override reasons only: never a comment, a patient or a hookInstance.
The statistics live in service/store/drift.py (pure).
"""

from __future__ import annotations

from collections import Counter
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.store.db import FeedbackItem
from service.store.db import IssuedCard
from service.store.drift import History
from service.store.drift import RuleDays


@dataclass(frozen=True)
class Records:
    """The daily history per rule, plus each rule's override reasons (coded display or code) in total and per day."""

    history: History
    reasons: dict[str, Counter[str]]
    reasons_daily: dict[str, dict[str, dict[date, int]]]  # rule -> reason -> day -> overrides


def utc_day(moment: datetime) -> date:
    """The UTC day of a stored time (SQLite hands back naive times, which were written as UTC)."""
    return (moment if moment.tzinfo is None else moment.astimezone(UTC)).date()


def load_records(engine: Engine, *, today: date | None = None) -> Records:
    """Count cards issued and feedback received per rule and UTC day."""
    rules: dict[str, RuleDays] = defaultdict(RuleDays)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    reasons_daily: dict[str, dict[str, dict[date, int]]] = defaultdict(lambda: defaultdict(dict))
    first: date | None = None
    last: date | None = None
    rule_of_card: dict[str, str] = {}
    with Session(engine) as session:
        for card_uuid, rule_id, issued_at in session.execute(
            select(IssuedCard.uuid, IssuedCard.rule_id, IssuedCard.issued_at)
        ):
            rule_of_card[card_uuid] = rule_id
            day = utc_day(issued_at)
            counts = rules[rule_id].issued
            counts[day] = counts.get(day, 0) + 1
            first = day if first is None or day < first else first
            last = day if last is None or day > last else last
        for card_uuid, rule_id, outcome, code, display, received_at in session.execute(
            select(FeedbackItem.card_uuid, FeedbackItem.rule_id, FeedbackItem.outcome, FeedbackItem.override_code,
                   FeedbackItem.override_display, FeedbackItem.received_at)
        ):
            if outcome not in ("accepted", "overridden"):
                continue
            # Attribution is resolved here too: the issued-card record may have landed after the feedback.
            # Feedback on a card we never issued is never counted for a rule (issue 13).
            rule = rule_id or rule_of_card.get(card_uuid)
            if rule is None:
                continue
            day = utc_day(received_at)
            entry = rules[rule]
            entry.feedback[day] = entry.feedback.get(day, 0) + 1
            if outcome == "overridden":
                entry.overridden[day] = entry.overridden.get(day, 0) + 1
                reason = (display or code or "(no reason given)")[:80]
                reasons[rule][reason] += 1
                per_day = reasons_daily[rule][reason]
                per_day[day] = per_day.get(day, 0) + 1
            first = day if first is None or day < first else first
            last = day if last is None or day > last else last
    end = today or datetime.now(UTC).date()
    history = History(first_day=first or end, last_day=max(last or end, end), rules=dict(rules))
    daily = {rule: dict(by_reason) for rule, by_reason in reasons_daily.items()}
    return Records(history, dict(reasons), daily)


def default_until(now: datetime | None = None) -> date:
    """The last complete UTC day (a cron job at 00:05 checks yesterday)."""
    return (now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=1)
