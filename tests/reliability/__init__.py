"""Reliability and security tests against real gunicorn servers on loopback ports.

This package's ``__init__`` holds the shared machinery the tests use:

* :class:`Gunicorn` starts ``gunicorn app:server`` with the Dockerfile's
  worker settings on a free 127.0.0.1 port, and reads its workers' pids and
  resident memory from ``/proc``;
* :class:`Callbacks` builds ``/_dash-update-component`` bodies exactly as the
  Dash renderer does, from the app's own callback map;
* :func:`run_load` drives N keep-alive clients (threads + ``http.client``)
  through a fixed number of requests, bounded in time as well.

Every request goes to 127.0.0.1 and every loop has a count and a deadline.
``LOSSLAB_LONG=1`` selects the long mode (bigger counts); see docs/RELIABILITY.md.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
CALLBACK_PATH = "/_dash-update-component"
LONG = os.environ.get("LOSSLAB_LONG", "").strip().lower() in ("1", "true", "yes")
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- processes ---------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc/<pid>/stat)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces: split after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established_connections(pid: int, port: int) -> int:
    """How many ESTABLISHED TCP connections to local ``port`` the process ``pid`` holds (from /proc)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return 0
    return sum(1 for _, local_port, state, inode in tcp_sockets()
               if state == "01" and local_port == port and inode in inodes)


def tcp_sockets():
    """``(local address hex, local port, state hex, inode)`` of every TCP socket, from /proc/net/tcp{,6}.

    State "01" is ESTABLISHED and "0A" is LISTEN.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            yield address, int(hex_port, 16), fields[3], fields[9]


class Gunicorn:
    """``gunicorn app:server`` as the Dockerfile runs it (gthread, 4 threads, graceful 5 s), on 127.0.0.1."""

    def __init__(self, log_dir: Path, name: str = "gunicorn", workers: int = 2, threads: int = 4,
                 graceful_timeout: int = 5, extra_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = Path(log_dir) / f"{name}-{self.port}.log"
        self.args = [
            str(GUNICORN), "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--graceful-timeout", str(graceful_timeout), "--worker-tmp-dir", "/dev/shm",
            "--no-control-socket", "--error-logfile", "-", *extra_args, "app:server",
        ]
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, timeout: float = 60) -> Gunicorn:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "WEB_CONCURRENCY"))}
        env.pop("LOSSLAB_DEBUG", None)
        self._log = open(self.log_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            if len(self.worker_pids()) == self.workers and self.healthy(timeout=2):
                # every worker imports the app after the fork: ask until each has answered once
                self.warm_up(deadline)
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy within {timeout} s:\n{self.log()}")

    def warm_up(self, deadline: float) -> None:
        """A few health checks on fresh connections, so both workers have booted before a test starts."""
        for _ in range(4 * self.workers):
            if time.monotonic() > deadline:
                return
            self.healthy(timeout=5)

    def healthy(self, timeout: float = 5) -> bool:
        try:
            status, _, _ = request(self.port, "GET", "/health", timeout=timeout)
        except OSError:
            return False
        return status == 200

    def worker_pids(self) -> list[int]:
        return children_of(self.pid) if self.process else []

    def worker_rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.worker_pids())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            if self.wait(15) is None:
                # the master's session holds only gunicorn and its workers (start_new_session)
                os.killpg(self.pid, signal.SIGKILL)
                self.wait(5)
        self._log.close()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- HTTP --------------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 10) -> tuple[int, dict, bytes]:
    """One request on a fresh connection: ``(status, headers, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes, timeout: float = 10, read_limit: int = 1 << 20) -> bytes:
    """Send raw bytes, half-close, and read the answer (for requests http.client will not build)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything we send
        return read_until_closed(s, timeout, read_limit)


def read_until_closed(s: socket.socket, timeout: float, read_limit: int = 1 << 20) -> bytes:
    """Everything the peer sends until it closes, ``read_limit`` bytes or ``timeout`` seconds."""
    chunks, size = [], 0
    deadline = time.monotonic() + timeout
    while size < read_limit and time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class KeepAliveClient:
    """A keep-alive ``http.client`` connection that reconnects after the server closes it."""

    def __init__(self, port: int, timeout: float = 15):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def post_json(self, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", path, body=body, headers=headers or JSON_HEADERS)
            response = self.conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# -- callback bodies ---------------------------------------------------------------------


def _split_outputs(output: str):
    from dash._utils import split_callback_id

    return split_callback_id(output)


class Callbacks:
    """Request bodies for the app's server-side callbacks, shaped as the Dash renderer sends them."""

    def __init__(self):
        from losslab.dashboard import create_app

        self.app = create_app()
        self.map = {k: v for k, v in self.app.callback_map.items() if "callback" in v}

    def key(self, prefix: str) -> str:
        """The callback whose output string starts with ``..<prefix>`` or equals ``prefix``."""
        matches = [k for k in self.map if k == prefix or k.startswith(".." + prefix)]
        assert len(matches) == 1, (prefix, matches)
        return matches[0]

    def view_key(self, view: str) -> str:
        return self.key(f"{view}-loss-graph.figure")

    def body(self, key: str, values: dict, changed: list[str] | None = None, state: dict | None = None) -> dict:
        spec = self.map[key]
        outputs = _split_outputs(key)
        inputs = [dict(entry, value=values.get(entry["id"])) for entry in spec["inputs"]]
        states = [dict(entry, value=(state or {}).get(entry["id"])) for entry in spec["state"]]
        if changed is None:
            changed = [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"]
        return {"output": key, "outputs": outputs, "inputs": inputs, "changedPropIds": changed,
                "state": states}

    def route_body(self, pathname: str, search: str) -> dict:
        return self.body(self.key("page-content.children"), {"url": None}, ["url.pathname"]) | {
            "inputs": [{"id": "url", "property": "pathname", "value": pathname},
                       {"id": "url", "property": "search", "value": search}],
        }

    def control_change(self, view: str, values: dict, changed_id: str, previous_query: str | None) -> dict:
        """The main callback of ``view`` after the control ``changed_id`` changed, as the renderer posts it."""
        key = self.view_key(view)
        spec = self.map[key]
        prop = next(e for e in spec["inputs"] if e["id"] == changed_id)
        return self.body(key, values, [f"{prop['id']}.{prop['property']}"],
                         {spec["state"][0]["id"]: previous_query})


# Values a user can type or pick, per view, keyed by component id. Some are invalid on purpose:
# an invalid value is an inline message (still a 200), which is part of normal traffic.
VIEW_CONTROLS = {
    "regression": {
        "regression-target-input": lambda r: r.choice(["0", "1", "-2.5", f"{r.uniform(-5, 5):.3f}", "abc"]),
        "regression-prediction-input": lambda r: f"{r.uniform(-5, 5):.3f}",
        "regression-delta-input": lambda r: r.choice(["1", "0.5", f"{r.uniform(0.05, 10):.3f}", "-1"]),
        "regression-tau-input": lambda r: r.choice(["0.5", "0.1", f"{r.uniform(0.01, 0.99):.3f}"]),
        "regression-losses": lambda r: r.sample(["mse", "mae", "huber", "log_cosh", "quantile"], r.randint(1, 5)),
    },
    "binary": {
        "binary-label-input": lambda r: r.choice(["0", "1", f"{r.uniform(0, 1):.3f}"]),
        "binary-probability-input": lambda r: r.choice(["0.99", "0.01", f"{r.uniform(0.001, 0.999):.4f}", "1.5"]),
        "binary-gamma-input": lambda r: r.choice(["2", "0", f"{r.uniform(0, 5):.2f}"]),
        "binary-losses": lambda r: r.sample(["bce", "sigmoid_mse", "focal", "hinge"], r.randint(1, 4)),
        "binary-axis": lambda r: r.choice(["logit", "prob"]),
    },
    "multiclass": {
        "multiclass-logits-input": lambda r: r.choice(
            ["2, 1, 0.1, -1", "1000, 999, 998", ", ".join(f"{r.uniform(-20, 20):.2f}" for _ in range(r.randint(2, 10)))]
        ),
        "multiclass-true_class-input": lambda r: str(r.randint(0, 1)),
        "multiclass-temperature-input": lambda r: r.choice(["1", "0.5", f"{r.uniform(0.01, 100):.3f}"]),
        "multiclass-swept_class-input": lambda r: str(r.randint(0, 1)),
        "multiclass-losses": lambda r: r.sample(["cross_entropy", "kl_divergence", "brier"], r.randint(1, 3)),
    },
}


@dataclass
class Session:
    """One browser tab's callback traffic: the controls' values and the query the last answer set."""

    view: str
    values: dict
    query: str | None = None


def new_session(callbacks: Callbacks, view: str, seed: int) -> Session:
    from losslab.dashboard import controls
    from losslab.dashboard.url_state import default_state, encode_query

    state = default_state(view)
    values = {f"{view}-{c.name}-input": controls.format_number(state.numbers[c.name])
              for c in controls.CONTROLS[view]}
    values[f"{view}-losses"] = list(state.losses)
    if view == "binary":
        values["binary-axis"] = state.axis
    if view == "multiclass":
        values["multiclass-logits-input"] = controls.format_logits(state.logits)
    return Session(view, values, encode_query(state))


def next_change(callbacks: Callbacks, session: Session, rng: random.Random) -> dict:
    """Change one control of the session at random; return the body the renderer would post."""
    changed_id = rng.choice(list(VIEW_CONTROLS[session.view]))
    session.values[changed_id] = VIEW_CONTROLS[session.view][changed_id](rng)
    return callbacks.control_change(session.view, session.values, changed_id, session.query)


def query_from_answer(callbacks: Callbacks, view: str, answer: bytes) -> str | None:
    """The URL-sync store's new data in a view callback's answer (None if the answer leaves it alone)."""
    store = f"{view}-url-sync"
    try:
        return json.loads(answer)["response"].get(store, {}).get("data")
    except (ValueError, KeyError, AttributeError):
        return None


# -- load --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requested: int
    clients: int
    ok: int = 0
    failed: int = 0
    statuses: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    marks: dict = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def summary(self) -> dict:
        return {"clients": self.clients, "requests": self.requested, "ok": self.ok, "failed": self.failed,
                "statuses": self.statuses, "errors": self.errors, "seconds": round(self.seconds, 2),
                "req_per_s": round((self.ok + self.failed) / self.seconds, 1) if self.seconds else None,
                "p50_ms": round(self.percentile(50) * 1000, 1), "p99_ms": round(self.percentile(99) * 1000, 1),
                **self.marks}


class LoadRun:
    """``clients`` threads, each a keep-alive connection, posting ``total`` callback bodies between them.

    ``body_for(i, rng, client_state)`` returns the i-th body (bytes). ``at(count, action)`` runs
    ``action(self)`` once, from a monitor thread, when ``count`` requests have completed. ``stop()``
    makes clients take no new request. Bounded by ``total`` and by ``deadline_s``.
    """

    def __init__(self, port: int, body_for, total: int, clients: int, deadline_s: float, seed: int = 0):
        self.port = port
        self.body_for = body_for
        self.result = LoadResult(total, clients)
        self.total = total
        self.clients = clients
        self.deadline_s = deadline_s
        self.seed = seed
        self.lock = threading.Lock()
        self.next_index = 0
        self.completed = 0
        self.in_flight = 0
        self.stopped = threading.Event()
        self.stopped_by_caller = False
        self.actions: list[tuple[int, object]] = []

    def at(self, count: int, action) -> LoadRun:
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

    def _client(self, number: int, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + number)
        client = KeepAliveClient(self.port)
        state: dict = {}
        try:
            while time.monotonic() < deadline:
                index = self._take()
                if index is None:
                    return
                body = self.body_for(index, rng, state)
                started = time.perf_counter()
                outcome = None
                try:
                    status, _, data = client.post_json(CALLBACK_PATH, body)
                    outcome = status
                except (OSError, http.client.HTTPException) as error:
                    outcome = type(error).__name__
                    data = b""
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.in_flight -= 1
                    self.completed += 1
                    if outcome == 200:
                        self.result.ok += 1
                        self.result.latencies.append(elapsed)
                        state["last"] = data
                    else:
                        self.result.failed += 1
                        bucket = self.result.statuses if isinstance(outcome, int) else self.result.errors
                        bucket[str(outcome)] = bucket.get(str(outcome), 0) + 1
        finally:
            client.close()

    def _monitor(self, deadline: float) -> None:
        pending = sorted(self.actions, key=lambda a: a[0])
        while pending and time.monotonic() < deadline and not self.stopped.is_set():
            if self.completed >= pending[0][0]:
                _, action = pending.pop(0)
                action(self)
            else:
                time.sleep(0.002)

    def run(self) -> LoadResult:
        started = time.monotonic()
        deadline = started + self.deadline_s
        threads = [threading.Thread(target=self._client, args=(n, deadline), daemon=True)
                   for n in range(self.clients)]
        monitor = threading.Thread(target=self._monitor, args=(deadline,), daemon=True)
        monitor.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic() + 20))
        self.stopped.set()
        monitor.join(5)
        self.result.seconds = time.monotonic() - started
        self.result.timed_out = self.completed < self.total and not self.stopped_by_caller
        return self.result


def session_bodies(callbacks: Callbacks, route_share: float = 0.1):
    """A ``body_for`` for :class:`LoadRun`: each client is a user changing controls in one view."""
    views = list(VIEW_CONTROLS)

    def body_for(index: int, rng: random.Random, state: dict) -> bytes:
        if "session" not in state:
            view = views[index % len(views)]
            state["session"] = new_session(callbacks, view, index)
        session = state["session"]
        if "last" in state:
            query = query_from_answer(callbacks, session.view, state.pop("last"))
            if query is not None:
                session.query = query
        if rng.random() < route_share:
            return json.dumps(callbacks.route_body(f"/{session.view}", session.query or "")).encode()
        return json.dumps(next_change(callbacks, session, rng)).encode()

    return body_for
