"""What twinhub adds to a user's Jupyter server: the twin dashboards preview (server proxy)."""
