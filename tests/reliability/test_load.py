"""Bounded loopback load: 50 keep-alive clients, a fixed number of callback requests, zero errors.

Each client behaves like one browser tab (bench.payloads.Tab): it loads a view
through the route callback, then changes one control per request with the
values and the URL-store State that page load and the previous answers gave
(sometimes a typo, answered with an inline message, still a 200; the next
change corrects it), clicks a chart now and then, and reloads the page one
request in ten. At least 95% of the meant-valid requests of every view must
come back with charts, so the figures measure the chart code, not only the
validator. Memory is the sum of the gunicorn workers' VmRSS from /proc.
"""

from __future__ import annotations

from . import LONG, MIN_CHART_SHARE, ChartTally, TabTraffic, cpu_seconds

CLIENTS = 50
TOTAL = 20_000 if LONG else 2_500
BASELINE_AFTER = 2_000 if LONG else 500
RSS_GROWTH_LIMIT = 0.10 if LONG else 0.20
DEADLINE_S = 600 if LONG else 90


def test_load_fifty_clients_zero_errors_bounded_memory(server, callbacks, figures):
    rss = {"start": server.worker_rss_kib()}
    workers_before = server.worker_pids()
    cpu_before = {pid: cpu_seconds(pid) for pid in workers_before}
    tally = ChartTally()
    run = TabTraffic(callbacks, tally).load_run(server.port, TOTAL, CLIENTS, DEADLINE_S, seed=1)
    run.at(BASELINE_AFTER, lambda _run: rss.__setitem__("baseline", server.worker_rss_kib()))
    result = run.run()
    rss["end"] = server.worker_rss_kib()
    cpu = sorted((round(cpu_seconds(pid) - cpu_before[pid], 1) for pid in workers_before), reverse=True)
    growth = (rss["end"] - rss["baseline"]) / rss["baseline"]
    figures["load"] = result.summary() | {
        "rss_kib_start": rss["start"], f"rss_kib_after_{BASELINE_AFTER}": rss["baseline"],
        f"rss_kib_after_{TOTAL}": rss["end"], "rss_growth_pct": round(100 * growth, 2),
        "cpu_s_per_worker": cpu,  # keep-alive connections stick to the worker that accepted them
        "cpu_ms_per_request": round(1000 * sum(cpu) / max(1, result.ok + result.failed), 2),
        "reached_charts": tally.report(),
    }
    assert not result.timed_out, f"only {result.ok + result.failed} of {TOTAL} requests within {DEADLINE_S} s"
    assert result.ok == TOTAL and result.failed == 0, result.summary()
    problems = tally.problems(callbacks.views, MIN_CHART_SHARE)
    assert not problems, (problems, tally.report())
    assert server.worker_pids() == workers_before, "a worker was replaced during the load"
    assert growth <= RSS_GROWTH_LIMIT, f"worker RSS grew {100 * growth:.1f}% (limit {100 * RSS_GROWTH_LIMIT:.0f}%)"
    assert server.healthy()
