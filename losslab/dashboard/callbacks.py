"""Thin Dash callbacks: parse the controls, call the view's pure functions, return what changed.

One routing callback, and for every registered view one control callback,
one click callback and the slider mirrors, all wired from the ``View``
interface: nothing here asks which view it holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from dash import ClientsideFunction, Input, Output, State, ctx, dcc, no_update
from dash._no_update import NoUpdate
from dash._utils import to_json
from dash.exceptions import PreventUpdate
from flask import Response

from losslab.dashboard import controls, ids, layout, tables, views
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views.base import UpdatePlan, View, ViewOutput, family


def route(pathname: str | None, search: str | None):
    """The view for a URL path, with its state from the query string, and any notice about the link."""
    pathname = pathname if isinstance(pathname, str) else "/"
    search = search if isinstance(search, str) else ""
    view = views.by_path(pathname)
    if view is None:
        return layout.not_found(pathname or ""), "", layout.nav_links(views.VIEWS, None)
    state = view.parse_query(search)
    notice = " ".join(state.notices)
    if notice:
        notice = f"Some settings in the link were not used: {notice}"
    return layout.view_layout(view, state, view.build(state)), notice, layout.nav_links(views.VIEWS, view.name)


@functools.lru_cache(maxsize=32)
def page_answer(pathname: str | None, search: str | None) -> tuple:
    """:func:`route`'s answer in Dash's wire format, kept for the most recent URLs.

    A page is a pure function of its URL, and most page loads repeat one: a lecture's shared link,
    a reload (the URL holds the current state), a view's bare path from the navigation. The wire
    form also spares plotly's Python fallback encoder, which a component object in the answer
    would send the whole page through. The cached trees are never modified: Dash only reads them.
    """
    return tuple(tables.wire(part) for part in route(pathname, search))


def read_state(view: View | str, raw_numbers: dict, losses, triggered: frozenset[str] = frozenset(), **raw_extras):
    """``(state, messages)``: the state if every control is valid (else None), and a message per control.

    Controls the view corrected after a change to ``triggered`` (see ``View.reconcile_input``) get their
    note as message, under ``"note:<name>"``, and their new value under ``"value:<name>"``.
    """
    view = views.get(view) if isinstance(view, str) else view
    messages: dict[str, str] = {}
    numbers = {}
    for control in view.numbers:
        value, problem = control.parse(raw_numbers.get(control.name))
        numbers[control.name] = value
        if problem:
            messages[control.name] = problem
    parsed_losses, problem = controls.parse_losses(losses, view.loss_keys)
    if problem:
        messages["losses"] = problem
    extras = {}
    for control in view.extras:
        value, problem = control.parse(raw_extras.get(control.name))
        extras[control.name] = value
        if problem:
            messages[control.name] = problem
    numbers, notes = view.reconcile_input(numbers, extras, triggered)
    messages |= view.cross_check(numbers, extras, raw_numbers)
    corrections = {f"note:{name}": note for name, note in notes.items()}
    corrections |= {f"value:{name}": numbers[name] for name in notes}
    if messages:
        return None, messages | corrections
    return ViewState(view.name, numbers, parsed_losses, extras), corrections


def figure_update(figure: dict, plan: UpdatePlan):
    """The whole figure, or a Patch carrying only the traces and marker that changed.

    The Patch is written in the JSON form the renderer receives (:func:`patch_json`), the form
    ``dash.Patch.to_plotly_json`` gives, so orjson serialises the whole response: the same
    operations in the same order, without a ``Patch`` proxy object per location.
    """
    if plan.full:
        return figure
    operations: list[dict] = []
    assign = functools.partial(_operation, operations, "Assign")
    yaxis = figure["layout"].get("yaxis", {})
    if "autorange" in yaxis:  # figures.scalable_y: a fixed range for values all near 0, autorange otherwise
        assign(["layout", "yaxis", "autorange"], yaxis["autorange"])
        if "range" in yaxis:
            assign(["layout", "yaxis", "range"], yaxis["range"])
        else:
            operations.append({"operation": "Delete", "location": ["layout", "yaxis", "range"], "params": {}})
    if plan.replace_traces:
        assign(["data"], figure["data"])
        assign(["layout", "shapes"], figure["layout"]["shapes"])
        return patch_json(operations)
    for index, trace in enumerate(figure["data"]):
        role = trace.get("meta")
        if isinstance(role, str) and role.startswith("fd:"):
            role = role[3:]  # a gradient check's overlay is redrawn with its loss
        if role == "marker":
            assign(["data", index], trace)
            continue
        if role in plan.redraw:
            assign(["data", index, "y"], trace["y"])
        if plan.shift or role in plan.redraw:
            assign(["data", index, "x0"], trace["x0"])
            assign(["data", index, "dx"], trace["dx"])
    if plan.shift and "autorangeoptions" in figure["layout"]["xaxis"]:
        # Only the autorange limits move: a user's zoom (autorange off) is kept.
        assign(["layout", "xaxis", "autorangeoptions"], figure["layout"]["xaxis"]["autorangeoptions"])
    assign(["layout", "shapes"], figure["layout"]["shapes"])
    return patch_json(operations)


def _operation(operations: list, name: str, location: list, value) -> None:
    operations.append({"operation": name, "location": location, "params": {"value": value}})


def patch_json(operations: list[dict]) -> dict:
    """``dash.Patch`` operations in the JSON form the renderer receives (``Patch.to_plotly_json``)."""
    return {"__dash_patch_update": "__dash_patch_update", "operations": operations}


def message_keys(view: View) -> list[str]:
    """The inline-message outputs of a view's controls: every number control, the losses, boxed extras."""
    return ([f"message:{c.name}" for c in view.numbers] + ["message:losses"]
            + [f"message:{c.name}" for c in view.extras if c.has_message])


def chart_keys(view: View) -> list[str]:
    return ["loss_figure", "grad_figure", "readout", "formulas", "query", *view.extra_outputs,
            *(["code"] if has_code(view) else [])]


@functools.cache
def has_code(view: View) -> bool:
    return view.code_snippet(view.default_state()) is not None


def update_view(view: View | str, raw_numbers: dict, losses, previous_query: str | None,
                triggered: frozenset[str] = frozenset(), **raw_extras):
    """Everything a view's main callback returns, as a dict keyed by output name.

    ``triggered`` names the controls whose change fired the callback (number or extra names).
    """
    view = views.get(view) if isinstance(view, str) else view
    state, messages = read_state(view, raw_numbers, losses, triggered, **raw_extras)
    result = {key: messages.get(key.removeprefix("message:")) or messages.get("note:" + key.removeprefix("message:"), "")
              for key in message_keys(view)}
    result |= {f"value:{name}": (controls.format_number(messages[f"value:{name}"])
                                 if f"value:{name}" in messages else no_update)
               for name in view.corrected_controls}
    if state is None:
        return result | dict.fromkeys(chart_keys(view), no_update)
    previous = view.parse_query(previous_query) if previous_query else None
    plan = view.plan(previous, state)
    if state.extras.get(controls.Y_SCALE.name) == "log" and (plan.redraw or plan.shift or plan.replace_traces):
        plan = UpdatePlan(full=True)  # new curves on a log axis may need new ticks (the symlog threshold)
    output: ViewOutput = view.build(state)
    result |= {f"message:{name}": note for name, note in view.idle_control_notes(state, triggered).items()
               if f"message:{name}" in result and not result[f"message:{name}"]}
    result |= {
        "loss_figure": figure_update(output.loss_figure, plan),
        "grad_figure": figure_update(output.grad_figure, plan),
        "readout": view.readout_component(output),
        "formulas": output.formulas if formulas_changed(view, previous, output, plan) else no_update,
        "query": output.query,
        "message:losses": output.extras.get("losses_note", ""),
        **view.output_values(output, plan),
    }
    if has_code(view):
        result["code"] = view.code(state, output)
    return result


def formulas_changed(view: View, previous: ViewState | None, output: ViewOutput, plan: UpdatePlan) -> bool:
    """Whether to resend the formulas. A full redraw (an axis or scale choice) usually leaves them as they
    are, and resending the same formulas makes MathJax typeset them again: a typeset that overlaps
    another draws NaN-sized formulas (console errors in Chromium). So a full redraw compares with the
    previous state's formulas (one more build, only on these rare changes)."""
    if not (plan.full or plan.replace_traces):
        return False
    if previous is None or previous.view != view.name or plan.replace_traces:
        return True
    return view.build(previous).formulas != output.formulas


def register(app) -> None:
    app.callback(
        Output(ids.Page.CONTENT, "children"),
        Output(ids.Page.URL_NOTICE, "children"),
        Output(ids.Page.NAV, "children"),
        Input(ids.Page.LOCATION, "pathname"),
        Input(ids.Page.LOCATION, "search"),
    )(page_answer)
    for view in views.VIEWS:
        _register_view(app, view)


def _outputs(view: View) -> dict[str, Output]:
    view_ids = view.ids
    outputs = {
        "loss_figure": Output(view_ids.LOSS_GRAPH, "figure"),
        "grad_figure": Output(view_ids.GRAD_GRAPH, "figure"),
        "readout": Output(view_ids.READOUT, "children"),
        "formulas": Output(view_ids.FORMULAS, "children"),
        "query": Output(view_ids.URL_SYNC, "data"),
    }
    outputs |= {key: Output(out.component_id, out.prop) for key, out in view.extra_outputs.items()}
    outputs |= {key: Output(ids.number_message(view.name, key.removeprefix("message:")), "children")
                for key in message_keys(view)}
    outputs["message:losses"] = Output(view_ids.LOSSES_MESSAGE, "children")
    outputs |= {f"value:{name}": Output(ids.number_input(view.name, name), "value")
                for name in view.corrected_controls}
    if has_code(view):
        outputs["code"] = Output(view_ids.CODE, "children")
    return outputs


def _register_view(app, view: View) -> None:
    outputs = _outputs(view)
    keys = list(outputs)
    names = [c.name for c in view.numbers]
    extra_names = [c.name for c in view.extras]

    control_of_input = {ids.number_input(view.name, name): name for name in names}
    control_of_input |= {c.input_id(view.name): c.name for c in view.extras}

    def answer(args, triggered: frozenset[str]) -> tuple:
        raw_numbers = dict(zip(names, args[: len(names)], strict=True))
        losses = args[len(names)]
        raw_extras = dict(zip(extra_names, args[len(names) + 1 : -1], strict=True))
        result = update_view(view, raw_numbers, losses, args[-1], triggered, **raw_extras)
        return tuple(result[key] for key in keys)

    def on_control_change(*args):
        return answer(args, frozenset(control_of_input.get(str(i), "") for i in ctx.triggered_prop_ids.values()))

    before = set(app.callback_map)
    app.callback(
        [outputs[key] for key in keys],
        [Input(ids.number_input(view.name, name), "value") for name in names],
        Input(view.ids.LOSSES, "value"),
        *[Input(c.input_id(view.name), "value") for c in view.extras],
        State(view.ids.URL_SYNC, "data"),
        prevent_initial_call=True,
    )(on_control_change)
    (callback_id,) = set(app.callback_map) - before
    fast_callbacks(app)[callback_id] = FastCallback(
        tuple((outputs[key].component_id, outputs[key].component_property) for key in keys), answer,
        control_of_input)

    for control in view.numbers:
        if control.has_slider:
            _register_slider_mirror(app, view, control)
    _register_motion(app, view)
    _register_csv(app, view)
    app.clientside_callback(
        ClientsideFunction("losslab", "replaceQuery"),
        Input(view.ids.URL_SYNC, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(  # an output in the page, so Dash calls it as the page arrives
        ClientsideFunction("losslab", "fixLink"),
        Output(view.ids.LINK_FIX, "data"),
        Input(view.ids.LINK_FIX, "data"),
    )
    _register_clicks(app, view)


# ---------------------------------------------------------------- the control callbacks, answered directly


@dataclass(frozen=True)
class FastCallback:
    """A view's control callback as :func:`answer_directly` calls it: its outputs ``(id, property)`` in
    order, ``answer(args, triggered)`` and the control name of each input id."""

    outputs: tuple[tuple[str, str], ...]
    answer: Callable
    control_of_input: dict[str, str]


def fast_callbacks(app) -> dict[str, FastCallback]:
    """The app's control callbacks by callback id (the ``output`` a request names)."""
    if not hasattr(app, "losslab_fast_callbacks"):
        app.losslab_fast_callbacks = {}
    return app.losslab_fast_callbacks


def answer_directly(app, body) -> Response | None:
    """The answer Dash would give a control callback's request, without Dash's generic dispatch.

    For a request that :func:`losslab.dashboard.security.callback_request_problem` has accepted (so its
    outputs, inputs and state are the callback's, in order, none a pattern): the callback's arguments
    are the inputs' and state's values, the triggering controls come from ``changedPropIds`` (as
    ``ctx.triggered_prop_ids``), and the answer is the JSON Dash writes, ``{"multi": true, "response":
    {id: {property: value}}}`` without the no_update outputs, through the same encoder. An exception
    goes to the same error handler as Dash's ``on_error``; all outputs no_update is answered with an
    empty response, as Dash does for a callback that has outputs. Dash's dispatch (request context
    object, argument grouping, output validation) cost about as much as the trivial callback's whole
    request. None: not a control callback (Dash answers).
    """
    fast = fast_callbacks(app).get(body.get("output")) if isinstance(body, dict) else None
    if fast is None:
        return None
    args = [item.get("value") for item in body["inputs"]] + [item.get("value") for item in body.get("state", [])]
    triggered = frozenset(fast.control_of_input.get(prop_id.rpartition(".")[0], "")
                          for prop_id in body.get("changedPropIds", []))
    try:
        values = fast.answer(args, triggered)
    except PreventUpdate:
        raise
    except Exception as error:
        if app._on_error is None:
            raise
        values = app._on_error(error)  # security.on_callback_error: logs it and raises the 422
        if values is None:
            raise PreventUpdate from error
    response: dict[str, dict] = {}
    for (component_id, prop), value in zip(fast.outputs, values, strict=True):
        if not NoUpdate.is_no_update(value):
            response.setdefault(component_id, {})[prop] = value
    answer = Response(content_type="application/json")
    answer.set_data(to_json({"multi": True, "response": response}))
    return answer


def _register_slider_mirror(app, view: View, control: controls.NumberControl) -> None:
    slider, box = ids.number_slider(view.name, control.name), ids.number_input(view.name, control.name)
    app.clientside_callback(
        ClientsideFunction("losslab", "syncLog10" if control.log_scale else "syncLinear"),
        Output(slider, "value"),
        Output(box, "value"),
        Input(slider, "value"),
        Input(box, "value"),
        State(slider, "min"),
        State(slider, "max"),
        State(box, "min"),
        State(box, "max"),
        prevent_initial_call=True,
    )


def motion_family(view: View, request, query):
    """The frames of one slider for the browser (see ``views.base.family``); no_update for a bad request."""
    name = request.get("control") if isinstance(request, dict) else None
    if name not in view.motion_controls or not isinstance(query, str):
        return no_update
    return family_of(view.name, query, name)


@functools.lru_cache(maxsize=8)  # a family is 0.1 to 3 MB in memory
def family_of(view_name: str, query: str, name: str) -> dict:
    """:func:`family` for a view's URL state, kept for the most recent ones: a family takes 0.1 to 1.3 s,
    and a lecture's shared link brings many browsers to the same state and the same sliders."""
    view = views.get(view_name)
    return family(view, view.parse_query(query), name)


def _register_motion(app, view: View) -> None:
    if not view.motion_controls:
        return
    app.callback(
        Output(view.ids.FAMILY, "data"),
        Input(view.ids.FAMILY_REQUEST, "data"),
        State(view.ids.URL_SYNC, "data"),
        prevent_initial_call=True,
    )(lambda request, query: motion_family(view, request, query))
    # A drag is followed in the browser from the slider handle itself (assets/losslab.js), not
    # through a callback on drag_value, which cost the Dash renderer about 25 ms a pointer move.
    app.clientside_callback(
        ClientsideFunction("losslab", "receiveFamily"), Input(view.ids.FAMILY, "data"), prevent_initial_call=True,
    )


def csv_download(view: View, query):
    """The plotted curves of the state in ``query`` as a download (no_update for a bad query)."""
    if not isinstance(query, str):
        return no_update
    return dcc.send_string(view.export_csv(view.parse_query(query)), filename=f"losslab-{view.name}.csv",
                           type="text/csv")


def _register_csv(app, view: View) -> None:
    app.callback(
        Output(view.ids.DOWNLOAD, "data"),
        Input(view.ids.CSV_BUTTON, "n_clicks"),
        State(view.ids.URL_SYNC, "data"),
        prevent_initial_call=True,
    )(lambda _clicks, query: csv_download(view, query))


def _register_clicks(app, view: View) -> None:
    """A single click on a sweep chart (a double-click resets the zoom and is not a click:
    assets/losslab.js writes ``CHART_CLICK`` only once the double-click window has passed)."""
    action = view.click_action()
    if action is None:
        return
    app.callback(
        Output(action.target_id, "value"),
        Input(view.ids.CHART_CLICK, "data"),
        *[State(state_id, "value") for state_id in action.state_ids],
        prevent_initial_call=True,
    )(action.apply)
