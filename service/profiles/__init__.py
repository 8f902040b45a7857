"""Client profiles: adapt rendered CDS Hooks cards to what each EHR really renders (ehr-and-smart.md §0-§3).

One pure post-processing step after `cards.render`: `adapt(cards, profile, order_codes=...)` returns new card
dicts for the calling client's profile ("generic", "epic", "oracle", "sandbox"; `TrustedClient.profile`).

- generic / sandbox: CDS Hooks 2.0 as rendered (the sandbox renders everything; its quirks are request-side).
- epic: `selectionBehavior` "any", one action per suggestion, dose and instructions in the action
  description (Epic ignores order details), codes mapped to the site's preference-list / order-set items,
  `source.topic.code` alphanumeric and at most 100 characters.
- oracle: no `appContext` on links (unsupported), detail shortened for the ~1/8-screen side panel.

Also reads a site's order-code mapping file, and summarises Epic request extensions for the access log.
No flask, no requests, no globals.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Final

from service.config import ConfigError
from service.core.findings import Code
from service.core.vocabulary import PROFILE_EPIC
from service.core.vocabulary import PROFILE_ORACLE
from service.core.vocabulary import PROFILES
from service.core.vocabulary import RXNORM

# Epic's "Codesets for Create APIs" name RxNorm by its OID in create actions (docId=cds-hooks).
EPIC_RXNORM: Final = "urn:oid:2.16.840.1.113883.6.88"
EPIC_PREFERENCE_LIST: Final = "urn:com.epic.cdshooks.action.code.system.preference-list-item"
EPIC_ORDERSET: Final = "urn:com.epic.cdshooks.action.code.system.orderset-item"
TEXT_KEY_PREFIX: Final = "text:"  # mapping-file key for an order we send as text only (no verified code)
EPIC_MAX_TOPIC_CODE: Final = 100  # Epic: source.topic.code alphanumeric, at most 100 characters
EPIC_REQUEST_EXTENSION_PREFIX: Final = "com.epic.cdshooks.request."
# Epic request extensions whose values are configuration, never patient or user data (docId=cds-hooks).
EPIC_LOGGED_EXTENSIONS: Final = frozenset({
    "bpa-trigger-action", "cds-hooks-specification-version", "fhir-version", "criteria-id", "epic-version",
    "cds-hooks-implementation-version", "cds-hooks-su-version",
})
# Oracle's side panel is ~1/8 of the screen wide: keep the basis, drop the rest.
ORACLE_MAX_DETAIL: Final = 1200
ORACLE_POINTER_APP: Final = (
    "Shortened for the side panel: the full basis is in the BME pathway app (link below)."
)
ORACLE_POINTER: Final = "Shortened for the side panel."

# Split suggestions get uuids derived from the original one, so repeated calls give identical responses.
_SPLIT_NAMESPACE: Final = uuid.UUID("0b9f6a52-7c1e-4d8e-bf0a-3f5d9e2c6a41")
_ALPHANUMERIC: Final = re.compile(r"[^A-Za-z0-9]")
_URI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_CODE: Final = re.compile(r"^\S(?:.*\S)?$")
_SAFE_VALUE: Final = re.compile(r"^[A-Za-z0-9 ._:-]{1,40}$")
_MAX_LOGGED_EXTENSIONS: Final = 16
# Resource element holding what a create action orders.
_ORDERED_CONCEPT: Final = {
    "MedicationRequest": "medicationCodeableConcept",
    "ServiceRequest": "code",
    "DeviceRequest": "codeCodeableConcept",
}
_MAPPING_KEYS: Final = frozenset({"comment", "site", "codes"})
_TARGET_KEYS: Final = frozenset({"system", "code", "display"})


@dataclass(frozen=True)
class OrderCodeMap:
    """A site's mapping from our standard order codes (system, code) to its own order codes."""

    codes: Mapping[tuple[str, str], Code] = field(default_factory=dict)
    site: str = ""
    # Orders we send as text only (no verified standard code exists), keyed by their text in comparison form.
    texts: Mapping[str, Code] = field(default_factory=dict)

    def lookup(self, system: str, code: str) -> Code | None:
        """The site's code for this standard code, or None when the site did not map it."""
        return self.codes.get((system, code))

    def lookup_text(self, text: str) -> Code | None:
        """The site's code for a text-only order (e.g. "Referral to physiotherapy"), or None."""
        return self.texts.get(_text_key(text))


def _text_key(text: str) -> str:
    """Order text in comparison form: case and spacing ignored."""
    return " ".join(text.split()).casefold()


def load_order_codes(path: Path) -> OrderCodeMap:
    """Read a site's order-code mapping file (JSON, see docs/integration-epic.md).

    :raises ConfigError: the file cannot be read or does not follow the format; the service refuses to start.
    """
    where = f"order-code mapping file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must hold a JSON object with a 'codes' object")
    unknown = sorted(set(data) - _MAPPING_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: codes, site, comment)")
    site = data.get("site", "")
    if not isinstance(site, str):
        raise ConfigError(f"{where}: 'site' must be a string")
    entries = data.get("codes")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{where}: 'codes' must be a non-empty object of \"system|code\" -> "
                          "{system, code, display}")
    codes: dict[tuple[str, str], Code] = {}
    texts: dict[str, Code] = {}
    for key, target in entries.items():
        if key.startswith(TEXT_KEY_PREFIX):
            words = _text_key(key.removeprefix(TEXT_KEY_PREFIX))
            if not words:
                raise ConfigError(f"{where}: key {key!r} needs the order's text after '{TEXT_KEY_PREFIX}'")
            texts[words] = _target(target, f"{where}: codes[{key!r}]")
            continue
        system, sep, code = key.rpartition("|")
        if not sep or not _URI.match(system) or not _CODE.match(code):
            raise ConfigError(f"{where}: key {key!r} must be \"system|code\" with an absolute system URI, "
                              "e.g. \"http://www.nlm.nih.gov/research/umls/rxnorm|11473\", or "
                              f"\"{TEXT_KEY_PREFIX}<order text>\" for an order we send without a code")
        codes[(system, code)] = _target(target, f"{where}: codes[{key!r}]")
    return OrderCodeMap(codes=codes, site=site, texts=texts)


def _target(value: Any, where: str) -> Code:
    """One mapped code: an object with non-empty system (URI), code and display."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be an object with system, code and display")
    unknown = sorted(set(value) - _TARGET_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: system, code, display)")
    for key in ("system", "code", "display"):
        text = value.get(key)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    if not _URI.match(value["system"]):
        raise ConfigError(f"{where}: 'system' must be an absolute URI, got {value['system']!r}")
    if not _CODE.match(value["code"]):
        raise ConfigError(f"{where}: 'code' must not start or end with whitespace")
    return Code(system=value["system"], code=value["code"], display=value["display"].strip())


def adapt(cards: Sequence[Mapping[str, Any]], profile: str, *,
          order_codes: OrderCodeMap | None = None) -> list[dict[str, Any]]:
    """The cards as this client profile should receive them (the input is not changed).

    Generic and sandbox clients get the cards as rendered (a new list, the same card objects): copying them
    would be the largest single cost of a request. Epic and Oracle Health get adapted deep copies.

    :raises ValueError: an unknown profile (the trusted-clients loader accepts only PROFILES).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown client profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if profile == PROFILE_EPIC:
        return [_epic_card(copy.deepcopy(dict(card)), order_codes) for card in cards]
    if profile == PROFILE_ORACLE:
        return [_oracle_card(copy.deepcopy(dict(card))) for card in cards]
    return [card if isinstance(card, dict) else dict(card) for card in cards]


# ------------------------------------------------------------------------------------------------------ Epic


def epic_topic_code(code: str) -> str:
    """A topic code as Epic accepts it: alphanumeric, at most 100 characters (our rule ids already are)."""
    return _ALPHANUMERIC.sub("", code)[:EPIC_MAX_TOPIC_CODE]


def _epic_card(card: dict[str, Any], order_codes: OrderCodeMap | None) -> dict[str, Any]:
    topic = card.get("source", {}).get("topic")
    if isinstance(topic, dict) and isinstance(topic.get("code"), str):
        # Epic ties override acknowledgments to this code; a stable rule id keeps them across requests.
        topic["code"] = epic_topic_code(topic["code"]) or "BMECDS"
    suggestions = card.get("suggestions")
    if not isinstance(suggestions, list) or not suggestions:
        return card
    # Epic supports only "any"; an "at-most-one" card says in each description that the options are exclusive.
    alternatives = len(suggestions) if card.get("selectionBehavior") == "at-most-one" else 0
    split: list[dict[str, Any]] = []
    for number, suggestion in enumerate(suggestions, start=1):
        choose = (f"Option {number} of {alternatives} on this card: choose only one."
                  if alternatives > 1 else None)
        split.extend(_epic_suggestions(suggestion, choose, order_codes))
    card["suggestions"] = split
    card["selectionBehavior"] = "any"
    return card


def _epic_suggestions(suggestion: dict[str, Any], choose: str | None,
                      order_codes: OrderCodeMap | None) -> list[dict[str, Any]]:
    """One suggestion per action (Epic supports a single action per suggestion)."""
    actions = suggestion.get("actions")
    if not isinstance(actions, list) or not actions:
        return [suggestion]
    if len(actions) == 1:
        suggestion["actions"] = [_epic_action(actions[0], [choose], order_codes)]
        return [suggestion]
    original = str(suggestion.get("uuid") or suggestion.get("label") or "")
    label = str(suggestion.get("label") or "Suggestion")
    parts: list[dict[str, Any]] = []
    for index, action in enumerate(actions, start=1):
        part = {k: v for k, v in suggestion.items() if k not in ("uuid", "actions", "label")}
        part["label"] = f"{label} (part {index} of {len(actions)})"
        if "uuid" in suggestion:
            part["uuid"] = str(uuid.uuid5(_SPLIT_NAMESPACE, f"{original}|{index}"))
        together = f"Part {index} of {len(actions)} of \"{label}\": select every part."
        part["actions"] = [_epic_action(action, [together, choose], order_codes)]
        parts.append(part)
    return parts


def _epic_action(action: Any, notes: Sequence[str | None], order_codes: OrderCodeMap | None) -> Any:
    """The action with Epic's codes, and what Epic ignores restated in the plain-text description."""
    if not isinstance(action, dict):
        return action
    resource = action.get("resource")
    pieces = [_plain(action["description"])] if isinstance(action.get("description"), str) else []
    if isinstance(resource, dict):
        _map_codes(resource, order_codes)
        for label, text in _order_details(resource):
            if not any(text in piece for piece in pieces):
                pieces.append(f"{label}: {text}")
    pieces.extend(note for note in notes if note)
    if pieces:
        action["description"] = "; ".join(pieces)
    return action


def _plain(text: str) -> str:
    """Epic shows the description as plain text: one line."""
    return " ".join(text.split())


def _order_details(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Dose and instructions of a draft order, which Epic replaces by its own order defaults."""
    details: list[tuple[str, str]] = []
    for dosage in _dicts(resource.get("dosageInstruction")):
        if isinstance(dosage.get("text"), str) and dosage["text"].strip():
            details.append(("dose", _plain(dosage["text"])))
    if isinstance(resource.get("patientInstruction"), str) and resource["patientInstruction"].strip():
        details.append(("instructions", _plain(resource["patientInstruction"])))
    for note in _dicts(resource.get("note")):
        if isinstance(note.get("text"), str) and note["text"].strip():
            details.append(("instructions", _plain(note["text"])))
    return details


def _map_codes(resource: dict[str, Any], order_codes: OrderCodeMap | None) -> None:
    """Replace the standard code by the site's order code; unmapped RxNorm is sent in Epic's OID spelling."""
    element = _ORDERED_CONCEPT.get(str(resource.get("resourceType")))
    concept = resource.get(element) if element else None
    if not isinstance(concept, dict):
        return
    codings = _dicts(concept.get("coding"))
    if order_codes is not None:
        found = (order_codes.lookup(str(c.get("system", "")), str(c.get("code", ""))) for c in codings)
        mapped = next((code for code in found if code is not None), None)
        if mapped is None and not codings and isinstance(concept.get("text"), str):
            mapped = order_codes.lookup_text(concept["text"])
        if mapped is not None:
            # Epic orders the preference-list item itself; a second (standard) coding could be ambiguous.
            concept["coding"] = [{"system": mapped.system, "code": mapped.code, "display": mapped.display}]
            return
    if not codings:
        return
    concept["coding"] = [
        {**coding, "system": EPIC_RXNORM} if coding.get("system") == RXNORM else coding for coding in codings
    ]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def epic_request_extensions(body: Any) -> dict[str, str]:
    """A loggable summary of Epic's request extensions: known configuration keys with short values only.

    Epic sends `extension` with `com.epic.cdshooks.request.*` keys (trigger action, versions, criteria id).
    Unknown keys and values that are not short plain scalars are counted, never copied: they could carry
    user or patient identifiers. Never raises, whatever the body.
    """
    extension = body.get("extension") if isinstance(body, dict) else None
    if not isinstance(extension, dict):
        return {}
    summary: dict[str, str] = {}
    skipped = 0
    for key, value in extension.items():
        if not isinstance(key, str) or not key.startswith(EPIC_REQUEST_EXTENSION_PREFIX):
            continue
        name = key.removeprefix(EPIC_REQUEST_EXTENSION_PREFIX)
        text = str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
        room = len(summary) < _MAX_LOGGED_EXTENSIONS
        if name in EPIC_LOGGED_EXTENSIONS and _SAFE_VALUE.match(text) and room:
            summary[name] = text
        else:
            skipped += 1
    if skipped:
        summary["skipped"] = str(skipped)
    return summary


# ---------------------------------------------------------------------------------------------------- Oracle


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
