"""Epic profile: cards as Epic renders them, a site's order-code mapping, and Epic's request extensions.

- `selectionBehavior` "any", one action per suggestion, dose and instructions in the action description (Epic
  ignores order details), codes mapped to the site's preference-list / order-set items (`load_order_codes`),
  `source.topic.code` alphanumeric and at most 100 characters.
- `epic_request_extensions` summarises Epic's request extensions for the access log.

Pure: no flask, no requests, no globals; reads the mapping file only when asked to.
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


def adapt(cards: Sequence[Mapping[str, Any]], order_codes: OrderCodeMap | None) -> list[dict[str, Any]]:
    """Adapted deep copies of the cards, for Epic."""
    return [_epic_card(copy.deepcopy(dict(card)), order_codes) for card in cards]


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

