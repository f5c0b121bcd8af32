"""Where a twin's code runs: the interpreter of its environment.

The smallest version (every twin runs in the platform's own environment); the twinpkgs branch
owns this module and replaces it with environments built per twin.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def runtime_python(twin: str, settings: Any) -> Path:
    """The Python interpreter of ``twin``'s environment."""
    return Path(sys.executable)
