"""Shape checks for FHIR values the service walks: a Bundle whose `entry` or `link` is not an array is refused.

Valid JSON of the wrong shape (`"entry": 5`) must become a 400 (the client sent it) or a 412 (a FHIR server
answered it) that names the path, never a TypeError deep in the pipeline.
"""

from __future__ import annotations

from typing import Any

_BUNDLE_ARRAYS = ("entry", "link")


def bundle_problem(value: Any, path: str) -> str | None:
    """Why `value` (found at `path`) is a Bundle the service cannot walk, or None; the reason names the path."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return None
    for name in _BUNDLE_ARRAYS:
        items = value.get(name)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"{path}.{name} must be an array, not {_kind(items)}"
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                return f"{path}.{name}[{index}] must be an object, not {_kind(item)}"
            if name == "entry" and "resource" in item and not isinstance(item["resource"], dict | None):
                return f"{path}.entry[{index}].resource must be an object, not {_kind(item['resource'])}"
            if name == "link" and not isinstance(item.get("url", ""), str):
                return f"{path}.link[{index}].url must be a string, not {_kind(item['url'])}"
    return None


def _kind(value: Any) -> str:
    """The JSON type name of a value (never the value itself: it may be patient data)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
