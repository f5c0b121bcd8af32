"""``python -m twinhub.extensions.dashboards``: the ``twinhub-apps`` service, started by the hub."""

from .server import main

if __name__ == "__main__":
    main()
