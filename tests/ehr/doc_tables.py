"""Generated parts of the integration guides: the prefetch table, built from the service registry.

`python -m tests.ehr.doc_tables` rewrites the marked blocks in docs/integration-*.md; the tests fail while a
guide's block differs from what the registry says.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hooks import SERVICES
from service.cds.registry import OnUnavailable

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ("integration-epic.md", "integration-oracle.md", "integration-sandbox.md")
BEGIN = (
    "<!-- BEGIN prefetch-table: generated from hooks/ by `python -m tests.ehr.doc_tables`; do not edit -->"
)
END = "<!-- END prefetch-table -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"\n.*?\n" + re.escape(END), re.S)
_POLICY = {
    OnUnavailable.FAIL: "required: 412 if it can be neither prefetched nor fetched",
    OnUnavailable.OMIT: "optional: cards list what is missing",
}


def prefetch_table() -> str:
    """The Markdown table of every prefetch key: template, SMART scopes, policy, services using it."""
    keys: dict[str, tuple[str, str, str, list[str]]] = {}
    for service in SERVICES:
        for key, spec in service.prefetch.items():
            row = keys.setdefault(
                key, (spec.template, ", ".join(spec.scopes), _POLICY[spec.on_unavailable], [])
            )
            if (spec.template, ", ".join(spec.scopes), _POLICY[spec.on_unavailable]) != row[:3]:
                raise ValueError(f"prefetch key {key!r} differs between services; document it per service")
            row[3].append(service.id)
    lines = ["| Key | Template | Scopes | If unavailable | Services |", "|---|---|---|---|---|"]
    for key, (template, scopes, policy, services) in keys.items():
        cell = template.replace("|", "\\|")
        lines.append(f"| `{key}` | `{cell}` | {scopes} | {policy} | {', '.join(services)} |")
    return "\n".join(lines)


def generated(text: str) -> str:
    """The guide's text with its prefetch block regenerated."""
    return _BLOCK.sub(lambda _: f"{BEGIN}\n{prefetch_table()}\n{END}", text)


def main() -> int:
    """Rewrite the generated blocks in place."""
    for name in GUIDES:
        path = DOCS / name
        path.write_text(generated(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
