"""Build the Dash application object (no server is started here)."""

from __future__ import annotations

from pathlib import Path

import dash

from losslab.dashboard import callbacks, layout, security, views

ASSETS_FOLDER = Path(__file__).resolve().parents[2] / "assets"
HEALTH_ROUTE = "health"


def create_app() -> dash.Dash:
    """Return a configured Dash app; ``app.server`` is the WSGI callable for gunicorn."""
    app = dash.Dash(
        __name__,
        title="losslab — loss functions and their gradients",
        assets_folder=str(ASSETS_FOLDER),
        health_endpoint=HEALTH_ROUTE,
        suppress_callback_exceptions=True,
        update_title=None,
        on_error=security.on_callback_error,
        meta_tags=[
            {"name": "viewport", "content": "width=device-width, initial-scale=1"},
            {"name": "color-scheme", "content": "light dark"},
            {"name": "description", "content": "Interactive charts of loss functions and their gradients."},
        ],
    )
    app.layout = layout.app_shell(views.VIEWS)
    callbacks.register(app)
    security.install(app)
    return app


def finish_setup(app: dash.Dash) -> None:
    """Run Dash's once-per-process setup now, on one thread, before any traffic.

    Dash does it on the first request and marks it done before it has registered
    the component bundles; with threaded gunicorn workers a page's parallel script
    requests could then be refused (404) on a fresh worker's first page load.
    Call it last: Flask accepts no new routes after the app's first request.
    """
    with app.server.test_client() as client:
        client.get(f"/{HEALTH_ROUTE}")
