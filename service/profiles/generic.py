"""Generic and sandbox profiles: CDS Hooks 2.0 cards as rendered.

The sandbox renders everything the specification allows; its quirks are on the request side, so its cards are
the generic ones. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from service.profiles.epic import OrderCodeMap


def adapt(cards: Sequence[Mapping[str, Any]], order_codes: OrderCodeMap | None) -> list[dict[str, Any]]:
    """The cards as rendered: a new list of the same card objects (copying them would cost the most)."""
    return [card if isinstance(card, dict) else dict(card) for card in cards]
