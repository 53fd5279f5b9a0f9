"""Helpers shared by the tests (servers are in conftest.py)."""
