"""Hostile request bodies of every shape, each just under the registry's size limit: the largest
bodies its pre-authentication checks must still read (tests/security and ``make bench``)."""

from __future__ import annotations

from twinhub.extensions.registry.limits import MAX_BODY_BYTES

SIZE = MAX_BODY_BYTES - 64


def fill(head: bytes, unit: bytes, tail: bytes = b"") -> bytes:
    """``head``, then ``unit`` repeated up to :data:`SIZE`, then ``tail``."""
    return head + unit * ((SIZE - len(head) - len(tail)) // len(unit)) + tail


SHAPES = {
    "unterminated string of escaped quotes": fill(b'"', b'\\"'),
    "many unterminated strings": fill(b"", b'"\\"'),
    "escaped backslashes": fill(b'"', b"\\\\"),
    "strings of escaped quotes in an array": fill(b"[", b'"\\"\\"",', b'""]'),
    "brackets at depth one": fill(b"", b"[]"),
    "quotes only": fill(b"", b'"'),
    "one long string": fill(b'"', b"a", b'"'),
    "huge numbers": fill(b"[", b"1e999,", b"1]"),
    "deep nesting": fill(b"", b"["),
    "unicode escapes": fill(b'"', b"\\u0000", b'"'),
    "small objects": fill(b"[", b'{"a":[0]},', b"0]"),
}
