"""Builders for small ValueSet dicts in the project's file convention (used by the loader tests)."""

from __future__ import annotations

from typing import Any

from service.core.valuesets import EVIDENCE_EXTENSION_URL
from service.core.valuesets import computable_name
from service.core.vocabulary import ICD10CM


def evidence(text: str = "V-A: test") -> list[dict[str, str]]:
    """An evidence extension list."""
    return [{"url": EVIDENCE_EXTENSION_URL, "valueString": text}]


def make_valueset(
    name: str,
    concepts: tuple[tuple[str, str], ...] = (),
    prefixes: tuple[str, ...] = (),
    expansion: tuple[tuple[str, str], ...] | None = None,
    exclude: tuple[tuple[str, str], ...] = (),
    exclude_prefixes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A minimal valid ValueSet in the project's file convention; ICD-10-CM prefixes become is-a filters."""
    include: list[dict[str, Any]] = []
    for system in dict.fromkeys(s for s, _ in concepts):
        include.append(
            {
                "system": system,
                "concept": [
                    {"extension": evidence(), "code": c, "display": f"display {c}"}
                    for s, c in concepts
                    if s == system
                ],
            }
        )
    if prefixes:
        include.append(
            {
                "system": ICD10CM,
                "filter": [
                    {
                        "extension": evidence(f"V-A: prefix {p}"),
                        "property": "concept",
                        "op": "is-a",
                        "value": p,
                    }
                    for p in prefixes
                ],
            }
        )
    members = concepts if expansion is None else expansion
    resource: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": name,
        "name": computable_name(name),
        "status": "draft",
        "compose": {"include": include},
        "expansion": {
            "timestamp": "2026-11-21T00:00:00Z",
            "contains": [
                {"extension": evidence(), "system": s, "code": c, "display": f"display {c}"}
                for s, c in members
            ],
        },
    }
    excludes: list[dict[str, Any]] = []
    if exclude:
        excludes.append({"system": exclude[0][0], "concept": [{"code": c} for _, c in exclude]})
    if exclude_prefixes:
        excludes.append(
            {
                "system": ICD10CM,
                "filter": [{"property": "concept", "op": "is-a", "value": p} for p in exclude_prefixes],
            }
        )
    if excludes:
        resource["compose"]["exclude"] = excludes
    return resource
