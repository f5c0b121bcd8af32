"""Hostile twins for the dashboard isolation tests (tests/security)."""
