"""The dashboard service ``twinhub-apps``: every registered twin's Panel app behind hub login."""
