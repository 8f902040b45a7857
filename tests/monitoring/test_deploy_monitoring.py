"""The shipped Grafana dashboard and alert rules use only the metrics the service exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from service.config import Settings
from service.obs.metrics import build_metrics

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bbme_cds_[a-z_]+")


def _exposed() -> set[str]:
    """Every sample name the service can expose (counters' _total, histograms' _bucket/_sum/_count)."""
    registry = CollectorRegistry()
    build_metrics(registry, Settings(metrics_token="x"))
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update({f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count", "_created")})
    return names


def test_dashboard_queries_only_exposed_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "bme-cds-dashboard.json").read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used and used <= _exposed(), used - _exposed()
    assert {p["gridPos"]["y"] for p in dashboard["panels"]} and len({p["id"] for p in dashboard["panels"]}) == len(
        dashboard["panels"]
    )


def test_alerts_use_only_exposed_metrics_and_say_what_to_do() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    used = {name for rule in alerts for name in NAME.findall(rule["expr"])}
    assert used <= _exposed(), used - _exposed()
    for rule in alerts:
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["labels"]["severity"] in ("page", "ticket")


def test_the_issue_names_are_kept_exactly() -> None:
    assert {
        "bme_cds_requests_total", "bme_cds_request_duration_seconds_bucket", "bme_cds_stage_duration_seconds_bucket",
        "bme_cds_cards_total", "bme_cds_suggestions_total", "bme_cds_feedback_total",
        "bme_cds_override_reasons_total", "bme_cds_fhir_fetches_total", "bme_cds_auth_refusals_total",
        "bme_cds_build_info",
    } <= _exposed()
