"""BME CDS Hooks service: Flask app and the pure decision-support core."""
