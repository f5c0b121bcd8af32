"""``python -m twinhub.twins.entrycheck``: import a twin's entry points, in the twin's environment.

The registry runs this in a process of the twin's runtime environment
(``twinhub.extensions.runtimes.entry_point_errors``) instead of importing twin code itself. It
reads ``{"model": "pkg.mod:fn", ...}`` as JSON on stdin and prints, as its last line on stdout,
a JSON list of ``[field, message]`` pairs: the entry points that do not import or are not
callable (an empty list: all good). What the imported code prints goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import sys

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


def main() -> None:
    specs = json.loads(sys.stdin.read(64 * 1024))
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        errors = check(specs if isinstance(specs, dict) else {})
    out.write("\n" + json.dumps(errors) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
