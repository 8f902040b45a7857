"""How a card or page cites its basis: the seeds' short citations and the public page of each rule and gate.

Cards show a short citation a clinician recognises, never a seed file name (docs card-style.md, "Short citations
for the seeds"); the full basis is one link away on the service's public rule page, whose URL `rule_url` builds.
Pure module: no flask, no I/O.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

# Seed file -> the citation a card or page shows (card-style.md). The seed files' contents are quoted in
# service/knowledge/evidence.py; only their names are needed here.
SEED_CITATIONS: Final = MappingProxyType({
    "000_78eca85d1300eed9.txt": "BME treatment summary (seed 000)",
    "001_55f96261c0195ecd.txt": "BME management review (seed 001)",
    "002_a2231a674c43bc45.txt": "Vertebral BME treatment algorithm (seed 002)",
    "003_c46f0e6aafd4fa31.txt": "BME patient guide (seed 003)",
})

RULES_PATH: Final = "/rules/"  # where the service serves the public rule pages (service/web/rulepages.py)
PAGE_ID: Final = re.compile(r"^[RS]\d\d$")  # a rule (R01-R37) or safety gate (S01-S14) id


def short_citation(source: str) -> str:
    """A seed file's short citation; any other source (a guideline, a label, a URL) is already its own citation."""
    return SEED_CITATIONS.get(source, source)


def rule_url(public_base_url: str, rule_id: str) -> str:
    """The public page of one rule or gate, e.g. https://cds.example.org/rules/R21 (a card's source.url).

    :raises ValueError: `rule_id` is not a rule or gate id, so no page can exist for it.
    """
    if not PAGE_ID.match(rule_id):
        raise ValueError(f"not a rule or gate id: {rule_id!r}")
    return public_base_url.rstrip("/") + RULES_PATH + rule_id
