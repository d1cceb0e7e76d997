"""losslab's benchmark suite: ``python -m bench`` (``make bench``).

Every figure is a ratio against a baseline measured in the same run (the
machine is shared and noisy), with the absolute times beside it. Targets
are printed PASS/FAIL, never asserted; ``--quick`` runs tiny sizes for CI.

Modules:
    common      rows, statistics, machine description, servers, HTTP client
    payloads    ``/_dash-update-component`` bodies built from ``app.callback_map``
    server      rows 1, 2, 5: callback latency, bytes, throughput (gunicorn)
    browser     rows 3, 4: control-to-repaint and hover requests (headless Chromium)
    core        row 6: loss + gradient speed and memory against NumPy/SciPy/torch
    coldstart   row 7: process start to first 200, ``import losslab``
    profiles    pyinstrument / importtime / byte breakdowns for missed targets (full mode)
    report      the printed table and RESULTS.md
    trivial_app the one-callback Dash app every server figure is compared with
    notes.md    hand-written causes and proposed fixes, appended to RESULTS.md

Usage: ``python -m bench`` (about 5 minutes) or ``python -m bench --quick``
(under a minute; what tests/test_bench_quick.py runs); ``--only server,core``
runs some groups; ``--output PATH`` writes the report elsewhere.
"""

#: Every row the suite reports, in table order (the smoke test checks each appears).
ROW_KEYS = (
    "latency.regression-y",
    "latency.regression-delta",
    "latency.binary-label",
    "latency.multiclass-logits",
    "latency.route-regression",
    "latency.route-binary",
    "latency.route-multiclass",
    "latency.route-regression-new-link",
    "latency.route-binary-new-link",
    "latency.route-multiclass-new-link",
    "bytes.regression-y",
    "bytes.regression-delta",
    "bytes.binary-label",
    "bytes.multiclass-logits",
    "bytes.route-regression",
    "bytes.route-binary",
    "bytes.route-multiclass",
    "repaint.regression-y",
    "repaint.regression-delta",
    "repaint.binary-label",
    "repaint.multiclass-logits",
    "hover.regression",
    "hover.binary",
    "hover.multiclass",
    "throughput.sync-w2",
    "throughput.gthread-w2-t4",
    "throughput.gthread-w4-t4",
    "core.mse",
    "core.huber",
    "core.log_cosh",
    "core.bce",
    "core.bce_with_logits",
    "core.cross_entropy",
    "core.cross_entropy-onehot",
    "coldstart.gunicorn",
    "coldstart.python-app",
    "coldstart.import-losslab",
)
