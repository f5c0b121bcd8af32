"""The twin registry: twins and infrastructure profiles behind an HTTP API (service ``twinhub``).

Layout after JupyterHub's own: ``models.py`` (pydantic, the API's edge), ``db.py`` (SQLAlchemy
tables and migrations), ``store.py`` (transactional operations), ``auth.py`` (hub token and OAuth
cookie), ``api.py`` (REST routes), ``pages.py`` (the Twins page), ``app.py`` (assembly).
"""
