"""The pure core: facts, features, text finding, value sets, the rule engine, gates and cards.

No module here imports flask, requests or sqlalchemy.
"""
