"""Where the time (or the bytes) goes for each missed target, appended to RESULTS.md.

- callback latency / throughput: pyinstrument over the real request path in
  process (Flask test client, the same bodies as the server rows), for
  losslab and for the trivial app; self time grouped by package, plus the
  heaviest functions by inclusive time;
- bytes: each output's share of the response;
- core: pyinstrument over losslab's loss + gradient pair, self time per function;
- cold start: ``python -X importtime`` of ``app``, the heaviest imports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict

from bench.common import FAIL, ROOT, Row

CATEGORIES = (
    # figures and curves moved from losslab/ into losslab/dashboard/ (issue 9); either place counts
    ("losslab/dashboard/figures.py", "losslab figures"),
    ("losslab/dashboard/curves.py", "losslab curves (sweeps)"),
    ("losslab/figures.py", "losslab figures"),
    ("losslab/curves.py", "losslab curves (sweeps)"),
    ("losslab/dashboard/", "losslab dashboard (callbacks, views, layout, url_state)"),
    ("losslab/", "losslab core maths"),
    ("numpy/", "numpy (Python side)"),
    ("dash/", "dash (dispatch, validation, serialisation)"),
    ("plotly/", "plotly (JSON encoder)"),
    ("flask/", "flask / werkzeug"),
    ("werkzeug/", "flask / werkzeug"),
    ("orjson", "JSON"),
    ("json/", "JSON"),
    ("base64", "base64"),
    ("bench/", "the trivial app's callback"),
)


def _category(path: str) -> str | None:
    for needle, name in CATEGORIES:
        if needle in path:
            return name
    return None


def _walk(frame, inherited: str, self_times: dict, inclusive: dict, stack: tuple) -> None:
    path = frame.file_path or ""
    category = _category(path) or inherited
    key = (frame.function, frame.file_path_short or path)
    if key not in stack and not frame.is_synthetic:
        inclusive[key] += frame.time
    if frame.function == "[self]" or not frame.children:
        self_times[category] += frame.total_self_time if frame.children else frame.time
    for child in frame.children:
        _walk(child, category, self_times, inclusive, (*stack, key))


def profile(fn, iterations: int, interval: float = 0.0002):
    from pyinstrument import Profiler

    profiler = Profiler(interval=interval)
    profiler.start()
    for i in range(iterations):
        fn(i)
    profiler.stop()
    root = profiler.last_session.root_frame()
    self_times: dict = defaultdict(float)
    inclusive: dict = defaultdict(float)
    _walk(root, "other (stdlib, C code)", self_times, inclusive, ())
    return root.time, self_times, inclusive


def _category_table(columns: dict[str, tuple[float, dict]], iterations: int) -> str:
    names = sorted({c for _, st in columns.values() for c in st},
                   key=lambda c: -max(st.get(c, 0) for _, st in columns.values()))
    header = "| where (self time) | " + " | ".join(f"{k} ms/request" for k in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]
    for name in names:
        cells = [f"{st.get(name, 0) / iterations * 1e3:.2f}" for _, st in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"**{total / iterations * 1e3:.2f}**"
                                               for total, _ in columns.values()) + " |")
    return "\n".join(lines)


def _top_inclusive(inclusive: dict, total: float, iterations: int, prefix: str, limit: int = 10) -> str:
    rows = [(t, f, p) for (f, p), t in inclusive.items() if p.startswith(prefix) and t < total * 0.999]
    rows.sort(reverse=True)
    return "\n".join(f"- `{p}:{f}` {t / iterations * 1e3:.2f} ms/request ({t / total:.0%})"
                     for t, f, p in rows[:limit])


def latency_section(prepared) -> str:
    from bench import trivial_app
    from bench.payloads import UPDATE_PATH, trivial_body
    from losslab.dashboard import create_app

    app = create_app()
    client = app.server.test_client()
    trivial_client = trivial_app.app.server.test_client()
    iterations = 200
    columns, inclusives = {}, {}
    bodies = [trivial_body(trivial_app.app.callback_map, v) for v in "12"]

    def trivial(i):
        trivial_client.post(UPDATE_PATH, data=bodies[i % 2], content_type="application/json")

    for _ in range(20):
        trivial(0)
    total, self_times, _ = profile(trivial, iterations)
    columns["trivial"] = (total, self_times)
    for p in prepared:
        url = p.url.split("?")[0]

        def request(i, p=p, url=url):
            client.post(url, data=p.bodies[i % 2], content_type="application/json")

        for i in range(20):
            request(i)
        total, self_times, inclusive = profile(request, iterations)
        columns[p.scenario.key] = (total, self_times)
        inclusives[p.scenario.key] = (total, inclusive)
    text = [
        f"pyinstrument, {iterations} requests per column through Flask's test client in one process "
        "(no sockets, no gunicorn), the same bodies as the latency rows. Self time grouped by where "
        "the sampled frame lives (C code is charged to its Python caller's package).",
        "",
        _category_table(columns, iterations),
        "",
    ]
    fallback = {key: sum(t for (f, p), t in inclusive.items() if f == "clean_to_json_compatible"
                         and p.startswith("plotly/")) / iterations
                for key, (total, inclusive) in inclusives.items()}
    text += ["Time in plotly's `clean_to_json_compatible` (the Python walk `to_json_plotly` falls back "
             "to when `orjson.dumps` raises TypeError on a non-JSON object such as a Dash component): "
             + ", ".join(f"{k} {v * 1e3:.2f} ms/request" for k, v in fallback.items()), ""]
    for key, (total, inclusive) in inclusives.items():
        text += [f"Heaviest losslab functions for `{key}` (inclusive time):", "",
                 _top_inclusive(inclusive, total, iterations, "losslab/"), ""]
    return "\n".join(text)


def bytes_section(prepared) -> str:
    lines = ["Each output's share of one response (JSON bytes of its value):", "",
             "| change | output | bytes | share |", "|---|---|---|---|"]
    for p in prepared:
        payload = json.loads(p.responses[0])["response"]
        total = len(p.responses[0])
        sizes = sorted(((len(json.dumps(v, separators=(",", ":"))), f"{cid}.{prop}")
                        for cid, props in payload.items() for prop, v in props.items()), reverse=True)
        for size, name in sizes[:4]:
            lines.append(f"| {p.scenario.key} | `{name}` | {size} | {size / total:.0%} |")
    return "\n".join(lines)


def core_section(rows: list[Row]) -> str:
    import numpy as np

    from bench import core

    wanted = {r.key.split(".", 1)[1] for r in rows if r.key.startswith("core.") and r.status == FAIL}
    rng = np.random.default_rng(0)
    text = ["pyinstrument over 10 x (loss + gradient) on 1e6 elements; inclusive time of the "
            "heaviest losslab / numpy functions per pair (nested, so lines overlap):", ""]
    for case in core.cases():
        if case.key not in wanted:
            continue
        inputs = case.inputs(1_000_000, rng)
        fn = case.impls["losslab"]
        fn(*inputs)
        total, _, inclusive = profile(lambda _i, fn=fn, inputs=inputs: fn(*inputs), 10, interval=0.0005)
        rows_ = [(t, f, p) for (f, p), t in inclusive.items() if "losslab" in p or "numpy" in p]
        rows_.sort(reverse=True)
        shown = ", ".join(f"`{f}` {t / 10 * 1e3:.1f} ms" for t, f, p in rows_[:8])
        text.append(f"- **{case.key}** ({total / 10 * 1e3:.1f} ms per pair): {shown}")
    return "\n".join(text)


def import_section() -> str:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match.group(2)), len(match.group(3)), match.group(4)))
    total = max((r[0] for r in rows), default=0)
    top = sorted((r for r in rows if "." not in r[2] and r[2] != "app"), reverse=True)[:10]
    return "\n".join([f"`python -X importtime -c 'import app'`: {total / 1e6:.2f} s in all; heaviest "
                      "top-level imports (cumulative):", ""]
                     + [f"- `{name}` {us / 1e3:.0f} ms" for us, _, name in top])


def profile_misses(rows: list[Row], context: dict) -> list[tuple[str, str]]:
    failed = {r.key.split(".")[0] for r in rows if r.status == FAIL}
    prepared = context.get("prepared") or []
    sections = []
    if ({"latency", "throughput"} & failed) and prepared:
        sections.append(("Profile: callback latency and throughput", latency_section(prepared)))
    if "bytes" in failed and prepared:
        sections.append(("Profile: bytes per control change", bytes_section(prepared)))
    if "core" in failed:
        sections.append(("Profile: core loss + gradient", core_section(rows)))
    if "coldstart" in failed:
        sections.append(("Profile: cold start imports", import_section()))
    return sections
