"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): keep them consistent with the code."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import yaml

from service.config import PREFIX
from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_compose_service_has_a_healthcheck() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"bme-cds", "postgres", "hapi"}
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_compose_sets_only_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    known = {PREFIX + f.name.upper() for f in fields(Settings)}
    env = compose["services"]["bme-cds"]["environment"]
    assert set(env) <= known, f"unknown settings: {set(env) - known}"
    assert env["BME_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert compose["services"]["bme-cds"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_serves_with_gunicorn_and_readiness_probe() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"bme-cds", "serve"' in dockerfile and "/readyz" in dockerfile
    assert "USER bme" in dockerfile  # never run the service as root


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [PREFIX + f.name.upper() for f in fields(Settings) if (PREFIX + f.name.upper()) not in readme]
    assert not missing, f"README configuration table lacks {missing}"


def test_compose_mounts_a_trusted_clients_file_that_loads() -> None:
    from service.web.auth import load_trusted_clients

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mount = next(v for v in compose["services"]["bme-cds"]["volumes"] if v.endswith(":/config/trusted-clients.json:ro"))
    assert load_trusted_clients(ROOT / mount.split(":")[0])
