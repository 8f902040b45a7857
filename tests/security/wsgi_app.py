"""WSGI entry for the multi-worker test: the real app from BME_* variables, with the security pieces wired."""

from __future__ import annotations

from service.app import create_app
from service.config import load_settings
from tests.security.support import wire

settings = load_settings()
app = wire(create_app(settings), settings)
