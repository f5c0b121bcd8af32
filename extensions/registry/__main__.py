"""``python -m twinhub.extensions.registry``: how the hub starts the registry service."""

from .app import main

main()
