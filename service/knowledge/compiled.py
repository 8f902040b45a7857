"""The BME knowledge compiled for one policy: the composition root calls `compile_knowledge` once, at start."""

from __future__ import annotations

from service.core.engine import CompiledKnowledge
from service.core.engine import compile_tables
from service.core.policy import Policy
from service.knowledge.gates import GATE_TABLE
from service.knowledge.rules import RULE_TABLE


def compile_knowledge(policy: Policy) -> CompiledKnowledge:
    """The rule table (R01-R37) and the gate table (S01-S14) compiled for this policy."""
    return compile_tables(RULE_TABLE, GATE_TABLE, policy)
