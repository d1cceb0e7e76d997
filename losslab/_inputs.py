"""Input handling shared by the loss families with several inputs (issue 18).

The families in ``generative``, ``extra_regression``, ``extra_classification``,
``segmentation``, ``metric``, ``ranking`` and ``detection`` take two to four
arrays (embeddings, boxes, real and fake scores, a variance). They all:

- convert every input to one float dtype (float32 only if the floating inputs
  are float32, as in :func:`losslab._validation.result_dtype`),
- compute in float64 and round to the input dtype once at the end (so a
  float32 input never overflows in an intermediate, and float32 results are
  correctly rounded far more often than a float32 computation would be), or,
  with ``native=True``, in float32 itself, for the functions whose float32 forms
  are within 4 ulp on their own (each module's docstring says which),
- return each gradient shaped like its own input (broadcast dimensions summed).

Nothing here knows about any particular loss.
"""

from __future__ import annotations

import numpy as np

from losslab._validation import (
    as_float_array,
    reduce,
    result_dtype,
    sum_to_shape,
)


class Inputs:
    """Validated inputs: ``dtype`` (the output dtype), ``shapes`` (as passed) and ``arrays`` (float64; with
    ``native=True`` float32 inputs stay float32, and any other float, such as longdouble, is float64)."""

    __slots__ = ("arrays", "dtype", "shapes")

    def __init__(self, named: dict[str, object], *, native: bool = False):
        self.dtype = result_dtype(*named.values())
        converted = [as_float_array(value, name, self.dtype) for name, value in named.items()]
        self.shapes = [array.shape for array in converted]
        # float32 is computed in float64 and rounded once at the end unless native (see the module docstring)
        working = self.dtype if native and self.dtype in (np.float32, np.float64) else np.float64
        self.arrays = [array.astype(working, copy=False) for array in converted]

    def finish_loss(self, values: np.ndarray, reduction: str):
        """Round per-sample losses to the output dtype and apply ``reduction``."""
        return reduce(self.cast(values), reduction)

    def finish_grad(self, grad: np.ndarray, index: int):
        """Round a gradient to the output dtype and sum it to the shape of input ``index`` (a new, writable array)."""
        grad = sum_to_shape(self.cast(np.asarray(grad)), self.shapes[index])
        if isinstance(grad, np.ndarray) and not grad.flags.writeable:  # a broadcast view: the caller owns a copy
            grad = grad.copy()
        return grad

    def cast(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # a float64 value past float32 max becomes inf, its true size
            return np.asarray(values).astype(self.dtype, copy=False)


def check_shapes_broadcast(arrays: list[np.ndarray], names: list[str]) -> tuple[int, ...]:
    """The broadcast shape of ``arrays``; a ValueError naming the first pair that does not broadcast."""
    return shapes_broadcast([a.shape for a in arrays], names)


def shapes_broadcast(shapes: list[tuple[int, ...]], names: list[str]) -> tuple[int, ...]:
    """``np.broadcast_shapes`` of ``shapes``, with an error that names the arguments (no array is allocated)."""
    shape, shape_name = shapes[0], names[0]
    for other, name in zip(shapes[1:], names[1:], strict=True):
        try:
            shape = np.broadcast_shapes(shape, other)
        except ValueError:
            raise ValueError(
                f"{shape_name} with shape {shape} and {name} with shape {other} do not broadcast "
                "together; expected equal shapes or numpy-broadcastable ones"
            ) from None
        shape_name = f"{shape_name} and {name}"
    return shape


def check_finite(array: np.ndarray, name: str) -> None:
    """Reject NaN and +-inf, naming the first bad value."""
    if not array.size or (np.isfinite(array.min()) and np.isfinite(array.max())):  # no temporaries
        return
    bad = array[~np.isfinite(array)].ravel()[0].item()
    raise ValueError(f"{name} must be finite numbers, got {bad!r}")


def check_not_nan(array: np.ndarray, name: str) -> None:
    """Reject NaN (infinities are allowed where the formula has a limit)."""
    if array.size and np.isnan(array.min()):
        raise ValueError(f"{name} contain NaN; expected real numbers (+-inf are allowed)")


def check_at_least(array: np.ndarray, name: str, low: float, *, strict: bool = False) -> None:
    """Every element is >= ``low`` (> ``low`` if ``strict``); NaN is rejected too."""
    ok = array > low if strict else array >= low
    if ok.all():
        return
    bad = array[~ok].ravel()[0].item()
    relation = "greater than" if strict else "at least"
    raise ValueError(f"{name} must be {relation} {low:g}, got {bad!r}")


def check_labels(array: np.ndarray, name: str, allowed: tuple[float, ...]) -> None:
    """Every element is one of ``allowed`` (e.g. the labels -1 and +1)."""
    outside = ~np.isin(array, allowed)
    if outside.any():
        bad = array[outside].ravel()[0].item()
        allowed_text = " or ".join(f"{a:g}" for a in allowed)
        raise ValueError(f"{name} must be {allowed_text}, got {bad!r}")


def validate_flag(value, name: str) -> bool:
    """A Python or NumPy bool (not a number that happens to be 0 or 1)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def validate_choice(value, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


# ------------------------------------------------------------ stable elementwise pieces


def softplus_of(z: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})`: no overflow, exact tails, limits at +-inf."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid_of(z: np.ndarray) -> np.ndarray:
    r""":math:`\sigma(z)` from :math:`t = e^{-|z|}`: :math:`t/(1+t)` below 0, :math:`1/(1+t)` above; both tails keep their digits."""
    t = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + t), t / (1 + t))


def vector_norm(v: np.ndarray, axis: int = -1, keepdims: bool = True) -> np.ndarray:
    r"""Euclidean norm over ``axis`` without overflow or underflow: :math:`M \sqrt{\sum (v/M)^2}`, :math:`M = \max |v|`."""
    scale = np.max(np.abs(v), axis=axis, keepdims=True)  # the axis must not be empty
    safe = np.where(scale > 0, scale, 1)
    norm = scale * np.sqrt(np.sum((v / safe) ** 2, axis=axis, keepdims=True))
    return norm if keepdims else np.squeeze(norm, axis=axis)


def feature_axis_shapes(arrays: list[np.ndarray], names: list[str]) -> tuple[tuple[int, ...], int]:
    """Check that vectors (last axis = features) agree: returns (broadcast shape, feature count)."""
    for array, name in zip(arrays, names, strict=True):
        if array.ndim == 0:
            raise ValueError(f"{name} must have a feature axis (the last axis); got a scalar")
    shape = check_shapes_broadcast(arrays, names)
    if shape[-1] == 0:
        raise ValueError(f"{' and '.join(names)} have an empty feature axis (shape {shape}); expected at least one feature")
    return shape, shape[-1]
