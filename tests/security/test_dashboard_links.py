"""Hostile dashboard links: huge numbers, huge strings, many settings, repeated keys.

Each link is answered with the dashboard (HTTP 200), its defaults and the documented "could
not be used" warning naming the setting, never a 5xx. Checked in Chromium: the Bokeh page
gets its content over its websocket, so the warning is read in the drawn page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page

from tests.support.gateway import Gateway

from .conftest import APPS, chromium_page

pytestmark = [pytest.mark.integration, pytest.mark.ui]
WARNING = "Some settings in the link could not be used"
CHEAP = "duration=32"  # the shortest simulation: the page's own run stays small


@pytest.fixture(scope="module")
def mallory(browser: Browser, dashboards: Gateway) -> Iterator[Page]:
    with chromium_page(browser, dashboards, "mallory") as page:
        yield page


def open_link(page: Page, gw: Gateway, query: str) -> int:
    response = page.goto(f"{gw.url}{APPS}/gwnoise?{CHEAP}&{query}")
    assert response is not None
    return response.status


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"seed": "9" * 4000}, "seed="),  # an integer of thousands of digits
        ({"seed": "9" * 5000}, "seed="),  # beyond Python's int() digit limit
        ({"seed": "-" + "9" * 30}, "seed="),  # beyond what a browser's number holds
        ({"seed": "1e999"}, "seed="),
        ({"glitch_rate": "1" + "0" * 5000}, "glitch_rate="),  # a float that overflows
        ({"glitch_rate": "[" * 150}, "glitch_rate="),  # what Panel would literal_eval
        ({"curve": "x" * 5000}, "curve="),  # a huge string for a choice
    ],
    ids=["4000-digits", "5000-digits", "past-2**53", "1e999", "float-overflow", "brackets",
         "huge-string"],
)  # fmt: skip
def test_huge_values_get_the_warning_not_an_error(
    mallory: Page, dashboards: Gateway, query: dict[str, str], named: str
) -> None:
    assert open_link(mallory, dashboards, urlencode(query)) == 200
    mallory.get_by_text(WARNING).wait_for()
    item = mallory.get_by_text(re.compile(rf"^{named}.* was ignored \(")).first
    item.wait_for()
    line = item.inner_text()
    assert len(line) < 200, line  # a long value is quoted by its start only
    assert "the default is shown" in line


def test_many_settings_are_refused_as_a_whole(mallory: Page, dashboards: Gateway) -> None:
    many = urlencode({f"k{i}": str(i) for i in range(300)} | {"seed": "7"})
    assert open_link(mallory, dashboards, many) == 200
    mallory.get_by_text("settings, more than 50: all were ignored").wait_for()
    assert mallory.get_by_label("Seed").input_value() == "0"  # the default


def test_repeated_keys_use_the_last_value(mallory: Page, dashboards: Gateway) -> None:
    repeated = "&".join(["seed=abc"] * 500 + ["seed=9"])
    assert open_link(mallory, dashboards, repeated) == 200
    seed = mallory.get_by_label("Seed")
    seed.wait_for()
    assert seed.input_value() == "9"
    assert mallory.get_by_text(WARNING).count() == 0

    assert open_link(mallory, dashboards, f"{repeated}&seed={'9' * 5000}") == 200
    mallory.get_by_text(WARNING).wait_for()
    assert mallory.get_by_label("Seed").input_value() == "0"
