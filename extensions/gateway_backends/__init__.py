"""dask-gateway-server backends of the platform: where a user's Dask cluster runs, as whom.

``local``: schedulers and workers as the user's own unix account; ``prefork``: the same, with
schedulers forked from a process that has imported Dask already; ``slurm``: batch jobs
submitted as that account; ``quotas``: per-user limits across clusters, around any backend.
``hub/targets/`` and ``hub/dask_gateway_config.py`` choose them in configuration.
"""
