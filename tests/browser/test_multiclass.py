"""Multiclass view: logits, naive vs stable softmax, temperature and the true class."""

import numpy as np

LOSS, GRAD = "multiclass-loss-graph", "multiclass-grad-graph"
PROBS, CLASS_GRAD = "multiclass-probability-graph", "multiclass-class-grad-graph"
ALL_GRAPHS = (LOSS, GRAD, PROBS, CLASS_GRAD)


def softmax(z, temperature=1.0):
    z = np.asarray(z, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def naive_softmax(z):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(z, dtype=np.float64))
        return e / e.sum()


def bars(lab, graph_id):
    traces = lab.traces(graph_id)
    assert len(traces) == 1 and traces[0]["type"] == "bar", traces
    return traces[0]["y"]


def stability_rows(lab):
    return lab.js(
        "return Array.from(document.querySelectorAll('#multiclass-stability-table tbody tr'),"
        " (tr) => Array.from(tr.cells, (td) => td.innerText.trim()));"
    )


def close(got, expected, tol=1e-12):
    return len(got) == len(expected) and all(abs(g - e) <= tol for g, e in zip(got, expected, strict=True))


def test_huge_logits_naive_softmax_is_nan_stable_is_exact(lab):
    lab.open("/multiclass", wait_for=ALL_GRAPHS)
    lab.type_into("multiclass-logits-input", "1000, 999, 998")
    lab.wait_until(lambda: len(stability_rows(lab)) == 3, "three rows in the stability table")
    z = [1000.0, 999.0, 998.0]
    expected_stable = [f"{v:.8f}" for v in softmax(z)]
    assert expected_stable == ["0.66524096", "0.24472847", "0.09003057"]
    assert all(np.isnan(naive_softmax(z)))
    rows = stability_rows(lab)
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert [r[1] for r in rows] == ["nan", "nan", "nan"]
    assert [r[2] for r in rows] == expected_stable
    lab.wait_until(lambda: close(bars(lab, PROBS), softmax(z)), "probability bars for 1000, 999, 998")
    assert close(bars(lab, CLASS_GRAD), softmax(z) - np.eye(3)[0])
    assert all(v is not None for t in lab.traces(LOSS) for v in t["y"])  # the sweep stays finite
    lab.wait_until(lambda: "logits=1000,999,998" in lab.driver.current_url, "URL logits")
    assert lab.duo.get_logs() == []


def test_temperature_and_true_class_change_the_bars(lab):
    lab.open("/multiclass", wait_for=ALL_GRAPHS)
    z = [2.0, 1.0, 0.1, -1.0]  # the defaults: bars are softmax(z) and p̂ - y for class 0
    assert close(bars(lab, PROBS), softmax(z))
    assert close(bars(lab, CLASS_GRAD), softmax(z) - np.eye(4)[0])
    assert lab.curves(LOSS) == ["cross_entropy", "brier"]
    lab.type_into("multiclass-temperature-input", "2")
    lab.wait_until(lambda: close(bars(lab, PROBS), softmax(z, 2.0)), "probability bars at T = 2")
    assert not close(softmax(z, 2.0), softmax(z), tol=1e-3)
    lab.wait_until(lambda: close(bars(lab, CLASS_GRAD), (softmax(z, 2.0) - np.eye(4)[0]) / 2),
                   "gradient bars (p - y) / T at T = 2")

    lab.type_into("multiclass-true_class-input", "2")
    lab.wait_until(lambda: close(bars(lab, CLASS_GRAD), (softmax(z, 2.0) - np.eye(4)[2]) / 2),
                   "gradient bars for true class 2")
    assert close(bars(lab, PROBS), softmax(z, 2.0))  # p̂ does not depend on the label
    colors = lab.js("return document.querySelector('#multiclass-class-grad-graph .js-plotly-plot')"
                    "._fullData[0].marker.color;")
    assert len(set(colors)) == 2 and colors[2] != colors[0] and colors[0] == colors[1] == colors[3]
    assert lab.duo.get_logs() == []
