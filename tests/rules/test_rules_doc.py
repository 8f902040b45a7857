"""docs/rules.md is generated from the rule table and the gates; a stale committed file fails with the fix."""

from __future__ import annotations

from pathlib import Path

from service.core.policy import policy_from_mapping
from service.knowledge.doc import REGENERATE
from service.knowledge.doc import render_markdown
from service.knowledge.limitations import LIMITATIONS
from service.knowledge.rules import RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_committed_rules_doc_is_fresh() -> None:
    """The committed docs/rules.md equals what the table renders today."""
    assert DOC.exists(), f"docs/rules.md is missing; generate it with: {REGENERATE}"
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        f"docs/rules.md is stale; regenerate it with: {REGENERATE}"
    )


def test_doc_has_every_rule_gate_and_limitation() -> None:
    """Each rule id has a heading with When/Unless/Then/Evidence/Config; gates and limitations are listed."""
    text = render_markdown()
    for rule_id in {r.id for r in RULES}:
        assert f"### {rule_id}. " in text
    for label in ("- **When:**", "- **Unless:**", "- **Then:**", "- **Evidence:**", "- **Config:**"):
        assert text.count(label) >= len(RULES)
    assert "### S01. " in text and "### S14. " in text
    for item in ("atypical_pain", "neuro_progressive", "mri_contraindicated", "calcitonin"):
        assert any(item in lim.item for lim in LIMITATIONS)
    assert "## Rules the data cannot support yet" in text
    assert 'dose (seed wording): "375-1100 mg/day in two doses"' in text
    r22 = text[text.index("### R22. ") : text.index("### R23. ")]
    assert "`pathway.extensive_bme_bisphosphonate_first` = true" in r22  # read in a composed condition


def test_doc_numbers_follow_the_policy() -> None:
    """The rendered texts and Config lines show the policy's values, not literals."""
    text = render_markdown(policy=policy_from_mapping({"deformity.kyphosis_pct": 10}))
    assert "kyphosis >=10%" in text and "`deformity.kyphosis_pct` = 10" in text
    assert "kyphosis >=15%" in render_markdown()
