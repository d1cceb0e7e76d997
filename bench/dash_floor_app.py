"""The floor of any Dash 4 page on Lighthouse's simulated phone: two pages with none of losslab's work.

* ``bare_server``: one heading and one paragraph; no callback, no graph.
* ``charts_server``: the same page with two static 301-point line charts (``dcc.Graph``), drawn by
  the plotly.js bundle losslab serves (the cartesian partial bundle, losslab.dashboard.app_factory's
  ``PLOTLY_BUNDLE``); no callback.

Both compress their responses, as losslab does. bench/lighthouse.py measures them in the same run as
losslab's views: what a view costs above ``charts_server`` is losslab's; what ``charts_server`` costs
above ``bare_server`` is drawing two charts with plotly.js.
"""

from pathlib import Path

import numpy as np
from dash import Dash, dcc, html

from losslab.dashboard.app_factory import PLOTLY_BUNDLE

ASSETS = Path(__file__).resolve().parent.parent / "assets"
X = np.linspace(-3, 3, 301)


def _app(title: str, children: list) -> Dash:
    # losslab's assets folder, with none of its scripts or stylesheets on the page: only the plotly.js
    # bundle is fetched from it, when dcc.Graph asks for window._dashPlotlyJSURL (which Dash's renderer
    # would set to its full bundle: the setter ignores it, as assets/bundles.js does)
    app = Dash(__name__, title=title, update_title=None, compress=True, assets_folder=str(ASSETS),
               assets_ignore=".*")
    url = f"/assets/{PLOTLY_BUNDLE}"
    app.index_string = app.index_string.replace("{%css%}", (
        "{%css%}<script>Object.defineProperty(window, '_dashPlotlyJSURL', {configurable: true, "
        f"get: function () {{ return '{url}'; }}, set: function () {{}}}});</script>"))
    app.layout = html.Div([html.H1(title), html.P("A Dash page with none of losslab's work."), *children])
    with app.server.test_client() as client:  # Dash's once-per-process setup before a worker takes traffic
        client.get("/")
    return app


def _chart(y: np.ndarray, title: str) -> dcc.Graph:
    return dcc.Graph(figure={"data": [{"type": "scatter", "mode": "lines", "x": X.tolist(), "y": y.tolist()}],
                             "layout": {"title": {"text": title}, "height": 320}},
                     config={"displayModeBar": False})


bare_server = _app("bare Dash", []).server
charts_server = _app("two charts", [_chart(X**2, "loss"), _chart(2 * X, "gradient")]).server
