"""``python -m twinhub.extensions.dashboards``: the ``twinhub-apps`` service (the dashboard
router), started by the hub; each twin's dashboard is a process of its own behind it."""

from .router import main

if __name__ == "__main__":
    main()
