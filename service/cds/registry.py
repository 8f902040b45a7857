"""Registry: the one list of CDS services; discovery is generated from it, calls are dispatched through it."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from service.errors import UnknownServiceError


class OnUnavailable(Enum):
    """What to do when a prefetch key cannot be had, or holds an OperationOutcome (cf. HAPI CdsPrefetchFailureMode)."""

    FAIL = "fail"  # answer 412: the service cannot give safe advice without this data
    OMIT = "omit"  # go on without it: the features it feeds stay unknown, and cards say what was missing


@dataclass(frozen=True)
class PrefetchKey:
    """One prefetch template and its failure policy."""

    template: str
    on_unavailable: OnUnavailable = OnUnavailable.FAIL
    scopes: tuple[str, ...] = ()  # SMART scopes the EHR must grant for it (documentation for analysts)


@dataclass(frozen=True)
class ServiceDefinition:
    """A CDS service as discovery describes it, plus its prefetch failure policy."""

    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, PrefetchKey]
    usage_requirements: str = ""

    def discovery_entry(self) -> dict[str, Any]:
        """This service's entry in GET /cds-services (CDS Hooks 2.0 §Discovery); no empty fields."""
        entry: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
        }
        if self.prefetch:
            entry["prefetch"] = {key: spec.template for key, spec in self.prefetch.items()}
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


class Registry:
    """Services by id, in registration order."""

    def __init__(self, services: Iterable[ServiceDefinition]) -> None:
        self._services: dict[str, ServiceDefinition] = {}
        for service in services:
            if service.id in self._services:
                raise ValueError(f"duplicate CDS service id {service.id!r}")
            self._services[service.id] = service

    def get(self, service_id: str) -> ServiceDefinition:
        """The service with this id.

        :raises UnknownServiceError: no such service (404).
        """
        try:
            return self._services[service_id]
        except KeyError:
            raise UnknownServiceError(f"no CDS service with id {service_id!r}") from None

    def __iter__(self) -> Any:
        return iter(self._services.values())

    def discovery(self, spec_version: str | None = None) -> dict[str, Any]:
        """The discovery document; `spec_version` adds the CDS Hooks 3.0 `version` field when configured."""
        services = []
        for service in self._services.values():
            entry = service.discovery_entry()
            if spec_version:
                entry["version"] = spec_version
            services.append(entry)
        return {"services": services}
