"""mpmath's working precision is global: a test module that set it at import time (the last one imported
wins) or a test that lowered it (``mp.dps = 50``) changed it for every test that ran after. Each test
now starts at 300 bits, whatever ran before it, and its own changes end with it."""

from __future__ import annotations

import mpmath
import pytest

PRECISION_BITS = 300


@pytest.fixture(autouse=True)
def _mpmath_precision():
    before = mpmath.mp.prec
    mpmath.mp.prec = PRECISION_BITS
    yield
    mpmath.mp.prec = before
