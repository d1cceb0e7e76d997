"""Request limits, strict callback requests, clean errors and security headers.

``install(app)`` is called once by :func:`losslab.dashboard.app_factory.create_app`.
What it adds to the Flask server under the Dash app:

* a body cap: ``MAX_CONTENT_LENGTH`` = 256 KiB, so a bigger request gets
  ``413`` before anything reads it (a real callback request is under 2 KiB);
  a callback request without ``Content-Length`` (a chunked body, which
  Werkzeug would silently cut at the cap) is ``411``;
* strict JSON: ``NaN``/``Infinity`` literals, numbers a browser cannot send
  (``1e999``, integers beyond the double range), nesting deeper than 32 and
  more than 20,000 values are a ``400``, never a Python object;
* a check of every ``/_dash-update-component`` request against the callback it
  names (known output, server-side callback, the same outputs, inputs and
  state in the same order, trigger ids among the inputs) before Dash sees it;
  the renderer always sends exactly that, so only a hand-made request fails;
  the same check refuses a list or an object where the renderer sends a
  string and a callback uses the value as a key (:func:`string_values`: the
  page's pathname and search, each view's radio groups): it would raise there;
* a 404 (instead of Dash's 500) for an unregistered ``/_dash-component-suites/``
  path such as ``dash/../../etc/passwd``;
* clean errors: on the callback route every error is a small JSON body
  (``{"error": ..., "message": ...}``); an exception inside a callback is
  ``422`` and any other unexpected exception ``500``, each with a reference
  that is also in the server log next to the full traceback. No traceback is
  ever sent to a client (Dash's traceback pages exist only in debug mode,
  which ``python app.py`` and gunicorn never turn on);
* headers on every response: a Content-Security-Policy whose ``script-src``
  is ``'self'`` plus the hashes of Dash's own inline scripts (no
  ``'unsafe-inline'``, no ``'unsafe-eval'``), ``frame-ancestors 'self'``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``,
  ``X-Frame-Options`` and ``Cross-Origin-Opener-Policy``;
* cache lifetimes (:func:`cache_control`): a fingerprinted bundle (Dash's
  ``/_dash-component-suites/.../name.v<version>m<mtime>.js``, an asset whose
  ``?m=`` is its file's current mtime, the favicon at Dash's version) is
  ``public, max-age=31536000, immutable``: its URL changes when its bytes do.
  Everything else is ``no-cache`` (the page is fetched again on every visit,
  so it never goes stale); the layout and the callback graph get an ETag, so a
  repeat visit's check of them is an empty 304. Callback answers are
  ``no-store``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import uuid
from dataclasses import dataclass

import dash
import orjson
from dash._utils import split_callback_id, stringify_id
from dash.exceptions import DependencyException
from dash.fingerprint import check_fingerprint
from flask import current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, NotFound, UnprocessableEntity
from werkzeug.security import safe_join

from losslab.dashboard import controls, ids, views

MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
MAX_JSON_VALUES = 20_000
MAX_INT_DIGITS = 308  # beyond this an integer is not a finite double, which is all a browser sends
MAX_PROP_ID_LENGTH = 1_000
CALLBACK_ROUTE = "_dash-update-component"
COMPONENT_SUITES_ROUTE = "_dash-component-suites/"
FAVICON_ROUTE = "_favicon.ico"
#: Dash's JSON that every page load fetches; deterministic for a process, so revalidated by ETag.
REVALIDATED_ROUTES = ("_dash-layout", "_dash-dependencies")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# 'unsafe-inline' in style-src only: plotly.js and MathJax write <style> elements
# and style attributes at run time. Scripts are limited to files from this
# origin and the hashed inline scripts of Dash's index page.
CSP_TEMPLATE = (
    "default-src 'self'; "
    "script-src 'self' {hashes}; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "worker-src 'self' blob:; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'self'"
)
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class CallbackFailed(UnprocessableEntity):
    """A callback raised on the values it was given (the browser keeps its last good output)."""

    description = "The callback could not use these values."


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("number out of range")
    return int(text)


def check_shape(value) -> None:
    """Raise ValueError if ``value`` nests deeper than MAX_JSON_DEPTH or holds more than MAX_JSON_VALUES values."""
    stack = [(value, 1)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_JSON_VALUES:
            raise ValueError(f"more than {MAX_JSON_VALUES} JSON values")
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH}")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


# orjson reads an integer past the 64-bit range as a float: a number this large takes the json.loads path.
_ORJSON_EXACT_LIMIT = 2.0**63


def _plain_and_within_shape(value) -> bool:
    """Whether ``value`` is within :func:`check_shape`'s limits and holds no float of magnitude 2**63 or
    more (one level at a time, no message: :func:`strict_loads` then takes the ``json.loads`` path)."""
    level, depth, count = [value], 1, 0
    while level:
        count += len(level)
        if count > MAX_JSON_VALUES:
            return False
        below = []
        for item in level:
            kind = type(item)  # orjson gives these exact types
            if kind is str:
                continue
            if kind is dict:
                below.extend(item.values())
            elif kind is list:
                below.extend(item)
            elif kind is float and not -_ORJSON_EXACT_LIMIT < item < _ORJSON_EXACT_LIMIT:
                return False
            else:
                continue
            if depth > MAX_JSON_DEPTH:
                return False
        level, depth = below, depth + 1
    return True


def strict_loads(text, **kwargs):
    """``json.loads`` that accepts only what a browser's ``JSON.stringify`` produces, within the limits.

    A request body (bytes) is read by orjson when it gives exactly what ``json.loads`` would: orjson
    refuses ``NaN``/``Infinity`` and numbers that overflow a double, as we do, but reads an integer
    past 64 bits as a float (so any float of magnitude 2**63 or more is read again) and refuses a lone
    surrogate escape. Anything orjson refuses or that is past the limits takes the ``json.loads`` path,
    which words the refusal.
    """
    if not kwargs and isinstance(text, bytes):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:
            if _plain_and_within_shape(value):
                return value
    kwargs.setdefault("parse_constant", _reject_constant)
    kwargs.setdefault("parse_float", _parse_float)
    kwargs.setdefault("parse_int", _parse_int)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError as error:
        raise ValueError("JSON nested too deeply") from error
    check_shape(value)
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with :func:`strict_loads`; a ValueError becomes Flask's 400."""

    def loads(self, s, **kwargs):
        return strict_loads(s, **kwargs)


def _named(items, expected, where: str, names: list[tuple] | None = None) -> str | None:
    """A problem if ``items`` does not name the ``expected`` ``{"id", "property"}`` entries in order.

    ``names``: the expected ``(id, property)`` pairs when no id is a pattern (a quick check first)."""
    if names is not None and isinstance(items, list) and len(items) == len(names):
        try:
            if [(item["id"], item["property"]) for item in items] == names:
                return None
        except (TypeError, KeyError):
            pass  # the entry-by-entry check below words the problem
    if not isinstance(items, list) or len(items) != len(expected):
        return f"{where} must list {len(expected)} entries"
    for index, (item, spec) in enumerate(zip(items, expected, strict=True)):
        wildcard = isinstance(spec["id"], dict)
        entries = item if wildcard and isinstance(item, list) else [item]
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("property") != spec["property"]:
                return f"{where}[{index}] must be {_prop_id(spec)}"
            if not wildcard and entry.get("id") != spec["id"]:
                return f"{where}[{index}] must be {_prop_id(spec)}"
            if wildcard and not isinstance(entry.get("id"), dict):
                return f"{where}[{index}] must be a pattern-matching id"
    return None


@dataclass(frozen=True)
class _Expected:
    """What a callback's requests must name, from its ``callback_map`` entry (worked out once)."""

    outputs: list | None  # None: a callback without outputs
    multi: bool
    inputs: frozenset[str] | None  # None: pattern-matching inputs, named from the body
    # (id, property) of the outputs, inputs and state when none is a pattern (else None)
    output_names: list[tuple] | None
    input_names: list[tuple] | None
    state_names: list[tuple] | None
    # (section, index, "id.property", what it must be) of each input and state entry in string_values()
    strings: tuple[tuple[str, int, str, str], ...] = ()


_expected_by_output: dict[str, tuple[dict, _Expected]] = {}


def _expected(output: str, spec: dict) -> _Expected:
    kept_spec, found = _expected_by_output.get(output, (None, None))
    if kept_spec is not spec or found is None:  # another app (tests build many) has its own entries
        outputs, multi = None, False
        if not spec.get("no_output"):
            split = split_callback_id(output)
            multi = isinstance(split, list)
            outputs = split if multi else [split]
        wildcard = any(isinstance(entry["id"], dict) for entry in spec["inputs"])
        inputs = None if wildcard else frozenset(_prop_id(entry) for entry in spec["inputs"])
        known = string_values()
        strings = tuple((section, index, _prop_id(entry), known[(entry["id"], entry["property"])])
                        for section in ("inputs", "state") for index, entry in enumerate(spec[section])
                        if isinstance(entry["id"], str) and (entry["id"], entry["property"]) in known)
        found = _Expected(outputs, multi, inputs, _pairs(outputs), _pairs(spec["inputs"]), _pairs(spec["state"]),
                          strings)
        _expected_by_output[output] = (spec, found)
    return found


@functools.cache
def string_values() -> dict[tuple[str, str], str]:
    """What the value must be, in words, of each ``(id, property)`` the renderer always sends as a string
    (or null, before the component sets it) and a callback uses as a key: the page location's pathname
    and search (the page cache's key) and each view's radio groups (looked up among their choices). A
    list or an object there raises inside the callback (unhashable), so the request check refuses it; a
    number or a boolean goes on to the callback, which reads it as it reads an unknown string."""
    expected = {(ids.Page.LOCATION, prop): "a string or null" for prop in ("pathname", "search")}
    for view in views.VIEWS:
        for control in view.extras:
            if isinstance(control, controls.ChoiceControl):
                keys = [f"“{key}”" for key, _ in control.choices]
                choices = f"{', '.join(keys[:-1])} or {keys[-1]}" if len(keys) > 1 else keys[0]
                expected[(control.input_id(view.name), "value")] = f"a string or null (one of its choices: {choices})"
    return expected


def _pairs(entries) -> list[tuple] | None:
    """``(id, property)`` of each entry; None if there are none to check or an id is a pattern."""
    if entries is None or any(isinstance(entry["id"], dict) for entry in entries):
        return None
    return [(entry["id"], entry["property"]) for entry in entries]


def _prop_id(entry) -> str:
    return f"{stringify_id(entry['id'])}.{entry['property']}"


def _flat(items):
    for item in items:
        yield from (item if isinstance(item, list) else [item])


def callback_request_problem(app: dash.Dash, body) -> str | None:
    """Why ``body`` is not a request the Dash renderer would send for one of ``app``'s callbacks (None if it is)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return "'output' must be a string"
    spec = app.callback_map.get(output)
    if spec is None or "callback" not in spec:
        return "'output' names no server-side callback"
    expected = _expected(output, spec)
    if expected.outputs is not None:
        if expected.multi:
            problem = _named(body.get("outputs"), expected.outputs, "outputs", expected.output_names)
        else:
            problem = _named([body.get("outputs")], expected.outputs, "outputs", expected.output_names)
        if problem:
            return problem
    problem = _named(body.get("inputs"), spec["inputs"], "inputs", expected.input_names)
    if problem:
        return problem
    problem = _named(body.get("state", []), spec["state"], "state", expected.state_names)
    if problem:
        return problem
    for section, index, prop_id, must_be in expected.strings:
        value = body[section][index].get("value")
        if isinstance(value, list | dict):
            kind = "a list" if isinstance(value, list) else "an object"
            return f"{section}[{index}] ({prop_id}) must be {must_be}; received {kind}"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list):
        return "'changedPropIds' must be a list"
    # Without pattern-matching inputs the body's input ids are the spec's (just checked), so the
    # names are the callback's own, worked out once.
    known = expected.inputs if expected.inputs is not None else {_prop_id(entry) for entry in _flat(body["inputs"])}
    for prop_id in changed:
        if not isinstance(prop_id, str) or len(prop_id) > MAX_PROP_ID_LENGTH or prop_id not in known:
            return "'changedPropIds' must name inputs of the callback"
    return None


def on_callback_error(error: Exception):
    """Dash ``on_error`` handler: log the traceback here, answer the client with a bare 422."""
    reference = uuid.uuid4().hex[:12]
    current_app.logger.error("callback raised %s (reference %s)", type(error).__name__, reference, exc_info=error)
    failure = CallbackFailed()
    failure.reference = reference
    raise failure


def _error_body(status: int, error: str, message: str, reference: str | None = None):
    payload = {"error": error, "message": message}
    if reference:
        payload["reference"] = reference
    response = jsonify(payload)
    response.status_code = status
    return response


def install(app: dash.Dash) -> None:
    """Add the limits, the callback request check, the error handlers and the headers to ``app.server``."""
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    server.json = StrictJSONProvider(server)
    callback_path = app.config.routes_pathname_prefix + CALLBACK_ROUTE
    csp: list[str] = []

    @server.before_request
    def check_callback_request():
        if request.path != callback_path or request.method != "POST":
            return None
        if request.content_length is None:
            # A streamed (chunked) body would be cut at the cap without a 413; the renderer
            # always sends Content-Length, so a callback request without one is refused.
            return _error_body(411, "Length Required", "a callback request needs a Content-Length")
        # get_json: 413 over the cap, 415 if not application/json, 400 if not strict JSON.
        problem = callback_request_problem(app, request.get_json())
        if problem:
            return _error_body(400, "Bad Request", problem)
        return None

    @server.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path != callback_path:
            return error
        return _error_body(error.code or 400, error.name, error.description or "",
                           getattr(error, "reference", None))

    @server.errorhandler(DependencyException)
    def unknown_component_file(_error):
        # Dash 4 raises this for a /_dash-component-suites/ path it did not register
        # (a probe such as ../../etc/passwd): that is a 404, not a server error.
        return NotFound()

    @server.errorhandler(Exception)
    def unexpected_error(error: Exception):
        reference = uuid.uuid4().hex[:12]
        server.logger.error("unhandled %s on %s %s (reference %s)", type(error).__name__,
                            request.method, request.path, reference, exc_info=error)
        return _error_body(500, "Internal Server Error", "The server could not answer this request.",
                           reference)

    @server.after_request
    def security_headers(response):
        cache_control(app, response)
        if not csp:
            csp.append(CSP_TEMPLATE.format(hashes=" ".join(app.csp_hashes())))
        # setdefault for each, in one look at the headers already set
        present = {name.lower() for name in response.headers.keys()}
        for name, value in (("Content-Security-Policy", csp[0]), *STATIC_HEADERS.items()):
            if name.lower() not in present:
                response.headers.add(name, value)
        return response


def is_fingerprinted(app: dash.Dash, path: str, args) -> bool:
    """Does this GET path (with its query ``args``) name one exact, never-changing version of a file?

    True for Dash's fingerprinted component bundles, for an asset whose ``m``
    query parameter is its file's current mtime (written as Dash writes it in
    the page, ``str(os.stat(file).st_mtime)``), and for the favicon at Dash's version.
    """
    prefix = app.config.routes_pathname_prefix
    if path.startswith(prefix + COMPONENT_SUITES_ROUTE):
        return check_fingerprint(path)[1]
    if path == prefix + FAVICON_ROUTE:
        return args.get("v") == dash.__version__
    assets = prefix + app.config.assets_url_path.strip("/") + "/"
    stamp = args.get("m")
    if not path.startswith(assets) or not stamp:
        return False
    file = safe_join(app.config.assets_folder, path[len(assets):])
    try:
        return file is not None and str(os.stat(file).st_mtime) == stamp
    except OSError:
        return False


def cache_control(app: dash.Dash, response) -> None:
    """Set ``Cache-Control`` (and an ETag where it saves a download) on a response of ``app``."""
    prefix = app.config.routes_pathname_prefix
    if request.path == prefix + CALLBACK_ROUTE:
        response.headers["Cache-Control"] = "no-store"
        return
    if request.method not in ("GET", "HEAD") or response.status_code not in (200, 304):
        response.headers.setdefault("Cache-Control", "no-store")
        return
    if is_fingerprinted(app, request.path, request.args):
        response.headers["Cache-Control"] = IMMUTABLE
        return
    response.headers["Cache-Control"] = REVALIDATE
    if request.path in (prefix + route for route in REVALIDATED_ROUTES) and response.status_code == 200:
        response.add_etag()
        response.make_conditional(request)
