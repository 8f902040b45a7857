"""Observability: what the service tells operators (Prometheus metrics, OpenTelemetry traces)."""
