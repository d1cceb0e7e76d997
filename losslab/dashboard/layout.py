"""The page: header, navigation, a view's controls and charts, the loss chooser table.

Every function here works for any view: it is handed the registered views
(or one of them) and reads them through the ``View`` interface. A view's
controls are generated from its declarations (and so from the registry);
initial values come from the URL's query string.
"""

from __future__ import annotations

import functools
import math
from html import escape
from typing import TYPE_CHECKING

from dash import dcc, html

from losslab import registry
from losslab.dashboard import cards, controls, ids, url_state
from losslab.dashboard.url_state import ViewState

if TYPE_CHECKING:
    from losslab.dashboard.views.base import View, ViewOutput

def with_attributes(component, attributes: dict[str, str]):
    """``component`` with its ``data-*`` / ``aria-*`` attributes set in name order.

    Dash sends wildcard attributes in the order they were set, and sets keyword ones in an order that
    depends on the process's hash seed: two workers would send the same page with different bytes.
    """
    for name in sorted(attributes):
        setattr(component, name, attributes[name])
    return component


# No "Share chart…" / "Edit in Chart Studio": they upload the chart to Plotly's cloud.
GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False, "displayModeBar": "hover",
                "showSendToCloud": False, "showEditInChartStudio": False,
                "toImageButtonOptions": {"format": "png", "width": 1600, "height": 900, "filename": "losslab-chart"},
                "modeBarButtonsToRemove": ["select2d", "lasso2d", "sendDataToCloud", "editInChartStudio"]}


def app_shell(views: tuple[View, ...]) -> html.Div:
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
                    ], className="site-title"),
                    html.Div(
                        className="header-tools",
                        children=[
                            html.Nav(id=ids.Page.NAV, **{"aria-label": "Views"}, children=nav_links(views, None)),
                            # Handled in assets/losslab.js: no server round trip, kept in the URL as present=1.
                            html.Button("Present", id=ids.Page.PRESENT_TOGGLE, className="present-toggle",
                                        title="Presenting mode: larger type, formulas and tables folded away",
                                        **{"aria-pressed": "false"}),
                            cards.search_box(),  # last in the row: the header stays one row at 1280 px
                        ],
                    ),
                ],
            ),
            cards.card_panel(),
            html.Div(id=ids.Page.URL_NOTICE, className="url-notice", role="status"),
            html.Main(id=ids.Page.CONTENT),
            chooser_table(views),
            html.Footer(
                "Losses, gradients and softmax from losslab's NumPy core. Palette: Okabe–Ito (colour-blind safe).",
                className="site-footer",
            ),
        ],
    )


# Page parts that depend only on their arguments are built once and shared by every page that shows
# them (Dash component construction is most of a page load's time); nothing modifies a built tree.
@functools.lru_cache(maxsize=64)
def nav_links(views: tuple[View, ...], active: str | None) -> list:
    """Links to the views. The current view's link reloads the page: the URL's query is
    kept current with history.replaceState, which dcc.Location does not see, so a
    client-side link to the same path would not reset the view."""
    def link(v: View) -> dcc.Link:
        return dcc.Link(v.nav_title, href=v.path, className="nav-link active" if v.name == active else "nav-link",
                        title=f"{v.title} (current view)" if v.name == active else v.title,
                        refresh=v.name == active)

    items, menus = [], {}
    for v in views:
        if not v.nav_group:
            items.append(link(v))
        elif v.nav_group not in menus:
            menus[v.nav_group] = [v]
            items.append(v.nav_group)  # the menu's place: after the top-level links before its first view
        else:
            menus[v.nav_group].append(v)
    return [nav_menu(item, menus[item], active, link) if isinstance(item, str) else item for item in items]


def nav_menu(group: str, members: list[View], active: str | None, link) -> html.Details:
    """A group of views as one menu button (a native disclosure: keyboard and screen-reader ready)
    whose label names the current view when it is one of them."""
    current = next((v for v in members if v.name == active), None)
    label = f"{group}: {current.nav_title}" if current else group
    return html.Details(
        className="nav-menu active" if current else "nav-menu",
        children=[html.Summary(label, className="nav-link nav-summary"),
                  html.Div([link(v) for v in members], className="nav-menu-links")],
    )


def chooser_table(views: tuple[View, ...]) -> html.Section:
    """The loss chooser: one row per task, each cell a link to its view with that loss selected.

    The table is one component holding static HTML rather than about 160 ``html.Tr``/``html.Td``/
    ``dcc.Link`` components: every Dash component on the page is checked on every store update, and
    these never change (their links reload the page anyway, so a preset applies even on its own view).
    """
    rows = "".join(
        '<tr class="chooser-row">'
        + "".join(f'<td><a class="row-link" href="{escape(view.path + query)}">{escape(text)}</a></td>'
                  for text in (task, activation, loss))
        + "</tr>"
        for view in views for task, activation, loss, query in view.chooser_rows
    )
    table = (f'<table id="{ids.Page.CHOOSER_TABLE}"><thead><tr><th>Task</th><th>Output activation</th>'
             f"<th>Loss</th></tr></thead><tbody>{rows}</tbody></table>")
    return html.Section(
        className="panel chooser",
        children=[
            html.H2("Choosing the loss"),
            html.P("Click a task to open its view with that loss selected."),
            dcc.Markdown(table, dangerously_allow_html=True, mathjax=False, className="chooser-table"),
        ],
    )


@functools.lru_cache(maxsize=512)
def number_control(view: str, control: controls.NumberControl, value: float, motion: bool = False) -> html.Div:
    """A slider, its text box and inline message. ``motion``: the slider's value is sent on release,
    while a drag (and the ▶ sweep) moves the charts in the browser from precomputed frames."""
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
                updatemode="mouseup" if motion else "drag",
                allow_direct_input=False,
                className="control-slider",
            )
        )
        if motion:
            row.append(with_attributes(
                html.Button("▶", className="play-button", title=f"Sweep {control.label} across its range and back"),
                {"data-play": control.name, "data-view": view, "aria-label": f"Play: sweep {control.label}",
                 "aria-pressed": "false"},
            ))
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
            # Not enforced by the browser (a text box); read by the slider mirror in assets/losslab.js.
            min=control.smallest_accepted(),
            max=control.largest_accepted(),
        )
    )
    parts.append(html.Div(row, className="control-row"))
    parts.append(html.Div(id=message_id, className="control-message", role="alert"))
    if control.help:
        parts.append(html.Small(control.help, className="control-help"))
    return html.Div(parts, className="control")


def _slider_marks(control: controls.NumberControl) -> dict:
    """At most five marks: round values on a log slider (powers of ten only on a wide one),
    the ends and the middle on a linear one (a whole middle for a whole-number control)."""
    if control.log_scale:
        values = [v for v in (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 100)
                  if control.slider_min <= _log10(v) <= control.slider_max]
        if len(values) > 5:
            values = [v for v in values if _log10(v) == round(_log10(v))]
        return {_log10(v): f"{v:g}" for v in values}
    low, high = control.slider_min, control.slider_max
    middle = round((low + high) / 2) if control.integer else (low + high) / 2
    return {v: f"{v:g}" for v in (low, middle, high)}


def _log10(value: float) -> float:
    return round(math.log10(value), 6)


def loss_checklist(view_ids: ids.View, keys, selected, note: str = "") -> html.Div:
    """The "Losses to compare" checklist; ``note``: its first message (e.g. why a ticked loss is hidden),
    which the view's callback keeps current after that."""
    options = [{"label": registry.get(key).label, "value": key} for key in keys]
    return html.Div(
        className="control",
        children=[
            html.Span("Losses to compare", className="control-label", id=f"{view_ids.LOSSES}-label"),
            dcc.Checklist(
                id=view_ids.LOSSES, options=options, value=list(selected), className="loss-checklist",
                inputClassName="loss-checkbox",
            ),
            html.Div(note, id=view_ids.LOSSES_MESSAGE, className="control-message", role="alert"),
        ],
    )


def graph(graph_id: str, figure: dict, label: str, class_name: str = "chart") -> html.Figure:
    """A chart in a labelled figure element (dcc.Graph itself takes no ARIA attributes)."""
    return html.Figure(
        dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG, className=class_name),
        role="figure", className="chart-frame", **{"aria-label": label},
    )


def view_layout(view: View, state: ViewState, output: ViewOutput) -> html.Section:
    """A view's page: controls, charts (with the view's own panels around them), formulas, URL store."""
    view_ids = view.ids
    control_panel = [number_control(view.name, c, state.numbers[c.name], c.name in view.motion_controls)
                     for c in view.numbers]
    main_extras = [c for c in view.extras if not getattr(c, "advanced", False)]
    advanced = [c for c in view.extras if getattr(c, "advanced", False)]
    control_panel[view.extras_position:view.extras_position] = [
        extra_control(view.name, c, state.extras[c.name]) for c in main_extras
    ]
    if advanced:
        control_panel.append(html.Details(
            [html.Summary("Chart options"), *(extra_control(view.name, c, state.extras[c.name]) for c in advanced)],
            open=any(state.extras[c.name] != c.default for c in advanced), className="chart-options",
        ))
    if view.loss_checklist:
        control_panel.append(loss_checklist(view_ids, view.loss_keys, state.losses,
                                            output.extras.get("losses_note", "")))
    else:  # the view compares no losses; its callback still reads the (hidden) checklist
        control_panel.append(html.Div([dcc.Checklist(id=view_ids.LOSSES, options=[], value=list(state.losses)),
                                       html.Div(id=view_ids.LOSSES_MESSAGE)], hidden=True))
    charts = [
        graph(view_ids.LOSS_GRAPH, output.loss_figure, "loss chart"),
        graph(view_ids.GRAD_GRAPH, output.grad_figure, "gradient chart"),
    ]
    below = [*view.panels_below_charts(state, output), export_bar(view, state, output),
             html.Div(view.readout_component(output), id=view_ids.READOUT, className="readout")]
    return html.Section(
        className=f"view view-{view.name}",
        children=[
            html.Div(
                className="view-title",
                children=[
                    html.H2(view.title),
                    # A full page load of the bare path: every control back to its default.
                    html.A("Reset to defaults", href=view.path, className="reset-view",
                           title=f"Open {view.title} with every control at its default"),
                ],
            ),
            html.P(view.introduction, className="intro"),
            html.Div(
                className="view-grid",
                children=[
                    html.Aside(control_panel, className="panel controls", **{"aria-label": "Controls"}),
                    html.Div([*view.panels_above_charts(state, output),
                              html.Div(charts, className=view.charts_class,
                                       **{"data-click-store": view_ids.CHART_CLICK}),
                              *below],
                             className="charts"),
                ],
            ),
            html.Section(
                className="panel formulas",
                children=[html.H3("Formulas"),
                          dcc.Markdown(output.formulas, mathjax=False, className="lazy-math", id=view_ids.FORMULAS)],
            ),
            *cards.view_panel(view),
            dcc.Store(id=view_ids.URL_SYNC, data=output.query),
            dcc.Store(id=view_ids.LINK_FIX, data=output.query if state.notices else None),
            dcc.Store(id=view_ids.CHART_CLICK),
            *([dcc.Store(id=view_ids.FAMILY), dcc.Store(id=view_ids.FAMILY_REQUEST)] if view.motion_controls else []),
        ],
    )


def export_bar(view: View, state: ViewState, output: ViewOutput) -> html.Div:
    """CSV of the plotted curves (server), chart images and the link (browser), and the code."""
    view_ids = view.ids
    parts = [
        html.Button("Download CSV", id=view_ids.CSV_BUTTON, className="export-button"),
        dcc.Download(id=view_ids.DOWNLOAD),
        # assets/image_export.js: one file of every chart on screen, named after the settings that differ
        # from the defaults (data-default-query on the bar).
        *(with_attributes(html.Button(image_format.upper(), className="export-button image-button"),
                          {"data-format": image_format, "aria-label": f"Download the charts as {image_format.upper()}"})
          for image_format in ("png", "svg")),
        html.Button("Copy link", className="export-button copy-link"),
        html.Span(className="export-status", role="status"),
    ]
    snippet = view.code(state, output)
    if snippet is not None:
        parts.append(html.Details([html.Summary("Show code"),
                                   html.Pre(html.Code(snippet, id=view_ids.CODE, className="language-python"))],
                                  className="code-panel"))
    return with_attributes(html.Div(parts, className="export-bar"),
                           {"data-default-query": url_state.encode_query(url_state.default_state(view), view)})


def extra_control(view: str, control: controls.ExtraControl, value) -> html.Div:
    if isinstance(control, controls.ChoiceControl):
        return radio_control(control.label, control.input_id(view), dict(control.choices), value)
    return logits_control(view, control, value)


def logits_control(view: str, control: controls.LogitsControl, logits) -> html.Div:
    input_id = control.input_id(view)
    return html.Div(
        className="control",
        children=[
            html.Label(control.label, htmlFor=input_id, className="control-label"),
            dcc.Input(
                id=input_id, type="text", value=control.display(logits), debounce=True,
                autoComplete="off", spellCheck=False, className="logits-box",
            ),
            html.Div(id=ids.number_message(view, control.name), className="control-message", role="alert"),
            html.Small(control.help, className="control-help"),
        ],
    )


def radio_control(label: str, radio_id: str, choices: dict[str, str], value: str) -> html.Div:
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


def not_found(path: str) -> html.Section:
    return html.Section(
        className="view",
        children=[html.H2("No such view"),
                  html.P(["There is no page at ", html.Code(path[:80]), ". Pick a view above."])],
    )
