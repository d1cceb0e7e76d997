"""The page: header, navigation, the three views, the loss chooser table.

Every view's controls are generated from :mod:`losslab.dashboard.controls`
(and so from the registry); initial values come from the URL's query string.
"""

from __future__ import annotations

import math

from dash import dcc, html

from losslab import registry
from losslab.dashboard import controls, ids, tables
from losslab.dashboard.url_state import ViewState
from losslab.dashboard.views import ViewOutput

PATHS = {"regression": "/regression", "binary": "/binary", "multiclass": "/multiclass"}
TITLES = {"regression": "Regression", "binary": "Binary classification", "multiclass": "Multiclass (softmax)"}
INTRODUCTIONS = {
    "regression": (
        "Compare regression losses as the prediction ŷ moves around the true value y. "
        "The gradient chart shows how hard each loss pushes back: MSE grows with the error, "
        "MAE and Huber stay bounded, so outliers cannot dominate."
    ),
    "binary": (
        "A sigmoid turns the logit z into a probability p̂. Switch the x axis between p̂ and z: "
        "measured in z, the BCE gradient is p̂ − y and never vanishes when the model is confidently wrong, "
        "while MSE on the sigmoid output flattens out. Both losses together on the z axis are the "
        "chapter's BCE-versus-MSE figure."
    ),
    "multiclass": (
        "Edit the logits z and watch the softmax probabilities and the cross-entropy gradient p̂ − y. "
        "The sweep charts move one logit with the others fixed. The stability panel shows why softmax "
        "subtracts the largest logit first: try 1000, 999, 998."
    ),
}
CHOOSER_ROWS = (
    ("Regression", "Linear", "MSE", "/regression?losses=mse"),
    ("Robust regression", "Linear", "Huber", "/regression?losses=mse,huber&delta=1"),
    ("Binary classification", "Sigmoid", "BCE", "/binary?losses=bce&axis=logit"),
    ("Multiclass (mutually exclusive)", "Softmax", "Categorical CE", "/multiclass?losses=cross_entropy"),
    ("Multilabel classification", "Sigmoid (per class)", "BCE (per class)", "/binary?losses=bce,focal&axis=prob"),
    ("Generative models", "Varies", "KL divergence, ELBO", "/multiclass?losses=kl_divergence,cross_entropy"),
)
GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False, "displayModeBar": "hover",
                "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def app_shell() -> html.Div:
    return html.Div(
        className="app",
        children=[
            dcc.Location(id=ids.Page.LOCATION),
            html.Header(
                className="site-header",
                children=[
                    html.Div([
                        html.H1("losslab"),
                        html.P("An interactive lab for loss functions and their gradients.", className="tagline"),
                    ]),
                    html.Nav(
                        id=ids.Page.NAV,
                        **{"aria-label": "Views"},
                        children=nav_links(None),
                    ),
                ],
            ),
            html.Div(id=ids.Page.URL_NOTICE, className="url-notice", role="status"),
            html.Main(id=ids.Page.CONTENT),
            chooser_table(),
            html.Footer(
                "Losses, gradients and softmax from losslab's NumPy core. Palette: Okabe–Ito (colour-blind safe).",
                className="site-footer",
            ),
        ],
    )


def nav_links(active: str | None) -> list:
    """Links to the views. The current view's link reloads the page: the URL's query is
    kept current with history.replaceState, which dcc.Location does not see, so a
    client-side link to the same path would not reset the view."""
    return [
        dcc.Link(TITLES[v], href=PATHS[v], className="nav-link active" if v == active else "nav-link",
                 title=f"{TITLES[v]} (current view)" if v == active else TITLES[v], refresh=v == active)
        for v in ids.VIEWS
    ]


def chooser_table() -> html.Section:
    header = html.Tr([html.Th("Task"), html.Th("Output activation"), html.Th("Loss")])
    rows = [
        html.Tr(
            # refresh: a preset must apply even on its own view (see nav_links).
            [html.Td(dcc.Link(text, href=href, className="row-link", refresh=True))
             for text in (task, activation, loss)],
            className="chooser-row",
        )
        for task, activation, loss, href in CHOOSER_ROWS
    ]
    return html.Section(
        className="panel chooser",
        children=[
            html.H2("Choosing the loss"),
            html.P("Click a task to open its view with that loss selected."),
            html.Table([html.Thead(header), html.Tbody(rows)], id=ids.Page.CHOOSER_TABLE),
        ],
    )


def number_control(view: str, control: controls.NumberControl, value: float) -> html.Div:
    input_id = ids.number_input(view, control.name)
    message_id = ids.number_message(view, control.name)
    parts = [html.Label(control.label, htmlFor=input_id, className="control-label")]
    row = []
    if control.has_slider:
        row.append(
            dcc.Slider(
                id=ids.number_slider(view, control.name),
                min=control.slider_min,
                max=control.slider_max,
                step=control.step,
                value=control.slider_position(value),
                marks=_slider_marks(control),
                updatemode="drag",
                allow_direct_input=False,
                className="control-slider",
            )
        )
    row.append(
        dcc.Input(
            id=input_id,
            type="text",
            inputMode="numeric" if control.integer else "decimal",
            value=controls.format_number(value),
            # Applied on Enter, on leaving the box, or after a pause in typing (assets/losslab.js):
            # no half-typed "-" or "1e" reaches the charts, and Enter answers at once.
            debounce=True,
            autoComplete="off",
            spellCheck=False,
            className="number-box",
        )
    )
    parts.append(html.Div(row, className="control-row"))
    parts.append(html.Div(id=message_id, className="control-message", role="alert"))
    if control.help:
        parts.append(html.Small(control.help, className="control-help"))
    return html.Div(parts, className="control")


def _slider_marks(control: controls.NumberControl) -> dict:
    if control.log_scale:
        values = [v for v in (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 100)
                  if control.slider_min <= _log10(v) <= control.slider_max]
        return {_log10(v): f"{v:g}" for v in values}
    low, high = control.slider_min, control.slider_max
    middle = (low + high) / 2
    return {v: f"{v:g}" for v in (low, middle, high)}


def _log10(value: float) -> float:
    return round(math.log10(value), 6)


def loss_checklist(view_ids: ids.View, task: registry.Task, selected) -> html.Div:
    options = [{"label": spec.label, "value": spec.key} for spec in registry.for_task(task)]
    return html.Div(
        className="control",
        children=[
            html.Span("Losses to compare", className="control-label", id=f"{view_ids.LOSSES}-label"),
            dcc.Checklist(
                id=view_ids.LOSSES, options=options, value=list(selected), className="loss-checklist",
                inputClassName="loss-checkbox",
            ),
            html.Div(id=view_ids.LOSSES_MESSAGE, className="control-message", role="alert"),
        ],
    )


def graph(graph_id: str, figure: dict, label: str, class_name: str = "chart") -> html.Figure:
    """A chart in a labelled figure element (dcc.Graph itself takes no ARIA attributes)."""
    return html.Figure(
        dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG, className=class_name),
        role="figure", className="chart-frame", **{"aria-label": label},
    )


def view_layout(state: ViewState, output: ViewOutput) -> html.Section:
    view_ids = {"regression": ids.Regression, "binary": ids.Binary, "multiclass": ids.Multiclass}[state.view]
    control_panel = [number_control(state.view, c, state.numbers[c.name]) for c in controls.CONTROLS[state.view]]
    if state.view == "multiclass":
        control_panel.insert(0, logits_control(state.logits))
    if state.view == "binary":
        control_panel.insert(1, axis_control(state.axis))
        control_panel.insert(2, panels_control(state.panels))
    control_panel.append(loss_checklist(view_ids, state.view, state.losses))
    charts = [
        graph(view_ids.LOSS_GRAPH, output.loss_figure, "loss chart"),
        graph(view_ids.GRAD_GRAPH, output.grad_figure, "gradient chart"),
    ]
    extras = []
    if state.view == "binary":
        extras.append(html.P(output.lesson, id=ids.Binary.LESSON, className="lesson", role="status"))
    extras.append(html.Div(tables.readout_table(output.readout), id=view_ids.READOUT, className="readout"))
    class_panels = []
    if state.view == "multiclass":
        class_panels = [
            html.Div(
                className="class-charts",
                children=[
                    graph(ids.Multiclass.PROBABILITY_GRAPH, output.probability_figure, "softmax probabilities"),
                    graph(ids.Multiclass.CLASS_GRAD_GRAPH, output.class_grad_figure, "gradient per class"),
                ],
            ),
            html.Section(
                className="panel stability",
                children=[
                    html.H3("Numerical stability: naive against stable softmax"),
                    html.Div(tables.stability_table(output.stability_rows), id=ids.Multiclass.STABILITY_TABLE),
                ],
            ),
        ]
    return html.Section(
        className=f"view view-{state.view}",
        children=[
            html.H2(TITLES[state.view]),
            html.P(INTRODUCTIONS[state.view], className="intro"),
            html.Div(
                className="view-grid",
                children=[
                    html.Aside(control_panel, className="panel controls", **{"aria-label": "Controls"}),
                    html.Div([*class_panels, html.Div(charts, className=_charts_class(state)), *extras],
                             className="charts"),
                ],
            ),
            html.Section(
                className="panel formulas",
                children=[html.H3("Formulas"),
                          dcc.Markdown(output.formulas, mathjax=True, id=view_ids.FORMULAS)],
            ),
            dcc.Store(id=view_ids.URL_SYNC, data=output.query),
        ],
    )


def logits_control(logits) -> html.Div:
    return html.Div(
        className="control",
        children=[
            html.Label("Logits z", htmlFor=ids.Multiclass.LOGITS_INPUT, className="control-label"),
            dcc.Input(
                id=ids.Multiclass.LOGITS_INPUT, type="text", value=controls.format_logits(logits), debounce=True,
                autoComplete="off", spellCheck=False, className="logits-box",
            ),
            html.Div(id=ids.Multiclass.LOGITS_MESSAGE, className="control-message", role="alert"),
            html.Small("2 to 10 numbers separated by commas", className="control-help"),
        ],
    )


def axis_control(axis: str) -> html.Div:
    return _radio_control("x axis", ids.Binary.AXIS, {"logit": "logit z", "prob": "probability p̂"}, axis)


def panels_control(panels: str) -> html.Div:
    return _radio_control("Panels", ids.Binary.PANELS, {"columns": "one per loss", "overlay": "overlaid"}, panels)


def _radio_control(label: str, radio_id: str, choices: dict[str, str], value: str) -> html.Div:
    return html.Div(
        className="control",
        children=[
            html.Span(label, className="control-label"),
            dcc.RadioItems(
                id=radio_id,
                options=[{"label": text, "value": key} for key, text in choices.items()],
                value=value, inline=True, className="axis-radio",
            ),
        ],
    )


def _charts_class(state: ViewState) -> str:
    """Binary charts stack loss above gradient, like the chapter's 2x2 figure."""
    return "linked-charts stacked" if state.view == "binary" else "linked-charts"


def not_found(path: str) -> html.Section:
    return html.Section(
        className="view",
        children=[html.H2("No such view"),
                  html.P(["There is no page at ", html.Code(path[:80]), ". Pick a view above."])],
    )
