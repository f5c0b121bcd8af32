"""A twin's server starts with a copy of the twin's notebook, and never overwrites the user's."""

from __future__ import annotations

from pathlib import Path

from twinhub.extensions.server.notebook import provide_twin_notebook
from twinhub.twins.manifest import TWINS_DIR


def test_twin_server_gets_the_twins_notebook_once(tmp_path: Path) -> None:
    copied = provide_twin_notebook(tmp_path, "flood")
    assert copied == tmp_path / "flood" / "flood.ipynb"
    assert copied.read_bytes() == (TWINS_DIR / "flood" / "flood.ipynb").read_bytes()
    copied.write_text("the user's own edits")
    assert provide_twin_notebook(tmp_path, "flood") == copied
    assert copied.read_text() == "the user's own edits"  # theirs now: never overwritten


def test_no_twin_or_unknown_twin_copies_nothing(tmp_path: Path) -> None:
    assert provide_twin_notebook(tmp_path, "") is None  # the development server
    assert provide_twin_notebook(tmp_path, "no-such-twin") is None
    assert list(tmp_path.iterdir()) == []
