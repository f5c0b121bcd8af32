"""Install the "twinhub (Python 3)" kernelspec: ``python -m twinhub.kernels install --sys-prefix``.

The kernel is ipykernel running this environment's Python with the twinhub IPython extension
loaded, so a notebook opened with it starts with ``twin``, ``catalog`` and ``cluster()``. The
spec is written at install time (it names this environment's interpreter), never committed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

KERNEL_NAME = "twinhub"
DISPLAY_NAME = "twinhub (Python 3)"


def kernel_spec() -> dict:
    return {
        "argv": [
            sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--ext", "twinhub.kernels.extension",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True, "twinhub": True},
    }  # fmt: skip


def install(prefix: str | None = None, user: bool = False) -> Path:
    """Install (or replace) the kernelspec; returns its folder."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / KERNEL_NAME
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1))
        where = KernelSpecManager().install_kernel_spec(
            str(folder), kernel_name=KERNEL_NAME, user=user, prefix=prefix
        )
    return Path(where)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinhub.kernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("install", help="install the twinhub kernelspec")
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--sys-prefix", action="store_true", help="into this environment")
    where.add_argument("--user", action="store_true", help="into the user's Jupyter folder")
    where.add_argument("--prefix", help="into this prefix")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    path = install(prefix=prefix, user=args.user)
    print(f"installed kernelspec {KERNEL_NAME!r} ({DISPLAY_NAME}) in {path}")
    return 0
