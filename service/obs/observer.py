"""The observer the pipeline, the FHIR pool and the views report to; the default one does nothing.

Kept free of prometheus-client and OpenTelemetry so the pipeline and `bme-cds evaluate` never load them.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import AbstractContextManager
from contextlib import nullcontext
from typing import Any
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar

STAGES = ("prefetch", "features", "rules", "cards")
FETCH_OUTCOMES = ("ok", "timeout", "client_error", "server_error", "refused")

P = ParamSpec("P")
T = TypeVar("T")


class Observer(Protocol):
    """Receives what happens during a request; implementations must never raise into the request."""

    def stage(self, name: str) -> AbstractContextManager[None]:
        """Time one pipeline stage (one of STAGES)."""

    def timed(self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call `fn` as the pipeline stage `name`."""

    def fhir_fetch(self) -> AbstractContextManager[None]:
        """Time one outbound FHIR GET; an exception leaving it carries its outcome in `.outcome`."""

    def cards(self, service_id: str, cards: Sequence[Mapping[str, Any]]) -> None:
        """Count the cards and suggestions of one response."""

    def auth_refused(self, reason: str) -> None:
        """Count one refused caller (401/403) by a short public reason."""

    def feedback(self, rule_id: str, outcome: str, reason: str) -> None:
        """Count one stored feedback item; `reason` is the override reason code or ''."""


class NullObserver:
    """Observes nothing: the default when metrics and tracing are off, and offline."""

    def stage(self, name: str) -> AbstractContextManager[None]:
        """No timing."""
        return nullcontext()

    def timed(self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Just the call."""
        return fn(*args, **kwargs)

    def fhir_fetch(self) -> AbstractContextManager[None]:
        """No timing."""
        return nullcontext()

    def cards(self, service_id: str, cards: Sequence[Mapping[str, Any]]) -> None:
        """Nothing counted."""

    def auth_refused(self, reason: str) -> None:
        """Nothing counted."""

    def feedback(self, rule_id: str, outcome: str, reason: str) -> None:
        """Nothing counted."""


NULL_OBSERVER = NullObserver()


def fetch_outcome(error: BaseException | None) -> str:
    """The FETCH_OUTCOMES label of a finished fetch: 'ok', or what the exception says it was."""
    if error is None:
        return "ok"
    outcome = getattr(error, "outcome", None)
    return outcome if outcome in FETCH_OUTCOMES else "server_error"

