"""Kernel specs and start-up code that wire a session to its twin, data and cluster."""
