"""``POST /_dash-update-component`` bodies shaped exactly like the Dash renderer's.

Captured from dash-renderer 4.4.1 in Chromium (a delta change on /regression)::

    POST /_dash-update-component?endId=<signed token from the page's _dash-config>
    {"output": "..regression-loss-graph.figure...regression-grad-graph.figure...",
     "outputs": [{"id": "regression-loss-graph", "property": "figure"}, ...],
     "inputs": [{"id": "regression-target-input", "property": "value", "value": "0"}, ...,
                {"id": "regression-losses", "property": "value", "value": ["mse", "mae", ...]}],
     "changedPropIds": ["regression-delta-input.value"],
     "parsedChangedPropsIds": ["regression-delta-input.value"],
     "state": [{"id": "regression-url-sync", "property": "data", "value": "?target=0&..."}]}

Everything here is black-box: the callback's shape comes from
``app.callback_map``, and the current values of its inputs and state come
from the page-load (``route``) callback's response, as in a browser. A
scenario is two bodies, A (old -> new value) and B (new -> old value), each
carrying the store value the previous response set, so alternating them is
an endless sequence of genuine control changes.

:class:`Tab` does the same for a whole browsing session (what
tests/reliability drives): it loads a view through the route callback and
takes every control, its current value and the kind of value it accepts from
that answer, so the traffic cannot drift from the app.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from dataclasses import dataclass, field

from bench.harness import CALLBACK_PATH, Client

UPDATE_PATH = CALLBACK_PATH


@dataclass(frozen=True)
class Scenario:
    key: str
    view: str
    input_id: str
    new_value: str

    @property
    def path(self) -> str:
        return "/" + self.view


SCENARIOS = (
    Scenario("regression-y", "regression", "regression-target-input", "0.5"),
    Scenario("regression-delta", "regression", "regression-delta-input", "2"),
    Scenario("binary-label", "binary", "binary-label-input", "1"),
    Scenario("multiclass-logits", "multiclass", "multiclass-logits-input", "2, 1, 0.5, -1"),
)


@dataclass
class Prepared:
    """A scenario's two alternating bodies and what each response looked like."""

    scenario: Scenario
    url: str
    bodies: tuple[bytes, bytes]
    responses: tuple[bytes, bytes]
    old_value: str

    def figure_outputs(self) -> list[str]:
        """Ids of graphs whose figure the response changes (the charts that repaint)."""
        payload = json.loads(self.responses[0])["response"]
        return [cid for cid, props in payload.items() if "figure" in props]


def split_output(output: str) -> list[dict]:
    """``..a.b...c.d..`` (multi-output) or ``a.b`` as the renderer's ``outputs`` list of {id, property}."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True)) for part in parts]


def callback_for_input(callback_map: dict, component_id: str, prop: str = "value") -> tuple[str, dict]:
    """The server callback (not a clientside one) that has ``component_id.prop`` as an Input."""
    for output, entry in callback_map.items():
        if "callback" not in entry:
            continue
        if any(i["id"] == component_id and i["property"] == prop for i in entry["inputs"]):
            return output, entry
    raise LookupError(f"no server callback takes {component_id}.{prop}")


def route_callback(callback_map: dict) -> tuple[str, dict]:
    return next((o, e) for o, e in callback_map.items()
                if [i["property"] for i in e["inputs"]] == ["pathname", "search"])


def component_props(tree) -> dict[str, dict]:
    """Every component with an id in a serialised layout, as {id: props}."""
    found: dict[str, dict] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict):
                if isinstance(props.get("id"), str):
                    found[props["id"]] = props
                stack.extend(v for v in props.values() if isinstance(v, list | dict))
            else:
                stack.extend(v for v in node.values() if isinstance(v, list | dict))
    return found


def request_dict(output: str, entry: dict, values: dict[tuple[str, str], object],
                 changed: str | list[str]) -> dict:
    """A renderer-shaped request for ``output``'s callback with the given current values.

    ``values`` maps ``(id, property)`` to the value; ``changed`` is the ``id.property`` (or
    list of them) that triggered the call.
    """
    def with_values(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get((i["id"], i["property"]))}
                for i in items]
    outputs = split_output(output)
    changed = [changed] if isinstance(changed, str) else list(changed)
    return {
        "output": output,
        "outputs": outputs if output.startswith("..") else outputs[0],
        "inputs": with_values(entry["inputs"]),
        "changedPropIds": changed,
        "parsedChangedPropsIds": changed,
        "state": with_values(entry["state"]),
    }


def body(output: str, entry: dict, values: dict[tuple[str, str], object], changed: str | list[str]) -> bytes:
    """:func:`request_dict` as the bytes the renderer posts."""
    return json.dumps(request_dict(output, entry, values, changed), separators=(",", ":")).encode()


def route_body(callback_map: dict, pathname: str, search: str = "") -> bytes:
    """The page-load request: the route callback for ``pathname`` and ``search``."""
    output, entry = route_callback(callback_map)
    return body(output, entry, {("url", "pathname"): pathname, ("url", "search"): search}, "url.pathname")


def page_components(answer: bytes) -> dict[str, dict]:
    """Every component with an id in a route answer's page content, as {id: props}."""
    layout = json.loads(answer)["response"]
    content = next(v["children"] for v in layout.values() if "children" in v and isinstance(v["children"], dict))
    return component_props(content)


def figures_in_page(props: dict[str, dict]) -> list[str]:
    """Ids of the page's components that carry a figure with traces (its charts)."""
    return [cid for cid, p in props.items() if isinstance(p.get("figure"), dict) and p["figure"].get("data")]


def figures_in_answer(answer: bytes) -> list[str]:
    """Ids whose ``figure`` a callback answer sets, whole or as a Patch (the charts it redraws)."""
    try:
        payload = json.loads(answer)["response"]
    except (ValueError, KeyError, TypeError):
        return []
    return [cid for cid, props in payload.items() if isinstance(props, dict) and props.get("figure")]


def end_id(client: Client, path: str) -> str:
    """The signed ``endId`` the renderer echoes on callback URLs (from the page's _dash-config)."""
    status, _, page = client.get(path)
    match = re.search(rb'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
    if status != 200 or not match:
        return ""
    return json.loads(match.group(1)).get("end_id") or ""


def prepare(client: Client, callback_map: dict, scenario: Scenario) -> Prepared:
    """Load the view as a browser does, then make the change once each way to get both bodies."""
    token = end_id(client, scenario.path)
    url = UPDATE_PATH + (f"?endId={token}" if token else "")
    status, _, page = client.post(url, route_body(callback_map, scenario.path))
    if status != 200:
        raise RuntimeError(f"page-load callback for {scenario.path} answered {status}")
    props = page_components(page)

    output, entry = callback_for_input(callback_map, scenario.input_id)
    values = {(i["id"], i["property"]): props.get(i["id"], {}).get(i["property"])
              for i in [*entry["inputs"], *entry["state"]]}
    old_value = values[(scenario.input_id, "value")]
    changed = f"{scenario.input_id}.value"
    bodies, responses = [], []
    for new in (scenario.new_value, old_value):
        values[(scenario.input_id, "value")] = new
        request = body(output, entry, values, changed)
        status, _, response = client.post(url, request)
        if status != 200:
            raise RuntimeError(f"{scenario.key}: callback answered {status}: {response[:200]!r}")
        bodies.append(request)
        responses.append(response)
        # The browser's next request carries whatever State the last response wrote.
        written = json.loads(response)["response"]
        for state in entry["state"]:
            if state["property"] in written.get(state["id"], {}):
                values[(state["id"], state["property"])] = written[state["id"]][state["property"]]
    return Prepared(scenario, url, (bodies[0], bodies[1]), (responses[0], responses[1]), str(old_value))


def trivial_body(callback_map: dict, value: str) -> bytes:
    output, entry = next(iter(callback_map.items()))
    return body(output, entry, {(entry["inputs"][0]["id"], entry["inputs"][0]["property"]): value},
                f"{entry['inputs'][0]['id']}.{entry['inputs'][0]['property']}")


# ---------------------------------------------------------------- a browsing session

#: A value no number box accepts: a user's typo, answered with an inline message (still a 200).
TYPO = "abc"
#: Inputs a click callback may take: a chart's clickData, or a store a clientside click handler writes.
CLICK_PROPERTIES = ("clickData", "data")


@dataclass
class Step:
    """One request of a :class:`Tab` and what it is meant to do.

    ``kind`` is "route" (a page load), "change" (a control's new value to the view's main
    callback) or "click" (a click on a chart, answered with a text box's new value).
    ``meant_valid`` says whether every control value in it is one the app should accept:
    a meant-valid route or change must answer with charts, a meant-invalid change with none.
    """

    view: str
    kind: str
    body: bytes
    meant_valid: bool = True
    changed: str = ""


def _number_count(array) -> int:
    """Points in a figure array: a list, or plotly's typed-array dict {dtype, bdata}."""
    if isinstance(array, list):
        return len(array)
    if isinstance(array, dict) and "bdata" in array:
        import numpy as np

        return len(base64.b64decode(array["bdata"])) // np.dtype(array.get("dtype", "f8")).itemsize
    return 0


def x_extent(figure: dict) -> tuple[float, float] | None:
    """The smallest and largest x of a figure's ``x0``/``dx`` traces (the sweeps), or None."""
    low, high = float("inf"), float("-inf")
    for trace in figure.get("data", []):
        if isinstance(trace.get("x0"), int | float) and isinstance(trace.get("dx"), int | float):
            n = _number_count(trace.get("y"))
            if n:
                ends = (trace["x0"], trace["x0"] + trace["dx"] * (n - 1))
                low, high = min(low, *ends), max(high, *ends)
    return (low, high) if low < high else None


def marker_extent(figure: dict) -> tuple[float, float] | None:
    """A chart with no curve (no loss of its axis ticked): Plotly ranges it around its marker, about ±1."""
    import numpy as np

    xs = []
    for trace in figure.get("data", []):
        x = trace.get("x")
        if isinstance(x, dict) and "bdata" in x:
            x = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x.get("dtype", "f8")).tolist()
        xs += [v for v in (x if isinstance(x, list) else []) if isinstance(v, int | float) and v == v]
    return (min(xs) - 1.0, max(xs) + 1.0) if xs else None


def slider_scale(props: dict) -> str | None:
    """"linear" if a slider's marks label their own positions, "log10" if they label 10**position."""
    marks = props.get("marks")
    if not isinstance(marks, dict) or not marks:
        return None
    try:
        pairs = [(float(k), float(v)) for k, v in marks.items()]
    except (TypeError, ValueError):
        return None
    if all(abs(v - k) <= 1e-9 * max(1.0, abs(k)) for k, v in pairs):
        return "linear"
    if all(abs(v - 10**k) <= 2e-3 * 10**k for k, v in pairs):
        return "log10"
    return None


@dataclass
class Control:
    """An input of a view's main callback, as the page shows it, and how to pick new values for it.

    ``kind``: "checklist" (a list value with options), "radio" (one of options), "slider"
    (a text box synced with a slider: valid values anywhere on the slider), "integer" (a
    numeric text box: 0 or 1 where its min and max accept them, or its page value), "clicked" (a text box a chart click sets:
    new values come from the click callback's answers), "text" (any other box: its page value).
    """

    id: str
    kind: str
    page_value: object
    options: list = field(default_factory=list)
    slider: dict = field(default_factory=dict)
    scale: str = "linear"
    #: the text box's accepted range (its min and max attributes; None: open)
    bounds: tuple = (None, None)

    def valid_value(self, rng: random.Random, current):
        if self.kind == "checklist":
            choices = [subset for subset in (
                [o for o in self.options if rng.random() < 0.5] for _ in range(8)) if subset and subset != current]
            return choices[0] if choices else [rng.choice(self.options)]
        if self.kind == "radio":
            others = [o for o in self.options if o != current]
            return rng.choice(others or self.options)
        if self.kind == "slider":
            low, high, step = self.slider["min"], self.slider["max"], self.slider.get("step") or 0.01
            position = low + round(rng.uniform(0, high - low) / step) * step
            position = min(max(position, low), high)
            if self.scale == "log10":
                return f"{10**position:.3g}"
            decimals = max(0, -int(f"{step:e}".split("e")[1]))
            return f"{round(position, decimals):g}"
        if self.kind == "integer":
            low, high = self.bounds
            inside = [v for v in ("0", "1") if (low is None or int(v) >= low) and (high is None or int(v) <= high)]
            return rng.choice([*inside, self.page_value])
        return self.page_value


class Tab:
    """One browser tab on one view, driven only by the app's own answers (no I/O of its own).

    ``next_step(rng)`` gives the next request; the caller posts ``step.body`` to
    ``/_dash-update-component`` and hands the answer to ``answered(step, status, body)``.
    The first step loads the page (the route callback); everything about the view's main
    callback — its inputs, their current values, the options and slider ranges, which boxes
    a chart click fills — is read from that answer and from the callback map. After a
    typo the next change corrects it, as a user would; ``typo_share`` of changes are typos.
    """

    def __init__(self, callback_map: dict, path: str, route_share: float = 0.1, click_share: float = 0.15,
                 typo_share: float = 0.1, tally: ChartTally | None = None):
        self.map = callback_map
        self.path = path
        self.view = path.strip("/") or "/"
        self.route_share, self.click_share, self.typo_share = route_share, click_share, typo_share
        self.tally = tally
        self.query = ""  # the URL's query: the url-sync store's data, as the browser keeps it
        self.loaded = False
        self.main: tuple[str, dict] | None = None
        self.controls: dict[str, Control] = {}
        self.clicks: list[tuple[str, dict]] = []  # (output, entry) of click callbacks
        self.extents: dict[str, tuple[float, float]] = {}
        self.values: dict[tuple[str, str], object] = {}
        self.typos: set[str] = set()
        self.before_typo: dict[str, object] = {}  # a box's value before its typo, typed back to correct it
        self.pending: tuple[str, object] | None = None

    # -- reading the page ---------------------------------------------------------------

    def load(self, answer: bytes) -> None:
        """Take the view's controls and current values from a route answer."""
        props = page_components(answer)
        server = {o: e for o, e in self.map.items() if "callback" in e}
        main = [(o, e) for o, e in server.items()
                if e["inputs"] and all(i["property"] == "value" and i["id"] in props for i in e["inputs"])
                and any(o2["property"] == "figure" for o2 in split_output(o))]
        if len(main) != 1:
            raise LookupError(f"{self.path}: expected one main callback among the page's inputs, found "
                              f"{[o[:60] for o, _ in main]}")
        self.main = main[0]
        entry = self.main[1]
        inputs = {i["id"] for i in entry["inputs"]}
        # A click callback fills boxes of the main callback from a chart's clickData, or from a store a
        # clientside click handler writes ({"points": [{"x": ...}], ...}, the same shape).
        self.clicks = [(o, e) for o, e in server.items()
                       if o != self.main[0] and e["inputs"]
                       and all(i["property"] in CLICK_PROPERTIES and i["id"] in props for i in e["inputs"])
                       and all(x["id"] in inputs and x["property"] == "value" for x in split_output(o))]
        clicked = {x["id"] for o, _ in self.clicks for x in split_output(o)}
        sliders = self._sliders(props)
        self.controls = {}
        for item in entry["inputs"]:
            cid, p = item["id"], props[item["id"]]
            value = p.get("value")
            options = [o["value"] if isinstance(o, dict) else o for o in p.get("options") or []]
            if options:
                kind = "checklist" if isinstance(value, list) else "radio"
                self.controls[cid] = Control(cid, kind, value, options=options)
            elif cid in sliders:
                slider = props[sliders[cid]]
                self.controls[cid] = Control(cid, "slider", value, slider=slider, scale=slider_scale(slider))
            elif cid in clicked:
                self.controls[cid] = Control(cid, "clicked", value)
            elif p.get("inputMode") == "numeric":
                self.controls[cid] = Control(cid, "integer", value, bounds=(p.get("min"), p.get("max")))
            else:
                self.controls[cid] = Control(cid, "text", value)
        self.values = {(i["id"], i["property"]): props.get(i["id"], {}).get(i["property"])
                       for i in [*entry["inputs"], *entry["state"]]}
        charts = [x["id"] for x in split_output(self.main[0]) if x["property"] == "figure"]
        default_extent = next((e for e in (x_extent(props.get(c, {}).get("figure") or {}) for c in charts) if e),
                              (-1.0, 1.0))
        self.extents = {}
        for _, click_entry in self.clicks:
            for item in [*click_entry["inputs"], *click_entry["state"]]:
                key = (item["id"], item["property"])
                if key not in self.values:
                    self.values[key] = props.get(item["id"], {}).get(item["property"])
            for item in click_entry["inputs"]:
                figure = props[item["id"]].get("figure")
                self.extents[item["id"]] = (isinstance(figure, dict) and x_extent(figure)) or default_extent
        self.typos.clear()
        self.pending = None
        self.loaded = True

    def _follow_axes(self, written: dict) -> None:
        """A whole new figure (an axis choice, say) has a new x range: later clicks land inside it, as a
        user's click on the redrawn chart would (a chart's own clickData, or a click store fed by any chart)."""
        redrawn = {cid: x_extent(props["figure"]) or marker_extent(props["figure"]) for cid, props in written.items()
                   if isinstance(props, dict) and isinstance(props.get("figure"), dict) and "data" in props["figure"]}
        redrawn = {cid: extent for cid, extent in redrawn.items() if extent}
        if not redrawn:
            return
        first = next(iter(redrawn.values()))
        for target in self.extents:
            self.extents[target] = redrawn.get(target, first)

    def _sliders(self, props: dict[str, dict]) -> dict[str, str]:
        """{text box id: slider id} from the clientside callbacks that keep a slider and a box in step."""
        found = {}
        for output, entry in self.map.items():
            if "callback" in entry or not output.startswith(".."):
                continue
            ids = [x["id"] for x in split_output(output) if x["property"] == "value"]
            if len(ids) != 2:
                continue
            for box, slider in (ids, ids[::-1]):
                p = props.get(slider, {})
                if "min" in p and "max" in p and slider_scale(p) and props.get(box, {}).get("type") == "text":
                    found[box] = slider
        return found

    # -- the next request ---------------------------------------------------------------

    def navigate(self) -> None:
        """The next step is a page load (the user follows a link to the view; the query is kept)."""
        self.loaded = False

    def next_step(self, rng: random.Random) -> Step:
        if not self.loaded:
            return Step(self.view, "route", route_body(self.map, self.path, self.query))
        if self.pending is not None:
            cid, value = self.pending
            self.pending = None
            return self._change(cid, value, typo=False)
        if rng.random() < self.route_share:
            return Step(self.view, "route", route_body(self.map, self.path, self.query))
        if self.typos:
            cid = sorted(self.typos)[0]
            control = self.controls[cid]
            # The user types back what the box held (a page value can be stale: an axis switch moved x).
            value = (self.before_typo.get(cid, control.page_value) if control.kind in ("clicked", "text")
                     else control.valid_value(rng, self.values[(cid, "value")]))
            return self._change(cid, value, typo=False)
        boxes = [c for c in self.controls.values() if c.kind not in ("checklist", "radio")]
        if boxes and rng.random() < self.typo_share:
            return self._change(rng.choice(boxes).id, TYPO, typo=True)
        if self.clicks and rng.random() < self.click_share:
            return self.click_step(rng)
        control = rng.choice([c for c in self.controls.values() if c.kind != "clicked"] or [None])
        if control is None:
            return self.click_step(rng)
        return self._change(control.id, control.valid_value(rng, self.values[(control.id, "value")]), typo=False)

    def change_body(self, cid: str, value=None) -> bytes:
        """The main callback's request after ``cid`` changed to ``value`` (default: its current value)."""
        if value is not None:
            self.values[(cid, "value")] = value
        output, entry = self.main
        return body(output, entry, self.values, f"{cid}.value")

    def _change(self, cid: str, value, typo: bool) -> Step:
        if typo and cid not in self.typos:
            self.before_typo[cid] = self.values[(cid, "value")]
        (self.typos.add if typo else self.typos.discard)(cid)
        return Step(self.view, "change", self.change_body(cid, value), meant_valid=not self.typos, changed=cid)

    def click_step(self, rng: random.Random) -> Step:
        """A click at a random x of one of the view's clickable charts (a change if it has none)."""
        if not self.clicks:
            return self.next_step(rng)
        output, entry = rng.choice(self.clicks)
        target = rng.choice(entry["inputs"])
        low, high = self.extents[target["id"]]
        values = dict(self.values)
        for item in entry["inputs"]:
            values[(item["id"], item["property"])] = None
        values[(target["id"], target["property"])] = {
            "points": [{"x": round(rng.uniform(low, high), 3), "y": 0.0, "curveNumber": 0}]}
        changed = f"{target['id']}.{target['property']}"
        return Step(self.view, "click", body(output, entry, values, changed), meant_valid=not self.typos,
                    changed=target["id"])

    # -- the answer -----------------------------------------------------------------------

    def answered(self, step: Step, status: int | str, answer: bytes) -> None:
        """Update the tab from an answer (``status`` is an error name when none came) and tally it."""
        if status != 200:
            if self.tally is not None:
                self.tally.record(step, answered=isinstance(status, int), charts=False)
            return
        charts = False
        if step.kind == "route":
            self.load(answer)
            charts = bool(figures_in_page(page_components(answer)))
        elif step.kind == "change":
            charts = bool(figures_in_answer(answer))
            written = json.loads(answer).get("response", {})
            for item in self.main[1]["state"]:
                if item["property"] in written.get(item["id"], {}):
                    self.values[(item["id"], item["property"])] = written[item["id"]][item["property"]]
                    if item["property"] == "data" and isinstance(self.values[(item["id"], "data")], str):
                        self.query = self.values[(item["id"], "data")]
            for cid, props in written.items():  # a box the server corrected (e.g. x moved onto a new axis)
                if cid in self.controls and isinstance(props, dict) and "value" in props:
                    self.values[(cid, "value")] = props["value"]
            self._follow_axes(written)
        else:  # a click: the box it fills gets the value, then the renderer fires the main callback
            written = json.loads(answer).get("response", {})
            for cid, props in written.items():
                if cid in self.controls and "value" in props:
                    self.pending = (cid, props["value"])
        if self.tally is not None:
            self.tally.record(step, answered=True, charts=charts)


class ChartTally:
    """Per view: how many meant-valid page loads and changes returned charts (thread-safe).

    Counted over the requests that got an answer; ``no_answer`` counts those that did not
    (a connection a fault test broke). Clicks are counted apart: they answer a text value.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.views: dict[str, dict[str, int]] = {}

    def record(self, step: Step, answered: bool, charts: bool) -> None:
        with self.lock:
            row = self.views.setdefault(step.view, dict.fromkeys(
                ("valid", "valid_with_charts", "typos", "typos_with_charts", "clicks", "no_answer"), 0))
            if not answered:
                row["no_answer"] += 1
            elif step.kind == "click":
                row["clicks"] += 1
            elif step.meant_valid:
                row["valid"] += 1
                row["valid_with_charts"] += charts
            else:
                row["typos"] += 1
                row["typos_with_charts"] += charts

    def share(self, view: str) -> float:
        row = self.views.get(view, {})
        return row["valid_with_charts"] / row["valid"] if row.get("valid") else 0.0

    def report(self) -> dict[str, dict]:
        with self.lock:
            return {view: row | {"reached_charts_pct": round(100 * self.share(view), 1)}
                    for view, row in sorted(self.views.items())}

    def problems(self, views, minimum: float = 0.95) -> list[str]:
        """Why the traffic did not do what it meant to (empty if it did), for every view in ``views``."""
        found = []
        for view in views:
            row = self.views.get(view)
            if not row or not row["valid"]:
                found.append(f"{view}: no meant-valid request was answered")
            elif self.share(view) < minimum:
                found.append(f"{view}: {row['valid_with_charts']} of {row['valid']} meant-valid requests "
                             f"returned charts ({100 * self.share(view):.1f}% < {100 * minimum:.0f}%)")
            if row and row["typos_with_charts"]:
                found.append(f"{view}: {row['typos_with_charts']} requests with a typo returned charts")
        return found
