"""``bench/accuracy.py`` (a script beside the benchmarks, not a package) loaded once as a module,
for the accuracy tests that share its grids and mpmath references."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_NAME = "losslab_bench_accuracy"


def _load():
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, ROOT / "bench" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


accuracy = _load()


def assert_within(result, where: str, hard_bound: float, bound: float, check_subnormal: bool) -> None:
    """Fail naming the function and its worst input when a measured ``accuracy.Result`` is over its bounds:
    ``hard_bound`` ulp with hard targets, ``bound`` overall, and (``check_subnormal``) one subnormal step."""
    assert result.worst_hard <= hard_bound, (
        f"{where}: worst error with hard targets {result.worst_hard:.3g} ulp (allowed {hard_bound:g}); "
        f"worst overall {result.worst:.3g} at {result.where}"
    )
    assert result.worst <= bound, (
        f"{where}: worst error {result.worst:.3g} ulp (allowed {bound:g}) at {result.where}; "
        f"{result.failures} of {result.points} points over 4 ulp"
    )
    if check_subnormal:
        assert result.subnormal_misses == 0, (
            f"{where}: {result.subnormal_misses} results below the normal range are more than one "
            f"subnormal step from the correctly rounded value, e.g. {result.subnormal_where}"
        )
