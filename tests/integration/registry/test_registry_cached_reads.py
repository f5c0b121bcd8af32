"""Reads served from the registry's snapshot: ETags, 304s, and never a stale or foreign answer.

The registry renders its twins and profiles once per version of its tables and answers reads
from that (README "Performance"). These tests check what a client could notice: a write is
visible to the very next read, a 304 is only given for the exact answer the caller holds, and
two callers who see different twins never share an answer.
"""

from __future__ import annotations

from tests.support.twins import manifest

from .conftest import Registry


def test_list_answer_has_an_etag_and_an_unchanged_list_is_a_304(registry: Registry) -> None:
    with registry.client("alice") as c:
        first = c.get("/twins")
        assert first.status_code == 200
        tag = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "private, no-cache"
        again = c.get("/twins", headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["ETag"] == tag
        # a list of validators (and the weak form) matches too
        listed = c.get("/twins", headers={"If-None-Match": f'"nope", W/{tag}'})
        assert listed.status_code == 304
        # another page is another answer
        assert (
            c.get("/twins", params={"limit": 1}, headers={"If-None-Match": tag}).status_code == 200
        )
        one = c.get("/twins/growth")
        assert one.status_code == 200 and one.json()["name"] == "growth"
        assert (
            c.get("/twins/growth", headers={"If-None-Match": one.headers["ETag"]}).status_code
            == 304
        )


def test_a_write_is_seen_by_the_next_read_and_changes_the_etag(registry: Registry) -> None:
    with registry.client("alice") as reader, registry.client("admin") as admin:
        before = reader.get("/twins", params={"limit": 500})
        assert "cache-fresh" not in {t["name"] for t in before.json()["items"]}
        created = admin.post("/twins", json=manifest("cache-fresh", title="Fresh one"))
        assert created.status_code == 201, created.text
        after = reader.get(
            "/twins", params={"limit": 500}, headers={"If-None-Match": before.headers["ETag"]}
        )
        assert after.status_code == 200
        assert "cache-fresh" in {t["name"] for t in after.json()["items"]}
        assert after.json()["total"] == before.json()["total"] + 1
        one = reader.get("/twins/cache-fresh")
        assert one.json()["title"] == "Fresh one"
        # an update is a new version: the old ETag no longer matches, the new title is served
        updated = admin.put(
            "/twins/cache-fresh", json=manifest("cache-fresh", title="Fresher", version="1.1.0")
        )
        assert updated.status_code == 200, updated.text
        now = reader.get("/twins/cache-fresh", headers={"If-None-Match": one.headers["ETag"]})
        assert now.status_code == 200
        assert now.json()["title"] == "Fresher" and now.json()["version"] == "1.1.0"
        # retired: gone from the list at once, still readable by name (with retired: true)
        assert admin.delete("/twins/cache-fresh").status_code == 200
        names = {t["name"] for t in reader.get("/twins", params={"limit": 500}).json()["items"]}
        assert "cache-fresh" not in names
        assert reader.get("/twins/cache-fresh").json()["retired"] is True


def test_callers_who_see_different_twins_never_share_an_answer(registry: Registry) -> None:
    with registry.client("alice") as alice, registry.client("lena") as lena:
        a, b = alice.get("/twins", params={"limit": 500}), lena.get("/twins", params={"limit": 500})
        assert "growth-lab" in {t["name"] for t in b.json()["items"]}
        assert "growth-lab" not in {t["name"] for t in a.json()["items"]}
        assert a.headers["ETag"] != b.headers["ETag"]
        # lena's validator does not unlock lena's answer for alice
        crossed = alice.get(
            "/twins", params={"limit": 500}, headers={"If-None-Match": b.headers["ETag"]}
        )
        assert crossed.status_code == 200
        assert "growth-lab" not in {t["name"] for t in crossed.json()["items"]}
        # a private twin stays a 404, with or without a validator
        assert alice.get("/twins/growth-private").status_code == 404
        assert alice.get("/twins/growth-private", headers={"If-None-Match": "*"}).status_code == 404


def test_profiles_are_served_the_same_way(registry: Registry) -> None:
    with registry.client("alice") as c:
        page = c.get("/profiles")
        assert page.status_code == 200 and page.json()["items"]
        slug = page.json()["items"][0]["slug"]
        assert (
            c.get("/profiles", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
        )
        one = c.get(f"/profiles/{slug}")
        assert one.json()["slug"] == slug
        assert c.get("/profiles/no-such-profile").status_code == 404


def test_without_credentials_nothing_is_served_from_the_snapshot(registry: Registry) -> None:
    with registry.client(None) as anonymous:
        assert anonymous.get("/twins").status_code == 401
        assert anonymous.get("/twins/growth", headers={"If-None-Match": "*"}).status_code == 401
