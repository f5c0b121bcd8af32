"""Thematic layer: the twin framework and one folder per twin."""
