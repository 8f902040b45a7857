"""Feedback intake: all or nothing per post, under the database deadline, into the spool while it is down."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from service.errors import InvalidRequestError
from service.errors import PayloadTooLargeError
from service.errors import ServiceUnavailableError
from service.store.feedback import FeedbackRefused
from service.store.feedback import StoredItem
from service.store.feedback import store_feedback
from service.store.health import DatabaseDown
from service.store.health import DbGuard
from service.store.spool import Spool


@dataclass(frozen=True)
class Intake:
    """What the feedback endpoint needs: the database under its guard, the spool, the item bound."""

    engine: Engine
    guard: DbGuard
    spool: Spool | None
    max_items: int
    flush_cards: Callable[[], None] | None = None  # write this worker's pending card rows first
    watch_spool: Callable[[], None] | None = None  # start the replaying thread once something is spooled


def check_size(body: Any, max_items: int) -> None:
    """Refuse a post with more than `max_items` items before validating them one by one (413)."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if isinstance(items, list) and len(items) > max_items:
        raise PayloadTooLargeError(f"a feedback post may carry at most {max_items} items; send them in parts")


def accept(
    intake: Intake, service_id: str, items: Sequence[Mapping[str, Any]], now: datetime
) -> tuple[int, dict[str, int], tuple[StoredItem, ...]]:
    """Store the post: (HTTP status, body, the new items stored now). 200 stored, 202 spooled, or 400/503."""

    def store() -> Any:
        if intake.flush_cards is not None:
            intake.flush_cards()  # cards this worker issued moments ago are attributed at once
        return store_feedback(intake.engine, service_id, items, now)

    try:
        result = intake.guard.call(store)
    except FeedbackRefused as refused:
        raise InvalidRequestError(str(refused)) from None
    except DatabaseDown:
        post = {"service_id": service_id, "items": list(items), "received_at": now.isoformat()}
        if intake.spool is not None and intake.spool.append("feedback", [post]):
            if intake.watch_spool is not None:
                intake.watch_spool()
            return 202, {"stored": 0, "duplicates": 0, "queued": len(items)}, ()
        raise ServiceUnavailableError("the feedback store is unavailable; send it again later",
                                      retry_after=intake.guard.retry_after) from None
    body = {"stored": result.stored, "duplicates": result.duplicates}
    if result.unknown_cards:
        body["unknownCards"] = result.unknown_cards
    return 200, body, result.items
