"""Core layer: the hub extension (twin and profile registry, spawn hooks, server extension)."""
