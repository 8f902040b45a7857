"""Card checks ported from the Inferno CRD test kit (cards_validation.rb, suggestion_actions_validation.rb).

Plus our own house rules: no empty strings/arrays/objects or nulls, and no HTML or tables in `detail`.
"""

from __future__ import annotations

import re
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

INDICATORS = {"info", "warning", "critical"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
LINK_TYPES = {"absolute", "smart"}
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def inferno_errors(card: dict[str, Any]) -> list[str]:
    """Every Inferno card/suggestion/action check this card fails (empty list: passes)."""
    errors: list[str] = []
    summary = card.get("summary")
    if not isinstance(summary, str) or len(summary) >= 140:
        errors.append("summary must be a string shorter than 140 characters")
    if card.get("indicator") not in INDICATORS:
        errors.append("indicator must be info, warning or critical")
    if not isinstance(card.get("source"), dict) or not card["source"].get("label"):
        errors.append("source.label is required")
    if "suggestions" in card and card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
        errors.append("selectionBehavior is required with suggestions and must be at-most-one or any")
    for reason in card.get("overrideReasons", []):
        if not all(reason.get(k) for k in ("code", "system", "display")):
            errors.append(f"overrideReason needs code, system and display: {reason}")
    for link in card.get("links", []):
        if not all(link.get(k) for k in ("label", "type", "url")):
            errors.append(f"link needs label, type and url: {link}")
        if link.get("type") not in LINK_TYPES:
            errors.append(f"link type must be absolute or smart: {link}")
        if link.get("type") != "smart" and link.get("appContext"):
            errors.append("appContext is only allowed on smart links")
    for suggestion in card.get("suggestions", []):
        if not suggestion.get("label"):
            errors.append("suggestion label is required")
        if "actions" in suggestion and not suggestion["actions"]:
            errors.append("suggestion actions must not be an empty array")
        for action in suggestion.get("actions", []):
            errors += _action_errors(action)
    return errors


def _action_errors(action: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    if not action.get("type") or not action.get("description"):
        errors.append("action needs type and description")
    if action.get("type") in ("create", "update"):
        resource = action.get("resource")
        try:
            model = get_fhir_model_class(resource["resourceType"])
            model.model_validate(resource)
        except (KeyError, TypeError, ValueError) as exc:
            errors.append(f"{action['type']} needs a parseable FHIR resource: {exc}")
    if action.get("type") == "delete":
        if not _REFERENCE.match(str(action.get("resourceId", ""))):
            errors.append("delete needs resourceId as a relative reference")
        if "resource" in action:
            errors.append("delete must not carry a resource")
    return errors


def empties(value: Any, path: str = "$") -> list[str]:
    """JSON paths holding null, an empty string, an empty array or an empty object."""
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empties(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empties(v, f"{path}[{i}]")]
    return []


def markup_errors(detail: str) -> list[str]:
    """HTML tags or GFM tables in a card detail."""
    errors = []
    if re.search(r"<[A-Za-z/!]", detail):
        errors.append("detail contains an HTML tag")
    if any(line.lstrip().startswith("|") for line in detail.splitlines()):
        errors.append("detail contains a table row")
    return errors
