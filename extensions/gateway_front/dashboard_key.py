"""Cluster dashboards answer only requests that came through the front.

A cluster's Dask dashboard is served by its scheduler (a process of the cluster's owner, on a
loopback port) and reached through dask-gateway's HTTP proxy, also on loopback: any unix account
of the machine could open either port and skip the front's hub login and owner check. So every
scheduler refuses (403) an HTTP request or websocket without the header :data:`HEADER` holding
its cluster's key, and only the front adds it, after its checks.

A cluster's key is an HMAC of its name under the platform's secret (``<state>/secrets/
dashboard_key``, in the environment of the gateway and of the front only): the gateway hands
each scheduler its own key (:data:`CLUSTER_KEY_ENV`, in an environment only the owner's account
can read), so a user knows the keys of their own clusters and of no one else's. This module is
also the schedulers' preload (``--preload twinhub.extensions.gateway_front.dashboard_key``).
"""

import hashlib
import hmac
import os

HEADER = "X-Twinhub-Dashboard-Key"
SECRET_ENV = "TWINHUB_DASHBOARD_SECRET"
"""The platform's secret, in the environment of the gateway and of the front."""
CLUSTER_KEY_ENV = "TWINHUB_CLUSTER_DASHBOARD_KEY"
"""A cluster's own key, in the environment of its scheduler."""


def cluster_key(secret: str, cluster: str) -> str:
    """The key of the dashboard of ``cluster``."""
    return hmac.new(secret.encode(), cluster.encode(), hashlib.sha256).hexdigest()


class DashboardKeyBackend:
    """Mixin for a dask-gateway backend: each scheduler it starts gets its cluster's key in its
    environment and this module as its preload (local processes and Slurm jobs alike)."""

    def get_scheduler_env(self, cluster) -> dict:
        env = super().get_scheduler_env(cluster)
        secret = os.environ.get(SECRET_ENV)
        if secret:  # without it the scheduler refuses every dashboard request (fails closed)
            env[CLUSTER_KEY_ENV] = cluster_key(secret, cluster.name)
        return env

    def get_scheduler_command(self, cluster) -> list[str]:
        return [*super().get_scheduler_command(cluster), "--preload", __name__]


def dask_setup(scheduler) -> None:
    """Scheduler preload: its HTTP server (dashboard, websockets, metrics) answers 403 to any
    request without the cluster's key. A scheduler started without a key (an older gateway)
    refuses everything rather than serve its dashboard to anyone."""
    from tornado.web import ErrorHandler

    key = os.environ.get(CLUSTER_KEY_ENV, "")
    application = scheduler.http_application
    find_handler = application.find_handler

    def guarded(request, **kwargs):
        sent = request.headers.get(HEADER, "")
        if key and hmac.compare_digest(sent.encode(), key.encode()):
            return find_handler(request, **kwargs)
        return application.get_handler_delegate(request, ErrorHandler, {"status_code": 403})

    application.find_handler = guarded
