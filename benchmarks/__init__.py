"""Benchmarks: scripts run by hand (and on a GPU machine), never by the test suite at full size."""
