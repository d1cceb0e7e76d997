"""A view's whole state as a URL query string, and back.

``?target=0&prediction=1.5&delta=1&losses=mse,huber`` reopens the
regression view exactly. Parsing never raises: an unknown key, a repeated
key or a bad value falls back to the default and adds a notice saying what
was ignored. Notices are plain text (Dash renders them as text, never HTML).

Nothing here knows a particular view: the keys a view accepts are its number
controls, ``losses`` and its extra controls (see :mod:`losslab.dashboard.views.base`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from losslab.dashboard import controls

if TYPE_CHECKING:
    from losslab.dashboard.views.base import View

MAX_QUERY_LENGTH = 2000
MAX_NAMED_UNKNOWN = 5
# Page settings every view accepts and ignores: the browser applies them (present=1, presenting mode).
PAGE_KEYS = frozenset({"present"})
# A '+' right after the "e" of a number is its exponent's sign (1e+300, as Python, the CSV and the shown code
# write it, pasted into a link), not a space: form decoding (parse_qs) read "1e 300" and refused it.
_EXPONENT_SIGN = re.compile(r"(?<=[0-9.][eE])\+(?=[0-9])")
# What urlencode(..., safe=",") leaves as it is: letters, digits, "_.-~" and the comma.
_UNESCAPED = re.compile(r"[A-Za-z0-9_.\-~,]*\Z")


@dataclass(frozen=True)
class ViewState:
    """Everything a view shows is a function of this.

    ``numbers`` holds the number controls, ``extras`` the view's other controls
    (``state.axis``, ``state.logits``... read them as attributes).
    """

    view: str
    numbers: dict[str, float]
    losses: tuple[str, ...]
    extras: dict[str, Any] = field(default_factory=dict)
    notices: tuple[str, ...] = field(default=(), compare=False)

    def number(self, name: str) -> float:
        return self.numbers[name]

    def __getattr__(self, name: str):
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"{type(self).__name__} of view {self.__dict__.get('view')!r} has no {name!r}")

    def with_extras(self, **changes) -> ViewState:
        return replace(self, extras={**self.extras, **changes})


def default_state(view: View) -> ViewState:
    return ViewState(
        view=view.name,
        numbers={c.name: c.default for c in view.numbers},
        losses=view.default_losses,
        extras={c.name: c.default for c in view.extras},
    )


def parse_query(view: View, search: str | None) -> ViewState:
    """The state a query string asks for, defaults where it is missing or wrong."""
    state = default_state(view)
    search = search.lstrip("?") if isinstance(search, str) else ""
    if not search:
        return state
    if len(search) > MAX_QUERY_LENGTH:
        return replace(state, notices=(f"The link's settings are {len(search)} characters long "
                                       f"(at most {MAX_QUERY_LENGTH}); showing the defaults.",))
    query = parse_qs(_EXPONENT_SIGN.sub("%2B", search), keep_blank_values=True)
    notices: list[str] = []
    known = {c.name for c in (*view.numbers, *view.extras)} | {"losses"}
    unknown = sorted(set(query) - known - PAGE_KEYS)
    # A few names, then a count: a link of 300 unknown keys made a notice of 10,000 characters.
    for key in unknown[:MAX_NAMED_UNKNOWN]:
        # "?=5" (a name cut off while editing the link) once read: Ignored the unknown setting “”.
        notices.append(f"Ignored the unknown setting “{_shorten(key)}”." if key.strip() else
                       "Ignored a setting with no name.")
    if len(unknown) > MAX_NAMED_UNKNOWN:
        notices.append(f"Ignored {len(unknown) - MAX_NAMED_UNKNOWN} more unknown settings.")
    values = {key: _single(key, query[key], notices) for key in query if key in known}
    numbers = dict(state.numbers)
    for control in view.numbers:
        if control.name in values:
            value, problem = control.parse(values[control.name])
            if problem:
                notices.append(f"{problem} (from the link); using {controls.format_number(control.default)}.")
            else:
                numbers[control.name] = value
    losses = state.losses
    if "losses" in values:
        names = [k for k in values["losses"].split(",") if k]
        parsed, problem = controls.parse_losses(names, view.loss_keys)
        if problem:
            # the names this view offers are kept, as every good setting of a link is
            kept = controls.parse_losses([k for k in names if k in controls.offered_losses(view.loss_keys)],
                                         view.loss_keys)[0]
            losses = kept or losses
            notices.append(f"{problem} (from the link); using {', '.join(kept) if kept else 'the default losses'}.")
        else:
            losses = parsed
    extras = dict(state.extras)
    for control in view.extras:
        if control.name in values:
            value, problem = control.parse(values[control.name])
            if problem:
                notices.append(f"{problem} (from the link); using the default.")
            else:
                extras[control.name] = value
    state = ViewState(view.name, numbers, losses, extras, tuple(notices))
    return view.reconcile_link(state)


def encode_query(state: ViewState, view: View) -> str:
    """The query string (with its leading '?') that ``parse_query`` turns back into ``state``."""
    pairs = [(name, controls.format_number(value)) for name, value in state.numbers.items()]
    pairs.append(("losses", ",".join(state.losses)))
    pairs += [(c.name, c.format(state.extras[c.name])) for c in view.extras]
    if all(isinstance(text, str) and _UNESCAPED.match(name) and _UNESCAPED.match(text) for name, text in pairs):
        # numbers, loss keys and choices need no escaping: urlencode's percent-encoding was most of the cost
        return "?" + "&".join(f"{name}={text}" for name, text in pairs)
    return "?" + urlencode(pairs, safe=",")


def _single(key: str, values: list[str], notices: list[str]) -> str:
    if len(values) > 1:
        notices.append(f"The setting “{key}” appears {len(values)} times; using the first.")
    return values[0]


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
