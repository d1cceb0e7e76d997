"""Raw control values: numbers, ranges, logits and loss lists (``losslab.dashboard.controls``)."""

from __future__ import annotations

import pytest

from losslab import registry
from losslab.dashboard import controls, views

# ---------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.5", 1.5),
        (" -2 ", -2.0),
        ("1e-3", 0.001),
        ("−2", -2.0),  # U+2212 minus sign, as typed on some keyboards
        ("−0.5", -0.5),
        ("+3", 3.0),
        (3, 3.0),
        (2.5, 2.5),
        ("0", 0.0),
    ],
)
def test_parse_number_accepts_finite_numbers(raw, expected):
    value, problem = controls.parse_number(raw)
    assert problem is None
    assert value == expected
    assert isinstance(value, float)


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_parse_number_empty(raw):
    value, problem = controls.parse_number(raw)
    assert value is None
    assert "empty" in problem


@pytest.mark.parametrize(
    ("raw", "shown", "words"),
    [
        ("abc", "abc", "not a number"),
        ("1,5", "1,5", "not a number"),
        ("nan", "nan", "not a finite number"),
        ("NaN", "NaN", "not a finite number"),
        ("inf", "inf", "not a finite number"),
        ("-inf", "-inf", "not a finite number"),
        ("1e400", "1e400", "not a finite number"),
        (float("nan"), "nan", "not a finite number"),
        (float("inf"), "inf", "not a finite number"),
        (True, "True", "not a number"),
        (False, "False", "not a number"),
        ([1, 2], "[1, 2]", "not a number"),
        ({"x": 1}, "{'x': 1}", "not a number"),
        (b"1", "b'1'", "not a number"),
    ],
)
def test_parse_number_rejects_with_message_naming_the_value(raw, shown, words):
    value, problem = controls.parse_number(raw)
    assert value is None
    assert isinstance(problem, str)
    assert shown in problem
    assert words in problem


def test_parse_number_shortens_very_long_input_in_its_message():
    value, problem = controls.parse_number("x" * 5000)
    assert value is None
    assert len(problem) < 100
    assert "..." in problem


def test_parse_number_never_raises_on_a_huge_integer():
    """Contract: "never raises". A JSON integer too large for a float (e.g. 10**400) must be a message."""
    value, problem = controls.parse_number(10**400)
    assert value is None
    assert isinstance(problem, str)


# ---------------------------------------------------------------- NumberControl.parse


def test_number_control_parse_good_values():
    target = views.get("regression").number("target")
    assert target.parse("2.5") == (2.5, None)
    assert target.parse("1e6") == (1e6, None)  # inclusive limit
    assert target.parse("-1e6") == (-1e6, None)
    true_class = views.get("multiclass").number("true_class")
    value, problem = true_class.parse("3")
    assert problem is None and value == 3 and isinstance(value, int)
    assert true_class.parse("2.0") == (2, None)
    assert true_class.parse(4) == (4, None)


@pytest.mark.parametrize(
    ("view", "name", "raw", "shown", "range_text"),
    [
        ("regression", "target", "1e7", "10000000", "from -1,000,000 to 1,000,000"),
        ("regression", "delta", "0", "0", "greater than 0"),
        ("regression", "delta", "-1", "-1", "greater than 0"),
        ("regression", "tau", "1", "1", "strictly between 0 and 1"),
        ("regression", "tau", "0", "0", "strictly between 0 and 1"),
        ("binary", "label", "1.5", "1.5", "from 0 to 1"),
        ("binary", "probability", "1", "1", "strictly between 0 and 1"),
        ("binary", "probability", "0", "0", "strictly between 0 and 1"),
        ("binary", "gamma", "-0.5", "-0.5", "of at least 0"),
        ("multiclass", "temperature", "0", "0", "from 0.01 to 100"),
        ("multiclass", "temperature", "101", "101", "from 0.01 to 100"),
        ("multiclass", "true_class", "10", "10", "from 0 to 9"),
        ("multiclass", "swept_class", "-1", "-1", "from 0 to 9"),
    ],
)
def test_number_control_out_of_range_message(view, name, raw, shown, range_text):
    control = views.get(view).number(name)
    value, problem = control.parse(raw)
    assert value is None
    assert problem.startswith(control.label + ":")
    assert shown in problem
    assert "out of range" in problem
    assert range_text in problem


@pytest.mark.parametrize("raw", ["1.5", "0.1", "2.000001"])
def test_integer_control_rejects_fractions(raw):
    control = views.get("multiclass").number("true_class")
    value, problem = control.parse(raw)
    assert value is None
    assert raw in problem
    assert "whole number" in problem
    assert "from 0 to 9" in problem


@pytest.mark.parametrize("raw", ["", None, "abc", "nan", "1e400", True])
def test_number_control_bad_input_message_names_label_and_expectation(raw):
    control = views.get("regression").number("delta")
    value, problem = control.parse(raw)
    assert value is None
    assert problem.startswith("Huber delta δ:")
    assert "expected a number greater than 0" in problem


def test_every_control_default_is_valid_and_every_view_has_controls():
    for view, view_controls in ((v.name, v.numbers) for v in views.VIEWS):
        assert view_controls, view
        for control in view_controls:
            value, problem = control.parse(controls.format_number(control.default))
            assert problem is None, (view, control.name, problem)
            assert value == control.default


def test_parameter_controls_are_generated_from_registry():
    names = {c.name for c in views.get("regression").numbers}
    assert {"delta", "tau"} <= names
    assert "gamma" in {c.name for c in views.get("binary").numbers}
    delta = views.get("regression").number("delta")
    assert delta.log_scale
    assert delta.slider_position(1.0) == pytest.approx(0.0)
    assert delta.slider_position(10.0) == pytest.approx(1.0)
    assert delta.slider_position(1e6) == delta.slider_max  # clamped


# ---------------------------------------------------------------- parse_logits


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2, 1, 0.1, -1", (2.0, 1.0, 0.1, -1.0)),
        ("1000, 999, 998", (1000.0, 999.0, 998.0)),
        ("1 2 3", (1.0, 2.0, 3.0)),
        ("[1,2]", (1.0, 2.0)),
        ("(1; 2)", (1.0, 2.0)),
        ("−1, 2", (-1.0, 2.0)),
        ("1e6, -1e6", (1e6, -1e6)),
        ("  3,4  ", (3.0, 4.0)),
        (",".join(["0"] * 10), (0.0,) * 10),
    ],
)
def test_parse_logits_good(raw, expected):
    value, problem = controls.parse_logits(raw)
    assert problem is None
    assert value == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("1,,2", "empty entry"),
        ("1, ,2", "empty entry"),
        ("1,", "empty entry"),
        (",1,2", "empty entry"),
        ("1," * 5000, "10000 characters"),
        (",".join(["1"] * 11), "got 11 value(s)"),
        ("5", "got 1 value(s)"),
        ("1e7", "got 1 value(s)"),
        ("1e7, 0", "10000000 is beyond ±1e6"),
        ("0, -2e6", "-2000000 is beyond ±1e6"),
        ("nan, 1", "“nan” is not a finite number"),
        ("1, inf", "“inf” is not a finite number"),
        ("1, abc", "“abc” is not a number"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        (12, "empty"),
    ],
)
def test_parse_logits_bad(raw, fragment):
    value, problem = controls.parse_logits(raw)
    assert value is None
    assert problem.startswith("Logits:")
    assert fragment in problem
    assert "2 to 10 numbers" in problem
    assert len(problem) < 300  # even for 10 000 characters of input


def test_format_logits_round_trips_through_parse_logits():
    logits = (2.0, -1.25, 0.1, 1e-7, 123456.789)
    assert controls.parse_logits(controls.format_logits(logits)) == (logits, None)


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1.5, "1.5"), (-0.0, "-0"), (0.1, "0.1"), (3, "3"), (1e-7, "1e-07"), (2.0**0.5, repr(2.0**0.5))],
)
def test_format_number_is_shortest_exact(value, text):
    assert controls.format_number(value) == text
    assert float(controls.format_number(value)) == value


# ---------------------------------------------------------------- parse_losses


def test_parse_losses_orders_by_registry_and_deduplicates():
    order = [s.key for s in registry.for_task("regression")]
    value, problem = controls.parse_losses(["huber", "mse", "huber"], "regression")
    assert problem is None
    assert value == tuple(k for k in order if k in {"huber", "mse"})
    assert controls.parse_losses(("bce",), "binary") == (("bce",), None)


@pytest.mark.parametrize(
    ("raw", "task", "fragment"),
    [
        ([], "regression", "nothing is selected"),
        (["bce"], "regression", "no loss called “bce”"),
        (["mse", "nope"], "regression", "no loss called “nope”"),
        ("mse", "regression", "expected a list"),
        (None, "binary", "expected a list"),
        ([1, 2], "multiclass", "expected a list"),
        (["mse", None], "regression", "expected a list"),
    ],
)
def test_parse_losses_bad(raw, task, fragment):
    value, problem = controls.parse_losses(raw, task)
    assert value is None
    assert problem.startswith("Losses:")
    assert fragment in problem


def test_default_losses_parse():
    for view in views.VIEWS:
        assert controls.parse_losses(list(view.default_losses), view.loss_keys) == (view.default_losses, None)
