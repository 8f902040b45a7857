"""The BME knowledge base: the rule table (R01-R37), the offers and the seed evidence they quote.

Data, not machinery: the engine that runs these tables lives in service.core. Pure: no flask, no requests.
"""
