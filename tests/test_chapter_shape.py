"""Every notebook chapter has the template's shape (see chapters/checking-claims.md).

These are structural checks of the source, cheap and exact: a chapter that lost its exercises, its references,
its figure or its claims fails here before anyone reads it.
"""

import ast
import builtins
import re
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
NOTEBOOKS = sorted(md for md in CHAPTERS.glob("*.md") if "kernelspec" in md.read_text(encoding="utf-8")[:2000])
IDS = [md.stem for md in NOTEBOOKS]


def _split(md: Path) -> tuple[str, str]:
    """(prose, code) of a MyST notebook."""
    text = md.read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S))
    prose = re.sub(r"```\{code-cell\}[^\n]*\n.*?```", "", text, flags=re.S)
    return prose, code


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_chapter_has_the_template_shape(md):
    prose, code = _split(md)
    assert re.search(r"^\(chap-[\w-]+\)=\n# ", prose, flags=re.M), "a (chap-…)= label right above the title"
    assert "Learning goals" in prose, "a learning-goals admonition"
    assert re.search(r"\{prf:(theorem|proposition|lemma)\}", prose), "at least one numbered statement"
    assert re.search(r"\b(claim|check_(exact|symbolic|close|slope|less))\(", code), "at least one checked claim"
    assert "glue(" in code, "numbers in the prose are glued"
    assert "{glue:figure}" in prose or "plt." in code, "at least one figure"
    assert "{exercise}" in prose and "{solution}" in prose, "exercises with solutions"
    assert prose.count("{solution}") == prose.count(":class: dropdown"), "every solution collapsed (dropdown)"
    assert "{cite" in prose, "at least one citation"
    assert re.search(r"```\{bibliography\}\n:filter: docname in docnames", prose), "a filtered bibliography"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_display_math_stands_in_its_own_block(md):
    """MyST reads `$$` that directly follows or precedes a line of text as inline math: require blank lines."""
    lines = _split(md)[0].split("\n") + [""]
    lines = [("" if line.strip().startswith((":::", "```")) else line) for line in lines]  # a fence may follow
    inside = False
    for i, line in enumerate(lines):
        s = line.strip()
        if not inside and s.startswith("$$"):
            assert i == 0 or lines[i - 1].strip() == "", f"line {i + 1}: blank line needed before $$"
            inside = not re.search(r"\$\$(\s*\(\S+\))?$", s[2:]) or s == "$$"
            if not inside:
                assert i + 1 == len(lines) or lines[i + 1].strip() == "", f"line {i + 1}: blank line needed after $$"
        elif inside and re.search(r"\$\$(\s*\(\S+\))?$", s):
            inside = False
            assert i + 1 == len(lines) or lines[i + 1].strip() == "", f"line {i + 1}: blank line needed after $$"


# --- claims carry their own checks ---------------------------------------------------------------------------

# Names whose value cannot carry a measurement: builtins and the numeric libraries (np.pi, math.sqrt(2), …).
_CONSTANT_NAMES = set(dir(builtins)) | {"np", "numpy", "math", "sp", "sympy", "torch", "SCALE", "SEED"}
# For each check, the arguments (position, keyword) of which at least one must carry a measurement.
_MEASURED = {
    "claim": [(1, "passed")],
    "check_exact": [(1, "actual")],
    "check_close": [(1, "measured")],
    "check_slope": [(2, "y")],
    "check_less": [(1, "smaller"), (2, "larger")],
    "check_symbolic": [(1, "lhs")],
}


def _cells(md: Path) -> list[ast.Module]:
    cells = []
    for source in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", md.read_text(encoding="utf-8"), flags=re.S):
        lines = [line for line in source.split("\n") if not line.startswith(":tags:")]
        lines = [("pass  # " + line) if line.lstrip().startswith(("%", "!")) else line for line in lines]
        cells.append(ast.parse("\n".join(lines)))
    return cells


def _constant_names(cells: list[ast.Module]) -> set[str]:
    """Names bound only to constant expressions (or sizes computed from SCALE), found by iterating to a fixpoint."""
    assigned: dict[str, list[ast.AST]] = {}
    for cell in cells:
        for node in ast.walk(cell):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            assigned.setdefault(name.id, []).append(node.value if isinstance(target, ast.Name)
                                                                    else ast.Name("<unpacked>"))
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.comprehension, ast.With,
                                   ast.FunctionDef, ast.Import, ast.ImportFrom, ast.NamedExpr)):
                for name in ast.walk(node.target if hasattr(node, "target") else node):
                    if isinstance(name, ast.Name) and isinstance(getattr(name, "ctx", None), ast.Store):
                        assigned.setdefault(name.id, []).append(ast.Name("<computed>"))
                if isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)):
                    names = [node.name] if isinstance(node, ast.FunctionDef) else \
                        [(a.asname or a.name).split(".")[0] for a in node.names]
                    for name in names:
                        assigned.setdefault(name, []).append(ast.Name("<computed>"))
    constant = set(_CONSTANT_NAMES) - {n for n in assigned if n not in _CONSTANT_NAMES}
    changed = True
    while changed:
        changed = False
        for name, values in assigned.items():
            if name not in constant and all(_is_constant(v, constant) for v in values):
                constant.add(name)
                changed = True
    return constant


# Calls that are arithmetic on their arguments; any other call (a random draw, a solver, training) computes.
_PURE_CALLS = set(dir(builtins)) | {"sqrt", "log", "log2", "log10", "log1p", "exp", "expm1", "sin", "cos", "tan",
                                    "arcsin", "arccos", "arctan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                                    "floor", "ceil", "power", "prod", "float64", "float32", "int64", "Rational",
                                    "Integer", "Float", "Symbol", "symbols", "isclose", "allclose"}


def _is_constant(expr: ast.AST, constant: set[str]) -> bool:
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id not in constant:
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in _PURE_CALLS:
                return False
    return True


def _checks_without_measurement(md: Path) -> list[str]:
    cells = _cells(md)
    constant = _constant_names(cells)
    bad = []
    for cell in cells:
        for node in ast.walk(cell):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in _MEASURED:
                continue
            args = []
            for pos, key in _MEASURED[name]:
                if len(node.args) > pos:
                    args.append(node.args[pos])
                args += [kw.value for kw in node.keywords if kw.arg == key]
            if args and all(_is_constant(a, constant) for a in args):
                bad.append(f"line {node.lineno} of a cell: {ast.unparse(node)[:100]}")
    return bad


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_every_check_carries_a_measurement(md):
    """`claim("…", True)`, `claim("…", 2 > 1)` or `check_less("…", 0.1, 1.0)` record a result that cannot fail."""
    bad = _checks_without_measurement(md)
    assert not bad, "checks whose outcome is fixed by constants alone:\n" + "\n".join(bad)


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_results_are_checked_by_the_ledger_not_by_bare_asserts(md):
    """A bare `assert` is invisible to the claims ledger: state the result with a typed check instead."""
    asserts = [f"{ast.unparse(node)[:100]}" for cell in _cells(md) for node in ast.walk(cell)
               if isinstance(node, ast.Assert)]
    assert not asserts, "bare asserts in code cells:\n" + "\n".join(asserts)


def test_the_static_checks_catch_planted_mistakes(tmp_path):
    """The two tests above can fail: a chapter with constant checks and an assert is reported."""
    md = tmp_path / "planted.md"
    md.write_text("""---
kernelspec: {name: python3}
---
```{code-cell} ipython3
:tags: [parameters]
SCALE = 1.0
```
```{code-cell} ipython3
import numpy as np
n = int(100 * SCALE)
ok = n > 10
x = np.random.default_rng(0).normal(size=n).mean()
claim("literal", True, "")
claim("constant", 2 > 1)
claim("from sizes only", ok)
check_less("constant bound", 0.1, np.sqrt(2))
check_close("measured", x, 0.0, se=0.1, rival=1.0)
claim("measured", abs(x) < 1)
assert x < 1
```
""")
    bad = _checks_without_measurement(md)
    assert [b.split(": ", 1)[1].split("(")[0] for b in bad] == ["claim", "claim", "claim", "check_less"]
    assert len([n for c in _cells(md) for n in ast.walk(c) if isinstance(n, ast.Assert)]) == 1



_GLOBAL_STATE = ("set_num_threads", "set_default_dtype", "set_default_tensor_type", "use_deterministic_algorithms",
                 "set_printoptions", "set_grad_enabled")


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_no_global_state_changed_behind_the_reader(md):
    """On Colab a chapter shares the reader's session: thread counts and default dtypes must be left alone
    (use `dltnotes.runtime.torch_threads(n)` as a context, and float64 per tensor)."""
    calls = [ast.unparse(node)[:100] for cell in _cells(md) for node in ast.walk(cell)
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in _GLOBAL_STATE]
    assert not calls, "global state changed:\n" + "\n".join(calls)


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_code_fits_the_page(md):
    """Code cells are read on a page (site, PDF, Colab): no line longer than 92 characters."""
    code = _split(md)[1]
    long = [f"{len(line)}: {line[:60]}…" for line in code.split("\n") if len(line) > 92]
    assert not long, "code lines over 92 characters:\n" + "\n".join(long)


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_no_code_cell_inside_a_directive(md):
    """myst-nb runs only top-level code cells: one inside a `:::` block (a solution) is not rendered as a cell."""
    depth, nested = 0, []
    for number, line in enumerate(md.read_text(encoding="utf-8").split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith(":::{"):
            depth += 1
        elif stripped == ":::" and depth:
            depth -= 1
        elif stripped.startswith("```{code-cell}") and depth:
            nested.append(number)
    assert not nested, f"code cells inside a ::: block at lines {nested}"
