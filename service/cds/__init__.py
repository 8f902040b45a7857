"""CDS Hooks: the service registry, the request and response schemas, and the pipeline every hook runs."""
