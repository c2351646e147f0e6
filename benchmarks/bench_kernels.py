"""Benchmark of :mod:`dltnotes.kernels` (a script, not a test): prints, side by side in one run,

1. the analytic NNGP/NTK ``relu_nngp_ntk`` for n = 2000 inputs, d = 64, depth 3, float64, against
   neural-tangents 0.6.5's ``stax`` ``kernel_fn`` (jitted, after compilation) on the same inputs and CPU, with the
   largest relative difference between the two (target: dltnotes at least 2x faster);
2. the empirical NTK ``empirical_ntk`` (its default ``"auto"``, torch.func Jacobian contraction, NTK-vector
   products, and the layer-wise "structured" contraction) of an MLP of
   width 1024 on n = 256 inputs, against a plain per-sample autograd loop (one backward pass per input, stacked
   gradients, one Gram matrix), with the Jacobian memory per chunk (target: at least 10x faster).

Each timing is the median of ``--repeats`` runs after one warm-up run; the two analytic kernels run in
alternation (one call of each per round), so that both see the same load of a shared machine.

**Set-up (neural-tangents is optional; without it the comparison is reported as skipped).** In a separate
virtual environment outside the repository::

    python3 -m venv /tmp/bench-nt
    /tmp/bench-nt/bin/pip install -r requirements.txt "jax[cpu]==0.5.3" frozendict
    /tmp/bench-nt/bin/pip install --no-deps neural-tangents==0.6.5
    /tmp/bench-nt/bin/pip install --no-deps -e .

neural-tangents imports its TensorFlow-only ``neural_tangents.experimental`` module at import time; this script
registers an empty stub module under that name before importing it, so TensorFlow is not needed.

**Run.** ``/tmp/bench-nt/bin/python benchmarks/bench_kernels.py [--repeats 5] [--threads N]`` (or with the
project's ``.venv/bin/python``, which skips the neural-tangents column).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types

os.environ.setdefault("JAX_ENABLE_X64", "1")                 # float64 in JAX, as in dltnotes

import numpy as np
import torch

from dltnotes.kernels import _CHUNK_BYTES, empirical_ntk, relu_nngp_ntk
from dltnotes.training import MLP


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    fn()                                                     # warm-up (JIT compilation, allocator, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def load_neural_tangents():
    sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    try:
        import jax
        from neural_tangents import stax
    except Exception as err:                                 # absent or broken: report and skip
        return None, f"{type(err).__name__}: {err}"
    return (jax, stax), None


def interleaved_times(fns: dict, repeats: int) -> dict:
    """Median time of each function over ``repeats`` rounds, each round running every function once in turn,
    so that all of them see the same load of a shared machine."""
    for fn in fns.values():
        fn()                                                 # warm-up (JIT compilation, allocator, caches)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(0.1)                                  # let the other library's worker threads go idle
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def bench_analytic(repeats: int) -> None:
    n, d, depth = 2000, 64, 3
    x = np.random.default_rng(0).standard_normal((n, d))
    xt = torch.from_numpy(x)
    ours = {"default": lambda: relu_nngp_ntk(xt, depth=depth),
            "compiled=True": lambda: relu_nngp_ntk(xt, depth=depth, compiled=True)}
    print(f"\n[analytic NNGP+NTK] n={n}, d={d}, depth={depth}, float64")
    t0 = time.perf_counter()
    ours["compiled=True"]()
    print(f"  first call with compiled=True (torch.compile, not timed below): {time.perf_counter() - t0:.1f} s")
    nt, why = load_neural_tangents()
    fns = dict(ours)
    if nt is None:
        print(f"  neural-tangents stax          SKIPPED ({why})")
    else:
        jax, stax = nt
        layers = []
        for _ in range(depth):
            layers += [stax.Dense(1, W_std=1.0, b_std=0.0), stax.Relu()]
        _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.0, b_std=0.0))
        kernel_fn = jax.jit(kernel_fn, static_argnames=("get",))
        xj = jax.numpy.asarray(x)
        fns["stax"] = lambda: jax.block_until_ready(kernel_fn(xj, None, get=("nngp", "ntk")))
    times = interleaved_times(fns, repeats)
    if nt is not None:
        t_nt = statistics.median(times["stax"])
        print(f"  neural-tangents 0.6.5 stax           median {t_nt:8.3f} s   runs {[round(t, 3) for t in times['stax']]}")
    for name in ours:
        t_ours = statistics.median(times[name])
        print(f"  relu_nngp_ntk({name:13})        median {t_ours:8.3f} s   runs {[round(t, 3) for t in times[name]]}")
        if nt is not None:
            ratios = [b / a for a, b in zip(times[name], times["stax"])]
            print(f"      speed-up over stax: {t_nt / t_ours:.2f}x of the medians, {statistics.median(ratios):.2f}x median"
                  f" of the per-round ratios (target >= 2x: {'met' if t_nt / t_ours >= 2 else 'NOT met'})")
    k_eager, k_comp = ours["default"](), ours["compiled=True"]()
    scale = float(k_eager.ntk.abs().max())
    print(f"  compiled vs default: largest NTK difference {float((k_comp.ntk - k_eager.ntk).abs().max()) / scale:.1e}"
          " (relative to max |Θ|)")
    if nt is None:
        return
    k = fns["stax"]()
    off = ~np.eye(n, dtype=bool)
    gap = np.abs(np.asarray(k.ntk) - k_eager.ntk.numpy()) / scale
    diff_off, diff_diag = float(gap[off].max()), float(gap[~off].max())
    # exact diagonal for b_std = 0, w_std = 1: Σ^{L+1}(x, x) = |x|²/d / 2^L and Θ^{L+1}(x, x) = (L + 1) Σ^{L+1}(x, x)
    exact = (depth + 1) * (x**2).sum(1) / d / 2**depth
    err_ours = float(np.abs(k_eager.ntk.numpy().diagonal() - exact).max() / exact.max())
    err_nt = float(np.abs(np.asarray(k.ntk).diagonal() - exact).max() / exact.max())
    print(f"  NTK agreement: off-diagonal {diff_off:.1e}, diagonal {diff_diag:.1e} (relative to max |Θ|); error of the"
          f" diagonal against its closed form: dltnotes {err_ours:.1e}, stax {err_nt:.1e}")


def per_sample_ntk(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i:i + 1]).sum()
        grads = torch.autograd.grad(out, params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    jac = torch.stack(rows)
    return jac @ jac.T


def bench_empirical(repeats: int, depth: int) -> None:
    n, d, width = 256, 64, 1024
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen)
    model = MLP(d, width, depth, seed=0)                     # float32
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n[empirical NTK] MLP width {width}, depth {depth}, {n_params:,} parameters, n={n}, float32")
    ref = per_sample_ntk(model, x)
    t_loop, runs_loop = median_time(lambda: per_sample_ntk(model, x), repeats)
    print(f"  per-sample autograd loop      median {t_loop:8.3f} s   runs {[round(t, 3) for t in runs_loop]}"
          f"   (stores the whole {n}x{n_params:,} Jacobian: {n * n_params * 4 / 2**20:,.0f} MiB)")
    verdict = lambda r: f" (target >= 10x for the default: {'met' if r >= 10 else 'NOT met'})"
    for method in ("auto", "jacobian", "ntk-vp", "structured"):
        t_m, runs_m = median_time(lambda: empirical_ntk(model, x, method=method), repeats)
        k = empirical_ntk(model, x, method=method)
        rel = float((k - ref).norm() / ref.norm())
        chunk = max(1, _CHUNK_BYTES // (4 * n_params))
        mem = {"jacobian": f"Jacobian chunks of {chunk} samples = {chunk * n_params * 4 / 2**20:,.0f} MiB",
               "ntk-vp": "no Jacobian stored",
               "structured": "no Jacobian stored: per-layer (n, width) activations and output gradients",
               "auto": "the default; picks 'structured' for this fully connected model"}[method]
        print(f"  empirical_ntk({method!r:12})   median {t_m:8.3f} s   runs {[round(t, 3) for t in runs_m]}"
              f"   speed-up {t_loop / t_m:6.2f}x{verdict(t_loop / t_m) if method == 'auto' else ''};"
              f" rel. diff {rel:.1e}; {mem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--depth", type=int, default=2, help="hidden layers of the MLP of the empirical NTK")
    parser.add_argument("--skip-empirical", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    bench_analytic(args.repeats)
    if not args.skip_empirical:
        bench_empirical(args.repeats, args.depth)


if __name__ == "__main__":
    main()
