"""Build the Dash application object (no server is started here)."""

from pathlib import Path

import dash
from dash import html

ASSETS_FOLDER = Path(__file__).resolve().parents[2] / "assets"
HEALTH_ROUTE = "health"


def create_app() -> dash.Dash:
    """Return a configured Dash app; ``app.server`` is the WSGI callable."""
    app = dash.Dash(
        __name__,
        title="losslab",
        assets_folder=str(ASSETS_FOLDER),
        health_endpoint=HEALTH_ROUTE,
    )
    app.layout = html.Main([html.H1("losslab"), html.P("Loss functions and their gradients.")])
    return app
