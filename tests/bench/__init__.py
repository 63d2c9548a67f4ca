"""Benchmarks (not tests): `make bench` runs each and prints one JSON line of figures."""
