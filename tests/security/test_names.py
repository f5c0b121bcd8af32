"""User names that could pass for another user are normalised or refused at login, with a
message that says why; the same name reaches the registry's records."""

from __future__ import annotations

import pytest

from tests.support.registry import Registry

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ali\u200bce", "invisible"),  # zero-width space: reads as alice
        ("\u202ealice", "invisible"),  # right-to-left override
        ("alice\u00ad", "invisible"),  # soft hyphen
        ("ali\u2028ce", "invisible"),  # line separator
        ("al ice", "whitespace"),
        ("alice\u3000x", "whitespace"),  # ideographic space (NFKC: a plain space)
        ("ali\x07ce", "whitespace"),  # tornado turns control characters into spaces
        ("ali\ue000ce", "invisible"),  # private use
    ],
)
def test_names_with_invisible_or_control_characters_are_refused_with_a_message(
    registry: Registry, name: str, words: str
) -> None:
    gw = registry.gateway
    r = gw.login_response(name, gw.user_password)
    assert r.status_code == 403, r.status_code
    assert words in r.text
    with gw.client(headers=registry.users["admin"].headers) as c:
        names = {u["name"] for u in c.get("/hub/api/users").json()}
    assert name not in names and name.lower() not in names


def test_compatibility_forms_are_the_same_user(registry: Registry) -> None:
    gw = registry.gateway
    for form in ["ａｌｉｃｅ", "ＡＬＩＣＥ", "ａlice"]:  # full-width: NFKC (and lower case) alice
        assert gw.login_response(form, gw.user_password).status_code == 302
    with gw.client(headers=registry.users["admin"].headers) as c:
        names = {u["name"] for u in c.get("/hub/api/users").json()}
    assert "alice" in names
    assert not names & {"ａｌｉｃｅ", "ＡＬＩＣＥ", "ａlice"}
