"""The Prometheus metrics of the service: names and labels operators build dashboards on (issue 16).

Metric objects are made per app on a registry the caller gives. Under gunicorn, `bme-cds serve` sets
PROMETHEUS_MULTIPROC_DIR before prometheus-client is imported, so every worker writes its values to files there
and /metrics adds them up (service/obs/multiproc.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import multiprocess

from service.config import RULESET_VERSION
from service.config import Settings

# Request times: a call answers in a few ms to the FHIR budget (5 s by default).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


@dataclass(frozen=True)
class Metrics:
    """Every metric object of one app."""

    requests: Counter
    request_duration: Histogram
    stage_duration: Histogram
    cards: Counter
    suggestions: Counter
    feedback: Counter
    override_reasons: Counter
    fhir_fetches: Counter
    auth_refusals: Counter
    build_info: Gauge


def multiprocess_dir() -> str | None:
    """The folder prometheus-client's multiprocess mode writes to, when it is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def build_metrics(registry: CollectorRegistry | None, settings: Settings) -> Metrics:
    """Create the metrics on `registry` (None in multiprocess mode: the files are the registry)."""
    reg = registry
    metrics = Metrics(
        requests=Counter("bme_cds_requests", "CDS service calls answered, by service id and HTTP status",
                         ["service", "status"], registry=reg),
        request_duration=Histogram("bme_cds_request_duration_seconds", "Time to answer a CDS service call",
                                   ["service"], buckets=REQUEST_BUCKETS, registry=reg),
        stage_duration=Histogram("bme_cds_stage_duration_seconds", "Time spent in one pipeline stage",
                                 ["stage"], buckets=STAGE_BUCKETS, registry=reg),
        cards=Counter("bme_cds_cards", "Cards returned, once per rule id a card lists",
                      ["rule", "indicator"], registry=reg),
        suggestions=Counter("bme_cds_suggestions", "Suggestions returned, by the card's rule",
                            ["rule"], registry=reg),
        feedback=Counter("bme_cds_feedback", "Feedback items stored, by rule and outcome",
                         ["rule", "outcome"], registry=reg),
        override_reasons=Counter("bme_cds_override_reasons", "Overridden cards, by rule and override reason",
                                 ["rule", "reason"], registry=reg),
        fhir_fetches=Counter("bme_cds_fhir_fetches", "Outbound FHIR GETs, by outcome",
                             ["outcome"], registry=reg),
        auth_refusals=Counter("bme_cds_auth_refusals", "Callers refused (401/403), by reason",
                              ["reason"], registry=reg),
        build_info=Gauge("bme_cds_build_info", "The running version; value 1",
                         ["version", "rules_version", "policy_sha256"], registry=reg,
                         multiprocess_mode="max"),
    )
    metrics.build_info.labels(
        version=package_version(), rules_version=RULESET_VERSION, policy_sha256=policy_sha256(settings)
    ).set(1)
    return metrics


def package_version() -> str:
    """The installed bme-cds version, or 'unknown' when run from a bare source tree."""
    try:
        return metadata.version("bme-cds")
    except metadata.PackageNotFoundError:
        return "unknown"


def policy_sha256(settings: Settings) -> str:
    """SHA-256 of the institution policy file, or 'default' when the catalogue defaults apply."""
    if settings.policy_file is None:
        return "default"
    return hashlib.sha256(settings.policy_file.read_bytes()).hexdigest()


def exposition_registry(own: CollectorRegistry | None) -> CollectorRegistry:
    """The registry /metrics renders: every worker's files in multiprocess mode, else the app's own."""
    folder = multiprocess_dir()
    if folder is None:
        assert own is not None, "a single-process app keeps its own registry"
        return own
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry
