"""Every view with all of its controls typed at extremes at once, in random combinations.

test_extreme_controls types one control at a time at the ends of what it accepts. Bugs also hide in
combinations: a soft label of 1e-300 with a focal gamma of 1e300 (an overflow inside the core), a
gradient check over curves whose largest gradient is subnormal (an overflowing ratio). Here each
control takes, independently, one of its edge values, its default or a random accepted value (random
sign, magnitude 10^-320 to 10^308 or 10^-3 to 10^3), and each choice control a random option, with a
fixed seed per view. Each state must draw as test_extreme_controls requires: no exception and no
RuntimeWarning (pytest turns those into errors), and, when no control has a message, no infinite
value sent to a chart. ``LOSSLAB_LONG=1`` tries 200 states per view instead of 6.
"""

from __future__ import annotations

import os
import random
import zlib

import numpy as np
import pytest

from losslab.dashboard import callbacks, views
from losslab.dashboard.controls import ChoiceControl, NumberControl

from .test_extreme_controls import arrays, edge_values

STATES_PER_VIEW = 200 if os.environ.get("LOSSLAB_LONG") else 6


def random_values(control: NumberControl, rng: random.Random, count: int = 4) -> list[float]:
    values = []
    for _ in range(count):
        magnitude = 10 ** rng.uniform(-320, 308) if rng.random() < 0.5 else 10 ** rng.uniform(-3, 3)
        value = rng.choice((1.0, -1.0)) * magnitude
        if control.integer:
            value = float(int(min(abs(value), 1e6)))
        if control.parse(repr(value))[1] is None:
            values.append(value)
    return values


def random_states(view, count: int, seed: int):
    """``count`` (numbers, extras, losses) as a browser would send them, drawn with ``seed``."""
    rng = random.Random(seed)
    state = view.default_state()
    extras = {c.name: c.format(state.extras[c.name]) if c.has_message else state.extras[c.name]
              for c in view.extras}
    all_losses = list(view.loss_keys) if view.loss_checklist else list(state.losses)
    for _ in range(count):
        numbers = {}
        for control in view.numbers:
            value = rng.choice([*edge_values(control), float(state.numbers[control.name]),
                                *random_values(control, rng)])
            numbers[control.name] = str(int(value)) if control.integer else repr(value)
        chosen = dict(extras)
        for control in view.extras:
            if isinstance(control, ChoiceControl) and rng.random() < 0.5:
                chosen[control.name] = rng.choice([key for key, _ in control.choices])
        losses = all_losses
        if view.loss_checklist and rng.random() < 0.3:
            losses = rng.sample(all_losses, k=max(1, len(all_losses) // 2))
        yield numbers, chosen, losses


@pytest.mark.parametrize("name", views.names())
def test_every_view_draws_with_all_its_controls_at_extremes_at_once(name):
    view = views.get(name)
    problems = []
    for numbers, extras, losses in random_states(view, STATES_PER_VIEW, zlib.crc32(name.encode())):
        where = f"{view.path} numbers={numbers} extras={extras} losses={losses}"
        try:
            result = callbacks.update_view(view, numbers, losses, None, **extras)
        except Exception as error:  # every failure is collected and reported below
            problems.append(f"{where}: {type(error).__name__}: {error}")
            continue
        if any(result[key] for key in callbacks.message_keys(view)):
            continue  # a value that clashes with another control's gets its message: no chart to check
        for key in callbacks.chart_keys(view):
            infinite = sum(int(np.isinf(a).sum()) for a in arrays(result[key]) if a.dtype.kind == "f")
            if infinite:
                problems.append(f"{where}: {infinite} infinite values in {key}")
    assert not problems, "\n".join(problems)
