"""What the platform and the twins agree on: settings, names, the twin manifest, infrastructure
profiles and Dask specs, run records.

Platform (``hub/``, ``extensions/``, ``kernels/``), catalogs and twins import this package; it
imports none of them (``tests/unit/test_boundaries.py`` checks it), so a twin's environment needs
only it, pydantic and the twin framework, never the platform.
"""
