"""Row 6: loss + gradient speed and peak memory, losslab against the references, in one run.

Each case computes the mean loss and the elementwise gradient on 1e6
float64 elements (1e5 x 10 logits with integer class targets for
cross-entropy, and with one-hot targets for ``cross_entropy-onehot``).
losslab is timed twice: the fused ``<loss>_and_grad`` (target <= 1.2x the
fastest reference) and the two separate public calls (target <= 1.5x).
References: the chapter's straightforward NumPy form, the
``scipy.special`` equivalent where one exists, and torch on the CPU with one
thread (forward + autograd backward) when torch is importable. Timed runs
are interleaved round-robin across implementations so noise hits all alike;
peak memory is a separate untimed run under tracemalloc (NumPy reports its
buffers to it; torch's allocator does not, so torch shows n/a).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.common import INFO, Mode, Row, ms, ratio, verdict
from bench.harness import median

SPEED_TARGET = 1.2  # the fused <loss>_and_grad
SEPARATE_TARGET = 1.5  # loss(...) and grad(...), two validated calls
FUSED = "losslab fused"
EPS = 1e-12


@dataclass
class Case:
    key: str
    inputs: Callable[[int, np.random.Generator], tuple]
    impls: dict[str, Callable]  # name -> fn(*inputs) returning (loss, grad)
    torch_impl: Callable | None = None  # fn(torch, *tensors) returning (loss, grad)


# ---------------------------------------------------------------- inputs


def _regression(n, rng):
    return rng.normal(size=n), rng.normal(size=n)


def _probabilities(n, rng):
    return rng.uniform(0.001, 0.999, size=n), rng.integers(0, 2, size=n).astype(np.float64)


def _logits(n, rng):
    return rng.normal(0, 3, size=n), rng.integers(0, 2, size=n).astype(np.float64)


def _class_logits(n, rng):
    rows = max(n // 10, 1)
    return rng.normal(0, 3, size=(rows, 10)), rng.integers(0, 10, size=rows)


def _class_logits_one_hot(n, rng):
    logits, classes = _class_logits(n, rng)
    return logits, np.eye(logits.shape[1])[classes]


# ---------------------------------------------------------------- references


def _np_mse(p, t):
    r = p - t
    return np.mean(r * r), 2 * r


def _np_huber(p, t, d=1.0):
    r = p - t
    a = np.abs(r)
    return np.mean(np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d))), np.clip(r, -d, d)


def _sp_huber(p, t, d=1.0):
    from scipy import special

    r = p - t
    return np.mean(special.huber(d, r)), np.clip(r, -d, d)


def _np_log_cosh(p, t):
    r = p - t
    return np.mean(np.log(np.cosh(r))), np.tanh(r)


def _np_bce(p, t):
    q = np.clip(p, EPS, 1 - EPS)
    return -np.mean(t * np.log(q) + (1 - t) * np.log(1 - q)), (q - t) / (q * (1 - q))


def _sp_bce(p, t):
    from scipy import special

    q = np.clip(p, EPS, 1 - EPS)
    return -np.mean(special.xlogy(t, q) + special.xlog1py(1 - t, -q)), (q - t) / (q * (1 - q))


def _np_bce_logits(z, t):
    p = 1 / (1 + np.exp(-z))
    return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))), p - t


def _sp_bce_logits(z, t):
    from scipy import special

    return -np.mean(t * special.log_expit(z) + (1 - t) * special.log_expit(-z)), special.expit(z) - t


def _np_cross_entropy(z, y):
    rows = np.arange(len(y))
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) - shifted[rows, y])
    grad = e / s
    grad[rows, y] -= 1
    return loss, grad


def _sp_cross_entropy(z, y):
    from scipy import special

    rows = np.arange(len(y))
    logp = special.log_softmax(z, axis=1)
    grad = np.exp(logp)
    grad[rows, y] -= 1
    return -np.mean(logp[rows, y]), grad


def _np_cross_entropy_one_hot(z, y):
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(y * (shifted - np.log(s)), axis=1))
    return loss, e / s - y


def _sp_cross_entropy_one_hot(z, y):
    from scipy import special

    logp = special.log_softmax(z, axis=1)
    return -np.mean(np.sum(y * logp, axis=1)), np.exp(logp) - y


def _torch(loss_fn):
    def run(torch, x, t):
        x = x.detach().requires_grad_(True)
        loss = loss_fn(torch, x, t)
        loss.backward()
        return loss.item(), x.grad
    return run


def cases() -> list[Case]:
    import losslab

    def pair(loss, grad, **kw):
        return lambda a, b: (loss(a, b, **kw), grad(a, b, **kw))

    def fused(name, **kw):
        function = getattr(losslab, f"{name}_and_grad")
        return lambda a, b: function(a, b, **kw)

    def f(torch):
        return torch.nn.functional

    return [
        Case("mse", _regression, {"losslab": pair(losslab.mse, losslab.mse_grad), FUSED: fused("mse"),
                                  "numpy": _np_mse},
             _torch(lambda torch, x, t: f(torch).mse_loss(x, t))),
        Case("huber", _regression,
             {"losslab": lambda a, b: (losslab.huber(a, b, delta=1.0), losslab.huber_grad(a, b, delta=1.0)),
              FUSED: fused("huber", delta=1.0), "numpy": _np_huber, "scipy": _sp_huber},
             _torch(lambda torch, x, t: f(torch).huber_loss(x, t, delta=1.0))),
        Case("log_cosh", _regression, {"losslab": pair(losslab.log_cosh, losslab.log_cosh_grad),
                                       FUSED: fused("log_cosh"), "numpy": _np_log_cosh},
             _torch(lambda torch, x, t: torch.log(torch.cosh(x - t)).mean())),
        Case("bce", _probabilities, {"losslab": pair(losslab.bce, losslab.bce_grad), FUSED: fused("bce"),
                                     "numpy": _np_bce, "scipy": _sp_bce},
             _torch(lambda torch, x, t: f(torch).binary_cross_entropy(x, t))),
        Case("bce_with_logits", _logits,
             {"losslab": pair(losslab.bce_with_logits, losslab.bce_with_logits_grad),
              FUSED: fused("bce_with_logits"), "numpy": _np_bce_logits, "scipy": _sp_bce_logits},
             _torch(lambda torch, x, t: f(torch).binary_cross_entropy_with_logits(x, t))),
        Case("cross_entropy", _class_logits,
             {"losslab": pair(losslab.cross_entropy, losslab.cross_entropy_grad), FUSED: fused("cross_entropy"),
              "numpy": _np_cross_entropy, "scipy": _sp_cross_entropy},
             _torch(lambda torch, x, t: f(torch).cross_entropy(x, t))),
        Case("cross_entropy-onehot", _class_logits_one_hot,
             {"losslab": pair(losslab.cross_entropy, losslab.cross_entropy_grad), FUSED: fused("cross_entropy"),
              "numpy": _np_cross_entropy_one_hot, "scipy": _sp_cross_entropy_one_hot},
             _torch(lambda torch, x, t: f(torch).cross_entropy(x, t))),
    ]


def load_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


# ---------------------------------------------------------------- measuring


def check_agreement(case: Case, inputs: tuple, results: dict[str, tuple]) -> str:
    """Every implementation must compute the same numbers, or the comparison means nothing."""
    ref_loss, ref_grad = results["losslab"]
    problems = []
    for name, (loss, grad) in results.items():
        grad = np.asarray(grad)
        if not np.isclose(float(loss), float(ref_loss), rtol=1e-6):
            problems.append(f"{name} loss {float(loss):.6g} != {float(ref_loss):.6g}")
        scale = 1.0
        if name == "torch":  # autograd gives the gradient of the mean: undo the 1/n
            scale = float(inputs[0].shape[0]) if case.key.startswith("cross_entropy") else float(inputs[0].size)
        if not np.allclose(grad * scale, ref_grad, rtol=1e-5, atol=1e-8):
            problems.append(f"{name} gradient differs")
    return "; ".join(problems)


def peak_temporaries(fn: Callable, inputs: tuple) -> float:
    """Peak traced bytes during one call, in units of the first input's size."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn(*inputs)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak / inputs[0].nbytes


def run(mode: Mode) -> list[Row]:
    n = mode.pick(10_000, 1_000_000)
    repeats = mode.pick(3, 15)
    rng = np.random.default_rng(0)
    torch = load_torch()
    rows = []
    for case in cases():
        inputs = case.inputs(n, rng)
        impls = dict(case.impls)
        if torch is not None and case.torch_impl is not None:
            tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs)
            impls["torch"] = (lambda run_torch, ts: lambda *_: run_torch(torch, *ts))(case.torch_impl, tensors)
        results = {name: fn(*inputs) for name, fn in impls.items()}  # warm-up and agreement check
        disagreement = check_agreement(case, inputs, results)
        del results
        times: dict[str, list[float]] = {name: [] for name in impls}
        for _ in range(repeats):
            for name, fn in impls.items():
                start = time.perf_counter()
                fn(*inputs)
                times[name].append(time.perf_counter() - start)
        medians = {name: median(t) for name, t in times.items()}
        refs = {name: t for name, t in medians.items() if not name.startswith("losslab")}
        fastest = min(refs, key=refs.get)
        speed = ratio(medians[FUSED], refs[fastest])
        separate = ratio(medians["losslab"], refs[fastest])
        memory = {name: peak_temporaries(fn, inputs) for name, fn in impls.items() if name != "torch"}
        reference_memory = min(v for k, v in memory.items() if not k.startswith("losslab"))
        shape = "x".join(str(s) for s in inputs[0].shape)
        passed = speed <= SPEED_TARGET and separate <= SEPARATE_TARGET
        rows.append(Row(
            key=f"core.{case.key}",
            measured=f"fused {speed:.2f}x {fastest}, separate {separate:.2f}x; temporaries "
                     f"{memory[FUSED]:.1f} (ref {reference_memory:.1f})",
            absolute="; ".join(f"{name} {ms(t)}" for name, t in medians.items()) + f" ({shape}, median of {repeats})",
            target=f"fused <= {SPEED_TARGET}x, separate <= {SEPARATE_TARGET}x fastest reference",
            status=verdict(passed) if not disagreement else INFO,
            notes=("peak/array size: " + ", ".join(f"{k} {v:.1f}" for k, v in memory.items())
                   + ("" if torch is not None else "; torch not importable")
                   + (f"; RESULTS DISAGREE: {disagreement}" if disagreement else "")),
            data={"medians": medians, "fastest": fastest, "ratio": speed, "ratio_separate": separate,
                  "memory": memory, "n": n},
        ))
    return rows
