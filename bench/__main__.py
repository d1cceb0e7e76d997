"""``python -m bench [--quick] [--output PATH] [--only GROUP,...] [--no-profile] [--lighthouse-runs N]``.

Prints the results table and writes it, with the machine's description, to
bench/RESULTS.md (or ``--output``). Exit status: 0 unless a benchmark could
not run at all (an ERROR row); missed targets are FAIL rows, not failures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path

from bench import ROW_KEYS, report
from bench.common import ERROR, FAIL, Mode, Row, code_version, machine_description

GROUPS = ("server", "throughput", "browser", "motion", "core", "coldstart", "lighthouse")
GROUP_PREFIXES = {
    "server": ("latency.", "bytes."),
    "throughput": ("throughput.",),
    "browser": ("repaint.", "hover."),
    "motion": ("motion.",),
    "core": ("core.",),
    "coldstart": ("coldstart.",),
    "lighthouse": ("mobile.", "mobile-score.", "mobile-lcp.", "mobile-tbt.", "weight.", "a11y.", "repeat.", "visit."),
}
DEFAULT_OUTPUT = Path(__file__).with_name("RESULTS.md")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few iterations (< 60 s; CI smoke)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the Markdown report")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated groups to run (default all): {', '.join(GROUPS)}")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not profile missed targets (profiling is off in --quick mode anyway)")
    parser.add_argument("--lighthouse-runs", type=int, default=3, metavar="N",
                        help="Lighthouse runs per page, of which the median is reported (default 3; "
                             "about a minute each; skipped in --quick mode)")
    args = parser.parse_args(argv)
    args.groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; expected some of {GROUPS}")
    return args


def run_group(name: str, mode: Mode, context: dict) -> list[Row]:
    if name == "server":
        from bench import server

        rows, prepared = server.run_latency_and_bytes(mode)
        context["prepared"] = prepared
        return rows
    if name == "throughput":
        from bench import server

        return server.run_throughput(mode)
    if name == "browser":
        from bench import browser

        prepared = {p.scenario.key: p for p in context.get("prepared", [])}
        return browser.run(mode, prepared)
    if name == "motion":
        from bench import motion

        return motion.rows(mode)
    if name == "core":
        from bench import core

        return core.run(mode)
    if name == "coldstart":
        from bench import coldstart

        return coldstart.run(mode)
    if name == "lighthouse":
        from bench import lighthouse

        return lighthouse.run(mode, runs=context.get("lighthouse_runs", lighthouse.DEFAULT_RUNS))
    raise ValueError(name)


def expected_keys(group: str) -> list[str]:
    """The rows a group must produce: bench.ROW_KEYS, and one set per registered view for Lighthouse."""
    keys = [key for key in ROW_KEYS if key.startswith(GROUP_PREFIXES[group])]
    if group == "lighthouse":
        from bench import lighthouse

        keys += lighthouse.row_keys()
    if group == "motion":
        from bench import motion

        keys += motion.row_keys()
    return keys


def main(argv=None) -> int:
    args = parse_args(argv)
    mode = Mode(quick=args.quick)
    started = time.monotonic()
    machine = machine_description()
    rows: list[Row] = []
    context: dict = {"lighthouse_runs": args.lighthouse_runs}
    errors = 0
    for group in GROUPS:
        if group not in args.groups:
            continue
        group_start = time.monotonic()
        print(f"[bench] {group} ...", file=sys.stderr, flush=True)
        try:
            rows += run_group(group, mode, context)
        except Exception as error:  # one group's failure must not hide the others' rows
            errors += 1
            traceback.print_exc()
            message = f"{type(error).__name__}: {error}".splitlines()[0][:200]
            rows += [Row(key, "not measured", "", "", ERROR, message) for key in expected_keys(group)]
        print(f"[bench] {group} done in {time.monotonic() - group_start:.1f} s", file=sys.stderr, flush=True)

    produced = {r.key for r in rows}
    for group in args.groups:
        for key in expected_keys(group):
            if key not in produced:
                errors += 1
                rows.append(Row(key, "not measured", "", "", ERROR, "the benchmark produced no such row"))
    order = {key: i for i, key in enumerate([*ROW_KEYS, *expected_keys("motion"), *expected_keys("lighthouse")])}
    rows.sort(key=lambda r: order.get(r.key, len(order)))

    extra = []
    if not mode.quick and not args.no_profile and any(r.status == FAIL for r in rows):
        print("[bench] profiling missed targets ...", file=sys.stderr, flush=True)
        try:
            from bench import profiles

            extra = profiles.profile_misses(rows, context)
        except Exception:  # profiling is a diagnosis aid, never a reason to lose the table
            traceback.print_exc()
    machine["code measured (at end)"] = code_version()
    with contextlib.suppress(OSError):
        machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    elapsed = time.monotonic() - started
    command = "python -m bench" + (" --quick" if mode.quick else "")
    print(report.console(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report.markdown(rows, machine, quick=mode.quick, elapsed=elapsed,
                                           command=command, extra_sections=extra))
    print(f"\nwrote {args.output} ({elapsed:.1f} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
