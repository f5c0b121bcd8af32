"""A hub without Slurm (the default: TWINHUB_SLURM unset) neither offers nor starts the
registry's Slurm profiles: the spawn form and the Twins page leave hpc-slurm out, a request
naming it is refused."""

from __future__ import annotations

import pytest

from tests.support.gateway import Gateway

pytestmark = pytest.mark.integration


def test_hpc_slurm_profile_is_hidden_and_refused_without_slurm(gateway: Gateway) -> None:
    user = gateway.login("nohpc")
    with gateway.client(cookies=user.cookies) as c:
        form = c.get(f"/hub/spawn/{user.name}")
        assert form.status_code == 200
        assert 'value="small"' in form.text and 'value="hpc-slurm"' not in form.text
    # the registry's Twins page offers the same profiles as the spawn form
    with gateway.client(cookies=user.cookies, follow_redirects=True) as c:
        page = c.get("/services/twinhub/twins")
        assert page.status_code == 200
        assert 'value="small"' in page.text and 'value="hpc-slurm"' not in page.text
    with gateway.client(headers=user.headers) as c:
        r = c.post(f"/hub/api/users/{user.name}/server", json={"profile": "hpc-slurm"})
        assert r.status_code == 403, r.text
        assert "'hpc-slurm' runs on Slurm; this gateway does not enable Slurm" in r.text
        assert "" not in c.get(f"/hub/api/users/{user.name}").json()["servers"]
