"""Benchmarks of tickwire on the machine at hand: `python -m bench` runs them all.

Each module also runs alone (`python -m bench.ingest`), prints a readable table, then one JSON
line last so that scripts can keep the numbers.
"""
