"""Rules: the BME rule table (R01-R37, `bme.py`) and the engine that runs it (`engine.py`).

`evaluate(features, hook, policy)` is the one entry point the pipeline uses. Pure: no flask, no requests.
"""

from __future__ import annotations

from service.core.engine import evaluate
from service.knowledge.rules import RULES

__all__ = ["RULES", "evaluate"]
