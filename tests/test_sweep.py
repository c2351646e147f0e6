"""The sweep runner injects SCALE and SEED after the parameters cell and reports a failing claim."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sweep  # noqa: E402

PLANTED = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {name: python3, display_name: Python 3}
---
```{code-cell} ipython3
:tags: [parameters]
SCALE = 1.0
SEED = 0
```
```{code-cell} ipython3
from dltnotes import check_less
check_less("SCALE is at most 1", SCALE, 1.0)
print("seed", SEED)
```
"""


def test_sweep_injects_the_setting_and_reports_failures(tmp_path):
    md = tmp_path / "planted.md"
    md.write_text(PLANTED)
    status, _, claims, error = sweep.run_one(str(md), 0.5, 2, timeout=120)
    assert (status, claims, error) == ("pass", 1, "")
    status, _, claims, error = sweep.run_one(str(md), 2.0, 0, timeout=120)
    assert status == "fail" and claims == 0 and "ClaimFailed" in error and "SCALE is at most 1" in error


def test_the_grid_is_the_contract():
    assert sweep.GRID == [(0.5, 0), (1.0, 0), (2.0, 0), (1.0, 1), (1.0, 2)]
    names = [md.stem for md in sweep.chapters_in_toc_order()]
    assert names[:2] == ["intro", "checking-claims"] and "ntk" in names
