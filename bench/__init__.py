"""Benchmark harness for issue 5: `python -m bench` (full) or `python -m bench --quick` (CI smoke run)."""
