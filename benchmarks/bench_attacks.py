"""Benchmark: 10 PGD-L∞ steps on a batch of 1,024 inputs through a small MLP, dltnotes vs torchattacks.

Times :func:`dltnotes.attacks.pgd` and, when it is installed, torchattacks 3.5.1 ``PGD`` on the same model, batch
and settings (ε = 8/255, α = 2/255, 10 steps, no random start, cross-entropy), checks that the two return the
same adversarial batch, and prints the median and quartiles of repeated timings and their ratio, once with one
thread and once with the machine's default thread count (the runs of the two libraries are interleaved so that
both see the same machine load). Without torchattacks it times dltnotes alone and says
that the comparison was skipped.

torchattacks is not a dependency of the book. Install it beside the project, in a separate environment::

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install -r requirements.txt
    /tmp/bench/bin/pip install --no-deps torchattacks==3.5.1
    /tmp/bench/bin/pip install --no-deps -e .
    /tmp/bench/bin/python benchmarks/bench_attacks.py            # --repeats 30 --threads 1,0 --device cpu

(``--no-deps`` keeps the pinned torch; torchattacks 3.5.1 imports only torch, numpy, scipy and requests at
most, all of which the requirements provide or it does not need for ``PGD``.)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from dltnotes.attacks import pgd


def make_model(d_in: int, width: int, classes: int, seed: int) -> nn.Module:
    """A small MLP ``d_in → width → width → classes`` with ReLU, in eval mode."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, classes)).eval()


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev) -> tuple[float, torch.Tensor]:
    sync(dev)
    t0 = time.perf_counter()
    out = fn()
    sync(dev)
    return time.perf_counter() - t0, out


def quartiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4)
    return f"median {1e3 * statistics.median(xs):8.2f} ms   (IQR {1e3 * q[0]:.2f}–{1e3 * q[2]:.2f} ms)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--d-in", type=int, default=784)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", default="1,0",
                    help="comma-separated torch CPU thread counts to time in turn (0: the machine's default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    eps, alpha = 8 / 255, 2 / 255

    model = make_model(args.d_in, args.width, 10, seed=0).to(dev)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch, args.d_in, generator=g).to(dev)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(dev)

    def ours():
        return pgd(model, x, y, eps, alpha, args.steps)

    try:
        import torchattacks
        atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=args.steps, random_start=False)

        def theirs():
            return atk(x, y)

        version = torchattacks.__version__
    except ImportError:
        theirs, version = None, None

    default_threads = torch.get_num_threads()
    settings = [int(t) for t in args.threads.split(",")] if dev.type == "cpu" else [0]
    print(f"torch {torch.__version__}, device {dev}; batch {args.batch} × {args.d_in}, MLP width {args.width}, "
          f"{args.steps} PGD-L∞ steps, {args.repeats} timed repeats")
    if theirs is None:
        print("torchattacks              : not installed; comparison skipped (see this script's docstring)")
    for threads in settings:
        torch.set_num_threads(threads if threads > 0 else default_threads)
        label = f"{torch.get_num_threads()} thread(s)" + (" (machine default)" if threads <= 0 else "")
        compare(ours, theirs, version, dev, args.repeats, label)
    torch.set_num_threads(default_threads)


def compare(ours, theirs, version, dev, repeats: int, label: str) -> None:
    """Time ``ours`` and ``theirs`` interleaved; print medians, the ratio and the difference of the iterates."""
    for _ in range(3):                                                        # warm-up
        ours()
        if theirs is not None:
            theirs()
    t_ours, t_theirs = [], []
    for _ in range(repeats):                                                  # interleaved
        t, a = timed(ours, dev)
        t_ours.append(t)
        if theirs is not None:
            t, b = timed(theirs, dev)
            t_theirs.append(t)
    print(f"[{label}]")
    print(f"  dltnotes.attacks.pgd      : {quartiles(t_ours)}")
    if theirs is None:
        return
    print(f"  torchattacks {version} PGD : {quartiles(t_theirs)}")
    ratio = statistics.median(t_ours) / statistics.median(t_theirs)
    diff = (a - b).abs().max().item()
    print(f"  ratio of medians dltnotes / torchattacks = {ratio:.3f}   (≤ 1: target met; < 1: dltnotes faster)")
    print(f"  max |x_dltnotes − x_torchattacks| = {diff:.2e} (same iterate up to float32 round-off)")


if __name__ == "__main__":
    main()
