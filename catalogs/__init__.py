"""Intake catalogs over the demo data, and the code that builds that data."""
