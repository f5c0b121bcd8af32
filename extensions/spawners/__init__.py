"""JupyterHub spawners of the platform: where a user's server runs, as whom.

``local``: a process on this machine as the user's own unix account; ``slurm``: a batch job
(batchspawner) submitted as that account; ``profile``: one spawner that hands each server to
one of those by its infrastructure profile. ``hub/targets/`` chooses them in configuration.
"""
