"""Benchmarks behind ``vcc bench``: each returns a JSON-ready dict of its figures."""
