"""Getting results out: the plotted curves as CSV, exactly as the core computed them.

Pure functions of a view and its state (no Dash): the callbacks only wrap them
(``dcc.send_string``), and the tests compare them with each view's code snippet.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from losslab.dashboard import figures

# The end of every "Show code" program (``View.code``): print x and the columns as ``curves_csv`` writes them.
# The CSV goes chart by chart (``curve_columns``), a snippet often loss by loss (each loss's value, then its
# gradient): the columns are regrouped by their chart, the part of "<chart>: <curve>" before the last ": ",
# in first-appearance order, so the printed table is the downloaded one column for column.
PRINT_COLUMNS = "\n".join([
    "",
    "# the numbers, as \"Download CSV\" writes them (every float in full: repr reads back exactly),",
    "# chart by chart (a column is named \"<chart>: <curve>\")",
    "charts = list(dict.fromkeys(name.rpartition(': ')[0] for name in columns))",
    "columns = {name: values for chart in charts for name, values in columns.items()",
    "           if name.rpartition(': ')[0] == chart}",
    "import csv, sys",
    "table = csv.writer(sys.stdout, lineterminator='\\n')",
    "table.writerow(['x', *columns])",
    "table.writerows([repr(float(v)) for v in row] for row in zip(x, *columns.values()))",
]) + "\n"

# The end of the code of a view whose charts do not all share one x (/multiclass's bars per class beside its
# sweep, /robust's loss curve on a residual grid beside its points): the snippet also defines ``curve_x``,
# the x of each column not on ``x``, and the table is printed as ``curves_csv`` writes it, in its long form
# (one row per point: curve, x, y) unless every column has the same x. Same regrouping as PRINT_COLUMNS.
PRINT_CURVES = "\n".join([
    "",
    "# the numbers, as \"Download CSV\" writes them (every float in full: repr reads back exactly),",
    "# chart by chart (a column is named \"<chart>: <curve>\"); charts on different x: one row per point",
    "charts = list(dict.fromkeys(name.rpartition(': ')[0] for name in columns))",
    "columns = {name: values for chart in charts for name, values in columns.items()",
    "           if name.rpartition(': ')[0] == chart}",
    "xs = [np.asarray(curve_x.get(name, x), dtype=np.float64) for name in columns]",
    "import csv, sys",
    "table = csv.writer(sys.stdout, lineterminator='\\n')",
    "if all(np.array_equal(values, xs[0]) for values in xs):",
    "    table.writerow(['x', *columns])",
    "    table.writerows([repr(float(v)) for v in row] for row in zip(xs[0], *columns.values()))",
    "else:",
    "    table.writerow(['curve', 'x', 'y'])",
    "    for (name, values), at in zip(columns.items(), xs):",
    "        table.writerows([name, repr(float(a)), repr(float(b))] for a, b in zip(at, values))",
]) + "\n"


def curve_columns(figure_by_graph: dict[str, dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"<chart title>: <trace name>": (x, y)}`` for every curve (marker traces left out)."""
    columns = {}
    for figure in figure_by_graph.values():
        title = figure["layout"].get("title", {}).get("text", "chart")
        for trace in figure["data"]:
            if trace.get("meta") in (None, "marker") or trace.get("mode") == "markers":
                continue
            y = figures.decoded(trace["y"]) if isinstance(trace["y"], dict) else np.asarray(trace["y"], dtype=float)
            if "customdata" in trace and isinstance(trace["customdata"], dict):
                y = figures.decoded(trace["customdata"])  # a symmetric-log axis: the exact values
            y = figures.exact_trace_values(trace, y)  # ±inf where the chart draws a gap
            if "x" in trace:
                x = figures.decoded(trace["x"]) if isinstance(trace["x"], dict) else np.asarray(trace["x"], dtype=float)
            else:
                x = trace["x0"] + trace["dx"] * np.arange(y.size, dtype=np.float64)
            columns[f"{title}: {trace.get('name', trace['meta'])}"] = (x, np.asarray(y, dtype=np.float64))
    return columns


def x_titles(figure_by_graph: dict[str, dict]) -> dict[str, str]:
    """``{"<chart title>": "<its x axis title>"}``: what x means in each chart (for :func:`curves_csv`)."""
    return {figure["layout"].get("title", {}).get("text", "chart"):
            figure["layout"].get("xaxis", {}).get("title", {}).get("text", "x")
            for figure in figure_by_graph.values()}


def curves_csv(title: str, query: str, x_title: str, columns: dict[str, tuple[np.ndarray, np.ndarray]],
               chart_x_titles: dict[str, str] | None = None) -> str:
    """One CSV: ``#`` header lines (view, settings, x), then x and one column per curve when the curves
    share their x values, else one row per (curve, x, y), the "long" form, with a header line more for
    each chart whose x is not ``x_title`` (``chart_x_titles``: chart title -> x title, see :func:`x_titles`).
    Numbers are written as the shortest text that reads back as the same float64 (``repr``), so nothing
    is rounded away."""
    out = io.StringIO()
    out.write(f"# losslab: {title}\n# settings: {query.lstrip('?')}\n# x: {x_title}\n")
    writer = csv.writer(out, lineterminator="\n")
    xs = [x for x, _ in columns.values()]
    if xs and all(x.shape == xs[0].shape and np.array_equal(x, xs[0]) for x in xs):
        writer.writerow(["x", *columns])
        for i, x in enumerate(xs[0]):
            writer.writerow([repr(float(x)), *(repr(float(y[i])) for _, y in columns.values())])
    else:
        charts = dict.fromkeys(name.rpartition(": ")[0] for name in columns)
        for chart in charts:
            chart_x = (chart_x_titles or {}).get(chart, x_title)
            if chart_x != x_title:
                out.write(f'# x of "{chart}": {chart_x}\n')
        writer.writerow(["curve", "x", "y"])
        for name, (x, y) in columns.items():
            writer.writerows([name, repr(float(a)), repr(float(b))] for a, b in zip(x, y, strict=True))
    return out.getvalue()


def read_csv(text: str) -> dict[str, np.ndarray]:
    """The columns of a :func:`curves_csv` file: ``"x"`` and each curve's values under its name.

    In the long form (curves on different x: one row per curve, x, y) each curve's y is under its name
    and ``"x"`` is the first curve's x, the header's ``# x:`` (the view's main x, which the curves
    before any ``# x of`` chart share); :func:`read_curves` gives every curve its own x.
    """
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    header, body = rows[0], rows[1:]
    if header == ["curve", "x", "y"]:
        curves = read_curves(text)
        return {"x": next(iter(curves.values()))[0], **{name: y for name, (_, y) in curves.items()}}
    table = np.array(body, dtype=np.float64)
    return {name: table[:, i] for i, name in enumerate(header)}


def read_curves(text: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{curve: (x, y)}`` from a :func:`curves_csv` file in either of its formats."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    header, body = rows[0], rows[1:]
    if header == ["curve", "x", "y"]:
        curves: dict[str, tuple[list[float], list[float]]] = {}
        for name, x, y in body:
            xs, ys = curves.setdefault(name, ([], []))
            xs.append(float(x))
            ys.append(float(y))
        return {name: (np.array(xs), np.array(ys)) for name, (xs, ys) in curves.items()}
    table = np.array(body, dtype=np.float64)
    return {name: (table[:, 0], table[:, i]) for i, name in enumerate(header) if i}
