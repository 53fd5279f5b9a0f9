"""Shared test helpers: what the disk, the wire and the logs show (imported as
``helpers.<module>``)."""
