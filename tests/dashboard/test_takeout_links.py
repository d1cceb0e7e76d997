"""Links, as a user takes them out and puts them back: every view's state typed at the ends of what its
boxes accept comes back from its link bit for bit (the sign of a zero, 5e-324, 1e308, whole numbers as
whole numbers), a number pasted into a link as Python and the CSV write it (``1e+300``) is read as that
number, and a tampered link names what it ignored and keeps every other setting."""

from __future__ import annotations

import math
import struct
from urllib.parse import parse_qsl, quote

import pytest

from losslab.dashboard import callbacks, controls, views

SPECIALS = (5e-324, -5e-324, 1e-310, -0.0, 0.0, 2.2250738585072014e-308, 1e308, -1e308, 1.7976931348623157e308,
            0.30000000000000004, 1 - 2**-53, 999999.9999999999, -999999.9999999999)


def exact(value) -> tuple:
    """The value's type and bits (-0.0 and 0.0 differ here, unlike ==)."""
    return type(value), (value if isinstance(value, int) else struct.pack("<d", value))


def typed_values(control: controls.NumberControl) -> list[str]:
    """What a user can type into the box and the box accepts: the ends, their neighbours, special floats."""
    values = [*SPECIALS]
    for end in (control.smallest_accepted(), control.largest_accepted()):
        if end is not None:
            values += [end, math.nextafter(end, 0.0)]
    texts = {controls.format_number(v) for v in values}
    return sorted(text for text in texts if control.parse(text)[1] is None)


def typed_states(view):
    """(label, state) for each number control at each accepted special value, the others at their defaults,
    as the page reads them (``callbacks.read_state``: the view's own consistency checks included)."""
    default = view.default_state()
    raw = {c.name: controls.format_number(default.numbers[c.name]) for c in view.numbers}
    extras = {c.name: (c.display(v) if hasattr(c, "display") else v) for c in view.extras
              for v in [default.extras[c.name]]}
    for control in view.numbers:
        for text in typed_values(control):
            state, _ = callbacks.read_state(view, raw | {control.name: text}, list(view.loss_keys), **extras)
            if state is not None:
                yield f"{control.name}={text}", state


@pytest.mark.parametrize("name", views.names())
def test_a_typed_state_comes_back_from_its_link_bit_for_bit(name):
    view = views.get(name)
    checked = 0
    for label, state in typed_states(view):
        query = view.encode_query(state)
        back = view.parse_query(query)
        assert back.notices == (), f"{label}: {query} -> {back.notices}"
        assert back == state, label
        assert {k: exact(v) for k, v in back.numbers.items()} == {k: exact(v) for k, v in state.numbers.items()}, label
        assert view.encode_query(back) == query, label
        checked += 1
    assert checked >= 2 * len(view.numbers)


@pytest.mark.parametrize(("name", "extras"), [
    ("multiclass", {"logits": (1e6, -1e6, 0.0, -0.0, 5e-324, -5e-324, 1e-310, 0.30000000000000004, 3.0, -999999.5)}),
    ("multiclass", {"logits": (-0.0, 0.0)}),
    ("robust", {"moved": (0.0, 1e6, -1e6, 7.0, 5e-324, -0.0, 199.0, -5e-324, 0.1)}),
])
def test_typed_extras_come_back_from_the_link_bit_for_bit(name, extras):
    view = views.get(name)
    state = view.default_state().with_extras(**extras)
    back = view.parse_query(view.encode_query(state))
    assert back.notices == ()
    for key, value in extras.items():
        assert [exact(v) for v in back.extras[key]] == [exact(v) for v in value]


def pasted(control: controls.NumberControl) -> list[str]:
    """Accepted values whose Python text (what repr, the CSV and the shown code write) has an exponent sign."""
    return [text for text in ("1e+16", "1e+300", "1.7976931348623157e+308", "2.5E+7", "1e+06", "-1e+06", "1.5e+0")
            if control.parse(text)[1] is None]


@pytest.mark.parametrize("name", views.names())
def test_a_number_pasted_into_a_link_with_its_exponent_sign_is_read_as_typed(name):
    """``?delta=1e+300`` read as “1e 300” (a '+' in a query is a space to ``parse_qs``), so a number copied from
    the CSV or from Python into a link was refused with a notice quoting text the user never wrote."""
    view = views.get(name)
    for control in view.numbers:
        for text in pasted(control):
            state = view.parse_query(f"?{control.name}={text}")
            assert state.notices == (), f"{control.name}={text}: {state.notices}"
            assert exact(state.numbers[control.name]) == exact(control.parse(text)[0]), f"{control.name}={text}"


def test_exponent_signs_in_a_link_of_logits_and_moved_points():
    logits = views.parse_query("multiclass", "?logits=1e+5,-2.5E+2,0,+1")
    assert logits.notices == () and logits.logits == (1e5, -250.0, 0.0, 1.0)
    robust = views.parse_query("robust", "?moved=3:1e+2:-1E+3")
    assert robust.notices == () and robust.moved == (3.0, 100.0, -1000.0)


def test_a_plus_that_is_no_exponent_sign_is_still_a_space():
    """A space in a form-encoded link is '+': logits separated by spaces still read, and the only change is
    for a '+' right after the 'e' of a number."""
    assert views.parse_query("multiclass", "?logits=3+1+-2").logits == (3.0, 1.0, -2.0)
    assert views.parse_query("regression", "?target=+2").numbers["target"] == 2.0


@pytest.mark.parametrize("name", views.names())
def test_a_tampered_link_names_what_it_ignored_and_keeps_the_rest(name):
    """One setting garbled (as typed into the address bar: its '+' left raw), one unknown and one repeated:
    each gets a notice naming it, and every other setting of the link stays, bit for bit."""
    view = views.get(name)
    default = view.default_state()
    for label, state in list(typed_states(view))[:: max(1, len(view.numbers))]:
        key = label.partition("=")[0]
        other = next((c.name for c in view.numbers if c.name != key), None)
        pairs = parse_qsl(view.encode_query(state)[1:], keep_blank_values=True)
        tampered = "&".join(f"{k}=1e+300x" if k == other else f"{k}={quote(v, safe=',:;')}" for k, v in pairs)
        back = view.parse_query(f"?{tampered}&colour=%3Cb%3Ered&{key}=2")
        assert "Ignored the unknown setting “colour”." in back.notices, back.notices
        assert any(f"“{key}” appears 2 times" in n for n in back.notices), back.notices
        assert exact(back.numbers[key]) == exact(state.numbers[key]), label  # the first of the repeated key
        if other:
            assert any("“1e+300x” is not a number" in n for n in back.notices), back.notices
            assert exact(back.numbers[other]) == exact(default.numbers[other]), label
        kept = {k for k in state.numbers if k not in {key, other}}
        assert {k: exact(back.numbers[k]) for k in kept} == {k: exact(state.numbers[k]) for k in kept}, label
        assert back.losses == state.losses and back.extras == state.extras, label


@pytest.mark.parametrize("search", ["?=5", "?target=1&=", "?%20=1"])
def test_a_setting_without_a_name_gets_a_notice_that_says_so(search):
    """``?=5`` (a name cut off while editing the link) said: Ignored the unknown setting “”."""
    state = views.parse_query("regression", search)
    assert state.notices == ("Ignored a setting with no name.",)
    assert state.numbers["target"] == (1.0 if "target" in search else 0.0)
