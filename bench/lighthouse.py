"""A phone's first visit (Lighthouse, mobile preset) and a repeat visit, for every view; plain Dash beside it.

Rows (one per registered view, ``losslab.dashboard.views.VIEWS``):

* ``mobile-score.<view>``, ``mobile-lcp.<view>``, ``mobile-tbt.<view>``:
  Lighthouse 12.2.3's performance score, largest contentful paint and total
  blocking time with its default mobile preset (simulated slow 4G: 150 ms RTT,
  1.6 Mbit/s; CPU slowed 4x; a 412x823 phone screen), the median of
  ``runs`` runs. Lighthouse is the npm package pinned in bench/package.json,
  installed by ``make bench`` into ``.venv/node/bench``;
* ``weight.<view>``: bytes on the wire for the first visit (Lighthouse's
  total byte weight);
* ``a11y.<view>``: Lighthouse's accessibility score, and the audits that fail;
* ``mobile.bare-dash``, ``mobile.two-charts-dash`` (INFO): the floor of any Dash page here, from
  bench/dash_floor_app.py: a page with a heading only, and the same page with two static charts;
* ``repeat.<view>``: what a second visit in the same browser fetches over the
  network (Resource Timing: a response with a transfer size was not served
  from the cache alone);
* ``visit.cache-lifetimes``: the ``Cache-Control`` of every script and
  stylesheet a first visit loads; ``visit.compression``: the
  ``Content-Encoding`` of every text response over 1 KB.

The baseline is ``bench/plain_dash_app.py`` (one slider, two figures, Dash's
defaults), served by the same gunicorn configuration in the same run; its
runs are interleaved with losslab's so that the load of this shared 2-core
machine falls on both alike. Lighthouse calibrates its CPU slowdown for a
fast desktop (its ``benchmarkIndex`` about 1500 or more); the index measured
here is in each row's notes, and with a slower machine the blocking time is
the most inflated figure: compare it with plain Dash's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import ERROR, INFO, SKIP, Mode, Row, ms, ratio, verdict
from bench.harness import (
    APP_TARGET,
    CHROMIUM,
    DOCKERFILE_CONFIG,
    Gunicorn,
    chromium,
    chromium_problem,
    median,
    on_ci,
    request,
    serve,
)

LIGHTHOUSE = Path(sys.prefix) / "node" / "bench" / "node_modules" / ".bin" / "lighthouse"
BASELINE_TARGET = "bench.plain_dash_app:server"
BASELINE = "plain Dash"
# The floor of any Dash page (bench/dash_floor_app.py): its rows are INFO, beside the baseline
FLOOR_PAGES = (("bare-dash", "bench.dash_floor_app:bare_server", "a Dash page with a heading, no graph"),
               ("two-charts-dash", "bench.dash_floor_app:charts_server",
                "a Dash page with two static charts (losslab's plotly.js bundle), no callback"))
DEFAULT_RUNS = 3
RUN_TIMEOUT = 300  # s; a run takes 30 to 90 s here
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking"

SCORE_TARGET = 90
LCP_TARGET = 2.5  # s
TBT_TARGET = 0.300  # s
WEIGHT_TARGET = 1.5e6  # bytes
IMMUTABLE_MAX_AGE = 31_536_000
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg", "image/x-icon")
# Fetched by every page load: the page, Dash's layout and callback graph, the callbacks.
PAGE_REQUESTS = ("document", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component")

PREFIXES = ("mobile-score.", "mobile-lcp.", "mobile-tbt.", "weight.", "a11y.", "repeat.", "visit.")


def available() -> str | None:
    """Why this group cannot run here (None if it can)."""
    problem = chromium_problem()
    if problem:
        return problem
    if not LIGHTHOUSE.exists():
        return f"Lighthouse is not installed at {LIGHTHOUSE} (`make bench` installs it with npm)"
    return None


def views():
    from losslab.dashboard.views import VIEWS

    return VIEWS


def row_keys() -> list[str]:
    names = [view.name for view in views()]
    keys = [f"{prefix}{name}" for prefix in PREFIXES[:-1] for name in names]
    floor = [f"mobile.{name}" for name, _, _ in FLOOR_PAGES]
    return [*keys, "mobile.plain-dash", *floor, "visit.cache-lifetimes", "visit.compression"]


# ---------------------------------------------------------------- Lighthouse


def lighthouse(url: str) -> dict:
    """One Lighthouse run (mobile preset); the figures this module reports, or {'error': ...}."""
    with tempfile.TemporaryDirectory(prefix="losslab-lighthouse-") as folder:
        report = Path(folder) / "report.json"
        command = [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
                   "--only-categories=performance,accessibility", f"--chrome-flags={CHROME_FLAGS}"]
        env = {**os.environ, "CHROME_PATH": CHROMIUM, "TMPDIR": folder}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"Lighthouse took over {RUN_TIMEOUT} s"}
        if not report.exists():
            return {"error": f"Lighthouse exit {done.returncode}: {(done.stderr or done.stdout)[-300:]}"}
        return summarize(json.loads(report.read_text()))


def summarize(report: dict) -> dict:
    """The figures of one Lighthouse JSON report."""
    audits, categories = report["audits"], report["categories"]

    def value(audit: str) -> float | None:
        return audits.get(audit, {}).get("numericValue")

    figures = {
        "score": _score(categories.get("performance")),
        "a11y": _score(categories.get("accessibility")),
        "fcp": _seconds(value("first-contentful-paint")),
        "lcp": _seconds(value("largest-contentful-paint")),
        "tbt": _seconds(value("total-blocking-time")),
        "si": _seconds(value("speed-index")),
        "weight": value("total-byte-weight"),
        "compression_savings": (audits.get("uses-text-compression", {}).get("details") or {})
        .get("overallSavingsBytes", 0),
        "benchmark_index": report.get("environment", {}).get("benchmarkIndex"),
        "a11y_failures": sorted(key for key, audit in audits.items()
                                if key in _a11y_audit_ids(categories) and audit.get("score") == 0),
        "bootup": [(item["url"], item["total"]) for item in
                   (audits.get("bootup-time", {}).get("details") or {}).get("items", [])[:4]],
        "requests": len((audits.get("network-requests", {}).get("details") or {}).get("items", [])),
    }
    error = report.get("runtimeError")
    if error:
        figures["warning"] = f"{error.get('code')}: {error.get('message', '')[:120]}"
    return figures


def _score(category: dict | None) -> float | None:
    if not category or category.get("score") is None:
        return None
    return round(category["score"] * 100)


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _a11y_audit_ids(categories: dict) -> set[str]:
    return {ref["id"] for ref in categories.get("accessibility", {}).get("auditRefs", [])}


def median_of(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return median(values) if values else None


# ---------------------------------------------------------------- first and repeat visit, in Chromium

# Every request of the page load: the document and each resource, with what reached the network.
VISIT_JS = """
const nav = performance.getEntriesByType('navigation')[0];
return [nav, ...performance.getEntriesByType('resource')].map((e) => ({
  url: e.name, type: e.entryType === 'navigation' ? 'document' : e.initiatorType, transfer: e.transferSize,
  encoded: e.encodedBodySize, decoded: e.decodedBodySize, status: e.responseStatus || 0}));
"""
CHARTS_DRAWN_JS = "return document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2;"


def load(driver, url: str, settle: float = 2.0) -> list[dict]:
    driver.get(url)
    deadline = time.monotonic() + 30
    while not driver.execute_script(CHARTS_DRAWN_JS):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: charts not drawn within 30 s")
        time.sleep(0.1)
    time.sleep(settle)  # late requests: formulas, chunks
    return driver.execute_script(VISIT_JS)


def request_kind(entry: dict) -> str:
    if entry["type"] in ("document", "navigation"):
        return "document"
    path = urlsplit(entry["url"]).path
    return next((kind for kind in PAGE_REQUESTS[1:] if path.startswith(kind)), "bundle")


def visits(base: str, path: str) -> tuple[list[dict], list[dict]]:
    """The requests of a first visit and of a repeat visit (same browser, a new navigation)."""
    with chromium(width=412, height=823) as driver:
        first = load(driver, base + path)
        driver.get("about:blank")
        repeat = load(driver, base + path)
    return first, repeat


def repeat_summary(repeat: list[dict]) -> dict:
    fetched = [entry for entry in repeat if entry["transfer"] > 0]
    kinds: dict[str, list[dict]] = {}
    for entry in fetched:
        kinds.setdefault(request_kind(entry), []).append(entry)
    return {"fetched": fetched, "kinds": kinds, "bytes": sum(entry["transfer"] for entry in fetched),
            "cached": sum(1 for entry in repeat if entry["transfer"] == 0)}


def header_check(port: int, urls: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(bundles without an immutable year-long lifetime, text responses over 1 KB sent uncompressed, all checked)."""
    short, plain = [], []
    for url in urls:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        answer = request(port, "GET", target, headers={"Accept-Encoding": "br, gzip"})
        kind = answer.headers.get("content-type", "")
        cache = answer.headers.get("cache-control", "")
        if kind.startswith(("application/javascript", "text/javascript", "text/css")):
            max_age = next((int(part.split("=")[1]) for part in cache.replace(" ", "").split(",")
                            if part.startswith("max-age=")), 0)
            if "immutable" not in cache or max_age < IMMUTABLE_MAX_AGE:
                short.append(f"{parts.path} ({cache or 'no Cache-Control'})")
        if (kind.startswith(TEXT_TYPES) and len(answer.body) > 1024
                and answer.headers.get("content-encoding") not in ("br", "gzip", "zstd")):
            plain.append(f"{parts.path} ({len(answer.body)} B)")
    return short, plain, urls


# ---------------------------------------------------------------- the rows


def run(mode: Mode, runs: int = DEFAULT_RUNS) -> list[Row]:
    keys = row_keys()
    if mode.quick:
        return [Row(key, "not run", "", "", SKIP, "Lighthouse takes about a minute a page: `make bench` "
                    "(full mode) runs it") for key in keys]
    problem = available()
    if problem and on_ci():
        raise RuntimeError(f"CI is set but {problem}")
    if problem:
        return [Row(key, "not run", "", "", SKIP, problem) for key in keys]
    app = Gunicorn(APP_TARGET, DOCKERFILE_CONFIG, ready_path="/health", name="losslab")
    plain = Gunicorn(BASELINE_TARGET, DOCKERFILE_CONFIG, ready_path="/", name="plain-dash")
    floors = [Gunicorn(target, DOCKERFILE_CONFIG, ready_path="/", name=name) for name, target, _ in FLOOR_PAGES]
    results: dict[str, list[dict]] = {}
    with serve(app, plain, *floors) as (app_port, plain_port, *floor_ports):
        pages = [(BASELINE, f"http://127.0.0.1:{plain_port}/")]
        pages += [(name, f"http://127.0.0.1:{port}/") for (name, _, _), port in zip(FLOOR_PAGES, floor_ports, strict=True)]
        pages += [(view.name, f"http://127.0.0.1:{app_port}{view.path}") for view in views()]
        for index in range(runs):
            for name, url in pages:
                print(f"[bench] lighthouse {index + 1}/{runs} {name}", file=sys.stderr, flush=True)
                results.setdefault(name, []).append(lighthouse(url))
        floor_names = {name for name, _, _ in FLOOR_PAGES}
        visit_results = {name: visits(*_split(url)) for name, url in pages if name not in floor_names}
        first_urls = sorted({entry["url"] for name, (first, _) in visit_results.items() if name != BASELINE
                             for entry in first})
        checks = header_check(app_port, first_urls)
        baseline_urls = sorted({entry["url"] for entry in visit_results[BASELINE][0]})
        baseline_checks = header_check(plain_port, baseline_urls)
    return rows_from(results, visit_results, checks, baseline_checks, runs)


def _split(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def rows_from(results: dict[str, list[dict]], visit_results: dict, checks, baseline_checks, runs: int) -> list[Row]:
    base_runs = [r for r in results[BASELINE] if "error" not in r]
    base = {key: median_of(base_runs, key) for key in ("score", "lcp", "tbt", "weight", "fcp", "si", "a11y")}
    bench_index = median_of([r for runs_ in results.values() for r in runs_ if "error" not in r], "benchmark_index")
    machine = f"Lighthouse benchmarkIndex {bench_index:.0f} (median of all runs)" if bench_index else ""
    rows = [Row(
        "mobile.plain-dash",
        f"score {_num(base['score'])}, LCP {_s(base['lcp'])}, TBT {_s(base['tbt'])}, {_mb(base['weight'])}",
        f"FCP {_s(base['fcp'])}, speed index {_s(base['si'])}, accessibility {_num(base['a11y'])}; "
        f"median of {len(base_runs)} run(s)",
        "baseline", INFO, "; ".join(filter(None, [machine, _errors(results[BASELINE])])),
        {"runs": results[BASELINE]})]
    rows += [floor_row(name, description, results.get(name, [])) for name, _, description in FLOOR_PAGES]
    for view in views():
        good = [r for r in results.get(view.name, []) if "error" not in r]
        errors = _errors(results.get(view.name, []))
        if not good:
            for prefix in PREFIXES[:-2]:
                rows.append(Row(prefix + view.name, "not measured", "", "", ERROR, errors or "no Lighthouse run"))
        else:
            rows += view_rows(view.name, good, base, runs, "; ".join(filter(None, [machine, errors])))
        rows.append(repeat_row(view.name, visit_results[view.name][1], visit_results[BASELINE][1]))
    rows += header_rows(checks, baseline_checks)
    order = {key: i for i, key in enumerate(row_keys())}
    return sorted(rows, key=lambda row: order.get(row.key, len(order)))


def floor_row(name: str, description: str, runs: list[dict]) -> Row:
    """An INFO row for one of bench/dash_floor_app.py's pages: what any Dash page costs here."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return Row(f"mobile.{name}", "not measured", "", "", ERROR, _errors(runs) or "no Lighthouse run")
    score, lcp, tbt, weight = (median_of(good, key) for key in ("score", "lcp", "tbt", "weight"))
    each = ", ".join(_s(r.get("tbt")) for r in good)
    return Row(f"mobile.{name}", f"score {_num(score)}, LCP {_s(lcp)}, TBT {_s(tbt)}, {_mb(weight)}",
               f"{description}; TBT of each run {each}; median of {len(good)} run(s)", "floor of any Dash page",
               INFO, _errors(runs), {"runs": runs})


def view_rows(name: str, good: list[dict], base: dict, runs: int, notes: str) -> list[Row]:
    score, lcp, tbt = (median_of(good, key) for key in ("score", "lcp", "tbt"))
    fcp, weight, a11y = (median_of(good, key) for key in ("fcp", "weight", "a11y"))
    counted = f"median of {sum(run.get('score') is not None for run in good)} of {runs} run(s)"
    scripts = "; ".join(f"{urlsplit(url).path.rsplit('/', 1)[-1][:40] or url[:40]} {ms(total / 1000)}"
                        for url, total in good[len(good) // 2]["bootup"])
    failures = sorted({audit for run in good for audit in run["a11y_failures"]})
    savings = median_of(good, "compression_savings") or 0
    return [
        Row(f"mobile-score.{name}", f"{_num(score)} ({BASELINE} {_num(base['score'])})",
            f"FCP {_s(fcp)} ({BASELINE} {_s(base['fcp'])}); {counted}", f">= {SCORE_TARGET}",
            verdict(score is not None and score >= SCORE_TARGET), notes),
        Row(f"mobile-lcp.{name}", f"{_s(lcp)} ({_ratio(lcp, base['lcp'])} {BASELINE})",
            f"{BASELINE} {_s(base['lcp'])}; {counted}", f"<= {LCP_TARGET} s",
            verdict(lcp is not None and lcp <= LCP_TARGET), ""),
        Row(f"mobile-tbt.{name}", f"{_s(tbt)} ({_ratio(tbt, base['tbt'])} {BASELINE})",
            f"{BASELINE} {_s(base['tbt'])}; {counted}", f"<= {TBT_TARGET * 1000:.0f} ms",
            verdict(tbt is not None and tbt <= TBT_TARGET), f"main thread by script (simulated): {scripts}"),
        Row(f"weight.{name}", f"{_mb(weight)} ({_ratio(weight, base['weight'])} {BASELINE})",
            f"{BASELINE} {_mb(base['weight'])}; {counted}", f"<= {WEIGHT_TARGET / 1e6:.1f} MB",
            verdict(weight is not None and weight <= WEIGHT_TARGET),
            f"Lighthouse's text-compression savings left: {savings / 1000:.0f} KB"),
        Row(f"a11y.{name}", f"{_num(a11y)} ({BASELINE} {_num(base['a11y'])})", counted, "100",
            verdict(a11y == 100), "failing audits: " + (", ".join(failures) if failures else "none")),
    ]


def repeat_row(name: str, repeat: list[dict], baseline_repeat: list[dict]) -> Row:
    ours, theirs = repeat_summary(repeat), repeat_summary(baseline_repeat)
    kinds = ours["kinds"]
    bundles = kinds.get("bundle", [])
    described = ", ".join(f"{kind.lstrip('/')} {len(kinds[kind])} "
                          f"({'/'.join(sorted({str(e['status'] or '?') for e in kinds[kind]}))})"
                          for kind in (*PAGE_REQUESTS, "bundle") if kind in kinds)
    return Row(
        f"repeat.{name}",
        f"{len(ours['fetched'])} requests, {ours['bytes'] / 1000:.1f} KB ({BASELINE}: "
        f"{len(theirs['fetched'])} requests, {theirs['bytes'] / 1000:.1f} KB)",
        f"{described}; {ours['cached']} from the cache",
        "only the page (document, layout, callback graph) and callbacks",
        verdict(not bundles),
        ("fetched again: " + ", ".join(urlsplit(e["url"]).path[-60:] for e in bundles)) if bundles
        else "every bundle from the browser's cache; the layout and callback graph revalidate (304)",
        {"repeat": repeat},
    )


def header_rows(checks, baseline_checks) -> list[Row]:
    short, plain, urls = checks
    base_short, base_plain, base_urls = baseline_checks
    bundles = [u for u in urls if urlsplit(u).path.endswith((".js", ".css"))]
    base_bundles = [u for u in base_urls if urlsplit(u).path.endswith((".js", ".css"))]
    return [
        Row("visit.cache-lifetimes",
            f"{len(bundles) - len(short)} of {len(bundles)} bundles immutable, 1 year "
            f"({BASELINE}: {len(base_bundles) - len(base_short)} of {len(base_bundles)})",
            "Cache-Control of every script and stylesheet of a first visit to each view",
            "every fingerprinted bundle: public, max-age=31536000, immutable",
            verdict(not short), ("short: " + "; ".join(short[:6])) if short else ""),
        Row("visit.compression",
            f"{len(plain)} uncompressed text responses over 1 KB ({BASELINE}: {len(base_plain)})",
            f"{len(urls)} responses of first visits checked with Accept-Encoding: br, gzip",
            "0", verdict(not plain), ("uncompressed: " + "; ".join(plain[:6])) if plain else ""),
    ]


def _errors(runs: list[dict]) -> str:
    problems = [r.get("error") or r.get("warning") for r in runs if r.get("error") or r.get("warning")]
    return f"{len(problems)} run(s) with a Lighthouse error: {problems[0]}" if problems else ""


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else ms(seconds)


def _mb(size: float | None) -> str:
    return "n/a" if size is None else f"{size / 1e6:.2f} MB"


def _ratio(value: float | None, baseline: float | None) -> str:
    if value is None or not baseline:
        return "n/a"
    return f"{ratio(value, baseline):.2f}x"

