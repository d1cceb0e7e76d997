"""Build the Dash application object (no server is started here).

Besides the layout and callbacks, :func:`create_app` sets up how the page
travels to a browser (the numbers are in bench/RESULTS.md, the reasons in
docs/ACCESSIBILITY.md):

* the index page: ``<html lang="en">``, Dash's scripts without the extra
  ``<footer>`` Dash wraps them in (a second ``contentinfo`` landmark), a
  ``<link rel="preload">`` of the plotly.js bundle so it downloads while the
  page starts, and instead of "Loading..." the page's header and the view's
  title and introduction (:mod:`losslab.dashboard.page_shell`), shown until
  Dash has drawn the page;
* plotly.js: the partial "cartesian" bundle of the plotly.js version our
  plotly package ships (``assets/vendor/``, from npm's
  ``plotly.js-cartesian-dist-min``: scatter, bar, contour, heatmap and a few
  more, 1.5 MB instead of 4.8 MB). ``assets/bundles.js`` points ``dcc.Graph``
  at it; ``assets/vendor/`` is served but never put in the page as a blocking
  script, so plotly is parsed only when the first chart mounts;
* compression: flask-compress (brotli or gzip, as the browser asks) for the
  page, the layout, the callbacks; fingerprinted bundles are compressed once
  per process at a high level and kept (:class:`BundleCompressor`);
* cache headers: :func:`losslab.dashboard.security.cache_control`.
"""

from __future__ import annotations

import os
import threading
import zlib
from pathlib import Path

import brotli
import dash
import flask_compress
from dash._utils import interpolate_str
from flask import Response, has_request_context, request

from losslab.dashboard import callbacks, cards, layout, page_shell, security, views

ASSETS_FOLDER = Path(__file__).resolve().parents[2] / "assets"
HEALTH_ROUTE = "health"
# Served from /assets/vendor/ but not added to the page by Dash (see module docstring).
VENDOR_FOLDER = "vendor"
PLOTLY_BUNDLE = f"{VENDOR_FOLDER}/plotly-cartesian-4.1.1.min.js"

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
        {%preload%}
    </head>
    <body>
        {%app_entry%}
        {%config%}
        {%scripts%}
        {%renderer%}
    </body>
</html>"""

COMPRESS_CONFIG = {
    # zstd is left out: brotli is as small for text and every browser that sends zstd sends br.
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    # Per-response levels for what changes on every request (page, layout, callbacks):
    # a 20 KB callback answer costs about 0.2 ms at these levels.
    "COMPRESS_BR_LEVEL": 5,
    "COMPRESS_LEVEL": 6,
    "COMPRESS_MIN_SIZE": 500,
}
# Bundles are compressed once per process, so they can afford the slower, smaller levels.
BUNDLE_BROTLI_QUALITY = 9
BUNDLE_GZIP_LEVEL = 9
COMPRESSIBLE_MIMETYPES = frozenset({"application/javascript", "text/javascript", "text/css", "application/json",
                                    "image/x-icon", "image/vnd.microsoft.icon", "image/svg+xml", "text/plain"})


class LosslabDash(dash.Dash):
    """``dash.Dash`` with losslab's index page (see :data:`INDEX_TEMPLATE`)."""

    def plotly_bundle_url(self) -> str:
        """The partial plotly.js bundle's URL, fingerprinted as Dash fingerprints assets (``?m=<mtime>``)."""
        modified = os.stat(ASSETS_FOLDER / PLOTLY_BUNDLE).st_mtime
        return f"{self.get_asset_url(PLOTLY_BUNDLE)}?m={modified}"

    def interpolate_index(self, **kwargs) -> str:
        preload = (f'<link rel="preload" as="script" fetchpriority="low" href="{self.plotly_bundle_url()}" '
                   'data-plotly-bundle>')
        if has_request_context():
            kwargs["app_entry"] = f'<div id="react-entry-point">{page_shell.shell_html(request.path)}</div>'
        return interpolate_str(INDEX_TEMPLATE, preload=preload, **kwargs)


def create_app() -> dash.Dash:
    """Return a configured Dash app; ``app.server`` is the WSGI callable for gunicorn."""
    app = LosslabDash(
        __name__,
        title="losslab — loss functions and their gradients",
        assets_folder=str(ASSETS_FOLDER),
        assets_path_ignore=[f"^{VENDOR_FOLDER}$"],
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
    cards.install(app)  # the card index the search box fetches once
    install_compression(app)
    security.install(app)
    install_direct_answers(app)
    return app


def install_direct_answers(app: dash.Dash) -> None:
    """Answer the views' control callbacks without Dash's generic dispatch (:func:`callbacks.answer_directly`).

    A ``before_request`` function registered after :func:`security.install`'s, so Flask runs it only for a
    request the callback check has accepted; any other callback request goes on to Dash. With Dash's dev
    tools on (``LOSSLAB_DEBUG=1``) every callback goes to Dash, whose dispatch times it for the callback
    graph (a ``Server-Timing`` header); the answer itself is the same either way.
    """
    callback_path = app.config.routes_pathname_prefix + security.CALLBACK_ROUTE

    @app.server.before_request
    def answer_control_change():
        if request.path != callback_path or request.method != "POST" or app._dev_tools.get("ui"):
            return None
        return callbacks.answer_directly(app, request.get_json())


def install_compression(app: dash.Dash) -> None:
    """flask-compress for every response, with fingerprinted bundles served from :class:`BundleCompressor`.

    Flask runs ``after_request`` functions last-registered first: the bundle
    compressor runs before flask-compress, which leaves a response that already
    has a ``Content-Encoding`` alone.
    """
    app.server.config.update(COMPRESS_CONFIG)
    flask_compress.Compress(app.server)
    app.server.after_request(BundleCompressor(app))


class BundleCompressor:
    """Compress a fingerprinted bundle once per process and encoding, then serve the kept bytes.

    A first visit downloads about 2.5 MB of JavaScript before compression;
    compressing it for every visitor (flask-compress's per-response way) would
    cost the server about 0.2 s of CPU per visit, which a lecture hall opening
    the same link at once would queue for. A fingerprinted URL always names the
    same bytes, so its compressed form is computed once, at a level too slow to
    use per response (brotli 9: plotly.js 1.5 MB -> 445 KB in 0.3 s).
    """

    def __init__(self, app: dash.Dash):
        self.app = app
        self.kept: dict[tuple[str, str, str], bytes] = {}
        self.locks: dict[tuple[str, str, str], threading.Lock] = {}
        self.guard = threading.Lock()

    def __call__(self, response: Response) -> Response:
        if (request.method not in ("GET", "HEAD") or response.status_code != 200
                or "Content-Encoding" in response.headers
                or response.mimetype not in COMPRESSIBLE_MIMETYPES
                or not security.is_fingerprinted(self.app, request.path, request.args)):
            return response
        encoding = request.accept_encodings.best_match(("br", "gzip"))
        if encoding is None:
            return response
        key = (request.path, request.query_string.decode("latin-1"), encoding)
        body = self.kept.get(key)
        if body is None:
            with self.guard:
                lock = self.locks.setdefault(key, threading.Lock())
            with lock:
                body = self.kept.get(key)
                if body is None:
                    response.direct_passthrough = False
                    body = self.kept[key] = compress(response.get_data(), encoding)
        response.direct_passthrough = False
        response.set_data(body)
        response.headers["Content-Encoding"] = encoding
        response.headers.pop("Accept-Ranges", None)  # byte ranges of the file, not of these bytes
        response.vary.add("Accept-Encoding")
        etag, weak = response.get_etag()
        if etag:
            response.set_etag(f"{etag}-{encoding}", weak=weak)
        return response


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=BUNDLE_BROTLI_QUALITY)
    packer = zlib.compressobj(BUNDLE_GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip header
    return packer.compress(data) + packer.flush()


def finish_setup(app: dash.Dash) -> None:
    """Run Dash's once-per-process setup now, on one thread, before any traffic.

    Dash does it on the first request and marks it done before it has registered
    the component bundles; with threaded gunicorn workers a page's parallel script
    requests could then be refused (404) on a fresh worker's first page load.
    Call it last: Flask accepts no new routes after the app's first request.
    """
    with app.server.test_client() as client:
        client.get(f"/{HEALTH_ROUTE}")
