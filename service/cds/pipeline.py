"""Pipeline: one CDS Hooks call from request JSON to response JSON, the same for HTTP and `bme-cds evaluate`.

look up the service -> validate the request -> resolve prefetch -> features -> rules and gates -> cards.
Each step is one named call; nothing here knows about Flask.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service import profiles
from service.cds import schemas
from service.cds.registry import Registry
from service.cds.registry import ServiceDefinition
from service.config import Settings
from service.core import cards
from service.core import engine as rules
from service.core import features
from service.core.policy import Policy
from service.core.valuesets import ValueSetIndex
from service.errors import InvalidRequestError
from service.fhir import medrefs
from service.fhir import prefetch
from service.fhir.access import FhirAccess
from service.obs.observer import NULL_OBSERVER
from service.obs.observer import Observer

# Card and suggestion uuids are derived from the hookInstance, so a client that repeats a call (the sandbox does,
# once per discovery URL) gets the very same response, and the issued-card record stays idempotent.
_UUID_NAMESPACE = uuid.UUID("5f0d7c5e-2b1a-4f7e-9a43-8c1e2b7d9a10")


def hook_instance_uuids(service_id: str, hook_instance: str) -> Callable[[], str]:
    """A uuid factory that yields the same sequence for the same service and hookInstance."""
    counter = itertools.count()
    return lambda: str(uuid.uuid5(_UUID_NAMESPACE, f"{service_id}|{hook_instance}|{next(counter)}"))


# (service id, hookInstance, [(card uuid, rule id)], time) -> None; records issued cards for feedback attribution.
CardRecorder = Callable[[str, str, Sequence[tuple[str, str]], datetime], None]


@dataclass(frozen=True)
class Deps:
    """Everything the pipeline needs, built once at start (create_app or the CLI)."""

    settings: Settings
    registry: Registry
    valuesets: ValueSetIndex
    policy: Policy
    knowledge: rules.CompiledKnowledge  # the rule and gate tables compiled for `policy` (compile_knowledge)
    uuid_factory: Callable[[str, str], Callable[[], str]] = hook_instance_uuids  # (service, hookInstance)
    pool: prefetch.FhirPool | None = None  # None: offline, never call a FHIR server
    recorder: CardRecorder | None = None
    order_codes: profiles.OrderCodeMap | None = None  # the site's preference-list codes (Epic profile)
    observer: Observer = NULL_OBSERVER  # metrics and tracing (service/obs); a no-op when both are off


@dataclass(frozen=True)
class Outcome:
    """The response body plus what the access log needs (rule ids, keys fetched or omitted)."""

    body: dict[str, Any]
    rule_ids: tuple[str, ...]
    fetched: tuple[str, ...] = ()
    omitted: Mapping[str, str] | None = None


def validate_request(service: ServiceDefinition, body: Any) -> Mapping[str, Any]:
    """The request, checked against our CDS Hooks 2.0 request schema and against the service's hook.

    :raises InvalidRequestError: with one detail per schema violation (400).
    """
    problems = schemas.errors("request", body)
    if problems:
        raise InvalidRequestError("the request does not follow CDS Hooks 2.0", details=tuple(problems))
    if body["hook"] != service.hook:
        raise InvalidRequestError(
            f"service {service.id!r} answers hook {service.hook!r}, not {body['hook']!r}"
        )
    return body  # type: ignore[no-any-return]


def draft_order_resources(context: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The resources in context.draftOrders (a Bundle; a bare list is tolerated)."""
    drafts = context.get("draftOrders")
    entries: Any = drafts.get("entry") if isinstance(drafts, dict) else drafts
    if not isinstance(entries, list):
        return []
    out: list[Mapping[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) and "resource" in entry else entry
        if isinstance(resource, dict):
            out.append(resource)
    return out


def evaluate(
    service_id: str,
    body: Any,
    deps: Deps,
    now: datetime,
    *,
    profile: str = "generic",
    access: FhirAccess | None = None,
) -> Outcome:
    """Run one CDS Hooks call and return the response body, adapted to the client's profile.

    `access` is the request's fhirServer and token as the caller's edge checked them; None reads nothing.

    :raises CdsError: 400 invalid request, 404 unknown service, 412 required data unavailable.
    """
    service = deps.registry.get(service_id)
    request = validate_request(service, body)
    timed = deps.observer.timed  # each stage timed (metrics) and spanned (tracing)
    resolved = timed("prefetch", prefetch.resolve, service, request, deps.pool, access)
    context: Mapping[str, Any] = request["context"]
    patient_id = str(context.get("patientId", ""))
    selections = context.get("selections")
    resources = prefetch.flatten(resolved.values)
    drafts = draft_order_resources(context)
    # Epic may reference a draft's Medication that only its FHIR server holds: read just those.
    resources += medrefs.read_missing(drafts, resources, access, deps.pool)
    patient_features = timed(
        "features",
        features.extract,
        resources,
        today=now.date(),
        valuesets=deps.valuesets,
        policy=deps.policy,
        patient_id=patient_id,
        draft_orders=drafts,
        selections=[s for s in selections if isinstance(s, str)] if isinstance(selections, list) else (),
    )
    findings = timed("rules", rules.evaluate, patient_features, service.hook, deps.knowledge)
    rendered = timed(
        "cards",
        cards.render,
        findings,
        uuid_factory=deps.uuid_factory(service.id, str(request["hookInstance"])),
        source_label=deps.settings.card_source_label,
        topic_system=deps.settings.topic_system,
        patient_id=patient_id,
        smart_launch_url=deps.settings.smart_launch_url or None,
        public_base_url=deps.settings.public_base_url,
        # A rule bug (e.g. an over-long summary) is repaired conservatively here rather than failing the whole
        # response; the rule and gate test suites render every scenario with strict=True to catch such bugs.
        strict=False,
    )
    rendered = profiles.adapt(rendered, profile, order_codes=deps.order_codes)
    deps.observer.cards(service.id, rendered)
    # A folded card is recorded once per rule it carries (its own first): feedback reaches each of them.
    issued = [(card["uuid"], rule) for card in rendered for rule in cards.card_rule_ids(card)]
    if deps.recorder is not None and issued:
        deps.recorder(service.id, str(request["hookInstance"]), issued, now)
    return Outcome(
        body={"cards": rendered},
        rule_ids=tuple(rule for _, rule in issued),  # every rule, folded ones too: logs see each of them
        fetched=resolved.fetched,
        omitted=resolved.omitted,
    )
