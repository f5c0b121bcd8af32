"""``python -m twinhub.twins.entrycheck``: import a twin's entry points, in the twin's environment.

The registry runs this in a process of the twin's runtime environment
(``twinhub.extensions.runtimes.entry_point_errors``) instead of importing twin code itself. It
reads ``{"model": "pkg.mod:fn", ...}`` as JSON on stdin and prints, as its last line on stdout,
``{"errors": [[field, message], ...], "files": [...]}``: the entry points that do not import or
are not callable (none: all good), and the files a later check may trust this answer while they
are unchanged (:func:`fingerprint`). What the imported code prints goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import sys
import sysconfig

from twinhub.twins.manifest import ENTRY_POINT_FIELDS, entry_point_problem


def check(specs: dict[str, str]) -> list[tuple[str, str]]:
    errors = []
    for field in ENTRY_POINT_FIELDS:
        spec = specs.get(field)
        if not isinstance(spec, str):
            continue
        problem = entry_point_problem(spec)
        if problem:
            errors.append((field, problem))
    return errors


MAX_FILES = 500
"""More of the twin's own files than this: no fingerprint (the answer is not reused)."""


def fingerprint(before: set[str]) -> list[str] | None:
    """What the answer depends on besides the interpreter: the files of the modules the check
    imported that are not installed packages or the standard library (the twin's own code,
    editable or on ``PYTHONPATH``), and the folders installed packages live in, which an
    install, upgrade or removal changes."""
    installed = ("/site-packages/", "/dist-packages/")
    stdlib = tuple(sysconfig.get_paths()[k] + "/" for k in ("stdlib", "platstdlib"))
    own = sorted(
        {
            file
            for name, module in list(sys.modules.items())
            if name not in before
            and isinstance(file := getattr(module, "__file__", None), str)
            and not any(part in file for part in installed)
            and not file.startswith(stdlib)
        }
    )
    if len(own) > MAX_FILES:
        return None
    site_dirs = sorted({p for p in sys.path if p.endswith(("site-packages", "dist-packages"))})
    return own + site_dirs


def main() -> None:
    specs = json.loads(sys.stdin.read(64 * 1024))
    out = sys.stdout
    before = set(sys.modules)
    with contextlib.redirect_stdout(sys.stderr):
        errors = check(specs if isinstance(specs, dict) else {})
    answer = {"errors": errors, "files": None if errors else fingerprint(before)}
    out.write("\n" + json.dumps(answer) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
