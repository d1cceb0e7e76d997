"""Fixtures of the reliability suite: gunicorn servers on loopback ports, callback bodies, figures.

Short mode (default, what ``make test`` runs) keeps the suite to about a minute
and a half; ``LOSSLAB_LONG=1`` runs the long mode with the counts quoted in
docs/RELIABILITY.md. Either way the measured figures are printed at the end of
the run, and written as JSON to ``$LOSSLAB_FIGURES`` when that is set.
"""

from __future__ import annotations

import json
import os

import pytest

from . import LONG, Callbacks, Gunicorn

FIGURES: dict[str, object] = {}


@pytest.fixture(scope="session")
def figures() -> dict:
    """Measured numbers, keyed by check; printed in the terminal summary."""
    return FIGURES


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gunicorn-logs")


@pytest.fixture(scope="session")
def callbacks() -> Callbacks:
    return Callbacks()


@pytest.fixture(scope="session")
def server(log_dir):
    """One shared ``gunicorn app:server`` (2 gthread workers x 4 threads, as in the Dockerfile)."""
    with Gunicorn(log_dir=log_dir, name="shared") as running:
        yield running


@pytest.fixture
def start_server(log_dir):
    """Start dedicated gunicorn servers (for tests that kill or stop them); all are stopped afterwards."""
    started: list[Gunicorn] = []

    def start(name: str) -> Gunicorn:
        running = Gunicorn(log_dir=log_dir, name=name)
        started.append(running)
        return running.start()

    yield start
    for running in started:
        running.stop()


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    mode = "long" if LONG else "short"
    terminalreporter.section(f"losslab reliability figures ({mode} mode)")
    for key, value in FIGURES.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value, sort_keys=True)}")
    target = os.environ.get("LOSSLAB_FIGURES")
    if target:
        with open(target, "w") as f:
            json.dump({"mode": mode, **FIGURES}, f, indent=2, sort_keys=True)
        terminalreporter.write_line(f"figures written to {target}")
