"""Unit tests of the dashboard layer: curves, figures, controls, URL state, views, callbacks."""

from losslab.dashboard import controls


def typed_values(view, state) -> tuple[dict, list, dict]:
    """``(numbers, losses, extras)`` as the browser sends them for ``state``: each text box holds its
    number as the page writes it, each extra control its own text form."""
    numbers = {name: controls.format_number(value) for name, value in state.numbers.items()}
    return numbers, list(state.losses), {c.name: c.format(state.extras[c.name]) for c in view.extras}
