"""Reliability and security tests against real gunicorn servers on loopback ports.

The machinery is shared with the benchmark suite:

* bench/harness.py: :class:`~bench.harness.Gunicorn` (``gunicorn app:server``
  with the Dockerfile's worker settings on a free 127.0.0.1 port, its workers'
  pids and memory from ``/proc``), :class:`~bench.harness.Client` (keep-alive),
  :func:`~bench.harness.request`, :class:`~bench.harness.LoadRun` and
  :func:`~bench.harness.percentile`;
* bench/payloads.py: :class:`~bench.payloads.Tab`, one browser tab's traffic
  built from the page-load answer (the route callback's), so it cannot drift
  from the app, and :class:`~bench.payloads.ChartTally`, which counts per view
  how many meant-valid requests returned charts.

This package adds what only these tests need: :class:`Callbacks` (the app's
callback map and in-process page loads, for hand-made and hostile bodies),
:class:`TabTraffic` (tabs as a :class:`LoadRun`'s requests), raw sockets and
``/proc/net/tcp``. Every request goes to 127.0.0.1 and every loop has a count
and a deadline. ``LOSSLAB_LONG=1`` selects the long mode (bigger counts); see
docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from pathlib import Path

from bench.harness import (
    CALLBACK_PATH,
    JSON_HEADERS,
    ROOT,
    Client,
    Gunicorn,
    LoadRun,
    cpu_seconds,
    env_flag,
    free_port,
    request,
)
from bench.payloads import ChartTally, Step, Tab, request_dict, route_body

__all__ = [
    "CALLBACK_PATH", "JSON_HEADERS", "LONG", "MIN_CHART_SHARE", "ROOT", "Callbacks", "ChartTally", "Client",
    "Gunicorn", "LoadRun", "Step", "Tab", "TabTraffic", "cpu_seconds", "established_connections", "free_port",
    "raw_exchange", "read_until_closed", "request", "tcp_sockets",
]

LONG = env_flag("LOSSLAB_LONG")
#: Below this share of meant-valid requests answered with charts, a run measured something else.
MIN_CHART_SHARE = 0.95


# -- /proc/net/tcp -----------------------------------------------------------------------


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


# -- raw sockets -------------------------------------------------------------------------


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


# -- callback bodies ---------------------------------------------------------------------


class Callbacks:
    """The app's callbacks, and page loads answered in process (Flask's test client, no server).

    ``views`` are the paths of the site's navigation links, read from the route callback's
    answer for ``/``. :meth:`tab` gives a :class:`Tab` already loaded with a view's page.
    """

    def __init__(self):
        from losslab.dashboard import create_app

        self.app = create_app()
        self.callback_map = self.app.callback_map
        self.map = {k: v for k, v in self.callback_map.items() if "callback" in v}
        self.client = self.app.server.test_client()
        self.view_paths = nav_paths(self.post(route_body(self.callback_map, "/")))
        self.views = [path.strip("/") for path in self.view_paths]

    def post(self, body: bytes) -> bytes:
        answer = self.client.post(CALLBACK_PATH, data=body, content_type="application/json")
        assert answer.status_code == 200, (answer.status_code, answer.data[:300])
        return answer.data

    def key(self, prefix: str) -> str:
        """The callback whose output string starts with ``..<prefix>`` or equals ``prefix``."""
        matches = [k for k in self.map if k == prefix or k.startswith(".." + prefix)]
        assert len(matches) == 1, (prefix, matches)
        return matches[0]

    def body(self, key: str, values: dict, changed: list[str] | None = None, state: dict | None = None) -> dict:
        """A request for callback ``key`` with input values and state values given by component id."""
        spec = self.map[key]
        by_prop = {(e["id"], e["property"]): values.get(e["id"]) for e in spec["inputs"]}
        by_prop |= {(e["id"], e["property"]): (state or {}).get(e["id"]) for e in spec["state"]}
        if changed is None:
            changed = [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"]
        return request_dict(key, spec, by_prop, changed)

    def route_body(self, pathname, search) -> dict:
        return json.loads(route_body(self.callback_map, pathname, search))

    def tab(self, path: str, tally: ChartTally | None = None, **options) -> Tab:
        """A tab on ``path`` with its page loaded (in process)."""
        tab = Tab(self.callback_map, path, tally=tally, **options)
        tab.load(self.post(route_body(self.callback_map, path)))
        return tab

    def valid_change(self, path: str, changed_id: str, value=None) -> dict:
        """The main callback's request after the control ``changed_id`` changed (every value from the page load)."""
        return json.loads(self.tab(path).change_body(changed_id, value))


def nav_paths(answer: bytes) -> list[str]:
    """The local paths the route answer's navigation links to (each output whose children are a list),
    menus included (the Loss atlas menu holds its links one level down)."""
    paths = []

    def collect(children):
        for child in children if isinstance(children, list) else [children]:
            if not isinstance(child, dict):
                continue
            props = child.get("props", {})
            href = props.get("href")
            if isinstance(href, str) and href.startswith("/") and href not in paths:
                paths.append(href)
            collect(props.get("children"))

    for props in json.loads(answer)["response"].values():
        if isinstance(props.get("children"), list):
            collect(props["children"])
    assert paths, "the page for / links to no view"
    return paths


class TabTraffic:
    """A :class:`LoadRun`'s requests: each client is one browser tab on one view (client n on the n-th view, round-robin).

    Every answer goes through the tab (which reads the next request's state from it) and
    into ``tally``.
    """

    def __init__(self, callbacks: Callbacks, tally: ChartTally, **tab_options):
        self.callbacks = callbacks
        self.tally = tally
        self.tab_options = tab_options

    def next_request(self, index: int, rng: random.Random, state: dict) -> tuple[str, bytes]:
        if "tab" not in state:
            paths = self.callbacks.view_paths
            state["tab"] = Tab(self.callbacks.callback_map, paths[state["client"] % len(paths)],
                               tally=self.tally, **self.tab_options)
        state["step"] = state["tab"].next_step(rng)
        return CALLBACK_PATH, state["step"].body

    def on_answer(self, state: dict, outcome, body: bytes) -> None:
        state["tab"].answered(state["step"], outcome, body)

    def load_run(self, port: int, total: int, clients: int, deadline_s: float, seed: int) -> LoadRun:
        return LoadRun(port, self.next_request, total, clients, deadline_s, seed=seed, on_answer=self.on_answer)
