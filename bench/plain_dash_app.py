"""The first-visit baseline: a plain Dash app with one slider and two figures, as Dash's docs would write it.

Dash's defaults throughout: the full plotly.js bundle, no compression, Dash's
own cache headers. bench/lighthouse.py serves it with the same gunicorn
configuration as losslab and measures both in the same run, so "losslab /
plain Dash" separates what losslab's page costs from what any Dash page costs
on this machine. ``python bench/plain_dash_app.py`` serves it on $PORT.
"""

import os

import numpy as np
from dash import Dash, Input, Output, dcc, html

X = np.linspace(-3, 3, 301)

app = Dash(__name__, title="plain Dash", update_title=None)
app.layout = html.Div([
    html.H1("A slider and two figures"),
    dcc.Slider(id="shift", min=-2, max=2, step=0.1, value=0),
    dcc.Graph(id="loss"),
    dcc.Graph(id="gradient"),
])


@app.callback(Output("loss", "figure"), Output("gradient", "figure"), Input("shift", "value"))
def draw(shift):
    residual = X - shift
    return ({"data": [{"type": "scatter", "x": X, "y": residual**2}], "layout": {"title": {"text": "loss"}}},
            {"data": [{"type": "scatter", "x": X, "y": 2 * residual}], "layout": {"title": {"text": "gradient"}}})


server = app.server
# Dash's once-per-process setup now (see losslab.dashboard.finish_setup): a fresh threaded worker
# could otherwise refuse the page's parallel script requests.
with server.test_client() as _client:
    _client.get("/")

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8050")), debug=False)
