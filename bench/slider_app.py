"""The motion baseline: a plain Dash app with one slider (updatemode="drag") and two figures.

What a Dash user writes first: every slider move is a request that recomputes both curves.
``bench/motion.py`` drags it like losslab's sliders, in the same run, for a same-run ratio.
"""

import numpy as np
from dash import Dash, Input, Output, dcc, html

X = np.linspace(-4, 4, 301)
app = Dash(__name__, update_title=None)
app.layout = html.Div([
    dcc.Slider(id="delta", min=0.05, max=5, step=0.05, value=1, updatemode="drag"),
    dcc.Graph(id="loss"), dcc.Graph(id="grad"),
])


@app.callback(Output("loss", "figure"), Output("grad", "figure"), Input("delta", "value"))
def draw(delta):
    size = np.abs(X)
    clipped = np.minimum(size, delta)
    loss = clipped * (size - 0.5 * clipped)
    grad = np.clip(X, -delta, delta)
    return ({"data": [{"x": X, "y": loss, "type": "scatter"}]},
            {"data": [{"x": X, "y": grad, "type": "scatter"}]})


server = app.server
with server.test_client() as _client:  # Dash's per-process setup before traffic, as app.py does
    _client.get("/")
