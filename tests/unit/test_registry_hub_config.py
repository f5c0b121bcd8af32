"""The hub config declares the registry service, its custom scopes, roles and spawn hooks."""

from __future__ import annotations

from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader
from twinhub.contracts.settings import REPO_ROOT
from twinhub.extensions.spawn import TwinSpawnHooks


def test_registry_service_scopes_roles_and_hooks(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWINHUB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TWINHUB_REGISTRY_PORT", "9123")
    monkeypatch.setenv("TWINHUB_ADMIN_USERS", "root,boss")
    c = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO_ROOT / "hub")).load_config()
    service = next(s for s in c.JupyterHub.services if s["name"] == "twinhub")
    assert service["url"] == "http://127.0.0.1:9123"
    assert service["command"][-2:] == ["-m", "twinhub.extensions.registry"]
    assert service["environment"]["TWINHUB_STATE_DIR"] == str(tmp_path)
    assert "servers!user" in service["oauth_client_allowed_scopes"]

    assert set(c.JupyterHub.custom_scopes) == {
        "custom:twinhub:twins:write",
        "custom:twinhub:profiles:write",
        "custom:twinhub:runs:read",
    }
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["twinhub-admin"]["users"] == ["root", "boss"]
    assert "custom:twinhub:profiles:write" in roles["twinhub-admin"]["scopes"]
    assert roles["twin-maintainer"]["groups"] == ["twin-maintainers"]
    assert "custom:twinhub:profiles:write" not in roles["twin-maintainer"]["scopes"]
    for role in ("user", "server"):
        assert "access:services!service=twinhub" in roles[role]["scopes"]
    # groups come from the roles: load_groups would stop an OIDC hub that manages groups
    assert "load_groups" not in c.JupyterHub

    hooks = c.Spawner.pre_spawn_hook.__self__
    assert isinstance(hooks, TwinSpawnHooks)
    assert hooks.registry_url == "http://127.0.0.1:9123/services/twinhub/api"
    assert c.Spawner.post_stop_hook.__self__ is hooks
    assert c.JupyterHub.template_paths == [str(REPO_ROOT / "hub" / "templates")]
