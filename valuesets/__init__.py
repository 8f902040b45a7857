"""Value sets (FHIR R4 ValueSet JSON) shipped with the service; this package only locates them."""

from __future__ import annotations

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
