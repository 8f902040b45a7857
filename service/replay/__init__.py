"""Silent-mode replay: the patient-view pipeline run over a Bulk FHIR export, locally or on Spark (docs/replay.md)."""
