"""Each twin's front-page showcase: a real run whose skill figures hold against independent
references (observations, the exact Ising solution, the design sensitivity, the SPI definition),
and a rendering that writes the figure and the scores whole or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from twinhub.twins import showcase
from twinhub.twins.manifest import load_manifest, parse_manifest
from twinhub.twins.showcase import Showcase, Skill

from tests.support.data import ensure_built

TWINS = Path(showcase.__file__).resolve().parent


@pytest.fixture(scope="module", autouse=True)
def _data() -> None:
    ensure_built()


def skills_of(result: Showcase) -> dict[str, float]:
    return {s.label: s.value for s in result.skills}


def test_flood_validation_nse_agrees_with_an_independent_computation() -> None:
    from twinhub.twins.flood.showcase import showcase as flood

    result = flood()
    observed, simulated = (np.asarray(line.get_ydata()) for line in result.figure.axes[0].lines)
    # NSE = 1 - MSE / variance of the observations (Nash & Sutcliffe 1970), written afresh
    nse = 1 - np.mean((simulated - observed) ** 2) / np.var(observed)
    r = stats.pearsonr(simulated, observed).statistic
    kge = 1 - np.sqrt(
        (r - 1) ** 2
        + (simulated.std() / observed.std() - 1) ** 2
        + (simulated.mean() / observed.mean() - 1) ** 2
    )
    shown = skills_of(result)
    assert shown["NSE, validation 1985-1988"] == pytest.approx(nse, abs=1e-9)
    assert shown["KGE, validation 1985-1988"] == pytest.approx(kge, abs=1e-9)
    assert nse >= 0.7  # the bar the flood twin promises on held-out years
    assert len(observed) == 1461  # every day of 1985-1988


def test_lattice_magnetisation_matches_onsager_in_the_ordered_phase() -> None:
    from twinhub.twins.lattice.showcase import ORDERED
    from twinhub.twins.lattice.showcase import showcase as lattice

    result = lattice()
    shown = skills_of(result)
    assert shown["largest |m − m_exact| / m_exact, T ≤ 2.0"] < 2.0  # per cent
    assert shown["largest deviation in standard errors, T ≤ 2.0"] < 4.0
    # Yang's formula written afresh: m = (1 - sinh(2/T)^-4)^(1/8) below T_c = 2/ln(1 + sqrt 2)
    points = result.figure.axes[0].containers[0]  # the error bars: the Monte Carlo points
    temps, m = (np.asarray(a) for a in points.lines[0].get_data())
    for t in ORDERED:
        exact = (1 - np.sinh(2 / t) ** -4) ** 0.125
        assert m[list(temps).index(t)] == pytest.approx(exact, rel=0.02)
    assert m[list(temps).index(3.0)] < 0.4  # disordered above T_c (finite-size tail only)


def test_gwnoise_estimated_noise_follows_the_design_curve() -> None:
    from twinhub.twins.gwnoise.curves import design_asd
    from twinhub.twins.gwnoise.showcase import showcase as gwnoise

    result = gwnoise()
    shown = skills_of(result)
    assert shown["largest ASD deviation from design, 20-1000 Hz"] < 25.0
    assert shown["glitches recovered"] >= 80.0
    estimated, design = result.figure.axes[0].lines[:2]
    freq = np.asarray(design.get_xdata())
    published = design_asd("AdV")  # bilby's file, interpolated here by numpy on its own grid
    at_100 = np.argmin(np.abs(freq - 100.0))
    reference = np.interp(freq[at_100], published.frequency.values, published.values)
    assert np.asarray(design.get_ydata())[at_100] == pytest.approx(reference, rel=0.02)


def test_drought_spi_is_standard_normal_as_defined() -> None:
    from twinhub.twins.drought.showcase import showcase as drought

    shown = skills_of(drought())
    assert abs(shown["SPI-3 mean"]) < 0.1
    assert abs(shown["SPI-3 standard deviation"] - 1) < 0.1


def test_extremes_return_levels_agree_with_the_observed_maxima() -> None:
    from twinhub.twins.extremes.showcase import empirical_level
    from twinhub.twins.extremes.showcase import showcase as extremes

    result = extremes()
    shown = skills_of(result)
    assert abs(shown["2-year level, GEV vs observed"]) < 10.0
    assert abs(shown["10-year level, GEV vs observed"]) < 20.0
    maxima = np.asarray(result.figure.axes[0].lines[-1].get_ydata())
    assert len(maxima) == 37  # one per year, 1982-2018
    # the 2-year level is the median annual maximum; 37 values: the 19th
    assert empirical_level(maxima, 2) == pytest.approx(np.median(maxima))


def test_render_writes_the_figure_and_scores_of_every_shipped_twin(tmp_path: Path) -> None:
    rendered = showcase.build_all(tmp_path, only=["lattice"])
    assert rendered == ["lattice"]
    png = tmp_path / "showcase" / "lattice.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = showcase.read(tmp_path, "lattice")
    assert meta["version"] == load_manifest(TWINS / "lattice" / "twin.yaml").version
    assert [s["text"] for s in meta["skills"]][1].endswith("σ")
    assert showcase.build_all(tmp_path, only=["lattice"]) == []  # up to date: not rerun
    declared = [load_manifest(p).showcase for p in showcase.discover()]
    assert all(declared), "every shipped twin shows a figure on the front page"


def _manifest(spec: str | None, validate: bool = False):
    data = {
        "name": "demo", "title": "Demo", "summary": "s", "domain": "other", "version": "1.0.0",
        "maintainers": [{"name": "A"}], "model": "twinhub_demo.model:run",
    }  # fmt: skip
    if validate:
        return parse_manifest({**data, "showcase": spec})
    # a showcase from this test module: not a twin's package, so set past validation
    return parse_manifest(data).model_copy(update={"showcase": spec})


def broken_showcase() -> object:
    return {"figure": None}  # not a Showcase


def test_a_broken_showcase_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not a Showcase"):
        showcase.render(_manifest(f"{__name__}:broken_showcase"), tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="declares no showcase"):
        showcase.render(_manifest(None), tmp_path)
    with pytest.raises(ValueError, match="showcase"):
        _manifest("not an entry point", validate=True)
    with pytest.raises(ValueError, match="'NSE'.* not a finite number"):
        Skill("NSE", float("nan"), "observations")
    assert showcase.read(tmp_path, "demo") is None
