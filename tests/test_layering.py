"""The core is numerics only: ``import losslab`` pulls in neither Dash nor Plotly, nor the dashboard."""

from __future__ import annotations

import subprocess
import sys

WEB_MODULES = ("dash", "plotly", "flask", "losslab.dashboard")


def test_importing_the_core_loads_no_web_module():
    probe = (
        "import sys, losslab, losslab.registry;"
        f"print(','.join(m for m in {WEB_MODULES!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"import losslab also loaded: {loaded}"
