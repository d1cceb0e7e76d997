"""The PNG and SVG buttons: one click, one file holding every chart of the view where it sits on screen.

They saved one file per chart (six on /training, four on /sequences): outside automation Chromium asks
the user to allow multiple downloads, and the status line said "saved" whether or not they were. The
PNG here is decoded in the test (zlib and the five PNG row filters) to check where each chart landed.
"""

from __future__ import annotations

import pathlib
import struct
import time
import zlib
from xml.etree import ElementTree

import numpy as np

from .test_export import allow_downloads, wait_for_file
from .test_training import ALL_GRAPHS

# Every chart of the view as laid out on screen: its graph id and its box (CSS pixels).
CHART_BOXES_JS = """
const view = document.querySelector('.view');
return Array.from(view.querySelectorAll('.js-plotly-plot'), (plot) => {
  const r = plot.getBoundingClientRect(), host = plot.closest('[id]');
  return {id: host ? host.id : null, left: r.left, top: r.top, width: r.width, height: r.height};
}).filter((box) => box.width > 0 && box.height > 0);
"""
STATUS_JS = "return document.querySelector('.view .export-status').textContent;"


def read_png(path: pathlib.Path) -> np.ndarray:
    """The pixels of an 8-bit RGB or RGBA, non-interlaced PNG as a (height, width, channels) array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 4 if colour == 6 else 3
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, 1 + width * channels)
    pixels = np.zeros((height, width * channels), dtype=np.int32)
    previous = np.zeros(width * channels, dtype=np.int32)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int32)
        if kind == 0:
            out = line
        elif kind == 2:
            out = (line + previous) & 255
        else:  # Sub, Average and Paeth depend on the left neighbour: byte by byte
            out = np.zeros_like(line)
            for i in range(len(line)):
                left = out[i - channels] if i >= channels else 0
                up, corner = previous[i], previous[i - channels] if i >= channels else 0
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + up) // 2
                else:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    predicted = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                out[i] = (line[i] + predicted) & 255
        pixels[row] = out
        previous = out
    return pixels.reshape(height, width, channels).astype(np.uint8)


def new_files(folder: pathlib.Path, settle: float = 2.5) -> list[str]:
    """Every finished file in ``folder`` once nothing new has arrived for ``settle`` seconds."""
    names, quiet_since = None, time.monotonic()
    while time.monotonic() - quiet_since < settle:
        now = sorted(p.name for p in folder.iterdir())
        if now != names:
            names, quiet_since = now, time.monotonic()
        time.sleep(0.1)
    return [name for name in names if not name.endswith(".crdownload")]


MAX_GAP = 16  # CSS px: the most empty space left between two rows of charts in the image


def placed(boxes: list[dict]) -> tuple[list[tuple[float, float]], float, float]:
    """Where each chart belongs in the image (CSS px), and the image's width and height in CSS px.

    As on screen, but a horizontal band that no chart reaches into (a readout or a heading between two
    rows of charts) is cut to MAX_GAP; side by side and overlaid charts keep their places.
    """
    left = min(b["left"] for b in boxes)
    width = max(b["left"] + b["width"] for b in boxes) - left
    removed, bottom, cut = 0.0, None, {}
    for k in sorted(range(len(boxes)), key=lambda k: boxes[k]["top"]):
        top = boxes[k]["top"]
        if bottom is None:
            removed = top
        elif top >= bottom:
            removed += top - bottom - min(MAX_GAP, top - bottom)
        bottom = max(bottom or top, top + boxes[k]["height"])
        cut[k] = removed
    places = [(b["left"] - left, b["top"] - cut[k]) for k, b in enumerate(boxes)]
    return places, width, bottom - removed


def assert_every_chart_drawn_in_place(pixels: np.ndarray, boxes: list[dict], background: tuple[int, int, int]):
    """The image has the arrangement's proportions, and each chart's box, scaled onto it, holds ink
    (pixels unlike the background)."""
    places, width, height = placed(boxes)
    scale = pixels.shape[1] / width
    assert abs(pixels.shape[0] / scale - height) <= 2, (
        f"image {pixels.shape[1]}x{pixels.shape[0]} px is not the charts' {width:.0f}x{height:.0f} arrangement")
    ink = np.any(np.abs(pixels[..., :3].astype(int) - background) > 40, axis=-1)
    for (x, y), box in zip(places, boxes, strict=True):
        x0, y0 = int(x * scale), int(y * scale)
        x1, y1 = int(x0 + box["width"] * scale), int(y0 + box["height"] * scale)
        share = ink[y0:y1, x0:x1].mean()
        assert share > 0.003, f"chart #{box['id']} missing from its place in the image ({share:.4f} ink)"


def test_png_button_saves_one_image_of_every_chart_in_their_arrangement(lab, tmp_path):
    lab.open("/training?lr=2", wait_for=ALL_GRAPHS)
    allow_downloads(lab, tmp_path)
    boxes = lab.js(CHART_BOXES_JS)
    assert len(boxes) == 6, boxes  # loss, gradient, two surfaces and their two descent-path overlays
    lab.duo.find_element(".image-button[data-format='png']").click()
    wait_for_file(tmp_path, "*.png")
    files = new_files(tmp_path)
    assert files == ["losslab-training-lr-2.png"], f"one click saved {files}"
    pixels = read_png(tmp_path / files[0])
    _, width, height = placed(boxes)
    assert pixels.shape[1] >= 1600, f"{pixels.shape[1]} px wide: too small for a slide"
    assert pixels.shape[1] >= 2 * width - 1 and pixels.shape[0] >= 2 * height - 1
    assert pixels.shape[2] == 3 or np.all(pixels[..., 3] == 255), "transparent pixels: a slide shows through"
    assert_every_chart_drawn_in_place(pixels, boxes, (255, 255, 255))
    status = lab.wait_until(lambda: lab.js(STATUS_JS), "the status line")
    assert "saved" not in status.lower(), status  # the page cannot know whether the browser saved it
    expected = f"{pixels.shape[1]}×{pixels.shape[0]}"
    assert "losslab-training-lr-2.png" in status and "6 charts" in status and expected in status, status
    # each chart's own camera still saves that chart alone
    titles = lab.js("return Array.from(document.querySelectorAll('#training-loss-graph .modebar-btn'),"
                    " (b) => b.getAttribute('data-title'));")
    assert any(t and "png" in t.lower() for t in titles), titles
    assert lab.duo.get_logs() == []


def test_svg_button_saves_one_svg_of_the_four_sequence_charts(lab, tmp_path):
    lab.open("/sequences", wait_for=("sequences-loss-graph", "sequences-grad-graph", "sequences-ctc-loss-graph",
                                     "sequences-ctc-grad-graph"))
    allow_downloads(lab, tmp_path)
    boxes = lab.js(CHART_BOXES_JS)
    lab.duo.find_element(".image-button[data-format='svg']").click()
    wait_for_file(tmp_path, "*.svg")
    files = new_files(tmp_path)
    assert files == ["losslab-sequences.svg"], f"one click saved {files}"
    text = (tmp_path / files[0]).read_text()
    assert text.lstrip().startswith("<svg")
    charts = ElementTree.fromstring(text).findall("{http://www.w3.org/2000/svg}svg")  # one per chart, in place
    drawn = sorted((round(float(c.get("x"))), round(float(c.get("y")))) for c in charts)
    assert len(boxes) == 4
    assert drawn == sorted((round(x), round(y)) for x, y in placed(boxes)[0]), drawn
    assert lab.duo.get_logs() == []


def test_dark_theme_image_has_the_charts_dark_background_and_light_text(lab, tmp_path):
    lab.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    lab.open("/regression")
    allow_downloads(lab, tmp_path)
    boxes = lab.js(CHART_BOXES_JS)
    lab.duo.find_element(".image-button[data-format='png']").click()
    png = wait_for_file(tmp_path, "*.png")
    pixels = read_png(png)
    panel = (0x1C, 0x1F, 0x24)  # assets/losslab.css: --panel in the dark theme
    assert tuple(pixels[2, 2, :3]) == panel, tuple(pixels[2, 2])
    assert_every_chart_drawn_in_place(pixels, boxes, panel)
    # the title's text is drawn light, as on screen (Plotly's own #444 would vanish on the dark panel)
    title = pixels[: pixels.shape[0] // 8, : pixels.shape[1] // 4, :3].astype(int).sum(axis=-1)
    assert title.max() > 3 * 200, "no light text in the title's corner"
    assert lab.duo.get_logs() == []
