import json

import numpy as np
import pytest
import torch

from dltnotes import book
from dltnotes.book import (Claim, ClaimFailed, check_close, check_exact, check_less, check_slope, check_symbolic,
                           claim, expect_failure, glue, read_ledger)


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.setenv(book.LEDGER_DIR_VAR, str(tmp_path))
    monkeypatch.setenv(book.DOCNAME_VAR, "chapters/example")
    monkeypatch.setattr(book, "_started", set())
    return tmp_path


def test_true_claim_prints_and_returns_nothing(capsys):
    assert claim("one is positive", 1 > 0, "1 > 0") is None
    assert "✔ one is positive — 1 > 0" in capsys.readouterr().out


def test_recorded_claim_fields(ledger):
    claim("one is positive", 1 > 0, "1 > 0")
    assert read_ledger(ledger)["chapters/example"] == [Claim("one is positive", True, "1 > 0", "chapters/example",
                                                              kind="other")]


def test_false_claim_raises_an_assertion():
    with pytest.raises(ClaimFailed, match="one is negative"):
        claim("one is negative", 1 < 0, "1 < 0")
    assert issubclass(ClaimFailed, AssertionError)


@pytest.mark.parametrize("passed", [np.bool_(True), torch.tensor(True), torch.tensor([True])])
def test_numpy_and_scalar_tensor_bools_are_accepted(passed, capsys):
    claim("ok", passed)
    assert "✔ ok" in capsys.readouterr().out


@pytest.mark.parametrize("passed", [1, 0.0, "yes", None, torch.tensor([True, False]), np.array([True, True])])
def test_non_bool_outcomes_are_rejected(passed):
    with pytest.raises(TypeError, match="passed must be a bool"):
        claim("ambiguous", passed)


@pytest.mark.parametrize("statement", ["", "   ", None, 3])
def test_statement_must_be_text(statement):
    with pytest.raises(ValueError, match="statement"):
        claim(statement, True)


def test_detail_must_be_text():
    with pytest.raises(TypeError, match="detail"):
        claim("x", True, 0.5)


def test_nothing_is_written_outside_a_book_build(tmp_path, monkeypatch):
    monkeypatch.delenv(book.LEDGER_DIR_VAR, raising=False)
    monkeypatch.setenv(book.DOCNAME_VAR, "chapters/example")
    monkeypatch.chdir(tmp_path)
    claim("x", True)
    assert list(tmp_path.iterdir()) == []


def test_claims_are_recorded_in_order_and_read_back(ledger):
    claim("first", True, "a")
    claim("second", True, "b")
    with pytest.raises(ClaimFailed):
        claim("third", False, "c")
    path = ledger / "chapters__example.jsonl"
    assert [json.loads(line)["statement"] for line in path.read_text().splitlines()] == ["first", "second", "third"]
    got = read_ledger(ledger)
    assert list(got) == ["chapters/example"]
    assert [c.passed for c in got["chapters/example"]] == [True, True, False]


def test_a_new_execution_replaces_the_chapter_records(ledger, monkeypatch):
    claim("old", True)
    monkeypatch.setattr(book, "_started", set())  # a new kernel process
    claim("new", True)
    assert [c.statement for c in read_ledger(ledger)["chapters/example"]] == ["new"]


def test_read_ledger_missing_directory_and_bad_lines(tmp_path):
    assert read_ledger(tmp_path / "nope") == {}
    (tmp_path / "bad.jsonl").write_text("{not json}\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_ledger(tmp_path)


def test_glue_validates_names_and_returns_nothing():
    assert glue("value_1", 3.5) is None
    with pytest.raises(ValueError, match="identifiers"):
        glue("not a name", 1)


def test_glue_stores_plain_python_numbers():
    assert type(book._plain(np.float64(2.5))) is float
    assert type(book._plain(torch.tensor(3))) is int
    assert book._plain("text") == "text"


def test_old_ledger_records_without_kind_still_read(tmp_path):
    (tmp_path / "c.jsonl").write_text(json.dumps({"statement": "s", "passed": True, "detail": "", "chapter": "c"}))
    assert read_ledger(tmp_path)["c"][0].kind == "other"


# --- check_exact ---------------------------------------------------------------------------------------------

def test_check_exact_passes_within_tolerance_and_records_it(ledger):
    check_exact("sum of 1..n", sum(range(101)), 100 * 101 / 2, rtol=1e-15, why="integers in float64")
    rec = read_ledger(ledger)["chapters/example"][0]
    assert rec.kind == "exact" and rec.passed and "integers in float64" in rec.tolerance


def test_check_exact_fails_outside_tolerance():
    with pytest.raises(ClaimFailed, match="pi"):
        check_exact("pi", 3.14159, np.pi, rtol=1e-8, why="float64 round-off")


def test_check_exact_takes_arrays_and_tensors_of_equal_shape():
    a = torch.linspace(0, 1, 5, dtype=torch.float64)
    check_exact("arrays", a, a.numpy() + 1e-17, rtol=0, atol=1e-15, why="round-off")
    with pytest.raises(ClaimFailed):
        check_exact("one entry off", a, a.numpy() + np.array([0, 0, 1e-3, 0, 0]), rtol=1e-9, why="round-off")
    with pytest.raises(ValueError, match="same shape"):
        check_exact("shapes", a, a[:3], rtol=1e-9, why="round-off")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rtol=0.0), ValueError, "both 0"),
    (dict(rtol=-1e-9), ValueError, "rtol"),
    (dict(rtol=1e-9, why=""), ValueError, "why"),
    (dict(rtol="1e-9"), TypeError, "rtol"),
])
def test_check_exact_demands_a_stated_tolerance(kwargs, error, match):
    kwargs = {"why": "round-off", **kwargs}
    with pytest.raises(error, match=match):
        check_exact("x", 1.0, 1.0, **kwargs)


@pytest.mark.parametrize("value, error", [(float("nan"), ValueError), (np.array([1.0, np.inf]), ValueError),
                                         ("1.0", TypeError), (torch.tensor([True]), TypeError)])
def test_check_exact_rejects_non_finite_and_non_numbers(value, error):
    with pytest.raises(error):
        check_exact("x", value, 1.0, rtol=1e-9, why="round-off")


# --- check_symbolic ------------------------------------------------------------------------------------------

def test_check_symbolic_proves_and_refutes():
    import sympy as sp

    x = sp.Symbol("x", real=True)
    check_symbolic("(x+1)² expands", (x + 1) ** 2, x**2 + 2 * x + 1)
    check_symbolic("matrix identity", sp.Matrix([[x, 1]]) * 2, sp.Matrix([[2 * x, 2]]))
    check_symbolic("a matrix that vanishes", sp.Matrix([[x - x, 0]]))
    with pytest.raises(ClaimFailed, match=r"= 2\*x"):
        check_symbolic("a typo", (x + 1) ** 2, x**2 + 1)


# --- check_close ---------------------------------------------------------------------------------------------

def test_check_close_passes_and_records_power(ledger):
    check_close("mean", 0.401, 0.4, se=0.002, rival=0.5)
    rec = read_ledger(ledger)["chapters/example"][0]
    assert rec.kind == "close" and rec.passed
    assert rec.power == pytest.approx(abs(0.401 - 0.5) / 0.002)
    assert "0.5" in rec.rival and "4·SE" in rec.tolerance


def test_check_close_fails_outside_k_se():
    with pytest.raises(ClaimFailed, match="mean"):
        check_close("mean", 0.45, 0.4, se=0.01, rival=0.6)
    assert issubclass(ClaimFailed, AssertionError)


def test_a_rival_inside_k_se_means_no_power():
    # passes against the theory, but would pass against the rival too: ValueError before any verdict
    with pytest.raises(ValueError, match="no power"):
        check_close("weak", 0.40, 0.41, se=0.01, rival=0.43)
    with pytest.raises(ValueError, match="no power"):  # even when the verdict would be a failure
        check_close("weak and false", 0.50, 0.30, se=0.01, rival=0.49)


def test_k_is_the_tolerance():
    check_close("2 SE", 0.415, 0.4, se=0.01, rival=0.5, k=2)
    with pytest.raises(ClaimFailed):
        check_close("1 SE", 0.415, 0.4, se=0.01, rival=0.5, k=1)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(se=0.0), ValueError, "se must be > 0"),
    (dict(se=-0.1), ValueError, "se must be > 0"),
    (dict(se=float("nan")), ValueError, "se"),
    (dict(measured=float("nan")), ValueError, "measured"),
    (dict(measured=torch.tensor([0.4, 0.4])), ValueError, "single number"),
    (dict(measured=np.array([0.4, 0.4])), ValueError, "single number"),
    (dict(measured="0.4"), TypeError, "measured"),
    (dict(measured=True), TypeError, "measured"),
    (dict(rival=0.4), ValueError, "rival equals expected"),
    (dict(rival=float("inf")), ValueError, "rival"),
    (dict(k=0), ValueError, "k"),
])
def test_check_close_validates(kwargs, error, match):
    args = {"measured": 0.4, "expected": 0.4, "se": 0.01, "rival": 0.6, **kwargs}
    with pytest.raises(error, match=match):
        check_close("x", args.pop("measured"), args.pop("expected"), **args)


def test_scalars_from_numpy_and_one_element_tensors():
    check_close("types", np.float32(0.4), torch.tensor([0.4], dtype=torch.float64), se=torch.tensor(0.01),
                rival=np.array(0.6))


# --- check_slope ---------------------------------------------------------------------------------------------

def _noisy_power_law(exponent, noise, seed=0):
    x = np.logspace(1, 4, 12)
    rng = np.random.default_rng(seed)
    return x, 3.0 * x**exponent * np.exp(noise * rng.standard_normal(x.size))


def test_check_slope_accepts_the_right_exponent_and_returns_the_fit():
    x, y = _noisy_power_law(-0.5, 0.02)
    fit = check_slope("rate", x, y, -0.5, rival=-1.0)
    assert fit.slope == pytest.approx(-0.5, abs=0.05) and fit.se > 0


def test_check_slope_fails_the_wrong_exponent():
    x, y = _noisy_power_law(-1.0, 0.02)
    with pytest.raises(ClaimFailed, match="rate"):
        check_slope("rate", x, y, -0.5, rival=-0.75)


def test_check_slope_without_power_raises():
    x, y = _noisy_power_law(-0.5, 0.8)  # noisy: the SE admits -1 as well
    with pytest.raises(ValueError, match="no power"):
        check_slope("noisy rate", x[:4], y[:4], -0.5, rival=-0.6)


def test_check_slope_on_an_exact_line_asks_for_check_exact():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    with pytest.raises(ValueError, match="check_exact"):
        check_slope("exact", x, x**-0.5, -0.5, rival=-1.0)


def test_check_slope_validates_the_points():
    with pytest.raises(ValueError, match="positive"):
        check_slope("x", [1, 2, 3], [1, -1, 2], -0.5, rival=-1.0)
    with pytest.raises(ValueError, match="NaN"):
        check_slope("x", [1, 2, 3], [1, np.nan, 2], -0.5, rival=-1.0)


# --- check_less ----------------------------------------------------------------------------------------------

def test_check_less_bound_records_slack(ledger):
    check_less("bound", 0.2, 0.3)
    check_less("loose bound", 0.001, 1.0)
    recs = read_ledger(ledger)["chapters/example"]
    assert [r.kind for r in recs] == ["less", "less"]
    assert recs[0].slack == pytest.approx(1.5) and recs[1].slack == pytest.approx(1000.0)
    assert recs[0].power is None
    with pytest.raises(ClaimFailed, match="violated"):
        check_less("violated", 0.31, 0.3)


def test_check_less_comparison_of_estimates_needs_k_se(ledger):
    check_less("B beats A", 0.50, 0.60, se=0.02)
    rec = read_ledger(ledger)["chapters/example"][0]
    assert rec.power == pytest.approx(5.0) and rec.passed
    with pytest.raises(ClaimFailed):
        check_less("within noise", 0.50, 0.55, se=0.02)  # 2.5 SE < 4 SE


@pytest.mark.parametrize("kwargs, error", [
    (dict(smaller=float("nan")), ValueError),
    (dict(larger=torch.ones(3)), ValueError),
    (dict(larger="1"), TypeError),
    (dict(se=-0.1), ValueError),
    (dict(se=float("inf")), ValueError),
])
def test_check_less_validates(kwargs, error):
    args = {"smaller": 0.1, "larger": 1.0, **kwargs}
    with pytest.raises(error):
        check_less("x", args.pop("smaller"), args.pop("larger"), **args)


@pytest.mark.parametrize("check", [
    lambda: check_exact("", 1.0, 1.0, rtol=1e-9, why="w"),
    lambda: check_close(" ", 1.0, 1.0, se=0.1, rival=2.0),
    lambda: check_less(None, 0.0, 1.0),
])
def test_every_check_needs_a_statement(check):
    with pytest.raises(ValueError, match="statement"):
        check()


def test_typed_checks_print_their_kind(capsys):
    check_less("ordered", 1.0, 2.0)
    assert "✔ [less] ordered" in capsys.readouterr().out


# --- expect_failure ------------------------------------------------------------------------------------------

def test_a_caught_planted_mistake_is_recorded_once_as_passed(ledger):
    with expect_failure("a wrong mean is rejected"):
        check_close("E X = 0.5 (planted)", 0.40, 0.5, se=0.01, rival=0.4 + 1.0)
    recs = read_ledger(ledger)["chapters/example"]
    assert [(r.kind, r.passed) for r in recs] == [("planted", True)]
    assert "failed as it must" in recs[0].detail


def test_a_planted_mistake_that_passes_fails_the_claim(ledger):
    with pytest.raises(ClaimFailed, match="not caught"):
        with expect_failure("not caught"):
            check_less("a true bound", 0.1, 1.0 + 0.0 * ledger.stat().st_size)
    recs = read_ledger(ledger)["chapters/example"]
    assert [(r.kind, r.passed) for r in recs] == [("planted", False)]


def test_other_errors_propagate_from_expect_failure(ledger):
    with pytest.raises(ValueError, match="no power"):
        with expect_failure("planted without power"):
            check_close("weak", 0.40, 0.41, se=0.01, rival=0.43)
    assert read_ledger(ledger) == {}


def test_no_power_message_says_when_the_measurement_supports_the_rival():
    with pytest.raises(ValueError, match="agrees with the rival"):
        check_close("wrong theory", 0.50, 0.30, se=0.01, rival=0.49)


def test_check_exact_reports_errors_relative_to_the_largest_entry(capsys):
    check_exact("with a zero entry", np.array([0.0, 2.0]), np.array([1e-17, 2.0]), rtol=0, atol=1e-15,
                why="round-off")
    out = capsys.readouterr().out
    assert "max |Δ| = 1.00e-17 (5.00e-18 of max |expected|)" in out
