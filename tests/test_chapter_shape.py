"""Every notebook chapter has the template's shape (see chapters/checking-claims.md).

These are structural checks of the source, cheap and exact: a chapter that lost its exercises, its references,
its figure or its claims fails here before anyone reads it.
"""

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
    assert "claim(" in code, "at least one checked claim"
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


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_no_claim_is_passed_a_literal_true(md):
    """A claim must carry its own check: `claim("…", True, …)` would record a result that cannot fail."""
    code = _split(md)[1]
    literal = re.findall(r"""claim\(\s*f?(?:"[^"\n]*"|'[^'\n]*')\s*,\s*True\s*[,)]""", code)
    assert not literal, f"claims with a literal True: {literal}"
