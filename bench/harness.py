"""The one server harness of bench/ and tests/reliability/: servers, clients, load, statistics.

* :func:`free_port`, :class:`Gunicorn` (start on a free 127.0.0.1 port, wait
  for a 200 and for every worker, worker pids / RSS / CPU from ``/proc``,
  signals, stop), :func:`serve` (several servers booting at once),
  :func:`start_process` / :func:`wait_for_200` / :func:`stop_process` for any
  other server command;
* :func:`request` (one request on a fresh connection) and :class:`Client`
  (a keep-alive connection);
* :class:`LoadRun`: N keep-alive clients sharing a fixed number of requests,
  bounded in time, with actions at given request counts;
* :func:`percentile` (the one definition: linear interpolation between the
  two nearest ranks, numpy's default) and :func:`median`;
* :func:`on_ci` / :func:`env_flag`: the one reading of ``CI`` and of flags
  such as ``LOSSLAB_LONG``; :func:`missing_tool` (a test that cannot run
  fails on CI and skips elsewhere), :func:`chromium_problem` and
  :func:`chromium` (a headless Chromium for bench/browser.py and the tests
  outside tests/browser).

Only 127.0.0.1 is ever contacted. This module imports neither Dash nor
losslab, so ``tests/browser`` and ``tests/test_docker.py`` can use
:func:`on_ci` cheaply.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, NoReturn

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CALLBACK_PATH = "/_dash-update-component"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
APP_TARGET = "app:server"
TRIVIAL_TARGET = "bench.trivial_app:server"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# ---------------------------------------------------------------- environment

FALSE_WORDS = ("", "0", "false", "no")


def env_flag(name: str) -> bool:
    """True when the variable is set to anything but '', '0', 'false' or 'no' (any case, spaces ignored)."""
    return os.environ.get(name, "").strip().lower() not in FALSE_WORDS


def on_ci() -> bool:
    """Are we on CI? (``CI`` read by :func:`env_flag`: ``CI=false`` or ``CI=0`` is not CI.)

    On CI, tests that need Chromium or a Docker engine fail instead of skipping.
    """
    return env_flag("CI")


def missing_tool(message: str) -> NoReturn:
    """A test cannot run for want of a tool (Chromium, a Docker engine, ...): fail on CI, skip elsewhere."""
    import pytest

    if on_ci():
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


def chromium_problem() -> str | None:
    """Why headless Chromium cannot be driven here (None if it can)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return None
    return (f"the browser tests need Chromium and ChromeDriver; missing {', '.join(missing)} (install the "
            "Debian packages 'chromium' and 'chromium-driver', or run scripts/ensure-test-system.sh)")


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900, startup_script: str | None = None,
             extra_flags: Sequence[str] = ()) -> Iterator:
    """A headless Chromium driven by ChromeDriver (selenium), with a throwaway profile; quit afterwards.

    The browser's console is kept (``driver.get_log("browser")``); ``startup_script`` runs in every
    new document before the page's own scripts. Check :func:`chromium_problem` first.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="losslab-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-quic", "--disable-sync", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", *extra_flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_script_timeout(30)
        if startup_script:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": startup_script})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q in 0..100) by linear interpolation between the two nearest ranks.

    With the n values sorted as v[0] <= ... <= v[n-1], the position is
    h = (n - 1) q / 100 and the result v[floor h] + (h - floor h)(v[floor h + 1] - v[floor h]),
    numpy's default ("linear") method. So the 50th is the usual median, the 0th the
    minimum, the 100th the maximum. NaN for no values.
    """
    if not values:
        return float("nan")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q = {q!r} is outside 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# ---------------------------------------------------------------- processes (/proc)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces and ')')."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid``, sorted."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (VmRSS), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` in seconds, 0 if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_process(command: list[str], env: dict | None = None, log_path: Path | None = None,
                  drop_env: Sequence[str] = ()) -> subprocess.Popen:
    """Start a server in its own session (so its process group holds only it and its children).

    stdout and stderr go to ``log_path``, or to an anonymous temporary file: never to a pipe
    that could fill. ``drop_env`` names variables (or prefixes ending in ``*``) not passed on.
    """
    full_env = {k: v for k, v in os.environ.items()
                if not any(k == d or (d.endswith("*") and k.startswith(d[:-1])) for d in drop_env)}
    full_env.update(env or {})
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # closed in stop_process
    process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def process_log(process: subprocess.Popen, limit: int | None = 800) -> str:
    """The last ``limit`` characters of what the process wrote (all of it for None)."""
    log = getattr(process, "log", None)
    if log is None or log.closed:
        return ""
    log.flush()
    log.seek(0)
    text = log.read().decode(errors="replace")
    log.seek(0, os.SEEK_END)
    return text if limit is None else text[-limit:]


def stop_process(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM to the process, SIGKILL to its whole session after ``grace`` s; then close its log."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    log = getattr(process, "log", None)
    if log is not None:
        log.close()


# ---------------------------------------------------------------- HTTP


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 10) -> Response:
    """One request to 127.0.0.1:port on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
    finally:
        connection.close()


#: What a kept-alive connection raises when the server closed it while it was idle.
DROPPED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Client:
    """A keep-alive HTTP/1.1 connection to 127.0.0.1:port that reconnects after the server closes it.

    A response with ``Connection: close`` (a sync worker's) closes our side too, so the next
    request opens a fresh connection. With ``retry_dropped`` a request that finds its idle
    connection closed is sent once more on a fresh one (the benchmark's choice); without it
    (the fault tests') the error is raised, so a request lost to a dead worker is counted.
    """

    def __init__(self, port: int, timeout: float = 30.0, retry_dropped: bool = False):
        self.port = port
        self.timeout = timeout
        self.retry_dropped = retry_dropped
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Response:
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                answer = self.connection.getresponse()
                data = answer.read()
            except DROPPED:
                self.close()
                if attempt or not self.retry_dropped:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if answer.will_close:
                self.close()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
        raise AssertionError("unreachable")

    def post(self, path: str, body: bytes, headers: dict | None = None) -> Response:
        return self.request("POST", path, body, headers or JSON_HEADERS)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def wait_for_200(port: int, path: str = "/", timeout: float = 60.0, interval: float = 0.01,
                 process: subprocess.Popen | None = None) -> float:
    """Poll ``GET path`` until it answers 200; return the monotonic time it did.

    Raises RuntimeError if ``process`` exits first or ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before answering: "
                               f"{process_log(process)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "GET", path, timeout=2).status == 200:
                return time.monotonic()
        time.sleep(interval)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer 200 within {timeout} s")


# ---------------------------------------------------------------- gunicorn

#: gunicorn flags of the Dockerfile's CMD that matter on loopback (the reliability tests').
DOCKERFILE_FLAGS = ("--graceful-timeout", "8", "--worker-tmp-dir", "/dev/shm", "--no-control-socket",
                    "--error-logfile", "-")
#: The benchmark's flags (unchanged since its first RESULTS.md, so runs stay comparable).
BENCH_FLAGS = ("--keep-alive", "5", "--log-level", "warning", "--timeout", "60")


@dataclass(frozen=True)
class GunicornConfig:
    """Worker model and flags: ``workers`` x ``worker_class`` (x ``threads`` for gthread) plus ``flags``."""

    name: str
    workers: int = 2
    worker_class: str = "gthread"
    threads: int = 4
    flags: tuple[str, ...] = DOCKERFILE_FLAGS

    def args(self) -> list[str]:
        args = ["--workers", str(self.workers), "--worker-class", self.worker_class]
        if self.worker_class == "gthread":
            args += ["--threads", str(self.threads)]
        return [*args, *self.flags]

    def describe(self) -> str:
        text = f"{self.workers} {self.worker_class} worker(s)"
        return text + (f" x {self.threads} threads" if self.worker_class == "gthread" else "")


#: What tests/reliability runs: the Dockerfile's worker model (2 gthread workers x 4 threads).
DOCKERFILE_CONFIG = GunicornConfig("dockerfile")


def gunicorn_command(target: str, port: int, config: GunicornConfig) -> list[str]:
    script = BIN / "gunicorn"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [*head, "--bind", f"127.0.0.1:{port}", *config.args(), target]


class Gunicorn:
    """``gunicorn <target>`` on a free 127.0.0.1 port, in its own session.

    ``start()`` returns once ``GET ready_path`` answers 200 and every worker exists, after
    ``warm_up`` more requests on fresh connections (so each worker has served one).
    Environment variables that would change gunicorn's settings (``GUNICORN_*``,
    ``WEB_CONCURRENCY``) and ``LOSSLAB_DEBUG`` are not passed on.
    """

    def __init__(self, target: str = APP_TARGET, config: GunicornConfig = DOCKERFILE_CONFIG,
                 ready_path: str = "/health", log_dir: Path | None = None, name: str = "gunicorn",
                 warm_up: int | None = None):
        self.target = target
        self.config = config
        self.ready_path = ready_path
        self.log_dir = log_dir
        self.name = name
        self.warm_up = 4 * config.workers if warm_up is None else warm_up
        self.port = 0
        self.log_path: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def workers(self) -> int:
        return self.config.workers

    def spawn(self) -> Gunicorn:
        """Start the process on a fresh free port without waiting (see :meth:`wait_ready`)."""
        self.port = free_port()
        self.log_path = Path(self.log_dir) / f"{self.name}-{self.port}.log" if self.log_dir else None
        self.process = start_process(gunicorn_command(self.target, self.port, self.config),
                                     log_path=self.log_path,
                                     drop_env=("GUNICORN*", "WEB_CONCURRENCY", "LOSSLAB_DEBUG"))
        return self

    def wait_ready(self, timeout: float = 60) -> Gunicorn:
        deadline = time.monotonic() + timeout
        wait_for_200(self.port, self.ready_path, timeout=timeout, interval=0.05, process=self.process)
        while len(self.worker_pids()) < self.workers:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: {len(self.worker_pids())} of {self.workers} workers after "
                                   f"{timeout} s: {self.log()[-800:]}")
            time.sleep(0.05)
        for _ in range(self.warm_up):
            if time.monotonic() > deadline:
                break
            self.healthy(timeout=5)
        return self

    def start(self, timeout: float = 60) -> Gunicorn:
        """Spawn and wait; if it exits before answering (its port taken meanwhile), one more try."""
        self.spawn()
        try:
            return self.wait_ready(timeout)
        except RuntimeError:
            if self.process.poll() is None:
                self.stop()
                raise
            self.stop()
            return self.spawn().wait_ready(timeout)

    def healthy(self, timeout: float = 5) -> bool:
        try:
            return request(self.port, "GET", self.ready_path, timeout=timeout).status == 200
        except (OSError, http.client.HTTPException):
            return False

    def worker_pids(self) -> list[int]:
        return children_of(self.pid) if self.process else []

    def worker_rss_kib(self) -> int:
        """Sum of the workers' resident memory."""
        return sum(rss_kib(pid) for pid in self.worker_pids())

    def log(self) -> str:
        """Everything gunicorn and the app wrote so far (readable after :meth:`stop` too, given a log_dir)."""
        if self.log_path is not None:
            try:
                return self.log_path.read_text(errors="replace")
            except OSError:
                return ""
        return process_log(self.process, limit=None) if self.process else ""

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def serve(*servers: Gunicorn, timeout: float = 60) -> Iterator[list[int]]:
    """Start several servers at once (their boots overlap), wait for all, yield their ports; stop all."""
    try:
        for server in servers:
            server.spawn()
        for server in servers:
            try:
                server.wait_ready(timeout)
            except RuntimeError:
                if server.process.poll() is None:
                    raise
                server.stop()  # it exited: another process may have taken the free port meanwhile
                server.spawn().wait_ready(timeout)
        yield [server.port for server in servers]
    finally:
        for server in servers:
            server.stop()


# ---------------------------------------------------------------- load


@dataclass
class LoadResult:
    """What a :class:`LoadRun` saw. ``ok`` counts 200s; anything else is ``failed``, by status or error."""

    requested: int
    clients: int
    ok: int = 0
    failed: int = 0
    statuses: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    first_error: str = ""
    latencies: list = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def unsent(self) -> int:
        return self.requested - self.ok - self.failed

    @property
    def rate(self) -> float:
        """200 answers per second of the run."""
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    def summary(self) -> dict:
        return {"clients": self.clients, "requests": self.requested, "ok": self.ok, "failed": self.failed,
                "statuses": self.statuses, "errors": self.errors, "seconds": round(self.seconds, 2),
                "req_per_s": round(self.rate, 1), "p50_ms": round(self.percentile(50) * 1000, 1),
                "p99_ms": round(self.percentile(99) * 1000, 1)}


#: ``next_request(index, rng, client_state) -> (path, body)``
NextRequest = Callable[[int, random.Random, dict], tuple[str, bytes]]
#: ``on_answer(client_state, status or error name, body)``, in the client's thread
OnAnswer = Callable[[dict, "int | str", bytes], None]


class LoadRun:
    """``clients`` threads, each on its own keep-alive connection, share ``total`` POSTs.

    ``next_request(i, rng, state)`` gives the i-th request; ``state`` is the client's own dict
    (one browser tab's memory; ``state["client"]`` is the client's number, 0 to clients - 1)
    and ``rng`` its own seeded generator. ``on_answer(state,
    outcome, body)`` sees each answer (``outcome`` is the status, or the exception's name
    when the connection failed). ``at(count, action)`` runs ``action(self)`` once, from a
    monitor thread, when ``count`` requests have completed; ``stop()`` makes clients take no
    new request. The clock starts when every client thread is ready; the run is bounded by
    ``total`` and by ``deadline_s``.
    """

    def __init__(self, port: int, next_request: NextRequest, total: int, clients: int, deadline_s: float,
                 seed: int = 0, on_answer: OnAnswer | None = None, timeout: float = 15,
                 retry_dropped: bool = False):
        self.port = port
        self.next_request = next_request
        self.on_answer = on_answer
        self.result = LoadResult(total, clients)
        self.total = total
        self.clients = clients
        self.deadline_s = deadline_s
        self.seed = seed
        self.timeout = timeout
        self.retry_dropped = retry_dropped
        self.lock = threading.Lock()
        self.next_index = 0
        self.completed = 0
        self.in_flight = 0
        self.stopped = threading.Event()
        self.stopped_by_caller = False
        self.actions: list[tuple[int, Callable[[LoadRun], None]]] = []

    def at(self, count: int, action: Callable[[LoadRun], None]) -> LoadRun:
        self.actions.append((count, action))
        return self

    def stop(self) -> None:
        self.stopped_by_caller = True
        self.stopped.set()

    def _take(self) -> int | None:
        with self.lock:
            if self.stopped.is_set() or self.next_index >= self.total:
                return None
            self.next_index += 1
            self.in_flight += 1
            return self.next_index - 1

    def _client(self, number: int, ready: threading.Barrier, deadline: list[float]) -> None:
        rng = random.Random(self.seed * 1000 + number)
        client = Client(self.port, timeout=self.timeout, retry_dropped=self.retry_dropped)
        state: dict = {"client": number}
        try:
            ready.wait()
            while time.monotonic() < deadline[0]:
                index = self._take()
                if index is None:
                    return
                path, body = self.next_request(index, rng, state)
                started = time.perf_counter()
                try:
                    status, _, data = client.post(path, body)
                    outcome: int | str = status
                except (OSError, http.client.HTTPException) as error:
                    outcome, data = type(error).__name__, b""
                elapsed = time.perf_counter() - started
                if self.on_answer is not None:
                    self.on_answer(state, outcome, data)
                with self.lock:
                    self.in_flight -= 1
                    self.completed += 1
                    if outcome == 200:
                        self.result.ok += 1
                        self.result.latencies.append(elapsed)
                    else:
                        self.result.failed += 1
                        bucket = self.result.statuses if isinstance(outcome, int) else self.result.errors
                        bucket[str(outcome)] = bucket.get(str(outcome), 0) + 1
                        self.result.first_error = self.result.first_error or (
                            f"HTTP {outcome}" if isinstance(outcome, int) else outcome)
        finally:
            client.close()

    def _monitor(self, deadline: list[float]) -> None:
        pending = sorted(self.actions, key=lambda a: a[0])
        while pending and time.monotonic() < deadline[0] and not self.stopped.is_set():
            if self.completed >= pending[0][0]:
                _, action = pending.pop(0)
                action(self)
            else:
                time.sleep(0.002)

    def run(self) -> LoadResult:
        ready = threading.Barrier(self.clients + 1)
        deadline = [time.monotonic() + self.deadline_s + 60]  # set for real once every client is ready
        threads = [threading.Thread(target=self._client, args=(n, ready, deadline), daemon=True)
                   for n in range(self.clients)]
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.monotonic()
        deadline[0] = started + self.deadline_s
        monitor = threading.Thread(target=self._monitor, args=(deadline,), daemon=True)
        monitor.start()
        for thread in threads:
            thread.join(max(0.1, deadline[0] - time.monotonic() + 20))
        self.result.seconds = time.monotonic() - started
        self.stopped.set()
        monitor.join(5)
        self.result.timed_out = self.completed < self.total and not self.stopped_by_caller
        return self.result
