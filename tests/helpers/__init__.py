"""Shared test helpers (imported as ``helpers.<module>``)."""
