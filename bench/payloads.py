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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bench.common import Client

UPDATE_PATH = "/_dash-update-component"


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


def body(output: str, entry: dict, values: dict[tuple[str, str], object], changed: str) -> bytes:
    """A renderer-shaped body for ``output``'s callback with the given current values."""
    def with_values(items):
        return [{"id": i["id"], "property": i["property"], "value": values.get((i["id"], i["property"]))}
                for i in items]
    outputs = split_output(output)
    return json.dumps({
        "output": output,
        "outputs": outputs if output.startswith("..") else outputs[0],
        "inputs": with_values(entry["inputs"]),
        "changedPropIds": [changed],
        "parsedChangedPropsIds": [changed],
        "state": with_values(entry["state"]),
    }, separators=(",", ":")).encode()


def end_id(client: Client, path: str) -> str:
    """The signed ``endId`` the renderer echoes on callback URLs (from the page's _dash-config)."""
    status, page = client.get(path)
    match = re.search(rb'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
    if status != 200 or not match:
        return ""
    return json.loads(match.group(1)).get("end_id") or ""


def prepare(client: Client, callback_map: dict, scenario: Scenario) -> Prepared:
    """Load the view as a browser does, then make the change once each way to get both bodies."""
    token = end_id(client, scenario.path)
    url = UPDATE_PATH + (f"?endId={token}" if token else "")
    route_output, route_entry = route_callback(callback_map)
    page_body = body(route_output, route_entry,
                     {("url", "pathname"): scenario.path, ("url", "search"): ""}, "url.pathname")
    status, page = client.post(url, page_body)
    if status != 200:
        raise RuntimeError(f"page-load callback for {scenario.path} answered {status}")
    layout = json.loads(page)["response"]
    content = next(v["children"] for v in layout.values() if "children" in v and isinstance(v["children"], dict))
    props = component_props(content)

    output, entry = callback_for_input(callback_map, scenario.input_id)
    values = {(i["id"], i["property"]): props.get(i["id"], {}).get(i["property"])
              for i in [*entry["inputs"], *entry["state"]]}
    old_value = values[(scenario.input_id, "value")]
    changed = f"{scenario.input_id}.value"
    bodies, responses = [], []
    for new in (scenario.new_value, old_value):
        values[(scenario.input_id, "value")] = new
        request = body(output, entry, values, changed)
        status, response = client.post(url, request)
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
