"""Errors for bad run parameters, shared by every twin so messages read the same everywhere."""

from __future__ import annotations


class ParameterError(ValueError):
    """A run parameter is unusable; ``name`` is the parameter, the message says what to fix."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(f"parameter {name!r}: {message}")
