"""The observer that feeds Prometheus metrics and OpenTelemetry spans (either may be off)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import AbstractContextManager
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status
from opentelemetry.trace import StatusCode
from opentelemetry.trace import Tracer

from service.core.cards import OVERRIDE_REASONS
from service.core.cards import card_rule_ids
from service.obs.metrics import Metrics
from service.obs.observer import FETCH_OUTCOMES
from service.obs.observer import STAGES
from service.obs.observer import P
from service.obs.observer import T
from service.obs.observer import fetch_outcome

# Label values come from a closed set, so a client cannot grow the series without bound.
KNOWN_OVERRIDE_REASONS = frozenset(code for code, _ in OVERRIDE_REASONS)
_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_REASON_CHARS = 48


def reason_label(public_message: str) -> str:
    """A short label from a refusal's public message, e.g. 'token expired' -> 'token_expired'."""
    return _SLUG.sub("_", public_message.lower()).strip("_")[:_MAX_REASON_CHARS] or "unknown"


def override_label(code: str) -> str:
    """The override reason code as a label: one of the codes our cards offer, '(none)' or 'other'."""
    if not code:
        return "(none)"
    return code if code in KNOWN_OVERRIDE_REASONS else "other"


class LiveObserver:
    """Records into `metrics` and/or opens spans on `tracer`; never raises into the request."""

    def __init__(self, metrics: Metrics | None, tracer: Tracer | None) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self._cards: dict[tuple[str, str], Any] = {}
        if metrics is not None:
            # Children bound once: labels() costs a lock and a dict look-up per call.
            self._stage_hist = {name: metrics.stage_duration.labels(stage=name) for name in STAGES}
            self._fetch_count = {name: metrics.fhir_fetches.labels(outcome=name) for name in FETCH_OUTCOMES}

    def stage(self, name: str) -> AbstractContextManager[None]:
        """Time the stage into bme_cds_stage_duration_seconds and a child span bme.stage.<name>."""
        return self._timed(f"bme.stage.{name}", name, fetch=False)

    def timed(self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call `fn` as stage(name) does, without a generator's overhead when no span is recorded."""
        if self._span_wanted():
            with self.stage(name):
                return fn(*args, **kwargs)
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if self.metrics is not None:
                self._stage_hist[name].observe(time.perf_counter() - started)

    def _span_wanted(self) -> bool:
        # A child of a trace the sampler dropped would be dropped too (every standard sampler decides per trace):
        # not creating it saves most of tracing's cost on unsampled requests.
        return self.tracer is not None and trace.get_current_span().is_recording()

    def fhir_fetch(self) -> AbstractContextManager[None]:
        """Count the GET's outcome into bme_cds_fhir_fetches_total and span it as bme.fhir.fetch."""
        return self._timed("bme.fhir.fetch", "", fetch=True)

    @contextmanager
    def _timed(self, span_name: str, stage: str, *, fetch: bool) -> Iterator[None]:
        started = time.perf_counter()
        span = None
        if self.tracer is not None and self._span_wanted():
            # No exception events: a validation message may quote request data.
            span = self.tracer.start_span(span_name, record_exception=False, set_status_on_exception=False)
        context = trace.use_span(span, end_on_exit=False) if span is not None else None
        error: BaseException | None = None
        try:
            if context is None:
                yield
            else:
                with context:
                    yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            if fetch:
                outcome = fetch_outcome(error)
                if self.metrics is not None:
                    self._fetch_count[outcome].inc()
                if span is not None:
                    span.set_attribute("bme.fhir.outcome", outcome)
            elif self.metrics is not None and stage in self._stage_hist:
                self._stage_hist[stage].observe(time.perf_counter() - started)
            if span is not None:
                if error is not None:
                    span.set_attribute("error.type", type(error).__name__)
                    span.set_status(Status(StatusCode.ERROR))
                span.end()

    def cards(self, service_id: str, cards: Sequence[Mapping[str, Any]]) -> None:
        """One count per rule id each card lists; suggestions under the card's own (topic) rule."""
        rules: list[str] = []
        for card in cards:
            ids = card_rule_ids(card)
            rules.extend(ids)
            if self.metrics is None:
                continue
            indicator = str(card.get("indicator", ""))
            for rule in ids:
                child = self._cards.get((rule, indicator))
                if child is None:  # bound once per label pair: labels() costs a lock and a look-up
                    child = self._cards[(rule, indicator)] = self.metrics.cards.labels(rule=rule, indicator=indicator)
                child.inc()
            suggestions = card.get("suggestions")
            if ids and isinstance(suggestions, list) and suggestions:
                self.metrics.suggestions.labels(rule=ids[0]).inc(len(suggestions))
        if self._span_wanted():
            span = trace.get_current_span()
            span.set_attribute("bme.cards", len(cards))
            span.set_attribute("bme.rules", rules)

    def auth_refused(self, reason: str) -> None:
        """Count a refusal under its short public reason."""
        if self.metrics is not None:
            self.metrics.auth_refusals.labels(reason=reason_label(reason)).inc()

    def feedback(self, rule_id: str, outcome: str, reason: str) -> None:
        """Count a stored feedback item, and its override reason when overridden."""
        if self.metrics is None:
            return
        outcome_label = outcome if outcome in ("accepted", "overridden") else "other"
        self.metrics.feedback.labels(rule=rule_id, outcome=outcome_label).inc()
        if outcome == "overridden":
            self.metrics.override_reasons.labels(rule=rule_id, reason=override_label(reason)).inc()
