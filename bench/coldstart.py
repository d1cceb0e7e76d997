"""Row 7: process start to the first 200 response, and ``import losslab``.

Cold starts alternate losslab and the trivial app (the baseline: what Dash
and the server themselves cost). The import time is measured inside a fresh
interpreter (``perf_counter`` around the import), against ``import numpy``
in the same kind of fresh interpreter, since numpy is losslab's floor.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import Mode, Row, ms, ratio, verdict
from bench.harness import (
    APP_TARGET,
    TRIVIAL_TARGET,
    free_port,
    gunicorn_command,
    median,
    start_process,
    stop_process,
    wait_for_200,
)
from bench.server import LATENCY_CONFIG

START_TARGET = 2.0
IMPORT_TARGET = 0.3
CONFIG = LATENCY_CONFIG
PATHS = {"app": "/health", "trivial": "/"}


def time_to_200(command: list[str], env: dict, path: str) -> float:
    start = time.monotonic()
    process = start_process(command, env)
    try:
        return wait_for_200(int(env["PORT"]), path, timeout=60, interval=0.01, process=process) - start
    finally:
        stop_process(process)


def commands(port: int) -> dict[str, dict[str, list[str]]]:
    return {
        "gunicorn": {"app": gunicorn_command(APP_TARGET, port, CONFIG),
                     "trivial": gunicorn_command(TRIVIAL_TARGET, port, CONFIG)},
        "python-app": {"app": [sys.executable, "app.py"],
                       "trivial": [sys.executable, "bench/trivial_app.py"]},
    }


def import_time(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return float(out.stdout.strip())


def run(mode: Mode) -> list[Row]:
    repeats = mode.pick(1, 5)
    rows = []
    for kind in ("gunicorn", "python-app"):
        samples: dict[str, list[float]] = {"app": [], "trivial": []}
        for i in range(repeats):
            for which in (("app", "trivial") if i % 2 == 0 else ("trivial", "app")):
                port = free_port()
                command = commands(port)[kind][which]
                samples[which].append(time_to_200(command, {"PORT": str(port), "HOST": "127.0.0.1"},
                                                  PATHS[which]))
        app, trivial = median(samples["app"]), median(samples["trivial"])
        rows.append(Row(
            key=f"coldstart.{kind}",
            measured=f"{ms(app)} ({ratio(app, trivial):.2f}x trivial)",
            absolute=f"losslab {ms(app)}, trivial app {ms(trivial)}; median of {repeats}",
            target=f"<= {START_TARGET:.0f} s",
            status=verdict(app <= START_TARGET),
            notes=("`gunicorn app:server`, " + CONFIG.describe() if kind == "gunicorn" else "`python app.py`")
                  + f"; spawn to first 200 of GET {PATHS['app']} (trivial: GET /)",
            data=samples,
        ))
    samples = {"losslab": [], "numpy": []}
    for i in range(mode.pick(3, 9)):
        for module in (("losslab", "numpy") if i % 2 == 0 else ("numpy", "losslab")):
            samples[module].append(import_time(module))
    lab, numpy_time = median(samples["losslab"]), median(samples["numpy"])
    rows.append(Row(
        key="coldstart.import-losslab",
        measured=f"{ms(lab)} ({ratio(lab, numpy_time):.2f}x import numpy)",
        absolute=f"import losslab {ms(lab)}, import numpy {ms(numpy_time)}; median of {len(samples['numpy'])}",
        target=f"<= {IMPORT_TARGET} s",
        status=verdict(lab <= IMPORT_TARGET),
        notes="fresh interpreter each time; perf_counter around the import statement",
        data=samples,
    ))
    return rows
