"""The hub's face of Dask Gateway: its API passed through, cluster dashboards for owners only."""

UPSTREAM_ENV = "TWINHUB_GATEWAY_UPSTREAM"
"""Where the gateway's HTTP proxy listens (``http://127.0.0.1:<port>``), set by the hub."""
