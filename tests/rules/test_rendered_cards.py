"""Every scenario's findings (rules, then gates) render as CDS Hooks 2.0 cards that pass the schema."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from service.cds.schemas import validate
from service.core.cards import RULES_EXTENSION
from service.core.cards import render
from service.core.engine import evaluate
from tests.rules.scenario import feat
from tests.rules.scenario import knowledge
from tests.rules.test_rule_scenarios import CASES


@pytest.mark.parametrize(("rule_id", "hook", "fires", "quiet"), CASES)
def test_scenario_cards_are_valid_cds_hooks(
    rule_id: str, hook: str, fires: dict[str, Any], quiet: dict[str, Any]
) -> None:
    """Rendered with the real gates and cards module, the response validates and names the rule."""
    counter = itertools.count()
    cards = render(
        evaluate(feat(**fires), hook, knowledge()),
        uuid_factory=lambda: f"00000000-0000-4000-8000-{next(counter):012d}",
        source_label="BME CDS",
        topic_system="https://bme-cds.example.org/rules",
        patient_id="p1",
        smart_launch_url="https://app.example.org/launch",
    )
    validate("response", {"cards": cards})
    # Its own card, or folded into the pathway card that lists it (cards.RULES_EXTENSION).
    carried = {i for card in cards
               for i in card.get("extension", {}).get(RULES_EXTENSION, [card["source"]["topic"]["code"]])}
    assert rule_id in carried
