"""Rules: the BME rule table (R01-R37, `bme.py`) and the engine that runs it (`engine.py`).

`evaluate(features, hook, policy)` is the one entry point the pipeline uses. Pure: no flask, no requests.
"""

from __future__ import annotations

from service.rules.bme import RULES
from service.rules.engine import evaluate

__all__ = ["RULES", "evaluate"]
