"""Callbacks: parse the controls, call the pure view functions, return figures or Patches.

Each callback body is an ordinary function below (``route``,
``update_view``, ``prediction_from_click``, ...) that unit tests call
directly. No maths happens here, and no callback raises on user input: a
bad value becomes an inline message and the last good charts stay.
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, Patch, State, ctx, no_update

from losslab.curves import to_probability
from losslab.dashboard import controls, ids, layout, tables
from losslab.dashboard.url_state import ViewState, parse_query
from losslab.dashboard.views import VIEW_BUILDERS, UpdatePlan, ViewOutput, update_plan

VIEW_IDS = {"regression": ids.Regression, "binary": ids.Binary, "multiclass": ids.Multiclass}
VIEW_OF_PATH = {path: view for view, path in layout.PATHS.items()} | {"/": "regression", "": "regression"}
CLICK_DECIMALS = 3


def route(pathname: str | None, search: str | None):
    """The view for a URL path, with its state from the query string, and any notice about the link."""
    pathname = pathname if isinstance(pathname, str) else "/"
    search = search if isinstance(search, str) else ""
    view = VIEW_OF_PATH.get(pathname.rstrip("/") or "/")
    if view is None:
        return layout.not_found(pathname or ""), "", layout.nav_links(None)
    state = parse_query(view, search)
    notice = " ".join(state.notices)
    if notice:
        notice = f"Some settings in the link were not used: {notice}"
    return layout.view_layout(state, VIEW_BUILDERS[view](state)), notice, layout.nav_links(view)


def read_state(view: str, raw_numbers: dict, losses, axis=None, logits_text=None, panels=None):
    """``(state, messages)``: the state if every control is valid (else None), and a message per control."""
    messages: dict[str, str] = {}
    numbers = {}
    for control in controls.CONTROLS[view]:
        value, problem = control.parse(raw_numbers.get(control.name))
        numbers[control.name] = value
        if problem:
            messages[control.name] = problem
    parsed_losses, problem = controls.parse_losses(losses, view)
    if problem:
        messages["losses"] = problem
    logits = None
    if view == "multiclass":
        logits, problem = controls.parse_logits(logits_text)
        if problem:
            messages["logits"] = problem
        else:
            for name in ("true_class", "swept_class"):
                if numbers[name] is not None and numbers[name] >= len(logits):
                    label = controls.control(view, name).label
                    messages[name] = f"{label}: class {numbers[name]} does not exist; expected 0 to {len(logits) - 1}"
    if view == "binary" and axis not in controls.BINARY_AXES:
        messages["axis"] = f"x axis: {axis!r} is unknown; expected one of {controls.BINARY_AXES}"
    if view == "binary" and panels not in controls.BINARY_PANELS:
        messages["panels"] = f"Panels: {panels!r} is unknown; expected one of {controls.BINARY_PANELS}"
    if messages:
        return None, messages
    return ViewState(view, numbers, parsed_losses, axis, logits, panels), messages


def figure_update(figure: dict, plan: UpdatePlan):
    """The whole figure, or a Patch carrying only the traces and marker that changed."""
    if plan.full:
        return figure
    patch = Patch()
    if plan.replace_traces:
        patch["data"] = figure["data"]
        patch["layout"]["shapes"] = figure["layout"]["shapes"]
        return _wire(patch)
    for index, trace in enumerate(figure["data"]):
        role = trace.get("meta")
        if role == "marker":
            patch["data"][index] = trace
            continue
        if role in plan.redraw:
            patch["data"][index]["y"] = trace["y"]
        if plan.shift or role in plan.redraw:
            patch["data"][index]["x0"] = trace["x0"]
            patch["data"][index]["dx"] = trace["dx"]
    if plan.shift and "autorangeoptions" in figure["layout"]["xaxis"]:
        # Only the autorange limits move: a user's zoom (autorange off) is kept.
        patch["layout"]["xaxis"]["autorangeoptions"] = figure["layout"]["xaxis"]["autorangeoptions"]
    patch["layout"]["shapes"] = figure["layout"]["shapes"]
    return _wire(patch)


def _wire(patch: Patch) -> dict:
    """A Patch in the JSON form the renderer receives anyway, so orjson serialises the whole response."""
    return patch.to_plotly_json()


def update_view(
    view: str, raw_numbers: dict, losses, previous_query: str | None, axis=None, logits_text=None, panels=None
):
    """Everything a view's main callback returns, as a dict keyed by output name."""
    state, messages = read_state(view, raw_numbers, losses, axis, logits_text, panels)
    result = {f"message:{c.name}": messages.get(c.name, "") for c in controls.CONTROLS[view]}
    result["message:losses"] = messages.get("losses", "")
    result["message:logits"] = messages.get("logits", "")
    if state is None:
        return result | dict.fromkeys(_CHART_OUTPUTS, no_update)
    previous = parse_query(view, previous_query) if previous_query else None
    plan = update_plan(previous, state)
    output: ViewOutput = VIEW_BUILDERS[view](state)
    result |= {
        "loss_figure": figure_update(output.loss_figure, plan),
        "grad_figure": figure_update(output.grad_figure, plan),
        "readout": tables.readout_table(output.readout),
        "formulas": output.formulas if (plan.full or plan.replace_traces) else no_update,
        "query": output.query,
        "lesson": output.lesson,
        "message:losses": output.losses_note,
        # The per-class charts depend on every logit, the swept one included: always resend (they are small).
        "probability_figure": output.probability_figure,
        "class_grad_figure": output.class_grad_figure,
        "stability": tables.stability_table(output.stability_rows),
    }
    return result


_CHART_OUTPUTS = ("loss_figure", "grad_figure", "readout", "formulas", "query", "lesson",
                  "probability_figure", "class_grad_figure", "stability")


def prediction_from_click(view: str, click_data, axis: str | None = None):
    """The prediction text box value for a click on a sweep chart (no_update if the click has no x)."""
    x = _clicked_x(click_data)
    if x is None:
        return no_update
    if view == "binary":
        probability = to_probability(x, axis if axis in controls.BINARY_AXES else controls.DEFAULT_AXIS)
        return controls.format_number(min(max(round(probability, 6), 1e-6), 1 - 1e-6))
    return controls.format_number(round(x, CLICK_DECIMALS))


def logits_from_click(click_data, logits_text: str | None, swept_raw):
    """The logits text with the swept logit moved to the clicked x (no_update if anything is invalid)."""
    x = _clicked_x(click_data)
    logits, problem = controls.parse_logits(logits_text)
    swept, swept_problem = controls.control("multiclass", "swept_class").parse(swept_raw)
    if x is None or problem or swept_problem or swept >= len(logits):
        return no_update
    moved = list(logits)
    moved[swept] = round(x, CLICK_DECIMALS)
    return controls.format_logits(moved)


def _clicked_x(click_data):
    try:
        x = float(click_data["points"][0]["x"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return x if abs(x) < 1e12 else None


def register(app) -> None:
    app.callback(
        Output(ids.Page.CONTENT, "children"),
        Output(ids.Page.URL_NOTICE, "children"),
        Output(ids.Page.NAV, "children"),
        Input(ids.Page.LOCATION, "pathname"),
        Input(ids.Page.LOCATION, "search"),
    )(route)
    for view in ids.VIEWS:
        _register_view(app, view)


def _register_view(app, view: str) -> None:
    view_ids = VIEW_IDS[view]
    names = [c.name for c in controls.CONTROLS[view]]
    outputs = {
        "loss_figure": Output(view_ids.LOSS_GRAPH, "figure"),
        "grad_figure": Output(view_ids.GRAD_GRAPH, "figure"),
        "readout": Output(view_ids.READOUT, "children"),
        "formulas": Output(view_ids.FORMULAS, "children"),
        "query": Output(view_ids.URL_SYNC, "data"),
        "message:losses": Output(view_ids.LOSSES_MESSAGE, "children"),
    }
    outputs |= {f"message:{name}": Output(ids.number_message(view, name), "children") for name in names}
    extra_inputs = []
    if view == "binary":
        outputs["lesson"] = Output(ids.Binary.LESSON, "children")
        extra_inputs = [Input(ids.Binary.AXIS, "value"), Input(ids.Binary.PANELS, "value")]
    if view == "multiclass":
        outputs |= {
            "message:logits": Output(ids.Multiclass.LOGITS_MESSAGE, "children"),
            "probability_figure": Output(ids.Multiclass.PROBABILITY_GRAPH, "figure"),
            "class_grad_figure": Output(ids.Multiclass.CLASS_GRAD_GRAPH, "figure"),
            "stability": Output(ids.Multiclass.STABILITY_TABLE, "children"),
        }
        extra_inputs = [Input(ids.Multiclass.LOGITS_INPUT, "value")]
    keys = list(outputs)

    def on_control_change(*args):
        raw_numbers = dict(zip(names, args[: len(names)], strict=True))
        losses = args[len(names)]
        extra = args[len(names) + 1 : -1]
        previous_query = args[-1]
        kwargs = {}
        if view == "binary":
            kwargs["axis"], kwargs["panels"] = extra
        if view == "multiclass":
            kwargs["logits_text"] = extra[0]
        result = update_view(view, raw_numbers, losses, previous_query, **kwargs)
        return tuple(result[key] for key in keys)

    app.callback(
        [outputs[key] for key in keys],
        [Input(ids.number_input(view, name), "value") for name in names],
        Input(view_ids.LOSSES, "value"),
        *extra_inputs,
        State(view_ids.URL_SYNC, "data"),
        prevent_initial_call=True,
    )(on_control_change)

    for control in controls.CONTROLS[view]:
        if control.has_slider:
            app.clientside_callback(
                ClientsideFunction("losslab", "syncLog10" if control.log_scale else "syncLinear"),
                Output(ids.number_slider(view, control.name), "value"),
                Output(ids.number_input(view, control.name), "value"),
                Input(ids.number_slider(view, control.name), "value"),
                Input(ids.number_input(view, control.name), "value"),
                State(ids.number_slider(view, control.name), "min"),
                State(ids.number_slider(view, control.name), "max"),
                prevent_initial_call=True,
            )

    app.clientside_callback(
        ClientsideFunction("losslab", "replaceQuery"),
        Input(view_ids.URL_SYNC, "data"),
        prevent_initial_call=True,
    )
    _register_clicks(app, view)


def _register_clicks(app, view: str) -> None:
    view_ids = VIEW_IDS[view]
    clicks = [Input(view_ids.LOSS_GRAPH, "clickData"), Input(view_ids.GRAD_GRAPH, "clickData")]
    if view == "multiclass":
        def on_click(loss_click, grad_click, logits_text, swept_raw):
            return logits_from_click(_latest_click(loss_click, grad_click), logits_text, swept_raw)

        app.callback(
            Output(ids.Multiclass.LOGITS_INPUT, "value"),
            *clicks,
            State(ids.Multiclass.LOGITS_INPUT, "value"),
            State(ids.Multiclass.SWEPT_CLASS_INPUT, "value"),
            prevent_initial_call=True,
        )(on_click)
        return
    target = ids.Regression.PREDICTION_INPUT if view == "regression" else ids.Binary.PROBABILITY_INPUT
    states = [State(ids.Binary.AXIS, "value")] if view == "binary" else []

    def on_prediction_click(loss_click, grad_click, *axis):
        return prediction_from_click(view, _latest_click(loss_click, grad_click), *axis)

    app.callback(
        Output(target, "value"), *clicks, *states, prevent_initial_call=True
    )(on_prediction_click)


def _latest_click(loss_click, grad_click):
    triggered = ctx.triggered_id or ""
    return loss_click if str(triggered).endswith("loss-graph") else grad_click
