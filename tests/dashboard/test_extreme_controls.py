"""Every number control of every view, typed at the ends of what it accepts.

A typed value can be far outside a slider's range: the smallest and largest values a control's
``parse`` accepts (the next float inside an open bound, 5e-324 for "greater than 0"), their
neighbours, 0 and ±1e300 where accepted; and the outermost of them again with each other option of
the view's choices (axis, log scale, gradient check, ...). Each must draw, with every loss the view
offers ticked:
no exception and no RuntimeWarning (pytest turns those into errors), no message on the control,
and no infinite value sent to a chart (an overflow is drawn as a gap, never as an inf that stops
Plotly scaling its axis).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab.dashboard import callbacks, controls, figures, views
from losslab.dashboard.controls import ChoiceControl, NumberControl


def edge_values(control: NumberControl) -> list[float]:
    low, high = control.smallest_accepted(), control.largest_accepted()
    values = [v for v in (low, high) if v is not None]
    if low is not None and high is not None:
        values += [math.nextafter(low, high), math.nextafter(high, low)]
    values += [v for v in (-1e300, 1e-300, 0.0, 1e300) if control.parse(repr(v))[1] is None]
    if control.integer:
        values = [v for v in values if float(v).is_integer() and abs(v) <= 1e7]
    return sorted(set(values))


def arrays(value):
    """Every array a figure sends: typed arrays and plain number lists."""
    if isinstance(value, dict):
        if {"dtype", "bdata"} <= set(value):
            yield figures.decoded(value)
        else:
            for item in value.values():
                yield from arrays(item)
    elif isinstance(value, list | tuple):
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            yield np.asarray(value, dtype=np.float64)
        else:
            for item in value:
                yield from arrays(item)


def outermost(control: NumberControl) -> list[float]:
    values = edge_values(control)
    return sorted({values[0], values[-1], *(v for v in values if v == 1e-300)})


def choice_variants(view) -> list[dict]:
    """The default choices, then each other option of each choice control, one at a time, except the
    gradient check's: it lays the differences of the same curves over them, and cost a third of this
    test's time (the suite is at its time budget)."""
    variants = [{}]
    for control in view.extras:
        if isinstance(control, ChoiceControl) and control.name != controls.GRADIENT_CHECK.name:
            variants += [{control.name: key} for key, _ in control.choices if key != control.default]
    return variants


CASES = [(view.name, variant, control.name, value) for view in views.VIEWS for variant in choice_variants(view)
         for control in view.numbers for value in (outermost(control) if variant else edge_values(control))]


def test_the_edges_cover_open_bounds_and_every_view():
    assert {name for name, _, _, _ in CASES} == set(views.names())
    assert any(value == 5e-324 for _, _, _, value in CASES)
    assert any(variant == {"scale": "log"} for _, variant, _, _ in CASES)  # "greater than 0" accepts the least subnormal


@pytest.mark.parametrize("name", views.names())
def test_every_control_draws_at_the_ends_of_what_it_accepts(name):
    view = views.get(name)
    state = view.default_state()
    losses = list(view.loss_keys) if view.loss_checklist else list(state.losses)
    extras = {c.name: c.format(state.extras[c.name]) if c.has_message else state.extras[c.name]
              for c in view.extras}
    problems = []
    for view_name, variant, control_name, value in CASES:
        if view_name != name:
            continue
        control = view.number(control_name)
        numbers = {c.name: repr(float(state.numbers[c.name])) for c in view.numbers}
        numbers[control_name] = str(int(value)) if control.integer else repr(value)
        where = f"{view.path} {control.label} = {numbers[control_name]}" + "".join(
            f", {key} = {option}" for key, option in variant.items())
        try:
            result = callbacks.update_view(view, numbers, losses, None, **{**extras, **variant})
        except Exception as error:  # every failure is collected and reported below
            problems.append(f"{where}: {type(error).__name__}: {error}")
            continue
        message = result[f"message:{control_name}"]
        if message:
            # A value accepted alone may clash with another control's (a class index past the logits, a
            # logit the probability axis cannot place): a message naming the control, not a failure.
            if not message.startswith(control.label):
                problems.append(f"{where}: a message that does not name the control: {message!r}")
            continue
        for key in callbacks.chart_keys(view):
            infinite = sum(int(np.isinf(a).sum()) for a in arrays(result[key]) if a.dtype.kind == "f")
            if infinite:
                problems.append(f"{where}: {infinite} infinite values in {key}")
    assert not problems, "\n".join(problems)
