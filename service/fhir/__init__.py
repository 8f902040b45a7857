"""FHIR server access: URL rules, the client pool, prefetch resolution, medication references."""
