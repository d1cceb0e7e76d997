"""CI smoke test of the benchmark suite: ``python -m bench --quick`` runs end to end.

No timing thresholds here (CI machines are shared and noisy): the run must
exit 0 and write a table with every benchmark row. Which rows PASS or FAIL
their targets is reported by the suite, never asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The contract: one row per benchmark, as the issue lists them (bench.ROW_KEYS must match).
EXPECTED_ROWS = (
    "latency.regression-y", "latency.regression-delta", "latency.binary-label", "latency.multiclass-logits",
    "latency.route-regression", "latency.route-binary", "latency.route-multiclass",
    "latency.route-regression-new-link", "latency.route-binary-new-link", "latency.route-multiclass-new-link",
    "bytes.regression-y", "bytes.regression-delta", "bytes.binary-label", "bytes.multiclass-logits",
    "bytes.route-regression", "bytes.route-binary", "bytes.route-multiclass",
    "repaint.regression-y", "repaint.regression-delta", "repaint.binary-label", "repaint.multiclass-logits",
    "hover.regression", "hover.binary", "hover.multiclass",
    "throughput.sync-w2", "throughput.gthread-w2-t4", "throughput.gthread-w4-t4",
    "core.mse", "core.huber", "core.log_cosh", "core.bce", "core.bce_with_logits", "core.cross_entropy",
    "core.cross_entropy-onehot",
    "coldstart.gunicorn", "coldstart.python-app", "coldstart.import-losslab",
)


def test_quick_bench_writes_every_row(tmp_path):
    output = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    text = output.read_text()
    table_rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")}
    missing = [key for key in EXPECTED_ROWS if key not in table_rows]
    assert not missing, f"rows missing from the table: {missing}\n{text}"
    for marker in ("## Machine", "CPU", "Python", "numpy"):
        assert marker in text
    for key in EXPECTED_ROWS:
        assert key in result.stdout, f"{key} not printed"
