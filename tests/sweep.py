"""Run every chapter on the SCALE × SEED grid and print a table: ``make sweep`` (not part of ``make test``).

The contract (issue "Claims that can fail"): every chapter passes all its claims at ``SCALE`` ∈ {0.5, 1, 2} with
``SEED`` = 0, and at ``SEED`` ∈ {1, 2} with ``SCALE`` = 1. Each run reads the MyST chapter with jupytext, inserts
a cell right after the one tagged ``parameters`` that sets ``SCALE`` and ``SEED`` (as papermill does), and
executes it with nbclient in a fresh kernel, in the repository's environment (``PYTHONPATH`` = this checkout, one
BLAS thread per kernel, progress bars off, figures drawn by the inline backend, no ledger recording). Runs are spread over ``--jobs`` workers.

The table has one row per chapter and one column per setting: ``✔ seconds (claims)`` or ``✘ seconds`` with the
error below the table. The exit status is 1 when any run failed.

    python tests/sweep.py                         # the whole grid
    python tests/sweep.py --chapters ntk erm      # some chapters
    python tests/sweep.py --settings 1:0 2:0      # some settings (SCALE:SEED)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = [(0.5, 0), (1.0, 0), (2.0, 0), (1.0, 1), (1.0, 2)]


def chapters_in_toc_order() -> list[Path]:
    """The notebook chapters (MyST files with a kernelspec) in the order of ``_toc.yml``."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    files = re.findall(r"(?:root|file):\s*(\S+)", toc)
    out = []
    for name in files:
        md = ROOT / f"{name}.md"
        if md.exists() and "kernelspec" in md.read_text(encoding="utf-8")[:2000]:
            out.append(md)
    return out


def _inject(nb, scale: float, seed: int):
    import nbformat

    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            new = nbformat.v4.new_code_cell(f"SCALE = {scale!r}\nSEED = {seed!r}  # injected by tests/sweep.py")
            new.metadata["tags"] = ["injected-parameters"]
            nb.cells.insert(i + 1, new)
            return nb
    raise ValueError("no cell tagged 'parameters'")


def run_one(md: str, scale: float, seed: int, timeout: int) -> tuple[str, float, int, str]:
    """Execute one chapter at one setting; return (status, seconds, claims passed, error)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    os.environ.update(DLTNOTES_QUIET="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    # no MPLBACKEND: the kernel's inline backend draws every figure, as the book build does (a label that
    # matplotlib's mathtext cannot parse fails only when the figure is drawn)
    for var in ("DLTNOTES_LEDGER_DIR", "DLTNOTES_DOCNAME", "MPLBACKEND"):
        os.environ.pop(var, None)
    nb = _inject(jupytext.read(md), scale, seed)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(md).parent)}})
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as err:
        lines = [ln for ln in str(err).splitlines() if re.match(r"^\w*(Error|Failed|Exception)\b", ln)]
        error = (lines[-1] if lines else str(err).strip().splitlines()[-1])[:300]
    except (CellTimeoutError, DeadKernelError, TimeoutError) as err:
        error = f"{type(err).__name__}: {str(err)[:200]}"
    seconds = time.perf_counter() - start
    claims = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                claims += sum(line.startswith("✔") for line in out.get("text", "").splitlines())
    return ("fail" if error else "pass"), seconds, claims, error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", help="chapter names (default: every notebook chapter)")
    parser.add_argument("--settings", nargs="*", help="SCALE:SEED pairs (default: the contract's grid)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2")))
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)

    chapters = chapters_in_toc_order()
    if args.chapters:
        wanted = set(args.chapters)
        chapters = [md for md in chapters if md.stem in wanted]
        missing = wanted - {md.stem for md in chapters}
        if missing:
            parser.error(f"no such notebook chapter(s): {', '.join(sorted(missing))}")
    grid = GRID if not args.settings else [(float(s.split(":")[0]), int(s.split(":")[1])) for s in args.settings]
    jobs = [(md, scale, seed) for md in chapters for scale, seed in grid]
    jobs.sort(key=lambda j: -j[1])  # the largest scales first, so the workers finish together
    results = {}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, str(md), scale, seed, args.timeout): (md.stem, scale, seed)
                   for md, scale, seed in jobs}
        for fut in as_completed(futures):
            key = futures[fut]
            try:
                results[key] = fut.result()
            except Exception as err:  # a broken chapter file, a kernel that would not start
                results[key] = ("fail", 0.0, 0, f"{type(err).__name__}: {err}")
            status, secs, n, _ = results[key]
            print(f"  {'✔' if status == 'pass' else '✘'} {key[0]} SCALE={key[1]:g} SEED={key[2]}: {secs:.1f} s",
                  file=sys.stderr, flush=True)

    heads = [f"SCALE {s:g}, SEED {d}" for s, d in grid]
    width = max(len(md.stem) for md in chapters) if chapters else 7
    print()
    print("| " + "chapter".ljust(width) + " | " + " | ".join(heads) + " |")
    print("|" + "-" * (width + 2) + "|" + "|".join("-" * (len(h) + 2) for h in heads) + "|")
    for md in chapters:
        print("| " + md.stem.ljust(width) + " | " + " | ".join(_row(md, grid, heads, results)) + " |")
    failures = [f"{md.stem} at SCALE={scale:g}, SEED={seed}: {results[(md.stem, scale, seed)][3]}"
                for md in chapters for scale, seed in grid if results[(md.stem, scale, seed)][0] != "pass"]
    print()
    print(f"{len(jobs) - len(failures)} passed, {len(failures)} failed "
          f"({time.perf_counter() - t0:.0f} s wall, {args.jobs} workers; cells: seconds (claims passed))")
    for line in failures:
        print("  ✘ " + line)
    return 1 if failures else 0


def _row(md, grid, heads, results):
    cells = []
    for (scale, seed), head in zip(grid, heads):
        status, secs, n, _ = results[(md.stem, scale, seed)]
        cell = f"✔ {secs:.0f} s ({n})" if status == "pass" else f"✘ {secs:.0f} s"
        cells.append(cell.ljust(len(head)))
    return cells


if __name__ == "__main__":
    sys.exit(main())
