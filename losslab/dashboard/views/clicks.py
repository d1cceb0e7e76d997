"""Reading a click on a sweep chart: the clicked x, rounded for the text box it is written into."""

from __future__ import annotations

from dash import no_update

from losslab.dashboard import controls

CLICK_DECIMALS = 3


def clicked_x(click_data) -> float | None:
    """The x of the first clicked point, or None if the click carries no usable x."""
    try:
        x = float(click_data["points"][0]["x"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return x if abs(x) < 1e12 else None


def prediction_from_click(click_data):
    """The prediction text box value for a click at x (no_update if the click has no x)."""
    x = clicked_x(click_data)
    if x is None:
        return no_update
    return controls.format_number(round(x, CLICK_DECIMALS))
