"""Widget state in a dashboard's URL: good values restore the view, bad ones are reported."""

from __future__ import annotations

from datetime import date

import panel as pn
from twinhub.extensions.dashboards.urlstate import (
    apply_query,
    encode,
    parameter_widgets,
    stateful_widgets,
)


def layout() -> pn.Column:
    return pn.Column(
        pn.widgets.FloatInput(name="Synthetic storm (mm)", value=0.0, start=0.0, end=300.0),
        pn.widgets.IntSlider(name="Ensemble size", value=20, start=1, end=100),
        pn.widgets.DatePicker(name="Start", value=date(1986, 1, 1)),
        pn.widgets.Button(name="Run"),  # not state: never in the URL
    )


def test_query_keys_are_label_slugs_of_input_widgets_only() -> None:
    assert sorted(stateful_widgets(layout())) == ["ensemble_size", "start", "synthetic_storm_mm"]


def test_a_link_restores_every_value_it_carries() -> None:
    widgets = stateful_widgets(layout())
    problems = apply_query(
        widgets, {"synthetic_storm_mm": "250", "ensemble_size": "7", "start": "1987-03-02"}
    )
    assert problems == []
    assert widgets["synthetic_storm_mm"].value == 250.0
    assert widgets["ensemble_size"].value == 7
    assert widgets["start"].value == date(1987, 3, 2)
    assert encode(widgets["start"].value) == "1987-03-02"


def test_bad_values_keep_defaults_and_are_named() -> None:
    widgets = stateful_widgets(layout())
    problems = apply_query(
        widgets,
        {"synthetic_storm_mm": "-5", "ensemble_size": "lots", "start": "yesterday", "x": "1"},
    )
    assert widgets["synthetic_storm_mm"].value == 0.0
    assert widgets["ensemble_size"].value == 20
    assert widgets["start"].value == date(1986, 1, 1)
    assert len(problems) == 3
    assert any(p.startswith("ensemble_size='lots' was ignored") for p in problems)
    assert any(p.startswith("synthetic_storm_mm='-5' was ignored") for p in problems)


def test_not_a_number_is_refused() -> None:
    widgets = stateful_widgets(layout())
    assert apply_query(widgets, {"synthetic_storm_mm": "nan"})
    assert widgets["synthetic_storm_mm"].value == 0.0


def test_a_link_from_a_runs_parameters_sets_the_widgets_by_parameter_name() -> None:
    """The Runs page links a run's dashboard with the run's parameters by their names
    (``storm_mm``); pn.Param's widgets answer to those too, labels winning where both apply."""
    import param

    class Dashboard(param.Parameterized):
        storm_mm = param.Number(0.0, bounds=(0.0, 300.0), label="Synthetic storm (mm)")
        ensemble_size = param.Integer(20, bounds=(1, 100))

    page = pn.Column(pn.Param(Dashboard(), show_name=False))
    widgets = stateful_widgets(page)
    linkable = {**parameter_widgets(page, widgets), **widgets}
    assert sorted(linkable) == ["ensemble_size", "storm_mm", "synthetic_storm_mm"]
    assert apply_query(linkable, {"storm_mm": "120.0", "run": "0" * 32}) == []
    assert widgets["synthetic_storm_mm"].value == 120.0
    assert apply_query(linkable, {"storm_mm": "900"})[0].startswith("storm_mm='900' was ignored")
