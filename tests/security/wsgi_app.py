"""WSGI entry for the multi-worker test: the real app, configured from BME_* variables."""

from __future__ import annotations

from service.app import create_app
from service.config import load_settings

app = create_app(load_settings())
