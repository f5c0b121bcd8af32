"""On Kubernetes each twin's dashboard is a pod (extensions/dashboards/pods.py).

No cluster here: the objects the pod launcher creates are validated against the Kubernetes API
schema offline (kubernetes-validate, as test_helm_pods.py does), their security fields are
checked, and the supervisor's start/crash policy is run with the local launcher it shares."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys

import kubernetes_validate
import pytest
import yaml
from twinhub.contracts.settings import REPO_ROOT, Settings, SettingsError
from twinhub.extensions.dashboards.pods import APP_LABELS, HUB_POD, POD_PORT, PodLaunch, object_name
from twinhub.extensions.dashboards.protocol import ALIVE_PATH, CONFIG_FILE_ENV
from twinhub.extensions.dashboards.router import launch_for
from twinhub.extensions.dashboards.supervisor import Launch, Supervisor, Unavailable

K8S_VERSION = "1.30.0"
HELM = REPO_ROOT / "hub" / "helm"
PREFIX = "/services/twinhub-apps/"
SECRET = "the-process-secret-0123456789"
CONFIG = {"twin": "flood", "manifest": {"name": "flood"}, "secret": SECRET, "prefix": PREFIX}


def pod_launch(**env: str) -> PodLaunch:
    settings = Settings.from_env({"TWINHUB_DEPLOYMENT": "kubernetes", **env})
    launch = launch_for(settings, PREFIX)
    assert isinstance(launch, PodLaunch)
    return launch


def objects(twin: str = "flood") -> dict[str, dict]:
    return {o["kind"]: o for o in pod_launch().objects(twin, {**CONFIG, "twin": twin})}


def test_every_object_and_the_role_validate_against_the_kubernetes_schema() -> None:
    made = objects()
    assert sorted(made) == ["NetworkPolicy", "Pod", "Secret"]
    rbac = list(yaml.safe_load_all((HELM / "twinhub-apps-rbac.yaml").read_text()))
    for manifest in [*made.values(), *rbac]:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    # the Role covers exactly what the launcher creates and deletes
    role = next(o for o in rbac if o["kind"] == "Role")
    allowed = {(r["apiGroups"][0], res, v) for r in role["rules"] for res in r["resources"]
               for v in r["verbs"]}  # fmt: skip
    wanted = (("", "pods"), ("", "secrets"), ("networking.k8s.io", "networkpolicies"))
    for group, resource in wanted:
        assert {(group, resource, "create"), (group, resource, "delete")} <= allowed


def test_the_pod_runs_unprivileged_without_token_with_its_resources_and_probe() -> None:
    launch = pod_launch(TWINHUB_DASHBOARDS_CPU_LIMIT="2", TWINHUB_DASHBOARDS_MEMORY_LIMIT="3Gi")
    pod = launch.pod("flood")
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"  # restarts are the supervisor's (with backoff)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp"} and container["workingDir"] == "/tmp"
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["command"] == ["python", "-m", "twinhub.extensions.dashboards.server", "flood"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "3Gi"}
    assert container["resources"]["requests"] == {"cpu": "0.1", "memory": "256Mi"}
    probe = container["readinessProbe"]["httpGet"]
    assert probe == {"path": f"{PREFIX}flood/{ALIVE_PATH}", "port": POD_PORT}
    # the image defaults to the chart's single-user image, which holds the twins (the hub
    # image holds the platform only: tests/unit/test_images.py)
    image = yaml.safe_load((HELM / "jupyterhub-values.yaml").read_text())["singleuser"]["image"]
    assert container["image"] == f"{image['name']}:{image['tag']}"
    assert pod["metadata"]["labels"].items() >= APP_LABELS.items()


def test_the_process_secret_is_only_in_the_mounted_secret(tmp_path, monkeypatch) -> None:
    made = objects()
    for kind in ("Pod", "NetworkPolicy"):
        assert SECRET not in json.dumps(made[kind]), kind
    (container,) = made["Pod"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert not any(n.startswith("TWINHUB_OIDC_") or n == "TWINHUB_DATABASE_URL" for n in env)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert mount["readOnly"] is True
    volume = made["Pod"]["spec"]["volumes"][0]
    assert volume["secret"]["secretName"] == made["Secret"]["metadata"]["name"]
    # what the process reads from that file: its config, listening for the hub on the pod port
    raw = base64.b64decode(made["Secret"]["data"]["config.json"])
    config_file = tmp_path / "config.json"
    config_file.write_bytes(raw)
    from twinhub.extensions.dashboards.server import read_config

    config = read_config(environ={CONFIG_FILE_ENV: str(config_file)})
    assert env[CONFIG_FILE_ENV].endswith("/config.json")
    assert (config.twin, config.secret, config.port, config.address) == (
        "flood", SECRET, POD_PORT, "0.0.0.0",
    )  # fmt: skip


def test_only_the_hub_reaches_the_pod_and_it_reaches_only_the_registry_and_dns() -> None:
    made = objects()
    policy = made["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"] == made["Pod"]["metadata"]["labels"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = policy["ingress"]
    assert ingress["from"] == [{"podSelector": {"matchLabels": HUB_POD}}]
    assert ingress["ports"] == [{"protocol": "TCP", "port": POD_PORT}]
    registry, dns = policy["egress"]
    assert registry["to"] == [{"podSelector": {"matchLabels": HUB_POD}}]
    assert registry["ports"] == [{"protocol": "TCP", "port": Settings.from_env({}).registry_port}]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert "podSelector" not in dns["to"][0]
    # the hub's own policy (chart values) lets the router out to these pods
    values = yaml.safe_load((HELM / "jupyterhub-values.yaml").read_text())
    egress = values["hub"]["networkPolicy"]["egress"]
    assert any(
        rule["to"][0]["podSelector"]["matchLabels"] == APP_LABELS
        and rule["ports"][0]["port"] == POD_PORT
        for rule in egress
    )


@pytest.mark.parametrize("twin", ["flood", "Flood", "x" * 100, "a b/../ü", "-", "..."])
def test_any_twin_name_gives_a_valid_distinct_object_name(twin: str) -> None:
    name = object_name(twin)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name != object_name(twin + "1")
    for manifest in objects(twin).values():
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_embedded_keeps_local_processes_and_bad_quantities_are_refused() -> None:
    assert isinstance(launch_for(Settings.from_env({}), PREFIX), Launch)
    with pytest.raises(SettingsError, match="TWINHUB_DASHBOARDS_MEMORY_LIMIT"):
        Settings.from_env({"TWINHUB_DASHBOARDS_MEMORY_LIMIT": "lots"})


# --- the supervisor's policy, with the local launcher both launchers share it with ------------
SERVE = """
import http.server, sys
sys.stdin.readline()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"alive")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("READY", s.server_port, flush=True)
s.serve_forever()
"""


def test_supervisor_starts_stops_and_backs_off_through_the_launcher_interface() -> None:
    async def scenario() -> None:
        def command(twin: str) -> list[str]:
            if twin == "crash":
                return [sys.executable, "-c", "import sys; sys.exit(3)"]
            return [sys.executable, "-c", SERVE]

        supervisor = Supervisor(Launch(command=command, env={}), start_seconds=30)
        try:
            process = await supervisor.get("ok", {"v": 1})
            assert process.base.startswith("http://127.0.0.1:")
            assert (await supervisor.get("ok", {"v": 1})) is process  # one process serves
            await supervisor.stop("ok")
            assert process.process.has_ended() and supervisor.serving("ok") is None
            statuses = []
            for _ in range(3):
                with pytest.raises(Unavailable) as failed:
                    await supervisor.get("crash", {})
                statuses.append(failed.value.status)
            assert statuses == [502, 502, 503]  # crashed twice: it waits before a third start
        finally:
            await supervisor.close()

    asyncio.run(scenario())


# --- the pod launcher's requests, against an HTTP server standing in for the API server -------
class FakeApiServer:
    """Keeps what is created; a pod is Pending on its first read, then Ready (or ``end_as``)."""

    def __init__(self, end_as: str | None = None):
        self.objects: dict[tuple[str, str], dict] = {}
        self.created: list[dict] = []
        self.deleted: list[tuple[str, str]] = []
        self.reads = 0
        self.end_as = end_as

    def app(self):
        from aiohttp import web

        base = "/namespaces/{ns}/{kind}"
        app = web.Application()
        for prefix in ("/api/v1", "/apis/networking.k8s.io/v1"):
            app.router.add_post(prefix + base, self.create)
            app.router.add_get(prefix + base + "/{name}", self.read)
            app.router.add_delete(prefix + base + "/{name}", self.delete)
        return app

    async def create(self, request):
        from aiohttp import web

        body = await request.json()
        self.created.append(body)
        self.objects[(request.match_info["kind"], body["metadata"]["name"])] = body
        return web.json_response(body, status=201)

    async def read(self, request):
        from aiohttp import web

        found = self.objects.get((request.match_info["kind"], request.match_info["name"]))
        if found is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        self.reads += 1
        if self.reads == 1:
            status = {"phase": "Pending"}
        elif self.end_as:
            terminated = {"exitCode": 3}
            status = {"phase": self.end_as, "containerStatuses": [
                {"name": "dashboard", "image": "i", "imageID": "", "ready": False,
                 "restartCount": 0, "state": {"terminated": terminated}}]}  # fmt: skip
        else:
            status = {"phase": "Running", "podIP": "10.1.2.3",
                      "conditions": [{"type": "Ready", "status": "True"}]}  # fmt: skip
        return web.json_response({**found, "status": status})

    async def delete(self, request):
        from aiohttp import web

        key = (request.match_info["kind"], request.match_info["name"])
        if self.objects.pop(key, None) is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        self.deleted.append(key)
        return web.json_response({"kind": "Status", "code": 200})


async def with_api_server(fake: FakeApiServer, scenario) -> None:
    from aiohttp import web
    from kubernetes_asyncio.client import ApiClient, Configuration

    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    api = ApiClient(Configuration(host=f"http://127.0.0.1:{port}"))
    launch = pod_launch()
    launch.api = api
    launch.namespace = "twinhub"
    try:
        await scenario(launch)
    finally:
        await api.close()
        await runner.cleanup()


def test_the_pod_launcher_creates_waits_for_ready_and_deletes_everything(monkeypatch) -> None:
    monkeypatch.setattr("twinhub.extensions.dashboards.pods.POLL_SECONDS", 0.01)
    fake = FakeApiServer()

    async def scenario(launch: PodLaunch) -> None:
        started = await launch.start("flood", CONFIG, timeout=30)
        assert started.base == f"http://10.1.2.3:{POD_PORT}" and not started.has_ended()
        assert [o["kind"] for o in fake.created] == ["NetworkPolicy", "Secret", "Pod"]
        for sent in fake.created:  # what reached the API server is valid too
            kubernetes_validate.validate(sent, K8S_VERSION, strict=True)
        assert fake.reads == 2  # it waited for Ready
        fake.end_as = "Failed"  # the app crashed: the supervisor's watcher learns its exit code
        assert await asyncio.wait_for(started.wait(), 30) == 3 and started.has_ended()
        await started.end(5)
        assert fake.objects == {}
        assert sorted(kind for kind, _ in fake.deleted) == ["networkpolicies", "pods", "secrets"]

    asyncio.run(with_api_server(fake, scenario))


def test_a_pod_that_ends_while_starting_is_a_502_and_leaves_nothing(monkeypatch) -> None:
    monkeypatch.setattr("twinhub.extensions.dashboards.pods.POLL_SECONDS", 0.01)
    fake = FakeApiServer(end_as="Failed")

    async def scenario(launch: PodLaunch) -> None:
        supervisor = Supervisor(launch, start_seconds=30)
        with pytest.raises(Unavailable) as failed:
            await supervisor.get("flood", {"name": "flood"})
        assert failed.value.status == 502 and "exit code 3" in failed.value.message
        assert fake.objects == {} and supervisor.serving("flood") is None

    asyncio.run(with_api_server(fake, scenario))
