"""Shared pieces of the report: result rows, formatting, the machine's description.

Servers, clients, load runs and percentiles are in bench/harness.py (shared with tests/reliability).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.harness import CHROMIUM, ROOT

PASS, FAIL, INFO, SKIP, ERROR = "PASS", "FAIL", "INFO", "SKIP", "ERROR"


@dataclass
class Row:
    """One line of the results table.

    ``measured`` is the headline figure (a ratio against the same run's
    baseline wherever there is one), ``absolute`` the raw numbers beside it.
    """

    key: str
    measured: str
    absolute: str
    target: str
    status: str
    notes: str = ""
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mode:
    quick: bool

    def pick(self, quick, full):
        return quick if self.quick else full


# ---------------------------------------------------------------- formatting


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds < 0.01:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else float("inf")


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


# ---------------------------------------------------------------- machine


def code_version() -> str:
    """The commit measured, and whether the code under test differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "losslab", "app.py", "assets"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"{head or 'unknown'}" + (" with uncommitted changes to losslab/app/assets" if dirty else " (clean)")


def machine_description() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if match:
            cpu = match.group(1).strip()
    memory = "unknown"
    with contextlib.suppress(OSError, AttributeError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kb / 2**20:.1f} GiB"
    packages = {}
    for name in ("numpy", "scipy", "dash", "plotly", "flask", "werkzeug", "gunicorn", "orjson",
                 "selenium", "torch", "pyinstrument", "py-spy"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    chromium = "not installed"
    if shutil.which(CHROMIUM):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                                      timeout=20).stdout.strip() or chromium
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    blas_env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    return {
        "code measured (at start)": code_version(),
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical, {affinity} usable by this process",
        "memory": memory,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(f"{k} {v}" for k, v in packages.items()),
        "browser": chromium,
        "OPENBLAS env": ", ".join(f"{k}={v}" for k, v in blas_env.items()) or "unset",
    }
