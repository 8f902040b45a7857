"""WSGI entry for the multi-worker test: the real app, configured from BME_* variables."""

from __future__ import annotations

from service.config import load_settings
from service.web.app import create_app

app = create_app(load_settings())
