# JupyterHub configuration of the embedded twinhub gateway (one machine, `make up`).
#
# Every value an operator may change comes from a TWINHUB_* environment variable: run
# `python -m twinhub.contracts.settings` to list them with their current values. Secrets are
# generated on first start under $TWINHUB_STATE_DIR/secrets (mode 0600), never stored in git.
#
# The wiring itself is hub/configure.py, which the Kubernetes deployment's Helm values
# (hub/helm/jupyterhub-values.yaml, hub.extraConfig) call the same way.
from twinhub.contracts.settings import Settings
from twinhub.hub.configure import configure

configure(get_config(), Settings.from_env())  # noqa: F821 - get_config: provided by JupyterHub
