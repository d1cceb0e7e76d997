"""Screenshots of each view for the README, taken with headless Chromium.

Usage: python scripts/take_screenshots.py [BASE_URL]
Starts its own server on a free loopback port unless BASE_URL is given.
Writes docs/screenshot-<view>.png at 1280x800, docs/screenshot-projector.png (the binary view
in presenting mode at 1280x720) and docs/screenshot-phone.png at 390x844.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHOTS = {
    "regression": "/regression",
    "binary": "/binary?label=0&probability=0.99&axis=logit&losses=bce,sigmoid_mse",
    "multiclass": "/multiclass?logits=1000,999,998&losses=cross_entropy,brier",
    "training": "/training",
    "robust": "/robust?k=8&losses=mse,mae,huber,tukey,barron&alpha=-2&curve=tukey",
    "precision": "/precision",
    "detection": "/detection",
    "generative": "/generative",
    "segmentation": "/segmentation",
    "metric": "/metric",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def browser(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # Headless windows have a minimum width; emulating the device gives a true 390 px phone.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    return driver


def shoot(driver: webdriver.Chrome, url: str, path: Path) -> None:
    driver.get(url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready = driver.execute_script(
            "return document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2 && "
            "(!!document.querySelector('.formulas mjx-container, .formulas .MathJax') || "
            "document.documentElement.classList.contains('presenting'))"
        )
        if ready:
            break
        time.sleep(0.2)
    time.sleep(0.8)
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    server = None
    base = sys.argv[1] if len(sys.argv) > 1 else None
    if base is None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env={"PORT": str(port), "PATH": ""})
    try:
        wait_for(base + "/health")
        DOCS.mkdir(exist_ok=True)
        driver = browser(1280, 800)
        try:
            for view, path in SHOTS.items():
                shoot(driver, base + path, DOCS / f"screenshot-{view}.png")
        finally:
            driver.quit()
        projector = browser(1280, 720)
        try:
            shoot(projector, base + SHOTS["binary"] + "&present=1", DOCS / "screenshot-projector.png")
        finally:
            projector.quit()
        phone = browser(390, 844)
        try:
            shoot(phone, base + SHOTS["binary"], DOCS / "screenshot-phone.png")
        finally:
            phone.quit()
    finally:
        if server:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
