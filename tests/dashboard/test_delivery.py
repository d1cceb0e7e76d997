"""How the page travels: the index page, the plotly.js bundle, compression and cache lifetimes (in process)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import dash
import pytest
from markupsafe import escape
from plotly.offline import get_plotlyjs_version

from losslab.dashboard import app_factory, create_app
from losslab.dashboard.views import VIEWS

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def app():
    return create_app()


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()


@pytest.fixture(scope="module")
def page(client) -> str:
    return client.get("/binary").get_data(as_text=True)


def script_sources(page: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', page)


def decoded(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    body = response.get_data()
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    assert encoding is None, encoding
    return body


def test_the_page_is_english_and_has_one_footer(page):
    assert re.search(r'<html lang="en">', page)
    # Dash's default page wraps its scripts in a <footer>: a second contentinfo landmark.
    assert "<footer" not in page


def test_the_plotly_bundle_is_the_cartesian_build_of_the_version_plotly_ships():
    bundle = Path(app_factory.ASSETS_FOLDER) / app_factory.PLOTLY_BUNDLE
    head = bundle.read_text(encoding="utf-8")[:200]
    assert f"plotly.js (cartesian - minified) v{get_plotlyjs_version()}" in head, head


def test_the_page_preloads_the_partial_bundle_and_never_names_the_full_one(app, client, page):
    url = app.plotly_bundle_url()
    assert re.search(rf'<link rel="preload" as="script" [^>]*href="{re.escape(url)}" data-plotly-bundle>', page)
    assert "plotly.min.js" not in page
    # The bundle is served but not put in the page as a blocking script.
    assert not any("/vendor/" in src for src in script_sources(page))
    response = client.get(url)
    assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_text_responses_are_compressed_and_decode_to_the_same_bytes(client, page, encoding):
    paths = ["/binary", "/_dash-layout", "/_dash-dependencies", *script_sources(page)[:6]]
    for path in paths:
        plain = client.get(path)
        packed = client.get(path, headers={"Accept-Encoding": encoding})
        assert packed.status_code == plain.status_code == 200, path
        assert packed.headers.get("Content-Encoding") == encoding, path
        assert "Accept-Encoding" in packed.headers.get("Vary", ""), path
        body = decoded(packed)
        if path != "/binary":  # the page carries a fresh per-load token
            assert body == plain.get_data(), path
        assert len(packed.get_data()) < len(body), path


def test_a_client_that_asks_for_no_encoding_gets_none(client, page):
    for path in ["/binary", script_sources(page)[0]]:
        assert "Content-Encoding" not in client.get(path).headers, path


def test_a_bundle_is_compressed_once_per_process(app, page):
    compressor = next(f for f in app.server.after_request_funcs[None]
                      if isinstance(f, app_factory.BundleCompressor))
    path = next(src for src in script_sources(page) if "dash_renderer" in src)
    with app.server.test_client() as fresh:
        first = fresh.get(path, headers={"Accept-Encoding": "br"}).get_data()
        kept = dict(compressor.kept)
        second = fresh.get(path, headers={"Accept-Encoding": "br"}).get_data()
    assert first == second
    assert [key for key in kept if key[0] == path.split("?")[0] and key[2] == "br"]
    assert dict(compressor.kept) == kept  # the second answer was served from what was kept


def test_fingerprinted_bundles_are_immutable(client, page):
    for src in script_sources(page):
        assert client.get(src).headers["Cache-Control"] == IMMUTABLE, src
    assert client.get(f"/_favicon.ico?v={dash.__version__}").headers["Cache-Control"] == IMMUTABLE


def test_a_dcc_chunk_with_the_bundles_fingerprint_is_immutable_and_without_it_revalidates(client, page):
    stamp = re.search(r"dash_core_components\.(v[\w-]+m\d+)\.js", page).group(1)
    fingerprinted = client.get(f"/_dash-component-suites/dash/dcc/async-graph.{stamp}.js")
    assert fingerprinted.status_code == 200 and fingerprinted.headers["Cache-Control"] == IMMUTABLE
    bare = client.get("/_dash-component-suites/dash/dcc/async-graph.js")
    assert bare.status_code == 200 and bare.headers["Cache-Control"] == "no-cache"


def test_an_asset_at_another_mtime_is_not_cached_for_long(client, page):
    css = re.search(r'href="(/assets/losslab\.css\?m=[^"]+)"', page).group(1)
    assert client.get(css).headers["Cache-Control"] == IMMUTABLE
    assert client.get("/assets/losslab.css?m=1.5").headers["Cache-Control"] == "no-cache"
    assert client.get("/assets/losslab.css").headers["Cache-Control"] == "no-cache"


def test_the_page_is_never_cached_stale(client):
    for path in ["/", "/binary", "/multiclass?logits=1,2,3"]:
        assert client.get(path).headers["Cache-Control"] == "no-cache", path


@pytest.mark.parametrize("encoding", [None, "br"])
def test_layout_and_callback_graph_revalidate_with_an_empty_304(client, encoding):
    headers = {"Accept-Encoding": encoding} if encoding else {}
    for path in ["/_dash-layout", "/_dash-dependencies"]:
        first = client.get(path, headers=headers)
        etag = first.headers["ETag"]
        again = client.get(path, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304 and again.get_data() == b"", path
        assert client.get(path, headers={**headers, "If-None-Match": '"other"'}).status_code == 200, path


def test_errors_are_not_cached(client):
    assert client.get("/_dash-component-suites/nope/x.js").headers["Cache-Control"] == "no-store"


# -- the first paint: the page's top before Dash draws it --------------------------------------------


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_the_page_shows_its_views_title_and_introduction_before_any_script_runs(client, view):
    page = client.get(view.path).get_data(as_text=True)
    entry = page[page.index('<div id="react-entry-point">'):page.index('<script id="_dash-config"')]
    assert f"<h2>{escape(view.title)}</h2>" in entry
    assert f'<p class="intro">{escape(view.introduction)}</p>' in entry
    assert 'class="nav-link active"' in entry and "Loading..." not in entry
    assert ' id="' not in entry.replace('<div id="react-entry-point">', "", 1)  # the live page owns the ids


def test_a_path_that_is_no_view_gets_the_header_and_is_never_written_into_the_page(client):
    probe = "/<script>alert(1)</script>"
    page = client.get(probe).get_data(as_text=True)
    assert "<script>alert(1)" not in page and "alert(1)" not in page
    entry = page[page.index('<div id="react-entry-point">'):page.index('<script id="_dash-config"')]
    assert '<header class="site-header">' in entry and "<main" not in entry
