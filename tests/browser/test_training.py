"""Training view: both parts render, follow η, keep their charts on bad input, and play back with no request.

Expected trajectories come from hand-unrolled gradient-descent loops written here,
with the closed-form gradients of BCE (p̂ − y) and MSE on the sigmoid
(2(p̂ − y)·p̂(1 − p̂)), never from the view's code.
"""

import contextlib
import io
import math

import numpy as np

from losslab import training
from losslab.dashboard import export

from .conftest import assert_close, option_label
from .test_bad_input import wait_message
from .test_export import allow_downloads, wait_for_file
from .test_linked_charts import COUNT_CALLBACK_REQUESTS

LOSS, GRAD = "training-loss-graph", "training-grad-graph"
BCE_SURFACE, MSE_SURFACE = "training-bce-surface-graph", "training-sigmoid-mse-surface-graph"
BCE_PATH, MSE_PATH = "training-bce-path-graph", "training-sigmoid-mse-path-graph"
PART1, PART2 = (LOSS, GRAD), (BCE_SURFACE, MSE_SURFACE, BCE_PATH, MSE_PATH)
ALL_GRAPHS = PART1 + PART2

# Every trace of a graph as drawn, with its axes (the trajectory and loss rows share loss keys as meta).
DRAWN_JS = """
const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!plot || !plot._fullData) return null;
const list = (a) => (a === undefined || a === null) ? null
  : Array.from(a, (v) => (typeof v === 'number' && !isFinite(v)) ? null : v);
return plot._fullData.map((t) => ({
  meta: t.meta === undefined ? null : t.meta, axes: (t.xaxis || 'x') + (t.yaxis || 'y'), type: t.type,
  x0: t.x0 === undefined ? null : t.x0, dx: t.dx === undefined ? null : t.dx,
  x: t.x ? list(t.x) : null, y: t.y ? list(t.y) : null, customdata: t.customdata ? list(t.customdata) : null,
  z: t.type === 'contour' ? Array.from(t.z, (row) => list(row)) : null,
}));
"""


def sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def bce_grad(z, y):
    return sigmoid(z) - y


def mse_grad(z, y):
    p = sigmoid(z)
    return 2 * (p - y) * p * (1 - p)


def descend(grad, z0, y, lr, steps):
    zs = [z0]
    for _ in range(steps):
        zs.append(zs[-1] - lr * grad(zs[-1], y))
    return zs


def first(condition, values):
    return next((t for t, v in enumerate(values) if condition(v)), None)


def drawn(lab, graph_id, meta, axes="xy"):
    traces = [t for t in lab.js(DRAWN_JS, graph_id) or [] if t["meta"] == meta and t["axes"] == axes]
    assert len(traces) == 1, f"expected one {meta!r} trace on {axes} of #{graph_id}, got {len(traces)}"
    return traces[0]


def curve(lab, graph_id, key, axes="xy"):
    """A curve over the steps: (x, y) with x = t from x0/dx."""
    trace = drawn(lab, graph_id, key, axes)
    if trace["x"] is not None:
        return trace["x"], trace["y"]
    return [trace["x0"] + i * trace["dx"] for i in range(len(trace["y"]))], trace["y"]


def open_training(lab, query=""):
    lab.open("/training" + query, wait_for=ALL_GRAPHS)


def readout_rows(lab, table_selector):
    return lab.js(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'),"
        " (r) => Array.from(r.cells, (c) => c.innerText));",
        table_selector,
    )


def playback_label(lab, bar):
    return lab.text(f"{bar}-label")


def test_one_logit_part_reproduces_the_chapter(lab):
    open_training(lab)
    y, lr, steps = 0.0, 1.0, 100
    z0 = math.log(0.99 / 0.01)
    bce = descend(bce_grad, z0, y, lr, steps)
    mse = descend(mse_grad, z0, y, lr, steps)
    # The chapter: BCE recovers in a few steps, MSE on the sigmoid takes many times more.
    assert first(lambda z: sigmoid(z) < 0.5, bce) == 6
    assert first(lambda z: sigmoid(z) < 0.5, mse) == 59

    for key, zs in (("bce", bce), ("sigmoid_mse", mse)):
        x, p = curve(lab, LOSS, key, "xy")
        assert x == list(range(steps + 1))
        assert_close(p, [sigmoid(z) for z in zs], tol=1e-9, what=f"{key} p̂_t")
        _, grad = curve(lab, GRAD, key)
        grad_of = bce_grad if key == "bce" else mse_grad
        assert_close(grad, [abs(grad_of(z, y)) for z in zs], tol=1e-9, what=f"{key} |dL/dz|_t")
    _, loss = curve(lab, LOSS, "bce", "xy2")
    assert_close(loss, [math.log1p(math.exp(z)) for z in bce], tol=1e-9, what="BCE(z_t, 0) = log(1 + e^z)")
    _, loss = curve(lab, LOSS, "sigmoid_mse", "xy2")
    assert_close(loss, [sigmoid(z) ** 2 for z in mse], tol=1e-9, what="MSE(z_t, 0) = σ(z)²")

    rows = readout_rows(lab, "#training-logit-readout")
    assert rows[0][:3] == ["BCE", "step 6", f"step {first(lambda v: v <= 0.1 * math.log1p(math.exp(z0)), [math.log1p(math.exp(z)) for z in bce])}"]
    assert rows[1][:2] == ["MSE on sigmoid", "step 59"]
    assert rows[0][4] == rows[1][4] == "finite"
    assert "after 6 steps" in lab.text("training-logit-readout")
    assert playback_label(lab, "training-logit-playback") == "step 100 of 100"

    # The trajectory switch shows z_t itself.
    option_label(lab, "training-trajectory", "logit").click()
    lab.wait_until(lambda: lab.layout(LOSS, "yaxis.title.text") == "zₜ", "the z_t axis")
    _, z = curve(lab, LOSS, "sigmoid_mse", "xy")
    assert_close(z, mse, tol=1e-9, what="MSE z_t")
    lab.wait_until(lambda: "trajectory=logit" in lab.driver.current_url, "URL trajectory=logit")
    assert lab.duo.get_logs() == []


def test_landscape_part_draws_both_surfaces_and_paths(lab):
    open_training(lab)
    dataset = training.make_dataset(points=40, separation=2.0, label_noise=0.1, seed=0)
    x, y = dataset.x, dataset.y

    def bce_step(w, b):
        slope = 1 / (1 + np.exp(-(w * x + b))) - y
        return w - np.mean(slope * x), b - np.mean(slope)

    w, b = -6.0, 4.0
    expected = [(w, b)]
    for _ in range(3):
        w, b = bce_step(w, b)
        expected.append((w, b))
    path = drawn(lab, BCE_PATH, "bce")
    assert len(path["x"]) == 101
    assert_close(path["x"][:4], [p[0] for p in expected], tol=1e-9, what="BCE path w")
    assert_close(path["y"][:4], [p[1] for p in expected], tol=1e-9, what="BCE path b")
    # The surfaces: at w = b = 0 every p̂ is 1/2, so BCE = ln 2 and MSE = 1/4 whatever the data;
    # elsewhere, the mean over the points computed here.
    grid = np.linspace(-8, 8, 61)
    for graph, at_origin, loss in (
        (BCE_SURFACE, math.log(2), lambda z: np.logaddexp(0, z) - y * z),  # -log σ(z) or -log(1 - σ(z))
        (MSE_SURFACE, 0.25, lambda z: (1 / (1 + np.exp(-z)) - y) ** 2),
    ):
        surface = drawn(lab, graph, "surface")
        assert surface["type"] == "contour" and len(surface["z"]) == 61 and len(surface["z"][0]) == 61
        assert abs(surface["z"][30][30] - at_origin) < 1e-12
        for i, j in ((10, 50), (55, 3), (0, 60)):  # z[i][j] is L(w_j, b_i)
            expected = float(np.mean(loss(grid[j] * x + grid[i])))
            assert abs(surface["z"][i][j] - expected) < 1e-9 * max(1, expected), (graph, i, j)

    # Convex BCE reaches its minimum; MSE on the sigmoid starts on a plateau and stalls far above its own.
    rows = readout_rows(lab, "#training-readout")
    assert [r[0] for r in rows] == ["BCE", "MSE on sigmoid"]
    mse_end, mse_min = float(rows[1][2]), float(rows[1][3])
    assert mse_end > 2 * mse_min  # stalled on the plateau, far above the lowest MSE on the grid
    assert abs(float(rows[0][2]) - float(rows[0][3])) < 0.01  # BCE reaches its lowest value
    assert lab.duo.get_logs() == []


def test_changing_the_learning_rate_updates_both_parts(lab):
    open_training(lab)
    surface_before = drawn(lab, BCE_SURFACE, "surface")["z"]
    path_before = drawn(lab, BCE_PATH, "bce")
    lab.type_into("training-lr-input", "0.25")
    z0 = math.log(0.99 / 0.01)
    bce = descend(bce_grad, z0, 0.0, 0.25, 100)

    def bce_follows():
        _, p = curve(lab, LOSS, "bce")
        return all(abs(a - sigmoid(z)) < 1e-9 for a, z in zip(p, bce, strict=True))

    lab.wait_until(bce_follows, "the BCE trajectory for η = 0.25")
    lab.wait_until(lambda: drawn(lab, BCE_PATH, "bce")["x"] != path_before["x"], "the BCE path for η = 0.25")
    lab.wait_until(lambda: "lr=0.25" in lab.driver.current_url, "URL lr=0.25")
    crossing = first(lambda z: sigmoid(z) < 0.5, bce)
    lab.wait_until(lambda: readout_rows(lab, "#training-logit-readout")[0][1] == f"step {crossing}",
                   "the readout for η = 0.25")
    # Same dataset, same surface: only the paths were sent.
    assert drawn(lab, BCE_SURFACE, "surface")["z"] == surface_before
    assert lab.duo.get_logs() == []


BAD = [
    ("lr", "0", ("Learning rate η", "out of range")),
    ("lr", "-1", ("Learning rate η", "-1", "out of range")),
    ("lr", "NaN", ("Learning rate η", "not a finite number")),
    ("steps", "1001", ("Steps T", "1001", "out of range")),
    ("start", "1", ("Start probability", "out of range")),
    ("start", "abc", ("Start probability", "abc", "not a number")),
]


def test_bad_input_shows_the_message_and_keeps_the_charts(lab):
    open_training(lab)
    before = lab.snapshot(*ALL_GRAPHS) + lab.text("training-logit-readout")
    for name, typed, fragments in BAD:
        good = lab.value(f"training-{name}-input")
        lab.type_into(f"training-{name}-input", typed)
        wait_message(lab, f"training-{name}-message", *fragments)
        assert lab.snapshot(*ALL_GRAPHS) + lab.text("training-logit-readout") == before, (name, typed)
        assert f"{name}={typed}" not in lab.driver.current_url
        lab.type_into(f"training-{name}-input", good)
        lab.wait_until(lambda n=name: lab.text(f"training-{n}-message") == "", f"the {name} message to clear")
    assert lab.snapshot(*ALL_GRAPHS) + lab.text("training-logit-readout") == before
    assert lab.duo.get_logs() == []


def test_playback_reveals_the_steps_with_no_server_request(lab):
    open_training(lab)
    full_bce = curve(lab, LOSS, "bce")[1]
    full_path = drawn(lab, MSE_PATH, "sigmoid_mse")
    lab.js(COUNT_CALLBACK_REQUESTS)

    # Step from the end starts again at step 0, then moves one step at a time.
    lab.duo.find_element("#training-logit-playback-step").click()
    lab.wait_until(lambda: len(curve(lab, LOSS, "bce")[1]) == 1, "step 0 on the trajectory chart")
    assert playback_label(lab, "training-logit-playback") == "step 0 of 100"
    lab.duo.find_element("#training-logit-playback-step").click()
    lab.wait_until(lambda: len(curve(lab, GRAD, "sigmoid_mse")[1]) == 2, "step 1 on the gradient chart")
    x, p = curve(lab, LOSS, "bce")
    assert x == [0, 1] and p == full_bce[:2]  # exactly the server's values
    marker = drawn(lab, LOSS, "step", "xy2")
    assert marker["x"] == [1, 1]

    # The slider jumps to any step.
    lab.js("const s = document.querySelector('#training-logit-playback-slider');"
           "const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
           "set.call(s, '40'); s.dispatchEvent(new Event('input', {bubbles: true}));")
    lab.wait_until(lambda: len(curve(lab, LOSS, "bce", "xy2")[1]) == 41, "step 40 from the slider")
    assert curve(lab, LOSS, "bce")[1] == full_bce[:41]
    assert drawn(lab, GRAD, "step")["x"] == [40, 40]

    # Play runs to the end, through intermediate steps, and pauses there with the whole run shown.
    lab.duo.find_element("#training-logit-playback-play").click()
    seen = set()

    def finished():
        seen.add(len(curve(lab, LOSS, "sigmoid_mse")[1]))
        return playback_label(lab, "training-logit-playback") == "step 100 of 100"

    lab.wait_until(finished, "playback to reach step 100", timeout=30)
    assert len([n for n in seen if 41 < n < 101]) >= 3, sorted(seen)
    lab.wait_until(lambda: curve(lab, LOSS, "bce")[1] == full_bce, "the whole run shown again")

    # Part 2 plays on its own bar: Play, then Pause stops it part-way.
    lab.duo.find_element("#training-landscape-playback-play").click()
    lab.wait_until(lambda: 1 < len(drawn(lab, MSE_PATH, "sigmoid_mse")["x"]) < 101, "the MSE path part-way")
    lab.duo.find_element("#training-landscape-playback-pause").click()
    paused = playback_label(lab, "training-landscape-playback")
    k = int(paused.split()[1])
    lab.wait_until(lambda: len(drawn(lab, MSE_PATH, "sigmoid_mse")["x"]) == k + 1, "the path at the paused step")
    assert playback_label(lab, "training-landscape-playback") == paused
    path = drawn(lab, MSE_PATH, "sigmoid_mse")
    assert path["x"] == full_path["x"][: k + 1] and path["y"] == full_path["y"][: k + 1]
    marker = drawn(lab, MSE_PATH, "step")
    assert (marker["x"], marker["y"]) == ([full_path["x"][k]], [full_path["y"][k]])
    assert len(curve(lab, LOSS, "bce")[1]) == 101  # part 1 is untouched

    assert lab.js("return window.__callbackRequests;") == 0
    # A new run from the server is shown whole, with the bar at its end.
    lab.type_into("training-steps-input", "50")
    lab.wait_until(lambda: len(drawn(lab, MSE_PATH, "sigmoid_mse")["x"]) == 51, "the 50-step path")
    lab.wait_until(lambda: playback_label(lab, "training-landscape-playback") == "step 50 of 50", "the bar reset")
    assert lab.js("return window.__callbackRequests;") == 1
    assert lab.duo.get_logs() == []


def test_click_on_a_surface_sets_the_start(lab):
    open_training(lab)
    lab.js(COUNT_CALLBACK_REQUESTS)
    lab.duo.find_element("#training-logit-playback-step").click()  # part 1 paused at step 0
    lab.wait_until(lambda: len(curve(lab, LOSS, "bce")[1]) == 1, "part 1 at step 0")
    lab.click_at(f"#{BCE_SURFACE} .nsewdrag", 0.7, 0.35)  # w = 3.2, b = 2.4 on the -8..8 square
    lab.wait_until(lambda: lab.value("training-w0-input") != "-6", "the w0 box to change")
    lab.wait_until(lambda: lab.value("training-b0-input") != "4", "the b0 box to change")
    w0, b0 = float(lab.value("training-w0-input")), float(lab.value("training-b0-input"))
    assert 2 < w0 < 6 and 2 < b0 < 6, (w0, b0)
    for graph, key in ((BCE_PATH, "bce"), (MSE_PATH, "sigmoid_mse")):
        lab.wait_until(lambda g=graph, k=key: drawn(lab, g, k)["x"][0] == w0 and drawn(lab, g, k)["y"][0] == b0,
                       f"the {key} path to start at the click")
    lab.wait_until(lambda: f"w0={w0:g}" in lab.driver.current_url, "URL w0")
    assert lab.js("return window.__callbackRequests;") == 1
    # Part 1 did not change: its playback stays where it was.
    assert playback_label(lab, "training-logit-playback") == "step 0 of 100"
    assert len(curve(lab, LOSS, "bce")[1]) == 1 and len(curve(lab, GRAD, "bce")[1]) == 1
    assert lab.duo.get_logs() == []


def test_a_diverging_run_is_shown_as_diverging(lab):
    open_training(lab, "?lr=1e7&steps=20")
    # BCE's first step jumps past |z| = 1e6: the run stops there, drawn up to it with a cross.
    z1 = math.log(0.99 / 0.01) - 1e7 * 0.99
    assert abs(z1) > 1e6
    _, z = curve(lab, LOSS, "bce")
    assert len(z) == 2 and z[0] == 0.99
    cross = drawn(lab, LOSS, "diverged")
    assert cross["x"] == [1] and cross["customdata"] == [1]
    rows = readout_rows(lab, "#training-logit-readout")
    assert rows[0][0] == "BCE" and rows[0][4] == "diverged at step 1"
    assert rows[1][4] == "finite"  # MSE's gradient is 0.0196 there: one step lands at z ≈ -2e5, then stops
    # The landscape diverges too; its paths are drawn, never NaN-only, and the readout says so.
    table = readout_rows(lab, "#training-readout")
    assert any(r[4].startswith("diverged at step") for r in table), table
    assert "diverged at step" in lab.text(BCE_PATH) + lab.text(MSE_PATH)
    drawn_traces = "return document.querySelectorAll('#' + arguments[0] + ' .scatterlayer .trace, #' + arguments[0] + ' .contourlayer .contour').length;"
    for graph in ALL_GRAPHS:
        assert lab.js(drawn_traces, graph) > 0, graph
    # Playback stops the crosses from showing before their step.
    lab.duo.find_element("#training-logit-playback-step").click()
    lab.wait_until(lambda: drawn(lab, LOSS, "diverged")["x"] == [], "no cross at step 0")
    lab.duo.find_element("#training-logit-playback-step").click()
    lab.wait_until(lambda: drawn(lab, LOSS, "diverged")["x"] == [1], "the cross at step 1")
    assert lab.duo.get_logs() == []


def test_gradient_check_and_show_code_follow_the_controls(lab, tmp_path):
    """The check overlays the core's finite differences and reports them; the code recomputes the CSV."""
    open_training(lab)
    allow_downloads(lab, tmp_path)
    assert not [m for m in lab.metas(GRAD) if str(m).startswith("fd:")]
    lab.duo.find_element(".chart-options summary").click()  # folded while every option is at its default
    option_label(lab, "training-check", "on").click()
    lab.wait_until(lambda: any(str(m).startswith("fd:") for m in lab.metas(GRAD)), "the finite-difference overlay")
    lab.wait_until(lambda: "check=on" in lab.driver.current_url, "URL check=on")
    zs = descend(bce_grad, math.log(0.99 / 0.01), 0.0, 1.0, 100)
    x, fd = curve(lab, GRAD, "fd:bce")
    assert x == list(range(101))
    assert_close(fd, [abs(bce_grad(z, 0.0)) for z in zs], tol=1e-8, what="BCE |finite difference| at each z_t")
    line = lab.js("return document.querySelector('#training-logit-readout .gradient-check-note').innerText;")
    values = dict(pair.rsplit(" ", 1) for pair in line.rsplit(": ", 1)[1].split(", "))
    assert set(values) == {"BCE", "MSE on sigmoid"} and all(float(v) < 1e-8 for v in values.values()), line

    # Playback reveals each overlay with its curve, in the browser alone.
    lab.js(COUNT_CALLBACK_REQUESTS)
    lab.duo.find_element("#training-logit-playback-step").click()
    lab.wait_until(lambda: len(curve(lab, GRAD, "fd:sigmoid_mse")[1]) == 1, "the overlay at step 0")
    assert len(curve(lab, GRAD, "sigmoid_mse")[1]) == 1
    assert lab.js("return window.__callbackRequests;") == 0

    # Show code: run the page's code, compare with the CSV the page downloads (the state of the URL).
    lab.type_into("training-lr-input", "0.5")
    lab.wait_until(lambda: "learning_rate=0.5" in lab.js("return document.getElementById('training-code').textContent;"),
                   "the code to follow η")
    lab.duo.find_element(".code-panel summary").click()
    lab.wait_until(lambda: lab.js("return document.getElementById('training-code').offsetHeight;") > 0,
                   "the code to show")
    code = lab.js("return document.getElementById('training-code').textContent;")
    assert "training.gradient_check" in code
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<snippet from the page>", "exec"), namespace)
    lab.duo.find_element("#training-csv-button").click()
    csv_file = wait_for_file(tmp_path, "losslab-training*.csv")
    text = csv_file.read_text()
    assert "lr=0.5" in text.splitlines()[1] and "check=on" in text.splitlines()[1]
    table = export.read_csv(text)
    np.testing.assert_array_equal(namespace["x"], table["x"])
    assert set(namespace["columns"]) == set(table) - {"x"}
    for column, values in namespace["columns"].items():
        np.testing.assert_array_equal(values, table[column], err_msg=column)
    np.testing.assert_array_equal(table["Gradient |dL/dz|ₜ: BCE (finite difference)"],
                                  curve(lab, GRAD, "fd:bce")[1])  # the chart, whole again after the new run

    # Off again: no overlay, no line, no check in the code.
    option_label(lab, "training-check", "off").click()
    lab.wait_until(lambda: not any(str(m).startswith("fd:") for m in lab.metas(GRAD)), "the overlay to go")
    lab.wait_until(lambda: "gradient_check" not in lab.js("return document.getElementById('training-code').textContent;"),
                   "the code without the check")
    assert lab.js("return document.querySelector('#training-logit-readout .gradient-check-note');") is None
    assert lab.duo.get_logs() == []
