"""Faults under load: ``kill -9`` of a worker, and SIGTERM to the master (graceful stop).

Each test starts its own gunicorn (Dockerfile settings: 2 gthread workers x 4
threads, graceful timeout 8 s) on a free 127.0.0.1 port. The traffic is browser
tabs (bench.payloads.Tab, as in test_load); of the meant-valid requests that got
an answer, at least 95% per view must have returned charts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import time

from bench.harness import DOCKERFILE_FLAGS

from . import (
    CALLBACK_PATH,
    LONG,
    MIN_CHART_SHARE,
    ChartTally,
    LoadRun,
    TabTraffic,
    established_connections,
    request,
)

CLIENTS = 50
KILL_TOTAL = 10_000 if LONG else 1_500
KILL_AT = (2_500, 5_000, 7_500) if LONG else (500,)
REPLACEMENT_WITHIN_S = 20
GRACEFUL_TIMEOUT_S = int(DOCKERFILE_FLAGS[DOCKERFILE_FLAGS.index("--graceful-timeout") + 1])
DOCKER_STOP_GRACE_S = 10  # `docker stop` sends SIGKILL after this


def _wait_for_replacement(server, victim: int, workers: int, limit: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        pids = server.worker_pids()
        if victim not in pids and len(pids) == workers:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def assert_reached_charts(tally: ChartTally, views) -> None:
    problems = tally.problems(views, MIN_CHART_SHARE)
    assert not problems, (problems, tally.report())


def test_kill_9_a_worker_mid_load(start_server, callbacks, figures):
    server = start_server("kill9")
    kills: list[dict] = []

    def kill_one(run: LoadRun) -> None:
        held = {pid: established_connections(pid, server.port) for pid in server.worker_pids()}
        victim = max(held, key=held.get)  # the worst case: the worker holding the most client connections
        record = {"after_requests": run.completed, "in_flight": run.in_flight, "failed_before": run.result.failed,
                  "connections_per_worker": sorted(held.values(), reverse=True)}
        os.kill(victim, signal.SIGKILL)
        record["replaced_after_s"] = _wait_for_replacement(server, victim, server.workers, REPLACEMENT_WITHIN_S)
        record["new_pid"] = [p for p in server.worker_pids() if p != victim]
        kills.append(record)

    tally = ChartTally()
    run = TabTraffic(callbacks, tally).load_run(server.port, KILL_TOTAL, CLIENTS, 300 if LONG else 90, seed=2)
    for count in KILL_AT:
        run.at(count, kill_one)
    result = run.run()
    assert len(kills) == len(KILL_AT), kills
    # failures that follow each kill (until the next one): the requests on the dead worker's connections
    marks = [k["failed_before"] for k in kills] + [result.failed]
    per_kill = [marks[i + 1] - marks[i] for i in range(len(kills))]
    figures["kill -9 a worker"] = {
        "clients": CLIENTS, "requests": KILL_TOTAL, "kills": len(kills), "ok": result.ok,
        "failed": result.failed, "failed_per_kill": per_kill, "failed_by_error": result.errors | result.statuses,
        "in_flight_at_each_kill": [k["in_flight"] for k in kills],
        "client_connections_per_worker_at_each_kill": [k["connections_per_worker"] for k in kills],
        "replaced_after_s": [round(k["replaced_after_s"], 2) if k["replaced_after_s"] else None for k in kills],
        "reached_charts": tally.report(),
    }
    for record in kills:
        assert record["replaced_after_s"] is not None, f"no new worker within {REPLACEMENT_WITHIN_S} s: {record}"
    assert not result.timed_out, result.summary()
    assert result.ok + result.failed == KILL_TOTAL
    assert marks[0] == 0, "requests failed before any kill"
    for failed, record in zip(per_kill, kills, strict=True):
        assert failed <= record["in_flight"] <= CLIENTS, (per_kill, kills)
    assert not result.statuses, f"HTTP error statuses besides dropped connections: {result.statuses}"
    assert_reached_charts(tally, callbacks.views)
    assert server.healthy()


def _slow_upload(port: int, body: bytes) -> socket.socket:
    """A callback request whose body is only half sent: the worker is inside the app, reading it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = (f"POST {CALLBACK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    s.sendall(head + body[: len(body) // 2])
    return s


def _finish(s: socket.socket, body: bytes) -> tuple[int, bytes]:
    try:
        s.sendall(body[len(body) // 2 :])
        chunks = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as error:
        return 0, repr(error).encode()
    finally:
        s.close()
    answer = b"".join(chunks)
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    return status, payload


def test_sigterm_lets_in_flight_requests_finish(start_server, callbacks, figures):
    server = start_server("sigterm")
    rng = random.Random(4)
    tally = ChartTally()
    tabs, steps = [], []
    # more than the 8 worker threads (some wait in a worker's queue), and one change on every view at least
    for i in range(max(12, len(callbacks.view_paths))):
        path = callbacks.view_paths[i % len(callbacks.view_paths)]
        tabs.append(callbacks.tab(path, tally, route_share=0, click_share=0, typo_share=0))
        steps.append(tabs[-1].next_step(rng))  # a valid change of one control
    bodies = [step.body for step in steps]
    sockets = [_slow_upload(server.port, body) for body in bodies]
    time.sleep(0.5)
    signalled = time.monotonic()
    server.signal(signal.SIGTERM)
    time.sleep(1.0)
    # A new client after the signal: the master has closed its listener, but the stopping workers
    # still hold theirs until they exit, so the kernel may queue the connection and then reset it.
    try:
        probe = f"answered {request(server.port, 'GET', '/health', timeout=2)[0]}"
    except OSError as error:
        probe = type(error).__name__
    answers = [_finish(s, body) for s, body in zip(sockets, bodies, strict=True)]
    code = server.wait(GRACEFUL_TIMEOUT_S + 10)
    stopped_after = time.monotonic() - signalled
    ok = sum(1 for status, payload in answers if status == 200 and json.loads(payload).get("multi"))
    for tab, step, (status, payload) in zip(tabs, steps, answers, strict=True):
        tab.answered(step, status or "no answer", payload)
    figures["SIGTERM with requests in flight"] = {
        "in_flight": len(bodies), "completed_200": ok, "new_client_after_signal": probe,
        "master_exit_code": code, "stopped_after_s": round(stopped_after, 2), "reached_charts": tally.report(),
    }
    assert ok == len(bodies), f"{[(status, payload[:120]) for status, payload in answers]} {server.log()[-2000:]}"
    assert_reached_charts(tally, callbacks.views)
    assert code == 0, server.log()[-2000:]
    assert stopped_after < DOCKER_STOP_GRACE_S, "past docker stop's grace the container would be killed"


def test_sigterm_under_load(start_server, callbacks, figures):
    server = start_server("sigterm-load")
    at_signal: dict = {}

    def stop(run: LoadRun) -> None:
        run.stop()  # clients take no new request from here on, as a load balancer would route away
        at_signal.update(in_flight=run.in_flight, completed=run.completed, time=time.monotonic())
        server.signal(signal.SIGTERM)

    total = 3_000 if LONG else 1_000
    tally = ChartTally()
    run = TabTraffic(callbacks, tally).load_run(server.port, total, CLIENTS, 120, seed=3)
    result = run.at(total // 2, stop).run()
    code = server.wait(GRACEFUL_TIMEOUT_S + 10)
    figures["SIGTERM under load"] = {
        "clients": CLIENTS, "in_flight_at_signal": at_signal["in_flight"],
        "answered_after_signal": result.ok + result.failed - at_signal["completed"],
        "failed": result.failed, "failed_by_error": result.errors | result.statuses, "master_exit_code": code,
        "reached_charts": tally.report(),
    }
    assert result.failed <= at_signal["in_flight"], result.summary()
    assert result.failed == 0, f"in-flight requests lost on a graceful stop: {result.summary()}"
    assert code == 0
    assert_reached_charts(tally, callbacks.views)
