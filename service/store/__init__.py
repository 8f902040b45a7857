"""Persistence: the database engine, the replay store and the feedback and issued-card records."""
