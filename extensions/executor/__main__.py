"""``python -m twinhub.extensions.executor``: how the hub starts the run executor service."""

from .service import main

main()
