"""A view's whole state as a URL query string, and back.

``?target=0&prediction=1.5&delta=1&losses=mse,huber`` reopens the
regression view exactly. Parsing never raises: an unknown key, a repeated
key or a bad value falls back to the default and adds a notice saying what
was ignored. Notices are plain text (Dash renders them as text, never HTML).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode

from losslab.dashboard import controls

MAX_QUERY_LENGTH = 2000
TASK_OF_VIEW = {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}


@dataclass(frozen=True)
class ViewState:
    """Everything a view shows is a function of this."""

    view: str
    numbers: dict[str, float]
    losses: tuple[str, ...]
    axis: str | None = None
    logits: tuple[float, ...] | None = None
    panels: str | None = None
    notices: tuple[str, ...] = field(default=(), compare=False)

    def number(self, name: str) -> float:
        return self.numbers[name]


def default_state(view: str) -> ViewState:
    return ViewState(
        view=view,
        numbers={c.name: c.default for c in controls.CONTROLS[view]},
        losses=controls.DEFAULT_LOSSES[view],
        axis=controls.DEFAULT_AXIS if view == "binary" else None,
        logits=controls.DEFAULT_LOGITS if view == "multiclass" else None,
        panels=controls.DEFAULT_PANELS if view == "binary" else None,
    )


def parse_query(view: str, search: str | None) -> ViewState:
    """The state a query string asks for, defaults where it is missing or wrong."""
    state = default_state(view)
    search = search.lstrip("?") if isinstance(search, str) else ""
    if not search:
        return state
    if len(search) > MAX_QUERY_LENGTH:
        return replace(state, notices=(f"The link's settings are {len(search)} characters long "
                                       f"(at most {MAX_QUERY_LENGTH}); showing the defaults.",))
    query = parse_qs(search, keep_blank_values=True)
    notices: list[str] = []
    numbers = dict(state.numbers)
    known = {c.name for c in controls.CONTROLS[view]} | {"losses"}
    known |= {"axis", "panels"} if view == "binary" else set()
    known |= {"logits"} if view == "multiclass" else set()
    for key in sorted(set(query) - known):
        notices.append(f"Ignored the unknown setting {_shorten(key)!r}.")
    values = {key: _single(key, query[key], notices) for key in query if key in known}
    for control in controls.CONTROLS[view]:
        if control.name in values:
            value, problem = control.parse(values[control.name])
            if problem:
                notices.append(f"{problem} (from the link); using {controls.format_number(control.default)}.")
            else:
                numbers[control.name] = value
    losses = state.losses
    if "losses" in values:
        parsed, problem = controls.parse_losses(
            [k for k in values["losses"].split(",") if k], TASK_OF_VIEW[view]
        )
        if problem:
            notices.append(f"{problem} (from the link); using the default losses.")
        else:
            losses = parsed
    axis = _choice(values, "axis", controls.BINARY_AXES, state.axis, notices)
    panels = _choice(values, "panels", controls.BINARY_PANELS, state.panels, notices)
    logits = state.logits
    if "logits" in values:
        parsed_logits, problem = controls.parse_logits(values["logits"])
        if problem:
            notices.append(f"{problem} (from the link); using the default logits.")
        else:
            logits = parsed_logits
    state = ViewState(view, numbers, losses, axis, logits, panels, tuple(notices))
    return _check_classes(state)


def _check_classes(state: ViewState) -> ViewState:
    """Class indices from a link must exist among the link's logits."""
    if state.view != "multiclass":
        return state
    numbers = dict(state.numbers)
    notices = list(state.notices)
    classes = len(state.logits)
    for name in ("true_class", "swept_class"):
        if numbers[name] >= classes:
            notices.append(f"Class {numbers[name]} does not exist with {classes} logits; using 0.")
            numbers[name] = 0
    return replace(state, numbers=numbers, notices=tuple(notices))


def encode_query(state: ViewState) -> str:
    """The query string (with its leading '?') that ``parse_query`` turns back into ``state``."""
    pairs = [(name, controls.format_number(value)) for name, value in state.numbers.items()]
    pairs.append(("losses", ",".join(state.losses)))
    if state.axis is not None:
        pairs.append(("axis", state.axis))
    if state.panels is not None:
        pairs.append(("panels", state.panels))
    if state.logits is not None:
        pairs.append(("logits", ",".join(controls.format_number(z) for z in state.logits)))
    return "?" + urlencode(pairs, safe=",")


def _choice(values: dict[str, str], key: str, allowed: tuple[str, ...], default, notices: list[str]):
    """One of ``allowed`` from the link, or ``default`` with a notice naming the bad value."""
    if key not in values:
        return default
    if values[key] in allowed:
        return values[key]
    expected = " or ".join(repr(a) for a in allowed)
    notices.append(f"{key.capitalize()} {_shorten(values[key])!r} is unknown; expected {expected}.")
    return default


def _single(key: str, values: list[str], notices: list[str]) -> str:
    if len(values) > 1:
        notices.append(f"The setting {key!r} appears {len(values)} times; using the first.")
    return values[0]


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
