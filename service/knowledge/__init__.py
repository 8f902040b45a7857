"""The BME knowledge base: the rule table (R01-R37), the gate table (S01-S14), offers, seed evidence, limitations.

Data, not machinery: the engine that runs these tables lives in service.core. Pure: no flask, no requests.
"""
