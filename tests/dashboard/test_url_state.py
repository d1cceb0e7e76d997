"""URL query <-> ViewState (``losslab.dashboard.url_state``): round trips and hostile links."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losslab.dashboard import controls, url_state, views
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views import encode_query, parse_query

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def finite(low, high, *, exclude_low=False, exclude_high=False):
    return st.floats(low, high, allow_nan=False, allow_infinity=False,
                     exclude_min=exclude_low, exclude_max=exclude_high)


def loss_subsets(view):
    keys = list(views.get(view).loss_keys)
    return st.sets(st.sampled_from(keys), min_size=1).map(lambda chosen: tuple(k for k in keys if k in chosen))


@st.composite
def regression_states(draw):
    numbers = {
        "target": draw(finite(-1e6, 1e6)),
        "prediction": draw(finite(-1e6, 1e6)),
        "delta": draw(finite(0, 1e300, exclude_low=True)),
        "tau": draw(finite(0, 1, exclude_low=True, exclude_high=True)),
        "beta": draw(finite(0, 1e300)),
        "var": draw(finite(0, 1e300, exclude_low=True)),
    }
    return replace(views.default_state("regression"), numbers=numbers, losses=draw(loss_subsets("regression")))


@st.composite
def binary_states(draw):
    numbers = {
        "label": draw(finite(0, 1)),
        "probability": draw(finite(0, 1, exclude_low=True, exclude_high=True)),
        "gamma": draw(finite(0, 1e300)),
    }
    state = replace(views.default_state("binary"), numbers=numbers, losses=draw(loss_subsets("binary")))
    return state.with_extras(axis=draw(st.sampled_from(("logit", "prob"))),
                             panels=draw(st.sampled_from(("columns", "overlay"))))


@st.composite
def multiclass_states(draw):
    logits = tuple(draw(st.lists(finite(-1e6, 1e6), min_size=2, max_size=10)))
    numbers = {
        "true_class": draw(st.integers(0, len(logits) - 1)),
        "temperature": draw(finite(0.01, 100)),
        "swept_class": draw(st.integers(0, len(logits) - 1)),
        "smoothing": draw(finite(0, 1)),
        "class_weight": draw(finite(0, 1e300)),
    }
    return replace(views.default_state("multiclass"), numbers=numbers,
                   losses=draw(loss_subsets("multiclass"))).with_extras(logits=logits)


ANY_STATE = st.one_of(regression_states(), binary_states(), multiclass_states())


@FAST
@given(ANY_STATE)
def test_encode_then_parse_gives_back_the_state(state):
    query = encode_query(state)
    assert query.startswith("?")
    assert len(query) <= url_state.MAX_QUERY_LENGTH
    parsed = parse_query(state.view, query)
    assert parsed.notices == ()
    assert parsed == state
    assert set(parsed.numbers) == set(state.numbers)
    for name, value in state.numbers.items():  # exact bits, not just ==
        assert repr(parsed.numbers[name]) == repr(value) or parsed.numbers[name] == value == 0
    # encoding is stable
    assert encode_query(parsed) == query


@pytest.mark.parametrize("view", ["regression", "binary", "multiclass"])
def test_defaults_round_trip_and_empty_query_is_default(view):
    default = views.default_state(view)
    for search in (None, "", "?"):
        state = parse_query(view, search)
        assert state == default and state.notices == ()
    assert parse_query(view, encode_query(default)) == default


def test_partial_query_keeps_defaults_for_the_rest():
    state = parse_query("regression", "?target=2&losses=huber")
    expected_numbers = dict(views.default_state("regression").numbers, target=2.0)
    assert state.numbers == expected_numbers
    assert state.losses == ("huber",)
    assert state.notices == ()


def test_query_without_leading_question_mark_and_percent_escapes():
    state = parse_query("binary", "label=1&probability=0.25&axis=prob&losses=bce%2Cfocal")
    assert state.numbers["label"] == 1.0 and state.numbers["probability"] == 0.25
    assert state.axis == "prob" and state.losses == ("bce", "focal")
    assert state.notices == ()


def _assert_defaults_with_notices(state: ViewState, view: str, count: int | None = None):
    default = views.default_state(view)
    assert state == default
    assert state.notices
    assert all(type(n) is str for n in state.notices)
    if count is not None:
        assert len(state.notices) == count


@pytest.mark.parametrize(
    ("view", "search", "fragment"),
    [
        ("regression", "?colour=red", "unknown setting “colour”"),
        ("regression", "?Target=1", "unknown setting “Target”"),
        ("regression", "?axis=prob", "unknown setting “axis”"),
        ("regression", "?logits=1,2", "unknown setting “logits”"),
        ("binary", "?delta=2", "unknown setting “delta”"),
        ("regression", "?target=abc", "“abc” is not a number"),
        ("regression", "?target=", "empty"),
        ("regression", "?target", "empty"),
        ("regression", "?target=nan", "not a finite number"),
        ("regression", "?target=1e400", "not a finite number"),
        ("regression", "?target=1e7", "out of range"),
        ("regression", "?prediction=-1e300", "out of range"),
        ("regression", "?delta=0", "out of range"),
        ("regression", "?tau=1", "out of range"),
        ("binary", "?probability=1", "out of range"),
        ("binary", "?label=2", "out of range"),
        ("binary", "?axis=z", "x axis: “z” is unknown"),
        ("binary", "?losses=mse", "no loss called “mse”"),
        ("binary", "?losses=", "nothing is selected"),
        ("binary", "?losses=,,", "nothing is selected"),
        ("multiclass", "?temperature=0", "out of range"),
        ("multiclass", "?true_class=1.5", "whole number"),
        ("multiclass", "?swept_class=-1", "out of range"),
        ("multiclass", "?logits=1", "got 1 value(s)"),
        ("multiclass", "?logits=1,,2", "empty entry"),
        ("multiclass", "?logits=1e7,0", "beyond ±1e6"),
        ("multiclass", "?logits=" + ",".join(["1"] * 11), "got 11 value(s)"),
    ],
)
def test_bad_link_falls_back_to_defaults_with_a_notice(view, search, fragment):
    state = parse_query(view, search)
    _assert_defaults_with_notices(state, view, count=1)
    assert fragment in state.notices[0]


def test_good_settings_survive_next_to_bad_ones():
    state = parse_query("regression", "?target=abc&prediction=3&bogus=1")
    assert state.numbers["target"] == 0.0  # default
    assert state.numbers["prediction"] == 3.0
    assert len(state.notices) == 2


def test_repeated_key_uses_first_with_notice():
    state = parse_query("regression", "?target=2&target=3&target=4")
    assert state.numbers["target"] == 2.0
    assert len(state.notices) == 1
    assert "“target” appears 3 times" in state.notices[0]


def test_huge_values_are_rejected_not_overflowed():
    big = "9" * 500
    state = parse_query("regression", f"?target={big}&delta=1e309")
    _assert_defaults_with_notices(state, "regression", count=2)
    assert all(len(n) < 300 for n in state.notices)


def test_unicode_in_keys_and_values():
    search = "?" + quote("ünïcødé") + "=1&target=" + quote("−2") + "&prediction=" + quote("三")
    state = parse_query("regression", search)
    assert state.numbers["target"] == -2.0  # the unicode minus is accepted
    assert state.numbers["prediction"] == views.default_state("regression").numbers["prediction"]
    assert len(state.notices) == 2
    assert any("ünïcødé" in n for n in state.notices)
    assert all(type(n) is str for n in state.notices)


def test_script_payload_is_plain_text_notice():
    payload = quote("<script>alert(1)</script>")
    state = parse_query("regression", f"?target={payload}&{payload}=1")
    _assert_defaults_with_notices(state, "regression", count=2)
    assert any("<script>" in n for n in state.notices)  # quoted as text, rendered by Dash as text


def test_over_length_query_gives_defaults_and_one_notice():
    search = "?target=1&" + "x" * (url_state.MAX_QUERY_LENGTH + 10)
    state = parse_query("regression", search)
    _assert_defaults_with_notices(state, "regression", count=1)
    assert str(url_state.MAX_QUERY_LENGTH) in state.notices[0]
    assert str(len(search) - 1) in state.notices[0]


def test_query_exactly_at_the_limit_is_parsed():
    filler = "&" * (url_state.MAX_QUERY_LENGTH - len("target=2"))
    state = parse_query("regression", "?target=2" + filler)
    assert state.numbers["target"] == 2.0 and state.notices == ()


@pytest.mark.parametrize(
    ("search", "true_class", "swept", "notices"),
    [
        ("?logits=1,2&true_class=5", 0, 0, 1),
        ("?logits=1,2&swept_class=2", 0, 0, 1),
        ("?logits=1,2,3&true_class=2&swept_class=2", 2, 2, 0),
        ("?logits=1,2&true_class=9&swept_class=9", 0, 0, 2),
        ("?true_class=3", 3, 0, 0),  # default logits have 4 entries
        ("?true_class=4", 0, 0, 1),
    ],
)
def test_multiclass_class_index_must_exist_among_logits(search, true_class, swept, notices):
    state = parse_query("multiclass", search)
    assert state.numbers["true_class"] == true_class
    assert state.numbers["swept_class"] == swept
    assert len(state.notices) == notices
    assert state.numbers["true_class"] < len(state.logits)
    assert state.numbers["swept_class"] < len(state.logits)
    if notices:
        assert "does not exist" in state.notices[-1]


@FAST
@given(view=st.sampled_from(["regression", "binary", "multiclass"]), search=st.text(max_size=300))
def test_parse_query_never_raises_and_always_gives_a_valid_state(view, search):
    state = parse_query(view, search)
    assert all(type(n) is str for n in state.notices)
    for control in views.get(view).numbers:
        value = state.numbers[control.name]
        assert control.parse(controls.format_number(value))[1] is None, (control.name, value)
    assert controls.parse_losses(list(state.losses), view)[1] is None
    if view == "binary":
        assert state.axis in ("logit", "prob")
    if view == "multiclass":
        assert controls.parse_logits(controls.format_logits(state.logits))[1] is None
        assert state.numbers["true_class"] < len(state.logits)
        assert state.numbers["swept_class"] < len(state.logits)


@FAST
@given(
    view=st.sampled_from(["regression", "binary", "multiclass"]),
    pairs=st.lists(
        st.tuples(st.sampled_from(["target", "prediction", "delta", "tau", "label", "probability", "gamma",
                                   "true_class", "temperature", "swept_class", "losses", "axis", "logits", "x"]),
                  st.text(max_size=20)),
        max_size=8,
    ),
)
def test_structured_hostile_queries_never_raise(view, pairs):
    search = "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)
    state = parse_query(view, search)
    assert all(type(n) is str for n in state.notices)
    if view == "multiclass":
        assert state.numbers["true_class"] < len(state.logits)
