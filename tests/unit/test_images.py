"""The container images of a Kubernetes site: the hub image holds the platform without any
twin's science stack, and whatever runs twins (the data build, the Twins page's figures, the
dashboard pods) runs where the twins' packages are installed.

No Docker here: the Dockerfiles are read stage by stage. The same build steps were run by hand
in a fresh venv: with only the platform installed, ``python -m twinhub.catalogs.build`` fails
(``No module named 'spotpy'``) and so does ``python -m twinhub.twins.showcase`` (matplotlib),
which is what the hub image's single stage ran."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TWIN_PACKAGES = "twins/*/pyproject.toml"
"""How both Dockerfiles install every twin's package (and so its science stack)."""
RUNS_TWINS = ("twinhub.catalogs.build", "twinhub.twins.showcase")


def stages(dockerfile: Path) -> list[str]:
    """The Dockerfile's stages, each from its ``FROM`` line (comments left out)."""
    text = "\n".join(
        line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    return ["FROM" + part for part in re.split(r"^FROM", text, flags=re.M)[1:]]


def test_stages_that_run_twins_install_them_and_the_hub_image_does_not() -> None:
    hub = stages(REPO / "hub" / "helm" / "Dockerfile.hub")
    for stage in hub:
        if any(step in stage for step in RUNS_TWINS):
            assert TWIN_PACKAGES in stage, stage.splitlines()[0]
    final = hub[-1]
    assert TWIN_PACKAGES not in final  # the platform only
    data_dir = re.search(r"TWINHUB_DATA_DIR=(\S+)", final).group(1)
    assert re.search(rf"^COPY --from=\w+ {re.escape(data_dir)} {re.escape(data_dir)}$", final, re.M)
    (singleuser,) = stages(REPO / "Dockerfile")
    assert TWIN_PACKAGES in singleuser and "twinhub.catalogs.build" in singleuser
