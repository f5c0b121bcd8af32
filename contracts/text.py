"""Plain-text rules shared by manifests, profiles, run records and user names.

A string that a person reads on a page (a twin's title, a user name in a record) must look like
what it is: no invisible characters that make two different names look alike, no control
characters that break a line or a terminal, no NUL (PostgreSQL refuses it in text). Each check
is one pass over a string that the models bound in length first.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (zero-width, bidi overrides), surrogate, private-use, unassigned, and line or
paragraph separators: characters that do not show, or show as something else."""
TEXT_CONTROLS = frozenset("\n\r\t")
"""Multi-line text (a summary, a description) may keep its line breaks and tabs."""


def bad_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Why ``text`` may not be shown as it is (the first offending character), or None."""
    for position, char in enumerate(text):
        if char in allowed:
            continue
        if unicodedata.category(char) in INVISIBLE_CATEGORIES:
            name = unicodedata.name(char, "")
            label = f"U+{ord(char):04X}" + (f" {name}" if name else "")
            return f"contains an invisible or control character ({label}) at position {position}"
    return None


def _line(value: str) -> str:
    problem = bad_character(value)
    if problem:
        raise ValueError(problem)
    return value


def _text(value: str) -> str:
    problem = bad_character(value, TEXT_CONTROLS)
    if problem:
        raise ValueError(problem)
    return value


def Line(max_length: int, min_length: int = 0) -> type[str]:  # noqa: N802 - a type factory
    """A one-line string a person reads (a title, a name): bounded, every character visible."""
    return Annotated[  # type: ignore[return-value]
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(_line)
    ]


def Text(max_length: int, min_length: int = 0) -> type[str]:  # noqa: N802 - a type factory
    """Free text (a summary, an error message): bounded, line breaks and tabs allowed."""
    return Annotated[  # type: ignore[return-value]
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(_text)
    ]


MAX_USERNAME = 100


def normalize_username(name: str) -> str:
    """NFKC, so that a full-width or compatibility form names the same user as its plain form."""
    return unicodedata.normalize("NFKC", name)


def username_problem(name: str) -> str | None:
    """Why a (normalised) user name cannot be used, in words for the login page; None if fine."""
    if not name:
        return "the user name is empty"
    if len(name) > MAX_USERNAME:
        return f"the user name is longer than {MAX_USERNAME} characters"
    if name != normalize_username(name):
        return "the user name is not in Unicode normal form NFKC"
    problem = bad_character(name)
    if problem:
        return f"the user name {problem}"
    if any(char.isspace() for char in name):
        return "the user name contains a space or other whitespace"
    return None
