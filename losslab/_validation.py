"""Input conversion and validation shared by every numeric function.

Errors are ``ValueError`` with a message that names the bad value and what
was expected, raised before any arithmetic so that no caller ever sees a
numpy traceback from deep inside a formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

REDUCTIONS = ("mean", "sum", "none")

#: Elements per piece in :func:`blockwise`: a kernel's handful of float64 pieces of this
#: length (256 KiB each) stay in the L2 cache, so its chain of in-place ufuncs reads and
#: writes main memory about once instead of once per step.
BLOCK = 32768


def result_dtype(*values) -> np.dtype:
    """The float dtype a computation on ``values`` runs in.

    Floating numpy arrays and scalars keep their precision (float32 in gives
    float32 out); ints, bools, lists and Python scalars are "weak" and follow
    the floating inputs, or float64 when there are none.
    """
    floating = [
        np.asarray(v).dtype
        for v in values
        if isinstance(v, np.ndarray | np.generic) and np.issubdtype(np.asarray(v).dtype, np.floating)
    ]
    if not floating:
        return np.dtype(np.float64)
    dtype = np.result_type(*floating)
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def as_float_array(value, name: str, dtype: np.dtype) -> np.ndarray:
    """``value`` as an array of ``dtype``; a clear error for non-numbers."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} must be numbers, got {_preview(value)} ({error})") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must be numbers, got {_preview(value)} of dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got complex values {_preview(value)}")
    return array.astype(dtype, order="C", copy=False)  # C order: the class-axis kernels write through flat views


def prepare(pred, target, pred_name: str = "pred", target_name: str = "target"):
    """Convert both arguments to one float dtype and check that they broadcast."""
    dtype = result_dtype(pred, target)
    pred_array = as_float_array(pred, pred_name, dtype)
    target_array = as_float_array(target, target_name, dtype)
    check_broadcast(pred_array, target_array, pred_name, target_name)
    return pred_array, target_array


def check_broadcast(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{a_name} with shape {a.shape} and {b_name} with shape {b.shape} do not "
            "broadcast together; expected equal shapes or numpy-broadcastable ones"
        ) from None


def check_in_closed_interval(array: np.ndarray, name: str, low: float, high: float) -> None:
    """Every element of ``array`` lies in ``[low, high]`` (NaN is rejected too)."""
    if array.size and array.min() >= low and array.max() <= high:  # two passes, no temporaries
        return
    outside = ~((array >= low) & (array <= high))
    if outside.any():
        bad = array[outside].ravel()[0].item()
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {bad!r}")


def check_in_set(array: np.ndarray, name: str, allowed: tuple[float, ...]) -> None:
    outside = ~np.isin(array, allowed)
    if outside.any():
        bad = array[outside].ravel()[0].item()
        allowed_text = ", ".join(f"{a:g}" for a in allowed)
        raise ValueError(f"{name} must be one of {{{allowed_text}}}, got {bad!r}")


@dataclass(frozen=True)
class Interval:
    """A range of valid values for a scalar hyperparameter.

    ``Interval(0, None, low_inclusive=False)`` is (0, inf); ``None`` means
    unbounded on that side.
    """

    low: float | None
    high: float | None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        if self.high is not None and (
            value > self.high or (value == self.high and not self.high_inclusive)
        ):
            return False
        return True

    def describe(self) -> str:
        left = "[" if self.low_inclusive and self.low is not None else "("
        right = "]" if self.high_inclusive and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{left}{low}, {high}{right}"

    def validate(self, value, name: str) -> float:
        """Return ``value`` as a float, or raise a ValueError naming it."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number in {self.describe()}, got {value!r}") from None
        if not self.contains(number):
            raise ValueError(f"{name} must be in {self.describe()}, got {value!r}")
        return number


def validate_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce(per_sample: np.ndarray, reduction: str):
    """Apply ``reduction`` to per-sample losses; 'none' returns them unchanged.

    A scalar result comes back as a numpy scalar of the input dtype.
    """
    validate_reduction(reduction)
    if reduction == "none":
        return per_sample[()] if per_sample.ndim == 0 else per_sample
    if reduction == "sum":
        with np.errstate(over="ignore"):  # finite losses whose sum passes the largest float: inf is the sum
            return per_sample.sum(dtype=per_sample.dtype)
    if per_sample.size == 0:
        raise ValueError("reduction='mean' of an empty input is undefined; expected at least one sample")
    with np.errstate(over="ignore"):
        mean = per_sample.mean(dtype=per_sample.dtype)
    if not np.isfinite(mean) and np.isfinite(per_sample).all():
        # The sum overflowed but the mean of finite losses is finite: average in units of the largest.
        scale = np.abs(per_sample).max()
        mean = (per_sample / scale).mean(dtype=per_sample.dtype) * scale
    return mean


def normalize_axis(axis: int, ndim: int, name: str = "logits") -> int:
    if ndim == 0:
        raise ValueError(f"{name} must have a class axis; got a scalar")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {name} with {ndim} dimension(s)")
    return axis % ndim


def _preview(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]):
    """Sum ``grad`` over the dimensions along which an argument of ``shape`` was broadcast.

    This is what makes a gradient "shaped like its argument" when the target
    broadcast it; a 0-d result comes back as a numpy scalar.
    """
    if grad.shape != tuple(shape):
        extra = grad.ndim - len(shape)
        if extra:
            grad = grad.sum(axis=tuple(range(extra)))
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if stretched:
            grad = grad.sum(axis=stretched, keepdims=True)
    return grad[()] if grad.ndim == 0 else grad


def all_finite(array: np.ndarray) -> bool:
    """True if no element is NaN or infinite (min and max: two passes, no temporary array)."""
    return not array.size or (math.isfinite(array.min()) and math.isfinite(array.max()))


def has_nan(array: np.ndarray) -> bool:
    return bool(array.size) and math.isnan(array.min())


def weighted(weight: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``weight * value``, but 0 wherever the weight is 0 even if ``value`` is infinite (0 log 0 = 0)."""
    with np.errstate(invalid="ignore"):
        return np.where(weight == 0, 0, weight * value)


def blockwise(kernel: Callable, first: np.ndarray, second: np.ndarray, outputs: int = 2, scratch: int = 0):
    """Run the elementwise ``kernel(first, second, *outs, *spare)`` piece by piece; return ``outs``.

    ``kernel`` must write its results into the ``outputs`` arrays it is given (``out=``),
    may use the ``scratch`` arrays freely, and must treat every element on its own:
    then the pieces' results are exactly one whole-array call's. Both inputs must be
    float arrays of one dtype; the outputs have their broadcast shape (0-d included).
    Large inputs that are C-contiguous with that shape, or of size 1, go through in
    pieces of :data:`BLOCK` elements; anything else (a broadcast, a strided view) in
    one call with array-sized scratch.
    """
    # the common cases without np.broadcast_shapes and np.result_type (microseconds on small inputs)
    if first.shape == second.shape or not second.ndim:
        shape = first.shape
    elif not first.ndim:
        shape = second.shape
    else:
        shape = np.broadcast_shapes(first.shape, second.shape)
    dtype = first.dtype if first.dtype == second.dtype else np.result_type(first, second)
    size = math.prod(shape)
    if size <= BLOCK or not (_splittable(first, shape) and _splittable(second, shape)):
        if outputs == 2 and not scratch:
            outs = (np.empty(shape, dtype), np.empty(shape, dtype))
            kernel(first, second, *outs)
            return outs
        outs = tuple([np.empty(shape, dtype) for _ in range(outputs)])
        kernel(first, second, *outs, *[np.empty(shape, dtype) for _ in range(scratch)])
        return outs
    outs = tuple([np.empty(shape, dtype) for _ in range(outputs)])
    flat_inputs = [a.reshape(-1) if a.size == size else a.reshape(()) for a in (first, second)]
    flat_outs = [out.reshape(-1) for out in outs]
    spare = [np.empty(BLOCK, dtype) for _ in range(scratch)]
    for start in range(0, size, BLOCK):
        stop = min(start + BLOCK, size)
        pieces = [a[start:stop] if a.ndim else a for a in flat_inputs]
        kernel(*pieces, *(out[start:stop] for out in flat_outs), *(s[: stop - start] for s in spare))
    return outs


def _splittable(array: np.ndarray, shape: tuple[int, ...]) -> bool:
    return array.size == 1 or (array.shape == shape and array.flags.c_contiguous)


_FLOAT32_TINY, _FLOAT32_MAX = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


def fits_float32(*parameters: float) -> bool:
    """Whether every parameter is 0 or a normal float32 value: a float32 computation needs them as float32
    (a beta of 1e39 would be inf there, a gamma of 1e-300 0), else the float32 inputs are computed in
    float64 and rounded once."""
    return all(value == 0 or _FLOAT32_TINY <= abs(value) <= _FLOAT32_MAX for value in parameters)


def all_fit_float32(values: np.ndarray) -> bool:
    """:func:`fits_float32` of every entry of an array (class weights, for example)."""
    magnitude = np.abs(values)
    return bool(np.all((magnitude == 0) | ((magnitude >= _FLOAT32_TINY) & (magnitude <= _FLOAT32_MAX))))
