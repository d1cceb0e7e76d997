"""Rows 1, 2 and 5: callback latency and bytes under gunicorn, and loopback throughput.

The losslab app and the trivial app (bench/trivial_app.py) run side by side
under the same gunicorn configuration; requests alternate between them so
the machine's noise lands on both alike, and each figure is a ratio of the
two. Every loop is bounded by a request count and a wall-clock deadline.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass

from bench import payloads
from bench.common import INFO, Mode, Row, ms, ratio, verdict
from bench.harness import (
    APP_TARGET,
    BENCH_FLAGS,
    TRIVIAL_TARGET,
    Client,
    Gunicorn,
    GunicornConfig,
    LoadRun,
    median,
    percentile,
    serve,
)

#: The configuration for the latency and bytes rows (one client at a time, so it barely matters).
LATENCY_CONFIG = GunicornConfig("gthread-w2-t4", workers=2, worker_class="gthread", threads=4, flags=BENCH_FLAGS)
THROUGHPUT_CONFIGS = (
    GunicornConfig("sync-w2", workers=2, worker_class="sync", flags=BENCH_FLAGS),
    LATENCY_CONFIG,
    GunicornConfig("gthread-w4-t4", workers=4, worker_class="gthread", threads=4, flags=BENCH_FLAGS),
)
BYTES_BUDGET = 25 * 1024
P50_TARGET, P99_TARGET = 1.5, 3.0
#: The page-load (route) callback: p50 against the trivial callback (issue 11).
ROUTE_P50_TARGET = 2.0
#: Page loads measured: each view with no query, alternating with a query that sets a parameter
#: (a shared link), so both bodies are genuine first loads of the view.
ROUTES = (("regression", "?delta=2"), ("binary", "?label=1"), ("multiclass", "?logits=2,1,0.5,-1"))
#: First-time links: every request a URL the server has not seen (the page cache cannot answer it).
NEW_LINKS = (("regression", "delta", 1.0), ("binary", "gamma", 1.0), ("multiclass", "temperature", 1.0))
THROUGHPUT_TARGET = 400.0
CLIENTS = 16


def pair(config: GunicornConfig, app_ready: str = "/") -> tuple[Gunicorn, Gunicorn]:
    """losslab and the trivial app under the same configuration (for :func:`bench.harness.serve`)."""
    return (Gunicorn(APP_TARGET, config, app_ready, name="losslab", warm_up=0),
            Gunicorn(TRIVIAL_TARGET, config, "/", name="trivial", warm_up=0))


def app_callback_map() -> dict:
    from losslab.dashboard import create_app

    return create_app().callback_map


def trivial_callback_map() -> dict:
    from bench import trivial_app

    return trivial_app.app.callback_map


@dataclass
class Timing:
    app: dict[str, list[float]]
    trivial: list[float]


@dataclass(frozen=True)
class Route:
    """A page load of ``view``: two route-callback bodies (no query, and ``search``) on ``url``."""

    view: str
    url: str
    bodies: tuple[bytes, bytes]
    responses: tuple[bytes, bytes]

    @property
    def key(self) -> str:
        return f"route-{self.view}"


class NewLinks:
    """Page loads of ``view`` whose query sets ``name`` to a value no earlier request used.

    Indexing gives the i-th body (``base + i * 1e-6``), so the sequence never repeats a URL."""

    def __init__(self, callback_map: dict, view: str, name: str, base: float):
        self.callback_map, self.view, self.name, self.base = callback_map, view, name, base
        self.count = 0

    def __getitem__(self, _parity: int) -> bytes:
        self.count += 1
        value = self.base + self.count * 1e-6
        return payloads.route_body(self.callback_map, "/" + self.view, f"?{self.name}={value:.6f}")


def prepare_route(client: Client, callback_map: dict, view: str, search: str) -> Route:
    token = payloads.end_id(client, "/" + view)
    url = payloads.UPDATE_PATH + (f"?endId={token}" if token else "")
    bodies = (payloads.route_body(callback_map, "/" + view, ""),
              payloads.route_body(callback_map, "/" + view, search))
    responses = []
    for request in bodies:
        status, _, response = client.post(url, request)
        if status != 200 or b'"page-content"' not in response:
            raise RuntimeError(f"page load of /{view}{search} answered {status}: {response[:200]!r}")
        responses.append(response)
    return Route(view, url, bodies, tuple(responses))


def measure_latency(app_port: int, trivial_port: int, prepared: list[payloads.Prepared],
                    trivial_bodies: tuple[bytes, bytes], rounds: int, deadline: float,
                    routes: tuple[Route, ...] = (), new_links: tuple[NewLinks, ...] = ()) -> Timing:
    """Sequential requests, one keep-alive connection per server, app and trivial interleaved."""
    app_client, trivial_client = Client(app_port), Client(trivial_port)
    requests = ([(p.scenario.key, p.url, p.bodies) for p in prepared] + [(r.key, r.url, r.bodies) for r in routes]
                + [(f"route-{n.view}-new-link", routes[0].url, n) for n in new_links])
    timing = Timing({key: [] for key, _, _ in requests}, [])
    try:
        for warm in range(10):  # first requests import lazily and fill caches
            for _, url, bodies in requests:
                app_client.post(url, bodies[warm % 2])
            trivial_client.post(payloads.UPDATE_PATH, trivial_bodies[warm % 2])
        for i in range(rounds):
            if time.monotonic() > deadline:
                break
            for key, url, bodies in requests:
                # Alternate which server goes first so neither always follows the other.
                pairs = [(app_client, url, bodies[i % 2], timing.app[key]),
                         (trivial_client, payloads.UPDATE_PATH, trivial_bodies[i % 2], timing.trivial)]
                for client, url, request, sink in pairs[:: 1 if i % 2 else -1]:
                    start = time.perf_counter()
                    status, _, _ = client.post(url, request)
                    elapsed = time.perf_counter() - start
                    if status != 200:
                        raise RuntimeError(f"{url} answered {status} during the latency run")
                    sink.append(elapsed)
    finally:
        app_client.close()
        trivial_client.close()
    return timing


def latency_rows(timing: Timing, config: GunicornConfig) -> list[Row]:
    base50, base99 = median(timing.trivial), percentile(timing.trivial, 99)
    rows = []
    for key, samples in timing.app.items():
        p50, p99 = median(samples), percentile(samples, 99)
        r50, r99 = ratio(p50, base50), ratio(p99, base99)
        route = key.startswith("route-")
        rows.append(Row(
            key=f"latency.{key}",
            measured=f"p50 {r50:.2f}x, p99 {r99:.2f}x",
            absolute=f"p50 {ms(p50)} / {ms(base50)} trivial; p99 {ms(p99)} / {ms(base99)}; n={len(samples)}",
            target=(f"p50 <= {ROUTE_P50_TARGET}x trivial" if route
                    else f"p50 <= {P50_TARGET}x, p99 <= {P99_TARGET}x trivial"),
            status=verdict(r50 <= ROUTE_P50_TARGET if route else r50 <= P50_TARGET and r99 <= P99_TARGET),
            notes=config.describe() + (ROUTE_NOTES["new-link" if key.endswith("-new-link") else "repeat"]
                                       if route else ""),
            data={"p50": p50, "p99": p99, "trivial_p50": base50, "trivial_p99": base99,
                  "ratio_p50": r50, "ratio_p99": r99, "n": len(samples)},
        ))
    return rows


ROUTE_NOTES = {
    "repeat": "; page load: the view with no query, alternating with a link's query (URLs the server has seen)",
    "new-link": "; page load of a link the server has not seen (a new value each request: no page cache)",
}


def route_bytes_rows(routes: tuple[Route, ...]) -> list[Row]:
    """What a page load carries: the view's layout with its first figures, raw and gzipped (INFO)."""
    rows = []
    for route in routes:
        raw = max(len(r) for r in route.responses)
        zipped = max(len(gzip.compress(r, compresslevel=6)) for r in route.responses)
        rows.append(Row(
            key=f"bytes.{route.key}",
            measured=f"{raw / 1024:.1f} KB raw; gzip {zipped / 1024:.1f} KB",
            absolute=f"{raw} B raw, {zipped} B gzip-6",
            target="information (the page's layout and first figures)",
            status=INFO,
            data={"raw": raw, "gzip": zipped},
        ))
    return rows


def bytes_rows(prepared: list[payloads.Prepared], trivial_response: bytes) -> list[Row]:
    rows = []
    for p in prepared:
        raw = max(len(r) for r in p.responses)
        zipped = max(len(gzip.compress(r, compresslevel=6)) for r in p.responses)
        patched = _patched_outputs(p.responses[0])
        rows.append(Row(
            key=f"bytes.{p.scenario.key}",
            measured=f"{raw / 1024:.1f} KB ({raw / BYTES_BUDGET:.2f}x budget); gzip {zipped / 1024:.1f} KB",
            absolute=f"{raw} B raw, {zipped} B gzip-6; trivial {len(trivial_response)} B",
            target="<= 25 KB raw",
            status=verdict(raw <= BYTES_BUDGET),
            notes=f"Patch for {', '.join(patched)}" if patched else "full figures",
            data={"raw": raw, "gzip": zipped, "trivial": len(trivial_response)},
        ))
    return rows


def _patched_outputs(response: bytes) -> list[str]:
    payload = json.loads(response)["response"]
    return [cid for cid, props in payload.items()
            if any(isinstance(v, dict) and "__dash_patch_update" in v for v in props.values())]


def run_latency_and_bytes(mode: Mode) -> tuple[list[Row], list[payloads.Prepared]]:
    rounds = mode.pick(30, 1000)
    app_map, trivial_map = app_callback_map(), trivial_callback_map()
    trivial_bodies = (payloads.trivial_body(trivial_map, "1"), payloads.trivial_body(trivial_map, "2"))
    with serve(*pair(LATENCY_CONFIG)) as ports:
        app_port, trivial_port = ports
        setup = Client(app_port)
        prepared = [payloads.prepare(setup, app_map, s) for s in payloads.SCENARIOS]
        routes = tuple(prepare_route(setup, app_map, view, search) for view, search in ROUTES)
        new_links = tuple(NewLinks(app_map, view, name, base) for view, name, base in NEW_LINKS)
        setup.close()
        trivial_client = Client(trivial_port)
        _, _, trivial_response = trivial_client.post(payloads.UPDATE_PATH, trivial_bodies[0])
        trivial_client.close()
        timing = measure_latency(app_port, trivial_port, prepared, trivial_bodies, rounds,
                                 deadline=time.monotonic() + mode.pick(15, 240), routes=routes,
                                 new_links=new_links)
    rows = latency_rows(timing, LATENCY_CONFIG) + bytes_rows(prepared, trivial_response) + route_bytes_rows(routes)
    return rows, prepared


# ---------------------------------------------------------------- throughput


def load(port: int, requests: list[tuple[str, bytes]], total: int, clients: int,
         time_limit: float) -> dict:
    """``clients`` keep-alive clients share ``total`` requests, round-robin over ``requests``."""
    result = LoadRun(port, lambda index, _rng, _state: requests[index % len(requests)], total, clients,
                     deadline_s=time_limit, timeout=30, retry_dropped=True).run()
    return {"ok": result.ok, "errors": result.failed, "unsent": result.unsent, "elapsed": result.seconds,
            "rps": result.rate, "first_error": result.first_error}


def _combine(runs: list[dict]) -> dict:
    """Totals over the chunks, with the median chunk's req/s as the figure."""
    rates = sorted(r["rps"] for r in runs)
    return {"ok": sum(r["ok"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "unsent": sum(r["unsent"] for r in runs), "elapsed": sum(r["elapsed"] for r in runs),
            "rps": median(rates), "spread": "/".join(f"{x:.0f}" for x in rates),
            "first_error": next((r["first_error"] for r in runs if r["first_error"]), "")}


def run_throughput(mode: Mode) -> list[Row]:
    total = mode.pick(160, 3000)
    rounds = mode.pick(1, 3)
    time_limit = mode.pick(10.0, 60.0)
    configs = THROUGHPUT_CONFIGS[1:2] if mode.quick else THROUGHPUT_CONFIGS
    app_map, trivial_map = app_callback_map(), trivial_callback_map()
    trivial_requests = [(payloads.UPDATE_PATH, payloads.trivial_body(trivial_map, v)) for v in "12"]
    rows = []
    for config in THROUGHPUT_CONFIGS:
        if config not in configs:
            rows.append(Row(f"throughput.{config.name}", "not run", "", f">= {THROUGHPUT_TARGET:.0f} req/s",
                            INFO, "skipped in --quick mode"))
            continue
        # Both boot together; only one is under load at a time (an idle server costs nothing).
        with serve(*pair(config)) as (port, trivial_port):
            setup = Client(port)
            prepared = [payloads.prepare(setup, app_map, s) for s in payloads.SCENARIOS]
            setup.close()
            requests = [(p.url, b) for p in prepared for b in p.bodies]
            load(port, requests, min(total, 64), CLIENTS, time_limit)  # warm every worker
            load(trivial_port, trivial_requests, min(total, 64), CLIENTS, time_limit)
            # Alternate app and trivial chunks so a burst of outside load hits both; medians of the chunks.
            runs: dict[str, list[dict]] = {"app": [], "trivial": []}
            for chunk in range(rounds):
                order = (("app", port, requests), ("trivial", trivial_port, trivial_requests))
                for name, target_port, bodies in order[:: 1 if chunk % 2 == 0 else -1]:
                    runs[name].append(load(target_port, bodies, total // rounds, CLIENTS, time_limit))
        app, trivial = (_combine(runs[name]) for name in ("app", "trivial"))
        share = ratio(app["rps"], trivial["rps"])
        ok = app["rps"] >= THROUGHPUT_TARGET and app["errors"] == 0 and app["unsent"] == 0
        rows.append(Row(
            key=f"throughput.{config.name}",
            measured=f"{app['rps']:.0f} req/s ({share:.2f}x trivial)",
            absolute=(f"{app['ok']} ok, {app['errors']} errors, {app['unsent']} unsent in {app['elapsed']:.2f} s "
                      f"(median of {rounds} chunk(s) {app['spread']}); trivial {trivial['rps']:.0f} req/s, "
                      f"{trivial['errors']} errors"),
            target=f">= {THROUGHPUT_TARGET:.0f} req/s, 0 errors",
            status=verdict(ok),
            notes=f"{config.describe()}, {CLIENTS} keep-alive clients, 4 callbacks round-robin"
                  + (f"; first error: {app['first_error']}" if app["first_error"] else ""),
            data={"app": app, "trivial": trivial},
        ))
    return rows
