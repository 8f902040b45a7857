"""Small in-place edits of JSON documents for the schema test tables ("/"-separated paths)."""

from __future__ import annotations

from typing import Any


def _parent(document: Any, path: str) -> tuple[Any, str | int]:
    """Walk to the container holding the last path segment."""
    *parents, last = path.split("/")
    target = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    return target, int(last) if isinstance(target, list) else last


def set_path(document: Any, path: str, value: Any) -> Any:
    """Set `path` (list indexes as digits) to `value` in place and return the document."""
    target, key = _parent(document, path)
    target[key] = value
    return document


def drop(document: Any, *paths: str) -> Any:
    """Delete each path in place and return the document."""
    for path in paths:
        target, key = _parent(document, path)
        del target[key]
    return document
