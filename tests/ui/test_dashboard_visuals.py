"""What a newcomer sees at 1400×900: a button group shows its chosen value, the gwnoise plots
fit the window and its Q-transform has labelled frequency ticks, and "Record run in registry"
is a real button that looks like one. Screenshots are kept in the artefacts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page
from twinhub.twins.gwnoise.app import create_app as gwnoise_app
from twinhub.twins.lattice.app import create_app as lattice_app

from tests.support.browser import screenshot
from tests.support.panel_app import PLOTTED_COLUMNS, serve_factory, wait_for_text

pytestmark = pytest.mark.ui
WIDTH, HEIGHT = 1400, 900

# the Q-transform figure's vertical axis: its range and the ticks drawn inside it
MAP_AXIS = """
() => {
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
    for (const model of doc.all_models) {
      const title = model.title && model.title.text;
      if (title && title.startsWith("Q-transform") && model.left && model.left.length) {
        const ticker = model.left[0].ticker;
        return {start: model.y_range.start, end: model.y_range.end,
                ticks: Array.from(ticker.ticks || [])};
      }
    }
  }
  return null;
}
"""


@pytest.fixture
def window(page: Page) -> Page:
    """The UI tests' page (1400 wide), at the 900-px height of a laptop window."""
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.set_default_timeout(180_000)
    return page


# the colour behind an element: the first ancestor (across shadow roots) that paints one
BEHIND = """
e => {
  let n = e.parentElement || e.getRootNode().host;
  while (n) {
    const c = getComputedStyle(n).backgroundColor;
    if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c;
    n = n.parentElement || (n.getRootNode() instanceof ShadowRoot ? n.getRootNode().host : null);
  }
  return "rgb(255, 255, 255)";
}
"""


def luminance(css_colour: str) -> float:
    """WCAG relative luminance of a computed ``rgb(...)``/``rgba(...)`` colour."""
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_colour)[:3])
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def assert_record_is_a_button(page: Page) -> None:
    record = page.locator("button", has_text="Record run in registry")
    assert record.count() == 1
    colour = record.evaluate("e => getComputedStyle(e).backgroundColor")
    # a filled button that stands out from the sidebar (WCAG's 3:1 for controls), not text
    assert "rgba(0, 0, 0, 0)" not in colour, colour
    assert contrast(colour, record.evaluate(BEHIND)) >= 3, colour


def test_lattice_size_group_shows_the_chosen_size(window: Page, artifacts_dir: Path) -> None:
    with serve_factory(lambda: lattice_app(sweeps=100, n_temperatures=3), "lattice", 180) as url:
        window.goto(url)
        wait_for_text(window, "3/3 temperatures done")
        wait_for_text(window, "Size")  # the group's label
        chosen = window.get_by_role("button", name="16", exact=True)
        other = window.get_by_role("button", name="8", exact=True)
        assert "bk-active" in (chosen.get_attribute("class") or "")
        bg = "e => getComputedStyle(e).backgroundColor"
        assert chosen.evaluate(bg) != other.evaluate(bg)  # the choice is visible
        assert_record_is_a_button(window)
        screenshot(window, artifacts_dir, "visual-lattice-1400x900")


def test_gwnoise_fits_1400px_and_labels_the_q_transform(window: Page, artifacts_dir: Path) -> None:
    with serve_factory(lambda: gwnoise_app(duration=32), "gwnoise", 180) as url:
        window.goto(url)
        wait_for_text(window, "witness subtraction gain")
        window.get_by_text("(updating...)").wait_for(state="hidden")
        drawn = window.evaluate(PLOTTED_COLUMNS, "frequency")
        assert max(map(len, drawn), default=0) > 100, "the spectra were not drawn"
        axis = window.evaluate(MAP_AXIS)
        assert axis is not None
        inside = [t for t in axis["ticks"] if axis["start"] <= t <= axis["end"]]
        assert len(inside) >= 4, axis  # labelled frequencies (20, 50, 100, ... Hz)
        assert 15 <= axis["start"] and axis["end"] <= 1100, axis  # the map's band
        # every drawn plot (its canvas) ends inside the window: nothing cut off at the right
        rights = window.locator("canvas").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().right)"
        )
        assert len(rights) >= 3 and max(rights) <= WIDTH, rights
        assert window.evaluate("document.documentElement.scrollWidth") <= WIDTH
        assert_record_is_a_button(window)
        screenshot(window, artifacts_dir, "visual-gwnoise-1400x900")
