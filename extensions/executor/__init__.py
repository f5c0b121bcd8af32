"""The run executor: a service that runs queued jobs as their users (see :mod:`.service`)."""
