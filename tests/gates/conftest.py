"""The feature-extraction fixtures (real value sets, one-call `run`) for the gate-feature tests."""

from tests.features.conftest import run  # noqa: F401  (fixture re-exported)
from tests.features.conftest import valuesets  # noqa: F401  (fixture re-exported)
