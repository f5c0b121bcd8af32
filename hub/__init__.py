"""Infrastructure layer: the JupyterHub deployment (config, services, launcher, Helm values)."""
