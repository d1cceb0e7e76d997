"""Bounded loopback load: 50 keep-alive clients, a fixed number of callback requests, zero errors.

Each client behaves like one browser tab (bench.payloads.Tab): it loads a view
through the route callback, then changes one control per request with the
values and the URL-store State that page load and the previous answers gave
(sometimes a typo, answered with an inline message, still a 200; the next
change corrects it), clicks a chart now and then, and reloads the page one
request in ten. At least 95% of the meant-valid requests of every view must
come back with charts, so the figures measure the chart code, not only the
validator. Memory is the sum of the gunicorn workers' VmRSS from /proc, read
every 50 requests. One reading swings by up to 25% with the requests in flight
(their arrays come and go), so the growth compares the median reading of an
early window with the median of the last window: a leak raises every reading
of the last window, a burst of temporaries raises one. The early window starts
after a warm-up: the views' bounded caches (up to 512 entries each, about 17 MB
of Python objects per process when full) fill over the first few thousand
requests, and measured from 500 requests that filling alone gave up to 16%.

The baseline, in the same run: bench/trivial_app.py (one echo callback) under
the same gunicorn settings and the same load, half before and half after
losslab's run; latencies and throughput are also reported as ratios to it.
"""

from __future__ import annotations

import itertools

from bench import payloads, trivial_app
from bench.harness import DOCKERFILE_CONFIG, TRIVIAL_TARGET, LoadResult, median, percentile

from . import (
    CALLBACK_PATH,
    LONG,
    MIN_CHART_SHARE,
    ChartTally,
    Gunicorn,
    LoadRun,
    TabTraffic,
    cpu_seconds,
)

CLIENTS = 50
TOTAL = 20_000 if LONG else 4_000
WARM_UP = 2_000 if LONG else 1_000  # the bounded caches fill in the first few thousand requests
WINDOW = 2_000 if LONG else 500
SAMPLE_EVERY = 50
RSS_GROWTH_LIMIT = 0.10 if LONG else 0.20
DEADLINE_S = 600 if LONG else 90


def trivial_load(port: int, total: int, seed: int) -> LoadResult:
    bodies = [payloads.trivial_body(trivial_app.app.callback_map, value) for value in ("1", "2")]
    return LoadRun(port, lambda index, _rng, _state: (CALLBACK_PATH, bodies[index % 2]), total, CLIENTS,
                   DEADLINE_S, seed=seed).run()


def test_load_fifty_clients_zero_errors_bounded_memory(server, callbacks, log_dir, figures):
    with Gunicorn(TRIVIAL_TARGET, DOCKERFILE_CONFIG, ready_path="/", log_dir=log_dir, name="trivial") as trivial:
        baseline = [trivial_load(trivial.port, TOTAL // 2, seed=10)]
        rss_start = server.worker_rss_kib()
        workers_before = server.worker_pids()
        cpu_before = {pid: cpu_seconds(pid) for pid in workers_before}
        tally = ChartTally()
        run = TabTraffic(callbacks, tally).load_run(server.port, TOTAL, CLIENTS, DEADLINE_S, seed=1)
        windows = {"early": range(WARM_UP, WARM_UP + WINDOW + 1, SAMPLE_EVERY),
                   "last": range(TOTAL - WINDOW, TOTAL, SAMPLE_EVERY)}
        readings: dict[str, list[int]] = {name: [] for name in windows}
        for name, counts in windows.items():
            for count in counts:
                run.at(count, lambda _run, name=name: readings[name].append(server.worker_rss_kib()))
        result = run.run()
        readings["last"].append(server.worker_rss_kib())
        cpu = sorted((round(cpu_seconds(pid) - cpu_before[pid], 1) for pid in workers_before), reverse=True)
        baseline.append(trivial_load(trivial.port, TOTAL - TOTAL // 2, seed=11))
    early, last = median(readings["early"]), median(readings["last"])
    growth = (last - early) / early
    base_latencies = list(itertools.chain.from_iterable(b.latencies for b in baseline))
    base_rate = sum(b.ok for b in baseline) / sum(b.seconds for b in baseline)
    base_p50, base_p99 = percentile(base_latencies, 50), percentile(base_latencies, 99)
    figures["load"] = result.summary() | {
        "rss_kib_start": rss_start,
        f"rss_kib_median_{WARM_UP}_to_{WARM_UP + WINDOW}": round(early),
        f"rss_kib_median_{TOTAL - WINDOW}_to_{TOTAL}": round(last),
        "rss_readings": {name: len(values) for name, values in readings.items()},
        "rss_growth_pct": round(100 * growth, 2),
        "cpu_s_per_worker": cpu,  # keep-alive connections stick to the worker that accepted them
        "cpu_ms_per_request": round(1000 * sum(cpu) / max(1, result.ok + result.failed), 2),
        "trivial_app_same_load": {"p50_ms": round(1000 * base_p50, 1), "p99_ms": round(1000 * base_p99, 1),
                                  "req_per_s": round(base_rate, 1),
                                  "failed": sum(b.failed for b in baseline)},
        "vs_trivial": {"p50": round(result.percentile(50) / base_p50, 2),
                       "p99": round(result.percentile(99) / base_p99, 2),
                       "req_per_s": round(result.rate / base_rate, 2)},
        "reached_charts": tally.report(),
    }
    assert not result.timed_out, f"only {result.ok + result.failed} of {TOTAL} requests within {DEADLINE_S} s"
    assert result.ok == TOTAL and result.failed == 0, result.summary()
    problems = tally.problems(callbacks.views, MIN_CHART_SHARE)
    assert not problems, (problems, tally.report())
    assert server.worker_pids() == workers_before, "a worker was replaced during the load"
    assert len(readings["early"]) == len(windows["early"]) and len(readings["last"]) > len(windows["last"]) // 2, \
        readings
    assert growth <= RSS_GROWTH_LIMIT, \
        f"worker RSS grew {100 * growth:.1f}% (median of each window; limit {100 * RSS_GROWTH_LIMIT:.0f}%): {readings}"
    assert server.healthy()
