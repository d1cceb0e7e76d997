"""Shared pieces: result rows, statistics, the machine's description, servers and an HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

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


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), like numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


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


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_200(port: int, path: str = "/", timeout: float = 30.0, interval: float = 0.01,
                 process: subprocess.Popen | None = None) -> float:
    """Poll until ``GET path`` answers 200; return the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before answering: "
                               f"{process_log(process)}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(interval)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer 200 within {timeout} s")


@dataclass(frozen=True)
class GunicornConfig:
    name: str
    workers: int
    worker_class: str = "sync"
    threads: int = 1

    def args(self) -> list[str]:
        args = ["--workers", str(self.workers), "--worker-class", self.worker_class]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return args

    def describe(self) -> str:
        text = f"{self.workers} {self.worker_class} worker(s)"
        return text + (f" x {self.threads} threads" if self.worker_class == "gthread" else "")


def gunicorn_command(target: str, port: int, config: GunicornConfig) -> list[str]:
    script = BIN / "gunicorn"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [*head, "--bind", f"127.0.0.1:{port}", *config.args(), "--keep-alive", "5",
            "--log-level", "warning", "--timeout", "60", target]


def start_process(command: list[str], env: dict | None = None) -> subprocess.Popen:
    """Start a server in its own process group; its stderr goes to a temporary file (never a full pipe)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL,
                               stderr=log, start_new_session=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def process_log(process: subprocess.Popen, limit: int = 800) -> str:
    log = getattr(process, "log", None)
    if log is None or log.closed:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:]


def stop_process(process: subprocess.Popen) -> None:
    """Stop a server we started, by its own process group (gunicorn's workers are in it)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    log = getattr(process, "log", None)
    if log is not None:
        log.close()


@contextlib.contextmanager
def gunicorn(target: str, config: GunicornConfig, ready_path: str = "/") -> Iterator[int]:
    """Serve ``target`` (``module:wsgi``) with gunicorn on a free loopback port; yield the port."""
    with gunicorns((target, config, ready_path)) as (port,):
        yield port


@contextlib.contextmanager
def gunicorns(*specs: tuple[str, GunicornConfig, str]) -> Iterator[list[int]]:
    """Start several gunicorn servers at once (their boots overlap), wait for all, yield their ports."""
    started: list[subprocess.Popen] = []
    ports = []
    try:
        for target, config, _ in specs:
            ports.append(free_port())
            started.append(start_process(gunicorn_command(target, ports[-1], config)))
        for index, (target, config, path) in enumerate(specs):
            try:
                wait_for_200(ports[index], path, timeout=60, interval=0.05, process=started[index])
            except RuntimeError:
                if started[index].poll() is None:
                    raise
                # It exited (another process may have taken the free port meanwhile): one more try.
                stop_process(started[index])
                ports[index] = free_port()
                started[index] = start_process(gunicorn_command(target, ports[index], config))
                wait_for_200(ports[index], path, timeout=60, interval=0.05, process=started[index])
        yield ports
    finally:
        for process in started:
            stop_process(process)


APP_TARGET = "app:server"
TRIVIAL_TARGET = "bench.trivial_app:server"


# ---------------------------------------------------------------- HTTP client


class Client:
    """A keep-alive HTTP/1.1 client for one loopback server (reconnects if the server closes)."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in (0, 1):
            try:
                self.connection.request("POST", path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A sync worker closes after each response; an idle keep-alive may time out.
                self.connection.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()
