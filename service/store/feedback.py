"""Feedback: store what clinicians did with our cards, attributed to the rule that produced each card.

Also records each issued card (uuid, service, rule id, time; never patient data) so that feedback can be
joined to its rule. Uses SQLAlchemy only; no Flask.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
import time
import weakref
from collections import Counter
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.store.db import Base
from service.store.db import BoundValues
from service.store.db import FeedbackItem
from service.store.db import IssuedCard
from service.store.db import IssuedCardRule
from service.store.lograte import RateLimitedLog
from service.store.spool import Spool

LOG = logging.getLogger("bme.feedback")

# Dialects with INSERT ... ON CONFLICT DO UPDATE: one statement records every card of a response.
_UPSERT_INSERTS: dict[str, Callable[[Any], Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_CARD_UPDATES = ("service_id", "rule_id", "hook_instance", "issued_at")  # a repeated card uuid: the last row wins


Row = dict[str, Any]
UNKNOWN_CARD = "(unknown card)"  # feedback on a card uuid the issued-card record does not (yet) know


def write_issued_cards(engine: Engine) -> Callable[[Sequence[Row]], None]:
    """A writer of issued-card rows: an upsert per card uuid (a repeated uuid is overwritten)."""
    return sqlite_card_writer(engine) if engine.dialect.name == "sqlite" else core_card_writer(engine)


def core_card_writer(engine: Engine) -> Callable[[Sequence[Row]], None]:
    """Issued-card rows in one transaction: a multi-row upsert where the dialect has one, else Session.merge."""
    make_insert = _UPSERT_INSERTS.get(engine.dialect.name)
    upsert: Any = None
    insert_rules: Any = None
    if make_insert is not None:
        # Session.merge costs a SELECT and an INSERT per card: under load it took ~30% of a worker's time
        # (py-spy, bench/profile.py). One multi-row upsert keeps merge's semantics in a single round trip;
        # built once, since building it per call cost as much as running it.
        statement = make_insert(IssuedCard)
        insert_rules = make_insert(IssuedCardRule).on_conflict_do_nothing()
        upsert = statement.on_conflict_do_update(
            index_elements=[IssuedCard.uuid], set_={name: statement.excluded[name] for name in _CARD_UPDATES})

    def write(rows: Sequence[Row]) -> None:
        cards, carried = _split(rows)
        if not cards:
            return
        if upsert is None:
            with Session(engine) as session, session.begin():
                for row in cards:
                    session.merge(IssuedCard(**row))
                for card_uuid, rule_id in carried:
                    session.merge(IssuedCardRule(card_uuid=card_uuid, rule_id=rule_id))
            return
        with engine.begin() as connection:
            connection.execute(upsert, cards)
            if carried and insert_rules is not None:
                connection.execute(insert_rules, [{"card_uuid": u, "rule_id": r} for u, r in carried])

    return write


def _split(rows: Sequence[Row]) -> tuple[list[Row], list[tuple[str, str]]]:
    """Card rows, one per uuid (the last wins, as consecutive merges would; PostgreSQL refuses one statement that
    updates a row twice), and the (card uuid, rule id) pairs folded cards carry."""
    unique = list({row["uuid"]: row for row in rows}.values())
    carried = {(row["uuid"], rule): None for row in unique for rule in row.get(CARRIED, ())}
    return [{k: v for k, v in row.items() if k != CARRIED} for row in unique], list(carried)


def sqlite_card_writer(engine: Engine) -> Callable[[Sequence[Row]], None]:
    """Cards and carried rules as one statement each, reading every row from one JSON parameter (json_each).

    Each statement is its own transaction and runs in one step, so the file's write lock is held only while
    SQLite works. executemany stepped row by row in one transaction and waited for the GIL between rows with
    the lock held (5-15 ms a flush under load), stalling the other workers' jti inserts (docs/operations.md).
    """
    cards, rules = Base.metadata.tables[IssuedCard.__tablename__], Base.metadata.tables[IssuedCardRule.__tablename__]
    card_values, rule_values = BoundValues(cards, engine.dialect), BoundValues(rules, engine.dialect)
    upsert_cards = _from_json_rows(cards)
    upsert_cards = upsert_cards.on_conflict_do_update(
        index_elements=[cards.c.uuid], set_={name: upsert_cards.excluded[name] for name in _CARD_UPDATES})
    insert_rules = _from_json_rows(rules).on_conflict_do_nothing()
    core = core_card_writer(engine)

    def write(rows: Sequence[Row]) -> None:
        card_rows, carried = _split(rows)
        if not card_rows:
            return
        card_json = _json([card_values(row) for row in card_rows])
        rule_json = _json([rule_values({"card_uuid": u, "rule_id": r}) for u, r in carried]) if carried else ""
        if _NUL in card_json or _NUL in rule_json:
            # SQLite's JSON functions (3.40, as here) end a string at an escaped U+0000. The request schema
            # refuses a NUL in a hookInstance, but rows spooled before it did may hold one: bound as parameters.
            core(rows)
            return
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(upsert_cards, {"rows": card_json})
            # Committed apart from the cards: if this fails, the buffer keeps or spools every row, and writing
            # them again is harmless (upsert, insert-or-ignore).
            if carried:
                connection.execute(insert_rules, {"rows": rule_json})

    return write


def _from_json_rows(table: Table) -> Any:
    """INSERT INTO table (every column) SELECT each column from the objects of the JSON array bound as `rows`."""
    rows = func.json_each(bindparam("rows", type_=String)).table_valued("value")
    names = [column.name for column in table.columns]
    # WHERE is required: without it SQLite reads ON CONFLICT as the join constraint of the SELECT.
    select_rows = select(*[func.json_extract(rows.c.value, f"$.{name}") for name in names]).where(true())
    return sqlite.insert(table).from_select(names, select_rows)


_NUL = "\\u0000"  # how orjson writes U+0000 (a false alarm on a literal backslash-u0000 only costs the slower path)


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


CARRIED = "carried"  # row key: every rule id a folded card carries, its own first (absent for one rule)


def _rows(service_id: str, hook_instance: str, issued: Sequence[tuple[str, str]], now: datetime) -> list[Row]:
    """One row per card; `issued` lists a folded card once per rule it carries, its own rule first."""
    rules: dict[str, list[str]] = {}
    for card_uuid, rule_id in issued:
        rules.setdefault(card_uuid, []).append(rule_id)
    rows: list[Row] = []
    for card_uuid, ids in rules.items():
        row: Row = {
            "uuid": card_uuid,
            "service_id": service_id,
            "rule_id": ids[0],
            "hook_instance": hook_instance[:128],
            "issued_at": now,
        }
        if len(ids) > 1:
            row[CARRIED] = tuple(dict.fromkeys(ids))
        rows.append(row)
    return rows


class CardBuffer:
    """A pipeline CardRecorder that batches issued-card rows and writes them off the request path.

    A transaction per response cost about a tenth of a worker's CPU under load (bench/profile.py); hundreds of
    rows in one upsert cost a third per row and one commit. Rows reach the database within `interval` seconds
    (a background thread per process), at once when `max_rows` are waiting, on `flush()` (the feedback
    endpoint calls it so this worker's cards are known when feedback arrives) and at interpreter exit. The rows
    only attribute feedback to rules: a crash loses at most `interval` seconds of them, never patient data,
    and the feedback report resolves attribution again when it runs.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Row]], None],
        *,
        interval: float = 0.2,  # short batches: a long one holds the GIL long enough to show in p99 latency
        max_rows: int = 2000,
        spool: Spool | None = None,  # where rows go while the database refuses them; replayed on recovery
    ) -> None:
        self._write = write
        self._interval = interval
        self._max_rows = max_rows
        self.spool = spool
        self.replay: Callable[[], object] | None = None  # set by the app: replays the spool into the database
        self._log = RateLimitedLog(LOG, interval=30.0)
        self._reset()
        _LIVE_BUFFERS.add(self)  # weakly: a dropped app's buffer is collected, its thread then ends

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Row] = []
        self._thread: threading.Thread | None = None

    def __call__(
        self, service_id: str, hook_instance: str, issued: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        """Queue one response's cards (a few microseconds); the background thread writes them."""
        rows = _rows(service_id, hook_instance, issued, now)
        with self._lock:
            self._pending.extend(rows)
            full = len(self._pending) >= self._max_rows
            self._start_thread()
        if full:
            self.flush()

    def _start_thread(self) -> None:
        """Start this process's writer thread once (call with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=_flush_periodically, args=(weakref.ref(self), self._interval), name="bme-card-buffer",
                daemon=True,
            )
            self._thread.start()

    def watch_spool(self) -> None:
        """Make sure the writer thread runs, so records just spooled are replayed once the database is back."""
        with self._lock:
            self._start_thread()

    def pending(self) -> int:
        """Rows recorded but not yet written."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> None:
        """Write every waiting row now; on a database error keep them (up to max_rows) for the next try."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return
        try:
            self._write(rows)
        except SQLAlchemyError as exc:
            if self.spool is not None and self.spool.append("cards", rows):
                self._log.warning("issued-card rows not written (%s): spooled for replay", type(exc).__name__)
                return
            with self._lock:
                kept = (rows + self._pending)[-self._max_rows :]
                dropped = len(rows) + len(self._pending) - len(kept)
                self._pending = kept
            # Losing rows is its own line (its own rate limit): it must not hide behind "kept for retry".
            template = ("issued-card rows not written (%s): %d kept for retry, %d dropped" if dropped
                        else "issued-card rows not written (%s): %d kept for retry, %d dropped ")
            self._log.error(template, type(exc).__name__, len(kept), dropped)

    def replay_spool(self) -> None:
        """Write what the spool holds, once the database takes writes again (called by the background thread)."""
        if self.replay is None or self.spool is None or not self.spool.pending():
            return
        try:
            self.replay()
        except (SQLAlchemyError, OSError) as exc:
            self._log.warning("spool replay postponed (%s)", type(exc).__name__)



_LIVE_BUFFERS: weakref.WeakSet[CardBuffer] = weakref.WeakSet()
REPLAY_EVERY_TICKS = 10  # look at the spool every tenth flush (2 s at the default interval)


def _flush_periodically(buffer_ref: weakref.ref[CardBuffer], interval: float) -> None:
    """The background writer: holds its buffer only weakly, and ends once the buffer is gone."""
    for tick in itertools.count(1):
        time.sleep(interval)
        buffer = buffer_ref()
        if buffer is None:
            return
        buffer.flush()
        if tick % REPLAY_EVERY_TICKS == 0:
            buffer.replay_spool()
        del buffer


def _flush_all() -> None:
    """At interpreter exit (a gunicorn worker stopping): write what every live buffer still holds."""
    for buffer in list(_LIVE_BUFFERS):
        buffer.flush()


def _reset_all_after_fork() -> None:
    """A forked worker owns neither its parent's rows nor its threads."""
    for buffer in list(_LIVE_BUFFERS):
        buffer._reset()


atexit.register(_flush_all)
os.register_at_fork(after_in_child=_reset_all_after_fork)


def _override(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The override reason under the spec's name, or Epic's plural spelling (object or list of one)."""
    value = item.get("overrideReason", item.get("overrideReasons"))
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _row(service_id: str, item: Mapping[str, Any], now: datetime) -> FeedbackItem:
    override = _override(item)
    raw_reason = override.get("reason")
    reason: Mapping[str, Any] = raw_reason if isinstance(raw_reason, dict) else {}
    accepted = item.get("acceptedSuggestions") or []
    accepted_ids = sorted(str(s.get("id")) for s in accepted if isinstance(s, dict) and s.get("id"))
    return FeedbackItem(
        service_id=service_id,
        card_uuid=str(item["card"])[:128],
        outcome=str(item["outcome"]),
        outcome_timestamp=str(item["outcomeTimestamp"])[:40],
        accepted_suggestions=",".join(accepted_ids)[:1024],
        override_system=str(reason.get("system", ""))[:256],
        override_code=str(reason.get("code", ""))[:128],
        override_display=str(reason.get("display", ""))[:512],
        override_comment=str(override.get("userComment", ""))[:4000],
        rule_id="",
        hook_instance="",
        received_at=now,
    )


@dataclass(frozen=True)
class StoredItem:
    """What the metrics count of one newly stored item: its rule, outcome and override reason code."""

    rule_id: str
    outcome: str
    override_code: str


@dataclass(frozen=True)
class StoreResult:
    """How many items were new, how many had been stored before, and how many name a card we never issued."""

    stored: int
    duplicates: int
    unknown_cards: int = 0
    items: tuple[StoredItem, ...] = ()  # the new ones that name a card we issued (what metrics count)


class FeedbackRefused(ValueError):
    """The post names a card another service issued (400); nothing of it was stored."""


def store_feedback(
    engine: Engine, service_id: str, items: Sequence[Mapping[str, Any]], now: datetime
) -> StoreResult:
    """Store a post's items all or nothing, each once; a repeated item is recognised and skipped.

    :raises FeedbackRefused: an item names a card issued by another service (nothing is stored).
    """
    rows = [_row(service_id, item, now) for item in items]
    make_insert = _UPSERT_INSERTS.get(engine.dialect.name)
    with Session(engine) as session, session.begin():
        uuids = {row.card_uuid for row in rows}
        issued = {card.uuid: card for card in session.scalars(select(IssuedCard).where(IssuedCard.uuid.in_(uuids)))}
        unknown = 0
        for row in rows:
            card = issued.get(row.card_uuid)
            if card is None:
                unknown += 1
            elif card.service_id != service_id:
                raise FeedbackRefused(f"card {row.card_uuid[:64]!r} was issued by another service")
            else:
                row.rule_id, row.hook_instance = card.rule_id, card.hook_instance
        stored = 0
        new: list[StoredItem] = []
        for row in rows:
            values = {c.key: getattr(row, c.key) for c in FeedbackItem.__table__.columns if c.key != "id"}
            if make_insert is not None:
                # The unique constraint, not a prior read, decides: concurrent workers cannot both insert.
                statement = make_insert(FeedbackItem).on_conflict_do_nothing().returning(FeedbackItem.id)
                inserted = len(session.connection().execute(statement, values).fetchall())
            else:
                try:
                    with session.begin_nested():
                        session.add(FeedbackItem(**values))
                    inserted = 1
                except IntegrityError:
                    inserted = 0
            stored += inserted
            if inserted and row.rule_id:
                new.append(StoredItem(row.rule_id, row.outcome, row.override_code))
    return StoreResult(stored, len(rows) - stored, unknown, tuple(new))


@dataclass
class TopicReport:
    """Feedback counts for one card topic (rule id)."""

    rule_id: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def feedback_report(engine: Engine) -> list[TopicReport]:
    """Per rule id: cards issued, accepted and overridden, with the override reasons.

    A folded card (one pathway card carrying several rules) counts for each rule it carried.
    """
    return _report(engine)[0]


def unknown_card_feedback(engine: Engine) -> int:
    """Feedback items naming a card this service never issued: stored, never counted for a rule."""
    return _report(engine)[1]


def _report(engine: Engine) -> tuple[list[TopicReport], int]:
    topics: dict[str, TopicReport] = defaultdict(lambda: TopicReport(rule_id=""))
    unknown = 0
    with Session(engine) as session:
        rules_of_card: dict[tuple[str, str], list[str]] = {}
        for card_uuid, service_id, rule_id in session.execute(
            select(IssuedCard.uuid, IssuedCard.service_id, IssuedCard.rule_id)
        ):
            rules_of_card[(service_id, card_uuid)] = [rule_id]
        carried: dict[str, list[str]] = {}
        for card_uuid, rule_id in session.execute(select(IssuedCardRule.card_uuid, IssuedCardRule.rule_id)):
            carried.setdefault(card_uuid, []).append(rule_id)
        for key, rule_ids in rules_of_card.items():
            if key[1] in carried:
                rules_of_card[key] = list(dict.fromkeys([*rule_ids, *carried[key[1]]]))
        for rule_ids in rules_of_card.values():
            for rule_id in rule_ids:
                topic = topics[rule_id]
                topic.rule_id = rule_id
                topic.issued += 1
        for row in session.scalars(select(FeedbackItem)):
            # Attribution is resolved here too: the issued-card record may have landed after the feedback
            # (it may have waited in the spool); only a card of the same service counts.
            card_rules = rules_of_card.get((row.service_id, row.card_uuid))
            if card_rules is None:
                unknown += 1
                continue
            for rule_id in card_rules:
                topic = topics[rule_id]
                topic.rule_id = rule_id
                if row.outcome == "accepted":
                    topic.accepted += 1
                elif row.outcome == "overridden":
                    topic.overridden += 1
                    reason = row.override_display or row.override_code or "(no reason given)"
                    if row.override_comment:
                        reason = f"{reason}: {row.override_comment[:80]}"
                    topic.reasons[reason] += 1
    return sorted(topics.values(), key=lambda t: t.rule_id), unknown


def format_report(report: Sequence[TopicReport], unknown_cards: int = 0) -> str:
    """The report as plain text, one block per rule id, then the feedback for cards never issued here."""
    footer = f"feedback for cards this service never issued (not counted above): {unknown_cards}\n"
    if not report:
        return "No cards issued and no feedback received yet.\n" + (footer if unknown_cards else "")
    lines = [f"{'rule':<16}{'issued':>8}{'accepted':>10}{'overridden':>12}"]
    for topic in report:
        lines.append(f"{topic.rule_id:<16}{topic.issued:>8}{topic.accepted:>10}{topic.overridden:>12}")
        for reason, count in topic.reasons.most_common():
            lines.append(f"    override: {reason} ({count})")
    return "\n".join(lines) + "\n" + (footer if unknown_cards else "")


def report_text(engine: Engine) -> str:
    """The feedback report as `bme-cds feedback-report` prints it."""
    report, unknown = _report(engine)
    return format_report(report, unknown)


def spool_writer(engine: Engine, write_cards: Callable[[Sequence[Row]], None]) -> Callable[[str, list[Row]], None]:
    """How spooled records reach the database: cards as upserts, feedback as idempotent all-or-nothing posts."""

    def write(kind: str, records: list[Row]) -> None:
        if kind == "cards":
            write_cards([{**row, "issued_at": _when(row.get("issued_at"))} for row in records])
            return
        if kind == "feedback":
            for post in records:
                try:
                    store_feedback(engine, str(post["service_id"]), post["items"], _when(post.get("received_at")))
                except FeedbackRefused as refused:
                    LOG.error("spooled feedback dropped: %s", refused)
            return
        LOG.error("spool: records of unknown kind %r skipped", kind[:40])

    return write


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
