"""On Kubernetes each twin's dashboard is a pod: the launcher the router's supervisor uses there.

With ``TWINHUB_DEPLOYMENT=kubernetes`` the dashboard router (in the hub pod) asks
:class:`PodLaunch` instead of the local :class:`~.supervisor.Launch`; the supervisor's policy
(one start for concurrent requests, backoff after crashes, idle stop, hang watchdog) is the same.
For a twin it creates, in the hub's namespace:

- a **Secret** holding the process's config (manifest, the process's secret, prefix), mounted
  read-only in the pod as a file that :data:`.protocol.CONFIG_FILE_ENV` names. The process secret is
  thus not in the pod spec (``kubectl get pod -o yaml``, events and the pod's environment show
  no secret) and only those who may read Secrets of the namespace can read it — the local
  supervisor's stdin has no Kubernetes equivalent;
- a **NetworkPolicy**: only the hub pod (the router) may reach the pod, on :data:`POD_PORT`; the
  pod may reach only the registry (the hub pod's registry port, to record runs with its run
  ticket, ``extensions/run_tickets.py``) and DNS;
- the **Pod**: the twin's runtime image (``TWINHUB_DASHBOARDS_IMAGE``), command
  ``python -m twinhub.extensions.dashboards.server <twin>``, a non-root, read-only, capability-less
  container (seccomp ``RuntimeDefault``, no service account token), the resources of the
  ``TWINHUB_DASHBOARDS_CPU_*``/``MEMORY_*`` settings and a readiness probe on the process's alive
  path (:data:`.protocol.ALIVE_PATH`, the same the watchdog asks). The router reaches it at its
  pod IP (no Service: nothing else should find it).

Each twin is a pod of its own, so one twin's code cannot see, signal or trace another's
process whatever user id they share (:data:`RUN_AS`, the image's unprivileged user); the local
launcher, where every twin shares one kernel's process table, runs a published twin as its
owner's unix account instead. The equivalent here, where a site maps hub users to uids (e.g.
KubeSpawner's ``uid`` from its directory), would be ``securityContext.runAsUser``/``runAsGroup``
of the owner's uid for a published twin's pod; the chart maps none, so it is not done.

Stopping deletes all three. Verified here: every object validates against the Kubernetes API
schema and carries these fields (``tests/unit/test_dashboard_pods.py``); not verified here:
a run on a real cluster (none in CI).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from twinhub.contracts.settings import Settings

from .protocol import ALIVE_PATH, CONFIG_FILE_ENV
from .supervisor import StartFailed

log = logging.getLogger("twinhub.dashboards.pods")
POD_PORT = 8888
"""Where a twin's process listens in its pod."""
CONFIG_DIR = "/run/twinhub"
CONFIG_KEY = "config.json"
RUN_AS = 1000
"""The image's unprivileged user (the z2jh images' ``jovyan``)."""
HUB_POD = {"app": "jupyterhub", "component": "hub"}
"""Labels of the z2jh chart's hub pod (the router and the registry run there)."""
APP_LABELS = {"app.kubernetes.io/name": "twinhub", "app.kubernetes.io/component": "twin-dashboard"}
TWIN_LABEL = "twinhub.org/twin"
TWIN_ANNOTATION = "twinhub.org/twin-name"
POLL_SECONDS = 1.0
ENDED_PHASES = ("Succeeded", "Failed")
NOT_PASSED = ("PATH", "PYTHONPATH", "HOME", "TWINHUB_DATA_DIR", "TWINHUB_STATE_DIR")
"""Variables of the router's machine that mean nothing in the twin's image."""


def object_name(twin: str) -> str:
    """A DNS-1123 name for the twin's objects (twin names allow more than Kubernetes does)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", twin.lower()).strip("-")[:30].strip("-") or "twin"
    digest = hashlib.sha256(twin.encode()).hexdigest()[:10]
    return f"twin-{slug}-{digest}"


def label_value(twin: str) -> str:
    """The twin's label (63 characters at most, alphanumeric ends): its object name."""
    return object_name(twin)


@dataclass
class PodLaunch:
    """How to start twins' processes as pods (the manifests are pure data: see :meth:`objects`)."""

    namespace: str
    image: str
    env: dict[str, str]
    registry_port: int
    resources: dict[str, dict[str, str]]
    prefix: str = "/services/twinhub-apps/"
    websocket_origins: list[str] = field(default_factory=list)
    api: Any = None
    """A ``kubernetes_asyncio`` ApiClient (made on first use, in the hub pod's service account)."""

    # --- the manifests ----------------------------------------------------------------------
    def labels(self, twin: str) -> dict[str, str]:
        return {**APP_LABELS, TWIN_LABEL: label_value(twin)}

    def metadata(self, twin: str) -> dict[str, Any]:
        return {
            "name": object_name(twin),
            "namespace": self.namespace,
            "labels": self.labels(twin),
            "annotations": {TWIN_ANNOTATION: twin},
        }

    def pod_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The process config as the pod reads it: listening on the pod's port for the hub."""
        return {**config, "address": "0.0.0.0", "port": POD_PORT}

    def secret(self, twin: str, config: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(self.pod_config(config)).encode() + b"\n"
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self.metadata(twin),
            "type": "Opaque",
            "data": {CONFIG_KEY: base64.b64encode(data).decode()},
        }

    def pod(self, twin: str) -> dict[str, Any]:
        name = object_name(twin)
        alive = f"{self.prefix}{quote(twin, safe='')}/{ALIVE_PATH}"
        env = {k: v for k, v in self.env.items() if k not in NOT_PASSED}
        env.update(
            {
                "HOME": "/tmp",  # the root filesystem is read-only
                "PYTHONUNBUFFERED": "1",
                CONFIG_FILE_ENV: f"{CONFIG_DIR}/{CONFIG_KEY}",
                "TWINHUB_API_URL": f"http://hub:{self.registry_port}/services/twinhub/api",
            }
        )
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": self.metadata(twin),
            "spec": {
                "restartPolicy": "Never",  # the supervisor restarts it, with its backoff
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "dashboard",
                        "image": self.image,
                        "command": ["python", "-m", "twinhub.extensions.dashboards.server", twin],
                        "workingDir": "/tmp",  # the one writable place, as its home locally
                        "env": [{"name": k, "value": str(v)} for k, v in sorted(env.items())],
                        "ports": [{"name": "dashboard", "containerPort": POD_PORT}],
                        "readinessProbe": {
                            "httpGet": {"path": alive, "port": POD_PORT},
                            "periodSeconds": 2,
                            "timeoutSeconds": 5,
                        },
                        "resources": self.resources,
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "privileged": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": [
                            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "secret": {"secretName": name, "defaultMode": 0o440}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                ],
            },
        }

    def network_policy(self, twin: str) -> dict[str, Any]:
        hub = {"podSelector": {"matchLabels": dict(HUB_POD)}}
        dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": self.metadata(twin),
            "spec": {
                "podSelector": {"matchLabels": self.labels(twin)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [hub], "ports": [{"protocol": "TCP", "port": POD_PORT}]}],
                "egress": [
                    {"to": [hub], "ports": [{"protocol": "TCP", "port": self.registry_port}]},
                    {
                        "to": [dns],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                ],
            },
        }

    def objects(self, twin: str, config: dict[str, Any]) -> list[dict[str, Any]]:
        """What :meth:`start` creates, in order (the policy and the config before the pod)."""
        return [self.network_policy(twin), self.secret(twin, config), self.pod(twin)]

    # --- the API server ---------------------------------------------------------------------
    def _client(self) -> Any:
        if self.api is None:
            from kubernetes_asyncio import client, config

            config.load_incluster_config()
            self.api = client.ApiClient()
        return self.api

    def runtime_key(self, twin: str) -> str:
        """Every pod runs the image as :data:`RUN_AS`: nothing but the manifest changes it."""
        return ""

    async def start(self, twin: str, config: dict[str, Any], timeout: float) -> PodProcess:
        from kubernetes_asyncio import client

        api = self._client()
        core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
        process = PodProcess(self, twin, core, net)
        try:
            await process.delete(0)  # what a crashed earlier pod of the twin left
            policy, secret, pod = self.objects(twin, config)
            await net.create_namespaced_network_policy(self.namespace, policy)
            await core.create_namespaced_secret(self.namespace, secret)
            await core.create_namespaced_pod(self.namespace, pod)
            await asyncio.wait_for(process.ready(), timeout)
        except TimeoutError:
            await process.end(0)
            raise
        except client.ApiException as e:
            await process.end(0)
            raise StartFailed(f"the API server answered {e.status} {e.reason}") from e
        except aiohttp.ClientError as e:  # the API server out of reach
            await process.end(0)
            raise StartFailed(f"the API server is out of reach ({e})") from e
        except StartFailed:
            await process.end(0)
            raise
        return process


@dataclass
class PodProcess:
    """A twin's pod, as the supervisor sees it (a :class:`~.supervisor.Started`)."""

    launch: PodLaunch
    twin: str
    core: Any
    net: Any
    ip: str = ""
    returncode: int | None = None

    @property
    def name(self) -> str:
        return object_name(self.twin)

    @property
    def base(self) -> str:
        return f"http://{self.ip}:{POD_PORT}"

    async def _read(self) -> Any | None:
        from kubernetes_asyncio import client

        try:
            return await self.core.read_namespaced_pod(self.name, self.launch.namespace)
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def _note_end(self, pod: Any | None) -> bool:
        if pod is None:
            self.returncode = -9  # deleted (evicted, or by someone else)
            return True
        if pod.status and pod.status.phase in ENDED_PHASES:
            self.returncode = _exit_code(pod)
            return True
        return False

    async def ready(self) -> None:
        """Until the pod is Ready (its readiness probe answered); StartFailed if it ended."""
        while True:
            pod = await self._read()
            if self._note_end(pod):
                raise StartFailed(f"its pod ended (exit code {self.returncode})")
            status = pod.status
            conditions = (status and status.conditions) or []
            if (
                status
                and status.pod_ip
                and any(c.type == "Ready" and c.status == "True" for c in conditions)
            ):
                self.ip = status.pod_ip
                return
            await asyncio.sleep(POLL_SECONDS)

    def has_ended(self) -> bool:
        return self.returncode is not None

    async def wait(self) -> int | None:
        while self.returncode is None:
            with contextlib.suppress(Exception):  # the API server away for a moment
                if self._note_end(await self._read()):
                    break
            await asyncio.sleep(POLL_SECONDS * 5)
        return self.returncode

    async def end(self, grace: float) -> None:
        await self.delete(grace)
        if self.returncode is None:
            self.returncode = -15

    async def delete(self, grace: float) -> None:
        """Delete the twin's pod, Secret and NetworkPolicy (those that exist)."""
        from kubernetes_asyncio import client

        namespace = self.launch.namespace
        for delete in (
            lambda: self.core.delete_namespaced_pod(
                self.name, namespace, grace_period_seconds=int(grace)
            ),
            lambda: self.core.delete_namespaced_secret(self.name, namespace),
            lambda: self.net.delete_namespaced_network_policy(self.name, namespace),
        ):
            try:
                await delete()
            except client.ApiException as e:
                if e.status != 404:
                    log.warning("deleting %s of %s: %s %s", self.name, self.twin, e.status,
                                e.reason)  # fmt: skip
            except aiohttp.ClientError as e:  # left for the next start of the twin to delete
                log.warning("deleting %s of %s: %s", self.name, self.twin, e)

    async def drain(self) -> None:
        """Its output goes to the pod's log (``kubectl logs``), not to the router."""


def _exit_code(pod: Any) -> int | None:
    for status in (pod.status and pod.status.container_statuses) or []:
        terminated = status.state and status.state.terminated
        if terminated is not None:
            return terminated.exit_code
    return 1


def pod_launch_for(settings: Settings, env: dict[str, str], prefix: str,
                   websocket_origins: list[str]) -> PodLaunch:  # fmt: skip
    """The pod launcher of a router in the hub pod (``TWINHUB_DEPLOYMENT=kubernetes``)."""
    namespace = settings.dashboards_namespace or os.environ.get("POD_NAMESPACE", "default")
    return PodLaunch(
        namespace=namespace,
        image=settings.dashboards_image,
        env=env,
        registry_port=settings.registry_port,
        resources={
            "requests": {
                "cpu": settings.dashboards_cpu_request,
                "memory": settings.dashboards_memory_request,
            },
            "limits": {
                "cpu": settings.dashboards_cpu_limit,
                "memory": settings.dashboards_memory_limit,
            },
        },
        prefix=prefix,
        websocket_origins=websocket_origins,
    )
