# The baseline of the benchmarks: a bare JupyterHub with the spawner twinhub uses locally
# (SimpleLocalProcessSpawner, the same single-user command), the same authenticator and the same
# load limits, and nothing of twinhub: no registry, profiles, spawn hooks, Dask Gateway or culler.
# Started by tests/bench/hubs.py with the TWINHUB_* ports and state directory in its environment.
import os

from twinhub.contracts.settings import REPO_ROOT, Settings
from twinhub.extensions.accounts import home_dir_template
from twinhub.hub.state import ensure_secrets

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

settings = Settings.from_env()
secrets = ensure_secrets(settings.state_dir)
state = settings.state_dir

c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = secrets.proxy_auth_token
c.ConfigurableHTTPProxy.command = [
    str(REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy")
]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")

c.JupyterHub.authenticator_class = "shared-password"
c.Authenticator.admin_users = set(settings.admin_users)
c.Authenticator.allow_all = True
c.SharedPasswordAuthenticator.user_password = secrets.user_password
c.SharedPasswordAuthenticator.admin_password = secrets.admin_password

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = home_dir_template(settings)
c.Spawner.cmd = [str(settings.venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]
c.Spawner.environment = {"PATH": f"{settings.venv_bin}:{os.environ.get('PATH', '/usr/bin')}"}
c.Spawner.start_timeout = settings.spawn_start_timeout
c.Spawner.http_timeout = settings.spawn_http_timeout
c.JupyterHub.cleanup_servers = True
c.JupyterHub.concurrent_spawn_limit = settings.concurrent_spawn_limit
c.JupyterHub.active_server_limit = settings.active_server_limit
c.JupyterHub.log_datefmt = "%H:%M:%S"
