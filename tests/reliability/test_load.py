"""Bounded loopback load: 50 keep-alive clients, a fixed number of callback requests, zero errors.

Each client behaves like one browser tab: it keeps a view's control values,
changes one control per request (sometimes to an invalid value, which is an
inline message, still a 200) and sends the query string of the previous
answer as the State, as the Dash renderer does; one request in ten is a page
route. Memory is the sum of the gunicorn workers' VmRSS from /proc.
"""

from __future__ import annotations

from . import LONG, LoadRun, cpu_seconds, session_bodies

CLIENTS = 50
TOTAL = 20_000 if LONG else 2_500
BASELINE_AFTER = 2_000 if LONG else 500
RSS_GROWTH_LIMIT = 0.10 if LONG else 0.20
DEADLINE_S = 600 if LONG else 90


def test_load_fifty_clients_zero_errors_bounded_memory(server, callbacks, figures):
    rss = {"start": server.worker_rss_kib()}
    workers_before = server.worker_pids()
    cpu_before = {pid: cpu_seconds(pid) for pid in workers_before}
    run = LoadRun(server.port, session_bodies(callbacks), TOTAL, CLIENTS, DEADLINE_S, seed=1)
    run.at(BASELINE_AFTER, lambda _run: rss.__setitem__("baseline", server.worker_rss_kib()))
    result = run.run()
    rss["end"] = server.worker_rss_kib()
    cpu = sorted((round(cpu_seconds(pid) - cpu_before[pid], 1) for pid in workers_before), reverse=True)
    growth = (rss["end"] - rss["baseline"]) / rss["baseline"]
    figures["load"] = result.summary() | {
        "rss_kib_start": rss["start"], f"rss_kib_after_{BASELINE_AFTER}": rss["baseline"],
        f"rss_kib_after_{TOTAL}": rss["end"], "rss_growth_pct": round(100 * growth, 2),
        "cpu_s_per_worker": cpu,  # keep-alive connections stick to the worker that accepted them
    }
    assert not result.timed_out, f"only {result.ok + result.failed} of {TOTAL} requests within {DEADLINE_S} s"
    assert result.ok == TOTAL and result.failed == 0, result.summary()
    assert server.worker_pids() == workers_before, "a worker was replaced during the load"
    assert growth <= RSS_GROWTH_LIMIT, f"worker RSS grew {100 * growth:.1f}% (limit {100 * RSS_GROWTH_LIMIT:.0f}%)"
    assert server.healthy()
