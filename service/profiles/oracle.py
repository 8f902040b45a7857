"""Oracle Health profile: no `appContext` on links (unsupported), detail shortened for the side panel.

Oracle's side panel is about 1/8 of the screen wide: the detail keeps the basis (option,
rule, data used) and drops the rest, with a pointer to the SMART app when the card links it. Pure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final

from service.profiles.epic import OrderCodeMap

# Oracle's side panel is ~1/8 of the screen wide: keep the basis, drop the rest.
ORACLE_MAX_DETAIL: Final = 1200
ORACLE_POINTER_APP: Final = (
    "Shortened for the side panel: the full basis is in the BME pathway app (link below)."
)
ORACLE_POINTER: Final = "Shortened for the side panel."


def adapt(cards: Sequence[Mapping[str, Any]], order_codes: OrderCodeMap | None) -> list[dict[str, Any]]:
    """Adapted deep copies of the cards, for Oracle Health (the order-code mapping is Epic's)."""
    return [_oracle_card(copy.deepcopy(dict(card))) for card in cards]


def _oracle_card(card: dict[str, Any]) -> dict[str, Any]:
    links = card.get("links")
    has_app = False
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict):
                # Oracle Health: "the appContext field is not currently supported".
                link.pop("appContext", None)
                has_app = has_app or link.get("type") == "smart"
    if isinstance(card.get("detail"), str):
        card["detail"] = shorten_detail(card["detail"], ORACLE_MAX_DETAIL,
                                        ORACLE_POINTER_APP if has_app else ORACLE_POINTER)
    return card


# Detail sections as cards.detail writes them, in the order they are kept when space is short.
_OPTION = "**Option:**"
_RULE = "**Rule**"
_SECTION_PRIORITY: Final = (
    "**Missing or stale**", "**Patient data used**", "**Evidence**", "**Notes and safety checks**",
)
_HEAD_CHARS: Final = {_OPTION: 400, _RULE: 240}
_ITEM_CHARS: Final = 200
# Markdown constructs that must never be cut: escapes, entities, code spans, links, bold, then words.
_TOKEN: Final = re.compile(
    r"\\.|&#?[A-Za-z0-9]+;|`[^`\n]*`|\[(?:\\.|[^\]\\\n])*\]\([^)\s]*\)|\*\*(?:\\.|[^*\\\n])+\*\*|\s+|[^\s\\&`\[*]+|.")


@dataclass
class _Block:
    """One blank-line separated block of the detail: a head line and the list items kept so far."""

    head: str
    items: list[str]
    kept: list[str] = field(default_factory=list)
    shown: bool = False
    kept_chars: int = 0  # sum of len(item) + 1 over `kept`

    def size(self, extra: str | None = None) -> int:
        """Characters this block adds to the detail (with `extra` kept too), blank line after it included."""
        if not self.shown and extra is None:
            return 0
        kept = len(self.kept) + (extra is not None)
        chars = len(self.head) + self.kept_chars + (len(extra) + 1 if extra is not None else 0)
        dropped = len(self.items) - kept
        if kept and dropped:
            chars += len(f"\n- and {dropped} more")
        return chars + 2

    def render(self) -> str:
        """The block's Markdown."""
        dropped = len(self.items) - len(self.kept)
        more = [f"- and {dropped} more"] if self.kept and dropped else []
        return "\n".join([self.head, *self.kept, *more])


def shorten_detail(detail: str, limit: int, pointer: str) -> str:
    """The detail cut to `limit` characters by whole blocks and list items, ending with `pointer`.

    Keeps the option and the rule (id and words) first, then missing data, data used, evidence, safety
    checks. A line too long on its own is cut between Markdown constructs, never inside one. Linear: the
    length is kept as a running total, never re-measured.
    """
    if len(detail) <= limit:
        return detail
    blocks = []
    for raw in detail.split("\n\n"):
        lines = [line for line in raw.split("\n") if line.strip()]
        if lines:
            blocks.append(_Block(lines[0], lines[1:]))
    used = len(pointer)

    def try_add(block: _Block, item: str | None) -> bool:
        nonlocal used
        if item is None:
            if block.shown:
                return True
            grown = len(block.head) + 2  # the head line alone
        else:
            grown = block.size(item)
        current = block.size()
        if used - current + grown > limit:
            return False
        used += grown - current
        block.shown = True
        if item is not None:
            block.kept.append(item)
            block.kept_chars += len(item) + 1
        return True

    for prefix in (_OPTION, _RULE):
        for block in blocks:
            if block.head.startswith(prefix):
                block.head = truncate_markdown(block.head, _HEAD_CHARS[prefix])
                block.items = []
                try_add(block, None)
    sections = [block for prefix in _SECTION_PRIORITY for block in blocks if block.head == prefix]
    # First every section's first item (so evidence is never crowded out by data), then the rest in order.
    for block in sections:
        if block.items:
            try_add(block, truncate_markdown(block.items[0], _ITEM_CHARS))
    for block in sections:
        for item in block.items[len(block.kept):] if block.kept else []:
            if not try_add(block, truncate_markdown(item, _ITEM_CHARS)):
                break  # keep items in order: a later, shorter item must not jump a dropped one
    for block in blocks:
        if not block.shown and not block.items:
            try_add(block, None)  # e.g. the footer, if it still fits
    text = "\n\n".join([*(block.render() for block in blocks if block.shown), pointer])
    return text if len(text) <= limit else truncate_markdown(text, limit)


def truncate_markdown(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a token boundary, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = 0
    for token in _TOKEN.findall(text):
        if size + len(token) > limit - 1:
            break
        kept.append(token)
        size += len(token)
    return "".join(kept).rstrip() + "…"
