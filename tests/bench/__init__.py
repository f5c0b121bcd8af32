"""Benchmarks (`make bench`): twinhub against a bare JupyterHub with the same spawner.

Not collected by pytest (no ``test_*`` files): each benchmark starts its own hubs on loopback,
measures both in the same run and reports the ratio; ``python -m tests.bench`` prints the table
and writes ``bench-results.json``.
"""
