"""The record keeping of one process: database guard, spool, issued-card buffer and feedback intake, wired once."""

from __future__ import annotations

from sqlalchemy import Engine

from service.config import Settings
from service.store.feedback import CardBuffer
from service.store.feedback import spool_writer
from service.store.feedback import write_issued_cards
from service.store.health import DbGuard
from service.store.intake import Intake
from service.store.spool import Spool


def build_records(settings: Settings, engine: Engine) -> tuple[DbGuard, Intake, CardBuffer]:
    """Build the guard, the spool-backed card buffer and the feedback intake for `engine`."""
    guard = DbGuard(engine, timeout=settings.db_timeout_seconds, retry_after=settings.db_retry_after_seconds)
    spool = Spool(settings.effective_spool_dir, max_bytes=settings.spool_max_bytes)
    write_cards = write_issued_cards(engine)
    card_buffer = CardBuffer(write_cards, spool=spool)
    replay_into = spool_writer(engine, write_cards)
    card_buffer.replay = lambda: spool.replay(replay_into)
    intake = Intake(engine=engine, guard=guard, spool=spool, max_items=settings.feedback_max_items,
                    flush_cards=card_buffer.flush, watch_spool=card_buffer.watch_spool)
    return guard, intake, card_buffer
