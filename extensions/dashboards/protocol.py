"""What the dashboard router and a twin's process agree on (neither imports the other).

The router (platform side, no twin code) adds :data:`SECRET_HEADER`, :data:`USER_HEADER` and
:data:`TOKEN_HEADER` to every request it forwards; the process (twin side, Panel) refuses
requests without its secret and asks nobody else who the user is.
"""

SECRET_HEADER = "X-Twinhub-Process-Secret"
USER_HEADER = "X-Twinhub-User"
TOKEN_HEADER = "X-Twinhub-User-Token"
ROUTER_HEADERS = (SECRET_HEADER, USER_HEADER, TOKEN_HEADER)
"""Kept out of Bokeh's session tokens (which the browser can read): the secret never leaves
the router and the process."""
ALIVE_PATH = "twinhub-alive"
"""``<prefix><twin>/twinhub-alive``, answered by the process's event loop itself: the router's
watchdog asks it to tell a hung process."""
READY_LINE = "READY "
"""The process prints ``READY <port>`` on stdout once it listens on that loopback port."""
CONFIG_FILE_ENV = "TWINHUB_PROCESS_CONFIG_FILE"
"""Names the file holding the process's config in a pod (a mounted Secret, ``pods.py``);
without it the process reads its config on stdin."""
