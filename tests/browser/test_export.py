"""Getting results out in the browser (issue 14): a real CSV and SVG download, the link, the code."""

from __future__ import annotations

import pathlib
import time

import numpy as np

from losslab.dashboard import export, views


def allow_downloads(lab, folder: pathlib.Path):
    lab.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def wait_for_file(folder: pathlib.Path, pattern: str, timeout: float = 15.0) -> pathlib.Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload") and p.stat().st_size > 0]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {pattern} in {folder}: {[p.name for p in folder.iterdir()]}")


def test_csv_download_holds_the_plotted_curves_of_the_current_state(lab, tmp_path):
    lab.open("/regression")
    allow_downloads(lab, tmp_path)
    lab.type_into("regression-delta-input", "0.5")
    lab.wait_until(lambda: "delta=0.5" in lab.js("return window.location.search;"), "δ = 0.5 applied")
    lab.duo.find_element("#regression-csv-button").click()
    csv_file = wait_for_file(tmp_path, "losslab-regression*.csv")
    table = export.read_csv(csv_file.read_text())
    huber = lab.trace("regression-loss-graph", "huber")
    np.testing.assert_array_equal(table["Loss: Huber"], np.asarray(huber["y"], dtype=float))
    r = table["x"]
    np.testing.assert_allclose(table["Loss: Huber"], np.where(abs(r) <= 0.5, r * r / 2, 0.5 * (abs(r) - 0.25)),
                               rtol=1e-15, atol=1e-15)
    assert "delta=0.5" in csv_file.read_text().splitlines()[1]
    assert lab.duo.get_logs() == []


def test_svg_download_copy_link_and_code_follow_the_view(lab, tmp_path):
    lab.open("/binary")
    allow_downloads(lab, tmp_path)
    lab.duo.find_element(".image-button[data-format='svg']").click()
    svg = wait_for_file(tmp_path, "*.svg")
    assert svg.read_text().lstrip().startswith("<svg")
    lab.duo.find_element(".copy-link").click()
    lab.wait_until(lambda: "/binary" in lab.js("return document.querySelector('.export-status').textContent;"),
                   "the link in the status line")
    lab.type_into("binary-label-input", "1")
    lab.wait_until(lambda: "y = 1.0" in lab.js("return document.getElementById('binary-code').textContent;"),
                   "the code to follow the label")
    code = lab.js("return document.getElementById('binary-code').textContent;")
    namespace: dict = {}
    exec(compile(code, "<snippet from the page>", "exec"), namespace)
    state = views.get("binary").parse_query(lab.js("return window.location.search;"))
    table = export.read_csv(views.get("binary").export_csv(state))
    for column, values in namespace["columns"].items():
        np.testing.assert_array_equal(values, table[column])
    assert lab.duo.get_logs() == []
