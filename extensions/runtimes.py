"""The Python environment a twin runs in (owner: the twin packages work).

Until twins have environments of their own, every twin runs in the platform's environment;
the signature is the one the twin-environment builder provides.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def runtime_python(twin: str, settings: Any) -> Path:
    """The interpreter of ``twin``'s environment."""
    return Path(sys.executable)
