"""The test process parses source in one thread at a time (tests/support/serial_ast.py): two
threads that parse while garbage collection hands the interpreter from one to the other get no
``SystemError: AST constructor recursion depth mismatch`` (CPython 3.11.7, gh-106905), which
failed the registry fuzz test in CI when hypothesis described a lambda while a Dask client's
thread formatted a traceback."""

from __future__ import annotations

import ast
import gc
import threading
import time

SOURCE = "\n".join(f"x{i} = [({i}, {{'a': [1, (2, 3)]}}) for _ in y] + f({i})" for i in range(300))


class _Yielder:
    """Garbage in a reference cycle whose finalizer lets another thread run, as any finalizer
    that a collection inside ``ast.parse`` runs may."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def test_threads_parsing_while_collections_switch_between_them_get_no_system_error() -> None:
    errors: list[str] = []
    until = time.monotonic() + 4

    def parse_repeatedly() -> None:
        while time.monotonic() < until and not errors:
            for _ in range(7):  # below the collection threshold: it fires inside a parse
                _Yielder()
            try:
                ast.parse(SOURCE)
            except SystemError as e:
                errors.append(str(e))

    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        threads = [threading.Thread(target=parse_repeatedly) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.set_threshold(*thresholds)
    assert not errors
