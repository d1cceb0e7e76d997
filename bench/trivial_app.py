"""The baseline: a minimal Dash app with one echo callback, served exactly like ``app:server``.

Its latency is Dash's own floor (Flask routing, JSON parsing, callback
dispatch, response serialisation), so ``losslab / trivial`` isolates what
the dashboard's callbacks add. ``python bench/trivial_app.py`` serves it with
Flask's development server on $PORT (like ``python app.py``).
"""

import os

from dash import Dash, Input, Output, dcc, html

app = Dash(__name__, update_title=None)
app.layout = html.Div([dcc.Input(id="box", type="text", value="0", debounce=True), html.Div(id="echo")])
app.callback(Output("echo", "children"), Input("box", "value"))(lambda value: value)
server = app.server
# Dash's once-per-process setup now, as losslab's create_app does (finish_setup): done lazily on the
# first request, it races with a fresh threaded worker's parallel script requests (404s, no render).
with server.test_client() as _client:
    _client.get("/")

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8050")), debug=False)
